//! AWS behaviour at the edges against the strict moto fixture, which models it (see
//! tests/fixture/moto_strict.py, gaps f2 and f3): endpoints `pending` again after a modify
//! that adds subnets, and deleted endpoints holding their private DNS name while `deleting`.
//! The fixture holds those windows open until the test settles them, so that what the guard
//! sees in between does not depend on how fast the machine is.

use anyhow::Result;
use vpce_guard::aws::SdkAccount;
use vpce_guard::config::Config;
use vpce_guard::events::{parse_remediate, parse_subnet_created, Parsed, Trigger};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::Guard;
use vpce_guard_tests::events;
use vpce_guard_tests::moto::{Moto, Window};
use vpce_guard_tests::seed::Seed;

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const AZS: [&str; 2] = ["us-west-2a", "us-west-2b"];

struct World {
    moto: Moto,
    seed: Seed,
    guard: Guard<SdkAccount>,
}

impl World {
    async fn start() -> Result<Self> {
        let moto = Moto::start().await?;
        let sdk = moto.sdk_config();
        let guard = Guard::new(SdkAccount::new(&sdk)?, Config::default()).with_visibility_retries(vec![]);
        Ok(Self { seed: Seed::new(&sdk), moto, guard })
    }

    /// An enforced 2-AZ VPC, reconciled.
    async fn reconciled_vpc(&self) -> Result<String> {
        let vpc = self.seed.vpc("10.9.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
        for (n, az) in AZS.iter().enumerate() {
            self.seed.subnet(&vpc, &format!("10.9.{n}.0/24"), az).await?;
        }
        let report = self.manual(&vpc).await?;
        assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
        Ok(vpc)
    }

    async fn manual(&self, vpc: &str) -> vpce_guard::Result<Report> {
        self.guard.run(parse_remediate(&events::remediate(&[vpc], false))?).await
    }
}

#[tokio::test]
async fn after_a_subnet_is_added_the_replay_reports_pending_and_writes_nothing() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.reconciled_vpc().await?;
    let mut endpoints: Vec<String> = w
        .seed
        .live_endpoints(&vpc)
        .await?
        .values()
        .flatten()
        .filter_map(|e| e.vpc_endpoint_id())
        .map(String::from)
        .collect();
    endpoints.sort();
    w.moto.hold(&[Window::ModifyPending]).await?;
    let subnet = w.seed.subnet(&vpc, "10.9.2.0/24", "us-west-2c").await?;
    let event = || parse_subnet_created(&events::subnet_created(&subnet, &vpc, "us-west-2c"), "us-west-2");

    let changed = w.guard.run(event()?).await?;
    assert_eq!(changed.vpcs[0].outcome, Outcome::Changed, "{}", changed.to_text());
    assert_eq!(changed.api_calls.write, 2);

    w.moto.reset_calls().await?;
    let replay = w.guard.run(event()?).await?;
    assert_eq!(replay.vpcs[0].outcome, Outcome::Pending, "{}", replay.to_text());
    assert_eq!(w.moto.writes().await?, 0);

    // AWS has added the new interfaces: both endpoints were pending until now.
    let settled = w.moto.settle(&endpoints).await?;
    assert_eq!(settled.into_keys().collect::<Vec<_>>(), endpoints);
    let settled = w.guard.run(event()?).await?;
    assert_eq!(settled.vpcs[0].outcome, Outcome::Compliant, "{}", settled.to_text());
    Ok(())
}

#[tokio::test]
async fn an_endpoint_deleted_out_of_band_comes_back_with_private_dns_without_a_human() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.reconciled_vpc().await?;
    let old = w.seed.live_endpoints(&vpc).await?[API][0].vpc_endpoint_id().unwrap_or_default().to_string();
    w.moto.hold(&[Window::Deleting]).await?;
    let ec2 = aws_sdk_ec2::Client::new(&w.moto.sdk_config());
    ec2.delete_vpc_endpoints().vpc_endpoint_ids(&old).send().await?;

    let drift = vpce_guard::events::parse_remediate(&events::drift("delete-vpc-endpoints.json", &vpc, &old))?;
    let replaced = w.guard.run(drift).await?;
    let problems: Vec<&str> = replaced.vpcs[0].problems.iter().map(|p| p.code.as_str()).collect();
    assert!(problems.contains(&"private_dns_waiting"), "{}", replaced.to_text());
    assert!(!problems.contains(&"private_dns_conflict"), "{}", replaced.to_text());
    let calls = w.moto.calls().await?;
    let live = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(live[API].len(), 1, "one replacement");
    assert_ne!(live[API][0].vpc_endpoint_id(), Some(old.as_str()));
    assert_eq!(live[API][0].private_dns_enabled(), Some(false), "the name is still held");
    assert_eq!(calls.get("CreateVpcEndpoint"), Some(&3), "no create refused by AWS: {calls:?}");

    // The old endpoint is gone at last, and its name with it.
    assert_eq!(w.moto.settle(&[&old]).await?, [(old.clone(), "deleted".to_string())].into());
    let sweep = w.guard.run(Parsed::Run(Trigger::Scheduled)).await?;
    assert_eq!(sweep.api_calls.write, 1, "{}", sweep.to_text());
    let live = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(live[API].len(), 1);
    assert_eq!(live[API][0].private_dns_enabled(), Some(true), "private DNS is back");
    Ok(())
}

#[tokio::test]
async fn a_cold_notebook_event_costs_ten_reads_with_fifty_notebooks_in_the_account() -> Result<()> {
    let w = World::start().await?;
    let vpc = w.reconciled_vpc().await?;
    let subnet = w.seed.live_endpoints(&vpc).await?[API][0].subnet_ids()[0].clone();
    let group = w.seed.notebook_group(&vpc).await?;
    for n in 0..50 {
        w.seed.notebook(&format!("nb-{n:02}"), &subnet, &group).await?;
    }
    let cold = Guard::new(SdkAccount::new(&w.moto.sdk_config())?, Config::default()).with_visibility_retries(vec![]);
    let parsed = vpce_guard::events::parse_notebook_created(&events::notebook_created("nb-07", &subnet), "us-west-2")?;
    let report = cold.run(parsed).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
    assert!(report.api_calls.read <= 10, "{} reads", report.api_calls.read);
    println!(
        "NOTEBOOK EVENT cold, 50 notebooks, moto: {} reads, {} writes",
        report.api_calls.read, report.api_calls.write
    );
    Ok(())
}
