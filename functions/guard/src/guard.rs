//! The reconciler's entry points: one per trigger, all ending in `Guard::reconcile`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::account::{Account, ServiceOffer, VpcSelector};
use crate::config::{Config, NotebookPolicy};
use crate::error::{Error, Result};
use crate::events::{Drift, DriftBatch, Parsed, Trigger};
use crate::findings::{active_filters, plan_findings, ActiveFinding, FindingContext};
use crate::model::{AccountIdentity, Notebook};
use crate::observe::missing_vpcs;
use crate::report::{
    Action, BatchItemFailure, BatchSummary, Code, FindingsReport, GuardrailReport, Outcome, Problem, Report, VpcReport,
};

/// What a warm process remembers of a notebook: creation time, subnet, direct internet access.
pub(crate) type NotebookFacts = (Option<i64>, Option<String>, bool);

/// Called after each VPC of a run with (VPCs done, VPCs in the run): drives progress bars.
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Per-invocation settings.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// When the invocation must have returned (Lambda's deadline). Work that cannot finish
    /// before it is left for the next run and reported `pending`.
    pub deadline: Option<Instant>,
    /// Overrides the configuration's dry run.
    pub dry_run: Option<bool>,
    /// The report's `trigger` for runs started by a manual payload (default `Manual`).
    pub trigger_name: Option<&'static str>,
    /// The account an EventBridge event came from; an event of another account is ignored.
    pub event_account: Option<String>,
    /// Asked before each VPC's writes (see [`crate::approval`]); a refusal stops that VPC.
    pub approve: Option<crate::approval::Approver>,
}

/// What one reconcile run needs to know besides the observations.
pub(crate) struct RunContext<'a> {
    pub trigger: &'a str,
    pub dry_run: bool,
    pub pinned: Option<&'a Notebook>,
    pub deadline: Option<Instant>,
    /// One VPC named by an event: an error fails the invocation (so Lambda retries it).
    /// Otherwise (sweeps) an error is reported for its VPC alone and the sweep goes on.
    pub single: bool,
    /// The caller's approver ([`RunOptions::approve`]).
    pub approve: Option<&'a crate::approval::Approver>,
}

/// The reconciler: an [`Account`], the configuration, and what is worth remembering across
/// invocations of a warm process (identity, service AZs, notebook subnets).
pub struct Guard<A> {
    account: A,
    config: Config,
    identity: tokio::sync::OnceCell<AccountIdentity>,
    pub(crate) services_cache: Mutex<Option<BTreeMap<String, ServiceOffer>>>,
    /// Notebook ARN → (creation time, subnet, direct internet access): SageMaker never changes
    /// the last two for one notebook; the creation time tells a re-created one apart.
    pub(crate) notebook_subnets: Mutex<HashMap<String, NotebookFacts>>,
    /// Domain ARN → the domain as last described: described again only when `ListDomains`
    /// shows another `LastModifiedTime` (UpdateDomain can change its subnets and access type).
    pub(crate) domains_cache: Mutex<HashMap<String, crate::model::Domain>>,
    visibility_retries: Vec<Duration>,
    pub(crate) deadline_margin: Duration,
    pub(crate) progress: Option<Progress>,
    /// (VPC, service) → when AWS last refused private DNS for it.
    pub(crate) dns_conflicts: Mutex<HashMap<(String, String), Instant>>,
}

impl<A: Account> Guard<A> {
    /// A reconciler over `account` with `config`.
    pub fn new(account: A, config: Config) -> Self {
        Self {
            account,
            config,
            identity: tokio::sync::OnceCell::new(),
            services_cache: Mutex::new(None),
            notebook_subnets: Mutex::new(HashMap::new()),
            domains_cache: Mutex::new(HashMap::new()),
            visibility_retries: [1, 2, 4].map(Duration::from_secs).to_vec(),
            deadline_margin: Duration::from_secs(10),
            progress: None,
            dns_conflicts: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the waits between lookups of a resource an event names but AWS does not show yet.
    pub fn with_visibility_retries(mut self, waits: Vec<Duration>) -> Self {
        self.visibility_retries = waits;
        self
    }

    /// Sets how long before the deadline a run stops starting new VPCs and writes (default 10 s).
    pub fn with_deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Reports progress after each VPC.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
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

    /// Our identity, read once per process, with the Organization's id when a policy mode
    /// needs it (a clear configuration error when it cannot be read).
    pub async fn identity(&self) -> Result<AccountIdentity> {
        self.identity
            .get_or_try_init(|| async {
                let mut identity = self.account.identity().await?;
                if let Some(variable) = self.config.org_variable() {
                    identity.org_id = Some(self.organization_id(variable).await?);
                }
                Ok(identity)
            })
            .await
            .cloned()
    }

    /// The Organization's id, for the `org*` modes of `variable`.
    async fn organization_id(&self, variable: &'static str) -> Result<String> {
        let value = match variable {
            "VPCE_GUARD_NOTEBOOK_POLICY" => "org-notebooks",
            _ => "org",
        };
        self.account.organization_id().await.map_err(|error| {
            if error.class() == crate::ErrorClass::Transient {
                return error;
            }
            let why = match error.aws_code() {
                Some("AWSOrganizationsNotInUseException") => "this account is not in an AWS Organization".to_string(),
                Some("AccessDeniedException") => {
                    "the role may not call organizations:DescribeOrganization; grant it".to_string()
                }
                _ => format!("organizations:DescribeOrganization failed ({error})"),
            };
            Error::Config {
                variable,
                value: value.into(),
                expected: format!(
                    "{value} needs the AWS Organization's id, and {why}; choose an account-scoped mode otherwise"
                ),
            }
        })
    }

    /// Runs what a parsed event asks for and returns the report, with the API calls it made.
    pub async fn run(&self, parsed: Parsed) -> Result<Report> {
        self.run_with(parsed, &RunOptions::default()).await
    }

    /// Turns an event of another account (its EventBridge `account` is not ours) into an
    /// ignored one: its resources are out of reach, and retries could never succeed.
    async fn for_this_account(&self, parsed: Parsed, account: Option<&str>) -> Result<Parsed> {
        let (Parsed::Run(trigger), Some(account)) = (&parsed, account) else {
            return Ok(parsed);
        };
        let ours = self.identity().await?.account_id;
        if account == ours {
            return Ok(parsed);
        }
        Ok(Parsed::Ignore {
            trigger: trigger.name(),
            reason: format!("the event is from account {account}; this deployment serves {ours}"),
        })
    }

    /// [`Guard::run`] with a deadline and overrides.
    pub async fn run_with(&self, parsed: Parsed, options: &RunOptions) -> Result<Report> {
        let before = self.account.api_calls();
        let parsed = self.for_this_account(parsed, options.event_account.as_deref()).await?;
        let mut report = match parsed {
            Parsed::Ignore { trigger, reason } => {
                info!(trigger, reason = %reason, "event ignored");
                let mut report = Report::new(trigger, self.config.dry_run);
                report.ignored = Some(reason);
                report
            }
            Parsed::Run(trigger) => {
                let mut report = self.run_trigger(&trigger, options).await?;
                if self.guardrail_due(&trigger, &report) {
                    report.guardrail = self.guardrail_after_run(report.dry_run).await;
                }
                if let Some(full_view) = self.findings_due(&trigger, &report) {
                    report.security_hub = Some(self.sync_findings(&report, full_view).await);
                }
                report
            }
        };
        report.api_calls = self.account.api_calls().since(before);
        info!(
            trigger = %report.trigger,
            vpcs = report.vpcs.len(),
            changed = report.count(Outcome::Changed),
            pending = report.count(Outcome::Pending),
            non_compliant = report.count(Outcome::NonCompliant),
            reads = report.api_calls.read,
            writes = report.api_calls.write,
            "done"
        );
        Ok(report)
    }

    /// The guardrail is synced by sweeps and manual runs, and by any run that created an
    /// endpoint (the only change to the endpoint ids it lists that vpce-guard makes).
    fn guardrail_due(&self, trigger: &Trigger, report: &Report) -> bool {
        let created = report.vpcs.iter().flat_map(|v| &v.actions).any(|a| matches!(a, Action::CreateEndpoint { .. }));
        self.config.iam_guardrail.is_some()
            && (created || matches!(trigger, Trigger::Scheduled | Trigger::Manual { .. }))
    }

    /// Whether the run syncs Security Hub findings, and if so whether it saw every VPC in scope
    /// (then findings of VPCs it no longer saw are archived too). Synced by sweeps, manual runs
    /// of everything, and any run with a VPC changed or non-compliant (a finding may appear,
    /// change or go); never in a dry run. A compliant VPC on the event path costs nothing.
    fn findings_due(&self, trigger: &Trigger, report: &Report) -> Option<bool> {
        let full_view = matches!(trigger, Trigger::Scheduled | Trigger::Manual { vpc_ids: None, .. });
        let moved = report.vpcs.iter().any(|v| matches!(v.outcome, Outcome::Changed | Outcome::NonCompliant));
        (self.config.security_hub && !report.dry_run && (full_view || moved)).then_some(full_view)
    }

    /// Imports the findings the run calls for; a failure (Security Hub not enabled, access
    /// denied) is reported on the findings and left for the next run, never failing the run.
    async fn sync_findings(&self, report: &Report, full_view: bool) -> FindingsReport {
        let outcome = async {
            let identity = self.identity().await?;
            let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default();
            let context = FindingContext { identity: &identity, now: &now };
            let held = self.account.findings(&active_filters(&context.product_arn())).await?;
            let active: Vec<ActiveFinding> = held.iter().filter_map(ActiveFinding::from_asff).collect();
            let findings = plan_findings(report, &active, full_view, &context);
            let refused = match findings.is_empty() {
                true => Vec::new(),
                false => self.account.import_findings(&findings).await?,
            };
            let archived = findings.iter().filter(|f| f["RecordState"] == "ARCHIVED").count();
            Ok::<_, Error>(FindingsReport {
                imported: findings.len() - archived,
                archived,
                problems: refused.into_iter().map(|r| Problem::error(Code::FindingRefused, r)).collect(),
            })
        };
        outcome.await.unwrap_or_else(|error| {
            warn!(error = %error, "Security Hub findings not synced; the next run tries again");
            FindingsReport {
                problems: vec![Problem::error(Code::SecurityHubError, format!("{error} ({})", error.error_type()))],
                ..FindingsReport::default()
            }
        })
    }

    /// Syncs the guardrail; a failure (say, a concurrent run holding IAM's last version slot)
    /// is reported on the guardrail and left for the next run, not failed with the VPCs' work.
    async fn guardrail_after_run(&self, dry_run: bool) -> Option<GuardrailReport> {
        match self.sync_guardrail(dry_run).await {
            Ok(report) => report,
            Err(error) => {
                warn!(error = %error, "guardrail not synced; the next run tries again");
                let identity = self.identity().await.ok()?;
                let name = self.config.iam_guardrail.as_deref()?;
                Some(GuardrailReport {
                    policy_arn: crate::guardrail::guardrail_arn(&identity, name),
                    outcome: Outcome::NonCompliant,
                    endpoint_ids: Vec::new(),
                    size: 0,
                    actions: Vec::new(),
                    problems: vec![Problem::error(Code::GuardrailError, format!("{error} ({})", error.error_type()))],
                })
            }
        }
    }

    async fn run_trigger(&self, trigger: &Trigger, options: &RunOptions) -> Result<Report> {
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
    async fn on_manual(&self, selector: &VpcSelector, run: RunContext<'_>) -> Result<Report> {
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
    async fn on_notebook_created(&self, name: &str, mut run: RunContext<'_>) -> Result<Report> {
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
    async fn on_domain_changed(&self, domain_id: &str, run: RunContext<'_>) -> Result<Report> {
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
    async fn on_subnet_created(&self, subnet_id: &str, vpc_id: &str, run: RunContext<'_>) -> Result<Report> {
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

    /// Drift events: the VPCs their ids resolve to are reconciled, once each. An endpoint
    /// event whose endpoint is gone (so its VPC is unknown), an event that names nothing, and
    /// a deleted notebook under `vpc-notebooks` (its VPC's policy lists it) cost one sweep of
    /// every VPC in scope instead, however many such events came together. Events that cannot
    /// have touched vpce-guard's work (a rule change on another group, a resource that no
    /// longer exists) are ignored.
    async fn on_drift(&self, drifts: &[Drift], run: RunContext<'_>) -> Result<Report> {
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
    async fn on_drift_batch(&self, batch: &DriftBatch, run: RunContext<'_>) -> Result<Report> {
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

    /// Looks a resource up until it is visible, waiting `visibility_retries` between tries;
    /// `None` when it never shows up.
    async fn visible<T, F, Fut>(&self, lookup: F) -> Result<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        for wait in std::iter::once(Duration::ZERO).chain(self.visibility_retries.iter().copied()) {
            tokio::time::sleep(wait).await;
            if let Some(found) = lookup().await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Observes the selected VPCs (with their notebooks when `with_notebooks`) and brings
    /// each one in scope into line.
    pub(crate) async fn reconcile(
        &self,
        selector: &VpcSelector,
        with_notebooks: bool,
        run: RunContext<'_>,
    ) -> Result<Report> {
        let observations = self.observe(selector, with_notebooks, run.pinned).await?;
        self.reconcile_observed(observations, run).await
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

/// The report of an event that needs nothing done, with the reason.
fn ignored(run: &RunContext<'_>, reason: String) -> Report {
    info!(trigger = run.trigger, reason = %reason, "event ignored");
    let mut report = Report::new(run.trigger, run.dry_run);
    report.ignored = Some(reason);
    report
}
