#!/usr/bin/env bash
# Release build of the four Lambda bootstraps (and the CLI when present) with the size-tuned
# release profile. Jobs are capped (default 2, VPCE_GUARD_JOBS to change): an LTO build of
# aws-sdk-ec2 alone peaks near 10 GB of memory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked -j "${VPCE_GUARD_JOBS:-2}" -p on-notebook-created -p on-subnet-created -p on-domain-created -p remediate "$@"
target_dir="${CARGO_TARGET_DIR:-target}"
for bin in on-notebook-created on-subnet-created on-domain-created remediate; do
    printf '%-22s %s bytes\n' "$bin" "$(stat -c %s "$target_dir/release/$bin")"
done
