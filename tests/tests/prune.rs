//! Idle VPCs and the opt-in prune (issue 20), through the real binaries (`remediate`,
//! `on-subnet-created`, `on-notebook-created`, `vpce-guard`) against the strict fixture, which
//! keeps deleted endpoints `deleting` (holding their network interfaces, so their security group)
//! until the test settles them: an idle VPC is reported and nothing deleted by default; with
//! `0s` the schedule's sweep deletes only the idle VPC's managed endpoints (the user's own
//! endpoint in the same VPC and a busy VPC's endpoints stay), then the group, and a replay
//! writes nothing; with a grace period nothing is deleted on the first sweep; an event in an idle
//! VPC never deletes; a notebook created during the grace period cancels the prune; the CLI's
//! plan shows the deletions and its apply asks for them.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_ec2::types::VpcEndpointType;
use serde_json::Value;
use vpce_guard::model::{TAG_IDLE_SINCE, TAG_MANAGED};
use vpce_guard::report::{Action, Code, Outcome, Report, VpcReport};
use vpce_guard_tests::moto::{Moto, Window};
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::{tag, Seed};
use vpce_guard_tests::{binary, events};

const AZS: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
const API: &str = "com.amazonaws.us-west-2.sagemaker.api";

/// An idle VPC (its notebook deleted; the user's own API endpoint beside vpce-guard's notebook
/// endpoint) and a busy one (a notebook, both managed endpoints), in the fixture.
struct Account {
    moto: Moto,
    seed: Seed,
    idle: String,
    busy: String,
    theirs: String,
    subnets: BTreeMap<String, Vec<String>>,
    /// The idle VPC's notebooks' security group.
    notebooks: String,
}

impl Account {
    async fn new() -> Result<Self> {
        let moto = Moto::start().await?;
        let seed = Seed::new(&moto.sdk_config());
        let (idle, subnets) = seed.vpc_with_subnets(30, &AZS, 1).await?;
        let (busy, busy_subnets) = seed.vpc_with_subnets(31, &AZS, 1).await?;
        let first = subnets["us-west-2a"][0].clone();
        let created = seed
            .ec2
            .create_vpc_endpoint()
            .vpc_id(&idle)
            .service_name(API)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(&first)
            .private_dns_enabled(false)
            .send()
            .await?;
        let theirs = created.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).unwrap_or_default().to_string();
        let on_notebook = Function::start(&binary("on-notebook-created"), &moto.env()).await?;
        let notebooks = seed.notebook_group(&idle).await?;
        for (vpc, subnet, name) in [(&idle, &first, "was-here"), (&busy, &busy_subnets["us-west-2a"][0], "stays")] {
            let group = if *vpc == idle { notebooks.clone() } else { seed.notebook_group(vpc).await? };
            seed.notebook(name, subnet, &group).await?;
            let report = report(on_notebook.invoke(events::notebook_created(name, subnet)).await?.expect("created"));
            // The idle VPC is non-compliant besides: the user's API endpoint differs (unmanaged_endpoint).
            let created = report.vpcs[0].actions.iter().any(|a| matches!(a, Action::CreateEndpoint { .. }));
            assert!(created, "{}", report.to_text());
        }
        seed.delete_notebook("was-here").await?;
        moto.reset_calls().await?;
        Ok(Self { moto, seed, idle, busy, theirs, subnets, notebooks })
    }

    /// `remediate`, warm, with `VPCE_GUARD_PRUNE_IDLE_AFTER` (empty: off).
    async fn remediate(&self, prune_idle_after: &str) -> Result<Function> {
        let mut env = self.moto.env();
        env.push(("VPCE_GUARD_PRUNE_IDLE_AFTER".into(), prune_idle_after.into()));
        Function::start(&binary("remediate"), &env).await
    }

    /// The managed endpoints of `vpc` not deleted, by id.
    async fn managed(&self, vpc: &str) -> Result<Vec<String>> {
        let live = self.seed.live_endpoints(vpc).await?;
        Ok(live
            .values()
            .flatten()
            .filter(|e| tag(e, TAG_MANAGED) == Some("true"))
            .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
            .collect())
    }

    /// Every endpoint of `vpc`, by id: (state, idle mark).
    async fn states(&self, vpc: &str) -> Result<BTreeMap<String, (String, Option<String>)>> {
        let endpoints = self.seed.endpoints(vpc).await?;
        Ok(endpoints
            .iter()
            .map(|e| {
                let state = e.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default();
                (
                    e.vpc_endpoint_id().unwrap_or_default().to_string(),
                    (state, tag(e, TAG_IDLE_SINCE).map(str::to_string)),
                )
            })
            .collect())
    }

    async fn group_exists(&self, vpc: &str) -> bool {
        self.seed.managed_group(vpc).await.is_ok()
    }

    /// Write calls served since the last reset, by action.
    async fn writes(&self) -> Result<BTreeMap<String, u64>> {
        let calls = self.moto.calls().await?;
        Ok(calls.into_iter().filter(|(action, _)| vpce_guard_tests::moto::is_write(action)).collect())
    }
}

fn report(value: Value) -> Report {
    serde_json::from_value(value).expect("the response is a report")
}

async fn sweep(remediate: &Function) -> Result<Report> {
    Ok(report(remediate.invoke(events::load("scheduled.json")).await?.expect("the sweep succeeds")))
}

fn vpc<'a>(report: &'a Report, id: &str) -> &'a VpcReport {
    report.vpcs.iter().find(|v| v.vpc_id == id).unwrap_or_else(|| panic!("{id} in {}", report.to_text()))
}

fn idle_warning(vpc: &VpcReport) -> Option<&str> {
    vpc.problems.iter().find(|p| p.code == Code::IdleEndpoints).map(|p| p.message.as_str())
}

fn deleted(vpc: &VpcReport) -> Vec<&str> {
    vpc.actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteEndpoint { endpoint_id, .. } => Some(endpoint_id.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_idle_vpc_is_reported_with_its_cost_and_nothing_is_deleted_by_default() -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let remediate = a.remediate("").await?;
    let report = sweep(&remediate).await?;
    let idle = vpc(&report, &a.idle);
    let message = idle_warning(idle).unwrap_or_else(|| panic!("no idle_endpoints: {}", report.to_text()));
    assert_eq!(ours.len(), 1, "vpce-guard made the notebook endpoint only (the API one is the user's)");
    assert!(message.contains(&ours[0]) && message.contains("about $21.90/month"), "{message}");
    assert!(!message.contains(&a.theirs), "the user's endpoint is not vpce-guard's: {message}");
    assert!(idle_warning(vpc(&report, &a.busy)).is_none());
    assert!(a.writes().await?.is_empty(), "nothing written: {:?}", a.writes().await?);
    assert_eq!(a.managed(&a.idle).await?, ours);
    // What it costs, per VPC and in total; and in the sweep's metric record.
    assert_eq!(idle.cost.as_ref().expect("cost").endpoint_azs, 3);
    assert_eq!(vpc(&report, &a.busy).cost.as_ref().expect("cost").monthly_usd.to_string(), "$43.80");
    assert_eq!(report.cost.as_ref().expect("total").monthly_usd.to_string(), "$65.70");
    let logs = remediate.stop().await;
    let record = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r.get(vpce_guard::lambda::SWEEP_COST_METRIC).is_some())
        .unwrap_or_else(|| panic!("no sweep record with the cost: {logs:?}"));
    assert_eq!(record[vpce_guard::lambda::SWEEP_COST_METRIC], 65.7);
    assert_eq!(record[vpce_guard::lambda::SWEEP_IDLE_METRIC], 1);
    Ok(())
}

#[tokio::test]
async fn with_0s_a_sweep_deletes_only_the_idle_vpcs_managed_endpoints_then_the_group_and_a_replay_writes_nothing(
) -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let busy = a.managed(&a.busy).await?;
    a.moto.hold(&[Window::Deleting]).await?;
    let remediate = a.remediate("0s").await?;

    let first = sweep(&remediate).await?;
    let idle = vpc(&first, &a.idle);
    assert_eq!(idle.outcome, Outcome::Changed, "{}", first.to_text());
    assert_eq!(deleted(idle), ours.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(idle_warning(idle).is_some_and(|m| m.contains("saving $21.90/month")), "{}", first.to_text());
    let states = a.states(&a.idle).await?;
    assert_eq!(states[&ours[0]].0, "deleting");
    assert_eq!(states[&a.theirs].0, "available", "the user's own endpoint in the same VPC stays");
    assert_eq!(a.managed(&a.busy).await?, busy, "the busy VPC's endpoints stay");
    assert!(a.group_exists(&a.idle).await, "refused (DependencyViolation) while the interfaces drain");
    let writes = a.writes().await?;
    assert_eq!(writes.get("DeleteVpcEndpoints"), Some(&1), "{writes:?}");
    assert_eq!(writes.get("DeleteSecurityGroup"), Some(&1), "tried once, refused: {writes:?}");

    // AWS finishes; the next sweep deletes the group; the one after writes nothing.
    a.moto.settle_all().await?;
    let second = sweep(&remediate).await?;
    assert!(
        vpc(&second, &a.idle).actions.iter().any(|a| matches!(a, Action::DeleteSecurityGroup { .. })),
        "{}",
        second.to_text()
    );
    assert!(!a.group_exists(&a.idle).await);
    assert!(a.group_exists(&a.busy).await);
    a.moto.reset_calls().await?;
    let replay = sweep(&remediate).await?;
    assert_eq!(vpc(&replay, &a.idle).outcome, Outcome::Skipped, "{}", replay.to_text());
    assert_eq!(replay.api_calls.write, 0);
    assert!(a.writes().await?.is_empty(), "{:?}", a.writes().await?);
    Ok(())
}

#[tokio::test]
async fn with_a_grace_period_the_first_sweep_marks_and_deletes_nothing() -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let remediate = a.remediate("12h").await?;
    let first = sweep(&remediate).await?;
    assert!(deleted(vpc(&first, &a.idle)).is_empty(), "{}", first.to_text());
    let states = a.states(&a.idle).await?;
    let (state, mark) = &states[&ours[0]];
    assert_eq!(state, "available");
    let mark = mark.clone().expect("marked vpce-guard:idle-since");
    assert!(idle_warning(vpc(&first, &a.idle)).is_some_and(|m| m.contains(&mark)), "{}", first.to_text());
    assert_eq!(states[&a.theirs].1, None, "the user's endpoint is not marked");
    assert!(a.states(&a.busy).await?.values().all(|(_, mark)| mark.is_none()));
    let writes = a.writes().await?;
    assert_eq!(writes.keys().collect::<Vec<_>>(), ["CreateTags"], "{writes:?}");

    // Within the grace period: nothing. Past it (the mark as an earlier sweep would have left
    // it, half a day ago): deleted.
    a.moto.reset_calls().await?;
    let again = sweep(&remediate).await?;
    assert_eq!(again.api_calls.write, 0, "{}", again.to_text());
    a.seed.tag(&ours, TAG_IDLE_SINCE, "2020-01-01T00:00:00Z").await?;
    let due = sweep(&remediate).await?;
    assert_eq!(deleted(vpc(&due, &a.idle)), ours.iter().map(String::as_str).collect::<Vec<_>>(), "{}", due.to_text());
    Ok(())
}

#[tokio::test]
async fn a_notebook_created_during_the_grace_period_cancels_the_prune_and_removes_the_mark() -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let remediate = a.remediate("1d").await?;
    sweep(&remediate).await?;
    assert!(a.states(&a.idle).await?[&ours[0]].1.is_some(), "marked");
    a.seed.notebook("came-back", &a.subnets["us-west-2b"][0], &a.notebooks).await?;
    a.seed.tag(&ours, TAG_IDLE_SINCE, "2020-01-01T00:00:00Z").await?;
    let report = sweep(&remediate).await?;
    let idle = vpc(&report, &a.idle);
    assert!(deleted(idle).is_empty(), "{}", report.to_text());
    assert!(matches!(&idle.actions[..], [Action::UnmarkIdle { .. }]), "{}", report.to_text());
    assert!(idle_warning(idle).is_none());
    let states = a.states(&a.idle).await?;
    assert_eq!(states[&ours[0]], ("available".to_string(), None), "kept, and the mark removed");
    Ok(())
}

#[tokio::test]
async fn an_event_in_an_idle_vpc_never_deletes() -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let mut env = a.moto.env();
    env.push(("VPCE_GUARD_PRUNE_IDLE_AFTER".into(), "0s".into()));
    let subnet = a.seed.subnet(&a.idle, "10.30.200.0/24", "us-west-2d").await?;
    let on_subnet = Function::start(&binary("on-subnet-created"), &env).await?;
    let event = report(on_subnet.invoke(events::subnet_created(&subnet, &a.idle, "us-west-2d")).await?.expect("ok"));
    assert!(event.vpcs[0].actions.iter().any(|a| matches!(a, Action::AddSubnets { .. })), "{}", event.to_text());
    // A manual payload and a drift event of remediate: no prune either.
    let remediate = Function::start(&binary("remediate"), &env).await?;
    report(remediate.invoke(events::remediate(&[&a.idle], false)).await?.expect("manual"));
    report(remediate.invoke(serde_json::json!({})).await?.expect("manual sweep"));
    let drift = events::drift("modify-vpc-endpoint.json", &a.idle, &ours[0]);
    report(remediate.invoke(drift).await?.expect("drift"));
    let writes = a.writes().await?;
    assert!(writes.keys().all(|w| !w.starts_with("Delete") && !w.ends_with("Tags")), "{writes:?}");
    assert_eq!(a.managed(&a.idle).await?, ours);
    Ok(())
}

#[tokio::test]
async fn the_cli_plan_shows_the_deletions_and_the_saving_and_apply_asks_for_them() -> Result<()> {
    let a = Account::new().await?;
    let ours = a.managed(&a.idle).await?;
    let plan = a.moto.cli(&["--prune-idle-after", "0s", "plan"]).await?;
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert_eq!(plan.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("would: delete endpoint {}", ours[0])), "{text}");
    assert!(text.contains("the plan: -$21.90/month"), "{text}");
    let json = a.moto.cli(&["--prune-idle-after", "0s", "plan", "--output", "json"]).await?;
    let planned: Value = serde_json::from_slice(&json.stdout)?;
    let idle = planned["vpcs"].as_array().unwrap().iter().find(|v| v["vpc_id"] == a.idle.as_str()).unwrap();
    assert!(idle["actions"].as_array().unwrap().iter().any(|x| x["action"] == "delete_endpoint"));
    assert_eq!(idle["cost"]["monthly_delta_usd"], -21.9);
    // Without a terminal and without --yes: refused, nothing written.
    let refused = a.moto.cli(&["--prune-idle-after", "0s", "apply"]).await?;
    assert_eq!(refused.status.code(), Some(1));
    assert!(a.writes().await?.is_empty());
    let applied = a.moto.cli(&["--prune-idle-after", "0s", "apply", "--yes"]).await?;
    assert_eq!(applied.status.code(), Some(0), "{}", String::from_utf8_lossy(&applied.stderr));
    assert_eq!(a.states(&a.idle).await?[&ours[0]].0, "deleted", "the fixture deletes at once here");
    // Without the flag the CLI never deletes.
    let plain = a.moto.cli(&["plan", "--output", "json"]).await?;
    let plain: Value = serde_json::from_slice(&plain.stdout)?;
    assert!(!plain.to_string().contains("delete_endpoint"));
    Ok(())
}

/// The budget of docs/BENCHMARKS.md ("Issue 20"): the idle check and the cost reads nothing the
/// sweep does not read anyway; marking costs one CreateTags, unmarking one DeleteTags, and a prune
/// its re-check (the VPC observed again right before the delete), one DeleteVpcEndpoints and one
/// DeleteSecurityGroup. Measured through the call counter of the real binary (warm processes).
#[tokio::test]
async fn the_idle_check_reads_nothing_more_and_a_prune_costs_its_recheck_and_its_deletes() -> Result<()> {
    let a = Account::new().await?;
    let off = a.remediate("").await?;
    let on = a.remediate("1d").await?;
    // Each process's first sweep is cold (identity, the services, the notebooks described once).
    let cold = sweep(&off).await?;
    let plain = sweep(&off).await?;
    let marking = sweep(&on).await?;
    let marked = sweep(&on).await?;
    assert_eq!(plain.api_calls.write, 0, "{}", plain.to_text());
    assert_eq!((marking.api_calls.read, marking.api_calls.write), (cold.api_calls.read, 1), "one CreateTags");
    assert_eq!((marked.api_calls.read, marked.api_calls.write), (plain.api_calls.read, 0), "nothing more");
    let ours = a.managed(&a.idle).await?;
    a.seed.tag(&ours, TAG_IDLE_SINCE, "2020-01-01T00:00:00Z").await?;
    a.moto.reset_calls().await?;
    let pruning = sweep(&on).await?;
    let calls = a.moto.calls().await?;
    assert_eq!(pruning.api_calls.write, 2, "{calls:?}");
    assert_eq!((calls.get("DeleteVpcEndpoints"), calls.get("DeleteSecurityGroup")), (Some(&1), Some(&1)), "{calls:?}");
    // The re-check observes the one VPC again: the sweep's five listings, each a second time.
    let listings =
        ["DescribeVpcs", "DescribeSubnets", "DescribeVpcEndpoints", "DescribeSecurityGroups", "ListNotebookInstances"];
    let recheck: u64 = listings.iter().map(|l| calls.get(*l).copied().unwrap_or(0).saturating_sub(1)).sum();
    assert_eq!(recheck, 5, "{calls:?}");
    let after = sweep(&on).await?;
    assert_eq!(after.api_calls.write, 0, "{}", after.to_text());
    println!(
        "PRUNE-COST sweep of {} VPCs without prune: {} reads cold, {} warm; marking sweep (cold) {} reads / {} write; \
         marked {} / {}; pruning sweep {} reads (re-check {recheck}) / {} writes; after {} / {}",
        plain.vpcs.len(),
        cold.api_calls.read,
        plain.api_calls.read,
        marking.api_calls.read,
        marking.api_calls.write,
        marked.api_calls.read,
        marked.api_calls.write,
        pruning.api_calls.read,
        pruning.api_calls.write,
        after.api_calls.read,
        after.api_calls.write
    );
    Ok(())
}
