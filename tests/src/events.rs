//! The files of `events/`, with their example ids replaced by those of seeded resources.

use serde_json::{json, Value};

use crate::repo_root;

/// Loads `events/<name>`.
pub fn load(name: &str) -> Value {
    let path = repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `events/create-notebook-instance.json` for notebook `name` in `subnet_id`.
pub fn notebook_created(name: &str, subnet_id: &str) -> Value {
    let mut event = load("create-notebook-instance.json");
    event["detail"]["requestParameters"]["notebookInstanceName"] = json!(name);
    event["detail"]["requestParameters"]["subnetId"] = json!(subnet_id);
    event["detail"]["responseElements"]["notebookInstanceArn"] =
        json!(format!("arn:aws:sagemaker:us-west-2:123456789012:notebook-instance/{name}"));
    event
}

/// `events/create-subnet.json` (or another CreateSubnet file) for `subnet_id` in `vpc_id`.
pub fn subnet_created_from(file: &str, subnet_id: &str, vpc_id: &str, az: &str) -> Value {
    let mut event = load(file);
    event["detail"]["requestParameters"]["vpcId"] = json!(vpc_id);
    event["detail"]["requestParameters"]["availabilityZone"] = json!(az);
    if let Some(subnet) = event["detail"]["responseElements"].get_mut("subnet") {
        subnet["subnetId"] = json!(subnet_id);
        subnet["vpcId"] = json!(vpc_id);
        subnet["availabilityZone"] = json!(az);
    }
    event
}

/// `events/create-subnet.json` for `subnet_id` in `vpc_id`.
pub fn subnet_created(subnet_id: &str, vpc_id: &str, az: &str) -> Value {
    subnet_created_from("create-subnet.json", subnet_id, vpc_id, az)
}

/// A manual payload for `remediate`.
pub fn remediate(vpc_ids: &[&str], dry_run: bool) -> Value {
    let mut payload = json!({"vpc_ids": vpc_ids});
    if dry_run {
        payload["dry_run"] = json!(true);
    }
    payload
}

/// A drift event file of `events/` with its example VPC and endpoint ids replaced.
pub fn drift(file: &str, vpc_id: &str, endpoint_id: &str) -> Value {
    let text =
        load(file).to_string().replace("vpc-0f1e2d3c4b5a69788", vpc_id).replace("vpce-0123456789abcdef0", endpoint_id);
    serde_json::from_str(&text).expect("still JSON")
}

/// What Lambda's SQS event source hands a function: one record per message (the shape of
/// `events/sqs-drift-batch.json`), the body the EventBridge event as the rule sent it (no input
/// transformer), the `messageId`s `message-000`, `message-001`, …
pub fn sqs_delivery(bodies: &[Value]) -> Value {
    let records: Vec<(String, Value)> =
        bodies.iter().enumerate().map(|(i, body)| (format!("message-{i:03}"), body.clone())).collect();
    sqs_records(&records)
}

/// [`sqs_delivery`] of `(messageId, body)` records.
pub fn sqs_records(records: &[(String, Value)]) -> Value {
    let template = load("sqs-drift-batch.json")["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body.to_string());
            record
        })
        .collect();
    json!({ "Records": records })
}
