//! Text rendering of a report for the terminal: a compact table per VPC, the actions and the
//! problems, then a summary line.

use std::fmt::Write as _;

use vpce_guard::report::{Action, Outcome, Report, Severity, VpcReport};

/// Renders `report` as text.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for vpc in &report.vpcs {
        render_vpc(&mut out, vpc, report.dry_run);
    }
    if let Some(guardrail) = &report.guardrail {
        out.push_str(&guardrail.to_string());
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

fn render_vpc(out: &mut String, vpc: &VpcReport, dry_run: bool) {
    let _ = write!(out, "{}  {}", vpc.vpc_id, vpc.outcome);
    if let Some(reason) = &vpc.reason {
        let _ = write!(out, " ({reason})");
    }
    out.push('\n');
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
    for problem in &vpc.problems {
        let level = if problem.severity == Severity::Error { "error" } else { "warning" };
        let _ = writeln!(out, "  ! {level} {}: {}", problem.code, problem.message);
    }
}

/// `N VPC(s): 1 changed, 2 compliant; R read / W write call(s)`.
pub fn summary(report: &Report) -> String {
    let outcomes = [
        Outcome::Changed,
        Outcome::WouldChange,
        Outcome::Compliant,
        Outcome::Pending,
        Outcome::NonCompliant,
        Outcome::Skipped,
    ];
    let counts: Vec<String> =
        outcomes.iter().filter(|o| report.count(**o) > 0).map(|o| format!("{} {}", report.count(*o), o)).collect();
    format!(
        "{} VPC(s){}{}; {} read / {} write call(s)",
        report.vpcs.len(),
        if counts.is_empty() { "" } else { ": " },
        counts.join(", "),
        report.api_calls.read,
        report.api_calls.write
    )
}
