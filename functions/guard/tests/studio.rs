//! SageMaker Studio domains (the studio profile) on the in-memory fake account, driven through
//! the Lambda handlers with the sample events of `events/`: a VPC-only domain gets every
//! service of the profile, a public one is reported and left alone, a VPC with a notebook and a
//! domain gets the union, subnets and replays behave as for notebooks.

use std::collections::BTreeSet;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use vpce_guard::config::{api_service, notebook_service, Config, Profile, PublicDomains};
use vpce_guard::fake::FakeAccount;
use vpce_guard::lambda::{on_domain_created, on_subnet_created, remediate};
use vpce_guard::model::{TAG_ENFORCE, TAG_PROFILES};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::testing::REGION;
use vpce_guard::Guard;

const VPC: &str = "vpc-0f1e2d3c4b5a69788";
const DOMAIN: &str = "d-0a1b2c3d4e5f";
const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];

fn sample(file: &str) -> Value {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn invocation(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

fn studio_config() -> Config {
    Config { profiles: [Profile::NotebookInstances, Profile::Studio].into_iter().collect(), ..Config::default() }
}

fn studio_services(projects: bool) -> Vec<String> {
    let mut services = vec![
        api_service(REGION),
        format!("com.amazonaws.{REGION}.sagemaker.runtime"),
        format!("aws.sagemaker.{REGION}.studio"),
        format!("com.amazonaws.{REGION}.sts"),
        format!("com.amazonaws.{REGION}.logs"),
    ];
    if projects {
        services.push(format!("com.amazonaws.{REGION}.servicecatalog"));
    }
    services
}

/// A 3-AZ VPC (DNS on) with one subnet per AZ, and a domain in it.
fn account(config: Config, vpc_only: bool) -> Guard<FakeAccount> {
    let guard = Guard::new(FakeAccount::new(), config).with_visibility_retries(Vec::new());
    let fake = guard.account();
    fake.add_vpc(VPC, "10.0.0.0/16");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().dns = Some(vpce_guard::model::VpcDns { support: true, hostnames: true })
    });
    let subnets: Vec<String> = AZS.iter().enumerate().map(|(i, _)| format!("subnet-00000000000000a{i}")).collect();
    for (subnet, az) in subnets.iter().zip(AZS) {
        fake.add_subnet(VPC, subnet, az);
    }
    let ids: Vec<&str> = subnets.iter().map(String::as_str).collect();
    fake.add_domain(DOMAIN, VPC, &ids, vpc_only);
    guard
}

/// Live endpoints by service: (count, AZs, private DNS) of the first.
fn endpoints(fake: &FakeAccount) -> Vec<(String, usize, BTreeSet<String>, bool)> {
    let state = fake.snapshot();
    let live = fake.live_endpoints(VPC);
    let services: BTreeSet<&String> = live.iter().map(|e| &e.service).collect();
    services
        .into_iter()
        .map(|service| {
            let of: Vec<_> = live.iter().filter(|e| &e.service == service).collect();
            let azs = of[0].subnet_ids.iter().map(|s| state.subnets[s].az.clone()).collect();
            (service.clone(), of.len(), azs, of[0].private_dns)
        })
        .collect()
}

fn creates(fake: &FakeAccount) -> Vec<String> {
    fake.snapshot().writes.into_iter().filter(|w| w == "CreateVpcEndpoint").collect()
}

async fn domain_event(guard: &Guard<FakeAccount>, file: &str) -> Report {
    on_domain_created(invocation(sample(file)), guard).await.unwrap()
}

#[tokio::test]
async fn a_vpc_only_domain_gets_every_studio_endpoint_in_every_az_with_private_dns_api_first() {
    let guard = account(studio_config(), true);
    let fake = guard.account();

    let report = domain_event(&guard, "create-domain.json").await;

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let got = endpoints(fake);
    let want: BTreeSet<String> = studio_services(false).into_iter().collect();
    assert_eq!(got.iter().map(|e| e.0.clone()).collect::<BTreeSet<_>>(), want);
    let all_azs: BTreeSet<String> = AZS.iter().map(|s| s.to_string()).collect();
    for (service, count, azs, private_dns) in &got {
        assert_eq!((*count, azs, *private_dns), (1, &all_azs, true), "{service}");
    }
    let created: Vec<String> = report.vpcs[0]
        .actions
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| a["action"] == "create_endpoint")
        .map(|a| a["service"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(created, studio_services(false), "api first, then the profile's order");
    assert_eq!(creates(fake).len(), 5);

    let replay = domain_event(&guard, "create-domain.json").await;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
}

#[tokio::test]
async fn a_new_az_extends_every_studio_endpoint_once_and_a_compliant_subnet_event_costs_at_most_8_reads() {
    let guard = account(studio_config(), true);
    let fake = guard.account();
    domain_event(&guard, "create-domain.json").await;
    fake.with_state(|s| s.writes.clear());

    fake.add_subnet(VPC, "subnet-0d9c8b7a6f5e4d3c2", "us-west-2d");
    let mut event = sample("create-subnet.json");
    event["detail"]["responseElements"]["subnet"]["vpcId"] = VPC.into();
    event["detail"]["requestParameters"]["vpcId"] = VPC.into();
    let report = on_subnet_created(invocation(event.clone()), &guard).await.unwrap();

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(fake.snapshot().writes, vec!["ModifyVpcEndpoint"; 5], "one modify per endpoint");
    for (service, _, azs, _) in endpoints(fake) {
        assert!(azs.contains("us-west-2d"), "{service}");
    }

    let state = fake.snapshot();
    let cold = Guard::new(FakeAccount::new(), studio_config()).with_visibility_retries(Vec::new());
    cold.account().with_state(|s| *s = state);
    let compliant = on_subnet_created(invocation(event), &cold).await.unwrap();
    assert_eq!(compliant.vpcs[0].outcome, Outcome::Compliant, "{}", compliant.to_text());
    assert!(compliant.api_calls.read <= 8, "a compliant studio VPC costs {} reads", compliant.api_calls.read);
    eprintln!("studio profile, compliant VPC, CreateSubnet event, cold process: {} reads", compliant.api_calls.read);
}

#[tokio::test]
async fn a_vpc_with_a_notebook_and_a_domain_gets_the_union_one_endpoint_per_service() {
    let guard = account(studio_config(), true);
    let fake = guard.account();
    fake.add_notebook("fraud-model-dev", "subnet-00000000000000a0");

    let sweep = remediate(invocation(serde_json::json!({})), &guard).await.unwrap();

    let ours = sweep.vpcs.iter().find(|v| v.vpc_id == VPC).unwrap();
    assert_eq!(ours.outcome, Outcome::Changed, "{}", sweep.to_text());
    assert_eq!(ours.profiles, ["notebook-instances", "studio"], "the CLI and the report show them");
    assert!(sweep.to_text().contains("[notebook-instances, studio]"), "{}", sweep.to_text());
    let mut want: BTreeSet<String> = studio_services(false).into_iter().collect();
    want.insert(notebook_service(REGION));
    let got = endpoints(fake);
    assert_eq!(got.iter().map(|e| e.0.clone()).collect::<BTreeSet<_>>(), want);
    assert!(got.iter().all(|e| e.1 == 1), "{got:?}");

    let again = remediate(invocation(serde_json::json!({})), &guard).await.unwrap();
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    let described = again.api_calls.read;
    eprintln!("warm sweep of a notebook + domain VPC: {described} reads (the domain is not described again)");
}

#[tokio::test]
async fn a_public_internet_domain_is_reported_and_its_vpc_left_alone_unless_enforced() {
    let guard = account(studio_config(), false);
    let report = domain_event(&guard, "create-domain.json").await;
    assert_eq!(report.vpcs[0].outcome, Outcome::Skipped, "{}", report.to_text());
    assert_eq!(report.vpcs[0].problems[0].code, "studio_public_internet");
    assert_eq!(report.api_calls.write, 0);
    assert!(guard.account().live_endpoints(VPC).is_empty());
    let sweep = remediate(invocation(serde_json::json!({})), &guard).await.unwrap();
    assert_eq!(sweep.vpcs[0].outcome, Outcome::Skipped, "a public domain enrols nothing: {}", sweep.to_text());

    let enforced = account(Config { studio_public_domains: PublicDomains::Enforce, ..studio_config() }, false);
    let report = domain_event(&enforced, "create-domain.json").await;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(enforced.account().live_endpoints(VPC).len(), 5);
}

#[tokio::test]
async fn without_the_studio_profile_domains_change_nothing_and_cost_nothing() {
    let guard = account(Config::default(), true);
    let report = domain_event(&guard, "create-domain.json").await;
    assert!(report.ignored.as_deref().is_some_and(|r| r.contains("studio profile")), "{report:?}");
    // At most the identity read that tells whether the event is of this account.
    assert_eq!((report.api_calls.write, report.api_calls.read <= 1), (0, true), "{report:?}");
    let sweep = remediate(invocation(serde_json::json!({})), &guard).await.unwrap();
    assert_eq!(sweep.vpcs[0].outcome, Outcome::Skipped, "{}", sweep.to_text());
}

#[tokio::test]
async fn projects_add_service_catalog_and_the_profiles_tag_chooses_a_vpcs_profiles() {
    let projects = account(Config { studio_projects: true, ..studio_config() }, true);
    domain_event(&projects, "create-domain.json").await;
    let got: BTreeSet<String> = endpoints(projects.account()).into_iter().map(|e| e.0).collect();
    assert_eq!(got, studio_services(true).into_iter().collect());

    // A VPC tagged for the studio profile alone, holding a notebook: studio endpoints only.
    let tagged = account(studio_config(), true);
    let fake = tagged.account();
    fake.with_state(|s| s.domains.clear());
    fake.add_notebook("nb-1", "subnet-00000000000000a0");
    fake.with_state(|s| {
        let tags = &mut s.vpcs.get_mut(VPC).unwrap().tags;
        tags.insert(TAG_ENFORCE.into(), "true".into());
        tags.insert(TAG_PROFILES.into(), "studio".into());
    });
    remediate(invocation(serde_json::json!({})), &tagged).await.unwrap();
    let got: BTreeSet<String> = endpoints(fake).into_iter().map(|e| e.0).collect();
    assert_eq!(got, studio_services(false).into_iter().collect());
}

/// What the event queue hands its one consumer (`remediate`): SQS records whose bodies are the
/// EventBridge events, of any creation kind.
fn creation_delivery(bodies: &[Value]) -> LambdaEvent<Value> {
    let template = sample("sqs-drift-batch.json")["Records"][0].clone();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = format!("message-{i:03}").into();
            record["body"] = body.to_string().into();
            record
        })
        .collect();
    invocation(serde_json::json!({ "Records": records }))
}

/// A domain's CreateDomain and UpdateDomain and a subnet in a new AZ of its VPC, delivered
/// together to the event queue's consumer: one pass over the VPC, each studio endpoint
/// created once, in all four AZs.
#[tokio::test]
async fn a_delivery_of_domain_and_subnet_events_is_one_pass_over_their_vpc() {
    let guard = account(studio_config(), true);
    let fake = guard.account();
    fake.add_subnet(VPC, "subnet-0d9c8b7a6f5e4d3c2", "us-west-2d");
    let mut subnet = sample("create-subnet.json");
    subnet["detail"]["responseElements"]["subnet"]["vpcId"] = VPC.into();
    subnet["detail"]["requestParameters"]["vpcId"] = VPC.into();
    let bodies = [sample("create-domain.json"), subnet, sample("update-domain.json")];

    let report = remediate(creation_delivery(&bodies), &guard).await.unwrap();

    assert_eq!(report.trigger, "CreationBatch");
    assert_eq!(report.vpcs.len(), 1, "{}", report.to_text());
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(creates(fake).len(), 5, "each studio endpoint once");
    let four: BTreeSet<String> = AZS.iter().map(|s| s.to_string()).chain(["us-west-2d".to_string()]).collect();
    for (service, count, azs, _) in endpoints(fake) {
        assert_eq!((count, &azs), (1, &four), "{service}");
    }
    assert_eq!(serde_json::to_value(&report).unwrap()["batchItemFailures"], serde_json::json!([]));
}

/// A PublicInternetOnly domain in a delivery leaves its VPC alone with the warning, as its own
/// event does; with the studio profile off, a domain record needs nothing and costs no read.
#[tokio::test]
async fn a_public_domain_in_a_delivery_is_reported_and_without_the_profile_ignored() {
    let guard = account(studio_config(), false);
    let report = remediate(creation_delivery(&[sample("create-domain.json")]), &guard).await.unwrap();
    assert_eq!(report.vpcs[0].outcome, Outcome::Skipped, "{}", report.to_text());
    assert_eq!(report.vpcs[0].problems[0].code, "studio_public_internet");
    assert!(guard.account().live_endpoints(VPC).is_empty());

    let off = account(Config::default(), true);
    let report = remediate(creation_delivery(&[sample("create-domain.json")]), &off).await.unwrap();
    assert!(report.ignored.as_deref().is_some_and(|r| r.contains("studio profile")), "{report:?}");
    assert_eq!(report.api_calls.write, 0);
}

#[tokio::test]
async fn a_domain_event_for_a_domain_that_is_gone_is_ignored() {
    let guard = account(studio_config(), true);
    guard.account().with_state(|s| s.domains.clear());
    let report = domain_event(&guard, "update-domain.json").await;
    assert!(report.ignored.as_deref().is_some_and(|r| r.contains("no longer exists")), "{report:?}");
    assert_eq!(report.api_calls.write, 0);
}

/// The VPC's main route table and one table associated with the first subnet.
fn with_route_tables(guard: &Guard<FakeAccount>) {
    let fake = guard.account();
    fake.add_route_table(VPC, "rtb-0000000000000main", &[], true);
    fake.add_route_table(VPC, "rtb-00000000000000a0", &["subnet-00000000000000a0"], false);
}

/// An S3 gateway endpoint someone else made (not tagged managed) on `tables`; `ignored`: tagged
/// `vpce-guard:ignore=true`.
fn their_s3_gateway(tables: &[&str], ignored: bool) -> vpce_guard::model::S3Endpoint {
    vpce_guard::model::S3Endpoint {
        id: "vpce-00000000000000s3".into(),
        gateway: true,
        live: true,
        route_table_ids: tables.iter().map(|t| t.to_string()).collect(),
        ignored,
        managed: false,
        private_dns: false,
        private_dns_inbound_only: false,
    }
}

fn s3_gateways(fake: &FakeAccount) -> Vec<Vec<String>> {
    fake.snapshot().s3_endpoints.values().filter(|(_, e)| e.gateway).map(|(_, e)| e.route_table_ids.clone()).collect()
}

#[tokio::test]
async fn a_vpc_only_domain_without_an_s3_route_is_reported_naming_its_route_tables() {
    let guard = account(studio_config(), true);
    with_route_tables(&guard);

    let report = domain_event(&guard, "create-domain.json").await;

    let vpc = &report.vpcs[0];
    assert_eq!(vpc.outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = vpc.problems.iter().find(|p| p.code == "s3_unreachable").expect("s3_unreachable");
    assert!(
        problem.message.contains("rtb-00000000000000a0") && problem.message.contains("rtb-0000000000000main"),
        "{}",
        problem.message
    );
    assert_eq!(guard.account().live_endpoints(VPC).len(), 5, "the interface endpoints are made all the same");
    assert!(s3_gateways(guard.account()).is_empty(), "reported, not written, by default");

    // An S3 interface endpoint with private DNS for the VPC serves every subnet: nothing to report.
    with_s3_interface_endpoint(&guard, true, false);
    let served = domain_event(&guard, "create-domain.json").await;
    assert_eq!(served.vpcs[0].outcome, Outcome::Compliant, "{}", served.to_text());
}

/// Puts an S3 interface endpoint in the VPC (replacing any earlier one).
fn with_s3_interface_endpoint(guard: &Guard<FakeAccount>, private_dns: bool, inbound_only: bool) {
    guard.account().with_state(|s| {
        let endpoint = vpce_guard::model::S3Endpoint {
            id: "vpce-0000000000000s3if".into(),
            gateway: false,
            live: true,
            route_table_ids: Vec::new(),
            ignored: false,
            managed: false,
            private_dns,
            private_dns_inbound_only: inbound_only,
        };
        s.s3_endpoints.insert(endpoint.id.clone(), (VPC.into(), endpoint));
    });
}

/// An S3 interface endpoint is a route only if the VPC's clients resolve S3's names to it:
/// without private DNS they would need its endpoint-specific names, and with private DNS only
/// for inbound Resolver endpoints, traffic from inside the VPC goes to the gateway endpoint
/// (EC2 API reference, `DnsOptions`).
#[tokio::test]
async fn an_s3_interface_endpoint_counts_only_when_its_private_dns_serves_the_vpc() {
    let guard = account(studio_config(), true);
    with_route_tables(&guard);
    domain_event(&guard, "create-domain.json").await; // the interface endpoints
    for (private_dns, inbound_only, expected) in
        [(false, false, Outcome::NonCompliant), (true, true, Outcome::NonCompliant), (true, false, Outcome::Compliant)]
    {
        with_s3_interface_endpoint(&guard, private_dns, inbound_only);
        let report = domain_event(&guard, "create-domain.json").await;
        let vpc = &report.vpcs[0];
        assert_eq!(
            vpc.outcome,
            expected,
            "private DNS {private_dns}, inbound only {inbound_only}: {}",
            report.to_text()
        );
        let unreachable = vpc.problems.iter().any(|p| p.code == "s3_unreachable");
        assert_eq!(unreachable, expected == Outcome::NonCompliant, "{}", report.to_text());
    }
}

/// A user deletes the S3 gateway endpoint vpce-guard made. EC2 answers a reused `ClientToken`
/// with the endpoint that token made, deleted or not: a token derived only from the VPC, the
/// service and the missing route tables would get the deleted endpoint back on every run.
#[tokio::test]
async fn a_deleted_s3_gateway_is_created_again_and_the_run_after_writes_nothing() {
    let guard = account(Config { s3_gateway: true, ..studio_config() }, true);
    with_route_tables(&guard);
    let tables = vec!["rtb-00000000000000a0".to_string(), "rtb-0000000000000main".into()];
    domain_event(&guard, "create-domain.json").await;
    let first: Vec<String> = guard.account().snapshot().s3_endpoints.keys().cloned().collect();
    assert_eq!((first.len(), s3_gateways(guard.account())), (1, vec![tables.clone()]));

    guard.account().delete_s3_endpoint(&first[0]);
    let again = domain_event(&guard, "create-domain.json").await;

    assert_eq!(again.vpcs[0].outcome, Outcome::Changed, "{}", again.to_text());
    let now = guard.account().snapshot().s3_endpoints;
    assert_eq!(s3_gateways(guard.account()), vec![tables], "a live gateway on both route tables");
    assert!(!now.contains_key(&first[0]), "a new endpoint, not the deleted one");
    let replay = domain_event(&guard, "create-domain.json").await;
    assert_eq!((replay.vpcs[0].outcome, replay.api_calls.write), (Outcome::Compliant, 0), "{}", replay.to_text());
}

#[tokio::test]
async fn with_s3_gateway_on_the_route_tables_get_a_gateway_endpoint_and_an_existing_one_is_extended() {
    let guard = account(Config { s3_gateway: true, ..studio_config() }, true);
    with_route_tables(&guard);
    let report = domain_event(&guard, "create-domain.json").await;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(
        s3_gateways(guard.account()),
        [vec!["rtb-00000000000000a0".to_string(), "rtb-0000000000000main".into()]]
    );
    assert!(report.to_text().contains("create S3 gateway endpoint"), "{}", report.to_text());
    let replay = domain_event(&guard, "create-domain.json").await;
    assert_eq!((replay.vpcs[0].outcome, replay.api_calls.write), (Outcome::Compliant, 0), "{}", replay.to_text());

    // Someone else's gateway endpoint routes the main table: with the opt-in
    // (VPCE_GUARD_ADOPT_EXISTING=true) vpce-guard adds the missing table to it and removes nothing.
    let other = account(Config { s3_gateway: true, adopt_existing: true, ..studio_config() }, true);
    other.account().with_state(|s| s.role_adopts_existing = Some(true));
    with_route_tables(&other);
    other.account().with_state(|s| {
        let endpoint = their_s3_gateway(&["rtb-0000000000000main", "rtb-0000000000000else"], false);
        s.s3_endpoints.insert(endpoint.id.clone(), (VPC.into(), endpoint));
    });
    domain_event(&other, "create-domain.json").await;
    assert_eq!(
        s3_gateways(other.account()),
        [vec!["rtb-0000000000000main".to_string(), "rtb-0000000000000else".into(), "rtb-00000000000000a0".into()]]
    );
    assert_eq!(other.account().snapshot().writes.iter().filter(|w| *w == "ModifyVpcEndpoint").count(), 1);

    // The same kind of endpoint tagged vpce-guard:ignore=true: its route counts, it is not
    // modified; the missing table gets a gateway endpoint of its own.
    let ignored = account(Config { s3_gateway: true, ..studio_config() }, true);
    with_route_tables(&ignored);
    ignored.account().with_state(|s| {
        let endpoint = their_s3_gateway(&["rtb-0000000000000main"], true);
        s.s3_endpoints.insert(endpoint.id.clone(), (VPC.into(), endpoint));
    });
    domain_event(&ignored, "create-domain.json").await;
    let mut tables = s3_gateways(ignored.account());
    tables.sort();
    assert_eq!(tables, [vec!["rtb-00000000000000a0".to_string()], vec!["rtb-0000000000000main".into()]]);
    assert!(!ignored.account().snapshot().writes.contains(&"ModifyVpcEndpoint".to_string()));
}

/// By default (issue 18) an S3 gateway endpoint vpce-guard did not create is not extended: the
/// route tables it lacks are reported with it (`unmanaged_endpoint`), nothing is written, and no
/// second gateway is made beside it. The fake's role is the template's default one.
#[tokio::test]
async fn an_s3_gateway_vpce_guard_did_not_create_is_reported_not_extended_by_default() {
    let guard = account(Config { s3_gateway: true, ..studio_config() }, true);
    guard.account().with_state(|s| s.role_adopts_existing = Some(false));
    with_route_tables(&guard);
    guard.account().with_state(|s| {
        let endpoint = their_s3_gateway(&["rtb-0000000000000main"], false);
        s.s3_endpoints.insert(endpoint.id.clone(), (VPC.into(), endpoint));
    });

    let report = domain_event(&guard, "create-domain.json").await;

    let vpc = &report.vpcs[0];
    assert_eq!(vpc.outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = vpc.problems.iter().find(|p| p.code == "unmanaged_endpoint").expect("unmanaged_endpoint");
    for part in ["vpce-00000000000000s3", "rtb-00000000000000a0", "VPCE_GUARD_ADOPT_EXISTING"] {
        assert!(problem.message.contains(part), "{part} missing from {}", problem.message);
    }
    assert!(vpc.problems.iter().all(|p| p.code != "error"), "{}", report.to_text());
    assert_eq!(s3_gateways(guard.account()), [vec!["rtb-0000000000000main".to_string()]], "untouched, no second one");
    let writes = guard.account().snapshot().writes;
    assert!(!writes.contains(&"ModifyVpcEndpoint".to_string()), "{writes:?}");
}

/// China names most endpoint services `cn.com.amazonaws.{region}.…` (EC2's service list of
/// cn-north-1), the SageMaker UI services `aws.sagemaker.{region}.…`: every name comes from
/// `DescribeVpcEndpointServices`, none from an assumed prefix. A studio VPC there gets all five
/// endpoints, and the run after writes nothing.
#[tokio::test]
async fn a_studio_vpc_in_china_gets_every_endpoint_under_the_names_ec2_gives_them_there() {
    let region = "cn-north-1";
    let guard = Guard::new(FakeAccount::in_region(region), studio_config()).with_visibility_retries(Vec::new());
    let fake = guard.account();
    fake.add_vpc(VPC, "10.0.0.0/16");
    fake.with_state(|s| {
        s.vpcs.get_mut(VPC).unwrap().dns = Some(vpce_guard::model::VpcDns { support: true, hostnames: true })
    });
    for (i, az) in ["a", "b", "c"].iter().enumerate() {
        fake.add_subnet(VPC, &format!("subnet-00000000000000a{i}"), &format!("{region}{az}"));
    }
    fake.add_domain(DOMAIN, VPC, &["subnet-00000000000000a0", "subnet-00000000000000a1"], true);

    let report = remediate(invocation(serde_json::json!({ "vpc_ids": [VPC] })), &guard).await.unwrap();

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let made: Vec<String> = endpoints(fake)
        .into_iter()
        .map(|(service, count, azs, dns)| {
            assert_eq!((count, azs.len(), dns), (1, 3, true), "{service}");
            service
        })
        .collect();
    assert_eq!(
        made,
        [
            "aws.sagemaker.cn-north-1.studio",
            "cn.com.amazonaws.cn-north-1.logs",
            "cn.com.amazonaws.cn-north-1.sagemaker.api",
            "cn.com.amazonaws.cn-north-1.sagemaker.runtime",
            "cn.com.amazonaws.cn-north-1.sts",
        ]
    );
    let again = remediate(invocation(serde_json::json!({ "vpc_ids": [VPC] })), &guard).await.unwrap();
    assert_eq!((again.vpcs[0].outcome, again.api_calls.write), (Outcome::Compliant, 0), "{}", again.to_text());
}
