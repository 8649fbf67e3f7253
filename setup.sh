#!/usr/bin/env bash
# Sets up the project once: a project-local virtual environment (.venv) with Python 3.12 (3.11 when 3.12 is
# missing), hummingbot==20260922 built from source and every other dependency at the versions pinned in
# requirements/requirements.lock, the sandbox exchange (sandbox/, editable), and the connector (plus its candles feed,
# scripts/, conf/, logs/, data/) linked into the installed hummingbot package so that Hummingbot's discovery sees them
# and edits to the repository take effect without reinstalling.
# The installed packages and the repository's own are left compiled to bytecode (see compile_bytecode).
# A second run only checks a stamp and the link, and returns in about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.nonkyc-setup-stamp"
LOCK="$ROOT/requirements/requirements.lock"
BUILD_CONSTRAINTS="$ROOT/requirements/build-constraints.txt"
BOOTSTRAP="$ROOT/requirements/bootstrap.txt"
CONNECTOR_SRC="$ROOT/hummingbot/connector/exchange/nonkyc"
SANDBOX="$ROOT/sandbox"

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
    cat "$LOCK" "$BUILD_CONSTRAINTS" "$BOOTSTRAP" "$SANDBOX/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

link_into_hummingbot() {
    # Hummingbot finds connectors, scripts, controllers, configs, logs and data under its root path (the directory
    # holding the installed package). The connector directory, `scripts` and `controllers` link to the repository;
    # `conf`, `logs` and `data` link to git-ignored directories of the repository, so keys and logs never land in
    # site-packages or in git. The NonKYC candles feed links into the installed `hummingbot/data_feed/candles_feed/`,
    # and `nonkyc_candles_hook.pth` registers it in Hummingbot's CandlesFactory in every process of the environment.
    # With HUMMINGBOT_CONTROLLERS_DIR set, Hummingbot's own controllers from that directory are linked into
    # `controllers/` too.
    mkdir -p "$ROOT/conf/connectors" "$ROOT/conf/strategies" "$ROOT/conf/scripts" "$ROOT/conf/controllers" \
             "$ROOT/logs" "$ROOT/data"
    "$VENV/bin/python" - "$ROOT" <<'PY'
import os
import pathlib
import sys

import hummingbot
import hummingbot.connector.exchange as exchange_package
import hummingbot.data_feed.candles_feed as candles_package

repo = sys.argv[1]
root_path = os.path.dirname(os.path.dirname(os.path.realpath(hummingbot.__file__)))
links = {
    os.path.join(os.path.dirname(exchange_package.__file__), "nonkyc"): os.path.join(repo, "hummingbot", "connector",
                                                                                        "exchange", "nonkyc"),
    os.path.join(os.path.dirname(candles_package.__file__), "nonkyc_spot_candles"): os.path.join(
        repo, "hummingbot", "data_feed", "candles_feed", "nonkyc_spot_candles"),
    os.path.join(root_path, "nonkyc_candles_hook.py"): os.path.join(repo, "nonkyc_candles_hook.py"),
    # Run by Python at every start of the environment's interpreter (site-packages .pth files run their import lines).
    os.path.join(root_path, "nonkyc_candles_hook.pth"): os.path.join(repo, "nonkyc_candles_hook.pth"),
    os.path.join(root_path, "scripts"): os.path.join(repo, "scripts"),
    os.path.join(root_path, "controllers"): os.path.join(repo, "controllers"),
    os.path.join(root_path, "conf"): os.path.join(repo, "conf"),
    os.path.join(root_path, "logs"): os.path.join(repo, "logs"),
    os.path.join(root_path, "data"): os.path.join(repo, "data"),
}
for target, source in links.items():
    if os.path.islink(target) and os.path.realpath(target) == os.path.realpath(source):
        continue
    if os.path.islink(target) or os.path.isfile(target):
        os.remove(target)
    elif os.path.isdir(target):
        raise SystemExit(f"{target} is a real directory; remove it to let set-up link {source}")
    os.symlink(source, target)
    print(f"[setup] linked {target} -> {source}", file=sys.stderr)

# Hummingbot's own controllers, from the directory the user names (see controllers/linking.py and the README).
sys.path.insert(0, repo)
from controllers import linking  # noqa: E402

package = pathlib.Path(repo, "controllers")
for removed in linking.remove_dangling_links(package):
    print(f"[setup] removed the link controllers/{removed}: its target is gone", file=sys.stderr)
if os.environ.get(linking.ENV_VAR):
    try:
        linked, skipped = linking.link_controllers(pathlib.Path(os.environ[linking.ENV_VAR]), package)
    except ValueError as error:
        raise SystemExit(f"[setup] {error}")
    print(f"[setup] linked {len(linked)} file(s) of {os.environ[linking.ENV_VAR]} into controllers/"
          + (f"; kept the project's own {', '.join(skipped)}" if skipped else ""), file=sys.stderr)
PY
}

compile_bytecode() {
    # PYTHONDONTWRITEBYTECODE is set on our machines (and in many containers): nothing writes __pycache__, so without
    # bytecode compiled here every import compiles from source, in every process (a connector with 3 pairs was ready
    # after 9.1 s instead of 4.9 s). Installed packages: Python's default check (the source's mtime and size), so a
    # package upgraded later is recompiled rather than run stale. The repository's own packages, imported through the
    # installed package (links, editable install): checked hashes, compared with the source at every import, so an
    # edited file never runs from stale bytecode, even when edited within the second or at the same size.
    log "compiling the bytecode of the installed packages and of the repository's packages"
    local site_packages
    site_packages="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$VENV/bin/python" -m compileall -qq -j 0 --invalidation-mode timestamp "$site_packages" \
        || log "some installed files could not be compiled; they are compiled when imported"
    "$VENV/bin/python" -m compileall -qq --invalidation-mode checked-hash \
        "$CONNECTOR_SRC" "$ROOT/hummingbot/data_feed/candles_feed/nonkyc_spot_candles" "$ROOT/nonkyc_candles_hook.py" \
        "$ROOT/scripts" "$ROOT/controllers" "$SANDBOX/nonkyc_sandbox" "$ROOT/demo" \
        || log "some repository files could not be compiled; they are compiled when imported"
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(setup_fingerprint)" && -x "$VENV/bin/python" ]]; then
    link_into_hummingbot
    exit 0
fi

started=$(date +%s)
PYTHON="$(find_python)" || { log "Python 3.12 or 3.11 is required and was not found."; exit 1; }
log "using $("$PYTHON" --version 2>&1) at $PYTHON"
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    # Checked with uv: hummingbot 20260922 requires pandas-ta>=0.4.71b, whose only release needs Python >= 3.12.
    log "hummingbot 20260922 cannot be installed on Python 3.11: it requires pandas-ta>=0.4.71b0, which needs"
    log "Python >= 3.12. Install Python 3.12 (for example 'pyenv install 3.12') and run set-up again."
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$BOOTSTRAP"

log "installing the locked dependencies (hummingbot is built from source: a few minutes the first time)"
# hummingbot is always built from its source distribution (its wheels need a newer glibc than Debian 12's anyway).
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
    -r "$LOCK" --build-constraint "$BUILD_CONSTRAINTS" --no-binary hummingbot
# The sandbox exchange, editable. The connector's own package (setup.py) is for other environments: here the links
# below put the repository's connector where Hummingbot's directory scan looks. An older set-up installed the project
# itself in editable mode: that install goes.
if VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip show --quiet --python "$VENV/bin/python" hummingbot-nonkyc-connector \
        >/dev/null 2>&1; then
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip uninstall --quiet --python "$VENV/bin/python" hummingbot-nonkyc-connector
fi
VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$SANDBOX"

link_into_hummingbot
compile_bytecode
setup_fingerprint > "$STAMP"
log "done in $(( $(date +%s) - started )) s"
