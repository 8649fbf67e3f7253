"""
REST cost of the connector's polling, for 1, 10 and 50 pairs.

For each pair count, starts the sandbox exchange with that many markets (no simulated traders: nothing changes), runs
the real NonkycExchange connector against it with a real-time Hummingbot Clock, places two resting orders per pair
(a bid and an ask that nothing fills), then measures, from the requests the sandbox receives:

- the background REST requests per minute while the bot runs (status polls at their interval, the order-book
  tracker's `/tickers` fallback for last prices, anything else), over `--background-seconds`;
- the REST requests of one status poll (what `_status_polling_loop` runs: the time synchronisation, then balances,
  order states and fills), by endpoint, with the order-book tracker stopped so that nothing else is counted.

Target: one poll of 50 pairs and 100 orders costs at most 4 requests when nothing changed.

Usage, from the repository root (about 7 minutes with the defaults, most of it the background minutes and the
start-up of 50 order books):
    .venv/bin/python benchmarks/rest_polling_benchmark.py [--pairs 1 10 50] [--orders-per-pair 2]
                                                          [--background-seconds 120]
"""
import argparse
import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, List

from benchmark_support import start_realtime_clock, stop_task, wait_for
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import OrderState
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory
from nonkyc_sandbox.engine import AccountSpec
from nonkyc_sandbox.markets import MarketSpec
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

QUOTE = "USDT"
TARGET_POLL_REQUESTS = 4
READY_TIMEOUT = 600.0


@dataclass
class Measurement:
    pairs: int
    orders: int
    ready_seconds: float
    poll: Counter
    poll_seconds: float
    background_per_minute: Dict[str, float]


def benchmark_markets(count: int) -> List[MarketSpec]:
    return [MarketSpec(f"B{index:03d}/{QUOTE}", price_decimals=2, quantity_decimals=2,
                       minimum_quantity=Decimal("0.01"), min_quote=Decimal("1"), initial_price=Decimal("100"))
            for index in range(count)]


def funded_user(markets: List[MarketSpec]) -> AccountSpec:
    balances = {market.base: "1000" for market in markets}
    balances[QUOTE] = "10000000"
    return AccountSpec("user", DEFAULT_API_KEY, DEFAULT_API_SECRET, balances)


async def place_orders(connector: NonkycExchange, pairs: List[str], orders_per_pair: int):
    order_ids = []
    for pair in pairs:
        for index in range(orders_per_pair):
            place = connector.buy if index % 2 == 0 else connector.sell
            price = Decimal("90") - index if index % 2 == 0 else Decimal("110") + index
            order_ids.append(place(pair, Decimal("1"), OrderType.LIMIT, price))
    await wait_for(lambda: all(connector.in_flight_orders.get(order_id) is not None
                               and connector.in_flight_orders[order_id].current_state is OrderState.OPEN
                               for order_id in order_ids), 300, f"{len(order_ids)} orders to be open")
    return order_ids


async def measure(pair_count: int, orders_per_pair: int, background_seconds: float) -> Measurement:
    markets = benchmark_markets(pair_count)
    sandbox = SandboxExchange(seed=1, markets=markets, accounts=[funded_user(markets)], simulated_traders=False)
    await sandbox.start("127.0.0.1", 0)
    os.environ[CONSTANTS.REST_URL_ENV_VAR] = sandbox.rest_url
    os.environ[CONSTANTS.WSS_URL_ENV_VAR] = sandbox.ws_url
    ConnectionsFactory._instance = None  # a fresh shared aiohttp session for this event loop
    pairs = [market.symbol.replace("/", "-") for market in markets]
    connector = NonkycExchange(nonkyc_api_key=DEFAULT_API_KEY, nonkyc_api_secret=DEFAULT_API_SECRET,
                               trading_pairs=pairs)
    clock_task = start_realtime_clock(connector)
    try:
        started = time.monotonic()
        await wait_for(lambda: connector.ready, READY_TIMEOUT, f"the connector to be ready ({connector.status_dict})")
        ready_seconds = time.monotonic() - started
        order_ids = await place_orders(connector, pairs, orders_per_pair)

        sandbox.rest.requests_by_endpoint.clear()
        await asyncio.sleep(background_seconds)
        background = Counter(sandbox.rest.requests_by_endpoint)
        per_minute = {endpoint: count * 60.0 / background_seconds for endpoint, count in background.items()}

        await stop_task(clock_task)
        connector.order_book_tracker.stop()  # its /tickers fallback must not be counted in the poll
        await asyncio.sleep(0.5)
        sandbox.rest.requests_by_endpoint.clear()
        poll_started = time.monotonic()
        await connector._update_time_synchronizer()
        await connector._status_polling_loop_fetch_updates()
        poll_seconds = time.monotonic() - poll_started
        poll = Counter(sandbox.rest.requests_by_endpoint)
        still_open = sum(1 for order_id in order_ids if order_id in connector.in_flight_orders)
        if still_open != len(order_ids):
            print(f"  warning: {len(order_ids) - still_open} orders are no longer tracked after the poll")
        return Measurement(pair_count, len(order_ids), ready_seconds, poll, poll_seconds, per_minute)
    finally:
        await stop_task(clock_task)
        await connector.stop_network()
        await sandbox.stop()
        factory = ConnectionsFactory()
        for attribute in ("_shared_client", "_ws_independent_session"):
            session = getattr(factory, attribute, None)
            if session is not None and not session.closed:
                await session.close()


def print_tables(measurements: List[Measurement], background_seconds: float):
    poll_endpoints = sorted({endpoint for m in measurements for endpoint in m.poll})
    header = ["pairs", "orders"] + poll_endpoints + ["total", "poll time"]
    rows = [[str(m.pairs), str(m.orders)] + [str(m.poll.get(endpoint, 0)) for endpoint in poll_endpoints]
            + [str(sum(m.poll.values())), f"{m.poll_seconds:.2f} s"] for m in measurements]
    print("\nREST requests of one status poll (nothing changed), by endpoint")
    print_table(header, rows)

    background_endpoints = sorted({endpoint for m in measurements for endpoint in m.background_per_minute})
    header = ["pairs", "orders"] + background_endpoints + ["total"]
    rows = [[str(m.pairs), str(m.orders)]
            + [f"{m.background_per_minute.get(endpoint, 0):.1f}" for endpoint in background_endpoints]
            + [f"{sum(m.background_per_minute.values()):.1f}"] for m in measurements]
    print(f"\nBackground REST requests per minute (measured over {background_seconds:g} s), by endpoint")
    print_table(header, rows)

    largest = max(measurements, key=lambda m: m.pairs)
    total = sum(largest.poll.values())
    verdict = "met" if total <= TARGET_POLL_REQUESTS else "NOT met"
    print(f"\nTarget: a poll of {largest.pairs} pairs and {largest.orders} orders costs at most "
          f"{TARGET_POLL_REQUESTS} requests: {total} -> {verdict}.")
    print("Ready after: " + ", ".join(f"{m.pairs} pairs {m.ready_seconds:.1f} s" for m in measurements))


def print_table(header: List[str], rows: List[List[str]]):
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    for line in [header, ["-" * width for width in widths]] + rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)))


async def main(pair_counts: List[int], orders_per_pair: int, background_seconds: float):
    measurements = []
    for pair_count in pair_counts:
        print(f"measuring {pair_count} pairs, {pair_count * orders_per_pair} orders ...", flush=True)
        measurements.append(await measure(pair_count, orders_per_pair, background_seconds))
    print_tables(measurements, background_seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--orders-per-pair", type=int, default=2)
    parser.add_argument("--background-seconds", type=float, default=120.0)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(arguments.pairs, arguments.orders_per_pair, arguments.background_seconds))
