//! The reconciler's front door: [`Guard::run`] takes what a door parsed (an event, a payload,
//! the schedule), runs the trigger, then the post-run work it calls for, and counts the calls.

use tracing::info;

use crate::account::Account;
use crate::error::Result;
use crate::events::{Parsed, Trigger};
use crate::guard::{Guard, RunOptions};
use crate::report::{Outcome, Report};

impl<A: Account> Guard<A> {
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
                if matches!(trigger, Trigger::Scheduled) {
                    report.trail = Some(self.check_trails().await);
                }
                report
            }
        };
        report.total_cost(self.config.endpoint_hourly_micro_usd);
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
}
