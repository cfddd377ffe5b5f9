"""infra/template.yaml at Organization scale (issue 19): redeploys that need no cleanup, central
alerting that creates reliably, alarms that mean something; and the KMS key pinned to its users
(issue 18, item 3). Offline, with the repo's .venv:

    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_template_reliability.py

The template is evaluated as CloudFormation would for given parameters (conditions, Fn::If,
AWS::NoValue, the Rules section), and the resources a deleted stack keeps go through a delete ->
create cycle in moto. VPCE_GUARD_TEMPLATE=<path> runs the same tests on another copy (an older
release, to see them fail).
"""

import copy
import json
import os
import pathlib
import re
import sys

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import cfn_yaml  # noqa: E402  (infra/tools: the template as data)

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = pathlib.Path(os.environ.get("VPCE_GUARD_TEMPLATE", ROOT / "infra" / "template.yaml"))
STACKSET = ROOT / "infra" / "stackset.yaml"
REGION = "us-west-2"
DEFAULT_BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
CENTRAL_BUS = "arn:aws:events:us-east-1:111122223333:event-bus/central"

NO_VALUE = object()  # AWS::NoValue: the key or list item that holds it is dropped


def load_template(path=TEMPLATE):
    return cfn_yaml.load_template(path)


class Deployed:
    """The template as CloudFormation deploys it for given parameters: conditions evaluated,
    resources whose condition is false left out, Fn::If resolved and AWS::NoValue dropped; every
    other intrinsic (Ref, GetAtt, Sub...) is left as it is."""

    def __init__(self, template, **parameters):
        self.template = template
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        self.parameters.update({"AWS::Partition": "aws", "AWS::Region": REGION})
        self.parameters.update(parameters)
        self.memo = {}

    def condition(self, name):
        if name not in self.memo:
            self.memo[name] = self.test(self.template["Conditions"][name])
        return self.memo[name]

    def value(self, value):
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.parameters:
            return self.parameters[value["Ref"]]
        return value

    def test(self, expression):
        return cfn_yaml.condition_holds(expression, self.condition, self.value)

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if isinstance(value, dict):
            if value == {"Ref": "AWS::NoValue"}:
                return NO_VALUE
            if set(value) == {"Fn::If"}:
                name, yes, no = value["Fn::If"]
                return self.resolve(yes if self.condition(name) else no)
            return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}
        return value

    def resources(self):
        return {name: self.resolve({k: v for k, v in r.items() if k != "Condition"})
                for name, r in self.template["Resources"].items()
                if "Condition" not in r or self.condition(r["Condition"])}


def of_type(resources, kind):
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def references(value):
    """The logical ids a value names (Ref, Fn::GetAtt, ${X} and ${X.Attr} in Fn::Sub)."""
    found = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, v in value.items():
            if key == "Ref" and isinstance(v, str):
                found.add(v)
            elif key == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (v, {}) if isinstance(v, str) else v
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text) if m not in variables}
                found |= references(variables)
            else:
                found |= references(v)
    return found


def dependencies(resources, name):
    """Every resource that CloudFormation completes before `name`: its references and DependsOn,
    transitively."""
    seen, todo = set(), [name]
    while todo:
        resource = resources[todo.pop()]
        depends = resource.get("DependsOn", [])
        direct = references(resource.get("Properties", {})) | set([depends] if isinstance(depends, str) else depends)
        for other in direct & set(resources) - seen:
            seen.add(other)
            todo.append(other)
    return seen


# ------------------------------------------------------------------ item 1: redeploys need no cleanup

NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName", "AWS::S3::Bucket": "BucketName", "AWS::SQS::Queue": "QueueName",
    "AWS::KMS::Alias": "AliasName", "AWS::SNS::Topic": "TopicName", "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::Function": "FunctionName", "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName", "AWS::CloudTrail::Trail": "TrailName", "AWS::Events::Rule": "Name",
}
STACK_UUID = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
KEPT = ("Retain", "RetainExceptOnCreate")


def test_what_a_deleted_stack_keeps_has_a_name_the_next_stack_does_not_use():
    """Every kept resource (DeletionPolicy Retain or RetainExceptOnCreate) has a generated name or
    one ending in this stack's id; so does nothing else need to be kept under a fixed name."""
    template = load_template()
    kept = {n: r for n, r in template["Resources"].items() if r.get("DeletionPolicy") in KEPT}
    assert {r["Type"] for r in kept.values()} >= {"AWS::Logs::LogGroup", "AWS::KMS::Key"}
    for name, resource in kept.items():
        prop = NAME_PROPERTIES.get(resource["Type"])
        value = resource.get("Properties", {}).get(prop) if prop else None
        if value is None:
            continue
        assert isinstance(value, dict) and isinstance(value.get("Fn::Sub"), list), f"{name}: fixed {prop} {value!r}"
        text, variables = value["Fn::Sub"]
        assert text.endswith("-${StackUuid}") and variables == {"StackUuid": STACK_UUID}, f"{name}: {prop} {value!r}"


def test_a_kept_resource_that_a_condition_can_remove_has_a_generated_name():
    """The studio profile turned off keeps on-domain-created's log group; turned on again in the
    same stack (same id), a stack-id name would meet that copy."""
    for name, resource in load_template()["Resources"].items():
        if resource.get("DeletionPolicy") in KEPT and "Condition" in resource:
            prop = NAME_PROPERTIES.get(resource["Type"])
            assert prop not in resource.get("Properties", {}), f"{name}: {prop} under condition {resource['Condition']}"


def test_log_groups_and_key_are_kept_except_when_their_own_create_rolls_back():
    template = load_template()
    for kind in ("AWS::Logs::LogGroup", "AWS::KMS::Key"):
        found = of_type(template["Resources"], kind)
        assert found, kind
        for name, resource in found.items():
            assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", name
            assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_queues_have_generated_names():
    """SQS refuses a queue name for 60 s after a queue of that name was deleted."""
    for name, queue in of_type(load_template()["Resources"], "AWS::SQS::Queue").items():
        assert "QueueName" not in queue["Properties"], name


def test_functions_use_the_log_groups_by_reference():
    """The functions, their roles and the outputs follow the new names; nothing spells one out."""
    template = load_template()
    text = TEMPLATE.read_text(encoding="utf-8")
    assert not re.search(r"/aws/lambda/\$\{NamePrefix\}-[a-z-]+\"", text), "a log group name spelt out"
    for name, function in of_type(template["Resources"], "AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert group == {"Ref": name.replace("Function", "LogGroup")}, name


def retained_part(template, **parameters):
    """The resources of the template that outlive a stack or carry a name: the keys and aliases,
    log groups, queues and buckets, as deployed (plain CloudFormation types, which moto creates)."""
    resources = Deployed(template, **parameters).resources()
    keep = {n: r for n, r in resources.items() if r["Type"] in (
        "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::S3::Bucket")}
    for resource in keep.values():
        # For a delete of a stack whose create completed, RetainExceptOnCreate is Retain ("behaves
        # like Retain for stack operations, except for the stack operation that initially created
        # the resource", DeletionPolicy attribute); moto knows Retain only.
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
            resource["DeletionPolicy"] = "Retain"
        # moto 5.2.1 creates a key's CloudFormation Tags with the KMS API's TagKey/TagValue form and
        # fails on Key/Value; tags play no part in what a delete keeps.
        if resource["Type"] == "AWS::KMS::Key":
            resource["Properties"].pop("Tags", None)
    parameters_used = {"NamePrefix", "LogRetentionDays"}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {k: v for k, v in template["Parameters"].items() if k in parameters_used},
            "Resources": keep}


def delete_create_cycle(body):
    """Create, delete, create, delete the same stack name in moto; what is left after each step."""
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        logs = boto3.client("logs", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)

        def left():
            return {"log groups": sorted(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]),
                    "keys": len(kms.list_keys()["Keys"]),
                    "aliases": sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")),
                    "queues": sqs.list_queues().get("QueueUrls", []),
                    "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]]}

        states = []
        for _ in range(2):
            stack = cfn.create_stack(StackName="vpce-guard", TemplateBody=json.dumps(body))["StackId"]
            assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
            states.append(("created", left()))
            cfn.delete_stack(StackName=stack)
            assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
            states.append(("deleted", left()))
        return states


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_delete_then_create_again_succeeds_and_keeps_the_audit_trail():
    """The documented cycle (infra/README.md, "Delete and create again"), with every optional log
    group and the trail's bucket: a delete keeps the log groups, the key and the bucket and removes
    the queues and the alias; a create with the same stack name afterwards succeeds, next to them."""
    template = load_template()
    body = retained_part(template, Profiles="notebook-instances,studio", CreateTrail="true", CustomerManagedKey="true")
    (_, first), (_, after_delete), (_, second), (_, after_second_delete) = delete_create_cycle(body)
    groups = len(of_type(body["Resources"], "AWS::Logs::LogGroup"))
    assert groups == 4
    assert len(first["log groups"]) == groups and first["keys"] == 1 and first["aliases"] == ["alias/vpce-guard"]
    assert len(first["queues"]) == len(of_type(body["Resources"], "AWS::SQS::Queue"))
    assert after_delete == {"log groups": first["log groups"], "keys": 1, "aliases": [], "queues": [],
                            "buckets": first["buckets"]}
    assert len(second["log groups"]) == 2 * groups and second["keys"] == 2 and len(second["buckets"]) == 2
    assert set(first["log groups"]) < set(second["log groups"])
    assert len(after_second_delete["log groups"]) == 2 * groups and after_second_delete["queues"] == []


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_with_the_defaults_a_delete_keeps_the_log_groups_and_no_key():
    """AWS managed encryption (CustomerManagedKey=false, the default): no key and no alias to keep
    or to collide with; the log groups are kept and the next create succeeds next to them."""
    template = load_template()
    body = retained_part(template)
    assert not of_type(body["Resources"], "AWS::KMS::Key") and not of_type(body["Resources"], "AWS::KMS::Alias")
    (_, first), (_, after_delete), (_, second), _ = delete_create_cycle(body)
    assert len(first["log groups"]) == 3 and first["keys"] == 0 and first["aliases"] == []
    assert after_delete["log groups"] == first["log groups"] and after_delete["queues"] == []
    assert len(second["log groups"]) == 6 and second["keys"] == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_fixed_names_of_earlier_releases_fail_the_second_create():
    """The same cycle with the log group names of releases before issue 19 fails where a StackSet
    instance of a rejoining account failed: on the kept groups (so the test above can fail)."""
    template = copy.deepcopy(load_template())
    for name, group in of_type(template["Resources"], "AWS::Logs::LogGroup").items():
        function = name.replace("LogGroup", "Function")
        fixed = template["Resources"][function]["Properties"]["FunctionName"]["Fn::Sub"]
        group["Properties"]["LogGroupName"] = {"Fn::Sub": f"/aws/lambda/{fixed}"}
    with pytest.raises(Exception, match="already exists"):
        delete_create_cycle(retained_part(template))


# ------------------------------------------------------------------ item 2: central alerting creates reliably

@pytest.mark.parametrize("central", ["", CENTRAL_BUS])
@pytest.mark.parametrize("profiles", ["notebook-instances", "notebook-instances,studio"])
def test_success_destination_exactly_with_central_alerting(central, profiles):
    """Alerting off: no on-success destination at all (no key, not an empty string). On: this
    account's default bus."""
    resources = Deployed(load_template(), CentralEventBusArn=central, Profiles=profiles).resources()
    functions = of_type(resources, "AWS::Serverless::Function")
    configs = of_type(resources, "AWS::Lambda::EventInvokeConfig")
    assert sorted(c["Properties"]["FunctionName"]["Ref"] for c in configs.values()) == sorted(functions)
    for name, config in configs.items():
        destinations = config["Properties"]["DestinationConfig"]
        assert destinations["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}, name
        if central:
            assert destinations["OnSuccess"] == {"Destination": {"Fn::Sub": DEFAULT_BUS}}, name
        else:
            assert "OnSuccess" not in destinations, name
    for name, function in functions.items():
        assert "EventInvokeConfig" not in function["Properties"], f"{name}: SAM would add a second invoke config"


@pytest.mark.parametrize("profiles", ["notebook-instances", "notebook-instances,studio"])
def test_the_permission_exists_before_the_invoke_config_is_written(profiles):
    """Lambda checks the execution role's permission for a destination when the invoke config is
    written: each config depends (transitively) on the role of its function, and that role holds
    events:PutEvents on the default bus itself; no separate policy that nothing waits for."""
    resources = Deployed(load_template(), CentralEventBusArn=CENTRAL_BUS, Profiles=profiles).resources()
    for name, config in of_type(resources, "AWS::Lambda::EventInvokeConfig").items():
        function = resources[config["Properties"]["FunctionName"]["Ref"]]
        role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
        assert role_name in dependencies(resources, name), f"{name} does not wait for {role_name}"
        statements = [s for p in resources[role_name]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        grants = [s for s in statements if s.get("Action") == "events:PutEvents" and s.get("Effect") == "Allow"]
        assert [g["Resource"] for g in grants] == [{"Fn::Sub": DEFAULT_BUS}], f"{role_name}: {grants}"
        failure_queue = [s for s in statements if s.get("Action") == "sqs:SendMessage"]
        assert failure_queue and failure_queue[0]["Resource"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}, role_name
    for name, policy in resources.items():
        if policy["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            assert DEFAULT_BUS not in json.dumps(policy), f"{name}: the destination permission outside the roles"


def test_without_central_alerting_the_roles_cannot_put_events():
    resources = Deployed(load_template(), CentralEventBusArn="", Profiles="notebook-instances,studio").resources()
    assert "events:PutEvents" not in json.dumps(resources)


# ------------------------------------------------------------------ item 6: alarms that mean something

def alarms(template):
    return of_type(template["Resources"], "AWS::CloudWatch::Alarm")


def queue_metrics(alarm):
    props = alarm["Properties"]
    stats = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
    return [s for s in stats if s.get("Namespace") == "AWS/SQS"]


def test_every_queue_has_an_alarm_that_keeps_its_state_on_missing_data():
    """SQS publishes nothing for an inactive queue: an alarm reading that as notBreaching went OK
    while messages waited (SQS guide, "Available CloudWatch metrics for Amazon SQS")."""
    template = load_template()
    queue_alarms = {n: a for n, a in alarms(template).items() if queue_metrics(a)}
    watched = {d["Value"]["Fn::GetAtt"][0] for a in queue_alarms.values() for m in queue_metrics(a)
               for d in m["Dimensions"]}
    assert watched == set(of_type(template["Resources"], "AWS::SQS::Queue"))
    for name, alarm in queue_alarms.items():
        assert alarm["Properties"]["TreatMissingData"] == "ignore", name


def test_drift_backlog_reads_zero_for_an_empty_queue_and_nothing_for_an_idle_one():
    """The age metric is absent when the queue is empty: the alarm counts it only where the visible
    count says there are messages, so a drained queue reads 0 (OK) and an idle one keeps the state."""
    props = load_template()["Resources"]["DriftBacklogAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in props["Metrics"]}
    assert [m["Id"] for m in props["Metrics"] if m.get("ReturnData")] == ["backlog"]
    assert metrics["backlog"]["Expression"].replace(" ", "") == "IF(visible>0,age,0)"
    assert metrics["visible"]["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert metrics["age"]["MetricStat"]["Metric"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    visibility = load_template()["Resources"]["DriftQueue"]["Properties"]["VisibilityTimeout"]
    assert props["Threshold"] > visibility and props["ComparisonOperator"] == "GreaterThanThreshold"


def sweep_metric():
    """The metric a finished scheduled sweep always writes, as the functions define it."""
    source = (ROOT / "functions" / "guard" / "src" / "lambda.rs").read_text(encoding="utf-8")
    name = re.search(r'pub const SWEEP_METRIC: &str = "([A-Za-z]+)";', source).group(1)
    namespace = re.search(r'pub const METRICS_NAMESPACE: &str = "([A-Za-z]+)";', source).group(1)
    # Written for every report of a scheduled run that finished (Ok), whatever it found.
    assert re.search(r'filter\(\|r\| r\.trigger == "Scheduled"\)', source), "SWEEP_METRIC is no longer written per finished sweep"
    return namespace, name


def schedule_hours(expression):
    number, unit = re.fullmatch(r"rate\((\d+) (minutes?|hours?|days?)\)", expression).groups()
    return int(number) * {"minute": 1 / 60, "hour": 1, "day": 24}[unit.rstrip("s")]


def test_sweep_heartbeat_fires_when_no_sweep_finished_within_twice_the_schedule():
    template = load_template()
    namespace, metric = sweep_metric()
    props = template["Resources"]["SweepHeartbeatAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "RemediateFunction"}}]
    # each hour without a sweep record breaches; all of them must
    assert props["Statistic"] == "SampleCount" and props["Threshold"] == 1 and props["ComparisonOperator"] == "LessThanThreshold"
    assert props["TreatMissingData"] == "breaching"
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "SweepHeartbeatHours"}
    hours = template["Parameters"]["SweepHeartbeatHours"]
    default_window = props["Period"] * hours["Default"]
    assert default_window == 2 * schedule_hours(template["Parameters"]["SweepSchedule"]["Default"]) * 3600
    # PutMetricAlarm: Period x EvaluationPeriods <= 7 days for periods of an hour or more
    assert props["Period"] >= 3600 and props["Period"] * hours["MaxValue"] <= 604800
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}] and props["OKActions"] == [{"Ref": "AlarmTopic"}]


def evaluate_rule_function(expression, parameters):
    """The rule functions the Rules sections use, as CloudFormation evaluates them."""
    if isinstance(expression, str):
        return expression
    if isinstance(expression, list):
        return [evaluate_rule_function(e, parameters) for e in expression]
    (function, argument), = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Not":
        return not evaluate_rule_function(argument[0], parameters)
    if function == "Fn::Contains":
        return evaluate_rule_function(argument[1], parameters) in evaluate_rule_function(argument[0], parameters)
    if function == "Fn::Equals":
        return evaluate_rule_function(argument[0], parameters) == evaluate_rule_function(argument[1], parameters)
    if function in ("Fn::And", "Fn::Or"):
        results = [evaluate_rule_function(a, parameters) for a in argument]
        return all(results) if function == "Fn::And" else any(results)
    raise ValueError(f"{function} is not a rule function evaluated here")


def refused(template, **given):
    """The AssertDescriptions of the assertions that fail for these parameters (defaults otherwise)."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    parameters.update(given)
    for name, value in given.items():
        pattern = template["Parameters"][name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), f"{name}={value!r} is refused by its AllowedPattern already"
    for name, spec in template["Parameters"].items():  # a CommaDelimitedList is a list of strings
        if spec["Type"] == "CommaDelimitedList" and isinstance(parameters[name], str):
            parameters[name] = parameters[name].split(",")
    failed = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not evaluate_rule_function(rule["RuleCondition"], parameters):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"] if not evaluate_rule_function(a["Assert"], parameters)]
    return failed


@pytest.mark.parametrize("path", [TEMPLATE, STACKSET], ids=["template", "stackset"])
def test_reserved_concurrency_below_3_is_refused_with_the_reason(path):
    template = load_template(path)
    # The StackSets' own parameters without a default (their rule wants the pilot apart from the rest).
    targets = {"PilotOrganizationalUnitId": "ou-abcd-11111111", "OrganizationalUnitIds": "ou-abcd-22222222"} if path == STACKSET else {}
    for value in ("", "3", "4", "10", "9999"):
        assert refused(template, ReservedConcurrency=value, **targets) == [], value
    for value in ("1", "2"):
        (message,) = refused(template, ReservedConcurrency=value, **targets)
        assert "at least 3" in message and "MaximumConcurrency" in message, message


def test_stackset_repeats_the_template_rules():
    """Every rule of the template, the same in infra/stackset.yaml; besides them, the StackSets' own."""
    stackset, template = load_template(STACKSET)["Rules"], load_template()["Rules"]
    assert {name: stackset.get(name) for name in template} == template
    assert set(stackset) - set(template) == {"PilotOuIsNotInTheRest"}


def test_the_floor_covers_the_queue_consumer_and_one_more():
    """The 3 of the rule: remediate's event queue consumer's MaximumConcurrency (QueueConcurrency's
    default) plus the sweep."""
    template = load_template()
    remediate = template["Resources"]["RemediateFunction"]["Properties"]
    deployed = Deployed(template)
    consumers = [int(deployed.value(e["Properties"]["ScalingConfig"]["MaximumConcurrency"]))
                 for e in remediate["Events"].values() if e["Type"] == "SQS"]
    floor = sum(consumers) + 1
    assert floor == 3
    assert refused(template, ReservedConcurrency=str(floor - 1)) and not refused(template, ReservedConcurrency=str(floor))


# ------------------------------------------------------------------ item 8: a fixed cost that is small
#
# infra/README.md, "What a stack costs": AWS managed encryption unless CustomerManagedKey=true, the
# dashboard only with CreateDashboard=true (off in the StackSet), and alarms on the places every
# failure ends in, one alarm metric each (0.10 USD a month per metric, metric math included).

ALARM_METRICS_WITH_DEFAULTS = 8  # the cost table's figure


def alarm_metrics(alarm):
    """The metrics an alarm reads (what CloudWatch bills it by)."""
    props = alarm["Properties"]
    return 1 if "MetricName" in props else sum(1 for m in props.get("Metrics", []) if "MetricStat" in m)


def kms_grants(resources):
    """Every identity-policy statement of the deployed resources that names a KMS action."""
    found = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", []) if isinstance(p, dict) and "PolicyDocument" in p]
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(props["PolicyDocument"])
        found += [st for d in documents for st in as_list(d["Statement"])
                  if any(str(a) == "*" or str(a).lower().startswith("kms:") for a in as_list(st.get("Action", [])))]
    return found


@pytest.mark.parametrize("profiles", ["notebook-instances", "notebook-instances,studio"])
def test_aws_managed_encryption_by_default(profiles):
    """No key, no alias, no KMS grant; SSE-SQS on every queue, CloudWatch Logs' default encryption,
    no KMS on the topic (CloudWatch alarms cannot publish to one under aws/sns)."""
    template = load_template()
    assert template["Parameters"]["CustomerManagedKey"]["Default"] == "false"
    resources = Deployed(template, Profiles=profiles).resources()
    assert not of_type(resources, "AWS::KMS::Key") and not of_type(resources, "AWS::KMS::Alias")
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
        assert "KmsMasterKeyId" not in queue["Properties"] and "KmsDataKeyReusePeriodSeconds" not in queue["Properties"], name
    for name, group in of_type(resources, "AWS::Logs::LogGroup").items():
        assert "KmsKeyId" not in group["Properties"], name
    for name, topic in of_type(resources, "AWS::SNS::Topic").items():
        assert "KmsMasterKeyId" not in topic["Properties"], name
    assert kms_grants(resources) == []
    assert template["Outputs"]["KeyArn"]["Condition"] == "CustomerKeyOn"


def test_with_the_customer_key_the_drift_queues_logs_and_topic_use_it():
    resources = Deployed(load_template(), CustomerManagedKey="true", Profiles="notebook-instances,studio").resources()
    assert set(of_type(resources, "AWS::KMS::Key")) == {"Key"} and set(of_type(resources, "AWS::KMS::Alias")) == {"KeyAlias"}
    queues = of_type(resources, "AWS::SQS::Queue")
    for name in ("DriftQueue", "DriftDeadLetterQueue"):
        assert queues[name]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}, name
        assert queues[name]["Properties"]["SqsManagedSseEnabled"] is False, name
    for name in set(queues) - {"DriftQueue", "DriftDeadLetterQueue"}:  # EventBridge and every role write these
        assert queues[name]["Properties"]["SqsManagedSseEnabled"] is True, name
    for name, group in of_type(resources, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}, name
    (topic,) = of_type(resources, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "Key"}
    assert sorted(g["Sid"] for g in kms_grants(resources)) == ["DecryptDriftQueue"]


def test_the_dashboard_only_when_asked_and_off_in_the_stackset():
    template = load_template()
    assert template["Parameters"]["CreateDashboard"]["Default"] == "true"
    assert load_template(STACKSET)["Parameters"]["CreateDashboard"]["Default"] == "false"
    assert template["Outputs"]["DashboardName"]["Condition"] == "CreateDashboardOn"
    assert set(of_type(Deployed(template).resources(), "AWS::CloudWatch::Dashboard")) == {"Dashboard"}
    assert not of_type(Deployed(template, CreateDashboard="false").resources(), "AWS::CloudWatch::Dashboard")
    # The StackSet rendering defaults it to false (scripts/publish-stackset.py keeps a StackSet's
    # parameters, so a new one takes the rendering's default): infra_checks.render sets it.
    render = (ROOT / "infra" / "tools" / "infra_checks.py").read_text(encoding="utf-8")
    assert 'rendered["Parameters"]["CreateDashboard"]["Default"] = "false"' in render


def queue_of(value):
    """The logical id of a queue named by Fn::GetAtt [Q, Arn|QueueName]."""
    return value["Fn::GetAtt"][0] if isinstance(value, dict) and "Fn::GetAtt" in value else None


@pytest.mark.parametrize("options", [{}, {"Profiles": "notebook-instances,studio", "CentralEventBusArn": CENTRAL_BUS}],
                         ids=["defaults", "every-function"])
def test_every_failure_ends_in_an_alarmed_place(options):
    """Fewer alarms, every failure mode still alarmed: each function's failed asynchronous
    invocations (after Lambda's retries) go to a queue with a depth alarm; every rule target's
    dead-letter queue has one; the SQS event source's queue has a backlog alarm and its dead-letter
    queue a depth alarm; the sweep has its heartbeat and its non-compliance alarm."""
    resources = Deployed(load_template(), **options).resources()
    depth_alarmed, backlog_alarmed = set(), set()
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values():
        for metric in queue_metrics(alarm):
            queue = queue_of(metric["Dimensions"][0]["Value"])
            if metric["MetricName"] == "ApproximateNumberOfMessagesVisible" and "Metrics" not in alarm["Properties"]:
                depth_alarmed.add(queue)
            if metric["MetricName"] == "ApproximateAgeOfOldestMessage":
                backlog_alarmed.add(queue)
    functions = of_type(resources, "AWS::Serverless::Function")
    configs = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert {c["Properties"]["FunctionName"]["Ref"] for c in configs} == set(functions)
    for config in configs:
        assert queue_of(config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]) in depth_alarmed
    for rule in of_type(resources, "AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            assert queue_of(target["DeadLetterConfig"]["Arn"]) in depth_alarmed
    for function in functions.values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = queue_of(event["Properties"]["Queue"])
                assert queue in backlog_alarmed
                assert queue_of(resources[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) in depth_alarmed
    sweep = [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
             if a["Properties"].get("MetricName") == "SweepVpcsNonCompliant"]
    assert sorted(p["ComparisonOperator"] for p in sweep) == ["GreaterThanThreshold", "LessThanThreshold"]


def test_alarm_metrics_are_the_cost_tables():
    """Each alarm metric is 0.10 USD a month per stack (a metric-math alarm pays for every metric it
    reads): a new alarm must go into infra/README.md's cost table, whatever the parameters."""
    for options in ({}, {"Profiles": "notebook-instances,studio", "CentralEventBusArn": CENTRAL_BUS,
                         "CustomerManagedKey": "true", "CreateTrail": "true", "NotebookPolicy": "vpc-notebooks"}):
        alarms_deployed = of_type(Deployed(load_template(), **options).resources(), "AWS::CloudWatch::Alarm")
        assert sum(alarm_metrics(a) for a in alarms_deployed.values()) == ALARM_METRICS_WITH_DEFAULTS, options
    readme = (ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    assert f"{ALARM_METRICS_WITH_DEFAULTS} alarm metrics" in readme


CREATION_RULES = ("NotebookCreatedRule", "SubnetCreatedRule", "DomainChangedRule")
CREATION_FUNCTIONS = ("NotebookCreatedFunction", "SubnetCreatedFunction", "DomainCreatedFunction")


def sqs_consumers(template):
    """(function, queue, properties) of every SQS event source: SAM SQS events and mappings."""
    resources = template["Resources"]
    found = [(name, queue_of(e["Properties"]["Queue"]), e["Properties"])
             for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
             for e in r["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]
    found += [(r["Properties"]["FunctionName"]["Ref"], queue_of(r["Properties"]["EventSourceArn"]), r["Properties"])
              for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    return found


def test_creation_events_travel_on_the_one_event_queue():
    """Issue 19, item 8: creation events travel on DriftQueue, the queue that carries drift events,
    so that one queue is polled and one backlog alarm watches it; there is no CreationQueue, and
    the creation functions consume no queue (invoked directly only)."""
    template = load_template()
    resources = template["Resources"]
    for name in CREATION_RULES:
        targets = resources[name]["Properties"]["Targets"]
        assert [queue_of(t["Arn"]) for t in targets] == ["DriftQueue"], name
        assert "RetryPolicy" in targets[0] and "DeadLetterConfig" in targets[0], name
    assert set(of_type(resources, "AWS::SQS::Queue")) == {"EventDeadLetterQueue", "FailureQueue", "DriftQueue", "DriftDeadLetterQueue"}
    assert "CreationQueue" not in TEMPLATE.read_text(encoding="utf-8")
    assert not [c for c in sqs_consumers(template) if c[0] in CREATION_FUNCTIONS]
    backlog = [n for n, a in alarms(template).items() for m in queue_metrics(a) if m["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert sorted(set(backlog)) == ["DriftBacklogAlarm"]


def test_the_event_queue_is_consumed_once_by_remediate_within_lambdas_limits():
    """One SQS event source on the event queue, remediate's: a visibility timeout of six times its
    timeout (Lambda guide, services-sqs-configure), partial batch responses, MaximumConcurrency the
    parameter QueueConcurrency (2 by default, Lambda's minimum, refused below it), no batching window
    by default (DriftBatchWindowSeconds 0: a creation event's first reconcile starts within seconds)
    and then at most 10 records a batch (a batch above 10 needs a window)."""
    template = load_template()
    resources = template["Resources"]
    consumers = [c for c in sqs_consumers(template) if c[1] == "DriftQueue"]
    assert [c[0] for c in consumers] == ["RemediateFunction"]
    (_, _, source), = consumers
    timeout = resources["RemediateFunction"]["Properties"].get("Timeout", template["Globals"]["Function"]["Timeout"])
    assert resources["DriftQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "QueueConcurrency"}
    for path in (TEMPLATE, STACKSET):
        parameters = load_template(path)["Parameters"]
        spec = parameters["QueueConcurrency"]
        assert (spec["Type"], spec["Default"], spec["MinValue"], spec["MaxValue"]) == ("Number", 2, 2, 1000), path
        assert "CreationQueueConcurrency" not in parameters, path
        assert parameters["DriftBatchWindowSeconds"]["Default"] == 0, path
    assert source["MaximumBatchingWindowInSeconds"] == {"Ref": "DriftBatchWindowSeconds"}
    deployed = Deployed(template).resolve(source)
    assert deployed["BatchSize"] <= 10
    for window in ("1", "300"):  # with a window Lambda takes up to 10,000 records; 100 here
        assert Deployed(template, DriftBatchWindowSeconds=window).resolve(source)["BatchSize"] == 100


# ------------------------------------------------------------------ issue 18, item 3: KMS pinned to its users
#
# The key policy and every role statement that grants a KMS action, evaluated as IAM would for the
# requests each user of the key makes (CloudWatch Logs for the log groups, EventBridge for the drift
# queue, CloudWatch alarms for the topic, the remediate role through SQS) and for the same requests
# from somewhere else. The intrinsics are rendered for one stack with fixed pseudo parameters; a
# generated name is <stack name>-<logical id>-<suffix>, as CloudFormation makes it.

import fnmatch  # noqa: E402

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
STACK_NAME = "StackSet-vpce-guard-5e0c8a4e-6f0b-4d7e-9c1a-0b8f3e2d7c61"
STACK_UUID_VALUE = "8a7b6c5d-1111-2222-3333-444455556666"
PSEUDO = {
    "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/{STACK_UUID_VALUE}",
}
# The parameter combinations that change who uses the key: the studio profile (on-domain-created's
# log group), central alerting (rules and destinations), the drift rules (vpc-notebooks), dry run
# (the write policies), the trail; and a NamePrefix other than the default.
# All with CustomerManagedKey=true: without it there is no key (below, issue 19 item 8).
KMS_COMBINATIONS = {name: {"CustomerManagedKey": "true", **parameters} for name, parameters in {
    "defaults": {},
    "studio": {"Profiles": "notebook-instances,studio"},
    "central-bus": {"CentralEventBusArn": CENTRAL_BUS},
    "everything": {"Profiles": "notebook-instances,studio", "CentralEventBusArn": CENTRAL_BUS,
                   "NotebookPolicy": "vpc-notebooks", "S3Gateway": "true", "SecurityHubFindings": "true",
                   "IamGuardrail": "vpce-guard-guardrail", "CreateTrail": "true", "AdoptExisting": "true"},
    "dry-run": {"Profiles": "notebook-instances,studio", "DryRun": "true"},
    "other-prefix": {"NamePrefix": "guard2", "Profiles": "studio"},
}.items()}


class Rendered:
    """A deployed template's values with Ref, Fn::Sub, Fn::GetAtt (Arn), Fn::Select and Fn::Split
    worked out for one stack."""

    def __init__(self, deployed):
        self.deployed = deployed
        self.resources = deployed.resources()

    def name(self, logical_id):
        resource = self.resources[logical_id]
        prop = NAME_PROPERTIES.get(resource["Type"])
        given = resource.get("Properties", {}).get(prop) if prop else None
        return self(given) if given is not None else f"{STACK_NAME}-{logical_id}-1A2B3C4D5E6F"

    def arn(self, logical_id):
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::Logs::LogGroup":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.name(logical_id)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name(logical_id)}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-{logical_id.lower()}"
        raise ValueError(f"no ARN rendered for {logical_id} ({kind})")

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.deployed.parameters:
            return self.deployed.parameters[name]
        return f"ref-of-{name}"

    def __call__(self, value, variables=None):
        variables = variables or {}
        if isinstance(value, list):
            return [self(v, variables) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            target, attribute = value["Fn::GetAtt"] if isinstance(value["Fn::GetAtt"], list) else value["Fn::GetAtt"].split(".", 1)
            assert attribute == "Arn", value
            return self.arn(target)
        if set(value) == {"Fn::Select"}:
            index, items = value["Fn::Select"]
            return self(items, variables)[int(index)]
        if set(value) == {"Fn::Split"}:
            separator, text = value["Fn::Split"]
            return self(text, variables).split(separator)
        if set(value) == {"Fn::Sub"}:
            text, own = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            own = {k: self(v) for k, v in own.items()}

            def one(match):
                name = match.group(1)
                if name in own:
                    return own[name]
                if "." in name:
                    return self({"Fn::GetAtt": name})
                return self.ref(name)
            return re.sub(r"\$\{([^!}][^}]*)\}", one, text)
        return {k: self(v, variables) for k, v in value.items()}


def iam_match(operator, pattern, value):
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "ArnEquals"):
        return value == pattern
    if base in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(value, pattern)
    raise ValueError(f"condition operator {operator} is not evaluated here")


def conditions_hold(condition, context):
    """IAM's rule: every operator and every key of a Condition must hold (AND); a key with several
    values holds when one of them matches (OR); a key absent from the request does not hold unless
    the operator ends in IfExists."""
    for operator, keys in (condition or {}).items():
        for key, patterns in keys.items():
            if key not in context:
                if not operator.endswith("IfExists"):
                    return False
                continue
            patterns = patterns if isinstance(patterns, list) else [patterns]
            if not any(iam_match(operator, p, context[key]) for p in patterns):
                return False
    return True


def as_list(value):
    return value if isinstance(value, list) else [value]


def action_matches(statement, action):
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(statement.get("Action", [])))


def key_policy(rendered):
    (key,) = of_type(rendered.resources, "AWS::KMS::Key").values()
    return rendered(key["Properties"]["KeyPolicy"]["Statement"])


def key_allows(statements, service, action, context):
    return any(s["Effect"] == "Allow" and service in as_list(s.get("Principal", {}).get("Service", []))
               and action_matches(s, action) and conditions_hold(s.get("Condition"), context) for s in statements)


def role_kms_statements(rendered):
    """Every identity-policy statement (roles' inline policies, managed policies, SAM Policies)
    that allows a KMS action, by where it is."""
    found = {}
    for name, resource in rendered.resources.items():
        props = resource.get("Properties", {})
        documents = [p.get("PolicyDocument", p) for p in props.get("Policies", []) if isinstance(p, dict)]
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") == "Allow" and any(
                        a == "*" or a.lower().startswith("kms:") for a in as_list(statement.get("Action", []))):
                    found.setdefault(name, []).append(rendered(statement))
    return found


def log_groups_of(rendered):
    return {name: rendered.arn(name) for name in of_type(rendered.resources, "AWS::Logs::LogGroup")}


def logs_context(arn):
    return {"kms:EncryptionContext:aws:logs:arn": arn}


@pytest.mark.parametrize("combination", KMS_COMBINATIONS)
def test_cloudwatch_logs_may_use_the_key_for_this_stacks_log_groups_only(combination):
    """CloudWatch Logs sends the log group's ARN as kms:EncryptionContext:aws:logs:arn: the key
    serves this stack's groups (also those kept after a NamePrefix change or the studio profile
    turned off, whose logs must stay readable), no other group of the account, region or Organization."""
    rendered = Rendered(Deployed(load_template(), **KMS_COMBINATIONS[combination]))
    statements = key_policy(rendered)
    service = f"logs.{REGION}.amazonaws.com"
    groups = log_groups_of(rendered)
    assert len(groups) == (4 if "studio" in rendered.deployed.parameters["Profiles"] else 3), groups
    kept = {  # an earlier NamePrefix's groups, and on-domain-created's from before the profile went off
        "old-prefix": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/vpce-guard-old-remediate-{STACK_UUID_VALUE}",
        "domain-kept": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{STACK_NAME}-DomainCreatedLogGroup-9Z8Y7X6W5V4U",
    }
    for name, arn in {**groups, **kept}.items():
        for action in ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:DescribeKey"):
            assert key_allows(statements, service, action, logs_context(arn)), f"{name} {action} {arn}"
    others = {
        "another function of the account": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/payroll",
        "another stack's vpce-guard group": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/vpce-guard-remediate-00000000-aaaa-bbbb-cccc-000000000000",
        "the same group in another account": groups["RemediateLogGroup"].replace(ACCOUNT, OTHER_ACCOUNT),
        "the same group in another region": groups["RemediateLogGroup"].replace(REGION, "eu-west-1"),
        "another stack's domain group": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:other-stack-DomainCreatedLogGroup-1A2B3C",
    }
    for what, arn in others.items():
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert not key_allows(statements, service, action, logs_context(arn)), f"{what}: {action} {arn}"
    assert not key_allows(statements, service, "kms:Decrypt", {}), "a request without the log group's context"


def sqs_context(arn):
    return {"kms:EncryptionContext:aws:sqs:arn": arn}


@pytest.mark.parametrize("combination", KMS_COMBINATIONS)
def test_eventbridge_may_use_the_key_for_this_accounts_queues_only(combination):
    """EventBridge encrypts for the event queue (GenerateDataKey, Decrypt); a request naming a queue
    of another account or region is refused. (Which rules may send is the queue policy's
    aws:SourceArn; the key policy cannot name the queue, which names the key.)"""
    rendered = Rendered(Deployed(load_template(), **KMS_COMBINATIONS[combination]))
    statements = key_policy(rendered)
    for queue in (rendered.arn("DriftQueue"),):
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert key_allows(statements, "events.amazonaws.com", action, sqs_context(queue)), action
            for other in (queue.replace(ACCOUNT, OTHER_ACCOUNT), queue.replace(REGION, "eu-west-1")):
                assert not key_allows(statements, "events.amazonaws.com", action, sqs_context(other)), f"{action} {other}"
        for action in ("kms:Encrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:PutKeyPolicy"):
            assert not key_allows(statements, "events.amazonaws.com", action, sqs_context(queue)), action


@pytest.mark.parametrize("combination", KMS_COMBINATIONS)
def test_cloudwatch_alarms_may_use_the_key_for_this_accounts_alarms_only(combination):
    rendered = Rendered(Deployed(load_template(), **KMS_COMBINATIONS[combination]))
    statements = key_policy(rendered)
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{rendered.deployed.parameters['NamePrefix']}-remediate-errors"
    own = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm}
    assert key_allows(statements, "cloudwatch.amazonaws.com", "kms:GenerateDataKey", own)
    assert key_allows(statements, "cloudwatch.amazonaws.com", "kms:Decrypt", own)
    foreign = {"aws:SourceAccount": OTHER_ACCOUNT, "aws:SourceArn": alarm.replace(ACCOUNT, OTHER_ACCOUNT)}
    assert not key_allows(statements, "cloudwatch.amazonaws.com", "kms:GenerateDataKey", foreign)
    assert not key_allows(statements, "cloudwatch.amazonaws.com", "kms:GenerateDataKey", {})


@pytest.mark.parametrize("combination", KMS_COMBINATIONS)
def test_every_key_policy_statement_is_pinned(combination):
    """No statement for a service without a condition; the only AWS principal is this account."""
    rendered = Rendered(Deployed(load_template(), **KMS_COMBINATIONS[combination]))
    services = set()
    for statement in key_policy(rendered):
        principal = statement["Principal"]
        if "AWS" in principal:
            assert as_list(principal["AWS"]) == [f"arn:aws:iam::{ACCOUNT}:root"], statement
            continue
        assert statement.get("Condition"), f"{statement.get('Sid')}: a service statement without a condition"
        services |= set(as_list(principal["Service"]))
    assert services == {"cloudwatch.amazonaws.com", f"logs.{REGION}.amazonaws.com", "events.amazonaws.com"}


@pytest.mark.parametrize("combination", KMS_COMBINATIONS)
def test_only_remediate_may_decrypt_and_only_the_event_queue_through_sqs(combination):
    """The event queue's consumer (remediate's event source mapping polls with its role) decrypts
    through SQS (kms:ViaService) for the event queue (the encryption context); not by calling KMS
    itself, not for another queue. No other role or policy grants a KMS action."""
    rendered = Rendered(Deployed(load_template(), **KMS_COMBINATIONS[combination]))
    grants = role_kms_statements(rendered)
    assert set(grants) == {"RemediateRole"}, grants
    key = rendered.arn("Key")
    via_sqs = {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    queue = rendered.arn("DriftQueue")

    def allows(action, resource, context):
        return any(action_matches(s, action) and resource in as_list(s["Resource"]) and conditions_hold(s.get("Condition"), context)
                   for s in grants["RemediateRole"])
    assert allows("kms:Decrypt", key, {**via_sqs, **sqs_context(queue)})
    assert not allows("kms:Decrypt", key, sqs_context(queue)), "a direct kms:Decrypt, not through SQS"
    assert not allows("kms:Decrypt", key, {"kms:ViaService": f"logs.{REGION}.amazonaws.com", **sqs_context(queue)})
    for other in (rendered.arn("DriftDeadLetterQueue"), f"arn:aws:sqs:{REGION}:{ACCOUNT}:payroll",
                  queue.replace(ACCOUNT, OTHER_ACCOUNT)):
        assert not allows("kms:Decrypt", key, {**via_sqs, **sqs_context(other)}), other
    for action in ("kms:GenerateDataKey", "kms:Encrypt", "kms:CreateGrant"):
        assert not allows(action, key, {**via_sqs, **sqs_context(queue)}), action


# ------------------------------------------------------------------ issue 18, item 6: a landing zone's conventions

BOUNDARY_ARN = "arn:aws:iam::111122223333:policy/landing-zone/LandingZoneBoundary"
# Every option that adds a role on: the central bus role, on-domain-created's role.
ALL_ROLES = {"CentralEventBusArn": CENTRAL_BUS, "Profiles": "notebook-instances,studio"}


def deployed_roles(**parameters):
    deployed = Deployed(load_template(), **parameters)
    roles = of_type(deployed.resources(), "AWS::IAM::Role")
    globals_function = deployed.resolve(deployed.template.get("Globals", {}).get("Function", {}))
    # The boundary as CloudFormation passes it: the parameter's value.
    for properties in [r["Properties"] for r in roles.values()] + [globals_function]:
        if "PermissionsBoundary" in properties:
            properties["PermissionsBoundary"] = deployed.value(properties["PermissionsBoundary"])
    return roles, globals_function


@pytest.mark.parametrize("options", [{}, ALL_ROLES], ids=["defaults", "every-role"])
def test_without_a_boundary_no_role_has_the_key_at_all(options):
    """PermissionsBoundaryArn empty (the default): the key is absent (AWS::NoValue), not empty,
    from every role and from SAM's Globals (CreateRole refuses an empty boundary ARN)."""
    roles, globals_function = deployed_roles(**options)
    assert len(roles) >= (5 if options else 3), sorted(roles)
    for name, resource in roles.items():
        assert "PermissionsBoundary" not in resource["Properties"], name
    assert "PermissionsBoundary" not in globals_function


@pytest.mark.parametrize("options", [{}, ALL_ROLES], ids=["defaults", "every-role"])
def test_with_a_boundary_every_role_has_it(options):
    roles, globals_function = deployed_roles(PermissionsBoundaryArn=BOUNDARY_ARN, **options)
    assert set(roles) >= {"NotebookCreatedRole", "SubnetCreatedRole", "RemediateRole"}
    if options:
        assert set(roles) >= {"DomainCreatedRole", "CentralBusRole"}
    for name, resource in roles.items():
        assert resource["Properties"].get("PermissionsBoundary") == BOUNDARY_ARN, name
    assert globals_function.get("PermissionsBoundary") == BOUNDARY_ARN
    # Every SAM function names a role of this template, so none gets a SAM-generated role instead.
    functions = of_type(Deployed(load_template(), **options).resources(), "AWS::Serverless::Function")
    for name, function in functions.items():
        assert references(function["Properties"]["Role"]) <= set(roles), name


@pytest.mark.parametrize("path", [TEMPLATE, STACKSET], ids=["template", "stackset"])
def test_the_boundary_parameter_takes_empty_or_a_policy_arn(path):
    spec = load_template(path)["Parameters"]["PermissionsBoundaryArn"]
    assert spec["Default"] == ""
    pattern = re.compile(spec["AllowedPattern"])
    for good in ("", BOUNDARY_ARN, "arn:aws:iam::111122223333:policy/Boundary",
                 "arn:aws:iam::aws:policy/PowerUserAccess", "arn:aws-us-gov:iam::111122223333:policy/a/b/B_1",
                 "arn:aws-cn:iam::111122223333:policy/Boundary"):
        assert pattern.fullmatch(good), good
    for bad in (" ", "Boundary", "arn:aws:iam::111122223333:role/Boundary", "arn:aws:iam::1111:policy/Boundary",
                "arn:aws:iam::111122223333:policy/", "arn:aws:iam::111122223333:policy/a b",
                "arn:aws:s3:::bucket", f"{BOUNDARY_ARN},{BOUNDARY_ARN}"):
        assert not pattern.fullmatch(bad), bad


def taggable_types():
    """The resource types whose CloudFormation schema has a Tags property (cfn-lint's copy of the
    registry schemas, us-east-1)."""
    import cfnlint.data.schemas.providers
    base = pathlib.Path(list(cfnlint.data.schemas.providers.__path__)[0])
    index = json.loads((base / "us-east-1.json").read_text(encoding="utf-8"))
    schemas = base.parent / "resources"

    def taggable(kind):
        schema = json.loads((schemas / f"{index[kind]}.json").read_text(encoding="utf-8"))
        return "Tags" in schema["properties"]
    return taggable


def has_managed_tag(properties):
    tags = properties.get("Tags")
    if isinstance(tags, dict):
        return tags.get("vpce-guard:managed") == "true"
    return any(t.get("Key") == "vpce-guard:managed" and t.get("Value") == "true" for t in tags or [])


def test_every_taggable_resource_carries_the_managed_tag_and_the_others_are_documented():
    """Every resource whose type CloudFormation can tag has vpce-guard:managed=true (SAM functions
    through Globals); every type it cannot tag is named in infra/README.md's landing zone section.
    All resources, whatever their condition."""
    template = load_template()
    taggable = taggable_types()
    globals_function = template["Globals"]["Function"]
    assert has_managed_tag(globals_function) and globals_function.get("PropagateTags") is True
    untaggable = set()
    for name, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            assert "Tags" not in resource["Properties"] or has_managed_tag(resource["Properties"]), name
        elif taggable(kind):
            assert has_managed_tag(resource["Properties"]), f"{name} ({kind}): no vpce-guard:managed=true"
        else:
            untaggable.add(kind)
    readme = (ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Landing zone conventions", 1)[1].split("\n## ", 1)[0]
    # The event source mapping SAM generates for the drift queue: taggable, but SAM passes no Tags.
    for kind in sorted(untaggable | {"AWS::Lambda::EventSourceMapping"}):
        assert f"`{kind}`" in section, f"{kind} is not listed in infra/README.md"


# ------------------------------------------------------------------ item 10: a template people can read

TEMPLATE_LINES_AT_MOST = 1400


def test_the_template_stays_readable_in_length():
    """The same features in at most 1,400 lines (issue 19, item 10): what the functions share in
    Globals, the reads in one shared policy, and short comments that point to infra/README.md. A
    feature that needs more must make room (infra/README.md, "Changing the template")."""
    lines = TEMPLATE.read_text(encoding="utf-8").count("\n")
    assert lines <= TEMPLATE_LINES_AT_MOST, f"infra/template.yaml has {lines} lines, more than {TEMPLATE_LINES_AT_MOST}"


def test_functions_take_the_shared_settings_from_globals():
    """A function sets only what differs from Globals (name, description, code, role, log group;
    remediate its timeout and its queue), so that a shared setting is changed in one place."""
    template = load_template()
    shared = set(template["Globals"]["Function"])
    for name, function in of_type(template["Resources"], "AWS::Serverless::Function").items():
        own = set(function["Properties"]) & shared - {"LoggingConfig"}
        assert own <= {"Timeout"}, f"{name} repeats Globals: {sorted(own)}"
        assert set(function["Properties"]["LoggingConfig"]) == {"LogGroup"}, name
