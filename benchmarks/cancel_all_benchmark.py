"""
Time and requests of `cancel_all`: 20, 100 and 200 resting orders over the 5 tradeable markets of the sandbox, the bot
alone on its API key or sharing one pair with a second bot's 2 orders.

"before" is Hummingbot's base `ExchangePyBase.cancel_all` (one `/cancelorder` per order, gathered under the timeout),
"after" the connector's own (`nonkyc_cancel_all.py`: one listing, one `/cancelallorders` per pair and side where only
the bot's orders are active, the rest one by one, ahead of the polls), measured in the same run on the same sandbox,
with the real connector ticked by a real-time Clock (its status polls and network checks run as in a bot). Both get
Hummingbot's stop timeout (`TradingCore.KILL_TIMEOUT`, 20 s). The orders are placed on the sandbox and handed to the
connector as Hummingbot restores a bot's orders (placing 200 through the connector would take 40 s).

For each run: how long `cancel_all` took, how many orders it reported cancelled, how many of the bot's orders were
still active on the exchange when it returned, the second bot's orders left, and the requests the sandbox received
meanwhile, by endpoint.

Usage, from the repository root (about 3 minutes, most of it the "before" runs hitting the 20 s timeout):
    .venv/bin/python benchmarks/cancel_all_benchmark.py [--orders 20 100 200] [--timeout 20]
"""
import argparse
import asyncio
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's `test` package, not Python's

from test.e2e.cancel_all_support import (  # noqa: E402
    GRID_SYMBOLS,
    active_order_ids,
    hand_to_connector,
    place_grid,
    place_other_bot_orders,
    trading_pair_of,
)

from benchmark_support import start_realtime_clock, stop_task, wait_for  # noqa: E402
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS  # noqa: E402
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange  # noqa: E402
from hummingbot.connector.exchange_py_base import ExchangePyBase  # noqa: E402
from hummingbot.core.trading_core import TradingCore  # noqa: E402
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory  # noqa: E402
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange  # noqa: E402

USER = "user"
SHARED_SYMBOL = GRID_SYMBOLS[0]
READY_TIMEOUT = 120.0


@dataclass
class Run:
    orders: int
    shared: bool
    path: str
    seconds: float
    reported_cancelled: int
    left_on_exchange: int
    other_bot_left: int
    requests: Counter


async def measure_one(sandbox: SandboxExchange, connector: NonkycExchange, orders: int, shared: bool, path: str,
                      timeout: float, run_number: int) -> Run:
    other_bot = place_other_bot_orders(sandbox, USER, SHARED_SYMBOL, f"other-r{run_number}-") if shared else []
    grid = place_grid(sandbox, USER, orders // len(GRID_SYMBOLS), prefix=f"HBOT-r{run_number}-")
    hand_to_connector(connector, grid)
    await asyncio.sleep(1.0)  # the request budget of the set-up is spent
    requests_before = Counter(sandbox.rest.requests_by_endpoint)
    started = time.monotonic()
    cancel_all = connector.cancel_all if path == "after" else lambda seconds: ExchangePyBase.cancel_all(connector,
                                                                                                        seconds)
    results = await cancel_all(timeout)
    seconds = time.monotonic() - started
    requests = Counter(sandbox.rest.requests_by_endpoint) - requests_before
    ours = {order.client_order_id for order in grid}
    active = set(active_order_ids(sandbox, USER))
    run = Run(orders, shared, path, seconds, sum(result.success for result in results), len(ours & active),
              len({order["userProvidedId"] for order in other_bot} & active), requests)
    await clean_up(sandbox, connector, ours | {order["userProvidedId"] for order in other_bot})
    return run


async def clean_up(sandbox: SandboxExchange, connector: NonkycExchange, client_order_ids):
    """Cancels what is left on the sandbox; the connector learns it from the private stream's reports."""
    for order in [order for symbol in GRID_SYMBOLS for order in sandbox.orders(USER, symbol, status="active")]:
        if order["userProvidedId"] in client_order_ids:
            sandbox.cancel_order(USER, order["id"])
    await wait_for(lambda: not connector.in_flight_orders, 30, "the connector to see every order cancelled")


async def main(order_counts: List[int], timeout: float):
    sandbox = SandboxExchange(seed=1, simulated_traders=False)
    await sandbox.start("127.0.0.1", 0)
    os.environ[CONSTANTS.REST_URL_ENV_VAR] = sandbox.rest_url
    os.environ[CONSTANTS.WSS_URL_ENV_VAR] = sandbox.ws_url
    connector = NonkycExchange(nonkyc_api_key=DEFAULT_API_KEY, nonkyc_api_secret=DEFAULT_API_SECRET,
                               trading_pairs=[trading_pair_of(symbol) for symbol in GRID_SYMBOLS])
    clock_task = start_realtime_clock(connector)
    runs = []
    try:
        await wait_for(lambda: connector.ready, READY_TIMEOUT, f"the connector to be ready ({connector.status_dict})")
        for orders in order_counts:
            for shared in (False, True):
                for path in ("before", "after"):
                    print(f"cancelling {orders} orders ({'sharing a pair' if shared else 'alone'}), {path} ...",
                          flush=True)
                    runs.append(await measure_one(sandbox, connector, orders, shared, path, timeout, len(runs)))
    finally:
        await stop_task(clock_task)
        await connector.stop_network()
        await sandbox.stop()
        await ConnectionsFactory().close()
    print_table(runs, timeout)


def print_table(runs: List[Run], timeout: float):
    endpoints = ["/account/orders", "/cancelallorders", "/cancelorder"]
    header = ["orders", "bot", "path", "time", "reported", "left", "other bot",
              *endpoints, "other requests", "requests"]
    rows = []
    for run in runs:
        other = sum(count for endpoint, count in run.requests.items() if endpoint not in endpoints)
        rows.append([str(run.orders), "shares a pair" if run.shared else "alone", run.path, f"{run.seconds:.2f} s",
                     str(run.reported_cancelled), str(run.left_on_exchange),
                     f"{run.other_bot_left} of 2" if run.shared else "-",
                     *(str(run.requests.get(endpoint, 0)) for endpoint in endpoints), str(other),
                     str(sum(run.requests.values()))])
    print(f"\ncancel_all({timeout:g} s) over {len(GRID_SYMBOLS)} pairs: time until it returned, orders it reported "
          f"cancelled, the bot's orders left active on the exchange, the second bot's orders left, REST requests")
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    for line in [header, ["-" * width for width in widths]] + rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, nargs="+", default=[20, 100, 200])
    parser.add_argument("--timeout", type=float, default=TradingCore.KILL_TIMEOUT)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main(arguments.orders, arguments.timeout))
