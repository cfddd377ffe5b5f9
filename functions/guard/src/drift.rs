//! Drift: CloudTrail events that may have undone vpce-guard's work (one, or a delivery of the
//! drift queue) resolved to the VPCs they touch, or to one sweep, or to nothing.

use std::collections::BTreeSet;

use tracing::{info, warn};

use crate::account::{Account, VpcSelector};
use crate::config::NotebookPolicy;
use crate::error::Result;
use crate::events::{Drift, DriftBatch};
use crate::guard::{ignored, Guard, RunContext};
use crate::observe::missing_vpcs;
use crate::report::{BatchItemFailure, BatchSummary, Report, VpcReport};

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

    /// The run of [`Guard::on_drift`] and whether it was a sweep.
    async fn drift_run(&self, drifts: &[Drift], mut run: RunContext<'_>) -> Result<(Report, bool)> {
        let vpcs = match self.drift_scope(drifts).await? {
            DriftScope::Sweep(reason) => {
                info!(trigger = run.trigger, reason = %reason, "drift: sweeping every VPC in scope");
                return Ok((self.reconcile(&VpcSelector::All, true, run).await?, true));
            }
            DriftScope::Nothing(reason) => return Ok((ignored(&run, reason), false)),
            DriftScope::Vpcs(vpcs) => vpcs,
        };
        let selector = VpcSelector::Ids(vpcs);
        let observations = self.observe(&selector, true, None).await?;
        let missing = missing_vpcs(&selector, &observations);
        if observations.is_empty() {
            let reason = format!("VPC {} no longer exists; nothing to do", missing.join(", "));
            return Ok((ignored(&run, reason), false));
        }
        run.single = observations.len() == 1;
        let mut report = self.reconcile_observed(observations, run).await?;
        report.vpcs.extend(missing.iter().map(|id| VpcReport::skipped(id, "the VPC no longer exists; nothing to do")));
        Ok((report, false))
    }

    /// A delivery of the drift queue: its drift events as one run; the records that could not
    /// be read are handed back to SQS.
    pub(crate) async fn on_drift_batch(&self, batch: &DriftBatch, run: RunContext<'_>) -> Result<Report> {
        for (message_id, why) in &batch.unreadable {
            warn!(message_id, why = %why, "drift record not readable; SQS will deliver it again, then keep it in the dead-letter queue");
        }
        let (mut report, sweep) = if batch.drifts.is_empty() {
            let reason = format!("none of the {} record(s) named possible drift", batch.records);
            (ignored(&run, reason), false)
        } else {
            self.drift_run(&batch.drifts, run).await?
        };
        report.batch = Some(BatchSummary {
            records: batch.records,
            drift_events: batch.drifts.len(),
            ignored_events: batch.ignored.len(),
            unreadable_events: batch.unreadable.len(),
            sweep,
        });
        report.batch_item_failures =
            batch.unreadable.iter().map(|(id, _)| BatchItemFailure { item_identifier: id.clone() }).collect();
        Ok(report)
    }

    /// What drift events ask for: the VPCs their ids resolve to, a sweep, or nothing.
    async fn drift_scope(&self, drifts: &[Drift]) -> Result<DriftScope> {
        let all = |pick: fn(&Drift) -> &Vec<String>| -> Vec<String> {
            let ids: BTreeSet<&String> = drifts.iter().flat_map(pick).collect();
            ids.into_iter().cloned().collect()
        };
        let mut vpcs: BTreeSet<String> = all(|d| &d.vpc_ids).into_iter().collect();
        let endpoint_ids = all(|d| &d.endpoint_ids);
        let endpoints = match endpoint_ids.is_empty() {
            true => Vec::new(),
            false => self.account.endpoints_by_id(&endpoint_ids).await?,
        };
        vpcs.extend(endpoints.iter().map(|e| e.vpc_id.clone()));
        let group_ids = all(|d| &d.group_ids);
        if !group_ids.is_empty() {
            vpcs.extend(self.account.groups_by_id(&group_ids).await?.into_iter().map(|g| g.vpc_id));
        }
        let subnet_ids = all(|d| &d.subnet_ids);
        if !subnet_ids.is_empty() {
            vpcs.extend(self.account.subnets_by_id(&subnet_ids).await?.into_iter().map(|s| s.vpc_id));
        }
        let lists_notebooks = self.config.notebook_policy == NotebookPolicy::VpcNotebooks;
        let sweep_for = drifts.iter().find_map(|drift| match drift.event_name {
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
        });
        Ok(match (sweep_for, vpcs.is_empty()) {
            (Some(reason), _) => DriftScope::Sweep(reason),
            (None, false) => DriftScope::Vpcs(vpcs.into_iter().collect()),
            (None, true) => DriftScope::Nothing(drift_ignored_reason(drifts, lists_notebooks)),
        })
    }
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
