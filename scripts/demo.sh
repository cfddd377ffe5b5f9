#!/usr/bin/env bash
# The demo: sets up the Python venv (moto) and the build, then runs the functions on a
# CreateNotebookInstance and a CreateSubnet event against the strict moto fixture.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-venv.sh
scripts/build.sh
exec "${CARGO_TARGET_DIR:-target}/debug/demo"
