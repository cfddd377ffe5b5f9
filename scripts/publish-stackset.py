#!/usr/bin/env python3
"""Release vpce-guard to the Organization: the one release path (infra/README.md,
"Releases: one path").

The StackSets belong to one CloudFormation stack of infra/stackset.yaml (the "owning stack",
default name vpce-guard-stackset): its PilotStackSet deploys the pilot OU first, its StackSet the
rest once the pilot's operation succeeded. This script is the only thing that changes that stack,
and it never calls UpdateStackSet itself: the code version is a parameter of the owning stack
(TemplateURL), so a later parameter change (this script with --parameters-only, or CloudFormation
with the previous template and previous values) keeps the code that was released.

A release:
 1. checks every code bucket ("<ArtifactBucketPrefix>-<region>", infra/code-buckets.yaml) and the
    template bucket: present, in its region, owned by the account, versioning Enabled, a bucket
    policy that denies every request without TLS (aws:SecureTransport false), default encryption,
    and all four public access blocks on; refuses otherwise, before anything is written;
 2. zips each function's bootstrap deterministically (one entry "bootstrap", mode 0755, 1980-01-01,
    deflate level 6) and uploads it as "<key-prefix>/<function>/<sha256 of the zip>.zip" to the code
    bucket of every region of the StackSets (skipped when the latest version there has that sha256),
    and keeps the object version S3 gave it in each region;
 3. with --signing-profile NAME, signs each of those versions with AWS Signer in its region
    (StartSigningJob, source = the exact version, destination "<key-prefix>/signed/<function>/";
    the request token is derived from the source version and the profile, so a re-run gets the same
    job back) and uses the signed object and its version instead;
 4. reads back every key and version it will name (head_object with VersionId, sha256);
 5. writes the rendered template with every function's Code pinned to that exact object in every
    region (Fn::FindInMap of AWS::Region in the mapping CodeObjects: S3Key and S3ObjectVersion) to
    "<key-prefix>/stackset-template/<sha256>.json" in the template bucket;
 6. updates (or, with --parameters on the first run, creates) the owning stack: its template is
    infra/stackset.yaml, with one StackInstancesGroup per region that has RegionParameterOverrides;
    TemplateURL = the new template; every other parameter keeps its value (UsePreviousValue) unless
    the parameters file sets it.

Idempotent: republishing the same build uploads nothing, and when the owning stack already has that
template and those parameters, it is not updated.

Parameters file (--parameters, JSON): parameters of infra/stackset.yaml (OrganizationalUnitIds,
PilotOrganizationalUnitId, Regions, ArtifactBucketPrefix, AlarmEmail, ...) as a list of
{ParameterKey, ParameterValue}, a list of "Key=Value", {"Parameters": {...}} or a flat object; and
RegionParameterOverrides: {"<region>": {"<template parameter>": "<value>"}} (an object, or its JSON
as a string), e.g. {"eu-west-1": {"ClientPrefixLists": "pl-0123456789abcdef0"}}: the stack
instances of that region (in both StackSets) get those values as parameter overrides. Without
--parameters, the owning stack's values and its current overrides are kept.

Refuses (exit 1, nothing written) on: a missing bootstrap or template; no owning stack and no
--parameters to create it; a parameter unknown to infra/stackset.yaml or a required one missing; an
empty region list or a malformed region; an override of an unknown parameter, of a region not in
Regions, or with a value the template refuses; a pilot OU that is one of OrganizationalUnitIds or
lies inside one of them (AWS Organizations ListParents, where the caller may read it); any bucket
problem above; and (before the owning stack is touched) any key or version missing after the uploads.

Usage:
  .venv-infra/bin/python scripts/publish-stackset.py [--stack vpce-guard-stackset] [--parameters FILE]
      [--build-dir .aws-sam/build] [--template RENDERED.json] [--signing-profile NAME]
      [--template-bucket BUCKET] [--key-prefix vpce-guard] [--parameters-only] [--dry-run] [--wait]
      [--profile P] [--region R] [--endpoint-url URL]

Without --template, infra/template.yaml (or the build's template.yaml) is rendered with
infra/tools/infra_checks.py render, which needs aws-sam-cli's samtranslator: run with
.venv-infra/bin/python (scripts/validate-infra.sh creates it) or pass --template. Needs boto3 and
PyYAML otherwise.
"""

import argparse
import base64
import copy
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "infra", "tools"))

ARTIFACT_PARAMETER = "ArtifactBucketPrefix"
CODE_BUCKET = {"Fn::Sub": "${%s}-${AWS::Region}" % ARTIFACT_PARAMETER}
CODE_MAPPING = "CodeObjects"
UNPUBLISHED = "unpublished"  # infra/tools/infra_checks.py render: the version no object has
OWNING_STACK = "vpce-guard-stackset"
STACKSET_TEMPLATE = os.path.join(ROOT, "infra", "stackset.yaml")
OVERRIDES_KEY = "RegionParameterOverrides"
METADATA_KEY = "VpceGuardRelease"  # the owning stack's template keeps its overrides here
KEY_PREFIX = "vpce-guard"
TEMPLATE_URL_MAX_BYTES = 1024 * 1024  # a TemplateURL's template: at most 1 MB
TEMPLATE_BODY_MAX_BYTES = 51200  # a TemplateBody: at most 51,200 bytes
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# infra/tools/infra_checks.py render names the code "<key-prefix>/<binary>-<16 hex | unbuilt>.zip"
RENDERED_KEY = re.compile(r"^(?:[^/]+/)*(?P<name>[A-Za-z0-9_.-]+?)-(?:unbuilt|[0-9a-f]{16})\.zip$")
NAME_PREFIX_SUB = re.compile(r"^\$\{NamePrefix\}-(?P<name>[A-Za-z0-9_.-]+)$")
# Parameters of earlier releases of infra/stackset.yaml, and what replaced them.
REPLACED = {
    "FailureTolerancePercentage": "FailureToleranceCount (an absolute count per region)",
    "MaxConcurrentPercentage": "MaxConcurrentCount (an absolute count per region)",
    "CreationQueueConcurrency": "QueueConcurrency (remediate consumes the one event queue)",
}
# Set by the release itself, never by an override: the code's buckets.
NOT_OVERRIDABLE = {ARTIFACT_PARAMETER}


class PublishError(Exception):
    """Refused: the message says why; nothing after the failed step was done."""


# ------------------------------------------------------------------------------------------ build


def zip_bootstrap(data):
    """A deterministic zip of one bootstrap: the same bytes whatever the file's mtime or mode."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("bootstrap", date_time=ZIP_DATE)
        info.create_system = 3  # Unix, so that the mode below is honoured
        info.external_attr = (0o100755 & 0xFFFF) << 16  # regular file, rwxr-xr-x
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data, compresslevel=6)  # fixed: the same bytes on every run
    return buffer.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def python_with_samtranslator():
    if importlib.util.find_spec("samtranslator") is not None:
        return sys.executable
    candidate = os.path.join(ROOT, ".venv-infra", "bin", "python")
    if os.access(candidate, os.X_OK):
        return candidate
    raise PublishError(
        "rendering the StackSet template needs samtranslator (aws-sam-cli): run this script with "
        ".venv-infra/bin/python (scripts/validate-infra.sh creates it), or render first with "
        "infra/tools/infra_checks.py render and pass --template"
    )


def render_template(source):
    """infra/tools/infra_checks.py render SOURCE, as a dict."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "stackset-template.json")
        command = [python_with_samtranslator(), os.path.join(ROOT, "infra", "tools", "infra_checks.py"), "render", source, out]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise PublishError(f"rendering {source} failed:\n{tail}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def load_template(args):
    if args.template:
        try:
            with open(args.template, encoding="utf-8") as f:
                return json.load(f), args.template
        except OSError as e:
            raise PublishError(f"rendered template {args.template}: {e.strerror}") from None
        except ValueError as e:
            raise PublishError(f"rendered template {args.template} is not JSON ({e}); render it with infra/tools/infra_checks.py render") from None
    built = os.path.join(args.build_dir, "template.yaml")
    source = built if os.path.isfile(built) else os.path.join(ROOT, "infra", "template.yaml")
    return render_template(source), f"{source} (rendered)"


def function_name(logical_id, properties):
    """The function's short name (its binary): from the rendered key, else from FunctionName."""
    key = (properties.get("Code") or {}).get("S3Key")
    match = RENDERED_KEY.match(key) if isinstance(key, str) else None
    if match:
        return match.group("name")
    sub = (properties.get("FunctionName") or {}).get("Fn::Sub") if isinstance(properties.get("FunctionName"), dict) else None
    match = NAME_PREFIX_SUB.match(sub) if isinstance(sub, str) else None
    if match:
        return match.group("name")
    raise PublishError(f"{logical_id}: cannot tell its binary from S3Key {key!r} or FunctionName; is this a template rendered by infra/tools/infra_checks.py?")


def find_bootstrap(build_dir, logical_id, name):
    """sam build puts it in <build>/<LogicalId>/bootstrap; cargo lambda in target/lambda/<binary>/bootstrap."""
    candidates = [os.path.join(build_dir, logical_id, "bootstrap"), os.path.join(build_dir, name, "bootstrap")]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise PublishError(
        f"no bootstrap for {name} ({logical_id}): looked for {' and '.join(candidates)}; "
        "build first (sam build -t infra/template.yaml) or pass --build-dir"
    )


def rendered_functions(template):
    """[(logical id, properties)] of the rendering's functions, each loading its code from the code bucket."""
    if ARTIFACT_PARAMETER not in template.get("Parameters", {}):
        raise PublishError(f"the rendered template has no {ARTIFACT_PARAMETER} parameter")
    functions = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        properties = resource.get("Properties", {})
        code = properties.get("Code") or {}
        if code.get("S3Bucket") != CODE_BUCKET:
            raise PublishError(f"{logical_id}: code bucket is {code.get('S3Bucket')!r}, expected {CODE_BUCKET} (a per-region bucket)")
        if not isinstance(code.get("S3Key"), str):
            raise PublishError(f"{logical_id}: Code.S3Key is {code.get('S3Key')!r}: pass a template rendered by infra/tools/infra_checks.py render, not a published one")
        functions.append((logical_id, properties))
    if not functions:
        raise PublishError("the rendered template has no AWS::Lambda::Function")
    return functions


def prepare_build(template, build_dir, key_prefix):
    """[(logical id, name, zip bytes, sha256, key)] for every function of the rendered template."""
    if not os.path.isdir(build_dir):
        raise PublishError(f"no build at {build_dir}: run `sam build -t infra/template.yaml` first, or pass --build-dir")
    functions = []
    for logical_id, properties in rendered_functions(template):
        name = function_name(logical_id, properties)
        path = find_bootstrap(build_dir, logical_id, name)
        with open(path, "rb") as f:
            data = zip_bootstrap(f.read())
        digest = sha256(data)
        functions.append((logical_id, name, data, digest, f"{key_prefix}/{name}/{digest}.zip"))
    return functions


def pin_code(template, objects):
    """The rendering with every function's Code pinned: OBJECTS = {region: {logical id: (key, version)}}."""
    pinned = copy.deepcopy(template)
    mapping = {}
    for region in sorted(objects):
        entry = mapping[region] = {}
        for logical_id, (key, version) in sorted(objects[region].items()):
            entry[f"{logical_id}Key"] = key
            entry[f"{logical_id}Version"] = version
    for logical_id, resource in pinned["Resources"].items():
        if resource.get("Type") == "AWS::Lambda::Function":
            where = {"Ref": "AWS::Region"}
            resource["Properties"]["Code"] = {
                "S3Bucket": CODE_BUCKET,
                "S3Key": {"Fn::FindInMap": [CODE_MAPPING, where, f"{logical_id}Key"]},
                "S3ObjectVersion": {"Fn::FindInMap": [CODE_MAPPING, where, f"{logical_id}Version"]},
            }
    pinned.setdefault("Mappings", {})[CODE_MAPPING] = mapping
    return pinned


# ------------------------------------------------------------------------------------ parameters


def read_parameters_file(path):
    """(parameters {key: value}, region overrides or None) of a parameters file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise PublishError(f"parameters file {path}: {e.strerror}") from None
    except ValueError as e:
        raise PublishError(f"parameters file {path} is not JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("Parameters"), dict):
        data = data["Parameters"]
    values = {}
    if isinstance(data, dict):
        values = dict(data)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and "ParameterKey" in item:
                values[item["ParameterKey"]] = item.get("ParameterValue", "")
            elif isinstance(item, str) and "=" in item:
                key, value = item.split("=", 1)
                values[key] = value
            else:
                raise PublishError(f"parameters file {path}: cannot read entry {item!r}")
    else:
        raise PublishError(f"parameters file {path}: expected a list or an object")
    overrides = values.pop(OVERRIDES_KEY, None)
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except ValueError as e:
            raise PublishError(f"parameters file {path}: {OVERRIDES_KEY} is not JSON: {e}") from None
    if overrides is not None and not (isinstance(overrides, dict) and all(isinstance(v, dict) for v in overrides.values())):
        raise PublishError(f"parameters file {path}: {OVERRIDES_KEY} must be {{\"<region>\": {{\"<parameter>\": \"<value>\"}}}}")
    flat = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()}
    if overrides is not None:
        overrides = {region: {k: str(v) for k, v in given.items()} for region, given in overrides.items()}
    return flat, overrides


def split_list(value):
    return [r.strip() for r in str(value or "").split(",") if r.strip()]


def load_stackset_template(path):
    import cfn_yaml  # infra/tools (PyYAML)

    try:
        return cfn_yaml.load_template(path)
    except OSError as e:
        raise PublishError(f"{path}: {e.strerror}") from None


def describe_owning_stack(cfn, name):
    """(stack description, its parameters, its current template) or (None, {}, None)."""
    from botocore.exceptions import ClientError

    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as e:
        if "does not exist" in str(e):
            return None, {}, None
        raise
    if stack["StackStatus"].endswith("_IN_PROGRESS"):
        raise PublishError(f"stack {name} is {stack['StackStatus']}: wait for it and re-run (uploads are kept; a re-run skips them)")
    if stack["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"):
        raise PublishError(f"stack {name} is {stack['StackStatus']}: it cannot be updated (infra/README.md, \"Rolling back\"); "
                           "a stack that never got created: delete it and run again with --parameters")
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    body = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            body = None  # YAML: deployed by hand from infra/stackset.yaml; no overrides recorded
    return stack, parameters, body


def resolve_parameters(base, current, from_file, exists, args):
    """The owning stack's parameter values after this run: {key: value}, every one of BASE's."""
    declared = base["Parameters"]
    unknown = sorted(set(from_file) - set(declared))
    problems = []
    for key in unknown:
        problems.append(f"{key}: replaced by {REPLACED[key]}" if key in REPLACED else f"{key}: not a parameter of infra/stackset.yaml")
    if "TemplateURL" in from_file:
        problems.append("TemplateURL: set by this script (the release), not by the parameters file")
    if problems:
        raise PublishError(f"parameters file {args.parameters}:\n  " + "\n  ".join(problems))
    values = {}
    missing = []
    for key, spec in declared.items():
        if key in from_file:
            values[key] = from_file[key]
        elif key in current:
            values[key] = current[key]
        elif "Default" in spec:
            values[key] = str(spec["Default"])
        elif key != "TemplateURL":
            missing.append(key)
    if missing:
        where = f"stack {args.stack} has no value and" if exists else "to create the owning stack,"
        raise PublishError(f"{where} the parameters file sets none for: {', '.join(missing)}")
    return values


def check_overrides(overrides, regions, member_parameters):
    problems = []
    for region, given in sorted(overrides.items()):
        if region not in regions:
            problems.append(f"{region}: not one of Regions ({', '.join(regions)})")
        for key, value in sorted(given.items()):
            spec = member_parameters.get(key)
            if spec is None:
                problems.append(f"{region}.{key}: not a parameter of the template")
            elif key in NOT_OVERRIDABLE:
                problems.append(f"{region}.{key}: the same for every region (the release's code buckets)")
            elif "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                problems.append(f"{region}.{key}={value!r}: refused by the template ({spec.get('ConstraintDescription', spec['AllowedPattern'])})")
            elif "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                problems.append(f"{region}.{key}={value!r}: not one of {spec['AllowedValues']}")
    if problems:
        raise PublishError(f"{OVERRIDES_KEY}:\n  " + "\n  ".join(problems))


def with_overrides(existing, extra):
    """A group's ParameterOverrides (absent, a list, or !If [cond, list, AWS::NoValue]) plus EXTRA."""
    if not extra:
        return existing
    if existing is None:
        return extra
    if isinstance(existing, dict) and set(existing) == {"Fn::If"}:
        condition, yes, no = existing["Fn::If"]
        keys = {p["ParameterKey"] for p in yes}
        yes = yes + [p for p in extra if p["ParameterKey"] not in keys]  # the group's own values win
        no = extra if no == {"Ref": "AWS::NoValue"} else with_overrides(no, extra)
        return {"Fn::If": [condition, yes, no]}
    keys = {p["ParameterKey"] for p in existing}
    return existing + [p for p in extra if p["ParameterKey"] not in keys]


def owning_template(base, regions, overrides):
    """infra/stackset.yaml as deployed: with overrides, each StackSet's StackInstancesGroup split into
    one group per overridden region (its overrides added) and one for the other regions."""
    template = copy.deepcopy(base)
    template.setdefault("Metadata", {})[METADATA_KEY] = {
        "GeneratedBy": "scripts/publish-stackset.py from infra/stackset.yaml",
        OVERRIDES_KEY: {region: dict(sorted(values.items())) for region, values in sorted(overrides.items())},
    }
    if not overrides:
        return template
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::CloudFormation::StackSet":
            continue
        groups = resource["Properties"]["StackInstancesGroup"]
        if len(groups) != 1 or groups[0].get("Regions") != {"Ref": "Regions"}:
            raise PublishError(f"infra/stackset.yaml: {logical_id} must have one StackInstancesGroup with Regions !Ref Regions")
        (group,) = groups
        split = []
        plain = [r for r in regions if not overrides.get(r)]
        if plain:
            split.append({**group, "Regions": plain})
        for region in regions:
            if overrides.get(region):
                extra = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(overrides[region].items())]
                item = {key: value for key, value in group.items() if key != "ParameterOverrides"}
                item["Regions"] = [region]
                item["ParameterOverrides"] = with_overrides(group.get("ParameterOverrides"), extra)
                split.append(item)
        resource["Properties"]["StackInstancesGroup"] = split
    return template


def recorded_overrides(template):
    """The region overrides a template generated by this script records (none for infra/stackset.yaml as is)."""
    if not isinstance(template, dict):
        return {}
    return dict(((template.get("Metadata") or {}).get(METADATA_KEY) or {}).get(OVERRIDES_KEY) or {})


def check_pilot_apart(client, pilot, others):
    """A note, or a refusal when the pilot OU lies inside one of the other targets (or is the root)."""
    from botocore.exceptions import ClientError

    if pilot in others:
        raise PublishError(f"the pilot OU {pilot} is also one of OrganizationalUnitIds: an account must be in one StackSet only")
    try:
        organizations = client("organizations")
        ancestors = []
        child = pilot
        while True:
            (parent,) = organizations.list_parents(ChildId=child)["Parents"]
            ancestors.append(parent["Id"])
            if parent["Type"] == "ROOT":
                break
            child = parent["Id"]
    except ClientError as e:
        return f"pilot OU not compared with the OUs above it ({error_code(e)}: AWS Organizations ListParents)"
    inside = [ou for ou in ancestors if ou in others]
    if inside:
        raise PublishError(
            f"the pilot OU {pilot} lies inside {', '.join(inside)} of OrganizationalUnitIds: its accounts would get "
            "both StackSets; list the OUs beside the pilot instead"
        )
    return f"pilot OU {pilot}: apart from OrganizationalUnitIds (its parents: {', '.join(ancestors)})"


# ------------------------------------------------------------------------------------------------ S3


def error_code(e):
    return str(e.response.get("Error", {}).get("Code", ""))


def check_bucket(s3, bucket, region, owner):
    """(problem or None, the bucket's region): it must exist, in REGION (when given), owned by OWNER."""
    from botocore.exceptions import ClientError

    try:
        response = s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    except ClientError as e:
        code = error_code(e)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return f"bucket {bucket} does not exist" + (f" (needed in {region})" if region else ""), None
        if code in ("403", "AccessDenied", "Forbidden"):
            return f"bucket {bucket}: access denied, or not owned by account {owner}", None
        return f"bucket {bucket}: {code} {e.response.get('Error', {}).get('Message', '')}".strip(), None
    actual = response.get("BucketRegion") or response["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if region and actual and actual != region:
        return f"bucket {bucket} is in {actual}, not {region} (Lambda reads code only from its own region)", actual
    return None, actual


def as_list(value):
    return value if isinstance(value, list) else [value]


def denies_plain_http(statement, bucket):
    """A statement that denies every S3 action to everyone without TLS, on the bucket and its objects."""
    if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    condition = (statement.get("Condition") or {}).get("Bool") or {}
    if [str(v).lower() for v in as_list(condition.get("aws:SecureTransport"))] != ["false"]:
        return False
    arn = f"arn:aws:s3:::{bucket}"
    resources = {re.sub(r"^arn:aws[a-z-]*:", "arn:aws:", r) for r in as_list(statement.get("Resource"))}
    return bool({arn, f"{arn}*"} & resources) and bool({f"{arn}/*", f"{arn}*"} & resources)


def check_bucket_settings(s3, bucket, owner):
    """What a code bucket must have before a release names its objects: [problems]."""
    from botocore.exceptions import ClientError

    problems = []
    status = s3.get_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=owner).get("Status")
    if status != "Enabled":
        problems.append(f"bucket {bucket}: versioning is {status or 'not enabled'} (the StackSet pins object versions: it must be Enabled)")
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=owner)["Policy"])
        if not any(denies_plain_http(s, bucket) for s in as_list(policy.get("Statement", []))):
            problems.append(f"bucket {bucket}: its policy has no statement denying s3:* to everyone when aws:SecureTransport is false, on the bucket and its objects (TLS only)")
    except ClientError as e:
        if error_code(e) != "NoSuchBucketPolicy":
            raise
        problems.append(f"bucket {bucket}: no bucket policy (it must deny requests without TLS: infra/code-buckets.yaml)")
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)["ServerSideEncryptionConfiguration"]["Rules"]
        if not any((r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules):
            problems.append(f"bucket {bucket}: no default encryption algorithm")
    except ClientError as e:
        if error_code(e) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        problems.append(f"bucket {bucket}: no default encryption")
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    try:
        block = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)["PublicAccessBlockConfiguration"]
    except ClientError as e:
        if error_code(e) != "NoSuchPublicAccessBlockConfiguration":
            raise
        block = {}
    off = [flag for flag in flags if not block.get(flag)]
    if off:
        problems.append(f"bucket {bucket}: public access not fully blocked ({', '.join(off)} off)")
    return problems


def latest_object(s3, bucket, key, digest, owner):
    """('same', version) when the latest version under KEY has this sha256; ('different'|'missing', None)."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner, ChecksumMode="ENABLED")
    except ClientError as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return "missing", None
        raise
    if has_digest(head, digest):
        return "same", head.get("VersionId")
    return "different", None


def has_digest(head, digest):
    checksum = head.get("ChecksumSHA256")
    return head.get("Metadata", {}).get("sha256") == digest or checksum == base64.b64encode(bytes.fromhex(digest)).decode()


def object_version(s3, bucket, key, version, owner):
    """head_object of that exact version, or None when it is not there."""
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key, VersionId=version, ExpectedBucketOwner=owner, ChecksumMode="ENABLED")
    except ClientError as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion", "400", "InvalidArgument"):
            return None
        raise


def put_object(s3, bucket, key, data, digest, owner, content_type):
    """Uploads; the new object's version (None if S3 gave none)."""
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        Metadata={"sha256": digest},
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
        ExpectedBucketOwner=owner,
    )
    return response.get("VersionId")


def template_url(bucket, region, key):
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if "." in bucket:  # virtual-hosted names with dots fail TLS: path style
        return f"https://s3.{region}.{domain}/{bucket}/{key}"
    return f"https://{bucket}.s3.{region}.{domain}/{key}"


# -------------------------------------------------------------------------------------------- sign


def signing_token(bucket, key, version, profile):
    """StartSigningJob's clientRequestToken: the same source version and profile, the same job."""
    return sha256(f"{bucket}/{key}?versionId={version}#{profile}".encode())


def sign(signer, s3, bucket, key, version, profile, prefix, owner):
    """Signs that exact version with PROFILE into PREFIX: (signed key, its version, profile version)."""
    job = signer.start_signing_job(
        source={"s3": {"bucketName": bucket, "key": key, "version": version}},
        destination={"s3": {"bucketName": bucket, "prefix": prefix}},
        profileName=profile,
        clientRequestToken=signing_token(bucket, key, version, profile),
    )
    signer.get_waiter("successful_signing_job").wait(jobId=job["jobId"], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    described = signer.describe_signing_job(jobId=job["jobId"])
    signed_key = ((described.get("signedObject") or {}).get("s3") or {}).get("key")
    if described.get("status") != "Succeeded" or not signed_key:
        raise PublishError(f"signing s3://{bucket}/{key} ({version}) with {profile}: {described.get('status')} {described.get('statusReason', '')}".strip())
    head = s3.head_object(Bucket=bucket, Key=signed_key, ExpectedBucketOwner=owner)
    if not head.get("VersionId"):
        raise PublishError(f"the signed object s3://{bucket}/{signed_key} has no version")
    return signed_key, head["VersionId"], described.get("profileVersion", "")


# -------------------------------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring and infra/README.md.")
    parser.add_argument("--stack", default=OWNING_STACK, help=f"the stack of infra/stackset.yaml that owns the StackSets (default {OWNING_STACK})")
    parser.add_argument("--parameters", help="parameters file (JSON): parameters of infra/stackset.yaml, and RegionParameterOverrides")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, ".aws-sam", "build"), help="sam build output (<LogicalId>/bootstrap) or cargo lambda's target/lambda (<binary>/bootstrap); default .aws-sam/build")
    parser.add_argument("--template", help="the rendered template (infra/tools/infra_checks.py render); default: render the build's template.yaml or infra/template.yaml")
    parser.add_argument("--stackset-template", default=STACKSET_TEMPLATE, help="the owning stack's template (default infra/stackset.yaml)")
    parser.add_argument("--signing-profile", help="AWS Signer signing profile (the same name in every region) that signs each function's code")
    parser.add_argument("--template-bucket", help="bucket of the rendered template (default <ArtifactBucketPrefix>-<region of the owning stack>)")
    parser.add_argument("--key-prefix", default=KEY_PREFIX, help=f"S3 key prefix (default {KEY_PREFIX}; the Organization reads <bucket>/{KEY_PREFIX}/*)")
    parser.add_argument("--bucket-owner", help="account that must own the buckets (default: the caller's, from STS)")
    parser.add_argument("--parameters-only", action="store_true", help="no build, no upload: update the owning stack's parameters and overrides, keeping its TemplateURL (the code)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (reads only); write nothing")
    parser.add_argument("--wait", action="store_true", help="wait for the owning stack's update (the pilot's operation, then the rest's) and report how it ended")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--region", help="region of the owning stack (the StackSets' administrator region)")
    parser.add_argument("--endpoint-url", help="one endpoint for every service (tests: moto's server)")
    return parser.parse_args(argv)


def publish(args, out):
    import boto3

    say = lambda line="": print(line, file=out, flush=True)  # noqa: E731
    if args.dry_run:
        say("dry run: reads only, nothing is written")

    # What would be released, before any AWS call: the build and the rendering.
    functions = []
    if not args.parameters_only:
        template, template_source = load_template(args)
        functions = prepare_build(template, args.build_dir, args.key_prefix)
        say(f"template: {template_source}")
        say(f"build: {len(functions)} functions from {args.build_dir}")
        for logical_id, name, data, _, key in functions:
            say(f"  {name:<22} {logical_id:<26} {len(data):>10,} bytes  {key}")
    base = load_stackset_template(args.stackset_template)
    from_file, file_overrides = read_parameters_file(args.parameters) if args.parameters else ({}, None)

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    home = args.region or session.region_name
    if not home:
        raise PublishError("no region: pass --region (the owning stack's region) or set one in the profile")
    client = lambda service, region=home: session.client(service, region_name=region, endpoint_url=args.endpoint_url)  # noqa: E731
    cfn = client("cloudformation")
    owner = args.bucket_owner or client("sts").get_caller_identity()["Account"]

    # The owning stack and its parameters after this run.
    stack, current, deployed = describe_owning_stack(cfn, args.stack)
    if stack is None and not args.parameters:
        raise PublishError(f"stack {args.stack} not found in {home}: create it with this script and --parameters FILE (infra/README.md, \"Releases: one path\"), or pass --stack/--region")
    if stack is None and args.parameters_only:
        raise PublishError(f"stack {args.stack} not found in {home}: --parameters-only updates an existing stack; publish a release first")
    values = resolve_parameters(base, current, from_file, stack is not None, args)
    regions = split_list(values["Regions"])
    if not regions:
        raise PublishError("Regions is empty")
    bad = sorted(r for r in regions if not REGION_PATTERN.match(r))
    if bad:
        raise PublishError(f"not a region name: {', '.join(bad)}")
    prefix = values[ARTIFACT_PARAMETER]
    if args.parameters_only:
        # The release in TemplateURL has code in the buckets of its regions only.
        moved = [key for key in ("Regions", ARTIFACT_PARAMETER) if current.get(key) != values[key]]
        if moved:
            raise PublishError(f"--parameters-only keeps the released code, which is in the buckets of its regions only: "
                               f"a change of {' and '.join(moved)} needs a release (run without --parameters-only)")
    for key in sorted(set(current) - set(base["Parameters"])):
        say(f"parameter {key} of stack {args.stack} is no longer in infra/stackset.yaml: dropped" + (f" (replaced by {REPLACED[key]})" if key in REPLACED else ""))
    overrides = file_overrides if file_overrides is not None else recorded_overrides(deployed)
    say(f"{'stack' if stack else 'new stack'} {args.stack} ({home}); {ARTIFACT_PARAMETER} {prefix}; regions {', '.join(regions)}; "
        f"pilot OU {values['PilotOrganizationalUnitId']}{' (DryRun=true)' if values.get('PilotDryRun') == 'true' else ''}, then {values['OrganizationalUnitIds']}")
    say("  " + check_pilot_apart(client, values["PilotOrganizationalUnitId"], split_list(values["OrganizationalUnitIds"])))
    check_overrides(overrides, regions, template["Parameters"] if functions else member_parameters(base))
    for region, given in sorted(overrides.items()):
        say(f"  region {region}: parameter overrides " + ", ".join(f"{k}={v}" for k, v in sorted(given.items())))

    if args.parameters_only:
        return update_owning_stack(args, cfn, say, stack, current, deployed, base, values, regions, overrides, from_file, None, home)

    # Every bucket first: a problem refuses the whole run before anything is written.
    s3 = {region: client("s3", region) for region in regions}
    buckets = {region: f"{prefix}-{region}" for region in regions}
    problems = []
    for region in regions:
        problem, _ = check_bucket(s3[region], buckets[region], region, owner)
        problems += [problem] if problem else check_bucket_settings(s3[region], buckets[region], owner)
    template_bucket = args.template_bucket or f"{prefix}-{home}"
    template_region = next((r for r in regions if buckets[r] == template_bucket), None)
    if template_region is None:
        problem, actual = check_bucket(client("s3", home), template_bucket, None if args.template_bucket else home, owner)
        template_region = actual or home
        if problem:
            problems.append(problem + ("" if args.template_bucket else " (the template's bucket: choose one with --template-bucket)"))
        else:
            problems += check_bucket_settings(client("s3", template_region), template_bucket, owner)
    template_s3 = s3.get(template_region) or client("s3", template_region)
    if problems:
        raise PublishError("refusing to publish, nothing was written:\n  " + "\n  ".join(problems))
    say(f"buckets: {len(set(buckets.values()) | {template_bucket})} checked (versioning Enabled, TLS-only policy, default encryption, public access blocked)")

    uploaded = skipped = uploaded_bytes = 0
    # Code: every function in every region, then (optionally) signed; each as a key and version.
    objects = {region: {} for region in regions}
    for region in regions:
        for logical_id, name, data, digest, key in functions:
            state, version = latest_object(s3[region], buckets[region], key, digest, owner)
            if state == "same":
                skipped += 1
                say(f"skip    s3://{buckets[region]}/{key} (present, same sha256, version {version})")
            elif args.dry_run:
                say(f"would {'replace' if state == 'different' else 'upload'} s3://{buckets[region]}/{key} ({len(data):,} bytes)")
                uploaded += 1
                uploaded_bytes += len(data)
            else:
                version = put_object(s3[region], buckets[region], key, data, digest, owner, "application/zip")
                say(f"{'replace' if state == 'different' else 'upload':<7} s3://{buckets[region]}/{key} ({len(data):,} bytes) version {version}")
                uploaded += 1
                uploaded_bytes += len(data)
            objects[region][logical_id] = (key, version)
    if args.dry_run:
        then = f", sign each with {args.signing_profile}" if args.signing_profile else ""
        say(f"would upload {uploaded} objects ({uploaded_bytes:,} bytes), skipped {skipped} already present{then}")
        say(f"would pin each function's object version per region in the template, then update stack {args.stack} (TemplateURL), the pilot OU first")
        return 0

    # Every key and exact version, before anything may name them.
    missing = []
    for region in regions:
        for logical_id, name, _, digest, key in functions:
            _, version = objects[region][logical_id]
            head = object_version(s3[region], buckets[region], key, version, owner) if version else None
            if head is None or not has_digest(head, digest):
                missing.append(f"s3://{buckets[region]}/{key}" + (f" version {version}" if version else " (no version)"))
    if missing:
        raise PublishError(f"refusing to update stack {args.stack}: missing or different after upload:\n  " + "\n  ".join(missing))
    say(f"checked {len(regions) * len(functions)} object versions in {len(regions)} buckets (head_object with VersionId, sha256)")

    if args.signing_profile:
        for region in regions:
            signer = client("signer", region)
            for logical_id, name, _, _, _ in functions:
                key, version = objects[region][logical_id]
                signed_key, signed_version, profile_version = sign(
                    signer, s3[region], buckets[region], key, version, args.signing_profile, f"{args.key_prefix}/signed/{name}/", owner)
                objects[region][logical_id] = (signed_key, signed_version)
                say(f"signed  s3://{buckets[region]}/{key} ({version}) -> {signed_key} version {signed_version} ({profile_version or args.signing_profile})")

    pinned = pin_code(template, objects)
    body = (json.dumps(pinned, indent=1, sort_keys=True) + "\n").encode()
    if len(body) > TEMPLATE_URL_MAX_BYTES:
        raise PublishError(f"the rendered template is {len(body)} bytes, over the 1 MB a TemplateURL may point to")
    digest = sha256(body)
    key = f"{args.key_prefix}/stackset-template/{digest}.json"
    state, version = latest_object(template_s3, template_bucket, key, digest, owner)
    if state != "same":
        version = put_object(template_s3, template_bucket, key, body, digest, owner, "application/json")
        say(f"upload  s3://{template_bucket}/{key} ({len(body):,} bytes) version {version}")
        uploaded += 1
        uploaded_bytes += len(body)
    else:
        skipped += 1
        say(f"skip    s3://{template_bucket}/{key} (present, same sha256)")
    head = object_version(template_s3, template_bucket, key, version, owner) if version else None
    if head is None or not has_digest(head, digest):
        raise PublishError(f"refusing to update stack {args.stack}: s3://{template_bucket}/{key} missing or different after upload")
    url = template_url(template_bucket, template_region, key)
    say(f"uploaded {uploaded} objects ({uploaded_bytes:,} bytes), skipped {skipped} already present")

    return update_owning_stack(args, cfn, say, stack, current, deployed, base, values, regions, overrides, from_file, url, home)


def update_owning_stack(args, cfn, say, stack, current, deployed, base, values, regions, overrides, from_file, url, home):
    """Creates or updates the owning stack: infra/stackset.yaml with the region overrides, TemplateURL
    = URL (None: the previous value), every other parameter its previous value unless FROM_FILE sets it."""
    from botocore.exceptions import ClientError

    owning = owning_template(base, regions, overrides)
    owning_body = json.dumps(owning, separators=(",", ":"), sort_keys=True)
    if len(owning_body.encode()) > TEMPLATE_BODY_MAX_BYTES:
        raise PublishError(f"the owning stack's template is {len(owning_body.encode())} bytes, over the 51,200 of a TemplateBody")
    parameters = []
    for key in base["Parameters"]:
        if key == "TemplateURL":
            parameters.append({"ParameterKey": key, "ParameterValue": url} if url else {"ParameterKey": key, "UsePreviousValue": True})
        elif stack is not None and key in current and key not in from_file:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
        else:
            parameters.append({"ParameterKey": key, "ParameterValue": values[key]})
    final = dict(values, TemplateURL=url or current.get("TemplateURL"))
    if stack is not None and deployed == json.loads(owning_body) and all(current.get(k) == v for k, v in final.items()):
        say(f"stack {args.stack} already has this template and these parameters: not updated")
        return 0
    if args.dry_run:
        changed = sorted(k for k, v in final.items() if current.get(k) != v)
        say(f"would {'update' if stack else 'create'} stack {args.stack}: parameters changed {', '.join(changed) or 'none'}; "
            f"template {'unchanged' if deployed == json.loads(owning_body) else 'changed'}")
        return 0
    call = cfn.update_stack if stack is not None else cfn.create_stack
    try:
        response = call(StackName=args.stack, TemplateBody=owning_body, Parameters=parameters)
    except ClientError as e:
        if "No updates are to be performed" in str(e):
            say(f"stack {args.stack}: no updates are to be performed")
            return 0
        raise
    say(f"{'UpdateStack' if stack is not None else 'CreateStack'} {args.stack}: TemplateURL={final['TemplateURL']} ({response['StackId']})")
    say(f"  the pilot OU's StackSet first, then the rest (DependsOn); follow it: aws cloudformation describe-stack-events --stack-name {args.stack} --region {home}")
    if args.wait:
        waiter = cfn.get_waiter("stack_update_complete" if stack is not None else "stack_create_complete")
        try:
            waiter.wait(StackName=args.stack, WaiterConfig={"Delay": 30, "MaxAttempts": 480})
        except Exception as e:  # botocore WaiterError: rolled back (the pilot failed) or timed out
            raise PublishError(f"stack {args.stack} did not complete: {e}") from None
        say(f"stack {args.stack}: complete")
    return 0


def member_parameters(base):
    """The template parameters the StackSets hand on, as infra/stackset.yaml declares them (for
    --parameters-only, which renders nothing; scripts/validate-infra.sh keeps them equal to the
    template's)."""
    forwarded = set()
    for resource in base["Resources"].values():
        if resource.get("Type") == "AWS::CloudFormation::StackSet":
            forwarded |= {p["ParameterKey"] for p in resource["Properties"].get("Parameters", [])}
    return {k: v for k, v in base["Parameters"].items() if k in forwarded}


def main(argv=None, out=None):
    args = parse_args(argv)
    try:
        return publish(args, out or sys.stdout)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"error: {e} (boto3 and PyYAML are in .venv and .venv-infra)", file=sys.stderr)
        return 1
    except Exception as e:  # botocore's: no credentials, unreachable endpoint, access denied ...
        module = type(e).__module__ or ""
        if module.startswith("botocore") or module.startswith("boto3"):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
