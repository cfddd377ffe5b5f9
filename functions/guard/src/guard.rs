//! The reconcile loop: trigger → observe → plan → apply → report, for one VPC or many.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tracing::{info, warn};

use crate::account::{Account, VpcSelector};
use crate::apply::{apply, planned_actions, Applied};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Parsed, Trigger};
use crate::model::{AccountIdentity, Notebook, Observation};
use crate::plan::{enrolment, plan, Enrolment, Plan};
use crate::report::{EndpointReport, Outcome, Problem, Report, Severity, VpcReport};

/// Rounds of observe → plan → apply per VPC before giving up on conflicts.
pub const MAX_ROUNDS: usize = 3;

/// The reconciler: an [`Account`], the configuration, and what is worth remembering across
/// invocations of a warm process (identity, service AZs, notebook subnets).
pub struct Guard<A> {
    account: A,
    config: Config,
    identity: tokio::sync::OnceCell<AccountIdentity>,
    pub(crate) service_azs_cache: Mutex<Option<BTreeMap<String, BTreeSet<String>>>>,
    pub(crate) notebook_subnets: Mutex<HashMap<String, Option<String>>>,
    visibility_retries: Vec<Duration>,
}

impl<A: Account> Guard<A> {
    /// A reconciler over `account` with `config`.
    pub fn new(account: A, config: Config) -> Self {
        Self {
            account,
            config,
            identity: tokio::sync::OnceCell::new(),
            service_azs_cache: Mutex::new(None),
            notebook_subnets: Mutex::new(HashMap::new()),
            visibility_retries: [1, 2, 4].map(Duration::from_secs).to_vec(),
        }
    }

    /// Sets the waits between lookups of a resource an event names but AWS does not show yet.
    pub fn with_visibility_retries(mut self, waits: Vec<Duration>) -> Self {
        self.visibility_retries = waits;
        self
    }

    /// The account adapter.
    pub fn account(&self) -> &A {
        &self.account
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Our identity, read once per process.
    pub async fn identity(&self) -> Result<AccountIdentity> {
        self.identity.get_or_try_init(|| self.account.identity()).await.cloned()
    }

    /// Runs what a parsed event asks for and returns the report, with the API calls it made.
    pub async fn run(&self, parsed: Parsed) -> Result<Report> {
        let before = self.account.api_calls();
        let mut report = match parsed {
            Parsed::Ignore { trigger, reason } => {
                info!(trigger, reason = %reason, "event ignored");
                let mut report = Report::new(trigger, self.config.dry_run);
                report.ignored = Some(reason);
                report
            }
            Parsed::Run(trigger) => self.run_trigger(&trigger).await?,
        };
        report.api_calls = self.account.api_calls().since(before);
        info!(
            trigger = %report.trigger,
            vpcs = report.vpcs.len(),
            changed = report.count(Outcome::Changed),
            reads = report.api_calls.read,
            writes = report.api_calls.write,
            "done"
        );
        Ok(report)
    }

    async fn run_trigger(&self, trigger: &Trigger) -> Result<Report> {
        match trigger {
            Trigger::NotebookCreated { name } => self.on_notebook_created(name).await,
            Trigger::SubnetCreated { subnet_id, vpc_id } => self.on_subnet_created(subnet_id, vpc_id).await,
            Trigger::Scheduled => self.reconcile("Scheduled", &VpcSelector::All, true, None, self.config.dry_run).await,
            Trigger::Manual { vpc_ids, dry_run } => {
                let selector = match vpc_ids {
                    Some(ids) => VpcSelector::Ids(ids.clone()),
                    None => VpcSelector::All,
                };
                let dry_run = dry_run.unwrap_or(self.config.dry_run);
                self.reconcile("Manual", &selector, true, None, dry_run).await
            }
        }
    }

    /// A notebook was created: its subnet (from `DescribeNotebookInstance`, the authority)
    /// names the VPC; every notebook of that VPC goes into the policy.
    async fn on_notebook_created(&self, name: &str) -> Result<Report> {
        let trigger = "CreateNotebookInstance";
        let notebook = self.visible("notebook instance", name, || self.account.describe_notebook(name)).await?;
        self.remember_notebook(&notebook);
        let Some(subnet_id) = notebook.subnet_id.clone() else {
            let mut report = Report::new(trigger, self.config.dry_run);
            report.ignored =
                Some(format!("notebook instance {name} has no VPC configuration (no subnet); nothing to do"));
            return Ok(report);
        };
        let ids = [subnet_id.clone()];
        let subnet = self
            .visible("subnet", &subnet_id, || async { Ok(self.account.subnets_by_id(&ids).await?.into_iter().next()) })
            .await?;
        let selector = VpcSelector::Ids(vec![subnet.vpc_id]);
        self.reconcile(trigger, &selector, true, Some(&notebook), self.config.dry_run).await
    }

    /// A subnet was created: its VPC is reconciled if in scope. The VPC's observation is
    /// read again briefly until it shows the new subnet (EC2 is eventually consistent).
    async fn on_subnet_created(&self, subnet_id: &str, vpc_id: &str) -> Result<Report> {
        let selector = VpcSelector::Ids(vec![vpc_id.to_string()]);
        let mut observations = self.observe(&selector, false, None).await?;
        for wait in &self.visibility_retries {
            if observations.iter().any(|o| o.subnets.iter().any(|s| s.id == subnet_id)) {
                break;
            }
            tokio::time::sleep(*wait).await;
            observations = self.observe(&selector, false, None).await?;
        }
        if !observations.iter().any(|o| o.subnets.iter().any(|s| s.id == subnet_id)) {
            warn!(subnet = subnet_id, "subnet not visible (deleted since?); reconciling its VPC anyway");
        }
        self.reconcile_observed("CreateSubnet", observations, true, None, self.config.dry_run).await
    }

    /// Looks `what` up until it is visible, waiting `visibility_retries` between tries.
    async fn visible<T, F, Fut>(&self, kind: &'static str, id: &str, lookup: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        for wait in std::iter::once(Duration::ZERO).chain(self.visibility_retries.iter().copied()) {
            tokio::time::sleep(wait).await;
            if let Some(found) = lookup().await? {
                return Ok(found);
            }
        }
        Err(Error::NotFound { kind, id: id.to_string(), hint: " (yet); the event will be retried".into() })
    }

    /// Observes the selected VPCs and brings each one in scope into line.
    pub async fn reconcile(
        &self,
        trigger: &str,
        selector: &VpcSelector,
        with_notebooks: bool,
        pinned: Option<&Notebook>,
        dry_run: bool,
    ) -> Result<Report> {
        let single = matches!(selector, VpcSelector::Ids(ids) if ids.len() == 1);
        let observations = self.observe(selector, with_notebooks, pinned).await?;
        self.reconcile_observed(trigger, observations, single, pinned, dry_run).await
    }

    /// Brings each observed VPC in scope into line. With `single`, an error fails the whole
    /// invocation (so Lambda retries it); otherwise it is reported for that VPC only.
    async fn reconcile_observed(
        &self,
        trigger: &str,
        observations: Vec<Observation>,
        single: bool,
        pinned: Option<&Notebook>,
        dry_run: bool,
    ) -> Result<Report> {
        let mut report = Report::new(trigger, dry_run);
        for mut obs in observations {
            let vpc_id = obs.vpc.id.clone();
            let result = self.reconcile_vpc(&mut obs, pinned, dry_run).await;
            match result {
                Ok(vpc_report) => report.vpcs.push(vpc_report),
                Err(error) if !single => {
                    warn!(vpc = %vpc_id, error = %error, "VPC failed; continuing the sweep");
                    report.vpcs.push(failed_vpc(&vpc_id, &error));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    async fn reconcile_vpc(
        &self,
        obs: &mut Observation,
        pinned: Option<&Notebook>,
        dry_run: bool,
    ) -> Result<VpcReport> {
        let mut decision = enrolment(obs, &self.config);
        if decision == Enrolment::NeedsNotebooks {
            self.read_notebooks(obs, pinned).await?;
            decision = enrolment(obs, &self.config);
        }
        let reason = match decision {
            Enrolment::Skipped(reason) => {
                info!(vpc = %obs.vpc.id, reason = %reason, "skipped");
                return Ok(VpcReport::skipped(&obs.vpc.id, reason));
            }
            Enrolment::Enrolled(reason) => reason,
            Enrolment::NeedsNotebooks => unreachable!("notebooks were read"),
        };
        self.read_dns(obs).await?;
        let mut actions = Vec::new();
        for round in 1..=MAX_ROUNDS {
            let mut current = plan(obs, &self.config);
            if current.needs_notebooks {
                self.read_notebooks(obs, pinned).await?;
                current = plan(obs, &self.config);
            }
            info!(vpc = %obs.vpc.id, round, enrolled = reason, writes = current.writes.len(), problems = current.problems.len(), "planned");
            if dry_run || current.is_empty() {
                if dry_run {
                    actions.extend(planned_actions(&current));
                }
                return Ok(self.vpc_report(obs, &current, actions, dry_run));
            }
            match apply(&self.account, obs, &current).await? {
                Applied::Done(done) => {
                    actions.extend(done);
                    let after = self.after_writes(obs, &current).await?;
                    let final_plan = plan(&after, &self.config);
                    return Ok(self.vpc_report(&after, &final_plan, actions, false));
                }
                Applied::Conflict { actions: done, hints, reason } => {
                    warn!(vpc = %obs.vpc.id, round, reason = %reason, "conflict; observing again");
                    actions.extend(done);
                    let mut after = self.refresh(obs, pinned).await?;
                    after.hints = obs.hints.clone();
                    after.hints.dns_conflicts.extend(hints.dns_conflicts);
                    after.hints.stale_endpoint_ids.extend(hints.stale_endpoint_ids);
                    *obs = after;
                }
            }
        }
        let last = plan(obs, &self.config);
        let mut report = self.vpc_report(obs, &last, actions, false);
        report.problems.push(Problem::error(
            "conflict_unresolved",
            format!(
                "VPC {} still conflicted after {MAX_ROUNDS} rounds; the next event or sweep will try again",
                obs.vpc.id
            ),
        ));
        report.outcome = Outcome::NonCompliant;
        Ok(report)
    }

    /// The observation after a round whose writes all succeeded: endpoints and the managed
    /// group are read again (two calls); the VPC's DNS attributes are what was written.
    async fn after_writes(&self, obs: &Observation, done: &Plan) -> Result<Observation> {
        use crate::plan::Write;
        let selector = VpcSelector::Ids(vec![obs.vpc.id.clone()]);
        let services = self.config.service_names(&obs.identity.region);
        let mut after = obs.clone();
        after.endpoints = self.account().describe_endpoints(&selector, &services).await?;
        if done.writes.iter().any(|w| matches!(w, Write::CreateGroup | Write::AuthorizeHttps { .. })) {
            after.group = self.account().managed_groups(&selector).await?.pop();
        }
        if let Some(dns) = after.vpc.dns.as_mut() {
            dns.support |= done.writes.contains(&Write::EnableDnsSupport);
            dns.hostnames |= done.writes.contains(&Write::EnableDnsHostnames);
        }
        Ok(after)
    }

    /// Observes one VPC again after a conflict, keeping the notebooks read before.
    async fn refresh(&self, obs: &Observation, pinned: Option<&Notebook>) -> Result<Observation> {
        let selector = VpcSelector::Ids(vec![obs.vpc.id.clone()]);
        let mut after = self.observe(&selector, false, pinned).await?.pop().ok_or_else(|| Error::NotFound {
            kind: "VPC",
            id: obs.vpc.id.clone(),
            hint: " after writing to it".into(),
        })?;
        after.notebooks = obs.notebooks.clone();
        self.read_dns(&mut after).await?;
        Ok(after)
    }

    fn vpc_report(
        &self,
        obs: &Observation,
        plan: &Plan,
        actions: Vec<crate::report::Action>,
        dry_run: bool,
    ) -> VpcReport {
        let endpoints = plan
            .services
            .iter()
            .map(|status| match &status.endpoint {
                Some(e) => EndpointReport {
                    service: status.service.clone(),
                    endpoint_id: Some(e.id.clone()),
                    subnet_ids: e.subnet_ids.clone(),
                    private_dns: e.private_dns,
                    state: e.state.as_str().to_string(),
                },
                None => EndpointReport {
                    service: status.service.clone(),
                    endpoint_id: None,
                    subnet_ids: Vec::new(),
                    private_dns: false,
                    state: "absent".into(),
                },
            })
            .collect();
        let has_errors = plan.problems.iter().any(|p| p.severity == Severity::Error);
        let outcome = if has_errors {
            Outcome::NonCompliant
        } else if dry_run && !plan.writes.is_empty() {
            Outcome::WouldChange
        } else if !actions.is_empty() {
            Outcome::Changed
        } else if !plan.pending.is_empty() {
            Outcome::Pending
        } else {
            Outcome::Compliant
        };
        info!(vpc = %obs.vpc.id, outcome = %outcome, actions = actions.len(), "reconciled");
        VpcReport {
            vpc_id: obs.vpc.id.clone(),
            outcome,
            reason: None,
            endpoints,
            actions,
            problems: plan.problems.clone(),
        }
    }
}

fn failed_vpc(vpc_id: &str, error: &Error) -> VpcReport {
    VpcReport {
        vpc_id: vpc_id.to_string(),
        outcome: Outcome::NonCompliant,
        reason: None,
        endpoints: Vec::new(),
        actions: Vec::new(),
        problems: vec![Problem::error("error", format!("{} ({})", error, error.error_type()))],
    }
}
