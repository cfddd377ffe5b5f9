//! Idle VPCs (issue 20): a VPC that holds endpoints vpce-guard manages and nothing else that
//! enrols it — no notebook instance, no Studio domain of the studio profile, no
//! `vpce-guard:enforce=true` tag, and not `VPCE_GUARD_SCOPE=all` — keeps those endpoints in line
//! and pays for them for nothing. Every plan that knows (the VPC's notebooks, and its domains
//! with the studio profile, were read) reports it (`idle_endpoints`). With
//! `VPCE_GUARD_PRUNE_IDLE_AFTER` set and on a run that may prune (a scheduled sweep, the CLI),
//! the first plan that sees it idle marks its endpoints `vpce-guard:idle-since`; the plan at or
//! after that time plus the setting deletes them (and the managed group, when nothing else uses
//! it); a VPC enrolled again loses the mark. Never deleted: endpoints vpce-guard did not create
//! (not tagged `vpce-guard:managed=true`: adopted or the user's own), endpoints tagged
//! `vpce-guard:ignore=true`, anything of a VPC tagged `vpce-guard:enforce` (true enrols it,
//! false opts it out: it is never planned).

use std::collections::BTreeSet;

use super::cost::{billed, endpoint_azs, monthly};
use super::*;
use crate::config::Scope;
use crate::model::{Endpoint, EndpointState, Observation, TAG_ENFORCE, TAG_IDLE_SINCE, TAG_IGNORE};
use crate::report::{Code, Problem, Usd};

/// One endpoint a prune deletes, with what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    /// The endpoint.
    pub endpoint_id: String,
    /// Its service.
    pub service: String,
    /// Its endpoint-AZs.
    pub azs: usize,
    /// What it costs per month.
    pub monthly_usd: Usd,
}

/// Where a VPC stands for pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idleness<'a> {
    /// What could enrol it was not read (an event's run): nobody knows.
    Unknown,
    /// Something besides its managed endpoints enrols it, or it holds none.
    Busy,
    /// Only its managed endpoints enrol it.
    Idle {
        /// Its managed endpoints (tagged `vpce-guard:managed=true`, not being deleted).
        managed: Vec<&'a Endpoint>,
        /// Those of them a prune deletes: not tagged `vpce-guard:ignore=true`.
        deletable: Vec<&'a Endpoint>,
        /// The earliest `vpce-guard:idle-since` mark among them (seconds since the epoch).
        since: Option<i64>,
    },
}

/// Whether nothing enrols the VPC of `obs` but managed endpoints: `None` when what could enrol
/// it was not read (an event's run).
fn unenrolled(obs: &Observation, config: &Config) -> Option<bool> {
    if config.scope == Scope::All
        || obs.vpc.tags.contains_key(TAG_ENFORCE)
        || obs.vpc.owner_id != obs.identity.account_id
    {
        return Some(false);
    }
    if !obs.notebooks.as_ref()?.is_empty() {
        return Some(false);
    }
    if config.studio() && obs.domains.as_ref()?.iter().any(|d| enrols(d, config)) {
        return Some(false);
    }
    Some(true)
}

/// Whether the VPC of `obs` is idle (see the module's documentation).
pub fn idleness<'a>(obs: &'a Observation, config: &Config) -> Idleness<'a> {
    match unenrolled(obs, config) {
        None => return Idleness::Unknown,
        Some(false) => return Idleness::Busy,
        Some(true) => {}
    }
    let managed: Vec<&Endpoint> = obs.endpoints.iter().filter(|e| e.vpc_id == obs.vpc.id && billed(e)).collect();
    if managed.is_empty() {
        return Idleness::Busy;
    }
    let deletable: Vec<&Endpoint> = managed.iter().copied().filter(|e| !tag_is(&e.tags, TAG_IGNORE, "true")).collect();
    let since = deletable.iter().filter_map(|e| e.tags.get(TAG_IDLE_SINCE).and_then(|t| epoch_seconds(t))).min();
    Idleness::Idle { managed, deletable, since }
}

/// The managed security group of a VPC out of scope that no observed endpoint uses any more:
/// what a prune left behind while its endpoints' network interfaces drained
/// (`DependencyViolation`). Only where nothing enrols the VPC and no managed endpoint is left
/// (so never in a VPC tagged `vpce-guard:enforce`: false opts it out, true enrols it).
pub fn orphan_group(obs: &Observation, config: &Config) -> Option<String> {
    let group = obs.group.as_ref().filter(|g| g.managed)?;
    if unenrolled(obs, config) != Some(true) || obs.endpoints.iter().any(|e| e.vpc_id == obs.vpc.id && billed(e)) {
        return None;
    }
    let used = obs.endpoints.iter().any(|e| uses_group(e, &group.id));
    (!used).then(|| group.id.clone())
}

/// An endpoint whose network interfaces (still) carry `group_id`: not gone yet.
fn uses_group(endpoint: &Endpoint, group_id: &str) -> bool {
    endpoint.group_ids.iter().any(|g| g == group_id)
        && (endpoint.state.is_live() || endpoint.state == EndpointState::Deleting)
}

/// RFC 3339 time → seconds since the epoch.
pub fn epoch_seconds(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

/// Seconds since the epoch → RFC 3339 (`2026-12-02T20:15:00Z`).
pub fn rfc3339(seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| seconds.to_string())
}

impl Planner<'_> {
    /// Reports an idle VPC and, on a run that may prune with `VPCE_GUARD_PRUNE_IDLE_AFTER` set,
    /// marks, unmarks or deletes its managed endpoints. A prune replaces the plan: the VPC
    /// leaves vpce-guard's scope, so nothing else is written to it.
    pub(super) fn plan_idle(&mut self) {
        let obs = self.obs;
        let config = self.config;
        let prune = config.prune_idle_after.zip(self.now);
        match idleness(obs, config) {
            Idleness::Unknown => {}
            Idleness::Busy => {
                let Some(_) = prune else { return };
                let marked: Vec<String> = obs
                    .endpoints
                    .iter()
                    .filter(|e| e.vpc_id == obs.vpc.id && billed(e) && e.tags.contains_key(TAG_IDLE_SINCE))
                    .filter(|e| !tag_is(&e.tags, TAG_IGNORE, "true"))
                    .map(|e| e.id.clone())
                    .collect();
                if !marked.is_empty() {
                    self.plan.writes.push(Write::UnmarkIdle { endpoint_ids: marked });
                }
            }
            Idleness::Idle { managed, deletable, since } => {
                let azs: usize = managed.iter().map(|e| endpoint_azs(e)).sum();
                let ids: Vec<&str> = managed.iter().map(|e| e.id.as_str()).collect();
                let cost = monthly(config, azs as i64);
                let head = format!(
                    "VPC {} is idle: nothing enrols it (no notebook instance{}, no {TAG_ENFORCE}=true tag) but the endpoints vpce-guard created, {} ({azs} endpoint-AZ(s), about {cost}/month)",
                    obs.vpc.id,
                    if config.studio() { ", no Studio domain" } else { "" },
                    ids.join(", "),
                );
                let Some((after, now)) = prune.filter(|_| !deletable.is_empty()) else {
                    let tail = if deletable.is_empty() {
                        format!("they are tagged {TAG_IGNORE}=true, so vpce-guard keeps them")
                    } else if config.prune_idle_after.is_some() {
                        "the next scheduled sweep (or the CLI's apply) deletes them once VPCE_GUARD_PRUNE_IDLE_AFTER has passed".into()
                    } else {
                        "delete them, or set VPCE_GUARD_PRUNE_IDLE_AFTER (template parameter PruneIdleAfter) to have vpce-guard delete them once the VPC has stayed idle that long".into()
                    };
                    self.plan.problems.push(Problem::warning(Code::IdleEndpoints, format!("{head}; {tail}")));
                    return;
                };
                let since = since.unwrap_or(now);
                let due = since.saturating_add(after as i64);
                let waiting = deletable.iter().any(|e| e.state == EndpointState::Pending);
                if now >= due && !waiting {
                    self.plan_prune(&deletable, head, since);
                    return;
                }
                let unmarked: Vec<String> = deletable
                    .iter()
                    .filter(|e| e.tags.get(TAG_IDLE_SINCE).and_then(|t| epoch_seconds(t)).is_none())
                    .map(|e| e.id.clone())
                    .collect();
                let tail = match waiting && now >= due {
                    true => "they are deleted once they are no longer pending".to_string(),
                    false => format!(
                        "idle since {}, they are deleted by the first scheduled sweep (or the CLI's apply) from {} (VPCE_GUARD_PRUNE_IDLE_AFTER)",
                        rfc3339(since),
                        rfc3339(due)
                    ),
                };
                self.plan.problems.push(Problem::warning(Code::IdleEndpoints, format!("{head}; {tail}")));
                // With 0s nothing waits for the mark: the endpoints go as soon as they can.
                if !unmarked.is_empty() && after > 0 {
                    self.plan.writes.push(Write::MarkIdle { endpoint_ids: unmarked, since: rfc3339(since) });
                }
            }
        }
    }

    /// The prune: delete `deletable` (one `DeleteVpcEndpoints`) and, when no other endpoint
    /// uses it, the managed group. Replaces the plan's writes and problems.
    fn plan_prune(&mut self, deletable: &[&Endpoint], head: String, since: i64) {
        let config = self.config;
        let doomed: Vec<Doomed> = deletable
            .iter()
            .map(|e| Doomed {
                endpoint_id: e.id.clone(),
                service: e.service.clone(),
                azs: endpoint_azs(e),
                monthly_usd: monthly(config, endpoint_azs(e) as i64),
            })
            .collect();
        let saving: Usd = doomed.iter().map(|d| d.monthly_usd).sum();
        let ids: BTreeSet<&str> = deletable.iter().map(|e| e.id.as_str()).collect();
        let mut writes = vec![Write::DeleteEndpoints { endpoints: doomed }];
        if let Some(group) = self.obs.group.as_ref().filter(|g| g.managed) {
            let others = self.obs.endpoints.iter().any(|e| !ids.contains(e.id.as_str()) && uses_group(e, &group.id));
            if !others {
                writes.push(Write::DeleteGroup { group_id: group.id.clone() });
            }
        }
        self.plan.writes = writes;
        self.plan.pending.clear();
        self.plan.needs_hosted_zones = false;
        self.plan.needs_notebooks = false;
        self.plan.needs_s3 = false;
        self.plan.pruning = true;
        self.plan.problems = vec![Problem::warning(
            Code::IdleEndpoints,
            format!(
                "{head}; idle since {}, past VPCE_GUARD_PRUNE_IDLE_AFTER: they are deleted, saving {saving}/month",
                rfc3339(since)
            ),
        )];
    }
}
