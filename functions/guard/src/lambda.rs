//! What the four Lambda functions share: logging set-up, building the reconciler from the
//! environment, and the named handlers that `main` wires into `lambda_runtime::run`.

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::account::Account;
use crate::aws::SdkAccount;
use crate::config::Config;
use crate::error::Result;
use crate::events;
use crate::guard::{Guard, RunOptions};
use crate::report::Report;

/// Sets up `tracing`: JSON lines when Lambda's log format is JSON
/// (`AWS_LAMBDA_LOG_FORMAT=JSON`), plain text otherwise; level from `RUST_LOG`
/// or `AWS_LAMBDA_LOG_LEVEL`, default `info` (see [`log_level`]).
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG").or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL")).unwrap_or_default();
    let builder =
        tracing_subscriber::fmt().with_max_level(log_level(&level)).with_writer(std::io::stderr).with_target(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.with_ansi(false).without_time().try_init()
    };
}

/// The level of a `RUST_LOG`-style value: a level (`debug`), or directives (`vpce_guard=debug,warn`)
/// of which the most verbose level counts for every target (a plain level filter costs the
/// bootstraps no regex engine). Lambda's `AWS_LAMBDA_LOG_LEVEL` names (`TRACE` … `FATAL`) are
/// read too. Empty or unreadable: `info`.
pub fn log_level(text: &str) -> tracing::level_filters::LevelFilter {
    use tracing::level_filters::LevelFilter;
    let level =
        |directive: &str| match directive.rsplit('=').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "trace" => Some(LevelFilter::TRACE),
            "debug" => Some(LevelFilter::DEBUG),
            "info" => Some(LevelFilter::INFO),
            "warn" => Some(LevelFilter::WARN),
            "error" | "fatal" => Some(LevelFilter::ERROR),
            "off" => Some(LevelFilter::OFF),
            _ => None,
        };
    text.split(',').filter_map(level).max().unwrap_or(LevelFilter::INFO)
}

/// The reconciler every function uses: configuration validated from the environment, SDK
/// clients built once (outside the handler).
pub async fn guard_from_env() -> Result<Guard<SdkAccount>> {
    let config = Config::from_env()?;
    let account = SdkAccount::from_env().await?;
    Ok(Guard::new(account, config))
}

/// CloudWatch namespace of the metrics the functions emit.
pub const METRICS_NAMESPACE: &str = "VpceGuard";

/// The metrics every invocation emits (zeros included), in Embedded Metric Format on stdout.
/// `VpcsErrored` counts VPCs that failed inside a run (problem `error`) without failing it.
pub const METRIC_NAMES: [&str; 8] = [
    "VpcsChecked",
    "VpcsChanged",
    "VpcsPending",
    "VpcsNonCompliant",
    "VpcsSkipped",
    "VpcsErrored",
    "AwsWrites",
    "Errors",
];

/// The one metric only a full sweep (the schedule) emits, in a record of its own: its view of
/// the non-compliant VPCs, which single-VPC runs must not overwrite (an alarm on it keeps its
/// state between sweeps).
pub const SWEEP_METRIC: &str = "SweepVpcsNonCompliant";

/// A sweep's second metric, in the same record, present only when no CloudTrail trail records
/// the Region's management events (`no_trail`): value 1. A healthy account writes none (no
/// metric to pay for); the alarm treats missing data as not breaching and looks back over
/// `SweepHeartbeatHours`, so it stays in ALARM while sweeps keep finding no trail.
pub const NO_TRAIL_METRIC: &str = "SweepNoTrail";

/// What the managed interface endpoints of the account and region cost per month, in US dollars,
/// as a full sweep (the schedule) saw them: in the sweep's record, the dashboard's account total.
pub const SWEEP_COST_METRIC: &str = "SweepEndpointMonthlyUsd";

/// The idle VPCs a full sweep found (`idle_endpoints`), in the sweep's record.
pub const SWEEP_IDLE_METRIC: &str = "SweepIdleVpcs";

static METRICS: std::sync::OnceLock<Option<&'static metrics_cloudwatch_embedded::Collector>> =
    std::sync::OnceLock::new();

/// Installs the EMF recorder (namespace `VpceGuard`, dimension `FunctionName`), once.
pub fn init_metrics() {
    METRICS.get_or_init(|| {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vpce-guard".into());
        let built = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(METRICS_NAMESPACE)
            .with_dimension("FunctionName", function)
            // A counter that stayed 0 is left out of the record: CloudWatch bills a custom metric
            // for every hour it receives a value, zeros included, and a quiet sweep would pay for
            // six zeros four times a day (infra/README.md, "What a stack costs").
            .emit_zeros(false)
            .init();
        match built {
            Ok(collector) => Some(collector),
            Err(error) => {
                tracing::warn!(error = %error, "metrics disabled");
                None
            }
        }
    });
}

/// Counts an invocation's outcome and writes one EMF record to stdout.
pub fn emit_metrics(result: &Result<Report>) {
    use crate::report::Outcome;
    let Some(Some(collector)) = METRICS.get() else { return };
    let count = |outcome: Outcome| result.as_ref().map_or(0, |r| r.count(outcome) as u64);
    let values = [
        ("VpcsChecked", result.as_ref().map_or(0, |r| r.vpcs.len() as u64)),
        ("VpcsChanged", count(Outcome::Changed)),
        ("VpcsPending", count(Outcome::Pending)),
        ("VpcsNonCompliant", count(Outcome::NonCompliant)),
        ("VpcsSkipped", count(Outcome::Skipped)),
        ("VpcsErrored", result.as_ref().map_or(0, errored)),
        ("AwsWrites", result.as_ref().map_or(0, |r| r.api_calls.write)),
        ("Errors", u64::from(result.is_err())),
    ];
    for (name, value) in values {
        metrics::counter!(name).increment(value);
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = collector.flush(&mut stdout) {
        tracing::warn!(error = %error, "could not write metrics");
    }
    if let Some(report) = result.as_ref().ok().filter(|r| r.trigger == "Scheduled") {
        use std::io::Write as _;
        let _ = writeln!(stdout, "{}", sweep_record(report));
    }
}

/// VPCs of a report that failed inside the run (problem code `error`).
fn errored(report: &Report) -> u64 {
    report.vpcs.iter().filter(|v| v.problems.iter().any(|p| p.code == crate::report::Code::Error)).count() as u64
}

/// An Embedded Metric Format record of a full sweep's view: [`SWEEP_METRIC`] (its non-compliant
/// VPCs, always: the heartbeat alarm counts the records), and, each only when not 0 (a zero
/// would be a billed metric-hour saying nothing), [`SWEEP_COST_METRIC`] (what the managed
/// endpoints cost per month), [`SWEEP_IDLE_METRIC`] (its idle VPCs) and [`NO_TRAIL_METRIC`]
/// (no trail records the Region's management events).
pub fn sweep_record(report: &Report) -> serde_json::Value {
    use crate::report::{Code, Outcome};
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vpce-guard".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let monthly = report.cost.as_ref().map_or(0.0, |c| c.monthly_usd.dollars());
    let idle = report.vpcs.iter().filter(|v| v.problems.iter().any(|p| p.code == Code::IdleEndpoints)).count();
    let no_trail = report.trail.as_ref().is_some_and(|t| t.missing());
    let mut record = serde_json::json!({
        "_aws": {
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": SWEEP_METRIC, "Unit": "Count"}]
            }]
        },
        "FunctionName": function,
        SWEEP_METRIC: report.count(Outcome::NonCompliant) as u64
    });
    let optional = [
        (SWEEP_COST_METRIC, serde_json::json!(monthly), monthly > 0.0),
        (SWEEP_IDLE_METRIC, serde_json::json!(idle as u64), idle > 0),
        (NO_TRAIL_METRIC, serde_json::json!(1), no_trail),
    ];
    for (name, value, present) in optional {
        if present {
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut().expect("the metrics list above").push(
                serde_json::json!({"Name": name, "Unit": if name == SWEEP_COST_METRIC { "None" } else { "Count" }}),
            );
            record[name] = value;
        }
    }
    record
}

/// [`guard_from_env`] for a function's `main`: a start-up error is logged as one clear line
/// (naming the variable at fault) and ends the process, so Lambda reports an init error.
/// Also installs the metrics recorder.
pub async fn start() -> std::result::Result<Guard<SdkAccount>, lambda_runtime::Error> {
    init_metrics();
    let started = async {
        let guard = guard_from_env().await?;
        // The org* policy modes need the Organization's id: read it now, so that a missing
        // permission or an account outside an Organization fails the start, not every event.
        if guard.config().org_variable().is_some() {
            guard.identity().await?;
        }
        Ok::<_, crate::error::Error>(guard)
    };
    started.await.map_err(|error| {
        tracing::error!(error_type = %error.error_type(), "{error}");
        lambda_runtime::Error::from(error.to_string())
    })
}

/// Run options for an invocation: its deadline from the Runtime API (`Lambda-Runtime-Deadline-Ms`).
pub fn run_options(context: &lambda_runtime::Context) -> RunOptions {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let deadline = (context.deadline > 0).then(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        Instant::now() + Duration::from_millis(context.deadline.saturating_sub(now))
    });
    RunOptions { deadline, ..RunOptions::default() }
}

/// Parses the event with `parse`, runs it (an event of another account is ignored) within the
/// invocation's deadline, and emits the invocation's metrics, failed or not.
async fn handle<A: Account>(
    event: LambdaEvent<Value>,
    guard: &Guard<A>,
    parse: impl Fn(&Value, &str) -> Result<events::Parsed>,
) -> Result<Report> {
    let result = match parse(&event.payload, guard.account().region()) {
        Ok(parsed) => {
            let mut options = run_options(&event.context);
            options.event_account = event.payload.get("account").and_then(Value::as_str).map(str::to_string);
            guard.run_with(parsed, &options).await
        }
        Err(error) => Err(error),
    };
    emit_metrics(&result);
    result
}

/// Handler of `on-notebook-created`: a `CreateNotebookInstance` CloudTrail event.
pub async fn on_notebook_created<A: Account>(event: LambdaEvent<Value>, guard: &Guard<A>) -> Result<Report> {
    let parse = |e: &Value, r: &str| events::parse_single(e, r, events::parse_notebook_created, "on-notebook-created");
    handle(event, guard, parse).await
}

/// Handler of `on-subnet-created`: a `CreateSubnet` CloudTrail event.
pub async fn on_subnet_created<A: Account>(event: LambdaEvent<Value>, guard: &Guard<A>) -> Result<Report> {
    let parse = |e: &Value, r: &str| events::parse_single(e, r, events::parse_subnet_created, "on-subnet-created");
    handle(event, guard, parse).await
}

/// Handler of `on-domain-created`: a `CreateDomain` or `UpdateDomain` CloudTrail event.
pub async fn on_domain_created<A: Account>(event: LambdaEvent<Value>, guard: &Guard<A>) -> Result<Report> {
    let parse = |e: &Value, r: &str| events::parse_single(e, r, events::parse_domain_changed, "on-domain-created");
    handle(event, guard, parse).await
}

/// Handler of `remediate`: the scheduled event, its stack's status change, a drift event, a
/// delivery of the event queue (creation and drift events; answered with `batchItemFailures`)
/// or a manual payload.
pub async fn remediate<A: Account>(event: LambdaEvent<Value>, guard: &Guard<A>) -> Result<Report> {
    handle(event, guard, events::parse_remediate_in).await
}

#[cfg(test)]
mod tests {
    use tracing::level_filters::LevelFilter;

    use super::log_level;

    #[test]
    fn log_levels_read_plain_levels_directives_and_lambda_names() {
        assert_eq!(log_level(""), LevelFilter::INFO);
        assert_eq!(log_level("debug"), LevelFilter::DEBUG);
        assert_eq!(log_level("WARN"), LevelFilter::WARN);
        assert_eq!(log_level("FATAL"), LevelFilter::ERROR);
        assert_eq!(log_level("vpce_guard=trace,warn"), LevelFilter::TRACE, "the most verbose directive");
        assert_eq!(log_level("off"), LevelFilter::OFF);
        assert_eq!(log_level("loud"), LevelFilter::INFO, "unreadable: info");
    }
}
