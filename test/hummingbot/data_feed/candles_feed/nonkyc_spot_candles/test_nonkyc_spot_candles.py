import asyncio
import json
import logging
import re
from datetime import datetime, timezone
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    FakeNonkycServer,
    LogAssertions,
    LogRecorder,
    clear_url_overrides,
    rpc_error,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List, Optional, Tuple
from unittest.mock import patch

from aioresponses import aioresponses
from aioresponses.core import CallbackResult
from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as EXCHANGE
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.test_support.network_mocking_assistant import NetworkMockingAssistant
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.utils import async_utils
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig, HistoricalCandlesConfig
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles, constants as CONSTANTS

PAIR, SYMBOL = "BTC-USDT", "BTC/USDT"
STEP = 300  # 5m
START = 1772170800  # the start of the current 5-minute candle of the tests' clock
NOW = START + 120
CANDLES_URL = re.compile(r"^https://api\.nonkyc\.io/api/v2/market/candles")
TIME_URL = "https://api.nonkyc.io/api/v2/time"
SUBSCRIBE = EXCHANGE.WS_METHOD_SUBSCRIBE_CANDLES

Candle = Tuple[float, float, float, float, float, float]  # timestamp, open, high, low, close, volume


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def update(params: Any, method: str = "updateCandles") -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def flat(start: int, price: float) -> Candle:
    return (start, price, price, price, price, 0.0)


class FakeCandlesEndpoint:
    """
    NonKYC's `GET /market/candles` over a dict of bars: the newest `countBack` bars starting in [from, to), oldest
    first, `time` in `time_unit`, and `meta.nextTime` (the newest earlier bar) when no bar is in range. `failures`
    are answered first, one per request.
    """

    def __init__(self, time_unit: str = "s"):
        self.time_unit = time_unit
        self.bars: Dict[int, Candle] = {}
        self.requests: List[Dict[str, str]] = []
        self.failures: List[Tuple[int, str]] = []

    def add(self, *candles: Candle):
        for candle in candles:
            self.bars[int(candle[0])] = candle

    def __call__(self, url, **kwargs) -> CallbackResult:
        params = dict(url.query)
        self.requests.append(params)
        if self.failures:
            status, body = self.failures.pop(0)
            return CallbackResult(status=status, body=body)
        start, end, count = int(params["from"]), int(params["to"]), int(params["countBack"])
        starts = [bar_start for bar_start in sorted(self.bars) if start <= bar_start < end][-count:]
        meta: Dict[str, Any] = {"noData": not starts}
        earlier = [bar_start for bar_start in self.bars if bar_start < start]
        if not starts and earlier:
            meta["nextTime"] = max(earlier)
        scale = 1000 if self.time_unit == "ms" else 1
        return CallbackResult(payload={"bars": [
            {"time": bar_start * scale, "open": self.bars[bar_start][1], "high": self.bars[bar_start][2],
             "low": self.bars[bar_start][3], "close": self.bars[bar_start][4], "volume": self.bars[bar_start][5]}
            for bar_start in starts], "meta": meta})


class NonkycSpotCandlesTests(LogAssertions, IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        clear_url_overrides(self)
        self.mocking_assistant = NetworkMockingAssistant()
        await self.mocking_assistant.async_init()
        self.server = FakeNonkycServer(self.mocking_assistant)  # subscriptions are accepted
        self.endpoint = FakeCandlesEndpoint()
        self.rest = aioresponses()
        self.rest.start()
        self.addCleanup(self.rest.stop)
        self.rest.get(CANDLES_URL, callback=self.endpoint, repeat=True)
        self.now = NOW
        self.feeds: List[NonkycSpotCandles] = []
        self.log_recorder = LogRecorder()
        self.loggers = [NonkycSpotCandles.logger(), logging.getLogger(async_utils.__name__)]
        for logger in self.loggers:
            logger.setLevel(1)
            logger.addHandler(self.log_recorder)

    async def asyncTearDown(self) -> None:
        for feed in self.feeds:
            await feed.stop_network()
        await self.server.close_rest_session()
        for logger in self.loggers:
            logger.removeHandler(self.log_recorder)
        await super().asyncTearDown()

    def build_feed(self, max_records: int = 6, interval: str = "5m",
                   connector: Optional[NonkycExchange] = None) -> NonkycSpotCandles:
        feed = NonkycSpotCandles(PAIR, interval, max_records)
        feed._api_factory = WebAssistantsFactory(throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS),
                                                 connections_factory=self.server)
        if connector is not None:
            feed.attach_connector(connector)
            feed._api_factory._connections_factory = self.server
        feed._time = lambda: self.now
        feed._sleep = lambda delay: asyncio.sleep(0)  # reconnections at once
        feed._stream_core.retry_delay = 0.01
        self.feeds.append(feed)
        return feed

    async def start(self, feed: NonkycSpotCandles, wait_ready: bool = True) -> NonkycSpotCandles:
        await feed.start_network()
        if wait_ready:
            await wait_until(lambda: feed.ready, what=lambda: f"a ready feed; candles {self.candles(feed)}, "
                                                              f"requests {self.endpoint.requests}")
        return feed

    async def wait_for_subscription(self, count: int = 1, index: int = -1):
        await wait_until(lambda: self.server.websockets and len(self.server.sent_requests(SUBSCRIBE, index)) >= count,
                         what=f"{count} {SUBSCRIBE} request(s)")

    @staticmethod
    def candles(feed: NonkycSpotCandles) -> List[Candle]:
        frame = feed.candles_df[["timestamp", "open", "high", "low", "close", "volume"]]
        return [tuple(row) for row in frame.values.tolist()]

    def add_history(self, count: int, first_close: float = 100.0, skip: Tuple[int, ...] = ()) -> List[Candle]:
        """`count` candles up to the current one (the newest last), each closing 1 above the previous one."""
        candles = []
        for index in range(count):
            start = START - STEP * (count - 1 - index)
            close = first_close + index
            candle = (start, close - 0.5, close + 1, close - 1, close, 1.0 + index)
            if index not in skip:
                self.endpoint.add(candle)
            candles.append(candle)
        return candles

    # === History from REST ===

    async def test_history_from_rest_with_time_in_seconds_or_milliseconds_and_gaps_filled_flat(self):
        for unit in ("s", "ms"):
            with self.subTest(unit=unit):
                self.endpoint.time_unit = unit
                self.endpoint.bars.clear()
                history = self.add_history(6, skip=(3,))  # no trade in the 4th interval
                feed = await self.start(self.build_feed(max_records=6))

                expected = history[:3] + [flat(history[3][0], history[2][4])] + history[4:]
                self.assertEqual(expected, self.candles(feed))
                self.assertEqual({"symbol": SYMBOL, "resolution": "5", "from": str(START - 499 * STEP),
                                  "to": str(START + STEP), "countBack": "500"}, self.endpoint.requests[0])
                await self.wait_for_subscription()
                self.assertEqual({"symbol": SYMBOL, "period": 5, "limit": 6},
                                 self.server.sent_requests(SUBSCRIBE)[-1]["params"])
                await feed.stop_network()

    async def test_unreadable_rest_candles_are_logged_and_skipped(self):
        history = self.add_history(4)
        self.endpoint.add((history[2][0], 101.5, 103.0, 100.0, None, 3.0))
        feed = await self.start(self.build_feed(max_records=4))

        self.assertEqual(history[:2] + [flat(history[2][0], history[1][4]), history[3]], self.candles(feed))
        self.assertTrue(self.is_logged("WARNING", f"Skipped an unreadable candle of the NonKYC /market/candles answer "
                                                  f"for {PAIR} (no close): {{'time': {history[2][0]}"))

    @patch.object(CONSTANTS, "MAX_RESULTS_PER_CANDLESTICK_REST_REQUEST", 4)
    async def test_history_longer_than_one_answer_is_paged_backwards(self):
        history = self.add_history(10)
        feed = await self.start(self.build_feed(max_records=10))

        self.assertEqual(history, self.candles(feed))
        ends = [int(request["to"]) for request in self.endpoint.requests]
        self.assertEqual([START + STEP, START - 3 * STEP, START - 7 * STEP], ends)
        self.assertEqual(["4"] * 3, [request["countBack"] for request in self.endpoint.requests])

    async def test_young_market_history_is_padded_flat_at_the_first_price(self):
        history = self.add_history(3)
        feed = await self.start(self.build_feed(max_records=6))

        first_open = history[0][1]
        self.assertEqual([flat(START - STEP * n, first_open) for n in (5, 4, 3)] + history, self.candles(feed))
        self.assertTrue(self.is_logged("INFO", f"NonKYC has no {PAIR} 5m candle before {START - 2 * STEP}"))

    async def test_market_quiet_for_long_continues_from_its_last_candle(self):
        last = (START - 2000 * STEP, 10.0, 12.0, 9.0, 11.0, 4.0)
        self.endpoint.add((START - 2001 * STEP, 9.0, 10.0, 9.0, 9.5, 1.0), last)
        feed = await self.start(self.build_feed(max_records=4))

        self.assertEqual([flat(START - STEP * n, 11.0) for n in (3, 2, 1, 0)], self.candles(feed))
        self.assertEqual(str(last[0] + STEP), self.endpoint.requests[-1]["to"])  # the page that ends with it

    async def test_a_quiet_market_gets_its_new_candle_when_the_interval_starts(self):
        history = self.add_history(3)
        feed = self.build_feed(max_records=3)
        feed.rest_check_interval = feed.rest_poll_interval = 0.01
        await self.start(feed)

        self.now = START + STEP + 1
        await wait_until(lambda: self.candles(feed)[-1][0] == START + STEP, what="the new candle")
        self.assertEqual(history[1:] + [flat(START + STEP, history[-1][4])], self.candles(feed))

    async def test_rest_failures_are_logged_once_and_the_candles_recover(self):
        history = self.add_history(3)
        self.endpoint.failures = [(503, "<html><title>503 Service Unavailable</title></html>")] * 3
        feed = self.build_feed(max_records=3)
        feed.rest_poll_interval = 0.01
        self.server.replies[SUBSCRIBE] = lambda index, request: []  # no live candles: REST is polled
        await self.start(feed)

        self.assertEqual(history, self.candles(feed))
        failures = self.log_messages("WARNING")
        self.assertEqual(1, len([message for message in failures if "Could not update the NonKYC" in message]))
        self.assertTrue(self.is_logged("WARNING", "HTTP status is 503"))
        self.assertTrue(self.is_logged("INFO", f"The NonKYC {PAIR} 5m candles are updated from REST again."))
        self.assertEqual([], self.log_messages("ERROR"))

    async def test_an_answer_without_its_bars_object_is_a_failed_update(self):
        history = self.add_history(3)
        bare_list = json.dumps([{"time": START, "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}])
        self.endpoint.failures = [(200, bare_list)]  # no source shows /market/candles answering a bare list
        feed = self.build_feed(max_records=3)
        feed.rest_poll_interval = 0.01
        self.server.replies[SUBSCRIBE] = lambda index, request: []
        await self.start(feed)

        self.assertEqual(history, self.candles(feed))
        self.assertTrue(self.is_logged("WARNING", "unexpected /market/candles answer: [{'time': "))

    async def test_historical_candles_for_backtesting(self):
        history = self.add_history(8)
        feed = self.build_feed()

        frame = await feed.get_historical_candles(HistoricalCandlesConfig(
            connector_name="nonkyc", trading_pair=PAIR, interval="5m", start_time=START - 6 * STEP, end_time=START))

        self.assertEqual([candle[0] for candle in history[1:]], frame["timestamp"].tolist())
        self.assertEqual([candle[4] for candle in history[1:]], frame["close"].tolist())

    # === Live candles ===

    async def test_every_notification_variant_updates_the_candles(self):
        self.add_history(3)
        feed = await self.start(self.build_feed(max_records=3))
        await self.wait_for_subscription()
        variants = [  # the shapes of ../shared/nonkyc-api.md (see candle_shapes.py)
            ("min/max, ISO timestamp, values as strings", 10.0, update(
                {"symbol": SYMBOL, "period": 5, "data": [{"timestamp": iso(START), "open": "100", "close": "104",
                                                          "min": "99", "max": "105", "volume": "10"}]})),
            ("high/low, timestamp in milliseconds", 11.0, update(
                {"symbol": SYMBOL, "period": 5, "data": [{"timestamp": START * 1000, "open": 100, "close": 103,
                                                          "high": 106, "low": 98, "volume": 11}]})),
            ("min/max, ISO datetime", 12.0, update(
                {"symbol": SYMBOL, "period": "5", "data": [{"datetime": iso(START), "open": "100", "close": "108",
                                                            "min": "97", "max": "108", "volume": "12"}]})),
        ]
        for variant, volume, message in variants:
            with self.subTest(variant):
                self.server.push(message)
                await wait_until(lambda: self.candles(feed)[-1][5] == volume, what=f"the {variant} candle")
        self.assertEqual((START, 100.0, 108.0, 97.0, 108.0, 12.0), self.candles(feed)[-1])

        self.server.push(update({"symbol": SYMBOL, "period": 5, "data": [
            {"timestamp": iso(START), "open": "100", "close": "109", "min": "97", "max": "109", "volume": "15"},
            {"timestamp": iso(START + STEP), "open": "109", "close": "110", "min": "109", "max": "110",
             "volume": "1"}]}, method="snapshotCandles"))
        await wait_until(lambda: self.candles(feed)[-1][0] == START + STEP, what="the next candle")
        self.assertEqual([(START, 100.0, 109.0, 97.0, 109.0, 15.0), (START + STEP, 109.0, 110.0, 109.0, 110.0, 1.0)],
                         self.candles(feed)[-2:])
        self.assertTrue(feed.live)
        self.assertEqual([], self.log_messages("WARNING"))

    async def test_unreadable_messages_are_logged_and_skipped(self):
        history = self.add_history(3)
        feed = await self.start(self.build_feed(max_records=3))
        await self.wait_for_subscription()
        candle = {"timestamp": START * 1000, "open": "100", "close": "104", "high": "105", "low": "99",
                  "volume": "10"}
        unreadable = [
            update({"symbol": SYMBOL, "period": 5, "data": [{**candle, "close": None}]}),
            update({"symbol": SYMBOL, "period": 5, "data": [{**candle, "timestamp": "yesterday"}]}),
            update({"symbol": SYMBOL, "period": 5, "data": [{**candle, "low": "-5"}]}),
            update({"symbol": SYMBOL, "period": 5, "data": ["not a candle"]}),
            update({"symbol": SYMBOL, "period": 5, "data": [{**candle, "timestamp": None, "time": START}]}),
            update("not candles"),
            {"jsonrpc": "2.0", "method": "updateCandles"},
            update({"symbol": SYMBOL, "period": 5, **candle}),  # a candle in params itself: no source shows it
            update({"symbol": SYMBOL, "period": 5, "data": candle}),
            "not JSON at all",
            update({"symbol": "ETH/USDT", "period": 5, "data": [candle]}),
        ]
        self.server.push_all(unreadable)
        self.server.push(update({"symbol": SYMBOL, "period": 15, "data": [{**candle, "close": "1"}]}))
        self.server.push(update({"symbol": SYMBOL, "period": 5, "data": [candle]}))

        await wait_until(lambda: self.candles(feed)[-1][4] == 104.0, what="the readable candle")
        warnings = self.log_messages("WARNING")
        self.assertEqual(5, len([warning for warning in warnings if "Skipped an unreadable candle" in warning]),
                         warnings)
        self.assertEqual(4, len([warning for warning in warnings if "message without candles" in warning]), warnings)
        self.assertTrue(self.is_logged("WARNING", "skipped a message that is not a JSON object: 'not JSON at all'"))
        self.assertTrue(self.is_logged("WARNING", "ignored a updateCandles message for ETH/USDT: not subscribed."))
        self.assertEqual(history[:2] + [(START, 100.0, 105.0, 99.0, 104.0, 10.0)], self.candles(feed))
        self.assertFalse(feed._listen_candles_task.done())
        self.assertEqual([], self.log_messages("ERROR"))

    async def test_an_older_copy_of_a_candle_never_replaces_a_newer_one(self):
        self.add_history(2)
        feed = await self.start(self.build_feed(max_records=2))
        await self.wait_for_subscription()
        self.server.push(update({"symbol": SYMBOL, "period": 5, "data": [
            {"timestamp": START * 1000, "open": "100", "close": "120", "high": "120", "low": "99", "volume": "50"}]}))
        await wait_until(lambda: self.candles(feed)[-1][4] == 120.0, what="the live candle")

        await feed._sync_from_rest()  # REST still has the candle of before the trade (volume 2)

        self.assertEqual((START, 100.0, 120.0, 99.0, 120.0, 50.0), self.candles(feed)[-1])

    async def test_rejected_live_channel_keeps_the_candles_current_from_rest(self):
        history = self.add_history(3)
        self.server.replies[SUBSCRIBE] = lambda index, request: [rpc_error(request, 503, "Service Unavailable")]
        feed = self.build_feed(max_records=3)
        feed.rest_poll_interval = 0.01
        await self.start(feed)
        await self.wait_for_subscription(count=2)

        self.endpoint.add((START, history[-1][1], 130.0, history[-1][3], 130.0, 9.0))
        await wait_until(lambda: self.candles(feed)[-1][4] == 130.0, what="the candle updated from REST")
        self.assertFalse(feed.live)
        self.assertTrue(self.is_logged("WARNING", f"NonKYC rejected {SUBSCRIBE} for {PAIR} 5m (attempt 1): code 503, "
                                                  f"Service Unavailable. REST keeps the candles current"))
        await self.wait_for_subscription(count=EXCHANGE.WS_MAX_ATTEMPTS)
        await wait_until(lambda: self.is_logged("WARNING", "keeps refusing the live candles"),
                         what="the last refusal")
        self.assertEqual([], self.log_messages("ERROR"))

    async def test_the_stream_reconnects_and_keeps_its_candles(self):
        history = self.add_history(3)
        feed = await self.start(self.build_feed(max_records=3))
        await self.wait_for_subscription()
        await wait_until(lambda: feed.live, what="the live subscription")

        self.server.close()

        await wait_until(lambda: len(self.server.websockets) == 2, what="a second connection")
        await self.wait_for_subscription(index=1)
        await wait_until(lambda: feed.live, what="the live subscription again")
        self.assertEqual(history, self.candles(feed))
        self.assertTrue(self.is_logged("WARNING", f"The NonKYC candles stream of {PAIR} was interrupted"))
        self.assertEqual(2, feed.connection_count)

    # === Intervals, registration, connector ===

    def test_intervals_nonkyc_does_not_serve_are_refused_with_the_supported_ones(self):
        supported = "Supported intervals: 5m, 15m, 30m, 1h, 4h, 8h, 12h, 1d."
        for interval in ("1m", "3m", "2h", "1w", "3h"):
            with self.subTest(interval=interval):
                with self.assertRaises(ValueError) as refused:
                    CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval=interval))
                self.assertEqual(f"NonKYC candles do not support the interval '{interval}'. {supported}",
                                 str(refused.exception))
        for interval, resolution in (("5m", 5), ("1h", 60), ("4h", 240), ("1d", 1440)):
            feed = CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval=interval))
            self.assertIsInstance(feed, NonkycSpotCandles)
            self.assertEqual(resolution, feed.resolution)

    async def test_attached_connector_shares_its_throttler_and_symbol_map(self):
        connector = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=[PAIR],
                                   trading_required=False)
        connector._set_trading_pair_symbol_map(bidict({"XBT/USDT": PAIR}))
        self.add_history(2)

        feed = CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval="5m",
                                                       max_records=2), connector=connector)
        self.assertIs(connector.throttler, feed._api_factory.throttler)
        feed = await self.start(self.build_feed(max_records=2, connector=connector))

        self.assertIs(connector.throttler, feed._api_factory.throttler)
        self.assertEqual({"XBT/USDT"}, {request["symbol"] for request in self.endpoint.requests})
        await self.wait_for_subscription()
        self.assertEqual("XBT/USDT", self.server.sent_requests(SUBSCRIBE)[-1]["params"]["symbol"])

    async def test_health_check_reads_the_server_time(self):
        self.rest.get(TIME_URL, payload={"serverTime": NOW * 1000})

        self.assertEqual(NetworkStatus.CONNECTED, await self.build_feed().check_network())
