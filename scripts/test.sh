#!/usr/bin/env bash
# The test suite: venv (moto), one build of every target, then the Rust tests (unit, table,
# property, handler, integration against moto, end-to-end through the Lambda Runtime API)
# and the fixture's own tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-venv.sh
scripts/build.sh
cargo test --workspace --locked
.venv/bin/python -m pytest -q -p no:cacheprovider tests/fixture
