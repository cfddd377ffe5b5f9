//! A sweep's account-level check: does a CloudTrail trail record this Region's management
//! events? EventBridge receives the CloudTrail events that trigger vpce-guard
//! (`CreateNotebookInstance`, `CreateSubnet`, `CreateDomain`, the drift events) only while a
//! trail with logging on records them ("Events from AWS services", Amazon EventBridge User Guide:
//! events delivered via CloudTrail need a trail). Without one the event path is silent and only
//! the sweeps enforce, so a sweep reports `no_trail` (and the `SweepNoTrail` metric, alarmed).
//!
//! A trail applies to this Region when it is its own or a multi-Region trail (`DescribeTrails`
//! with shadow trails lists both, organization trails included). It records the management
//! write events when logging (`GetTrailStatus` `IsLogging`) and its selectors include them:
//! basic selectors with `IncludeManagementEvents` and `ReadWriteType` `All` or `WriteOnly`, or
//! advanced selectors with `eventCategory` = `Management` not limited to read-only events
//! (CloudTrail User Guide, "Logging management events"). A trail with no selectors set records
//! every management event (CloudTrail's default for a new trail).

use tracing::warn;

use crate::account::{Account, TrailView};
use crate::guard::Guard;
use crate::report::{Code, Problem, TrailReport};

impl<A: Account> Guard<A> {
    /// Reads the trails that apply to this Region and judges them; a failure to read them is
    /// reported on the trail part of the report (`error`), never failing the sweep.
    pub(crate) async fn check_trails(&self) -> TrailReport {
        match self.account.trails().await {
            Ok(trails) => judge(&trails, self.account.region()),
            Err(error) => {
                warn!(error = %error, "trails not read; the next sweep tries again");
                TrailReport {
                    recording: Vec::new(),
                    problems: vec![Problem::error(
                        Code::Error,
                        format!("could not read CloudTrail's trails: {error} ({})", error.error_type()),
                    )],
                }
            }
        }
    }
}

/// The trails of `trails` that record `region`'s management write events, or `no_trail`
/// naming why each trail does not.
pub fn judge(trails: &[TrailView], region: &str) -> TrailReport {
    let records = |t: &TrailView| match (t.logging, t.management_writes) {
        (Some(logging), Some(writes)) => logging && writes,
        // An organization trail this member account may not inspect: the Organization runs it.
        _ => t.organization,
    };
    let recording: Vec<String> = trails.iter().filter(|t| records(t)).map(|t| t.arn.clone()).collect();
    if !recording.is_empty() {
        return TrailReport { recording, problems: Vec::new() };
    }
    let seen: Vec<String> = trails
        .iter()
        .map(|t| {
            let why = match (t.logging, t.management_writes) {
                (Some(false), _) => "logging is off",
                (_, Some(false)) => "its event selectors leave out management write events",
                _ => "its status could not be read",
            };
            format!("{} ({why})", t.arn)
        })
        .collect();
    let seen = match seen.is_empty() {
        true => "no trail applies to this Region".to_string(),
        false => format!("trails seen: {}", seen.join("; ")),
    };
    let message = format!(
        "no CloudTrail trail records the management events of {region} ({seen}): EventBridge receives \
         CreateNotebookInstance, CreateSubnet and the drift events only through a logging trail, so \
         until one does only the sweeps enforce. Deploy with CreateTrail=true, or turn on a trail \
         (or the Organization's) that records management write events in this Region"
    );
    TrailReport { recording, problems: vec![Problem::warning(Code::NoTrail, message)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(name: &str, logging: Option<bool>, writes: Option<bool>, organization: bool) -> TrailView {
        TrailView {
            arn: format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"),
            home_region: "us-east-1".into(),
            organization,
            logging,
            management_writes: writes,
        }
    }

    #[test]
    fn a_logging_trail_with_management_writes_records_the_region() {
        let report = judge(
            &[trail("off", Some(false), Some(true), false), trail("on", Some(true), Some(true), false)],
            "us-west-2",
        );
        assert_eq!(report.recording, vec!["arn:aws:cloudtrail:us-east-1:123456789012:trail/on".to_string()]);
        assert!(!report.missing());
    }

    #[test]
    fn trails_that_do_not_record_are_named_with_the_reason() {
        let report = judge(
            &[trail("off", Some(false), Some(true), false), trail("data", Some(true), Some(false), false)],
            "us-west-2",
        );
        assert!(report.missing());
        let message = &report.problems[0].message;
        assert!(message.contains("trail/off (logging is off)"), "{message}");
        assert!(message.contains("trail/data (its event selectors leave out management write events)"), "{message}");
    }

    #[test]
    fn no_trail_at_all_is_reported() {
        let report = judge(&[], "us-west-2");
        assert!(report.missing());
        assert!(report.problems[0].message.contains("no trail applies to this Region"));
    }

    #[test]
    fn an_organization_trail_a_member_cannot_inspect_counts_but_another_unreadable_trail_does_not() {
        assert!(!judge(&[trail("org", None, None, true)], "us-west-2").missing());
        assert!(judge(&[trail("mine", None, None, false)], "us-west-2").missing());
    }
}
