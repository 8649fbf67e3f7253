"""
The project's market-making controllers: nonkyc_pmm's executors, and nonkyc_candles_mm's spreads following the
volatility of NonKYC candles (a market data provider that serves given candles and a given mid price).
"""
import asyncio
from decimal import Decimal
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List
from unittest.mock import MagicMock

import pandas as pd

from controllers.market_making.nonkyc_candles_mm import (
    NonkycCandlesMM,
    NonkycCandlesMMConfig,
    normalized_average_true_range,
)
from controllers.market_making.nonkyc_pmm import NonkycPMM, NonkycPMMConfig
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig


def candles(rows: List[tuple]) -> pd.DataFrame:
    """Candles as Hummingbot's feeds give them, from (high, low, close) rows."""
    return pd.DataFrame([{"timestamp": 1700000000 + 300 * index, "open": close, "high": high, "low": low,
                          "close": close, "volume": 1.0} for index, (high, low, close) in enumerate(rows)])


class MarketDataProvider:
    def __init__(self, candles_df: pd.DataFrame, mid: Decimal):
        self.candles_df = candles_df
        self.mid = mid
        self.candles_requests = []
        self.initialize_rate_sources = MagicMock()

    def get_candles_df(self, connector_name, trading_pair, interval, max_records):
        self.candles_requests.append((connector_name, trading_pair, interval, max_records))
        return self.candles_df.iloc[-max_records:]

    def get_price_by_type(self, connector_name, trading_pair, price_type):
        return self.mid

    def time(self):
        return 1700000000.0


class NonkycMarketMakingControllersTests(IsolatedAsyncioWrapperTestCase):

    def controller(self, controller_class, config, candles_df=None, mid="100"):
        self.provider = MarketDataProvider(candles_df if candles_df is not None else candles([]), Decimal(mid))
        return controller_class(config, self.provider, asyncio.Queue())

    def test_natr_is_wilders_average_of_the_true_range_over_the_last_close(self):
        # True ranges: 4 (high 104 - previous close 100), 2 (103 - 101), 6 (|96 - 102|); Wilder's average over 2
        # candles: 4, then (4 + 2) / 2 = 3, then (3 + 6) / 2 = 4.5; divided by the last close 98.
        rows = [(101, 99, 100), (104, 101, 102), (103, 101, 102), (100, 96, 98)]

        self.assertAlmostEqual(4.5 / 98, normalized_average_true_range(candles(rows), 2))
        self.assertIsNone(normalized_average_true_range(candles(rows[:1]), 2))

    def test_pmm_levels_are_position_executors_whose_stop_loss_and_time_limit_exit_at_market(self):
        controller = self.controller(NonkycPMM, NonkycPMMConfig(id="pmm", trading_pair="NKYC-USDT"))

        executor = controller.get_executor_config("sell_1", Decimal("0.86"), Decimal("25"))

        self.assertEqual(("nonkyc", "NKYC-USDT", TradeType.SELL, Decimal("0.86"), Decimal("25"), 1, "sell_1"),
                         (executor.connector_name, executor.trading_pair, executor.side, executor.entry_price,
                          executor.amount, executor.leverage, executor.level_id))
        barriers = executor.triple_barrier_config
        self.assertEqual((OrderType.LIMIT, OrderType.MARKET, OrderType.MARKET),
                         (barriers.open_order_type, barriers.stop_loss_order_type, barriers.time_limit_order_type))

    async def test_spreads_are_multiples_of_the_candles_volatility(self):
        # (Hummingbot fills the amounts only when given, as the CLI's YAML files always do.)
        config = NonkycCandlesMMConfig(id="mm", trading_pair="BTC-USDT", buy_spreads="1,2", sell_spreads="1,2",
                                       buy_amounts_pct=None, sell_amounts_pct=None, volatility_length=2)
        rows = [(101, 99, 100), (104, 101, 102), (103, 101, 102), (100, 96, 98)]
        controller = self.controller(NonkycCandlesMM, config, candles(rows), mid="100")

        await controller.update_processed_data()

        # The last 3 candles (volatility_length + 1): true ranges 2 and 6, Wilder's average 4, over the close 98.
        volatility = Decimal(str(4 / 98))
        self.assertEqual(volatility, controller.processed_data["spread_multiplier"])
        self.assertEqual([("nonkyc", "BTC-USDT", "5m", 3)], self.provider.candles_requests)
        price, _ = controller.get_price_and_amount("buy_1")
        self.assertEqual(Decimal("100") * (1 - 2 * volatility), price)
        price, _ = controller.get_price_and_amount("sell_0")
        self.assertEqual(Decimal("100") * (1 + volatility), price)
        self.assertEqual(["  Volatility (NATR of 3 5m candles of nonkyc BTC-USDT): 4.0816%, spreads from 4.0816%",
                          "  Buy spreads: 4.0816%, 8.1633%"], controller.to_format_status())

    async def test_the_volatility_is_bounded_and_flat_or_missing_candles_use_the_lower_bound(self):
        config = NonkycCandlesMMConfig(id="mm", trading_pair="BTC-USDT", min_volatility=Decimal("0.002"),
                                       max_volatility=Decimal("0.03"), volatility_length=2)
        for rows, expected in (([(100, 100, 100)] * 3, Decimal("0.002")), ([(100, 100, 100)], Decimal("0.002")),
                               ([(101, 99, 100), (150, 60, 100)], Decimal("0.03"))):
            controller = self.controller(NonkycCandlesMM, config, candles(rows))

            await controller.update_processed_data()

            self.assertEqual(expected, controller.processed_data["spread_multiplier"], rows)

    def test_candles_come_from_the_traded_market_unless_configured(self):
        default = NonkycCandlesMMConfig(id="mm", connector_name="nonkyc_paper_trade", trading_pair="SAL-USDT",
                                        candles_interval="15m", volatility_length=20)
        other = NonkycCandlesMMConfig(id="mm", trading_pair="SAL-USDT", candles_connector="nonkyc",
                                      candles_trading_pair="BTC-USDT")

        # Paper trading reads NonKYC's own (public) candles.
        self.assertEqual([CandlesConfig(connector="nonkyc", trading_pair="SAL-USDT", interval="15m", max_records=21)],
                         self.controller(NonkycCandlesMM, default).get_candles_config())
        self.assertEqual(("nonkyc", "BTC-USDT"), (other.candles_connector_name, other.candles_pair))
        self.assertEqual(["  Waiting for candles."], self.controller(NonkycCandlesMM, other).to_format_status())
