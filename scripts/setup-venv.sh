#!/usr/bin/env bash
# Creates (if missing) one of the repo's Python venvs and installs its requirements into it:
#   scripts/setup-venv.sh                       .venv from tests/fixture/requirements.txt (moto, pytest)
#   scripts/setup-venv.sh LINK REQS [FILE...]   LINK (e.g. .venv-infra) from `pip install -r REQS`;
#                                               each FILE (e.g. a constraints file) is part of the key
# The venv itself is $VPCE_GUARD_TOOLS_DIR/venvs/<name>-<key> (default: .tools/ in the clone; CI
# points it at a folder of the machine, so that a fresh clone reuses what an earlier run installed),
# and LINK is a symlink to it. The key hashes the requirement files and the interpreter (its path
# and version): pip runs only for a key not installed yet, and a venv counts as installed only once
# its stamp, written last, holds the key. Runs that need the same venv at the same time (two
# clones, or two scripts of one clone) wait for each other on a lock beside it. When a new venv is
# made, the venvs of the same name unused for 7 days are removed.
# Usage: scripts/setup-venv.sh [LINK REQS [FILE...]]   (PYTHON=python3.x to choose the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
link="${1:-.venv}"
files=("${@:2}")
[[ $# -ge 2 ]] || files=(tests/fixture/requirements.txt)
python="${PYTHON:-python3}"

interpreter="$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version)')"
want="$(cat "${files[@]}" - <<< "$interpreter" | sha256sum | cut -d' ' -f1)"
name="$(basename "$link")"
name="${name#.}"
venvs="${VPCE_GUARD_TOOLS_DIR:-$root/.tools}/venvs"
venv="$venvs/$name-${want:0:16}"
stamp="$venv/.requirements.sha256"

installed() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2> /dev/null
}

if ! installed; then
    mkdir -p "$venvs"
    exec 9> "$venv.lock"
    ! command -v flock > /dev/null || flock 9
    if ! installed; then
        echo "installing ${files[0]} into $link ($venv)" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "${files[0]}"
        printf '%s\n' "$want" > "$stamp"
        for old in "$venvs/$name"-*; do
            [[ -d "$old" && "$old" != "$venv" && "${old##*/}" =~ ^$name-[0-9a-f]{16}$ ]] || continue
            [[ -z "$(find "$old" -maxdepth 1 -name .requirements.sha256 -mtime -7)" ]] || continue
            # Not while another run holds it (installing it, or about to use it).
            (flock -n 9 && rm -rf "$old") 9> "$old.lock" || true
        done
    fi
    exec 9>&-
fi
touch "$stamp" # "used": what the removal of unused venvs goes by

if [[ "$(readlink "$link" || true)" != "$venv" ]]; then
    [[ -L "$link" || ! -e "$link" ]] || rm -rf "$link" # a venv made in place by an older version of this script
    ln -sfn "$venv" "$link.$$"
    mv -fT "$link.$$" "$link"
fi
