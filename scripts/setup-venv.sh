#!/usr/bin/env bash
# Create (if missing) the repo's .venv and install tests/fixture/requirements.txt into it.
# Idempotent: when the venv works and its stamp matches the requirements' hash, pip is skipped.
# Usage: scripts/setup-venv.sh   (PYTHON=python3.x to choose the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/tests/fixture/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        exit 0
    fi
else
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
printf '%s\n' "$want" > "$stamp"
