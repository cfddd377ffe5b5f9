"""The permissions contract (issue 18): what the functions call, against what their roles allow.

Input: calls recorded by the strict moto fixture (tests/fixture/moto_strict.py, environment
VPCE_GUARD_FIXTURE_RECORD: one JSON line per AWS call, with the access key that signed it, its
parameters and the tags of the EC2 resources it names) while the real function binaries ran a
scenario for one parameter set of infra/template.yaml, each binary with its own access key.
tests/tests/permissions.rs runs those scenarios and then this program.

For each parameter set it
1. renders every function's role as CloudFormation would deploy it for those parameters: the
   role's inline policies and the managed policies that are deployed (their Condition holds) and
   name the role, with Fn::If, Fn::Sub, Fn::Join, Fn::Split, Ref and Fn::GetAtt resolved;
2. maps each recorded call to the IAM requests AWS authorises for it (`authorizations`): the
   action, each resource ARN the Service Authorization Reference lists for it, and the condition
   keys with their values (ec2:VpceServiceName, aws:RequestTag/..., aws:ResourceTag/...,
   ec2:Attribute/..., ec2:CreateAction), plus the dependent actions AWS checks (the tags of a
   create, the private hosted zone of private DNS);
3. evaluates each request against the role of the function that made the call (`evaluate`: IAM's
   evaluation within one identity's policies: an explicit Deny wins, then an Allow, else an
   implicit deny; every condition operator the template uses, and an unknown one raises);
4. fails on any request that would be denied, and on any write permission of the set (a statement's
   action on one of its resources) that no recorded request of any function of the set matches
   (least privilege both ways). Reads may be broader than the scenarios need: the unused ones are
   listed, not failed. The permissions Lambda itself uses with the role (its log group, the
   failure and success destinations, the event source mapping of the one event queue) are not the
   code's calls; they are named in PLATFORM and exempt from the unused check.

`self-test` proves the checker catches both failures on real recordings: for every write statement
of a set's roles, a copy of the template without it must produce a denied call; a copy without one
read the code needs (ec2:DescribeVpcs) must too; a copy with an extra write (ec2:DeleteSubnet, which
nothing calls: ec2:DeleteVpcEndpoints is the prune's, used with PruneIdleAfter set) must produce an
unused permission.

Usage:
  permissions_contract.py env TEMPLATE NAME=VALUE...     the functions' environment for these parameters (JSON)
  permissions_contract.py check TEMPLATE PLAN            PLAN: JSON {"sets": [{"name", "parameters", "record",
                                                         "keys": {access key: function}}]}
  permissions_contract.py self-test TEMPLATE PLAN
  permissions_contract.py table TEMPLATE PLAN            the README's table: per set and function, the actions
                                                         called and their scope
Exit status 0 when every set holds (self-test: when every broken copy fails).
"""

import contextlib
import copy
import fnmatch
import io
import json
import pathlib
import re
import sys
from collections import defaultdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cfn_yaml  # noqa: E402

ACCOUNT, REGION, PARTITION = cfn_yaml.ACCOUNT, cfn_yaml.REGION, "aws"
EC2 = f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}"

# The function binaries and the role each runs with (template: Role: !GetAtt <X>Role.Arn).
ROLES = {"on-notebook-created": "NotebookCreatedRole", "on-subnet-created": "SubnetCreatedRole",
         "remediate": "RemediateRole", "on-domain-created": "DomainCreatedRole"}

# Statements Lambda uses with the function's role, not the function's code (so no recorded call
# needs them): the function's logs (Lambda's log agent), the on-failure and on-success destinations
# of asynchronous invocations (EventInvokeConfig), and remediate's event source mapping, which
# consumes the one event queue (DriftQueue: creation and drift events), receiving and deleting with
# the role, decrypting with the key. Lambda Developer Guide: "Lambda execution role", "Adding a
# destination", "Using Lambda with Amazon SQS" (execution role permissions).
PLATFORM = {"OwnLogGroup", "FailureDestination", "SuccessDestinationDefaultBus", "ConsumeDriftQueue",
            "DecryptDriftQueue"}

READ_PREFIXES = ("Describe", "List", "Get")

NO_VALUE = object()


# ------------------------------------------------------------------------------------ rendering

class Rendered:
    """The template deployed with `parameters`: conditions and intrinsics evaluated."""

    def __init__(self, template, parameters):
        self.template = template
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise ValueError(f"no such template parameters: {sorted(unknown)}")
        self.parameters.update(parameters)
        self.parameters.update({"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                                "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "vpce-guard"})
        self.memo = {}

    def condition(self, name):
        if name not in self.memo:
            self.memo[name] = self.holds(self.template["Conditions"][name])
        return self.memo[name]

    def holds(self, expression):
        return cfn_yaml.condition_holds(expression, self.condition, self.value)

    def deployed(self, name):
        resource = self.template["Resources"][name]
        return "Condition" not in resource or self.condition(resource["Condition"])

    def attribute(self, name, attribute):
        """Fn::GetAtt of the resources role policies name, as the ARN CloudFormation returns."""
        kind = self.template["Resources"][name]["Type"]
        arns = {"AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
                "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}",
                "AWS::KMS::Key": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{name}",
                "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"}
        if attribute != "Arn" or kind not in arns:
            raise ValueError(f"Fn::GetAtt {name}.{attribute} ({kind}) is not rendered here")
        return arns[kind]

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.template["Resources"]:
            return name  # a resource's Ref: its logical id stands for its name
        raise ValueError(f"Ref {name} names nothing")

    def value(self, value):
        if isinstance(value, list):
            return [v for v in (self.value(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: v for k, v in ((k, self.value(v)) for k, v in value.items()) if v is not NO_VALUE}
        (function, argument), = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            return self.attribute(*argument)
        if function == "Fn::If":
            return self.value(argument[1] if self.condition(argument[0]) else argument[2])
        if function == "Fn::Join":
            return self.value(argument[0]).join(self.value(argument[1]))
        if function == "Fn::Split":
            return self.value(argument[1]).split(self.value(argument[0]))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = {k: self.value(v) for k, v in variables.items()}

            def substitute(match):
                name = match.group(1)
                if name in variables:
                    return variables[name]
                if "." in name:
                    return self.attribute(*name.split(".", 1))
                return self.ref(name)
            return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)
        raise ValueError(f"intrinsic {function} is not evaluated here")

    def environment(self):
        """The functions' environment (Globals), as the template sets it for these parameters."""
        return {k: str(self.value(v)) for k, v in self.template["Globals"]["Function"]["Environment"]["Variables"].items()}

    def role_statements(self, role):
        """[(policy, statement)] of `role` as deployed: its inline policies and the deployed managed
        policies that name it. [] when the role itself is not deployed."""
        if role not in self.template["Resources"] or not self.deployed(role):
            return []
        found = []
        for policy in self.value(self.template["Resources"][role]["Properties"].get("Policies", [])):
            found += [(f"{role}/{policy['PolicyName']}", s) for s in statements(policy["PolicyDocument"])]
        for name, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::IAM::ManagedPolicy" or not self.deployed(name):
                continue
            properties = resource["Properties"]
            if role in self.value(properties.get("Roles", [])):
                found += [(name, s) for s in statements(self.value(properties["PolicyDocument"]))]
        return found


def statements(document):
    items = document["Statement"]
    return items if isinstance(items, list) else [items]


def strings(value):
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------------ evaluation
# IAM User Guide, "Policy evaluation logic" (within one account and one identity: an explicit deny
# wins over any allow; without an allow the request is implicitly denied) and "IAM JSON policy
# elements: Condition operators". Resource and Action patterns: * and ? (Action case-insensitive,
# Resource case-sensitive).

def like(pattern, text, case=True):
    return fnmatch.fnmatchcase(text, pattern) if case else fnmatch.fnmatchcase(text.lower(), pattern.lower())


def arn_like(pattern, text):
    """ArnLike/ArnEquals: per colon-separated segment, each a glob (condition operators, "Amazon
    Resource Name (ARN) condition operators")."""
    p, t = pattern.split(":", 5), text.split(":", 5)
    return len(p) == 6 and len(t) == 6 and all(like(a, b) for a, b in zip(p, t))


TESTS = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: like(p, v),
    "ArnEquals": arn_like,
    "ArnLike": arn_like,
    "Bool": lambda p, v: p.lower() == v.lower(),
}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
           "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def operator_holds(operator, key, wanted, context):
    """One key of one condition operator. `context` maps keys (case-insensitive) to a list of values."""
    wanted = [str(w).lower() if isinstance(w, bool) else str(w) for w in strings(wanted)]
    values = next((v for k, v in context.items() if k.lower() == key.lower()), [])
    if operator == "Null":
        return any((w.lower() == "true") == (not values) for w in wanted)
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise ValueError(f"condition operator {operator} is not evaluated here")
    if_exists = base.endswith("IfExists")
    base = base[:-len("IfExists")] if if_exists else base
    negated = base in NEGATED
    test = TESTS.get(NEGATED.get(base, base))
    if test is None:
        raise ValueError(f"condition operator {operator} is not evaluated here: teach permissions_contract.py")
    if not values:
        # A missing key: IfExists and ForAllValues hold, ForAnyValue does not, a negated operator holds.
        return if_exists or qualifier == "ForAllValues" or (qualifier == "" and negated)
    matches = [any(test(w, v) for w in wanted) for v in values]
    if qualifier == "ForAllValues":
        return all(m != negated for m in matches)
    if qualifier == "ForAnyValue":
        return any(m != negated for m in matches)
    return any(matches) != negated


def statement_matches(statement, request):
    action, resource, context = request
    if "NotAction" in statement or "NotResource" in statement or "Principal" in statement:
        raise ValueError(f"statement {statement.get('Sid')}: NotAction, NotResource and Principal are not evaluated here")
    if not any(like(a, action, case=False) for a in strings(statement["Action"])):
        return False
    if not any(like(r, resource) for r in strings(statement["Resource"])):
        return False
    return all(operator_holds(operator, key, wanted, context)
               for operator, keys in statement.get("Condition", {}).items() for key, wanted in keys.items())


def evaluate(role_statements, request):
    """("Allow" | "ExplicitDeny" | "ImplicitDeny", [matching (policy, Sid)])."""
    matching = [(policy, s) for policy, s in role_statements if statement_matches(s, request)]
    if any(s["Effect"] == "Deny" for _, s in matching):
        return "ExplicitDeny", matching
    if matching:
        return "Allow", matching
    return "ImplicitDeny", []


# ------------------------------------------------------------------------------------ the mapper
# From an API call to the IAM requests AWS authorises for it. Service Authorization Reference
# (https://docs.aws.amazon.com/service-authorization/latest/reference/), per service:
# - Amazon EC2 (list_amazonec2.html). CreateVpcEndpoint: "vpc-endpoint*" (aws:RequestTag/${TagKey},
#   aws:TagKeys, ec2:VpceServiceName, ...), "vpc*", and the request's "subnet", "security-group",
#   "route-table" (each with aws:ResourceTag/${TagKey}); dependent action ec2:CreateTags for its
#   TagSpecification, and route53:AssociateVPCWithHostedZone for private DNS. The PrivateLink guide,
#   "Identity and access management for VPC endpoints", authorises the vpc, security-group, subnet
#   and route-table ARNs beside vpc-endpoint in its CreateVpcEndpoint example.
#   DeleteVpcEndpoints: "vpc-endpoint*" (aws:ResourceTag/${TagKey}), each endpoint of the request;
#   DeleteSecurityGroup: "security-group*" (aws:ResourceTag/${TagKey}); DeleteTags: the resource
#   (aws:ResourceTag/${TagKey}, aws:TagKeys: the keys removed).
#   ModifyVpcEndpoint: "vpc-endpoint*" (aws:ResourceTag/${TagKey}) and the request's "subnet",
#   "security-group", "route-table" (ec2:VpceServiceName is not evaluated for it: the template's
#   ModifyManagedEndpointsOnly comment). CreateSecurityGroup: "security-group*" (aws:RequestTag) and
#   "vpc*" (aws:ResourceTag); AuthorizeSecurityGroupIngress / RevokeSecurityGroupIngress:
#   "security-group*" (aws:ResourceTag) and "security-group-rule". ModifyVpcAttribute: "vpc*" with
#   ec2:Attribute/${AttributeName} and aws:ResourceTag. CreateTags: the tagged resource with
#   ec2:CreateAction (the create it is part of) and aws:RequestTag. Describe*: no resource type ("*").
# - Amazon SageMaker (list_amazonsagemaker.html): DescribeNotebookInstance "notebook-instance*",
#   DescribeDomain "domain*", ListNotebookInstances and ListDomains none ("*").
# - Amazon Route 53 (list_amazonroute53.html): ListHostedZonesByVPC none ("*");
#   AssociateVPCWithHostedZone "hostedzone*" (the service's AWS-owned zone, its id unknown to the caller).
#   Route 53 Profiles (list_amazonroute53profiles.html): the two list calls, by VPC across Profiles ("*").
# - IAM (list_awsidentityandaccessmanagementiam.html): the policy calls on "policy*".
# - AWS Security Hub (list_awssecurityhub.html): BatchImportFindings "product*", GetFindings "hub".
# - AWS Organizations (list_awsorganizations.html): DescribeOrganization, no resource type ("*").
# - AWS CloudTrail (list_awscloudtrail.html): DescribeTrails, no resource type ("*");
#   GetTrailStatus and GetEventSelectors "trail*" (the trail's ARN, the call's Name / TrailName).
# - AWS STS: GetCallerIdentity needs no permission ("No permissions are required to perform this
#   operation", STS API reference, GetCallerIdentity): no request.

def indexed(params, prefix):
    """The values of an EC2 query list parameter (SubnetId.1, SubnetId.2, ...)."""
    found = [(int(m.group(1)), v) for k, v in params.items() for m in [re.fullmatch(re.escape(prefix) + r"\.(\d+)", k)] if m]
    return [v for _, v in sorted(found)]


def tag_specifications(params):
    """{resource type: {key: value}} of an EC2 call's TagSpecification.N."""
    found = defaultdict(dict)
    for key, kind in params.items():
        m = re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", key)
        if m:
            prefix = f"TagSpecification.{m.group(1)}.Tag"
            for n in range(1, 51):
                if f"{prefix}.{n}.Key" in params:
                    found[kind][params[f"{prefix}.{n}.Key"]] = params.get(f"{prefix}.{n}.Value", "")
    return dict(found)


def resource_context(call, resource_id):
    return {f"aws:ResourceTag/{k}": [v] for k, v in call.get("tags", {}).get(resource_id, {}).items()}


def request_context(tags):
    context = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def ec2_resource(kind, resource_id):
    return f"{EC2}:{kind}/{resource_id}"


def authorizations(call):
    """[(iam action, resource ARN, context)] AWS authorises for one recorded call. Raises on a call
    it does not know: the mapper must be taught every operation the functions make."""
    action, params, service = call["action"], call.get("params", {}), call.get("service")
    if service == "sts" and action == "GetCallerIdentity":
        return []
    if service == "ec2":
        return ec2_authorizations(call, action, params)
    if service == "sagemaker":
        if action in ("ListNotebookInstances", "ListDomains"):
            return [(f"sagemaker:{action}", "*", {})]
        if action == "DescribeNotebookInstance":
            name = params["NotebookInstanceName"].lower()  # SageMaker ARNs carry the name in lower case
            return [(f"sagemaker:{action}", f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{name}", {})]
        if action == "DescribeDomain":
            return [(f"sagemaker:{action}", f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:domain/{params['DomainId']}", {})]
    if service == "route53" and action == "ListHostedZonesByVPC":
        return [("route53:ListHostedZonesByVPC", "*", {})]
    if service == "route53profiles" and action in ("ListProfileAssociations", "ListProfileResourceAssociations"):
        return [(f"route53profiles:{action}", "*", {})]
    if service == "organizations" and action == "DescribeOrganization":
        return [("organizations:DescribeOrganization", "*", {})]
    if service == "iam":
        if action == "CreatePolicy":
            path = params.get("Path", "/")
            return [("iam:CreatePolicy", f"arn:{PARTITION}:iam::{ACCOUNT}:policy{path}{params['PolicyName']}", {})]
        if action in ("GetPolicy", "GetPolicyVersion", "ListPolicyVersions", "CreatePolicyVersion",
                      "DeletePolicyVersion"):
            return [(f"iam:{action}", params["PolicyArn"], {})]
    if service == "securityhub":
        if action == "BatchImportFindings":
            products = sorted({f["ProductArn"] for f in params.get("Findings", [])})
            return [("securityhub:BatchImportFindings", p, {}) for p in products]
        if action == "GetFindings":
            return [("securityhub:GetFindings", f"arn:{PARTITION}:securityhub:{REGION}:{ACCOUNT}:hub/default", {})]
    if service == "cloudtrail":
        if action == "DescribeTrails":
            return [("cloudtrail:DescribeTrails", "*", {})]
        if action in ("GetTrailStatus", "GetEventSelectors"):
            trail = params["Name" if action == "GetTrailStatus" else "TrailName"]
            return [(f"cloudtrail:{action}", trail, {})]
    raise ValueError(f"{service}:{action} is not mapped to IAM requests: teach permissions_contract.py "
                     f"(Service Authorization Reference) before the functions make it")


def ec2_authorizations(call, action, params):
    if action.startswith("Describe"):
        return [(f"ec2:{action}", "*", {})]
    requests = []
    tags = tag_specifications(params)

    def each(kind, ids, extra=None):
        for resource_id in ids:
            requests.append((f"ec2:{action}", ec2_resource(kind, resource_id),
                             {**resource_context(call, resource_id), **(extra or {})}))

    def tagging(kind):
        if kind in tags:
            requests.append(("ec2:CreateTags", ec2_resource(kind, "*"),
                             {"ec2:CreateAction": [action], **request_context(tags[kind])}))

    def private_dns():
        requests.append(("route53:AssociateVPCWithHostedZone", f"arn:{PARTITION}:route53:::hostedzone/*", {}))

    if action == "CreateVpcEndpoint":
        interface = params.get("VpcEndpointType", "Gateway").lower() == "interface"
        requests.append((f"ec2:{action}", ec2_resource("vpc-endpoint", "*"),
                         {"ec2:VpceServiceName": [params["ServiceName"]],
                          **request_context(tags.get("vpc-endpoint", {}))}))
        each("vpc", [params["VpcId"]])
        each("subnet", indexed(params, "SubnetId"))
        each("security-group", indexed(params, "SecurityGroupId"))
        each("route-table", indexed(params, "RouteTableId"))
        tagging("vpc-endpoint")
        if interface and params.get("PrivateDnsEnabled", "true").lower() == "true":
            private_dns()
        return requests
    if action == "ModifyVpcEndpoint":
        each("vpc-endpoint", [params["VpcEndpointId"]])
        each("subnet", indexed(params, "AddSubnetId") + indexed(params, "RemoveSubnetId"))
        each("security-group", indexed(params, "AddSecurityGroupId") + indexed(params, "RemoveSecurityGroupId"))
        each("route-table", indexed(params, "AddRouteTableId") + indexed(params, "RemoveRouteTableId"))
        if params.get("PrivateDnsEnabled", "").lower() == "true":
            private_dns()
        return requests
    if action == "CreateSecurityGroup":
        requests.append((f"ec2:{action}", ec2_resource("security-group", "*"),
                         request_context(tags.get("security-group", {}))))
        each("vpc", [params["VpcId"]])
        tagging("security-group")
        return requests
    if action in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"):
        each("security-group", [params["GroupId"]])
        requests.append((f"ec2:{action}", ec2_resource("security-group-rule", "*"),
                         request_context(tags.get("security-group-rule", {}))))
        return requests
    if action == "ModifyVpcAttribute":
        attributes = {f"ec2:Attribute/{name}": [params[f"{name}.Value"]]
                      for name in ("EnableDnsSupport", "EnableDnsHostnames") if f"{name}.Value" in params}
        if not attributes:
            raise ValueError(f"ModifyVpcAttribute of an attribute not mapped here: {sorted(params)}")
        each("vpc", [params["VpcId"]], attributes)
        return requests
    kinds = {"vpce": "vpc-endpoint", "sg": "security-group", "vpc": "vpc", "subnet": "subnet", "rtb": "route-table"}
    if action in ("CreateTags", "DeleteTags"):
        tagged = {k: v for k, v in params.items() if re.fullmatch(r"Tag\.\d+\.(Key|Value)", k)}
        keys = [tagged[f"Tag.{n}.Key"] for n in range(1, 51) if f"Tag.{n}.Key" in tagged]
        if action == "CreateTags":
            context = request_context({k: tagged.get(f"Tag.{n}.Value", "") for n, k in
                                       ((n, tagged[f"Tag.{n}.Key"]) for n in range(1, 51) if f"Tag.{n}.Key" in tagged)})
        else:  # DeleteTags: the keys it removes (a value, when given, only narrows what it removes)
            context = {"aws:TagKeys": sorted(keys)} if keys else {}
        for resource_id in indexed(params, "ResourceId"):
            kind = kinds[resource_id.split("-")[0]]
            requests.append((f"ec2:{action}", ec2_resource(kind, resource_id),
                             {**resource_context(call, resource_id), **context}))
        return requests
    if action == "DeleteVpcEndpoints":
        each("vpc-endpoint", indexed(params, "VpcEndpointId"))
        return requests
    if action == "DeleteSecurityGroup":
        each("security-group", [params["GroupId"]])
        return requests
    raise ValueError(f"ec2:{action} is not mapped to IAM requests: teach permissions_contract.py")


# ------------------------------------------------------------------------------------ the check

def is_write(action):
    return not action.split(":", 1)[1].startswith(READ_PREFIXES)


def load_calls(path):
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines() if pathlib.Path(path).exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def check_set(template, entry):
    """(denied, unused writes, unused reads, requests by function) of one parameter set."""
    rendered = Rendered(template, entry["parameters"])
    roles = {function: rendered.role_statements(ROLES[function]) for function in ROLES}
    calls = [c for c in load_calls(entry["record"]) if c.get("access_key") in entry["keys"]]
    denied, used, by_function = [], set(), defaultdict(list)
    for call in calls:
        function = entry["keys"][call["access_key"]]
        if not roles[function]:
            denied.append((function, call["action"], "-", "the function's role is not deployed with these parameters"))
            continue
        for request in authorizations(call):
            decision, matching = evaluate(roles[function], request)
            by_function[function].append(request)
            if decision != "Allow":
                denied.append((function, call["action"], request, decision))
            for policy, statement in matching:
                for pattern in strings(statement["Resource"]):
                    if like(pattern, request[1]):
                        used.add((policy.split("/")[-1] if "/" in policy else policy, statement.get("Sid"),
                                  request[0].lower(), pattern))
    unused_writes, unused_reads = [], []
    seen = set()
    for function, statements_of_role in roles.items():
        for policy, statement in statements_of_role:
            if statement["Effect"] != "Allow" or statement.get("Sid") in PLATFORM:
                continue
            policy_name = policy.split("/")[-1] if "/" in policy else policy
            for action in strings(statement["Action"]):
                for pattern in strings(statement["Resource"]):
                    key = (policy_name, statement.get("Sid"), action.lower(), pattern)
                    if key in used or key in seen:
                        continue
                    seen.add(key)
                    (unused_writes if is_write(action) else unused_reads).append((policy, statement.get("Sid"), action, pattern))
    return denied, unused_writes, unused_reads, by_function, len(calls)


def check(template, plan, quiet=False):
    """True when every set holds; prints what fails (and, unless quiet, what each set used)."""
    ok = True
    for entry in plan["sets"]:
        denied, unused_writes, unused_reads, by_function, count = check_set(template, entry)
        if not quiet:
            functions = ", ".join(f"{f} {len(r)}" for f, r in sorted(by_function.items()))
            print(f"set {entry['name']}: {count} calls, IAM requests by function: {functions}")
        if count == 0:
            print(f"  FAIL {entry['name']}: no call recorded for the functions' keys in {entry['record']}")
            ok = False
        for function, action, request, decision in denied:
            print(f"  DENIED {entry['name']}: {function} {action}: {request} ({decision})")
        for policy, sid, action, pattern in unused_writes:
            print(f"  UNUSED WRITE {entry['name']}: {policy} {sid}: {action} on {pattern}: no recorded call needs it")
        if not quiet:
            for policy, sid, action, pattern in unused_reads:
                print(f"  (read not exercised, allowed: {policy} {sid}: {action} on {pattern})")
        ok = ok and not denied and not unused_writes
    return ok


def without_statement(template, policy, sid):
    broken = copy.deepcopy(template)
    if "/" in policy:  # an inline policy of a role
        role, name = policy.split("/")
        documents = [p["PolicyDocument"] for p in broken["Resources"][role]["Properties"]["Policies"]
                     if p["PolicyName"] == name]
    else:
        documents = [broken["Resources"][policy]["Properties"]["PolicyDocument"]]
    for document in documents:
        document["Statement"] = [s for s in document["Statement"] if not (isinstance(s, dict) and s.get("Sid") == sid)]
    return broken


def self_test(template, plan):
    """Every broken copy must fail the check; returns True when each does. A write statement whose
    removal a set does not notice is redundant there (another statement of the set allows all it
    allowed, e.g. AdoptExisting's broader modify over the managed-only one): that is noted, and
    each write statement must be shown necessary by at least one set."""
    ok = True
    necessary, redundant = set(), set()
    for entry in plan["sets"]:
        single = {"sets": [entry]}
        rendered = Rendered(template, entry["parameters"])
        writes = sorted({(policy, s["Sid"]) for role in set(ROLES.values()) for policy, s in rendered.role_statements(role)
                         if s.get("Sid") not in PLATFORM and any(is_write(a) for a in strings(s["Action"]))})
        cases = [(f"without {policy} {sid}", without_statement(template, policy, sid), (policy, sid))
                 for policy, sid in writes]
        # a read the code needs, removed from every role's inline policies and every managed policy
        # (the shared ReadPolicy holds it)
        no_read = copy.deepcopy(template)
        documents = [p["PolicyDocument"] for role in ROLES.values()
                     for p in no_read["Resources"].get(role, {}).get("Properties", {}).get("Policies", [])]
        documents += [r["Properties"]["PolicyDocument"] for r in no_read["Resources"].values()
                      if r["Type"] == "AWS::IAM::ManagedPolicy"]
        for document in documents:
            for statement in document["Statement"]:
                if isinstance(statement, dict) and isinstance(statement.get("Action"), list):
                    statement["Action"] = [a for a in statement["Action"] if a != "ec2:DescribeVpcs"]
        cases.append(("without the read ec2:DescribeVpcs", no_read, None))
        # an extra write no call needs, in a policy every role gets whatever the parameters
        extra = copy.deepcopy(template)
        extra["Resources"]["ExtraWritePolicy"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"Roles": [{"Ref": r} for r in ROLES.values() if Rendered(template, entry["parameters"]).role_statements(r)],
                           "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                               "Sid": "ExtraDelete", "Effect": "Allow", "Action": "ec2:DeleteSubnet",
                               "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/*"}}]}}}
        cases.append(("with an extra ec2:DeleteSubnet", extra, None))
        for name, broken, statement in cases:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                failed = not check(broken, single, quiet=True)
            first = output.getvalue().strip().splitlines()[:1]
            if failed:
                necessary.add(statement)
                print(f"ok   {entry['name']}: the copy {name} fails: {first[0].strip()}"[:240])
            elif statement is not None:
                redundant.add(statement)
                print(f"note {entry['name']}: the copy {name} passes: redundant with another statement of this set")
            else:
                print(f"MISS {entry['name']}: the copy {name} PASSES")
                ok = False
    for policy, sid in sorted(redundant - necessary):
        print(f"MISS {policy} {sid}: no set shows it necessary")
        ok = False
    return ok


def generic(text):
    """An ARN or value with this fixture's account and region written as placeholders."""
    for value, placeholder in ((ACCOUNT, "<account>"), (REGION, "<region>")):
        text = text.replace(value, placeholder)
    return text


# How the table writes the condition operators the template uses.
SHORT = {"StringEquals": "=", "StringEqualsIgnoreCase": "=", "StringNotEquals": "≠", "StringNotEqualsIgnoreCase": "≠",
         "StringLike": "like", "StringNotLike": "not like", "ArnEquals": "=", "ArnLike": "like", "Bool": "="}


def scope(statement):
    """Where a statement allows its actions: its resources and, in brackets, its conditions."""
    resources = ", ".join(f"`{generic(r).split(':', 5)[-1]}`" for r in strings(statement["Resource"]))
    conditions = []
    for operator, keys in sorted(statement.get("Condition", {}).items()):
        base = operator.removesuffix("IfExists")
        for key, wanted in sorted(keys.items()):
            values = " or ".join(f"`{v}`" for v in sorted({generic(str(w)) for w in strings(wanted)}))
            absent = " or absent" if base != operator else ""
            conditions.append(f"{key} {SHORT.get(base, base)} {values}{absent}")
    return resources + (f" ({'; '.join(conditions)})" if conditions else "")


def grants(template, entry):
    """{function: {action: {scope of each statement that allowed one of its calls}}} of one set."""
    rendered = Rendered(template, entry["parameters"])
    roles = {function: rendered.role_statements(ROLES[function]) for function in ROLES}
    found = defaultdict(lambda: defaultdict(set))
    for call in load_calls(entry["record"]):
        function = entry["keys"].get(call.get("access_key"))
        if function is None or not roles[function]:
            continue
        for request in authorizations(call):
            decision, matching = evaluate(roles[function], request)
            if decision == "Allow":
                found[function][request[0]].update(scope(s) for _, s in matching if s["Effect"] == "Allow")
    return found


def cells(actions):
    """Reads and writes of one function, one Markdown cell each."""
    def cell(write):
        rows = []
        for action, scopes in sorted(actions.items()):
            if is_write(action) == write:
                plain = scopes == {"`*`"}
                rows.append(f"`{action}`" + ("" if plain else " on " + ", ".join(sorted(scopes))))
        return "<br>".join(rows) or "none"
    return cell(False), cell(True)


def table(template, plan):
    """Markdown for the README: per function, the actions its calls need with the first set's
    parameters and the statement scope that allows them; then, per other set, what changes."""
    first, *others = plan["sets"]
    base = grants(template, first)
    print(f"With the defaults ({first['name']}):\n")
    print("| function | reads | writes, and where |")
    print("| --- | --- | --- |")
    for function in sorted(ROLES):
        if base.get(function):
            print(f"| {function} | {' | '.join(cells(base[function]))} |")
    print("\nWhat each option changes (actions added, or their scope changed; the rest as above):\n")
    print("| option | function | reads | writes, and where |")
    print("| --- | --- | --- | --- |")
    for entry in others:
        found = grants(template, entry)
        for function in sorted(ROLES):
            changed = {a: s for a, s in found.get(function, {}).items() if base.get(function, {}).get(a) != s}
            gone = sorted(a for a in base.get(function, {}) if is_write(a) and a not in found.get(function, {}))
            if not changed and not gone:
                continue
            reads, writes = cells(changed)
            if gone:
                writes = ("" if writes == "none" else writes + "<br>") + "no longer: " + ", ".join(f"`{a}`" for a in gone)
            print(f"| {entry['name']} | {function} | {reads} | {writes} |")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("env", "check", "self-test", "table"):
        print(__doc__, file=sys.stderr)
        return 2
    template = cfn_yaml.load_template(argv[2])
    if argv[1] == "env":
        parameters = dict(arg.split("=", 1) for arg in argv[3:])
        print(json.dumps(Rendered(template, parameters).environment(), sort_keys=True))
        return 0
    plan = json.loads(pathlib.Path(argv[3]).read_text(encoding="utf-8"))
    if argv[1] == "check":
        return 0 if check(template, plan) else 1
    if argv[1] == "self-test":
        return 0 if self_test(template, plan) else 1
    table(template, plan)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
