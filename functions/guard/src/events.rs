//! Parsing of what invokes vpce-guard into typed triggers: CloudTrail events delivered by
//! EventBridge (through `aws_lambda_events`' types), the scheduled event and the manual
//! remediation payload. Pure: no I/O. The event only says *which* VPC to look at.

use aws_lambda_events::cloudwatch_events::cloudtrail::AWSAPICall;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// `detail-type` of CloudTrail events on EventBridge.
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// What to reconcile, parsed from an event or payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A notebook instance was created; `DescribeNotebookInstance` tells its subnet.
    NotebookCreated {
        /// Notebook instance name.
        name: String,
    },
    /// A subnet was created in `vpc_id`.
    SubnetCreated {
        /// The new subnet.
        subnet_id: String,
        /// Its VPC.
        vpc_id: String,
    },
    /// The EventBridge schedule: every VPC in scope.
    Scheduled,
    /// A CloudTrail event that can mean drift (an endpoint deleted or modified, a notebook
    /// deleted, a CIDR block added, a DNS attribute changed): the VPCs it names, or those of
    /// the endpoints it names, else every VPC in scope.
    Drift {
        /// The CloudTrail `eventName`.
        event_name: &'static str,
        /// VPC ids the call named.
        vpc_ids: Vec<String>,
        /// Endpoint ids the call named.
        endpoint_ids: Vec<String>,
    },
    /// A manual invocation of `remediate`.
    Manual {
        /// The VPCs to look at; `None` for every VPC in scope.
        vpc_ids: Option<Vec<String>>,
        /// Overrides `VPCE_GUARD_DRY_RUN` for this invocation.
        dry_run: Option<bool>,
    },
}

impl Trigger {
    /// The `trigger` field of the report.
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::NotebookCreated { .. } => "CreateNotebookInstance",
            Trigger::SubnetCreated { .. } => "CreateSubnet",
            Trigger::Scheduled => "Scheduled",
            Trigger::Drift { event_name, .. } => event_name,
            Trigger::Manual { .. } => "Manual",
        }
    }
}

/// A parsed event: something to do, or a reason to do nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Reconcile what the trigger names.
    Run(Trigger),
    /// A well-formed event that needs no action (e.g. it records a failed API call).
    Ignore {
        /// The report's `trigger`.
        trigger: &'static str,
        /// Why nothing is done.
        reason: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotebookRequest {
    notebook_instance_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetResponse {
    subnet: SubnetElement,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetElement {
    subnet_id: String,
    vpc_id: String,
}

/// The fields `AWSAPICall` leaves out: present only when the call failed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallError {
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualPayload {
    vpc_ids: Option<Vec<String>>,
    dry_run: Option<bool>,
}

struct Expected {
    event_name: &'static str,
    source: &'static str,
    event_source: &'static str,
}

const CREATE_NOTEBOOK: Expected =
    Expected { event_name: "CreateNotebookInstance", source: "aws.sagemaker", event_source: "sagemaker.amazonaws.com" };

const CREATE_SUBNET: Expected =
    Expected { event_name: "CreateSubnet", source: "aws.ec2", event_source: "ec2.amazonaws.com" };

const fn ec2(event_name: &'static str) -> Expected {
    Expected { event_name, source: "aws.ec2", event_source: "ec2.amazonaws.com" }
}

/// CloudTrail events `remediate` treats as possible drift.
const DRIFT_EVENTS: [Expected; 5] = [
    ec2("DeleteVpcEndpoints"),
    ec2("ModifyVpcEndpoint"),
    ec2("AssociateVpcCidrBlock"),
    ec2("ModifyVpcAttribute"),
    Expected { event_name: "DeleteNotebookInstance", source: "aws.sagemaker", event_source: "sagemaker.amazonaws.com" },
];

/// The names of the CloudTrail events `remediate` treats as possible drift.
pub fn drift_event_names() -> Vec<&'static str> {
    DRIFT_EVENTS.iter().map(|e| e.event_name).collect()
}

/// Parses the EventBridge envelope and CloudTrail detail of an `expected` event, or says why
/// it is to be ignored.
fn cloudtrail_call<I, O>(event: &Value, expected: &Expected, region: &str) -> Result<Result<AWSAPICall<I, O>, Parsed>>
where
    I: Serialize + DeserializeOwned,
    O: Serialize + DeserializeOwned,
{
    let name = expected.event_name;
    if !event.is_object() {
        return Err(Error::bad_event(format!(
            "expected a {name} event object from EventBridge, got {}",
            kind_of(event)
        )));
    }
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(event.clone()).map_err(|e| Error::bad_event(format!("{name} event envelope: {e}")))?;
    if envelope.detail_type != CLOUDTRAIL_DETAIL_TYPE || envelope.source != expected.source {
        return Err(Error::bad_event(format!(
            "expected a {name} event (source {}, detail-type {CLOUDTRAIL_DETAIL_TYPE:?}), got source {:?} detail-type {:?}",
            expected.source, envelope.source, envelope.detail_type
        )));
    }
    let event_name = envelope.detail.get("eventName").and_then(Value::as_str).unwrap_or_default();
    let event_source = envelope.detail.get("eventSource").and_then(Value::as_str).unwrap_or_default();
    if event_name != name || event_source != expected.event_source {
        return Err(Error::bad_event(format!(
            "expected detail.eventName {name} from {}, got {event_name:?} from {event_source:?}",
            expected.event_source
        )));
    }
    let failure: CallError = serde_json::from_value(envelope.detail.clone()).unwrap_or_default();
    if let Some(code) = failure.error_code {
        let message = failure.error_message.unwrap_or_default();
        return Ok(Err(Parsed::Ignore {
            trigger: name,
            reason: format!("the {name} call failed ({code}: {message}); nothing was created"),
        }));
    }
    if let Some(event_region) = envelope.region.as_deref().filter(|r| *r != region) {
        return Ok(Err(Parsed::Ignore {
            trigger: name,
            reason: format!("the event is from region {event_region}; this deployment serves {region}"),
        }));
    }
    let call: AWSAPICall<I, O> =
        serde_json::from_value(envelope.detail).map_err(|e| Error::bad_event(format!("{name} event detail: {e}")))?;
    Ok(Ok(call))
}

/// Parses a `CreateNotebookInstance` CloudTrail event.
pub fn parse_notebook_created(event: &Value, region: &str) -> Result<Parsed> {
    let call = match cloudtrail_call::<NotebookRequest, Value>(event, &CREATE_NOTEBOOK, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let name = call.request_parameters.notebook_instance_name;
    if !is_notebook_name(&name) {
        return Err(Error::bad_event(format!(
            "detail.requestParameters.notebookInstanceName {name:?} is not a notebook instance name"
        )));
    }
    Ok(Parsed::Run(Trigger::NotebookCreated { name }))
}

/// Parses a `CreateSubnet` CloudTrail event.
pub fn parse_subnet_created(event: &Value, region: &str) -> Result<Parsed> {
    let call = match cloudtrail_call::<Value, SubnetResponse>(event, &CREATE_SUBNET, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let subnet = call
        .response_elements
        .ok_or_else(|| Error::bad_event("CreateSubnet event has no detail.responseElements.subnet"))?
        .subnet;
    if !is_resource_id(&subnet.subnet_id, "subnet-") || !is_resource_id(&subnet.vpc_id, "vpc-") {
        return Err(Error::bad_event(format!(
            "detail.responseElements.subnet names subnet {:?} in VPC {:?}; expected subnet-… and vpc-… ids",
            subnet.subnet_id, subnet.vpc_id
        )));
    }
    Ok(Parsed::Run(Trigger::SubnetCreated { subnet_id: subnet.subnet_id, vpc_id: subnet.vpc_id }))
}

/// Parses what `remediate` receives: the EventBridge scheduled event, a drift event, or a
/// manual payload `{}`, `{"vpc_ids": [...]}`, optionally with `"dry_run": true`. Drift events
/// from another region than `region` are ignored.
pub fn parse_remediate_in(event: &Value, region: &str) -> Result<Parsed> {
    let Some(object) = event.as_object() else {
        return Err(Error::bad_event(format!(
            "expected a JSON object such as {{}} or {{\"vpc_ids\": [\"vpc-…\"]}}, got {}",
            kind_of(event)
        )));
    };
    if object.contains_key("detail-type") {
        let envelope: EventBridgeEvent<Value> =
            serde_json::from_value(event.clone()).map_err(|e| Error::bad_event(format!("EventBridge event: {e}")))?;
        if envelope.detail_type == "Scheduled Event" && envelope.source == "aws.events" {
            return Ok(Parsed::Run(Trigger::Scheduled));
        }
        let name = envelope.detail.get("eventName").and_then(Value::as_str).unwrap_or_default();
        if envelope.detail_type == CLOUDTRAIL_DETAIL_TYPE {
            if let Some(expected) = DRIFT_EVENTS.iter().find(|e| e.event_name == name) {
                return parse_drift(event, expected, region);
            }
        }
        return Err(Error::bad_event(format!(
            "remediate does not handle EventBridge events of source {:?} detail-type {:?} eventName {name:?}; it takes the schedule, {} and manual payloads",
            envelope.source,
            envelope.detail_type,
            drift_event_names().join(", ")
        )));
    }
    // Serde reads an explicit null as an absent field, and an absent vpc_ids means every VPC:
    // a null (what a template renders for an empty value) is refused instead.
    if let Some((field, _)) = object.iter().find(|(_, value)| value.is_null()) {
        return Err(Error::bad_event(format!(
            "{field} is null; omit it (no vpc_ids: every VPC in scope) or give a value"
        )));
    }
    let payload: ManualPayload = serde_json::from_value(event.clone()).map_err(|e| {
        Error::bad_event(format!(
            "manual payload: {e}; accepted fields: vpc_ids (list of vpc-… ids), dry_run (boolean)"
        ))
    })?;
    if let Some(ids) = &payload.vpc_ids {
        if ids.is_empty() {
            return Err(Error::bad_event("vpc_ids is empty; omit it to remediate every VPC in scope"));
        }
        if let Some(bad) = ids.iter().find(|id| !is_resource_id(id, "vpc-")) {
            return Err(Error::bad_event(format!("vpc_ids holds {bad:?}, which is not a VPC id (vpc-…)")));
        }
    }
    Ok(Parsed::Run(Trigger::Manual { vpc_ids: payload.vpc_ids, dry_run: payload.dry_run }))
}

/// [`parse_remediate_in`] without a region check.
pub fn parse_remediate(event: &Value) -> Result<Parsed> {
    let region = event.get("region").and_then(Value::as_str).unwrap_or_default().to_string();
    parse_remediate_in(event, &region)
}

/// A drift event: the VPC and endpoint ids anywhere in its request and response (EC2 records
/// them in several shapes: `vpcId`, `VpcId`, `{"tag": 1, "content": "vpce-…"}`, `items`).
fn parse_drift(event: &Value, expected: &Expected, region: &str) -> Result<Parsed> {
    let call = match cloudtrail_call::<Value, Value>(event, expected, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let mut vpc_ids = Vec::new();
    let mut endpoint_ids = Vec::new();
    for part in [Some(&call.request_parameters), call.response_elements.as_ref()].into_iter().flatten() {
        collect_ids(part, false, &mut vpc_ids, &mut endpoint_ids);
    }
    vpc_ids.sort();
    vpc_ids.dedup();
    endpoint_ids.sort();
    endpoint_ids.dedup();
    Ok(Parsed::Run(Trigger::Drift { event_name: expected.event_name, vpc_ids, endpoint_ids }))
}

fn collect_ids(value: &Value, under_vpc_key: bool, vpcs: &mut Vec<String>, endpoints: &mut Vec<String>) {
    match value {
        Value::String(text) if is_resource_id(text, "vpce-") => endpoints.push(text.clone()),
        Value::String(text) if under_vpc_key && is_resource_id(text, "vpc-") => vpcs.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, under_vpc_key, vpcs, endpoints)),
        Value::Object(fields) => {
            for (key, field) in fields {
                let vpc_key = key.eq_ignore_ascii_case("vpcId") || (under_vpc_key && key == "content");
                collect_ids(field, vpc_key || (under_vpc_key && key == "items"), vpcs, endpoints);
            }
        }
        _ => {}
    }
}

/// `prefix` followed by 8 to 17 lowercase hex digits, as EC2 ids are.
pub fn is_resource_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        (8..=17).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// SageMaker's notebook instance name rule: alphanumerics and inner hyphens, at most 63.
pub fn is_notebook_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
