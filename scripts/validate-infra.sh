#!/usr/bin/env bash
# Validates the deployment templates under infra/, offline (the installs use package registries only):
#   cfn-lint; sam validate --lint; checkov --skip-download (as deployed and with every optional
#   resource on); the StackSet rendering (plain CloudFormation) and its parameters; the EventBridge
#   patterns against events/ (with the tests' .venv and moto); scripts/publish-stackset.py (moto);
#   docs/dashboard.svg; the project's cfn-guard rules (infra/rules/*.guard) on the template, the
#   rendering, the code bucket (code-buckets.yaml) and the StackSets (stackset.yaml); and, for every
#   rule, a deliberately broken copy of the template (or of the one the rule is about) that the rule
#   must reject.
# Tools, in $VPCE_GUARD_TOOLS_DIR (default .tools/ in the clone; CI uses a folder of the machine):
# the venvs .venv-infra (infra/requirements.txt + constraints.txt) and .venv (the tests'), made by
# scripts/setup-venv.sh and reinstalled only when their requirements change, and cfn-guard, built
# once with `cargo install --locked -j 1` (about 4 minutes) while the venvs install and the checks
# that need no cfn-guard run.
# The checks run side by side, VPCE_GUARD_INFRA_JOBS at a time (default: the number of cores).
# Prints one PASS/FAIL line per check with its time, in a fixed order, and ends with
# "N passed, M failed".
# Usage: scripts/validate-infra.sh   (PYTHON=python3.x to choose the interpreter of the venvs)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# seconds since an earlier $EPOCHREALTIME, to a tenth ("12.3 s")
since() {
    local now="${EPOCHREALTIME//[!0-9]/}" then="${1//[!0-9]/}"
    local tenths=$(((10#$now - 10#$then) / 100000))
    echo "$((tenths / 10)).$((tenths % 10)) s"
}
started=$EPOCHREALTIME
work="$(mktemp -d)"
# On any exit: stop what still runs in the background (a cfn-guard build, a check), then clean up.
trap 'kill $(jobs -pr) 2> /dev/null || true; rm -rf "$work"' EXIT

# ---------------------------------------------------------------- tools
export VPCE_GUARD_TOOLS_DIR="${VPCE_GUARD_TOOLS_DIR:-$root/.tools}"
tools_dir="$VPCE_GUARD_TOOLS_DIR"
guard_version=3.2.1
guard="$tools_dir/bin/cfn-guard"
guard_build=""
if [[ "$("$guard" --version 2> /dev/null || true)" != "cfn-guard $guard_version" ]]; then
    echo "building cfn-guard $guard_version into $tools_dir in the background (once; about 4 minutes on one core)" >&2
    cargo install cfn-guard --version "$guard_version" --locked --quiet --root "$tools_dir" \
        -j "${VPCE_GUARD_TOOLS_JOBS:-1}" > "$work/cfn-guard-build.log" 2>&1 &
    guard_build=$!
fi
scripts/setup-venv.sh .venv-infra infra/requirements.txt infra/constraints.txt > "$work/venv-infra.log" 2>&1 &
venv_infra=$!
scripts/setup-venv.sh > "$work/venv.log" 2>&1 &
venv_tests=$!
for job in "$venv_infra:venv-infra" "$venv_tests:venv"; do
    if ! wait "${job%%:*}"; then
        echo "scripts/setup-venv.sh failed (.${job#*:}):" >&2
        cat "$work/${job#*:}.log" >&2
        exit 1
    fi
    cat "$work/${job#*:}.log" >&2
done
venvs_ready=$EPOCHREALTIME

# Hermetic and offline: no profile, no instance metadata, dummy credentials, fixed region.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-west-2 AWS_REGION=us-west-2
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 PATH="$root/.venv-infra/bin:$PATH"
py="$root/.venv-infra/bin/python"
helper=infra/tools/infra_checks.py

versions="$("$py" -c 'from importlib.metadata import version
print(", ".join(f"{name} {version(package)}" for name, package in (
    ("cfn-lint", "cfn-lint"), ("SAM CLI", "aws-sam-cli"), ("checkov", "checkov"))))')"
echo "tools: $versions, cfn-guard $guard_version${guard_build:+ (building)}; venvs ready in $(since "$started")"

# ---------------------------------------------------------------- the runner
# Every check and every preparation runs in the background, at most $jobs_max at a time (a
# cfn-guard build takes one of them); the results are printed in the order the checks were queued.
set +e
shopt -s nullglob
jobs_max="${VPCE_GUARD_INFRA_JOBS:-$(nproc)}"
results="$work/results"
mkdir -p "$results"
spawned=0 # checks and preparations started
queued=0  # checks started
shown=0   # checks printed
passed=0
failed=0

# spawn ID COMMAND...: runs the command in the background once a slot is free; its output goes to
# $results/ID.out, then "STATUS SECONDS" to $results/ID.status.
spawn() {
    local id="$1" finished slots
    shift
    while :; do
        finished=("$results"/*.status)
        slots=$jobs_max
        if [[ -n "$guard_build" ]] && kill -0 "$guard_build" 2> /dev/null; then slots=$((slots - 1)); fi
        ((spawned - ${#finished[@]} < (slots > 1 ? slots : 1))) && break
        show_finished
        sleep 0.05
    done
    (
        t=$EPOCHREALTIME
        "$@" > "$results/$id.out" 2>&1
        status=$?
        echo "$status $(since "$t")" > "$results/$id.part"
        mv "$results/$id.part" "$results/$id.status"
    ) &
    spawned=$((spawned + 1))
}
# check NAME COMMAND...: a check, PASS on exit 0; shows its output on failure. Sets check_id.
check() {
    check_id=$queued
    printf '%s\n' "$1" > "$results/$check_id.name"
    queued=$((queued + 1))
    spawn "$check_id" "${@:2}"
}
# prepare ID COMMAND...: a step that checks depend on; they read $results/prepare-ID.{status,out}.
prepare() {
    spawn "prepare-$1" "${@:2}"
}
prepared() {
    [[ "$(cut -d' ' -f1 "$results/prepare-$1.status" 2> /dev/null)" == 0 ]]
}
# Prints the finished checks that all checks queued before them have been printed for.
show_finished() {
    local status took name
    while [[ -f "$results/$shown.status" ]]; do
        read -r status took < "$results/$shown.status"
        name="$(cat "$results/$shown.name")"
        if [[ "$status" == 0 ]]; then
            passed=$((passed + 1))
            echo "PASS $name ($took)"
        else
            failed=$((failed + 1))
            echo "FAIL $name ($took)"
            sed 's/^/    /' "$results/$shown.out" | tail -n 60
        fi
        shown=$((shown + 1))
    done
}
# wait_for ID...: waits for these checks (check_id) and preparations (prepare-ID) to end.
wait_for() {
    local id
    for id in "$@"; do
        while [[ ! -f "$results/$id.status" ]]; do
            show_finished
            sleep 0.05
        done
    done
    show_finished
}
# Waits for everything started so far.
finish() {
    local finished
    while :; do
        finished=("$results"/*.status)
        ((${#finished[@]} == spawned)) && break
        show_finished
        sleep 0.05
    done
    show_finished
}

# show_and_fail FILE: a check that failed before it could run; FILE says why.
show_and_fail() {
    cat "$1"
    return 1
}
# guard_rejects RULE DATA: cfn-guard, with the rules file that defines RULE, fails (exit 19) on DATA
# and names RULE among the failed rules. (Guard rules are independent of each other across files;
# every file is checked on the unbroken template below.)
guard_rejects() {
    local rules output status
    rules="$(grep -lE "^rule $1([[:space:]]|\{|$)" infra/rules/*.guard)"
    if [[ -z "$rules" || "$rules" == *$'\n'* ]]; then
        echo "not one rules file defines rule $1: ${rules:-none}"
        return 1
    fi
    output="$("$guard" validate -r "$rules" -d "$2" -S fail 2>&1)"
    status=$?
    if [[ $status -eq 19 ]] && grep -qE "/$1 +FAIL" <<< "$output"; then
        return 0
    fi
    echo "cfn-guard exited $status; rule $1 did not fail:"
    echo "$output" | head -n 20
    return 1
}
# all_variants TEMPLATE OUT: the template with every Condition dropped, so checkov (which skips
# conditional resources) also sees the optional trail, its bucket and the DNS policy.
all_variants() {
    mkdir -p "$(dirname "$2")"
    "$py" - "$1" "$2" << 'EOF'
import sys
sys.path.insert(0, "infra/tools")
import infra_checks as ic
t = ic.load(sys.argv[1])
for section in ("Resources", "Outputs"):
    for item in t.get(section, {}).values():
        item.pop("Condition", None)
ic.dump(t, sys.argv[2])
EOF
}

# `sam build` wiring without compiling: a stub cargo-lambda checks each Binary against the workspace
# (cargo metadata) and the flags SAM passes, and leaves a placeholder bootstrap. Then the StackSet
# packaging of that build: the rendered template and one content-addressed zip per function.
mkdir -p "$work/stub" "$work/sam"
cat > "$work/stub/cargo" << 'STUB'
#!/usr/bin/env bash
set -euo pipefail
if [[ "${1:-}" != lambda ]]; then exec "$REAL_CARGO" "$@"; fi
bin="" prev=""
for arg in "$@"; do [[ "$prev" == --bin ]] && bin="$arg"; prev="$arg"; done
[[ " $* " == *" --arm64 "* && " $* " == *" --release "* ]] || { echo "expected --release --arm64: $*" >&2; exit 1; }
"$REAL_CARGO" metadata --no-deps --format-version 1 | "$PY" -c '
import json, sys
bins = {t["name"] for p in json.load(sys.stdin)["packages"] for t in p["targets"] if "bin" in t["kind"]}
sys.exit(0 if sys.argv[1] in bins else f"no binary {sys.argv[1]!r} in the workspace: {sorted(bins)}")' "$bin"
mkdir -p "$CARGO_TARGET_DIR/lambda/$bin"
printf '#!/bin/sh\necho placeholder %s\n' "$bin" > "$CARGO_TARGET_DIR/lambda/$bin/bootstrap"
chmod +x "$CARGO_TARGET_DIR/lambda/$bin/bootstrap"
STUB
printf '#!/bin/sh\necho "cargo-lambda (stub)"\n' > "$work/stub/cargo-lambda"
chmod +x "$work/stub/cargo" "$work/stub/cargo-lambda"
sam_build() {
    (cd "$work/sam" && REAL_CARGO="$(command -v cargo)" PY="$py" CARGO_TARGET_DIR="$work/sam/target" \
        PATH="$work/stub:$PATH" sam build -t "$root/infra/template.yaml" --build-dir "$work/sam/build") || return 1
    for function in NotebookCreatedFunction SubnetCreatedFunction DomainCreatedFunction RemediateFunction; do
        test -x "$work/sam/build/$function/bootstrap" || { echo "no bootstrap for $function"; return 1; }
    done
}
package() {
    test -f "$work/sam/build/template.yaml" || { echo "no sam build output to package"; return 1; }
    "$py" "$helper" render "$work/sam/build/template.yaml" "$work/sam/stackset-template.json" \
        --artifacts "$work/sam/zips" || return 1
    test "$(find "$work/sam/zips" -name '*.zip' | wc -l)" -eq 4 || { echo "expected 4 zips"; return 1; }
    cfn-lint "$work/sam/stackset-template.json"
}

# ---------------------------------------------------------------- checks
# First what needs no earlier result (the longest first), with the preparations of the rest.

# scripts/publish-stackset.py against moto; the rules' event patterns against events/*.json (and
# synthetic callers, alarms, destination records), with a small evaluator of EventBridge's
# semantics cross-checked against moto's matcher (.venv from tests/fixture/requirements.txt).
check "scripts/publish-stackset.py against moto (pytest infra/tests/test_publish_stackset.py)" \
    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_publish_stackset.py
check "EventBridge patterns against events/ (pytest infra/tests/test_event_patterns.py, moto cross-check)" \
    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_event_patterns.py
# The template at Organization scale (issue 19): redeploys without cleanup (a delete -> create cycle
# in moto), central alerting's dependency, the alarms and the Rules section, evaluated.
check "redeploys, alerting, alarms, Rules (pytest infra/tests/test_template_reliability.py, moto)" \
    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_template_reliability.py
# The permissions contract's evaluator, mapper and role rendering (the contract itself needs the
# built binaries: tests/tests/permissions.rs, run by scripts/test.sh).
check "permissions contract: evaluator, mapper, roles (pytest infra/tests/test_permissions_contract.py)" \
    .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_permissions_contract.py
check "checkov --skip-download -d infra" checkov --skip-download -d infra --compact --quiet
prepare all-resources all_variants infra/template.yaml "$work/all-resources/template.json"
check "sam validate --lint --region us-west-2" sam validate --lint --region us-west-2 -t infra/template.yaml
check "cfn-lint infra/template.yaml infra/stackset.yaml infra/code-buckets.yaml" \
    cfn-lint infra/template.yaml infra/stackset.yaml infra/code-buckets.yaml
rendered="$work/stackset-template.json"
check "render the StackSet template (SAM transform, offline)" "$py" "$helper" render infra/template.yaml "$rendered"
render=$check_id
check "sam build wiring (stub cargo-lambda, nothing compiled)" sam_build
sam_build=$check_id
# The negative tests' copies: every rule must reject a broken copy. The unbroken copy, converted
# the same way, must pass, so that a rejection comes from the mutation and not from the conversion.
prepare unbroken "$py" "$helper" to-json infra/template.yaml "$work/unbroken.json"
break_all() {
    "$py" "$helper" break-all infra/template.yaml "$work/broken" > "$work/mutations"
}
prepare broken break_all
# The dashboard's drawn layout against the template.
check "docs/dashboard.svg is the layout of the template's dashboard" \
    "$py" scripts/render-dashboard.py infra/template.yaml --check docs/dashboard.svg

# Then what reads those results, as soon as they are there.
wait_for prepare-all-resources "$render"
if prepared all-resources; then
    check "checkov, every optional resource on" checkov --skip-download -d "$work/all-resources" --compact --quiet
else
    check "checkov, every optional resource on" show_and_fail "$results/prepare-all-resources.out"
fi
check "cfn-lint, rendered StackSet template" cfn-lint "$rendered"
check "StackSet parameters match the template's" "$py" "$helper" params infra/stackset.yaml "$rendered"
wait_for "$sam_build"
check "StackSet packaging of that build (4 zips, cfn-lint)" package

if [[ -n "$guard_build" ]]; then
    while kill -0 "$guard_build" 2> /dev/null; do
        show_finished
        sleep 0.2
    done
    if ! wait "$guard_build"; then
        finish
        echo "building cfn-guard $guard_version failed:"
        tail -n 60 "$work/cfn-guard-build.log"
        exit 1
    fi
    guard_build=""
fi
for rules in infra/rules/*.guard; do
    check "cfn-guard $(basename "$rules") on template.yaml" "$guard" validate -r "$rules" -d infra/template.yaml -S fail
    check "cfn-guard $(basename "$rules") on the rendered template" "$guard" validate -r "$rules" -d "$rendered" -S fail
done
# The release's own templates (issue 18 item 4, issue 19 item 9): the code bucket of each region and
# the StackSets. Every rules file but those about what a stack instance holds: its alarms
# (alarms.guard), its redeploys in member accounts (redeploy.guard; the code bucket is the release
# store, kept and named <prefix>-<region> on purpose) and the tags of its resources
# (landing-zone.guard). release.guard is the one written for them.
for template in infra/code-buckets.yaml infra/stackset.yaml; do
    for rules in infra/rules/*.guard; do
        case "$(basename "$rules")" in alarms.guard | redeploy.guard | landing-zone.guard) continue ;; esac
        check "cfn-guard $(basename "$rules") on $(basename "$template")" "$guard" validate -r "$rules" -d "$template" -S fail
    done
done
wait_for prepare-unbroken prepare-broken
check "cfn-guard, unbroken JSON copy passes" "$guard" validate -r infra/rules -d "$work/unbroken.json" -S fail
if prepared broken; then
    while read -r mutation rule; do
        check "cfn-guard rejects broken copy '$mutation' ($rule)" guard_rejects "$rule" "$work/broken/$mutation.json"
    done < "$work/mutations"
else
    check "generate the broken copies" show_and_fail "$results/prepare-broken.out"
fi
rules_without_test="$(grep -hoE '^rule [A-Za-z0-9_]+' infra/rules/*.guard | cut -d' ' -f2 | sort -u |
    comm -23 - <(cut -d' ' -f2 "$work/mutations" | sort -u))"
check "every guard rule has a broken copy" test -z "$rules_without_test"
finish
[[ -z "$rules_without_test" ]] || echo "    rules without a broken copy: $rules_without_test"

echo "checks done in $(since "$venvs_ready"), $(since "$started") in all"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
