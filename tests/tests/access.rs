//! The access model against the strict moto fixture, through the real SDK: what the account
//! holds afterwards is read back over HTTP, and every policy document is evaluated with the
//! test evaluator (who and what is allowed), never compared as text.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;
use vpce_guard::aws::SdkAccount;
use vpce_guard::config::{ApiPolicy, Config, NotebookPolicy};
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::guardrail::GUARDRAIL_PATH;
use vpce_guard::model::RULE_DESCRIPTION;
use vpce_guard::report::{Outcome, Report, Severity};
use vpce_guard::testing;
use vpce_guard::testing::iam::{evaluate, Decision, Request};
use vpce_guard::Guard;
use vpce_guard_tests::events;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::seed::Seed;

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
/// moto's default account.
const ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNT: &str = "210987654321";
const PRESIGN: &str = "sagemaker:CreatePresignedNotebookInstanceUrl";

struct World {
    moto: Moto,
    seed: Seed,
}

impl World {
    async fn start() -> Result<Self> {
        let moto = Moto::start().await?;
        Ok(Self { seed: Seed::new(&moto.sdk_config()), moto })
    }

    fn guard(&self, config: Config) -> Result<Guard<SdkAccount>> {
        Ok(Guard::new(SdkAccount::new(&self.moto.sdk_config())?, config).with_visibility_retries(vec![]))
    }

    /// A client VPC: 3 AZs, no notebook, tagged `vpce-guard:enforce=true`.
    async fn client_vpc(&self) -> Result<String> {
        let vpc = self.seed.vpc("10.60.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
        for (n, az) in AZS.iter().enumerate() {
            self.seed.subnet(&vpc, &format!("10.60.{n}.0/24"), az).await?;
        }
        Ok(vpc)
    }

    async fn live(&self, vpc: &str) -> Result<BTreeMap<String, Vec<aws_sdk_ec2::types::VpcEndpoint>>> {
        self.seed.live_endpoints(vpc).await
    }
}

async fn manual(guard: &Guard<SdkAccount>, vpc: &str) -> vpce_guard::Result<Report> {
    guard.run(Parsed::Run(Trigger::Manual { vpc_ids: Some(vec![vpc.to_string()]), dry_run: None })).await
}

fn document(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> Value {
    serde_json::from_str(endpoint.policy_document().unwrap_or("{}")).expect("policy JSON")
}

fn open_notebook(owner: &str, org: Option<&str>) -> Request {
    testing::open_notebook_request(owner, org, "analysis")
}

#[tokio::test]
async fn client_vpc_without_notebooks_opens_the_accounts_notebooks_and_no_others() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    let report = manual(&w.guard(Config::default())?, &vpc).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let endpoints = w.live(&vpc).await?;
    let notebook = &endpoints[NOTEBOOK];
    assert_eq!(notebook.len(), 1);
    assert_eq!(notebook[0].private_dns_enabled(), Some(true));
    let policy = document(&notebook[0]);
    assert_eq!(evaluate(&policy, &open_notebook(ACCOUNT, None)), Decision::Allow);
    assert_ne!(evaluate(&policy, &open_notebook(OTHER_ACCOUNT, None)), Decision::Allow);
    let api = document(&endpoints[API][0]);
    let call = |account: &str| {
        Request::new(&format!("arn:aws:iam::{account}:role/Pipeline"), "sagemaker:ListNotebookInstances", "*")
            .with("aws:PrincipalAccount", account)
    };
    assert_eq!(evaluate(&api, &call(ACCOUNT)), Decision::Allow);
    assert_ne!(evaluate(&api, &call(OTHER_ACCOUNT)), Decision::Allow);
    Ok(())
}

#[tokio::test]
async fn organization_modes_use_the_organizations_id_and_fail_clearly_outside_one() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    let org_config =
        Config { notebook_policy: NotebookPolicy::OrgNotebooks, api_policy: ApiPolicy::Org, ..Config::default() };
    // Outside an Organization: a configuration error naming the variable, nothing written.
    w.moto.reset_calls().await?;
    let error = manual(&w.guard(org_config.clone())?, &vpc).await.expect_err("no Organization yet");
    assert_eq!(error.error_type(), "Permanent.Config", "{error}");
    assert!(error.to_string().contains("VPCE_GUARD_NOTEBOOK_POLICY"), "{error}");
    assert_eq!(w.moto.writes().await?, 0);

    let organizations = aws_sdk_organizations::Client::new(&w.moto.sdk_config());
    let created = organizations.create_organization().send().await?;
    let org_id = created.organization().and_then(|o| o.id()).context("org id")?.to_string();
    let report = manual(&w.guard(org_config)?, &vpc).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let endpoints = w.live(&vpc).await?;
    let notebook = document(&endpoints[NOTEBOOK][0]);
    assert_eq!(evaluate(&notebook, &open_notebook(OTHER_ACCOUNT, Some(&org_id))), Decision::Allow);
    assert_ne!(evaluate(&notebook, &open_notebook(OTHER_ACCOUNT, Some("o-elsewhere12"))), Decision::Allow);
    assert_ne!(evaluate(&notebook, &open_notebook(OTHER_ACCOUNT, None)), Decision::Allow);
    let api = document(&endpoints[API][0]);
    let member = Request::new("arn:aws:iam::210987654321:role/Pipeline", "sagemaker:ListNotebookInstances", "*")
        .with("aws:PrincipalAccount", OTHER_ACCOUNT)
        .with("aws:PrincipalOrgID", &org_id);
    assert_eq!(evaluate(&api, &member), Decision::Allow, "a principal of the Organization");
    Ok(())
}

#[tokio::test]
async fn client_sources_are_allowed_marked_and_revoked_when_dropped() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    let corporate = w.seed.prefix_list("corporate", "192.168.0.0/16").await?;
    let config = Config {
        client_cidrs: vec!["172.20.0.0/16".into(), "2001:db8::/32".into()],
        client_prefix_lists: vec![corporate.clone()],
        ..Config::default()
    };
    manual(&w.guard(config)?, &vpc).await?;
    let group = w.seed.managed_group(&vpc).await?;
    let rules = w.seed.https_rules(&group).await?;
    for source in ["10.60.0.0/16", "172.20.0.0/16", "2001:db8::/32", corporate.as_str()] {
        assert_eq!(rules.get(source).map(String::as_str), Some(RULE_DESCRIPTION), "{source}: {rules:?}");
    }
    // A person adds a rule; the configuration then drops the prefix list and a CIDR.
    w.seed.allow_https(&group, "172.31.0.0/16", "bastion, added by hand").await?;
    w.moto.reset_calls().await?;
    let narrower = Config { client_cidrs: vec!["172.20.0.0/16".into()], ..Config::default() };
    let report = manual(&w.guard(narrower.clone())?, &vpc).await?;
    let rules = w.seed.https_rules(&group).await?;
    let sources: Vec<&str> = rules.keys().map(String::as_str).collect();
    assert_eq!(sources, ["10.60.0.0/16", "172.20.0.0/16", "172.31.0.0/16"], "{}", report.to_text());
    assert_eq!(w.moto.calls().await?.get("RevokeSecurityGroupIngress"), Some(&1), "one revoke for both");
    let again = manual(&w.guard(narrower)?, &vpc).await?;
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    Ok(())
}

/// The run `report` on `vpc`, whose API name a hub serves: a `served_centrally` warning (its
/// message returned), no error, no local API endpoint (none a client would resolve to, none
/// shadowing the hub's), the notebook endpoint the only create (none refused), and a replay that
/// is compliant and writes nothing.
async fn served_centrally(w: &World, vpc: &str, report: &Report) -> Result<String> {
    let vpc_report = &report.vpcs[0];
    let served = vpc_report.problems.iter().find(|p| p.code == "served_centrally" && p.severity == Severity::Warning);
    let served = served.with_context(|| format!("served_centrally expected: {}", report.to_text()))?;
    assert!(!vpc_report.problems.iter().any(|p| p.severity == Severity::Error), "{}", report.to_text());
    let endpoints = w.live(vpc).await?;
    assert!(!endpoints.contains_key(API), "no local API endpoint: {}", report.to_text());
    assert_eq!(endpoints[NOTEBOOK].len(), 1);
    let calls = w.moto.calls().await?;
    assert_eq!(calls.get("CreateVpcEndpoint"), Some(&1), "the notebook endpoint only, none refused: {calls:?}");
    let replay = manual(&w.guard(Config::default())?, vpc).await?;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Compliant, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
    Ok(served.message.clone())
}

#[tokio::test]
async fn a_name_served_by_a_private_hosted_zone_is_served_centrally() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    w.moto.hosted_zone(&vpc, API).await?;
    w.moto.reset_calls().await?;
    let report = manual(&w.guard(Config::default())?, &vpc).await?;
    served_centrally(&w, &vpc, &report).await.map(drop)
}

#[tokio::test]
async fn a_name_served_by_a_zone_of_the_vpcs_route53_profile_is_served_centrally() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    // A hub's Profile with two zones (the second an unrelated corporate one), a page each.
    let profile = w.moto.route53_profile_zone(&vpc, API).await?;
    w.moto.route53_profile_zone(&vpc, "corp.example.internal").await?;
    w.moto.configure(serde_json::json!({"route53_profiles_page_size": 1})).await?;
    w.moto.reset_calls().await?;
    let report = manual(&w.guard(Config::default())?, &vpc).await?;
    let calls = w.moto.calls().await?;
    assert_eq!(calls.get("ListProfileAssociations"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ListProfileResourceAssociations"), Some(&2), "two pages: {calls:?}");
    let message = served_centrally(&w, &vpc, &report).await?;
    assert!(message.contains(&profile), "{message}");
    Ok(())
}

#[tokio::test]
async fn route53_profiles_refused_to_the_role_are_a_warning_and_the_run_goes_on() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    w.moto.configure(serde_json::json!({"route53_profiles_refusal": "AccessDeniedException"})).await?;
    let report = manual(&w.guard(Config::default())?, &vpc).await?;
    let vpc_report = &report.vpcs[0];
    assert_eq!(vpc_report.outcome, Outcome::Changed, "{}", report.to_text());
    let warning = vpc_report.problems.iter().find(|p| p.code == "route53_profiles_unreadable");
    let warning = warning.with_context(|| format!("route53_profiles_unreadable expected: {}", report.to_text()))?;
    assert_eq!(warning.severity, Severity::Warning);
    assert!(warning.message.contains("AccessDeniedException"), "{}", warning.message);
    let endpoints = w.live(&vpc).await?;
    assert!(endpoints[API].iter().all(|e| e.private_dns_enabled() == Some(true)), "{endpoints:?}");
    let calls = w.moto.calls().await?;
    assert_eq!(calls.get("ListProfileAssociations"), Some(&1), "a refusal is not retried: {calls:?}");
    Ok(())
}

#[tokio::test]
async fn notebooks_with_direct_internet_access_are_named_in_the_report() -> Result<()> {
    let w = World::start().await?;
    let (vpc, by_az) = w.seed.vpc_with_subnets(1, &AZS, 1).await?;
    let subnet = by_az.values().flatten().next().context("a subnet")?.clone();
    let group = w.seed.notebook_group(&vpc).await?;
    w.seed.notebook_with_access("open-door", &subnet, &group, true).await?;
    let parsed =
        vpce_guard::events::parse_notebook_created(&events::notebook_created("open-door", &subnet), "us-west-2")?;
    let report = w.guard(Config::default())?.run(parsed).await?;
    let problem = report.vpcs[0].problems.iter().find(|p| p.code == "direct_internet_access").context("reported")?;
    assert!(problem.message.contains("open-door"), "{}", problem.message);
    Ok(())
}

#[tokio::test]
async fn the_guardrail_lives_in_iam_and_changes_only_with_the_endpoints() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.client_vpc().await?;
    let config = Config { iam_guardrail: Some("notebooks-through-vpce".into()), ..Config::default() };
    let first = manual(&w.guard(config.clone())?, &vpc).await?;
    let status = first.guardrail.clone().context("guardrail reported")?;
    assert_eq!(status.outcome, Outcome::Changed, "{}", first.to_text());
    let iam = aws_sdk_iam::Client::new(&w.moto.sdk_config());
    let policy = iam.get_policy().policy_arn(&status.policy_arn).send().await?;
    let policy = policy.policy().context("policy")?;
    assert_eq!(policy.path(), Some(GUARDRAIL_PATH));
    assert_eq!(policy.policy_name(), Some("notebooks-through-vpce-us-west-2"));
    assert_eq!(policy.attachment_count(), Some(0), "never attached by vpce-guard");
    let version = iam.get_policy_version().policy_arn(&status.policy_arn).version_id("v1").send().await?;
    let raw = version.policy_version().and_then(|v| v.document()).context("document")?;
    let document: Value = serde_json::from_str(&vpce_guard::aws::decode_document(raw))?;
    let ids: Vec<String> =
        w.live(&vpc).await?.values().flatten().filter_map(|e| e.vpc_endpoint_id()).map(str::to_string).collect();
    assert_eq!(ids.len(), 2);
    let presign = |through: Option<&str>| {
        let request = Request::new(
            "arn:aws:iam::123456789012:role/Analyst",
            PRESIGN,
            "arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/analysis",
        );
        match through {
            Some(vpce) => request.with("aws:SourceVpce", vpce),
            None => request,
        }
    };
    for id in &ids {
        assert_ne!(evaluate(&document, &presign(Some(id))), Decision::ExplicitDeny, "{id}");
    }
    assert_eq!(evaluate(&document, &presign(None)), Decision::ExplicitDeny, "the internet door");
    // In sync: no write; a second VPC's endpoints make one new version.
    w.moto.reset_calls().await?;
    let sweep = w.guard(config.clone())?.run(Parsed::Run(Trigger::Scheduled)).await?;
    assert_eq!(sweep.guardrail.as_ref().map(|g| g.outcome), Some(Outcome::Compliant));
    assert_eq!(w.moto.writes().await?, 0, "{}", sweep.to_text());
    let second = w.seed.vpc("10.61.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
    w.seed.subnet(&second, "10.61.0.0/24", "us-west-2a").await?;
    manual(&w.guard(config)?, &second).await?;
    let versions = iam.list_policy_versions().policy_arn(&status.policy_arn).send().await?;
    assert_eq!(versions.versions().len(), 2);
    let default = versions.versions().iter().find(|v| v.is_default_version()).and_then(|v| v.version_id());
    assert_eq!(default, Some("v2"));
    Ok(())
}
