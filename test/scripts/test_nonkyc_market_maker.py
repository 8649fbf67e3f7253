"""
The quoting logic of scripts/nonkyc_market_maker.py on a real NonkycExchange that is not connected: its order book,
trading rules and balances are set by the test, so the proposals can be checked exactly.
"""
import asyncio
from decimal import Decimal
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List, Tuple
from unittest.mock import patch

from pydantic import ValidationError

from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import MarketDict, TradeType
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_row import OrderBookRow
from scripts.nonkyc_market_maker import NonkycMarketMaker, NonkycMarketMakerConfig

PAIR = "BTC-USDT"
STRATEGY_LOGGER = "hummingbot.strategy.strategy_v2_base"


def btc_usdt_rule(min_notional: str = "1") -> TradingRule:
    """The sandbox's BTC/USDT market: 2 price decimals, 6 quantity decimals, minimum 0.00001 BTC."""
    return TradingRule(PAIR, min_order_size=Decimal("0.00001"), min_price_increment=Decimal("0.01"),
                       min_base_amount_increment=Decimal("0.000001"), min_notional_size=Decimal(min_notional))


class NonkycMarketMakerQuotingTests(IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.connector = NonkycExchange("key", "secret", trading_pairs=[PAIR])
        self.connector._trading_rules[PAIR] = btc_usdt_rule()
        self.set_book(bids=[("67000", "1")], asks=[("67100", "1")])
        self.set_balances(BTC="2", USDT="100000")
        self.strategies: List[NonkycMarketMaker] = []

    async def asyncTearDown(self):
        for strategy in self.strategies:
            strategy.listen_to_executor_actions_task.cancel()
        await asyncio.sleep(0)
        await super().asyncTearDown()

    def set_book(self, bids: List[Tuple[str, str]], asks: List[Tuple[str, str]]):
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(float(price), float(amount), 1) for price, amount in bids],
                            [OrderBookRow(float(price), float(amount), 1) for price, amount in asks], 1)
        self.connector.order_book_tracker._order_books[PAIR] = book

    def set_balances(self, **available: str):
        for asset, amount in available.items():
            self.connector._account_balances[asset] = Decimal(amount)
            self.connector._account_available_balances[asset] = Decimal(amount)

    def strategy(self, **config) -> NonkycMarketMaker:
        config = NonkycMarketMakerConfig(trading_pair=PAIR, **config)
        NonkycMarketMaker.init_markets(config)
        with patch("hummingbot.strategy_v2.executors.executor_orchestrator.MarketsRecorder") as recorder:
            recorder.get_instance.return_value.get_all_executors.return_value = []
            recorder.get_instance.return_value.get_all_positions.return_value = []
            strategy = NonkycMarketMaker({"nonkyc": self.connector}, config)
        self.strategies.append(strategy)
        return strategy

    async def test_a_connector_without_trading_rules_like_paper_trade_still_quotes_within_budget(self):
        self.connector = ConnectorWithoutTradingRules("", "", trading_pairs=[PAIR])
        self.connector._trading_rules[PAIR] = btc_usdt_rule()  # used only to quantize prices and amounts
        self.set_book(bids=[("67000", "1")], asks=[("67100", "1")])
        self.set_balances(BTC="2", USDT="100000")
        strategy = self.strategy(order_amount=Decimal("0.001"), bid_spread=Decimal("0.002"),
                                 ask_spread=Decimal("0.002"))

        proposal = strategy.apply_budget(strategy.apply_trading_rules(strategy.create_proposal()))

        mid = (Decimal("67000") + Decimal("67100")) / 2
        self.assertEqual([(TradeType.BUY, (mid * Decimal("0.998")).quantize(Decimal("0.01")), Decimal("0.001")),
                          (TradeType.SELL, (mid * Decimal("1.002")).quantize(Decimal("0.01")), Decimal("0.001"))],
                         self.sides_prices_amounts(proposal))

    @staticmethod
    def sides_prices_amounts(proposal) -> List[Tuple[TradeType, Decimal, Decimal]]:
        return [(candidate.order_side, candidate.price, candidate.amount) for candidate in proposal]

    # === Configuration ===

    async def test_config_declares_its_market_and_rejects_unknown_price_sources(self):
        config = NonkycMarketMakerConfig(connector_name="nonkyc", trading_pair="SAL-USDT", price_source="Last_Trade")

        self.assertEqual({"nonkyc": {"SAL-USDT"}}, dict(config.update_markets(MarketDict({}))))
        self.assertEqual("last_trade", config.price_source)
        self.assertEqual("nonkyc_market_maker.py", config.script_file_name)
        with self.assertRaises(ValidationError) as error:
            NonkycMarketMakerConfig(price_source="vwap")
        self.assertIn("price_source must be one of mid, last_trade, best_bid_ask", str(error.exception))
        with self.assertRaises(ValidationError):
            NonkycMarketMakerConfig(order_amount="0")

    # === Prices and amounts ===

    async def test_quotes_around_the_mid_with_the_spreads_quantized_outwards(self):
        # mid 67050: bid 67050 * (1 - 0.0012345) = 66967.226775 -> 66967.22 (down);
        #            ask 67050 * (1 + 0.0012345) = 67132.773225 -> 67132.78 (up); amount 0.0012345678 -> 0.001234
        strategy = self.strategy(bid_spread="0.0012345", ask_spread="0.0012345", order_amount="0.0012345678")

        proposal = strategy.create_proposal()

        self.assertEqual([(TradeType.BUY, Decimal("66967.22"), Decimal("0.001234")),
                          (TradeType.SELL, Decimal("67132.78"), Decimal("0.001234"))],
                         self.sides_prices_amounts(proposal))

    async def test_best_bid_ask_source_prices_each_side_from_its_own_best_price(self):
        strategy = self.strategy(price_source="best_bid_ask", bid_spread="0.001", ask_spread="0.002",
                                 order_amount="0.01")

        proposal = strategy.create_proposal()

        # bid 67000 * 0.999 = 66933.00; ask 67100 * 1.002 = 67234.20
        self.assertEqual([(TradeType.BUY, Decimal("66933.00"), Decimal("0.01")),
                          (TradeType.SELL, Decimal("67234.20"), Decimal("0.01"))],
                         self.sides_prices_amounts(proposal))

    async def test_no_quotes_without_a_reference_price(self):
        strategy = self.strategy(price_source="last_trade")  # no trade seen yet: the last trade price is NaN

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            proposal = strategy.create_proposal()

        self.assertEqual([], proposal)
        self.assertTrue(any("Not quoting BTC-USDT: no last_trade reference price yet" in line
                            for line in logs.output), logs.output)

    # === Trading rules ===

    async def test_orders_below_the_minimum_size_are_skipped_with_the_reason(self):
        strategy = self.strategy(order_amount="0.000009")

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            accepted = strategy.apply_trading_rules(strategy.create_proposal())

        self.assertEqual([], accepted)
        skipped = [line for line in logs.output if "is below the minimum order size 0.00001 BTC" in line]
        self.assertEqual(2, len(skipped), logs.output)
        self.assertIn("Skipping the buy order of 0.000009 BTC at 66915.90 USDT", skipped[0])

    async def test_orders_below_the_minimum_notional_are_skipped_with_the_reason(self):
        self.connector._trading_rules[PAIR] = btc_usdt_rule(min_notional="5")
        # 0.00007 BTC is about 4.69 USDT on the bid side and 4.70 USDT on the ask side: both below 5 USDT.
        strategy = self.strategy(order_amount="0.00007")

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            accepted = strategy.apply_trading_rules(strategy.create_proposal())

        self.assertEqual([], accepted)
        self.assertEqual(2, sum("is below the minimum notional 5 USDT" in line for line in logs.output), logs.output)

    async def test_orders_meeting_the_rules_are_kept(self):
        strategy = self.strategy(order_amount="0.0001")  # 6.7 USDT per order, above the 1 USDT minimum

        accepted = strategy.apply_trading_rules(strategy.create_proposal())

        self.assertEqual([TradeType.BUY, TradeType.SELL], [candidate.order_side for candidate in accepted])

    # === Budget ===

    async def test_an_order_the_balance_cannot_cover_is_skipped_and_the_other_kept(self):
        self.set_balances(USDT="50")  # the bid needs 0.001 * 66915.90 = 66.92 USDT plus the fee
        strategy = self.strategy(order_amount="0.001")

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            affordable = strategy.apply_budget(strategy.create_proposal())

        self.assertEqual([(TradeType.SELL, Decimal("67184.10"), Decimal("0.001000"))],
                         self.sides_prices_amounts(affordable))
        skipped = [line for line in logs.output if "Skipping the buy order of 0.001000 BTC at 66915.90 USDT" in line]
        self.assertEqual(1, len(skipped), logs.output)
        # 0.001 * 66915.90 = 66.9159 USDT plus the 0.2 % fee (0.1338318 USDT)
        self.assertIn("the available balance does not cover it (needs 67.049732 USDT, 50 available)", skipped[0])

    async def test_the_budget_covers_fees_too(self):
        # Exactly the cost of the bid without its 0.2 % fee: not enough.
        self.set_balances(USDT=str(Decimal("0.001") * Decimal("66915.90")))
        strategy = self.strategy(order_amount="0.001")

        affordable = strategy.apply_budget(strategy.create_proposal())

        self.assertEqual([TradeType.SELL], [candidate.order_side for candidate in affordable])

    async def test_no_quotes_for_a_pair_without_trading_rule(self):
        del self.connector._trading_rules[PAIR]
        strategy = self.strategy()

        with self.assertLogs(STRATEGY_LOGGER, level="WARNING") as logs:
            proposal = strategy.create_proposal()

        self.assertEqual([], proposal)
        self.assertTrue(any("Not quoting BTC-USDT: nonkyc has no trading rule for it." in line for line in logs.output))


class ConnectorWithoutTradingRules(NonkycExchange):
    """Like Hummingbot's paper-trade connectors (`nonkyc_paper_trade`), which have no `trading_rules` attribute."""

    @property
    def trading_rules(self):
        raise AttributeError("paper-trade connectors have no trading rules")
