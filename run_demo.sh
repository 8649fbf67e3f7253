#!/usr/bin/env bash
# The NonKYC market-making demo: sets the project up if needed (./setup.sh), then runs scripts/nonkyc_market_maker.py
# with the real NonKYC connector and Hummingbot's strategy machinery against a local NonKYC sandbox, printing a live
# status and a final summary. Options go to the demo, e.g.:
#   ./run_demo.sh --duration 120 --pair ETH-USDT --bid-spread 0.002 --ask-spread 0.002
#   ./run_demo.sh --help
# Exit status: 0 for a clean run, 1 when the run logged errors or left orders open, 2 when the bot never got ready.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
./setup.sh
exec .venv/bin/python -m demo "$@"
