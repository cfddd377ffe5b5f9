//! Table tests of the approval comparison and the fingerprint.

use super::*;
use crate::report::Report;
use crate::testing::{self, observation};

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";

fn create(service: &str, endpoint_id: Option<&str>, subnets: &[&str]) -> Action {
    Action::CreateEndpoint {
        service: service.into(),
        endpoint_id: endpoint_id.map(Into::into),
        subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
        private_dns: true,
    }
}

fn authorize(group_id: Option<&str>, cidrs: &[&str]) -> Action {
    Action::AuthorizeHttps { group_id: group_id.map(Into::into), cidrs: cidrs.iter().map(|s| s.to_string()).collect() }
}

fn add_subnets(endpoint_id: &str, subnets: &[&str]) -> Action {
    Action::AddSubnets { endpoint_id: endpoint_id.into(), subnet_ids: subnets.iter().map(|s| s.to_string()).collect() }
}

/// The dry run of a new VPC: group, rule, both endpoints in three subnets (ids unknown yet).
fn shown() -> Vec<Action> {
    vec![
        Action::CreateSecurityGroup { group_id: None, group_name: "vpce-guard-endpoints".into() },
        authorize(None, &["10.0.0.0/16"]),
        create(API, None, &["subnet-a", "subnet-b", "subnet-c"]),
        create(NOTEBOOK, None, &["subnet-a", "subnet-b", "subnet-c"]),
    ]
}

fn report_of(vpcs: &[(&str, Vec<Action>)]) -> Report {
    let mut report = Report::new("Cli", true);
    for (vpc_id, actions) in vpcs {
        let mut vpc = VpcReport::skipped(vpc_id, "");
        vpc.reason = None;
        vpc.outcome = if actions.is_empty() { Outcome::Compliant } else { Outcome::WouldChange };
        vpc.actions = actions.clone();
        report.vpcs.push(vpc);
    }
    report
}

fn proposal<'a>(vpc_id: &'a str, actions: &'a [Action], fingerprint: &'a str, round: usize) -> Proposal<'a> {
    Proposal { vpc_id, fingerprint, round, dry_run: false, actions }
}

#[test]
fn an_extra_write_is_refused_and_named() {
    let approval = Approval::at_most(&report_of(&[("vpc-1", shown())]));
    let mut now = shown();
    now[2] = create(API, None, &["subnet-a", "subnet-b", "subnet-c", "subnet-d"]);
    let Verdict::Refused(reason) = approval.review(&proposal("vpc-1", &now, "", 1)) else {
        panic!("a fourth subnet was not approved")
    };
    assert!(reason.contains(&format!("place the new {API} endpoint in subnet-d")), "{reason}");
    assert!(!reason.contains("subnet-a"), "only the extra write is named: {reason}");
    assert!(reason.starts_with("vpc-1: writes not approved"), "{reason}");
}

#[test]
fn fewer_writes_than_approved_are_fine() {
    let approval = Approval::at_most(&report_of(&[("vpc-1", shown())]));
    // Something else created the group and one endpoint, and a subnet went away.
    let now = vec![authorize(Some("sg-9"), &["10.0.0.0/16"]), create(NOTEBOOK, None, &["subnet-a", "subnet-b"])];
    assert_eq!(approval.review(&proposal("vpc-1", &now, "", 1)), Verdict::Approved);
    assert!(approval.differences(&report_of(&[("vpc-1", now)]), &BTreeMap::new()).is_empty());
}

#[test]
fn ids_made_by_the_writes_do_not_count() {
    let approval = Approval::at_most(&report_of(&[("vpc-1", shown())]));
    let applied = vec![
        Action::CreateSecurityGroup { group_id: Some("sg-1".into()), group_name: "vpce-guard-endpoints".into() },
        authorize(Some("sg-1"), &["10.0.0.0/16"]),
        create(API, Some("vpce-1"), &["subnet-c", "subnet-b", "subnet-a"]),
    ];
    assert_eq!(approval.review(&proposal("vpc-1", &applied, "", 1)), Verdict::Approved);
}

#[test]
fn what_a_write_does_decides_not_its_shape() {
    let approved = report_of(&[("vpc-1", vec![authorize(Some("sg-1"), &["10.0.0.0/16", "192.168.0.0/16"])])]);
    let approval = Approval::at_most(&approved);
    let split = [authorize(Some("sg-1"), &["192.168.0.0/16"])];
    assert_eq!(approval.review(&proposal("vpc-1", &split, "", 1)), Verdict::Approved);
    let other_source = [authorize(Some("sg-1"), &["172.16.0.0/12"])];
    assert!(
        matches!(approval.review(&proposal("vpc-1", &other_source, "", 1)), Verdict::Refused(r) if r.contains("172.16.0.0/12"))
    );
    // Private DNS off instead of on is another write.
    let mut no_dns = create(API, None, &["subnet-a"]);
    if let Action::CreateEndpoint { private_dns, .. } = &mut no_dns {
        *private_dns = false;
    }
    let approval = Approval::at_most(&report_of(&[("vpc-1", vec![create(API, None, &["subnet-a"])])]));
    assert!(matches!(approval.review(&proposal("vpc-1", &[no_dns], "", 1)), Verdict::Refused(_)));
}

#[test]
fn writes_to_an_endpoint_not_seen_are_refused() {
    // The plan would create the endpoint; meanwhile someone created it in one subnet.
    let approval = Approval::at_most(&report_of(&[("vpc-1", vec![create(API, None, &["subnet-a", "subnet-b"])])]));
    let now = [add_subnets("vpce-7", &["subnet-b"])];
    let Verdict::Refused(reason) = approval.review(&proposal("vpc-1", &now, "", 1)) else { panic!("unseen endpoint") };
    assert!(reason.contains("add subnet-b to vpce-7"), "{reason}");
}

#[test]
fn a_vpc_not_in_the_approval_may_not_be_written() {
    let approval = Approval::at_most(&report_of(&[("vpc-1", shown())]));
    assert!(
        matches!(approval.review(&proposal("vpc-2", &shown(), "", 1)), Verdict::Refused(r) if r.starts_with("vpc-2"))
    );
    assert_eq!(approval.review(&proposal("vpc-2", &[], "", 1)), Verdict::Approved, "nothing to write is fine");
    let differences = approval.differences(&report_of(&[("vpc-1", shown()), ("vpc-2", shown())]), &BTreeMap::new());
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].vpc_id, "vpc-2");
    assert_eq!(differences[0].extra.len(), effects(&shown()).len());
}

fn saved(vpc_id: &str, fingerprint: &str, actions: Vec<Action>) -> ApprovedVpc {
    ApprovedVpc { vpc_id: vpc_id.into(), fingerprint: Some(fingerprint.into()), actions }
}

#[test]
fn a_saved_plan_must_match_exactly() {
    let approval = Approval::exact([saved("vpc-1", "sha256:1", shown()), saved("vpc-2", "sha256:2", Vec::new())]);
    let fingerprints = |a: &str, b: &str| BTreeMap::from([("vpc-1".into(), a.into()), ("vpc-2".into(), b.into())]);
    let same = report_of(&[("vpc-1", shown()), ("vpc-2", Vec::new())]);
    assert!(approval.differences(&same, &fingerprints("sha256:1", "sha256:2")).is_empty());

    // Fewer writes: the plan no longer describes the account.
    let fewer = report_of(&[("vpc-1", shown()[..3].to_vec()), ("vpc-2", Vec::new())]);
    let differences = approval.differences(&fewer, &fingerprints("sha256:1", "sha256:2"));
    assert_eq!(differences.len(), 1);
    assert_eq!(
        differences[0].missing,
        vec![Effect::CreateEndpoint { service: NOTEBOOK.into(), private_dns: true }]
            .into_iter()
            .chain(
                ["subnet-a", "subnet-b", "subnet-c"]
                    .map(|s| Effect::AddSubnet { endpoint: EndpointRef::New(NOTEBOOK.into()), subnet_id: s.into() })
            )
            .collect::<Vec<_>>()
    );
    assert!(differences[0].to_string().contains("approved writes no longer planned"), "{}", differences[0]);

    // The same writes on a VPC that changed; a VPC with nothing to write may change freely.
    let differences = approval.differences(&same, &fingerprints("sha256:other", "sha256:other"));
    assert_eq!(differences.len(), 1);
    assert_eq!((differences[0].vpc_id.as_str(), differences[0].changed), ("vpc-1", true));

    // A VPC with writes that the new plan does not look at any more (gone, or skipped).
    let gone = report_of(&[("vpc-2", Vec::new())]);
    let differences = approval.differences(&gone, &BTreeMap::from([("vpc-2".into(), "sha256:2".into())]));
    assert_eq!(differences.len(), 1);
    assert!(differences[0].changed && !differences[0].missing.is_empty());
}

#[test]
fn a_saved_plan_checks_the_fingerprint_of_the_first_round_only() {
    let approval = Approval::exact([saved("vpc-1", "sha256:1", shown())]);
    assert_eq!(approval.review(&proposal("vpc-1", &shown(), "sha256:1", 1)), Verdict::Approved);
    let Verdict::Refused(reason) = approval.review(&proposal("vpc-1", &shown(), "sha256:2", 1)) else {
        panic!("changed VPC")
    };
    assert!(reason.contains("the VPC changed since the plan was made"), "{reason}");
    // Later rounds follow this run's own writes: only unapproved writes count.
    let rest = &shown()[3..];
    assert_eq!(approval.review(&proposal("vpc-1", rest, "sha256:2", 2)), Verdict::Approved);
}

#[test]
fn the_fingerprint_follows_what_plans_read() {
    let base = observation(&["us-west-2a", "us-west-2b"], 1);
    let print = fingerprint(&base);
    assert!(print.starts_with("sha256:") && print.len() == 7 + 64, "{print}");
    assert_eq!(fingerprint(&base.clone()), print, "deterministic");

    let mut reordered = base.clone();
    reordered.subnets.reverse();
    reordered.subnets[0].free_ips = 3;
    reordered.hints.dns_conflicts.insert(API.into());
    reordered.vpc.tags.insert("Name".into(), "renamed".into());
    reordered.notebooks.as_mut().unwrap()[0].status = "Stopped".into();
    assert_eq!(fingerprint(&reordered), print, "order, free addresses, hints, other tags, notebook status");

    let mut new_az = base.clone();
    new_az.subnets.push(testing::subnet("subnet-9", "vpc-1", "us-west-2c"));
    assert_ne!(fingerprint(&new_az), print);
    let mut tagged = base.clone();
    tagged.vpc.tags.insert("vpce-guard:enforce".into(), "false".into());
    assert_ne!(fingerprint(&tagged), print);
    let mut endpoint = base.clone();
    endpoint.endpoints.push(testing::endpoint("vpce-1", "vpc-1", API, &["subnet-00"]));
    assert_ne!(fingerprint(&endpoint), print);
    let mut pending = endpoint.clone();
    pending.endpoints[0].state = crate::model::EndpointState::Pending;
    assert_ne!(fingerprint(&pending), fingerprint(&endpoint));
    let mut dns = base.clone();
    dns.vpc.dns = None;
    assert_ne!(fingerprint(&dns), print);
}
