//! The approval gate of the reconcile loop, against the in-memory [`FakeAccount`]: a run with
//! an approver writes what was approved, and nothing to a VPC whose plan holds more.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use vpce_guard::account::Account;
use vpce_guard::approval::{Approval, Approver, Verdict, NOT_APPROVED};
use vpce_guard::events::{Parsed, Trigger};
use vpce_guard::fake::FakeAccount;
use vpce_guard::model::TAG_ENFORCE;
use vpce_guard::report::{Outcome, Report};
use vpce_guard::testing::REGION;
use vpce_guard::{Guard, RunOptions};

const VPC: &str = "vpc-0f1e2d3c4b5a69788";
const OTHER: &str = "vpc-0a1b2c3d4e5f60718";

/// Two enforced VPCs with one subnet in each of us-west-2a and us-west-2b.
fn guard() -> Guard<FakeAccount> {
    let fake = FakeAccount::new();
    for (n, vpc) in [VPC, OTHER].into_iter().enumerate() {
        fake.add_vpc(vpc, &format!("10.{n}.0.0/16"));
        fake.with_state(|s| s.vpcs.get_mut(vpc).expect("vpc").tags.insert(TAG_ENFORCE.into(), "true".into()));
        for letter in ['a', 'b'] {
            fake.add_subnet(vpc, &format!("subnet-0000000000000{n}{letter}1"), &format!("{REGION}{letter}"));
        }
    }
    Guard::new(fake, vpce_guard::config::Config::default()).with_visibility_retries(Vec::new())
}

async fn run(guard: &Guard<FakeAccount>, dry_run: bool, approve: Option<Approver>) -> Report {
    let options = RunOptions { dry_run: Some(dry_run), trigger_name: Some("Cli"), approve, ..RunOptions::default() };
    let trigger = Trigger::Manual { vpc_ids: Some(vec![VPC.into(), OTHER.into()]), dry_run: None };
    guard.run_with(Parsed::Run(trigger), &options).await.expect("run")
}

fn vpc<'a>(report: &'a Report, vpc_id: &str) -> &'a vpce_guard::report::VpcReport {
    report.vpcs.iter().find(|v| v.vpc_id == vpc_id).expect("vpc in report")
}

#[tokio::test]
async fn a_refusal_writes_nothing_to_that_vpc() {
    let guard = guard();
    let refuse_one: Approver = Arc::new(|proposal| match proposal.vpc_id {
        VPC => Verdict::Refused(format!("{}: no", proposal.vpc_id)),
        _ => Verdict::Approved,
    });
    let report = run(&guard, false, Some(refuse_one)).await;
    let refused = vpc(&report, VPC);
    assert_eq!(refused.outcome, Outcome::NonCompliant);
    assert!(refused.actions.is_empty());
    assert_eq!(refused.problems.last().map(|p| p.code.as_str()), Some(NOT_APPROVED));
    assert!(guard.account().live_endpoints(VPC).is_empty());
    assert_eq!(vpc(&report, OTHER).outcome, Outcome::Changed);
    assert_eq!(guard.account().live_endpoints(OTHER).len(), 2);
}

#[tokio::test]
async fn a_dry_run_shows_the_approver_every_vpc_and_applies_what_it_approved() {
    let guard = guard();
    let seen: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        Arc::new(move |proposal: &vpce_guard::approval::Proposal<'_>| {
            assert!(proposal.dry_run);
            seen.lock().unwrap().insert(proposal.vpc_id.to_string(), proposal.fingerprint.to_string());
            Verdict::Approved
        })
    };
    let shown = run(&guard, true, Some(record)).await;
    assert_eq!(seen.lock().unwrap().len(), 2, "a fingerprint per VPC in scope");
    assert_eq!(guard.account().api_calls().write, 0);

    // A second dry run of the unchanged account sees the same.
    let fingerprints = seen.lock().unwrap().clone();
    let again = run(&guard, true, None).await;
    assert!(Approval::exact(saved(&shown, &fingerprints)).differences(&again, &fingerprints).is_empty());

    let applied = run(&guard, false, Some(Approval::at_most(&shown).into_approver())).await;
    assert_eq!(applied.count(Outcome::Changed), 2, "{}", applied.to_text());
    assert_eq!(guard.account().live_endpoints(VPC).len(), 2);
}

#[tokio::test]
async fn a_vpc_that_moved_after_the_plan_was_shown_is_not_written() {
    let guard = guard();
    let shown = run(&guard, true, None).await;
    guard.account().add_subnet(VPC, "subnet-00000000000000c1", &format!("{REGION}c"));
    let writes_before = guard.account().api_calls().write;

    let applied = run(&guard, false, Some(Approval::at_most(&shown).into_approver())).await;
    let moved = vpc(&applied, VPC);
    assert_eq!(moved.outcome, Outcome::NonCompliant);
    let message = &moved.problems.last().expect("a problem").message;
    assert!(message.contains("subnet-00000000000000c1"), "names the extra write: {message}");
    assert!(guard.account().live_endpoints(VPC).is_empty(), "nothing written to the VPC that moved");
    // The other VPC's approved writes went through.
    assert_eq!(guard.account().live_endpoints(OTHER).len(), 2);
    assert!(guard.account().api_calls().write > writes_before);
}

/// The approval a saved plan of `report` holds.
fn saved(report: &Report, fingerprints: &BTreeMap<String, String>) -> Vec<vpce_guard::approval::ApprovedVpc> {
    report
        .vpcs
        .iter()
        .map(|v| vpce_guard::approval::ApprovedVpc {
            vpc_id: v.vpc_id.clone(),
            fingerprint: fingerprints.get(&v.vpc_id).cloned(),
            actions: v.actions.clone(),
        })
        .collect()
}
