//! Text rendering of a report for the terminal: a compact table per VPC, the actions and the
//! problems, then a summary line. For multi-unit runs: each unit's report under its account
//! and region, then a summary table (text), or `{"units": [...], "summary": [...]}` (JSON).

use std::fmt::Write as _;

use serde_json::{json, Value};
use vpce_guard::report::{Outcome, Report, Usd, OUTCOMES};

use crate::args::Output;

/// Renders `report` as text (the library's table).
pub fn text(report: &Report) -> String {
    vpce_guard::report::table(report)
}

/// What one unit (account × region) of a multi-unit run came to: its report, or why there is none.
#[derive(Debug)]
pub struct UnitRun {
    /// 12-digit account id.
    pub account: String,
    /// Region name (`*`: the account's regions could not be listed).
    pub region: String,
    /// The unit's report, or a one-line reason.
    pub result: Result<Report, String>,
}

/// Prints a multi-unit run (a plan when `dry_run`) in `format`.
pub fn print_units(runs: &[UnitRun], dry_run: bool, format: Output) -> anyhow::Result<()> {
    match format {
        Output::Json => println!("{}", serde_json::to_string_pretty(&units_json(runs))?),
        Output::Text => print!("{}", units_text(runs, dry_run)),
    }
    Ok(())
}

/// `{"units": [{"account", "region", "report" | "error"}], "summary": [{"account", "region",
/// <outcome>: count… | "error"}]}`.
pub fn units_json(runs: &[UnitRun]) -> Value {
    let units: Vec<Value> = runs
        .iter()
        .map(|run| match &run.result {
            Ok(report) => json!({"account": run.account, "region": run.region, "report": report}),
            Err(reason) => json!({"account": run.account, "region": run.region, "error": reason}),
        })
        .collect();
    let summary: Vec<Value> = runs
        .iter()
        .map(|run| {
            let mut row = json!({"account": run.account, "region": run.region});
            match &run.result {
                Ok(report) => {
                    for outcome in OUTCOMES {
                        row[outcome.to_string()] = report.count(outcome).into();
                    }
                    if let Some(cost) = &report.cost {
                        row["monthly_usd"] = cost.monthly_usd.dollars().into();
                        row["monthly_delta_usd"] = cost.monthly_delta_usd.dollars().into();
                    }
                }
                Err(reason) => row["error"] = reason.as_str().into(),
            }
            row
        })
        .collect();
    json!({"units": units, "summary": summary})
}

/// Each unit's report under an `== account region ==` line, then the summary table.
pub fn units_text(runs: &[UnitRun], dry_run: bool) -> String {
    let mut out = String::new();
    for run in runs {
        let _ = writeln!(out, "== {} {} ==", run.account, run.region);
        match &run.result {
            Ok(report) => out.push_str(&text(report)),
            Err(reason) => {
                let _ = writeln!(out, "error: {reason}");
            }
        }
        out.push('\n');
    }
    out.push_str(&summary_table(runs, dry_run));
    out
}

/// One row per unit: VPC counts by outcome (`would_change` rather than `changed` in a plan),
/// or the unit's error; then a total line.
pub fn summary_table(runs: &[UnitRun], dry_run: bool) -> String {
    let (changed, changed_header) =
        if dry_run { (Outcome::WouldChange, "WOULD-CHANGE") } else { (Outcome::Changed, "CHANGED") };
    let columns = [Outcome::Compliant, changed, Outcome::Pending, Outcome::NonCompliant, Outcome::Skipped];
    let mut out = format!(
        "{:<12}  {:<14}  {:>9}  {:>12}  {:>7}  {:>13}  {:>7}  ERROR\n",
        "ACCOUNT", "REGION", "COMPLIANT", changed_header, "PENDING", "NON-COMPLIANT", "SKIPPED"
    );
    for run in runs {
        let _ = write!(out, "{:<12}  {:<14}", run.account, run.region);
        match &run.result {
            Ok(report) => {
                let counts: Vec<usize> = columns.iter().map(|o| report.count(*o)).collect();
                let _ = writeln!(
                    out,
                    "  {:>9}  {:>12}  {:>7}  {:>13}  {:>7}  -",
                    counts[0], counts[1], counts[2], counts[3], counts[4]
                );
            }
            Err(reason) => {
                let _ = writeln!(out, "  {:>9}  {:>12}  {:>7}  {:>13}  {:>7}  {reason}", "-", "-", "-", "-", "-");
            }
        }
    }
    let failed = runs.iter().filter(|run| run.result.is_err()).count();
    let total = |outcome: Outcome| -> usize {
        runs.iter().filter_map(|run| run.result.as_ref().ok()).map(|report| report.count(outcome)).sum()
    };
    let _ = write!(
        out,
        "{} unit(s), {} failed; VPCs: {} {}, {} non_compliant",
        runs.len(),
        failed,
        total(changed),
        changed,
        total(Outcome::NonCompliant)
    );
    let costs: Vec<&vpce_guard::report::CostSummary> =
        runs.iter().filter_map(|run| run.result.as_ref().ok()).filter_map(|report| report.cost.as_ref()).collect();
    if !costs.is_empty() {
        let monthly: Usd = costs.iter().map(|c| c.monthly_usd).sum();
        let delta: Usd = costs.iter().map(|c| c.monthly_delta_usd).sum();
        let verb = if dry_run { "the plan" } else { "this run" };
        let _ = write!(out, "; managed endpoints {monthly}/month, {verb} {}/month", delta.signed());
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use vpce_guard::report::VpcReport;

    use super::*;

    fn runs(dry_run: bool) -> Vec<UnitRun> {
        let mut report = Report::new("Cli", dry_run);
        report.vpcs.push(VpcReport::skipped("vpc-00000001", "default VPC"));
        let mut changing = VpcReport::skipped("vpc-00000002", "");
        changing.outcome = if dry_run { Outcome::WouldChange } else { Outcome::Changed };
        changing.reason = None;
        report.vpcs.push(changing);
        let unit = |account: &str, result| UnitRun { account: account.into(), region: "eu-west-1".into(), result };
        vec![unit("111111111111", Ok(report)), unit("222222222222", Err("cannot assume the role".into()))]
    }

    #[test]
    fn json_has_a_report_or_an_error_per_unit_and_a_summary_row_each() {
        let json = units_json(&runs(true));
        let units = json["units"].as_array().unwrap();
        assert_eq!(units[0]["account"], "111111111111");
        assert_eq!(units[0]["region"], "eu-west-1");
        assert_eq!(units[0]["report"]["vpcs"][1]["outcome"], "would_change", "the report contract: {json}");
        assert!(units[0].get("error").is_none() && units[1].get("report").is_none(), "{json}");
        assert_eq!(units[1]["error"], "cannot assume the role");
        let summary = json["summary"].as_array().unwrap();
        assert_eq!((summary[0]["would_change"].as_u64(), summary[0]["skipped"].as_u64()), (Some(1), Some(1)));
        assert_eq!(summary[0]["non_compliant"], 0);
        assert_eq!(
            summary[1],
            serde_json::json!({"account": "222222222222", "region": "eu-west-1", "error": "cannot assume the role"})
        );
    }

    #[test]
    fn text_shows_each_unit_then_a_row_per_unit_and_the_totals() {
        for (dry_run, header, total) in [(true, "WOULD-CHANGE", "1 would_change"), (false, "CHANGED", "1 changed")] {
            let text = units_text(&runs(dry_run), dry_run);
            assert!(text.starts_with("== 111111111111 eu-west-1 ==\nvpc-00000001  skipped (default VPC)\n"), "{text}");
            assert!(text.contains("== 222222222222 eu-west-1 ==\nerror: cannot assume the role\n"), "{text}");
            let table = text.split_once("ACCOUNT").unwrap().1;
            assert!(table.lines().next().unwrap().contains(header), "{table}");
            let rows: Vec<Vec<&str>> = table.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
            assert_eq!(rows[0], ["111111111111", "eu-west-1", "0", "1", "0", "0", "1", "-"]);
            assert_eq!(rows[1][..7], ["222222222222", "eu-west-1", "-", "-", "-", "-", "-"]);
            assert!(rows[1].join(" ").ends_with("cannot assume the role"));
            assert!(table.contains(&format!("2 unit(s), 1 failed; VPCs: {total}, 0 non_compliant")), "{table}");
        }
    }
}
