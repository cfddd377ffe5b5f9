//! Text renderings of a report, in one place: the compact form for logs and the demo
//! ([`Report::to_text`]), and the table the CLI prints ([`table`], [`summary`]).

use std::fmt::{self, Write as _};

use super::{Action, GuardrailReport, Outcome, Problem, Report, Severity, VpcCost, VpcReport};

/// Every outcome, in the order summaries list them.
pub const OUTCOMES: [Outcome; 6] = [
    Outcome::Changed,
    Outcome::WouldChange,
    Outcome::Compliant,
    Outcome::Pending,
    Outcome::NonCompliant,
    Outcome::Skipped,
];

impl Report {
    /// A human-readable rendering for logs and the terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mode = if self.dry_run { " (dry run)" } else { "" };
        let _ = writeln!(
            out,
            "vpce-guard {}{mode}: {} VPC(s), {} read / {} write call(s)",
            self.trigger,
            self.vpcs.len(),
            self.api_calls.read,
            self.api_calls.write
        );
        if let Some(reason) = &self.ignored {
            let _ = writeln!(out, "  event ignored: {reason}");
        }
        for vpc in &self.vpcs {
            vpc_heading(&mut out, vpc);
            for endpoint in &vpc.endpoints {
                let _ = writeln!(
                    out,
                    "  {:<42} {:<24} {:<10} dns={} subnets={}",
                    endpoint.service,
                    endpoint.endpoint_id.as_deref().unwrap_or("-"),
                    endpoint.state,
                    if endpoint.private_dns { "on" } else { "off" },
                    endpoint.subnet_ids.join(",")
                );
            }
            for action in &vpc.actions {
                let _ = writeln!(out, "  + {action}");
            }
            cost_line(&mut out, vpc.cost.as_ref(), self.dry_run);
            problem_lines(&mut out, &vpc.problems);
        }
        if let Some(guardrail) = &self.guardrail {
            out.push_str(&guardrail.to_string());
        }
        if let Some(cost) = &self.cost {
            let _ = writeln!(out, "{}", cost_total(cost, self.dry_run));
        }
        if let Some(trail) = &self.trail {
            let recording = match trail.recording.is_empty() {
                true => "none records this Region's management events".to_string(),
                false => format!("recorded by {}", trail.recording.join(", ")),
            };
            let _ = writeln!(out, "cloudtrail  {recording}");
            problem_lines(&mut out, &trail.problems);
        }
        out
    }
}

/// `  cost: 2 endpoint(s) in 6 AZ(s), $43.80/month (+$43.80)`, for a VPC with managed endpoints
/// or a change to them.
fn cost_line(out: &mut String, cost: Option<&VpcCost>, dry_run: bool) {
    let Some(cost) = cost.filter(|c| c.endpoints > 0 || c.monthly_delta_usd.0 != 0) else { return };
    let _ = write!(
        out,
        "  cost: {} managed endpoint(s) in {} endpoint-AZ(s), {}/month",
        cost.endpoints, cost.endpoint_azs, cost.monthly_usd
    );
    if cost.monthly_delta_usd.0 != 0 {
        let verb = if dry_run { "the plan" } else { "this run" };
        let _ = write!(out, " ({verb}: {}/month)", cost.monthly_delta_usd.signed());
    }
    out.push('\n');
}

/// `managed endpoints: 4 in 12 endpoint-AZ(s), $87.60/month at $0.01 per endpoint-AZ hour; plan +$43.80/month`.
fn cost_total(cost: &super::CostSummary, dry_run: bool) -> String {
    let mut line = format!(
        "managed endpoints: {} in {} endpoint-AZ(s), {}/month at {} per endpoint-AZ hour",
        cost.endpoints, cost.endpoint_azs, cost.monthly_usd, cost.endpoint_hourly_usd
    );
    if cost.monthly_delta_usd.0 != 0 || dry_run {
        let verb = if dry_run { "the plan" } else { "this run" };
        let _ = write!(line, "; {verb}: {}/month", cost.monthly_delta_usd.signed());
    }
    line
}

/// The line that opens a VPC: id, outcome, profiles and the reason.
fn vpc_heading(out: &mut String, vpc: &VpcReport) {
    let _ = write!(out, "{}  {}", vpc.vpc_id, vpc.outcome);
    if !vpc.profiles.is_empty() {
        let _ = write!(out, "  [{}]", vpc.profiles.join(", "));
    }
    if let Some(reason) = &vpc.reason {
        let _ = write!(out, " ({reason})");
    }
    out.push('\n');
}

/// One line per problem: `  ! warning code: message`.
fn problem_lines(out: &mut String, problems: &[Problem]) {
    for problem in problems {
        let level = match problem.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        let _ = writeln!(out, "  ! {level} {}: {}", problem.code, problem.message);
    }
}

/// The CLI's rendering: a table of endpoints per VPC (service, endpoint, state, AZs covered and
/// missing, whether the policy changes, private DNS), the actions and the problems, the
/// guardrail, then the [`summary`].
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    for vpc in &report.vpcs {
        table_vpc(&mut out, vpc, report.dry_run);
    }
    if let Some(guardrail) = &report.guardrail {
        out.push_str(&guardrail.to_string());
    }
    if let Some(cost) = &report.cost {
        let _ = writeln!(out, "{}", cost_total(cost, report.dry_run));
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

fn short_az(az: &str) -> String {
    az.rsplit('-').next().map(|tail| tail.trim_start_matches(char::is_numeric).to_string()).unwrap_or_default()
}

fn az_list(azs: &[String]) -> String {
    if azs.is_empty() {
        return "-".into();
    }
    azs.iter().map(|az| short_az(az)).collect::<Vec<_>>().join(",")
}

fn table_vpc(out: &mut String, vpc: &VpcReport, dry_run: bool) {
    vpc_heading(out, vpc);
    if !vpc.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "  {:<40} {:<24} {:<10} {:<8} {:<8} {:<7} DNS",
            "SERVICE", "ENDPOINT", "STATE", "AZS", "MISSING", "POLICY"
        );
    }
    for endpoint in &vpc.endpoints {
        let id = endpoint.endpoint_id.as_deref().unwrap_or("-");
        let policy_changes = vpc.actions.iter().any(|a| match a {
            Action::SetPolicy { endpoint_id } => Some(endpoint_id.as_str()) == endpoint.endpoint_id.as_deref(),
            Action::CreateEndpoint { service, .. } => *service == endpoint.service,
            _ => false,
        });
        let _ = writeln!(
            out,
            "  {:<40} {:<24} {:<10} {:<8} {:<8} {:<7} {}",
            endpoint.service,
            id,
            endpoint.state,
            az_list(&endpoint.azs),
            az_list(&endpoint.missing_azs),
            if policy_changes { "update" } else { "ok" },
            if endpoint.private_dns { "on" } else { "off" }
        );
    }
    let verb = if dry_run { "would" } else { "did" };
    for action in &vpc.actions {
        let _ = writeln!(out, "  + {verb}: {action}");
    }
    cost_line(out, vpc.cost.as_ref(), dry_run);
    problem_lines(out, &vpc.problems);
}

/// `N VPC(s): 1 changed, 2 compliant; R read / W write call(s)`.
pub fn summary(report: &Report) -> String {
    let counts: Vec<String> =
        OUTCOMES.iter().filter(|o| report.count(**o) > 0).map(|o| format!("{} {}", report.count(*o), o)).collect();
    format!(
        "{} VPC(s){}{}; {} read / {} write call(s)",
        report.vpcs.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", "),
        report.api_calls.read,
        report.api_calls.write
    )
}

/// Lines for people: the policy, its outcome and size, what was done, its problems.
impl fmt::Display for GuardrailReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "guardrail {}  {} ({} endpoint id(s), {} of 6144 characters)",
            self.policy_arn,
            self.outcome,
            self.endpoint_ids.len(),
            self.size
        )?;
        for action in &self.actions {
            writeln!(f, "  + {action}")?;
        }
        for problem in &self.problems {
            writeln!(f, "  ! {}: {}", problem.code, problem.message)?;
        }
        Ok(())
    }
}

/// One line for people: what was (or would be) done.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |id: &Option<String>| id.clone().unwrap_or_else(|| "(new)".into());
        match self {
            Action::EnableDnsSupport { vpc_id } => write!(f, "enable DNS support on {vpc_id}"),
            Action::EnableDnsHostnames { vpc_id } => write!(f, "enable DNS hostnames on {vpc_id}"),
            Action::CreateSecurityGroup { group_id, group_name } => {
                write!(f, "create security group {group_name} {}", id(group_id))
            }
            Action::AuthorizeHttps { group_id, cidrs } => {
                write!(f, "allow TCP 443 into {} from {}", id(group_id), cidrs.join(", "))
            }
            Action::RevokeHttps { group_id, cidrs } => {
                write!(f, "revoke TCP 443 into {group_id} from {} (no longer wanted)", cidrs.join(", "))
            }
            Action::CreateEndpoint { service, endpoint_id, subnet_ids, private_dns } => write!(
                f,
                "create endpoint {} for {service} in {} (private DNS {})",
                id(endpoint_id),
                subnet_ids.join(", "),
                if *private_dns { "on" } else { "off" }
            ),
            Action::AddSubnets { endpoint_id, subnet_ids } => {
                write!(f, "add {} to {endpoint_id}", subnet_ids.join(", "))
            }
            Action::AddSecurityGroup { endpoint_id, group_id } => {
                write!(f, "add security group {} to {endpoint_id}", id(group_id))
            }
            Action::SetPolicy { endpoint_id } => write!(f, "set the endpoint policy of {endpoint_id}"),
            Action::EnablePrivateDns { endpoint_id } => write!(f, "enable private DNS on {endpoint_id}"),
            Action::DeleteEndpoint { endpoint_id, service, azs, monthly_usd } => write!(
                f,
                "delete endpoint {endpoint_id} of {service} ({azs} AZ(s), saves {monthly_usd}/month): its VPC is idle"
            ),
            Action::DeleteSecurityGroup { group_id } => {
                write!(f, "delete security group {group_id} (no endpoint uses it)")
            }
            Action::MarkIdle { endpoint_ids, since } => {
                write!(f, "mark {} idle since {since} (vpce-guard:idle-since)", endpoint_ids.join(", "))
            }
            Action::UnmarkIdle { endpoint_ids } => {
                write!(f, "unmark {} (the VPC is enrolled again)", endpoint_ids.join(", "))
            }
            Action::S3Gateway { endpoint_id, extended: true, route_table_ids } => write!(
                f,
                "add route table(s) {} to S3 gateway endpoint {}",
                route_table_ids.join(", "),
                endpoint_id.as_deref().unwrap_or("?")
            ),
            Action::S3Gateway { endpoint_id, extended: false, route_table_ids } => write!(
                f,
                "create S3 gateway endpoint {}for route table(s) {}",
                endpoint_id.as_deref().map(|id| format!("{id} ")).unwrap_or_default(),
                route_table_ids.join(", ")
            ),
        }
    }
}
