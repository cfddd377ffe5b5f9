//! The report every entry point returns: one serialisable value (the JSON contract of
//! README.md, "Output") with a readable text rendering.

mod cost;
mod problem;
mod text;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use cost::{CostSummary, Usd, VpcCost, HOURS_PER_MONTH};
pub use problem::{Code, Problem, Severity};
pub use text::{summary, table, OUTCOMES};

/// Calls made to AWS during one invocation, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCalls {
    /// Describe/List/Get calls (including retries).
    pub read: u64,
    /// Create/Modify/Authorize/… calls (including retries).
    pub write: u64,
}

impl ApiCalls {
    /// The calls made since `earlier`.
    pub fn since(self, earlier: ApiCalls) -> ApiCalls {
        ApiCalls { read: self.read.saturating_sub(earlier.read), write: self.write.saturating_sub(earlier.write) }
    }
}

/// What became of one VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing to do.
    Compliant,
    /// Writes were made.
    Changed,
    /// Writes are needed; dry run made none.
    WouldChange,
    /// Waiting on AWS (an endpoint is still pending); a later run finishes.
    Pending,
    /// Problems vpce-guard cannot fix.
    NonCompliant,
    /// Out of scope (see `reason`).
    Skipped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&text)
    }
}

/// Whether a CloudTrail trail records this Region's management events, as a sweep saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailReport {
    /// ARNs of the trails that record this Region's management write events. An organization
    /// trail whose status this account may not read is counted: the Organization runs it.
    pub recording: Vec<String>,
    /// `no_trail` when none does; `error` when the trails could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl TrailReport {
    /// Whether the sweep found no trail recording the Region's management events.
    pub fn missing(&self) -> bool {
        self.problems.iter().any(|p| p.code == Code::NoTrail)
    }
}

/// Where the Security Hub findings stand after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingsReport {
    /// Findings created or updated (a VPC newly non-compliant, or its problems changed).
    pub imported: usize,
    /// Findings archived (the VPC is in line again, or out of scope, or gone).
    pub archived: usize,
    /// Why the findings could not be synced (Security Hub not enabled, access denied, …);
    /// the next run tries again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One endpoint of a configured service, as it stands after the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointReport {
    /// Service name.
    pub service: String,
    /// `vpce-…`, or `None` when it does not exist (dry run, or could not be created).
    pub endpoint_id: Option<String>,
    /// Its subnets.
    pub subnet_ids: Vec<String>,
    /// Whether private DNS is on.
    pub private_dns: bool,
    /// EC2 state, `absent` when there is none.
    pub state: String,
    /// AZs its subnets cover.
    #[serde(default)]
    pub azs: Vec<String>,
    /// AZs with subnets that the service supports and the endpoint does not reach (yet).
    #[serde(default)]
    pub missing_azs: Vec<String>,
}

/// One change made (or, in a dry run, that would be made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// `ModifyVpcAttribute enableDnsSupport`.
    EnableDnsSupport {
        /// The VPC.
        vpc_id: String,
    },
    /// `ModifyVpcAttribute enableDnsHostnames`.
    EnableDnsHostnames {
        /// The VPC.
        vpc_id: String,
    },
    /// The managed security group was created.
    CreateSecurityGroup {
        /// Its id (absent in a dry run).
        group_id: Option<String>,
        /// Its name.
        group_name: String,
    },
    /// TCP 443 opened from the VPC's CIDR blocks and the configured client sources.
    AuthorizeHttps {
        /// The managed group (absent in a dry run when it is yet to be created).
        group_id: Option<String>,
        /// Sources added: CIDR blocks and prefix list ids.
        cidrs: Vec<String>,
    },
    /// TCP 443 rules that vpce-guard had added, revoked because no longer wanted.
    RevokeHttps {
        /// The managed group.
        group_id: String,
        /// Sources revoked: CIDR blocks and prefix list ids.
        cidrs: Vec<String>,
    },
    /// An interface endpoint was created.
    CreateEndpoint {
        /// Service name.
        service: String,
        /// New endpoint id (absent in a dry run).
        endpoint_id: Option<String>,
        /// Its subnets.
        subnet_ids: Vec<String>,
        /// Whether private DNS was requested.
        private_dns: bool,
    },
    /// Subnets added to an endpoint.
    AddSubnets {
        /// The endpoint.
        endpoint_id: String,
        /// Subnets added.
        subnet_ids: Vec<String>,
    },
    /// The managed security group added to an endpoint.
    AddSecurityGroup {
        /// The endpoint.
        endpoint_id: String,
        /// The group (absent in a dry run when it is yet to be created).
        group_id: Option<String>,
    },
    /// The endpoint policy replaced.
    SetPolicy {
        /// The endpoint.
        endpoint_id: String,
    },
    /// Private DNS turned on.
    EnablePrivateDns {
        /// The endpoint.
        endpoint_id: String,
    },
    /// An interface endpoint vpce-guard created, deleted because its VPC stayed idle
    /// (`VPCE_GUARD_PRUNE_IDLE_AFTER`).
    DeleteEndpoint {
        /// The endpoint.
        endpoint_id: String,
        /// Its service.
        service: String,
        /// Its AZs (endpoint-AZs).
        azs: usize,
        /// What it cost per month.
        monthly_usd: Usd,
    },
    /// The managed security group deleted, once no endpoint uses it.
    DeleteSecurityGroup {
        /// The group.
        group_id: String,
    },
    /// The endpoints of an idle VPC marked `vpce-guard:idle-since` (when it was first seen idle).
    MarkIdle {
        /// The endpoints.
        endpoint_ids: Vec<String>,
        /// The mark's value (RFC 3339).
        since: String,
    },
    /// The `vpce-guard:idle-since` mark removed: the VPC is enrolled again.
    UnmarkIdle {
        /// The endpoints.
        endpoint_ids: Vec<String>,
    },
    /// S3 gateway endpoint: created (`endpoint_id` of the new one, `None` in a dry run) or
    /// extended (`extended` true) with route tables.
    S3Gateway {
        /// The endpoint.
        endpoint_id: Option<String>,
        /// Whether an existing endpoint got the route tables.
        extended: bool,
        /// The route tables added.
        route_table_ids: Vec<String>,
    },
}

/// What happened to one VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcReport {
    /// The VPC.
    pub vpc_id: String,
    /// The verdict.
    pub outcome: Outcome,
    /// Why it was skipped (only for `skipped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Endpoints of the configured services after the run.
    pub endpoints: Vec<EndpointReport>,
    /// Changes made or planned.
    pub actions: Vec<Action>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// The profiles the VPC is enrolled for (`notebook-instances`, `studio`); empty when it
    /// was not planned (skipped, failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// What its managed endpoints cost (every VPC observed; absent for one that does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<VpcCost>,
}

impl VpcReport {
    /// A report for a VPC a manual payload names that does not exist.
    pub fn not_found(vpc_id: &str, region: &str) -> Self {
        let mut report = Self::skipped(vpc_id, "the VPC does not exist");
        report.outcome = Outcome::NonCompliant;
        report.problems.push(Problem::error(
            Code::VpcNotFound,
            format!("VPC {vpc_id} does not exist in {region}; check the id and the region"),
        ));
        report
    }

    /// A report for a VPC shared with this account through RAM by `owner`: skipped, with a
    /// warning (the owner's deployment enforces it).
    pub fn shared(vpc_id: &str, owner: &str) -> Self {
        let mut report = Self::skipped(vpc_id, format!("shared by account {owner} through AWS RAM"));
        report.problems.push(Problem::shared_vpc(vpc_id, owner));
        report
    }

    /// A report for a VPC out of scope.
    pub fn skipped(vpc_id: &str, reason: impl Into<String>) -> Self {
        Self {
            vpc_id: vpc_id.to_string(),
            outcome: Outcome::Skipped,
            reason: Some(reason.into()),
            endpoints: Vec::new(),
            actions: Vec::new(),
            problems: Vec::new(),
            profiles: Vec::new(),
            cost: None,
        }
    }

    /// A VPC left for the next run (`pending`) for `reason`: the deadline, or AWS's throttle.
    pub fn deferred(vpc_id: &str, reason: impl Into<String>) -> Self {
        Self { outcome: Outcome::Pending, ..Self::skipped(vpc_id, reason) }
    }

    /// Whether the run left this VPC unfinished for a reason a later try can clear: deferred
    /// (`pending` with a reason: the deadline, AWS's throttle), failed inside the run (problem
    /// `error`), or still conflicted after its rounds (`conflict_unresolved`). A queue delivery
    /// hands the records that named such a VPC back to SQS. A VPC merely waiting on AWS
    /// (`pending` without a reason: an endpoint still `pending`) and one with problems a retry
    /// cannot fix (`non_compliant` for a configuration reason) are finished.
    pub fn unfinished(&self) -> bool {
        (self.outcome == Outcome::Pending && self.reason.is_some())
            || self.problems.iter().any(|p| matches!(p.code, Code::Error | Code::ConflictUnresolved))
    }
}

/// The one value an invocation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Whether writes were suppressed.
    pub dry_run: bool,
    /// What started the run: the event's name (`CreateNotebookInstance`, `CreateSubnet`,
    /// `CreateDomain`, `UpdateDomain`, a drift event's), a delivery of the event queue
    /// (`CreationBatch`: creation events only; `DriftBatch`: drift events only; `MixedBatch`:
    /// both), `Scheduled` (the schedule, and the stack's own create or update), `Manual`, `Cli`.
    pub trigger: String,
    /// AWS calls made.
    pub api_calls: ApiCalls,
    /// One entry per VPC looked at.
    pub vpcs: Vec<VpcReport>,
    /// Why the whole event was ignored (e.g. it records a failed call); no VPC was looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// The IAM guardrail policy, when `VPCE_GUARD_IAM_GUARDRAIL` is set and the run looked at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<GuardrailReport>,
    /// AWS Security Hub findings, when `VPCE_GUARD_SECURITY_HUB` is on and the run synced them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<FindingsReport>,
    /// A sweep's check that a trail records this Region's management events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail: Option<TrailReport>,
    /// A delivery of the event queue: how its events were coalesced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSummary>,
    /// An SQS delivery's records to deliver again, in the shape Lambda's SQS event source reads
    /// with `ReportBatchItemFailures` (`SqsBatchResponse`: `{"batchItemFailures":
    /// [{"itemIdentifier": messageId}]}`; the report's other fields are more keys of the same
    /// object): the records that could not be read, and those that named a VPC the run left
    /// unfinished ([`VpcReport::unfinished`]). SQS delivers them again after the queue's
    /// visibility timeout and, after its `maxReceiveCount`, keeps them in the dead-letter queue.
    /// Present (empty when all is done) for every delivery, absent for any other invocation.
    /// Lambda Developer Guide, "Handling errors for an SQS event source in Lambda", section
    /// "Implementing partial batch responses":
    /// <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting>
    #[serde(rename = "batchItemFailures", default, skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    /// What the managed endpoints of the VPCs looked at cost, in total (absent when no VPC was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSummary>,
}

/// How one delivery of the event queue was coalesced into one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Records delivered.
    pub records: usize,
    /// Records that named possible drift.
    pub drift_events: usize,
    /// Well-formed records that needed nothing (failed calls, DNS turned on, other tags).
    pub ignored_events: usize,
    /// Records that could not be read (listed in `batchItemFailures`).
    pub unreadable_events: usize,
    /// Whether the run was one sweep of every VPC in scope (some event named no VPC that
    /// could be found) rather than a pass over the VPCs the events named.
    pub sweep: bool,
    /// Records that named a subnet, notebook or domain (creation events).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub creation_events: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One SQS message to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    /// The record's `messageId`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The `batchItemFailures` of a delivery: each record once, in delivery order (those of
/// unfinished VPCs, then those that could not be read).
pub fn batch_item_failures<'a>(
    retried: impl Iterator<Item = &'a str>,
    unreadable: impl Iterator<Item = &'a str>,
) -> Vec<BatchItemFailure> {
    let mut seen = std::collections::BTreeSet::new();
    retried
        .chain(unreadable)
        .filter(|id| seen.insert(*id))
        .map(|id| BatchItemFailure { item_identifier: id.to_string() })
        .collect()
}

/// Where the IAM guardrail policy stands after a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailReport {
    /// The policy's ARN.
    pub policy_arn: String,
    /// `compliant` (in sync), `changed` (a version was written), `would_change` (dry run).
    pub outcome: Outcome,
    /// Endpoint ids the policy admits; empty when it fell back to "any VPC endpoint".
    pub endpoint_ids: Vec<String>,
    /// Its size as IAM counts it (characters other than whitespace; the limit is 6,144).
    pub size: usize,
    /// Actions taken: `create_policy`, `create_version`, `delete_version v3`.
    pub actions: Vec<String>,
    /// Warnings, e.g. the fallback when the endpoint list does not fit.
    pub problems: Vec<Problem>,
}

impl Report {
    /// A report with no VPC yet.
    pub fn new(trigger: &str, dry_run: bool) -> Self {
        Self {
            dry_run,
            trigger: trigger.to_string(),
            api_calls: ApiCalls::default(),
            vpcs: Vec::new(),
            ignored: None,
            guardrail: None,
            security_hub: None,
            trail: None,
            batch: None,
            batch_item_failures: None,
            cost: None,
        }
    }

    /// The number of VPCs with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.vpcs.iter().filter(|v| v.outcome == outcome).count()
    }

    /// Totals the VPCs' costs (each VPC once, its last entry) into [`Report::cost`], at
    /// `hourly_micro_usd` per endpoint-AZ hour; none when no VPC carries a cost.
    pub fn total_cost(&mut self, hourly_micro_usd: u64) {
        let mut last: std::collections::BTreeMap<&str, &VpcCost> = std::collections::BTreeMap::new();
        for vpc in &self.vpcs {
            if let Some(cost) = &vpc.cost {
                last.insert(&vpc.vpc_id, cost);
            }
        }
        if last.is_empty() {
            return;
        }
        self.cost = Some(CostSummary {
            endpoint_hourly_usd: Usd(hourly_micro_usd as i64),
            endpoints: last.values().map(|c| c.endpoints).sum(),
            endpoint_azs: last.values().map(|c| c.endpoint_azs).sum(),
            monthly_usd: last.values().map(|c| c.monthly_usd).sum(),
            monthly_delta_usd: last.values().map(|c| c.monthly_delta_usd).sum(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_failed_and_conflicted_vpcs_are_unfinished_others_are_not() {
        let waiting = VpcReport { outcome: Outcome::Pending, reason: None, ..VpcReport::skipped("vpc-1", "") };
        let mut failed = VpcReport { outcome: Outcome::NonCompliant, reason: None, ..VpcReport::skipped("vpc-1", "") };
        failed.problems.push(Problem::error(Code::Error, "AWS failed"));
        let mut conflicted = waiting.clone();
        conflicted.problems.push(Problem::error(Code::ConflictUnresolved, "still conflicted"));
        let mut misconfigured = VpcReport { outcome: Outcome::NonCompliant, ..waiting.clone() };
        misconfigured.problems.push(Problem::error(Code::NoFreeIp, "no free address"));
        assert!(VpcReport::deferred("vpc-1", "deadline").unfinished());
        assert!(failed.unfinished() && conflicted.unfinished());
        assert!(!waiting.unfinished(), "an endpoint still pending: AWS finishes it, a retry adds nothing");
        assert!(!misconfigured.unfinished(), "a retry cannot fix it");
        assert!(!VpcReport::skipped("vpc-1", "out of scope").unfinished());
    }

    #[test]
    fn json_matches_the_contract() {
        let mut report = Report::new("CreateSubnet", false);
        report.api_calls = ApiCalls { read: 4, write: 1 };
        report.vpcs.push(VpcReport {
            vpc_id: "vpc-1".into(),
            outcome: Outcome::Changed,
            reason: None,
            endpoints: vec![EndpointReport {
                service: "com.amazonaws.us-west-2.sagemaker.api".into(),
                endpoint_id: Some("vpce-1".into()),
                subnet_ids: vec!["subnet-1".into()],
                private_dns: true,
                state: "available".into(),
                azs: vec!["us-west-2a".into()],
                missing_azs: Vec::new(),
            }],
            actions: vec![Action::AddSubnets { endpoint_id: "vpce-1".into(), subnet_ids: vec!["subnet-2".into()] }],
            problems: vec![Problem::warning(Code::ServiceNotInAz, "no")],
            profiles: vec!["notebook-instances".into()],
            cost: Some(VpcCost {
                endpoints: 1,
                endpoint_azs: 1,
                monthly_usd: Usd::monthly(1, 10_000),
                monthly_delta_usd: Usd::monthly(1, 10_000),
            }),
        });
        report.total_cost(10_000);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["api_calls"]["write"], 1);
        assert_eq!(json["vpcs"][0]["profiles"][0], "notebook-instances");
        assert_eq!(json["vpcs"][0]["outcome"], "changed");
        assert_eq!(json["vpcs"][0]["actions"][0]["action"], "add_subnets");
        assert_eq!(json["vpcs"][0]["actions"][0]["subnet_ids"][0], "subnet-2");
        assert_eq!(json["vpcs"][0]["problems"][0]["code"], "service_not_in_az");
        assert_eq!(json["vpcs"][0]["cost"]["endpoint_azs"], 1);
        assert_eq!(json["vpcs"][0]["cost"]["monthly_usd"], 7.3);
        assert_eq!(json["cost"]["monthly_usd"], 7.3);
        assert_eq!(json["cost"]["endpoint_hourly_usd"], 0.01);
        assert!(json.get("ignored").is_none());
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        assert!(report.to_text().contains("add subnet-2 to vpce-1"));
    }
}
