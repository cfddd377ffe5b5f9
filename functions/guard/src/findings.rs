//! AWS Security Hub findings (opt-in, `VPCE_GUARD_SECURITY_HUB=true`): one finding per VPC that
//! vpce-guard reports `non_compliant`, in the AWS Security Finding Format (ASFF), with a stable
//! id so that each import updates it, archived (`RecordState` `ARCHIVED`, compliance `PASSED`)
//! once the VPC is in line again. Pure: the run's report and the findings Security Hub holds
//! go in, the findings to import come out; [`crate::Guard`] does the two calls.
//!
//! ASFF: the top-level attributes every finding must carry are AwsAccountId, CreatedAt,
//! Description, GeneratorId, Id, ProductArn, Resources, SchemaVersion, Severity, Title, Types and
//! UpdatedAt (Security Hub User Guide, "Required top-level ASFF attributes",
//! <https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html>).
//! A finding a customer imports about its own account uses the account's default product,
//! `arn:<partition>:securityhub:<region>:<account>:product/<account>/default` (User Guide,
//! "Using custom product integrations to send findings to Security Hub CSPM").

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::AccountIdentity;
use crate::report::{Code, Outcome, Report, Severity, VpcReport};

/// `GeneratorId` of vpce-guard's findings (also how it finds its own among the account's).
pub const GENERATOR_ID: &str = "vpce-guard";
/// `ProductFields` key holding the sorted problem codes of a finding.
pub const PROBLEMS_FIELD: &str = "vpce-guard/problems";
/// BatchImportFindings takes at most 100 findings per call (API reference).
pub const IMPORT_BATCH: usize = 100;
/// Security Hub deletes an active finding 90 days after its last `UpdatedAt` (Security Hub CSPM
/// User Guide, "Creating and updating findings in Security Hub CSPM",
/// <https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html>); a
/// deleted finding comes back as a new one, its `CreatedAt` and history lost. A sweep re-imports
/// an unchanged active finding once its `UpdatedAt` is this many days old, which leaves two
/// months of sweeps to succeed before the finding would expire.
pub const REFRESH_AFTER_DAYS: i64 = 30;
/// ASFF limit on `Description`.
const DESCRIPTION_LIMIT: usize = 1024;
/// Problem codes that are no verdict on the VPC: a failure of the run, a VPC that is gone.
const NO_VERDICT: [Code; 2] = [Code::Error, Code::VpcNotFound];

/// One active finding of vpce-guard's, as Security Hub holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFinding {
    /// Its `Id`.
    pub id: String,
    /// The VPC it is about.
    pub vpc_id: String,
    /// Its `CreatedAt` (kept when it is updated or archived).
    pub created_at: String,
    /// Its `UpdatedAt`: Security Hub deletes it 90 days after that.
    pub updated_at: String,
    /// Its `ProductFields` problem codes.
    pub problems: String,
}

impl ActiveFinding {
    /// Reads the fields vpce-guard needs from an ASFF finding; `None` for one it did not make.
    pub fn from_asff(finding: &Value) -> Option<Self> {
        let text = |pointer: &str| finding.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        if text("/GeneratorId")?.as_str() != GENERATOR_ID {
            return None;
        }
        let id = text("/Id")?;
        let vpc_id = id.rsplit('/').next()?.to_string();
        Some(Self {
            vpc_id,
            created_at: text("/CreatedAt")?,
            updated_at: text("/UpdatedAt").unwrap_or_default(),
            problems: finding
                .pointer(&format!("/ProductFields/{}", PROBLEMS_FIELD.replace('/', "~1")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            id,
        })
    }
}

impl ActiveFinding {
    /// True when its `UpdatedAt` is more than [`REFRESH_AFTER_DAYS`] before `now` (or unreadable).
    fn stale(&self, now: &str) -> bool {
        match (epoch_seconds(&self.updated_at), epoch_seconds(now)) {
            (Some(updated), Some(now)) => now - updated > REFRESH_AFTER_DAYS * 86_400,
            (None, _) => true,
            (_, None) => false,
        }
    }
}

/// Names and times a finding needs besides the VPC's report.
pub struct FindingContext<'a> {
    /// Account, partition and region.
    pub identity: &'a AccountIdentity,
    /// Now, RFC 3339 (`CreatedAt` of new findings, `UpdatedAt` of all).
    pub now: &'a str,
}

impl FindingContext<'_> {
    /// The account's default product: where a customer's own findings go.
    pub fn product_arn(&self) -> String {
        let AccountIdentity { partition, region, account_id, .. } = self.identity;
        format!("arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default")
    }

    /// The stable finding id of a VPC: one finding per VPC and region, updated in place.
    pub fn finding_id(&self, vpc_id: &str) -> String {
        format!("{GENERATOR_ID}/{}/{}/{vpc_id}", self.identity.account_id, self.identity.region)
    }
}

/// The findings to import after a run: new or changed findings for non-compliant VPCs, and
/// archived ones for VPCs in line again. `full_view` (a sweep of every VPC) also archives the
/// findings of VPCs the run no longer saw (deleted VPCs), and re-imports unchanged findings
/// whose `UpdatedAt` is over [`REFRESH_AFTER_DAYS`] old, before Security Hub deletes them.
pub fn plan_findings(
    report: &Report,
    active: &[ActiveFinding],
    full_view: bool,
    context: &FindingContext<'_>,
) -> Vec<Value> {
    let active: BTreeMap<&str, &ActiveFinding> = active.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    for vpc in &report.vpcs {
        let id = context.finding_id(&vpc.vpc_id);
        seen.insert(id.clone());
        let existing = active.get(id.as_str()).copied();
        match verdict(vpc) {
            Verdict::Failed(codes) => match existing {
                Some(found) if found.problems == codes && !(full_view && found.stale(context.now)) => {}
                _ => {
                    let created = existing.map_or(context.now, |f| f.created_at.as_str());
                    findings.push(asff(vpc, &id, &codes, created, context));
                }
            },
            Verdict::Passed => {
                if let Some(found) = existing {
                    findings.push(archived(found, context));
                }
            }
            Verdict::Unknown => {}
        }
    }
    if full_view {
        findings.extend(active.values().filter(|a| !seen.contains(&a.id)).map(|a| archived(a, context)));
    }
    findings
}

enum Verdict {
    /// Not compliant: the sorted codes of its problems.
    Failed(String),
    /// In line, out of scope, or gone.
    Passed,
    /// No verdict this run (pending, or the run failed for this VPC).
    Unknown,
}

fn verdict(vpc: &VpcReport) -> Verdict {
    let codes: BTreeSet<&str> = vpc
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error && !NO_VERDICT.contains(&p.code))
        .map(|p| p.code.as_str())
        .collect();
    let gone = vpc.problems.iter().any(|p| p.code == Code::VpcNotFound);
    match vpc.outcome {
        Outcome::NonCompliant if !codes.is_empty() => Verdict::Failed(codes.into_iter().collect::<Vec<_>>().join(",")),
        Outcome::NonCompliant if gone => Verdict::Passed,
        Outcome::Compliant | Outcome::Changed | Outcome::Skipped => Verdict::Passed,
        _ => Verdict::Unknown,
    }
}

/// The VPC's resource entry.
fn resource(vpc_id: &str, context: &FindingContext<'_>) -> Value {
    let AccountIdentity { partition, region, account_id, .. } = context.identity;
    json!({
        "Type": "AwsEc2Vpc",
        "Id": format!("arn:{partition}:ec2:{region}:{account_id}:vpc/{vpc_id}"),
        "Partition": partition,
        "Region": region,
    })
}

/// A finding with everything but the verdict-dependent fields.
fn finding(id: &str, vpc_id: &str, created: &str, description: String, context: &FindingContext<'_>) -> Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": id,
        "ProductArn": context.product_arn(),
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": context.identity.account_id,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices/PrivateLink"],
        "CreatedAt": created,
        "UpdatedAt": context.now,
        "Title": format!("SageMaker endpoints of VPC {vpc_id} are not as vpce-guard requires"),
        "Description": truncate(description, DESCRIPTION_LIMIT),
        "Resources": [resource(vpc_id, context)],
        "ProductFields": {"ProviderName": "vpce-guard"},
    })
}

fn asff(vpc: &VpcReport, id: &str, codes: &str, created: &str, context: &FindingContext<'_>) -> Value {
    let details: Vec<String> = vpc
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| format!("{}: {}", p.code, p.message))
        .collect();
    let description = format!("vpce-guard cannot bring VPC {} into line: {}", vpc.vpc_id, details.join("; "));
    let mut finding = finding(id, &vpc.vpc_id, created, description, context);
    finding["Severity"] = json!({"Label": "MEDIUM"});
    finding["Compliance"] = json!({"Status": "FAILED"});
    finding["RecordState"] = json!("ACTIVE");
    finding["ProductFields"][PROBLEMS_FIELD] = json!(codes);
    finding
}

fn archived(found: &ActiveFinding, context: &FindingContext<'_>) -> Value {
    let description = format!("VPC {} is in line again (or out of vpce-guard's scope, or deleted)", found.vpc_id);
    let mut finding = finding(&found.id, &found.vpc_id, &found.created_at, description, context);
    finding["Severity"] = json!({"Label": "INFORMATIONAL"});
    finding["Compliance"] = json!({"Status": "PASSED"});
    finding["RecordState"] = json!("ARCHIVED");
    finding
}

/// `text` cut to `limit` characters (ASFF counts characters), marked with an ellipsis.
fn truncate(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

/// Seconds since the epoch of an RFC 3339 timestamp (ASFF's `CreatedAt`, `UpdatedAt`).
pub fn epoch_seconds(rfc3339: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(rfc3339, aws_smithy_types::date_time::Format::DateTime).ok().map(|t| t.secs())
}

/// `GetFindings` filters selecting vpce-guard's active findings in this account and region.
pub fn active_filters(product_arn: &str) -> Value {
    let equals = |value: &str| json!([{"Value": value, "Comparison": "EQUALS"}]);
    json!({
        "ProductArn": equals(product_arn),
        "GeneratorId": equals(GENERATOR_ID),
        "RecordState": equals("ACTIVE"),
    })
}

#[cfg(test)]
#[path = "findings_tests.rs"]
mod tests;
