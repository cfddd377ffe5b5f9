//! One method per trigger: which VPCs a notebook, subnet or domain event, or a manual payload,
//! names, read from the account (the event only says where to look), then reconciled.

use tracing::warn;

use crate::account::{Account, VpcSelector};
use crate::error::{Error, Result};
use crate::events::Trigger;
use crate::guard::{ignored, Guard, RunContext, RunOptions};
use crate::observe::missing_vpcs;
use crate::report::{Code, Problem, Report, VpcReport};

impl<A: Account> Guard<A> {
    pub(crate) async fn run_trigger(&self, trigger: &Trigger, options: &RunOptions) -> Result<Report> {
        let dry_run = options.dry_run.unwrap_or(self.config.dry_run);
        let context = |trigger: &'static str, single: bool| RunContext {
            trigger,
            dry_run,
            pinned: None,
            deadline: options.deadline,
            single,
            approve: options.approve.as_ref(),
        };
        match trigger {
            Trigger::NotebookCreated { name } => self.on_notebook_created(name, context(trigger.name(), true)).await,
            Trigger::SubnetCreated { subnet_id, vpc_id } => {
                self.on_subnet_created(subnet_id, vpc_id, context(trigger.name(), true)).await
            }
            Trigger::DomainChanged { domain_id, .. } => {
                self.on_domain_changed(domain_id, context(trigger.name(), true)).await
            }
            Trigger::Scheduled => self.reconcile(&VpcSelector::All, true, context(trigger.name(), false)).await,
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

    /// A subnet was created: its VPC is reconciled if in scope. The VPC's observation is
    /// read again briefly until it shows the new subnet (EC2 is eventually consistent); a VPC
    /// that does not show up by then is gone and the event is ignored.
    pub(crate) async fn on_subnet_created(&self, subnet_id: &str, vpc_id: &str, run: RunContext<'_>) -> Result<Report> {
        let selector = VpcSelector::Ids(vec![vpc_id.to_string()]);
        let shows_subnet = |observations: &[crate::model::Observation]| {
            observations.iter().any(|o| o.subnets.iter().any(|s| s.id == subnet_id))
        };
        let mut observations = self.observe(&selector, false, None).await?;
        for wait in &self.visibility_retries {
            if shows_subnet(&observations) {
                break;
            }
            tokio::time::sleep(*wait).await;
            observations = self.observe(&selector, false, None).await?;
        }
        if observations.is_empty() {
            return Ok(ignored(&run, format!("VPC {vpc_id} of subnet {subnet_id} no longer exists; nothing to do")));
        }
        if !shows_subnet(&observations) {
            warn!(subnet = subnet_id, "subnet not visible (deleted since?); reconciling its VPC anyway");
        }
        self.reconcile_observed(observations, run).await
    }
}
