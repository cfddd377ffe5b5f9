//! The reconciler, [`Guard`]: an account adapter, the configuration, and what a warm process
//! remembers. Its work is split by concern, each an `impl Guard` of its own module: `run`
//! (the front door), `triggers`, `drift`, `observe`, `reconcile`, `post_run`, `guardrail`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::info;

use crate::account::{Account, ServiceOffer};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{AccountIdentity, Notebook};
use crate::report::Report;

/// What a run keeps of its time after giving up a write still in flight at its deadline:
/// enough to build and send its report. At most a tenth of the deadline margin, so that a write
/// started just before the margin has nearly all of it to finish.
pub const CUT_MARGIN: Duration = Duration::from_secs(1);

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
    /// A manual run that may prune idle VPCs (`VPCE_GUARD_PRUNE_IDLE_AFTER`): the CLI's `plan`
    /// and `apply`. The schedule's sweep always may; an event, a drift delivery or a manual
    /// payload of `remediate` never does.
    pub prune: bool,
}

/// What one reconcile run needs to know besides the observations.
pub(crate) struct RunContext<'a> {
    pub trigger: &'a str,
    pub dry_run: bool,
    /// The notebooks of the events being handled (the listing may not show them yet).
    pub pinned: &'a [Notebook],
    pub deadline: Option<Instant>,
    /// One VPC named by an event: an error fails the invocation (so Lambda retries it).
    /// Otherwise (sweeps) an error is reported for its VPC alone and the sweep goes on.
    pub single: bool,
    /// The caller's approver ([`RunOptions::approve`]).
    pub approve: Option<&'a crate::approval::Approver>,
    /// Now (seconds since the epoch) on a run that may prune idle VPCs: a scheduled sweep, the
    /// CLI. `None`: nothing is marked, unmarked or deleted (every event path).
    pub prune_at: Option<i64>,
}

/// The reconciler: an [`Account`], the configuration, and what is worth remembering across
/// invocations of a warm process (identity, service AZs, notebook subnets).
pub struct Guard<A> {
    pub(crate) account: A,
    pub(crate) config: Config,
    pub(crate) identity: tokio::sync::OnceCell<AccountIdentity>,
    pub(crate) services_cache: Mutex<Option<BTreeMap<String, ServiceOffer>>>,
    /// Notebook ARN → (creation time, subnet, direct internet access): SageMaker never changes
    /// the last two for one notebook; the creation time tells a re-created one apart.
    pub(crate) notebook_subnets: Mutex<HashMap<String, NotebookFacts>>,
    /// Domain ARN → the domain as last described: described again only when `ListDomains`
    /// shows another `LastModifiedTime` (UpdateDomain can change its subnets and access type).
    pub(crate) domains_cache: Mutex<HashMap<String, crate::model::Domain>>,
    pub(crate) visibility_retries: Vec<Duration>,
    pub(crate) deadline_margin: Duration,
    pub(crate) progress: Option<Progress>,
    /// (VPC, service) → when AWS last refused private DNS for it.
    pub(crate) dns_conflicts: Mutex<HashMap<(String, String), Instant>>,
    /// Now, in seconds since the epoch: the idle marks' clock.
    pub(crate) clock: Clock,
}

/// The reconciler's wall clock, in seconds since the epoch (tests set their own).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
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
            clock: system_clock(),
        }
    }

    /// Sets the wall clock the idle marks are read and written by (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
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
    pub(crate) async fn organization_id(&self, variable: &'static str) -> Result<String> {
        let value = match variable {
            "VPCE_GUARD_NOTEBOOK_POLICY" => "org-notebooks",
            _ => "org",
        };
        self.account.organization_id().await.map_err(|error| {
            if error.class() == crate::error::ErrorClass::Transient {
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

    /// Looks a resource up until it is visible, waiting `visibility_retries` between tries;
    /// `None` when it never shows up.
    pub(crate) async fn visible<T, F, Fut>(&self, lookup: F) -> Result<Option<T>>
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
}

/// The report of an event that needs nothing done, with the reason.
pub(crate) fn ignored(run: &RunContext<'_>, reason: String) -> Report {
    info!(trigger = run.trigger, reason = %reason, "event ignored");
    let mut report = Report::new(run.trigger, run.dry_run);
    report.ignored = Some(reason);
    report
}
