//! Bad input, fuzzed: what Lambda hands the functions (arbitrary JSON, the real `events/` files
//! truncated, with wrong types or missing fields, 1 MB strings, unknown event names, other
//! regions and accounts), the configuration they start with, and the names that end up in
//! endpoint policies.
//!
//! The promises: the parsers never panic and answer `Ok(Ignore)` with a reason, or a
//! `Permanent.BadEvent` error with a message, or a trigger whose ids are well formed; the
//! handlers never make a single AWS call (so never a write) for input the parser refused;
//! configuration errors name the variable and the accepted values; hostile notebook names
//! cannot change a policy's structure.
//!
//! Case counts are bounded for CI; each test prints a `FUZZ` line with the cases it ran
//! (`-- --nocapture`). For a long run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p vpce-guard --test parsing_fuzz -- --nocapture
//! ```

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use vpce_guard::config::{api_service, notebook_service, Config, NotebookPolicy};
use vpce_guard::events::{
    drift_event_names, is_domain_id, is_notebook_name, is_resource_id, parse_domain_changed, parse_notebook_created,
    parse_remediate, parse_remediate_in, parse_single, parse_subnet_created, Drift, Parsed, Trigger,
};
use vpce_guard::fake::FakeAccount;
use vpce_guard::lambda::{on_notebook_created, on_subnet_created, remediate};
use vpce_guard::model::Tags;
use vpce_guard::policy::{account_api_policy, account_notebooks_arn};
use vpce_guard::report::Report;
use vpce_guard::testing::{self, REGION};
use vpce_guard::Guard;

/// The VPC, subnets and notebook the sample events name.
const VPC: &str = "vpc-0f1e2d3c4b5a69788";
const SUBNET_A: &str = "subnet-0a1b2c3d4e5f60718";
const SUBNET_D: &str = "subnet-0d9c8b7a6f5e4d3c2";
const NOTEBOOK: &str = "fraud-model-dev";
const OTHER_ACCOUNT: &str = "210987654321";
const MEGABYTE: usize = 1 << 20;

// ---- inputs -------------------------------------------------------------------------------

/// Every file of `events/`, by name.
fn event_files() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(files.len() >= 8, "the events/ files: {files:?}");
    files
}

fn event_bytes() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    event_files()
        .into_iter()
        .map(|(name, _)| {
            let bytes = std::fs::read(dir.join(&name)).expect("readable");
            (name, bytes)
        })
        .collect()
}

/// Is `event` a CloudTrail event on EventBridge?
fn is_cloudtrail(event: &Value) -> bool {
    event["detail-type"] == "AWS API Call via CloudTrail"
}

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path in `value` (the root included), depth first.
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(prefix.clone());
        match value {
            Value::Object(fields) => {
                for (key, field) in fields {
                    prefix.push(Step::Key(key.clone()));
                    walk(field, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    prefix.push(Step::Index(index));
                    walk(item, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |node, step| match step {
        Step::Key(key) => &mut node[key.as_str()],
        Step::Index(index) => &mut node[*index],
    })
}

/// `event` with the node at `path` replaced by `with`, or removed when `with` is `None`.
fn mutated(event: &Value, path: &[Step], with: Option<Value>) -> Value {
    let mut copy = event.clone();
    match (with, path.split_last()) {
        (Some(value), _) => *at_mut(&mut copy, path) = value,
        (None, None) => copy = Value::Null,
        (None, Some((last, parent))) => match (at_mut(&mut copy, parent), last) {
            (Value::Object(fields), Step::Key(key)) => {
                fields.remove(key);
            }
            (Value::Array(items), Step::Index(index)) => {
                items.remove(*index);
            }
            _ => {}
        },
    }
    copy
}

/// Values of the wrong type (or the right type and the wrong content) for any field.
fn wrong_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5e300),
        json!(""),
        json!("x"),
        json!("vpc-0123456789abcdef0"),
        json!("vpce-0123456789abcdef0"),
        json!("<script>\"],\"Action\":\"*"),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"items": [{"content": "vpc-0123456789abcdef0"}]}),
    ]
}

/// Strings that mean something to the parsers, to steer arbitrary JSON towards real shapes.
fn meaningful_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("AWS API Call via CloudTrail".to_string()),
        Just("Scheduled Event".to_string()),
        Just("aws.ec2".to_string()),
        Just("aws.sagemaker".to_string()),
        Just("aws.events".to_string()),
        Just("ec2.amazonaws.com".to_string()),
        Just("sagemaker.amazonaws.com".to_string()),
        Just("CreateSubnet".to_string()),
        Just("CreateNotebookInstance".to_string()),
        Just("DeleteVpcEndpoints".to_string()),
        Just("ModifyVpcAttribute".to_string()),
        Just(REGION.to_string()),
        Just("vpc-0123456789abcdef0".to_string()),
        Just("subnet-0123456789abcdef0".to_string()),
        Just("vpce-0123456789abcdef0".to_string()),
        Just("fraud-model-dev".to_string()),
        ".{0,24}",
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "eventType",
            "errorCode",
            "errorMessage",
            "subnet",
            "subnetId",
            "vpcId",
            "VpcId",
            "VpcEndpointId",
            "notebookInstanceName",
            "items",
            "content",
            "vpc_ids",
            "dry_run",
        ])
        .prop_map(str::to_string),
        ".{0,12}",
    ]
}

/// Arbitrary JSON, biased towards the keys and strings of real events.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        meaningful_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..10)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

// ---- checks -------------------------------------------------------------------------------

/// What a parser made of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Run,
    Ignored,
    BadEvent,
}

type Parse = fn(&Value) -> vpce_guard::Result<Parsed>;

/// The entry points' parsers: (name, parser).
fn parsers() -> [(&'static str, Parse); 5] {
    [
        // The creation functions take one event of their kind, never a queue delivery (parse_single).
        ("parse_notebook_created", |v| parse_single(v, REGION, parse_notebook_created, "on-notebook-created")),
        ("parse_subnet_created", |v| parse_single(v, REGION, parse_subnet_created, "on-subnet-created")),
        ("parse_remediate_in", |v| parse_remediate_in(v, REGION)),
        ("parse_domain_changed", |v| parse_single(v, REGION, parse_domain_changed, "on-domain-created")),
        ("parse_remediate", parse_remediate),
    ]
}

/// A trigger the parser let through carries only well-formed ids.
fn well_formed(trigger: &Trigger) -> Result<(), String> {
    let ok = match trigger {
        Trigger::NotebookCreated { name } => is_notebook_name(name),
        Trigger::SubnetCreated { subnet_id, vpc_id } => {
            is_resource_id(subnet_id, "subnet-") && is_resource_id(vpc_id, "vpc-")
        }
        Trigger::DomainChanged { event_name, domain_id } => {
            ["CreateDomain", "UpdateDomain"].contains(event_name) && is_domain_id(domain_id)
        }
        Trigger::Scheduled => true,
        Trigger::Drift(drift) => well_formed_drift(drift),
        Trigger::Delivery(batch) => {
            batch.drifts.iter().all(|d| well_formed_drift(d) && d.record.as_ref().is_some_and(|id| !id.is_empty()))
                && batch
                    .creations
                    .iter()
                    .all(|(id, t)| !id.is_empty() && !matches!(t, Trigger::Delivery(_)) && well_formed(t).is_ok())
                && batch.creations.len() + batch.drifts.len() + batch.ignored.len() + batch.unreadable.len()
                    == batch.records
                && batch.unreadable.iter().all(|(id, why)| !id.is_empty() && !why.is_empty())
        }
        Trigger::Manual { vpc_ids, .. } => {
            vpc_ids.as_ref().is_none_or(|ids| !ids.is_empty() && ids.iter().all(|id| is_resource_id(id, "vpc-")))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("a trigger with ill-formed ids got through: {trigger:?}"))
    }
}

fn well_formed_drift(drift: &Drift) -> bool {
    drift_event_names().contains(&drift.event_name)
        && drift.vpc_ids.iter().all(|id| is_resource_id(id, "vpc-"))
        && drift.endpoint_ids.iter().all(|id| is_resource_id(id, "vpce-"))
        && drift.group_ids.iter().all(|id| is_resource_id(id, "sg-"))
        && drift.subnet_ids.iter().all(|id| is_resource_id(id, "subnet-"))
}

/// Runs `parse` on `input`; a panic, an error of another kind, an error or reason without a
/// message, or an ill-formed trigger is a failure described with `context`.
fn verdict(name: &str, parse: Parse, input: &Value) -> Result<Verdict, String> {
    let describe = |what: String| {
        let mut shown = input.to_string();
        shown.truncate(400);
        format!("{name}: {what}; input: {shown}")
    };
    let result = catch_unwind(AssertUnwindSafe(|| parse(input))).map_err(|_| describe("panicked".into()))?;
    match result {
        Ok(Parsed::Ignore { reason, .. }) if reason.trim().is_empty() => {
            Err(describe("ignored without a reason".into()))
        }
        Ok(Parsed::Ignore { .. }) => Ok(Verdict::Ignored),
        Ok(Parsed::Run(trigger)) => well_formed(&trigger).map(|()| Verdict::Run).map_err(describe),
        Err(error) => {
            let message = error.to_string();
            if error.error_type() != "Permanent.BadEvent" {
                return Err(describe(format!("error of type {}: {message}", error.error_type())));
            }
            let detail = message.trim_start_matches("bad event: ").trim_end_matches("; nothing was changed");
            if detail.trim().len() < 10 {
                return Err(describe(format!("error without a useful message: {message:?}")));
            }
            Ok(Verdict::BadEvent)
        }
    }
}

/// Every parser on `input`.
fn all_verdicts(input: &Value) -> Result<Vec<Verdict>, String> {
    parsers().iter().map(|(name, parse)| verdict(name, *parse, input)).collect()
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Runs a property for `default_cases` cases (or `PROPTEST_CASES`) and prints the count.
fn property<S>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = cases(default_cases);
    let mut runner = TestRunner::new(config.clone());
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{name}: {failure}");
    }
    println!("FUZZ {name}: {} cases", config.cases);
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

// ---- parsers ------------------------------------------------------------------------------

#[test]
fn arbitrary_json_is_answered_cleanly_by_every_parser() {
    property("arbitrary_json", 2048, arbitrary_json(), |input| all_verdicts(&input).map(drop).map_err(fail));
}

#[test]
fn real_events_with_an_arbitrary_node_are_answered_cleanly() {
    let files = event_files();
    let targets: Vec<(Value, Vec<Step>)> =
        files.iter().flat_map(|(_, event)| paths(event).into_iter().map(|path| (event.clone(), path))).collect();
    let strategy = (prop::sample::select(targets), prop::option::weighted(0.9, arbitrary_json()));
    property("real_events_with_an_arbitrary_node", 2048, strategy, |((event, path), with)| {
        all_verdicts(&mutated(&event, &path, with)).map(drop).map_err(fail)
    });
}

#[test]
fn every_truncation_of_every_event_file_is_answered_cleanly() {
    let mut prefixes = 0;
    let mut parsed = 0;
    for (name, bytes) in event_bytes() {
        for end in 0..=bytes.len() {
            prefixes += 1;
            // What Lambda's runtime does first: bytes to JSON. Invalid JSON never reaches a handler.
            let Ok(value) = serde_json::from_slice::<Value>(&bytes[..end]) else { continue };
            parsed += 1;
            if let Err(problem) = all_verdicts(&value) {
                panic!("{name} cut at byte {end}: {problem}");
            }
        }
    }
    assert!(parsed >= 8, "at least the whole files parse");
    println!("FUZZ truncations: {prefixes} prefixes, {parsed} of them valid JSON, each through 5 parsers");
}

#[test]
fn corrupted_bytes_of_event_files_never_panic() {
    let files = event_bytes();
    let strategy = (0..files.len(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8));
    property("corrupted_bytes", 2048, strategy, |(file, flips)| {
        let mut bytes = files[file].1.clone();
        for (index, byte) in flips {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            all_verdicts(&value).map_err(fail)?;
        }
        Ok(())
    });
}

#[test]
fn wrong_type_or_missing_field_anywhere_is_answered_cleanly() {
    let mut cases = 0;
    let mut verdicts = [0usize; 3];
    for (name, event) in event_files() {
        for path in paths(&event) {
            for with in wrong_values().into_iter().map(Some).chain([None]) {
                let input = mutated(&event, &path, with.clone());
                match all_verdicts(&input) {
                    Ok(found) => found.iter().for_each(|v| verdicts[*v as usize] += 1),
                    Err(problem) => panic!("{name} with {path:?} = {with:?}: {problem}"),
                }
                cases += 1;
            }
        }
    }
    println!(
        "FUZZ wrong types and missing fields: {cases} mutated events x 5 parsers: {} run (harmless fields), {} ignored, {} bad event",
        verdicts[Verdict::Run as usize],
        verdicts[Verdict::Ignored as usize],
        verdicts[Verdict::BadEvent as usize]
    );
}

#[test]
fn megabyte_strings_in_every_field_are_answered_cleanly_and_quickly() {
    let huge = [
        "a".repeat(MEGABYTE),
        "\"".repeat(MEGABYTE),
        format!("vpc-{}", "0".repeat(MEGABYTE)),
        "é\u{0}\u{202e}".repeat(MEGABYTE / 6),
    ];
    let mut cases = 0;
    let mut slowest = Duration::ZERO;
    for (name, event) in event_files() {
        for path in paths(&event).into_iter().filter(|p| !p.is_empty()) {
            for text in &huge {
                let input = mutated(&event, &path, Some(Value::String(text.clone())));
                let started = Instant::now();
                if let Err(problem) = all_verdicts(&input) {
                    panic!("{name} with a 1 MB string at {path:?}: {problem}");
                }
                slowest = slowest.max(started.elapsed());
                cases += 1;
            }
        }
    }
    assert!(slowest < Duration::from_secs(5), "one input took {slowest:?}");
    println!("FUZZ 1 MB strings: {cases} events x 5 parsers, slowest {slowest:?}");
}

#[test]
fn unknown_event_names_are_rejected_naming_what_is_expected() {
    let files: Vec<(String, Value)> = event_files().into_iter().filter(|(_, e)| is_cloudtrail(e)).collect();
    let known: BTreeSet<&str> = drift_event_names()
        .into_iter()
        .chain(["CreateSubnet", "CreateNotebookInstance", "CreateDomain", "UpdateDomain"])
        .collect();
    let strategy = (0..files.len(), any::<String>().prop_filter("unknown", move |n| !known.contains(n.as_str())));
    property("unknown_event_names", 1024, strategy, |(file, event_name)| {
        let mut event = files[file].1.clone();
        event["detail"]["eventName"] = json!(event_name);
        for (name, parse, expected) in [
            ("parse_notebook_created", parsers()[0].1, "CreateNotebookInstance"),
            ("parse_subnet_created", parsers()[1].1, "CreateSubnet"),
            ("parse_remediate_in", parsers()[2].1, "DeleteVpcEndpoints"),
            ("parse_domain_changed", parsers()[3].1, "CreateDomain"),
        ] {
            let error = parse(&event).err().ok_or_else(|| fail(format!("{name} accepted eventName {event_name:?}")))?;
            prop_assert_eq!(error.error_type(), "Permanent.BadEvent");
            prop_assert!(error.to_string().contains(expected), "{}: {}", name, error);
        }
        Ok(())
    });
}

#[test]
fn events_from_other_regions_are_ignored_naming_the_region() {
    let files: Vec<(String, Value)> = event_files().into_iter().filter(|(_, e)| is_cloudtrail(e)).collect();
    let region =
        prop_oneof!["[a-z]{2}-[a-z]{4,9}-[1-9]", any::<String>()].prop_filter("another region", |r| r != REGION);
    property("other_regions", 1024, (0..files.len(), region), |(file, region)| {
        let (name, base) = &files[file];
        let mut event = base.clone();
        event["region"] = json!(region);
        let failed_call = base["detail"].get("errorCode").is_some();
        let mut answered = 0;
        for (parser, parse) in &parsers()[..4] {
            match parse(&event) {
                Ok(Parsed::Ignore { reason, .. }) => {
                    prop_assert!(failed_call || reason.contains(region.as_str()), "{}: {}: {}", name, parser, reason);
                    answered += 1;
                }
                Ok(Parsed::Run(trigger)) => {
                    return Err(fail(format!("{name}: {parser} ran {trigger:?} from {region:?}")))
                }
                Err(error) => prop_assert_eq!(error.error_type(), "Permanent.BadEvent"),
            }
        }
        prop_assert_eq!(answered, 1, "exactly the file's own parser ignores it: {}", name);
        Ok(())
    });
}

// ---- through the handlers, on the fake account ----------------------------------------------

/// A fake holding what the sample events name (so that each valid sample event writes): the
/// VPC with subnets in us-west-2a, b and d, and notebook `fraud-model-dev`.
fn sample_account() -> Guard<FakeAccount> {
    let fake = FakeAccount::new();
    fake.add_vpc(VPC, "10.0.0.0/16");
    fake.add_subnet(VPC, SUBNET_A, "us-west-2a");
    fake.add_subnet(VPC, "subnet-0b0b0b0b0b0b0b0b0", "us-west-2b");
    fake.add_subnet(VPC, SUBNET_D, "us-west-2d");
    fake.add_notebook(NOTEBOOK, SUBNET_A);
    Guard::new(fake, Config::default()).with_visibility_retries(Vec::new())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// The handler of each function, by the parser that guards it.
async fn handle(parser: usize, payload: Value, guard: &Guard<FakeAccount>) -> vpce_guard::Result<Report> {
    let event = LambdaEvent::new(payload, Context::default());
    match parser {
        0 => on_notebook_created(event, guard).await,
        1 => on_subnet_created(event, guard).await,
        _ => remediate(event, guard).await,
    }
}

fn calls(guard: &Guard<FakeAccount>) -> (u64, u64, usize) {
    let calls = vpce_guard::account::Account::api_calls(guard.account());
    (calls.read, calls.write, guard.account().snapshot().writes.len())
}

#[test]
fn every_sample_event_writes_on_the_sample_account() {
    // The control for the next test: on this account, accepted events do write.
    let rt = runtime();
    for (file, parser) in [("create-notebook-instance.json", 0), ("create-subnet.json", 1)] {
        let event = event_files().into_iter().find(|(n, _)| n == file).expect("file").1;
        let guard = sample_account();
        let report = rt.block_on(handle(parser, event, &guard)).expect("accepted");
        assert!(report.api_calls.write > 0, "{file}: {}", report.to_text());
    }
}

#[test]
fn input_a_parser_refuses_never_reaches_the_account() {
    let rt = runtime();
    let files = event_files();
    let targets: Vec<(Value, Vec<Step>)> =
        files.iter().flat_map(|(_, event)| paths(event).into_iter().map(|path| (event.clone(), path))).collect();
    let replacement =
        prop_oneof![prop::sample::select(wrong_values()).prop_map(Some), Just(None), arbitrary_json().prop_map(Some)];
    let strategy = (prop::sample::select(targets), replacement, 0..3usize);
    property("refused_input_through_the_handlers", 1024, strategy, |((event, path), with, parser)| {
        let input = mutated(&event, &path, with);
        let (name, parse) = parsers()[parser];
        if verdict(name, parse, &input).map_err(fail)? == Verdict::Run {
            return Ok(());
        }
        let guard = sample_account();
        match rt.block_on(handle(parser, input, &guard)) {
            Ok(report) => prop_assert!(report.ignored.is_some(), "{}", report.to_text()),
            Err(error) => prop_assert_eq!(error.error_type(), "Permanent.BadEvent"),
        }
        prop_assert_eq!(calls(&guard), (0, 0, 0), "no AWS call at all for refused input");
        Ok(())
    });
}

/// A sample CloudTrail event rewritten as if from another account of the same region.
fn from_other_account(file: &str) -> Value {
    let mut event = event_files().into_iter().find(|(n, _)| n == file).expect("file").1;
    event["account"] = json!(OTHER_ACCOUNT);
    event["detail"]["recipientAccountId"] = json!(OTHER_ACCOUNT);
    event["detail"]["userIdentity"]["accountId"] = json!(OTHER_ACCOUNT);
    event
}

#[test]
fn events_from_another_account_write_nothing_here() {
    let rt = runtime();
    for (file, parser) in [("create-notebook-instance.json", 0), ("create-subnet.json", 1)] {
        // This account holds nothing the other account's event names.
        let guard = Guard::new(FakeAccount::new(), Config::default()).with_visibility_retries(Vec::new());
        let outcome = rt.block_on(handle(parser, from_other_account(file), &guard));
        assert_eq!(calls(&guard).1, 0, "{file}: {outcome:?}");
        if let Ok(report) = &outcome {
            assert!(report.vpcs.is_empty(), "{file}: {}", report.to_text());
        }
    }
}

#[test]
fn events_from_another_account_are_ignored_with_a_reason() {
    let rt = runtime();
    for (file, parser) in [("create-notebook-instance.json", 0), ("create-subnet.json", 1)] {
        let guard = Guard::new(FakeAccount::new(), Config::default()).with_visibility_retries(Vec::new());
        match rt.block_on(handle(parser, from_other_account(file), &guard)) {
            Ok(report) => {
                let reason = report.ignored.as_deref().unwrap_or_default();
                assert!(reason.contains(OTHER_ACCOUNT), "{file}: {}", report.to_text());
            }
            Err(error) => assert_eq!(error.error_type(), "Permanent.BadEvent", "{file}: {error}"),
        }
    }
}

// ---- configuration --------------------------------------------------------------------------

/// Each variable, its accepted values (lowercase), and what its error must say.
const VARIABLES: [(&str, &[&str], &str); 6] = [
    ("VPCE_GUARD_SCOPE", &["enrolled", "all"], "enrolled, all"),
    (
        "VPCE_GUARD_NOTEBOOK_POLICY",
        &["account-notebooks", "org-notebooks", "vpc-notebooks", "none"],
        "account-notebooks, org-notebooks, vpc-notebooks, none",
    ),
    ("VPCE_GUARD_API_POLICY", &["account", "org", "none"], "account, org, none"),
    ("VPCE_GUARD_ON_DNS_CONFLICT", &["report", "create"], "report, create"),
    ("VPCE_GUARD_DRY_RUN", &["true", "false", "1", "0", "yes", "no"], "true or false"),
    ("VPCE_GUARD_FIX_VPC_DNS", &["true", "false", "1", "0", "yes", "no"], "true or false"),
];

#[test]
fn configuration_errors_name_the_variable_and_the_accepted_values() {
    let near_misses = prop::sample::select(vec![
        "ENROLLED",
        " all ",
        "al",
        "enrolled,all",
        "vpc",
        "none ",
        "account-notebook",
        "TRUE",
        "on",
        "off",
        "2",
        "",
        "yes please",
        "\u{0}",
        "tru\u{0}e",
    ])
    .prop_map(str::to_string);
    let value = prop_oneof![near_misses, any::<String>(), "[a-z-]{0,20}"];
    property("configuration_values", 2048, (0..VARIABLES.len(), value), |(index, value)| {
        let (variable, accepted, expected) = VARIABLES[index];
        let result = Config::from_lookup(|name| (name == variable).then(|| value.clone()));
        let normalised = value.trim().to_ascii_lowercase();
        match result {
            Ok(_) => prop_assert!(
                normalised.is_empty() || accepted.contains(&normalised.as_str()),
                "{}={:?} was accepted",
                variable,
                value
            ),
            Err(error) => {
                let message = error.to_string();
                prop_assert_eq!(error.error_type(), "Permanent.Config");
                prop_assert!(message.contains(variable) && message.contains(expected), "{}", message);
                prop_assert!(!accepted.contains(&normalised.as_str()), "{}={:?} refused: {}", variable, value, message);
            }
        }
        Ok(())
    });
}

#[test]
fn service_list_errors_name_the_variable() {
    let service = prop_oneof![
        Just("com.amazonaws.{region}.sagemaker.api".to_string()),
        Just("aws.sagemaker.{region}.notebook".to_string()),
        "[a-z{}.-]{0,30}",
        any::<String>(),
    ];
    let list = prop::collection::vec(service, 0..4).prop_map(|items| items.join(","));
    property("configuration_services", 1024, list, |text| {
        match Config::from_lookup(|name| (name == "VPCE_GUARD_SERVICES").then(|| text.clone())) {
            Ok(config) => prop_assert!(!config.services.is_empty()),
            Err(error) => {
                let message = error.to_string();
                prop_assert_eq!(error.error_type(), "Permanent.Config");
                prop_assert!(message.contains("VPCE_GUARD_SERVICES"), "{}", message);
                prop_assert!(message.contains("service name") || message.contains("listed twice"), "{}", message);
            }
        }
        Ok(())
    });
}

// ---- policies -------------------------------------------------------------------------------

/// Strings built to break out of a JSON string or a policy statement.
fn hostile_name() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "\"",
        "\\",
        "\\\"",
        "\"],\"Action\":\"*\",\"Resource\":[\"*",
        "\"}],\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
        "}",
        "]",
        "\n",
        "\u{0}",
        "\u{2028}",
        "${aws:username}",
        "*",
        "arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/*",
        "nb",
    ])
    .prop_map(str::to_string);
    prop::collection::vec(prop_oneof![fragment, ".{0,8}"], 1..6).prop_map(|parts| parts.concat())
}

/// A fake with VPC `vpc-1` (two AZs) holding notebooks named `names`, hostile tags on the VPC
/// and its subnets; returns the reconciled notebook and API policies.
fn policies_for(names: &[String], tag: &str) -> (Value, Value) {
    let fake = FakeAccount::new();
    fake.add_vpc("vpc-00000001", "10.0.0.0/16");
    fake.add_subnet("vpc-00000001", "subnet-0000000a", "us-west-2a");
    fake.add_subnet("vpc-00000001", "subnet-0000000b", "us-west-2b");
    let hostile: Tags = [("Name".to_string(), tag.to_string()), (tag.to_string(), tag.to_string())].into();
    fake.with_state(|s| {
        s.vpcs.get_mut("vpc-00000001").expect("vpc").tags.extend(hostile.clone());
        for subnet in s.subnets.values_mut() {
            subnet.tags.extend(hostile.clone());
        }
        for name in names {
            s.notebooks.insert(name.clone(), testing::notebook(name, "subnet-0000000a"));
        }
    });
    // The strict mode lists the notebooks' ARNs: hostile names go into the policy.
    let config = Config { notebook_policy: NotebookPolicy::VpcNotebooks, ..Config::default() };
    let guard = Guard::new(fake, config).with_visibility_retries(Vec::new());
    let report = runtime()
        .block_on(handle(2, json!({"vpc_ids": ["vpc-00000001"]}), &guard))
        .unwrap_or_else(|e| panic!("reconcile failed: {e}"));
    assert!(report.vpcs[0].problems.iter().all(|p| p.code != "error"), "{}", report.to_text());
    let endpoints = guard.account().live_endpoints("vpc-00000001");
    let policy = |service: String| -> Value {
        let endpoint = endpoints.iter().find(|e| e.service == service).expect("endpoint");
        serde_json::from_str(endpoint.policy.as_deref().expect("policy")).expect("the policy is JSON")
    };
    (policy(notebook_service(REGION)), policy(api_service(REGION)))
}

#[test]
fn hostile_notebook_names_and_tags_cannot_change_a_policy() {
    let strategy = (prop::collection::btree_set(hostile_name(), 1..5), hostile_name());
    property("hostile_names_in_policies", 256, strategy, |(names, tag)| {
        let names: Vec<String> = names.into_iter().collect();
        let (notebook, api) = policies_for(&names, &tag);
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        prop_assert_eq!(keys(&notebook), ["Statement", "Version"]);
        prop_assert_eq!(&notebook["Version"], "2012-10-17");
        let statements = notebook["Statement"].as_array().expect("statements");
        prop_assert_eq!(statements.len(), 1);
        let statement = &statements[0];
        prop_assert_eq!(keys(statement), ["Action", "Effect", "Principal", "Resource", "Sid"]);
        prop_assert_eq!(&statement["Effect"], "Allow");
        prop_assert_eq!(&statement["Principal"], "*");
        prop_assert_eq!(&statement["Action"], "sagemaker:CreatePresignedNotebookInstanceUrl");
        let mut arns: Vec<String> = names.iter().map(|n| testing::notebook(n, "subnet-0000000a").arn).collect();
        arns.sort();
        arns.dedup();
        prop_assert_eq!(&statement["Resource"], &json!(arns), "each ARN is one string, byte for byte");
        prop_assert_eq!(api, account_api_policy(&testing::identity()));
        Ok(())
    });
}

#[test]
fn megabyte_notebook_name_falls_back_to_the_account_pattern() {
    let names = vec!["\"],\"Action\":\"*".repeat(MEGABYTE / 16), "nb-1".to_string()];
    let (notebook, _) = policies_for(&names, "x");
    assert_eq!(notebook["Statement"][0]["Resource"], json!(account_notebooks_arn(&testing::identity())));
    assert_eq!(notebook["Statement"][0]["Action"], "sagemaker:CreatePresignedNotebookInstanceUrl");
    assert_eq!(notebook["Statement"].as_array().map(Vec::len), Some(1));
}
