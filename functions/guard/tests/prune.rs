//! Idle VPCs and the opt-in prune (issue 20) on the in-memory fake account: reported by default
//! and nothing deleted; deleted by the schedule's sweep (and the CLI) only, never by an event;
//! marked first with a grace period; cancelled by a notebook that arrives in the meantime, even
//! right before the delete; what costs what in the report.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use vpce_guard::config::{api_service, Config};
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::model::{EndpointState, TAG_IDLE_SINCE, TAG_MANAGED};
use vpce_guard::report::{Action, Code, Outcome, Report, VpcReport};
use vpce_guard::testing::{self, REGION};
use vpce_guard::{Guard, RunOptions};

const IDLE: &str = "vpc-0a0a0a0a0a0a0a0a0";
const BUSY: &str = "vpc-0b0b0b0b0b0b0b0b0";
const THEIRS: &str = "vpce-0c0c0c0c0c0c0c0c0";
const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

struct World {
    guard: Guard<FakeAccount>,
    clock: Arc<AtomicI64>,
}

impl World {
    fn fake(&self) -> &FakeAccount {
        self.guard.account()
    }

    async fn sweep(&self) -> Report {
        self.guard.run(Parsed::Run(Trigger::Scheduled)).await.expect("sweep")
    }

    fn advance(&self, seconds: i64) {
        self.clock.fetch_add(seconds, Ordering::SeqCst);
    }

    fn writes(&self) -> Vec<String> {
        self.fake().snapshot().writes
    }
}

fn vpc<'a>(report: &'a Report, id: &str) -> &'a VpcReport {
    report.vpcs.iter().find(|v| v.vpc_id == id).unwrap_or_else(|| panic!("{id} in {}", report.to_text()))
}

fn idle_warning(vpc: &VpcReport) -> Option<&str> {
    vpc.problems.iter().find(|p| p.code == Code::IdleEndpoints).map(|p| p.message.as_str())
}

/// Two VPCs in three AZs, each with a notebook, brought into line by a sweep; the idle one also
/// holds the user's own API endpoint (so vpce-guard made only its notebook endpoint there). Then
/// the idle VPC's notebook is deleted.
async fn world(config: Config) -> World {
    let clock = Arc::new(AtomicI64::new(NOW));
    let time = clock.clone();
    let fake = FakeAccount::new();
    for (n, id) in [IDLE, BUSY].into_iter().enumerate() {
        fake.add_vpc(id, &format!("10.{n}.0.0/16"));
        for az in ["a", "b", "c"] {
            fake.add_subnet(id, &format!("subnet-{n}{az}00000000000000"), &format!("{REGION}{az}"));
        }
        fake.add_notebook(&format!("nb-{n}"), &format!("subnet-{n}a00000000000000"));
    }
    let mut theirs = testing::endpoint(THEIRS, IDLE, &api_service(REGION), &["subnet-0a00000000000000"]);
    theirs.tags = testing::tags(&[("Name", "platform-team")]);
    fake.with_state(|s| s.endpoints.insert(THEIRS.into(), theirs));
    let guard = Guard::new(fake, config)
        .with_visibility_retries(Vec::new())
        .with_clock(Arc::new(move || time.load(Ordering::SeqCst)));
    let world = World { guard, clock };
    let first = world.sweep().await;
    assert_eq!(vpc(&first, BUSY).outcome, Outcome::Changed, "{}", first.to_text());
    world.fake().with_state(|s| s.notebooks.remove("nb-0"));
    world
}

fn managed_of(fake: &FakeAccount, vpc: &str) -> Vec<String> {
    fake.live_endpoints(vpc).into_iter().filter(|e| e.tags.contains_key(TAG_MANAGED)).map(|e| e.id).collect()
}

#[tokio::test]
async fn an_idle_vpc_is_reported_with_what_it_costs_and_nothing_is_deleted_by_default() {
    let w = world(Config::default()).await;
    let before = w.writes().len();
    let report = w.sweep().await;
    let idle = vpc(&report, IDLE);
    let message = idle_warning(idle).unwrap_or_else(|| panic!("{}", report.to_text()));
    let ours = managed_of(w.fake(), IDLE);
    assert_eq!(ours.len(), 1, "the notebook endpoint; the API endpoint is the user's");
    assert!(message.contains(&ours[0]) && message.contains("$21.90/month"), "{message}");
    assert!(idle_warning(vpc(&report, BUSY)).is_none());
    assert_eq!(w.writes().len(), before, "nothing written: {:?}", &w.writes()[before..]);
    // The cost: 1 managed endpoint in 3 AZs here, 2 in the busy VPC; the total.
    assert_eq!(idle.cost.as_ref().unwrap().endpoint_azs, 3);
    assert_eq!(vpc(&report, BUSY).cost.as_ref().unwrap().monthly_usd.to_string(), "$43.80");
    let total = report.cost.as_ref().expect("the report's total");
    assert_eq!((total.endpoints, total.endpoint_azs, total.monthly_usd.to_string()), (3, 9, "$65.70".to_string()));
    assert!(report.to_text().contains("$65.70/month"), "{}", report.to_text());
}

#[tokio::test]
async fn with_0s_a_sweep_deletes_only_the_idle_vpcs_managed_endpoints_then_the_group_and_a_replay_writes_nothing() {
    let w = world(Config { prune_idle_after: Some(0), ..Config::default() }).await;
    let ours = managed_of(w.fake(), IDLE);
    let busy = managed_of(w.fake(), BUSY);
    let group = w.fake().snapshot().groups.values().find(|g| g.group.vpc_id == IDLE).unwrap().group.id.clone();

    let report = w.sweep().await;
    let idle = vpc(&report, IDLE);
    assert_eq!(idle.outcome, Outcome::Changed, "{}", report.to_text());
    let deleted: Vec<&str> = idle
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteEndpoint { endpoint_id, .. } => Some(endpoint_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, ours.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(idle_warning(idle).unwrap().contains("saving $21.90/month"), "{}", report.to_text());
    assert_eq!(idle.cost.as_ref().unwrap().endpoints, 0, "as it stands after the run");
    assert_eq!(idle.cost.as_ref().unwrap().monthly_delta_usd.to_string(), "-$21.90");
    let state = w.fake().snapshot();
    assert_eq!(state.endpoints[&ours[0]].state, EndpointState::Deleting);
    assert_eq!(state.endpoints[THEIRS].state, EndpointState::Available, "the user's endpoint stays");
    assert_eq!(managed_of(w.fake(), BUSY), busy, "the busy VPC's endpoints stay");
    assert!(state.groups.contains_key(&group), "still used by the deleting endpoint's interfaces");

    // Once AWS has deleted the interfaces, the next sweep deletes the group; then nothing.
    w.fake().finish_deletions();
    let next = w.sweep().await;
    assert_eq!(
        vpc(&next, IDLE).actions,
        vec![Action::DeleteSecurityGroup { group_id: group.clone() }],
        "{}",
        next.to_text()
    );
    assert!(!w.fake().snapshot().groups.contains_key(&group));
    let before = w.writes().len();
    let replay = w.sweep().await;
    assert_eq!(vpc(&replay, IDLE).outcome, Outcome::Skipped, "{}", replay.to_text());
    assert_eq!(w.writes().len(), before, "a replay writes nothing");
    assert_eq!(replay.api_calls.write, 0);
}

#[tokio::test]
async fn with_a_grace_period_the_first_sweep_marks_and_a_sweep_after_it_deletes() {
    let w = world(Config { prune_idle_after: Some(7 * DAY as u64), ..Config::default() }).await;
    let ours = managed_of(w.fake(), IDLE);
    let first = w.sweep().await;
    let marked = vpc(&first, IDLE);
    assert!(
        matches!(&marked.actions[..], [Action::MarkIdle { endpoint_ids, .. }] if endpoint_ids == &ours),
        "{}",
        first.to_text()
    );
    assert_eq!(w.fake().snapshot().endpoints[&ours[0]].tags[TAG_IDLE_SINCE], "2027-01-15T08:00:00Z");
    assert!(w.fake().live_endpoints(IDLE).len() == 2, "nothing deleted on the first sweep");
    w.advance(7 * DAY - 1);
    let before = w.writes().len();
    let early = w.sweep().await;
    assert_eq!(w.writes().len(), before, "not due yet: {}", early.to_text());
    w.advance(1);
    let due = w.sweep().await;
    assert!(vpc(&due, IDLE).actions.iter().any(|a| matches!(a, Action::DeleteEndpoint { .. })), "{}", due.to_text());
    assert_eq!(w.fake().snapshot().endpoints[&ours[0]].state, EndpointState::Deleting);
}

#[tokio::test]
async fn a_notebook_created_during_the_grace_period_cancels_the_prune_and_removes_the_mark() {
    let w = world(Config { prune_idle_after: Some(DAY as u64), ..Config::default() }).await;
    let ours = managed_of(w.fake(), IDLE);
    w.sweep().await;
    assert!(w.fake().snapshot().endpoints[&ours[0]].tags.contains_key(TAG_IDLE_SINCE));
    w.fake().add_notebook("back", "subnet-0b00000000000000");
    w.advance(2 * DAY);
    let report = w.sweep().await;
    let idle = vpc(&report, IDLE);
    assert!(matches!(&idle.actions[..], [Action::UnmarkIdle { .. }]), "{}", report.to_text());
    assert!(idle_warning(idle).is_none());
    let endpoint = &w.fake().snapshot().endpoints[&ours[0]];
    assert_eq!(endpoint.state, EndpointState::Available);
    assert!(!endpoint.tags.contains_key(TAG_IDLE_SINCE));
}

#[tokio::test]
async fn an_event_in_an_idle_vpc_never_deletes_nor_marks() {
    let w = world(Config { prune_idle_after: Some(0), ..Config::default() }).await;
    let before = w.writes().len();
    w.fake().add_subnet(IDLE, "subnet-0d00000000000000", "us-west-2d");
    let event = Trigger::SubnetCreated { subnet_id: "subnet-0d00000000000000".into(), vpc_id: IDLE.into() };
    let report = w.guard.run(Parsed::Run(event)).await.expect("event");
    let kept = vpc(&report, IDLE);
    assert!(kept.actions.iter().any(|a| matches!(a, Action::AddSubnets { .. })), "kept in line: {}", report.to_text());
    let writes = &w.writes()[before..];
    assert!(writes.iter().all(|w| w == "ModifyVpcEndpoint"), "{writes:?}");
    // A manual payload, a drift run: no prune either.
    for trigger in [
        Trigger::Manual { vpc_ids: None, dry_run: None },
        Trigger::Manual { vpc_ids: Some(vec![IDLE.into()]), dry_run: None },
    ] {
        w.guard.run(Parsed::Run(trigger)).await.expect("manual");
    }
    assert!(w.writes().iter().all(|w| !w.starts_with("Delete") && !w.ends_with("Tags")), "{:?}", w.writes());
}

#[tokio::test]
async fn a_notebook_created_right_before_the_delete_cancels_it() {
    let w = world(Config { prune_idle_after: Some(0), ..Config::default() }).await;
    let ours = managed_of(w.fake(), IDLE);
    // The sweep lists the notebooks once; the notebook appears before the re-check's listing.
    let late = testing::notebook("just-in-time", "subnet-0c00000000000000");
    w.fake().with_state(|s| s.arriving_notebooks.push((1, late)));
    let report = w.sweep().await;
    let idle = vpc(&report, IDLE);
    assert!(idle.actions.iter().all(|a| !matches!(a, Action::DeleteEndpoint { .. })), "{}", report.to_text());
    assert!(idle_warning(idle).is_none(), "{}", report.to_text());
    assert_eq!(w.fake().snapshot().endpoints[&ours[0]].state, EndpointState::Available);
    assert!(w.writes().iter().all(|w| w != "DeleteVpcEndpoints"));
}

#[tokio::test]
async fn the_cli_plan_shows_the_deletions_and_the_saving_and_writes_nothing() {
    let w = world(Config { prune_idle_after: Some(0), ..Config::default() }).await;
    let before = w.writes().len();
    let options = RunOptions { prune: true, dry_run: Some(true), trigger_name: Some("Cli"), ..RunOptions::default() };
    let plan = w.guard.run_with(Parsed::Run(Trigger::Manual { vpc_ids: None, dry_run: None }), &options).await.unwrap();
    let idle = vpc(&plan, IDLE);
    assert_eq!(idle.outcome, Outcome::WouldChange);
    assert!(idle.actions.iter().any(|a| matches!(a, Action::DeleteEndpoint { .. })));
    assert_eq!(idle.cost.as_ref().unwrap().monthly_delta_usd.to_string(), "-$21.90");
    assert_eq!(plan.cost.as_ref().unwrap().monthly_delta_usd.to_string(), "-$21.90");
    let text = vpce_guard::report::table(&plan);
    assert!(text.contains("would: delete endpoint") && text.contains("the plan: -$21.90/month"), "{text}");
    assert_eq!(w.writes().len(), before);
}

/// README.md's "Cost" table: each profile's endpoint count is the code's (the services a VPC of
/// those profiles gets), and each price is that count × the AZs × 730 h × $0.01.
#[test]
fn the_readme_cost_table_follows_the_profiles_services() {
    use vpce_guard::config::{Profile, ServiceAzs};
    let readme = std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let section = readme.split("## Cost").nth(1).expect("a Cost section").split("\n## ").next().unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    for row in rows {
        let profiles: std::collections::BTreeSet<Profile> =
            row[0].split('`').nth(1).unwrap().split(',').map(|p| Profile::parse(p).unwrap()).collect();
        let config = Config {
            profiles: profiles.clone(),
            studio_projects: row[0].contains("STUDIO_PROJECTS=true"),
            ..Config::default()
        };
        let count = config.services_for(REGION, &ServiceAzs::new(), &profiles).len();
        assert_eq!(row[1], count.to_string(), "{}", row[0]);
        for (azs, cell) in [(1, row[2]), (2, row[3]), (3, row[4])] {
            let price =
                vpce_guard::report::Usd::monthly((count * azs) as i64, Config::default().endpoint_hourly_micro_usd);
            assert_eq!(cell, price.to_string(), "{} in {azs} AZ(s)", row[0]);
        }
    }
}
