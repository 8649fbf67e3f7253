"""
End-to-end tests: the real NonkycExchange connector, driven by a real Hummingbot Clock, against the local sandbox
exchange over real sockets (REST and WebSocket). No mocks. Every test is bounded in time and stops its servers.
"""
from decimal import Decimal
from test.e2e.e2e_support import MAKER, PAIR, SYMBOL, TAKER, USER, EndToEndTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict, List, Tuple
from unittest.mock import patch

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import OrderState
from hummingbot.core.event.events import MarketEvent


class OrderLifecycleEndToEndTests(EndToEndTestCase):

    async def test_limit_order_lifecycle_place_partial_fill_fill_cancel_and_cancel_all(self):
        connector = await self.start_connector()
        await self.assert_balances_equal_sandbox(connector)

        bid = await self.place(connector, "buy", "0.01", "60000")
        self.assertEqual(OrderState.OPEN, bid.current_state)
        on_exchange = self.sandbox.orders(USER, SYMBOL, status="active")
        self.assertEqual([(bid.exchange_order_id, bid.client_order_id)],
                         [(order["id"], order["userProvidedId"]) for order in on_exchange])
        await self.assert_balances_equal_sandbox(connector)

        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.004")
        await wait_until(lambda: bid.executed_amount_base == Decimal("0.004"), 10, "the partial fill")
        self.assertEqual(OrderState.PARTIALLY_FILLED, bid.current_state)
        await self.assert_balances_equal_sandbox(connector)

        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.006")
        await wait_until(lambda: bid.is_filled and bid.is_done, 10, "the full fill")
        self.assertEqual(1, len(connector.events[MarketEvent.BuyOrderCompleted].event_log))
        await self.assert_balances_equal_sandbox(connector)

        to_cancel = await self.place(connector, "buy", "0.002", "59000")
        connector.cancel(PAIR, to_cancel.client_order_id)
        await wait_until(lambda: to_cancel.is_cancelled, 10, "the cancel")
        self.assertEqual("Cancelled", self.sandbox.orders(USER, SYMBOL)[0]["status"])
        await self.assert_balances_equal_sandbox(connector)

        ours = [await self.place(connector, "buy", "0.001", "58000"),
                await self.place(connector, "sell", "0.001", "70000")]
        manual = self.sandbox.place_order(USER, SYMBOL, "buy", "limit", "0.001", "57000",
                                          user_provided_id="placed-by-hand")
        results = await connector.cancel_all(timeout_seconds=10)

        self.assertEqual({order.client_order_id for order in ours}, {r.order_id for r in results if r.success})
        self.assertTrue(all(order.is_cancelled for order in ours))
        self.assertEqual([manual["id"]], [order["id"] for order in self.sandbox.orders(USER, SYMBOL, "active")])
        await self.assert_balances_equal_sandbox(connector)
        self.assertEqual(self.sandbox_fills(), self.fills_of(connector))
        self.assertEqual([], self.errors_logged())

    async def test_market_orders_fill_against_the_book_and_balances_follow(self):
        self.sandbox.place_order(MAKER, SYMBOL, "sell", "limit", "0.005", "61000")
        self.sandbox.place_order(MAKER, SYMBOL, "sell", "limit", "0.010", "61010")
        self.sandbox.place_order(MAKER, SYMBOL, "buy", "limit", "0.010", "60990")
        connector = await self.start_connector()

        buy = await self.place(connector, "buy", "0.008", order_type=OrderType.MARKET)
        await wait_until(lambda: buy.is_filled, 10, "the market buy to fill")
        self.assertEqual([Decimal("61000"), Decimal("61010")],
                         sorted(fill.fill_price for fill in buy.order_fills.values()))
        sell = await self.place(connector, "sell", "0.004", order_type=OrderType.MARKET)
        await wait_until(lambda: sell.is_filled, 10, "the market sell to fill")

        await self.assert_balances_equal_sandbox(connector)
        self.assertEqual(self.sandbox_fills(), self.fills_of(connector))
        self.assertEqual([], self.errors_logged())


class FaultsEndToEndTests(EndToEndTestCase):

    def connector_levels(self, connector: NonkycExchange) -> Dict[str, List[Tuple[Decimal, Decimal]]]:
        book = connector.get_order_book(PAIR)
        as_decimal = [(Decimal(str(row.price)).quantize(Decimal("0.01")),
                       Decimal(str(row.amount)).quantize(Decimal("0.000001"))) for row in book.bid_entries()]
        asks = [(Decimal(str(row.price)).quantize(Decimal("0.01")),
                 Decimal(str(row.amount)).quantize(Decimal("0.000001"))) for row in book.ask_entries()]
        return {"bids": as_decimal, "asks": asks}

    def sandbox_levels(self) -> Dict[str, List[Tuple[Decimal, Decimal]]]:
        return self.sandbox.order_book_levels(SYMBOL, limit=CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH)

    async def assert_book_equals_sandbox(self, connector: NonkycExchange, context: str):
        await wait_until(lambda: self.connector_levels(connector) == self.sandbox_levels(), 10,
                         lambda: f"equal books {context}:\nconnector {self.connector_levels(connector)}\n"
                                 f"sandbox   {self.sandbox_levels()}", interval=0.05)

    def change_book(self, step: int) -> Dict:
        """One maker order and one cancel: each changes the book, so each produces updateOrderbook messages."""
        order = self.sandbox.place_order(MAKER, SYMBOL, "buy" if step % 2 else "sell", "limit", "0.01",
                                         str(60000 - step * 10) if step % 2 else str(61000 + step * 10))
        return order

    async def test_order_book_equals_the_exchange_after_gaps_duplicates_and_a_dropped_connection(self):
        for step in range(6):
            self.change_book(step)
        connector = await self.start_connector()
        await self.assert_book_equals_sandbox(connector, "initial")

        self.sandbox.faults.skip_ws_sequence(count=3, symbol=SYMBOL)
        placed = [self.change_book(step) for step in range(6, 12)]
        await self.assert_book_equals_sandbox(connector, "after a sequence gap")
        self.assertTrue(any("gap" in record.getMessage().lower() and record.levelname == "WARNING"
                            for record in self.log_records))

        self.sandbox.faults.duplicate_ws_updates(count=5, symbol=SYMBOL)
        for order in placed[:3]:
            self.sandbox.cancel_order(MAKER, order["id"])
        await self.assert_book_equals_sandbox(connector, "after duplicated updates")

        connections = connector.order_book_tracker.data_source.connection_count
        self.sandbox.faults.drop_ws_connections()
        await wait_until(lambda: connector.order_book_tracker.data_source.connection_count > connections, 10,
                         "the public stream to reconnect")
        for step in range(12, 16):
            self.change_book(step)
        await self.assert_book_equals_sandbox(connector, "after a dropped connection")
        self.assertEqual([], self.errors_logged())

    async def test_ambiguous_create_503_after_creation_ends_tracked_and_open(self):
        connector = await self.start_connector()
        self.sandbox.faults.fail_next_create(status=503)

        order = await self.place(connector, "buy", "0.001", "55000")

        self.assertEqual(OrderState.OPEN, order.current_state)
        self.assertFalse(order.is_failure)
        self.assertEqual([], connector.events[MarketEvent.OrderFailure].event_log)
        on_exchange = self.sandbox.orders(USER, SYMBOL, status="active")
        self.assertEqual([(order.exchange_order_id, order.client_order_id)],
                         [(o["id"], o["userProvidedId"]) for o in on_exchange])

    async def test_create_timing_out_after_creation_ends_tracked_and_open(self):
        connector = await self.start_connector()
        self.sandbox.faults.hang_next_create(delay=3.0)

        with patch.object(CONSTANTS, "CREATE_ORDER_TIMEOUT", 1.0):
            order = await self.place(connector, "sell", "0.001", "75000")
            # The private stream's `new` report may make the order open before the create call times out; the
            # time-out must then be resolved by the look-up, never by failing the order.
            await wait_until(lambda: any("despite the ambiguous create answer" in record.getMessage()
                                         for record in self.log_records), 10, "the look-up after the time-out")

        self.assertEqual(OrderState.OPEN, order.current_state)
        self.assertEqual([], connector.events[MarketEvent.OrderFailure].event_log)
        self.assertEqual([order.exchange_order_id], [o["id"] for o in self.sandbox.orders(USER, SYMBOL, "active")])
        self.assertTrue(any("No clear answer creating" in record.getMessage() for record in self.log_records))

    async def test_fills_are_recorded_once_each_and_equal_the_exchange_trade_list(self):
        connector = await self.start_connector()
        bid = await self.place(connector, "buy", "0.01", "60000")
        ask = await self.place(connector, "sell", "0.01", "62000")

        for quantity in ("0.002", "0.003", "0.001"):
            self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", quantity)
            self.sandbox.place_order(TAKER, SYMBOL, "buy", "market", quantity)
        await wait_until(lambda: bid.executed_amount_base == ask.executed_amount_base == Decimal("0.006"), 10,
                         "the fills")
        # Force the REST fill polling on top of the WebSocket reports: nothing may be counted twice.
        await connector._update_order_status()
        await connector._update_orders_fills([bid, ask])

        self.assertEqual(6, len(self.sandbox_fills()))
        self.assertEqual(self.sandbox_fills(), self.fills_of(connector))
        self.assertEqual(Decimal("0.006"), bid.executed_amount_base)
        await self.assert_balances_equal_sandbox(connector)

    async def test_restart_restores_open_orders_and_picks_up_fills_made_while_down(self):
        first = await self.start_connector()
        resting = await self.place(first, "buy", "0.01", "60000")
        filled_while_down = await self.place(first, "sell", "0.005", "62000")
        saved_states = first.tracking_states
        await self.stop_connector(first)

        self.sandbox.place_order(TAKER, SYMBOL, "buy", "market", "0.005")
        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.004")

        second = await self.start_connector(saved_states=saved_states)
        restored_resting = self.order(second, resting.client_order_id)
        restored_filled = self.order(second, filled_while_down.client_order_id)
        await wait_until(lambda: restored_filled.is_done and restored_resting.executed_amount_base
                         == Decimal("0.004"), 15, "the fills made while down to be picked up")
        await wait_until(lambda: filled_while_down.client_order_id not in second.in_flight_orders, 10,
                         "the order filled while down to leave the in-flight orders")

        self.assertEqual(OrderState.PARTIALLY_FILLED, restored_resting.current_state)
        self.assertIn(resting.client_order_id, second.in_flight_orders)
        self.assertTrue(restored_filled.is_filled)
        self.assertEqual(self.sandbox_fills(), self.fills_of(second))
        await self.assert_balances_equal_sandbox(second)

    async def test_bad_signature_is_rejected_with_a_clear_error(self):
        connector = await self.start_connector(secret="not-the-secret", wait_ready=False)

        with self.assertRaises(IOError) as context:
            await connector._update_balances()

        self.assertIn("NonKYC refused the API credentials for GET /balances", str(context.exception))
        self.assertIn("1002", str(context.exception))
        await wait_until(lambda: any("login failed: code 1002" in record.getMessage()
                                     for record in self.log_records), 10, "the private stream's login error")
        self.assertFalse(connector.ready)
        self.assertFalse(any("not-the-secret" in record.getMessage() for record in self.log_records))
