//! Work after a run's VPCs are done, which uses the run's report: the IAM guardrail's sync and
//! the Security Hub findings. A failure here is reported on its part of the report and left for
//! the next run; it never fails the VPCs' work.

use tracing::warn;

use crate::account::Account;
use crate::error::Error;
use crate::events::Trigger;
use crate::findings::{active_filters, plan_findings, ActiveFinding, FindingContext};
use crate::guard::Guard;
use crate::guardrail::guardrail_arn;
use crate::report::{Action, Code, FindingsReport, GuardrailReport, Outcome, Problem, Report};

impl<A: Account> Guard<A> {
    /// The guardrail is synced by sweeps and manual runs, and by any run that created an
    /// endpoint (the only change to the endpoint ids it lists that vpce-guard makes).
    pub(crate) fn guardrail_due(&self, trigger: &Trigger, report: &Report) -> bool {
        let created = report.vpcs.iter().flat_map(|v| &v.actions).any(|a| matches!(a, Action::CreateEndpoint { .. }));
        self.config.iam_guardrail.is_some()
            && (created || matches!(trigger, Trigger::Scheduled | Trigger::Manual { .. }))
    }

    /// Whether the run syncs Security Hub findings, and if so whether it saw every VPC in scope
    /// (then findings of VPCs it no longer saw are archived too). Synced by sweeps, manual runs
    /// of everything, and any run with a VPC changed or non-compliant (a finding may appear,
    /// change or go); never in a dry run. A compliant VPC on the event path costs nothing.
    pub(crate) fn findings_due(&self, trigger: &Trigger, report: &Report) -> Option<bool> {
        let full_view = matches!(trigger, Trigger::Scheduled | Trigger::Manual { vpc_ids: None, .. });
        let moved = report.vpcs.iter().any(|v| matches!(v.outcome, Outcome::Changed | Outcome::NonCompliant));
        (self.config.security_hub && !report.dry_run && (full_view || moved)).then_some(full_view)
    }

    /// Imports the findings the run calls for; a failure (Security Hub not enabled, access
    /// denied) is reported on the findings and left for the next run, never failing the run.
    pub(crate) async fn sync_findings(&self, report: &Report, full_view: bool) -> FindingsReport {
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
    pub(crate) async fn guardrail_after_run(&self, dry_run: bool) -> Option<GuardrailReport> {
        match self.sync_guardrail(dry_run).await {
            Ok(report) => report,
            Err(error) => {
                warn!(error = %error, "guardrail not synced; the next run tries again");
                let identity = self.identity().await.ok()?;
                let name = self.config.iam_guardrail.as_deref()?;
                Some(GuardrailReport {
                    policy_arn: guardrail_arn(&identity, name),
                    outcome: Outcome::NonCompliant,
                    endpoint_ids: Vec::new(),
                    size: 0,
                    actions: Vec::new(),
                    problems: vec![Problem::error(Code::GuardrailError, format!("{error} ({})", error.error_type()))],
                })
            }
        }
    }
}
