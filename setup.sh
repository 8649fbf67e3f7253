#!/usr/bin/env bash
# Sets up the project once: a project-local virtual environment (.venv) with Python 3.12 (3.11 when 3.12 is
# missing), hummingbot==20260922 built from source and every other dependency at the versions pinned in
# requirements/requirements.lock, and the connector linked into the installed hummingbot package so that
# Hummingbot's connector discovery sees it and edits to the repository take effect without reinstalling.
# A second run only checks a stamp and the link, and returns in about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.nonkyc-setup-stamp"
LOCK="$ROOT/requirements/requirements.lock"
BUILD_CONSTRAINTS="$ROOT/requirements/build-constraints.txt"
BOOTSTRAP="$ROOT/requirements/bootstrap.txt"
CONNECTOR_SRC="$ROOT/hummingbot/connector/exchange/nonkyc"

log() { printf '[setup] %s\n' "$*" >&2; }

find_python() {
    local candidate
    for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 \
                     python3.11 /root/.pyenv/versions/3.11*/bin/python3.11 /usr/local/bin/python3.11 /usr/bin/python3.11; do
        # pyenv shims exist for versions that are not active: only a candidate that runs counts.
        if "$candidate" -c 'import sys, venv; assert sys.version_info[:2] in ((3, 12), (3, 11))' >/dev/null 2>&1; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return 0
        fi
    done
    return 1
}

setup_fingerprint() {
    cat "$LOCK" "$BUILD_CONSTRAINTS" "$BOOTSTRAP" "$ROOT/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

link_connector() {
    # The connector directory inside the installed hummingbot package is a link to the repository's.
    "$VENV/bin/python" - "$CONNECTOR_SRC" <<'PY'
import os
import sys

import hummingbot.connector.exchange as exchange_package

source = sys.argv[1]
target = os.path.join(os.path.dirname(exchange_package.__file__), "nonkyc")
if os.path.islink(target) and os.path.realpath(target) == os.path.realpath(source):
    sys.exit(0)
if os.path.islink(target) or os.path.isfile(target):
    os.remove(target)
elif os.path.isdir(target):
    raise SystemExit(f"{target} is a real directory; remove it to let set-up link the repository's connector")
os.symlink(source, target)
print(f"[setup] linked {target} -> {source}", file=sys.stderr)
PY
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(setup_fingerprint)" && -x "$VENV/bin/python" ]]; then
    link_connector
    exit 0
fi

started=$(date +%s)
PYTHON="$(find_python)" || { log "Python 3.12 or 3.11 is required and was not found."; exit 1; }
log "using $("$PYTHON" --version 2>&1) at $PYTHON"

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$BOOTSTRAP"

log "installing the locked dependencies (hummingbot is built from source: a few minutes the first time)"
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
    -r "$LOCK" --build-constraint "$BUILD_CONSTRAINTS"
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"

link_connector
setup_fingerprint > "$STAMP"
log "done in $(( $(date +%s) - started )) s"
