//! Every file in `events/` is parsed here, plus the ways an event can be wrong.

use serde_json::{json, Value};

use super::*;

const REGION: &str = "us-west-2";

fn file(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn notebook_event_names_the_notebook() {
    let parsed = parse_notebook_created(&file("create-notebook-instance.json"), REGION).unwrap();
    assert_eq!(parsed, Parsed::Run(Trigger::NotebookCreated { name: "fraud-model-dev".into() }));
}

#[test]
fn subnet_event_names_subnet_and_vpc() {
    let parsed = parse_subnet_created(&file("create-subnet.json"), REGION).unwrap();
    assert_eq!(
        parsed,
        Parsed::Run(Trigger::SubnetCreated {
            subnet_id: "subnet-0d9c8b7a6f5e4d3c2".into(),
            vpc_id: "vpc-0f1e2d3c4b5a69788".into()
        })
    );
}

#[test]
fn failed_call_is_ignored_with_its_error_code() {
    let parsed = parse_subnet_created(&file("create-subnet-failed.json"), REGION).unwrap();
    let Parsed::Ignore { trigger, reason } = parsed else { panic!("{parsed:?}") };
    assert_eq!(trigger, "CreateSubnet");
    assert!(reason.contains("Client.InvalidSubnet.Conflict"), "{reason}");
}

#[test]
fn sparse_subnet_record_takes_the_vpc_from_the_request() {
    let sparse = file("create-subnet-sparse.json");
    assert!(sparse["detail"]["responseElements"]["subnet"].get("vpcId").is_none(), "the sample is sparse");
    let parsed = parse_subnet_created(&sparse, REGION).unwrap();
    assert_eq!(
        parsed,
        Parsed::Run(Trigger::SubnetCreated {
            subnet_id: "subnet-0d9c8b7a6f5e4d3c2".into(),
            vpc_id: "vpc-0f1e2d3c4b5a69788".into()
        })
    );
}

#[test]
fn malformed_event_names_the_missing_field() {
    let error = parse_subnet_created(&file("malformed-create-subnet.json"), REGION).unwrap_err();
    assert_eq!(error.error_type(), "Permanent.BadEvent");
    let message = error.to_string();
    assert!(
        message.contains("responseElements.subnet.vpcId") && message.contains("requestParameters.vpcId"),
        "{message}"
    );
}

#[test]
fn the_stack_finishing_a_create_or_update_starts_a_sweep_and_another_status_is_ignored() {
    assert_eq!(parse_remediate(&file("stack-create-complete.json")).unwrap(), Parsed::Run(Trigger::Scheduled));
    let mut updated = file("stack-create-complete.json");
    updated["detail"]["status-details"]["status"] = json!("UPDATE_COMPLETE");
    assert_eq!(parse_remediate(&updated).unwrap(), Parsed::Run(Trigger::Scheduled));
    match parse_remediate(&file("stack-rollback-complete.json")).unwrap() {
        Parsed::Ignore { reason, .. } => assert!(reason.contains("ROLLBACK_COMPLETE"), "{reason}"),
        other => panic!("expected the rollback to be ignored, got {other:?}"),
    }
}

#[test]
fn scheduled_and_manual_payloads() {
    assert_eq!(parse_remediate(&file("scheduled.json")).unwrap(), Parsed::Run(Trigger::Scheduled));
    assert_eq!(
        parse_remediate(&file("remediate-all.json")).unwrap(),
        Parsed::Run(Trigger::Manual { vpc_ids: None, dry_run: None })
    );
    assert_eq!(
        parse_remediate(&file("remediate-vpcs.json")).unwrap(),
        Parsed::Run(Trigger::Manual { vpc_ids: Some(vec!["vpc-0f1e2d3c4b5a69788".into()]), dry_run: None })
    );
    assert_eq!(
        parse_remediate(&file("remediate-dry-run.json")).unwrap(),
        Parsed::Run(Trigger::Manual { vpc_ids: Some(vec!["vpc-0f1e2d3c4b5a69788".into()]), dry_run: Some(true) })
    );
}

#[test]
fn bad_manual_payloads_say_what_is_accepted() {
    let cases = [
        (json!([]), "JSON object"),
        (json!({"vpc_id": "vpc-12345678"}), "vpc_ids"),
        (json!({"vpc_ids": []}), "omit it"),
        (json!({"vpc_ids": ["subnet-12345678"]}), "not a VPC id"),
        (json!({"vpc_ids": "vpc-12345678"}), "vpc_ids"),
        (json!({"dry_run": "yes"}), "dry_run"),
        // What a template renders for an empty value: never "every VPC, for real".
        (json!({"vpc_ids": null}), "vpc_ids is null"),
        (json!({"vpc_ids": ["vpc-12345678"], "dry_run": null}), "dry_run is null"),
        (json!({"detail-type": "Something", "source": "aws.ec2", "detail": {}}), "does not handle"),
    ];
    for (payload, expected) in cases {
        let error = parse_remediate(&payload).unwrap_err();
        assert!(error.to_string().contains(expected), "{payload}: {error}");
        assert_eq!(error.error_type(), "Permanent.BadEvent");
    }
}

#[test]
fn wrong_event_for_the_function_is_rejected() {
    let error = parse_notebook_created(&file("create-subnet.json"), REGION).unwrap_err();
    assert!(error.to_string().contains("CreateNotebookInstance"), "{error}");
    let error = parse_subnet_created(&file("scheduled.json"), REGION).unwrap_err();
    assert!(error.to_string().contains("CreateSubnet"), "{error}");
    let error = parse_subnet_created(&json!("CreateSubnet"), REGION).unwrap_err();
    assert!(error.to_string().contains("got a string"), "{error}");
}

#[test]
fn event_from_another_region_is_ignored() {
    let mut event = file("create-subnet.json");
    event["region"] = json!("eu-west-1");
    assert!(matches!(parse_subnet_created(&event, REGION).unwrap(), Parsed::Ignore { .. }));
}

#[test]
fn hostile_notebook_name_is_rejected() {
    let mut event = file("create-notebook-instance.json");
    event["detail"]["requestParameters"]["notebookInstanceName"] = json!("x\"],\"Action\":\"*");
    let error = parse_notebook_created(&event, REGION).unwrap_err();
    assert!(error.to_string().contains("notebookInstanceName"), "{error}");
}

#[test]
fn id_and_name_rules() {
    assert!(is_resource_id("vpc-0f1e2d3c4b5a69788", "vpc-"));
    assert!(is_resource_id("subnet-1a2b3c4d", "subnet-"));
    assert!(!is_resource_id("vpc-XYZ", "vpc-"));
    assert!(!is_resource_id("vpc-", "vpc-"));
    assert!(is_notebook_name("fraud-model-dev"));
    assert!(!is_notebook_name("-bad"));
    assert!(!is_notebook_name(&"a".repeat(64)));
}

#[test]
fn drift_events_name_their_vpcs_or_endpoints() {
    let cases = [
        ("delete-vpc-endpoints.json", "DeleteVpcEndpoints", vec![], vec!["vpce-0123456789abcdef0"]),
        ("modify-vpc-endpoint.json", "ModifyVpcEndpoint", vec![], vec!["vpce-0123456789abcdef0"]),
        ("associate-vpc-cidr-block.json", "AssociateVpcCidrBlock", vec!["vpc-0f1e2d3c4b5a69788"], vec![]),
        ("modify-vpc-attribute.json", "ModifyVpcAttribute", vec!["vpc-0f1e2d3c4b5a69788"], vec![]),
        ("delete-notebook-instance.json", "DeleteNotebookInstance", vec![], vec![]),
    ];
    for (name, event_name, vpcs, endpoints) in cases {
        let parsed = parse_remediate_in(&file(name), REGION).unwrap();
        let expected = Trigger::Drift(Drift {
            vpc_ids: vpcs.into_iter().map(String::from).collect(),
            endpoint_ids: endpoints.into_iter().map(String::from).collect(),
            ..Drift::new(event_name)
        });
        assert_eq!(parsed, Parsed::Run(expected), "{name}");
    }
}

#[test]
fn drift_event_that_failed_or_is_unknown_is_not_acted_on() {
    let mut failed = file("modify-vpc-attribute.json");
    failed["detail"]["errorCode"] = json!("UnauthorizedOperation");
    assert!(matches!(parse_remediate_in(&failed, REGION).unwrap(), Parsed::Ignore { .. }));
    let mut other = file("modify-vpc-attribute.json");
    other["detail"]["eventName"] = json!("DeleteVpc");
    let error = parse_remediate_in(&other, REGION).unwrap_err();
    assert!(error.to_string().contains("DeleteVpc") && error.to_string().contains("DeleteVpcEndpoints"), "{error}");
}

#[test]
fn new_drift_events_name_their_groups_tags_and_default_vpcs() {
    // (file, eventName, VPC ids, endpoint ids, group ids)
    type Case = (&'static str, &'static str, &'static [&'static str], &'static [&'static str], &'static [&'static str]);
    let cases: [Case; 7] = [
        ("revoke-security-group-ingress.json", "RevokeSecurityGroupIngress", &[], &[], &["sg-0a1b2c3d4e5f60718"]),
        ("modify-security-group-rules.json", "ModifySecurityGroupRules", &[], &[], &["sg-0a1b2c3d4e5f60718"]),
        ("create-tags.json", "CreateTags", &["vpc-0f1e2d3c4b5a69788"], &[], &[]),
        ("delete-tags.json", "DeleteTags", &[], &["vpce-0123456789abcdef0"], &[]),
        ("create-default-vpc.json", "CreateDefaultVpc", &["vpc-0d1e2f3a4b5c6d7e8"], &[], &[]),
        ("create-default-subnet.json", "CreateDefaultSubnet", &["vpc-0d1e2f3a4b5c6d7e8"], &[], &[]),
        ("modify-vpc-endpoint-by-vpce-guard.json", "ModifyVpcEndpoint", &[], &["vpce-0123456789abcdef0"], &[]),
    ];
    let owned = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    for (name, event_name, vpcs, endpoints, groups) in cases {
        let parsed = parse_remediate_in(&file(name), REGION).unwrap();
        let expected = Trigger::Drift(Drift {
            vpc_ids: owned(vpcs),
            endpoint_ids: owned(endpoints),
            group_ids: owned(groups),
            ..Drift::new(event_name)
        });
        assert_eq!(parsed, Parsed::Run(expected), "{name}");
    }
    let mut subnet_tag = file("create-tags.json");
    subnet_tag["detail"]["requestParameters"]["resourcesSet"]["items"][0]["resourceId"] =
        json!("subnet-0a1b2c3d4e5f60718");
    let Parsed::Run(Trigger::Drift(drift)) = parse_remediate_in(&subnet_tag, REGION).unwrap() else { panic!() };
    assert_eq!(drift.subnet_ids, ["subnet-0a1b2c3d4e5f60718"]);
}

#[test]
fn drift_that_cannot_have_undone_anything_is_ignored() {
    for name in ["modify-vpc-attribute-dns-on.json", "create-tags-other.json"] {
        let parsed = parse_remediate_in(&file(name), REGION).unwrap();
        assert!(matches!(parsed, Parsed::Ignore { .. }), "{name}: {parsed:?}");
    }
    let mut as_string = file("modify-vpc-attribute.json");
    as_string["detail"]["requestParameters"]["enableDnsHostnames"]["value"] = json!("false");
    assert!(matches!(parse_remediate_in(&as_string, REGION).unwrap(), Parsed::Run(Trigger::Drift(_))));
    // DeleteTags without keys deletes every tag, vpce-guard's included.
    let mut all_tags = file("delete-tags.json");
    all_tags["detail"]["requestParameters"].as_object_mut().unwrap().remove("tagSet");
    assert!(matches!(parse_remediate_in(&all_tags, REGION).unwrap(), Parsed::Run(Trigger::Drift(_))));
}

#[test]
fn a_drift_delivery_is_one_batch_and_bad_records_fail_alone() {
    let Parsed::Run(Trigger::Delivery(batch)) = parse_remediate_in(&file("sqs-drift-batch.json"), REGION).unwrap()
    else {
        panic!("not a batch")
    };
    let names: Vec<&str> = batch.drifts.iter().map(|d| d.event_name).collect();
    assert_eq!(names, ["DeleteVpcEndpoints", "ModifyVpcAttribute", "RevokeSecurityGroupIngress"]);
    assert_eq!((batch.records, batch.ignored.len(), batch.unreadable.len()), (3, 0, 0));
    assert_eq!(Trigger::Delivery(batch).name(), "DriftBatch");

    let mut mixed = file("sqs-drift-batch.json");
    mixed["Records"][0]["body"] = json!("{not json");
    mixed["Records"][1]["body"] = json!(file("scheduled.json").to_string());
    mixed["Records"][2]["body"] = json!(file("modify-vpc-attribute-dns-on.json").to_string());
    let Parsed::Run(Trigger::Delivery(batch)) = parse_remediate_in(&mixed, REGION).unwrap() else { panic!() };
    let failed: Vec<&str> = batch.unreadable.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, ["0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e0", "0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e1"]);
    assert!(batch.unreadable[0].1.contains("not JSON") && batch.unreadable[1].1.contains("Scheduled"), "{batch:?}");
    assert_eq!(batch.ignored.len(), 1);

    for bad in [json!({"Records": []}), json!({"Records": [{"body": "{}"}]}), json!({"Records": "x"})] {
        let error = parse_remediate_in(&bad, REGION).unwrap_err();
        assert!(error.to_string().contains("SQS"), "{error}");
    }
}

/// The event queue's delivery to remediate: records of every creation kind and drift events
/// together, in delivery order by kind; a failed call is ignored alone, an event the queue does
/// not carry is refused alone. The creation functions take one event of their own kind only,
/// never a delivery.
#[test]
fn an_event_queue_delivery_takes_creation_and_drift_events_and_one_event_its_own_kind_only() {
    let bodies = [
        file("create-subnet.json"),
        file("create-notebook-instance.json"),
        file("create-domain.json"),
        file("update-domain.json"),
        file("create-subnet-failed.json"),
        file("delete-vpc-endpoints.json"),
        file("scheduled.json"),
    ];
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("m-{i}"), "eventSource": "aws:sqs", "body": body.to_string()}))
        .collect();
    let delivery = json!({ "Records": records });
    let Parsed::Run(Trigger::Delivery(batch)) = parse_remediate_in(&delivery, REGION).unwrap() else {
        panic!("a delivery is one batch")
    };
    let kinds: Vec<&str> = batch.creations.iter().map(|(_, t)| t.name()).collect();
    assert_eq!(kinds, ["CreateSubnet", "CreateNotebookInstance", "CreateDomain", "UpdateDomain"]);
    let drifts: Vec<(&str, Option<&str>)> = batch.drifts.iter().map(|d| (d.event_name, d.record.as_deref())).collect();
    assert_eq!(drifts, [("DeleteVpcEndpoints", Some("m-5"))]);
    assert_eq!(batch.ignored.len(), 1, "the failed call");
    assert_eq!(batch.unreadable.len(), 1);
    assert_eq!(batch.unreadable[0].0, "m-6");
    assert!(batch.unreadable[0].1.contains("creation events") && batch.unreadable[0].1.contains("drift events"));
    assert_eq!(Trigger::Delivery(batch).name(), "MixedBatch");

    let creations_only = json!({ "Records": records[..5] });
    let Parsed::Run(trigger) = parse_remediate_in(&creations_only, REGION).unwrap() else { panic!() };
    assert_eq!(trigger.name(), "CreationBatch");

    for (parse, function) in [
        (parse_notebook_created as fn(&Value, &str) -> Result<Parsed>, "on-notebook-created"),
        (parse_subnet_created, "on-subnet-created"),
        (parse_domain_changed, "on-domain-created"),
    ] {
        let error = parse_single(&delivery, REGION, parse, function).unwrap_err();
        assert!(error.to_string().contains(function) && error.to_string().contains("remediate"), "{error}");
    }
    assert!(parse_single(&file("create-subnet.json"), REGION, parse_subnet_created, "on-subnet-created").is_ok());
    let single =
        parse_single(&file("create-notebook-instance.json"), REGION, parse_subnet_created, "on-subnet-created");
    assert!(single.is_err(), "on-subnet-created takes one CreateSubnet event, as before: {single:?}");
}
