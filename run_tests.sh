#!/usr/bin/env bash
# The project's test command: sets up if needed (./setup.sh), then flake8 and isort (120 columns), then pytest with
# line coverage of the connector and its candles feed, failing below 90 %. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
./setup.sh

LINT_PATHS=(hummingbot test scripts controllers sandbox demo benchmarks nonkyc_candles_hook.py setup.py)

echo "== flake8"
.venv/bin/flake8 "${LINT_PATHS[@]}"
echo "== isort"
.venv/bin/isort --check-only --diff "${LINT_PATHS[@]}"
echo "== pytest"
.venv/bin/python -m pytest \
    --cov=hummingbot/connector/exchange/nonkyc --cov=hummingbot/data_feed/candles_feed/nonkyc_spot_candles \
    --cov-report=term-missing --cov-fail-under=90 "$@"
