#!/usr/bin/env bash
# The benchmark command (separate from the tests). From a fresh clone it sets up the venv
# (moto), builds what it measures and prints markdown tables (docs/BENCHMARKS.md holds a run of
# it, with the budgets):
#   - sizes and zips, init time, first-event latency and peak RSS, AWS calls per event: the four
#     functions as deployed (release profile, scripts/release.sh), driven by tests/src/bin/bench.rs
#     through its own Lambda Runtime API against the strict moto fixture;
#   - the sweep at scale (functions/guard/examples/scale.rs) and the `plan` micro-benchmark
#     (functions/guard/benches/plan.rs, divan).
# The harness, the scale example and the micro-benchmark are built with the bench profile: the
# release profile's opt-level, but unwinding (cargo builds benches and their dependencies
# with unwinding anyway) and without LTO (LTO is what makes the release build of the SDK crates
# slow and memory-hungry; this second build of them need not pay it again). First run: the release build (~10 min on 2 cores,
# ~10 GB peak), then the bench-profile build (~15 min); later runs take about a minute.
# Usage: scripts/bench.sh   (BENCH_STARTS=30 starts per binary, BENCH_REPEATS=10 first events,
#                            VPCE_GUARD_JOBS=2 build jobs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${VPCE_GUARD_JOBS:-2}"
target_dir="${CARGO_TARGET_DIR:-target}"
functions=(on-notebook-created on-subnet-created on-domain-created remediate)

scripts/setup-venv.sh
scripts/release.sh >&2
# panic=unwind for the harness and the example too, so that they share the dependencies of the
# micro-benchmark (cargo warns that `panic` is ignored for the bench profile: only for bench targets).
export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 CARGO_PROFILE_BENCH_PANIC=unwind
packages=(-p vpce-guard -p vpce-guard-tests)
cargo build --profile bench --locked -j "$jobs" "${packages[@]}" --features vpce-guard/testing --bin bench --example scale
cargo bench --locked -j "$jobs" "${packages[@]}" --features vpce-guard/testing --bench plan --no-run

# Deployment zips as Lambda takes them: one executable `bootstrap`, deflated.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for fn in "${functions[@]}"; do
    python3 - "$target_dir/release/$fn" "$work/$fn.zip" <<'EOF'
import sys, zipfile
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = 0o755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(sys.argv[1], "rb") as binary, zipfile.ZipFile(sys.argv[2], "w") as archive:
    archive.writestr(info, binary.read())
EOF
done

echo "## vpce-guard benchmarks"
echo
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
memory="$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu), $memory; Linux $(uname -r); $(rustc -V)"
"$target_dir/release/bench" --functions "$target_dir/release" --zips "$work" \
    --scale "$target_dir/release/examples/scale" --starts "${BENCH_STARTS:-30}" --repeats "${BENCH_REPEATS:-10}"

echo
echo "### \`plan\` micro-benchmark (divan; one VPC of 6 AZs × 50 subnets; args = notebooks)"
echo
echo '```'
cargo bench --quiet --locked -j "$jobs" "${packages[@]}" --features vpce-guard/testing --bench plan
echo '```'
