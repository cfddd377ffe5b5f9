#!/usr/bin/env python3
"""Publish a vpce-guard build to the Organization's StackSet (infra/README.md, "StackSet").

Reads the functions from the rendered StackSet template (every AWS::Lambda::Function; its code
comes from "<ArtifactBucketPrefix>-<region>"), zips each function's bootstrap deterministically
(one entry "bootstrap", mode 0755, 1980-01-01 timestamp, deflate level 6) and uploads it as
"<key-prefix>/<function>/<sha256 of the zip>.zip" to the code bucket of every region of the
StackSet. The rendered template, its S3Keys rewritten to those keys, goes to
"<key-prefix>/stackset-template/<sha256>.json" in the template bucket. Then every key is checked
with head_object in every bucket, and only then is the StackSet updated (UpdateStackSet with the
new TemplateURL, every parameter kept with UsePreviousValue).

Regions and ArtifactBucketPrefix are not typed here: they come from the existing StackSet
(DescribeStackSet: its parameters and the regions of its stack instances) and, with --parameters,
also from the parameters file of infra/stackset.yaml (the union of both region lists is used; the
prefix must agree).

UpdateStackSet goes to the StackSet itself. When a stack of infra/stackset.yaml manages it, deploy
that stack with the printed TemplateURL next time, or the stack's old TemplateURL comes back.

Idempotent: an object already present under its key with the same sha256 is not uploaded again,
and a StackSet whose template is already the new one is not updated.

Refuses (exit 1, nothing written) on: a missing bootstrap or template, an empty region list, a
code bucket missing, in another region or not owned by the account; and (before UpdateStackSet)
on any key missing after the uploads.

Usage:
  .venv-infra/bin/python scripts/publish-stackset.py [--build-dir .aws-sam/build]
      [--template RENDERED.json] [--parameters FILE] [--stack-set NAME] [--call-as SELF]
      [--template-bucket BUCKET] [--dry-run] [--profile P] [--region R] [--endpoint-url URL]

Without --template, infra/template.yaml (or the build's template.yaml) is rendered with
infra/tools/infra_checks.py render, which needs aws-sam-cli's samtranslator: run with
.venv-infra/bin/python (scripts/validate-infra.sh creates it) or pass --template.
Needs boto3 only otherwise.
"""

import argparse
import base64
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
ARTIFACT_PARAMETER = "ArtifactBucketPrefix"
CODE_BUCKET = {"Fn::Sub": "${%s}-${AWS::Region}" % ARTIFACT_PARAMETER}
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
KEY_PREFIX = "vpce-guard"
TEMPLATE_URL_MAX_BYTES = 1024 * 1024  # a TemplateURL's template: at most 1 MB
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# infra/tools/infra_checks.py render names the code "<key-prefix>/<binary>-<16 hex | unbuilt>.zip"
RENDERED_KEY = re.compile(r"^(?:[^/]+/)*(?P<name>[A-Za-z0-9_.-]+?)-(?:unbuilt|[0-9a-f]{16})\.zip$")
NAME_PREFIX_SUB = re.compile(r"^\$\{NamePrefix\}-(?P<name>[A-Za-z0-9_.-]+)$")


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


def prepare_build(template, build_dir, key_prefix):
    """[(logical id, name, zip bytes, sha256, key)] for every function of the template; rewrites its S3Key."""
    if not os.path.isdir(build_dir):
        raise PublishError(f"no build at {build_dir}: run `sam build -t infra/template.yaml` first, or pass --build-dir")
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
        name = function_name(logical_id, properties)
        path = find_bootstrap(build_dir, logical_id, name)
        with open(path, "rb") as f:
            data = zip_bootstrap(f.read())
        digest = sha256(data)
        key = f"{key_prefix}/{name}/{digest}.zip"
        code["S3Key"] = key
        functions.append((logical_id, name, data, digest, key))
    if not functions:
        raise PublishError("the rendered template has no AWS::Lambda::Function")
    return functions


# ------------------------------------------------------------------------------------ parameters


def read_parameters_file(path):
    """Parameters of infra/stackset.yaml as {key: value}: a list of {ParameterKey, ParameterValue}
    (create-stack --parameters), a list of "Key=Value" or {"Parameters": {...}} (deploy
    --parameter-overrides), or a flat object."""
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
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()}


def split_regions(value):
    return [r.strip() for r in str(value or "").split(",") if r.strip()]


def describe_stack_set(cfn, name, call_as):
    from botocore.exceptions import ClientError

    try:
        return cfn.describe_stack_set(StackSetName=name, CallAs=call_as)["StackSet"]
    except ClientError as e:
        if e.response["Error"]["Code"] in ("StackSetNotFoundException", "StackSetNotFound"):
            raise PublishError(
                f"StackSet {name} not found in {cfn.meta.region_name} (CallAs {call_as}): create it first "
                "with infra/stackset.yaml (infra/README.md), or pass --stack-set/--region/--call-as"
            ) from None
        raise


def instance_regions(cfn, stack_set, call_as):
    """The regions of the StackSet's stack instances: DescribeStackSet's Regions, else ListStackInstances."""
    if "Regions" in stack_set:
        return set(stack_set["Regions"] or [])
    regions = set()
    for page in cfn.get_paginator("list_stack_instances").paginate(StackSetName=stack_set["StackSetName"], CallAs=call_as):
        regions.update(summary["Region"] for summary in page.get("Summaries", []))
    return regions


def resolve_target(cfn, args):
    """(stack set description, its parameters, prefix, sorted regions, notes)."""
    notes = []
    from_file = read_parameters_file(args.parameters) if args.parameters else {}
    name = args.stack_set or from_file.get("StackSetName") or "vpce-guard"
    call_as = args.call_as or from_file.get("CallAs") or "SELF"
    stack_set = describe_stack_set(cfn, name, call_as)
    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack_set.get("Parameters", [])}

    prefix = current.get(ARTIFACT_PARAMETER) or from_file.get(ARTIFACT_PARAMETER)
    if not prefix:
        raise PublishError(f"no {ARTIFACT_PARAMETER}: neither StackSet {name} nor a parameters file (--parameters) sets it")
    if from_file.get(ARTIFACT_PARAMETER) and current.get(ARTIFACT_PARAMETER) and from_file[ARTIFACT_PARAMETER] != current[ARTIFACT_PARAMETER]:
        raise PublishError(
            f"{ARTIFACT_PARAMETER} differs: {args.parameters} says {from_file[ARTIFACT_PARAMETER]!r}, StackSet {name} "
            f"uses {current[ARTIFACT_PARAMETER]!r}; the stack instances read code from the StackSet's"
        )

    deployed = instance_regions(cfn, stack_set, call_as)
    regions = set(deployed)
    if args.parameters:
        if "Regions" not in from_file:
            raise PublishError(f"parameters file {args.parameters} has no Regions")
        listed = set(split_regions(from_file["Regions"]))
        if not listed:
            raise PublishError(f"Regions is empty in {args.parameters}")
        for region in sorted(deployed - listed):
            notes.append(f"region {region} has stack instances but is not in {args.parameters}'s Regions: included")
        regions |= listed
    if not regions:
        raise PublishError(f"no regions: StackSet {name} has no stack instances" + ("" if args.parameters else "; pass --parameters FILE with its Regions"))
    bad = sorted(r for r in regions if not REGION_PATTERN.match(r))
    if bad:
        raise PublishError(f"not a region name: {', '.join(bad)}")
    source = f"{args.parameters} and the StackSet's instances" if args.parameters else f"the stack instances of StackSet {name}"
    notes.insert(0, f"StackSet {name} (CallAs {call_as}, {cfn.meta.region_name}); {ARTIFACT_PARAMETER} {prefix}; regions {', '.join(sorted(regions))} (from {source})")
    return stack_set, current, call_as, from_file, prefix, sorted(regions), notes


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


def object_state(s3, bucket, key, digest, owner):
    """'same' (present with this sha256), 'different' (present, another or unknown hash), 'missing'."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner, ChecksumMode="ENABLED")
    except ClientError as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return "missing"
        raise
    checksum = head.get("ChecksumSHA256")
    if head.get("Metadata", {}).get("sha256") == digest or checksum == base64.b64encode(bytes.fromhex(digest)).decode():
        return "same"
    return "different"


def put_object(s3, bucket, key, data, digest, owner, content_type):
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        Metadata={"sha256": digest},
        ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
        ExpectedBucketOwner=owner,
    )


def template_url(bucket, region, key):
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if "." in bucket:  # virtual-hosted names with dots fail TLS: path style
        return f"https://s3.{region}.{domain}/{bucket}/{key}"
    return f"https://{bucket}.s3.{region}.{domain}/{key}"


# -------------------------------------------------------------------------------------------- main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring and infra/README.md.")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, ".aws-sam", "build"), help="sam build output (<LogicalId>/bootstrap) or cargo lambda's target/lambda (<binary>/bootstrap); default .aws-sam/build")
    parser.add_argument("--template", help="the rendered StackSet template (infra/tools/infra_checks.py render); default: render the build's template.yaml or infra/template.yaml")
    parser.add_argument("--parameters", help="parameters file of infra/stackset.yaml (JSON): Regions, ArtifactBucketPrefix, StackSetName, CallAs, ...")
    parser.add_argument("--stack-set", help="StackSet name (default: StackSetName of --parameters, else vpce-guard)")
    parser.add_argument("--call-as", choices=["SELF", "DELEGATED_ADMIN"], help="default: CallAs of --parameters, else SELF")
    parser.add_argument("--template-bucket", help="bucket of the rendered template (default <ArtifactBucketPrefix>-<region>)")
    parser.add_argument("--key-prefix", default=KEY_PREFIX, help=f"S3 key prefix (default {KEY_PREFIX}; the buckets' policy grants <bucket>/{KEY_PREFIX}/*)")
    parser.add_argument("--bucket-owner", help="account that must own the buckets (default: the caller's, from STS)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (reads only: DescribeStackSet, head_bucket, head_object); write nothing")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--region", help="region of the StackSet (its administrator region)")
    parser.add_argument("--endpoint-url", help="one endpoint for every service (tests: moto's server)")
    return parser.parse_args(argv)


def publish(args, out):
    import boto3
    from botocore.exceptions import ClientError

    say = lambda line="": print(line, file=out, flush=True)  # noqa: E731
    if args.dry_run:
        say("dry run: reads only, nothing is written")

    template, template_source = load_template(args)
    functions = prepare_build(template, args.build_dir, args.key_prefix)
    body = (json.dumps(template, indent=1) + "\n").encode()
    if len(body) > TEMPLATE_URL_MAX_BYTES:
        raise PublishError(f"the rendered template is {len(body)} bytes, over the 1 MB a TemplateURL may point to")
    template_digest = sha256(body)
    template_key = f"{args.key_prefix}/stackset-template/{template_digest}.json"
    say(f"template: {template_source}")
    say(f"build: {len(functions)} functions from {args.build_dir}")
    for logical_id, name, data, _, key in functions:
        say(f"  {name:<22} {logical_id:<26} {len(data):>10,} bytes  {key}")

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    home = args.region or session.region_name
    if not home:
        raise PublishError("no region: pass --region (the StackSet's administrator region) or set one in the profile")
    client = lambda service, region=home: session.client(service, region_name=region, endpoint_url=args.endpoint_url)  # noqa: E731
    cfn = client("cloudformation")
    owner = args.bucket_owner or client("sts").get_caller_identity()["Account"]

    stack_set, current, call_as, from_file, prefix, regions, notes = resolve_target(cfn, args)
    for note in notes:
        say(note)

    # The update, decided before anything is written: every parameter the new template declares
    # keeps the StackSet's value; a new one takes its default; one without either refuses.
    try:
        same_template = json.loads(stack_set.get("TemplateBody") or "null") == template
    except ValueError:
        same_template = False
    parameters = []
    for key, spec in template.get("Parameters", {}).items():
        if key in current:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
        elif "Default" not in spec:
            raise PublishError(f"the new template's parameter {key} has no default and StackSet {stack_set['StackSetName']} has no value: update the StackSet by hand")
    dropped = sorted(set(current) - set(template.get("Parameters", {})))
    try:
        preferences = {
            "RegionConcurrencyType": "PARALLEL",
            "FailureTolerancePercentage": int(from_file.get("FailureTolerancePercentage", 10)),
            "MaxConcurrentPercentage": int(from_file.get("MaxConcurrentPercentage", 25)),
        }
    except ValueError as e:
        raise PublishError(f"parameters file {args.parameters}: {e}") from None

    # Every bucket first: a missing one refuses the whole run before anything is written.
    s3 = {region: client("s3", region) for region in regions}
    buckets = {region: f"{prefix}-{region}" for region in regions}
    problems = [problem for problem, _ in (check_bucket(s3[r], buckets[r], r, owner) for r in regions) if problem]
    template_bucket = args.template_bucket or f"{prefix}-{home}"
    if template_bucket in buckets.values():
        template_region = next(r for r in regions if buckets[r] == template_bucket)
    else:
        problem, actual = check_bucket(client("s3", home), template_bucket, None if args.template_bucket else home, owner)
        if problem:
            problems.append(problem + ("" if args.template_bucket else " (the template's bucket: choose one with --template-bucket)"))
        template_region = actual or home
    template_s3 = s3.get(template_region) or client("s3", template_region)
    if problems:
        raise PublishError("refusing to publish, nothing was written:\n  " + "\n  ".join(problems))

    # Uploads: (client, bucket, key, data, digest, content type) of every object.
    objects = [(s3[r], buckets[r], key, data, digest, "application/zip") for r in regions for _, _, data, digest, key in functions]
    objects.append((template_s3, template_bucket, template_key, body, template_digest, "application/json"))
    uploaded = skipped = uploaded_bytes = 0
    for s3_client, bucket, key, data, digest, content_type in objects:
        state = object_state(s3_client, bucket, key, digest, owner)
        if state == "same":
            skipped += 1
            say(f"skip    s3://{bucket}/{key} (present, same sha256)")
            continue
        verb = "replace" if state == "different" else "upload"
        if args.dry_run:
            say(f"would {verb} s3://{bucket}/{key} ({len(data):,} bytes)")
        else:
            put_object(s3_client, bucket, key, data, digest, owner, content_type)
            say(f"{verb:<7} s3://{bucket}/{key} ({len(data):,} bytes)")
        uploaded += 1
        uploaded_bytes += len(data)

    url = template_url(template_bucket, template_region, template_key)
    verb = "would upload" if args.dry_run else "uploaded"
    summary = f"{verb} {uploaded} objects ({uploaded_bytes:,} bytes), skipped {skipped} already present"
    if args.dry_run:
        say(summary)
        then = "(the StackSet already uses this template: no update)" if same_template else f"then UpdateStackSet {stack_set['StackSetName']} TemplateURL={url}"
        say(f"would check {len(objects)} keys with head_object, {then}")
        return 0

    # Every key in every bucket, before the StackSet may point at them.
    missing = [f"s3://{bucket}/{key}" for s3_client, bucket, key, _, digest, _ in objects if object_state(s3_client, bucket, key, digest, owner) != "same"]
    if missing:
        raise PublishError("refusing to update the StackSet: missing or different after upload:\n  " + "\n  ".join(missing))
    say(f"checked {len(objects)} keys in {len({o[1] for o in objects})} buckets (head_object, sha256)")
    say(summary)

    if same_template:
        say(f"StackSet {stack_set['StackSetName']} already uses this template: not updated")
        return 0
    for key in dropped:
        say(f"parameter {key} is no longer in the template: dropped")
    try:
        operation = cfn.update_stack_set(
            StackSetName=stack_set["StackSetName"],
            TemplateURL=url,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            OperationPreferences=preferences,
            CallAs=call_as,
        )
    except ClientError as e:
        if error_code(e) in ("OperationInProgressException", "OperationInProgress"):
            raise PublishError(
                f"another operation is running on StackSet {stack_set['StackSetName']}: wait for it and re-run "
                "(the uploads are kept; a re-run skips them)"
            ) from None
        raise
    say(f"UpdateStackSet {stack_set['StackSetName']}: TemplateURL={url} operation {operation['OperationId']}")
    say(f"  follow it: aws cloudformation describe-stack-set-operation --stack-set-name {stack_set['StackSetName']} --operation-id {operation['OperationId']} --call-as {call_as} --region {home}")
    say(f"  if the StackSet is managed by a stack of infra/stackset.yaml, deploy that stack with TemplateURL={url} next time, or it puts the old template back")
    return 0


def main(argv=None, out=None):
    args = parse_args(argv)
    try:
        return publish(args, out or sys.stdout)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        print(f"error: {e} (boto3 is in .venv and .venv-infra)", file=sys.stderr)
        return 1
    except Exception as e:  # botocore's: no credentials, unreachable endpoint, access denied ...
        module = type(e).__module__ or ""
        if module.startswith("botocore") or module.startswith("boto3"):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
