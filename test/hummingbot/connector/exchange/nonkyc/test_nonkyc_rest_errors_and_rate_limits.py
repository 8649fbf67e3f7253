"""
The REST safety net under failures (nonkyc_reconciliation.py, nonkyc_rate_limit_gate.py): transient errors after an
`activeOrders` event, an ambiguous create or a cancel never make an order lost; sustained rate limiting keeps orders
tracked and the connector connected; and what the polls cost (last prices read once per interval, four requests per
poll for any number of pairs). The listing, look-ups and fills themselves are in test_nonkyc_reconciliation.py.
"""
import asyncio
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NOT_FOUND,
    POLL_TIME_MS,
    RATE_LIMITED,
    TRANSIENT_ANSWERS,
    LogRecorder,
    NonkycExchangeShapes,
    NonkycReconciliationTestCase,
    wait_until,
)
from typing import Any, Dict, List
from unittest.mock import AsyncMock, MagicMock

import aiohttp
from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import OrderState
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.network_iterator import NetworkStatus


class ActiveOrdersAndCreatesTests(NonkycReconciliationTestCase):

    @aioresponses()
    async def test_transient_errors_after_active_orders_never_make_an_order_lost(self, mock_api):
        order = self.track()
        self.configure_trades(mock_api, [], repeat=True)
        for answer in TRANSIENT_ANSWERS.values():
            self.configure_lookup(mock_api, order.exchange_order_id, **answer)
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
            self.configure_lookup(mock_api, order_id, **TRANSIENT_ANSWERS[name])
        await wait_until(lambda: self.logged("WARNING", "could not be confirmed after an ambiguous create answer"),
                         what="the look-ups after the ambiguous create to give up")
        order = self.exchange.in_flight_orders[order_id]
        self.configure_trades(mock_api, [], repeat=True)
        for answer in TRANSIENT_ANSWERS.values():
            self.configure_active_orders(mock_api, [])
            self.configure_lookup(mock_api, order_id, **answer)
            await self.exchange._update_order_status()
        self.assertEqual(OrderState.PENDING_CREATE, order.current_state)

        self.configure_active_orders(mock_api, [self.order_data(order, "Active", id="69a12a99f65594545010e5a1")])
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
            self.configure_lookup(mock_api, order_id, **TRANSIENT_ANSWERS["HTTP 503"])
        await wait_until(lambda: self.logged("WARNING", "could not be confirmed after an ambiguous create answer"),
                         what="the look-ups after the ambiguous create to give up")

        for _ in range(4):
            self.configure_active_orders(mock_api, [])
            self.configure_lookup(mock_api, order_id, **NOT_FOUND)
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


class RateLimitingTests(NonkycReconciliationTestCase):

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
        self.configure_active_orders(mock_api, [], repeat=True, **RATE_LIMITED)
        self.configure_trades(mock_api, repeat=True, **RATE_LIMITED)

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
        self.configure_active_orders(mock_api, [self.order_data(order, "Active") for order in orders])
        self.configure_trades(mock_api, [])
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


class PricesTests(NonkycReconciliationTestCase):

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


class PollCostTests(NonkycReconciliationTestCase):
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
        self.configure_active_orders(mock_api, listing)
        self.configure_trades(mock_api, [])

        await self.exchange._update_time_synchronizer()
        await self.exchange._status_polling_loop_fetch_updates()

        requests = sorted((url.path, len(calls)) for (_, url), calls in mock_api.requests.items())
        self.assertEqual([("/api/v2/account/orders", 1), ("/api/v2/account/trades", 1), ("/api/v2/balances", 1),
                          ("/api/v2/time", 1)], requests)
        self.assertTrue(all(order.is_open for order in orders))
