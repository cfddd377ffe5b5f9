"""scripts/publish-stackset.py against moto's server (offline): the one release path.

Run: .venv/bin/python -m pytest -q infra/tests/test_publish_stackset.py   (scripts/setup-venv.sh creates .venv;
     scripts/validate-infra.sh runs it too)

The script updates (or creates) the stack of infra/stackset.yaml that owns the StackSets, and
never a StackSet itself; these tests read what a release leaves: the objects and their versions in
every region's code bucket, the owning stack's parameters and template, and the rendered template
at its TemplateURL, whose mapping pins every function's object version per region.

What moto 5.2.1 covers here, and what it does not (checked in its source and by these tests):
- S3: buckets per region (head_bucket reports x-amz-bucket-region), versioning (put_object returns
  the new VersionId, head_object and get_object take one), bucket policies, default encryption and
  public access blocks (put/get/delete), list_object_versions. Not covered: ExpectedBucketOwner
  (ignored), head_object's ChecksumSHA256 (none: the script relies on its x-amz-meta-sha256), and
  bucket policies: moto enforces them on object requests without their conditions (its
  put_bucket_policy: "Conditions are not taken into account"), so the TLS-only Deny of
  infra/code-buckets.yaml would refuse every request, with TLS or without; the server runs in this
  process and the fixture `aws` turns that enforcement off (moto's FakeBucket.get_permission). The
  policy is what the script reads and checks; what it allows and denies is checked by
  infra/rules/release.guard, not by moto.
  moto's CloudFormation applies none of AWS::S3::Bucket's settings but BucketEncryption and knows
  no AWS::S3::BucketPolicy, so the tests make each code bucket with the API, from the settings and
  the policy of infra/code-buckets.yaml (code_bucket below).
- CloudFormation stacks: create_stack/update_stack with a TemplateBody and with a TemplateURL read
  from its S3, UsePreviousValue (of values given explicitly: moto keeps no defaults as previous
  values, so the script creates the owning stack with every value explicit), UsePreviousTemplate,
  get_template (DescribeStacks gives a CommaDelimitedList's value as a Python list's repr: the fixture
  `aws` joins it with commas, as CloudFormation returns it). moto has no AWS::CloudFormation::StackSet resource: it skips both StackSets of the
  owning stack (a warning), so the rollout itself (the pilot's operation, then the rest's; the
  operation preferences; the parameter overrides reaching stack instances) is what the owning
  stack's template says, checked here as CloudFormation would evaluate it, and by the guard rule
  stack_sets_roll_out_pilot_first_with_absolute_counts. That the handler of that resource waits for
  each StackSet operation and fails unless it SUCCEEDED is its source's behaviour
  (aws-cloudformation-resource-providers-cloudformation, BaseHandlerStd.isStackSetOperationDone).
- CloudFormation StackSets (the end-to-end test): create_stack_set from the published TemplateURL,
  create_stack_instances over moto's Organizations; a Lambda function's code comes from
  "<prefix>-<region>" by S3Key, Fn::FindInMap of AWS::Region resolved. moto's Lambda ignores
  S3ObjectVersion (it reads the latest object under the key), so that a function gets the pinned
  version itself is shown on S3 (head_object of that version), not through moto's Lambda.
- AWS Signer: moto has the signing profiles only, no StartSigningJob: the signing test uses a fake
  signer (FakeSigner) that writes a "signed" copy into the destination prefix, as Signer does.
- Organizations: list_parents (the pilot OU inside a listed OU is refused).
"""

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile

import boto3
import pytest
from moto.server import ThreadedMotoServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "infra", "tools"))
import cfn_yaml  # noqa: E402  (infra/tools: templates as data)

SCRIPT = os.path.join(ROOT, "scripts", "publish-stackset.py")
CODE_BUCKETS = os.path.join(ROOT, "infra", "code-buckets.yaml")
STACKSET = os.path.join(ROOT, "infra", "stackset.yaml")
PREFIX = "acme-vpce-guard"
HOME = "us-east-1"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
OWNING = "vpce-guard-stackset"
FUNCTIONS = {"NotebookCreatedFunction": "on-notebook-created", "SubnetCreatedFunction": "on-subnet-created", "RemediateFunction": "remediate"}
CODE_KEY = re.compile(r"^vpce-guard/(?P<name>[a-z-]+)/(?P<sha>[0-9a-f]{64})\.zip$")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ACCOUNT = "123456789012"  # moto's
RELEASE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/vpce-guard-release"
PREFIX_LIST = "pl-0123456789abcdef0"

SCRIPT_MODULE = None
# moto skips the owning stack's two AWS::CloudFormation::StackSet resources, with a warning each time.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudFormation..StackSet")


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("publish_stackset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script():
    global SCRIPT_MODULE
    SCRIPT_MODULE = SCRIPT_MODULE or load_script()
    return SCRIPT_MODULE


# ------------------------------------------------------------------------------------------ moto


@pytest.fixture(scope="module")
def server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


class Aws:
    # One client per server, service, region and credentials for the whole module: making a client
    # costs more than most calls, and moto is reset between tests, not restarted.
    clients = {}

    def __init__(self, url):
        self.url = url

    def client(self, service, region=HOME, **credentials):
        credentials = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        key = (self.url, service, region, tuple(sorted(credentials.items())))
        if key not in Aws.clients:
            Aws.clients[key] = boto3.client(service, region_name=region, endpoint_url=self.url, **credentials)
        return Aws.clients[key]

    def s3(self, region=HOME):
        return self.client("s3", region)

    @property
    def cfn(self):
        return self.client("cloudformation")


@pytest.fixture
def aws(server, monkeypatch):
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST")).read()
    from moto.cloudformation.models import Stack

    # moto would apply the code buckets' conditional Deny statements unconditionally (above).
    monkeypatch.setattr(FakeBucket, "get_permission", lambda bucket, action, resource: PermissionResult.NEUTRAL)
    # moto's DescribeStacks gives a CommaDelimitedList parameter as a Python list's repr;
    # CloudFormation gives the values joined by commas, as they were passed.
    monkeypatch.setattr(Stack, "parameter_list", property(lambda stack: [
        {"ParameterKey": k, "ParameterValue": ",".join(v) if isinstance(v, list) else v}
        for k, v in stack.resource_map.resolved_parameters.items()]))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": HOME, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    return Aws(server)


@pytest.fixture
def org(aws):
    """An Organization with a pilot OU and a workloads OU, one member account in each:
    {"pilot": ou, "workloads": ou, "pilot_account": id, "account": id, "root": id}."""
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    found = {"root": root}
    for name, account_key in (("pilot", "pilot_account"), ("workloads", "account")):
        ou = organizations.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        account = organizations.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
        organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        found[name], found[account_key] = ou, account
    return found


def code_bucket(region, prefix=PREFIX):
    """infra/code-buckets.yaml's bucket of REGION: its name, settings and bucket policy, resolved."""
    template = cfn_yaml.load_template(CODE_BUCKETS)
    bucket = f"{prefix}-{region}"
    values = {"OrganizationId": "o-abcdefghij", "ReleaseRoleArn": RELEASE_ROLE, "KeyPrefix": "vpce-guard",
              "CodeBucket.Arn": f"arn:aws:s3:::{bucket}", "CodeBucket": bucket}

    def resolve(value):
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return values[value["Ref"]]
            if set(value) == {"Fn::GetAtt"}:
                return values[".".join(value["Fn::GetAtt"])]
            if set(value) == {"Fn::Sub"}:
                return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], value["Fn::Sub"])
            return {k: resolve(v) for k, v in value.items()}
        return value

    properties = template["Resources"]["CodeBucket"]["Properties"]
    policy = resolve(template["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"])
    return bucket, properties, policy


def make_buckets(aws, regions=REGIONS, prefix=PREFIX):
    """The code buckets as infra/code-buckets.yaml makes them (versioned, encrypted, private, TLS only)."""
    for region in regions:
        s3 = aws.s3(region)
        bucket, properties, policy = code_bucket(region, prefix)
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **config)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]})
        default = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"])
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def rendered_template(names=FUNCTIONS):
    """What infra/tools/infra_checks.py render produces, cut down: code from <prefix>-<region>, the
    version "unpublished", a code signing configuration as a parameter."""
    resources = {
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}},
        }
    }
    for logical_id, name in names.items():
        resources[logical_id] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": {"Fn::Sub": "${NamePrefix}-" + name},
                "Code": {"S3Bucket": {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}, "S3Key": f"vpce-guard/{name}-unbuilt.zip", "S3ObjectVersion": "unpublished"},
                "Handler": "bootstrap",
                "Runtime": "provided.al2023",
                "Architectures": ["arm64"],
                "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "vpce-guard (test rendering)",
        "Parameters": {
            "NamePrefix": {"Type": "String", "Default": "vpce-guard"},
            "DryRun": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
            "ClientPrefixLists": {"Type": "String", "Default": "", "AllowedPattern": "^$|^pl-[0-9a-f]{1,17}(,pl-[0-9a-f]{1,17})*$"},
            "ArtifactBucketPrefix": {"Type": "String", "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$"},
        },
        "Resources": resources,
    }


def make_build(tmp_path, names=FUNCTIONS, salt=""):
    """A sam build layout: <build>/<LogicalId>/bootstrap (small fabricated files) and the template."""
    build = tmp_path / "build"
    for logical_id, name in names.items():
        (build / logical_id).mkdir(parents=True, exist_ok=True)
        (build / logical_id / "bootstrap").write_bytes(f"#!/bin/sh\necho {name}{salt}\n".encode() * 200)
    template = tmp_path / "stackset-template.json"
    template.write_text(json.dumps(rendered_template(names), indent=1))
    return build, template


def parameters_file(tmp_path, org, regions=REGIONS, name="parameters.json", **more):
    """The parameters of a first release (what creates the owning stack)."""
    values = {"ArtifactBucketPrefix": PREFIX, "PilotOrganizationalUnitId": org["pilot"], "OrganizationalUnitIds": org["workloads"],
              "Regions": ",".join(regions), "NamePrefix": "acme-guard", "FailureToleranceCount": "2", "MaxConcurrentCount": "10"}
    values.update(more)
    path = tmp_path / name
    path.write_text(json.dumps({"Parameters": values}))
    return path


def publish(aws, build, template, *extra, process=False):
    """Runs the script: in this process (fast), or with process=True as a command (exit code, output)."""
    argv = ["--endpoint-url", aws.url, "--region", HOME, "--build-dir", str(build)]
    if template:
        argv += ["--template", str(template)]
    argv += [str(e) for e in extra]
    if process:
        return subprocess.run([sys.executable, SCRIPT] + argv, capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = script().main(argv, out=out)
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


def first_release(aws, org, tmp_path, regions=REGIONS, **more):
    """Buckets, a build, and a first release that creates the owning stack: (build, template, result)."""
    make_buckets(aws, regions)
    build, template = make_build(tmp_path)
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org, regions, **more))
    assert result.returncode == 0, result.stderr
    return build, template, result


def all_objects(aws):
    """{s3://bucket/key#version: ETag} of every object version of every bucket."""
    s3 = aws.s3()
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for item in s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", []):
            found[f"s3://{bucket['Name']}/{item['Key']}#{item['VersionId']}"] = item["ETag"]
    return found


def owning_stack(aws):
    """(parameters, template) of the owning stack, or None."""
    try:
        stack = aws.cfn.describe_stacks(StackName=OWNING)["Stacks"][0]
    except aws.cfn.exceptions.ClientError:
        return None
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    body = aws.cfn.get_template(StackName=OWNING)["TemplateBody"]
    return parameters, json.loads(body) if isinstance(body, str) else body


def released_template(aws, parameters):
    """The rendered template the owning stack's TemplateURL names, from moto's S3."""
    match = re.match(r"^https://(?P<bucket>[^.]+)\.s3\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<key>.+)$", parameters["TemplateURL"])
    assert match, parameters["TemplateURL"]
    body = aws.s3(match.group("region")).get_object(Bucket=match.group("bucket"), Key=match.group("key"))["Body"].read()
    return json.loads(body)


def latest_versions(aws, region, prefix=PREFIX):
    """{key: latest version id} of the code objects in REGION's bucket."""
    versions = aws.s3(region).list_object_versions(Bucket=f"{prefix}-{region}", Prefix="vpce-guard/").get("Versions", [])
    return {v["Key"]: v["VersionId"] for v in versions if v["IsLatest"] and v["Key"].endswith(".zip")}


def pinned(released):
    """{region: {function logical id: (key, version)}} of a released template, checking its Code form."""
    mapping = released["Mappings"]["CodeObjects"]
    found = {}
    for logical_id, resource in released["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        code = resource["Properties"]["Code"]
        assert code["S3Bucket"] == {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}
        assert code["S3Key"] == {"Fn::FindInMap": ["CodeObjects", {"Ref": "AWS::Region"}, f"{logical_id}Key"]}
        assert code["S3ObjectVersion"] == {"Fn::FindInMap": ["CodeObjects", {"Ref": "AWS::Region"}, f"{logical_id}Version"]}
        for region, entry in mapping.items():
            found.setdefault(region, {})[logical_id] = (entry[f"{logical_id}Key"], entry[f"{logical_id}Version"])
    return found


def uploaded_bytes(stdout):
    match = re.search(r"uploaded (\d+) objects \(([\d,]+) bytes\)", stdout)
    assert match, stdout
    return int(match.group(1)), int(match.group(2).replace(",", ""))


class Evaluated:
    """The owning stack's template as CloudFormation evaluates it for its parameter values: Ref of a
    parameter (a CommaDelimitedList as a list), Fn::Sub of parameters, Fn::If of its conditions,
    AWS::NoValue dropped."""

    NO_VALUE = object()

    def __init__(self, template, parameters):
        self.template = template
        self.values = {}
        for name, spec in template["Parameters"].items():
            value = parameters.get(name, str(spec.get("Default", "")))
            self.values[name] = [v.strip() for v in value.split(",")] if spec["Type"] == "CommaDelimitedList" else value

    def condition(self, name):
        return cfn_yaml.condition_holds(self.template["Conditions"][name], self.condition, self.resolve)

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not self.NO_VALUE]
        if isinstance(value, dict):
            if value == {"Ref": "AWS::NoValue"}:
                return self.NO_VALUE
            if set(value) == {"Ref"} and value["Ref"] in self.values:
                return self.values[value["Ref"]]
            if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.values[m.group(1)], value["Fn::Sub"])
            if set(value) == {"Fn::If"}:
                name, yes, no = value["Fn::If"]
                return self.resolve(yes if self.condition(name) else no)
            return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not self.NO_VALUE}
        return value

    def stack_sets(self):
        return {name: self.resolve(r["Properties"]) | {"DependsOn": r.get("DependsOn")}
                for name, r in self.template["Resources"].items() if r["Type"] == "AWS::CloudFormation::StackSet"}

    def instance_overrides(self):
        """{(StackSet name, OU, region): {parameter: override}} of every stack instance target."""
        found = {}
        for properties in self.stack_sets().values():
            for group in properties["StackInstancesGroup"]:
                overrides = {p["ParameterKey"]: p["ParameterValue"] for p in group.get("ParameterOverrides", [])}
                for ou in group["DeploymentTargets"]["OrganizationalUnitIds"]:
                    for region in group["Regions"]:
                        target = (properties["StackSetName"], ou, region)
                        assert target not in found, f"{target} in two groups"
                        found[target] = overrides
        return found


def creation_order(template):
    """The order CloudFormation creates (and updates) the resources in: after every resource each
    depends on (DependsOn, Ref, Fn::GetAtt, ${...} of Fn::Sub)."""
    resources = template["Resources"]

    def references(value):
        if isinstance(value, list):
            return set().union(*map(references, value)) if value else set()
        if isinstance(value, dict):
            found = set()
            for key, item in value.items():
                if key == "Ref" and item in resources:
                    found.add(item)
                elif key == "Fn::GetAtt":
                    found.add(item[0] if isinstance(item, list) else item.split(".")[0])
                elif key == "Fn::Sub":
                    text = item if isinstance(item, str) else item[0]
                    found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text) if m.split(".")[0] in resources}
                found |= references(item)
            return found
        return set()

    needs = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        needs[name] = references(resource.get("Properties", {})) | set([depends] if isinstance(depends, str) else depends)
    order = []
    while len(order) < len(resources):
        ready = sorted(n for n in resources if n not in order and needs[n] <= set(order))
        assert ready, f"a dependency cycle among {set(resources) - set(order)}"
        order.append(ready[0])
    return order


# ----------------------------------------------------------------------------------------- tests


def test_zip_is_deterministic_bootstrap_0755_fixed_date(tmp_path):
    module = script()
    first = module.zip_bootstrap(b"\x7fELF binary")
    time.sleep(1.1)
    assert module.zip_bootstrap(b"\x7fELF binary") == first
    (entry,) = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert entry.filename == "bootstrap"
    assert entry.date_time == (1980, 1, 1, 0, 0, 0)
    assert entry.external_attr >> 16 == 0o100755
    assert zipfile.ZipFile(io.BytesIO(first)).read("bootstrap") == b"\x7fELF binary"
    # The source file's mode and mtime do not reach the zip.
    build, template = make_build(tmp_path)
    path = build / "RemediateFunction" / "bootstrap"
    zips = []
    for mode, mtime in ((0o644, 1_000_000_000), (0o755, 1_700_000_000)):
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))
        functions = module.prepare_build(json.loads(template.read_text()), str(build), "vpce-guard")
        zips.append({name: (digest, key) for _, name, _, digest, key in functions})
    assert zips[0] == zips[1]
    assert zips[0]["remediate"][1] == f"vpce-guard/remediate/{zips[0]['remediate'][0]}.zip"


def test_a_first_release_creates_the_owning_stack_with_every_object_version_pinned(aws, org, tmp_path):
    make_buckets(aws)
    build, template = make_build(tmp_path)
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org), process=True)
    assert result.returncode == 0, result.stderr
    assert f"new stack {OWNING} ({HOME}); ArtifactBucketPrefix {PREFIX}; regions us-east-1, us-west-2, eu-west-1" in result.stdout
    assert "buckets: 3 checked (versioning Enabled, TLS-only policy, default encryption, public access blocked)" in result.stdout

    # Every function's zip in every region, under the sha256 of its bytes, with a bootstrap inside.
    for region in REGIONS:
        s3 = aws.s3(region)
        keys = latest_versions(aws, region)
        assert sorted(CODE_KEY.match(k).group("name") for k in keys) == sorted(FUNCTIONS.values())
        for key, version in keys.items():
            data = s3.get_object(Bucket=f"{PREFIX}-{region}", Key=key, VersionId=version)["Body"].read()
            assert hashlib.sha256(data).hexdigest() == CODE_KEY.match(key).group("sha")
            assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["bootstrap"]

    # The owning stack: every parameter of infra/stackset.yaml explicit, TemplateURL the release.
    parameters, owning = owning_stack(aws)
    assert parameters["TemplateURL"].startswith(f"https://{PREFIX}-{HOME}.s3.{HOME}.amazonaws.com/vpce-guard/stackset-template/")
    assert set(parameters) == set(cfn_yaml.load_template(STACKSET)["Parameters"])
    assert parameters["PilotOrganizationalUnitId"] == org["pilot"] and parameters["FailureToleranceCount"] == "2"
    assert set(owning["Resources"]) == {"PilotStackSet", "StackSet"}

    # The StackSets get the exact versions: each region's mapping holds the version S3 gave there.
    released = released_template(aws, parameters)
    code = pinned(released)
    assert sorted(code) == sorted(REGIONS)
    for region in REGIONS:
        versions = latest_versions(aws, region)
        assert {key: version for key, version in code[region].values()} == versions
        assert sorted(code[region]) == sorted(FUNCTIONS)
    assert len({version for region in REGIONS for _, version in code[region].values()}) == 3 * 3  # S3's, per bucket
    assert "unpublished" not in json.dumps(released)
    # The script never touched a StackSet itself (moto has no StackSet resource: none exists).
    assert aws.cfn.list_stack_sets()["Summaries"] == []


def test_a_release_updates_the_owning_stack_and_keeps_its_other_parameters(aws, org, tmp_path):
    build, template, _ = first_release(aws, org, tmp_path)
    before, _ = owning_stack(aws)
    (build / "RemediateFunction" / "bootstrap").write_bytes(b"#!/bin/sh\necho remediate v2\n")

    result = publish(aws, build, template)  # no parameters file: everything comes from the stack
    assert result.returncode == 0, result.stderr
    assert f"UpdateStack {OWNING}: TemplateURL=" in result.stdout
    after, _ = owning_stack(aws)
    assert after["TemplateURL"] != before["TemplateURL"]
    assert {k: v for k, v in after.items() if k != "TemplateURL"} == {k: v for k, v in before.items() if k != "TemplateURL"}
    assert uploaded_bytes(result.stdout)[0] == 3 + 1  # remediate in 3 regions, and the template
    assert all("/remediate/" in line or "/stackset-template/" in line for line in result.stdout.splitlines() if line.startswith("upload "))
    # The other functions keep their versions; remediate's is the new upload's, in every region.
    old, new = pinned(released_template(aws, before)), pinned(released_template(aws, after))
    for region in REGIONS:
        assert old[region]["NotebookCreatedFunction"] == new[region]["NotebookCreatedFunction"]
        assert old[region]["RemediateFunction"] != new[region]["RemediateFunction"]
        assert new[region]["RemediateFunction"][1] == latest_versions(aws, region)[new[region]["RemediateFunction"][0]]
    assert aws.cfn.list_stack_sets()["Summaries"] == []


def test_republishing_the_same_build_uploads_nothing_and_does_not_update(aws, org, tmp_path):
    build, template, first = first_release(aws, org, tmp_path)
    before = all_objects(aws), owning_stack(aws)

    second = publish(aws, build, template)
    assert second.returncode == 0, second.stderr
    assert uploaded_bytes(second.stdout) == (0, 0)
    assert second.stdout.count("skip    s3://") == 3 * 3 + 1
    assert "checked 9 object versions in 3 buckets" in second.stdout
    assert "already has this template and these parameters: not updated" in second.stdout
    assert (all_objects(aws), owning_stack(aws)) == before  # no new version, no stack change
    print(f"\nbytes uploaded: first run {uploaded_bytes(first.stdout)[1]:,}, second run {uploaded_bytes(second.stdout)[1]:,}")


def test_a_pinned_version_is_what_deploys_even_after_its_key_is_overwritten(aws, org, tmp_path):
    """S3 keeps every version; the template names one. An object written later under the same key
    (here by the bucket owner, whom infra/code-buckets.yaml's policy would refuse) changes nothing for
    the release, and the next publish sees that the latest object is not the build and uploads it
    again, pinning that new version."""
    build, template, _ = first_release(aws, org, tmp_path, regions=["us-east-1"])
    parameters, _ = owning_stack(aws)
    key, version = pinned(released_template(aws, parameters))["us-east-1"]["RemediateFunction"]
    s3 = aws.s3()
    s3.put_object(Bucket=f"{PREFIX}-us-east-1", Key=key, Body=b"not the release", Metadata={"sha256": "0" * 64})

    held = s3.get_object(Bucket=f"{PREFIX}-us-east-1", Key=key, VersionId=version)
    assert hashlib.sha256(held["Body"].read()).hexdigest() == CODE_KEY.match(key).group("sha")
    again = publish(aws, build, template)
    assert again.returncode == 0, again.stderr
    assert f"replace s3://{PREFIX}-us-east-1/{key}" in again.stdout
    after, _ = owning_stack(aws)
    key_after, version_after = pinned(released_template(aws, after))["us-east-1"]["RemediateFunction"]
    assert key_after == key and version_after not in (version, None)
    data = s3.get_object(Bucket=f"{PREFIX}-us-east-1", Key=key, VersionId=version_after)["Body"].read()
    assert hashlib.sha256(data).hexdigest() == CODE_KEY.match(key).group("sha")


def break_versioning(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def break_policy_removed(s3, bucket):
    s3.delete_bucket_policy(Bucket=bucket)


def break_policy_without_tls(s3, bucket):
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "TlsOnly"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def break_tls_on_objects_only(s3, bucket):
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    for statement in policy["Statement"]:
        if statement.get("Sid") == "TlsOnly":
            statement["Resource"] = f"arn:aws:s3:::{bucket}/*"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def break_tls_condition_true(s3, bucket):
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    for statement in policy["Statement"]:
        if statement.get("Sid") == "TlsOnly":
            statement["Condition"]["Bool"]["aws:SecureTransport"] = "true"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def break_encryption(s3, bucket):
    s3.delete_bucket_encryption(Bucket=bucket)


def break_public_policy_allowed(s3, bucket):
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})


def break_public_access_block_removed(s3, bucket):
    s3.delete_public_access_block(Bucket=bucket)


@pytest.mark.parametrize(
    "breaking, expected",
    [
        (break_versioning, "versioning is Suspended (the StackSet pins object versions: it must be Enabled)"),
        (break_policy_removed, "no bucket policy (it must deny requests without TLS"),
        (break_policy_without_tls, "its policy has no statement denying s3:* to everyone when aws:SecureTransport is false"),
        (break_tls_on_objects_only, "its policy has no statement denying s3:* to everyone when aws:SecureTransport is false, on the bucket and its objects"),
        (break_tls_condition_true, "its policy has no statement denying s3:* to everyone when aws:SecureTransport is false"),
        (break_encryption, "no default encryption"),
        (break_public_policy_allowed, "public access not fully blocked (BlockPublicPolicy off)"),
        (break_public_access_block_removed, "public access not fully blocked (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets off)"),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_a_code_bucket_without_its_protections_refuses_the_release(aws, org, tmp_path, breaking, expected):
    """Each of the bucket checks, on the first release and on a later one: refused, nothing written."""
    make_buckets(aws)
    build, template = make_build(tmp_path)
    breaking(aws.s3("us-west-2"), f"{PREFIX}-us-west-2")
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org))
    assert result.returncode == 1, result.stdout
    assert f"bucket {PREFIX}-us-west-2: {expected}" in result.stderr
    assert "refusing to publish, nothing was written" in result.stderr
    assert all_objects(aws) == {} and owning_stack(aws) is None


def test_a_later_release_is_refused_too_and_the_stack_keeps_its_code(aws, org, tmp_path):
    build, template, _ = first_release(aws, org, tmp_path)
    before = all_objects(aws), owning_stack(aws)
    break_policy_without_tls(aws.s3("eu-west-1"), f"{PREFIX}-eu-west-1")
    break_versioning(aws.s3(HOME), f"{PREFIX}-{HOME}")
    (build / "RemediateFunction" / "bootstrap").write_bytes(b"#!/bin/sh\necho remediate v2\n")
    result = publish(aws, build, template)
    assert result.returncode == 1
    assert f"bucket {PREFIX}-eu-west-1: its policy has no statement denying" in result.stderr
    assert f"bucket {PREFIX}-{HOME}: versioning is Suspended" in result.stderr  # every problem, at once
    assert (all_objects(aws), owning_stack(aws)) == before


def test_a_missing_bucket_in_one_region_refuses_and_changes_nothing(aws, org, tmp_path):
    make_buckets(aws, ["us-east-1", "us-west-2"])  # none in eu-west-1
    build, template = make_build(tmp_path)
    for extra in ([], ["--dry-run"]):
        result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org), *extra, process=True)
        assert result.returncode == 1
        assert f"bucket {PREFIX}-eu-west-1 does not exist (needed in eu-west-1)" in result.stderr
        assert "nothing was written" in result.stderr
        assert all_objects(aws) == {}  # not even in the buckets that exist
        assert owning_stack(aws) is None


def test_a_bucket_in_the_wrong_region_refuses(aws, org, tmp_path):
    make_buckets(aws, ["us-east-1", "eu-west-1"])
    aws.s3("eu-west-1").create_bucket(Bucket=f"{PREFIX}-us-west-2", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    build, template = make_build(tmp_path)
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org))
    assert result.returncode == 1
    assert f"bucket {PREFIX}-us-west-2 is in eu-west-1, not us-west-2" in result.stderr
    assert all_objects(aws) == {}


def test_a_version_missing_after_upload_refuses_the_update(aws, org, tmp_path, monkeypatch, capsys):
    """head_object of every key at its exact version gates the owning stack: an upload that silently
    did not land (here: put_object skipped for one function in one region) refuses the update."""
    build, template, _ = first_release(aws, org, tmp_path)
    before = owning_stack(aws)
    (build / "RemediateFunction" / "bootstrap").write_bytes(b"#!/bin/sh\necho remediate v2\n")
    module = script()
    real_put = module.put_object

    def lossy_put(s3, bucket, key, *rest):
        if bucket == f"{PREFIX}-us-west-2" and "/remediate/" in key:
            return None
        return real_put(s3, bucket, key, *rest)

    monkeypatch.setattr(module, "put_object", lossy_put)
    out = io.StringIO()
    status = module.main(["--endpoint-url", aws.url, "--region", HOME, "--build-dir", str(build), "--template", str(template)], out=out)
    stderr = capsys.readouterr().err
    assert status == 1
    assert f"refusing to update stack {OWNING}: missing or different after upload" in stderr
    assert re.search(rf"s3://{PREFIX}-us-west-2/vpce-guard/remediate/[0-9a-f]{{64}}\.zip \(no version\)", stderr)
    assert stderr.count("s3://") == 1
    assert owning_stack(aws) == before
    assert "UpdateStack" not in out.getvalue()


def test_dry_run_prints_the_plan_and_writes_nothing(aws, org, tmp_path):
    make_buckets(aws)
    build, template = make_build(tmp_path)
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would upload s3://") == 9
    assert "would upload 9 objects" in result.stdout
    assert f"then update stack {OWNING} (TemplateURL), the pilot OU first" in result.stdout
    assert all_objects(aws) == {} and owning_stack(aws) is None


# -------------------------------------------------------------------- staged rollout (issue 19, 9)


def test_the_pilot_stackset_is_updated_before_the_rest(aws, org, tmp_path):
    """The owning stack's template as deployed: CloudFormation orders the StackSets by their
    dependencies, the pilot's first; both take the release from the one TemplateURL parameter."""
    first_release(aws, org, tmp_path)
    parameters, template = owning_stack(aws)
    assert creation_order(template) == ["PilotStackSet", "StackSet"]
    assert template["Resources"]["StackSet"]["DependsOn"] == "PilotStackSet"
    assert "DependsOn" not in template["Resources"]["PilotStackSet"]
    stack_sets = Evaluated(template, parameters).stack_sets()
    assert stack_sets["PilotStackSet"]["TemplateURL"] == stack_sets["StackSet"]["TemplateURL"] == parameters["TemplateURL"]
    assert stack_sets["PilotStackSet"]["StackSetName"] == "vpce-guard-pilot" and stack_sets["StackSet"]["StackSetName"] == "vpce-guard"
    targets = {name: s["StackInstancesGroup"][0]["DeploymentTargets"]["OrganizationalUnitIds"] for name, s in stack_sets.items()}
    assert targets == {"PilotStackSet": [org["pilot"]], "StackSet": [org["workloads"]]}
    # Both hand the template the same parameters (infra_checks.py params checks them against the rendering).
    assert stack_sets["PilotStackSet"]["Parameters"] == stack_sets["StackSet"]["Parameters"]


def test_operation_preferences_are_absolute_counts_with_soft_failure_tolerance(aws, org, tmp_path):
    """StackSetOperationPreferences (CloudFormation API reference): SOFT_FAILURE_TOLERANCE runs
    MaxConcurrentCount accounts per region at once whatever the failures so far; the pilot stops at
    its first failed account, the rest after FailureToleranceCount per region."""
    first_release(aws, org, tmp_path, FailureToleranceCount="4", MaxConcurrentCount="30")
    parameters, template = owning_stack(aws)
    stack_sets = Evaluated(template, parameters).stack_sets()
    assert stack_sets["PilotStackSet"]["OperationPreferences"] == {
        "RegionConcurrencyType": "PARALLEL", "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE", "FailureToleranceCount": 0, "MaxConcurrentCount": "30"}
    assert stack_sets["StackSet"]["OperationPreferences"] == {
        "RegionConcurrencyType": "PARALLEL", "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE", "FailureToleranceCount": "4", "MaxConcurrentCount": "30"}


def test_region_overrides_and_the_pilot_dry_run_reach_their_stack_instances(aws, org, tmp_path):
    """RegionParameterOverrides: the instances of that region (pilot and rest) get the value as a
    parameter override; PilotDryRun=true: the pilot's instances run with DryRun=true, in every region."""
    make_buckets(aws)
    build, template = make_build(tmp_path)
    path = parameters_file(tmp_path, org, PilotDryRun="true", RegionParameterOverrides={"eu-west-1": {"ClientPrefixLists": PREFIX_LIST}})
    result = publish(aws, build, template, "--parameters", path)
    assert result.returncode == 0, result.stderr
    assert f"region eu-west-1: parameter overrides ClientPrefixLists={PREFIX_LIST}" in result.stdout
    parameters, owning = owning_stack(aws)
    overrides = Evaluated(owning, parameters).instance_overrides()
    expected = {}
    for region in REGIONS:
        regional = {"ClientPrefixLists": PREFIX_LIST} if region == "eu-west-1" else {}
        expected[("vpce-guard-pilot", org["pilot"], region)] = {"DryRun": "true", **regional}
        expected[("vpce-guard", org["workloads"], region)] = regional
    assert overrides == expected
    # With the pilot's dry run off, the pilot keeps the region's override only.
    off = Evaluated(owning, {**parameters, "PilotDryRun": "false"}).instance_overrides()
    assert off[("vpce-guard-pilot", org["pilot"], "eu-west-1")] == {"ClientPrefixLists": PREFIX_LIST}
    assert off[("vpce-guard-pilot", org["pilot"], "us-east-1")] == {}

    # A later release without a parameters file keeps the overrides (recorded in the template).
    (build / "RemediateFunction" / "bootstrap").write_bytes(b"#!/bin/sh\necho remediate v2\n")
    assert publish(aws, build, template).returncode == 0
    later_parameters, later = owning_stack(aws)
    assert later_parameters["TemplateURL"] != parameters["TemplateURL"]
    assert Evaluated(later, later_parameters).instance_overrides() == expected
    # An empty map removes them.
    path.write_text(json.dumps({"Parameters": {"RegionParameterOverrides": {}}}))
    assert publish(aws, build, template, "--parameters", path).returncode == 0
    cleared_parameters, cleared = owning_stack(aws)
    assert cleared_parameters["TemplateURL"] == later_parameters["TemplateURL"]  # the same code
    assert Evaluated(cleared, cleared_parameters).instance_overrides() == {
        target: {"DryRun": "true"} if target[0] == "vpce-guard-pilot" else {} for target in expected}
    assert cleared["Resources"]["StackSet"]["Properties"]["StackInstancesGroup"] == [
        {"DeploymentTargets": {"OrganizationalUnitIds": {"Ref": "OrganizationalUnitIds"}}, "Regions": {"Ref": "Regions"}}]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"ap-south-1": {"ClientPrefixLists": PREFIX_LIST}}, "ap-south-1: not one of Regions"),
        ({"eu-west-1": {"ClientPrefixList": PREFIX_LIST}}, "eu-west-1.ClientPrefixList: not a parameter of the template"),
        ({"eu-west-1": {"ClientPrefixLists": "pl-XYZ"}}, "eu-west-1.ClientPrefixLists='pl-XYZ': refused by the template"),
        ({"eu-west-1": {"ArtifactBucketPrefix": "other"}}, "eu-west-1.ArtifactBucketPrefix: the same for every region"),
    ],
)
def test_a_bad_region_override_refuses_before_anything_is_written(aws, org, tmp_path, overrides, expected):
    make_buckets(aws)
    build, template = make_build(tmp_path)
    result = publish(aws, build, template, "--parameters", parameters_file(tmp_path, org, RegionParameterOverrides=overrides))
    assert result.returncode == 1
    assert expected in result.stderr
    assert all_objects(aws) == {} and owning_stack(aws) is None


def test_a_parameter_only_update_keeps_the_code_version(aws, org, tmp_path):
    """The code version is the owning stack's TemplateURL parameter: a parameter change through
    this script (--parameters-only) or through CloudFormation (previous template, previous values)
    leaves it, and so the released code, as it was."""
    first_release(aws, org, tmp_path)
    before, template_before = owning_stack(aws)
    code = pinned(released_template(aws, before))

    path = tmp_path / "alarm.json"
    path.write_text(json.dumps([{"ParameterKey": "AlarmEmail", "ParameterValue": "platform@example.com"}]))
    result = publish(aws, tmp_path / "no-build", None, "--parameters-only", "--parameters", path)
    assert result.returncode == 0, result.stderr
    assert "upload" not in result.stdout
    after, template_after = owning_stack(aws)
    assert after == {**before, "AlarmEmail": "platform@example.com"}
    assert template_after == template_before

    # Through CloudFormation: the previous template, every value but one the previous one.
    aws.cfn.update_stack(StackName=OWNING, UsePreviousTemplate=True, Parameters=[
        {"ParameterKey": k, "UsePreviousValue": True} if k != "MaxConcurrentCount" else {"ParameterKey": k, "ParameterValue": "50"}
        for k in after])
    latest, _ = owning_stack(aws)
    assert latest == {**after, "MaxConcurrentCount": "50"}
    assert latest["TemplateURL"] == before["TemplateURL"]
    assert pinned(released_template(aws, latest)) == code


def test_a_parameter_only_update_cannot_move_the_code(aws, org, tmp_path):
    """The release's code is in the buckets of its regions: a new region or another bucket prefix
    needs a release, which uploads there."""
    first_release(aws, org, tmp_path, regions=["us-east-1", "us-west-2"])
    before = owning_stack(aws)
    for change, expected in (({"Regions": "us-east-1,us-west-2,eu-west-1"}, "a change of Regions needs a release"),
                             ({"ArtifactBucketPrefix": "other-prefix"}, "a change of ArtifactBucketPrefix needs a release")):
        path = tmp_path / "change.json"
        path.write_text(json.dumps(change))
        result = publish(aws, tmp_path / "no-build", None, "--parameters-only", "--parameters", path)
        assert result.returncode == 1, result.stdout
        assert expected in result.stderr
        assert owning_stack(aws) == before


def test_the_pilot_ou_must_be_apart_from_the_rest(aws, org, tmp_path):
    make_buckets(aws)
    build, template = make_build(tmp_path)
    organizations = aws.client("organizations")
    inner = organizations.create_organizational_unit(ParentId=org["workloads"], Name="pilot-inside")["OrganizationalUnit"]["Id"]
    for pilot, rest, expected in (
        (org["pilot"], f"{org['workloads']},{org['pilot']}", f"the pilot OU {org['pilot']} is also one of OrganizationalUnitIds"),
        (inner, org["workloads"], f"the pilot OU {inner} lies inside {org['workloads']} of OrganizationalUnitIds"),
        (org["pilot"], org["root"], f"the pilot OU {org['pilot']} lies inside {org['root']} of OrganizationalUnitIds"),
    ):
        path = parameters_file(tmp_path, org, PilotOrganizationalUnitId=pilot, OrganizationalUnitIds=rest)
        result = publish(aws, build, template, "--parameters", path)
        assert result.returncode == 1, result.stdout
        assert expected in result.stderr
        assert all_objects(aws) == {} and owning_stack(aws) is None


def test_the_stackset_template_refuses_the_pilot_among_the_rest():
    """The same check in infra/stackset.yaml's Rules, for a stack deployed without the script."""
    from test_template_reliability import refused  # the Rules evaluator (infra/tests)

    template = cfn_yaml.load_template(STACKSET)
    given = {"PilotOrganizationalUnitId": "ou-abcd-11111111", "TemplateURL": "https://b.s3.us-east-1.amazonaws.com/k",
             "ArtifactBucketPrefix": PREFIX, "Regions": "us-east-1"}
    (message,) = refused(template, OrganizationalUnitIds=["ou-abcd-22222222", "ou-abcd-11111111"], **given)
    assert "must not be one of OrganizationalUnitIds" in message
    assert refused(template, OrganizationalUnitIds=["ou-abcd-22222222"], **given) == []


# ------------------------------------------------------------------------------- signing (issue 18, 4)


class FakeSigner:
    """AWS Signer's StartSigningJob as far as the script uses it, on moto's S3 (moto has no signing
    jobs): the signed copy goes to <prefix><job id>.zip in the destination bucket; the same
    clientRequestToken returns the same job (Signer: "All calls after the first that use this token
    return the same response as the first call")."""

    jobs = {}
    tokens = {}

    def __init__(self, s3, region):
        self.s3, self.region = s3, region

    def start_signing_job(self, source, destination, profileName, clientRequestToken):
        if clientRequestToken in FakeSigner.tokens:
            return {"jobId": FakeSigner.tokens[clientRequestToken]}
        job = hashlib.sha256(clientRequestToken.encode()).hexdigest()[:36]
        src = source["s3"]
        data = self.s3.get_object(Bucket=src["bucketName"], Key=src["key"], VersionId=src["version"])["Body"].read()
        key = f"{destination['s3']['prefix']}{job}.zip"
        self.s3.put_object(Bucket=destination["s3"]["bucketName"], Key=key, Body=data + f"\nsigned by {profileName}".encode())
        FakeSigner.tokens[clientRequestToken] = job
        FakeSigner.jobs[job] = {"jobId": job, "status": "Succeeded", "profileName": profileName, "profileVersion": "v1",
                                "source": source, "signedObject": {"s3": {"bucketName": destination["s3"]["bucketName"], "key": key}}}
        return {"jobId": job}

    def get_waiter(self, name):
        assert name == "successful_signing_job"
        return type("Waiter", (), {"wait": lambda self, jobId, WaiterConfig=None: None})()

    def describe_signing_job(self, jobId):
        return FakeSigner.jobs[jobId]


def test_signing_pins_the_signed_objects_and_a_rerun_signs_nothing_new(aws, org, tmp_path, monkeypatch):
    make_buckets(aws)
    build, template = make_build(tmp_path)
    FakeSigner.jobs.clear()
    FakeSigner.tokens.clear()
    real_client = boto3.session.Session.client

    def client(session, service, *args, **kwargs):
        if service == "signer":
            return FakeSigner(aws.s3(kwargs["region_name"]), kwargs["region_name"])
        return real_client(session, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client)
    path = parameters_file(tmp_path, org)
    result = publish(aws, build, template, "--parameters", path, "--signing-profile", "vpce_guard_release")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("signed  s3://") == 9
    parameters, _ = owning_stack(aws)
    code = pinned(released_template(aws, parameters))
    for region in REGIONS:
        for logical_id, (key, version) in code[region].items():
            assert key.startswith(f"vpce-guard/signed/{FUNCTIONS[logical_id]}/"), key
            job = FakeSigner.jobs[key.rsplit("/", 1)[1][:-4]]
            source = job["source"]["s3"]
            assert source["bucketName"] == f"{PREFIX}-{region}" and CODE_KEY.match(source["key"])
            assert source["version"] == latest_versions(aws, region)[source["key"]]  # the exact unsigned version
            body = aws.s3(region).get_object(Bucket=f"{PREFIX}-{region}", Key=key, VersionId=version)["Body"].read()
            assert body.endswith(b"signed by vpce_guard_release")
    jobs = len(FakeSigner.jobs)
    again = publish(aws, build, template, "--signing-profile", "vpce_guard_release")
    assert again.returncode == 0, again.stderr
    assert len(FakeSigner.jobs) == jobs  # the same tokens: the same jobs, the same signed versions
    assert "not updated" in again.stdout


# ------------------------------------------------------------------------------------ end to end


def test_the_published_template_url_deploys_with_the_published_code(aws, org, tmp_path):
    """End to end in moto: the release's TemplateURL goes into a StackSet (what PilotStackSet and
    StackSet do with it), whose instances in the member account create the functions from
    <prefix>-<region>/<the mapped key>: moto's Lambda reads each zip, and CodeSha256 is the key's
    hash. (moto's Lambda reads the latest object under the key; the version is shown on S3 above.)"""
    first_release(aws, org, tmp_path, regions=["us-east-1", "eu-west-1"])
    parameters, _ = owning_stack(aws)
    aws.cfn.create_stack_set(StackSetName="check", TemplateURL=parameters["TemplateURL"], PermissionModel="SERVICE_MANAGED", Capabilities=["CAPABILITY_IAM"],
                             Parameters=[{"ParameterKey": "ArtifactBucketPrefix", "ParameterValue": PREFIX}, {"ParameterKey": "NamePrefix", "ParameterValue": "acme-guard"}])
    aws.cfn.create_stack_instances(StackSetName="check", DeploymentTargets={"OrganizationalUnitIds": [org["workloads"]]}, Regions=["us-east-1", "eu-west-1"])
    for region in ("us-east-1", "eu-west-1"):
        role = aws.client("sts", region).assume_role(RoleArn=f"arn:aws:iam::{org['account']}:role/OrganizationAccountAccessRole", RoleSessionName="check")["Credentials"]
        member = aws.client("lambda", region, aws_access_key_id=role["AccessKeyId"], aws_secret_access_key=role["SecretAccessKey"], aws_session_token=role["SessionToken"])
        functions = {f["FunctionName"]: f["CodeSha256"] for f in member.list_functions()["Functions"]}
        assert sorted(functions) == sorted(f"acme-guard-{name}" for name in FUNCTIONS.values())
        for key in latest_versions(aws, region):
            match = CODE_KEY.match(key)
            assert functions[f"acme-guard-{match.group('name')}"] == base64.b64encode(bytes.fromhex(match.group("sha"))).decode()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing bootstrap", "no bootstrap for remediate (RemediateFunction)"),
        ("missing build dir", "no build at"),
        ("missing template", "rendered template"),
        ("published template", "pass a template rendered by infra/tools/infra_checks.py render, not a published one"),
        ("empty Regions", "Regions is empty"),
        ("no stack, no file", f"stack {OWNING} not found in us-east-1: create it with this script and --parameters FILE"),
        ("required parameter missing", "to create the owning stack, the parameters file sets none for: PilotOrganizationalUnitId"),
        ("percentages", "FailureTolerancePercentage: replaced by FailureToleranceCount (an absolute count per region)"),
        ("TemplateURL in the file", "TemplateURL: set by this script (the release), not by the parameters file"),
        ("template bucket missing", "(the template's bucket: choose one with --template-bucket)"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(aws, org, tmp_path, case, expected):
    make_buckets(aws, [r for r in REGIONS if case != "template bucket missing" or r != HOME])
    build, template = make_build(tmp_path)
    more = {}
    if case == "missing bootstrap":
        (build / "RemediateFunction" / "bootstrap").unlink()
    elif case == "missing build dir":
        build = tmp_path / "nowhere"
    elif case == "missing template":
        template = tmp_path / "nowhere.json"
    elif case == "published template":
        rendered = json.loads(template.read_text())
        rendered["Resources"]["RemediateFunction"]["Properties"]["Code"]["S3Key"] = {"Fn::FindInMap": ["CodeObjects", {"Ref": "AWS::Region"}, "RemediateFunctionKey"]}
        template.write_text(json.dumps(rendered))
    elif case == "empty Regions":
        more = {"Regions": ""}
    elif case == "percentages":
        more = {"FailureTolerancePercentage": "10"}
    elif case == "TemplateURL in the file":
        more = {"TemplateURL": "https://elsewhere.s3.us-east-1.amazonaws.com/t.json"}
    elif case == "template bucket missing":
        more = {"Regions": "us-west-2,eu-west-1"}
    extra = [] if case == "no stack, no file" else ["--parameters", parameters_file(tmp_path, org, **more)]
    if case == "required parameter missing":
        values = json.loads(extra[1].read_text())
        values["Parameters"].pop("PilotOrganizationalUnitId")
        extra[1].write_text(json.dumps(values))
    result = publish(aws, build, template, *extra)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert all_objects(aws) == {}
    assert owning_stack(aws) is None


def infra_python():
    python = os.path.join(ROOT, ".venv-infra", "bin", "python")
    if not os.access(python, os.X_OK):
        return None
    found = subprocess.run([python, "-c", "import samtranslator"], capture_output=True, check=False)
    return python if found.returncode == 0 else None


@pytest.mark.skipif(infra_python() is None, reason=".venv-infra with aws-sam-cli absent (scripts/validate-infra.sh creates it)")
def test_the_real_template_rendered_by_the_script(aws, org, tmp_path):
    """No --template: the script renders infra/template.yaml (infra_checks.py render, .venv-infra)
    and takes its functions from there, however many there are (each `Binary:` of the template),
    with the bootstraps in cargo lambda's layout (<build>/<binary>/bootstrap); every function's code
    is pinned, and carries the CodeSigningConfigArn parameter (empty: none)."""
    with open(os.path.join(ROOT, "infra", "template.yaml"), encoding="utf-8") as f:
        binaries = sorted(re.findall(r"^\s+Binary:\s*([A-Za-z0-9_-]+)\s*$", f.read(), re.M))
    assert len(binaries) >= 3
    build = tmp_path / "lambda"
    for binary in binaries:
        (build / binary).mkdir(parents=True)
        (build / binary / "bootstrap").write_bytes(f"#!/bin/sh\necho {binary}\n".encode())
    make_buckets(aws, ["us-east-1", "eu-west-1"])
    result = publish(aws, build, None, "--parameters", parameters_file(tmp_path, org, ["us-east-1", "eu-west-1"]))
    assert result.returncode == 0, result.stderr
    assert "infra/template.yaml (rendered)" in result.stdout
    parameters, _ = owning_stack(aws)
    released = released_template(aws, parameters)
    code = pinned(released)
    for region in ("us-east-1", "eu-west-1"):
        assert sorted(CODE_KEY.match(key).group("name") for key, _ in code[region].values()) == binaries
        assert {key: version for key, version in code[region].values()} == latest_versions(aws, region)
    assert "ArtifactBucketPrefix" in released["Parameters"] and "CodeSigningConfigArn" in released["Parameters"]
    for resource in released["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["CodeSigningConfigArn"] == {
                "Fn::If": ["HasCodeSigning", {"Ref": "CodeSigningConfigArn"}, {"Ref": "AWS::NoValue"}]}
    # The StackSets forward every parameter the rendering declares (infra_checks.py params, here too).
    forwarded = {p["ParameterKey"] for p in cfn_yaml.load_template(STACKSET)["Resources"]["StackSet"]["Properties"]["Parameters"]}
    assert forwarded == set(released["Parameters"])
