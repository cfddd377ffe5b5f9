//! A sweep checks that a CloudTrail trail records the Region's management events (issue 19,
//! item 7): through the real `remediate` binary against the strict fixture, whose CloudTrail
//! answers as AWS does (a trail created without event selectors records every management
//! event). Also: the stack's own `CREATE_COMPLETE` starts a sweep.

use anyhow::Result;
use serde_json::{json, Value};
use vpce_guard::report::{Code, Report};
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::{binary, events};

fn report(value: Value) -> Report {
    serde_json::from_value(value).expect("a report")
}

/// The `SweepNoTrail` values the function's EMF records carried.
fn no_trail_metric(logs: &[String]) -> Vec<Value> {
    logs.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record.get(vpce_guard::lambda::NO_TRAIL_METRIC).cloned())
        .collect()
}

#[tokio::test]
async fn a_sweep_reports_no_trail_until_a_logging_trail_records_management_events() -> Result<()> {
    let moto = Moto::start().await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    let sweep =
        || async { Ok::<_, anyhow::Error>(report(remediate.invoke(events::load("scheduled.json")).await?.unwrap())) };
    let codes = |r: &Report| r.trail.as_ref().map(|t| t.problems.iter().map(|p| p.code).collect::<Vec<_>>());

    // No trail at all.
    let none = sweep().await?;
    assert_eq!(codes(&none), Some(vec![Code::NoTrail]), "{:?}", none.trail);

    // A trail of this Region with logging off, and a single-Region trail of another Region
    // (which does not apply here).
    let off = moto.trail("stopped", "us-west-2", false, false, None).await?;
    moto.trail("elsewhere", "eu-west-1", false, true, None).await?;
    let stopped = sweep().await?;
    let message = &stopped.trail.as_ref().unwrap().problems[0].message;
    assert!(message.contains(&format!("{off} (logging is off)")), "{message}");
    assert!(!message.contains("elsewhere"), "a single-Region trail of another Region does not apply: {message}");

    // A multi-Region trail of another home Region, created without event selectors: it records
    // every management event here too.
    let all = moto.trail("organization-wide", "us-east-1", true, true, None).await?;
    let recorded = sweep().await?;
    assert_eq!(recorded.trail.as_ref().map(|t| t.recording.clone()), Some(vec![all]), "{:?}", recorded.trail);
    assert_eq!(codes(&recorded), Some(vec![]));

    // Event path runs do not check the trail.
    let manual = report(remediate.invoke(json!({})).await?.unwrap());
    assert!(manual.trail.is_none(), "only sweeps check the trail");
    let logs = remediate.stop().await;
    // A datapoint of 1 for each sweep that found no trail; none once a trail records (a healthy
    // account writes no such metric).
    assert_eq!(no_trail_metric(&logs), [json!(1), json!(1)], "{logs:?}");
    Ok(())
}

#[tokio::test]
async fn a_trail_recording_only_read_events_does_not_count() -> Result<()> {
    let moto = Moto::start().await?;
    let selectors = json!([{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": true, "DataResources": []}]);
    let arn = moto.trail("reads-only", "us-west-2", true, true, Some(selectors)).await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    let sweep = report(remediate.invoke(events::load("scheduled.json")).await?.unwrap());
    let trail = sweep.trail.expect("a sweep checks the trail");
    assert!(trail.missing(), "{trail:?}");
    assert!(trail.problems[0]
        .message
        .contains(&format!("{arn} (its event selectors leave out management write events)")));
    remediate.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_stacks_create_complete_starts_a_sweep_and_a_rollback_does_not() -> Result<()> {
    let moto = Moto::start().await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    let created = report(remediate.invoke(events::load("stack-create-complete.json")).await?.unwrap());
    assert_eq!(created.trigger, "Scheduled");
    assert!(created.trail.is_some(), "a sweep: the trail is checked");
    let rolled_back = report(remediate.invoke(events::load("stack-rollback-complete.json")).await?.unwrap());
    assert!(rolled_back.ignored.as_deref().is_some_and(|r| r.contains("ROLLBACK_COMPLETE")), "{rolled_back:?}");
    assert_eq!(rolled_back.api_calls.read + rolled_back.api_calls.write, 0, "nothing called");
    remediate.stop().await;
    Ok(())
}
