"""
End to end: a bot with 100 resting orders over 5 pairs is stopped through Hummingbot's own stop path
(`TradingCore.shutdown`, as the client's `stop`: the strategy stops, then `cancel_all(KILL_TIMEOUT)`) against the
sandbox over real sockets, alone on its API key or sharing a pair with a second bot's 2 orders. A user checks that
none of the bot's orders is left on the exchange, that the other bot's orders are untouched, and how long the stop
took; the requests it cost come from the sandbox's counters.
"""
import asyncio
import time
from collections import Counter
from test.e2e.cancel_all_support import (
    GRID_SYMBOLS,
    active_order_ids,
    hand_to_connector,
    place_grid,
    place_other_bot_orders,
    trading_pair_of,
)
from test.e2e.matrix.support import USER, StrategyOnSandboxTestCase
from typing import List, Optional

from hummingbot.core.event.events import OrderCancelledEvent

SCRIPT = "v2_with_controllers"
ORDERS = 100
# Hummingbot's start-up budget for dangling orders is 10 s (its stop gives 20 s); alone on its key the cancel takes
# about a second (benchmarks/cancel_all_benchmark.py). The bound is generous for a loaded 2-core machine.
FLAT_WITHIN_SECONDS = 10.0


class CancelAllOnStopEndToEndTests(StrategyOnSandboxTestCase):
    simulated_traders = False  # nothing fills the orders: only the stop removes them

    async def start_bot_with_orders(self, other_bot_symbol: Optional[str] = None):
        markets = f"nonkyc.{','.join(trading_pair_of(symbol) for symbol in GRID_SYMBOLS)}"
        self.assertTrue(await self.start_script(SCRIPT, {"script_file_name": f"{SCRIPT}.py", "markets": markets}))
        await self.wait_until_trading()
        self.other_bot = place_other_bot_orders(self.sandbox, USER, other_bot_symbol) if other_bot_symbol else []
        self.orders = place_grid(self.sandbox, USER, ORDERS // len(GRID_SYMBOLS))
        hand_to_connector(self.connector, self.orders)
        self.assertEqual(ORDERS, len(self.connector.limit_orders))

    async def stop_and_time(self) -> float:
        """Stops the bot as the client's `stop` does; returns when the bot's orders were all gone from the exchange."""
        ours = {order.client_order_id for order in self.orders}
        started = time.monotonic()
        flat_after: List[float] = []

        async def watch_exchange():
            while not flat_after:
                if not ours & set(active_order_ids(self.sandbox, USER)):
                    flat_after.append(time.monotonic() - started)
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch_exchange())
        self.requests_before = Counter(self.sandbox.rest.requests_by_endpoint)
        await self.stop_bot()
        self.requests = Counter(self.sandbox.rest.requests_by_endpoint) - self.requests_before
        await asyncio.wait_for(watcher, 1)
        return flat_after[0]

    def assert_every_order_reported_cancelled(self):
        cancelled = {event.order_id for event in self.events_of(OrderCancelledEvent)}
        self.assertEqual({order.client_order_id for order in self.orders}, cancelled)

    async def test_a_stop_takes_100_orders_over_5_pairs_off_the_book_with_one_request_per_pair(self):
        await self.start_bot_with_orders()

        flat_after = await self.stop_and_time()

        self.assertEqual([], active_order_ids(self.sandbox, USER))
        self.assertLess(flat_after, FLAT_WITHIN_SECONDS)
        self.assertEqual(len(GRID_SYMBOLS), self.requests["/cancelallorders"])
        self.assertEqual(0, self.requests["/cancelorder"])
        self.assert_every_order_reported_cancelled()
        self.assert_no_errors_logged()

    async def test_a_stop_leaves_the_orders_of_a_second_bot_on_a_shared_pair_untouched(self):
        shared = GRID_SYMBOLS[0]
        await self.start_bot_with_orders(other_bot_symbol=shared)

        flat_after = await self.stop_and_time()

        self.assertEqual(sorted(order["userProvidedId"] for order in self.other_bot),
                         active_order_ids(self.sandbox, USER))
        self.assertLess(flat_after, FLAT_WITHIN_SECONDS)
        ours_on_shared_pair = sum(order.trading_pair == trading_pair_of(shared) for order in self.orders)
        self.assertEqual(len(GRID_SYMBOLS) - 1, self.requests["/cancelallorders"])
        self.assertEqual(ours_on_shared_pair, self.requests["/cancelorder"])
        self.assert_every_order_reported_cancelled()
        self.assert_no_errors_logged()
