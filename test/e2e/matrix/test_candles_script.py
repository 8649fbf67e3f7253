"""
Compatibility matrix, a V2 script on NonKYC candles: scripts/nonkyc_candles_trend.py reads the sandbox's candles of
NKYC-USDT through Hummingbot's market data provider (the `nonkyc` candles feed) and trades the trend it sees, on a
market without market orders (its MARKET orders are the connector's emulation).
"""
import time
from decimal import Decimal
from test.e2e.matrix.support import StrategyOnSandboxTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until

from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.event.events import OrderFilledEvent
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.nonkyc_spot_candles import NonkycSpotCandles
from hummingbot.strategy_v2.models.executors import CloseType

PAIR = "NKYC-USDT"
FIVE_MINUTES_MS = 5 * 60 * 1000


class CandlesScriptOnSandboxTests(StrategyOnSandboxTestCase):

    def past_uptrend(self) -> list:
        """One trade in each of the last 10 five-minute candles, at a price rising 0.5 % a candle."""
        candle_start_ms = int(time.time() * 1000) // FIVE_MINUTES_MS * FIVE_MINUTES_MS
        prices = [Decimal("0.8000") + Decimal("0.0045") * step for step in range(10)]
        for candles_ago, price in zip(range(10, 0, -1), prices):
            trade_ms = candle_start_ms - candles_ago * FIVE_MINUTES_MS + 1000
            self.sandbox.add_past_trade("NKYC/USDT", price, "10", trade_ms)
        return prices

    async def test_trend_script_reads_nonkyc_candles_and_trades_the_uptrend(self):
        closes = self.past_uptrend()
        self.move_mid(PAIR, "0.8500")
        self.assertTrue(await self.start_script("nonkyc_candles_trend", {
            "script_file_name": "nonkyc_candles_trend.py", "connector_name": "nonkyc", "trading_pair": PAIR,
            "candles_interval": "5m", "fast_length": 3, "slow_length": 10, "order_amount_quote": "10",
            "take_profit": "0.5", "stop_loss": "0.5", "time_limit": 4, "cooldown": 3600}))
        await self.wait_until_trading()

        # The feed of the script is NonKYC's, and its candles are the sandbox's: the 9 past closes, then the current
        # candle (flat at the last close until a trade).
        feed = self.strategy.market_data_provider.get_candles_feed(self.strategy.config.candles)
        self.assertIsInstance(feed, NonkycSpotCandles)
        await wait_until(lambda: self.strategy.market_data_provider.ready, 20, "the candles feed to be ready")
        self.assertEqual(closes[1:], [Decimal(str(close)) for close in self.strategy.candles()["close"].iloc[:9]])
        self.assertEqual(1, self.strategy.signal())

        # The uptrend opens one long position (a MARKET buy of 10 USDT), closed at its 4 s time limit (MARKET sell).
        await wait_until(lambda: any(executor.close_type == CloseType.TIME_LIMIT
                                     for executor in self.strategy.executors()), 30, "the position's time limit")
        fills = self.events_of(OrderFilledEvent)
        self.assertEqual({(TradeType.BUY, OrderType.MARKET), (TradeType.SELL, OrderType.MARKET)},
                         {(fill.trade_type, fill.order_type) for fill in fills})
        self.assertEqual(["limit"], sorted({order["type"] for order in self.user_orders(PAIR)}))
        self.assertEqual(1, len(self.strategy.executors()))  # no new position during the cooldown
        await self.assert_balances_equal_exchange(("NKYC", "USDT"))
        self.assertEqual(Decimal("100000"), self.connector.get_balance("NKYC"))

        await self.stop_and_check({PAIR})
