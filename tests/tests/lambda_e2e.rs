//! End to end: the real function binaries (`lambda_runtime` programs) driven through the
//! Lambda Runtime API, invoked with the files of `events/`, against the strict moto fixture.
//! Each test checks the account's state, not only the response.

use anyhow::Result;
use serde_json::Value;
use vpce_guard::report::{Outcome, Report};
use vpce_guard_tests::moto::Moto;
use vpce_guard_tests::runtime::Function;
use vpce_guard_tests::seed::Seed;
use vpce_guard_tests::{binary, events};

const API: &str = "com.amazonaws.us-west-2.sagemaker.api";
const NOTEBOOK: &str = "aws.sagemaker.us-west-2.notebook";

fn report(value: Value) -> Report {
    serde_json::from_value(value).expect("the response is a report")
}

#[tokio::test]
async fn notebook_then_subnet_events_through_the_runtime_api() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let (vpc, by_az) = seed.vpc_with_subnets(0, &["us-west-2a", "us-west-2b", "us-west-2c"], 2).await?;
    let first = by_az["us-west-2a"][0].clone();
    let group = seed.notebook_group(&vpc).await?;
    seed.notebook("fraud-model-dev", &first, &group).await?;

    let mut env = moto.env();
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    let on_notebook = Function::start(&binary("on-notebook-created"), &env).await?;
    let response = on_notebook.invoke(events::notebook_created("fraud-model-dev", &first)).await?;
    let created = report(response.expect("invocation succeeds"));
    assert_eq!(created.trigger, "CreateNotebookInstance");
    assert_eq!(created.vpcs[0].outcome, Outcome::Changed);
    let endpoints = seed.live_endpoints(&vpc).await?;
    assert_eq!(endpoints[API].len(), 1);
    assert_eq!(endpoints[NOTEBOOK].len(), 1);
    assert_eq!(seed.endpoint_azs(&vpc, &endpoints[NOTEBOOK][0]).await?, ["us-west-2a", "us-west-2b", "us-west-2c"]);
    assert_eq!(seed.dns(&vpc).await?, (true, true));
    let logs = on_notebook.stop().await;
    assert!(
        logs.iter().any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["fields"]["message"] == "planned")),
        "JSON log lines with a 'planned' record: {logs:?}"
    );

    let new_subnet = seed.subnet(&vpc, "10.0.200.0/24", "us-west-2d").await?;
    let on_subnet = Function::start(&binary("on-subnet-created"), &moto.env()).await?;
    moto.reset_calls().await?;
    let extended = report(on_subnet.invoke(events::subnet_created(&new_subnet, &vpc, "us-west-2d")).await?.unwrap());
    assert_eq!(extended.vpcs[0].outcome, Outcome::Changed);
    assert_eq!(moto.writes().await?, 2);
    for list in seed.live_endpoints(&vpc).await?.values() {
        assert_eq!(list.len(), 1);
        assert!(list[0].subnet_ids().contains(&new_subnet));
    }
    // A warm process answers the replay with no write.
    let replay = report(on_subnet.invoke(events::subnet_created(&new_subnet, &vpc, "us-west-2d")).await?.unwrap());
    assert_eq!(replay.vpcs[0].outcome, Outcome::Compliant);
    assert_eq!(replay.api_calls.write, 0);
    assert_eq!(moto.writes().await?, 2);
    Ok(())
}

#[tokio::test]
async fn bad_events_fail_with_permanent_error_types_and_write_nothing() -> Result<()> {
    let moto = Moto::start().await?;
    let on_subnet = Function::start(&binary("on-subnet-created"), &moto.env()).await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;

    let malformed = on_subnet.invoke(events::load("malformed-create-subnet.json")).await?.unwrap_err();
    assert_eq!(malformed.error_type, "Permanent.BadEvent");
    assert!(malformed.error_message.contains("vpcId"), "{}", malformed.error_message);

    let wrong = on_subnet.invoke(events::load("create-notebook-instance.json")).await?.unwrap_err();
    assert_eq!(wrong.error_type, "Permanent.BadEvent");

    let typo = remediate.invoke(serde_json::json!({"vpc_id": "vpc-12345678"})).await?.unwrap_err();
    assert_eq!(typo.error_type, "Permanent.BadEvent");
    assert!(typo.error_message.contains("vpc_ids"), "{}", typo.error_message);

    let failed_call = report(on_subnet.invoke(events::load("create-subnet-failed.json")).await?.unwrap());
    assert!(failed_call.ignored.is_some());

    assert_eq!(moto.writes().await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_notebook_deleted_before_its_event_is_ignored_not_retried() -> Result<()> {
    let moto = Moto::start().await?;
    let on_notebook = Function::start(&binary("on-notebook-created"), &moto.env()).await?;
    let started = std::time::Instant::now();
    let answer = on_notebook.invoke(events::notebook_created("never-created", "subnet-0123456789abcdef0")).await?;
    let report = report(answer.map_err(|e| anyhow::anyhow!("{}: {}", e.error_type, e.error_message))?);
    let reason = report.ignored.as_deref().unwrap_or_default();
    assert!(reason.contains("never-created") && reason.contains("no longer exists"), "{reason}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(7), "after the brief retries (1 + 2 + 4 s)");
    assert_eq!(moto.writes().await?, 0);
    Ok(())
}

#[tokio::test]
async fn bad_configuration_stops_the_function_at_start_naming_the_variable() -> Result<()> {
    let moto = Moto::start().await?;
    let mut env = moto.env();
    env.push(("VPCE_GUARD_SCOPE".into(), "everything".into()));
    let mut remediate = Function::start(&binary("remediate"), &env).await?;
    let code = remediate.wait_exit(std::time::Duration::from_secs(20)).await;
    assert_ne!(code, Some(0), "the process must not start serving");
    let logs = remediate.logs().join("\n");
    assert!(logs.contains("VPCE_GUARD_SCOPE") && logs.contains("enrolled, all"), "{logs}");
    assert!(moto.calls().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn remediate_dry_run_file_plans_without_writing() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = seed.vpc("10.9.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
    seed.subnet(&vpc, "10.9.0.0/24", "us-west-2a").await?;
    let mut payload = events::load("remediate-dry-run.json");
    payload["vpc_ids"][0] = Value::String(vpc.clone());
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    moto.reset_calls().await?;
    let planned = report(remediate.invoke(payload).await?.unwrap());
    assert!(planned.dry_run);
    assert_eq!(planned.vpcs[0].outcome, Outcome::WouldChange);
    assert_eq!(moto.writes().await?, 0);
    assert!(seed.endpoints(&vpc).await?.is_empty());

    let applied = report(remediate.invoke(events::remediate(&[&vpc], false)).await?.unwrap());
    assert_eq!(applied.vpcs[0].outcome, Outcome::Changed);
    assert_eq!(seed.live_endpoints(&vpc).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn every_invocation_prints_an_emf_record_of_its_nonzero_metrics() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = seed.vpc("10.8.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
    seed.subnet(&vpc, "10.8.0.0/24", "us-west-2a").await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    report(remediate.invoke(events::remediate(&[&vpc], false)).await?.unwrap());
    let error = remediate.invoke(serde_json::json!({"vpc_ids": []})).await?;
    assert!(error.is_err());
    let logs = remediate.stop().await;

    let records: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(records.len(), 2, "one EMF record per invocation: {logs:?}");
    let mut named = Vec::new();
    for record in &records {
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "VpceGuard");
        assert_eq!(directive["Dimensions"][0][0], "FunctionName");
        assert_eq!(record["FunctionName"], "remediate");
        let names: Vec<String> =
            directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap().to_string()).collect();
        for name in &names {
            assert!(vpce_guard::lambda::METRIC_NAMES.contains(&name.as_str()), "{name} is not one of the metrics");
            assert_ne!(record[name.as_str()], 0, "{name}: a zero is left out (a billed metric-hour saying nothing)");
        }
        assert!(record["_aws"]["Timestamp"].as_u64().is_some());
        named.push(names);
    }
    // A VPC put in line: checked, changed, five writes; nothing pending, skipped or failed.
    assert_eq!(named[0], ["AwsWrites", "VpcsChanged", "VpcsChecked"]);
    assert_eq!(records[0]["VpcsChecked"], 1);
    assert_eq!(records[0]["VpcsChanged"], 1);
    assert_eq!(records[0]["AwsWrites"], 5);
    // The refused payload: one error, nothing else.
    assert_eq!(named[1], ["Errors"]);
    assert_eq!(records[1]["Errors"], 1);
    assert!(records.iter().all(|r| r.get(vpce_guard::lambda::SWEEP_METRIC).is_none()), "not a sweep");
    Ok(())
}

/// The non-compliance alarm watches the sweep's view only: a drift run reporting 0 non-compliant
/// VPCs emits no datapoint of it (the alarm keeps its state), a sweep does.
#[tokio::test]
async fn only_a_sweep_emits_the_metric_the_non_compliance_alarm_watches() -> Result<()> {
    let moto = Moto::start().await?;
    let seed = Seed::new(&moto.sdk_config());
    let vpc = seed.vpc("10.8.0.0/16", &[("vpce-guard:enforce", "true")]).await?;
    seed.subnet(&vpc, "10.8.0.0/24", "us-west-2a").await?;
    moto.configure(serde_json::json!({"deny_vpcs": [vpc]})).await?;
    let remediate = Function::start(&binary("remediate"), &moto.env()).await?;
    let sweep = report(remediate.invoke(events::load("scheduled.json")).await?.unwrap());
    assert_eq!(sweep.count(Outcome::NonCompliant), 1, "the denied VPC");
    moto.configure(serde_json::json!({"deny_vpcs": []})).await?;
    let drift = remediate.invoke(events::remediate(&[&vpc], false)).await?.unwrap();
    assert_eq!(report(drift).count(Outcome::NonCompliant), 0);
    let logs = remediate.stop().await;

    let name = vpce_guard::lambda::SWEEP_METRIC;
    let views: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record.get(name).cloned())
        .collect();
    assert_eq!(views, [serde_json::json!(1)], "one datapoint, from the sweep: {logs:?}");
    let errored: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record.get("VpcsErrored").cloned())
        .collect();
    // The sweep's VPC that failed is counted; the drift run's 0 is left out of its record (a zero
    // would be a billed custom metric-hour saying nothing).
    assert_eq!(errored, [serde_json::json!(1)], "{logs:?}");
    Ok(())
}
