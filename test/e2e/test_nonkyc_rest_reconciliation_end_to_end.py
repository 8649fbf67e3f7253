"""
End-to-end tests of the REST reconciliation: the real connector and a real Clock against the sandbox over real sockets,
on a bad day of the exchange (long stretches of 429, Cloudflare 522 pages, a fill whose private report is lost
behind 1 200 newer account trades, an order the exchange does not know). The poll intervals and the rate-limit
back-off are shortened through the connector's documented attributes, so that each test takes seconds.
"""
import asyncio
import time
from decimal import Decimal
from test.e2e.e2e_support import PAIR, SYMBOL, TAKER, USER, EndToEndTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import List

from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.network_iterator import NetworkStatus


def use_short_intervals(connector: NonkycExchange):
    """Polls every 0.5 s, a network check every second, and rate-limit back-offs of at most 1 s."""
    connector.SHORT_POLL_INTERVAL = 0.5
    connector.LONG_POLL_INTERVAL = 0.5
    connector.check_network_interval = 1.0
    connector.rate_limit_gate.max_delay = 1.0


class RestReconciliationEndToEndTests(EndToEndTestCase):

    def log_lines(self, level: str, fragment: str) -> List[str]:
        return [record.getMessage() for record in self.log_records
                if record.levelname == level and fragment in record.getMessage()]

    def active_on_exchange(self) -> List[tuple]:
        return sorted((order["id"], order["userProvidedId"]) for order in self.sandbox.orders(USER, SYMBOL, "active"))

    async def test_orders_survive_a_long_stretch_of_429_and_spread_out_522_pages_on_their_look_ups(self):
        connector = await self.start_connector()
        use_short_intervals(connector)
        resting = await self.place(connector, "buy", "0.001", "55000")
        self.sandbox.faults.cloudflare_error_next(path="/getorder", count=2, every=2)
        self.sandbox.faults.fail_next_create(status=522)
        ambiguous = await self.place(connector, "sell", "0.001", "75000")  # looked up by client id through 522s
        network_statuses = []

        async def sample_network_status():
            while True:
                network_statuses.append(connector.network_status)
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample_network_status())
        listings_before = self.sandbox.rest.requests_by_endpoint["/account/orders"]
        self.sandbox.faults.rate_limit_for(seconds=3)
        self.sandbox.faults.cloudflare_error_next(path="/account/orders", count=4, every=2)
        stretch_end = time.monotonic() + 3
        await wait_until(lambda: time.monotonic() > stretch_end and not connector.rate_limit_gate.limited, 15,
                         "the stretch of 429 to end and the connector to notice")
        await wait_until(lambda: not any(fault["path"] == "/account/orders"
                                         for fault in self.sandbox.faults.state()["server_errors"]), 15,
                         "the 522 pages of the active-order listings to be served")
        served = self.sandbox.rest.requests_by_endpoint["/account/orders"]
        await wait_until(lambda: self.sandbox.rest.requests_by_endpoint["/account/orders"] >= served + 2, 10,
                         "two more polls after the faults")
        sampler.cancel()

        self.assertGreater(self.sandbox.rest.requests_by_endpoint["/account/orders"], listings_before + 8)
        for order in (resting, ambiguous):
            self.assertEqual(OrderState.OPEN, order.current_state, order.client_order_id)
            self.assertIn(order.client_order_id, connector.in_flight_orders)
            self.assertEqual(0, connector._order_tracker.not_found_count(order.client_order_id))
        self.assertEqual(sorted([(resting.exchange_order_id, resting.client_order_id),
                                 (ambiguous.exchange_order_id, ambiguous.client_order_id)]),
                         self.active_on_exchange())
        self.assertEqual([], connector.events[MarketEvent.OrderFailure].event_log)
        self.assertEqual(0, self.sandbox.rest.requests_by_endpoint["/cancelorder"])
        self.assertEqual({NetworkStatus.CONNECTED}, set(network_statuses))
        self.assertEqual(1, len(self.log_lines("WARNING", "NonKYC is rate limiting this API key")))
        self.assertTrue(self.log_lines("INFO", "NonKYC stopped rate limiting after"))
        self.assertTrue(self.log_lines("WARNING", "Could not list NonKYC's active orders"))
        self.assertEqual([], self.errors_logged())

    async def test_an_order_filled_behind_1200_newer_account_trades_completes_with_one_fill_built_from_it(self):
        connector = await self.start_connector()
        use_short_intervals(connector)
        bid = await self.place(connector, "buy", "0.01", "60000")

        # One synchronous block: the connector cannot poll in between. Its private stream misses the fill report, and
        # NonKYC lists account trades newest first: one `since` reaches the 1 000 newest, not the bid's fill behind
        # 1 200 newer trades of the same key.
        self.sandbox.faults.drop_private_reports(count=1, account=USER)
        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.01")
        self.sandbox.place_order("user2", SYMBOL, "buy", "limit", "1.2", "59000")
        for _ in range(1200):
            self.sandbox.place_order(USER, SYMBOL, "sell", "market", "0.001")
        self.assertEqual(1201, len(self.sandbox.trades(USER, SYMBOL)))

        await wait_until(lambda: connector.events[MarketEvent.BuyOrderCompleted].event_log, 20,
                         lambda: f"the order to complete (state {bid.current_state}, executed "
                                 f"{bid.executed_amount_base})")

        on_exchange = [trade for trade in self.sandbox.trades(USER, SYMBOL)
                       if trade["orderid"] == bid.exchange_order_id]
        self.assertEqual([("0.010000", "60000.00", "1.2")],
                         [(trade["quantity"], trade["price"], trade["fee"]) for trade in on_exchange])
        fills = connector.events[MarketEvent.OrderFilled].event_log
        self.assertEqual([(f"order-fill-{bid.exchange_order_id}-0.01", Decimal("0.01"), Decimal("60000"),
                           Decimal("1.2"))], self.fills_of(connector))
        self.assertEqual(bid.client_order_id, fills[0].order_id)
        completed = connector.events[MarketEvent.BuyOrderCompleted].event_log[0]
        self.assertEqual((bid.client_order_id, Decimal("0.01")), (completed.order_id, completed.base_asset_amount))
        self.assertTrue(bid.is_filled)
        warnings = self.log_lines("WARNING", f"Order {bid.client_order_id} (BTC-USDT, exchange id "
                                             f"{bid.exchange_order_id}) is filled on NonKYC")
        self.assertEqual(1, len(warnings))
        self.assertIn("recording one fill of 0.01 at 60000.00 (its limit price) with an estimated fee of 1.2",
                      warnings[0])

        reads = self.sandbox.rest.requests_by_endpoint["/account/trades"]
        await wait_until(lambda: self.sandbox.rest.requests_by_endpoint["/account/trades"] >= reads + 2, 10,
                         "two more reads of the account trades")
        self.assertEqual(1, len(connector.events[MarketEvent.OrderFilled].event_log))  # never counted twice
        self.assertFalse(self.log_lines("WARNING", "incomplete information"))
        self.assertEqual([], self.errors_logged())
        await self.assert_balances_equal_sandbox(connector)

    async def test_an_order_the_exchange_does_not_know_is_declared_failed_and_a_live_one_is_kept(self):
        lost = InFlightOrder(client_order_id="HBOT-restored-unknown", trading_pair=PAIR, order_type=OrderType.LIMIT,
                             trade_type=TradeType.BUY, amount=Decimal("0.001"), price=Decimal("50000"),
                             creation_timestamp=time.time(), exchange_order_id="69a12a99f65594545010dead",
                             initial_state=OrderState.OPEN)
        connector = await self.start_connector(saved_states={lost.client_order_id: lost.to_json()})
        use_short_intervals(connector)
        live = await self.place(connector, "buy", "0.001", "55000")

        await wait_until(lambda: connector.events[MarketEvent.OrderFailure].event_log, 15,
                         "the order NonKYC does not know to be declared failed")
        await wait_until(lambda: lost.client_order_id not in connector._order_tracker.lost_orders, 15,
                         "the lost order to be dropped after its cancel is answered 'not found'")

        self.assertEqual([lost.client_order_id],
                         [event.order_id for event in connector.events[MarketEvent.OrderFailure].event_log])
        self.assertNotIn(lost.client_order_id, connector.in_flight_orders)
        self.assertTrue(self.log_lines("WARNING", f"NonKYC does not know order {lost.client_order_id}"))
        self.assertEqual(OrderState.OPEN, live.current_state)
        self.assertEqual([(live.exchange_order_id, live.client_order_id)], self.active_on_exchange())
