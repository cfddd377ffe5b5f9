//! Handler tests: the Lambda handlers of `vpce_guard::lambda`, driven with the sample
//! events of `events/` (ids rewritten to the fake's resources) against the in-memory
//! [`FakeAccount`]. Each test asserts what the account holds afterwards and what the report
//! says, including the writes made.

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use vpce_guard::config::{api_service, notebook_service, Config, NotebookPolicy, OnDnsConflict};
use vpce_guard::fake::{FakeAccount, FakeState};
use vpce_guard::lambda::{on_notebook_created, on_subnet_created, remediate};
use vpce_guard::model::{Endpoint, EndpointState, VpcDns, MANAGED_GROUP_NAME, TAG_ENFORCE, TAG_MANAGED};
use vpce_guard::report::{Action, Outcome, Report, Severity, VpcReport};
use vpce_guard::testing::{self, ACCOUNT, REGION};
use vpce_guard::Guard;

/// The VPC the sample events name.
const VPC: &str = "vpc-0f1e2d3c4b5a69788";
/// The subnet `events/create-subnet.json` creates (in us-west-2d).
const NEW_SUBNET: &str = "subnet-0d9c8b7a6f5e4d3c2";
/// The notebook `events/create-notebook-instance.json` creates.
const NOTEBOOK: &str = "fraud-model-dev";
const WRITE_DNS: &str = "ModifyVpcAttribute";
const WRITE_GROUP: &str = "CreateSecurityGroup";
const WRITE_RULES: &str = "AuthorizeSecurityGroupIngress";
const WRITE_CREATE: &str = "CreateVpcEndpoint";
const WRITE_MODIFY: &str = "ModifyVpcEndpoint";

// ---- events ----------------------------------------------------------------------------

fn sample(file: &str) -> Value {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn invocation(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

/// `create-notebook-instance.json` for notebook `name` in `subnet_id`.
fn notebook_event(name: &str, subnet_id: &str) -> LambdaEvent<Value> {
    let mut event = sample("create-notebook-instance.json");
    let detail = &mut event["detail"];
    detail["requestParameters"]["notebookInstanceName"] = name.into();
    detail["requestParameters"]["subnetId"] = subnet_id.into();
    detail["responseElements"]["notebookInstanceArn"] = arn(name).into();
    invocation(event)
}

/// `create-subnet.json` for `subnet_id` in `vpc_id` and `az`.
fn subnet_event(subnet_id: &str, vpc_id: &str, az: &str) -> LambdaEvent<Value> {
    let mut event = sample("create-subnet.json");
    let detail = &mut event["detail"];
    detail["requestParameters"]["vpcId"] = vpc_id.into();
    detail["requestParameters"]["availabilityZone"] = az.into();
    let subnet = &mut detail["responseElements"]["subnet"];
    subnet["subnetId"] = subnet_id.into();
    subnet["subnetArn"] = format!("arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{subnet_id}").into();
    subnet["vpcId"] = vpc_id.into();
    subnet["availabilityZone"] = az.into();
    invocation(event)
}

fn arn(name: &str) -> String {
    testing::notebook(name, "subnet-00000000").arn
}

// ---- the account -----------------------------------------------------------------------

/// The strict opt-in `vpc-notebooks` (these tests follow the per-VPC ARN list through events);
/// the default `account-notebooks` and the other modes are exercised in `tests/access.rs`.
fn guard() -> Guard<FakeAccount> {
    guard_with(strict())
}

fn strict() -> Config {
    Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() }
}

fn guard_with(config: Config) -> Guard<FakeAccount> {
    Guard::new(FakeAccount::new(), config).with_visibility_retries(Vec::new())
}

/// `subnet-…` id for the `n`th subnet of AZ `letter`.
fn subnet_id(letter: char, n: u8) -> String {
    format!("subnet-00000000000000{letter}{n}")
}

/// VPC with `per_az` subnets in each AZ of `letters`, DNS hostnames off (EC2's default),
/// an IPv4 secondary block and an IPv6 block.
fn vpc_with_subnets(fake: &FakeAccount, letters: &[char], per_az: u8) {
    fake.add_vpc(VPC, "10.0.0.0/16");
    fake.with_state(|s| {
        let vpc = s.vpcs.get_mut(VPC).expect("vpc");
        vpc.ipv4_cidrs.push("10.1.0.0/16".into());
        vpc.ipv6_cidrs.push("2600:1f14:abc:de00::/56".into());
    });
    for letter in letters {
        for n in 1..=per_az {
            fake.add_subnet(VPC, &subnet_id(*letter, n), &format!("{REGION}{letter}"));
        }
    }
}

/// The usual arrangement: 3 AZs × 2 subnets, notebook `fraud-model-dev` in the second
/// subnet of us-west-2a.
fn three_az_vpc_with_notebook(fake: &FakeAccount) {
    vpc_with_subnets(fake, &['a', 'b', 'c'], 2);
    fake.add_notebook(NOTEBOOK, &subnet_id('a', 2));
}

fn set_dns(fake: &FakeAccount, support: bool, hostnames: bool) {
    fake.with_state(|s| s.vpcs.get_mut(VPC).expect("vpc").dns = Some(VpcDns { support, hostnames }));
}

fn writes(fake: &FakeAccount) -> Vec<String> {
    fake.snapshot().writes
}

/// The live endpoint of `service` in the VPC; exactly one must exist.
fn only_endpoint(fake: &FakeAccount, service: &str) -> Endpoint {
    let live: Vec<Endpoint> = fake.live_endpoints(VPC).into_iter().filter(|e| e.service == service).collect();
    assert_eq!(live.len(), 1, "live endpoints of {service}: {live:#?}");
    live.into_iter().next().expect("one endpoint")
}

fn azs_of(fake: &FakeAccount, endpoint: &Endpoint) -> Vec<String> {
    let state = fake.snapshot();
    let mut azs: Vec<String> = endpoint.subnet_ids.iter().map(|id| state.subnets[id].az.clone()).collect();
    azs.sort();
    azs
}

fn azs(letters: &[char]) -> Vec<String> {
    letters.iter().map(|l| format!("{REGION}{l}")).collect()
}

fn policy(endpoint: &Endpoint) -> Value {
    serde_json::from_str(endpoint.policy.as_deref().expect("a policy")).expect("policy JSON")
}

/// The notebook ARNs the notebook endpoint's policy allows.
fn allowed_arns(endpoint: &Endpoint) -> BTreeSet<String> {
    let statement = &policy(endpoint)["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "sagemaker:CreatePresignedNotebookInstanceUrl");
    statement["Resource"].as_array().expect("Resource list").iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

fn managed_group(state: &FakeState) -> (String, BTreeSet<String>) {
    let groups: Vec<_> = state.groups.values().filter(|g| g.name == MANAGED_GROUP_NAME).collect();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    (groups[0].group.id.clone(), groups[0].group.https_sources.clone())
}

fn one_vpc(report: &Report) -> &VpcReport {
    assert_eq!(report.vpcs.len(), 1, "{}", report.to_text());
    &report.vpcs[0]
}

fn action_names(vpc: &VpcReport) -> Vec<String> {
    vpc.actions.iter().map(|a| serde_json::to_value(a).unwrap()["action"].as_str().unwrap().to_string()).collect()
}

fn problem_codes(vpc: &VpcReport) -> Vec<&str> {
    vpc.problems.iter().map(|p| p.code.as_str()).collect()
}

/// What the account holds, without the write log, to compare before and after.
fn holdings(fake: &FakeAccount) -> String {
    let s = fake.snapshot();
    format!("{:?}\n{:?}\n{:?}\n{:?}\n{:?}", s.vpcs, s.subnets, s.endpoints, s.groups, s.notebooks)
}

fn assert_no_calls(report: &Report, fake: &FakeAccount) {
    assert_eq!(report.api_calls.read, 0, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 0, "{}", report.to_text());
    let calls = vpce_guard::account::Account::api_calls(fake);
    assert_eq!((calls.read, calls.write), (0, 0));
    assert!(writes(fake).is_empty());
}

// ---- CreateNotebookInstance ------------------------------------------------------------

#[tokio::test]
async fn notebook_created_in_three_az_vpc_gets_both_endpoints_with_dns_group_and_policy() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    assert_eq!(report.trigger, "CreateNotebookInstance");
    assert!(!report.dry_run);
    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    assert!(vpc.problems.is_empty(), "{}", report.to_text());
    assert_eq!(
        action_names(vpc),
        ["enable_dns_hostnames", "create_security_group", "authorize_https", "create_endpoint", "create_endpoint"]
    );
    assert_eq!(writes(fake), [WRITE_DNS, WRITE_GROUP, WRITE_RULES, WRITE_CREATE, WRITE_CREATE]);
    assert_eq!(report.api_calls.write, 5);
    assert!(report.api_calls.read > 0);

    let state = fake.snapshot();
    assert_eq!(state.vpcs[VPC].dns, Some(VpcDns { support: true, hostnames: true }));
    let (group_id, sources) = managed_group(&state);
    let expected_sources: BTreeSet<String> =
        ["10.0.0.0/16", "10.1.0.0/16", "2600:1f14:abc:de00::/56"].map(String::from).into();
    assert_eq!(sources, expected_sources);

    let api = only_endpoint(fake, &api_service(REGION));
    let notebook = only_endpoint(fake, &notebook_service(REGION));
    assert_eq!(fake.live_endpoints(VPC).len(), 2);
    for endpoint in [&api, &notebook] {
        assert_eq!(endpoint.state, EndpointState::Available);
        assert_eq!(endpoint.endpoint_type, "Interface");
        assert_eq!(azs_of(fake, endpoint), azs(&['a', 'b', 'c']), "one subnet per AZ");
        assert!(endpoint.private_dns);
        assert_eq!(endpoint.group_ids, std::slice::from_ref(&group_id));
        assert_eq!(endpoint.tags.get(TAG_MANAGED).map(String::as_str), Some("true"));
        assert!(endpoint.subnet_ids.contains(&subnet_id('a', 2)), "the notebook's subnet is preferred in its AZ");
    }
    assert_eq!(allowed_arns(&notebook), BTreeSet::from([arn(NOTEBOOK)]));
    assert_eq!(policy(&api)["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"], ACCOUNT);

    let reported: Vec<_> = vpc.endpoints.iter().map(|e| (e.service.clone(), e.endpoint_id.clone())).collect();
    assert_eq!(
        reported,
        [(api_service(REGION), Some(api.id.clone())), (notebook_service(REGION), Some(notebook.id.clone()))]
    );
    assert!(vpc.endpoints.iter().all(|e| e.private_dns && e.state == "available" && e.subnet_ids.len() == 3));
}

#[tokio::test]
async fn replayed_notebook_event_writes_nothing() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    let event = notebook_event(NOTEBOOK, &subnet_id('a', 2));
    on_notebook_created(event.clone(), &guard).await.unwrap();
    let before = (writes(fake), holdings(fake));

    let report = on_notebook_created(event, &guard).await.unwrap();

    assert_eq!(one_vpc(&report).outcome, Outcome::Compliant, "{}", report.to_text());
    assert!(one_vpc(&report).actions.is_empty());
    assert_eq!(report.api_calls.write, 0);
    assert_eq!((writes(fake), holdings(fake)), before);
}

#[tokio::test]
async fn second_notebook_in_the_vpc_adds_its_arn_to_the_policy_in_one_modify() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    let endpoints_before = fake.live_endpoints(VPC);
    fake.add_notebook("churn-model-dev", &subnet_id('b', 1));

    let report = on_notebook_created(notebook_event("churn-model-dev", &subnet_id('b', 1)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(action_names(vpc), ["set_policy"]);
    assert_eq!(report.api_calls.write, 1);
    assert_eq!(writes(fake).last().map(String::as_str), Some(WRITE_MODIFY));
    let notebook = only_endpoint(fake, &notebook_service(REGION));
    assert_eq!(allowed_arns(&notebook), BTreeSet::from([arn(NOTEBOOK), arn("churn-model-dev")]));
    let after = fake.live_endpoints(VPC);
    assert_eq!(after.len(), 2, "no new endpoint");
    for (before, after) in endpoints_before.iter().zip(&after) {
        assert_eq!((&before.id, &before.subnet_ids), (&after.id, &after.subnet_ids), "subnets unchanged");
    }
    let api_before = endpoints_before.iter().find(|e| e.service == api_service(REGION)).unwrap();
    assert_eq!(api_before.policy, only_endpoint(fake, &api_service(REGION)).policy, "API policy untouched");
}

/// An API endpoint someone else made (a Terraform stack, say) in us-west-2a only, with
/// private DNS, the full-access policy and none of vpce-guard's tags; DNS attributes on.
const THEIRS: &str = "vpce-0aaaaaaaaaaaaaaa1";

fn vpc_with_their_api_endpoint(fake: &FakeAccount) {
    three_az_vpc_with_notebook(fake);
    set_dns(fake, true, true);
    fake.with_state(|s| {
        let mut existing = testing::endpoint(THEIRS, VPC, &api_service(REGION), &[&subnet_id('a', 1)]);
        existing.private_dns = true;
        existing.tags = testing::tags(&[("Name", "platform-team-api")]);
        s.endpoints.insert(THEIRS.into(), existing);
    });
}

/// By default vpce-guard writes only what it manages (issue 18): an endpoint of a service that
/// it did not create is reported with what differs from the wanted state and left alone, and no
/// second endpoint is made beside it. The fake's role is the template's default one, which
/// refuses `ModifyVpcEndpoint` on an endpoint not tagged `vpce-guard:managed=true`.
#[tokio::test]
async fn existing_unmanaged_endpoint_is_reported_with_what_differs_and_left_alone_by_default() {
    let guard = guard();
    let fake = guard.account();
    vpc_with_their_api_endpoint(fake);
    fake.with_state(|s| s.role_adopts_existing = Some(false));
    let theirs_before = fake.snapshot().endpoints[THEIRS].clone();

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = vpc.problems.iter().find(|p| p.code == "unmanaged_endpoint").expect("unmanaged_endpoint");
    assert_eq!(problem.severity, Severity::Error);
    for part in [THEIRS, "us-west-2b", "us-west-2c", "policy", "VPCE_GUARD_ADOPT_EXISTING"] {
        assert!(problem.message.contains(part), "{part} missing from {}", problem.message);
    }
    assert!(!problem.message.contains("private DNS"), "private DNS is on already: {}", problem.message);
    assert!(!writes(fake).contains(&WRITE_MODIFY.to_string()), "{:?}", writes(fake));
    assert_eq!(fake.snapshot().endpoints[THEIRS], theirs_before, "theirs untouched");
    assert_eq!(only_endpoint(fake, &api_service(REGION)).id, THEIRS, "no second API endpoint");
    assert!(only_endpoint(fake, &notebook_service(REGION)).private_dns, "the notebook endpoint is vpce-guard's");

    let replay = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    assert_eq!(replay.api_calls.write, 0, "{}", replay.to_text());
    assert_eq!(problem_codes(one_vpc(&replay)), ["unmanaged_endpoint"], "{}", replay.to_text());

    // Private DNS off on theirs: named as a difference too.
    fake.with_state(|s| s.endpoints.get_mut(THEIRS).unwrap().private_dns = false);
    let off = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    let problem = one_vpc(&off).problems.iter().find(|p| p.code == "unmanaged_endpoint").expect("unmanaged_endpoint");
    assert!(problem.message.contains("private DNS"), "{}", problem.message);
    assert_eq!(off.api_calls.write, 0, "{}", off.to_text());
}

/// With `VPCE_GUARD_ADOPT_EXISTING=true` (and the role of `AdoptExisting=true`), the endpoint
/// someone else made is adopted as before: modified in place, never duplicated.
#[tokio::test]
async fn existing_unmanaged_api_endpoint_with_private_dns_is_adopted_not_duplicated_with_the_opt_in() {
    let guard = guard_with(Config { adopt_existing: true, ..strict() });
    let fake = guard.account();
    vpc_with_their_api_endpoint(fake);
    fake.with_state(|s| s.role_adopts_existing = Some(true));
    let existing_id = THEIRS;

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(writes(fake), [WRITE_GROUP, WRITE_RULES, WRITE_MODIFY, WRITE_CREATE]);
    let api = only_endpoint(fake, &api_service(REGION));
    assert_eq!(api.id, existing_id, "adopted, not duplicated");
    assert!(api.private_dns);
    assert!(!api.tags.contains_key(TAG_MANAGED), "an adopted endpoint keeps its owner's tags");
    assert_eq!(azs_of(fake, &api), azs(&['a', 'b', 'c']));
    assert!(api.subnet_ids.contains(&subnet_id('a', 1)), "its subnet in us-west-2a is kept");
    let (group_id, _) = managed_group(&fake.snapshot());
    assert_eq!(api.group_ids, [group_id]);
    assert_eq!(policy(&api)["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"], ACCOUNT);
    let notebook = only_endpoint(fake, &notebook_service(REGION));
    assert!(notebook.private_dns);
    assert_eq!(fake.snapshot().endpoints.len(), 2);

    let replay = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    assert_eq!(replay.api_calls.write, 0, "{}", replay.to_text());
    assert_eq!(one_vpc(&replay).outcome, Outcome::Compliant);
}

/// A security group named `vpce-guard-endpoints` that is not tagged `vpce-guard:managed=true`
/// is someone else's: the roles may write managed groups only, so vpce-guard reports it and
/// writes neither its rules nor an endpoint that would carry it (a new group of the name cannot
/// be made beside it: the name is taken).
#[tokio::test]
async fn a_group_of_the_managed_name_not_tagged_managed_is_reported_and_not_written() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    fake.with_state(|s| s.role_adopts_existing = Some(false));
    fake.with_state(|s| {
        let group = vpce_guard::model::SecurityGroup {
            id: "sg-0000000000000hand".into(),
            vpc_id: VPC.into(),
            https_sources: BTreeSet::new(),
            managed_sources: BTreeSet::new(),
            managed: false,
        };
        let tags = testing::tags(&[("Name", "made by hand")]);
        s.groups.insert(group.id.clone(), vpce_guard::fake::FakeGroup { group, name: MANAGED_GROUP_NAME.into(), tags });
    });

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = vpc.problems.iter().find(|p| p.code == "unmanaged_group").expect("unmanaged_group");
    assert!(problem.message.contains("sg-0000000000000hand"), "{}", problem.message);
    let written = writes(fake);
    for refused in [WRITE_RULES, WRITE_CREATE, WRITE_MODIFY, WRITE_GROUP] {
        assert!(!written.contains(&refused.to_string()), "{refused} in {written:?}");
    }
    assert!(vpc.problems.iter().all(|p| p.code != "error"), "{}", report.to_text());
}

#[tokio::test]
async fn vpc_tagged_enforce_false_is_skipped_without_writes() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    fake.with_state(|s| s.vpcs.get_mut(VPC).unwrap().tags.insert(TAG_ENFORCE.into(), "false".into()));
    let before = holdings(fake);

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Skipped);
    assert!(vpc.reason.as_deref().unwrap_or_default().contains("vpce-guard:enforce=false"), "{vpc:?}");
    assert!(vpc.actions.is_empty() && vpc.endpoints.is_empty());
    assert_eq!(report.api_calls.write, 0);
    assert!(writes(fake).is_empty());
    assert_eq!(holdings(fake), before);
}

#[tokio::test]
async fn notebook_still_missing_after_the_retries_is_deleted_and_the_event_ignored() {
    let guard = guard_with(Config::default()).with_visibility_retries(vec![Duration::ZERO; 2]);
    let fake = guard.account();
    vpc_with_subnets(fake, &['a', 'b'], 1);

    let report = on_notebook_created(notebook_event("deleted-already", &subnet_id('a', 1)), &guard).await.unwrap();

    let reason = report.ignored.as_deref().expect("ignored, not an error Lambda would retry");
    assert!(reason.contains("deleted-already") && reason.contains("no longer exists"), "{reason}");
    assert!(report.vpcs.is_empty());
    let calls = vpce_guard::account::Account::api_calls(fake);
    assert_eq!(calls.read, 4, "the account check, one DescribeNotebookInstance and two retries");
    assert_eq!(calls.write, 0);
    assert!(writes(fake).is_empty());
}

#[tokio::test]
async fn subnet_event_whose_vpc_is_gone_is_ignored_after_the_retries() {
    let guard = guard_with(Config::default()).with_visibility_retries(vec![Duration::ZERO; 2]);
    let fake = guard.account();

    let report = on_subnet_created(subnet_event(NEW_SUBNET, VPC, "us-west-2d"), &guard).await.unwrap();

    let reason = report.ignored.as_deref().expect("ignored");
    assert!(reason.contains(VPC) && reason.contains("no longer exists"), "{reason}");
    assert!(writes(fake).is_empty());
}

#[tokio::test]
async fn drift_naming_a_deleted_vpc_still_reconciles_the_others() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    let parsed = vpce_guard::events::Parsed::Run(vpce_guard::events::Trigger::Drift(vpce_guard::events::Drift {
        vpc_ids: vec!["vpc-0000000000000dead".into(), VPC.into()],
        ..vpce_guard::events::Drift::new("DeleteVpcEndpoints")
    }));

    let report = guard.run(parsed).await.unwrap();

    let ours = report.vpcs.iter().find(|v| v.vpc_id == VPC).expect("reconciled");
    assert_eq!(ours.outcome, Outcome::Changed, "{}", report.to_text());
    let gone = report.vpcs.iter().find(|v| v.vpc_id == "vpc-0000000000000dead").expect("reported");
    assert_eq!(gone.outcome, Outcome::Skipped);
    assert_eq!(fake.live_endpoints(VPC).len(), 2);
}

// ---- CreateSubnet ----------------------------------------------------------------------

/// The usual VPC after its notebook's event was handled (endpoints in a, b, c).
async fn enforced_vpc(guard: &Guard<FakeAccount>) {
    three_az_vpc_with_notebook(guard.account());
    on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), guard).await.unwrap();
}

/// An enforced VPC (see [`enforced_vpc`]) in which `NEW_SUBNET` has just been made in us-west-2d.
async fn enforced_vpc_with_a_new_subnet() -> Guard<FakeAccount> {
    let guard = guard();
    enforced_vpc(&guard).await;
    guard.account().add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    guard
}

#[tokio::test]
async fn subnet_in_a_new_az_extends_both_endpoints_once_they_are_available() {
    let guard = guard();
    let fake = guard.account();
    fake.with_state(|s| s.new_endpoint_state = Some(EndpointState::Pending));
    enforced_vpc(&guard).await;
    fake.settle();
    let policies_before: Vec<_> = fake.live_endpoints(VPC).into_iter().map(|e| e.policy).collect();
    let writes_before = writes(fake).len();
    fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");

    let report = on_subnet_created(subnet_event(NEW_SUBNET, VPC, "us-west-2d"), &guard).await.unwrap();

    assert_eq!(report.trigger, "CreateSubnet");
    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 2);
    assert_eq!(writes(fake)[writes_before..], [WRITE_MODIFY, WRITE_MODIFY]);
    for action in &vpc.actions {
        assert!(
            matches!(action, Action::AddSubnets { subnet_ids, .. } if subnet_ids == &[NEW_SUBNET.to_string()]),
            "{action:?}"
        );
    }
    assert_eq!(vpc.actions.len(), 2);
    for service in [api_service(REGION), notebook_service(REGION)] {
        let endpoint = only_endpoint(fake, &service);
        assert_eq!(azs_of(fake, &endpoint), azs(&['a', 'b', 'c', 'd']));
        assert!(endpoint.subnet_ids.contains(&NEW_SUBNET.to_string()));
    }
    let policies_after: Vec<_> = fake.live_endpoints(VPC).into_iter().map(|e| e.policy).collect();
    assert_eq!(policies_after, policies_before, "a subnet event does not touch policies");
}

/// CloudTrail may record `CreateSubnet` without `responseElements.subnet.vpcId`; the request's
/// `vpcId` names the VPC (`events/create-subnet-sparse.json`).
#[tokio::test]
async fn a_sparse_create_subnet_record_extends_the_endpoints_of_the_requests_vpc() {
    let guard = enforced_vpc_with_a_new_subnet().await;
    let fake = guard.account();

    let report = on_subnet_created(invocation(sample("create-subnet-sparse.json")), &guard).await.unwrap();

    assert_eq!(one_vpc(&report).vpc_id, VPC);
    assert_eq!(one_vpc(&report).outcome, Outcome::Changed, "{}", report.to_text());
    for service in [api_service(REGION), notebook_service(REGION)] {
        let endpoint = only_endpoint(fake, &service);
        assert_eq!(azs_of(fake, &endpoint), azs(&['a', 'b', 'c', 'd']));
        assert!(endpoint.subnet_ids.contains(&NEW_SUBNET.to_string()));
    }
}

#[tokio::test]
async fn subnet_in_an_already_covered_az_writes_nothing() {
    let guard = guard();
    let fake = guard.account();
    enforced_vpc(&guard).await;
    let before = (writes(fake), holdings(fake));
    let extra = subnet_id('b', 9);
    fake.add_subnet(VPC, &extra, "us-west-2b");
    let holdings_with_subnet = holdings(fake);

    let report = on_subnet_created(subnet_event(&extra, VPC, "us-west-2b"), &guard).await.unwrap();

    assert_eq!(one_vpc(&report).outcome, Outcome::Compliant, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 0);
    assert!(report.api_calls.read > 0);
    assert_eq!(writes(fake), before.0);
    assert_eq!(holdings(fake), holdings_with_subnet);
    assert!(fake.live_endpoints(VPC).iter().all(|e| !e.subnet_ids.contains(&extra)));
}

#[tokio::test]
async fn replayed_subnet_event_writes_nothing() {
    let guard = enforced_vpc_with_a_new_subnet().await;
    let fake = guard.account();
    let event = subnet_event(NEW_SUBNET, VPC, "us-west-2d");
    let first = on_subnet_created(event.clone(), &guard).await.unwrap();
    assert_eq!(first.api_calls.write, 2, "{}", first.to_text());
    let before = (writes(fake), holdings(fake));

    let replay = on_subnet_created(event, &guard).await.unwrap();

    assert_eq!(one_vpc(&replay).outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
    assert_eq!((writes(fake), holdings(fake)), before);
}

/// A delivery of the event queue (issue 19 item 3) to its consumer, `remediate`: ten
/// `CreateSubnet` records for one VPC are one pass over it, costing the reads of one event, and
/// answer with `batchItemFailures` (the unreadable record only). on-subnet-created takes one
/// event, and refuses a delivery without a call.
#[tokio::test]
async fn a_delivery_of_subnet_events_is_one_pass_over_their_vpc() {
    let guard = guard();
    let fake = guard.account();
    enforced_vpc(&guard).await;
    let writes_before = writes(fake).len();
    fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    let event = subnet_event(NEW_SUBNET, VPC, "us-west-2d").payload;
    let mut bodies = vec![event.clone(); 10];
    bodies.push(Value::Null);
    let mut delivery = drift_delivery(&bodies);
    delivery.payload["Records"][10]["body"] = "{not json".into();

    let report = remediate(delivery, &guard).await.unwrap();

    assert_eq!(report.trigger, "CreationBatch");
    assert_eq!(one_vpc(&report).outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(writes(fake)[writes_before..], [WRITE_MODIFY, WRITE_MODIFY], "one pass, not ten");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["batchItemFailures"], serde_json::json!([{"itemIdentifier": "message-010"}]));
    assert_eq!(json["batch"]["creation_events"], 10);
    let one = guard_with(strict());
    enforced_vpc(&one).await;
    one.account().add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    let single = on_subnet_created(subnet_event(NEW_SUBNET, VPC, "us-west-2d"), &one).await.unwrap();
    assert_eq!(report.api_calls.read, single.api_calls.read, "the reads of one event");
    assert!(serde_json::to_value(&single).unwrap().get("batchItemFailures").is_none());
    let calls = vpce_guard::account::Account::api_calls(one.account());
    let refused = on_subnet_created(drift_delivery(&[subnet_event(NEW_SUBNET, VPC, "us-west-2d").payload]), &one).await;
    let error = refused.expect_err("on-subnet-created is no queue consumer");
    assert!(error.to_string().contains("remediate"), "{error}");
    assert_eq!(vpce_guard::account::Account::api_calls(one.account()), calls, "refused without a call");
}

/// The event queue has one consumer, which takes every kind of creation event: three
/// notebooks created in one VPC and a subnet in a new AZ of it, delivered together, are one pass
/// over the VPC, making exactly the writes one notebook event makes (the notebook policy
/// listing all three notebooks, the endpoints in all four AZs); a notebook already deleted is
/// ignored and does not come back, the unreadable record does.
#[tokio::test]
async fn a_delivery_of_notebook_and_subnet_events_is_one_pass_over_their_vpc() {
    let arrange = |guard: &Guard<FakeAccount>| {
        let fake = guard.account();
        three_az_vpc_with_notebook(fake);
        fake.add_notebook("nb-b", &subnet_id('b', 1));
        fake.add_notebook("nb-c", &subnet_id('c', 1));
        fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    };
    let single = guard();
    arrange(&single);
    let one = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &single).await.unwrap();
    assert_eq!(one_vpc(&one).outcome, Outcome::Changed, "{}", one.to_text());

    let guard = guard();
    let fake = guard.account();
    arrange(&guard);
    let bodies = [
        notebook_event(NOTEBOOK, &subnet_id('a', 2)).payload,
        notebook_event("nb-b", &subnet_id('b', 1)).payload,
        subnet_event(NEW_SUBNET, VPC, "us-west-2d").payload,
        notebook_event("nb-c", &subnet_id('c', 1)).payload,
        notebook_event("deleted-already", &subnet_id('a', 1)).payload,
        Value::Null,
    ];
    let mut delivery = drift_delivery(&bodies);
    delivery.payload["Records"][5]["body"] = "{not json".into();

    let report = remediate(delivery, &guard).await.unwrap();

    assert_eq!(report.trigger, "CreationBatch");
    assert_eq!(one_vpc(&report).outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(writes(fake), writes(single.account()), "the writes of one event");
    let expected: BTreeSet<String> = [NOTEBOOK, "nb-b", "nb-c"].into_iter().map(arn).collect();
    assert_eq!(allowed_arns(&only_endpoint(fake, &notebook_service(REGION))), expected);
    assert_eq!(azs_of(fake, &only_endpoint(fake, &api_service(REGION))), azs(&['a', 'b', 'c', 'd']));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["batchItemFailures"], serde_json::json!([{"itemIdentifier": "message-005"}]));
    assert_eq!(json["batch"]["creation_events"], 5);
    // Every notebook of the delivery described (one event describes the VPC's other notebooks
    // when it lists them), their subnets read together, one observation of the VPC: the reads
    // of one event (18 here, 19 for the delivery), not four events' worth.
    assert!(
        report.api_calls.read <= one.api_calls.read + 2,
        "{} reads against {}",
        report.api_calls.read,
        one.api_calls.read
    );
}

/// A delivery naming two VPCs, the second of which AWS's throttle leaves unfinished (EC2's
/// endpoint-write bucket holds the first VPC's two creates only): the records that named it come
/// back, those of the VPC brought into line do not.
#[tokio::test]
async fn a_delivery_hands_back_the_records_of_the_vpc_left_unfinished_only() {
    const OTHER: &str = "vpc-0ffffffffffffff00";
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    fake.add_vpc(OTHER, "10.9.0.0/16");
    fake.add_subnet(OTHER, "subnet-0000000000000ff1", "us-west-2a");
    fake.add_notebook("nb-other", "subnet-0000000000000ff1");
    fake.with_state(|s| s.endpoint_write_tokens = Some(2));
    let bodies = [
        notebook_event(NOTEBOOK, &subnet_id('a', 2)).payload,
        notebook_event("nb-other", "subnet-0000000000000ff1").payload,
        notebook_event(NOTEBOOK, &subnet_id('a', 2)).payload,
    ];

    let report = remediate(drift_delivery(&bodies), &guard).await.unwrap();

    assert_eq!(report.vpcs.len(), 2, "{}", report.to_text());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "message-001"}]),
        "{}",
        report.to_text()
    );
    assert_eq!(fake.live_endpoints(VPC).len(), 2, "the first VPC was brought into line");
    assert!(fake.live_endpoints(OTHER).len() < 2, "the second was throttled");

    // Delivered again once the bucket has refilled: the returned record converges.
    fake.with_state(|s| s.endpoint_write_tokens = None);
    let again = remediate(drift_delivery(&bodies[1..2]), &guard).await.unwrap();
    assert_eq!(serde_json::to_value(&again).unwrap()["batchItemFailures"], serde_json::json!([]));
    assert_eq!(fake.live_endpoints(OTHER).len(), 2);
}

/// The event queue carries creation and drift events together: a subnet in a new AZ of a
/// compliant VPC and, in the same delivery, the API endpoint's private DNS turned off by hand are
/// one pass over the VPC (trigger `MixedBatch`), with fewer reads than the two events one
/// invocation each, and no more writes; both are repaired and nothing comes back.
#[tokio::test]
async fn a_delivery_of_creation_and_drift_events_is_one_pass_over_their_vpc() {
    let mut figures = Vec::new();
    for together in [true, false] {
        let guard = compliant_vpc(Config::default()).await;
        let fake = guard.account();
        fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
        let api = only_endpoint(fake, &api_service(REGION));
        fake.with_state(|s| s.endpoints.get_mut(&api.id).unwrap().private_dns = false);
        let drift = drift_sample(
            "modify-vpc-endpoint.json",
            &[("/requestParameters/ModifyVpcEndpointRequest/VpcEndpointId", api.id.clone().into())],
        );
        let subnet = subnet_event(NEW_SUBNET, VPC, "us-west-2d").payload;
        let (mut reads, mut runs) = (0, 0);
        if together {
            let report = remediate(drift_delivery(&[subnet, drift]), &guard).await.unwrap();
            assert_eq!(report.trigger, "MixedBatch");
            assert_eq!(one_vpc(&report).outcome, Outcome::Changed, "{}", report.to_text());
            let batch = report.batch.clone().expect("batch summary");
            assert_eq!((batch.records, batch.creation_events, batch.drift_events, batch.sweep), (2, 1, 1, false));
            assert_eq!(report.batch_item_failures, Some(Vec::new()), "{}", report.to_text());
            reads += report.api_calls.read;
            runs += 1;
        } else {
            for event in [subnet, drift] {
                let report = remediate(drift_delivery(&[event]), &guard).await.unwrap();
                reads += report.api_calls.read;
                runs += 1;
            }
        }
        let api = only_endpoint(fake, &api_service(REGION));
        assert!(api.private_dns, "the drift repaired");
        for service in [api_service(REGION), notebook_service(REGION)] {
            assert_eq!(azs_of(fake, &only_endpoint(fake, &service)), azs(&['a', 'b', 'c', 'd']), "{service}");
        }
        figures.push((runs, reads, writes(fake).len()));
    }
    let (together, apart) = (figures[0], figures[1]);
    assert!(together.1 < apart.1, "reads together {} vs apart {}", together.1, apart.1);
    assert!(together.2 <= apart.2, "writes together {} vs apart {}", together.2, apart.2);
}

/// A mixed delivery whose drift record names a second VPC that AWS's throttle leaves unfinished
/// (EC2's endpoint-write bucket holds the first VPC's two modifies only): the drift record comes
/// back, the creation record of the VPC brought into line does not; delivered again, it converges.
#[tokio::test]
async fn a_mixed_delivery_hands_back_the_drift_record_of_the_vpc_left_unfinished() {
    const OTHER: &str = "vpc-0ffffffffffffff00";
    let guard = compliant_vpc(Config::default()).await;
    let fake = guard.account();
    fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    fake.add_vpc(OTHER, "10.9.0.0/16");
    fake.add_subnet(OTHER, "subnet-0000000000000ff1", "us-west-2a");
    fake.add_notebook("nb-other", "subnet-0000000000000ff1");
    fake.with_state(|s| s.endpoint_write_tokens = Some(2));
    let drift = drift_sample("modify-vpc-attribute.json", &[("/requestParameters/vpcId", OTHER.into())]);
    let bodies = [subnet_event(NEW_SUBNET, VPC, "us-west-2d").payload, drift];

    let report = remediate(drift_delivery(&bodies), &guard).await.unwrap();

    assert_eq!(report.trigger, "MixedBatch");
    assert_eq!(report.vpcs.len(), 2, "{}", report.to_text());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "message-001"}]),
        "{}",
        report.to_text()
    );
    for service in [api_service(REGION), notebook_service(REGION)] {
        assert_eq!(azs_of(fake, &only_endpoint(fake, &service)), azs(&['a', 'b', 'c', 'd']), "{service}");
    }
    assert!(fake.live_endpoints(OTHER).len() < 2, "the second VPC was throttled");

    fake.with_state(|s| s.endpoint_write_tokens = None);
    let again = remediate(drift_delivery(&bodies[1..]), &guard).await.unwrap();
    assert_eq!(serde_json::to_value(&again).unwrap()["batchItemFailures"], serde_json::json!([]));
    assert_eq!(fake.live_endpoints(OTHER).len(), 2);
}

/// A delivery whose only record is a failed `CreateSubnet` call needs nothing and says why, with no
/// call and nothing handed back.
#[tokio::test]
async fn a_delivery_of_a_failed_creation_call_is_ignored_with_its_reason() {
    let guard = guard();
    let report = remediate(drift_delivery(&[sample("create-subnet-failed.json")]), &guard).await.unwrap();
    assert_eq!(report.trigger, "CreationBatch");
    assert!(report.ignored.as_deref().is_some_and(|r| r.contains("call failed")), "{report:?}");
    assert_eq!((report.api_calls.read, report.api_calls.write), (0, 0));
    assert_eq!(report.batch_item_failures, Some(Vec::new()));
}

#[tokio::test]
async fn subnet_event_in_a_vpc_not_enrolled_is_skipped() {
    let guard = guard();
    let fake = guard.account();
    vpc_with_subnets(fake, &['a', 'b'], 1);
    fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    let before = holdings(fake);

    let report = on_subnet_created(subnet_event(NEW_SUBNET, VPC, "us-west-2d"), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Skipped, "{}", report.to_text());
    assert!(vpc.reason.as_deref().unwrap_or_default().contains("not enrolled"), "{vpc:?}");
    assert_eq!(report.api_calls.write, 0);
    assert!(writes(fake).is_empty());
    assert_eq!(holdings(fake), before);
}

#[tokio::test]
async fn failed_create_subnet_event_is_ignored_without_any_call() {
    let guard = guard();
    let fake = guard.account();
    vpc_with_subnets(fake, &['a'], 1);
    fake.add_notebook(NOTEBOOK, &subnet_id('a', 1));
    let before = holdings(fake);

    let report = on_subnet_created(invocation(sample("create-subnet-failed.json")), &guard).await.unwrap();

    let reason = report.ignored.as_deref().expect("ignored");
    assert!(reason.contains("Client.InvalidSubnet.Conflict"), "{reason}");
    assert_eq!(report.trigger, "CreateSubnet");
    assert!(report.vpcs.is_empty());
    assert_no_calls(&report, fake);
    assert_eq!(holdings(fake), before);
}

#[tokio::test]
async fn malformed_subnet_event_is_a_permanent_bad_event_without_any_call() {
    let guard = guard();
    let fake = guard.account();
    vpc_with_subnets(fake, &['a'], 1);
    fake.add_notebook(NOTEBOOK, &subnet_id('a', 1));

    let error = on_subnet_created(invocation(sample("malformed-create-subnet.json")), &guard).await.unwrap_err();

    assert_eq!(error.error_type(), "Permanent.BadEvent");
    assert!(error.to_string().contains("vpcId"), "{error}");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Permanent.BadEvent");
    let calls = vpce_guard::account::Account::api_calls(fake);
    assert_eq!((calls.read, calls.write), (0, 0));
    assert!(writes(fake).is_empty());
}

#[tokio::test]
async fn subnet_event_sent_to_the_notebook_handler_is_a_bad_event() {
    let guard = guard();
    let error = on_notebook_created(subnet_event(NEW_SUBNET, VPC, "us-west-2d"), &guard).await.unwrap_err();
    assert_eq!(error.error_type(), "Permanent.BadEvent");
    assert!(writes(guard.account()).is_empty());
}

// ---- remediate -------------------------------------------------------------------------

#[tokio::test]
async fn dry_run_reports_would_change_and_writes_nothing() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    let before = holdings(fake);

    let report = remediate(invocation(sample("remediate-dry-run.json")), &guard).await.unwrap();

    assert!(report.dry_run);
    assert_eq!(report.trigger, "Manual");
    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::WouldChange, "{}", report.to_text());
    assert_eq!(
        action_names(vpc),
        ["enable_dns_hostnames", "create_security_group", "authorize_https", "create_endpoint", "create_endpoint"]
    );
    assert!(vpc.actions.iter().all(|a| !matches!(a, Action::CreateEndpoint { endpoint_id: Some(_), .. })));
    assert_eq!(report.api_calls.write, 0);
    assert!(report.api_calls.read > 0);
    assert!(writes(fake).is_empty());
    assert_eq!(holdings(fake), before);
}

#[tokio::test]
async fn manual_payload_remediates_the_listed_vpc() {
    let guard = guard();
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);

    let report = remediate(invocation(sample("remediate-vpcs.json")), &guard).await.unwrap();

    assert!(!report.dry_run);
    assert_eq!(one_vpc(&report).outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 5);
    assert_eq!(fake.live_endpoints(VPC).len(), 2);
    let again = remediate(invocation(sample("remediate-vpcs.json")), &guard).await.unwrap();
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
}

#[tokio::test]
async fn service_missing_from_one_az_skips_that_az_and_reports_it() {
    let guard = guard();
    let fake = guard.account();
    vpc_with_subnets(fake, &['a', 'b', 'c', 'd'], 1);
    fake.add_notebook(NOTEBOOK, &subnet_id('a', 1));
    fake.with_state(|s| {
        s.service_azs.get_mut(&notebook_service(REGION)).unwrap().remove("us-west-2d");
    });

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 1)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "a warning does not make the VPC non-compliant");
    let skipped: Vec<_> = vpc.problems.iter().filter(|p| p.code == "service_not_in_az").collect();
    assert_eq!(skipped.len(), 1, "{}", report.to_text());
    assert_eq!(skipped[0].severity, Severity::Warning);
    assert!(skipped[0].message.contains("us-west-2d") && skipped[0].message.contains(&notebook_service(REGION)));
    assert_eq!(azs_of(fake, &only_endpoint(fake, &api_service(REGION))), azs(&['a', 'b', 'c', 'd']));
    assert_eq!(azs_of(fake, &only_endpoint(fake, &notebook_service(REGION))), azs(&['a', 'b', 'c']));

    let replay = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 1)), &guard).await.unwrap();
    assert_eq!(one_vpc(&replay).outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(problem_codes(one_vpc(&replay)), ["service_not_in_az"]);
    assert_eq!(replay.api_calls.write, 0);
}

#[tokio::test]
async fn pending_endpoints_wait_without_modify_and_a_later_run_finishes() {
    let guard = guard();
    let fake = guard.account();
    fake.with_state(|s| s.new_endpoint_state = Some(EndpointState::Pending));
    enforced_vpc(&guard).await;
    let created = fake.live_endpoints(VPC);
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e.state == EndpointState::Pending));
    fake.add_subnet(VPC, NEW_SUBNET, "us-west-2d");
    let event = subnet_event(NEW_SUBNET, VPC, "us-west-2d");
    let writes_before = writes(fake);

    let waiting = on_subnet_created(event.clone(), &guard).await.unwrap();

    let vpc = one_vpc(&waiting);
    assert_eq!(vpc.outcome, Outcome::Pending, "{}", waiting.to_text());
    assert!(vpc.endpoints.iter().all(|e| e.state == "pending"));
    assert_eq!(waiting.api_calls.write, 0);
    assert_eq!(writes(fake), writes_before);
    assert!(!writes(fake).iter().any(|w| w == WRITE_MODIFY));

    fake.settle();
    let finished = on_subnet_created(event.clone(), &guard).await.unwrap();

    assert_eq!(one_vpc(&finished).outcome, Outcome::Changed, "{}", finished.to_text());
    assert_eq!(writes(fake)[writes_before.len()..], [WRITE_MODIFY, WRITE_MODIFY]);
    for service in [api_service(REGION), notebook_service(REGION)] {
        assert_eq!(azs_of(fake, &only_endpoint(fake, &service)), azs(&['a', 'b', 'c', 'd']));
    }
    let after = on_subnet_created(event, &guard).await.unwrap();
    assert_eq!(one_vpc(&after).outcome, Outcome::Compliant);
    assert_eq!(after.api_calls.write, 0);
}

#[tokio::test]
async fn hosted_zone_conflict_is_reported_and_endpoints_are_created_without_private_dns() {
    // A zone that only AWS's refusal reveals: the configuration creates local endpoints anyway.
    let guard = guard_with(Config { on_dns_conflict: OnDnsConflict::Create, ..strict() });
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    fake.with_state(|s| s.hidden_dns_holders.insert((VPC.to_string(), api_service(REGION))));

    let report = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::NonCompliant, "{}", report.to_text());
    assert!(problem_codes(vpc).contains(&"private_dns_conflict"), "{}", report.to_text());
    let conflict = vpc.problems.iter().find(|p| p.code == "private_dns_conflict").unwrap();
    assert!(conflict.message.contains(&api_service(REGION)), "{}", conflict.message);
    // One rejected create (private DNS on), then the re-planned create without it.
    assert_eq!(writes(fake), [WRITE_DNS, WRITE_GROUP, WRITE_RULES, WRITE_CREATE, WRITE_CREATE, WRITE_CREATE]);
    assert_eq!(report.api_calls.write, 6);
    let api = only_endpoint(fake, &api_service(REGION));
    assert!(!api.private_dns);
    assert_eq!(azs_of(fake, &api), azs(&['a', 'b', 'c']));
    let notebook = only_endpoint(fake, &notebook_service(REGION));
    assert!(notebook.private_dns, "the notebook service has no conflict");
    assert_eq!(fake.snapshot().endpoints.len(), 2);

    // A replay does not loop either: at most the one rejected attempt, nothing changes.
    let before = holdings(fake);
    let replay = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    assert!(replay.api_calls.write <= 1, "{}", replay.to_text());
    assert!(problem_codes(one_vpc(&replay)).contains(&"private_dns_conflict"));
    assert_eq!(one_vpc(&replay).outcome, Outcome::NonCompliant);
    assert_eq!(holdings(fake), before);
}

#[tokio::test]
async fn hosted_zone_conflict_replay_spends_no_write() {
    // A zone that only AWS's refusal reveals: the configuration creates local endpoints anyway.
    let guard = guard_with(Config { on_dns_conflict: OnDnsConflict::Create, ..strict() });
    let fake = guard.account();
    three_az_vpc_with_notebook(fake);
    fake.with_state(|s| s.hidden_dns_holders.insert((VPC.to_string(), api_service(REGION))));
    on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();
    let before = writes(fake);

    let replay = on_notebook_created(notebook_event(NOTEBOOK, &subnet_id('a', 2)), &guard).await.unwrap();

    assert!(problem_codes(one_vpc(&replay)).contains(&"private_dns_conflict"), "{}", replay.to_text());
    assert_eq!(writes(fake)[before.len()..], [] as [&str; 0], "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
}

#[tokio::test]
async fn sweep_turns_vpc_dns_back_on_under_private_dns_endpoints() {
    let guard = guard();
    let fake = guard.account();
    enforced_vpc(&guard).await;
    assert!(fake.live_endpoints(VPC).iter().all(|e| e.private_dns));
    // Someone turns enableDnsHostnames off again: private DNS names stop resolving.
    set_dns(fake, true, false);
    let before = writes(fake).len();

    let report = remediate(invocation(sample("scheduled.json")), &guard).await.unwrap();

    assert_eq!(report.trigger, "Scheduled");
    let vpc = one_vpc(&report);
    assert_ne!(vpc.outcome, Outcome::Compliant, "{}", report.to_text());
    assert_eq!(action_names(vpc), ["enable_dns_hostnames"], "{}", report.to_text());
    assert_eq!(writes(fake)[before..], [WRITE_DNS]);
    assert_eq!(fake.snapshot().vpcs[VPC].dns, Some(VpcDns { support: true, hostnames: true }));
}

#[tokio::test]
async fn manual_run_for_the_vpc_turns_vpc_dns_back_on_under_private_dns_endpoints() {
    let guard = guard();
    let fake = guard.account();
    enforced_vpc(&guard).await;
    set_dns(fake, true, false);
    let before = writes(fake).len();

    let report = remediate(invocation(sample("remediate-vpcs.json")), &guard).await.unwrap();

    let vpc = one_vpc(&report);
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(action_names(vpc), ["enable_dns_hostnames"]);
    assert_eq!(writes(fake)[before..], [WRITE_DNS]);
    assert_eq!(fake.snapshot().vpcs[VPC].dns, Some(VpcDns { support: true, hostnames: true }));
}

// ---- the event queue's drift events: coalescing and the new drift events ------------------------------

/// An SQS delivery of the event queue holding `bodies` (EventBridge events), as Lambda's SQS
/// event source hands it over (`events/sqs-drift-batch.json`).
fn drift_delivery(bodies: &[Value]) -> LambdaEvent<Value> {
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

/// A drift sample with `at` (a JSON pointer into `detail`) set to `value`.
fn drift_sample(file: &str, edits: &[(&str, Value)]) -> Value {
    let mut event = sample(file);
    for (at, value) in edits {
        *event["detail"].pointer_mut(at).unwrap_or_else(|| panic!("{file}: no {at}")) = value.clone();
    }
    event
}

/// A VPC that vpce-guard has brought into line, with the writes cleared.
async fn compliant_vpc(config: Config) -> Guard<FakeAccount> {
    let guard = guard_with(config);
    three_az_vpc_with_notebook(guard.account());
    let first = remediate(invocation(sample("scheduled.json")), &guard).await.unwrap();
    assert_eq!(first.count(Outcome::Changed), 1, "{}", first.to_text());
    guard.account().with_state(|s| s.writes.clear());
    guard
}

/// 100 drift events in one delivery: the endpoint someone modified 40 times by hand is
/// repaired with one write after one pass over its VPC, and the 60 events that cannot have
/// undone anything (DNS turned on, a deleted notebook under the default notebook policy) cost
/// nothing. The same events one invocation each cost far more reads (figures printed).
#[tokio::test]
async fn a_burst_of_drift_events_costs_one_pass_over_the_vpc_it_names() {
    let burst = |api_id: &str| -> Vec<Value> {
        let modify = drift_sample(
            "modify-vpc-endpoint.json",
            &[("/requestParameters/ModifyVpcEndpointRequest/VpcEndpointId", api_id.into())],
        );
        let dns_on = drift_sample("modify-vpc-attribute-dns-on.json", &[("/requestParameters/vpcId", VPC.into())]);
        let deleted = sample("delete-notebook-instance.json");
        (0..100)
            .map(|i| match i % 5 {
                0 | 1 => modify.clone(),
                2 | 3 => dns_on.clone(),
                _ => deleted.clone(),
            })
            .collect()
    };
    let mut figures = Vec::new();
    for batched in [true, false] {
        let guard = compliant_vpc(Config::default()).await;
        let fake = guard.account();
        let api = only_endpoint(fake, &api_service(REGION));
        fake.with_state(|s| s.endpoints.get_mut(&api.id).unwrap().private_dns = false);
        let events = burst(&api.id);
        let (mut reads, mut runs) = (0, 0);
        if batched {
            let report = remediate(drift_delivery(&events), &guard).await.unwrap();
            let batch = report.batch.clone().expect("batch summary");
            assert_eq!((batch.records, batch.drift_events, batch.ignored_events, batch.sweep), (100, 60, 40, false));
            assert_eq!(report.vpcs.len(), 1, "{}", report.to_text());
            assert_eq!(
                report.batch_item_failures,
                Some(Vec::new()),
                "a delivery is answered as a partial batch response"
            );
            reads += report.api_calls.read;
            runs += 1;
        } else {
            for event in events {
                let report = remediate(invocation(event), &guard).await.unwrap();
                let json = serde_json::to_value(&report).unwrap();
                assert!(json.get("batchItemFailures").is_none(), "only an SQS delivery answers with it: {json}");
                reads += report.api_calls.read;
                runs += u64::from(!report.vpcs.is_empty());
            }
        }
        assert_eq!(writes(fake), vec![WRITE_MODIFY], "one repair whichever way the events came");
        assert!(only_endpoint(fake, &api_service(REGION)).private_dns);
        figures.push((batched, runs, reads));
    }
    eprintln!("100 drift events (40 naming a modified endpoint, 60 needing nothing): {figures:?} (batched, VPC passes, reads)");
    let (batched, single) = (figures[0], figures[1]);
    assert_eq!(batched.1, 1);
    assert_eq!(single.1, 40, "one pass per event that named the endpoint");
    assert!(batched.2 * 10 < single.2, "batched reads {} vs one by one {}", batched.2, single.2);
}

/// Endpoints gone for good and notebooks deleted under `vpc-notebooks` name no VPC that can be
/// found: however many came together, one sweep.
#[tokio::test]
async fn events_that_name_no_vpc_cost_one_sweep_together() {
    let guard = compliant_vpc(strict()).await;
    let gone = drift_sample(
        "delete-vpc-endpoints.json",
        &[("/requestParameters/DeleteVpcEndpointsRequest/VpcEndpointId/content", "vpce-0000000000000dead".into())],
    );
    let events: Vec<Value> = (0..50).flat_map(|_| [gone.clone(), sample("delete-notebook-instance.json")]).collect();

    let report = remediate(drift_delivery(&events), &guard).await.unwrap();

    let batch = report.batch.clone().expect("batch summary");
    assert_eq!((batch.records, batch.drift_events, batch.sweep), (100, 100, true));
    assert_eq!(report.vpcs.len(), 1, "{}", report.to_text());
    let sweep = remediate(invocation(sample("scheduled.json")), &guard).await.unwrap();
    assert!(
        report.api_calls.read <= sweep.api_calls.read + 2,
        "one sweep ({} reads) plus resolving the ids, not 100: {} reads",
        sweep.api_calls.read,
        report.api_calls.read
    );
}

/// A record that cannot be read fails alone: its messageId goes back to SQS in
/// `batchItemFailures` (Lambda's ReportBatchItemFailures shape) and the rest is reconciled.
#[tokio::test]
async fn unreadable_drift_records_are_handed_back_to_sqs_and_the_rest_is_done() {
    let guard = compliant_vpc(Config::default()).await;
    let fake = guard.account();
    set_dns(fake, true, false);
    let off = drift_sample("modify-vpc-attribute.json", &[("/requestParameters/vpcId", VPC.into())]);
    // The schedule's event is no event the queue carries (a CreateSubnet is, since one queue
    // carries creation and drift events).
    let mut delivery = drift_delivery(&[off, sample("scheduled.json"), Value::Null]);
    delivery.payload["Records"][2]["body"] = "{not json".into();

    let report = remediate(delivery, &guard).await.unwrap();

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "message-001"}, {"itemIdentifier": "message-002"}])
    );
    assert_eq!(writes(fake), vec![WRITE_DNS], "the readable record was acted on");
    assert_eq!(report.batch.unwrap().unreadable_events, 2);
}

/// Someone revokes the managed group's rule: the revoke names the group, its VPC is
/// reconciled and the rule comes back. A revoke on any other group costs one read.
#[tokio::test]
async fn a_rule_revoked_from_the_managed_group_is_restored_and_other_groups_are_left_alone() {
    let guard = compliant_vpc(Config::default()).await;
    let fake = guard.account();
    let (group, _) = managed_group(&fake.snapshot());
    fake.with_state(|s| {
        let g = &mut s.groups.get_mut(&group).unwrap().group;
        g.https_sources.remove("10.0.0.0/16");
        g.managed_sources.remove("10.0.0.0/16");
    });
    for file in ["revoke-security-group-ingress.json", "modify-security-group-rules.json"] {
        let pointer = if file.starts_with("revoke") {
            "/requestParameters/groupId"
        } else {
            "/requestParameters/ModifySecurityGroupRulesRequest/GroupId"
        };
        let other = remediate(invocation(drift_sample(file, &[(pointer, "sg-0000000000000beef".into())])), &guard)
            .await
            .unwrap();
        assert!(
            other.ignored.is_some() && other.api_calls == vpce_guard::report::ApiCalls { read: 1, write: 0 },
            "{other:?}"
        );
    }
    assert!(writes(fake).is_empty());

    let report = remediate(
        invocation(drift_sample(
            "revoke-security-group-ingress.json",
            &[("/requestParameters/groupId", group.as_str().into())],
        )),
        &guard,
    )
    .await
    .unwrap();

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(writes(fake), vec![WRITE_RULES]);
    assert!(fake.snapshot().groups[&group].group.https_sources.contains("10.0.0.0/16"));
}

/// `vpce-guard:enforce=true` tagged onto a VPC with no notebook enrolls it at once; a tag of
/// another key is not vpce-guard's business.
#[tokio::test]
async fn a_vpce_guard_tag_enrolls_a_vpc_at_once_and_other_tags_cost_nothing() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    vpc_with_subnets(fake, &['a', 'b'], 1);
    let other = remediate(invocation(drift_sample("create-tags-other.json", &[])), &guard).await.unwrap();
    assert!(other.ignored.is_some() && other.api_calls.read == 0, "{other:?}");
    fake.with_state(|s| s.vpcs.get_mut(VPC).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into()));

    let report = remediate(invocation(sample("create-tags.json")), &guard).await.unwrap();

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(fake.live_endpoints(VPC).len(), 2);
}

/// A default subnet created in a new AZ of an enrolled VPC: every endpoint reaches it.
#[tokio::test]
async fn a_default_subnet_in_a_new_az_extends_the_endpoints() {
    let guard = compliant_vpc(Config::default()).await;
    let fake = guard.account();
    fake.add_subnet(VPC, "subnet-0d1e2f3a4b5c6d7e8", &format!("{REGION}d"));
    let event = drift_sample("create-default-subnet.json", &[("/responseElements/subnet/vpcId", VPC.into())]);

    let report = remediate(invocation(event), &guard).await.unwrap();

    assert_eq!(writes(fake), vec![WRITE_MODIFY, WRITE_MODIFY], "{}", report.to_text());
    for service in [api_service(REGION), notebook_service(REGION)] {
        assert!(only_endpoint(fake, &service).subnet_ids.contains(&"subnet-0d1e2f3a4b5c6d7e8".to_string()));
    }
}
