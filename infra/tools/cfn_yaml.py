"""CloudFormation templates as plain data, for the offline tools that read infra/template.yaml
(scripts/render-dashboard.py, infra/tests/test_event_patterns.py): YAML with CloudFormation's
short tags (!Ref, !GetAtt, !Sub ...) in their long form, and the example account, region and
pseudo parameters those tools fill in. Standard library and PyYAML only.
"""

import json
import pathlib

import yaml

ACCOUNT = "123456789012"
REGION = "us-west-2"
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
          "AWS::StackName": "vpce-guard", "AWS::URLSuffix": "amazonaws.com",
          # events/stack-create-complete.json names this stack.
          "AWS::StackId": "arn:aws:cloudformation:us-west-2:123456789012:stack/vpce-guard/0a1b2c3d-4e5f-6789-abcd-ef0123456789"}


class CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub ...) in their long form. PyYAML's
    libyaml parser where the wheel has it (about ten times faster than the pure-Python one, which
    gives the same data), so that the tests can load the template afresh in every test."""


def _construct_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path):
    """A template file, JSON (a rendering) or YAML."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return yaml.load(text, Loader=CfnLoader)


def condition_holds(expression, condition, value):
    """A template condition's expression evaluated (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition),
    with `condition(name)` for a named condition and `value(v)` for an operand of Fn::Equals."""
    (function, argument), = expression.items()
    if function == "Condition":
        return condition(argument)
    if function == "Fn::Equals":
        return value(argument[0]) == value(argument[1])
    if function == "Fn::Not":
        return not condition_holds(argument[0], condition, value)
    if function == "Fn::And":
        return all(condition_holds(a, condition, value) for a in argument)
    if function == "Fn::Or":
        return any(condition_holds(a, condition, value) for a in argument)
    raise ValueError(f"condition function {function} is not evaluated here")
