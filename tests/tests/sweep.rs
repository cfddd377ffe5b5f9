//! Account-wide sweeps against the strict fixture: many VPCs, AWS's endpoint-write throttle,
//! a VPC that fails mid-sweep, and read calls that grow with pages, not with VPCs.

use std::time::{Duration, Instant};

use anyhow::Result;
use aws_config::retry::RetryConfig;
use serde_json::json;
use vpce_guard::aws::{SdkAccount, WritePacer};
use vpce_guard::config::Config;
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::report::{Action, Outcome, VpcReport};
use vpce_guard::{Guard, RunOptions};
use vpce_guard_tests::moto::{is_write, Moto};
use vpce_guard_tests::proxy::{Hold, Proxy};
use vpce_guard_tests::seed::Seed;

const ENDPOINT_WRITES: [&str; 3] = ["CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints"];

async fn enforced_vpcs(seed: &Seed, count: usize) -> Result<Vec<String>> {
    let mut vpcs = Vec::new();
    for n in 0..count {
        let vpc = seed.vpc(&format!("10.{}.0.0/16", n + 10), &[("vpce-guard:enforce", "true")]).await?;
        seed.subnet(&vpc, &format!("10.{}.0.0/24", n + 10), "us-west-2a").await?;
        seed.subnet(&vpc, &format!("10.{}.1.0/24", n + 10), "us-west-2b").await?;
        vpcs.push(vpc);
    }
    Ok(vpcs)
}

fn sweep() -> Parsed {
    Parsed::Run(Trigger::Manual { vpc_ids: None, dry_run: None })
}

#[tokio::test]
async fn sweep_of_30_vpcs_under_the_write_throttle_completes_and_one_denied_vpc_does_not_stop_it() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpcs = enforced_vpcs(&seed, 31).await?;
    let denied = vpcs[15].clone();
    // AWS's bucket shape (4 calls) with a faster refill to keep the test short; the client
    // paces a little faster than the bucket refills, and other writers have just spent the
    // bucket (the first 3 writes are refused), so that throttling happens however loaded the
    // machine is (a slow machine alone paces below the refill).
    moto.configure(json!({
        "throttle": {"actions": ENDPOINT_WRITES, "capacity": 4, "refill_per_second": 4.0, "spent_by_others": 3},
        "deny_vpcs": [denied],
    }))
    .await?;
    moto.reset_calls().await?;
    let account = SdkAccount::new(&moto.sdk_config())?.with_write_pacer(WritePacer::new(4.0, 6.0));
    let guard = Guard::new(account, Config::default());

    let report = guard.run(sweep()).await?;

    let ours: Vec<_> = report.vpcs.iter().filter(|v| vpcs.contains(&v.vpc_id)).collect();
    assert_eq!(ours.len(), 31);
    let failed: Vec<_> = ours.iter().filter(|v| v.outcome == Outcome::NonCompliant).collect();
    assert_eq!(failed.len(), 1, "only the denied VPC fails: {}", report.to_text());
    assert_eq!(failed[0].vpc_id, denied);
    assert!(failed[0].problems[0].message.contains("UnauthorizedOperation"), "{:?}", failed[0].problems);
    // Every other VPC is brought into line or, if AWS still throttled it when the retries ran
    // out (the machine's load decides how often), deferred as `throttled`: never non-compliant.
    let deferred: Vec<&String> = ours
        .iter()
        .filter(|v| v.vpc_id != denied && v.outcome != Outcome::Changed)
        .map(|v| {
            assert_eq!(v.outcome, Outcome::Pending, "{}", report.to_text());
            assert_eq!(v.reason.as_deref(), Some("throttled"), "{}", report.to_text());
            &v.vpc_id
        })
        .collect();
    let refused = moto.calls().await?;
    let throttled =
        vpce_guard_tests::http::request(moto.url.trim_start_matches("http://"), "GET", "/_fixture/refused", b"")
            .await?;
    let throttled: serde_json::Value = serde_json::from_slice(&throttled.body)?;
    let throttled_creates = throttled["CreateVpcEndpoint:RequestLimitExceeded"].as_u64().unwrap_or(0);
    assert!(throttled_creates >= 3, "the bucket did throttle: {throttled} {refused:?}");
    for vpc in vpcs.iter().filter(|v| **v != denied && !deferred.contains(v)) {
        let endpoints = seed.live_endpoints(vpc).await?;
        assert_eq!(endpoints.len(), 2, "{vpc}");
        assert!(endpoints.values().all(|list| list.len() == 1), "no duplicate after retries in {vpc}");
    }
    // The next sweep, once other writers leave the bucket alone, finishes what was deferred.
    moto.configure(json!({"throttle": {}, "deny_vpcs": [denied]})).await?;
    let next = guard.run(sweep()).await?;
    for vpc in vpcs.iter().filter(|v| **v != denied) {
        let endpoints = seed.live_endpoints(vpc).await?;
        assert_eq!(endpoints.len(), 2, "{vpc}: {}", next.to_text());
        assert!(endpoints.values().all(|list| list.len() == 1), "no duplicate after retries in {vpc}");
    }
    println!(
        "31 VPCs, {throttled_creates} throttled CreateVpcEndpoint answers retried, {} deferred as throttled, report: {:?}",
        deferred.len(),
        report.api_calls
    );
    Ok(())
}

/// A bucket that other writers keep spent (capacity 0): every endpoint write is refused with
/// `RequestLimitExceeded` through all its retries, and each VPC is deferred, never non-compliant.
#[tokio::test]
async fn a_sweep_whose_writes_stay_throttled_defers_every_vpc_as_throttled() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpcs = enforced_vpcs(&seed, 3).await?;
    moto.configure(json!({"throttle": {"actions": ENDPOINT_WRITES, "capacity": 0, "refill_per_second": 0.0}})).await?;
    let account = SdkAccount::new(&moto.sdk_config())?.with_write_pacer(WritePacer::new(4.0, 50.0));
    let guard = Guard::new(account, Config::default());

    let report = guard.run(sweep()).await?;

    for vpc in &vpcs {
        let entry = report.vpcs.iter().find(|v| &v.vpc_id == vpc).expect("reported");
        assert_eq!(entry.outcome, Outcome::Pending, "{}", report.to_text());
        assert_eq!(entry.reason.as_deref(), Some("throttled"));
        assert!(entry.problems[0].message.contains("RequestLimitExceeded"), "{:?}", entry.problems);
        assert!(seed.live_endpoints(vpc).await?.is_empty());
    }
    assert_eq!(report.count(Outcome::NonCompliant), 0, "{}", report.to_text());
    // Each VPC's first endpoint write was tried (and paced) six times, then the VPC deferred.
    let calls = moto.calls().await?;
    assert_eq!(calls.get("CreateVpcEndpoint"), Some(&18), "{calls:?}");
    Ok(())
}

#[tokio::test]
async fn compliant_sweep_reads_grow_with_pages_not_vpcs() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let enrolled = enforced_vpcs(&seed, 2).await?;
    let mut reads = Vec::new();
    for plain in [3, 23] {
        while seed.ec2.describe_vpcs().send().await?.vpcs().len() < plain + 3 {
            let n = seed.ec2.describe_vpcs().send().await?.vpcs().len();
            let vpc = seed.vpc(&format!("10.{}.0.0/16", 100 + n), &[]).await?;
            seed.subnet(&vpc, &format!("10.{}.0.0/24", 100 + n), "us-west-2a").await?;
        }
        let account = SdkAccount::new(&moto.sdk_config())?.with_write_pacer(WritePacer::new(100.0, 100.0));
        let guard = Guard::new(account, Config::default());
        guard.run(sweep()).await?;
        moto.reset_calls().await?;
        let report = guard.run(sweep()).await?;
        assert_eq!(report.count(Outcome::Compliant), 2, "{}", report.to_text());
        assert_eq!(report.count(Outcome::Skipped), plain + 1, "the plain VPCs and moto's default VPC");
        let calls = moto.calls().await?;
        assert!(calls.iter().all(|(action, _)| !is_write(action)), "{calls:?}");
        // DNS attributes exist only per VPC and attribute: two reads per VPC in scope.
        assert_eq!(calls.get("DescribeVpcAttribute"), Some(&(2 * enrolled.len() as u64)), "{calls:?}");
        reads.push((plain, report.api_calls.read, calls));
    }
    println!(
        "warm compliant sweep reads (VPCs out of scope, reads): {:?}",
        reads.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>()
    );
    let (small, large) = (&reads[0], &reads[1]);
    assert_eq!(
        small.1, large.1,
        "same reads with {} and {} VPCs out of scope: {:?} vs {:?}",
        small.0, large.0, small.2, large.2
    );
    assert!(large.1 <= 12, "a warm sweep is a handful of calls: {:?}", large.2);
    Ok(())
}

/// A sweep that reaches its deadline midway: the VPC swept before it is brought into line, the
/// one whose endpoint create straddles it stops before its next write, and the rest are not
/// started; all but the first are `pending` with the deadline as reason, and the next run
/// finishes them. The proxy holds the second VPC's first create until the deadline (less the
/// margin) has passed, so where the sweep stops does not depend on the machine's speed.
#[tokio::test]
async fn sweep_near_its_deadline_defers_the_rest_as_pending() -> Result<()> {
    // Until the deadline less the margin, the sweep may start writes: the first VPC and the
    // second's writes up to its first create must fit (they take about a second), or the test
    // fails ("ended before").
    const WRITING: Duration = Duration::from_secs(15);
    let margin = Duration::from_millis(500);
    let moto = Moto::start().await?;
    let proxy = Proxy::in_front_of(&moto, 1).await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpcs = enforced_vpcs(&seed, 6).await?;
    let account =
        SdkAccount::new(&proxy.sdk_config(RetryConfig::standard()))?.with_write_pacer(WritePacer::new(100.0, 100.0));
    let guard = Guard::new(account, Config::default()).with_deadline_margin(margin);
    // The first VPC's two creates go through; the second VPC's first create waits.
    proxy.hold(Hold::of(&["CreateVpcEndpoint"]).after(2));
    let deadline = Instant::now() + WRITING + margin;
    let options = RunOptions { deadline: Some(deadline), ..RunOptions::default() };
    let mut run = tokio::spawn(async move { guard.run_with(sweep(), &options).await });
    tokio::select! {
        held = proxy.until_held(1) => held?,
        report = &mut run => panic!("the sweep ended before the second VPC's create: {}", report??.to_text()),
    }
    while Instant::now() < deadline - margin {
        tokio::time::sleep_until((deadline - margin).into()).await;
    }
    proxy.release();
    let report = run.await??;

    let ours: Vec<_> = report.vpcs.iter().filter(|v| vpcs.contains(&v.vpc_id)).collect();
    assert_eq!(ours.len(), 6, "{}", report.to_text());
    let changed: Vec<_> = ours.iter().filter(|v| v.outcome == Outcome::Changed).collect();
    assert_eq!(changed.len(), 1, "the VPC swept before the deadline: {}", report.to_text());
    let deferred: Vec<_> = ours.iter().filter(|v| v.outcome == Outcome::Pending).collect();
    assert_eq!(deferred.len(), 5, "{}", report.to_text());
    assert!(
        deferred.iter().all(|v| v.reason.as_deref().is_some_and(|r| r.contains("deadline"))),
        "{}",
        report.to_text()
    );
    // The VPC whose create straddled the deadline reports the writes it made, the held create
    // last; the VPCs after it were not started.
    let (straddling, untouched): (Vec<&VpcReport>, Vec<&VpcReport>) =
        deferred.iter().map(|v| **v).partition(|v| !v.actions.is_empty());
    assert_eq!((straddling.len(), untouched.len()), (1, 4), "{}", report.to_text());
    assert!(matches!(straddling[0].actions.last(), Some(Action::CreateEndpoint { .. })), "{:?}", straddling[0].actions);
    assert_eq!(seed.live_endpoints(&straddling[0].vpc_id).await?.len(), 1, "the held create, and no write after it");
    for vpc in &untouched {
        assert!(seed.live_endpoints(&vpc.vpc_id).await?.is_empty(), "{} was not started", vpc.vpc_id);
    }
    let calls = moto.calls().await?;
    assert_eq!(calls.get("CreateVpcEndpoint"), Some(&3), "{calls:?}");

    // The next run finishes the work.
    let guard = Guard::new(
        SdkAccount::new(&moto.sdk_config())?.with_write_pacer(WritePacer::new(100.0, 100.0)),
        Config::default(),
    );
    let report = guard.run(sweep()).await?;
    for vpc in &vpcs {
        assert_eq!(seed.live_endpoints(vpc).await?.len(), 2, "{}", report.to_text());
    }
    Ok(())
}
