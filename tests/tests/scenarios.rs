//! Integration scenarios: the library's handlers through the real AWS SDK against the strict
//! moto fixture (AWS's endpoint rules enforced). Each test starts its own fixture and asserts
//! the account's state, not only the report.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::json;
use vpce_guard::aws::SdkAccount;
use vpce_guard::config::{Config, NotebookPolicy, OnDnsConflict};
use vpce_guard::events::{parse_notebook_created, parse_remediate, parse_subnet_created};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::Guard;
use vpce_guard_tests::events;
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::seed::{tag, Seed};

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];

struct World {
    moto: Moto,
    seed: Seed,
    guard: Guard<SdkAccount>,
}

async fn world_with(config: Config) -> Result<World> {
    let moto = Moto::start().await?;
    let sdk = moto.sdk_config();
    let guard = Guard::new(SdkAccount::new(&sdk)?, config).with_visibility_retries(vec![]);
    Ok(World { seed: Seed::new(&sdk), moto, guard })
}

/// The strict opt-in `vpc-notebooks`: these scenarios follow the per-VPC ARN list; the
/// default and the other modes are exercised in `access.rs`.
async fn world() -> Result<World> {
    world_with(strict()).await
}

fn strict() -> Config {
    Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() }
}

impl World {
    async fn notebook_event(&self, name: &str, subnet: &str) -> vpce_guard::Result<Report> {
        let parsed = parse_notebook_created(&events::notebook_created(name, subnet), "us-west-2")?;
        self.guard.run(parsed).await
    }

    async fn subnet_event(&self, subnet: &str, vpc: &str, az: &str) -> vpce_guard::Result<Report> {
        let parsed = parse_subnet_created(&events::subnet_created(subnet, vpc, az), "us-west-2")?;
        self.guard.run(parsed).await
    }

    /// A VPC with 3 AZs × 2 subnets, a notebook `nb-1` in the first subnet, DNS hostnames off.
    async fn enrolled_vpc(&self) -> Result<(String, Vec<String>, String)> {
        let (vpc, by_az) = self.seed.vpc_with_subnets(0, &AZS, 2).await?;
        let subnets: Vec<String> = by_az.values().flatten().cloned().collect();
        let group = self.seed.notebook_group(&vpc).await?;
        self.seed.notebook("nb-1", &subnets[0], &group).await?;
        Ok((vpc, subnets, group))
    }
}

fn policy_resources(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> BTreeSet<String> {
    let policy: serde_json::Value = serde_json::from_str(endpoint.policy_document().unwrap_or("{}")).unwrap();
    policy["Statement"][0]["Resource"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn notebook_in_three_az_vpc_gets_both_endpoints_everywhere() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    assert_eq!(w.seed.dns(&vpc).await?, (true, false), "moto creates VPCs with DNS hostnames off");
    w.moto.reset_calls().await?;

    let report = w.notebook_event("nb-1", &subnets[0]).await?;

    assert_eq!(report.vpcs.len(), 1);
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(w.seed.dns(&vpc).await?, (true, true), "DNS hostnames turned on");
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(
        endpoints.keys().cloned().collect::<Vec<_>>(),
        [NOTEBOOK, API].map(String::from),
        "exactly the two services"
    );
    let mut group_ids = BTreeSet::new();
    for (service, list) in &endpoints {
        assert_eq!(list.len(), 1, "one endpoint for {service}");
        let endpoint = &list[0];
        assert_eq!(endpoint.vpc_endpoint_type().map(|t| t.as_str()), Some("Interface"));
        assert_eq!(w.seed.endpoint_azs(&vpc, endpoint).await?, AZS, "{service}: one subnet in every AZ");
        assert_eq!(endpoint.private_dns_enabled(), Some(true));
        assert_eq!(tag(endpoint, "vpce-guard:managed"), Some("true"));
        group_ids.extend(endpoint.groups().iter().filter_map(|g| g.group_id().map(str::to_string)));
    }
    assert_eq!(group_ids.len(), 1, "both endpoints share the managed group");
    let group = group_ids.into_iter().next().unwrap();
    assert_eq!(w.seed.https_sources(&group).await?, BTreeSet::from(["10.0.0.0/16".to_string()]));
    // The notebook's subnet is preferred in its AZ.
    assert!(endpoints[NOTEBOOK][0].subnet_ids().contains(&subnets[0]));
    assert_eq!(
        policy_resources(&endpoints[NOTEBOOK][0]),
        BTreeSet::from(["arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/nb-1".to_string()])
    );
    let api_policy: serde_json::Value = serde_json::from_str(endpoints[API][0].policy_document().unwrap())?;
    assert_eq!(api_policy["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalAccount"], "123456789012");
    // DNS hostnames + group + rule + 2 endpoints, counted both by us and by the fixture.
    assert_eq!(report.api_calls.write, 5, "{:?}", w.moto.calls().await?);
    assert_eq!(w.moto.writes().await?, 5);
    Ok(())
}

#[tokio::test]
async fn subnet_in_new_az_extends_both_endpoints_and_covered_az_costs_nothing() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;

    let new_az = w.seed.subnet(&vpc, "10.0.100.0/24", "us-west-2d").await?;
    w.moto.reset_calls().await?;
    let report = w.subnet_event(&new_az, &vpc, "us-west-2d").await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 2, "one modify per endpoint");
    assert_eq!(w.moto.writes().await?, 2);
    let calls = w.moto.calls().await?;
    assert!(!calls.contains_key("ListNotebookInstances"), "a subnet event does not enumerate SageMaker: {calls:?}");
    for (service, list) in w.seed.live_endpoints(&vpc).await? {
        assert_eq!(list.len(), 1);
        assert!(list[0].subnet_ids().contains(&new_az), "{service} reaches the new AZ");
        assert_eq!(
            w.seed.endpoint_azs(&vpc, &list[0]).await?,
            ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
        );
    }

    let covered = w.seed.subnet(&vpc, "10.0.101.0/24", "us-west-2a").await?;
    w.moto.reset_calls().await?;
    let report = w.subnet_event(&covered, &vpc, "us-west-2a").await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 0);
    assert_eq!(w.moto.writes().await?, 0);
    for list in w.seed.live_endpoints(&vpc).await?.values() {
        assert!(!list[0].subnet_ids().contains(&covered), "a covered AZ keeps its subnet");
    }
    Ok(())
}

#[tokio::test]
async fn replaying_an_event_writes_nothing() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    let before = w.seed.endpoints(&vpc).await?;
    w.moto.reset_calls().await?;
    for _ in 0..3 {
        let report = w.notebook_event("nb-1", &subnets[0]).await?;
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
        assert_eq!(report.api_calls.write, 0);
    }
    assert_eq!(w.moto.writes().await?, 0);
    assert_eq!(w.seed.endpoints(&vpc).await?.len(), before.len());
    Ok(())
}

/// An API endpoint made by hand (private DNS on, their group, one subnet) in an enrolled VPC
/// with DNS hostnames on; returns the VPC, its subnets and the endpoint's id.
async fn vpc_with_their_api_endpoint(w: &World) -> Result<(String, Vec<String>, String)> {
    let (vpc, subnets, group) = w.enrolled_vpc().await?;
    w.seed.set_dns_hostnames(&vpc, true).await?;
    let theirs = w
        .seed
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(API)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .subnet_ids(&subnets[0])
        .security_group_ids(&group)
        .private_dns_enabled(true)
        .send()
        .await?
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .unwrap()
        .to_string();
    Ok((vpc, subnets, theirs))
}

/// By default (issue 18) the hand-made endpoint is vpce-guard's to report, not to write: it
/// lacks two AZs and the API policy, so the VPC is `non_compliant` with `unmanaged_endpoint`
/// naming both; no `ModifyVpcEndpoint` reaches the fixture and no second API endpoint is made.
#[tokio::test]
async fn existing_unmanaged_api_endpoint_is_reported_and_left_alone_by_default() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, theirs) = vpc_with_their_api_endpoint(&w).await?;

    let report = w.notebook_event("nb-1", &subnets[0]).await?;

    assert_eq!(report.vpcs[0].outcome, Outcome::NonCompliant, "{}", report.to_text());
    let problem = report.vpcs[0].problems.iter().find(|p| p.code == "unmanaged_endpoint").expect("unmanaged_endpoint");
    for part in [theirs.as_str(), "us-west-2b", "us-west-2c", "policy"] {
        assert!(problem.message.contains(part), "{part} missing from {}", problem.message);
    }
    assert_eq!(w.moto.calls().await?.get("ModifyVpcEndpoint").copied().unwrap_or(0), 0);
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1, "no duplicate api endpoint");
    assert_eq!(endpoints[API][0].vpc_endpoint_id(), Some(theirs.as_str()));
    assert_eq!(endpoints[API][0].subnet_ids().len(), 1, "theirs untouched");
    assert_eq!(endpoints[API][0].groups().len(), 1, "no group added");
    assert_eq!(endpoints[NOTEBOOK].len(), 1, "the notebook endpoint is vpce-guard's");
    let before = w.moto.writes().await?;
    let replay = w.notebook_event("nb-1", &subnets[0]).await?;
    assert_eq!((replay.api_calls.write, w.moto.writes().await?), (0, before), "{}", replay.to_text());
    Ok(())
}

/// With `VPCE_GUARD_ADOPT_EXISTING=true` the hand-made endpoint is adopted as before.
#[tokio::test]
async fn existing_unmanaged_api_endpoint_with_private_dns_is_adopted_with_the_opt_in() -> Result<()> {
    let w = world_with(Config { adopt_existing: true, ..strict() }).await?;
    let (vpc, subnets, theirs) = vpc_with_their_api_endpoint(&w).await?;

    let report = w.notebook_event("nb-1", &subnets[0]).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1, "no duplicate api endpoint");
    let adopted = &endpoints[API][0];
    assert_eq!(adopted.vpc_endpoint_id(), Some(theirs.as_str()));
    assert_eq!(w.seed.endpoint_azs(&vpc, adopted).await?, AZS);
    assert_eq!(adopted.private_dns_enabled(), Some(true));
    assert_eq!(adopted.groups().len(), 2, "their group kept, the managed group added");
    assert_eq!(endpoints[NOTEBOOK].len(), 1);
    Ok(())
}

#[tokio::test]
async fn second_notebook_keeps_both_arns_in_the_policy() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, group) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    w.seed.notebook("nb-2", &subnets[3], &group).await?;
    w.moto.reset_calls().await?;
    let report = w.notebook_event("nb-2", &subnets[3]).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(report.api_calls.write, 1, "one modify of the notebook endpoint's policy");
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(
        policy_resources(&endpoints[NOTEBOOK][0]),
        ["nb-1", "nb-2"].map(|n| format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{n}")).into()
    );
    Ok(())
}

#[tokio::test]
async fn opted_out_and_non_enrolled_vpcs_are_skipped_without_writes() -> Result<()> {
    let w = world().await?;
    let opted_out = w.seed.vpc("10.1.0.0/16", &[("vpce-guard:enforce", "false")]).await?;
    let subnet = w.seed.subnet(&opted_out, "10.1.0.0/24", "us-west-2a").await?;
    let group = w.seed.notebook_group(&opted_out).await?;
    w.seed.notebook("nb-out", &subnet, &group).await?;
    let plain = w.seed.vpc("10.2.0.0/16", &[]).await?;
    let plain_subnet = w.seed.subnet(&plain, "10.2.0.0/24", "us-west-2a").await?;
    w.moto.reset_calls().await?;

    let report = w.notebook_event("nb-out", &subnet).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Skipped);
    assert!(report.vpcs[0].reason.as_deref().unwrap().contains("enforce=false"));
    let report = w.subnet_event(&plain_subnet, &plain, "us-west-2a").await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Skipped, "{}", report.to_text());
    assert!(report.vpcs[0].reason.as_deref().unwrap().contains("not enrolled"));

    assert_eq!(w.moto.writes().await?, 0);
    assert!(w.seed.endpoints(&opted_out).await?.is_empty());
    assert!(w.seed.endpoints(&plain).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn failed_call_event_and_malformed_event_touch_nothing() -> Result<()> {
    let w = world().await?;
    let (vpc, by_az) = w.seed.vpc_with_subnets(3, &["us-west-2a"], 1).await?;
    let subnet = &by_az["us-west-2a"][0];
    w.moto.reset_calls().await?;

    let failed = events::subnet_created_from("create-subnet-failed.json", subnet, &vpc, "us-west-2a");
    let report = w.guard.run(parse_subnet_created(&failed, "us-west-2")?).await?;
    assert!(report.ignored.as_deref().unwrap().contains("Client.InvalidSubnet.Conflict"));
    assert!(report.vpcs.is_empty());

    let malformed = events::load("malformed-create-subnet.json");
    let error = parse_subnet_created(&malformed, "us-west-2").unwrap_err();
    assert_eq!(error.error_type(), "Permanent.BadEvent");

    assert!(w.moto.calls().await?.is_empty(), "no AWS call at all: {:?}", w.moto.calls().await?);
    Ok(())
}

#[tokio::test]
async fn dry_run_reports_would_change_and_writes_nothing() -> Result<()> {
    let w = world().await?;
    let (vpc, _, _) = w.enrolled_vpc().await?;
    w.moto.reset_calls().await?;
    let payload = events::remediate(&[&vpc], true);
    let report = w.guard.run(parse_remediate(&payload)?).await?;
    assert!(report.dry_run);
    assert_eq!(report.vpcs[0].outcome, Outcome::WouldChange, "{}", report.to_text());
    let planned: Vec<&str> = report.vpcs[0]
        .actions
        .iter()
        .map(|a| match a {
            vpce_guard::report::Action::CreateEndpoint { service, .. } => service.as_str(),
            _ => "",
        })
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(planned, [API, NOTEBOOK], "api first");
    assert_eq!(report.api_calls.write, 0);
    assert_eq!(w.moto.writes().await?, 0);
    assert!(w.seed.endpoints(&vpc).await?.is_empty());
    assert_eq!(w.seed.dns(&vpc).await?, (true, false));
    Ok(())
}

#[tokio::test]
async fn az_the_service_lacks_is_skipped_and_reported() -> Result<()> {
    let w = world().await?;
    w.moto.configure(json!({"unsupported_azs": {NOTEBOOK: ["us-west-2c"]}})).await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    let report = w.notebook_event("nb-1", &subnets[0]).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let problems: Vec<&str> = report.vpcs[0].problems.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(problems, ["service_not_in_az"]);
    assert!(report.vpcs[0].problems[0].message.contains("us-west-2c"));
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(w.seed.endpoint_azs(&vpc, &endpoints[NOTEBOOK][0]).await?, ["us-west-2a", "us-west-2b"]);
    assert_eq!(w.seed.endpoint_azs(&vpc, &endpoints[API][0]).await?, AZS);
    Ok(())
}

#[tokio::test]
async fn pending_endpoint_is_reported_and_finished_later() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    let api_id = endpoints[API][0].vpc_endpoint_id().unwrap().to_string();
    let notebook_id = endpoints[NOTEBOOK][0].vpc_endpoint_id().unwrap().to_string();
    w.moto.force_state(&api_id, "pending").await?;
    w.moto.force_state(&notebook_id, "pending").await?;
    let new_az = w.seed.subnet(&vpc, "10.0.100.0/24", "us-west-2d").await?;

    w.moto.reset_calls().await?;
    let report = w.subnet_event(&new_az, &vpc, "us-west-2d").await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Pending, "{}", report.to_text());
    assert_eq!(w.moto.writes().await?, 0, "no modify of a pending endpoint");

    w.moto.force_state(&api_id, "available").await?;
    w.moto.force_state(&notebook_id, "available").await?;
    let report = w.subnet_event(&new_az, &vpc, "us-west-2d").await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    for list in w.seed.live_endpoints(&vpc).await?.values() {
        assert!(list[0].subnet_ids().contains(&new_az));
    }
    Ok(())
}

#[tokio::test]
async fn hosted_zone_conflict_is_reported_once_without_loop_or_duplicate() -> Result<()> {
    // Local endpoints wanted anyway (VPCE_GUARD_ON_DNS_CONFLICT=create): AWS refuses the name.
    let create = || Config { on_dns_conflict: OnDnsConflict::Create, ..strict() };
    let w = world_with(create()).await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.moto.hosted_zone(&vpc, API).await?;
    let report = w.notebook_event("nb-1", &subnets[0]).await?;
    let vpc_report = &report.vpcs[0];
    assert_eq!(vpc_report.outcome, Outcome::NonCompliant, "{}", report.to_text());
    assert!(vpc_report.problems.iter().any(|p| p.code == "private_dns_conflict" && p.message.contains(API)));
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1, "created once, without private DNS");
    assert_eq!(endpoints[API][0].private_dns_enabled(), Some(false));
    assert_eq!(endpoints[NOTEBOOK][0].private_dns_enabled(), Some(true));
    let creates = w.moto.calls().await?.get("CreateVpcEndpoint").copied().unwrap_or(0);
    assert_eq!(creates, 2, "one per service: the zone is seen first, so no create is refused");
    assert_eq!(tag(&endpoints[API][0], "vpce-guard:private-dns"), Some("conflict"));

    // A cold process (new reconciler, nothing remembered) spends no write AWS would refuse.
    let cold = Guard::new(SdkAccount::new(&w.moto.sdk_config())?, create()).with_visibility_retries(vec![]);
    w.moto.reset_calls().await?;
    let parsed = parse_notebook_created(&events::notebook_created("nb-1", &subnets[0]), "us-west-2")?;
    let replay = cold.run(parsed).await?;
    assert_eq!(replay.vpcs[0].outcome, Outcome::NonCompliant);
    assert_eq!(replay.api_calls.write, 0, "{}", replay.to_text());
    assert_eq!(w.moto.writes().await?, 0);
    Ok(())
}

/// EC2 fails a whole `DescribeVpcs` when one of its `VpcIds` is unknown (moto too): a typo
/// next to a real VPC must not blame the real one, nor stop it being remediated.
#[tokio::test]
async fn a_typo_next_to_a_real_vpc_is_reported_and_the_real_one_remediated() -> Result<()> {
    let w = world().await?;
    let (vpc, _, _) = w.enrolled_vpc().await?;
    let typo = "vpc-0123456789abcdef0";
    let mut ids = [vpc.clone(), typo.to_string()];
    ids.sort();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let report = w.guard.run(parse_remediate(&events::remediate(&ids, false))?).await?;
    let real = report.vpcs.iter().find(|v| v.vpc_id == vpc).expect("the real VPC is in the report");
    assert_eq!(real.outcome, Outcome::Changed, "{}", report.to_text());
    assert!(real.problems.iter().all(|p| p.code != "vpc_not_found"));
    let missing = report.vpcs.iter().find(|v| v.vpc_id == typo).expect("the typo is in the report");
    assert_eq!(missing.outcome, Outcome::NonCompliant);
    assert!(missing.problems.iter().any(|p| p.code == "vpc_not_found" && p.message.contains(typo)));
    assert_eq!(w.seed.live_endpoints(&vpc).await?.len(), 2, "both endpoints in the real VPC");
    Ok(())
}

#[tokio::test]
async fn missing_vpc_in_manual_payload_is_a_clear_error_and_no_write() -> Result<()> {
    let w = world().await?;
    w.moto.reset_calls().await?;
    let error = w.guard.run(parse_remediate(&events::remediate(&["vpc-0123456789abcdef0"], false))?).await.unwrap_err();
    assert!(error.to_string().contains("vpc-0123456789abcdef0"), "{error}");
    assert_eq!(error.error_type(), "Permanent.BadEvent", "a typo is not retried");
    assert_eq!(w.moto.writes().await?, 0);
    Ok(())
}

#[tokio::test]
async fn sweep_reconciles_every_enrolled_vpc_and_skips_the_rest() -> Result<()> {
    let w = world().await?;
    let (enrolled, _, _) = w.enrolled_vpc().await?;
    let tagged = w.seed.vpc("10.5.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
    w.seed.subnet(&tagged, "10.5.0.0/24", "us-west-2b").await?;
    let plain = w.seed.vpc("10.6.0.0/16", &[]).await?;
    let report = w.guard.run(parse_remediate(&events::load("scheduled.json"))?).await?;
    let outcome = |vpc: &str| report.vpcs.iter().find(|v| v.vpc_id == vpc).map(|v| v.outcome);
    assert_eq!(outcome(&enrolled), Some(Outcome::Changed), "{}", report.to_text());
    assert_eq!(outcome(&tagged), Some(Outcome::Changed));
    assert_eq!(outcome(&plain), Some(Outcome::Skipped));
    assert_eq!(w.seed.live_endpoints(&tagged).await?.len(), 2);
    assert!(w.seed.endpoints(&plain).await?.is_empty());
    let again = w.guard.run(parse_remediate(&events::load("scheduled.json"))?).await?;
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    Ok(())
}

async fn remediate(w: &World, event: serde_json::Value) -> vpce_guard::Result<Report> {
    w.guard.run(vpce_guard::events::parse_remediate_in(&event, "us-west-2")?).await
}

#[tokio::test]
async fn endpoint_deleted_out_of_band_is_recreated_by_its_drift_event() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    let old = w.seed.live_endpoints(&vpc).await?[API][0].vpc_endpoint_id().unwrap().to_string();
    w.seed.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&old).send().await?;

    let report = remediate(&w, events::drift("delete-vpc-endpoints.json", "vpc-00000000", &old)).await?;
    assert_eq!(report.trigger, "DeleteVpcEndpoints");
    assert_eq!(report.vpcs.len(), 1, "the deleted endpoint's VPC only: {}", report.to_text());
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed);
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1);
    let new = endpoints[API][0].vpc_endpoint_id().unwrap();
    assert_ne!(new, old, "the client token does not hand back the deleted endpoint");
    assert_eq!(w.seed.endpoint_azs(&vpc, &endpoints[API][0]).await?, AZS);
    Ok(())
}

#[tokio::test]
async fn dns_hostnames_turned_off_are_turned_back_on_by_the_drift_event() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    w.seed.set_dns_hostnames(&vpc, false).await?;
    w.moto.reset_calls().await?;
    let report = remediate(&w, events::drift("modify-vpc-attribute.json", &vpc, "vpce-00000000")).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(w.seed.dns(&vpc).await?, (true, true));
    assert_eq!(w.moto.calls().await?.get("ModifyVpcAttribute"), Some(&1));
    Ok(())
}

#[tokio::test]
async fn new_cidr_block_is_allowed_into_the_managed_group_by_the_drift_event() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, _) = w.enrolled_vpc().await?;
    w.notebook_event("nb-1", &subnets[0]).await?;
    w.seed.ec2.associate_vpc_cidr_block().vpc_id(&vpc).cidr_block("10.200.0.0/16").send().await?;
    let report = remediate(&w, events::drift("associate-vpc-cidr-block.json", &vpc, "vpce-00000000")).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    let group = w.seed.live_endpoints(&vpc).await?[API][0].groups()[0].group_id().unwrap().to_string();
    assert_eq!(
        w.seed.https_sources(&group).await?,
        BTreeSet::from(["10.0.0.0/16".to_string(), "10.200.0.0/16".to_string()])
    );
    Ok(())
}

#[tokio::test]
async fn deleted_notebook_leaves_the_policy_by_the_drift_sweep() -> Result<()> {
    let w = world().await?;
    let (vpc, subnets, group) = w.enrolled_vpc().await?;
    w.seed.notebook("nb-2", &subnets[2], &group).await?;
    w.notebook_event("nb-2", &subnets[2]).await?;
    w.seed.sagemaker.stop_notebook_instance().notebook_instance_name("nb-2").send().await?;
    w.seed.sagemaker.delete_notebook_instance().notebook_instance_name("nb-2").send().await?;
    let report = remediate(&w, events::load("delete-notebook-instance.json")).await?;
    let ours = report.vpcs.iter().find(|v| v.vpc_id == vpc).expect("swept");
    assert_eq!(ours.outcome, Outcome::Changed, "{}", report.to_text());
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(
        policy_resources(&endpoints[NOTEBOOK][0]),
        BTreeSet::from(["arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/nb-1".to_string()])
    );
    Ok(())
}
