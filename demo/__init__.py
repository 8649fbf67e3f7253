"""
Market-making demo of the NonKYC connector: `python -m demo` (or `./run_demo.sh`) runs
`scripts/nonkyc_market_maker.py` with the real NonKYC connector and Hummingbot's strategy machinery against the local
NonKYC sandbox, prints a live status and a final summary. See `demo/run_demo.py`.
"""
