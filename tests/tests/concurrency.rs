//! Concurrency: many invocations on one VPC at the same time, as EventBridge delivers a burst
//! of `CreateNotebookInstance` and `CreateSubnet` events to two Lambda functions that each
//! scale out. Most run as separate in-process reconcilers (separate SDK clients and warm
//! state), the rest as separate function processes under the Runtime API harness; all reach the
//! strict fixture through the proxy, which adds random latency to shuffle their calls. The
//! account must end with exactly one endpoint per service and one subnet per AZ: the
//! deterministic `ClientToken` and the re-planning on conflicts must hold. Figures are printed
//! on a `RELIABILITY` line (`-- --nocapture`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use aws_config::retry::RetryConfig;
use serde_json::{json, Value};
use tokio::sync::Barrier;
use vpce_guard::aws::{SdkAccount, WritePacer};
use vpce_guard::config::Config;
use vpce_guard::events::{parse_notebook_created, parse_remediate, parse_subnet_created};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::Guard;
use vpce_guard_tests::moto::{Moto, Window};
use vpce_guard_tests::proxy::{FaultConfig, Hold, Proxy};
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events};

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";
const AZS: [&str; 4] = ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"];
/// Invocations in one burst.
const BURST: usize = 20;
/// Of which this many run in function processes (the rest in-process).
const IN_PROCESSES: usize = 8;
/// Delay between two waves of a burst.
const SPREAD: Duration = Duration::from_millis(120);
/// Invocations start in waves of this many at once, [`SPREAD`] apart.
const WAVES: usize = 10;
/// AZs of the subnets created during a burst, in order: the fourth AZ appears mid-burst, when
/// the first invocations have made the endpoints without it.
const NEW_SUBNET_AZS: [&str; 10] = [
    "us-west-2a",
    "us-west-2b",
    "us-west-2c",
    "us-west-2a",
    "us-west-2d",
    "us-west-2b",
    "us-west-2c",
    "us-west-2a",
    "us-west-2d",
    "us-west-2b",
];
/// Invocations of one event before giving up (Lambda retries failed ones).
const LAMBDA_TRIES: usize = 6;

/// One event of the burst.
#[derive(Debug, Clone)]
enum Event {
    Notebook {
        name: String,
        subnet: String,
    },
    Subnet {
        subnet: String,
        vpc: String,
        az: String,
    },
    /// A subnet to create just before its `CreateSubnet` event is fired.
    NewSubnet {
        vpc: String,
        cidr: String,
        az: String,
    },
}

impl Event {
    fn payload(&self) -> Value {
        match self {
            Event::Notebook { name, subnet } => events::notebook_created(name, subnet),
            Event::Subnet { subnet, vpc, az } => events::subnet_created(subnet, vpc, az),
            Event::NewSubnet { .. } => unreachable!("created before it is fired"),
        }
    }

    fn binary(&self) -> &'static str {
        match self {
            Event::Notebook { .. } => "on-notebook-created",
            Event::Subnet { .. } | Event::NewSubnet { .. } => "on-subnet-created",
        }
    }
}

/// Where an invocation runs.
enum Runner {
    InProcess(Box<Guard<SdkAccount>>),
    Process(Box<Function>),
}

impl Runner {
    /// Runs `event` until an invocation succeeds (as Lambda's retries would); returns the
    /// report and the error types of the failed invocations on the way.
    async fn run(&self, event: &Event) -> Result<(Report, Vec<String>)> {
        let mut failures = Vec::new();
        for _ in 0..LAMBDA_TRIES {
            let outcome = match self {
                Runner::InProcess(guard) => {
                    let payload = event.payload();
                    let parsed = match event {
                        Event::Notebook { .. } => parse_notebook_created(&payload, "us-west-2")?,
                        _ => parse_subnet_created(&payload, "us-west-2")?,
                    };
                    guard.run(parsed).await.map_err(|e| (e.error_type(), e.to_string()))
                }
                Runner::Process(function) => match function.invoke(event.payload()).await? {
                    Ok(value) => Ok(serde_json::from_value(value)?),
                    Err(error) => Err((error.error_type, error.error_message)),
                },
            };
            match outcome {
                Ok(report) => return Ok((report, failures)),
                Err((error_type, message)) => {
                    assert!(error_type.starts_with("Transient."), "{error_type}: {message}");
                    failures.push(error_type);
                }
            }
        }
        bail!("{event:?}: no success in {LAMBDA_TRIES} invocations: {failures:?}")
    }
}

struct World {
    moto: Moto,
    proxy: Proxy,
    seed: Seed,
}

impl World {
    async fn start(seed: u64) -> Result<Self> {
        let moto = Moto::start().await?;
        let proxy = Proxy::in_front_of(&moto, seed).await?;
        // 0–40 ms per call, so that the reconcilers' calls interleave differently each time.
        proxy.set(FaultConfig::default().with_latency(Duration::ZERO, Duration::from_millis(40)));
        Ok(Self { seed: Seed::new(&moto.sdk_config()), proxy, moto })
    }

    fn guard(&self) -> Guard<SdkAccount> {
        let retries = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(20));
        let account = SdkAccount::new(&self.proxy.sdk_config(retries))
            .expect("region is set")
            .with_write_pacer(WritePacer::new(100.0, 100.0));
        // The strict `vpc-notebooks`: concurrent writers of its per-VPC ARN list.
        Guard::new(account, strict()).with_visibility_retries(Vec::new())
    }

    /// A VPC 10.n.0.0/16 with two subnets in each of the first three AZs and a notebook in
    /// each of them; returns the VPC and the burst's events: notebook events and `CreateSubnet`
    /// events alternating, each subnet created (in the four AZs in turn, the fourth one new to
    /// the VPC) just before its event is fired.
    async fn arrange(&self, n: u8) -> Result<(String, Vec<Event>)> {
        let (vpc, by_az) = self.seed.vpc_with_subnets(n, &AZS[..3], 2).await?;
        let group = self.seed.notebook_group(&vpc).await?;
        let mut notebooks = Vec::new();
        for (index, ids) in by_az.values().enumerate() {
            let name = format!("nb-{n}-{index}");
            self.seed.notebook(&name, &ids[0], &group).await?;
            notebooks.push(Event::Notebook { name, subnet: ids[0].clone() });
        }
        let events = (0..BURST)
            .map(|i| match i % 2 {
                0 => notebooks[(i / 2) % notebooks.len()].clone(),
                _ => Event::NewSubnet {
                    vpc: vpc.clone(),
                    cidr: format!("10.{n}.{}.0/24", 100 + i),
                    az: NEW_SUBNET_AZS[(i / 2) % NEW_SUBNET_AZS.len()].to_string(),
                },
            })
            .collect();
        Ok((vpc, events))
    }

    /// Fires `events` in [`WAVES`] waves of simultaneous invocations, [`SPREAD`] apart (so that
    /// each wave meets the earlier ones' work half done), the last [`IN_PROCESSES`] in function
    /// processes of their own.
    async fn burst(&self, events: Vec<Event>) -> Result<Vec<(Report, Vec<String>)>> {
        let mut env = self.proxy.env(&self.moto);
        env.push(("VPCE_GUARD_NOTEBOOK_POLICY".into(), "vpc-notebooks".into()));
        let mut runners = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let runner = if index >= events.len() - IN_PROCESSES {
                Runner::Process(Box::new(Function::start(&binary(event.binary()), &env).await?))
            } else {
                Runner::InProcess(Box::new(self.guard()))
            };
            runners.push(runner);
        }
        let barrier = Arc::new(Barrier::new(events.len()));
        let tasks: Vec<_> = runners
            .into_iter()
            .zip(events)
            .enumerate()
            .map(|(index, (runner, event))| {
                let (barrier, seed) = (barrier.clone(), self.seed.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    tokio::time::sleep(SPREAD * (index % WAVES) as u32).await;
                    let event = match event {
                        Event::NewSubnet { vpc, cidr, az } => {
                            let subnet = seed.subnet(&vpc, &cidr, &az).await?;
                            Event::Subnet { subnet, vpc, az }
                        }
                        other => other,
                    };
                    runner.run(&event).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await??);
        }
        Ok(results)
    }

    /// One live endpoint per service, one subnet in every AZ, one managed group, and the
    /// notebook policy naming every notebook of the VPC.
    async fn assert_one_of_each(&self, vpc: &str, notebooks: &[String]) -> Result<()> {
        let endpoints = self.seed.live_endpoints(vpc).await?;
        assert_eq!(endpoints.keys().map(String::as_str).collect::<Vec<_>>(), [NOTEBOOK, API]);
        for (service, list) in &endpoints {
            assert_eq!(list.len(), 1, "exactly one endpoint for {service}: {list:#?}");
            assert_eq!(self.seed.endpoint_azs(vpc, &list[0]).await?, AZS, "{service}: one subnet per AZ");
            assert_eq!(list[0].private_dns_enabled(), Some(true));
        }
        let groups = self.seed.ec2.describe_security_groups().send().await?;
        let managed = groups
            .security_groups()
            .iter()
            .filter(|g| g.vpc_id() == Some(vpc) && g.group_name() == Some("vpce-guard-endpoints"))
            .count();
        assert_eq!(managed, 1, "one managed security group");
        let policy: Value = serde_json::from_str(endpoints[NOTEBOOK][0].policy_document().unwrap_or("{}"))?;
        let mut resources: Vec<String> =
            serde_json::from_value(policy["Statement"][0]["Resource"].clone()).unwrap_or_default();
        resources.sort();
        let mut wanted: Vec<String> = notebooks
            .iter()
            .map(|n| format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{n}"))
            .collect();
        wanted.sort();
        assert_eq!(resources, wanted);
        Ok(())
    }

    /// A sweep without latency finds the VPC compliant and writes nothing.
    async fn assert_settled(&self, vpc: &str) -> Result<()> {
        self.proxy.set(FaultConfig::default());
        let writes = self.moto.writes().await?;
        let report = self.guard().run(parse_remediate(&json!({"vpc_ids": [vpc]}))?).await?;
        assert_eq!(report.vpcs[0].outcome, Outcome::Compliant, "{}", report.to_text());
        assert_eq!(self.moto.writes().await?, writes);
        Ok(())
    }
}

fn notebook_names(events: &[Event]) -> Vec<String> {
    let mut names: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Notebook { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn outcomes(results: &[(Report, Vec<String>)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (report, _) in results {
        for vpc in &report.vpcs {
            *counts.entry(vpc.outcome.to_string()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_invocations_on_one_vpc_make_one_endpoint_per_service_and_one_subnet_per_az() -> Result<()> {
    let w = World::start(0xc0c0_0001).await?;
    let (vpc, burst) = w.arrange(0).await?;
    let notebooks = notebook_names(&burst);
    w.moto.reset_calls().await?;

    let results = w.burst(burst).await?;

    for (report, _) in &results {
        let ours = &report.vpcs[0];
        assert!(
            matches!(ours.outcome, Outcome::Changed | Outcome::Compliant),
            "no invocation gives up: {}",
            report.to_text()
        );
    }
    w.assert_one_of_each(&vpc, &notebooks).await?;
    let calls = w.moto.calls().await?;
    w.assert_settled(&vpc).await?;
    let failed: Vec<&String> = results.iter().flat_map(|(_, f)| f).collect();
    println!(
        "RELIABILITY concurrency: {BURST} parallel invocations ({IN_PROCESSES} in processes), outcomes {:?}, \
         {} failed and retried {failed:?}, CreateVpcEndpoint {} / ModifyVpcEndpoint {} / CreateSecurityGroup {} \
         calls served, duplicates 0",
        outcomes(&results),
        failed.len(),
        calls.get("CreateVpcEndpoint").unwrap_or(&0),
        calls.get("ModifyVpcEndpoint").unwrap_or(&0),
        calls.get("CreateSecurityGroup").unwrap_or(&0),
    );
    Ok(())
}

/// The other shape of a burst: 20 notebooks created at once in 20 VPCs, one event each, all
/// invocations in parallel (no reserved concurrency: nothing serialises them). Every VPC ends
/// with one endpoint per service in each of its AZs; wall time and calls are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_invocations_on_twenty_vpcs_each_get_their_endpoints() -> Result<()> {
    let w = World::start(0xc0c0_0004).await?;
    let mut vpcs = Vec::new();
    let mut burst = Vec::new();
    for n in 0..BURST as u8 {
        let (vpc, by_az) = w.seed.vpc_with_subnets(40 + n, &AZS[..3], 1).await?;
        let group = w.seed.notebook_group(&vpc).await?;
        let (name, subnet) = (format!("nb-{n}"), by_az[AZS[0]][0].clone());
        w.seed.notebook(&name, &subnet, &group).await?;
        burst.push(Event::Notebook { name, subnet });
        vpcs.push(vpc);
    }
    w.moto.reset_calls().await?;
    let started = std::time::Instant::now();

    let results = w.burst(burst).await?;

    let elapsed = started.elapsed();
    for (report, _) in &results {
        assert_eq!(report.vpcs[0].outcome, Outcome::Changed, "{}", report.to_text());
    }
    for vpc in &vpcs {
        let endpoints = w.seed.live_endpoints(vpc).await?;
        assert_eq!(endpoints.keys().map(String::as_str).collect::<Vec<_>>(), [NOTEBOOK, API]);
        for list in endpoints.values() {
            assert_eq!(list.len(), 1, "{list:#?}");
            assert_eq!(w.seed.endpoint_azs(vpc, &list[0]).await?, AZS[..3]);
        }
    }
    let calls = w.moto.calls().await?;
    let failed: Vec<&String> = results.iter().flat_map(|(_, f)| f).collect();
    println!(
        "RELIABILITY concurrency 20 VPCs: {BURST} parallel invocations ({IN_PROCESSES} in processes) on {BURST} VPCs in {} ms \
         (0–40 ms latency per call), outcomes {:?}, {} failed and retried {failed:?}, CreateVpcEndpoint {} \
         calls served for {} endpoints",
        elapsed.as_millis(),
        outcomes(&results),
        failed.len(),
        calls.get("CreateVpcEndpoint").unwrap_or(&0),
        2 * BURST,
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_invocations_while_endpoints_are_pending_leave_one_endpoint_per_service() -> Result<()> {
    let w = World::start(0xc0c0_0002).await?;
    // New endpoints stay pending until the test settles them: every invocation that comes after
    // the first creates meets them pending (how many do depends on the machine's speed).
    w.moto.hold(&[Window::Pending]).await?;
    let (vpc, burst) = w.arrange(1).await?;
    let notebooks = notebook_names(&burst);
    let replays: Vec<Event> = burst.iter().filter(|e| matches!(e, Event::Notebook { .. })).cloned().collect();

    let results = w.burst(burst).await?;

    for (report, _) in &results {
        let ours = &report.vpcs[0];
        assert!(
            matches!(ours.outcome, Outcome::Changed | Outcome::Compliant | Outcome::Pending),
            "{}",
            report.to_text()
        );
    }
    // The notebook events again, all at once, while both endpoints are certainly still pending:
    // none writes, none creates another endpoint.
    let writes = w.moto.writes().await?;
    let replayed = w.burst(replays).await?;
    for (report, _) in &replayed {
        let ours = &report.vpcs[0];
        assert!(matches!(ours.outcome, Outcome::Compliant | Outcome::Pending), "{}", report.to_text());
        assert!(ours.endpoints.iter().all(|e| e.state == "pending"), "{}", report.to_text());
    }
    assert_eq!(w.moto.writes().await?, writes, "no write while the endpoints are pending");
    // AWS is done: both endpoints were pending until now, and nothing is held any more.
    w.moto.hold(&[]).await?;
    let settled = w.moto.settle_all().await?;
    assert_eq!(settled.len(), 2, "one endpoint per service, pending until now: {settled:?}");
    assert!(settled.values().all(|state| state == "available"), "{settled:?}");
    // Whatever was pending, the next sweep finishes.
    w.proxy.set(FaultConfig::default());
    let sweep = w.guard().run(parse_remediate(&json!({"vpc_ids": [vpc]}))?).await?;
    assert!(matches!(sweep.vpcs[0].outcome, Outcome::Changed | Outcome::Compliant), "{}", sweep.to_text());
    w.assert_one_of_each(&vpc, &notebooks).await?;
    w.assert_settled(&vpc).await?;
    println!(
        "RELIABILITY concurrency pending: {BURST} parallel invocations, outcomes {:?}; {} replays while pending, \
         outcomes {:?}, 0 writes; duplicates 0",
        outcomes(&results),
        replayed.len(),
        outcomes(&replayed)
    );
    Ok(())
}

/// Two invocations for two new notebooks overlap: the one that observed fewer notebooks writes
/// the notebook endpoint's policy last. The proxy of the first holds its `ModifyVpcEndpoint`
/// until the second invocation has returned, so the order is certain. Returns the policy's
/// notebook names after both, and after the next sweep.
async fn overlapping_policy_writes() -> Result<(Vec<String>, Vec<String>)> {
    let w = World::start(0xc0c0_0003).await?;
    let slow = Proxy::in_front_of(&w.moto, 1).await?;
    let (vpc, by_az) = w.seed.vpc_with_subnets(2, &AZS[..3], 1).await?;
    let subnets: Vec<String> = by_az.into_values().flatten().collect();
    let group = w.seed.notebook_group(&vpc).await?;
    w.seed.notebook("nb-1", &subnets[0], &group).await?;
    w.proxy.set(FaultConfig::default());
    let notebook =
        |name: &str, subnet: &str| parse_notebook_created(&events::notebook_created(name, subnet), "us-west-2");
    w.guard().run(notebook("nb-1", &subnets[0])?).await?;

    w.seed.notebook("nb-2", &subnets[1], &group).await?;
    slow.hold(Hold::of(&["ModifyVpcEndpoint"]));
    let retries = RetryConfig::standard().with_max_attempts(3);
    let late = Guard::new(SdkAccount::new(&slow.sdk_config(retries))?, strict()).with_visibility_retries(vec![]);
    let first = notebook("nb-2", &subnets[1])?;
    let held = tokio::spawn(async move { late.run(first).await });
    slow.until_held(1).await?;
    w.seed.notebook("nb-3", &subnets[2], &group).await?;
    let second = w.guard().run(notebook("nb-3", &subnets[2])?).await?;
    assert_eq!(second.vpcs[0].outcome, Outcome::Changed, "{}", second.to_text());
    assert!(!held.is_finished(), "the first invocation waits for its write");
    slow.release();
    let first = held.await??;
    assert_eq!(first.vpcs[0].outcome, Outcome::Changed, "{}", first.to_text());

    let names = |w: &World| {
        let (seed, vpc) = (w.seed.clone(), vpc.clone());
        async move {
            let endpoints = seed.live_endpoints(&vpc).await?;
            let policy: Value = serde_json::from_str(endpoints[NOTEBOOK][0].policy_document().unwrap_or("{}"))?;
            let resources: Vec<String> = serde_json::from_value(policy["Statement"][0]["Resource"].clone())?;
            let mut names: Vec<String> =
                resources.iter().filter_map(|r| r.rsplit('/').next().map(str::to_string)).collect();
            names.sort();
            anyhow::Ok(names)
        }
    };
    let after_both = names(&w).await?;
    w.guard().run(parse_remediate(&json!({"vpc_ids": [vpc]}))?).await?;
    Ok((after_both, names(&w).await?))
}

#[tokio::test]
async fn a_sweep_repairs_a_policy_overwritten_by_an_older_view() -> Result<()> {
    let (_, after_sweep) = overlapping_policy_writes().await?;
    assert_eq!(after_sweep, ["nb-1", "nb-2", "nb-3"]);
    Ok(())
}

#[tokio::test]
async fn overlapping_notebook_events_keep_every_notebook_in_the_policy() -> Result<()> {
    let (after_both, _) = overlapping_policy_writes().await?;
    assert_eq!(after_both, ["nb-1", "nb-2", "nb-3"], "nb-3's event was answered `changed`, then undone");
    Ok(())
}

fn strict() -> Config {
    Config { notebook_policy: vpce_guard::config::NotebookPolicy::VpcNotebooks, ..Config::default() }
}
