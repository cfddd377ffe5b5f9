//! One method per trigger: which VPCs a notebook, subnet or domain event, or a manual payload,
//! names, read from the account (the event only says where to look), then reconciled.

use tracing::warn;

use crate::account::{Account, VpcSelector};
use crate::error::{Error, Result};
use crate::events::{CreationBatch, Trigger};
use crate::guard::{ignored, Guard, RunContext, RunOptions};
use crate::observe::missing_vpcs;
use crate::report::{BatchSummary, Code, Problem, Report, VpcReport};

impl<A: Account> Guard<A> {
    pub(crate) async fn run_trigger(&self, trigger: &Trigger, options: &RunOptions) -> Result<Report> {
        let dry_run = options.dry_run.unwrap_or(self.config.dry_run);
        // Only the schedule's sweep and the CLI prune idle VPCs: never an event's run.
        let prune_at = match trigger {
            Trigger::Scheduled => Some((self.clock)()),
            Trigger::Manual { .. } if options.prune => Some((self.clock)()),
            _ => None,
        };
        let context = |trigger: &'static str, single: bool| RunContext {
            trigger,
            dry_run,
            pinned: None,
            deadline: options.deadline,
            single,
            approve: options.approve.as_ref(),
            prune_at: None,
        };
        match trigger {
            Trigger::NotebookCreated { name } => self.on_notebook_created(name, context(trigger.name(), true)).await,
            Trigger::SubnetCreated { subnet_id, vpc_id } => {
                self.on_subnets_created(&[(subnet_id.as_str(), vpc_id.as_str())], context(trigger.name(), true)).await
            }
            Trigger::CreationBatch(batch) => self.on_creation_batch(batch, context(trigger.name(), false)).await,
            Trigger::DomainChanged { domain_id, .. } => {
                self.on_domain_changed(domain_id, context(trigger.name(), true)).await
            }
            Trigger::Scheduled => {
                let run = RunContext { prune_at, ..context(trigger.name(), false) };
                self.reconcile(&VpcSelector::All, true, run).await
            }
            Trigger::Drift(drift) => self.on_drift(std::slice::from_ref(drift), context(drift.event_name, false)).await,
            Trigger::DriftBatch(batch) => self.on_drift_batch(batch, context(trigger.name(), false)).await,
            Trigger::Manual { vpc_ids, dry_run: payload_dry_run } => {
                let selector = match vpc_ids {
                    Some(ids) => VpcSelector::Ids(ids.clone()),
                    None => VpcSelector::All,
                };
                let single = matches!(&selector, VpcSelector::Ids(ids) if ids.len() == 1);
                let mut run = context(options.trigger_name.unwrap_or("Manual"), single);
                run.dry_run = payload_dry_run.or(options.dry_run).unwrap_or(self.config.dry_run);
                run.prune_at = prune_at;
                self.on_manual(&selector, run).await
            }
        }
    }

    /// A manual payload: the VPCs it names that exist are reconciled and those that do not
    /// are reported (`vpc_not_found`); when none exists the payload itself is wrong
    /// (`Permanent.BadEvent`: a retry cannot help).
    pub(crate) async fn on_manual(&self, selector: &VpcSelector, run: RunContext<'_>) -> Result<Report> {
        let observations = self.observe(selector, true, None).await?;
        let missing = missing_vpcs(selector, &observations);
        let region = self.account.region().to_string();
        if !missing.is_empty() && observations.is_empty() {
            return Err(Error::bad_event(format!(
                "vpc_ids names {}, which does not exist in {region}; check the ids and the region",
                missing.join(", ")
            )));
        }
        let mut report = self.reconcile_observed(observations, run).await?;
        report.vpcs.extend(missing.iter().map(|id| VpcReport::not_found(id, &region)));
        Ok(report)
    }

    /// A notebook was created: its subnet (from `DescribeNotebookInstance`, the authority)
    /// names the VPC. A notebook, subnet or VPC that stays invisible through the brief retries
    /// is gone (CloudTrail delivers events minutes after the call): the event is ignored.
    pub(crate) async fn on_notebook_created(&self, name: &str, mut run: RunContext<'_>) -> Result<Report> {
        let Some(notebook) = self.visible(|| self.account.describe_notebook(name)).await? else {
            return Ok(ignored(
                &run,
                format!(
                    "notebook instance {name} no longer exists (deleted before its event was handled); nothing to do"
                ),
            ));
        };
        self.remember_notebook(&notebook);
        let Some(subnet_id) = notebook.subnet_id.clone() else {
            return Ok(ignored(
                &run,
                format!("notebook instance {name} has no VPC configuration (no subnet); nothing to do"),
            ));
        };
        let ids = [subnet_id.clone()];
        let lookup = || async { Ok(self.account.subnets_by_id(&ids).await?.into_iter().next()) };
        let Some(subnet) = self.visible(lookup).await? else {
            return Ok(ignored(
                &run,
                format!("subnet {subnet_id} of notebook instance {name} no longer exists; nothing to do"),
            ));
        };
        let ours = self.identity().await?.account_id;
        if subnet.owner_id != ours && !subnet.owner_id.is_empty() {
            // A subnet shared with this account through RAM: only its owner can give the VPC
            // endpoints, and a participant cannot read them. Nothing else is read.
            let mut report = Report::new(run.trigger, run.dry_run);
            report.vpcs.push(VpcReport::shared(&subnet.vpc_id, &subnet.owner_id));
            return Ok(report);
        }
        let selector = VpcSelector::Ids(vec![subnet.vpc_id.clone()]);
        run.pinned = Some(&notebook);
        // The VPC's other notebooks matter only to the vpc-notebooks policy: otherwise the
        // event's own notebook enrols the VPC, and the event costs the same reads whatever the
        // number of notebooks in the account.
        let lists = self.config.notebook_policy == crate::config::NotebookPolicy::VpcNotebooks;
        let mut observations = self.observe(&selector, lists, run.pinned).await?;
        if observations.is_empty() {
            return Ok(ignored(
                &run,
                format!("VPC {} of notebook instance {name} no longer exists; nothing to do", subnet.vpc_id),
            ));
        }
        if !lists {
            observations.iter_mut().for_each(|obs| obs.notebooks = Some(vec![notebook.clone()]));
        }
        self.reconcile_observed(observations, run).await
    }

    /// A Studio domain was created or updated: `DescribeDomain` (the authority, retried
    /// briefly while the domain is not visible yet) names its VPC and access type. A VPC-only
    /// domain enrols its VPC for the studio profile; a `PublicInternetOnly` one is reported and
    /// its VPC left alone (unless `VPCE_GUARD_STUDIO_PUBLIC_DOMAINS=enforce`).
    pub(crate) async fn on_domain_changed(&self, domain_id: &str, run: RunContext<'_>) -> Result<Report> {
        if !self.config.studio() {
            return Ok(ignored(&run, "the studio profile is off (VPCE_GUARD_PROFILES); nothing to do".into()));
        }
        let Some(domain) = self.visible(|| self.account.describe_domain(domain_id)).await? else {
            return Ok(ignored(&run, format!("domain {domain_id} no longer exists; nothing to do")));
        };
        self.remember_domain(&domain);
        if !crate::plan::enrols(&domain, &self.config) {
            let mut report = Report::new(run.trigger, run.dry_run);
            let mut vpc = VpcReport::skipped(
                &domain.vpc_id,
                format!("domain {domain_id} is in PublicInternetOnly mode: its apps reach AWS over the internet"),
            );
            vpc.problems.push(Problem::warning(
                Code::StudioPublicInternet,
                format!(
                    "Studio domain {domain_id} uses AppNetworkAccessType=PublicInternetOnly; vpce-guard leaves VPC {} alone (set VPCE_GUARD_STUDIO_PUBLIC_DOMAINS=enforce to give it the studio endpoints anyway)",
                    domain.vpc_id
                ),
            ));
            report.vpcs.push(vpc);
            return Ok(report);
        }
        let selector = VpcSelector::Ids(vec![domain.vpc_id.clone()]);
        let mut observations = self.observe(&selector, false, None).await?;
        if observations.is_empty() {
            return Ok(ignored(
                &run,
                format!("VPC {} of domain {domain_id} no longer exists; nothing to do", domain.vpc_id),
            ));
        }
        observations.iter_mut().for_each(|obs| obs.domains = Some(vec![domain.clone()]));
        self.reconcile_observed(observations, run).await
    }

    /// Subnets were created: their VPCs are reconciled once each, if in scope. The VPCs'
    /// observation is read again briefly until it shows every new subnet (EC2 is eventually
    /// consistent); a VPC that does not show up by then is gone and its subnets' events are
    /// ignored.
    pub(crate) async fn on_subnets_created(&self, subnets: &[(&str, &str)], mut run: RunContext<'_>) -> Result<Report> {
        let vpcs: std::collections::BTreeSet<&str> = subnets.iter().map(|(_, vpc)| *vpc).collect();
        let selector = VpcSelector::Ids(vpcs.iter().map(|v| v.to_string()).collect());
        let shows_subnets = |observations: &[crate::model::Observation]| {
            subnets.iter().all(|(subnet_id, vpc_id)| {
                let vpc = observations.iter().find(|o| o.vpc.id == *vpc_id);
                vpc.is_none_or(|o| o.subnets.iter().any(|s| s.id == *subnet_id))
            })
        };
        let mut observations = self.observe(&selector, false, None).await?;
        for wait in &self.visibility_retries {
            if shows_subnets(&observations) && observations.len() == vpcs.len() {
                break;
            }
            tokio::time::sleep(*wait).await;
            observations = self.observe(&selector, false, None).await?;
        }
        let missing = missing_vpcs(&selector, &observations);
        if observations.is_empty() {
            let subnet_ids: Vec<&str> = subnets.iter().map(|(subnet, _)| *subnet).collect();
            return Ok(ignored(
                &run,
                format!(
                    "VPC {} of subnet {} no longer exists; nothing to do",
                    missing.join(", "),
                    subnet_ids.join(", ")
                ),
            ));
        }
        if !shows_subnets(&observations) {
            warn!(subnets = ?subnets, "subnet not visible (deleted since?); reconciling its VPC anyway");
        }
        run.single = run.single || observations.len() == 1;
        let mut report = self.reconcile_observed(observations, run).await?;
        report.vpcs.extend(missing.iter().map(|id| VpcReport::skipped(id, "the VPC no longer exists; nothing to do")));
        Ok(report)
    }

    /// A delivery of a creation queue: the subnets' VPCs reconciled once each in one run, each
    /// notebook or domain by its own run (each names its VPC only once described). The records
    /// that could not be read, those whose run failed, and those that named a VPC left
    /// unfinished come back to SQS (`batchItemFailures`).
    pub(crate) async fn on_creation_batch(&self, batch: &CreationBatch, run: RunContext<'_>) -> Result<Report> {
        for (message_id, why) in &batch.unreadable {
            warn!(message_id, why = %why, "record not readable; SQS will deliver it again, then keep it in the dead-letter queue");
        }
        let context = || RunContext { pinned: None, ..run };
        let mut report = Report::new(run.trigger, run.dry_run);
        let mut ignored_reasons = batch.ignored.clone();
        // Each record's VPCs, and the records whose run failed as a whole.
        let mut named: Vec<(&str, Vec<String>)> = Vec::new();
        let mut failed: Vec<&str> = Vec::new();
        let subnets: Vec<(&str, &str)> = batch
            .events
            .iter()
            .filter_map(|(_, t)| match t {
                Trigger::SubnetCreated { subnet_id, vpc_id } => Some((subnet_id.as_str(), vpc_id.as_str())),
                _ => None,
            })
            .collect();
        let mut parts = Vec::new();
        if !subnets.is_empty() {
            let records: Vec<&str> = batch
                .events
                .iter()
                .filter(|(_, t)| matches!(t, Trigger::SubnetCreated { .. }))
                .map(|(id, _)| id.as_str())
                .collect();
            let result = self.on_subnets_created(&subnets, context()).await;
            for (record, (_, vpc)) in records.iter().zip(&subnets) {
                named.push((record, vec![vpc.to_string()]));
            }
            parts.push((records, result));
        }
        for (record, trigger) in &batch.events {
            let result = match trigger {
                Trigger::NotebookCreated { name } => self.on_notebook_created(name, context()).await,
                Trigger::DomainChanged { domain_id, .. } => self.on_domain_changed(domain_id, context()).await,
                _ => continue,
            };
            if let Ok(part) = &result {
                named.push((record, part.vpcs.iter().map(|v| v.vpc_id.clone()).collect()));
            }
            parts.push((vec![record.as_str()], result));
        }
        for (records, result) in parts {
            match result {
                Ok(part) => {
                    ignored_reasons.extend(part.ignored);
                    report.vpcs.extend(part.vpcs);
                }
                Err(error) => {
                    warn!(records = ?records, error = %error, "run failed; its records go back to SQS");
                    failed.extend(records);
                }
            }
        }
        if report.vpcs.is_empty() && failed.is_empty() && !ignored_reasons.is_empty() {
            report.ignored = Some(ignored_reasons.join("; "));
        }
        report.batch = Some(BatchSummary {
            records: batch.records,
            drift_events: 0,
            ignored_events: batch.ignored.len(),
            unreadable_events: batch.unreadable.len(),
            sweep: false,
            creation_events: batch.events.len(),
        });
        let unfinished: std::collections::BTreeSet<&str> =
            report.vpcs.iter().filter(|v| v.unfinished()).map(|v| v.vpc_id.as_str()).collect();
        let retried = batch.events.iter().map(|(id, _)| id.as_str()).filter(|id| {
            failed.contains(id)
                || named
                    .iter()
                    .any(|(record, vpcs)| record == id && vpcs.iter().any(|v| unfinished.contains(v.as_str())))
        });
        let unreadable = batch.unreadable.iter().map(|(id, _)| id.as_str());
        report.batch_item_failures = Some(crate::report::batch_item_failures(retried, unreadable));
        Ok(report)
    }
}
