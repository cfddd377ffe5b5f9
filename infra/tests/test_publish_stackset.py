"""scripts/publish-stackset.py against moto's server (offline).

Run: .venv/bin/python -m pytest -q infra/tests/test_publish_stackset.py   (scripts/setup-venv.sh creates .venv;
     scripts/validate-infra.sh runs it too)

What moto 5.2.1 covers here, and what it does not (checked in its source and by these tests):
- S3: buckets per region (head_bucket reports x-amz-bucket-region, so a bucket in the wrong region
  is caught), put_object with metadata, head_object. Not covered: ExpectedBucketOwner (moto ignores
  it, so "bucket owned by another account" is untested), head_object's ChecksumSHA256 (moto returns
  none; the script then relies on its x-amz-meta-sha256), bucket policies / Organization reads.
- CloudFormation StackSets: create_stack_set (SERVICE_MANAGED), create_stack_instances with
  DeploymentTargets.OrganizationalUnitIds over moto's Organizations (one stack per account of the
  OU and region, whose resources moto really creates: a Lambda function gets its code from
  "<prefix>-<region>" by S3Key, so test_the_published_template_url_deploys_with_the_published_code
  proves the keys), list_stack_instances, describe_stack_set (TemplateBody, Parameters),
  update_stack_set with TemplateURL (moto reads the template from its own S3) and UsePreviousValue
  (resolved), list_stack_set_operations (each update is an UPDATE operation, SUCCEEDED at once).
- Not covered by moto: DescribeStackSet's `Regions` field (absent, so the script's fallback to
  ListStackInstances is what runs here; the field itself is untested), Capabilities, AutoDeployment,
  OrganizationalUnitIds, ManagedExecution (always false) and CallAs (accepted, ignored); update_stack_set
  without Accounts/Regions does NOT update existing stack instances (real StackSets roll the new
  template out to every instance, in other accounts, with OperationPreferences; moto records the
  operation only), and instances created later still get the template the StackSet was created
  with, so the rollout itself, its failure tolerance and OperationInProgressException are
  untested; parameters are not validated against the template; the 1 MB TemplateURL and 51,200-byte
  TemplateBody limits are not enforced; cross-account S3 reads are not authorised (a member
  account's Lambda reads the management account's bucket without any policy).
"""

import base64
import contextlib
import hashlib
import importlib.util
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
SCRIPT = os.path.join(ROOT, "scripts", "publish-stackset.py")
PREFIX = "acme-vpce-guard"
HOME = "us-east-1"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
FUNCTIONS = {"NotebookCreatedFunction": "on-notebook-created", "SubnetCreatedFunction": "on-subnet-created", "RemediateFunction": "remediate"}
CODE_KEY = re.compile(r"^vpce-guard/(?P<name>[a-z-]+)/(?P<sha>[0-9a-f]{64})\.zip$")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def load_script():
    spec = importlib.util.spec_from_file_location("publish_stackset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST")).read()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": HOME, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    return Aws(server)


@pytest.fixture
def org(aws):
    """An Organization with one OU holding one member account: (ou id, account id)."""
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    account = organizations.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    return ou, account


def make_buckets(aws, regions=REGIONS, prefix=PREFIX):
    for region in regions:
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        aws.s3(region).create_bucket(Bucket=f"{prefix}-{region}", **config)


def rendered_template(names=FUNCTIONS):
    """What infra/tools/infra_checks.py render produces, cut down: code from <prefix>-<region>."""
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
                "Code": {"S3Bucket": {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}, "S3Key": f"vpce-guard/{name}-unbuilt.zip"},
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
            "ArtifactBucketPrefix": {"Type": "String", "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$"},
        },
        "Resources": resources,
    }


PREVIOUS_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "the previous release (a placeholder moto can instantiate)",
    "Parameters": rendered_template()["Parameters"],
    "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
}
STACK_SET_PARAMETERS = [
    {"ParameterKey": "ArtifactBucketPrefix", "ParameterValue": PREFIX},
    {"ParameterKey": "NamePrefix", "ParameterValue": "acme-guard"},
    {"ParameterKey": "DryRun", "ParameterValue": "true"},
]


def make_stack_set(aws, ou, regions=REGIONS, parameters=STACK_SET_PARAMETERS):
    aws.cfn.create_stack_set(
        StackSetName="vpce-guard",
        TemplateBody=json.dumps(PREVIOUS_TEMPLATE),
        Parameters=parameters,
        PermissionModel="SERVICE_MANAGED",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    if regions:
        aws.cfn.create_stack_instances(StackSetName="vpce-guard", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=list(regions))


def make_build(tmp_path, names=FUNCTIONS, salt=""):
    """A sam build layout: <build>/<LogicalId>/bootstrap (small fabricated files) and the template."""
    build = tmp_path / "build"
    for logical_id, name in names.items():
        (build / logical_id).mkdir(parents=True, exist_ok=True)
        (build / logical_id / "bootstrap").write_bytes(f"#!/bin/sh\necho {name}{salt}\n".encode() * 200)
    template = tmp_path / "stackset-template.json"
    template.write_text(json.dumps(rendered_template(names), indent=1))
    return build, template


SCRIPT_MODULE = None


def publish(aws, build, template, *extra, process=False):
    """Runs the script: in this process (fast), or with process=True as a command (exit code, output)."""
    global SCRIPT_MODULE
    argv = ["--endpoint-url", aws.url, "--region", HOME, "--build-dir", str(build)]
    if template:
        argv += ["--template", str(template)]
    argv += list(extra)
    if process:
        return subprocess.run([sys.executable, SCRIPT] + argv, capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)
    SCRIPT_MODULE = SCRIPT_MODULE or load_script()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = SCRIPT_MODULE.main(argv, out=out)
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


def all_objects(aws):
    """{s3://bucket/key: (ETag, LastModified)} of every bucket."""
    s3 = aws.s3()
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        for item in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            found[f"s3://{bucket['Name']}/{item['Key']}"] = (item["ETag"], item["LastModified"])
    return found


def stack_set_state(aws):
    stack_set = aws.cfn.describe_stack_set(StackSetName="vpce-guard")["StackSet"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    operations = [op["Action"] for op in aws.cfn.list_stack_set_operations(StackSetName="vpce-guard")["Summaries"]]
    return json.loads(stack_set["TemplateBody"]), parameters, operations


def uploaded_bytes(stdout):
    match = re.search(r"uploaded (\d+) objects \(([\d,]+) bytes\)", stdout)
    assert match, stdout
    return int(match.group(1)), int(match.group(2).replace(",", ""))


# ----------------------------------------------------------------------------------------- tests


def test_zip_is_deterministic_bootstrap_0755_fixed_date(tmp_path):
    script = load_script()
    first = script.zip_bootstrap(b"\x7fELF binary")
    time.sleep(1.1)
    assert script.zip_bootstrap(b"\x7fELF binary") == first
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
        functions = script.prepare_build(json.loads(template.read_text()), str(build), "vpce-guard")
        zips.append({name: (digest, key) for _, name, _, digest, key in functions})
    assert zips[0] == zips[1]
    assert zips[0]["remediate"][1] == f"vpce-guard/remediate/{zips[0]['remediate'][0]}.zip"


def test_publish_uploads_hashed_keys_to_every_region_then_updates_the_stackset(aws, org, tmp_path):
    make_buckets(aws)
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)

    result = publish(aws, build, template, process=True)
    assert result.returncode == 0, result.stderr
    assert "regions eu-west-1, us-east-1, us-west-2 (from the stack instances of StackSet vpce-guard)" in result.stdout

    # Every function's zip in every region, under the sha256 of its bytes, with a bootstrap inside.
    keys = {}
    for region in REGIONS:
        s3 = aws.s3(region)
        contents = s3.list_objects_v2(Bucket=f"{PREFIX}-{region}")["Contents"]
        code = sorted(item["Key"] for item in contents if item["Key"].endswith(".zip"))
        assert [CODE_KEY.match(k).group("name") for k in code] == sorted(FUNCTIONS.values())
        for key in code:
            data = s3.get_object(Bucket=f"{PREFIX}-{region}", Key=key)["Body"].read()
            assert hashlib.sha256(data).hexdigest() == CODE_KEY.match(key).group("sha")
            assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["bootstrap"]
            assert s3.head_object(Bucket=f"{PREFIX}-{region}", Key=key)["Metadata"]["sha256"] == CODE_KEY.match(key).group("sha")
        keys[region] = code
    assert keys["us-east-1"] == keys["us-west-2"] == keys["eu-west-1"]
    # The template went to the home region's bucket only.
    templates = [k for k in all_objects(aws) if "/stackset-template/" in k]
    assert len(templates) == 1 and templates[0].startswith(f"s3://{PREFIX}-{HOME}/vpce-guard/stackset-template/")

    # The StackSet now has the rendered template with those keys; its parameter values are kept.
    body, parameters, operations = stack_set_state(aws)
    assert operations.count("UPDATE") == 1
    assert parameters == {p["ParameterKey"]: p["ParameterValue"] for p in STACK_SET_PARAMETERS}
    code_keys = sorted(r["Properties"]["Code"]["S3Key"] for r in body["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    assert code_keys == keys[HOME]
    assert f"TemplateURL=https://{PREFIX}-{HOME}.s3.{HOME}.amazonaws.com/vpce-guard/stackset-template/" in result.stdout
    count, size = uploaded_bytes(result.stdout)
    assert count == 3 * 3 + 1 and size > 0


def test_republishing_the_same_build_uploads_nothing_and_does_not_update(aws, org, tmp_path):
    make_buckets(aws)
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    first = publish(aws, build, template)
    assert first.returncode == 0, first.stderr
    before = all_objects(aws)
    _, _, operations_before = stack_set_state(aws)

    second = publish(aws, build, template)
    assert second.returncode == 0, second.stderr
    assert uploaded_bytes(second.stdout) == (0, 0)
    assert second.stdout.count("skip    s3://") == 10
    assert "checked 10 keys in 3 buckets" in second.stdout
    assert "already uses this template: not updated" in second.stdout
    assert all_objects(aws) == before  # same ETags and LastModified: nothing rewritten
    assert stack_set_state(aws)[2] == operations_before
    print(f"\nbytes uploaded: first run {uploaded_bytes(first.stdout)[1]:,}, second run {uploaded_bytes(second.stdout)[1]:,}")


def test_a_new_build_uploads_only_the_changed_function(aws, org, tmp_path):
    make_buckets(aws)
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    assert publish(aws, build, template).returncode == 0
    (build / "RemediateFunction" / "bootstrap").write_bytes(b"#!/bin/sh\necho remediate v2\n")

    result = publish(aws, build, template)
    assert result.returncode == 0, result.stderr
    assert uploaded_bytes(result.stdout)[0] == 3 + 1  # remediate in 3 regions, and the template
    assert all("/remediate/" in line or "/stackset-template/" in line for line in result.stdout.splitlines() if line.startswith("upload "))
    assert stack_set_state(aws)[2].count("UPDATE") == 2


def test_a_missing_bucket_in_one_region_refuses_and_changes_nothing(aws, org, tmp_path):
    make_buckets(aws, ["us-east-1", "us-west-2"])  # none in eu-west-1
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    before = stack_set_state(aws)

    for extra in ([], ["--dry-run"]):
        result = publish(aws, build, template, *extra, process=True)
        assert result.returncode == 1
        assert f"bucket {PREFIX}-eu-west-1 does not exist (needed in eu-west-1)" in result.stderr
        assert "nothing was written" in result.stderr
        assert all_objects(aws) == {}  # not even in the buckets that exist
        assert stack_set_state(aws) == before  # no UpdateStackSet: template, parameters, operations


def test_a_bucket_in_the_wrong_region_refuses(aws, org, tmp_path):
    make_buckets(aws, ["us-east-1", "eu-west-1"])
    aws.s3("eu-west-1").create_bucket(Bucket=f"{PREFIX}-us-west-2", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    result = publish(aws, build, template)
    assert result.returncode == 1
    assert f"bucket {PREFIX}-us-west-2 is in eu-west-1, not us-west-2" in result.stderr
    assert all_objects(aws) == {}


def test_a_key_missing_after_upload_refuses_the_update(aws, org, tmp_path, monkeypatch, capsys):
    """head_object of every key in every bucket gates UpdateStackSet: an upload that silently did
    not land (here: put_object skipped for one function in one region) refuses the update."""
    make_buckets(aws)
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    script = load_script()
    real_put = script.put_object

    def lossy_put(s3, bucket, key, *rest):
        if bucket == f"{PREFIX}-us-west-2" and "/remediate/" in key:
            return None
        return real_put(s3, bucket, key, *rest)

    monkeypatch.setattr(script, "put_object", lossy_put)
    before = stack_set_state(aws)
    out = io.StringIO()
    status = script.main(["--endpoint-url", aws.url, "--region", HOME, "--build-dir", str(build), "--template", str(template)], out=out)
    stderr = capsys.readouterr().err
    assert status == 1
    assert "refusing to update the StackSet: missing or different after upload" in stderr
    assert re.search(rf"s3://{PREFIX}-us-west-2/vpce-guard/remediate/[0-9a-f]{{64}}\.zip", stderr)
    assert stderr.count("s3://") == 1
    assert stack_set_state(aws) == before
    assert "UpdateStackSet" not in out.getvalue()


def test_dry_run_prints_the_plan_and_writes_nothing(aws, org, tmp_path):
    make_buckets(aws)
    make_stack_set(aws, org[0])
    build, template = make_build(tmp_path)
    before = stack_set_state(aws)
    result = publish(aws, build, template, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would upload s3://") == 10
    assert "would upload 10 objects" in result.stdout
    assert "then UpdateStackSet vpce-guard TemplateURL=https://" in result.stdout
    assert all_objects(aws) == {}
    assert stack_set_state(aws) == before


def test_regions_from_the_parameters_file_and_the_instances(aws, org, tmp_path):
    make_buckets(aws)
    make_stack_set(aws, org[0], regions=["eu-west-1"])
    build, template = make_build(tmp_path)
    parameters = tmp_path / "stackset-parameters.json"
    parameters.write_text(json.dumps([
        {"ParameterKey": "ArtifactBucketPrefix", "ParameterValue": PREFIX},
        {"ParameterKey": "Regions", "ParameterValue": "us-east-1, us-west-2"},
        {"ParameterKey": "OrganizationalUnitIds", "ParameterValue": org[0]},
    ]))
    result = publish(aws, build, template, "--parameters", str(parameters))
    assert result.returncode == 0, result.stderr
    assert "region eu-west-1 has stack instances but is not in" in result.stdout
    assert "regions eu-west-1, us-east-1, us-west-2" in result.stdout
    for region in REGIONS:
        assert len([k for k in all_objects(aws) if k.startswith(f"s3://{PREFIX}-{region}/") and k.endswith(".zip")]) == 3


def test_the_published_template_url_deploys_with_the_published_code(aws, org, tmp_path):
    """End to end in moto: regions from the parameters file (CodePipeline-style JSON), StackSet
    without instances. moto creates instances from the template a StackSet was *created* with
    (update_stack_set does not reach them), so the published TemplateURL goes into a second
    StackSet, whose instances in the member account create the functions from
    <prefix>-<region>/<key>: moto's Lambda reads each zip, and CodeSha256 is the key's hash."""
    ou, account = org
    make_buckets(aws, ["us-east-1", "eu-west-1"])
    make_stack_set(aws, ou, regions=None)
    build, template = make_build(tmp_path)
    parameters = tmp_path / "parameters.json"
    parameters.write_text(json.dumps({"Parameters": {"ArtifactBucketPrefix": PREFIX, "Regions": "us-east-1,eu-west-1"}}))
    result = publish(aws, build, template, "--parameters", str(parameters))
    assert result.returncode == 0, result.stderr
    url = re.search(r"TemplateURL=(\S+) operation", result.stdout).group(1)

    aws.cfn.create_stack_set(StackSetName="check", TemplateURL=url, Parameters=STACK_SET_PARAMETERS, PermissionModel="SERVICE_MANAGED", Capabilities=["CAPABILITY_IAM"])
    aws.cfn.create_stack_instances(StackSetName="check", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=["us-east-1", "eu-west-1"])
    for region in ("us-east-1", "eu-west-1"):
        role = aws.client("sts", region).assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="check")["Credentials"]
        member = aws.client("lambda", region, aws_access_key_id=role["AccessKeyId"], aws_secret_access_key=role["SecretAccessKey"], aws_session_token=role["SessionToken"])
        functions = {f["FunctionName"]: f["CodeSha256"] for f in member.list_functions()["Functions"]}
        assert sorted(functions) == sorted(f"acme-guard-{name}" for name in FUNCTIONS.values())
        for item in aws.s3(region).list_objects_v2(Bucket=f"{PREFIX}-{region}")["Contents"]:
            match = CODE_KEY.match(item["Key"])
            if match:
                assert functions[f"acme-guard-{match.group('name')}"] == base64.b64encode(bytes.fromhex(match.group("sha"))).decode()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing bootstrap", "no bootstrap for remediate (RemediateFunction)"),
        ("missing build dir", "no build at"),
        ("missing template", "rendered template"),
        ("empty Regions", "Regions is empty in"),
        ("no instances, no file", "no regions: StackSet vpce-guard has no stack instances"),
        ("no StackSet", "StackSet vpce-guard not found in us-east-1"),
        ("prefix differs", "ArtifactBucketPrefix differs"),
        ("template bucket missing", "(the template's bucket: choose one with --template-bucket)"),
        ("new parameter without default", "the new template's parameter ClientCidrs has no default and StackSet vpce-guard has no value"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(aws, org, tmp_path, case, expected):
    make_buckets(aws, [r for r in REGIONS if case != "template bucket missing" or r != HOME])
    if case != "no StackSet":
        make_stack_set(aws, org[0], regions=None if case == "no instances, no file" else (["us-west-2"] if case == "template bucket missing" else REGIONS))
    build, template = make_build(tmp_path)
    extra = []
    if case == "missing bootstrap":
        (build / "RemediateFunction" / "bootstrap").unlink()
    elif case == "missing build dir":
        build = tmp_path / "nowhere"
    elif case == "missing template":
        template = tmp_path / "nowhere.json"
    elif case == "new parameter without default":
        rendered = json.loads(template.read_text())
        rendered["Parameters"]["ClientCidrs"] = {"Type": "String"}
        template.write_text(json.dumps(rendered))
    elif case in ("empty Regions", "prefix differs"):
        parameters = tmp_path / "parameters.json"
        parameters.write_text(json.dumps({"Regions": "" if case == "empty Regions" else "us-east-1", "ArtifactBucketPrefix": "other-prefix" if case == "prefix differs" else PREFIX}))
        extra = ["--parameters", str(parameters)]
    before = stack_set_state(aws) if case != "no StackSet" else None
    result = publish(aws, build, template, *extra)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert all_objects(aws) == {}
    if before:
        assert stack_set_state(aws) == before


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
    with the bootstraps in cargo lambda's layout (<build>/<binary>/bootstrap)."""
    with open(os.path.join(ROOT, "infra", "template.yaml"), encoding="utf-8") as f:
        binaries = sorted(re.findall(r"^\s+Binary:\s*([A-Za-z0-9_-]+)\s*$", f.read(), re.M))
    assert len(binaries) >= 3
    build = tmp_path / "lambda"
    for binary in binaries:
        (build / binary).mkdir(parents=True)
        (build / binary / "bootstrap").write_bytes(f"#!/bin/sh\necho {binary}\n".encode())
    make_buckets(aws, ["us-east-1", "eu-west-1"])
    make_stack_set(aws, org[0], regions=["us-east-1", "eu-west-1"])
    result = publish(aws, build, None)
    assert result.returncode == 0, result.stderr
    assert "infra/template.yaml (rendered)" in result.stdout
    body, parameters, _ = stack_set_state(aws)
    functions = {r["Properties"]["Code"]["S3Key"] for r in body["Resources"].values() if r["Type"] == "AWS::Lambda::Function"}
    assert sorted(CODE_KEY.match(k).group("name") for k in functions) == binaries
    assert "ArtifactBucketPrefix" in body["Parameters"] and len(body["Parameters"]) > 10
    assert parameters == {p["ParameterKey"]: p["ParameterValue"] for p in STACK_SET_PARAMETERS}
    for region in ("us-east-1", "eu-west-1"):
        keys = {item["Key"] for item in aws.s3(region).list_objects_v2(Bucket=f"{PREFIX}-{region}")["Contents"]}
        assert functions <= keys
