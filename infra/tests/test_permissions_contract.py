"""The permissions contract's own pieces, offline (infra/tools/permissions_contract.py): the condition
operators of its IAM evaluator, the mapper of recorded calls to IAM requests, and the rendering of
the roles. The contract itself (recorded calls of the real binaries against the rendered roles, and
its broken copies) is tests/tests/permissions.rs, which runs with the Rust tests.

    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_permissions_contract.py
"""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import cfn_yaml  # noqa: E402
import permissions_contract as pc  # noqa: E402

TEMPLATE = pathlib.Path(__file__).resolve().parents[1] / "template.yaml"
EP = "arn:aws:ec2:us-west-2:123456789012:vpc-endpoint/vpce-0123456789abcdef0"


@pytest.mark.parametrize("operator,wanted,context,expected", [
    ("StringEquals", "true", {"k": ["true"]}, True),
    ("StringEquals", "true", {"k": ["TRUE"]}, False),
    ("StringEquals", "true", {}, False),
    ("StringEqualsIgnoreCase", "true", {"K": ["TRUE"]}, True),  # key names are case-insensitive
    ("StringNotEqualsIgnoreCase", "false", {}, True),  # a negated operator holds for a missing key
    ("StringNotEqualsIgnoreCase", "false", {"k": ["False"]}, False),
    ("StringEqualsIgnoreCaseIfExists", "true", {}, True),
    ("StringEqualsIgnoreCaseIfExists", "true", {"k": ["false"]}, False),
    ("StringLike", ["com.amazonaws.*.sagemaker.api"], {"k": ["com.amazonaws.us-west-2.sagemaker.api"]}, True),
    ("StringLike", ["com.amazonaws.*.sagemaker.api"], {"k": ["com.amazonaws.us-west-2.sts"]}, False),
    ("StringNotEquals", "x", {"k": ["y"]}, True),
    ("ArnLike", "arn:aws:logs:us-west-2:1:log-group:*", {"k": ["arn:aws:logs:us-west-2:1:log-group:a:*"]}, True),
    ("ArnLike", "arn:aws:logs:us-west-2:1:log-group:*", {"k": ["arn:aws:logs:us-east-1:1:log-group:a"]}, False),
    ("Null", "true", {}, True),
    ("Null", "false", {}, False),
    ("ForAllValues:StringEquals", ["a", "b"], {"k": ["a", "b"]}, True),
    ("ForAllValues:StringEquals", ["a"], {"k": ["a", "b"]}, False),
    ("ForAllValues:StringEquals", ["a"], {}, True),
    ("ForAnyValue:StringEquals", ["a"], {"k": ["c", "a"]}, True),
    ("ForAnyValue:StringEquals", ["a"], {}, False),
    ("Bool", "false", {"k": ["false"]}, True),
])
def test_condition_operators(operator, wanted, context, expected):
    assert pc.operator_holds(operator, "k", wanted, context) is expected


@pytest.mark.parametrize("operator", ["NumericLessThan", "DateGreaterThan", "IpAddress", "StringMatches"])
def test_an_operator_it_does_not_know_fails_loudly(operator):
    with pytest.raises(ValueError, match="not evaluated here"):
        pc.operator_holds(operator, "k", "1", {"k": ["1"]})


def test_an_explicit_deny_wins_and_no_match_is_an_implicit_deny():
    allow = {"Effect": "Allow", "Action": "ec2:ModifyVpcEndpoint", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "ec2:Modify*", "Resource": EP,
            "Condition": {"StringEquals": {"aws:ResourceTag/vpce-guard:ignore": "true"}}}
    ignored = ("ec2:ModifyVpcEndpoint", EP, {"aws:ResourceTag/vpce-guard:ignore": ["true"]})
    assert pc.evaluate([("p", allow), ("p", deny)], ignored)[0] == "ExplicitDeny"
    assert pc.evaluate([("p", allow), ("p", deny)], ("ec2:ModifyVpcEndpoint", EP, {}))[0] == "Allow"
    assert pc.evaluate([("p", deny)], ("ec2:ModifyVpcEndpoint", EP, {}))[0] == "ImplicitDeny"


def test_create_vpc_endpoint_maps_to_every_resource_and_its_dependent_actions():
    call = {"service": "ec2", "action": "CreateVpcEndpoint", "tags": {"vpc-1234567890abcdef0": {"vpce-guard:enforce": "true"}},
            "params": {"VpcId": "vpc-1234567890abcdef0", "ServiceName": "com.amazonaws.us-west-2.sagemaker.api",
                       "VpcEndpointType": "Interface", "SubnetId.1": "subnet-1", "SubnetId.2": "subnet-2",
                       "SecurityGroupId.1": "sg-1", "TagSpecification.1.ResourceType": "vpc-endpoint",
                       "TagSpecification.1.Tag.1.Key": "vpce-guard:managed", "TagSpecification.1.Tag.1.Value": "true"}}
    requests = pc.authorizations(call)
    resources = [(a, r.rsplit(":", 1)[-1]) for a, r, _ in requests]
    assert resources == [("ec2:CreateVpcEndpoint", "vpc-endpoint/*"), ("ec2:CreateVpcEndpoint", "vpc/vpc-1234567890abcdef0"),
                         ("ec2:CreateVpcEndpoint", "subnet/subnet-1"), ("ec2:CreateVpcEndpoint", "subnet/subnet-2"),
                         ("ec2:CreateVpcEndpoint", "security-group/sg-1"), ("ec2:CreateTags", "vpc-endpoint/*"),
                         ("route53:AssociateVPCWithHostedZone", "hostedzone/*")]
    assert requests[0][2]["ec2:VpceServiceName"] == ["com.amazonaws.us-west-2.sagemaker.api"]
    assert requests[0][2]["aws:RequestTag/vpce-guard:managed"] == ["true"]
    assert requests[1][2] == {"aws:ResourceTag/vpce-guard:enforce": ["true"]}
    assert requests[5][2]["ec2:CreateAction"] == ["CreateVpcEndpoint"]


def test_a_call_the_mapper_does_not_know_fails_loudly():
    with pytest.raises(ValueError, match="teach"):
        pc.authorizations({"service": "ec2", "action": "DeleteSubnet", "params": {}})
    with pytest.raises(ValueError, match="teach"):
        pc.authorizations({"service": "s3", "action": "PutObject", "params": {}})


def test_roles_render_per_parameters():
    template = cfn_yaml.load_template(TEMPLATE)
    sids = lambda rendered, role: {s.get("Sid") for _, s in rendered.role_statements(role)}  # noqa: E731
    defaults = pc.Rendered(template, {})
    assert pc.Rendered(template, {}).role_statements("DomainCreatedRole") == []
    assert "ModifyManagedEndpointsOnly" in sids(defaults, "RemediateRole")
    assert "ModifyEndpointsNotIgnored" not in sids(defaults, "RemediateRole")
    dry = pc.Rendered(template, {"DryRun": "true", "AdoptExisting": "true"})
    assert not any(pc.is_write(a) for _, s in dry.role_statements("RemediateRole") if s["Sid"] not in pc.PLATFORM
                   for a in pc.strings(s["Action"]))
    studio = pc.Rendered(template, {"Profiles": "studio", "S3Gateway": "true"})
    assert "S3GatewayRouteTables" in sids(studio, "DomainCreatedRole")
    assert pc.Rendered(template, {"IamGuardrail": "g"}).environment()["VPCE_GUARD_IAM_GUARDRAIL"] == "g"
    with pytest.raises(ValueError, match="no such template parameters"):
        pc.Rendered(template, {"NoSuchParameter": "x"})


def test_the_self_test_removes_a_read_wherever_it_is_granted(tmp_path):
    """The reads are a managed policy shared by the roles (ReadPolicy): the self-test's copy
    "without the read ec2:DescribeVpcs" must lose it there too, or it would pass and the contract's
    self-test report a miss (tests/tests/permissions.rs). A dry run records reads only."""
    record = tmp_path / "calls.jsonl"
    record.write_text('{"access_key": "AK1", "service": "ec2", "action": "DescribeVpcs", "params": {}}\n', encoding="utf-8")
    plan = {"sets": [{"name": "dry-run", "parameters": {"DryRun": "true"}, "record": str(record), "keys": {"AK1": "remediate"}}]}
    template = cfn_yaml.load_template(TEMPLATE)
    assert pc.self_test(template, plan)


def test_the_prunes_deletes_and_marks_map_to_their_resources_with_their_tags():
    managed = {"vpce-0123456789abcdef0": {"vpce-guard:managed": "true"}, "sg-0123456789abcdef0": {"vpce-guard:managed": "true"}}
    delete = {"service": "ec2", "action": "DeleteVpcEndpoints", "tags": managed,
              "params": {"VpcEndpointId.1": "vpce-0123456789abcdef0"}}
    assert pc.authorizations(delete) == [("ec2:DeleteVpcEndpoints", EP, {"aws:ResourceTag/vpce-guard:managed": ["true"]})]
    group = {"service": "ec2", "action": "DeleteSecurityGroup", "tags": managed, "params": {"GroupId": "sg-0123456789abcdef0"}}
    assert [r for _, r, _ in pc.authorizations(group)] == ["arn:aws:ec2:us-west-2:123456789012:security-group/sg-0123456789abcdef0"]
    untag = {"service": "ec2", "action": "DeleteTags", "tags": managed,
             "params": {"ResourceId.1": "vpce-0123456789abcdef0", "Tag.1.Key": "vpce-guard:idle-since"}}
    assert pc.authorizations(untag)[0][2]["aws:TagKeys"] == ["vpce-guard:idle-since"]
    mark = {"service": "ec2", "action": "CreateTags", "tags": managed,
            "params": {"ResourceId.1": "vpce-0123456789abcdef0", "Tag.1.Key": "vpce-guard:idle-since",
                       "Tag.1.Value": "2026-12-02T00:00:00Z"}}
    (request,) = pc.authorizations(mark)
    assert request[2]["aws:RequestTag/vpce-guard:idle-since"] == ["2026-12-02T00:00:00Z"]


def test_only_remediate_prunes_only_with_prune_idle_after_and_only_managed_resources_and_the_mark():
    template = cfn_yaml.load_template(TEMPLATE)
    managed = {"aws:ResourceTag/vpce-guard:managed": ["true"]}
    delete = ("ec2:DeleteVpcEndpoints", EP, managed)
    for parameters in ({}, {"PruneIdleAfter": "0s", "DryRun": "true"}):
        rendered = pc.Rendered(template, parameters)
        for role in pc.ROLES.values():
            assert pc.evaluate(rendered.role_statements(role), delete)[0] == "ImplicitDeny", (parameters, role)
    rendered = pc.Rendered(template, {"PruneIdleAfter": "7d"})
    remediate = rendered.role_statements("RemediateRole")
    assert pc.evaluate(remediate, delete)[0] == "Allow"
    for role in ("NotebookCreatedRole", "SubnetCreatedRole"):
        assert pc.evaluate(rendered.role_statements(role), delete)[0] == "ImplicitDeny", "events never prune"
    assert pc.evaluate(remediate, ("ec2:DeleteVpcEndpoints", EP, {}))[0] == "ImplicitDeny", "the user's endpoint"
    ignored = {**managed, "aws:ResourceTag/vpce-guard:ignore": ["true"]}
    assert pc.evaluate(remediate, ("ec2:DeleteVpcEndpoints", EP, ignored))[0] == "ImplicitDeny"
    group = "arn:aws:ec2:us-west-2:123456789012:security-group/sg-0123456789abcdef0"
    assert pc.evaluate(remediate, ("ec2:DeleteSecurityGroup", group, managed))[0] == "Allow"
    assert pc.evaluate(remediate, ("ec2:DeleteSecurityGroup", group, {}))[0] == "ImplicitDeny"
    mark = {**managed, "aws:TagKeys": ["vpce-guard:idle-since"], "aws:RequestTag/vpce-guard:idle-since": ["x"]}
    assert pc.evaluate(remediate, ("ec2:CreateTags", EP, mark))[0] == "Allow"
    assert pc.evaluate(remediate, ("ec2:DeleteTags", EP, {**managed, "aws:TagKeys": ["vpce-guard:idle-since"]}))[0] == "Allow"
    other = {**managed, "aws:TagKeys": ["vpce-guard:idle-since", "vpce-guard:managed"]}
    assert pc.evaluate(remediate, ("ec2:DeleteTags", EP, other))[0] == "ImplicitDeny", "no other tag"
    assert pc.evaluate(remediate, ("ec2:DeleteTags", EP, managed))[0] == "ImplicitDeny", "keys must be named"
    assert pc.evaluate(remediate, ("ec2:CreateTags", EP, {"aws:TagKeys": ["vpce-guard:idle-since"]}))[0] == "ImplicitDeny"
