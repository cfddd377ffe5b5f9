//! One method per trigger: which VPCs a notebook, subnet or domain event, or a manual payload,
//! names, read from the account (the event only says where to look), then reconciled.

use std::collections::BTreeSet;
use std::time::Duration;

use tracing::{info, warn};

use crate::account::{Account, VpcSelector};
use crate::error::{Error, Result};
use crate::events::{Delivery, Trigger};
use crate::guard::{ignored, Guard, RunContext, RunOptions};
use crate::model::{Domain, Notebook};
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
            pinned: &[],
            deadline: options.deadline,
            single,
            approve: options.approve.as_ref(),
            prune_at: None,
        };
        match trigger {
            Trigger::NotebookCreated { name } => self.on_notebook_created(name, context(trigger.name(), true)).await,
            Trigger::SubnetCreated { subnet_id, vpc_id } => {
                self.on_subnet_created(subnet_id, vpc_id, context(trigger.name(), true)).await
            }
            Trigger::DomainChanged { domain_id, .. } => {
                self.on_domain_changed(domain_id, context(trigger.name(), true)).await
            }
            Trigger::Scheduled => {
                let run = RunContext { prune_at, ..context(trigger.name(), false) };
                self.reconcile(&VpcSelector::All, true, run).await
            }
            Trigger::Drift(drift) => self.on_drift(std::slice::from_ref(drift), context(drift.event_name, false)).await,
            // Drift records only (or nothing readable): the drift batch; any creation record, even
            // one that needs nothing, goes the creation way, which reports why it needs nothing.
            Trigger::Delivery(delivery) if !delivery.has_creation => {
                self.on_drift_batch(delivery, context(trigger.name(), false)).await
            }
            Trigger::Delivery(delivery) => self.on_delivery(delivery, context(trigger.name(), false)).await,
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
        run.pinned = std::slice::from_ref(&notebook);
        // The VPC's other notebooks matter only to the vpc-notebooks policy: otherwise the
        // event's own notebook enrols the VPC, and the event costs the same reads whatever the
        // number of notebooks in the account.
        let lists = self.config.notebook_policy == crate::config::NotebookPolicy::VpcNotebooks;
        let mut observations = self.observe_pinned(&selector, lists, run.pinned).await?;
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
            report.vpcs.push(public_domain(&domain));
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

    /// A subnet was created: its VPC is reconciled, if in scope. The VPC's observation is read
    /// again briefly until it shows the new subnet (EC2 is eventually consistent); a VPC that
    /// does not show up by then is gone and the event is ignored.
    pub(crate) async fn on_subnet_created(&self, subnet_id: &str, vpc_id: &str, run: RunContext<'_>) -> Result<Report> {
        let selector = VpcSelector::Ids(vec![vpc_id.to_string()]);
        let new = [(subnet_id.to_string(), vpc_id.to_string())];
        let observations = self.observe_new(&selector, &new, false, &[]).await?;
        if observations.is_empty() {
            return Ok(ignored(&run, format!("VPC {vpc_id} of subnet {subnet_id} no longer exists; nothing to do")));
        }
        self.reconcile_observed(observations, run).await
    }

    /// A delivery of the event queue with creation records (and perhaps drift records): every
    /// record resolved to its VPCs (a subnet event names it; a notebook's subnet and a domain
    /// are described first, as for one event; a drift record's ids are resolved as for the
    /// drift batch), then the union of those VPCs observed together and reconciled once each, in
    /// one run, so that a burst (a Terraform apply creating fifty subnets, and the drift it
    /// causes) costs a pass over the VPCs it touches, not one per event. A drift record that asks
    /// for a sweep makes the run a sweep of every VPC in scope, which covers the new resources
    /// too. The records that could not be read, those whose notebook or domain could not be
    /// described, and those that named a VPC left unfinished (failed, or deferred by the deadline
    /// or AWS's throttle; for a sweep's records, any VPC) come back to SQS (`batchItemFailures`).
    pub(crate) async fn on_delivery(&self, delivery: &Delivery, mut run: RunContext<'_>) -> Result<Report> {
        for (message_id, why) in &delivery.unreadable {
            warn!(message_id, why = %why, "record not readable; SQS will deliver it again, then keep it in the dead-letter queue");
        }
        let resolved = self.resolve_creations(&delivery.creations).await?;
        let drift = self.drift_targets(&delivery.drifts).await?;
        let Resolved { subnets, notebooks, domains, mut named, failed, mut ignored_reasons, mut aside } = resolved;
        ignored_reasons.splice(0..0, delivery.ignored.iter().cloned());
        ignored_reasons.extend(drift.nothing.iter().cloned());
        named.extend(drift.named.iter().cloned());
        let vpcs: BTreeSet<String> = named.iter().map(|(_, vpc)| vpc.clone()).collect();
        let mut report = Report::new(run.trigger, run.dry_run);
        if !vpcs.is_empty() || drift.sweep.is_some() {
            let selector = match &drift.sweep {
                Some(reason) => {
                    info!(trigger = run.trigger, reason = %reason, "drift: sweeping every VPC in scope");
                    VpcSelector::All
                }
                None => VpcSelector::Ids(vpcs.iter().cloned().collect()),
            };
            // A sweep reads every notebook, as the schedule's does; otherwise, under vpc-notebooks
            // a new notebook changes its endpoint's policy, which lists them all.
            let lists = drift.sweep.is_some()
                || (!notebooks.is_empty()
                    && self.config.notebook_policy == crate::config::NotebookPolicy::VpcNotebooks);
            let pinned: Vec<Notebook> = notebooks.iter().map(|(notebook, _)| notebook.clone()).collect();
            let mut observations = self.observe_new(&selector, &subnets, lists, &pinned).await?;
            let missing = missing_vpcs(&selector, &observations);
            for obs in &mut observations {
                // What the events enrol the VPC with, as for one event: its new notebooks (unless
                // the notebooks were all read above, the new ones pinned) and its VPC-only
                // domains (added to a sweep's listing, which may not show them yet).
                let mine: Vec<_> =
                    notebooks.iter().filter(|(_, vpc)| *vpc == obs.vpc.id).map(|(n, _)| n.clone()).collect();
                if !lists && !mine.is_empty() {
                    obs.notebooks = Some(mine);
                }
                for domain in domains.iter().filter(|d| d.vpc_id == obs.vpc.id) {
                    let listed = obs.domains.get_or_insert_with(Vec::new);
                    if !listed.iter().any(|d| d.id == domain.id) {
                        listed.push(domain.clone());
                    }
                }
            }
            run.pinned = &pinned;
            run.single = false;
            let part = self.reconcile_observed(observations, run).await?;
            report.vpcs.extend(part.vpcs);
            report
                .vpcs
                .extend(missing.iter().map(|id| VpcReport::skipped(id, "the VPC no longer exists; nothing to do")));
        }
        // What was reported without a run: VPCs shared with this account, and the VPCs of
        // PublicInternetOnly domains (their warning joins the VPC's report when another record
        // had it reconciled).
        for vpc in aside.drain(..) {
            match report.vpcs.iter_mut().find(|v| v.vpc_id == vpc.vpc_id) {
                Some(done) => done.problems.extend(vpc.problems.into_iter().filter(|p| p.code != Code::SharedVpc)),
                None => report.vpcs.push(vpc),
            }
        }
        if report.vpcs.is_empty() && failed.is_empty() && !ignored_reasons.is_empty() {
            report.ignored = Some(ignored_reasons.join("; "));
        }
        report.batch = Some(BatchSummary {
            records: delivery.records,
            drift_events: delivery.drifts.len(),
            ignored_events: delivery.ignored.len(),
            unreadable_events: delivery.unreadable.len(),
            sweep: drift.sweep.is_some(),
            creation_events: delivery.creations.len(),
        });
        let unfinished: BTreeSet<&str> =
            report.vpcs.iter().filter(|v| v.unfinished()).map(|v| v.vpc_id.as_str()).collect();
        named.retain(|(_, vpc)| unfinished.contains(vpc.as_str()));
        let records = delivery.creations.iter().map(|(id, _)| id.as_str());
        let retried = records.chain(delivery.drifts.iter().filter_map(|d| d.record.as_deref())).filter(|id| {
            failed.iter().any(|f| f == id)
                || named.iter().any(|(record, _)| record == id)
                || (!unfinished.is_empty() && drift.asked_sweep.iter().any(|r| r == id))
        });
        let unreadable = delivery.unreadable.iter().map(|(id, _)| id.as_str());
        report.batch_item_failures = Some(crate::report::batch_item_failures(retried, unreadable));
        for failure in report.batch_item_failures.iter().flatten() {
            info!(message_id = %failure.item_identifier, "record handed back to SQS");
        }
        Ok(report)
    }

    /// The VPCs of a delivery's creation events, each record's, and what needs no run. A
    /// notebook or a domain is described (retried briefly while not visible yet, as for one
    /// event); the notebooks' subnets are read together. A record whose lookup fails is
    /// handed back alone.
    async fn resolve_creations(&self, events: &[(String, Trigger)]) -> Result<Resolved> {
        let mut resolved = Resolved::default();
        let mut described: Vec<(&str, Notebook)> = Vec::new();
        for (record, trigger) in events {
            match trigger {
                Trigger::SubnetCreated { subnet_id, vpc_id } => {
                    resolved.subnets.push((subnet_id.clone(), vpc_id.clone()));
                    resolved.named.push((record.clone(), vpc_id.clone()));
                }
                Trigger::NotebookCreated { name } => match self.visible(|| self.account.describe_notebook(name)).await {
                    Ok(Some(notebook)) if notebook.subnet_id.is_some() => {
                        self.remember_notebook(&notebook);
                        described.push((record, notebook));
                    }
                    Ok(Some(_)) => resolved.ignored_reasons.push(format!(
                        "notebook instance {name} has no VPC configuration (no subnet); nothing to do"
                    )),
                    Ok(None) => resolved.ignored_reasons.push(format!(
                        "notebook instance {name} no longer exists (deleted before its event was handled); nothing to do"
                    )),
                    Err(error) => resolved.failed(record, &error),
                },
                Trigger::DomainChanged { domain_id, .. } if !self.config.studio() => resolved
                    .ignored_reasons
                    .push(format!("domain {domain_id}: the studio profile is off (VPCE_GUARD_PROFILES); nothing to do")),
                Trigger::DomainChanged { domain_id, .. } => {
                    match self.visible(|| self.account.describe_domain(domain_id)).await {
                        Ok(Some(domain)) => {
                            self.remember_domain(&domain);
                            if crate::plan::enrols(&domain, &self.config) {
                                resolved.named.push((record.clone(), domain.vpc_id.clone()));
                                resolved.domains.push(domain);
                            } else {
                                resolved.aside.push(public_domain(&domain));
                            }
                        }
                        Ok(None) => {
                            resolved.ignored_reasons.push(format!("domain {domain_id} no longer exists; nothing to do"))
                        }
                        Err(error) => resolved.failed(record, &error),
                    }
                }
                other => resolved.ignored_reasons.push(format!("a {} event is not a creation event", other.name())),
            }
        }
        if described.is_empty() {
            return Ok(resolved);
        }
        let ids: Vec<String> =
            described.iter().filter_map(|(_, n)| n.subnet_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let mut found = Vec::new();
        for wait in std::iter::once(Duration::ZERO).chain(self.visibility_retries.iter().copied()) {
            tokio::time::sleep(wait).await;
            match self.account.subnets_by_id(&ids).await {
                Ok(subnets) => found = subnets,
                Err(error) => {
                    described.iter().for_each(|(record, _)| resolved.failed(record, &error));
                    return Ok(resolved);
                }
            }
            if found.len() == ids.len() {
                break;
            }
        }
        let ours = self.identity().await?.account_id;
        for (record, notebook) in described {
            let subnet_id = notebook.subnet_id.as_deref().unwrap_or_default();
            match found.iter().find(|s| s.id == subnet_id) {
                None => resolved.ignored_reasons.push(format!(
                    "subnet {subnet_id} of notebook instance {} no longer exists; nothing to do",
                    notebook.name
                )),
                // A subnet shared with this account through RAM: only its owner can give the VPC
                // endpoints, and a participant cannot read them.
                Some(subnet) if subnet.owner_id != ours && !subnet.owner_id.is_empty() => {
                    if !resolved.aside.iter().any(|v| v.vpc_id == subnet.vpc_id) {
                        resolved.aside.push(VpcReport::shared(&subnet.vpc_id, &subnet.owner_id));
                    }
                }
                Some(subnet) => {
                    resolved.named.push((record.to_string(), subnet.vpc_id.clone()));
                    resolved.notebooks.push((notebook, subnet.vpc_id.clone()));
                }
            }
        }
        Ok(resolved)
    }

    /// The selected VPCs observed, read again briefly until they show every new subnet (EC2 is
    /// eventually consistent); a VPC that does not show up by then is gone.
    async fn observe_new(
        &self,
        selector: &VpcSelector,
        subnets: &[(String, String)],
        with_notebooks: bool,
        pinned: &[Notebook],
    ) -> Result<Vec<crate::model::Observation>> {
        let wanted = match selector {
            VpcSelector::Ids(ids) => ids.len(),
            VpcSelector::All => 0,
        };
        let shows_subnets = |observations: &[crate::model::Observation]| {
            subnets.iter().all(|(subnet_id, vpc_id)| {
                let vpc = observations.iter().find(|o| o.vpc.id == *vpc_id);
                vpc.is_none_or(|o| o.subnets.iter().any(|s| s.id == *subnet_id))
            })
        };
        let mut observations = self.observe_pinned(selector, with_notebooks, pinned).await?;
        for wait in &self.visibility_retries {
            if shows_subnets(&observations) && observations.len() == wanted {
                break;
            }
            tokio::time::sleep(*wait).await;
            observations = self.observe_pinned(selector, with_notebooks, pinned).await?;
        }
        if !shows_subnets(&observations) {
            warn!(subnets = ?subnets, "subnet not visible (deleted since?); reconciling its VPC anyway");
        }
        Ok(observations)
    }
}

/// What a delivery's creation events resolve to.
#[derive(Default)]
struct Resolved {
    /// The new subnets, with their VPCs.
    subnets: Vec<(String, String)>,
    /// The new notebooks, with their VPCs.
    notebooks: Vec<(Notebook, String)>,
    /// The new or changed domains that enrol their VPCs.
    domains: Vec<Domain>,
    /// Each record that named a VPC to reconcile, with it.
    named: Vec<(String, String)>,
    /// Records whose lookup failed: handed back to SQS.
    failed: Vec<String>,
    /// Why each record that needs nothing needs nothing.
    ignored_reasons: Vec<String>,
    /// VPCs reported without a run: shared with this account, or a PublicInternetOnly domain's.
    aside: Vec<VpcReport>,
}

impl Resolved {
    fn failed(&mut self, record: &str, error: &crate::error::Error) {
        warn!(message_id = record, error = %error, "lookup failed; the record goes back to SQS");
        self.failed.push(record.to_string());
    }
}

/// The report of a domain left `PublicInternetOnly`: its VPC is left alone, with the warning.
fn public_domain(domain: &Domain) -> VpcReport {
    let mut vpc = VpcReport::skipped(
        &domain.vpc_id,
        format!("domain {} is in PublicInternetOnly mode: its apps reach AWS over the internet", domain.id),
    );
    vpc.problems.push(Problem::warning(
        Code::StudioPublicInternet,
        format!(
            "Studio domain {} uses AppNetworkAccessType=PublicInternetOnly; vpce-guard leaves VPC {} alone (set VPCE_GUARD_STUDIO_PUBLIC_DOMAINS=enforce to give it the studio endpoints anyway)",
            domain.id, domain.vpc_id
        ),
    ));
    vpc
}
