#!/usr/bin/env bash
# Build every target of the workspace once (binaries, tests, demo) with one feature
# resolution, so that the AWS SDK crates are compiled a single time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --workspace --all-targets --locked
