"""
End-to-end tests of the NonKYC candles feed against the local sandbox exchange over real sockets (REST and WebSocket),
no mocks: history from `/market/candles`, live candles from `subscribeCandles` built from the sandbox's own trades,
and REST alone when the live channel is unavailable.
"""
import os
import time
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import LogAssertions, LogRecorder, wait_until
from test.hummingbot.connector.exchange.nonkyc.real_sockets import (
    close_shared_aiohttp_session,
    use_fresh_shared_aiohttp_session,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Dict, List, Tuple
from unittest.mock import patch

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles
from hummingbot.data_feed.market_data_provider import MarketDataProvider
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

PAIR, SYMBOL = "BTC-USDT", "BTC/USDT"
STEP = 300
RECORDS = 20
Candle = Tuple[float, float, float, float, float, float]  # timestamp, open, high, low, close, volume


class CandlesFeedAgainstSandboxTests(LogAssertions, IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        use_fresh_shared_aiohttp_session()
        self.feeds: List[NonkycSpotCandles] = []
        self.log_recorder = LogRecorder()
        NonkycSpotCandles.logger().setLevel(1)
        NonkycSpotCandles.logger().addHandler(self.log_recorder)

    async def asyncTearDown(self) -> None:
        for feed in self.feeds:
            feed.stop()
            await feed.stop_network()
        await self.sandbox.stop()
        await close_shared_aiohttp_session()
        self.env.stop()
        NonkycSpotCandles.logger().removeHandler(self.log_recorder)
        await super().asyncTearDown()

    async def start_sandbox(self, **candle_settings) -> Dict[int, Candle]:
        """A sandbox with RECORDS - 1 past candles before the current one (two of them without trades)."""
        self.sandbox = SandboxExchange(seed=3, simulated_traders=False, **candle_settings)
        await self.sandbox.start("127.0.0.1", 0)
        self.env = patch.dict(os.environ, {CONSTANTS.REST_URL_ENV_VAR: self.sandbox.rest_url,
                                           CONSTANTS.WSS_URL_ENV_VAR: self.sandbox.ws_url})
        self.env.start()
        now = int(time.time())
        current = now - now % STEP
        expected: Dict[int, Candle] = {}
        close = 60000.0
        for index in range(RECORDS - 1, 0, -1):
            start = current - STEP * index
            if index in (7, 8):
                expected[start] = (start, close, close, close, close, 0.0)
                continue
            price = 60000.0 + 10 * index
            self.sandbox.add_past_trade(SYMBOL, f"{price:.2f}", "0.01", (start + 10) * 1000)
            self.sandbox.add_past_trade(SYMBOL, f"{price + 5:.2f}", "0.02", (start + 20) * 1000)
            close = price + 5
            expected[start] = (start, price, price + 5, price, close, 0.03)
        expected[current] = (current, close, close, close, close, 0.0)
        return expected

    def track(self, feed: NonkycSpotCandles) -> NonkycSpotCandles:
        self.feeds.append(feed)
        return feed

    @staticmethod
    def candles(feed: NonkycSpotCandles) -> List[Candle]:
        frame = feed.candles_df[["timestamp", "open", "high", "low", "close", "volume"]]
        return [tuple(row) for row in frame.values.tolist()]

    def assert_history(self, feed: NonkycSpotCandles, expected: Dict[int, Candle]):
        """The feed's candles are the sandbox's (a new interval may have started since they were computed)."""
        candles = self.candles(feed)
        self.assertEqual(RECORDS, len(candles))
        self.assertEqual({STEP}, {later[0] - earlier[0] for earlier, later in zip(candles, candles[1:])})
        self.assertGreaterEqual(len([candle for candle in candles if candle[0] in expected]), RECORDS - 1)
        for candle in candles:
            if candle[0] in expected:
                self.assertEqual(expected[candle[0]], candle)

    def trade(self, price: str, quantity: str) -> int:
        """A trade between two accounts of the sandbox; the start of its candle."""
        self.sandbox.place_order("sim-maker", SYMBOL, "sell", "limit", quantity, price)
        self.sandbox.place_order("user", SYMBOL, "buy", "limit", quantity, price)
        seconds = self.sandbox.trades("user", SYMBOL)[0]["timestamp"] // 1000
        return seconds - seconds % STEP

    def candle_at(self, feed: NonkycSpotCandles, start: int) -> Candle:
        return next((candle for candle in self.candles(feed) if candle[0] == start), None)

    async def test_feed_of_a_strategy_fills_its_history_from_rest_then_follows_live_trades(self):
        expected = await self.start_sandbox(candle_time_unit="s", candle_ws_shape="min_max_timestamp")
        self.sandbox.candles.max_bars_per_request = 8  # the history takes several pages
        connector = NonkycExchange(nonkyc_api_key=DEFAULT_API_KEY, nonkyc_api_secret=DEFAULT_API_SECRET,
                                   trading_pairs=[PAIR])
        provider = MarketDataProvider(connectors={"nonkyc": connector})
        config = CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval="5m", max_records=RECORDS)

        provider.initialize_candles_feed(config)  # what a controller's candles_config does at its start
        feed = self.track(provider.get_candles_feed(config))

        self.assertIsInstance(feed, NonkycSpotCandles)
        self.assertIs(connector.throttler, feed._api_factory.throttler)
        await wait_until(lambda: feed.ready and feed.live, timeout=10,
                         what=lambda: f"a ready, live feed; {len(feed._candles)} candles, live {feed.live}")
        self.assert_history(feed, expected)
        self.assertGreaterEqual(feed.rest_requests, 4)  # health check, the latest candles, two more pages
        self.assertEqual(RECORDS, len(provider.get_candles_df("nonkyc", PAIR, "5m", RECORDS)))

        rest_requests = feed.rest_requests
        start = self.trade("61000.00", "0.004")
        await wait_until(lambda: (self.candle_at(feed, start) or (0,) * 6)[5] == 0.004, what="the live trade")
        start = self.trade("60900.00", "0.002")
        await wait_until(lambda: (self.candle_at(feed, start) or (0,) * 6)[5] >= 0.006, what="the second trade")

        candle = self.candle_at(feed, start)
        bar = self.sandbox.candles.bar_at(SYMBOL, 5, start * 1000)
        self.assertEqual((start, float(bar.open), float(bar.high), float(bar.low), 60900.0, float(bar.volume)),
                         candle)
        self.assertEqual(rest_requests, feed.rest_requests)  # live: through the WebSocket
        self.assertGreater(feed.ws_candles, 0)
        provider.stop()
        self.assertEqual([], self.log_messages("ERROR"))

    async def test_without_the_live_channel_the_feed_stays_current_from_rest(self):
        expected = await self.start_sandbox(candle_time_unit="ms", candle_ws_shape="min_max_datetime")
        self.sandbox.faults.reject_candle_subscriptions(count=100)
        feed = self.track(NonkycSpotCandles(PAIR, "5m", RECORDS))
        feed.rest_poll_interval = 0.2
        feed.start()

        await wait_until(lambda: feed.ready, timeout=10, what="a ready feed")
        self.assert_history(feed, expected)
        start = self.trade("61500.00", "0.003")
        await wait_until(lambda: (self.candle_at(feed, start) or (0,) * 6)[4] == 61500.0, what="the trade via REST")

        self.assertEqual((start, Decimal("0.003")), (self.candle_at(feed, start)[0],
                                                     Decimal(str(self.candle_at(feed, start)[5]))))
        self.assertFalse(feed.live)
        self.assertEqual(0, feed.ws_candles)
        self.assertTrue(self.is_logged("WARNING", "NonKYC rejected subscribeCandles for BTC-USDT 5m (attempt 1): "
                                                  "code 503, Service Unavailable"))
        self.assertEqual([], self.log_messages("ERROR"))
