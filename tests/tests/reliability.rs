//! Reliability under faults, replays, drift and deadlines: the reconciler through the real AWS
//! SDK and the fault-injecting proxy ([`vpce_guard_tests::proxy`]) against the strict moto
//! fixture. Every test asserts the account's final state as read back directly from the
//! fixture (not through the proxy), and prints its figures on a `RELIABILITY` line
//! (`cargo test -p vpce-guard-tests --test reliability -- --nocapture`); docs/RELIABILITY.md
//! quotes them.
//!
//! A Lambda invocation that fails is retried by Lambda (asynchronous invocations: 3 tries;
//! EventBridge targets: up to 185). The tests re-invoke a failed invocation up to
//! [`LAMBDA_TRIES`] times, each time with a new `Guard` (a cold process), and require every
//! failure on the way to carry a retryable `errorType` (`Transient.*`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Result};
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::types::VpcEndpointType;
use serde_json::{json, Value};
use vpce_guard::aws::{SdkAccount, WritePacer};
use vpce_guard::config::{Config, NotebookPolicy, OnDnsConflict};
use vpce_guard::events::{parse_notebook_created, parse_remediate, parse_remediate_in, parse_subnet_created, Parsed};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::{Guard, RunOptions};
use vpce_guard_tests::moto::{Moto, Window};
use vpce_guard_tests::proxy::{FaultConfig, FaultKind, Hold, Proxy};
use vpce_guard_tests::runtime::{Function, Outcome as Invocation};
use vpce_guard_tests::seed::{tag, Seed};
use vpce_guard_tests::{binary, events};

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const FOUR_AZS: [&str; 4] = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];
/// Share of calls the proxy faults in the fault tests.
const FAULT_RATE: f64 = 0.3;
/// Invocations of one event before giving up. Lambda retries a failed asynchronous invocation
/// twice; an EventBridge target's retry policy allows up to 185 attempts in 24 h.
const LAMBDA_TRIES: usize = 8;

/// The fixture, the proxy in front of it, and seeding clients that bypass the proxy.
struct World {
    moto: Moto,
    proxy: Proxy,
    seed: Seed,
}

/// SDK retries of the in-process guards: the SDK's standard 3 attempts with a short backoff,
/// fewer than the functions' 6 adaptive ones, so that faults do fail invocations and the
/// Lambda retry path is exercised.
fn sdk_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(20))
}

impl World {
    /// The fixture and a proxy drawing faults from `fault_seed`, or from `RELIABILITY_SEED`
    /// when set (to explore other fault sequences).
    async fn start(fault_seed: u64) -> Result<Self> {
        let fault_seed = std::env::var("RELIABILITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(fault_seed);
        let moto = Moto::start().await?;
        let proxy = Proxy::in_front_of(&moto, fault_seed).await?;
        Ok(Self { seed: Seed::new(&moto.sdk_config()), proxy, moto })
    }

    /// A new reconciler (a cold process) reaching the fixture through the proxy.
    fn guard(&self) -> Guard<SdkAccount> {
        self.guard_with(Duration::from_secs(10))
    }

    fn guard_with(&self, deadline_margin: Duration) -> Guard<SdkAccount> {
        // The strict `vpc-notebooks`: the lost-update repair concerns its per-VPC ARN list.
        self.guard_configured(
            Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() },
            deadline_margin,
        )
    }

    /// [`World::guard`] with `VPCE_GUARD_ADOPT_EXISTING=true`: for the scenarios whose subject
    /// is adopting an endpoint made by hand.
    fn adopting_guard(&self) -> Guard<SdkAccount> {
        let config =
            Config { notebook_policy: NotebookPolicy::VpcNotebooks, adopt_existing: true, ..Config::default() };
        self.guard_configured(config, Duration::from_secs(10))
    }

    fn guard_configured(&self, config: Config, deadline_margin: Duration) -> Guard<SdkAccount> {
        let account = SdkAccount::new(&self.proxy.sdk_config(sdk_retries()))
            .expect("region is set")
            .with_write_pacer(WritePacer::new(100.0, 100.0));
        Guard::new(account, config).with_visibility_retries(Vec::new()).with_deadline_margin(deadline_margin)
    }

    /// A VPC 10.n.0.0/16 with `per_az` subnets in each of `azs` and notebook `name` in its
    /// first subnet; returns the VPC, its subnets and the notebooks' security group.
    async fn vpc_with_notebook(&self, n: u8, azs: &[&str], per_az: usize, name: &str) -> Result<Arranged> {
        let (vpc, by_az) = self.seed.vpc_with_subnets(n, azs, per_az).await?;
        let subnets: Vec<String> = by_az.values().flatten().cloned().collect();
        let group = self.seed.notebook_group(&vpc).await?;
        self.seed.notebook(name, &subnets[0], &group).await?;
        Ok(Arranged { vpc, subnets, group })
    }
}

/// A seeded VPC.
struct Arranged {
    vpc: String,
    subnets: Vec<String>,
    group: String,
}

fn notebook_event(name: &str, subnet: &str) -> Parsed {
    parse_notebook_created(&events::notebook_created(name, subnet), "us-west-2").expect("sample event parses")
}

fn subnet_event(subnet: &str, vpc: &str, az: &str) -> Parsed {
    parse_subnet_created(&events::subnet_created(subnet, vpc, az), "us-west-2").expect("sample event parses")
}

fn sweep() -> Parsed {
    parse_remediate(&events::load("scheduled.json")).expect("scheduled event parses")
}

/// Invocations made and how the failed ones failed.
#[derive(Debug, Default)]
struct Tally {
    invocations: u64,
    /// `errorType` → failed invocations.
    failures: BTreeMap<String, u64>,
    /// Most invocations one event needed.
    most_tries: usize,
}

impl Tally {
    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Records a failed invocation; it must be one Lambda retries usefully.
    fn failure(&mut self, error_type: &str, message: &str) {
        assert!(error_type.starts_with("Transient."), "a fault must fail retryably, got {error_type}: {message}");
        *self.failures.entry(error_type.to_string()).or_default() += 1;
    }

    /// Invokes until an invocation succeeds, as Lambda's retries would, at most `LAMBDA_TRIES` times.
    async fn until_done<F, Fut>(&mut self, mut invoke: F) -> Result<Report>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = vpce_guard::Result<Report>>,
    {
        for attempt in 1..=LAMBDA_TRIES {
            self.invocations += 1;
            match invoke().await {
                Ok(report) => {
                    self.most_tries = self.most_tries.max(attempt);
                    return Ok(report);
                }
                Err(error) => self.failure(&error.error_type(), &error.to_string()),
            }
        }
        bail!("no success in {LAMBDA_TRIES} invocations; failures so far: {:?}", self.failures)
    }

    /// [`Tally::until_done`] for a function binary.
    async fn until_done_binary(&mut self, function: &Function, event: &Value) -> Result<Report> {
        for attempt in 1..=LAMBDA_TRIES {
            self.invocations += 1;
            match function.invoke(event.clone()).await? {
                Invocation::Ok(value) => {
                    self.most_tries = self.most_tries.max(attempt);
                    return Ok(serde_json::from_value(value)?);
                }
                Invocation::Err(error) => self.failure(&error.error_type, &error.error_message),
            }
        }
        bail!("no success in {LAMBDA_TRIES} invocations; failures so far: {:?}", self.failures)
    }
}

/// Duplicates in a VPC: extra live endpoints of a service, and extra subnets in an AZ of an endpoint.
async fn duplicates(seed: &Seed, vpc: &str) -> Result<(usize, usize)> {
    let mut extra_endpoints = 0;
    let mut extra_subnets = 0;
    for list in seed.live_endpoints(vpc).await?.values() {
        extra_endpoints += list.len() - 1;
        for endpoint in list {
            let azs = seed.endpoint_azs(vpc, endpoint).await?;
            let mut distinct = azs.clone();
            distinct.dedup();
            extra_subnets += azs.len() - distinct.len();
        }
    }
    Ok((extra_endpoints, extra_subnets))
}

/// The VPC holds exactly one live endpoint per service, each with one subnet in every AZ of
/// `azs`, private DNS on; returns the endpoints by service.
async fn assert_converged(
    seed: &Seed,
    vpc: &str,
    azs: &[&str],
) -> Result<BTreeMap<String, aws_sdk_ec2::types::VpcEndpoint>> {
    assert_eq!(duplicates(seed, vpc).await?, (0, 0), "no duplicate endpoint, no AZ with two subnets in {vpc}");
    let endpoints = seed.live_endpoints(vpc).await?;
    assert_eq!(endpoints.keys().map(String::as_str).collect::<Vec<_>>(), [NOTEBOOK, API], "{vpc}");
    let mut by_service = BTreeMap::new();
    for (service, mut list) in endpoints {
        let endpoint = list.remove(0);
        assert_eq!(seed.endpoint_azs(vpc, &endpoint).await?, azs, "{service} in {vpc}: one subnet in every AZ");
        assert_eq!(endpoint.private_dns_enabled(), Some(true), "{service} in {vpc}: private DNS");
        by_service.insert(service, endpoint);
    }
    Ok(by_service)
}

fn policy_resources(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> Vec<String> {
    let policy: Value = serde_json::from_str(endpoint.policy_document().unwrap_or("{}")).expect("policy is JSON");
    let mut resources: Vec<String> = policy["Statement"][0]["Resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    resources.sort();
    resources
}

fn arn(name: &str) -> String {
    format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{name}")
}

fn converged(report: &Report) -> bool {
    report.vpcs.iter().all(|v| matches!(v.outcome, Outcome::Changed | Outcome::Compliant))
}

#[tokio::test]
async fn core_scenarios_converge_under_30_percent_faults() -> Result<()> {
    let w = World::start(0x5eed_0001).await?;
    let Arranged { vpc, subnets, group } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    // A second VPC where someone made the API endpoint by hand, private DNS on.
    let Arranged { vpc: adopting, subnets: other_subnets, .. } = w.vpc_with_notebook(1, &AZS, 1, "nb-other").await?;
    w.seed.set_dns_hostnames(&adopting, true).await?;
    let theirs = w
        .seed
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&adopting)
        .service_name(API)
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .subnet_ids(&other_subnets[0])
        .private_dns_enabled(true)
        .send()
        .await?
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .map(str::to_string)
        .expect("endpoint id");
    w.proxy.set(FaultConfig::faults(FAULT_RATE).with_latency(Duration::ZERO, Duration::from_millis(3)));
    let mut tally = Tally::default();

    // 1. A notebook in a 3-AZ VPC.
    let report =
        tally.until_done(|| async { w.adopting_guard().run(notebook_event("nb-1", &subnets[0])).await }).await?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;

    // 2. A subnet in a new AZ.
    let new_az = w.seed.subnet(&vpc, "10.0.100.0/24", "us-west-2d").await?;
    let event = || async { w.adopting_guard().run(subnet_event(&new_az, &vpc, "us-west-2d")).await };
    let report = tally.until_done(event).await?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &FOUR_AZS).await?;

    // 3. Both events again (EventBridge delivers at least once): no write reaches the account.
    let writes_before = w.moto.writes().await?;
    for _ in 0..2 {
        let report =
            tally.until_done(|| async { w.adopting_guard().run(notebook_event("nb-1", &subnets[0])).await }).await?;
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
        let report = tally.until_done(event).await?;
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
    }
    assert_eq!(w.moto.writes().await?, writes_before, "replays write nothing, even under faults");

    // 4. A second notebook: both ARNs in the notebook endpoint's policy.
    w.seed.notebook("nb-2", &subnets[3], &group).await?;
    let report =
        tally.until_done(|| async { w.adopting_guard().run(notebook_event("nb-2", &subnets[3])).await }).await?;
    assert!(converged(&report), "{}", report.to_text());
    let endpoints = assert_converged(&w.seed, &vpc, &FOUR_AZS).await?;
    assert_eq!(policy_resources(&endpoints[NOTEBOOK]), [arn("nb-1"), arn("nb-2")]);

    // 5. The hand-made endpoint is adopted, not duplicated.
    let report = tally
        .until_done(|| async { w.adopting_guard().run(notebook_event("nb-other", &other_subnets[0])).await })
        .await?;
    assert!(converged(&report), "{}", report.to_text());
    let endpoints = assert_converged(&w.seed, &adopting, &AZS).await?;
    assert_eq!(endpoints[API].vpc_endpoint_id(), Some(theirs.as_str()), "theirs adopted");

    // Without faults, a sweep finds nothing left to do.
    let faults = w.proxy.faults();
    let injected = w.proxy.injected();
    let calls: u64 = w.proxy.calls().values().sum();
    w.proxy.set(FaultConfig::default());
    let writes_before = w.moto.writes().await?;
    let report = w.adopting_guard().run(sweep()).await?;
    let ours: Vec<_> = report.vpcs.iter().filter(|v| v.vpc_id == vpc || v.vpc_id == adopting).collect();
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|v| v.outcome == Outcome::Compliant), "{}", report.to_text());
    assert_eq!(w.moto.writes().await?, writes_before);
    assert!(tally.failed() > 0, "faults did fail some invocations: {tally:?}");
    println!(
        "RELIABILITY core_scenarios: fault rate {FAULT_RATE}, {calls} calls through the proxy, {injected} faults {faults:?}, \
         {} invocations, {} failed {:?}, most tries for one event {}, duplicates 0, writes after convergence 0",
        tally.invocations,
        tally.failed(),
        tally.failures,
        tally.most_tries
    );
    Ok(())
}

/// The binaries keep their own SDK configuration (`sdk_loader`: standard retries, 5 attempts,
/// backoff capped at 2 s), throttling answers included.
#[tokio::test]
async fn function_binaries_converge_under_30_percent_faults() -> Result<()> {
    let w = World::start(0x5eed_0002).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let env = w.proxy.env(&w.moto);
    let on_notebook = Function::start(&binary("on-notebook-created"), &env).await?;
    let on_subnet = Function::start(&binary("on-subnet-created"), &env).await?;
    let kinds = [FaultKind::Throttle, FaultKind::InternalError, FaultKind::Reset, FaultKind::LostResponse];
    w.proxy.set(FaultConfig::faults(FAULT_RATE).with_kinds(&kinds));
    let mut tally = Tally::default();

    let report = tally.until_done_binary(&on_notebook, &events::notebook_created("nb-1", &subnets[0])).await?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;

    let new_az = w.seed.subnet(&vpc, "10.0.100.0/24", "us-west-2d").await?;
    let event = events::subnet_created(&new_az, &vpc, "us-west-2d");
    let report = tally.until_done_binary(&on_subnet, &event).await?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &FOUR_AZS).await?;

    let writes_before = w.moto.writes().await?;
    let report = tally.until_done_binary(&on_subnet, &event).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
    assert_eq!(w.moto.writes().await?, writes_before);
    println!(
        "RELIABILITY function_binaries: fault rate {FAULT_RATE}, {} calls through the proxy, {} faults {:?}, \
         {} invocations, {} failed {:?}, duplicates 0",
        w.proxy.calls().values().sum::<u64>(),
        w.proxy.injected(),
        w.proxy.faults(),
        tally.invocations,
        tally.failed(),
        tally.failures
    );
    Ok(())
}

#[tokio::test]
async fn same_event_replayed_50_times_writes_nothing_after_convergence() -> Result<()> {
    let w = World::start(0x5eed_0003).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let first = w.guard().run(notebook_event("nb-1", &subnets[0])).await?;
    assert_eq!(first.vpcs[0].outcome, Outcome::Changed, "{}", first.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;

    // Replays under faults, half on one warm process, half on cold ones.
    w.proxy.set(FaultConfig::faults(FAULT_RATE));
    w.moto.reset_calls().await?;
    let warm = w.guard();
    let mut tally = Tally::default();
    for replay in 0..50 {
        let report = if replay % 2 == 0 {
            tally.until_done(|| warm.run(notebook_event("nb-1", &subnets[0]))).await?
        } else {
            tally.until_done(|| async { w.guard().run(notebook_event("nb-1", &subnets[0])).await }).await?
        };
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "replay {replay}: {}", report.to_text());
        assert_eq!(report.api_calls.write, 0, "replay {replay}");
    }
    let writes = w.moto.writes().await?;
    assert_eq!(writes, 0, "{:?}", w.moto.calls().await?);
    assert_converged(&w.seed, &vpc, &AZS).await?;
    println!(
        "RELIABILITY replay: 50 replays, {} invocations ({} failed {:?}, most tries for one replay {}), {} faults {:?}, \
         writes after convergence {writes}",
        tally.invocations,
        tally.failed(),
        tally.failures,
        tally.most_tries,
        w.proxy.injected(),
        w.proxy.faults()
    );
    Ok(())
}

#[tokio::test]
async fn endpoint_pending_for_a_while_is_left_alone_then_finished() -> Result<()> {
    let w = World::start(0x5eed_0004).await?;
    // New endpoints stay pending (AWS: a minute or two) until the test settles them.
    w.moto.hold(&[Window::Pending]).await?;
    let Arranged { vpc, subnets, group } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let created = w.guard().run(notebook_event("nb-1", &subnets[0])).await?;
    assert_eq!(created.vpcs[0].outcome, Outcome::Changed, "{}", created.to_text());
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    let mut ids: Vec<String> =
        endpoints.values().map(|list| list[0].vpc_endpoint_id().unwrap_or_default().to_string()).collect();
    ids.sort();
    assert!(endpoints.values().all(|l| l[0].state().map(|s| s.as_str()) == Some("pending")));

    // Meanwhile a subnet in a new AZ and a second notebook arrive, and their events are
    // delivered four times while the endpoints stay pending.
    let new_az = w.seed.subnet(&vpc, "10.0.100.0/24", "us-west-2d").await?;
    w.seed.notebook("nb-2", &subnets[3], &group).await?;
    w.moto.reset_calls().await?;
    let mut waits = 0;
    for round in 0..4 {
        for parsed in [subnet_event(&new_az, &vpc, "us-west-2d"), notebook_event("nb-2", &subnets[3])] {
            let report = w.guard().run(parsed).await?;
            assert_eq!(report.vpcs[0].outcome, Outcome::Pending, "round {round}: {}", report.to_text());
            assert!(report.vpcs[0].actions.is_empty());
            assert!(report.vpcs[0].endpoints.iter().all(|e| e.state == "pending"));
            waits += 1;
        }
    }
    assert_eq!(w.moto.writes().await?, 0, "no write to a pending endpoint: {:?}", w.moto.calls().await?);
    for list in w.seed.live_endpoints(&vpc).await?.values() {
        assert!(!list[0].subnet_ids().contains(&new_az), "left alone while pending");
    }

    // Released: the next sweep (a `pending` answer is a success, so Lambda does not retry the
    // events; the schedule finishes their work) adds the AZ and the second notebook's ARN.
    assert_eq!(w.moto.settle(&ids).await?.into_keys().collect::<Vec<_>>(), ids, "both were pending until now");
    let report = w.guard().run(sweep()).await?;
    let ours = report.vpcs.iter().find(|v| v.vpc_id == vpc).expect("VPC in the report");
    assert_eq!(ours.outcome, Outcome::Changed, "{}", report.to_text());
    let endpoints = assert_converged(&w.seed, &vpc, &FOUR_AZS).await?;
    assert_eq!(policy_resources(&endpoints[NOTEBOOK]), [arn("nb-1"), arn("nb-2")]);
    let writes = w.moto.writes().await?;
    assert_eq!(writes, 2, "one modify per endpoint once available");
    println!("RELIABILITY pending: {waits} invocations while pending, 0 writes; then 1 sweep, {writes} writes");
    Ok(())
}

#[tokio::test]
async fn endpoint_deleted_out_of_band_is_recreated_by_the_next_sweep() -> Result<()> {
    let w = World::start(0x5eed_0005).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    w.guard().run(notebook_event("nb-1", &subnets[0])).await?;
    let mut deleted = Vec::new();
    // Three doors: the schedule, a manual payload naming the VPC, and the DeleteVpcEndpoints
    // CloudTrail event itself (remediate's drift events).
    for round in 0..3 {
        let endpoints = assert_converged(&w.seed, &vpc, &AZS).await?;
        let victim = endpoints[NOTEBOOK].vpc_endpoint_id().unwrap_or_default().to_string();
        w.seed.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&victim).send().await?;
        let trigger = match round {
            0 => sweep(),
            1 => parse_remediate(&events::remediate(&[&vpc], false))?,
            _ => {
                let mut event = events::load("delete-vpc-endpoints.json");
                event["detail"]["requestParameters"]["DeleteVpcEndpointsRequest"]["VpcEndpointId"]["content"] =
                    json!(victim);
                parse_remediate_in(&event, "us-west-2")?
            }
        };
        deleted.push(victim);

        let report = w.guard().run(trigger).await?;
        let ours = report.vpcs.iter().find(|v| v.vpc_id == vpc).expect("VPC in the report");
        assert_eq!(ours.outcome, Outcome::Changed, "round {round}: {}", report.to_text());
        let endpoints = assert_converged(&w.seed, &vpc, &AZS).await?;
        let recreated = &endpoints[NOTEBOOK];
        let id = recreated.vpc_endpoint_id().unwrap_or_default();
        assert!(!deleted.iter().any(|d| d == id), "round {round}: the deleted endpoint {id} was handed back");
        assert_eq!(recreated.state().map(|s| s.as_str()), Some("available"));
        assert_eq!(tag(recreated, "vpce-guard:managed"), Some("true"));
        assert_eq!(policy_resources(recreated), [arn("nb-1")]);
    }
    let all = w.seed.endpoints(&vpc).await?;
    for id in &deleted {
        let state = all.iter().find(|e| e.vpc_endpoint_id() == Some(id)).and_then(|e| e.state()).map(|s| s.as_str());
        assert_eq!(state, Some("deleted"), "{id} stays deleted");
    }
    println!("RELIABILITY drift: 3 endpoints deleted out of band, 3 recreated with new ids, 0 handed back");
    Ok(())
}

#[tokio::test]
async fn private_dns_held_by_a_hosted_zone_is_reported_without_loop_or_duplicate() -> Result<()> {
    let w = World::start(0x5eed_0006).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    w.moto.hosted_zone(&vpc, API).await?;
    // Local endpoints wanted anyway (VPCE_GUARD_ON_DNS_CONFLICT=create): AWS refuses the name.
    let create = || {
        w.guard_configured(
            Config { on_dns_conflict: OnDnsConflict::Create, ..Config::default() },
            Duration::from_secs(10),
        )
    };
    let warm = create();
    let mut writes_per_invocation = Vec::new();
    for invocation in 0..8 {
        let before = w.moto.writes().await?;
        let report = match invocation {
            0..=3 => warm.run(notebook_event("nb-1", &subnets[0])).await?,
            4..=6 => create().run(notebook_event("nb-1", &subnets[0])).await?,
            _ => create().run(sweep()).await?,
        };
        let ours = report.vpcs.iter().find(|v| v.vpc_id == vpc).expect("VPC in the report");
        assert_eq!(ours.outcome, Outcome::NonCompliant, "{}", report.to_text());
        let problem = ours.problems.iter().find(|p| p.code == "private_dns_conflict").expect("private_dns_conflict");
        assert!(
            problem.message.contains(API) && problem.message.contains(&vpc) && problem.message.contains("hosted zone"),
            "the message names the service, the VPC and the likely cause: {}",
            problem.message
        );
        writes_per_invocation.push(w.moto.writes().await? - before);
    }
    // First: DNS, group, rule, then both endpoints (the API one without private DNS: the zone
    // is listed by ListHostedZonesByVPC, so no create is refused). Later runs, warm or cold,
    // see the zone too and spend no write.
    assert_eq!(writes_per_invocation[0], 5, "{writes_per_invocation:?}");
    assert_eq!(writes_per_invocation[1..4], [0, 0, 0], "warm process: {writes_per_invocation:?}");
    assert!(writes_per_invocation[4..].iter().all(|&n| n == 0), "cold processes: {writes_per_invocation:?}");
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1, "no duplicate");
    assert_eq!(endpoints[NOTEBOOK].len(), 1);
    assert_eq!(endpoints[API][0].private_dns_enabled(), Some(false));
    assert_eq!(duplicates(&w.seed, &vpc).await?, (0, 0));
    let creates = w.moto.calls().await?.get("CreateVpcEndpoint").copied().unwrap_or(0);
    assert_eq!(creates, 2);
    println!("RELIABILITY hosted_zone: 8 invocations, writes per invocation {writes_per_invocation:?}, 1 endpoint per service");
    Ok(())
}

/// Someone creates the API endpoint by hand, private DNS on, while the guard's own
/// `CreateVpcEndpoint` is on its way (the proxy holds it until theirs exists): AWS refuses ours
/// with its conflicting-DNS error. Returns the report of that invocation, the report of the same
/// event again on the same (warm) process, and the hand-made endpoint's id.
async fn race_for_the_dns_name(
    w: &World,
    guard: Guard<SdkAccount>,
    vpc: &str,
    subnet: &str,
) -> Result<(Report, Report, String)> {
    w.proxy.hold(Hold::of(&["CreateVpcEndpoint"]));
    let event = notebook_event("nb-1", subnet);
    let run = tokio::spawn(async move {
        let report = guard.run(event).await;
        (guard, report)
    });
    w.proxy.until_held(1).await?;
    let theirs = w
        .seed
        .ec2
        .create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(API)
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .private_dns_enabled(true)
        .send()
        .await?
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .map(str::to_string)
        .expect("endpoint id");
    w.proxy.release();
    let (guard, report) = run.await?;
    let again = guard.run(notebook_event("nb-1", subnet)).await?;
    Ok((report?, again, theirs))
}

#[tokio::test]
async fn endpoint_made_by_hand_during_an_invocation_is_adopted_not_duplicated_with_the_opt_in() -> Result<()> {
    let w = World::start(0x5eed_0007).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let (report, again, theirs) = race_for_the_dns_name(&w, w.adopting_guard(), &vpc, &subnets[0]).await?;
    assert!(!report.vpcs[0].actions.is_empty(), "{}", report.to_text());
    let endpoints = assert_converged(&w.seed, &vpc, &AZS).await?;
    assert_eq!(endpoints[API].vpc_endpoint_id(), Some(theirs.as_str()), "theirs adopted, not duplicated");
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    Ok(())
}

/// By default the endpoint that won the race is someone else's: reported with what differs
/// (`unmanaged_endpoint`, not a `private_dns_conflict`), never modified, never duplicated.
#[tokio::test]
async fn endpoint_made_by_hand_during_an_invocation_is_reported_not_duplicated_by_default() -> Result<()> {
    let w = World::start(0x5eed_000b).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let (report, again, theirs) = race_for_the_dns_name(&w, w.guard(), &vpc, &subnets[0]).await?;
    for report in [&report, &again] {
        let vpc_report = &report.vpcs[0];
        assert_eq!(vpc_report.outcome, Outcome::NonCompliant, "{}", report.to_text());
        let codes: Vec<&str> = vpc_report.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["unmanaged_endpoint"], "{}", report.to_text());
        assert!(vpc_report.problems[0].message.contains(&theirs), "{}", report.to_text());
    }
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    assert_eq!(w.moto.calls().await?.get("ModifyVpcEndpoint").copied().unwrap_or(0), 0);
    let endpoints = w.seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1, "no duplicate");
    assert_eq!(endpoints[API][0].vpc_endpoint_id(), Some(theirs.as_str()));
    Ok(())
}

#[tokio::test]
async fn conflict_lost_to_an_endpoint_that_is_then_adopted_is_not_reported() -> Result<()> {
    let w = World::start(0x5eed_000a).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let (report, again, _) = race_for_the_dns_name(&w, w.adopting_guard(), &vpc, &subnets[0]).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_eq!(again.vpcs[0].outcome, Outcome::Compliant, "warm process: {}", again.to_text());
    for report in [&report, &again] {
        let conflict = report.vpcs[0].problems.iter().find(|p| p.code == "private_dns_conflict");
        assert!(conflict.is_none(), "the adopted endpoint holds the DNS name: {}", report.to_text());
    }
    Ok(())
}

/// Every write the guard makes to bring a VPC into line.
const WRITES: [&str; 4] =
    ["ModifyVpcAttribute", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateVpcEndpoint"];

/// The deadline tests give a run this long for its reads before the first write, with the
/// deadline margin after it. The proxy holds that write until this time has passed, so that the
/// write is made before the deadline and the next one would come after it, however fast or slow
/// the machine: a run whose reads take longer fails the test ("ended before its first write").
/// The reads take about a second.
const READS: Duration = Duration::from_secs(15);

/// [`READS`] for a function binary: shorter, because the held write must come back within the
/// binaries' 10 s attempt timeout (`sdk_loader`), after which the SDK would send it again.
const FUNCTION_READS: Duration = Duration::from_secs(8);

/// The deadline margin the function binaries keep (`Guard`'s default).
const FUNCTION_MARGIN: Duration = Duration::from_secs(10);

/// An in-process run of notebook `nb-1`'s event with a deadline [`READS`] + `margin` away,
/// started with every write held by the proxy, once its first write is held.
struct HeldRun {
    run: tokio::task::JoinHandle<vpce_guard::Result<Report>>,
    started: Instant,
    deadline: Instant,
}

impl World {
    async fn run_until_first_write_is_held(&self, margin: Duration, subnet: &str) -> Result<HeldRun> {
        self.proxy.hold(Hold::of(&WRITES));
        let guard = self.guard_with(margin);
        let started = Instant::now();
        let deadline = started + READS + margin;
        let options = RunOptions { deadline: Some(deadline), ..RunOptions::default() };
        let event = notebook_event("nb-1", subnet);
        let mut run = tokio::spawn(async move { guard.run_with(event, &options).await });
        tokio::select! {
            held = self.proxy.until_held(1) => held?,
            report = &mut run => panic!("the run ended before its first write: {}", report??.to_text()),
        }
        Ok(HeldRun { run, started, deadline })
    }
}

#[tokio::test]
async fn invocation_near_its_deadline_stops_before_the_next_write_and_reports_pending() -> Result<()> {
    let w = World::start(0x5eed_0008).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    // Writes may start during the first READS; the first one is held until they are over.
    let margin = Duration::from_secs(10);
    w.moto.reset_calls().await?;
    let HeldRun { run, started, deadline } = w.run_until_first_write_is_held(margin, &subnets[0]).await?;
    while Instant::now() < deadline - margin {
        tokio::time::sleep_until((deadline - margin).into()).await;
    }
    w.proxy.release();
    let report = run.await??;
    let returned = started.elapsed();
    // The deadline itself is the behaviour under test: the run must answer in time. What is left
    // of the budget after the release is the whole margin (10 s) for one call to the fixture and
    // the report; load alone does not take that long.
    assert!(Instant::now() < deadline, "returned after the deadline: {returned:?}");
    let ours = &report.vpcs[0];
    assert_eq!(ours.outcome, Outcome::Pending, "{}", report.to_text());
    assert!(ours.reason.as_deref().is_some_and(|r| r.contains("deadline")), "{:?}", ours.reason);
    assert_eq!(report.api_calls.write, 1, "the held write, and none after the deadline: {}", report.to_text());
    assert_eq!(ours.actions.len(), 1, "{}", report.to_text());
    assert_eq!(w.moto.writes().await?, 1, "{:?}", w.moto.calls().await?);
    assert!(w.seed.endpoints(&vpc).await?.is_empty());

    let report = w.guard().run(notebook_event("nb-1", &subnets[0])).await?;
    assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;
    println!(
        "RELIABILITY deadline in-process: the first write released at the margin, returned {returned:?} into a \
         {:?} budget with 1 write of 5; next run finished",
        READS + margin
    );
    Ok(())
}

/// A write AWS is slow to answer (held by the proxy, and not released before the deadline):
/// an SDK call may last longer than the deadline margin (its operation timeout is 25 s), and
/// Lambda ends the process at the deadline. The run gives the write up just before the deadline
/// and answers `pending`; the next run finishes, with no duplicate whatever became of the write.
#[tokio::test]
async fn a_write_still_in_flight_at_the_deadline_is_given_up_and_the_run_answers_in_time() -> Result<()> {
    let w = World::start(0x5eed_0010).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    let margin = Duration::from_secs(10);
    let HeldRun { run, started, deadline } = w.run_until_first_write_is_held(margin, &subnets[0]).await?;
    // Not released: the run must give the write up on its own (waited for a little past the
    // deadline, where Lambda would have ended the process).
    let report = match tokio::time::timeout_at((deadline + Duration::from_secs(5)).into(), run).await {
        Ok(report) => report??,
        Err(_) => panic!("no answer by the deadline: the run waited on the write in flight"),
    };
    let returned = started.elapsed();
    assert!(Instant::now() < deadline, "returned after the deadline: {returned:?} of {:?}", READS + margin);
    let ours = &report.vpcs[0];
    assert_eq!(ours.outcome, Outcome::Pending, "{}", report.to_text());
    assert!(ours.reason.as_deref().is_some_and(|r| r.contains("deadline")), "{:?}", ours.reason);
    assert!(ours.actions.is_empty(), "the write given up is not reported as made: {}", report.to_text());

    w.proxy.release();
    let report = w.guard().run(notebook_event("nb-1", &subnets[0])).await?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;
    println!(
        "RELIABILITY write in flight at the deadline: given up, answered in {returned:?} of a {:?} budget \
         (cut {:?} before the deadline), pending; next run finished",
        READS + margin,
        vpce_guard::guard::CUT_MARGIN
    );
    Ok(())
}

#[tokio::test]
async fn function_near_its_deadline_reports_pending_instead_of_being_killed() -> Result<()> {
    let w = World::start(0x5eed_0009).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    // The function may start writes during the first FUNCTION_READS of its budget; its first
    // write is held until they are over.
    w.proxy.hold(Hold::of(&WRITES));
    let budget = FUNCTION_READS + FUNCTION_MARGIN;
    let function = Function::start_with_deadline(&binary("on-notebook-created"), &w.proxy.env(&w.moto), budget).await?;
    let started = Instant::now();
    let invocation = function.invoke(events::notebook_created("nb-1", &subnets[0]));
    tokio::pin!(invocation);
    tokio::select! {
        held = w.proxy.until_held(1) => held?,
        answer = &mut invocation => panic!("the function answered before its first write: {:?}", answer?),
    }
    // The function stops writing at its deadline less its margin, on the deadline the harness
    // handed it (to the millisecond, hence the 10 ms).
    let deadline = function.last_deadline().expect("invoked");
    let stop_by = deadline - FUNCTION_MARGIN + Duration::from_millis(10);
    while let Ok(left) = stop_by.duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
    w.proxy.release();
    let response = invocation.await?;
    let returned = started.elapsed();
    let report: Report = serde_json::from_value(response.expect("the invocation answers"))?;
    // As above: after the release the function has its whole margin (10 s) to answer.
    assert!(SystemTime::now() < deadline, "answered after the deadline: {returned:?}");
    assert_eq!(report.vpcs[0].outcome, Outcome::Pending, "{}", report.to_text());
    assert!(report.vpcs[0].reason.as_deref().is_some_and(|r| r.contains("deadline")));
    assert_eq!(report.api_calls.write, 1, "the held write, and none after the deadline: {}", report.to_text());
    assert!(w.seed.endpoints(&vpc).await?.is_empty());

    let report: Report = serde_json::from_value(
        function.invoke(events::notebook_created("nb-1", &subnets[0])).await?.expect("answers"),
    )?;
    assert!(converged(&report), "{}", report.to_text());
    assert_converged(&w.seed, &vpc, &AZS).await?;
    println!("RELIABILITY deadline binary: the first write released at the margin, answered in {returned:?} of a {budget:?} budget, pending; next invocation finished");
    Ok(())
}

#[tokio::test]
async fn function_throttled_twice_still_answers_before_its_deadline() -> Result<()> {
    let w = World::start(0x5eed_000b).await?;
    let Arranged { vpc, subnets, .. } = w.vpc_with_notebook(0, &AZS, 2, "nb-1").await?;
    // One read of the observation is throttled twice (measured without a deadline: the
    // invocation then takes 26 s, against 1 s unthrottled).
    let throttled = FaultConfig::faults(1.0).with_kinds(&[FaultKind::Throttle]).targeting("DescribeSecurityGroups");
    w.proxy.set(throttled.at_most(2));
    let budget = Duration::from_secs(15);
    let function = Function::start_with_deadline(&binary("on-notebook-created"), &w.proxy.env(&w.moto), budget).await?;
    let started = Instant::now();
    let response = function.invoke(events::notebook_created("nb-1", &subnets[0])).await?;
    let returned = started.elapsed();
    println!("RELIABILITY adaptive retries: answered in {returned:?} of a {budget:?} budget: {response:?}");
    assert_eq!(w.proxy.faults(), [("RequestLimitExceeded".to_string(), 2)].into(), "both throttles were answered");
    // The deadline is the behaviour under test, so the wall clock stays: the function stops
    // starting writes 10 s before its deadline (5 s into the budget) and its waits between
    // throttled attempts are capped at 2 s; unthrottled, the invocation takes about a second.
    // Load would have to stretch that second past 15 s to fail the test for no fault of the code.
    assert!(returned < budget, "answered after the deadline (Lambda would have killed it): {returned:?}");
    assert!(w.seed.endpoints(&vpc).await?.len() <= 2);
    Ok(())
}
