"""The EventBridge rules of infra/template.yaml against the sample events of events/, offline.

Run by scripts/validate-infra.sh with the repo's .venv (scripts/setup-venv.sh: PyYAML, pytest, moto):

    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_event_patterns.py

Each rule's EventPattern is read from the template with its intrinsics replaced by example values:
a function role's ARN becomes arn:aws:iam::123456789012:role/vpce-guard-<LogicalId>-1A2B3C4D5E6F,
which is the session issuer of events/modify-vpc-endpoint-by-vpce-guard.json for RemediateRole (the
own call that must not match); function ARNs and alarm ARNs are built from their names with the
parameters' defaults, in us-west-2, account 123456789012. Every optional resource is taken as
deployed: rules with a Condition are evaluated like the others, and an Fn::If takes its first branch
(the studio profile's on-domain-created, its rule, role and alarm included).

The last sections evaluate the template's conditions for given parameters: the endpoint services
the roles may create (CreateVpcEndpoint's ec2:VpceServiceName), for each profile, against the
service names the guard library defines (functions/guard/src); and when the S3 gateway permissions are
granted (S3Gateway, Profiles, DryRun), with S3's service name against the library's s3_service. A
definition these comparisons need that cannot be found in the library's sources fails the test:
the comparison would otherwise check nothing.

Two matchers decide, and must agree:

- `matches` below, a small evaluator of exactly the operators the template uses (exact values,
  booleans, prefix, anything-but with a list of strings, exists, $or, nested objects, arrays), with
  EventBridge's documented semantics: a pattern matches only events holding every field it names
  (user guide, "Event pattern syntax", eb-create-pattern.html), so anything-but never matches a
  missing field and only exists:false does; exists applies to leaves only; arrays are "crushed out",
  an object inside an array counting as a value of the parent field (aws/event-ruler README,
  "JSON Array Matching"). Any other operator makes it raise, so a new one must be added here first.
- moto 5.2.1's own matcher, moto.events.models.EventPattern (the one its PutEvents routing uses; its
  TestEventPattern API raises NotImplementedError in 5.2.1, so the class is called in process).
  It supports $or, anything-but (value or list), prefix, exists and exact values, but flattens nested
  objects only, not arrays of objects: a pattern reaching into requestParameters.tagSet.items[] or
  responsePayload.vpcs[] never matches in moto. For those pairs the test pins moto's "no match" (so
  the day moto learns arrays, the exception shows up) and relies on `matches`; every other pair must
  give the same answer in both.
"""

import copy
import fnmatch
import json
import pathlib
import re

import sys

import pytest
from moto.events.models import EventPattern

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import cfn_yaml  # noqa: E402  (infra/tools: the template as data, shared with scripts/render-dashboard.py)
from cfn_yaml import ACCOUNT, PSEUDO, REGION  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
EVENTS = ROOT / "events"


def load_template():
    return cfn_yaml.load_template(TEMPLATE)


NO_VALUE = object()  # AWS::NoValue: dropped from the list that holds it


class Example:
    """Example values for a template's intrinsics (parameters at their defaults, optional parts on)."""

    def __init__(self, template):
        self.template = template

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", ""))
        resource = self.template["Resources"][name]
        props = resource.get("Properties", {})
        for key in ("FunctionName", "QueueName", "AlarmName", "DashboardName"):
            if key in props:
                return self.resolve(props[key])
        return f"{name}-EXAMPLE"

    def get_att(self, name, attribute):
        resource = self.template["Resources"][name]
        kind = resource["Type"]
        if attribute == "Arn" and kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/vpce-guard-{name}-1A2B3C4D5E6F"
        if attribute == "Arn" and kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.ref(name)}"
        if attribute == "Arn" and kind == "AWS::CloudWatch::Alarm":
            return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{self.ref(name)}"
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.ref(name)}"
        if attribute == "QueueName":
            return self.ref(name)
        return f"{name}.{attribute}-EXAMPLE"

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if value == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if set(value) == {"Fn::If"}:
            return self.resolve(value["Fn::If"][1])  # every optional resource deployed
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            return self.get_att(*value["Fn::GetAtt"])
        if set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

            def substitute(match):
                name = match.group(1)
                if name in variables:
                    return str(self.resolve(variables[name]))
                if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                    return self.get_att(*name.split(".", 1))
                return self.ref(name)

            return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
        return {k: self.resolve(v) for k, v in value.items()}


def rules_with_patterns():
    template = load_template()
    example = Example(template)
    return {name: example.resolve(r["Properties"]["EventPattern"])
            for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]}


# ------------------------------------------------------------------------------------------ matcher

ABSENT = object()


def matches(pattern, event):
    """Whether an EventBridge event pattern matches an event (the operators vpce-guard uses)."""
    return _match_object(pattern, event)


def _match_object(pattern, node):
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match_object(branch, node) for branch in sub):
                return False
            continue
        value = node.get(key, ABSENT) if isinstance(node, dict) else ABSENT
        if isinstance(sub, dict):
            ok = _match_nested(sub, value)
        elif isinstance(sub, list):
            ok = _match_leaf(sub, value)
        else:
            raise ValueError(f"pattern field {key!r} must be an object or an array, not {sub!r}")
        if not ok:
            return False
    return True


def _match_nested(pattern, value):
    if isinstance(value, list):
        # Arrays are crushed out: the objects in the array are values of the field; one element must
        # satisfy the whole sub-pattern (fields from different elements never combine).
        elements = [v for v in value if isinstance(v, dict)]
        if elements:
            return any(_match_object(pattern, e) for e in elements)
        return _match_object(pattern, {})
    if isinstance(value, dict):
        return _match_object(pattern, value)
    return _match_object(pattern, {})  # missing (or a scalar): every field below is missing


def _same(a, b):
    return type(a) is type(b) and a == b


def _match_leaf(matchers, value):
    if isinstance(value, dict):
        value = ABSENT  # exists (and every value match) applies to leaf nodes only
    if isinstance(value, list):
        values = [v for v in value if not isinstance(v, (dict, list))]
    else:
        values = [] if value is ABSENT else [value]
    present = bool(values) or (value is not ABSENT and not isinstance(value, list))
    for matcher in matchers:
        if not isinstance(matcher, dict):
            if any(_same(v, matcher) for v in values):
                return True
            continue
        if len(matcher) != 1:
            raise ValueError(f"one operator per matcher: {matcher!r}")
        (operator, argument), = matcher.items()
        if operator == "exists":
            if argument == present:
                return True
        elif operator == "prefix":
            if not isinstance(argument, str):
                raise ValueError(f"prefix with {argument!r} is not evaluated here")
            if any(isinstance(v, str) and v.startswith(argument) for v in values):
                return True
        elif operator == "anything-but":
            excluded = argument if isinstance(argument, list) else [argument]
            if any(isinstance(x, dict) for x in excluded) or isinstance(argument, dict):
                raise ValueError(f"anything-but with an operator ({argument!r}) is not evaluated here")
            if any(not any(_same(v, x) for x in excluded) for v in values):
                return True
        else:
            raise ValueError(f"operator {operator!r} is not evaluated here: add it to matches() first")
    return False


def moto_matches(pattern, event):
    return EventPattern.load(json.dumps(pattern)).matches_event(copy.deepcopy(event))


def reaches_into_object_array(pattern, node):
    """Whether the pattern follows a field whose value in the event is an array of objects."""
    if not isinstance(pattern, dict) or not isinstance(node, dict):
        return False
    for key, sub in pattern.items():
        if key == "$or":
            if any(reaches_into_object_array(branch, node) for branch in sub):
                return True
            continue
        value = node.get(key)
        if isinstance(sub, dict):
            if isinstance(value, list) and any(isinstance(v, dict) for v in value):
                return True
            if reaches_into_object_array(sub, value):
                return True
    return False


def decide(pattern, event):
    """`matches`, checked against moto where moto can evaluate the pattern."""
    ours = matches(pattern, event)
    theirs = moto_matches(pattern, event)
    if reaches_into_object_array(pattern, event):
        assert theirs is False, "moto now matches through arrays of objects: drop the exception in decide()"
    else:
        assert ours == theirs, f"our matcher says {ours}, moto says {theirs}"
    return ours


def matching_rules(rules, event):
    return {name for name, pattern in rules.items() if decide(pattern, event)}


# ------------------------------------------------------------------------------------------ samples

DRIFT_RULES = {"Ec2DriftRule", "VpcDnsDriftRule", "TagDriftRule", "SageMakerDriftRule"}

# Every file of events/ and the rules it must match (empty: none).
EXPECTED = {
    "associate-vpc-cidr-block.json": {"Ec2DriftRule"},
    "create-default-subnet.json": {"Ec2DriftRule"},
    "create-default-vpc.json": {"Ec2DriftRule"},
    "create-domain-default-access.json": {"DomainChangedRule"},  # no appNetworkAccessType: PublicInternetOnly
    "create-domain.json": {"DomainChangedRule"},
    "create-notebook-instance.json": {"NotebookCreatedRule"},
    "create-subnet-failed.json": set(),
    "create-subnet.json": {"SubnetCreatedRule"},
    "create-subnet-sparse.json": {"SubnetCreatedRule"},
    "create-tags-other.json": set(),
    "create-tags.json": {"TagDriftRule"},
    "delete-notebook-instance.json": {"SageMakerDriftRule"},
    "delete-tags.json": {"TagDriftRule"},
    "delete-vpc-endpoints.json": {"Ec2DriftRule"},
    "malformed-create-subnet.json": {"SubnetCreatedRule"},
    "modify-security-group-rules.json": {"Ec2DriftRule"},
    "modify-vpc-attribute-dns-on.json": set(),
    "modify-vpc-attribute.json": {"VpcDnsDriftRule"},
    "modify-vpc-endpoint-by-vpce-guard.json": set(),
    "modify-vpc-endpoint.json": {"Ec2DriftRule"},
    "remediate-all.json": set(),
    "remediate-dry-run.json": set(),
    "remediate-vpcs.json": set(),
    "revoke-security-group-ingress.json": {"Ec2DriftRule"},
    "scheduled.json": set(),
    "stack-create-complete.json": {"StackReadyRule"},
    "stack-rollback-complete.json": set(),
    "sqs-drift-batch.json": set(),  # an SQS batch, not an EventBridge event; its bodies: below
    "update-domain.json": {"DomainChangedRule"},
}


def sample(name):
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rules():
    return rules_with_patterns()


def test_every_sample_event_has_an_expectation():
    files = sorted(p.name for p in EVENTS.glob("*.json"))
    assert sorted(EXPECTED) == files, "add the new sample to EXPECTED (or drop a removed one)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_matches_exactly_the_expected_rules(rules, name):
    assert matching_rules(rules, sample(name)) == EXPECTED[name]


def test_every_rule_with_a_pattern_matches_some_sample(rules):
    matched = set().union(*EXPECTED.values())
    assert set(rules) - matched <= {"AlarmsToCentralBusRule", "FindingsToCentralBusRule"}


def test_sqs_batch_bodies_are_events_of_a_drift_rule(rules):
    batch = sample("sqs-drift-batch.json")
    assert batch["Records"], "the batch sample holds records"
    for record in batch["Records"]:
        assert record["eventSource"] == "aws:sqs"
        body = json.loads(record["body"])  # the EventBridge event unchanged: no InputTransformer
        matched = matching_rules(rules, body)
        assert len(matched) == 1 and matched <= DRIFT_RULES, (record["messageId"], matched)


def test_drift_rules_target_the_drift_queue_and_the_notebook_rule_is_conditional():
    resources = load_template()["Resources"]
    for name in DRIFT_RULES:
        targets = resources[name]["Properties"]["Targets"]
        assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["DriftQueue", "Arn"]}], name
        assert "InputTransformer" not in targets[0] and "Input" not in targets[0], name
    assert resources["SageMakerDriftRule"].get("Condition") == "VpcNotebooks"


STUDIO_RESOURCES = ["DomainChangedRule", "DomainCreatedFunction", "DomainCreatedRole",
                    "DomainCreatedLogGroup", "StudioReadPolicy"]


CREATION_RULES = {"NotebookCreatedRule", "SubnetCreatedRule", "DomainChangedRule"}


def test_creation_rules_deliver_the_event_unchanged_to_the_event_queue_which_admits_exactly_the_rules():
    """Issue 19, items 3 and 8: the creation rules' target is the one event queue (DriftQueue), the
    event its message body as the rule matched it (no InputTransformer: remediate parses EventBridge
    events); the queue's policy lets EventBridge send for the creation and drift rules only; no rule
    invokes a creation function, no permission lets EventBridge do so, and remediate's SQS event is
    the queue's one consumer (no event source mapping written out beside it)."""
    resources = load_template()["Resources"]
    for name in CREATION_RULES:
        targets = resources[name]["Properties"]["Targets"]
        assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["DriftQueue", "Arn"]}], name
        assert "InputTransformer" not in targets[0] and "Input" not in targets[0], name
    example = Example(load_template())
    (allow,) = [s for s in resources["DriftQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert example.resolve(allow["Principal"]) == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert sorted(example.resolve(allow["Condition"]["ArnEquals"]["aws:SourceArn"])) == sorted(
        example.resolve({"Fn::GetAtt": [rule, "Arn"]}) for rule in CREATION_RULES | DRIFT_RULES)
    functions = {"NotebookCreatedFunction", "SubnetCreatedFunction", "DomainCreatedFunction"}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Permission":
            assert resource["Properties"]["FunctionName"]["Ref"] not in functions, name
    assert [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"] == []
    consumers = {(name, event["Properties"]["Queue"]["Fn::GetAtt"][0])
                 for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
                 for event in r["Properties"].get("Events", {}).values() if event["Type"] == "SQS"}
    assert consumers == {("RemediateFunction", "DriftQueue")}


@pytest.mark.parametrize("name", ["create-subnet.json", "create-subnet-sparse.json", "create-notebook-instance.json",
                                  "create-domain.json", "create-domain-default-access.json", "update-domain.json"])
def test_creation_events_reach_the_event_queue_through_one_creation_rule(rules, name):
    matched = matching_rules(rules, sample(name))
    assert len(matched) == 1 and matched <= CREATION_RULES, (name, matched)


def test_domain_rule_and_on_domain_created_exist_with_the_studio_profile_only():
    resources = load_template()["Resources"]
    function = resources["DomainCreatedFunction"]
    assert function["Metadata"]["BuildProperties"]["Binary"] == "on-domain-created"
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["DomainCreatedRole", "Arn"]}
    for name in STUDIO_RESOURCES:
        assert resources[name].get("Condition") == "StudioProfile", name


def test_failed_domain_calls_match_no_rule(rules):
    for name in ("create-domain.json", "create-domain-default-access.json", "update-domain.json"):
        event = copy.deepcopy(sample(name))
        event["detail"]["errorCode"] = "ValidationException"
        event["detail"]["errorMessage"] = "example"
        assert matching_rules(rules, event) == set(), name


# ------------------------------------------------------------------------------------ who called

def with_identity(event, identity):
    changed = copy.deepcopy(event)
    changed["detail"]["userIdentity"] = identity
    return changed


OTHER_CALLERS = {
    "IAM user": {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                 "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE", "userName": "alice"},
    "IAM user, temporary credentials": {
        "type": "IAMUser", "principalId": "AIDAEXAMPLEUSER", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLE", "userName": "alice",
        "sessionContext": {"attributes": {"creationDate": "2026-11-28T09:58:40Z", "mfaAuthenticated": "true"}}},
    "root": {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
    "AWS service": {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"},
}


@pytest.mark.parametrize("caller", sorted(OTHER_CALLERS))
@pytest.mark.parametrize("name,rule", [("modify-vpc-endpoint.json", "Ec2DriftRule"),
                                       ("create-tags.json", "TagDriftRule"),
                                       ("modify-vpc-attribute.json", "VpcDnsDriftRule")])
def test_callers_without_a_session_issuer_still_match(rules, caller, name, rule):
    assert matching_rules(rules, with_identity(sample(name), OTHER_CALLERS[caller])) == {rule}


@pytest.mark.parametrize("role", ["NotebookCreatedRole", "SubnetCreatedRole", "RemediateRole", "DomainCreatedRole"])
@pytest.mark.parametrize("name", ["modify-vpc-endpoint.json", "revoke-security-group-ingress.json",
                                  "create-tags.json", "delete-tags.json", "modify-vpc-attribute.json",
                                  "delete-notebook-instance.json"])
def test_own_calls_match_no_rule(rules, role, name):
    example = Example(load_template())
    event = copy.deepcopy(sample(name))
    issuer = event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]
    issuer["arn"] = example.get_att(role, "Arn")
    assert matching_rules(rules, event) == set()


def test_own_call_sample_is_the_remediate_role():
    issuer = sample("modify-vpc-endpoint-by-vpce-guard.json")["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]
    assert issuer["arn"] == Example(load_template()).get_att("RemediateRole", "Arn")


# ------------------------------------------------------------------------- organization alerting

def alarm_state_change(alarm_name, state="ALARM"):
    return {"version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": ACCOUNT, "time": "2026-11-28T10:02:11Z", "region": REGION,
            "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}"],
            "detail": {"alarmName": alarm_name, "state": {"value": state, "reason": "Threshold Crossed",
                                                           "timestamp": "2026-11-28T10:02:11.000+0000"},
                       "previousState": {"value": "OK"}, "configuration": {"metrics": []}}}


def alarm_names():
    template = load_template()
    example = Example(template)
    return {name: example.ref(name) for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


@pytest.mark.parametrize("alarm", sorted(alarm_names()))
def test_every_alarm_of_the_stack_is_forwarded(rules, alarm):
    name = alarm_names()[alarm]
    assert matching_rules(rules, alarm_state_change(name, "ALARM")) == {"AlarmsToCentralBusRule"}
    assert matching_rules(rules, alarm_state_change(name, "OK")) == {"AlarmsToCentralBusRule"}
    assert matching_rules(rules, alarm_state_change(name, "INSUFFICIENT_DATA")) == set()


def test_other_alarms_are_not_forwarded(rules):
    assert matching_rules(rules, alarm_state_change("vpce-guard-someone-elses-alarm")) == set()


def invocation_record(function_arn, outcomes, result="Success"):
    """A Lambda on-success destination record as EventBridge delivers it (source lambda)."""
    return {"version": "0", "id": "a3b5c7d9-0000-4000-8000-000000000001",
            "detail-type": f"Lambda Function Invocation Result - {result}", "source": "lambda",
            "account": ACCOUNT, "time": "2026-11-28T10:02:11Z", "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default", f"{function_arn}:$LATEST"],
            "detail": {"version": "1.0", "timestamp": "2026-11-28T10:02:11.123Z",
                       "requestContext": {"requestId": "b3a5e1c2-3d4f-4a6b-8c9d-0e1f2a3b4c5d",
                                          "functionArn": f"{function_arn}:$LATEST", "condition": result,
                                          "approximateInvokeCount": 1},
                       "requestPayload": sample("scheduled.json"),
                       "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
                       "responsePayload": {"dry_run": False, "trigger": "Scheduled",
                                           "api_calls": {"read": 12, "write": 0},
                                           "vpcs": [{"vpc_id": f"vpc-0{i}", "outcome": o, "endpoints": [],
                                                     "actions": [], "problems": []}
                                                    for i, o in enumerate(outcomes)]}}}


@pytest.mark.parametrize("function", ["NotebookCreatedFunction", "SubnetCreatedFunction", "RemediateFunction",
                                      "DomainCreatedFunction"])
def test_non_compliant_findings_are_forwarded(rules, function):
    arn = Example(load_template()).get_att(function, "Arn")
    assert matching_rules(rules, invocation_record(arn, ["compliant", "non_compliant"])) == {"FindingsToCentralBusRule"}
    assert matching_rules(rules, invocation_record(arn, ["compliant", "changed", "pending"])) == set()
    assert matching_rules(rules, invocation_record(arn, ["non_compliant"], result="Failure")) == set()


def test_other_functions_findings_are_not_forwarded(rules):
    arn = Example(load_template()).get_att("RemediateFunction", "Arn") + "-copy"
    assert matching_rules(rules, invocation_record(arn, ["non_compliant"])) == set()


# ------------------------------------------------------------ the endpoint services the roles may create

GUARD_SRC = ROOT / "functions" / "guard" / "src"


def guard_definition(pattern, flags=0):
    """The one match of `pattern` in the guard library's sources (any .rs file under
    functions/guard/src). None, or more than one, fails the calling test."""
    found = [(path, match) for path in sorted(GUARD_SRC.rglob("*.rs"))
             for match in re.finditer(pattern, path.read_text(encoding="utf-8"), flags)]
    where = [str(path.relative_to(ROOT)) for path, _ in found]
    assert len(found) == 1, (f"expected one definition matching {pattern!r} in "
                             f"{GUARD_SRC.relative_to(ROOT)}, found {len(found)} {where}: "
                             "update this test with the library")
    return found[0][1]


class Deployed:
    """The template's conditions and the intrinsics of a policy value, for given parameters."""

    def __init__(self, template, **parameters):
        self.template = template
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        self.parameters.update({"AWS::Partition": "aws", "AWS::Region": "us-west-2", "AWS::AccountId": ACCOUNT,
                                "AWS::URLSuffix": "amazonaws.com"})
        self.parameters.update(parameters)

    def condition(self, name):
        return self.test(self.template["Conditions"][name])

    def test(self, expression):
        return cfn_yaml.condition_holds(expression, self.condition, self.value)

    def value(self, value):
        if isinstance(value, list):
            return [v for v in (self.value(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: self.value(v) for k, v in value.items()}  # a plain mapping (a statement)
        (function, argument), = value.items()
        if function == "Ref" and argument in self.template["Resources"]:
            return value  # a resource (a role of a policy's Roles): kept as the reference
        if function == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else self.parameters[argument]
        if function == "Fn::GetAtt":  # a queue's or the key's ARN (remediate's DecryptDriftQueue)
            return value
        if function == "Fn::If":
            return self.value(argument[1] if self.condition(argument[0]) else argument[2])
        if function == "Fn::Join":
            return self.value(argument[0]).join(self.value(argument[1]))
        if function == "Fn::Split":
            return self.value(argument[1]).split(self.value(argument[0]))
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: self.parameters[m.group(1)], argument)
        raise ValueError(f"intrinsic {function} is not evaluated here")


def allowed_services(**parameters):
    template = load_template()
    statements = template["Resources"]["EndpointWritePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    create, = [s for s in statements if s["Sid"] == "CreateEndpointForConfiguredServices"]
    return set(Deployed(template, **parameters).value(create["Condition"]["StringLike"]["ec2:VpceServiceName"]))


def code_services():
    """The studio profile's service templates as the functions define them, {region} as *."""
    studio = guard_definition(r"pub const STUDIO_SERVICES: \[&str; \d+\] = \[(.*?)\];", re.S).group(1)
    catalog = guard_definition(r'pub const SERVICE_CATALOG: &str = "([^"]+)";').group(1)
    wild = lambda t: t.replace("{region}", "*")
    return [wild(t) for t in re.findall(r'"([^"]+)"', studio)], wild(catalog)


API, NOTEBOOK = "com.amazonaws.*.sagemaker.api", "aws.sagemaker.*.notebook"


def test_profiles_condition_covers_every_allowed_value():
    template = load_template()
    pattern = re.compile(template["Parameters"]["Profiles"]["AllowedPattern"])
    for profiles, studio, notebooks in [("notebook-instances", False, True), ("studio", True, False),
                                        ("notebook-instances,studio", True, True),
                                        ("studio,notebook-instances", True, True)]:
        assert pattern.match(profiles)
        deployed = Deployed(template, Profiles=profiles)
        assert deployed.condition("StudioProfile") is studio, profiles
        assert deployed.condition("NotebookInstancesProfile") is notebooks, profiles
    assert not pattern.match("studio,studio") and not pattern.match("notebook-instances, studio")


def test_endpoint_services_are_those_of_the_profiles_and_services():
    studio, catalog = code_services()
    assert studio, "STUDIO_SERVICES lists no service"
    assert allowed_services() == {API, NOTEBOOK}  # the defaults: notebook instances, Services empty
    assert allowed_services(Profiles="studio") == {API, *studio}
    assert allowed_services(Profiles="studio", StudioProjects="true") == {API, *studio, catalog}
    assert allowed_services(Profiles="notebook-instances", StudioProjects="true") == {API, NOTEBOOK}
    assert allowed_services(Profiles="notebook-instances,studio", StudioProjects="true") == {API, NOTEBOOK, *studio, catalog}
    # Services set: its list as well (the union; the functions use it instead of the profiles' lists)
    assert allowed_services(Services="com.amazonaws.{region}.sagemaker.api,com.amazonaws.{region}.s3") == {
        API, NOTEBOOK, "com.amazonaws.*.s3"}
    assert allowed_services(Profiles="studio", Services="aws.sagemaker.{region}.notebook") == {API, NOTEBOOK, *studio}
    assert "" not in allowed_services(Profiles="studio")


# The service names EC2 lists in one region of each partition for the studio and notebook
# services (cn-north-1: most services carry cn.com.amazonaws., the SageMaker UI services keep
# aws.sagemaker.; the functions resolve them by suffix from DescribeVpcEndpointServices).
NAMES = {
    ("aws", "us-west-2"): ["com.amazonaws.us-west-2.sagemaker.api", "aws.sagemaker.us-west-2.notebook",
                           "com.amazonaws.us-west-2.sagemaker.runtime", "aws.sagemaker.us-west-2.studio",
                           "com.amazonaws.us-west-2.sts", "com.amazonaws.us-west-2.logs",
                           "com.amazonaws.us-west-2.servicecatalog"],
    ("aws-cn", "cn-north-1"): ["cn.com.amazonaws.cn-north-1.sagemaker.api", "aws.sagemaker.cn-north-1.notebook",
                               "cn.com.amazonaws.cn-north-1.sagemaker.runtime", "aws.sagemaker.cn-north-1.studio",
                               "cn.com.amazonaws.cn-north-1.sts", "cn.com.amazonaws.cn-north-1.logs",
                               "cn.com.amazonaws.cn-north-1.servicecatalog"],
    ("aws-us-gov", "us-gov-west-1"): ["com.amazonaws.us-gov-west-1.sagemaker.api",
                                      "aws.sagemaker.us-gov-west-1.notebook",
                                      "com.amazonaws.us-gov-west-1.sagemaker.runtime",
                                      "aws.sagemaker.us-gov-west-1.studio", "com.amazonaws.us-gov-west-1.sts",
                                      "com.amazonaws.us-gov-west-1.logs",
                                      "com.amazonaws.us-gov-west-1.servicecatalog"],
}


def string_like(patterns, value):
    """IAM's StringLike: * any characters, ? one, case-sensitive (IAM User Guide, "String condition operators")."""
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


@pytest.mark.parametrize("partition,region", sorted(NAMES))
def test_every_partitions_service_names_may_be_created_and_only_those_of_the_profiles(partition, region):
    api, notebook, runtime, studio, sts, logs, catalog = NAMES[(partition, region)]
    where = {"AWS::Partition": partition, "AWS::Region": region}
    everything = allowed_services(Profiles="notebook-instances,studio", StudioProjects="true", **where)
    for name in NAMES[(partition, region)]:
        assert string_like(everything, name), f"{partition}: {name} refused by {sorted(everything)}"
    defaults = allowed_services(**where)
    assert [n for n in NAMES[(partition, region)] if string_like(defaults, n)] == [api, notebook], partition
    studio_only = allowed_services(Profiles="studio", **where)
    assert not string_like(studio_only, notebook) and not string_like(studio_only, catalog), partition
    listed = allowed_services(Services="com.amazonaws.{region}.sagemaker.api,com.amazonaws.{region}.sts", **where)
    assert string_like(listed, sts) and not string_like(listed, logs), partition


def test_china_forms_are_admitted_only_in_china():
    everywhere_else = allowed_services(Profiles="notebook-instances,studio", StudioProjects="true")
    china = NAMES[("aws-cn", "cn-north-1")]
    assert not any(string_like(everywhere_else, n) for n in china if n.startswith("cn.")), sorted(everywhere_else)


# --------------------------------------------------------- the S3 gateway endpoint (S3Gateway=true)

PROFILES = {"notebook-instances": False, "studio": True, "notebook-instances,studio": True,
            "studio,notebook-instances": True}


def test_s3_gateway_writes_only_with_the_parameter_the_studio_profile_and_not_in_a_dry_run():
    template = load_template()
    resources = template["Resources"]
    policy = resources["S3GatewayWritePolicy"]
    assert policy["Condition"] == "S3GatewayWrites"
    for profiles, studio in PROFILES.items():
        for s3_gateway in ("true", "false"):
            for dry_run in ("true", "false"):
                deployed = Deployed(template, Profiles=profiles, S3Gateway=s3_gateway, DryRun=dry_run)
                expected = studio and s3_gateway == "true" and dry_run == "false"
                assert deployed.condition("S3GatewayWrites") is expected, (profiles, s3_gateway, dry_run)
    assert Deployed(template).condition("S3GatewayWrites") is False  # the defaults
    roles = policy["Properties"]["Roles"]
    assert roles == [{"Ref": name} for name in ("NotebookCreatedRole", "SubnetCreatedRole", "RemediateRole",
                                                 "DomainCreatedRole")]
    # Route tables: read with the studio profile (whatever S3Gateway says: the report needs them),
    # written by this policy only.
    reads = resources["StudioReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {"Sid": "DescribeRouteTablesWithoutResourceScoping", "Effect": "Allow",
            "Action": "ec2:DescribeRouteTables", "Resource": "*"} in reads
    others = {name: r for name, r in resources.items() if name != "S3GatewayWritePolicy"}
    assert "route-table" not in json.dumps(others)


def test_s3_gateway_service_is_the_functions_and_the_setting_reaches_them():
    template = load_template()
    statements = template["Resources"]["S3GatewayWritePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    create, = [s for s in statements if s["Sid"] == "CreateEndpointForS3Only"]
    service = create["Condition"]["StringEquals"]["ec2:VpceServiceName"]
    assert service == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["VPCE_GUARD_S3_GATEWAY"] == {"Ref": "S3Gateway"}
    code = guard_definition(r'pub fn s3_service\(region: &str\) -> String \{\s*format!\("([^"]+)"\)')
    readers = [path for path in GUARD_SRC.rglob("*.rs") if '"VPCE_GUARD_S3_GATEWAY"' in path.read_text(encoding="utf-8")]
    assert readers, f"no source under {GUARD_SRC.relative_to(ROOT)} reads VPCE_GUARD_S3_GATEWAY"
    assert code.group(1).replace("{region}", "${AWS::Region}") == service["Fn::Sub"]


# ------------------------------------------------ what the roles may modify (AdoptExisting, issue 18)

ROLES = ("NotebookCreatedRole", "SubnetCreatedRole", "RemediateRole", "DomainCreatedRole")


def role_statements(deployed, role):
    """The Allow statements of the managed policies deployed for these parameters and attached to
    `role`, their intrinsics resolved."""
    statements = []
    for name, resource in deployed.template["Resources"].items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        if "Condition" in resource and not deployed.condition(resource["Condition"]):
            continue
        if {"Ref": role} not in deployed.value(resource["Properties"]["Roles"]):
            continue
        resolved = [(name, deployed.value(s)) for s in resource["Properties"]["PolicyDocument"]["Statement"]]
        statements += [(n, s) for n, s in resolved if isinstance(s, dict)]  # a statement under a false Fn::If is no statement
    return statements


def condition_holds(operator, key, wanted, context):
    """IAM's string condition operators the write policies use (IAM User Guide, "String condition
    operators"; a negated operator matches a request without the key, a positive one does not).
    Any other operator raises: it must be taught here first."""
    wanted = wanted if isinstance(wanted, list) else [wanted]
    value = context.get(key)
    if operator == "StringEquals":
        return value is not None and value in wanted
    if operator == "StringEqualsIgnoreCase":
        return value is not None and value.lower() in [w.lower() for w in wanted]
    if operator == "StringNotEqualsIgnoreCase":
        return value is None or value.lower() not in [w.lower() for w in wanted]
    if operator == "StringLike":
        return value is not None and string_like(wanted, value)
    raise ValueError(f"condition operator {operator} is not evaluated here")


def allowed(deployed, role, action, resource, context):
    """Whether `role` may call `action` on `resource` with these condition keys: some Allow
    statement names the action and the resource and all its conditions hold (no statement of
    these policies denies)."""
    for _, statement in role_statements(deployed, role):
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        if all(condition_holds(operator, key, wanted, context)
               for operator, keys in statement.get("Condition", {}).items() for key, wanted in keys.items()):
            return True
    return False


ENDPOINT_ARN = f"arn:aws:ec2:us-west-2:{ACCOUNT}:vpc-endpoint/vpce-0123456789abcdef0"


def resource_tags(**tags):
    return {f"aws:ResourceTag/vpce-guard:{key}": value for key, value in tags.items()}


@pytest.mark.parametrize("profiles,s3_gateway", [("notebook-instances", "false"), ("studio", "true")])
def test_modify_vpc_endpoint_reaches_managed_endpoints_only_unless_adopt_existing(profiles, s3_gateway):
    template = load_template()
    managed, unmanaged = resource_tags(managed="true"), {"aws:ResourceTag/Name": "platform-team-api"}
    ignored = resource_tags(ignore="true")
    roles = ROLES if profiles == "studio" else ROLES[:3]
    for role in roles:
        default = Deployed(template, Profiles=profiles, S3Gateway=s3_gateway)
        assert allowed(default, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, managed), role
        assert not allowed(default, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, unmanaged), role
        assert not allowed(default, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, {}), role
        assert not allowed(default, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, {**managed, **ignored}), role
        adopting = Deployed(template, Profiles=profiles, S3Gateway=s3_gateway, AdoptExisting="true")
        assert allowed(adopting, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, managed), role
        assert allowed(adopting, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, unmanaged), role
        assert not allowed(adopting, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, ignored), role
        dry = Deployed(template, Profiles=profiles, S3Gateway=s3_gateway, AdoptExisting="true", DryRun="true")
        assert not allowed(dry, role, "ec2:ModifyVpcEndpoint", ENDPOINT_ARN, managed), role


@pytest.mark.parametrize("adopt_existing", ["false", "true"])
def test_security_group_rules_are_written_on_managed_groups_only_whatever_adopt_existing(adopt_existing):
    template = load_template()
    deployed = Deployed(template, AdoptExisting=adopt_existing)
    group = f"arn:aws:ec2:us-west-2:{ACCOUNT}:security-group/sg-0123456789abcdef0"
    for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:ModifyVpcEndpoint",
                   "ec2:CreateVpcEndpoint"):
        assert allowed(deployed, "RemediateRole", action, group, resource_tags(managed="true")), action
        assert not allowed(deployed, "RemediateRole", action, group, {"aws:ResourceTag/Name": "theirs"}), action


def test_adopt_existing_reaches_the_functions_and_is_a_setting_of_the_library():
    template = load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["VPCE_GUARD_ADOPT_EXISTING"] == {"Ref": "AdoptExisting"}
    assert template["Parameters"]["AdoptExisting"]["Default"] == "false"
    guard_definition(r'variable: "VPCE_GUARD_ADOPT_EXISTING",\s*flag: "adopt-existing",\s*parameter: Some\("AdoptExisting"\)')


# ------------------------------------------------------------------------------ the matcher itself

@pytest.mark.parametrize("pattern,event,expected", [
    ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
    ({"a": [{"anything-but": ["x"]}]}, {"a": "x"}, False),
    ({"a": [{"anything-but": ["x"]}]}, {}, False),  # a missing field never matches anything-but
    ({"a": [{"exists": False}]}, {}, True),
    ({"a": [{"exists": False}]}, {"a": {"b": 1}}, True),  # exists applies to leaves only
    ({"a": {"b": [{"exists": False}]}}, {}, True),
    ({"a": [{"prefix": "vpce-guard:"}]}, {"a": ["Name", "vpce-guard:x"]}, True),
    ({"a": [False]}, {"a": False}, True),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"b": "2"}, True),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"c": "3"}, False),
])
def test_matcher_agrees_with_moto_on_plain_patterns(pattern, event, expected):
    assert matches(pattern, event) is expected
    assert moto_matches(pattern, event) is expected


def test_matcher_crushes_arrays_of_objects_where_moto_does_not():
    pattern = {"tagSet": {"items": {"key": [{"prefix": "vpce-guard:"}]}}}
    event = {"tagSet": {"items": [{"key": "Name"}, {"key": "vpce-guard:enforce"}]}}
    assert matches(pattern, event) is True
    assert moto_matches(pattern, event) is False
    assert matches(pattern, {"tagSet": {"items": [{"key": "Name"}]}}) is False


def test_matcher_keeps_json_types_apart_where_moto_does_not():
    # JSON false is not 0; moto compares with Python's ==, for which False == 0. The template's
    # boolean match (enableDnsSupport.value false) meets booleans only, as EC2 records them.
    assert matches({"a": [False]}, {"a": 0}) is False
    assert moto_matches({"a": [False]}, {"a": 0}) is True


def test_matcher_refuses_operators_it_does_not_know():
    with pytest.raises(ValueError):
        matches({"a": [{"suffix": ".png"}]}, {"a": "x.png"})
