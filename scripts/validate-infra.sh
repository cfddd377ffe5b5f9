#!/usr/bin/env bash
# Validates the deployment templates under infra/, offline (the installs use package registries only):
#   cfn-lint; sam validate --lint; checkov --skip-download (as deployed and with every optional
#   resource on); the StackSet rendering (plain CloudFormation) and its parameters; the EventBridge
#   patterns against events/ (with the tests' .venv and moto); docs/dashboard.svg; the project's
#   cfn-guard rules (infra/rules/*.guard) on the template and the rendering; and, for every rule, a
#   deliberately broken copy of the template that the rule must reject.
# Tools: .venv-infra (infra/requirements.txt + constraints.txt; reinstalled only when their hash
# changes) and cfn-guard, built once with `cargo install --locked -j 1` into .tools/ (or
# $VPCE_GUARD_TOOLS_DIR). Prints one PASS/FAIL line per check and ends with "N passed, M failed".
# Usage: scripts/validate-infra.sh   (PYTHON=python3.x to choose the interpreter of the venv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# ---------------------------------------------------------------- tools
venv="$root/.venv-infra"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"
want="$(cat infra/requirements.txt infra/constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || rm -f "$stamp"
else
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" ]]; then
    echo "installing infra/requirements.txt into .venv-infra" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r infra/requirements.txt
    printf '%s\n' "$want" > "$stamp"
fi

guard_version=3.2.1
tools_dir="${VPCE_GUARD_TOOLS_DIR:-$root/.tools}"
guard="$tools_dir/bin/cfn-guard"
if [[ "$("$guard" --version 2>/dev/null || true)" != "cfn-guard $guard_version" ]]; then
    echo "building cfn-guard $guard_version into $tools_dir (once; about 4 minutes on one core)" >&2
    cargo install cfn-guard --version "$guard_version" --locked --quiet --root "$tools_dir" -j "${VPCE_GUARD_TOOLS_JOBS:-1}"
fi

# Hermetic and offline: no profile, no instance metadata, dummy credentials, fixed region.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-west-2 AWS_REGION=us-west-2
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 PATH="$venv/bin:$PATH"
py="$venv/bin/python"
helper=infra/tools/infra_checks.py

echo "tools: $(cfn-lint --version), $(sam --version), checkov $(checkov --version), $("$guard" --version)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- checks
set +e
passed=0
failed=0
# check NAME COMMAND...: runs the command, PASS on exit 0; shows its output on failure.
check() {
    local name="$1"
    shift
    if "$@" > "$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/    /' "$work/out" | tail -n 60
    fi
}
# show_and_fail FILE: a check that failed before it could run; FILE says why.
show_and_fail() {
    cat "$1"
    return 1
}
# guard_rejects RULE DATA: cfn-guard fails (exit 19) on DATA and names RULE among the failed rules.
guard_rejects() {
    local output status
    output="$("$guard" validate -r infra/rules -d "$2" -S fail 2>&1)"
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
    "$py" - "$1" "$2" <<'EOF'
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

check "cfn-lint infra/template.yaml infra/stackset.yaml" cfn-lint infra/template.yaml infra/stackset.yaml
check "sam validate --lint --region us-west-2" sam validate --lint --region us-west-2 -t infra/template.yaml
check "checkov --skip-download -d infra" checkov --skip-download -d infra --compact --quiet
mkdir -p "$work/all-resources"
if all_variants infra/template.yaml "$work/all-resources/template.json" > "$work/out" 2>&1; then
    check "checkov, every optional resource on" checkov --skip-download -d "$work/all-resources" --compact --quiet
else
    check "checkov, every optional resource on" show_and_fail "$work/out"
fi

rendered="$work/stackset-template.json"
check "render the StackSet template (SAM transform, offline)" "$py" "$helper" render infra/template.yaml "$rendered"
check "cfn-lint, rendered StackSet template" cfn-lint "$rendered"
check "StackSet parameters match the template's" "$py" "$helper" params infra/stackset.yaml "$rendered"

# `sam build` wiring without compiling: a stub cargo-lambda checks each Binary against the workspace
# (cargo metadata) and the flags SAM passes, and leaves a placeholder bootstrap. Then the StackSet
# packaging of that build: the rendered template and one content-addressed zip per function.
mkdir -p "$work/stub" "$work/sam"
cat > "$work/stub/cargo" <<'STUB'
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
check "sam build wiring (stub cargo-lambda, nothing compiled)" sam_build
package() {
    test -f "$work/sam/build/template.yaml" || { echo "no sam build output to package"; return 1; }
    "$py" "$helper" render "$work/sam/build/template.yaml" "$work/sam/stackset-template.json" \
        --artifacts "$work/sam/zips" || return 1
    test "$(find "$work/sam/zips" -name '*.zip' | wc -l)" -eq 4 || { echo "expected 4 zips"; return 1; }
    cfn-lint "$work/sam/stackset-template.json"
}
check "StackSet packaging of that build (4 zips, cfn-lint)" package
check "scripts/publish-stackset.py against moto (pytest infra/tests/test_publish_stackset.py)" bash -c 'scripts/setup-venv.sh && .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_publish_stackset.py'

# The rules' event patterns against events/*.json (and synthetic callers, alarms, destination
# records), with a small evaluator of EventBridge's semantics cross-checked against moto's matcher
# (.venv from tests/fixture/requirements.txt); and the dashboard's drawn layout against the template.
check "EventBridge patterns against events/ (pytest infra/tests/test_event_patterns.py, moto cross-check)" \
    bash -c 'scripts/setup-venv.sh && .venv/bin/python -m pytest -q -p no:cacheprovider infra/tests/test_event_patterns.py'
check "docs/dashboard.svg is the layout of the template's dashboard" \
    "$py" scripts/render-dashboard.py infra/template.yaml --check docs/dashboard.svg

for rules in infra/rules/*.guard; do
    check "cfn-guard $(basename "$rules") on template.yaml" "$guard" validate -r "$rules" -d infra/template.yaml -S fail
    check "cfn-guard $(basename "$rules") on the rendered template" "$guard" validate -r "$rules" -d "$rendered" -S fail
done

# Negative tests: every rule must reject a broken copy. The unbroken copy, converted the same way,
# must pass, so that a rejection comes from the mutation and not from the conversion.
"$py" "$helper" to-json infra/template.yaml "$work/unbroken.json"
check "cfn-guard, unbroken JSON copy passes" "$guard" validate -r infra/rules -d "$work/unbroken.json" -S fail
if "$py" "$helper" break-all infra/template.yaml "$work/broken" > "$work/mutations" 2> "$work/out"; then
    while read -r mutation rule; do
        check "cfn-guard rejects broken copy '$mutation' ($rule)" guard_rejects "$rule" "$work/broken/$mutation.json"
    done < "$work/mutations"
else
    check "generate the broken copies" show_and_fail "$work/out"
fi
rules_without_test="$(grep -hoE '^rule [A-Za-z0-9_]+' infra/rules/*.guard | cut -d' ' -f2 | sort -u |
    comm -23 - <(cut -d' ' -f2 "$work/mutations" | sort -u))"
check "every guard rule has a broken copy" test -z "$rules_without_test"
[[ -z "$rules_without_test" ]] || echo "    rules without a broken copy: $rules_without_test"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
