#!/usr/bin/env bash
# `sam build` of infra/template.yaml with the real cargo-lambda (from PyPI, with its zig),
# offline. ARCH=arm64 (default, what the template deploys) needs the Rust target
# aarch64-unknown-linux-gnu (`rustup target add aarch64-unknown-linux-gnu`); ARCH=x86_64 builds
# the same template with x86_64 functions, for machines without that target. Jobs are capped
# (VPCE_GUARD_JOBS, default 2): an LTO build of aws-sdk-ec2 peaks near 10 GB.
# Prints the size of each bootstrap and of its zip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
arch="${ARCH:-arm64}"
venv=.venv-infra
[[ -x "$venv/bin/sam" ]] || scripts/validate-infra.sh >/dev/null
[[ -x "$venv/bin/cargo-lambda" ]] || "$venv/bin/pip" install --quiet --disable-pip-version-check cargo-lambda==1.9.2
export PATH="$PWD/$venv/bin:$PATH" SAM_CLI_TELEMETRY=0 CARGO_BUILD_JOBS="${VPCE_GUARD_JOBS:-2}"
template=infra/template.yaml
if [[ "$arch" != arm64 ]]; then
    template=infra/.template-$arch.yaml
    sed "s/Architectures: \[arm64\]/Architectures: [$arch]/" infra/template.yaml > "$template"
    trap 'rm -f "$template"' EXIT
fi
sam build --template-file "$template" --build-dir .aws-sam/build --region us-west-2
for fn in NotebookCreatedFunction SubnetCreatedFunction DomainCreatedFunction RemediateFunction; do
    dir=".aws-sam/build/$fn"
    [[ -f "$dir/bootstrap" ]] || { echo "no bootstrap in $dir" >&2; exit 1; }
    (cd "$dir" && rm -f /tmp/vpce-guard-$fn.zip && python3 -m zipfile -c /tmp/vpce-guard-$fn.zip bootstrap)
    printf '%-28s bootstrap %9s bytes  zip %9s bytes\n' "$fn" "$(stat -c %s "$dir/bootstrap")" "$(stat -c %s /tmp/vpce-guard-$fn.zip)"
done
