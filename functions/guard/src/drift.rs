//! Drift: CloudTrail events that may have undone vpce-guard's work (one, or a delivery of the
//! event queue) resolved to the VPCs they touch, or to one sweep, or to nothing.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{info, warn};

use crate::account::{Account, VpcSelector};
use crate::config::NotebookPolicy;
use crate::error::Result;
use crate::events::{Delivery, Drift};
use crate::guard::{ignored, Guard, RunContext};
use crate::observe::missing_vpcs;
use crate::report::{BatchSummary, Report, VpcReport};

impl<A: Account> Guard<A> {
    /// Drift events: the VPCs their ids resolve to are reconciled, once each. An endpoint
    /// event whose endpoint is gone (so its VPC is unknown), an event that names nothing, and
    /// a deleted notebook under `vpc-notebooks` (its VPC's policy lists it) cost one sweep of
    /// every VPC in scope instead, however many such events came together. Events that cannot
    /// have touched vpce-guard's work (a rule change on another group, a resource that no
    /// longer exists) are ignored.
    pub(crate) async fn on_drift(&self, drifts: &[Drift], run: RunContext<'_>) -> Result<Report> {
        Ok(self.drift_run(drifts, run).await?.0)
    }

    /// The run of [`Guard::on_drift`], whether it was a sweep, and the VPCs each drift named.
    async fn drift_run(&self, drifts: &[Drift], mut run: RunContext<'_>) -> Result<(Report, Resolved)> {
        let (scope, resolved) = self.drift_scope(drifts).await?;
        let vpcs = match scope {
            DriftScope::Sweep(reason) => {
                info!(trigger = run.trigger, reason = %reason, "drift: sweeping every VPC in scope");
                return Ok((self.reconcile(&VpcSelector::All, true, run).await?, resolved));
            }
            DriftScope::Nothing(reason) => return Ok((ignored(&run, reason), resolved)),
            DriftScope::Vpcs(vpcs) => vpcs,
        };
        let selector = VpcSelector::Ids(vpcs);
        let observations = self.observe(&selector, true, None).await?;
        let missing = missing_vpcs(&selector, &observations);
        if observations.is_empty() {
            let reason = format!("VPC {} no longer exists; nothing to do", missing.join(", "));
            return Ok((ignored(&run, reason), resolved));
        }
        run.single = observations.len() == 1;
        let mut report = self.reconcile_observed(observations, run).await?;
        report.vpcs.extend(missing.iter().map(|id| VpcReport::skipped(id, "the VPC no longer exists; nothing to do")));
        Ok((report, resolved))
    }

    /// A delivery of the event queue with no creation event to handle: its drift events as one
    /// run. The records that could not be read, and those that named a VPC the run left
    /// unfinished (failed, or deferred by the deadline or AWS's throttle), are handed back to SQS
    /// (`batchItemFailures`).
    pub(crate) async fn on_drift_batch(&self, batch: &Delivery, run: RunContext<'_>) -> Result<Report> {
        for (message_id, why) in &batch.unreadable {
            warn!(message_id, why = %why, "drift record not readable; SQS will deliver it again, then keep it in the dead-letter queue");
        }
        let (mut report, resolved) = if batch.drifts.is_empty() {
            let reason = format!("none of the {} record(s) named possible drift", batch.records);
            (ignored(&run, reason), Resolved::default())
        } else {
            self.drift_run(&batch.drifts, run).await?
        };
        report.batch = Some(BatchSummary {
            records: batch.records,
            drift_events: batch.drifts.len(),
            ignored_events: batch.ignored.len(),
            unreadable_events: batch.unreadable.len(),
            sweep: resolved.sweep,
            creation_events: 0,
        });
        let unfinished: BTreeSet<&str> =
            report.vpcs.iter().filter(|v| v.unfinished()).map(|v| v.vpc_id.as_str()).collect();
        let retried = batch.drifts.iter().enumerate().filter_map(|(index, drift)| {
            let named =
                resolved.vpcs.get(index).is_some_and(|vpcs| vpcs.iter().any(|v| unfinished.contains(v.as_str())));
            // A record that asked for the sweep asked for every VPC.
            let swept = resolved.sweep && resolved.asked_sweep.get(index) == Some(&true) && !unfinished.is_empty();
            drift.record.as_deref().filter(|_| named || swept)
        });
        let unreadable = batch.unreadable.iter().map(|(id, _)| id.as_str());
        report.batch_item_failures = Some(crate::report::batch_item_failures(retried, unreadable));
        for failure in report.batch_item_failures.iter().flatten() {
            info!(message_id = %failure.item_identifier, "record handed back to SQS");
        }
        Ok(report)
    }

    /// What the drift records of a delivery ask for, for a run that handles its creation records
    /// too ([`Guard::on_delivery`]): each record's VPCs, the records that asked for a sweep, and
    /// why a sweep is needed, if one is, or why nothing is.
    pub(crate) async fn drift_targets(&self, drifts: &[Drift]) -> Result<DriftTargets> {
        let mut targets = DriftTargets::default();
        if drifts.is_empty() {
            return Ok(targets);
        }
        let (scope, resolved) = self.drift_scope(drifts).await?;
        for (index, drift) in drifts.iter().enumerate() {
            let Some(record) = drift.record.as_ref() else { continue };
            let vpcs = resolved.vpcs.get(index).into_iter().flatten();
            targets.named.extend(vpcs.map(|vpc| (record.clone(), vpc.clone())));
            if resolved.sweep && resolved.asked_sweep.get(index) == Some(&true) {
                targets.asked_sweep.push(record.clone());
            }
        }
        match scope {
            DriftScope::Sweep(reason) => targets.sweep = Some(reason),
            DriftScope::Nothing(reason) => targets.nothing = Some(reason),
            DriftScope::Vpcs(_) => {}
        }
        Ok(targets)
    }

    /// What drift events ask for: the VPCs their ids resolve to, a sweep, or nothing; and the
    /// VPCs each one named.
    async fn drift_scope(&self, drifts: &[Drift]) -> Result<(DriftScope, Resolved)> {
        let all = |pick: fn(&Drift) -> &Vec<String>| -> Vec<String> {
            let ids: BTreeSet<&String> = drifts.iter().flat_map(pick).collect();
            ids.into_iter().cloned().collect()
        };
        let endpoint_ids = all(|d| &d.endpoint_ids);
        let endpoints = match endpoint_ids.is_empty() {
            true => Vec::new(),
            false => self.account.endpoints_by_id(&endpoint_ids).await?,
        };
        // Each id that resolves, with its VPC.
        let mut owner: BTreeMap<String, String> = endpoints.iter().map(|e| (e.id.clone(), e.vpc_id.clone())).collect();
        let group_ids = all(|d| &d.group_ids);
        if !group_ids.is_empty() {
            owner.extend(self.account.groups_by_id(&group_ids).await?.into_iter().map(|g| (g.id, g.vpc_id)));
        }
        let subnet_ids = all(|d| &d.subnet_ids);
        if !subnet_ids.is_empty() {
            owner.extend(self.account.subnets_by_id(&subnet_ids).await?.into_iter().map(|s| (s.id, s.vpc_id)));
        }
        let lists_notebooks = self.config.notebook_policy == NotebookPolicy::VpcNotebooks;
        let mut resolved = Resolved::default();
        for drift in drifts {
            let named = [&drift.endpoint_ids, &drift.group_ids, &drift.subnet_ids]
                .into_iter()
                .flatten()
                .filter_map(|id| owner.get(id))
                .chain(&drift.vpc_ids);
            resolved.vpcs.push(named.cloned().collect());
            resolved.asked_sweep.push(sweep_for(drift, &endpoints, lists_notebooks).is_some());
        }
        let vpcs: BTreeSet<String> = resolved.vpcs.iter().flatten().cloned().collect();
        let scope = match (drifts.iter().find_map(|d| sweep_for(d, &endpoints, lists_notebooks)), vpcs.is_empty()) {
            (Some(reason), _) => DriftScope::Sweep(reason),
            (None, false) => DriftScope::Vpcs(vpcs.into_iter().collect()),
            (None, true) => DriftScope::Nothing(drift_ignored_reason(drifts, lists_notebooks)),
        };
        resolved.sweep = matches!(scope, DriftScope::Sweep(_));
        Ok((scope, resolved))
    }
}

/// Why a drift event asks for a sweep of every VPC in scope, if it does: a deleted notebook
/// under `vpc-notebooks`, an event that names no resource, an endpoint gone (its VPC unknown).
fn sweep_for(drift: &Drift, endpoints: &[crate::model::Endpoint], lists_notebooks: bool) -> Option<String> {
    match drift.event_name {
        "DeleteNotebookInstance" if lists_notebooks => {
            Some("a notebook was deleted and the notebook policy lists each VPC's notebooks".to_string())
        }
        "DeleteNotebookInstance" => None,
        _ if drift.names_nothing() => Some(format!("a {} event named no resource", drift.event_name)),
        "DeleteVpcEndpoints" | "ModifyVpcEndpoint"
            if drift.vpc_ids.is_empty()
                && !drift.endpoint_ids.iter().any(|id| endpoints.iter().any(|e| &e.id == id)) =>
        {
            Some(format!("endpoint {} is gone, so its VPC is unknown", drift.endpoint_ids.join(", ")))
        }
        _ => None,
    }
}

/// What each drift of a run named, by index: the VPCs its ids resolved to, whether it asked
/// for a sweep; and whether the run was one.
#[derive(Debug, Default)]
struct Resolved {
    vpcs: Vec<BTreeSet<String>>,
    asked_sweep: Vec<bool>,
    sweep: bool,
}

/// What the drift records of a delivery ask for ([`Guard::drift_targets`]).
#[derive(Debug, Default)]
pub(crate) struct DriftTargets {
    /// Each record's `messageId` with a VPC it named.
    pub named: Vec<(String, String)>,
    /// The records that asked for the sweep (when there is one).
    pub asked_sweep: Vec<String>,
    /// Why every VPC in scope must be looked at, when one record asks for it.
    pub sweep: Option<String>,
    /// Why the drift records need nothing, when none names a VPC that exists.
    pub nothing: Option<String>,
}

/// What drift events resolve to.
enum DriftScope {
    /// These VPCs.
    Vpcs(Vec<String>),
    /// Every VPC in scope, for this reason.
    Sweep(String),
    /// Nothing, for this reason.
    Nothing(String),
}

/// Why drift events that resolve to no VPC need nothing.
fn drift_ignored_reason(drifts: &[Drift], lists_notebooks: bool) -> String {
    let names: BTreeSet<&str> = drifts.iter().map(|d| d.event_name).collect();
    let names = names.into_iter().collect::<Vec<_>>().join(", ");
    if !lists_notebooks && drifts.iter().all(|d| d.event_name == "DeleteNotebookInstance") {
        return "a deleted notebook changes no endpoint policy unless the notebook policy is vpc-notebooks; nothing to do"
            .into();
    }
    format!("{names}: no managed security group, endpoint, subnet or VPC it names exists; nothing to do")
}
