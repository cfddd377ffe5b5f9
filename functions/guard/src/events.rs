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
    /// A Studio domain was created or updated (`CreateDomain`, `UpdateDomain`);
    /// `DescribeDomain` tells its VPC, subnets and network access type.
    DomainChanged {
        /// The CloudTrail `eventName`.
        event_name: &'static str,
        /// `d-…`.
        domain_id: String,
    },
    /// The EventBridge schedule: every VPC in scope.
    Scheduled,
    /// A CloudTrail event that can mean drift (an endpoint deleted or modified, a notebook
    /// deleted, a CIDR block added, a DNS attribute turned off, the managed group's rules
    /// changed, a `vpce-guard:*` tag changed, a default VPC or subnet created).
    Drift(Drift),
    /// A delivery of the event queue (SQS): the creation and drift events it carries, reconciled
    /// as one run, so that a burst costs one pass over the VPCs it names (or one sweep), not one
    /// per event.
    Delivery(Delivery),
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
            Trigger::DomainChanged { event_name, .. } => event_name,
            Trigger::Scheduled => "Scheduled",
            Trigger::Drift(drift) => drift.event_name,
            Trigger::Delivery(delivery) => delivery.name(),
            Trigger::Manual { .. } => "Manual",
        }
    }
}

/// What a drift event names. The guard resolves every id to its VPC; what cannot be resolved
/// decides between a sweep and nothing (see `Guard::on_drift`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// The CloudTrail `eventName`.
    pub event_name: &'static str,
    /// VPC ids the call named (`vpcId`, or a tagged resource).
    pub vpc_ids: Vec<String>,
    /// Endpoint ids the call named.
    pub endpoint_ids: Vec<String>,
    /// Security group ids the call named (only the managed group matters).
    pub group_ids: Vec<String>,
    /// Subnet ids of tagged resources.
    pub subnet_ids: Vec<String>,
    /// The `messageId` of the SQS record it came in (a drift-queue delivery), so that the
    /// record can be handed back when its VPC is left unfinished.
    pub record: Option<String>,
}

impl Drift {
    /// A drift event named `event_name` that names nothing yet.
    pub fn new(event_name: &'static str) -> Self {
        Drift { event_name, ..Drift::default() }
    }

    /// Whether the event names no resource at all.
    pub fn names_nothing(&self) -> bool {
        self.vpc_ids.is_empty()
            && self.endpoint_ids.is_empty()
            && self.group_ids.is_empty()
            && self.subnet_ids.is_empty()
    }
}

/// The records of one SQS delivery from the event queue, which carries creation events
/// ([`CREATION_EVENTS`]) and drift events ([`drift_event_names`]) alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records delivered.
    pub records: usize,
    /// Each creation record that needs a look: `(messageId, trigger)`, in delivery order.
    pub creations: Vec<(String, Trigger)>,
    /// The drift of each drift record that needs a look, in delivery order ([`Drift::record`]
    /// holds its `messageId`).
    pub drifts: Vec<Drift>,
    /// Why each other well-formed record needs nothing (a failed call, another region, DNS
    /// turned on, …).
    pub ignored: Vec<String>,
    /// Records that could not be read: `(messageId, why)`. Returned as `batchItemFailures`, so
    /// SQS delivers them again and, after the queue's receive limit, keeps them in its
    /// dead-letter queue: nothing is lost.
    pub unreadable: Vec<(String, String)>,
    /// Whether any record, needed or not, was a creation event; and a drift event.
    pub has_creation: bool,
    /// See `has_creation`.
    pub has_drift: bool,
}

impl Delivery {
    /// The report's `trigger`: `CreationBatch` (creation events only), `DriftBatch` (drift
    /// events, or no readable event), `MixedBatch` (both).
    pub fn name(&self) -> &'static str {
        match (self.has_creation, self.has_drift) {
            (true, true) => "MixedBatch",
            (true, false) => "CreationBatch",
            (false, _) => "DriftBatch",
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
    /// Absent from some records; the request's `vpcId` names the VPC then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vpc_id: Option<String>,
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
const DRIFT_EVENTS: [Expected; 11] = [
    ec2("DeleteVpcEndpoints"),
    ec2("ModifyVpcEndpoint"),
    ec2("AssociateVpcCidrBlock"),
    ec2("ModifyVpcAttribute"),
    ec2("RevokeSecurityGroupIngress"),
    ec2("ModifySecurityGroupRules"),
    ec2("CreateTags"),
    ec2("DeleteTags"),
    ec2("CreateDefaultVpc"),
    ec2("CreateDefaultSubnet"),
    Expected { event_name: "DeleteNotebookInstance", source: "aws.sagemaker", event_source: "sagemaker.amazonaws.com" },
];

/// Tag keys vpce-guard reads (`vpce-guard:enforce`, `:endpoint-subnet`, `:ignore`, `:managed`).
pub const TAG_PREFIX: &str = "vpce-guard:";

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

/// Parses a `CreateSubnet` CloudTrail event. The VPC is the response's `subnet.vpcId`, or,
/// in a record whose response leaves it out, the request's `vpcId` (a required parameter of
/// `CreateSubnet`, EC2 API reference); only an event with neither is refused.
pub fn parse_subnet_created(event: &Value, region: &str) -> Result<Parsed> {
    let call = match cloudtrail_call::<Value, SubnetResponse>(event, &CREATE_SUBNET, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let subnet = call
        .response_elements
        .ok_or_else(|| Error::bad_event("CreateSubnet event has no detail.responseElements.subnet"))?
        .subnet;
    let requested = call.request_parameters.get("vpcId").and_then(Value::as_str).map(str::to_string);
    let vpc_id = subnet.vpc_id.or(requested).ok_or_else(|| {
        Error::bad_event(
            "CreateSubnet event names no VPC: neither detail.responseElements.subnet.vpcId nor \
             detail.requestParameters.vpcId is present",
        )
    })?;
    if !is_resource_id(&subnet.subnet_id, "subnet-") || !is_resource_id(&vpc_id, "vpc-") {
        return Err(Error::bad_event(format!(
            "CreateSubnet event names subnet {:?} in VPC {vpc_id:?}; expected subnet-… and vpc-… ids",
            subnet.subnet_id
        )));
    }
    Ok(Parsed::Run(Trigger::SubnetCreated { subnet_id: subnet.subnet_id, vpc_id }))
}

/// The CloudTrail events of `on-domain-created`.
const DOMAIN_EVENTS: [Expected; 2] = [
    Expected { event_name: "CreateDomain", source: "aws.sagemaker", event_source: "sagemaker.amazonaws.com" },
    Expected { event_name: "UpdateDomain", source: "aws.sagemaker", event_source: "sagemaker.amazonaws.com" },
];

/// Parses a `CreateDomain` or `UpdateDomain` CloudTrail event: the domain id from
/// `responseElements.domainArn` (`…:domain/d-…`), else `requestParameters.domainId`
/// (`UpdateDomain` names it). The request's `vpcId`, `subnetIds` and `appNetworkAccessType`
/// (absent when the caller relied on the default) are not trusted: `DescribeDomain` is the
/// authority.
pub fn parse_domain_changed(event: &Value, region: &str) -> Result<Parsed> {
    let name = event.pointer("/detail/eventName").and_then(Value::as_str).unwrap_or_default();
    let expected = DOMAIN_EVENTS.iter().find(|e| e.event_name == name).unwrap_or(&DOMAIN_EVENTS[0]);
    let call = match cloudtrail_call::<Value, Value>(event, expected, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let from_arn = call
        .response_elements
        .as_ref()
        .and_then(|r| r.get("domainArn"))
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit_once(":domain/").map(|(_, id)| id.to_string()));
    let from_request = call.request_parameters.get("domainId").and_then(Value::as_str).map(str::to_string);
    let Some(domain_id) = from_arn.or(from_request) else {
        return Err(Error::bad_event(format!(
            "{} event names no domain (detail.responseElements.domainArn or detail.requestParameters.domainId)",
            expected.event_name
        )));
    };
    if !is_domain_id(&domain_id) {
        return Err(Error::bad_event(format!("{domain_id:?} is not a SageMaker domain id (d-…)")));
    }
    Ok(Parsed::Run(Trigger::DomainChanged { event_name: expected.event_name, domain_id }))
}

/// SageMaker's domain id rule (API reference, `DomainId`: `d-(-*[a-z0-9]){1,61}`).
pub fn is_domain_id(id: &str) -> bool {
    id.strip_prefix("d-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 122
            && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !rest.ends_with('-')
            && rest.chars().filter(|c| *c != '-').count() <= 61
    })
}

/// Parses what `remediate` receives: the EventBridge scheduled event, a drift event, a delivery
/// of the event queue (creation and drift events, SQS `Records`), or a manual payload `{}`,
/// `{"vpc_ids": [...]}`, optionally with `"dry_run": true`. Events from another region than
/// `region` are ignored.
pub fn parse_remediate_in(event: &Value, region: &str) -> Result<Parsed> {
    let Some(object) = event.as_object() else {
        return Err(Error::bad_event(format!(
            "expected a JSON object such as {{}} or {{\"vpc_ids\": [\"vpc-…\"]}}, got {}",
            kind_of(event)
        )));
    };
    if let Some(records) = object.get("Records") {
        return parse_queue_delivery(records, region);
    }
    if object.contains_key("detail-type") {
        let envelope: EventBridgeEvent<Value> =
            serde_json::from_value(event.clone()).map_err(|e| Error::bad_event(format!("EventBridge event: {e}")))?;
        if envelope.detail_type == "Scheduled Event" && envelope.source == "aws.events" {
            return Ok(Parsed::Run(Trigger::Scheduled));
        }
        if envelope.detail_type == STACK_STATUS_DETAIL_TYPE && envelope.source == "aws.cloudformation" {
            return Ok(stack_ready(&envelope.detail));
        }
        let name = envelope.detail.get("eventName").and_then(Value::as_str).unwrap_or_default();
        if envelope.detail_type == CLOUDTRAIL_DETAIL_TYPE {
            if let Some(expected) = DRIFT_EVENTS.iter().find(|e| e.event_name == name) {
                return parse_drift(event, expected, region);
            }
        }
        return Err(Error::bad_event(format!(
            "remediate does not handle EventBridge events of source {:?} detail-type {:?} eventName {name:?}; it takes the schedule, its stack's status changes, {}, deliveries of the event queue and manual payloads",
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

/// The detail-type of CloudFormation's stack status events on the default event bus
/// (CloudFormation User Guide, "Stack Status Change event detail": `detail.stack-id`,
/// `detail.status-details.status`).
pub const STACK_STATUS_DETAIL_TYPE: &str = "CloudFormation Stack Status Change";

/// The stack (vpce-guard's own: the template's rule names its stack id) finished a create or
/// an update: a sweep now, so that a new account (or a new setting) is checked within minutes
/// rather than at the first scheduled sweep. Any other status is ignored.
fn stack_ready(detail: &Value) -> Parsed {
    let status = detail["status-details"]["status"].as_str().unwrap_or_default();
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" => Parsed::Run(Trigger::Scheduled),
        _ => Parsed::Ignore {
            trigger: "Scheduled",
            reason: format!(
                "the stack's status is {status:?}; a sweep follows CREATE_COMPLETE and UPDATE_COMPLETE only"
            ),
        },
    }
}

/// [`parse_remediate_in`] without a region check.
pub fn parse_remediate(event: &Value) -> Result<Parsed> {
    let region = event.get("region").and_then(Value::as_str).unwrap_or_default().to_string();
    parse_remediate_in(event, &region)
}

/// The records of an SQS delivery from the event queue, each body an EventBridge creation or
/// drift event. A record that cannot be read fails alone (`batchItemFailures`); a delivery that
/// is not an SQS event at all is a bad event.
fn parse_queue_delivery(records: &Value, region: &str) -> Result<Parsed> {
    let records = sqs_records(records, "the event queue")?;
    let mut delivery = Delivery { records: records.len(), ..Delivery::default() };
    for (message_id, body) in records {
        let body = match body {
            Ok(body) => body,
            Err(error) => {
                delivery.unreadable.push((message_id, error.to_string()));
                continue;
            }
        };
        let name = body.pointer("/detail/eventName").and_then(Value::as_str).unwrap_or_default();
        let creation = CREATION_EVENTS.contains(&name);
        let parsed = match (creation, DRIFT_EVENTS.iter().find(|e| e.event_name == name)) {
            (true, _) => parse_creation(&body, region),
            (false, Some(expected)) => parse_drift(&body, expected, region),
            (false, None) => Err(unknown_queued(&body, name)),
        };
        delivery.has_creation |= creation && parsed.is_ok();
        delivery.has_drift |= !creation && parsed.is_ok();
        match parsed {
            Ok(Parsed::Run(Trigger::Drift(drift))) => delivery.drifts.push(Drift { record: Some(message_id), ..drift }),
            Ok(Parsed::Run(trigger)) => delivery.creations.push((message_id, trigger)),
            Ok(Parsed::Ignore { reason, .. }) => delivery.ignored.push(reason),
            Err(error) => delivery.unreadable.push((message_id, error.to_string())),
        }
    }
    Ok(Parsed::Run(Trigger::Delivery(delivery)))
}

/// Why a record of the event queue holds an event it does not carry.
fn unknown_queued(event: &Value, name: &str) -> Error {
    let field = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    Error::bad_event(format!(
        "the event queue delivered an event of source {:?} detail-type {:?} eventName {name:?}; it carries creation events ({}) and drift events ({})",
        field("source"),
        field("detail-type"),
        CREATION_EVENTS.join(", "),
        drift_event_names().join(", ")
    ))
}

/// The records of an SQS delivery from `queue`: each `messageId` with its body, the
/// EventBridge event as the rule sent it (or why it cannot be read). A delivery that is not a
/// non-empty list of SQS records is a bad event as a whole.
fn sqs_records(records: &Value, queue: &str) -> Result<Vec<(String, Result<Value>)>> {
    let records = records
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Error::bad_event(format!("Records must be a non-empty list of SQS records from {queue}")))?;
    let mut bodies = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let message_id = record.get("messageId").and_then(Value::as_str).filter(|id| !id.is_empty());
        let from_sqs = record.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
        let Some(message_id) = message_id.filter(|_| from_sqs) else {
            return Err(Error::bad_event(format!(
                "Records[{index}] is not an SQS record (eventSource \"aws:sqs\" and a messageId expected)"
            )));
        };
        let body = record.get("body").and_then(Value::as_str).ok_or_else(|| Error::bad_event("the record has no body"));
        let event = body.and_then(|body| {
            serde_json::from_str::<Value>(body)
                .map_err(|e| Error::bad_event(format!("the record's body is not JSON: {e}")))
        });
        bodies.push((message_id.to_string(), event));
    }
    Ok(bodies)
}

/// What a creation function receives: one EventBridge event of its own kind, parsed by `parse`
/// (a rule's event, manual use, `cargo lambda invoke`, tests). A delivery of the event queue
/// (SQS `Records`) is refused with the reason: `remediate` is the queue's one consumer.
pub fn parse_single(
    event: &Value,
    region: &str,
    parse: fn(&Value, &str) -> Result<Parsed>,
    function: &str,
) -> Result<Parsed> {
    if event.get("Records").is_some() {
        return Err(Error::bad_event(format!(
            "{function} takes one EventBridge event of its kind; SQS deliveries of the event queue (Records) are remediate's to handle"
        )));
    }
    parse(event, region)
}

/// The creation events: those of `on-subnet-created`, `on-notebook-created` and
/// `on-domain-created`, which the event queue carries to `remediate` too.
pub const CREATION_EVENTS: [&str; 4] = ["CreateSubnet", "CreateNotebookInstance", "CreateDomain", "UpdateDomain"];

/// One creation event (a record of the event queue): `CreateSubnet`,
/// `CreateNotebookInstance`, `CreateDomain` or `UpdateDomain`, by its `detail.eventName`.
pub fn parse_creation(event: &Value, region: &str) -> Result<Parsed> {
    match event.pointer("/detail/eventName").and_then(Value::as_str).unwrap_or_default() {
        "CreateSubnet" => parse_subnet_created(event, region),
        "CreateNotebookInstance" => parse_notebook_created(event, region),
        "CreateDomain" | "UpdateDomain" => parse_domain_changed(event, region),
        name => Err(unknown_queued(event, name)),
    }
}

/// A drift event: the VPC, endpoint, security group and subnet ids anywhere in its request and
/// response (EC2 records them in several shapes: `vpcId`, `VpcId`, `{"tag": 1, "content":
/// "vpce-…"}`, `items`, `resourceId`). Events that cannot have undone vpce-guard's work are
/// ignored here: a DNS attribute turned on, tags other than `vpce-guard:*`.
fn parse_drift(event: &Value, expected: &Expected, region: &str) -> Result<Parsed> {
    let call = match cloudtrail_call::<Value, Value>(event, expected, region)? {
        Ok(call) => call,
        Err(ignored) => return Ok(ignored),
    };
    let name = expected.event_name;
    let request = &call.request_parameters;
    let ignore = |reason: String| Ok(Parsed::Ignore { trigger: name, reason });
    match name {
        "ModifyVpcAttribute" if !turns_dns_off(request) => {
            return ignore(
                "ModifyVpcAttribute did not turn enableDnsSupport or enableDnsHostnames off; nothing to repair".into(),
            )
        }
        "CreateTags" | "DeleteTags" if !touches_own_tags(request, name == "DeleteTags") => {
            return ignore(format!("{name} changed no {TAG_PREFIX}* tag; nothing to repair"))
        }
        _ => {}
    }
    let mut drift = Drift::new(name);
    for part in [Some(request), call.response_elements.as_ref()].into_iter().flatten() {
        collect_ids(part, None, &mut drift);
    }
    for ids in [&mut drift.vpc_ids, &mut drift.endpoint_ids, &mut drift.group_ids, &mut drift.subnet_ids] {
        ids.sort();
        ids.dedup();
    }
    Ok(Parsed::Run(Trigger::Drift(drift)))
}

/// Whether a `ModifyVpcAttribute` request set `enableDnsSupport` or `enableDnsHostnames` to
/// false (CloudTrail records `{"value": false}`; a string is accepted too).
fn turns_dns_off(request: &Value) -> bool {
    ["enableDnsSupport", "enableDnsHostnames"].iter().any(|attribute| {
        request
            .get(*attribute)
            .and_then(|a| a.get("value"))
            .is_some_and(|v| v == &Value::Bool(false) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false")))
    })
}

/// Whether a `CreateTags` / `DeleteTags` request names a `vpce-guard:*` key. `DeleteTags`
/// without keys deletes every tag of the resources, vpce-guard's included.
fn touches_own_tags(request: &Value, deletes: bool) -> bool {
    let keys: Vec<&str> = request
        .pointer("/tagSet/items")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|item| item.get("key").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    (deletes && keys.is_empty()) || keys.iter().any(|key| key.starts_with(TAG_PREFIX))
}

/// Where a string sits: under a key that holds VPC ids, or the `resourceId` of a tag call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    Vpc,
    Resource,
}

fn collect_ids(value: &Value, holder: Option<Holder>, drift: &mut Drift) {
    match value {
        Value::String(text) if is_resource_id(text, "vpce-") => drift.endpoint_ids.push(text.clone()),
        Value::String(text) if is_resource_id(text, "sg-") => drift.group_ids.push(text.clone()),
        Value::String(text) if holder.is_some() && is_resource_id(text, "vpc-") => drift.vpc_ids.push(text.clone()),
        Value::String(text) if holder == Some(Holder::Resource) && is_resource_id(text, "subnet-") => {
            drift.subnet_ids.push(text.clone())
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, holder, drift)),
        Value::Object(fields) => {
            for (key, field) in fields {
                let inner = if key.eq_ignore_ascii_case("vpcId") {
                    Some(Holder::Vpc)
                } else if key.eq_ignore_ascii_case("resourceId") {
                    Some(Holder::Resource)
                } else if key == "content" || key == "items" {
                    holder
                } else {
                    None
                };
                collect_ids(field, inner, drift);
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
