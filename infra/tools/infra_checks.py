#!/usr/bin/env python3
"""Helpers of scripts/validate-infra.sh and of the StackSet packaging (run with .venv-infra's python).

Subcommands:
  to-json TEMPLATE OUT            the template as JSON, short tags (!Ref, !Sub ...) in long form
  render  TEMPLATE OUT [--artifacts DIR] [--key-prefix P]
                                  the SAM template expanded into plain CloudFormation for a
                                  service-managed StackSet (whose default execution role cannot run
                                  transforms); function code comes from the bucket
                                  "<ArtifactBucketPrefix>-<region>". With a built template
                                  (.aws-sam/build/template.yaml) and --artifacts, the functions'
                                  build folders are zipped into DIR under content-hashed keys.
  break   MUTATION TEMPLATE OUT   a deliberately broken copy that the guard rule of MUTATION must
                                  reject (negative tests of infra/rules/*.guard): of TEMPLATE, of
                                  its StackSet rendering, or of code-buckets.yaml or stackset.yaml
                                  beside it (the release rules)
  break-all TEMPLATE DIR          every broken copy, as DIR/<mutation>.json; prints "<mutation> <rule>"
  rules                           the mutations that `break` knows, the rule each must fail and
                                  the template each breaks
  params  STACKSET RENDERED       checks that the StackSet template forwards every parameter of the
                                  rendered template with the same default and allowed values
"""

import argparse
import copy
import hashlib
import io
import json
import os
import sys
import zipfile

from samcli.yamlhelper import yaml_parse

ARTIFACT_PARAMETER = "ArtifactBucketPrefix"


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


def dump(template, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(template, f, indent=1)
        f.write("\n")


def resources_of(template, *types):
    return [(name, r) for name, r in template["Resources"].items() if r.get("Type") in types]


# ------------------------------------------------------------------------------------------- render


def zip_folder(folder):
    """A deterministic zip of a build folder (fixed timestamps, executable bootstrap)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for base, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(base, name)
                info = zipfile.ZipInfo(os.path.relpath(path, folder), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    archive.writestr(info, f.read())
    return buffer.getvalue()


class NoManagedPolicies:
    """The template names no AWS managed policies, so the transform needs no IAM lookup."""

    def load(self):
        return {}


# Where the rendering's functions load their code: the bucket of their region, the key, and an
# exact object version. The versions differ per region (S3 gives each bucket its own), and only
# scripts/publish-stackset.py knows them: it replaces the key and version by Fn::FindInMap of the
# region in a mapping of what it uploaded (or signed) in every region. Until then the version is
# UNPUBLISHED, which no object has, so that an unpublished rendering cannot deploy (Lambda refuses
# the code) instead of loading whatever object is latest under a key.
UNPUBLISHED = "unpublished"


def render_template(path, key_prefix="vpce-guard", artifacts=None):
    """TEMPLATE (SAM) as plain CloudFormation for a service-managed StackSet, as a dict."""
    from samtranslator.translator.transform import transform

    template = load(path)
    base = os.path.dirname(os.path.abspath(path))
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
    keys = {}
    for name, function in resources_of(template, "AWS::Serverless::Function"):
        binary = function.get("Metadata", {}).get("BuildProperties", {}).get("Binary", name)
        key = f"{key_prefix}/{binary}-unbuilt.zip"
        if artifacts:
            folder = os.path.join(base, function["Properties"]["CodeUri"])
            if not os.path.isfile(os.path.join(folder, "bootstrap")):
                sys.exit(f"{folder} holds no bootstrap: run `sam build -t infra/template.yaml` first")
            data = zip_folder(folder)
            key = f"{key_prefix}/{binary}-{hashlib.sha256(data).hexdigest()[:16]}.zip"
            with open(os.path.join(artifacts, os.path.basename(key)), "wb") as f:
                f.write(data)
        keys[name] = key
        function["Properties"]["CodeUri"] = {"Bucket": "artifact-bucket-placeholder", "Key": key}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The transform would substitute the region and partition it runs in for ${AWS::Region} and
    # ${AWS::Partition} where it resolves intrinsics itself (EventInvokeConfig destinations), baking
    # one region into a template that every region deploys. Values in the form of CloudFormation's
    # internal placeholders are left unresolved by the translator (samtranslator.intrinsics.actions.
    # _get_parameter_value), so the pseudo parameters stay for CloudFormation to fill.
    unresolved = {name: "{{IntrinsicFunction:vpce-guard/%s}}" % name for name in ("AWS::Region", "AWS::Partition")}
    rendered = transform(template, unresolved, NoManagedPolicies(), passthrough_metadata=True)
    baked = [name for name, value in unresolved.items() if value in json.dumps(rendered)]
    if baked:
        sys.exit(f"the rendering holds unresolved placeholders of {baked}")
    for logical_id, function in resources_of(rendered, "AWS::Lambda::Function"):
        function["Properties"]["Code"] = {
            "S3Bucket": {"Fn::Sub": "${%s}-${AWS::Region}" % ARTIFACT_PARAMETER},
            "S3Key": keys[logical_id],
            "S3ObjectVersion": UNPUBLISHED,
        }
        # Build hints are for `sam build` only.
        metadata = function.get("Metadata", {})
        for key in ("BuildMethod", "BuildProperties", "SamResourceId"):
            metadata.pop(key, None)
        if not metadata:
            function.pop("Metadata", None)
    rendered["Parameters"][ARTIFACT_PARAMETER] = {
        "Type": "String",
        "Description": "Code buckets are <this>-<region>, one in every target region, readable by the organization",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$",
    }
    rendered["Description"] = rendered["Description"] + " (rendered for StackSets: no transform)"
    # An Organization watches one central dashboard (infra/README.md, "A central dashboard"), not one
    # per account and region at 3 USD a month each: off by default in the StackSet rendering, so
    # that both release paths (infra/stackset.yaml and scripts/publish-stackset.py, which keeps a
    # StackSet's parameters and so takes the rendering's default for a new one) leave it off.
    rendered["Parameters"]["CreateDashboard"]["Default"] = "false"
    return rendered


def render(args):
    rendered = render_template(args.template, args.key_prefix, args.artifacts)
    dump(rendered, args.out)
    for _, function in resources_of(rendered, "AWS::Lambda::Function"):
        print(f"code: s3://<{ARTIFACT_PARAMETER}>-<region>/{function['Properties']['Code']['S3Key']} "
              "(object version: set by scripts/publish-stackset.py)")


# ------------------------------------------------------------------------------------------- break


def first(template, *types):
    found = resources_of(template, *types)
    if not found:
        sys.exit(f"no resource of type {types} to break")
    return found[0][1]["Properties"]


def break_rule_dead_letter(t):
    first(t, "AWS::Events::Rule")["Targets"][0].pop("DeadLetterConfig")


def break_rule_retry(t):
    first(t, "AWS::Events::Rule")["Targets"][0].pop("RetryPolicy")


def break_sam_event_dead_letter(t):
    function = first(t, "AWS::Serverless::Function")
    function.setdefault("Events", {})["Unguarded"] = {
        "Type": "EventBridgeRule",
        "Properties": {"Pattern": {"source": ["aws.ec2"]}},
    }


def break_failed_calls(t):
    first(t, "AWS::Events::Rule")["EventPattern"]["detail"].pop("errorCode")


def break_write_on_star_string(t):
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:CreateVpcEndpoint", "Resource": "*"}
    )


def break_write_on_star_list(t):
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcs", "ec2:ModifyVpcAttribute"], "Resource": ["*"]}
    )


def break_write_wildcard_action(t):
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})


def break_not_action(t):
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:ec2:*:*:vpc/*"}
    )


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements_allowing(t, action):
    """Every Allow statement of the template's managed policies and roles that names `action`."""
    found = []
    for _, policy in resources_of(t, "AWS::IAM::ManagedPolicy"):
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for _, role in resources_of(t, "AWS::IAM::Role"):
        for inline in role["Properties"].get("Policies", []):
            found.extend(inline["PolicyDocument"]["Statement"])
    # A statement present under a condition (!If [cond, statement, AWS::NoValue]): its "on" branch.
    found = [s["Fn::If"][1] if isinstance(s, dict) and set(s) == {"Fn::If"} else s for s in found]
    found = [s for s in found if s.get("Effect") == "Allow" and action in as_list(s.get("Action"))]
    if not found:
        sys.exit(f"no statement allows {action} to break")
    return found


def break_guardrail_any_policy(t):
    # The guardrail's writes on every customer managed policy of the account instead of the one.
    for statement in statements_allowing(t, "iam:CreatePolicyVersion"):
        statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*"}


def break_guardrail_read_on_star(t):
    # A read, so iam_writes_not_on_star lets it pass; policy reads are scoped too.
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "iam:GetPolicyVersion", "Resource": "*"}
    )


def break_iam_wildcard_action(t):
    # iam:* covers iam:CreatePolicyVersion: on a role ARN it is still a policy write outside /vpce-guard/.
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "iam:*",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}}
    )


def break_revoke_any_group(t):
    # RevokeSecurityGroupIngress on every security group: the managed-tag condition dropped.
    for statement in statements_allowing(t, "ec2:RevokeSecurityGroupIngress"):
        statement.pop("Condition", None)


def break_modify_endpoint_any(t):
    # ModifyVpcEndpoint on every endpoint by default: the managed-tag condition dropped.
    for statement in statements_allowing(t, "ec2:ModifyVpcEndpoint"):
        if statement.get("Sid") == "ModifyManagedEndpointsOnly":
            statement["Condition"].pop("StringEqualsIgnoreCase", None)


def break_modify_endpoint_wildcard(t):
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:Modify*",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint/*"}}
    )


def break_adoption_unconditional(t):
    # The adoption policy deployed whatever AdoptExisting says.
    t["Resources"]["AdoptExistingWritePolicy"].pop("Condition", None)


def break_adoption_in_role(t):
    # The adoption statement moved into a role's inline policy, outside the opt-in.
    role = t["Resources"]["RemediateRole"]["Properties"]
    role.setdefault("Policies", []).append({"PolicyName": "adopt", "PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "ModifyEndpointsNotIgnored", "Effect": "Allow", "Action": "ec2:ModifyVpcEndpoint",
                       "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint/*"}}]}})


def prune_statement(t, sid):
    return next(s for s in t["Resources"]["PruneIdleWritePolicy"]["Properties"]["PolicyDocument"]["Statement"]
                if s.get("Sid") == sid)


def break_prune_unconditional(t):
    # The prune's deletes deployed whatever PruneIdleAfter says.
    t["Resources"]["PruneIdleWritePolicy"].pop("Condition", None)


def break_prune_delete_any_endpoint(t):
    # DeleteVpcEndpoints on every endpoint: the managed-tag condition dropped (the user's own ones too).
    prune_statement(t, "DeleteManagedEndpointsOfIdleVpcs")["Condition"].pop("StringEqualsIgnoreCase")


def break_prune_delete_any_group(t):
    # DeleteSecurityGroup on every group of the account.
    prune_statement(t, "DeleteManagedSecurityGroup").pop("Condition")


def break_prune_mark_any_endpoint(t):
    # The idle mark (and DeleteTags) on endpoints vpce-guard did not create.
    prune_statement(t, "MarkIdleManagedEndpoints")["Condition"].pop("StringEqualsIgnoreCase")


def break_prune_delete_in_role(t):
    # A delete statement in remediate's inline policy: outside the opt-in.
    role = t["Resources"]["RemediateRole"]["Properties"]
    role.setdefault("Policies", []).append({"PolicyName": "prune", "PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "DeleteManagedEndpointsOfIdleVpcs", "Effect": "Allow", "Action": "ec2:DeleteVpcEndpoints",
                       "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint/*"},
                       "Condition": {"StringEqualsIgnoreCase": {"aws:ResourceTag/vpce-guard:managed": "true"}}}]}})


def break_revoke_wildcard_action(t):
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:Revoke*",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/*"}}
    )


def break_architecture(t):
    first(t, "AWS::Serverless::Function", "AWS::Lambda::Function")["Architectures"] = ["x86_64"]


def break_runtime(t):
    first(t, "AWS::Serverless::Function", "AWS::Lambda::Function")["Runtime"] = "provided.al2"


def break_concurrency(t):
    # A fixed reservation: fails the stack where the account's concurrency quota is still 10.
    first(t, "AWS::Serverless::Function", "AWS::Lambda::Function")["ReservedConcurrentExecutions"] = 1


def break_globals_architecture(t):
    # Every function that does not name its own architecture on x86_64.
    t["Globals"]["Function"]["Architectures"] = ["x86_64"]


def break_globals_runtime(t):
    t["Globals"]["Function"]["Runtime"] = "provided.al2"


def break_globals_concurrency(t):
    t["Globals"]["Function"]["ReservedConcurrentExecutions"] = 1


def break_log_group_deleted(t):
    # The audit trail deleted with the stack.
    for _, group in resources_of(t, "AWS::Logs::LogGroup"):
        group.pop("DeletionPolicy", None)


def break_log_group_replaced(t):
    resources_of(t, "AWS::Logs::LogGroup")[0][1].pop("UpdateReplacePolicy")


def break_log_key_deleted(t):
    # The log groups kept but their key scheduled for deletion: the kept logs become unreadable.
    for _, key in resources_of(t, "AWS::KMS::Key"):
        key.pop("DeletionPolicy", None)
        key.pop("UpdateReplacePolicy", None)


def log_group(t, logical_id):
    return t["Resources"][logical_id]


def break_log_group_fixed_name(t):
    # The name of releases before issue 19: a kept copy makes every later create fail.
    log_group(t, "RemediateLogGroup")["Properties"]["LogGroupName"] = {"Fn::Sub": "/aws/lambda/${NamePrefix}-remediate"}


def break_log_group_name_not_stack_id(t):
    # A suffix, but one that the next stack shares (the stack's name is reused by a redeploy).
    log_group(t, "SubnetCreatedLogGroup")["Properties"]["LogGroupName"]["Fn::Sub"][1]["StackUuid"] = {
        "Ref": "AWS::StackName"}


def break_domain_log_group_fixed_name(t):
    log_group(t, "DomainCreatedLogGroup")["Properties"]["LogGroupName"] = {
        "Fn::Sub": "/aws/lambda/${NamePrefix}-on-domain-created"}


def break_domain_log_group_stack_id_name(t):
    # Unique per stack, but the studio profile turned off and on again meets the kept copy.
    log_group(t, "DomainCreatedLogGroup")["Properties"]["LogGroupName"] = {"Fn::Sub": [
        "/aws/lambda/${NamePrefix}-on-domain-created-${StackUuid}",
        {"StackUuid": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}}]}


def break_log_group_retained_on_rollback(t):
    # Retain: a rolled-back first create leaves the group, and the retry fails on it.
    log_group(t, "NotebookCreatedLogGroup")["DeletionPolicy"] = "Retain"


def break_log_key_retained_on_rollback(t):
    for _, key in resources_of(t, "AWS::KMS::Key"):
        key["DeletionPolicy"] = "Retain"


def break_queue_named(t):
    # A fixed queue name: refused for 60 s after the queue of a deleted or rolled-back stack.
    t["Resources"]["DriftDeadLetterQueue"]["Properties"]["QueueName"] = {"Fn::Sub": "${NamePrefix}-drift-dead-letters"}


def break_kept_bucket_named(t):
    first(t, "AWS::S3::Bucket")["BucketName"] = {"Fn::Sub": "${NamePrefix}-trail-${AWS::AccountId}"}


def break_kept_alias(t):
    for name, _ in resources_of(t, "AWS::KMS::Alias"):
        t["Resources"][name]["DeletionPolicy"] = "Retain"


def dns_attribute_statements(t):
    return statements_allowing(t, "ec2:ModifyVpcAttribute")


def break_modify_vpc_attribute_any(t):
    # ModifyVpcAttribute with only the opt-out tag condition: it may turn DNS off, or change any attribute.
    for statement in dns_attribute_statements(t):
        statement["Condition"] = {
            key: value for key, value in statement["Condition"].items() if not any(
                name.startswith("ec2:Attribute/") for name in value)
        }


def break_modify_vpc_attribute_if_exists(t):
    # The single-statement IfExists form: a request that sets neither DNS attribute (or another
    # attribute) has neither key, and IfExists treats an absent key as a match.
    for statement in dns_attribute_statements(t):
        condition = statement["Condition"]
        merged = {}
        for operator in [k for k in condition if k.startswith("StringEqualsIgnoreCase")]:
            merged.update(condition.pop(operator))
        condition["StringEqualsIgnoreCaseIfExists"] = merged


def break_modify_vpc_attribute_off(t):
    # Turning the attribute off instead of on.
    for statement in dns_attribute_statements(t):
        for operator, keys in statement["Condition"].items():
            if operator.startswith("StringEquals"):
                for name in keys:
                    if name.startswith("ec2:Attribute/"):
                        keys[name] = "false"


def break_modify_vpc_attribute_wildcard(t):
    # ec2:ModifyVpc* covers ModifyVpcAttribute: unconditioned on a VPC ARN.
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:ModifyVpc*",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/*"}}
    )


def drop_alarms(t, predicate):
    for name, alarm in resources_of(t, "AWS::CloudWatch::Alarm"):
        if predicate(alarm["Properties"]):
            del t["Resources"][name]


def break_queue_alarm(t):
    drop_alarms(t, lambda p: p.get("Namespace") == "AWS/SQS")


def break_non_compliant_alarm(t):
    drop_alarms(t, lambda p: p.get("MetricName") == "SweepVpcsNonCompliant")


def break_non_compliant_alarm_on_every_run(t):
    # The alarm watching the metric every run emits: a drift run reporting 0 would clear it.
    for _, alarm in resources_of(t, "AWS::CloudWatch::Alarm"):
        if alarm["Properties"].get("MetricName") == "SweepVpcsNonCompliant":
            alarm["Properties"]["MetricName"] = "VpcsNonCompliant"


def break_failure_queue_unalarmed(t):
    # The failure queue's alarm watching another queue: the alarm count still matches the queues.
    dimension = t["Resources"]["FailureQueueAlarm"]["Properties"]["Dimensions"][0]
    dimension["Value"] = {"Fn::GetAtt": ["DriftQueue", "QueueName"]}


def break_failure_destination_elsewhere(t):
    invoke_configs(t)[0]["DestinationConfig"]["OnFailure"]["Destination"] = {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}


def break_dashboard_unconditional(t):
    # 3 USD a month in every account and region of a StackSet.
    for name, _ in resources_of(t, "AWS::CloudWatch::Dashboard"):
        t["Resources"][name].pop("Condition")


def break_queue_alarm_not_breaching(t):
    # The old treatment: an idle dead-letter queue publishes nothing, and the alarm went OK.
    t["Resources"]["EventDeadLetterAlarm"]["Properties"]["TreatMissingData"] = "notBreaching"


def break_drift_backlog_not_breaching(t):
    for alarm in drift_backlog_alarms(t):
        alarm["TreatMissingData"] = "notBreaching"


def sweep_heartbeat_alarms(t):
    found = [name for name, a in resources_of(t, "AWS::CloudWatch::Alarm")
             if a["Properties"].get("MetricName") == "SweepVpcsNonCompliant"
             and a["Properties"].get("ComparisonOperator") == "LessThanThreshold"]
    if not found:
        sys.exit("no sweep heartbeat alarm to break")
    return found


def break_no_sweep_heartbeat(t):
    for name in sweep_heartbeat_alarms(t):
        del t["Resources"][name]


def break_sweep_heartbeat_missing_not_breaching(t):
    # Missing data not breaching: a sweep that never runs leaves the heartbeat OK.
    for name in sweep_heartbeat_alarms(t):
        t["Resources"][name]["Properties"]["TreatMissingData"] = "notBreaching"


def break_sweep_heartbeat_on_value(t):
    # The maximum of the value instead of the count of records: 0 non-compliant VPCs read as no sweep.
    for name in sweep_heartbeat_alarms(t):
        t["Resources"][name]["Properties"]["Statistic"] = "Maximum"


def break_alarm_actions(t):
    first(t, "AWS::CloudWatch::Alarm").pop("AlarmActions")


def break_failure_destination(t):
    first(t, "AWS::Lambda::EventInvokeConfig")["DestinationConfig"].pop("OnFailure")


def invoke_configs(t):
    found = [r["Properties"] for _, r in resources_of(t, "AWS::Lambda::EventInvokeConfig")]
    if not found:
        sys.exit("no EventInvokeConfig to break")
    return found


def break_empty_success_destination(t):
    # The form SAM's EventInvokeConfig property needed: an empty-string destination when alerting is off.
    for config in invoke_configs(t):
        config["DestinationConfig"]["OnSuccess"] = {"Destination": {"Fn::If": [
            "CentralAlertingOn",
            {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}, ""]}}


def break_unconditional_success_destination(t):
    config = invoke_configs(t)[0]
    config["DestinationConfig"]["OnSuccess"] = config["DestinationConfig"]["OnSuccess"]["Fn::If"][1]


def default_bus_statements(t):
    found = [s for s in statements_allowing(t, "events:PutEvents")
             if s["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}]
    if not found:
        sys.exit("no default-bus statement to break")
    return found


def break_success_permission_in_managed_policy(t):
    # The permission back in a managed policy of its own, which no invoke config waits for.
    statement = copy.deepcopy(default_bus_statements(t)[0])
    for _, role in resources_of(t, "AWS::IAM::Role"):
        for inline in role["Properties"].get("Policies", []):
            inline["PolicyDocument"]["Statement"] = [
                s for s in inline["PolicyDocument"]["Statement"] if not (isinstance(s, dict) and "Fn::If" in s)]
    roles = [{"Ref": name} for name, role in resources_of(t, "AWS::IAM::Role")
             if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
             and "Condition" not in role]
    t["Resources"]["SuccessDestinationPolicy"] = {
        "Type": "AWS::IAM::ManagedPolicy", "Condition": "CentralAlertingOn",
        "Properties": {"Roles": roles, "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}}


def break_success_destination_any_bus(t):
    for statement in default_bus_statements(t):
        statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/*"}


def break_conditional_write_on_star(t):
    # Another grant hidden in an Fn::If, where the IAM rules that read plain statements do not look.
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Fn::If": ["CentralAlertingOn", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, {"Ref": "AWS::NoValue"}]})


def break_queue_encryption(t):
    first(t, "AWS::SQS::Queue").pop("SqsManagedSseEnabled")


def break_topic_encryption(t):
    first(t, "AWS::SNS::Topic").pop("KmsMasterKeyId")


def break_log_retention(t):
    first(t, "AWS::Logs::LogGroup").pop("RetentionInDays")


def break_bucket_public_access(t):
    first(t, "AWS::S3::Bucket")["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False


CREATION_EVENTS = {"CreateNotebookInstance", "CreateSubnet", "CreateDomain", "UpdateDomain"}


def drift_rules(t):
    """The CloudTrail rules other than the creation rules: the drift rules."""
    found = [r["Properties"] for _, r in resources_of(t, "AWS::Events::Rule")
             if "AWS API Call via CloudTrail" in r["Properties"].get("EventPattern", {}).get("detail-type", [])
             and not CREATION_EVENTS & set(r["Properties"]["EventPattern"]["detail"]["eventName"])]
    if not found:
        sys.exit("no drift rule to break")
    return found


def break_drift_rule_own_calls(t):
    # vpce-guard's own ModifyVpcEndpoint / RevokeSecurityGroupIngress calls come back as drift.
    drift_rules(t)[0]["EventPattern"]["detail"].pop("userIdentity")


def break_drift_rule_anything_but_only(t):
    # anything-but alone: events without a session issuer (IAM users, root, AWS services) never match.
    for rule in drift_rules(t):
        identity = rule["EventPattern"]["detail"]["userIdentity"]
        identity.update(identity.pop("$or")[0])


def break_drift_rule_one_role_missing(t):
    for rule in drift_rules(t):
        branch = rule["EventPattern"]["detail"]["userIdentity"]["$or"][0]
        excluded = branch["sessionContext"]["sessionIssuer"]["arn"][0]["anything-but"]
        excluded[:] = [arn for arn in excluded if arn != {"Fn::GetAtt": ["RemediateRole", "Arn"]}]


def break_drift_rule_domain_role_missing(t):
    # on-domain-created's own calls (studio profile) come back as drift.
    for rule in drift_rules(t):
        branch = rule["EventPattern"]["detail"]["userIdentity"]["$or"][0]
        excluded = branch["sessionContext"]["sessionIssuer"]["arn"][0]["anything-but"]
        excluded[:] = [arn for arn in excluded if "DomainCreatedRole" not in json.dumps(arn)]


def break_drift_rule_to_function(t):
    # Straight to the function again: no batching, one invocation per event.
    drift_rules(t)[0]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["RemediateFunction", "Arn"]}


def break_drift_queue_sse_sqs(t):
    # Encrypted, but with SSE-SQS instead of the stack's key (data_encrypted_and_private still passes).
    queue = t["Resources"]["DriftQueue"]["Properties"]
    queue.pop("KmsMasterKeyId")
    queue["SqsManagedSseEnabled"] = True


def break_drift_queue_no_redrive(t):
    t["Resources"]["DriftQueue"]["Properties"].pop("RedrivePolicy")


def break_drift_queue_short_visibility(t):
    # Equal to the function timeout: a slow batch becomes visible again while it still runs.
    t["Resources"]["DriftQueue"]["Properties"]["VisibilityTimeout"] = 900


def drift_backlog_alarms(t):
    found = [a["Properties"] for _, a in resources_of(t, "AWS::CloudWatch::Alarm")
             if any(m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "ApproximateAgeOfOldestMessage"
                    and any(d.get("Value") in ({"Fn::GetAtt": ["DriftQueue", "QueueName"]}, {"Fn::GetAtt": "DriftQueue.QueueName"})
                            for d in m["MetricStat"]["Metric"].get("Dimensions", []))
                    for m in a["Properties"].get("Metrics", []))]
    if not found:
        sys.exit("no drift backlog alarm to break")
    return found


def break_drift_backlog_within_retry(t):
    # The old hour: below the 5,400 s visibility timeout, so every failed record raises the alarm.
    for alarm in drift_backlog_alarms(t):
        alarm["Threshold"] = 3600


def sqs_events(t):
    found = [e["Properties"] for _, f in resources_of(t, "AWS::Serverless::Function")
             for e in f["Properties"].get("Events", {}).values() if e.get("Type") == "SQS"]
    found += [m["Properties"] for _, m in resources_of(t, "AWS::Lambda::EventSourceMapping")]
    if not found:
        sys.exit("no SQS event source to break")
    return found


def break_drift_consumer_whole_batch(t):
    # Without partial batch responses one failed record sends the whole batch back.
    sqs_events(t)[0].pop("FunctionResponseTypes")


def break_drift_consumer_unbounded(t):
    sqs_events(t)[0].pop("ScalingConfig")


def event_queue_consumer(t):
    """remediate's SQS event on the event queue (the template), or the mapping SAM renders from it."""
    found = [e["Properties"] for e in t["Resources"].get("RemediateFunction", {}).get("Properties", {}).get("Events", {}).values()
             if e.get("Type") == "SQS"]
    found += [m["Properties"] for _, m in resources_of(t, "AWS::Lambda::EventSourceMapping")
              if m["Properties"].get("EventSourceArn") in ({"Fn::GetAtt": ["DriftQueue", "Arn"]}, {"Fn::GetAtt": "DriftQueue.Arn"})]
    if len(found) != 1:
        sys.exit(f"expected one event source of the event queue to break, found {len(found)}")
    return found[0]


def break_creation_rule_to_function(t):
    # Straight to the function again: one reconciler per event, however many arrive at once.
    t["Resources"]["SubnetCreatedRule"]["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["SubnetCreatedFunction", "Arn"]}


def break_creation_rule_to_second_queue(t):
    # A queue of its own again: a second queue polled (and billed) while idle, a second backlog alarm.
    t["Resources"]["CreationQueue"] = copy.deepcopy(t["Resources"]["DriftQueue"])
    t["Resources"]["NotebookCreatedRule"]["Properties"]["Targets"][0]["Arn"] = {"Fn::GetAtt": ["CreationQueue", "Arn"]}


def break_event_queue_plain(t):
    queue = t["Resources"]["DriftQueue"]["Properties"]
    queue.pop("KmsMasterKeyId")
    queue.pop("KmsDataKeyReusePeriodSeconds", None)
    queue.pop("SqsManagedSseEnabled", None)


def break_event_queue_named(t):
    t["Resources"]["DriftQueue"]["Properties"]["QueueName"] = {"Fn::Sub": "${NamePrefix}-events"}


def break_event_queue_no_redrive(t):
    t["Resources"]["DriftQueue"]["Properties"].pop("RedrivePolicy")


def break_event_queue_short_visibility(t):
    # The creation queue's 720 s (6 x on-subnet-created's 120 s): below 6 x remediate's 900 s.
    t["Resources"]["DriftQueue"]["Properties"]["VisibilityTimeout"] = 720


def break_event_consumer_whole_batch(t):
    event_queue_consumer(t).pop("FunctionResponseTypes")


def break_event_consumer_unbounded(t):
    event_queue_consumer(t).pop("ScalingConfig")


def break_event_consumer_concurrency_1(t):
    event_queue_consumer(t)["ScalingConfig"]["MaximumConcurrency"] = 1


def break_queue_concurrency_parameter_1(t):
    t["Parameters"]["QueueConcurrency"]["MinValue"] = 1
    t["Parameters"]["QueueConcurrency"]["Default"] = 1


def break_batch_window_default_60(t):
    # The drift queue's old default: every creation event waits a minute for its first reconcile.
    t["Parameters"]["DriftBatchWindowSeconds"]["Default"] = 60


def break_event_consumer_fixed_window(t):
    event_queue_consumer(t)["MaximumBatchingWindowInSeconds"] = 60


def break_event_consumer_batch_size_swapped(t):
    # 100 records when the window is 0 (Lambda refuses the mapping), 10 when there is one.
    event_queue_consumer(t)["BatchSize"] = {"Fn::If": ["DriftBatchWindowOff", 100, 10]}


def break_batch_window_condition_other_value(t):
    # The condition no longer means "no window": 100 records a batch with the window at 0.
    t["Conditions"]["DriftBatchWindowOff"] = {"Fn::Equals": [{"Ref": "DriftBatchWindowSeconds"}, "60"]}


def break_event_queue_second_sam_consumer(t):
    # on-subnet-created consumes the queue too (the creation queue's old consumer): whichever polls
    # first takes a message, so it would get drift events it cannot handle.
    event = copy.deepcopy(next(iter(t["Resources"]["RemediateFunction"]["Properties"]["Events"].values())))
    t["Resources"]["SubnetCreatedFunction"]["Properties"]["Events"] = {"EventQueue": event}


def break_event_queue_mapping_beside_sam_event(t):
    # The creation queue's old mapping, written out, pointed at the event queue.
    t["Resources"]["CreationQueueEventSource"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {"FunctionName": {"Ref": "SubnetCreatedFunction"}, "EventSourceArn": {"Fn::GetAtt": ["DriftQueue", "Arn"]},
                       "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                       "ScalingConfig": {"MaximumConcurrency": {"Ref": "QueueConcurrency"}}}}


def break_event_queue_consumer_not_remediate(t):
    # The SQS event moved to on-subnet-created: one consumer still, but not the one that takes drift.
    events = t["Resources"]["RemediateFunction"]["Properties"].pop("Events")
    t["Resources"]["SubnetCreatedFunction"]["Properties"]["Events"] = events


def rendered_event_queue_mappings(t):
    found = [(name, m) for name, m in resources_of(t, "AWS::Lambda::EventSourceMapping")
             if m["Properties"].get("EventSourceArn") == {"Fn::GetAtt": ["DriftQueue", "Arn"]}]
    if len(found) != 1:
        sys.exit(f"expected one rendered event source mapping of the event queue, found {len(found)}")
    return found[0]


def break_rendered_event_queue_two_mappings(t):
    name, mapping = rendered_event_queue_mappings(t)
    second = copy.deepcopy(mapping)
    second["Properties"]["FunctionName"] = {"Ref": "SubnetCreatedFunction"}
    t["Resources"][name + "Second"] = second


def break_rendered_event_consumer_not_remediate(t):
    rendered_event_queue_mappings(t)[1]["Properties"]["FunctionName"] = {"Ref": "SubnetCreatedFunction"}


def break_rendered_event_consumer_fixed_window(t):
    rendered_event_queue_mappings(t)[1]["Properties"]["MaximumBatchingWindowInSeconds"] = 60


def break_put_events_any_bus(t):
    for statement in statements_allowing(t, "events:PutEvents"):
        statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/*"}


def break_put_events_wildcard(t):
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "events:Put*",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/other"}}
    )


def break_central_target_without_role(t):
    targets = [target for _, r in resources_of(t, "AWS::Events::Rule") for target in r["Properties"]["Targets"]
               if target.get("Arn") == {"Ref": "CentralEventBusArn"}]
    if not targets:
        sys.exit("no target on the central bus to break")
    targets[0].pop("RoleArn")


def security_hub_policy(t):
    found = [r["Properties"] for _, r in resources_of(t, "AWS::IAM::ManagedPolicy")
             if any(str(a).lower().startswith("securityhub:")
                    for st in r["Properties"]["PolicyDocument"]["Statement"] for a in as_list(st.get("Action")))]
    if not found:
        sys.exit("no Security Hub policy to break")
    return found[0]


def break_security_hub_import_on_star(t):
    # BatchImportFindings into any product of any account (iam_writes_not_on_star rejects it too).
    for statement in statements_allowing(t, "securityhub:BatchImportFindings"):
        statement["Resource"] = "*"


def break_security_hub_any_product(t):
    # Any product of this account and region: a partner's product instead of the default one.
    for statement in statements_allowing(t, "securityhub:BatchImportFindings"):
        statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/*/*"}


def break_security_hub_wildcard_action(t):
    # securityhub:Get* covers GetFindings and much else (GetMembers, GetAdministratorAccount...).
    for statement in statements_allowing(t, "securityhub:GetFindings"):
        statement["Action"] = "securityhub:Get*"


def break_security_hub_unconditional(t):
    # The permissions granted whatever SecurityHubFindings says.
    for name, resource in resources_of(t, "AWS::IAM::ManagedPolicy"):
        if resource["Properties"] is security_hub_policy(t):
            resource.pop("Condition")


def break_security_hub_in_dry_run(t):
    # The condition on the parameter alone: a dry run's roles would get BatchImportFindings, a write.
    t["Conditions"]["SecurityHubFindingsOn"] = {"Fn::Equals": [{"Ref": "SecurityHubFindings"}, "true"]}


# ------------------------------------------------------------- the studio profile's own resources
# The generic mutations above break the first resource of a type; these break on-domain-created's
# function, rule, log group and alarm, so that the rules are shown to cover them too.


def studio_resource(t, name):
    resource = t["Resources"].get(name)
    if resource is None:
        sys.exit(f"no {name} to break")
    return resource


def break_domain_rule_dead_letter(t):
    studio_resource(t, "DomainChangedRule")["Properties"]["Targets"][0].pop("DeadLetterConfig")


def break_domain_rule_retry(t):
    studio_resource(t, "DomainChangedRule")["Properties"]["Targets"][0].pop("RetryPolicy")


def break_domain_rule_failed_calls(t):
    # Failed CreateDomain calls (errorCode set) would reach the function.
    studio_resource(t, "DomainChangedRule")["Properties"]["EventPattern"]["detail"].pop("errorCode")


def break_domain_function_architecture(t):
    studio_resource(t, "DomainCreatedFunction")["Properties"]["Architectures"] = ["x86_64"]


def break_domain_function_runtime(t):
    studio_resource(t, "DomainCreatedFunction")["Properties"]["Runtime"] = "provided.al2"


def break_domain_function_failure_destination(t):
    # on-domain-created without its invoke config: one function fewer with an on-failure destination.
    studio_resource(t, "DomainCreatedFunctionEventInvokeConfig")
    del t["Resources"]["DomainCreatedFunctionEventInvokeConfig"]


def break_domain_log_group_deleted(t):
    studio_resource(t, "DomainCreatedLogGroup").pop("DeletionPolicy")


def break_domain_log_group_replaced(t):
    studio_resource(t, "DomainCreatedLogGroup").pop("UpdateReplacePolicy")


def break_describe_domain_on_star(t):
    # A read, so iam_writes_not_on_star lets it pass: every domain of every account the role can see.
    for statement in statements_allowing(t, "sagemaker:DescribeDomain"):
        statement["Resource"] = "*"


def break_describe_domain_any_region(t):
    for statement in statements_allowing(t, "sagemaker:DescribeDomain"):
        statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:*:*:domain/*"}


def break_describe_domain_wildcard_action(t):
    # sagemaker:Describe* on "*" in a role's inline policy: DescribeDomain and every other Describe.
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sagemaker:Describe*", "Resource": "*"}
    )


def break_domain_reads_unconditional(t):
    # The domain reads granted whatever Profiles says.
    for statement in statements_allowing(t, "sagemaker:ListDomains"):
        for _, resource in resources_of(t, "AWS::IAM::ManagedPolicy"):
            if statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                resource.pop("Condition", None)


# ------------------------------------------------------------- the S3 gateway endpoint (S3Gateway=true)


def s3_gateway_statement(t, sid):
    policy = t["Resources"].get("S3GatewayWritePolicy")
    if policy is None:
        sys.exit("no S3GatewayWritePolicy to break")
    found = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
    if not found:
        sys.exit(f"no statement {sid} in S3GatewayWritePolicy to break")
    return found[0]


def route_table_arn(resource_type="route-table/*"):
    return {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:" + resource_type}


def break_s3_gateway_unconditional(t):
    # Route tables writable whatever S3Gateway, Profiles and DryRun say.
    t["Resources"]["S3GatewayWritePolicy"].pop("Condition")


def break_s3_gateway_in_dry_run(t):
    # The condition without WritesEnabled: a dry run's roles could attach route tables.
    t["Conditions"]["S3GatewayWrites"] = {"Fn::And": [
        {"Condition": "StudioProfile"}, {"Fn::Equals": [{"Ref": "S3Gateway"}, "true"]}]}


def break_s3_gateway_without_studio(t):
    # The condition without StudioProfile: the notebook-instances profile never looks at S3.
    t["Conditions"]["S3GatewayWrites"] = {"Fn::And": [
        {"Condition": "WritesEnabled"}, {"Fn::Equals": [{"Ref": "S3Gateway"}, "true"]}]}


def break_route_table_in_endpoint_policy(t):
    # Route tables next to the subnets of the interface endpoints: granted with every deployment.
    for statement in statements_allowing(t, "ec2:ModifyVpcEndpoint"):
        if statement.get("Sid") == "EndpointSubnets":
            statement["Resource"] = [statement["Resource"], route_table_arn()]


def break_route_table_in_role(t):
    role = first(t, "AWS::IAM::Role")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:ModifyVpcEndpoint", "Resource": route_table_arn()})


def break_route_table_any_ec2_resource(t):
    # Every EC2 resource type of the account and region, route tables included, in another policy.
    policy = first(t, "AWS::IAM::ManagedPolicy")
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "ec2:ModifyVpcEndpoint", "Resource": route_table_arn("*")})


def break_route_table_wildcard_action(t):
    # ec2:* on route tables: their routes created, replaced and deleted too.
    s3_gateway_statement(t, "S3GatewayRouteTables")["Action"] = "ec2:*"


def break_s3_gateway_any_service(t):
    statement = s3_gateway_statement(t, "CreateEndpointForS3Only")
    statement["Condition"]["StringEquals"].pop("ec2:VpceServiceName")
    statement["Condition"]["StringLike"] = {"ec2:VpceServiceName": "*"}


def break_s3_gateway_other_service(t):
    statement = s3_gateway_statement(t, "CreateEndpointForS3Only")
    statement["Condition"]["StringEquals"]["ec2:VpceServiceName"] = {"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"}


def break_s3_gateway_untagged(t):
    s3_gateway_statement(t, "CreateEndpointForS3Only")["Condition"]["StringEquals"].pop(
        "aws:RequestTag/vpce-guard:managed")


def break_s3_gateway_modify_ignored_endpoints(t):
    # Modify next to create, without ModifyManagedEndpointsOnly's conditions: endpoints tagged
    # vpce-guard:ignore=true become modifiable.
    s3_gateway_statement(t, "CreateEndpointForS3Only")["Action"] = ["ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint"]


def break_create_endpoint_any_service(t):
    # The configured-services condition dropped: an endpoint for any service.
    for statement in statements_allowing(t, "ec2:CreateVpcEndpoint"):
        if statement.get("Sid") == "CreateEndpointForConfiguredServices":
            statement["Condition"].pop("StringLike")


def break_no_dashboard(t):
    for name, _ in resources_of(t, "AWS::CloudWatch::Dashboard"):
        del t["Resources"][name]



def key_statement(t, predicate):
    """The key policy statement of the stack's KMS key that predicate picks (by its principal)."""
    for statement in first(t, "AWS::KMS::Key")["KeyPolicy"]["Statement"]:
        if predicate(statement.get("Principal", {})):
            return statement
    sys.exit("no such key policy statement to break")


def logs_principal(principal):
    service = principal.get("Service")
    return isinstance(service, dict) and str(service.get("Fn::Sub", "")).startswith("logs.")


def break_kms_logs_every_group(t):
    # The form before issue 18: every log group of the account and region.
    statement = key_statement(t, logs_principal)
    statement["Condition"] = {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}}}


def break_kms_logs_unconditional(t):
    key_statement(t, logs_principal).pop("Condition")


def break_kms_events_unpinned(t):
    # The form before issue 18: EventBridge may use the key for any queue of any account.
    key_statement(t, lambda p: p.get("Service") == "events.amazonaws.com").pop("Condition")


def break_kms_alarms_any_account(t):
    statement = key_statement(t, lambda p: p.get("Service") == "cloudwatch.amazonaws.com")
    statement["Condition"].pop("StringEquals")


def break_kms_new_service_unpinned(t):
    first(t, "AWS::KMS::Key")["KeyPolicy"]["Statement"].append({
        "Sid": "SnsUsesTheKey", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"})


def break_kms_other_account(t):
    first(t, "AWS::KMS::Key")["KeyPolicy"]["Statement"].append({
        "Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "kms:Decrypt", "Resource": "*"})


def kms_role_statements(t):
    """Every role statement that grants a KMS action; a conditional one's "on" branch."""
    statements = [s for _, role in resources_of(t, "AWS::IAM::Role") for p in role["Properties"].get("Policies", [])
                  for s in p["PolicyDocument"]["Statement"]]
    statements = [s["Fn::If"][1] if isinstance(s, dict) and set(s) == {"Fn::If"} else s for s in statements]
    found = [s for s in statements
             if isinstance(s, dict) and any(str(a).lower().startswith("kms:") for a in as_list(s.get("Action", [])))]
    if not found:
        sys.exit("no role statement with a KMS action to break")
    return found


def break_kms_role_direct(t):
    # kms:Decrypt callable by the function's own code, not only through SQS.
    for statement in kms_role_statements(t):
        statement["Condition"].pop("StringEquals")


def break_kms_role_any_queue(t):
    # The form before issue 18: the key's every use, for any queue.
    for statement in kms_role_statements(t):
        statement.pop("Condition")


def break_kms_managed_policy_unpinned(t):
    first(t, "AWS::IAM::ManagedPolicy")["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["Key", "Arn"]}})



# ---- the customer managed key only with CustomerManagedKey=true (issue 19, item 8)


def break_key_by_default(t):
    t["Parameters"]["CustomerManagedKey"]["Default"] = "true"


def break_key_unconditional(t):
    t["Resources"]["Key"].pop("Condition")


def break_alias_unconditional(t):
    t["Resources"]["KeyAlias"].pop("Condition")


def break_queue_key_unconditional(t):
    t["Resources"]["DriftQueue"]["Properties"]["KmsMasterKeyId"] = {"Fn::GetAtt": ["Key", "Arn"]}


def break_queue_no_sse_without_key(t):
    # The key off, the drift queue left to SQS's default instead of SSE-SQS said explicitly.
    t["Resources"]["DriftQueue"]["Properties"].pop("SqsManagedSseEnabled")


def break_log_group_key_unconditional(t):
    t["Resources"]["RemediateLogGroup"]["Properties"]["KmsKeyId"] = {"Fn::GetAtt": ["Key", "Arn"]}


def break_topic_key_unconditional(t):
    first(t, "AWS::SNS::Topic")["KmsMasterKeyId"] = {"Ref": "Key"}


def break_kms_grant_unconditional(t):
    # remediate's kms:Decrypt granted whatever CustomerManagedKey says (still pinned, so
    # kms_role_grants_pinned passes).
    for inline in role(t, "RemediateRole")["Policies"]:
        inline["PolicyDocument"]["Statement"] = [
            s["Fn::If"][1] if isinstance(s, dict) and set(s) == {"Fn::If"} and s["Fn::If"][0] == "CustomerKeyOn" else s
            for s in inline["PolicyDocument"]["Statement"]]


def break_conditional_grant_other_condition(t):
    # A grant hidden in an Fn::If on the key's condition.
    first(t, "AWS::IAM::Role")["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Fn::If": ["CustomerKeyOn", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, {"Ref": "AWS::NoValue"}]})


# ---- landing zone conventions (issue 18, item 6)
BOUNDARY = {"Fn::If": ["HasBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}


def role(t, name):
    return t["Resources"][name]["Properties"]


def break_role_without_boundary(t):
    role(t, "RemediateRole").pop("PermissionsBoundary")


def break_conditional_role_without_boundary(t):
    # A role that exists only with an option (the central bus role) is a role all the same.
    role(t, "CentralBusRole").pop("PermissionsBoundary")


def break_role_boundary_unconditional(t):
    # Empty parameter: CreateRole with an empty boundary ARN fails the stack.
    role(t, "NotebookCreatedRole")["PermissionsBoundary"] = {"Ref": "PermissionsBoundaryArn"}


def break_role_boundary_fixed_policy(t):
    role(t, "SubnetCreatedRole")["PermissionsBoundary"] = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/SomeOtherBoundary"}


def break_boundary_condition_always(t):
    t["Conditions"]["HasBoundary"] = {"Fn::Equals": ["x", "x"]}


def break_new_role_without_boundary(t):
    t["Resources"]["ExtraRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": copy.deepcopy(role(t, "RemediateRole")["AssumeRolePolicyDocument"]),
        "Tags": [{"Key": "vpce-guard:managed", "Value": "true"}]}}


def break_sam_boundary_not_global(t):
    t["Globals"]["Function"].pop("PermissionsBoundary")


def break_sam_function_boundary_override(t):
    t["Resources"]["RemediateFunction"]["Properties"]["PermissionsBoundary"] = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/SomeOtherBoundary"}


def break_sam_function_foreign_role(t):
    t["Resources"]["SubnetCreatedFunction"]["Properties"]["Role"] = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/made-elsewhere"}


def break_queue_untagged(t):
    t["Resources"]["DriftQueue"]["Properties"].pop("Tags")


def break_alarm_managed_false(t):
    for tag in t["Resources"]["SweepHeartbeatAlarm"]["Properties"]["Tags"]:
        if tag["Key"] == "vpce-guard:managed":
            tag["Value"] = "false"


def break_role_untagged(t):
    role(t, "DomainCreatedRole").pop("Tags")


def break_bucket_other_tag_only(t):
    t["Resources"]["TrailBucket"]["Properties"]["Tags"] = [{"Key": "team", "Value": "platform"}]


def break_new_resource_untagged(t):
    # A new resource of a type that can be tagged, without the tag: not exempt by default.
    t["Resources"]["ExtraTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Ref": "Key"}}}


def break_functions_untagged(t):
    t["Globals"]["Function"].pop("Tags")


def break_function_tag_override(t):
    t["Resources"]["NotebookCreatedFunction"]["Properties"]["Tags"] = {"vpce-guard:managed": "false"}


def break_functions_tags_not_propagated(t):
    t["Globals"]["Function"]["PropagateTags"] = False


# rule file stem -> (rule name that must FAIL, mutation); one rule may have several mutations.
# --- release (infra/rules/release.guard): the code bucket, pinned code versions, code signing, the
# staged rollout. These copies come from infra/code-buckets.yaml, infra/stackset.yaml or the
# StackSet rendering of the template where that is what the rule reads (RELEASE_SOURCES).


def code_bucket(t):
    return t["Resources"]["CodeBucket"]["Properties"]


def code_bucket_statement(t, sid):
    for statement in t["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        if statement.get("Sid") == sid:
            return statement
    sys.exit(f"no statement {sid} in CodeBucketPolicy")


def drop_code_bucket_statement(t, sid):
    document = t["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]


def break_code_bucket_unversioned(t):
    code_bucket(t)["VersioningConfiguration"]["Status"] = "Suspended"


def break_code_bucket_public_acls(t):
    code_bucket(t)["PublicAccessBlockConfiguration"]["BlockPublicAcls"] = False


def break_code_bucket_unencrypted(t):
    code_bucket(t).pop("BucketEncryption")


def break_code_bucket_acls_enabled(t):
    code_bucket(t)["OwnershipControls"]["Rules"][0]["ObjectOwnership"] = "ObjectWriter"


def break_code_bucket_no_policy(t):
    t["Resources"].pop("CodeBucketPolicy")


def break_code_bucket_plain_http(t):
    drop_code_bucket_statement(t, "TlsOnly")


def break_code_bucket_tls_objects_only(t):
    # Requests on the bucket itself (its listing, its policy) still accepted without TLS.
    code_bucket_statement(t, "TlsOnly")["Resource"] = {"Fn::Sub": "${CodeBucket.Arn}/*"}


def break_code_bucket_any_reader(t):
    # Principal "*" with no aws:PrincipalOrgID: every AWS account reads the code.
    code_bucket_statement(t, "OrganizationReadsCode").pop("Condition")


def break_code_bucket_org_writes(t):
    code_bucket_statement(t, "OrganizationReadsCode")["Action"] = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]


def break_code_bucket_org_lists(t):
    code_bucket_statement(t, "OrganizationReadsCode")["Action"] = "s3:*"


def break_code_bucket_anyone_writes(t):
    drop_code_bucket_statement(t, "OnlyTheReleaseRoleWrites")


def break_code_bucket_deletes_unguarded(t):
    # Only PutObject guarded: anyone allowed by their own policy may delete a pinned version.
    code_bucket_statement(t, "OnlyTheReleaseRoleWrites")["Action"] = ["s3:PutObject"]


def break_code_bucket_other_writer(t):
    code_bucket(t)  # the template has the bucket
    t["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].append({
        "Sid": "BuildRoleWrites", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/build"},
        "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${CodeBucket.Arn}/*"}})


def lambda_functions(t):
    found = resources_of(t, "AWS::Lambda::Function")
    if not found:
        sys.exit("no AWS::Lambda::Function to break")
    return [r["Properties"] for _, r in found]


def break_rendered_code_latest_version(t):
    # The key alone: a later object under the same key is what new stack instances load.
    lambda_functions(t)[-1]["Code"].pop("S3ObjectVersion")


def break_rendered_code_empty_version(t):
    lambda_functions(t)[0]["Code"]["S3ObjectVersion"] = ""


def break_sam_code_s3_uri(t):
    first(t, "AWS::Serverless::Function")["CodeUri"] = "s3://acme-vpce-guard-us-east-1/vpce-guard/remediate.zip"


def break_sam_code_without_version(t):
    first(t, "AWS::Serverless::Function")["CodeUri"] = {"Bucket": "acme-vpce-guard-us-east-1", "Key": "vpce-guard/remediate.zip"}


def break_sam_inline_code(t):
    function = first(t, "AWS::Serverless::Function")
    function.pop("CodeUri")
    function["InlineCode"] = "exit 0"


def break_function_without_code_signing(t):
    # The studio profile's function, deployed under a condition, without the configuration.
    t["Resources"]["DomainCreatedFunction"]["Properties"].pop("CodeSigningConfigArn")


def break_function_fixed_code_signing(t):
    first(t, "AWS::Serverless::Function")["CodeSigningConfigArn"] = (
        "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0123456789abcdef0")


def break_code_signing_always(t):
    # The condition true whatever the parameter: an empty ARN handed to Lambda, or the wrong flag.
    t["Conditions"]["HasCodeSigning"] = {"Fn::Equals": ["", ""]}


def break_code_signing_parameter_removed(t):
    t["Parameters"].pop("CodeSigningConfigArn")


def break_code_signing_global_overridden(t):
    # In Globals, with a function overriding it (here: with none at all when set).
    t["Globals"]["Function"]["CodeSigningConfigArn"] = {
        "Fn::If": ["HasCodeSigning", {"Ref": "CodeSigningConfigArn"}, {"Ref": "AWS::NoValue"}]}
    first(t, "AWS::Serverless::Function")["CodeSigningConfigArn"] = {"Ref": "AWS::NoValue"}


def break_rendered_function_without_code_signing(t):
    lambda_functions(t)[-1].pop("CodeSigningConfigArn")


def stack_set(t, name="StackSet"):
    return t["Resources"][name]


def break_stackset_strict_failure_tolerance(t):
    stack_set(t)["Properties"]["OperationPreferences"]["ConcurrencyMode"] = "STRICT_FAILURE_TOLERANCE"


def break_stackset_no_concurrency_mode(t):
    stack_set(t, "PilotStackSet")["Properties"]["OperationPreferences"].pop("ConcurrencyMode")


def break_stackset_percentages(t):
    preferences = stack_set(t)["Properties"]["OperationPreferences"]
    preferences.pop("FailureToleranceCount")
    preferences.pop("MaxConcurrentCount")
    preferences["FailureTolerancePercentage"] = 10
    preferences["MaxConcurrentPercentage"] = 25


def break_stackset_rest_with_pilot(t):
    # No DependsOn: CloudFormation updates both StackSets at once.
    stack_set(t).pop("DependsOn")


def break_stackset_pilot_tolerates_failures(t):
    stack_set(t, "PilotStackSet")["Properties"]["OperationPreferences"]["FailureToleranceCount"] = {"Ref": "FailureToleranceCount"}


def break_stackset_no_pilot(t):
    t["Resources"].pop("PilotStackSet")
    stack_set(t).pop("DependsOn")


def break_stackset_second_rest_unordered(t):
    # A further StackSet (another set of OUs) that does not wait for the pilot.
    extra = copy.deepcopy(stack_set(t))
    extra.pop("DependsOn")
    t["Resources"]["EuropeStackSet"] = extra


BREAKS = {
    "event-rule-dead-letter": ("event_rules_have_dead_letter_and_retry", break_rule_dead_letter),
    "event-rule-retry": ("event_rules_have_dead_letter_and_retry", break_rule_retry),
    "sam-event-dead-letter": ("sam_event_sources_have_dead_letter_and_retry", break_sam_event_dead_letter),
    "cloudtrail-failed-calls": ("cloudtrail_rules_ignore_failed_calls", break_failed_calls),
    "write-on-star": ("iam_writes_not_on_star", break_write_on_star_string),
    "write-on-star-list": ("iam_writes_not_on_star", break_write_on_star_list),
    "wildcard-action-on-star": ("iam_writes_not_on_star", break_write_wildcard_action),
    "not-action": ("iam_writes_not_on_star", break_not_action),
    "guardrail-any-policy": ("iam_policy_actions_on_vpce_guard_policies_only", break_guardrail_any_policy),
    "guardrail-read-on-star": ("iam_policy_actions_on_vpce_guard_policies_only", break_guardrail_read_on_star),
    "iam-wildcard-action": ("iam_policy_actions_on_vpce_guard_policies_only", break_iam_wildcard_action),
    "revoke-any-group": ("revoke_ingress_on_managed_groups_only", break_revoke_any_group),
    "revoke-wildcard-action": ("revoke_ingress_on_managed_groups_only", break_revoke_wildcard_action),
    "modify-endpoint-any": ("modify_endpoint_on_managed_endpoints_only", break_modify_endpoint_any),
    "modify-endpoint-wildcard": ("modify_endpoint_on_managed_endpoints_only", break_modify_endpoint_wildcard),
    "adoption-unconditional": ("modify_endpoint_on_managed_endpoints_only", break_adoption_unconditional),
    "adoption-in-role": ("modify_endpoint_on_managed_endpoints_only", break_adoption_in_role),
    "prune-unconditional": ("prune_writes_on_managed_resources_with_prune_idle_after_only", break_prune_unconditional),
    "prune-delete-any-endpoint": ("prune_writes_on_managed_resources_with_prune_idle_after_only", break_prune_delete_any_endpoint),
    "prune-delete-any-group": ("prune_writes_on_managed_resources_with_prune_idle_after_only", break_prune_delete_any_group),
    "prune-mark-any-endpoint": ("prune_writes_on_managed_resources_with_prune_idle_after_only", break_prune_mark_any_endpoint),
    "prune-delete-in-role": ("prune_writes_on_managed_resources_with_prune_idle_after_only", break_prune_delete_in_role),
    "modify-vpc-attribute-any": ("modify_vpc_attribute_turns_dns_on_only", break_modify_vpc_attribute_any),
    "modify-vpc-attribute-if-exists": ("modify_vpc_attribute_turns_dns_on_only", break_modify_vpc_attribute_if_exists),
    "modify-vpc-attribute-off": ("modify_vpc_attribute_turns_dns_on_only", break_modify_vpc_attribute_off),
    "modify-vpc-attribute-wildcard": ("modify_vpc_attribute_turns_dns_on_only", break_modify_vpc_attribute_wildcard),
    "x86-function": ("functions_arm64_al2023_no_fixed_reservation", break_architecture),
    "al2-function": ("functions_arm64_al2023_no_fixed_reservation", break_runtime),
    "fixed-reservation": ("functions_arm64_al2023_no_fixed_reservation", break_concurrency),
    "x86-globals": ("functions_arm64_al2023_no_fixed_reservation", break_globals_architecture),
    "al2-globals": ("functions_arm64_al2023_no_fixed_reservation", break_globals_runtime),
    "fixed-reservation-globals": ("functions_arm64_al2023_no_fixed_reservation", break_globals_concurrency),
    "no-queue-alarm": ("alarms_cover_queues_errors_and_compliance", break_queue_alarm),
    "failure-queue-unalarmed": ("alarms_cover_queues_errors_and_compliance", break_failure_queue_unalarmed),
    "failure-destination-elsewhere": ("alarms_cover_queues_errors_and_compliance", break_failure_destination_elsewhere),
    "no-compliance-alarm": ("alarms_cover_queues_errors_and_compliance", break_non_compliant_alarm),
    "compliance-alarm-on-every-run": ("alarms_cover_queues_errors_and_compliance", break_non_compliant_alarm_on_every_run),
    "queue-alarm-not-breaching": ("queue_alarms_keep_state_and_sweeps_have_a_heartbeat", break_queue_alarm_not_breaching),
    "drift-backlog-not-breaching": ("queue_alarms_keep_state_and_sweeps_have_a_heartbeat", break_drift_backlog_not_breaching),
    "no-sweep-heartbeat": ("queue_alarms_keep_state_and_sweeps_have_a_heartbeat", break_no_sweep_heartbeat),
    "sweep-heartbeat-missing-not-breaching": ("queue_alarms_keep_state_and_sweeps_have_a_heartbeat", break_sweep_heartbeat_missing_not_breaching),
    "sweep-heartbeat-on-value": ("queue_alarms_keep_state_and_sweeps_have_a_heartbeat", break_sweep_heartbeat_on_value),
    "silent-alarm": ("alarms_cover_queues_errors_and_compliance", break_alarm_actions),
    "no-failure-destination": ("functions_have_failure_destination", break_failure_destination),
    "plain-queue": ("data_encrypted_and_private", break_queue_encryption),
    "plain-topic": ("data_encrypted_and_private", break_topic_encryption),
    "log-forever": ("data_encrypted_and_private", break_log_retention),
    "public-bucket": ("data_encrypted_and_private", break_bucket_public_access),
    "log-group-deleted": ("log_groups_and_their_keys_retained", break_log_group_deleted),
    "log-group-replaced": ("log_groups_and_their_keys_retained", break_log_group_replaced),
    "log-key-deleted": ("log_groups_and_their_keys_retained", break_log_key_deleted),
    "log-group-fixed-name": ("redeploy_names_cannot_collide", break_log_group_fixed_name),
    "log-group-name-not-stack-id": ("redeploy_names_cannot_collide", break_log_group_name_not_stack_id),
    "domain-log-group-fixed-name": ("redeploy_names_cannot_collide", break_domain_log_group_fixed_name),
    "domain-log-group-stack-id-name": ("redeploy_names_cannot_collide", break_domain_log_group_stack_id_name),
    "log-group-retained-on-rollback": ("redeploy_names_cannot_collide", break_log_group_retained_on_rollback),
    "log-key-retained-on-rollback": ("redeploy_names_cannot_collide", break_log_key_retained_on_rollback),
    "queue-named": ("redeploy_names_cannot_collide", break_queue_named),
    "kept-bucket-named": ("redeploy_names_cannot_collide", break_kept_bucket_named),
    "kept-alias": ("redeploy_names_cannot_collide", break_kept_alias),
    "drift-rule-own-calls": ("drift_rules_skip_own_calls_and_use_the_queue", break_drift_rule_own_calls),
    "drift-rule-anything-but-only": ("drift_rules_skip_own_calls_and_use_the_queue", break_drift_rule_anything_but_only),
    "drift-rule-one-role-missing": ("drift_rules_skip_own_calls_and_use_the_queue", break_drift_rule_one_role_missing),
    "drift-rule-to-function": ("drift_rules_skip_own_calls_and_use_the_queue", break_drift_rule_to_function),
    "drift-rule-domain-role-missing": ("drift_rules_skip_own_calls_and_use_the_queue", break_drift_rule_domain_role_missing),
    "drift-queue-sse-sqs": ("drift_queue_encrypted_with_redrive", break_drift_queue_sse_sqs),
    "drift-queue-no-redrive": ("drift_queue_encrypted_with_redrive", break_drift_queue_no_redrive),
    "drift-queue-short-visibility": ("drift_queue_encrypted_with_redrive", break_drift_queue_short_visibility),
    "drift-backlog-within-retry": ("drift_backlog_alarm_outlasts_a_retry", break_drift_backlog_within_retry),
    "drift-consumer-whole-batch": ("drift_queue_consumer_reports_batch_item_failures", break_drift_consumer_whole_batch),
    "drift-consumer-unbounded": ("drift_queue_consumer_reports_batch_item_failures", break_drift_consumer_unbounded),
    "creation-rule-to-function": ("creation_events_through_the_event_queue_to_remediate", break_creation_rule_to_function),
    "creation-rule-to-second-queue": ("creation_events_through_the_event_queue_to_remediate", break_creation_rule_to_second_queue),
    "event-queue-plain": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_plain),
    "event-queue-named": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_named),
    "event-queue-no-redrive": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_no_redrive),
    "event-queue-short-visibility": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_short_visibility),
    "event-consumer-whole-batch": ("creation_events_through_the_event_queue_to_remediate", break_event_consumer_whole_batch),
    "event-consumer-unbounded": ("creation_events_through_the_event_queue_to_remediate", break_event_consumer_unbounded),
    "event-consumer-concurrency-1": ("creation_events_through_the_event_queue_to_remediate", break_event_consumer_concurrency_1),
    "queue-concurrency-parameter-1": ("creation_events_through_the_event_queue_to_remediate", break_queue_concurrency_parameter_1),
    "batch-window-default-60": ("creation_events_through_the_event_queue_to_remediate", break_batch_window_default_60),
    "event-consumer-fixed-window": ("creation_events_through_the_event_queue_to_remediate", break_event_consumer_fixed_window),
    "event-consumer-batch-size-swapped": ("creation_events_through_the_event_queue_to_remediate", break_event_consumer_batch_size_swapped),
    "batch-window-condition-other-value": ("creation_events_through_the_event_queue_to_remediate", break_batch_window_condition_other_value),
    "event-queue-second-sam-consumer": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_second_sam_consumer),
    "event-queue-mapping-beside-sam-event": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_mapping_beside_sam_event),
    "event-queue-consumer-not-remediate": ("creation_events_through_the_event_queue_to_remediate", break_event_queue_consumer_not_remediate),
    "rendered-event-queue-two-mappings": ("creation_events_through_the_event_queue_to_remediate", break_rendered_event_queue_two_mappings, "rendered"),
    "rendered-event-consumer-not-remediate": ("creation_events_through_the_event_queue_to_remediate", break_rendered_event_consumer_not_remediate, "rendered"),
    "rendered-event-consumer-fixed-window": ("creation_events_through_the_event_queue_to_remediate", break_rendered_event_consumer_fixed_window, "rendered"),
    "put-events-any-bus": ("put_events_only_on_configured_buses", break_put_events_any_bus),
    "put-events-wildcard": ("put_events_only_on_configured_buses", break_put_events_wildcard),
    "empty-success-destination": ("success_destination_only_with_central_alerting", break_empty_success_destination),
    "unconditional-success-destination": ("success_destination_only_with_central_alerting", break_unconditional_success_destination),
    "success-permission-in-managed-policy": ("success_destination_only_with_central_alerting", break_success_permission_in_managed_policy),
    "conditional-write-on-star": ("success_destination_only_with_central_alerting", break_conditional_write_on_star),
    "success-destination-any-bus": ("put_events_only_on_configured_buses", break_success_destination_any_bus),
    "central-target-without-role": ("central_bus_targets_use_a_role", break_central_target_without_role),
    "no-dashboard": ("dashboard_exists", break_no_dashboard),
    "dashboard-unconditional": ("dashboard_exists", break_dashboard_unconditional),
    "security-hub-import-on-star": ("security_hub_findings_on_own_product_and_hub_only", break_security_hub_import_on_star),
    "security-hub-any-product": ("security_hub_findings_on_own_product_and_hub_only", break_security_hub_any_product),
    "security-hub-wildcard-action": ("security_hub_findings_on_own_product_and_hub_only", break_security_hub_wildcard_action),
    "security-hub-unconditional": ("security_hub_findings_on_own_product_and_hub_only", break_security_hub_unconditional),
    "security-hub-in-dry-run": ("security_hub_findings_on_own_product_and_hub_only", break_security_hub_in_dry_run),
    "domain-rule-dead-letter": ("event_rules_have_dead_letter_and_retry", break_domain_rule_dead_letter),
    "domain-rule-retry": ("event_rules_have_dead_letter_and_retry", break_domain_rule_retry),
    "domain-rule-failed-calls": ("cloudtrail_rules_ignore_failed_calls", break_domain_rule_failed_calls),
    "domain-function-x86": ("functions_arm64_al2023_no_fixed_reservation", break_domain_function_architecture),
    "domain-function-al2": ("functions_arm64_al2023_no_fixed_reservation", break_domain_function_runtime),
    "domain-function-no-failure-destination": ("functions_have_failure_destination", break_domain_function_failure_destination),
    "domain-log-group-deleted": ("log_groups_and_their_keys_retained", break_domain_log_group_deleted),
    "domain-log-group-replaced": ("log_groups_and_their_keys_retained", break_domain_log_group_replaced),
    "describe-domain-on-star": ("sagemaker_domain_reads_scoped_to_studio", break_describe_domain_on_star),
    "describe-domain-any-region": ("sagemaker_domain_reads_scoped_to_studio", break_describe_domain_any_region),
    "describe-domain-wildcard-action": ("sagemaker_domain_reads_scoped_to_studio", break_describe_domain_wildcard_action),
    "domain-reads-unconditional": ("sagemaker_domain_reads_scoped_to_studio", break_domain_reads_unconditional),
    "s3-gateway-unconditional": ("route_table_writes_only_for_the_s3_gateway", break_s3_gateway_unconditional),
    "s3-gateway-in-dry-run": ("route_table_writes_only_for_the_s3_gateway", break_s3_gateway_in_dry_run),
    "s3-gateway-without-studio": ("route_table_writes_only_for_the_s3_gateway", break_s3_gateway_without_studio),
    "route-table-in-endpoint-policy": ("route_table_writes_only_for_the_s3_gateway", break_route_table_in_endpoint_policy),
    "route-table-in-role": ("route_table_writes_only_for_the_s3_gateway", break_route_table_in_role),
    "route-table-any-ec2-resource": ("route_table_writes_only_for_the_s3_gateway", break_route_table_any_ec2_resource),
    "route-table-wildcard-action": ("route_table_writes_only_for_the_s3_gateway", break_route_table_wildcard_action),
    "s3-gateway-any-service": ("s3_gateway_endpoint_only_for_s3", break_s3_gateway_any_service),
    "s3-gateway-other-service": ("s3_gateway_endpoint_only_for_s3", break_s3_gateway_other_service),
    "s3-gateway-untagged": ("s3_gateway_endpoint_only_for_s3", break_s3_gateway_untagged),
    "s3-gateway-modify-ignored-endpoints": ("s3_gateway_endpoint_only_for_s3", break_s3_gateway_modify_ignored_endpoints),
    "create-endpoint-any-service": ("s3_gateway_endpoint_only_for_s3", break_create_endpoint_any_service),
    "kms-logs-every-group": ("kms_key_policy_statements_pinned", break_kms_logs_every_group),
    "kms-logs-unconditional": ("kms_key_policy_statements_pinned", break_kms_logs_unconditional),
    "kms-events-unpinned": ("kms_key_policy_statements_pinned", break_kms_events_unpinned),
    "kms-alarms-any-account": ("kms_key_policy_statements_pinned", break_kms_alarms_any_account),
    "kms-new-service-unpinned": ("kms_key_policy_statements_pinned", break_kms_new_service_unpinned),
    "kms-other-account": ("kms_key_policy_statements_pinned", break_kms_other_account),
    "kms-role-direct": ("kms_role_grants_pinned", break_kms_role_direct),
    "kms-role-any-queue": ("kms_role_grants_pinned", break_kms_role_any_queue),
    "kms-managed-policy-unpinned": ("kms_role_grants_pinned", break_kms_managed_policy_unpinned),
    "key-by-default": ("customer_key_only_with_its_parameter", break_key_by_default),
    "key-unconditional": ("customer_key_only_with_its_parameter", break_key_unconditional),
    "alias-unconditional": ("customer_key_only_with_its_parameter", break_alias_unconditional),
    "queue-key-unconditional": ("customer_key_only_with_its_parameter", break_queue_key_unconditional),
    "queue-no-sse-without-key": ("customer_key_only_with_its_parameter", break_queue_no_sse_without_key),
    "log-group-key-unconditional": ("customer_key_only_with_its_parameter", break_log_group_key_unconditional),
    "topic-key-unconditional": ("customer_key_only_with_its_parameter", break_topic_key_unconditional),
    "kms-grant-unconditional": ("customer_key_only_with_its_parameter", break_kms_grant_unconditional),
    "conditional-grant-other-condition": ("success_destination_only_with_central_alerting", break_conditional_grant_other_condition),
    "role-without-boundary": ("roles_have_the_permissions_boundary", break_role_without_boundary),
    "conditional-role-without-boundary": ("roles_have_the_permissions_boundary", break_conditional_role_without_boundary),
    "role-boundary-unconditional": ("roles_have_the_permissions_boundary", break_role_boundary_unconditional),
    "role-boundary-fixed-policy": ("roles_have_the_permissions_boundary", break_role_boundary_fixed_policy),
    "boundary-condition-always": ("roles_have_the_permissions_boundary", break_boundary_condition_always),
    "new-role-without-boundary": ("roles_have_the_permissions_boundary", break_new_role_without_boundary),
    "sam-boundary-not-global": ("roles_have_the_permissions_boundary", break_sam_boundary_not_global),
    "sam-function-boundary-override": ("roles_have_the_permissions_boundary", break_sam_function_boundary_override),
    "sam-function-foreign-role": ("roles_have_the_permissions_boundary", break_sam_function_foreign_role),
    "queue-untagged": ("resources_carry_the_managed_tag", break_queue_untagged),
    "alarm-managed-false": ("resources_carry_the_managed_tag", break_alarm_managed_false),
    "role-untagged": ("resources_carry_the_managed_tag", break_role_untagged),
    "bucket-other-tag-only": ("resources_carry_the_managed_tag", break_bucket_other_tag_only),
    "new-resource-untagged": ("resources_carry_the_managed_tag", break_new_resource_untagged),
    "functions-untagged": ("resources_carry_the_managed_tag", break_functions_untagged),
    "function-tag-override": ("resources_carry_the_managed_tag", break_function_tag_override),
    "functions-tags-not-propagated": ("resources_carry_the_managed_tag", break_functions_tags_not_propagated),
    "code-bucket-unversioned": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_unversioned, "code-buckets"),
    "code-bucket-public-acls": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_public_acls, "code-buckets"),
    "code-bucket-unencrypted": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_unencrypted, "code-buckets"),
    "code-bucket-acls-enabled": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_acls_enabled, "code-buckets"),
    "code-bucket-no-policy": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_no_policy, "code-buckets"),
    "code-bucket-plain-http": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_plain_http, "code-buckets"),
    "code-bucket-tls-objects-only": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_tls_objects_only, "code-buckets"),
    "code-bucket-any-reader": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_any_reader, "code-buckets"),
    "code-bucket-org-writes": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_org_writes, "code-buckets"),
    "code-bucket-org-lists": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_org_lists, "code-buckets"),
    "code-bucket-anyone-writes": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_anyone_writes, "code-buckets"),
    "code-bucket-deletes-unguarded": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_deletes_unguarded, "code-buckets"),
    "code-bucket-other-writer": ("code_bucket_versioned_tls_only_private_org_read", break_code_bucket_other_writer, "code-buckets"),
    "rendered-code-latest-version": ("functions_run_a_pinned_object_version", break_rendered_code_latest_version, "rendered"),
    "rendered-code-empty-version": ("functions_run_a_pinned_object_version", break_rendered_code_empty_version, "rendered"),
    "sam-code-s3-uri": ("functions_run_a_pinned_object_version", break_sam_code_s3_uri),
    "sam-code-without-version": ("functions_run_a_pinned_object_version", break_sam_code_without_version),
    "sam-inline-code": ("functions_run_a_pinned_object_version", break_sam_inline_code),
    "function-without-code-signing": ("code_signing_on_every_function_when_set", break_function_without_code_signing),
    "function-fixed-code-signing": ("code_signing_on_every_function_when_set", break_function_fixed_code_signing),
    "code-signing-always": ("code_signing_on_every_function_when_set", break_code_signing_always),
    "code-signing-parameter-removed": ("code_signing_on_every_function_when_set", break_code_signing_parameter_removed),
    "code-signing-global-overridden": ("code_signing_on_every_function_when_set", break_code_signing_global_overridden),
    "rendered-function-without-code-signing": ("code_signing_on_every_function_when_set", break_rendered_function_without_code_signing, "rendered"),
    "stackset-strict-failure-tolerance": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_strict_failure_tolerance, "stackset"),
    "stackset-no-concurrency-mode": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_no_concurrency_mode, "stackset"),
    "stackset-percentages": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_percentages, "stackset"),
    "stackset-rest-with-pilot": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_rest_with_pilot, "stackset"),
    "stackset-pilot-tolerates-failures": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_pilot_tolerates_failures, "stackset"),
    "stackset-no-pilot": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_no_pilot, "stackset"),
    "stackset-second-rest-unordered": ("stack_sets_roll_out_pilot_first_with_absolute_counts", break_stackset_second_rest_unordered, "stackset"),
}


# The template a mutation breaks: the TEMPLATE argument (infra/template.yaml) unless its BREAKS entry
# names another source: the StackSet rendering of TEMPLATE, or a file beside it.
RELEASE_SOURCES = {"code-buckets": "code-buckets.yaml", "stackset": "stackset.yaml"}


class Sources:
    """The templates the mutations break, each loaded (or rendered) once."""

    def __init__(self, template_path):
        self.path = template_path
        self.loaded = {}

    def __getitem__(self, source):
        if source not in self.loaded:
            if source == "template":
                self.loaded[source] = load(self.path)
            elif source == "rendered":
                self.loaded[source] = render_template(self.path)
            else:
                self.loaded[source] = load(os.path.join(os.path.dirname(os.path.abspath(self.path)), RELEASE_SOURCES[source]))
        return self.loaded[source]


def source_of(mutation):
    entry = BREAKS[mutation]
    return entry[2] if len(entry) > 2 else "template"


def broken_copy(template, mutation):
    broken = copy.deepcopy(template)
    BREAKS[mutation][1](broken)
    if broken == template:
        sys.exit(f"mutation {mutation} changed nothing")
    return broken


def break_template(args):
    dump(broken_copy(Sources(args.template)[source_of(args.rule)], args.rule), args.out)


def break_all(args):
    sources = Sources(args.template)
    os.makedirs(args.dir, exist_ok=True)
    for mutation, entry in sorted(BREAKS.items()):
        dump(broken_copy(sources[source_of(mutation)], mutation), os.path.join(args.dir, f"{mutation}.json"))
        print(mutation, entry[0])


# ------------------------------------------------------------------------------------------- params


# What a StackSet parameter must share with the template's: a value the template refuses would
# only fail later, in every stack instance.
PARAMETER_FIELDS = ("Type", "Default", "AllowedValues", "AllowedPattern", "MinLength", "MaxLength", "MinValue", "MaxValue")


def check_params(args):
    stackset = load(args.stackset)
    rendered = load(args.rendered)
    problems = []
    stack_sets = resources_of(stackset, "AWS::CloudFormation::StackSet")
    if not stack_sets:
        problems.append("no AWS::CloudFormation::StackSet resource")
    # Every StackSet (the pilot's and the rest's) hands the same parameters to its instances.
    for logical_id, resource in stack_sets:
        forwarded = {}
        for p in resource["Properties"].get("Parameters", []):
            forwarded[p["ParameterKey"]] = p["ParameterValue"]
        for name in rendered["Parameters"]:
            if forwarded.get(name) != {"Ref": name}:
                problems.append(f"{logical_id}: {name}: not forwarded to the stack instances as {{Ref: {name}}}")
        for name in forwarded:
            if name not in rendered["Parameters"]:
                problems.append(f"{logical_id}: {name}: forwarded but not a parameter of the template")
    for name, spec in rendered["Parameters"].items():
        mine = stackset["Parameters"].get(name, {})
        for field in PARAMETER_FIELDS:
            if str(mine.get(field)) != str(spec.get(field)):
                problems.append(f"{name}.{field}: StackSet {mine.get(field)!r} != template {spec.get(field)!r}")
    for problem in problems:
        print(problem)
    print(f"{len(rendered['Parameters'])} parameters checked in {len(stack_sets)} StackSets, {len(problems)} problem(s)")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("to-json")
    p.add_argument("template")
    p.add_argument("out")
    p = sub.add_parser("render")
    p.add_argument("template")
    p.add_argument("out")
    p.add_argument("--artifacts", help="zip the built functions into this folder")
    p.add_argument("--key-prefix", default="vpce-guard", help="S3 key prefix of the code zips")
    p = sub.add_parser("break")
    p.add_argument("rule", choices=sorted(BREAKS))
    p.add_argument("template")
    p.add_argument("out")
    p = sub.add_parser("break-all")
    p.add_argument("template")
    p.add_argument("dir")
    sub.add_parser("rules")
    p = sub.add_parser("params")
    p.add_argument("stackset")
    p.add_argument("rendered")
    args = parser.parse_args()
    if args.command == "to-json":
        dump(load(args.template), args.out)
    elif args.command == "render":
        render(args)
    elif args.command == "break":
        break_template(args)
    elif args.command == "break-all":
        break_all(args)
    elif args.command == "rules":
        for name, entry in sorted(BREAKS.items()):
            print(name, entry[0], source_of(name))
    elif args.command == "params":
        return check_params(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
