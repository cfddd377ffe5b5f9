//! Table tests for `plan`: each case is an observation and the writes or problems expected.

use std::collections::BTreeSet;

use super::*;
use crate::config::Config;
use crate::config::Scope;
use crate::config::{api_service, notebook_service};
use crate::model::{EndpointState, SecurityGroup, VpcDns, TAG_ENFORCE, TAG_IGNORE};
use crate::testing::{self, endpoint, observation, tags};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];

fn api() -> String {
    api_service(testing::REGION)
}

fn nb() -> String {
    notebook_service(testing::REGION)
}

fn creates(plan: &Plan) -> Vec<(&str, &[String])> {
    plan.writes
        .iter()
        .filter_map(|w| match w {
            Write::CreateEndpoint { service, subnet_ids, .. } => Some((service.as_str(), subnet_ids.as_slice())),
            _ => None,
        })
        .collect()
}

fn codes(plan: &Plan) -> Vec<&str> {
    plan.problems.iter().map(|p| p.code.as_str()).collect()
}

/// The strict opt-in `vpc-notebooks`, whose policy lists the VPC's notebooks.
fn strict() -> Config {
    Config { notebook_policy: crate::config::NotebookPolicy::VpcNotebooks, ..Config::default() }
}

/// An observation where both endpoints exist, compliant, with the managed group.
fn compliant() -> Observation {
    compliant_under(&Config::default())
}

/// An observation compliant under `config`.
pub(super) fn compliant_under(config: &Config) -> Observation {
    let mut obs = observation(&AZS, 2);
    obs.group = Some(SecurityGroup {
        id: "sg-1".into(),
        vpc_id: "vpc-1".into(),
        https_sources: BTreeSet::from(["10.0.0.0/16".to_string()]),
        managed_sources: BTreeSet::from(["10.0.0.0/16".to_string()]),
        managed: true,
    });
    let first = plan(&obs, config);
    for write in first.writes {
        if let Write::CreateEndpoint { service, subnet_ids, policy, .. } = write {
            let mut e = endpoint(&format!("vpce-{service}"), "vpc-1", &service, &[]);
            e.subnet_ids = subnet_ids;
            e.policy = policy;
            e.private_dns = true;
            e.group_ids = vec!["sg-1".into()];
            e.tags = tags(&[(crate::model::TAG_MANAGED, "true")]);
            obs.endpoints.push(e);
        }
    }
    obs
}

#[test]
fn empty_vpc_gets_group_then_api_then_notebook_endpoint_one_subnet_per_az() {
    let obs = observation(&AZS, 2);
    let plan = plan(&obs, &Config::default());
    assert!(matches!(plan.writes[0], Write::CreateGroup));
    assert!(matches!(&plan.writes[1], Write::AuthorizeHttps { sources, .. } if sources == &["10.0.0.0/16"]));
    let created = creates(&plan);
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].0, api());
    assert_eq!(created[1].0, nb());
    // The notebook's subnet (subnet-00) wins its AZ; the others go to the lowest id.
    assert_eq!(created[0].1, ["subnet-00", "subnet-10", "subnet-20"]);
    assert!(plan.problems.is_empty());
}

#[test]
fn create_carries_private_dns_group_policy_and_token() {
    let plan = plan(&observation(&AZS, 1), &strict());
    let Some(Write::CreateEndpoint { policy, private_dns, group, client_token, .. }) = plan.writes.get(3) else {
        panic!("expected the notebook endpoint create, got {:?}", plan.writes);
    };
    assert!(*private_dns);
    assert_eq!(*group, GroupRef::Planned);
    assert!(client_token.len() <= 64 && client_token.is_ascii());
    let policy: serde_json::Value = serde_json::from_str(policy.as_deref().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"][0],
        "arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/nb-1"
    );
}

#[test]
fn compliant_vpc_plans_nothing() {
    let plan = plan(&compliant(), &Config::default());
    assert!(plan.is_empty(), "{:?}", plan.writes);
    assert!(plan.problems.is_empty());
}

#[test]
fn new_az_adds_one_subnet_to_each_endpoint_in_one_modify() {
    let mut obs = compliant();
    obs.subnets.push(testing::subnet("subnet-d1", "vpc-1", "us-west-2d"));
    obs.subnets.push(testing::subnet("subnet-d0", "vpc-1", "us-west-2d"));
    let plan = plan(&obs, &Config::default());
    assert_eq!(plan.writes.len(), 2);
    for write in &plan.writes {
        let Write::ModifyEndpoint { add_subnet_ids, add_group, policy, enable_private_dns, .. } = write else {
            panic!("expected modify, got {write:?}");
        };
        assert_eq!(add_subnet_ids, &["subnet-d0"]);
        assert!(add_group.is_none() && policy.is_none() && !enable_private_dns);
    }
}

#[test]
fn subnet_preference_tag_then_free_ips() {
    let mut obs = observation(&["us-west-2a"], 3);
    obs.notebooks = Some(Vec::new());
    obs.subnets[1].free_ips = 1000;
    let untagged = plan(&obs, &Config::default());
    assert_eq!(creates(&untagged)[0].1, ["subnet-01"]);
    obs.subnets[2].tags = tags(&[(TAG_ENDPOINT_SUBNET, "true")]);
    let tagged = plan(&obs, &Config::default());
    assert_eq!(creates(&tagged)[0].1, ["subnet-02"]);
}

#[test]
fn full_subnets_are_skipped_and_a_full_az_is_reported() {
    let mut obs = observation(&["us-west-2a", "us-west-2b"], 2);
    obs.subnets[0].free_ips = 0;
    obs.subnets[2].free_ips = 0;
    obs.subnets[3].free_ips = 0;
    let plan = plan(&obs, &Config::default());
    assert_eq!(creates(&plan)[0].1, ["subnet-01"]);
    assert!(codes(&plan).contains(&"no_free_ip"));
}

#[test]
fn unsupported_az_is_skipped_with_a_warning() {
    let mut obs = observation(&["us-west-2a", "us-west-2b"], 1);
    obs.service_azs = testing::service_azs(&["us-west-2a"]);
    let plan = plan(&obs, &Config::default());
    assert_eq!(creates(&plan)[0].1, ["subnet-00"]);
    assert_eq!(codes(&plan), ["service_not_in_az", "service_not_in_az"]);
    assert!(plan.problems.iter().all(|p| p.severity == crate::report::Severity::Warning));
}

/// Three AZs, one subnet each, and an API endpoint someone else made in us-west-2a with private
/// DNS (not tagged managed).
fn with_their_api_endpoint() -> Observation {
    let mut obs = observation(&AZS, 1);
    let mut existing = endpoint("vpce-theirs", "vpc-1", &api(), &["subnet-00"]);
    existing.private_dns = true;
    obs.endpoints.push(existing);
    obs
}

#[test]
fn existing_unmanaged_endpoint_is_reported_and_left_alone_by_default() {
    let obs = with_their_api_endpoint();
    let plan = plan(&obs, &Config::default());
    let created = creates(&plan);
    assert_eq!(created.len(), 1, "only the notebook endpoint is created");
    assert_eq!(created[0].0, nb());
    assert!(!plan.writes.iter().any(|w| matches!(w, Write::ModifyEndpoint { .. })), "{:?}", plan.writes);
    assert_eq!(codes(&plan), ["unmanaged_endpoint"]);
    let message = &plan.problems[0].message;
    assert!(
        message.contains("vpce-theirs") && message.contains("us-west-2b") && message.contains("policy"),
        "{message}"
    );
}

#[test]
fn existing_unmanaged_endpoint_with_private_dns_is_adopted_with_the_opt_in() {
    let obs = with_their_api_endpoint();
    let plan = plan(&obs, &Config { adopt_existing: true, ..Config::default() });
    let created = creates(&plan);
    assert_eq!(created.len(), 1, "only the notebook endpoint is created");
    assert_eq!(created[0].0, nb());
    let modify = plan.writes.iter().find_map(|w| match w {
        Write::ModifyEndpoint { endpoint_id, add_subnet_ids, add_group, policy, .. } => {
            Some((endpoint_id, add_subnet_ids, add_group, policy))
        }
        _ => None,
    });
    let (id, subnets, group, policy) = modify.expect("adopted endpoint is modified");
    assert_eq!(id, "vpce-theirs");
    assert_eq!(subnets, &["subnet-10", "subnet-20"]);
    assert_eq!(group, &Some(GroupRef::Planned));
    assert!(policy.is_some());
}

#[test]
fn pending_endpoint_waits_without_modify() {
    let mut obs = compliant();
    obs.endpoints[0].state = EndpointState::Pending;
    obs.subnets.push(testing::subnet("subnet-d0", "vpc-1", "us-west-2d"));
    let plan = plan(&obs, &Config::default());
    assert_eq!(plan.pending, [obs.endpoints[0].id.clone()]);
    assert!(plan
        .writes
        .iter()
        .all(|w| !matches!(w, Write::ModifyEndpoint { endpoint_id, .. } if *endpoint_id == obs.endpoints[0].id)));
    assert_eq!(plan.writes.len(), 1, "the other endpoint still gets its new AZ");
}

#[test]
fn vpc_dns_is_fixed_first_or_reported() {
    let mut obs = observation(&AZS, 1);
    obs.vpc.dns = Some(VpcDns { support: true, hostnames: false });
    let fixed = plan(&obs, &Config::default());
    assert_eq!(fixed.writes[0], Write::EnableDnsHostnames);
    let config = Config { fix_vpc_dns: false, ..Config::default() };
    let reported = plan(&obs, &config);
    assert!(codes(&reported).contains(&"vpc_dns_off"));
    assert!(reported.writes.iter().all(|w| !matches!(w, Write::EnableDnsHostnames)));
    assert!(reported.writes.iter().all(|w| !matches!(w, Write::CreateEndpoint { private_dns: true, .. })));
}

#[test]
fn group_rules_follow_new_cidr_blocks_ipv4_and_ipv6() {
    let mut obs = compliant();
    obs.vpc.ipv4_cidrs.push("10.1.0.0/16".into());
    obs.vpc.ipv6_cidrs.push("2600:1f14::/56".into());
    let plan = plan(&obs, &Config::default());
    assert_eq!(
        plan.writes,
        [Write::AuthorizeHttps {
            group: GroupRef::Existing("sg-1".into()),
            sources: vec!["10.1.0.0/16".into(), "2600:1f14::/56".into()]
        }]
    );
}

#[test]
fn policy_drift_is_fixed_but_reformatting_is_not() {
    let mut obs = compliant_under(&strict());
    let wanted: serde_json::Value = serde_json::from_str(obs.endpoints[1].policy.as_deref().unwrap()).unwrap();
    obs.endpoints[1].policy = Some(serde_json::to_string_pretty(&wanted).unwrap());
    assert!(plan(&obs, &strict()).is_empty());
    obs.notebooks.as_mut().unwrap().push(testing::notebook("nb-2", "subnet-10"));
    let plan = plan(&obs, &strict());
    let Some(Write::ModifyEndpoint { policy: Some(text), add_subnet_ids, .. }) = plan.writes.first() else {
        panic!("expected a policy modify, got {:?}", plan.writes);
    };
    assert!(add_subnet_ids.is_empty());
    assert!(text.contains("nb-1") && text.contains("nb-2"));
}

#[test]
fn subnet_event_without_notebooks_leaves_policy_alone() {
    let mut obs = compliant();
    obs.notebooks = None;
    obs.subnets.push(testing::subnet("subnet-d0", "vpc-1", "us-west-2d"));
    let plan = plan(&obs, &Config::default());
    assert!(plan.writes.iter().all(|w| matches!(w, Write::ModifyEndpoint { policy: None, .. })));
    assert!(!plan.needs_notebooks);
}

#[test]
fn creating_the_notebook_endpoint_needs_notebooks_only_in_the_strict_mode() {
    let mut obs = observation(&AZS, 1);
    obs.notebooks = None;
    assert!(plan(&obs, &strict()).needs_notebooks);
    let default = plan(&obs, &Config::default());
    assert!(!default.needs_notebooks, "the account policy does not depend on the VPC's notebooks");
    assert_eq!(default.writes.iter().filter(|w| matches!(w, Write::CreateEndpoint { .. })).count(), 2);
}

#[test]
fn failed_endpoint_is_reported_not_recreated() {
    let mut obs = observation(&AZS, 1);
    let mut failed = endpoint("vpce-f", "vpc-1", &api(), &["subnet-00"]);
    failed.state = EndpointState::Failed;
    obs.endpoints.push(failed);
    let plan = plan(&obs, &Config::default());
    assert_eq!(creates(&plan).len(), 1);
    assert!(codes(&plan).contains(&"endpoint_failed"));
}

#[test]
fn ignored_endpoint_is_left_alone() {
    let mut obs = observation(&AZS, 1);
    let mut ignored = endpoint("vpce-i", "vpc-1", &api(), &["subnet-00"]);
    ignored.tags = tags(&[(TAG_IGNORE, "true")]);
    obs.endpoints.push(ignored);
    let plan = plan(&obs, &Config::default());
    assert!(plan
        .writes
        .iter()
        .all(|w| !matches!(w, Write::ModifyEndpoint { endpoint_id, .. } if endpoint_id == "vpce-i")));
    assert_eq!(creates(&plan).len(), 1);
}

#[test]
fn shared_vpc_is_reported_with_no_write() {
    let mut obs = observation(&AZS, 1);
    obs.vpc.owner_id = "999999999999".into();
    let plan = plan(&obs, &Config::default());
    assert!(plan.writes.is_empty());
    assert_eq!(codes(&plan), ["shared_vpc"]);
}

#[test]
fn dns_conflict_hint_creates_without_private_dns_and_reports() {
    let mut obs = observation(&AZS, 1);
    obs.hints.dns_conflicts.insert(api());
    let plan = plan(&obs, &Config::default());
    let api_create =
        plan.writes.iter().find(|w| matches!(w, Write::CreateEndpoint { service, .. } if *service == api()));
    assert!(matches!(api_create, Some(Write::CreateEndpoint { private_dns: false, .. })));
    assert!(codes(&plan).contains(&"private_dns_conflict"));
}

#[test]
fn client_token_changes_when_an_endpoint_was_deleted() {
    let obs = observation(&AZS, 1);
    let config = Config::default();
    let token = |obs: &Observation| match &plan(obs, &config).writes[2] {
        Write::CreateEndpoint { client_token, .. } => client_token.clone(),
        other => panic!("{other:?}"),
    };
    let first = token(&obs);
    assert_eq!(first, token(&obs.clone()), "deterministic");
    let mut after_delete = obs.clone();
    let mut deleted = endpoint("vpce-old", "vpc-1", &api(), &["subnet-00"]);
    deleted.state = EndpointState::Deleted;
    after_delete.endpoints.push(deleted);
    assert_ne!(first, token(&after_delete));
    let mut stale = obs.clone();
    stale.hints.stale_endpoint_ids.insert("vpce-old".into());
    assert_eq!(token(&after_delete), token(&stale));
}

#[test]
fn enrolment_follows_tags_endpoints_and_notebooks() {
    let config = Config::default();
    let mut obs = observation(&AZS, 1);
    assert_eq!(enrolment(&obs, &config), Enrolment::Enrolled("holds a notebook instance"));
    obs.notebooks = Some(Vec::new());
    assert!(matches!(enrolment(&obs, &config), Enrolment::Skipped(_)));
    obs.notebooks = None;
    assert_eq!(enrolment(&obs, &config), Enrolment::NeedsNotebooks);
    obs.vpc.tags = tags(&[(TAG_ENFORCE, "true")]);
    assert!(matches!(enrolment(&obs, &config), Enrolment::Enrolled(_)));
    obs.vpc.tags = tags(&[(TAG_ENFORCE, "false")]);
    let all = Config { scope: Scope::All, ..Config::default() };
    assert!(matches!(enrolment(&obs, &all), Enrolment::Skipped(_)), "opt-out wins over scope=all");
    let managed = compliant();
    let mut managed = managed;
    managed.notebooks = None;
    assert!(matches!(enrolment(&managed, &config), Enrolment::Enrolled(_)));
}

#[test]
fn partial_or_unaccepted_endpoint_is_a_problem_not_an_endless_wait() {
    for state in [EndpointState::Partial, EndpointState::PendingAcceptance] {
        let mut obs = compliant();
        obs.endpoints[0].state = state.clone();
        let plan = plan(&obs, &Config::default());
        assert!(plan.pending.is_empty(), "{state:?}");
        assert_eq!(codes(&plan), ["endpoint_stuck"], "{state:?}");
        assert!(plan.writes.is_empty());
    }
}

#[test]
fn endpoint_marked_with_a_dns_conflict_is_rechecked_against_what_holds_the_name() {
    let mut obs = compliant();
    let api_endpoint = obs.endpoints.iter_mut().find(|e| e.service == api()).unwrap();
    api_endpoint.private_dns = false;
    api_endpoint.tags.insert(crate::model::TAG_PRIVATE_DNS.into(), "conflict".into());
    let create = Config { on_dns_conflict: crate::config::OnDnsConflict::Create, ..Config::default() };
    // A zone holds the name: no write AWS would refuse, the conflict names the zone.
    obs.hosted_zones = Some(vec![crate::model::HostedZone {
        id: "Z9".into(),
        name: "api.sagemaker.us-west-2.amazonaws.com".into(),
        route53_profile: None,
    }]);
    let held = plan(&obs, &create);
    assert!(held.writes.is_empty(), "no write AWS would refuse: {:?}", held.writes);
    assert_eq!(codes(&held), ["private_dns_conflict"]);
    assert!(held.problems[0].message.contains("Z9"));
    // Nothing visible holds it any more: private DNS is tried again, tag or not.
    obs.hosted_zones = Some(Vec::new());
    let retried = plan(&obs, &create);
    assert!(matches!(retried.writes[..], [Write::ModifyEndpoint { enable_private_dns: true, .. }]));
    // Unless AWS refused it this round (or a warm process remembers it did).
    obs.hints.dns_conflicts.insert(api());
    let refused = plan(&obs, &create);
    assert!(refused.writes.is_empty());
    assert_eq!(codes(&refused), ["private_dns_conflict"]);
}

#[test]
fn a_deleting_endpoint_holding_the_name_means_wait_for_private_dns_not_conflict() {
    let mut obs = compliant();
    let api_endpoint = obs.endpoints.iter_mut().find(|e| e.service == api()).unwrap();
    api_endpoint.state = EndpointState::Deleting;
    let plan = plan(&obs, &Config::default());
    let [Write::CreateEndpoint { service, private_dns: false, dns_conflict: false, .. }] = plan.writes.as_slice()
    else {
        panic!("expected one create without private DNS, got {:?}", plan.writes);
    };
    assert_eq!(service, &api());
    assert_eq!(codes(&plan), ["private_dns_waiting"]);
    assert_eq!(plan.pending, [format!("vpce-{}", api())]);
}

#[test]
fn endpoint_created_under_a_conflict_carries_the_mark() {
    let mut obs = observation(&AZS, 1);
    obs.hints.dns_conflicts.insert(api());
    let plan = plan(&obs, &Config::default());
    let marks: Vec<(bool, bool)> = plan
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::CreateEndpoint { private_dns, dns_conflict, .. } => Some((*private_dns, *dns_conflict)),
            _ => None,
        })
        .collect();
    assert_eq!(marks, [(false, true), (true, false)], "api marked, notebook not");
}
