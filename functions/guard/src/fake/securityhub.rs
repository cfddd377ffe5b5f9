//! Security Hub in the fake account, with the rules vpce-guard's findings must meet:
//! - An account that has not enabled Security Hub is refused every call (`InvalidAccessException`,
//!   "Account … is not subscribed to AWS Security Hub": Security Hub API reference, common errors).
//! - `BatchImportFindings` takes 1 to 100 findings; each must carry the required top-level
//!   ASFF attributes (User Guide, "Required top-level ASFF attributes"); a finding without
//!   them is refused alone (`FailedFindings`), the others are imported.
//! - A customer's own findings go to its default product
//!   `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`; another product
//!   ARN is refused (`AccessDeniedException`).
//! - An import with an existing `Id` (and product) updates that finding.
//! - `GetFindings` filters with `EQUALS` on top-level string fields.
//! - Findings expire: Security Hub deletes an active finding 90 days after its last update
//!   (`UpdatedAt`), an archived one after 30 days (Security Hub CSPM User Guide, "Creating and
//!   updating findings in Security Hub CSPM",
//!   <https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html>). A
//!   finding imported again after it expired is a new finding. Tests let time pass with
//!   [`FakeAccount::pass_days`].

use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::Value;

use super::{rejected, FakeAccount};
use crate::account::Findings;
use crate::error::Result;
use crate::findings::epoch_seconds;

/// Days an active finding lives after its last `UpdatedAt`.
pub const ACTIVE_RETENTION_DAYS: i64 = 90;
/// Days an archived finding lives after its last `UpdatedAt`.
pub const ARCHIVED_RETENTION_DAYS: i64 = 30;
/// The timestamps of a finding that time moves.
const TIMESTAMPS: [&str; 4] = ["CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"];
const DAY: i64 = 86_400;

/// ASFF's required top-level attributes.
pub const REQUIRED: [&str; 12] = [
    "AwsAccountId",
    "CreatedAt",
    "Description",
    "GeneratorId",
    "Id",
    "ProductArn",
    "Resources",
    "SchemaVersion",
    "Severity",
    "Title",
    "Types",
    "UpdatedAt",
];

impl FakeAccount {
    /// Lets `days` pass for Security Hub: every finding's timestamps move `days` into the past,
    /// and the findings whose retention has run out are deleted, as Security Hub does.
    pub fn pass_days(&self, days: i64) {
        let shift = |text: &str| {
            let moved = DateTime::from_secs(epoch_seconds(text)? - days * DAY);
            moved.fmt(Format::DateTime).ok()
        };
        self.with_state(|s| {
            for finding in s.security_hub.iter_mut().flat_map(|findings| findings.values_mut()) {
                for field in TIMESTAMPS {
                    if let Some(moved) = finding.get(field).and_then(Value::as_str).and_then(shift) {
                        finding[field] = moved.into();
                    }
                }
            }
        });
    }

    fn hub<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut std::collections::BTreeMap<String, Value>) -> Result<T>,
    ) -> Result<T> {
        let account = self.identity.account_id.clone();
        self.with_state(|s| match s.security_hub.as_mut() {
            Some(findings) => {
                findings.retain(|_, finding| !expired(finding));
                work(findings)
            }
            None => Err(rejected(
                operation,
                "InvalidAccessException",
                format!("Account {account} is not subscribed to AWS Security Hub"),
            )),
        })
    }

    pub(super) fn hub_findings(&self, filters: &Value) -> Result<Vec<Value>> {
        self.hub("GetFindings", |findings| {
            Ok(findings.values().filter(|finding| matches_filters(finding, filters)).cloned().collect())
        })
    }

    pub(super) fn hub_import(&self, batch: &[Value]) -> Result<Vec<String>> {
        const OP: &str = "BatchImportFindings";
        if batch.is_empty() || batch.len() > crate::findings::IMPORT_BATCH {
            return Err(rejected(OP, "InvalidInputException", format!("{} findings; 1 to 100 per call", batch.len())));
        }
        let identity = &self.identity;
        let product = format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            identity.partition, identity.region, identity.account_id, identity.account_id
        );
        if let Some(other) = batch.iter().filter_map(|f| f["ProductArn"].as_str()).find(|arn| *arn != product) {
            return Err(rejected(
                OP,
                "AccessDeniedException",
                format!("not authorized to import findings into {other}"),
            ));
        }
        self.with_state(|s| self.write(s, OP));
        self.hub(OP, |findings| {
            let mut refused = Vec::new();
            for finding in batch {
                let missing: Vec<&str> =
                    REQUIRED.iter().copied().filter(|k| finding.get(*k).is_none_or(Value::is_null)).collect();
                let id = finding["Id"].as_str().unwrap_or_default().to_string();
                if missing.is_empty() {
                    findings.insert(id, finding.clone());
                } else {
                    refused.push(format!("{id}: InvalidInput missing {}", missing.join(", ")));
                }
            }
            Ok(refused)
        })
    }
}

/// `GetFindings`' string filters, `EQUALS` only (all vpce-guard uses).
fn matches_filters(finding: &Value, filters: &Value) -> bool {
    filters.as_object().into_iter().flatten().all(|(field, conditions)| {
        conditions
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["Comparison"] == "EQUALS" && finding.get(field).and_then(Value::as_str) == c["Value"].as_str())
    })
}

/// True for a finding Security Hub has deleted: not updated within its retention.
fn expired(finding: &Value) -> bool {
    let now = DateTime::from(std::time::SystemTime::now()).secs();
    let days = match finding["RecordState"].as_str() {
        Some("ARCHIVED") => ARCHIVED_RETENTION_DAYS,
        _ => ACTIVE_RETENTION_DAYS,
    };
    finding["UpdatedAt"].as_str().and_then(epoch_seconds).is_some_and(|updated| now - updated > days * DAY)
}

impl Findings for FakeAccount {
    async fn findings(&self, filters: &serde_json::Value) -> Result<Vec<serde_json::Value>> {
        self.read();
        self.hub_findings(filters)
    }

    async fn import_findings(&self, findings: &[serde_json::Value]) -> Result<Vec<String>> {
        let mut refused = Vec::new();
        for chunk in findings.chunks(crate::findings::IMPORT_BATCH) {
            refused.extend(self.hub_import(chunk)?);
        }
        Ok(refused)
    }
}
