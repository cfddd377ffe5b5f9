//! Table tests of the access model in `plan`: endpoint policy modes (evaluated, not compared
//! as text), client sources of the managed group, private hosted zones that serve a service
//! centrally, and notebooks with direct internet access.

use serde_json::Value;

use super::*;
use crate::config::{api_service, notebook_service};
use crate::config::{ApiPolicy, Config, NotebookPolicy, OnDnsConflict};
use crate::model::HostedZone;
use crate::report::Severity;
use crate::testing::iam::{evaluate, Decision, Request};
use crate::testing::{self, observation, ACCOUNT, ORG, REGION};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const OTHER_ACCOUNT: &str = "210987654321";

fn api() -> String {
    api_service(REGION)
}

fn notebook() -> String {
    notebook_service(REGION)
}

/// The policy text a plan gives `service`, from its create or modify write.
fn planned_policy(plan: &Plan, service: &str) -> Option<Value> {
    plan.writes.iter().find_map(|w| match w {
        Write::CreateEndpoint { service: s, policy, .. } | Write::ModifyEndpoint { service: s, policy, .. }
            if s == service =>
        {
            policy.as_deref().map(|text| serde_json::from_str(text).expect("policy is JSON"))
        }
        _ => None,
    })
}

fn codes(plan: &Plan) -> Vec<&str> {
    plan.problems.iter().map(|p| p.code.as_str()).collect()
}

fn open_notebook(owner: &str, org: Option<&str>, name: &str) -> Request {
    testing::open_notebook_request(owner, org, name)
}

/// An API call by a principal of `account` (in `org`, if any).
fn api_call(account: &str, org: Option<&str>) -> Request {
    let request = Request::new(&format!("arn:aws:iam::{account}:role/Pipeline"), "sagemaker:CreateTrainingJob", "*")
        .with("aws:PrincipalAccount", account);
    match org {
        Some(org) => request.with("aws:PrincipalOrgID", org),
        None => request,
    }
}

fn config(notebook_policy: NotebookPolicy, api_policy: ApiPolicy) -> Config {
    Config { notebook_policy, api_policy, ..Config::default() }
}

#[test]
fn default_notebook_policy_opens_this_accounts_notebooks_only() {
    let plan = plan(&observation(&AZS, 1), &Config::default());
    let policy = planned_policy(&plan, &notebook()).expect("notebook endpoint policy");
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, Some(ORG), "nb-1")), Decision::Allow);
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, None, "not-in-this-vpc")), Decision::Allow);
    assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, Some(ORG), "nb-1")), Decision::Allow);
    assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, None, "exfiltrate")), Decision::Allow);
}

#[test]
fn a_client_vpc_without_notebooks_is_never_locked_out() {
    for mode in [NotebookPolicy::AccountNotebooks, NotebookPolicy::VpcNotebooks, NotebookPolicy::OrgNotebooks] {
        let mut obs = observation(&AZS, 1);
        obs.notebooks = Some(Vec::new());
        let plan = plan(&obs, &config(mode, ApiPolicy::Account));
        let policy = planned_policy(&plan, &notebook()).expect("notebook endpoint policy");
        assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, Some(ORG), "any")), Decision::Allow, "{mode:?}");
        assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, None, "any")), Decision::Allow, "{mode:?}");
        let warned = plan.problems.iter().any(|p| p.code == "no_notebook_in_vpc" && p.severity == Severity::Warning);
        assert_eq!(warned, mode == NotebookPolicy::VpcNotebooks, "{mode:?}: {:?}", plan.problems);
        assert!(!plan.problems.iter().any(|p| p.severity == Severity::Error), "{mode:?}");
    }
}

#[test]
fn vpc_notebooks_allows_exactly_the_vpcs_notebooks() {
    let obs = observation(&AZS, 1);
    let plan = plan(&obs, &config(NotebookPolicy::VpcNotebooks, ApiPolicy::Account));
    let policy = planned_policy(&plan, &notebook()).unwrap();
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, Some(ORG), "nb-1")), Decision::Allow);
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, Some(ORG), "nb-elsewhere")), Decision::ImplicitDeny);
}

#[test]
fn org_notebooks_opens_notebooks_of_the_organization_only() {
    let plan = plan(&observation(&AZS, 1), &config(NotebookPolicy::OrgNotebooks, ApiPolicy::Account));
    let policy = planned_policy(&plan, &notebook()).unwrap();
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, Some(ORG), "nb-1")), Decision::Allow);
    assert_eq!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, Some(ORG), "participant")), Decision::Allow);
    assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, Some("o-outsider99"), "x")), Decision::Allow);
    assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, None, "x")), Decision::Allow);
}

#[test]
fn api_policy_modes_admit_the_account_or_the_organization() {
    let cases = [
        (ApiPolicy::Account, ACCOUNT, Some(ORG), true),
        (ApiPolicy::Account, OTHER_ACCOUNT, Some(ORG), false),
        (ApiPolicy::Account, OTHER_ACCOUNT, None, false),
        (ApiPolicy::Org, ACCOUNT, Some(ORG), true),
        (ApiPolicy::Org, OTHER_ACCOUNT, Some(ORG), true),
        (ApiPolicy::Org, OTHER_ACCOUNT, Some("o-outsider99"), false),
        (ApiPolicy::Org, OTHER_ACCOUNT, None, false),
    ];
    for (mode, account, org, allowed) in cases {
        let plan = plan(&observation(&AZS, 1), &config(NotebookPolicy::AccountNotebooks, mode));
        let policy = planned_policy(&plan, &api()).expect("api endpoint policy");
        let decision = evaluate(&policy, &api_call(account, org));
        assert_eq!(decision == Decision::Allow, allowed, "{mode:?} {account} {org:?}: {decision:?}");
    }
    let none = plan(&observation(&AZS, 1), &config(NotebookPolicy::None, ApiPolicy::None));
    assert_eq!(planned_policy(&none, &api()), None);
    assert_eq!(planned_policy(&none, &notebook()), None);
}

#[test]
fn an_org_mode_without_the_organization_id_is_an_error_not_a_guess() {
    let mut obs = observation(&AZS, 1);
    obs.identity.org_id = None;
    let plan = plan(&obs, &config(NotebookPolicy::OrgNotebooks, ApiPolicy::Org));
    assert!(codes(&plan).contains(&"organization_unknown"));
    assert_eq!(planned_policy(&plan, &notebook()), None);
    assert_eq!(planned_policy(&plan, &api()), None);
}

#[test]
fn changing_mode_costs_one_modify_per_endpoint_and_none_when_equal() {
    let before = Config::default();
    let obs = super::tests::compliant_under(&before);
    assert!(plan(&obs, &before).is_empty(), "converged");
    let after = config(NotebookPolicy::OrgNotebooks, ApiPolicy::Org);
    let changed = plan(&obs, &after);
    assert_eq!(changed.writes.len(), 2, "{:?}", changed.writes);
    for write in &changed.writes {
        let Write::ModifyEndpoint { policy, add_subnet_ids, enable_private_dns, .. } = write else {
            panic!("expected modify, got {write:?}")
        };
        assert!(policy.is_some() && add_subnet_ids.is_empty() && !enable_private_dns);
    }
    // The same grant written differently (statement as an object, other Sid, reordered) is equal.
    let mut reformatted = obs.clone();
    for e in &mut reformatted.endpoints {
        let mut value: Value = serde_json::from_str(e.policy.as_deref().unwrap()).unwrap();
        value["Statement"] = value["Statement"][0].clone();
        value["Statement"]["Sid"] = "Renamed".into();
        e.policy = Some(serde_json::to_string_pretty(&value).unwrap());
    }
    assert!(plan(&reformatted, &before).is_empty());
}

#[test]
fn client_sources_are_added_and_only_our_unwanted_rules_revoked() {
    let mut obs = super::tests::compliant_under(&Config::default());
    let group = obs.group.as_mut().unwrap();
    // A rule vpce-guard added for a client range no longer configured, and one a person added.
    group.https_sources.extend(["172.16.0.0/12".to_string(), "192.168.0.0/16".to_string()]);
    group.managed_sources.insert("172.16.0.0/12".into());
    let config = Config {
        client_cidrs: vec!["10.200.0.0/16".into(), "2001:db8::/32".into()],
        client_prefix_lists: vec!["pl-0123456789abcdef0".into()],
        ..Config::default()
    };
    let plan = plan(&obs, &config);
    assert_eq!(
        plan.writes,
        vec![
            Write::AuthorizeHttps {
                group: GroupRef::Existing("sg-1".into()),
                sources: vec!["10.200.0.0/16".into(), "2001:db8::/32".into(), "pl-0123456789abcdef0".into()],
            },
            Write::RevokeHttps { group_id: "sg-1".into(), sources: vec!["172.16.0.0/12".into()] },
        ]
    );
}

#[test]
fn a_new_group_allows_the_vpc_and_the_client_sources_in_one_write() {
    let mut obs = observation(&AZS, 1);
    obs.vpc.ipv6_cidrs = vec!["2600:1f14::/56".into()];
    let config = Config { client_cidrs: vec!["10.200.0.0/16".into()], ..Config::default() };
    let plan = plan(&obs, &config);
    assert_eq!(plan.writes[0], Write::CreateGroup);
    assert_eq!(
        plan.writes[1],
        Write::AuthorizeHttps {
            group: GroupRef::Planned,
            sources: vec!["10.0.0.0/16".into(), "10.200.0.0/16".into(), "2600:1f14::/56".into()],
        }
    );
}

#[test]
fn hosted_zones_are_read_only_when_an_endpoint_would_be_created() {
    let mut obs = observation(&AZS, 1);
    obs.hosted_zones = None;
    let unread = plan(&obs, &Config::default());
    assert!(unread.needs_hosted_zones);
    assert!(!unread.writes.iter().any(|w| matches!(w, Write::CreateEndpoint { .. })));
    let mut compliant = super::tests::compliant_under(&Config::default());
    compliant.hosted_zones = None;
    let steady = plan(&compliant, &Config::default());
    assert!(
        steady.is_empty() && !steady.needs_hosted_zones,
        "a VPC whose endpoints hold private DNS needs no zone read"
    );
}

#[test]
fn a_name_served_by_a_hosted_zone_gets_no_local_endpoint_unless_configured() {
    let mut obs = observation(&AZS, 1);
    let zone =
        HostedZone { id: "Z0HUB".into(), name: format!("api.sagemaker.{REGION}.amazonaws.com"), route53_profile: None };
    obs.hosted_zones = Some(vec![zone]);
    let reported = plan(&obs, &Config::default());
    let created: Vec<&String> = reported
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::CreateEndpoint { service, .. } => Some(service),
            _ => None,
        })
        .collect();
    assert_eq!(created, [&notebook()], "only the notebook service is created");
    let note = reported.problems.iter().find(|p| p.code == "served_centrally").expect("served_centrally");
    assert_eq!(note.severity, Severity::Warning);
    assert!(note.message.contains("Z0HUB"), "{}", note.message);

    let create = Config { on_dns_conflict: OnDnsConflict::Create, ..Config::default() };
    let local = plan(&obs, &create);
    assert_eq!(local.writes.iter().filter(|w| matches!(w, Write::CreateEndpoint { .. })).count(), 2);

    // A parent-domain zone serves the notebook's wildcard name too.
    obs.hosted_zones =
        Some(vec![HostedZone { id: "Z0AWS".into(), name: "sagemaker.aws".into(), route53_profile: None }]);
    let parent = plan(&obs, &Config::default());
    assert!(parent
        .writes
        .iter()
        .all(|w| !matches!(w, Write::CreateEndpoint { service, .. } if *service == notebook())));
}

#[test]
fn notebooks_with_direct_internet_access_are_reported_by_name() {
    let mut obs = observation(&AZS, 1);
    let mut open = testing::notebook("open-door", "subnet-00");
    open.direct_internet_access = true;
    obs.notebooks.as_mut().unwrap().push(open);
    let plan = plan(&obs, &Config::default());
    let problem = plan.problems.iter().find(|p| p.code == "direct_internet_access").expect("reported");
    assert_eq!(problem.severity, Severity::Warning);
    assert!(problem.message.contains("open-door") && !problem.message.contains("nb-1"), "{}", problem.message);
}

#[test]
fn an_endpoint_without_private_dns_under_a_serving_zone_is_kept_in_line_without_an_error() {
    let mut obs = super::tests::compliant_under(&Config::default());
    let api_endpoint = obs.endpoints.iter_mut().find(|e| e.service == api()).unwrap();
    api_endpoint.private_dns = false;
    api_endpoint.tags.insert(crate::model::TAG_PRIVATE_DNS.into(), "conflict".into());
    api_endpoint.policy = None;
    obs.hosted_zones = Some(vec![HostedZone {
        id: "Z0HUB".into(),
        name: format!("sagemaker.{REGION}.amazonaws.com"),
        route53_profile: None,
    }]);
    let plan = plan(&obs, &Config::default());
    assert_eq!(codes(&plan), ["served_centrally"], "{:?}", plan.problems);
    let [Write::ModifyEndpoint { policy: Some(_), enable_private_dns: false, .. }] = plan.writes.as_slice() else {
        panic!("expected one policy modify without private DNS, got {:?}", plan.writes);
    };
}

#[test]
fn in_china_the_services_are_recognised_and_the_policies_carry_the_partition() {
    let region = "cn-north-1";
    let mut obs = observation(&AZS, 1);
    obs.identity.region = region.into();
    obs.identity.partition = "aws-cn".into();
    let azs: std::collections::BTreeSet<String> = obs.subnets.iter().map(|s| s.az.clone()).collect();
    let (api, notebook) = (api_service(region), notebook_service(region));
    assert_eq!(api, "cn.com.amazonaws.cn-north-1.sagemaker.api");
    obs.service_azs = [(api.clone(), azs.clone()), (notebook.clone(), azs)].into();
    obs.service_dns = Default::default();
    let plan = plan(&obs, &Config::default());
    let api_policy = planned_policy(&plan, &api).expect("the API service is recognised by its suffix");
    let call = |account: &str| {
        Request::new(&format!("arn:aws-cn:iam::{account}:role/Pipeline"), "sagemaker:ListNotebookInstances", "*")
            .with("aws:PrincipalAccount", account)
    };
    assert_eq!(evaluate(&api_policy, &call(ACCOUNT)), Decision::Allow);
    assert_ne!(evaluate(&api_policy, &call(OTHER_ACCOUNT)), Decision::Allow);
    let notebook_policy = planned_policy(&plan, &notebook).expect("notebook policy");
    let open = |account: &str| {
        Request::new(
            &format!("arn:aws-cn:iam::{account}:role/Analyst"),
            "sagemaker:CreatePresignedNotebookInstanceUrl",
            &format!("arn:aws-cn:sagemaker:{region}:{account}:notebook-instance/nb"),
        )
    };
    assert_eq!(evaluate(&notebook_policy, &open(ACCOUNT)), Decision::Allow);
    assert_ne!(evaluate(&notebook_policy, &open(OTHER_ACCOUNT)), Decision::Allow);
}

#[test]
fn ipv6_only_subnets_are_skipped_without_an_error() {
    let mut obs = observation(&AZS, 2);
    // us-west-2a: one IPv6-only subnet beside a dual-stack one; us-west-2b: IPv6-only only.
    for subnet in obs.subnets.iter_mut().filter(|s| s.id == "subnet-00" || s.az == "us-west-2b") {
        subnet.ipv6_native = true;
        subnet.free_ips = 0;
    }
    let plan = plan(&obs, &Config::default());
    let created: Vec<&Vec<String>> = plan
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::CreateEndpoint { subnet_ids, .. } => Some(subnet_ids),
            _ => None,
        })
        .collect();
    assert_eq!(created[0], &["subnet-01".to_string(), "subnet-20".to_string()], "{:?}", plan.writes);
    assert!(!plan.problems.iter().any(|p| p.severity == Severity::Error), "{:?}", plan.problems);
    assert!(codes(&plan).contains(&"ipv6_only_az"));
}
