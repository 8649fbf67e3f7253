"""
scripts/nonkyc_candles_trend.py's decisions on given candles: a real NonkycExchange that is not connected (its book set
by the test) and a market data provider whose candles the test sets.
"""
import asyncio
from decimal import Decimal
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from types import SimpleNamespace
from typing import List
from unittest.mock import patch

import pandas as pd

from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_row import OrderBookRow
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.data_feed.market_data_provider import MarketDataProvider
from scripts.nonkyc_candles_trend import NonkycCandlesTrend, NonkycCandlesTrendConfig, trend

PAIR = "NKYC-USDT"


class NonkycCandlesTrendTests(IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.connector = NonkycExchange("key", "secret", trading_pairs=[PAIR])
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(0.84, 100, 1)], [OrderBookRow(0.86, 100, 1)], 1)
        self.connector.order_book_tracker._order_books[PAIR] = book
        self.connector._trading_rules[PAIR] = TradingRule(PAIR, min_order_size=Decimal("1"),
                                                          min_price_increment=Decimal("0.0001"),
                                                          min_base_amount_increment=Decimal("0.01"))
        self.strategies: List[NonkycCandlesTrend] = []

    async def asyncTearDown(self):
        for strategy in self.strategies:
            strategy.listen_to_executor_actions_task.cancel()
        await asyncio.sleep(0)
        await super().asyncTearDown()

    def strategy(self, closes: List[float], executors=()) -> NonkycCandlesTrend:
        config = NonkycCandlesTrendConfig(trading_pair=PAIR, fast_length=2, slow_length=4,
                                          order_amount_quote=Decimal("17"), cooldown=60)
        NonkycCandlesTrend.init_markets(config)
        with patch("hummingbot.strategy_v2.executors.executor_orchestrator.MarketsRecorder") as recorder, \
                patch.object(MarketDataProvider, "initialize_candles_feed") as initialize_candles_feed:
            recorder.get_instance.return_value.get_all_executors.return_value = []
            recorder.get_instance.return_value.get_all_positions.return_value = []
            strategy = NonkycCandlesTrend({"nonkyc": self.connector}, config)
        self.assertEqual([CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval="5m", max_records=4)],
                         [call.args[0] for call in initialize_candles_feed.call_args_list])
        strategy.candles = lambda: pd.DataFrame({"close": closes})
        strategy.executors = lambda: list(executors)
        strategy._set_current_timestamp(10000.0)
        self.strategies.append(strategy)
        return strategy

    def test_the_trend_is_the_fast_average_against_the_slow_one(self):
        self.assertEqual(1, trend(pd.Series([1.0, 1.0, 2.0, 2.0]), 2, 4))
        self.assertEqual(-1, trend(pd.Series([2.0, 2.0, 1.0, 1.0]), 2, 4))
        self.assertEqual(0, trend(pd.Series([1.0, 1.0, 1.0, 1.0]), 2, 4))
        self.assertIsNone(trend(pd.Series([1.0, 2.0]), 2, 4))

    async def test_an_uptrend_opens_one_long_position_with_market_orders(self):
        strategy = self.strategy([0.80, 0.81, 0.83, 0.85])

        [action] = strategy.create_actions_proposal()

        config = action.executor_config
        self.assertEqual((TradeType.BUY, Decimal("0.85"), Decimal("20")),
                         (config.side, config.entry_price, config.amount))
        barriers = config.triple_barrier_config
        self.assertEqual((OrderType.MARKET, Decimal("0.02"), Decimal("0.01"), 3600),
                         (barriers.open_order_type, barriers.take_profit, barriers.stop_loss, barriers.time_limit))
        self.assertEqual([], strategy.stop_actions_proposal())

    async def test_no_new_position_while_one_runs_during_the_cooldown_or_without_an_uptrend(self):
        running = SimpleNamespace(id="e1", is_active=True, is_trading=True, is_done=False)
        self.assertEqual([], self.strategy([0.80, 0.81, 0.83, 0.85], [running]).create_actions_proposal())
        # Closing: its exit order is out, Hummingbot reports it neither active nor done.
        closing = SimpleNamespace(id="e1", is_active=False, is_trading=False, is_done=False, close_timestamp=None)
        self.assertEqual([], self.strategy([0.80, 0.81, 0.83, 0.85], [closing]).create_actions_proposal())
        cooling_down = self.strategy([0.80, 0.81, 0.83, 0.85])
        cooling_down.last_close_timestamp = 9950.0
        self.assertEqual([], cooling_down.create_actions_proposal())
        self.assertEqual([], self.strategy([0.85, 0.85, 0.85, 0.85]).create_actions_proposal())

    async def test_a_downtrend_closes_the_open_position(self):
        running = SimpleNamespace(id="e1", is_active=True, is_trading=True)
        waiting = SimpleNamespace(id="e2", is_active=True, is_trading=False)

        actions = self.strategy([0.85, 0.84, 0.82, 0.80], [running, waiting]).stop_actions_proposal()

        self.assertEqual(["e1"], [action.executor_id for action in actions])
