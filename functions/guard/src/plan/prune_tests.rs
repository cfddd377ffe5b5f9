//! Table tests for idle VPCs (issue 20): reported, marked, unmarked and pruned, and never
//! touched where the issue says never.

use super::prune::rfc3339;
use super::tests::compliant_under;
use super::*;
use crate::config::{Config, Scope};
use crate::model::{EndpointState, TAG_ENFORCE, TAG_IDLE_SINCE, TAG_IGNORE, TAG_MANAGED};
use crate::report::Code;
use crate::testing::{self, endpoint, tags};

const NOW: i64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn pruning(after: u64) -> Config {
    Config { prune_idle_after: Some(after), ..Config::default() }
}

/// A compliant VPC (both endpoints managed, 3 AZs each) whose notebook is gone.
fn idle(config: &Config) -> Observation {
    let mut obs = compliant_under(config);
    obs.notebooks = Some(Vec::new());
    obs
}

fn idle_warning(plan: &Plan) -> &str {
    let problem = plan.problems.iter().find(|p| p.code == Code::IdleEndpoints).expect("idle_endpoints");
    assert_eq!(problem.severity, crate::report::Severity::Warning);
    &problem.message
}

fn mark(obs: &mut Observation, since: i64) {
    for endpoint in &mut obs.endpoints {
        endpoint.tags.insert(TAG_IDLE_SINCE.into(), rfc3339(since));
    }
}

#[test]
fn an_idle_vpc_is_reported_with_its_endpoints_and_their_cost_and_nothing_is_written_by_default() {
    let config = Config::default();
    let obs = idle(&config);
    for now in [None, Some(NOW)] {
        let plan = plan_at(&obs, &config, now);
        assert!(plan.writes.is_empty(), "{:?}", plan.writes);
        let message = idle_warning(&plan);
        for endpoint in &obs.endpoints {
            assert!(message.contains(&endpoint.id), "{message}");
        }
        assert!(message.contains("6 endpoint-AZ(s), about $43.80/month"), "{message}");
        assert!(message.contains("VPCE_GUARD_PRUNE_IDLE_AFTER"), "{message}");
    }
}

#[test]
fn what_could_enrol_it_unread_or_present_is_no_idle_vpc() {
    let config = pruning(0);
    let mut unread = idle(&config);
    unread.notebooks = None;
    assert!(plan_at(&unread, &config, Some(NOW)).problems.is_empty(), "an event's run does not know");
    let busy = compliant_under(&config);
    assert!(plan_at(&busy, &config, Some(NOW)).is_empty());
    let mut tagged = idle(&config);
    tagged.vpc.tags = tags(&[(TAG_ENFORCE, "true")]);
    assert!(plan_at(&tagged, &config, Some(NOW)).is_empty(), "enforce=true enrols it: never pruned");
    let all = Config { scope: Scope::All, ..pruning(0) };
    assert!(plan_at(&idle(&all), &all, Some(NOW)).is_empty(), "scope all wants endpoints everywhere");
    let studio = Config {
        profiles: [crate::config::Profile::NotebookInstances, crate::config::Profile::Studio].into(),
        ..pruning(0)
    };
    let mut domains_unread = idle(&studio);
    domains_unread.domains = None;
    assert!(!plan_at(&domains_unread, &studio, Some(NOW)).pruning, "the studio profile needs the domains read");
}

#[test]
fn with_0s_the_first_plan_that_may_prune_deletes_the_managed_endpoints_and_the_group() {
    let config = pruning(0);
    let obs = idle(&config);
    assert!(!plan(&obs, &config).pruning, "an event's run never prunes");
    let plan = plan_at(&obs, &config, Some(NOW));
    assert!(plan.pruning);
    let Write::DeleteEndpoints { endpoints } = &plan.writes[0] else { panic!("{:?}", plan.writes) };
    let ids: Vec<&str> = endpoints.iter().map(|d| d.endpoint_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(endpoints.iter().all(|d| d.azs == 3 && d.monthly_usd.to_string() == "$21.90"));
    assert_eq!(plan.writes[1], Write::DeleteGroup { group_id: "sg-1".into() });
    assert_eq!(plan.writes.len(), 2);
    assert!(idle_warning(&plan).contains("saving $43.80/month"), "{}", idle_warning(&plan));
}

#[test]
fn a_grace_period_marks_first_then_deletes_at_or_after_the_mark_plus_the_period() {
    let config = pruning(7 * DAY);
    let mut obs = idle(&config);
    let first = plan_at(&obs, &config, Some(NOW));
    assert!(!first.pruning);
    assert_eq!(
        first.writes,
        vec![Write::MarkIdle {
            endpoint_ids: obs.endpoints.iter().map(|e| e.id.clone()).collect(),
            since: rfc3339(NOW)
        }]
    );
    assert!(idle_warning(&first).contains(&rfc3339(NOW + 7 * DAY as i64)), "{}", idle_warning(&first));
    mark(&mut obs, NOW);
    assert!(plan_at(&obs, &config, Some(NOW + 7 * DAY as i64 - 1)).is_empty(), "marked, not due: nothing");
    assert!(plan_at(&obs, &config, Some(NOW + 7 * DAY as i64)).pruning, "due at the mark plus the period");
    // A pending endpoint waits; an unmarked newcomer gets the VPC's mark, not a new one.
    obs.endpoints[0].state = EndpointState::Pending;
    let waiting = plan_at(&obs, &config, Some(NOW + 8 * DAY as i64));
    assert!(!waiting.pruning);
    obs.endpoints[0].state = EndpointState::Available;
    obs.endpoints[1].tags.remove(TAG_IDLE_SINCE);
    let catch_up = plan_at(&obs, &config, Some(NOW + DAY as i64));
    assert_eq!(
        catch_up.writes,
        vec![Write::MarkIdle { endpoint_ids: vec![obs.endpoints[1].id.clone()], since: rfc3339(NOW) }]
    );
}

#[test]
fn a_vpc_enrolled_again_loses_the_mark_and_nothing_is_deleted() {
    let config = pruning(DAY);
    let mut obs = compliant_under(&config);
    mark(&mut obs, NOW - 2 * DAY as i64);
    let plan = plan_at(&obs, &config, Some(NOW));
    assert!(!plan.pruning);
    assert_eq!(
        plan.writes,
        vec![Write::UnmarkIdle { endpoint_ids: obs.endpoints.iter().map(|e| e.id.clone()).collect() }]
    );
    assert!(plan_at(&obs, &config, None).is_empty(), "events leave the mark to the next sweep");
}

#[test]
fn only_managed_endpoints_not_ignored_are_deleted_and_a_group_still_in_use_is_kept() {
    let config = pruning(0);
    let mut obs = idle(&config);
    obs.endpoints[0].tags.insert(TAG_IGNORE.into(), "true".into());
    let mut theirs = endpoint("vpce-theirs", "vpc-1", "com.amazonaws.us-west-2.sts", &["subnet-00"]);
    theirs.group_ids = vec!["sg-1".into()];
    obs.endpoints.push(theirs);
    let plan = plan_at(&obs, &config, Some(NOW));
    let Write::DeleteEndpoints { endpoints } = &plan.writes[0] else { panic!("{:?}", plan.writes) };
    assert_eq!(endpoints.iter().map(|d| d.endpoint_id.as_str()).collect::<Vec<_>>(), [obs.endpoints[1].id.as_str()]);
    assert_eq!(plan.writes.len(), 1, "the ignored endpoint (and the user's) still use the group");
    // Every managed endpoint ignored: reported, nothing deleted.
    obs.endpoints[1].tags.insert(TAG_IGNORE.into(), "true".into());
    let kept = plan_at(&obs, &config, Some(NOW));
    assert!(kept.writes.is_empty() && idle_warning(&kept).contains("ignore=true"));
    assert!(obs.endpoints.iter().filter(|e| e.tags.contains_key(TAG_MANAGED)).count() == 2);
}

#[test]
fn the_group_a_prune_left_behind_is_deleted_once_no_endpoint_uses_it() {
    let config = pruning(0);
    let mut obs = idle(&config);
    for endpoint in &mut obs.endpoints {
        endpoint.state = EndpointState::Deleting;
    }
    assert_eq!(orphan_group(&obs, &config), None, "deleting endpoints' interfaces still use it");
    for endpoint in &mut obs.endpoints {
        endpoint.state = EndpointState::Deleted;
    }
    assert_eq!(orphan_group(&obs, &config), Some("sg-1".into()));
    obs.vpc.tags = tags(&[(TAG_ENFORCE, "false")]);
    assert_eq!(orphan_group(&obs, &config), None, "an opted-out VPC is never written");
    obs.vpc.tags.clear();
    obs.notebooks = Some(vec![testing::notebook("nb-2", "subnet-00")]);
    assert_eq!(orphan_group(&obs, &config), None);
}
