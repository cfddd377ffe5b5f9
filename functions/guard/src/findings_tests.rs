//! The findings a run calls for, and their ASFF shape.

use serde_json::Value;

use super::*;
use crate::fake::securityhub::REQUIRED;
use crate::report::{Code, Outcome, Problem, Report, VpcReport};
use crate::testing;

const NOW: &str = "2026-11-30T02:00:00Z";
const EARLIER: &str = "2026-11-29T10:00:00Z";

fn vpc(id: &str, outcome: Outcome, problems: Vec<Problem>) -> VpcReport {
    let mut report = VpcReport::skipped(id, "");
    report.reason = None;
    report.outcome = outcome;
    report.problems = problems;
    report
}

fn report(vpcs: Vec<VpcReport>) -> Report {
    let mut report = Report::new("Scheduled", false);
    report.vpcs = vpcs;
    report
}

fn plan(report: &Report, active: &[ActiveFinding], full_view: bool) -> Vec<Value> {
    let identity = testing::identity();
    plan_findings(report, active, full_view, &FindingContext { identity: &identity, now: NOW })
}

/// Security Hub's view of the findings `plan` produced (as GetFindings returns them).
fn held(findings: &[Value]) -> Vec<ActiveFinding> {
    findings.iter().filter(|f| f["RecordState"] == "ACTIVE").filter_map(ActiveFinding::from_asff).collect()
}

fn shared_vpc_problem() -> Problem {
    Problem::error(Code::SharedVpc, "owned by 210987654321")
}

#[test]
fn a_non_compliant_vpc_gets_one_complete_finding_with_a_stable_id() {
    let run = report(vec![vpc("vpc-0a", Outcome::NonCompliant, vec![shared_vpc_problem()])]);

    let findings = plan(&run, &[], false);

    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    for key in REQUIRED {
        assert!(finding.get(key).is_some_and(|v| !v.is_null()), "{key} missing: {finding:#}");
    }
    assert_eq!(finding["Id"], "vpce-guard/123456789012/us-west-2/vpc-0a");
    assert_eq!(finding["ProductArn"], "arn:aws:securityhub:us-west-2:123456789012:product/123456789012/default");
    assert_eq!(finding["Resources"][0]["Id"], "arn:aws:ec2:us-west-2:123456789012:vpc/vpc-0a");
    assert_eq!(
        (finding["RecordState"].as_str(), finding["Compliance"]["Status"].as_str()),
        (Some("ACTIVE"), Some("FAILED"))
    );
    assert!(finding["Description"].as_str().unwrap().contains("owned by 210987654321"));
    let types = finding["Types"][0].as_str().unwrap();
    assert_eq!(types.split('/').count(), 3, "namespace/category/classifier: {types}");
}

#[test]
fn a_finding_is_imported_once_updated_when_problems_change_and_archived_when_fixed() {
    let failing = report(vec![vpc("vpc-0a", Outcome::NonCompliant, vec![shared_vpc_problem()])]);
    let first = plan(&failing, &[], false);
    let mut active = held(&first);
    active[0].created_at = EARLIER.into();

    assert!(plan(&failing, &active, false).is_empty(), "unchanged: nothing to import");

    let worse = report(vec![vpc(
        "vpc-0a",
        Outcome::NonCompliant,
        vec![shared_vpc_problem(), Problem::error(Code::PrivateDnsConflict, "a zone holds the name")],
    )]);
    let updated = plan(&worse, &active, false);
    assert_eq!(updated.len(), 1);
    assert_eq!((updated[0]["CreatedAt"].as_str(), updated[0]["UpdatedAt"].as_str()), (Some(EARLIER), Some(NOW)));
    assert_eq!(updated[0]["ProductFields"][PROBLEMS_FIELD], "private_dns_conflict,shared_vpc");

    for outcome in [Outcome::Compliant, Outcome::Changed, Outcome::Skipped] {
        let fixed = plan(&report(vec![vpc("vpc-0a", outcome, vec![])]), &active, false);
        assert_eq!(fixed.len(), 1, "{outcome:?}");
        assert_eq!(
            (fixed[0]["RecordState"].as_str(), fixed[0]["Compliance"]["Status"].as_str()),
            (Some("ARCHIVED"), Some("PASSED"))
        );
        assert_eq!(fixed[0]["Id"], first[0]["Id"]);
        assert_eq!(fixed[0]["CreatedAt"], EARLIER);
    }
}

#[test]
fn no_verdict_no_finding_and_a_sweep_archives_findings_of_vpcs_it_no_longer_sees() {
    let active =
        held(&plan(&report(vec![vpc("vpc-0a", Outcome::NonCompliant, vec![shared_vpc_problem()])]), &[], false));
    let unsure = report(vec![
        vpc("vpc-0a", Outcome::Pending, vec![]),
        vpc("vpc-0b", Outcome::NonCompliant, vec![Problem::error(Code::Error, "throttled")]),
        vpc("vpc-0c", Outcome::Compliant, vec![]),
    ]);
    assert!(plan(&unsure, &active, false).is_empty(), "pending, a failed run and a VPC never found wanting: no import");

    let sweep_without_it = report(vec![vpc("vpc-0c", Outcome::Compliant, vec![])]);
    assert!(plan(&sweep_without_it, &active, false).is_empty(), "an event's partial view archives nothing");
    let archived = plan(&sweep_without_it, &active, true);
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["RecordState"], "ARCHIVED");

    let gone = report(vec![VpcReport::not_found("vpc-0a", "us-west-2")]);
    assert_eq!(plan(&gone, &active, false)[0]["RecordState"], "ARCHIVED");
}

#[test]
fn long_problem_lists_are_cut_to_asffs_description_limit() {
    let problems =
        (0..100).map(|i| Problem::error(Code::SharedVpc, format!("problem {i} {}", "é".repeat(30)))).collect();
    let findings = plan(&report(vec![vpc("vpc-0a", Outcome::NonCompliant, problems)]), &[], false);
    let description = findings[0]["Description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 1024);
    assert!(description.ends_with('…'));
}

#[test]
fn findings_of_other_products_are_not_vpce_guards() {
    let mut other = plan(&report(vec![vpc("vpc-0a", Outcome::NonCompliant, vec![shared_vpc_problem()])]), &[], false);
    other[0]["GeneratorId"] = "security-control/EC2.10".into();
    assert!(ActiveFinding::from_asff(&other[0]).is_none());
}

#[test]
fn sweeps_re_import_an_unchanged_finding_before_security_hub_deletes_it() {
    let failing = report(vec![vpc("vpc-0a", Outcome::NonCompliant, vec![shared_vpc_problem()])]);
    let mut active = held(&plan(&failing, &[], false));
    active[0].created_at = EARLIER.into();

    active[0].updated_at = "2026-11-01T02:00:00Z".into();
    assert!(plan(&failing, &active, true).is_empty(), "29 days old: left alone");

    active[0].updated_at = "2026-10-30T01:59:59.500Z".into();
    assert!(plan(&failing, &active, false).is_empty(), "an event's run never refreshes");
    let refreshed = plan(&failing, &active, true);
    assert_eq!(refreshed.len(), 1, "a sweep re-imports the stale finding once");
    assert_eq!((refreshed[0]["CreatedAt"].as_str(), refreshed[0]["UpdatedAt"].as_str()), (Some(EARLIER), Some(NOW)));
    assert_eq!(refreshed[0]["RecordState"], "ACTIVE");
    assert_eq!(refreshed[0]["ProductFields"][PROBLEMS_FIELD], "shared_vpc");
}
