"""
The REST reconciliation of the exchange (status, fills and balance polls) against NonKYC answers in their real shapes
(aioresponses): only "order not found" counts towards losing an order, one listing and one account-wide trades read
per poll, fills complete before the order does, and rate limiting only slows the polls down.
"""
import asyncio
import json
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    LogRecorder,
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    url_regex,
    wait_until,
)
from typing import Any, Dict, List, Optional
from unittest.mock import AsyncMock, MagicMock

import aiohttp
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import NonkycReconciliation
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.api_throttler.data_types import RateLimit
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.network_iterator import NetworkStatus

CLOUDFLARE_522_PAGE = ("<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>api.nonkyc.io | 522: Connection timed "
                       "out</title></head>\n<body><div id=\"cf-error-details\"><p>Error code 522</p></div></body>\n"
                       "</html>\n")
NOT_FOUND = {"status": 404, "body": json.dumps({"error": {"code": 20002, "message": "Order not found"}})}
TRANSIENT_ANSWERS = {
    "HTTP 500": {"status": 500, "body": json.dumps({"error": {"code": 500, "message": "Internal Server Error"}})},
    "Cloudflare 522": {"status": 522, "body": CLOUDFLARE_522_PAGE, "content_type": "text/html"},
    "HTTP 503": {"status": 503, "body": json.dumps({"error": {"code": 503, "message": "Service Unavailable"}})},
    "HTTP 200 with error 504": {"status": 200,
                                "body": json.dumps({"error": {"code": 504, "message": "Gateway Timeout"}})},
    "time-out": {"exception": asyncio.TimeoutError()},
    "network error": {"exception": aiohttp.ClientConnectionError("Connection reset by peer")},
}
RATE_LIMITED = {"status": 429, "body": json.dumps({"error": {"code": 429, "message": "Too Many Requests"}})}
POLL_TIME_MS = 1640780100000  # the server time of the polls (the test case's time synchronizer)


class ReconciliationTestCase(NonkycExchangeTestCase):
    trading_pair = "COINALPHA-HBOT"
    exchange_symbol = "COINALPHA/HBOT"
    other_pair = "ETH-USDT"
    other_symbol = "ETH/USDT"
    symbol_map = {exchange_symbol: trading_pair, other_symbol: other_pair}
    recorded_events = NonkycExchangeTestCase.recorded_events + (MarketEvent.SellOrderCompleted,)

    def setUp(self) -> None:
        super().setUp()
        # Hummingbot's throttler spaces requests in real time (5 per second); these tests send many, answered at once.
        self.exchange._throttler.set_rate_limits([
            RateLimit(limit_id=rate_limit.limit_id, limit=10_000, time_interval=rate_limit.time_interval,
                      linked_limits=rate_limit.linked_limits) for rate_limit in CONSTANTS.RATE_LIMITS])
        for trading_pair in self.symbol_map.values():
            self.exchange._trading_rules[trading_pair] = TradingRule(
                trading_pair, min_order_size=Decimal("0.01"), min_price_increment=Decimal("0.0001"),
                min_base_amount_increment=Decimal("0.000001"), supports_market_orders=True)
        self.fills = self.events[MarketEvent.OrderFilled]
        self.failures = self.events[MarketEvent.OrderFailure]
        self.completions = self.events[MarketEvent.BuyOrderCompleted]

    # --- orders and answers ---

    def track(self, client_id: str = "HBOT1", exchange_id: Optional[str] = NonkycExchangeShapes.exchange_order_id,
              trading_pair: Optional[str] = None, amount: str = "1", price: str = "10000",
              trade_type: TradeType = TradeType.BUY, order_type: OrderType = OrderType.LIMIT,
              state: OrderState = OrderState.OPEN) -> InFlightOrder:
        self.exchange.start_tracking_order(
            order_id=client_id, exchange_order_id=exchange_id, trading_pair=trading_pair or self.trading_pair,
            trade_type=trade_type, price=Decimal(price), amount=Decimal(amount), order_type=order_type)
        order = self.exchange.in_flight_orders[client_id]
        order.current_state = state
        return order

    def order_data(self, order: InFlightOrder, status: str, executed: str = "0", **overrides) -> Dict[str, Any]:
        symbol = self.other_symbol if order.trading_pair == self.other_pair else self.exchange_symbol
        return NonkycExchangeShapes.order(order, status, executed=Decimal(executed), exchange_symbol=symbol,
                                          **overrides)

    def account_trade(self, order: InFlightOrder, trade_id: str, quantity: str, timestamp: int = 1640780002000,
                      price: Optional[str] = None) -> Dict[str, Any]:
        return NonkycExchangeShapes.account_trade(
            order, Decimal(quantity), Decimal(price) if price else order.price, Decimal("0.5"), trade_id=trade_id,
            exchange_symbol=self.exchange_symbol, timestamp=timestamp)

    @staticmethod
    def url(path: str) -> str:
        return web_utils.private_rest_url(path)

    def mock_active_orders(self, mock_api: aioresponses, orders: List[Dict[str, Any]], repeat: bool = False,
                           **answer):
        if not answer:
            answer = {"body": json.dumps(orders)}
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_ORDERS_PATH_URL), with_query=True), repeat=repeat, **answer)

    def mock_lookup(self, mock_api: aioresponses, reference: str, repeat: bool = False, **answer):
        mock_api.get(re.compile("^" + re.escape(self.url(f"/getorder/{reference}")) + "$"), repeat=repeat, **answer)

    def mock_trades(self, mock_api: aioresponses, trades: Optional[List[Dict[str, Any]]] = None,
                    repeat: bool = False, **answer):
        if not answer:
            answer = {"body": json.dumps(trades or [])}
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), repeat=repeat, **answer)

    def mock_trades_api(self, mock_api: aioresponses, trades: List[Dict[str, Any]], oldest_first: bool = True,
                        failing_requests: Optional[Dict[int, Dict[str, Any]]] = None):
        """/account/trades answered from `trades` like an API listing `since` queries in the given order."""
        calls = []

        def answer(url: URL, **kwargs) -> CallbackResult:
            calls.append(url)
            failure = (failing_requests or {}).get(len(calls))
            if failure is not None:
                return CallbackResult(**failure)
            since, skip, limit = (int(url.query["since"]), int(url.query.get("skip", 0)), int(url.query["limit"]))
            selected = sorted((entry for entry in trades if entry["timestamp"] >= since),
                              key=lambda entry: entry["timestamp"], reverse=not oldest_first)
            return CallbackResult(body=json.dumps(selected[skip:skip + limit]))

        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), callback=answer,
                     repeat=True)
        return calls

    @staticmethod
    def requests_to(mock_api: aioresponses, path: str) -> List[URL]:
        return [url for (method, url), calls in mock_api.requests.items() if path in url.path for _ in calls]

    def warnings_about(self, fragment: str) -> List[str]:
        return [record.getMessage() for record in self.log_records
                if record.levelname == "WARNING" and fragment in record.getMessage()]

    async def settle(self):
        """Lets the tracker's update tasks run."""
        for _ in range(5):
            await asyncio.sleep(0)


class StatusPollTests(ReconciliationTestCase):

    @aioresponses()
    async def test_listed_orders_of_every_pair_are_confirmed_by_one_listing_without_look_ups(self, mock_api):
        orders = [self.track("HBOT1", "69a12a99f65594545010e501"),
                  self.track("HBOT2", "69a12a99f65594545010e502", trade_type=TradeType.SELL),
                  self.track("HBOT3", "69a12a99f65594545010e503", trading_pair=self.other_pair),
                  self.track("HBOT4", None, trading_pair=self.other_pair, state=OrderState.PENDING_CREATE)]
        listing = [self.order_data(orders[0], "Active"), self.order_data(orders[1], "Partly Filled", "0.25"),
                   self.order_data(orders[2], "Active"),
                   self.order_data(orders[3], "New", id="69a12a99f65594545010e504")]
        self.mock_active_orders(mock_api, listing)

        await self.exchange._update_orders()
        await self.settle()

        listing_requests = self.requests_to(mock_api, CONSTANTS.ACCOUNT_ORDERS_PATH_URL)
        self.assertEqual([{"status": "active", "limit": "500"}], [dict(url.query) for url in listing_requests])
        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertEqual([OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.OPEN, OrderState.OPEN],
                         [order.current_state for order in orders])
        self.assertEqual("69a12a99f65594545010e504", orders[3].exchange_order_id)

    @aioresponses()
    async def test_only_orders_absent_from_the_listing_are_looked_up(self, mock_api):
        listed = self.track("HBOT1", "69a12a99f65594545010e501")
        cancelled = self.track("HBOT2", "69a12a99f65594545010e502")
        filled = self.track("HBOT3", "69a12a99f65594545010e503")
        self.mock_active_orders(mock_api, [self.order_data(listed, "Active")])
        self.mock_lookup(mock_api, cancelled.exchange_order_id, body=json.dumps(self.order_data(cancelled,
                                                                                                "Cancelled")))
        self.mock_lookup(mock_api, filled.exchange_order_id, body=json.dumps(self.order_data(filled, "Filled", "1")))
        self.mock_trades(mock_api, [self.account_trade(filled, "t1", "1")])

        await self.exchange._update_order_status()
        await wait_until(lambda: filled.is_filled and cancelled.is_cancelled, what="the looked-up orders to finish")

        lookups = sorted(url.path for url in self.requests_to(mock_api, "/getorder/"))
        self.assertEqual([f"/api/v2/getorder/{cancelled.exchange_order_id}",
                          f"/api/v2/getorder/{filled.exchange_order_id}"], lookups)
        self.assertTrue(listed.is_open)
        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])

    @aioresponses()
    async def test_transient_errors_on_look_ups_never_make_an_order_lost(self, mock_api):
        order = self.track()
        answers = [RATE_LIMITED] * (CONSTANTS.RATE_LIMITED_RETRIES + 1) + list(TRANSIENT_ANSWERS.values()) * 2
        for answer in answers:
            self.mock_lookup(mock_api, order.exchange_order_id, **answer)
        self.mock_active_orders(mock_api, [], repeat=True)
        self.mock_trades(mock_api, [], repeat=True)
        polls = 1 + 2 * len(TRANSIENT_ANSWERS)

        for _ in range(polls):
            await self.exchange._update_order_status()
        await self.settle()

        self.assertTrue(order.is_open)
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual({}, self.exchange._order_tracker.lost_orders)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertEqual([], self.failures.event_log)
        self.assertEqual([], self.requests_to(mock_api, CONSTANTS.CANCEL_ORDER_PATH_URL))
        lookup_warnings = self.warnings_about("Could not look up order HBOT1 (COINALPHA-HBOT, exchange id "
                                              "69a12a99f65594545010e5aa); it stays tracked and is looked up again at "
                                              "the next poll. Error: ")
        self.assertEqual(polls - 1, len(lookup_warnings))  # the 429 is logged at debug level, after one warning
        for fragment in ("HTTP status is 500", "HTTP status is 522. Error: HTML page (api.nonkyc.io | 522",
                         "HTTP status is 503", "HTTP status is 200", "TimeoutError", "Connection reset by peer"):
            self.assertTrue(any(fragment in message for message in lookup_warnings), fragment)
        self.assertEqual(1, len(self.warnings_about("NonKYC is rate limiting this API key")))

    @aioresponses()
    async def test_only_20002_counts_and_an_order_found_starts_its_count_again(self, mock_api):
        order = self.track()
        self.mock_trades(mock_api, [], repeat=True)
        for answer in [NOT_FOUND] * 3 + [{"body": json.dumps(self.order_data(order, "Active"))}] + [NOT_FOUND] * 3:
            self.mock_active_orders(mock_api, [])
            self.mock_lookup(mock_api, order.exchange_order_id, **answer)
        for _ in range(7):
            await self.exchange._update_order_status()
        self.assertEqual(3, self.exchange._order_tracker.not_found_count(order.client_order_id))

        self.mock_active_orders(mock_api, [self.order_data(order, "Active")])  # listed: found again
        await self.exchange._update_order_status()
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))

        for _ in range(4):
            self.mock_active_orders(mock_api, [])
            self.mock_lookup(mock_api, order.exchange_order_id, **NOT_FOUND)
            await self.exchange._update_order_status()
        await wait_until(lambda: order.is_failure, what="the order NonKYC does not know to be declared failed")

        self.assertEqual([order.client_order_id], [event.order_id for event in self.failures.event_log])
        self.assertIn(order.client_order_id, self.exchange._order_tracker.lost_orders)
        self.assertTrue(self.logged("WARNING", "NonKYC does not know order HBOT1 (COINALPHA-HBOT, exchange id "
                                               "69a12a99f65594545010e5aa) (code 20002, Order not found); not found 4 "
                                               "time(s) in a row, it is declared lost after 4."))

    @aioresponses()
    async def test_a_failed_listing_changes_nothing_and_looks_nothing_up(self, mock_api):
        orders = [self.track("HBOT1", "69a12a99f65594545010e501"), self.track("HBOT2", "69a12a99f65594545010e502")]
        self.mock_active_orders(mock_api, [], **TRANSIENT_ANSWERS["Cloudflare 522"])

        await self.exchange._update_orders()

        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertTrue(all(order.is_open for order in orders))
        self.assertTrue(self.logged("WARNING", "Could not list NonKYC's active orders; the 2 tracked orders keep their "
                                               "state and are checked again at the next poll. Error: NonkycAPIError: "
                                               "Error executing request GET"))

    @aioresponses()
    async def test_the_listing_is_paged_at_500_and_orders_beyond_it_are_looked_up(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        beyond = self.track("HBOT2", "69a12a99f65594545010e502")
        others = [self.order_data(first, "Active", id=f"69a12a99f6559454501{index:05d}", userProvidedId=f"bot2-{index}")
                  for index in range(999)]
        self.mock_active_orders(mock_api, [self.order_data(first, "Active")] + others[:499])
        self.mock_active_orders(mock_api, others[499:])
        self.mock_lookup(mock_api, beyond.exchange_order_id, body=json.dumps(self.order_data(beyond, "Active")))

        await self.exchange._update_orders()

        self.assertEqual([None, "500"], [url.query.get("skip")
                                         for url in self.requests_to(mock_api, CONSTANTS.ACCOUNT_ORDERS_PATH_URL)])
        self.assertEqual([f"/api/v2/getorder/{beyond.exchange_order_id}"],
                         [url.path for url in self.requests_to(mock_api, "/getorder/")])
        untracked_lines = self.logged("INFO", "NonKYC reports 999 active order(s) this bot does not track; leaving "
                                              "them alone")
        self.assertEqual(1, len(untracked_lines))
        self.assertIn("and 994 more", untracked_lines[0].getMessage())

    @aioresponses()
    async def test_a_listing_wrapped_in_an_object_is_read_and_the_new_shape_logged_once(self, mock_api):
        order = self.track(state=OrderState.PENDING_CREATE)
        for _ in range(2):
            self.mock_active_orders(mock_api, [], body=json.dumps({"data": [self.order_data(order, "Active")]}))
            await self.exchange._update_orders()
        await self.settle()

        self.assertEqual(OrderState.OPEN, order.current_state)
        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertEqual(1, len(self.warnings_about("NonKYC answered /account/orders with an object holding the list "
                                                    "under 'data' instead of a plain list; reading that list.")))

    @aioresponses()
    async def test_a_listing_taken_before_an_order_finished_does_not_reopen_it(self, mock_api):
        finished = self.track("HBOT1", "69a12a99f65594545010e501")
        other = self.track("HBOT2", "69a12a99f65594545010e502")
        report = {"jsonrpc": "2.0", "method": "report",
                  "params": {**self.order_data(finished, "Filled", "1"), "reportType": "trade", "tradeId": "t1",
                             "tradeQuantity": "1", "tradePrice": "10000", "tradeFee": "20"}}
        await self.exchange._process_user_stream_event(report)
        await wait_until(lambda: finished.is_filled, what="the order filled through the private stream")
        self.mock_active_orders(mock_api, [self.order_data(finished, "Active"), self.order_data(other, "Active")])

        await self.exchange._update_orders()
        await self.settle()

        self.assertEqual(OrderState.FILLED, finished.current_state)
        self.assertEqual(1, len(self.completions.event_log))


class ActiveOrdersAndCreatesTests(ReconciliationTestCase):

    @aioresponses()
    async def test_transient_errors_after_active_orders_never_make_an_order_lost(self, mock_api):
        order = self.track()
        self.mock_trades(mock_api, [], repeat=True)
        for answer in TRANSIENT_ANSWERS.values():
            self.mock_lookup(mock_api, order.exchange_order_id, **answer)
            await self.exchange._reconciliation.process_active_orders_event(
                {"jsonrpc": "2.0", "method": "activeOrders", "result": [], "id": 3})

        self.assertTrue(order.is_open)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertEqual([], self.failures.event_log)
        self.assertEqual(len(TRANSIENT_ANSWERS), len(self.warnings_about("Could not look up order HBOT1")))

    @aioresponses()
    async def test_an_ambiguous_create_stays_pending_through_transient_errors_then_the_listing_resolves_it(
            self, mock_api):
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), **TRANSIENT_ANSWERS["Cloudflare 522"])
        order_id = self.exchange.buy(self.trading_pair, Decimal("2"), OrderType.LIMIT, Decimal("10000"))
        for name in ("Cloudflare 522", "time-out", "HTTP 500"):
            self.mock_lookup(mock_api, order_id, **TRANSIENT_ANSWERS[name])
        await wait_until(lambda: self.logged("WARNING", "could not be confirmed after an ambiguous create answer"),
                         what="the look-ups after the ambiguous create to give up")
        order = self.exchange.in_flight_orders[order_id]
        self.mock_trades(mock_api, [], repeat=True)
        for answer in TRANSIENT_ANSWERS.values():
            self.mock_active_orders(mock_api, [])
            self.mock_lookup(mock_api, order_id, **answer)
            await self.exchange._update_order_status()
        self.assertEqual(OrderState.PENDING_CREATE, order.current_state)

        self.mock_active_orders(mock_api, [self.order_data(order, "Active", id="69a12a99f65594545010e5a1")])
        await self.exchange._update_order_status()
        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the listing to open the order")

        self.assertEqual("69a12a99f65594545010e5a1", order.exchange_order_id)
        self.assertEqual([], self.failures.event_log)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order_id))

    @aioresponses()
    async def test_an_ambiguous_create_the_exchange_does_not_know_fails_after_repeated_not_found(self, mock_api):
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), exception=asyncio.TimeoutError())
        order_id = self.exchange.buy(self.trading_pair, Decimal("2"), OrderType.LIMIT, Decimal("10000"))
        for _ in CONSTANTS.AMBIGUOUS_ORDER_LOOKUP_DELAYS:
            self.mock_lookup(mock_api, order_id, **TRANSIENT_ANSWERS["HTTP 503"])
        await wait_until(lambda: self.logged("WARNING", "could not be confirmed after an ambiguous create answer"),
                         what="the look-ups after the ambiguous create to give up")

        for _ in range(4):
            self.mock_active_orders(mock_api, [])
            self.mock_lookup(mock_api, order_id, **NOT_FOUND)
            await self.exchange._update_order_status()
        await wait_until(lambda: self.failures.event_log, what="the order NonKYC does not know to fail")

        self.assertEqual(order_id, self.failures.event_log[0].order_id)

    @aioresponses()
    async def test_a_cancel_that_times_out_is_not_counted_as_not_found(self, mock_api):
        order = self.track()
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), exception=asyncio.TimeoutError())

        result = await self.exchange._execute_order_cancel(order)

        self.assertIsNone(result)
        self.assertTrue(order.is_open)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertTrue(self.logged("ERROR", f"Failed to cancel order {order.client_order_id}"))


class FillsTests(ReconciliationTestCase):

    @aioresponses()
    async def test_a_filled_status_waits_for_its_fills_and_completes_with_them(self, mock_api):
        order = self.track()
        self.mock_active_orders(mock_api, [], repeat=True)
        self.mock_lookup(mock_api, order.exchange_order_id, repeat=True,
                         body=json.dumps(self.order_data(order, "Filled", "1")))
        self.mock_trades(mock_api, **TRANSIENT_ANSWERS["Cloudflare 522"])

        await self.exchange._update_order_status()
        await self.settle()

        self.assertTrue(order.is_open)
        self.assertTrue(self.exchange._order_tracker.is_waiting_for_fills(order.client_order_id))
        self.assertEqual([], self.completions.event_log)
        self.assertTrue(self.logged("INFO", "Order HBOT1 (COINALPHA-HBOT, exchange id 69a12a99f65594545010e5aa) is "
                                            "filled on NonKYC, but only 0 of its 1 COINALPHA of fills are recorded: "
                                            "it stays open until the missing fills are read"))
        self.assertIsNone(await self.exchange._execute_order_cancel(order))  # a filled order is not cancelled
        self.assertEqual([], self.requests_to(mock_api, CONSTANTS.CANCEL_ORDER_PATH_URL))

        self.mock_trades(mock_api, [self.account_trade(order, "t1", "0.4"),
                                    self.account_trade(order, "t2", "0.6", timestamp=1640780003000)])
        await self.exchange._update_order_status()
        await wait_until(lambda: self.completions.event_log, what="the order to complete with its fills")

        completed = self.completions.event_log[0]
        self.assertEqual((Decimal("1"), Decimal("10000")), (completed.base_asset_amount, completed.quote_asset_amount))
        self.assertEqual(["t1", "t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertFalse(self.logged("WARNING", "The complete update will be processed with incomplete information"))

    @aioresponses()
    async def test_a_fill_behind_1200_other_account_trades_is_read_by_paging_by_time(self, mock_api):
        order = self.track()
        others = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780001000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(1200)]
        fill = self.account_trade(order, "t-ours", "1", timestamp=1640780003000)
        later = [{**self.account_trade(order, f"later-{index}", "0.01", timestamp=1640780004000 + index),
                  "orderid": "69a12a99f65594545010ffff"} for index in range(300)]
        calls = self.mock_trades_api(mock_api, others + [fill] + later)

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t-ours"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(Decimal("1"), order.executed_amount_base)
        self.assertEqual(4, len(calls))
        self.assertTrue(all(int(url.query["limit"]) <= 500 and int(url.query.get("skip", 0)) <= 500
                            for url in calls))
        self.assertTrue(all("symbol" not in url.query for url in calls))
        self.assertEqual(POLL_TIME_MS, self.exchange._reconciliation.trades_cursor_ms)
        self.assertFalse([record for record in self.log_records if "other-" in record.getMessage()])

    @aioresponses()
    async def test_a_failing_page_keeps_the_fills_read_and_the_cursor_before_the_unread_trades(self, mock_api):
        order = self.track(amount="2")
        first = self.account_trade(order, "t1", "0.5", timestamp=1640780001000)
        filler = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780002000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(499)]
        second = self.account_trade(order, "t2", "0.5", timestamp=1640780009000)
        calls = self.mock_trades_api(mock_api, [first] + filler + [second],
                                     failing_requests={2: TRANSIENT_ANSWERS["Cloudflare 522"]})

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(1640780002498, self.exchange._reconciliation.trades_cursor_ms)
        self.assertTrue(self.logged("WARNING", "Failed to read the account trades (fills of HBOT1); reading again "
                                               "from the same point at the next poll. Error: NonkycAPIError"))

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1", "t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(str(1640780002498 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), calls[2].query["since"])

    @aioresponses()
    async def test_newest_first_answers_are_read_and_a_truncated_read_keeps_the_cursor(self, mock_api):
        order = self.track()
        others = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780001000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(1100)]
        fill = self.account_trade(order, "t-ours", "0.3", timestamp=1640780005000)
        calls = self.mock_trades_api(mock_api, others + [fill], oldest_first=False)

        for _ in range(2):
            await self.exchange._update_orders_fills([order])

        self.assertEqual(["t-ours"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual([None, "500", None, "500"], [url.query.get("skip") for url in calls])
        self.assertIsNone(self.exchange._reconciliation.trades_cursor_ms)
        self.assertEqual(1, len(self.warnings_about("NonKYC lists /account/trades newest first and more trades than "
                                                    "its skip limit (500) lets read")))

    @aioresponses()
    async def test_fills_the_reading_missed_are_read_again_from_the_order_creation(self, mock_api):
        order = self.track(exchange_id=None)  # e.g. an ambiguous create: its trades cannot be matched yet
        self.track("HBOT2", "69a12a99f65594545010e502")
        missed = {**self.account_trade(order, "t-missed", "0.5", timestamp=1640780001000),
                  "orderid": "69a12a99f65594545010e5a1"}
        calls = self.mock_trades_api(mock_api, [missed])
        await self.exchange._update_orders_fills(list(self.exchange.in_flight_orders.values()))
        self.assertEqual(POLL_TIME_MS, self.exchange._reconciliation.trades_cursor_ms)

        listing = [self.order_data(order, "Partly Filled", "0.5", id="69a12a99f65594545010e5a1"),
                   self.order_data(self.exchange.in_flight_orders["HBOT2"], "Active")]
        self.mock_active_orders(mock_api, listing)
        await self.exchange._update_order_status()
        await self.settle()
        self.assertEqual("69a12a99f65594545010e5a1", order.exchange_order_id)
        self.assertEqual(Decimal("0"), order.executed_amount_base)
        self.assertTrue(self.logged("INFO", "NonKYC reports 0.5 COINALPHA filled for order HBOT1 (COINALPHA-HBOT), "
                                            "but the account trades read so far hold 0: the next poll reads them "
                                            "again from the order's creation."))

        listing = [self.order_data(order, "Partly Filled", "0.5", id="69a12a99f65594545010e5a1"),
                   self.order_data(self.exchange.in_flight_orders["HBOT2"], "Active")]
        self.mock_active_orders(mock_api, listing)
        await self.exchange._update_order_status()

        self.assertEqual(["t-missed"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), calls[-1].query["since"])

    @aioresponses()
    async def test_a_market_order_filled_at_creation_takes_its_id_at_once_and_completes_with_its_fill(self, mock_api):
        created = {"id": "69a12a99f65594545010e5a2", "userProvidedId": "x", "symbol": self.exchange_symbol,
                   "side": "buy", "type": "market", "quantity": "1", "executedQuantity": "1", "status": "Filled",
                   "createdAt": 1640780000000, "updatedAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(created))
        order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.MARKET, Decimal("10000"))
        await wait_until(lambda: self.exchange._order_tracker.is_waiting_for_fills(order_id),
                         what="the FILLED create answer to wait for its fill")
        order = self.exchange.in_flight_orders[order_id]
        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the order to be open meanwhile")
        self.assertEqual("69a12a99f65594545010e5a2", order.exchange_order_id)

        self.mock_trades(mock_api, [{**self.account_trade(order, "t1", "1", price="10001"),
                                     "orderid": "69a12a99f65594545010e5a2"}])
        await self.exchange._update_orders_fills([order])
        await wait_until(lambda: self.completions.event_log, what="the order to complete")

        self.assertEqual(OrderState.FILLED, order.current_state)
        self.assertEqual(1, len(self.events[MarketEvent.BuyOrderCreated].event_log))

    @aioresponses()
    async def test_an_order_filled_below_its_amount_completes_once_those_fills_are_recorded(self, mock_api):
        order = self.track(order_type=OrderType.MARKET)
        self.mock_active_orders(mock_api, [])
        self.mock_lookup(mock_api, order.exchange_order_id, body=json.dumps(self.order_data(order, "Filled", "0.7")))
        self.mock_trades(mock_api, [self.account_trade(order, "t1", "0.7")])

        await self.exchange._update_order_status()
        await wait_until(lambda: order.is_filled, what="the order to complete")

        self.assertEqual(Decimal("0.7"), self.completions.event_log[0].base_asset_amount)
        self.assertFalse(self.logged("WARNING", "incomplete information"))


class RateLimitingTests(ReconciliationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.now = 1640780100.0

        async def sleep(delay: float):
            self.now += delay

        self.exchange._time = MagicMock(side_effect=lambda: self.now)
        self.exchange._sleep = AsyncMock(side_effect=sleep)

    async def poll(self):
        """What Hummingbot's status polling loop runs at each poll."""
        await self.exchange._update_time_synchronizer()
        await self.exchange._status_polling_loop_fetch_updates()

    @aioresponses()
    async def test_sustained_rate_limiting_keeps_orders_tracked_and_connected_with_one_warning(self, mock_api):
        orders = [self.track("HBOT1", "69a12a99f65594545010e501"), self.track("HBOT2", "69a12a99f65594545010e502")]
        for url in (web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL), self.url(CONSTANTS.BALANCES_PATH_URL)):
            mock_api.get(url, repeat=True, **RATE_LIMITED)
        self.mock_active_orders(mock_api, [], repeat=True, **RATE_LIMITED)
        self.mock_trades(mock_api, repeat=True, **RATE_LIMITED)

        for _ in range(5):
            await self.poll()
            self.assertEqual(NetworkStatus.CONNECTED, await self.exchange.check_network())

        self.assertTrue(all(order.is_open for order in orders))
        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertEqual([0, 0], [self.exchange._order_tracker.not_found_count(order.client_order_id)
                                  for order in orders])
        self.assertEqual(1, len([record for record in self.log_records if record.levelname == "WARNING"]))
        self.assertTrue(self.logged("WARNING", "NonKYC is rate limiting this API key"))
        self.assertFalse([record for record in self.log_records if record.levelname in ("ERROR", "NETWORK")])
        self.assertGreaterEqual(self.now - 1640780100.0, 5 * 30)  # the polls backed off, up to 30 s per request

        mock_api.clear()
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL),
                     body=json.dumps({"serverTime": 1640780400000}))
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL),
                     body=json.dumps([{"asset": "HBOT", "available": "100", "held": "5"}]))
        self.mock_active_orders(mock_api, [self.order_data(order, "Active") for order in orders])
        self.mock_trades(mock_api, [])
        await self.poll()

        self.assertEqual(Decimal("105"), self.exchange.get_balance("HBOT"))
        self.assertTrue(self.logged("INFO", "NonKYC stopped rate limiting after"))
        self.assertFalse(self.exchange._rate_limit_gate.limited)

    @aioresponses()
    async def test_a_429_on_the_clock_update_keeps_the_clock_and_logs_only_the_gate_warning(self, mock_api):
        synchronizer = self.exchange._time_synchronizer
        del synchronizer.time  # the real clock of the synchronizer, not the test case's fixed time
        for _ in range(5):
            synchronizer.add_time_offset_ms_sample(5000)  # the exchange's clock is 5 s ahead
        synchronizer_logs = LogRecorder()
        synchronizer.logger().addHandler(synchronizer_logs)
        self.addCleanup(synchronizer.logger().removeHandler, synchronizer_logs)
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL), **RATE_LIMITED)

        await self.exchange._update_time_synchronizer()
        await self.exchange._update_time_synchronizer()  # while limited: /time is not asked

        self.assertAlmostEqual(5000, synchronizer.time_offset_ms, delta=5)
        self.assertEqual([], synchronizer_logs.records)
        self.assertTrue(self.exchange.rate_limit_gate.limited)
        self.assertEqual(1, len(mock_api.requests[("GET", URL(web_utils.public_rest_url(
            CONSTANTS.SERVER_TIME_PATH_URL)))]))
        self.assertEqual(1, len(self.warnings_about("NonKYC is rate limiting this API key (HTTP 429 on GET /time)")))

    @aioresponses()
    async def test_network_check_answered_429_is_connected_and_a_cloudflare_page_is_not(self, mock_api):
        time_url = web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL)
        mock_api.get(time_url, **TRANSIENT_ANSWERS["Cloudflare 522"])
        self.assertEqual(NetworkStatus.NOT_CONNECTED, await self.exchange.check_network())

        for _ in range(CONSTANTS.RATE_LIMITED_RETRIES + 1):
            mock_api.get(time_url, **RATE_LIMITED)
        self.assertEqual(NetworkStatus.CONNECTED, await self.exchange.check_network())

        mock_api.get(time_url, exception=aiohttp.ClientConnectionError("Connection refused"))
        self.assertEqual(NetworkStatus.CONNECTED, await self.exchange.check_network())  # still rate limited
        mock_api.get(time_url, body=json.dumps({"serverTime": 1640780400000}))
        self.exchange._rate_limit_gate.succeeded()
        self.assertEqual(NetworkStatus.NOT_CONNECTED, await self.exchange.check_network())


class PricesTests(ReconciliationTestCase):

    def tickers(self) -> List[Dict[str, Any]]:
        return [{"ticker_id": "COINALPHA_HBOT", "base_currency": "COINALPHA", "target_currency": "HBOT",
                 "last_price": "10000.5", "bid": "10000", "ask": "10001", "high": "10100", "low": "9900",
                 "base_volume": "1", "target_volume": "10000"}]

    @aioresponses()
    async def test_last_prices_are_read_once_per_interval_for_all_pairs(self, mock_api):
        tickers_url = web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL)
        mock_api.get(tickers_url, body=json.dumps(self.tickers()), repeat=True)

        for _ in range(3):
            self.assertEqual({self.trading_pair: 10000.5},
                             await self.exchange.get_last_traded_prices([self.trading_pair, self.other_pair]))
        self.assertEqual(1, len(mock_api.requests[("GET", URL(tickers_url))]))

        self.exchange.LAST_PRICES_REFRESH_INTERVAL = 0
        await self.exchange.get_last_traded_prices([self.trading_pair])
        self.assertEqual(2, len(mock_api.requests[("GET", URL(tickers_url))]))

    @aioresponses()
    async def test_the_order_book_tracker_fallback_reads_tickers_once_even_for_a_pair_it_does_not_list(self,
                                                                                                       mock_api):
        tickers_url = web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL)
        mock_api.get(tickers_url, body=json.dumps(self.tickers()), repeat=True)
        tracker = self.exchange.order_book_tracker
        for trading_pair in (self.trading_pair, self.other_pair):
            tracker._order_books[trading_pair] = OrderBook()
        tracker._order_books_initialized.set()

        task = asyncio.create_task(tracker._update_last_trade_prices_loop())
        # Both books count as updated by the one read: the tracker does not ask again at once for the unlisted pair.
        await wait_until(lambda: all(book.last_trade_price_rest_updated > 0 for book in tracker.order_books.values()),
                         what="the tracker to update the last price of both pairs")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        self.assertEqual(1, len(mock_api.requests[("GET", URL(tickers_url))]))
        self.assertEqual(10000.5, tracker.order_books[self.trading_pair].last_trade_price)


class PollCostTests(ReconciliationTestCase):
    symbol_map = {f"B{index:03d}/USDT": f"B{index:03d}-USDT" for index in range(50)}

    @aioresponses()
    async def test_a_poll_of_50_pairs_and_100_orders_costs_4_requests_when_nothing_changed(self, mock_api):
        orders = [self.track(f"HBOT{pair}{side}", f"69a12a99f6559454501{pair:03d}{side:02d}",
                             trading_pair=trading_pair, trade_type=TradeType.BUY if side == 0 else TradeType.SELL)
                  for pair, trading_pair in enumerate(self.symbol_map.values()) for side in (0, 1)]
        listing = [NonkycExchangeShapes.order(order, "Active", exchange_symbol=order.trading_pair.replace("-", "/"))
                   for order in orders]
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL),
                     body=json.dumps({"serverTime": POLL_TIME_MS}))
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps([{"asset": "USDT", "available": "1",
                                                                             "held": "0"}]))
        self.mock_active_orders(mock_api, listing)
        self.mock_trades(mock_api, [])

        await self.exchange._update_time_synchronizer()
        await self.exchange._status_polling_loop_fetch_updates()

        requests = sorted((url.path, len(calls)) for (_, url), calls in mock_api.requests.items())
        self.assertEqual([("/api/v2/account/orders", 1), ("/api/v2/account/trades", 1), ("/api/v2/balances", 1),
                          ("/api/v2/time", 1)], requests)
        self.assertTrue(all(order.is_open for order in orders))
