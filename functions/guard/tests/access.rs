//! The access model through the handlers, against the in-memory [`FakeAccount`]: client VPCs
//! that hold no notebook, policy modes (documents evaluated by the test evaluator, never
//! compared as text), client sources of the managed group, private hosted zones serving a
//! service centrally, notebooks with direct internet access, the Organization at start-up,
//! and the IAM guardrail with IAM's limits.

use serde_json::Value;
use vpce_guard::account::{Account, Network, VpcSelector};
use vpce_guard::config::{api_service, notebook_service, ApiPolicy, Config, NotebookPolicy, Profile};
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::guardrail::{access_sources, allow_document, guardrail_arn, GUARDRAIL_PATH};
use vpce_guard::model::{Endpoint, TAG_ENFORCE};
use vpce_guard::policy::{self, AccessKey, MAX_IAM_POLICY_CHARS};
use vpce_guard::report::{Outcome, Report, Severity};
use vpce_guard::testing::iam::{allows, evaluate, evaluate_with_scps, Decision, Request};
use vpce_guard::testing::{self, ACCOUNT, ORG, REGION};
use vpce_guard::{Error, Guard};

const VPC: &str = "vpc-0c11e47c11e47c11e";
const OTHER_ACCOUNT: &str = "210987654321";
const PRESIGN: &str = "sagemaker:CreatePresignedNotebookInstanceUrl";
const GUARDRAIL: &str = "notebooks-through-vpce";

fn guard_with(config: Config) -> Guard<FakeAccount> {
    Guard::new(FakeAccount::new(), config).with_visibility_retries(Vec::new())
}

/// A 3-AZ VPC with no notebook, tagged to be enforced: a VPN landing zone or WorkSpaces VPC.
fn client_vpc(fake: &FakeAccount) {
    enforced_vpc(fake, VPC, "10.50.0.0/16", "c1");
}

/// A 3-AZ VPC `vpc` tagged to be enforced, its subnets named after `tag`.
fn enforced_vpc(fake: &FakeAccount, vpc: &str, cidr: &str, tag: &str) {
    fake.add_vpc(vpc, cidr);
    fake.with_state(|s| {
        s.vpcs.get_mut(vpc).unwrap().tags.insert(TAG_ENFORCE.into(), "true".into());
    });
    for az in ['a', 'b', 'c'] {
        fake.add_subnet(vpc, &format!("subnet-0000000000000{tag}{az}"), &format!("{REGION}{az}"));
    }
}

async fn run_manual(guard: &Guard<FakeAccount>) -> Report {
    let trigger = Trigger::Manual { vpc_ids: Some(vec![VPC.into()]), dry_run: None };
    guard.run(Parsed::Run(trigger)).await.expect("run")
}

fn live(fake: &FakeAccount, service: &str) -> Vec<Endpoint> {
    fake.live_endpoints(VPC).into_iter().filter(|e| e.service == service).collect()
}

fn stored_policy(endpoint: &Endpoint) -> Value {
    serde_json::from_str(endpoint.policy.as_deref().expect("a policy")).expect("JSON")
}

fn open_notebook(owner: &str, org: Option<&str>) -> Request {
    testing::open_notebook_request(owner, org, "analysis")
}

#[tokio::test]
async fn a_client_vpc_without_notebooks_opens_the_accounts_notebooks_under_the_defaults() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    client_vpc(fake);

    let report = run_manual(&guard).await;

    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let notebook = live(fake, &notebook_service(REGION));
    assert_eq!(notebook.len(), 1);
    assert!(notebook[0].private_dns, "browsers of the VPC resolve the notebook names to it");
    let document = stored_policy(&notebook[0]);
    assert_eq!(evaluate(&document, &open_notebook(ACCOUNT, Some(ORG))), Decision::Allow);
    assert_ne!(evaluate(&document, &open_notebook(OTHER_ACCOUNT, Some(ORG))), Decision::Allow);
    assert_ne!(evaluate(&document, &open_notebook(OTHER_ACCOUNT, None)), Decision::Allow);
}

#[tokio::test]
async fn vpc_notebooks_mode_gives_a_client_vpc_the_account_policy_and_a_warning() {
    let guard = guard_with(Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() });
    let fake = guard.account();
    client_vpc(fake);

    let report = run_manual(&guard).await;

    let vpc = &report.vpcs[0];
    let warning = vpc.problems.iter().find(|p| p.code == "no_notebook_in_vpc").expect("warned");
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(vpc.outcome, Outcome::Changed, "a warning is not non-compliance: {}", report.to_text());
    let document = stored_policy(&live(fake, &notebook_service(REGION))[0]);
    assert_eq!(evaluate(&document, &open_notebook(ACCOUNT, Some(ORG))), Decision::Allow);
}

#[tokio::test]
async fn switching_to_org_modes_converges_with_one_modify_per_endpoint() {
    let before = guard_with(Config::default());
    client_vpc(before.account());
    run_manual(&before).await;
    let state = before.account().snapshot();
    let after = guard_with(Config {
        notebook_policy: NotebookPolicy::OrgNotebooks,
        api_policy: ApiPolicy::Org,
        ..Config::default()
    });
    after.account().with_state(|s| *s = state);

    let sweep = after.run(Parsed::Run(Trigger::Scheduled)).await.unwrap();

    let fake = after.account();
    assert_eq!(fake.snapshot().writes[fake.snapshot().writes.len() - 2..], ["ModifyVpcEndpoint", "ModifyVpcEndpoint"]);
    assert_eq!(sweep.api_calls.write, 2, "{}", sweep.to_text());
    let api = stored_policy(&live(fake, &api_service(REGION))[0]);
    let call = |account: &str, org: Option<&str>| {
        let request =
            Request::new(&format!("arn:aws:iam::{account}:role/Pipeline"), "sagemaker:ListNotebookInstances", "*")
                .with("aws:PrincipalAccount", account);
        match org {
            Some(org) => request.with("aws:PrincipalOrgID", org),
            None => request,
        }
    };
    assert_eq!(evaluate(&api, &call(OTHER_ACCOUNT, Some(ORG))), Decision::Allow, "a participant of the Organization");
    assert_ne!(evaluate(&api, &call(OTHER_ACCOUNT, None)), Decision::Allow);
    let notebook = stored_policy(&live(fake, &notebook_service(REGION))[0]);
    assert_eq!(evaluate(&notebook, &open_notebook(OTHER_ACCOUNT, Some(ORG))), Decision::Allow);
    assert_ne!(evaluate(&notebook, &open_notebook(OTHER_ACCOUNT, Some("o-elsewhere12"))), Decision::Allow);

    let again = after.run(Parsed::Run(Trigger::Scheduled)).await.unwrap();
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
}

#[tokio::test]
async fn an_org_mode_outside_an_organization_is_a_configuration_error_naming_the_variable() {
    for (config, variable) in [
        (Config { notebook_policy: NotebookPolicy::OrgNotebooks, ..Config::default() }, "VPCE_GUARD_NOTEBOOK_POLICY"),
        (Config { api_policy: ApiPolicy::Org, ..Config::default() }, "VPCE_GUARD_API_POLICY"),
    ] {
        let guard = guard_with(config);
        guard.account().with_state(|s| s.org_id = None);
        client_vpc(guard.account());

        let error = guard.identity().await.expect_err("no Organization");

        assert!(matches!(&error, Error::Config { variable: v, .. } if *v == variable), "{error}");
        assert!(error.to_string().contains("not in an AWS Organization"), "{error}");
        let run = guard.run(Parsed::Run(Trigger::Scheduled)).await;
        assert!(run.is_err());
        assert_eq!(guard.account().api_calls().write, 0, "nothing changed");
    }
    let guard = guard_with(Config { api_policy: ApiPolicy::Org, ..Config::default() });
    assert_eq!(guard.identity().await.unwrap().org_id.as_deref(), Some(ORG));
}

#[tokio::test]
async fn client_sources_follow_the_configuration_and_foreign_rules_stay() {
    let prefix_list = "pl-0a1b2c3d4e5f60718";
    let config = Config {
        client_cidrs: vec!["192.168.0.0/16".into()],
        client_prefix_lists: vec![prefix_list.into()],
        ..Config::default()
    };
    let guard = guard_with(config);
    let fake = guard.account();
    client_vpc(fake);
    fake.with_state(|s| s.prefix_lists.insert(prefix_list.into()));
    run_manual(&guard).await;
    let group = |fake: &FakeAccount| fake.snapshot().groups.into_values().next().expect("managed group").group;
    let sources = group(fake).https_sources;
    assert!(["10.50.0.0/16", "192.168.0.0/16", prefix_list].iter().all(|s| sources.contains(*s)), "{sources:?}");
    // A person adds a rule of their own; the configuration then drops the prefix list.
    fake.with_state(|s| {
        s.groups.values_mut().next().unwrap().group.https_sources.insert("172.31.0.0/16".into());
    });
    let state = fake.snapshot();
    let narrower = guard_with(Config { client_cidrs: vec!["192.168.0.0/16".into()], ..Config::default() });
    narrower.account().with_state(|s| *s = state);

    let report = run_manual(&narrower).await;

    let after = group(narrower.account());
    assert!(!after.https_sources.contains(prefix_list), "{}", report.to_text());
    assert!(after.https_sources.contains("172.31.0.0/16"), "a rule vpce-guard did not add is never revoked");
    assert!(after.https_sources.contains("192.168.0.0/16") && after.https_sources.contains("10.50.0.0/16"));
    let writes = narrower.account().snapshot().writes;
    let revokes = writes.iter().filter(|w| *w == "RevokeSecurityGroupIngress").count();
    assert_eq!(revokes, 1, "one revoke, and the re-check after it sees the rule gone: {writes:?}");
    assert_eq!(run_manual(&narrower).await.api_calls.write, 0, "converged");
}

#[tokio::test]
async fn a_name_served_by_a_hosted_zone_is_reported_and_costs_nothing() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    client_vpc(fake);
    fake.with_state(|s| s.hosted_zones.insert((VPC.to_string(), api_service(REGION))));

    let report = run_manual(&guard).await;

    assert!(live(fake, &api_service(REGION)).is_empty(), "no endpoint no client would resolve to");
    assert_eq!(live(fake, &notebook_service(REGION)).len(), 1);
    let vpc = &report.vpcs[0];
    assert!(vpc.problems.iter().any(|p| p.code == "served_centrally" && p.severity == Severity::Warning));
    assert!(!vpc.problems.iter().any(|p| p.severity == Severity::Error), "{}", report.to_text());
    assert_eq!(fake.snapshot().writes.iter().filter(|w| *w == "CreateVpcEndpoint").count(), 1);
    let replay = run_manual(&guard).await;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
}

/// A hub's Route 53 Profile, shared with the account.
const HUB_PROFILE: &str = "rp-0a1b2c3d4e5f6a7b8";

#[tokio::test]
async fn a_name_served_by_a_zone_of_the_vpcs_route53_profile_is_served_centrally() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    client_vpc(fake);
    fake.share_zone_through_profile(HUB_PROFILE, VPC, &api_service(REGION));
    assert!(fake.hosted_zones(VPC).await.unwrap().is_empty(), "ListHostedZonesByVPC does not list it, as in AWS");

    let report = run_manual(&guard).await;

    let vpc = &report.vpcs[0];
    let creates = fake.snapshot().writes.iter().filter(|w| *w == "CreateVpcEndpoint").count();
    assert_eq!(creates, 1, "the notebook endpoint only, no create AWS refuses: {}", report.to_text());
    assert!(live(fake, &api_service(REGION)).is_empty(), "no local endpoint shadowing the hub's");
    assert_eq!(live(fake, &notebook_service(REGION)).len(), 1);
    let served = vpc.problems.iter().find(|p| p.code == "served_centrally");
    let served = served.unwrap_or_else(|| panic!("served_centrally expected: {}", report.to_text()));
    assert!(served.message.contains(HUB_PROFILE), "{}", served.message);
    assert!(!vpc.problems.iter().any(|p| p.severity == Severity::Error), "{}", report.to_text());
    let replay = run_manual(&guard).await;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
}

#[tokio::test]
async fn route53_profiles_the_role_may_not_read_are_a_warning_not_a_failed_run() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    client_vpc(fake);
    fake.with_state(|s| s.route53_profiles_refusal = Some("AccessDeniedException".into()));

    let report = run_manual(&guard).await;

    let vpc = &report.vpcs[0];
    assert_eq!(vpc.outcome, Outcome::Changed, "{}", report.to_text());
    let warning = vpc.problems.iter().find(|p| p.code == "route53_profiles_unreadable");
    let warning = warning.unwrap_or_else(|| panic!("route53_profiles_unreadable expected: {}", report.to_text()));
    assert_eq!(warning.severity, Severity::Warning);
    assert!(warning.message.contains("AccessDeniedException"), "{}", warning.message);
    assert!(warning.message.contains("route53profiles:ListProfileAssociations"), "{}", warning.message);
    assert!(live(fake, &api_service(REGION)).iter().all(|e| e.private_dns), "the zones read directly still decide");
}

#[tokio::test]
async fn notebooks_with_direct_internet_access_are_reported_on_their_event() {
    let guard = guard_with(Config::default());
    let fake = guard.account();
    client_vpc(fake);
    fake.add_internet_notebook("open-door", "subnet-0000000000000c1a");

    let parsed = Parsed::Run(Trigger::NotebookCreated { name: "open-door".into() });
    let report = guard.run(parsed).await.unwrap();

    let problem = report.vpcs[0].problems.iter().find(|p| p.code == "direct_internet_access").expect("reported");
    assert!(problem.message.contains("open-door"));
    assert_eq!(problem.severity, Severity::Warning);
}

fn guardrail_guard() -> Guard<FakeAccount> {
    guard_with(Config { iam_guardrail: Some(GUARDRAIL.into()), ..Config::default() })
}

/// Presigned URL for this account's notebook through `vpce`, or from the internet.
fn presign(through: Option<&str>) -> Request {
    let request =
        Request::new(&format!("arn:aws:iam::{ACCOUNT}:role/Analyst"), PRESIGN, &testing::notebook("nb", "s").arn);
    match through {
        Some(vpce) => request.with("aws:SourceVpce", vpce),
        None => request,
    }
}

#[tokio::test]
async fn the_guardrail_denies_the_internet_door_and_is_rewritten_only_when_endpoints_change() {
    let guard = guardrail_guard();
    let fake = guard.account();
    client_vpc(fake);
    let arn = guardrail_arn(&testing::identity(), GUARDRAIL);

    let first = run_manual(&guard).await;

    let status = first.guardrail.as_ref().expect("guardrail reported");
    assert_eq!(status.outcome, Outcome::Changed);
    assert_eq!(status.policy_arn, format!("arn:aws:iam::{ACCOUNT}:policy{GUARDRAIL_PATH}{GUARDRAIL}-{REGION}"));
    let policy = fake.snapshot().policies[&arn].clone();
    let document: Value = serde_json::from_str(policy.document().unwrap()).unwrap();
    let ids: Vec<String> = fake.live_endpoints(VPC).into_iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(status.endpoint_ids.len(), 2);
    for id in &ids {
        assert_ne!(evaluate(&document, &presign(Some(id))), Decision::ExplicitDeny, "through {id}");
    }
    assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny, "the internet door is closed");
    assert_eq!(evaluate(&document, &presign(Some("vpce-0someoneelses0000"))), Decision::ExplicitDeny);

    let second = run_manual(&guard).await;
    assert_eq!(second.guardrail.as_ref().unwrap().outcome, Outcome::Compliant);
    assert_eq!(second.api_calls.write, 0, "{}", second.to_text());
    assert_eq!(fake.snapshot().policies[&arn].versions.len(), 1);
}

#[tokio::test]
async fn the_guardrail_keeps_within_five_versions_by_deleting_the_oldest() {
    let guard = guardrail_guard();
    let fake = guard.account();
    client_vpc(fake);
    run_manual(&guard).await;
    let arn = guardrail_arn(&testing::identity(), GUARDRAIL);
    // Each sweep sees one more endpoint (another VPC of the account), so the document changes.
    for n in 0..6 {
        let vpc = format!("vpc-0a0a0a0a0a0a0a0{n:x}");
        fake.with_state(|s| {
            let id = format!("vpce-0b0b0b0b0b0b0b0{n:x}");
            let mut endpoint = testing::endpoint(&id, &vpc, &api_service(REGION), &[]);
            endpoint.private_dns = true;
            s.endpoints.insert(id, endpoint);
        });
        let report = guard.sync_guardrail(false).await.unwrap().unwrap();
        assert_eq!(report.outcome, Outcome::Changed);
    }
    let policy = fake.snapshot().policies[&arn].clone();
    assert_eq!(policy.versions.len(), 5, "{:?}", policy.versions);
    assert_eq!(policy.versions.iter().filter(|v| v.2).count(), 1);
    assert_eq!(policy.versions.last().unwrap().0, "v7", "the newest is the default");
    assert!(!policy.versions.iter().any(|v| v.0 == "v1" || v.0 == "v2"), "the oldest went first");
}

#[tokio::test]
async fn the_guardrail_fits_iams_limit_at_any_scale() {
    let mut sizes = Vec::new();
    for endpoints in [10usize, 1_000, 10_000] {
        let fake = FakeAccount::new();
        fake.with_state(|s| {
            for n in 0..endpoints {
                let id = format!("vpce-{n:017x}");
                let service = if n % 2 == 0 { api_service(REGION) } else { notebook_service(REGION) };
                s.endpoints.insert(id.clone(), testing::endpoint(&id, &format!("vpc-{:017x}", n / 2), &service, &[]));
            }
        });
        let guard = Guard::new(fake, Config { iam_guardrail: Some(GUARDRAIL.into()), ..Config::default() });
        let report = guard.sync_guardrail(false).await.unwrap().unwrap();
        let arn = guardrail_arn(&testing::identity(), GUARDRAIL);
        let stored = guard.account().snapshot().policies[&arn].clone();
        let document: Value = serde_json::from_str(stored.document().unwrap()).unwrap();
        assert!(policy::iam_policy_size(&document) <= MAX_IAM_POLICY_CHARS);
        assert_eq!(report.size, policy::iam_policy_size(&document));
        assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny, "{endpoints}: internet door");
        assert_ne!(evaluate(&document, &presign(Some("vpce-00000000000000000"))), Decision::ExplicitDeny);
        let fell_back = report.problems.iter().any(|p| p.code == "guardrail_fallback");
        assert_eq!(fell_back, endpoints > 10, "{endpoints}");
        if !fell_back {
            assert_eq!(evaluate(&document, &presign(Some("vpce-0notthisaccount0"))), Decision::ExplicitDeny);
        }
        sizes.push((endpoints, report.size, fell_back));
    }
    println!("GUARDRAIL sizes (endpoints, characters, fell back): {sizes:?}");
}

const DOMAIN: &str = "d-0a1b2c3d4e5f";
const UNLISTED: &str = "vpce-0123456789abcdef0";

/// The client VPC with a VPC-only Studio domain and a notebook in it, under the studio profile and the guardrail.
fn studio_guardrail_guard() -> Guard<FakeAccount> {
    let profiles = [Profile::NotebookInstances, Profile::Studio].into_iter().collect();
    let guard = guard_with(Config { iam_guardrail: Some(GUARDRAIL.into()), profiles, ..Config::default() });
    client_vpc(guard.account());
    let subnets: Vec<String> = guard.account().snapshot().subnets.into_keys().collect();
    let subnets: Vec<&str> = subnets.iter().map(String::as_str).collect();
    guard.account().add_domain(DOMAIN, VPC, &subnets, true);
    guard.account().add_notebook("analysis", subnets[0]);
    guard
}

fn only_id(fake: &FakeAccount, service: &str) -> String {
    let ids: Vec<String> = live(fake, service).into_iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 1, "{service}: {ids:?}");
    ids[0].clone()
}

#[tokio::test]
async fn the_guardrail_lets_a_studio_user_reach_the_app_through_the_studio_endpoint() {
    let guard = studio_guardrail_guard();
    let fake = guard.account();

    let report = run_manual(&guard).await;

    let (api, studio) = (only_id(fake, &api_service(REGION)), only_id(fake, &format!("aws.sagemaker.{REGION}.studio")));
    let arn = guardrail_arn(&testing::identity(), GUARDRAIL);
    let document: Value = serde_json::from_str(fake.snapshot().policies[&arn].document().unwrap()).unwrap();
    let open_studio = |through| testing::open_studio_request(DOMAIN, "alice", through);
    // The URL is asked for through the API endpoint; the app's requests and frames come
    // through the Studio endpoint, and IAM evaluates the same action for each.
    for through in [&api, &studio] {
        assert_ne!(evaluate(&document, &open_studio(Some(through))), Decision::ExplicitDeny, "through {through}");
    }
    assert_eq!(evaluate(&document, &open_studio(None)), Decision::ExplicitDeny, "the internet door is closed");
    assert_eq!(evaluate(&document, &open_studio(Some(UNLISTED))), Decision::ExplicitDeny);
    // Notebooks still open through the API and notebook endpoints, and through nothing else.
    for through in [&api, &only_id(fake, &notebook_service(REGION))] {
        assert_ne!(evaluate(&document, &presign(Some(through))), Decision::ExplicitDeny, "notebook through {through}");
    }
    assert_eq!(evaluate(&document, &presign(Some(UNLISTED))), Decision::ExplicitDeny);
    assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny);
    assert!(report.guardrail.as_ref().unwrap().endpoint_ids.contains(&studio), "{}", report.to_text());
}

#[tokio::test]
async fn the_allow_style_iam_policy_lets_a_studio_user_reach_the_app_through_the_studio_endpoint() {
    let guard = studio_guardrail_guard();
    let fake = guard.account();
    run_manual(&guard).await;
    let (api, studio) = (only_id(fake, &api_service(REGION)), only_id(fake, &format!("aws.sagemaker.{REGION}.studio")));
    let notebook = only_id(fake, &notebook_service(REGION));
    let open_studio = |through| testing::open_studio_request(DOMAIN, "alice", through);

    let by_endpoint = allow_document(fake, &VpcSelector::All, AccessKey::SourceVpce, guard.config()).await.unwrap();
    let by_endpoint = by_endpoint.expect("endpoints exist");
    for through in [&api, &studio] {
        assert!(allows(&by_endpoint, &open_studio(Some(through))), "Studio through {through}");
    }
    assert!(!allows(&by_endpoint, &open_studio(Some(UNLISTED))));
    assert!(!allows(&by_endpoint, &open_studio(None)));
    let owner = |through: &str| open_notebook(ACCOUNT, None).with("aws:SourceVpce", through);
    for through in [&api, &notebook] {
        assert!(allows(&by_endpoint, &owner(through)), "notebook through {through}");
    }
    assert!(!allows(&by_endpoint, &owner(UNLISTED)));

    let by_vpc = allow_document(fake, &VpcSelector::All, AccessKey::SourceVpc, guard.config()).await.unwrap();
    let by_vpc = by_vpc.expect("endpoints exist");
    assert!(allows(&by_vpc, &open_studio(Some(&studio)).with("aws:SourceVpc", VPC)));
    assert!(!allows(&by_vpc, &open_studio(None).with("aws:SourceVpc", "vpc-0ffffffffffffffff")));
}

/// The SCP (`iam-policy --style scp`) for the account's live endpoints, under FullAWSAccess and
/// over a principal whose identity policy allows everything: the same doors as the guardrail.
#[tokio::test]
async fn the_scp_admits_each_door_through_its_own_endpoints_only() {
    let guard = studio_guardrail_guard();
    let fake = guard.account();
    run_manual(&guard).await;
    let (api, studio) = (only_id(fake, &api_service(REGION)), only_id(fake, &format!("aws.sagemaker.{REGION}.studio")));
    let notebook = only_id(fake, &notebook_service(REGION));
    let sources = access_sources(fake, &VpcSelector::All, AccessKey::SourceVpce, guard.config()).await.unwrap();
    let scp = policy::scp_policy(AccessKey::SourceVpce, &sources, &testing::identity()).expect("fits");
    let allow_all = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let decide = |request: Request| evaluate_with_scps(&[allow_all.clone(), scp.clone()], &allow_all, &request);
    for through in [&api, &notebook] {
        assert_eq!(decide(presign(Some(through))), Decision::Allow, "notebook through {through}");
    }
    for through in [&api, &studio] {
        let request = testing::open_studio_request(DOMAIN, "alice", Some(through));
        assert_eq!(decide(request), Decision::Allow, "Studio through {through}");
    }
    for through in [Some(UNLISTED), None] {
        assert_eq!(decide(presign(through)), Decision::ExplicitDeny, "notebook through {through:?}");
        assert_eq!(decide(testing::open_studio_request(DOMAIN, "alice", through)), Decision::ExplicitDeny);
    }
    assert_eq!(decide(presign(Some(&studio))), Decision::ExplicitDeny, "the Studio endpoint is not a notebook door");
}

/// The README's SCP that keeps anyone but the deployment from changing what runs, evaluated:
/// the functions, their roles and policies, and the guardrail's path are the deployment's, and
/// the guardrail's path also vpce-guard's own function roles'.
#[test]
fn the_readmes_escalation_scp_leaves_the_guardrail_to_the_deployment_and_the_function_roles() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("### The guardrail cannot be used to escalate").expect("the section")..];
    let start = section.find("```json\n").expect("the SCP") + "```json\n".len();
    let scp: Value = serde_json::from_str(&section[start..start + section[start..].find("```").unwrap()]).unwrap();
    assert!(policy::scp_size(&scp) <= policy::MAX_SCP_CHARS, "{}", policy::scp_size(&scp));
    let allow_all = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let by = |who: &str, action: &str, resource: &str| {
        let principal = format!("arn:aws:iam::{ACCOUNT}:role/{who}");
        let request = Request::new(&principal, action, resource).with("aws:PrincipalArn", &principal);
        evaluate_with_scps(&[allow_all.clone(), scp.clone()], &allow_all, &request)
    };
    let guardrail = format!("arn:aws:iam::{ACCOUNT}:policy/vpce-guard/{GUARDRAIL}-{REGION}");
    let function = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:vpce-guard-remediate");
    let function_role = "StackSet-vpce-guard-0a1b2c3d-RemediateRole-AbCdEf123456";
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{function_role}");
    let deployment = "stacksets-exec-0123456789abcdef0123456789abcdef";
    for action in ["iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:CreatePolicy"] {
        assert_eq!(by(function_role, action, &guardrail), Decision::Allow, "{action}: it keeps syncing");
        assert_eq!(by(deployment, action, &guardrail), Decision::Allow, "{action}");
        assert_eq!(by("Admin", action, &guardrail), Decision::ExplicitDeny, "{action}");
    }
    assert_eq!(by("Admin", "iam:SetDefaultPolicyVersion", &guardrail), Decision::ExplicitDeny);
    for action in ["lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"] {
        assert_eq!(by("Admin", action, &function), Decision::ExplicitDeny, "{action}");
        assert_eq!(by(function_role, action, &function), Decision::ExplicitDeny, "{action}");
        assert_eq!(by(deployment, action, &function), Decision::Allow, "{action}");
    }
    for action in ["iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole"] {
        assert_eq!(by("Admin", action, &role), Decision::ExplicitDeny, "{action}");
        assert_eq!(by(deployment, action, &role), Decision::Allow, "{action}");
    }
    let attached = format!("arn:aws:iam::{ACCOUNT}:policy/StackSet-vpce-guard-0a1b2c3d-IamGuardrailWritePolicy-AbC");
    assert_eq!(by("Admin", "iam:CreatePolicyVersion", &attached), Decision::ExplicitDeny);
    let other = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-else");
    assert_eq!(by("Admin", "lambda:UpdateFunctionCode", &other), Decision::Allow, "only vpce-guard's");
}

const SOURCES: &str = "VPCE_GUARD_GUARDRAIL_SOURCE_VPCES";
const SPOKE: &str = "vpc-0c22e47c22e47c22e";
/// The hub account's SageMaker API, notebook and Studio endpoints, which serve the spoke's names.
const HUB: [&str; 3] = ["vpce-0a1b2c3d4e5f60001", "vpce-0a1b2c3d4e5f60002", "vpce-0a1b2c3d4e5f60003"];

/// The configuration the functions read from `variables` (unset: the defaults).
fn config_of(variables: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| variables.iter().find(|(v, _)| *v == name).map(|(_, value)| value.to_string());
    Config::from_lookup(lookup).expect("a valid configuration")
}

/// A spoke VPC whose SageMaker names (API, notebook, Studio) the hub's private hosted zones
/// serve: its requests reach SageMaker through the hub's endpoints and carry their ids.
fn spoke_vpc(fake: &FakeAccount) {
    enforced_vpc(fake, SPOKE, "10.60.0.0/16", "c2");
    fake.with_state(|s| {
        for service in [api_service(REGION), notebook_service(REGION), format!("aws.sagemaker.{REGION}.studio")] {
            s.hosted_zones.insert((SPOKE.to_string(), service));
        }
    });
}

fn stored_guardrail(fake: &FakeAccount) -> Value {
    let arn = guardrail_arn(&testing::identity(), GUARDRAIL);
    serde_json::from_str(fake.snapshot().policies[&arn].document().unwrap()).unwrap()
}

#[test]
fn a_guardrail_source_that_is_not_an_endpoint_id_is_a_start_up_error_naming_the_variable() {
    let not_ids = [
        "vpc-0123456789abcdef0",
        "vpce-",
        "vpce-xyz",
        "vpce-0123456789ABCDEF0",
        "vpce-0123456789abcdef01",
        "vpce-0a1b,pl-0a1b2c3d",
    ];
    for value in not_ids {
        let error = Config::from_lookup(|name| (name == SOURCES).then(|| value.to_string())).expect_err(value);
        assert_eq!(error.error_type(), "Permanent.Config", "{value}");
        assert!(error.to_string().contains(SOURCES), "{value}: {error}");
    }
    let config = config_of(&[(SOURCES, &format!(" {} ,{}", HUB[0], "vpce-0a1b2c3d"))]);
    assert_ne!(config, Config::default());
}

#[tokio::test]
async fn hub_endpoints_configured_as_guardrail_sources_are_admitted_besides_this_accounts() {
    let sources = HUB.join(",");
    let config = config_of(&[
        ("VPCE_GUARD_IAM_GUARDRAIL", GUARDRAIL),
        ("VPCE_GUARD_PROFILES", "notebook-instances,studio"),
        (SOURCES, &sources),
    ]);
    let guard = guard_with(config);
    let fake = guard.account();
    client_vpc(fake);
    spoke_vpc(fake);

    let report = guard.run(Parsed::Run(Trigger::Scheduled)).await.unwrap();

    let served = [api_service(REGION), notebook_service(REGION), format!("aws.sagemaker.{REGION}.studio")];
    let spoke_endpoints = fake.live_endpoints(SPOKE);
    assert!(
        !spoke_endpoints.iter().any(|e| served.contains(&e.service)),
        "the hub serves the spoke: {}",
        report.to_text()
    );
    let local = [only_id(fake, &api_service(REGION)), only_id(fake, &notebook_service(REGION))];
    let document = stored_guardrail(fake);
    let open_studio = |through| testing::open_studio_request(DOMAIN, "alice", through);
    for through in HUB.iter().copied().chain(local.iter().map(String::as_str)) {
        assert_ne!(evaluate(&document, &presign(Some(through))), Decision::ExplicitDeny, "notebook through {through}");
    }
    assert_ne!(evaluate(&document, &open_studio(Some(HUB[2]))), Decision::ExplicitDeny, "Studio through the hub");
    for denied in [presign(None), presign(Some(UNLISTED)), open_studio(None), open_studio(Some(UNLISTED))] {
        assert_eq!(evaluate(&document, &denied), Decision::ExplicitDeny, "{denied:?}");
    }
    let status = report.guardrail.as_ref().unwrap();
    assert!(HUB.iter().all(|id| status.endpoint_ids.contains(&id.to_string())), "{:?}", status.endpoint_ids);
    let spoke = report.vpcs.iter().find(|v| v.vpc_id == SPOKE).unwrap();
    assert!(!spoke.problems.iter().any(|p| p.message.contains(SOURCES)), "{:?}", spoke.problems);

    // The allow style admits them too, whichever condition key it ties the rest to.
    let owner = |through: &str| open_notebook(ACCOUNT, None).with("aws:SourceVpce", through);
    for key in [AccessKey::SourceVpce, AccessKey::SourceVpc] {
        let allow = allow_document(fake, &VpcSelector::All, key, guard.config()).await.unwrap().unwrap();
        assert!(allows(&allow, &owner(HUB[1]).with("aws:SourceVpc", "vpc-0aaaaaaaaaaaaaaaa")), "{key:?}");
        assert!(allows(&allow, &open_studio(Some(HUB[2])).with("aws:SourceVpc", "vpc-0aaaaaaaaaaaaaaaa")), "{key:?}");
        assert!(!allows(&allow, &owner(UNLISTED).with("aws:SourceVpc", "vpc-0aaaaaaaaaaaaaaaa")), "{key:?}");
    }
}

#[tokio::test]
async fn an_account_served_only_by_a_hub_lists_the_hubs_endpoints_instead_of_falling_back() {
    let sources = HUB.join(",");
    let guard = guard_with(config_of(&[("VPCE_GUARD_IAM_GUARDRAIL", GUARDRAIL), (SOURCES, &sources)]));
    let fake = guard.account();
    spoke_vpc(fake);

    let report = guard.run(Parsed::Run(Trigger::Scheduled)).await.unwrap();

    let status = report.guardrail.as_ref().unwrap();
    assert!(!status.problems.iter().any(|p| p.code == "guardrail_fallback"), "{:?}", status.problems);
    let document = stored_guardrail(fake);
    assert_ne!(evaluate(&document, &presign(Some(HUB[1]))), Decision::ExplicitDeny);
    assert_eq!(evaluate(&document, &presign(Some(UNLISTED))), Decision::ExplicitDeny, "another endpoint");
    assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny, "the internet");
}

#[tokio::test]
async fn a_vpc_served_centrally_under_the_guardrail_without_sources_is_warned_naming_the_variable() {
    let warned = |report: &Report| {
        let spoke = report.vpcs.iter().find(|v| v.vpc_id == SPOKE).expect("the spoke is reported");
        assert_ne!(spoke.outcome, Outcome::NonCompliant, "{}", report.to_text());
        spoke.problems.iter().filter(|p| p.code == "guardrail_sources_missing").cloned().collect::<Vec<_>>()
    };
    let run = |config: Config| async move {
        let guard = guard_with(config);
        spoke_vpc(guard.account());
        guard.run(Parsed::Run(Trigger::Scheduled)).await.unwrap()
    };

    let report = run(config_of(&[("VPCE_GUARD_IAM_GUARDRAIL", GUARDRAIL)])).await;
    let problems = warned(&report);
    assert_eq!(problems.len(), 1, "once per VPC: {}", report.to_text());
    assert_eq!(problems[0].severity, Severity::Warning);
    assert!(problems[0].message.contains(SOURCES) && problems[0].message.contains(SPOKE), "{}", problems[0].message);

    let configured = run(config_of(&[("VPCE_GUARD_IAM_GUARDRAIL", GUARDRAIL), (SOURCES, HUB[0])])).await;
    assert!(warned(&configured).is_empty(), "{}", configured.to_text());
    let no_guardrail = run(Config::default()).await;
    assert!(warned(&no_guardrail).is_empty(), "{}", no_guardrail.to_text());
}
