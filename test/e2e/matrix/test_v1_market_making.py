"""
Compatibility matrix, V1 strategies: Hummingbot's `pure_market_making` and `avellaneda_market_making` started from
their YAML configuration through TradingCore against the sandbox.
"""
from decimal import Decimal
from test.e2e.matrix.support import StrategyOnSandboxTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until

from hummingbot.core.data_type.common import OrderType
from hummingbot.core.event.events import OrderCancelledEvent
from nonkyc_sandbox import TraderSettings

PAIR = "BTC-USDT"

PURE_MARKET_MAKING = """
template_version: 24
strategy: pure_market_making
exchange: nonkyc
market: BTC-USDT
bid_spread: 0.05
ask_spread: 0.05
minimum_spread: -100
order_refresh_time: 3
max_order_age: 1800
order_refresh_tolerance_pct: 0
order_amount: 0.001
order_levels: 1
filled_order_delay: 1
inventory_skew_enabled: false
hanging_orders_enabled: false
order_optimization_enabled: false
add_transaction_costs: false
price_source: current_market
price_type: mid_price
take_if_crossed: false
should_wait_order_cancel_confirmation: true
"""

AVELLANEDA_MARKET_MAKING = """
strategy: avellaneda_market_making
exchange: nonkyc
market: BTC-USDT
execution_timeframe_mode: {}
order_amount: 0.001
order_optimization_enabled: false
risk_factor: 1
order_amount_shape_factor: 0
min_spread: 0
order_refresh_time: 3
max_order_age: 1800
order_refresh_tolerance_pct: 0
filled_order_delay: 1
inventory_target_base_pct: 50
add_transaction_costs: false
volatility_buffer_size: 5
trading_intensity_buffer_size: 5
order_levels_mode: {}
hanging_orders_mode: {}
should_wait_order_cancel_confirmation: true
"""


class PureMarketMakingOnSandboxTests(StrategyOnSandboxTestCase):

    async def test_pure_market_making_quotes_limit_maker_orders_refreshes_and_gets_filled(self):
        self.move_mid(PAIR, "67000")
        self.assertTrue(await self.start_v1_strategy(PURE_MARKET_MAKING))
        await self.wait_until_trading()

        # A bid and an ask 0.05 % from the mid (inside the maker's 0.1 %)...
        await wait_until(lambda: len(self.user_orders(PAIR, "active")) == 2, 15, "a bid and an ask")
        self.assertEqual({("buy", "66966.50"), ("sell", "67033.50")},
                         {(order["side"], order["price"]) for order in self.user_orders(PAIR, "active")})
        # ... replaced at the next refresh (3 s) once the mid moved.
        self.move_mid(PAIR, "67100")
        await wait_until(lambda: {order["price"] for order in self.user_orders(PAIR, "active")}
                         == {"67066.45", "67133.55"}, 15, "the quotes around the new mid")
        self.assertEqual(2, len(self.events_of(OrderCancelledEvent)))
        self.assertEqual({"limit"}, {order["type"] for order in self.user_orders(PAIR)})
        self.assertEqual({OrderType.LIMIT_MAKER}, {event.type for event in self.created()})
        bid = next(order for order in self.user_orders(PAIR, "active") if order["side"] == "buy")

        # A taker sells into our bid: one fill, then the strategy quotes again after its filled-order delay.
        self.take(PAIR, "sell", "0.001", bid["price"])
        await wait_until(lambda: self.connector.get_balance("BTC") == Decimal("2.001"), 10, "the bid's fill")
        placed_after_fill = len(self.created())
        await wait_until(lambda: len(self.created()) > placed_after_fill, 15, "new quotes after the fill")
        await self.assert_balances_equal_exchange(("BTC", "USDT"))

        fills = await self.stop_and_check({PAIR})
        self.assertEqual([Decimal("0.001")], [fill[1] for fill in fills])
        self.assertEqual({"Cancelled", "Filled"}, {order["status"] for order in self.user_orders(PAIR)})


class AvellanedaOnSandboxTests(StrategyOnSandboxTestCase):
    # The strategy estimates the book's liquidity from the market's trades at various depths: a lively market, whose
    # taker never sweeps a whole side of the maker's 5 levels (a side left empty has no mid price).
    trader_settings = TraderSettings(interval=0.2, taker_probability=0.5, max_sweep_bps=Decimal("40"))

    async def test_avellaneda_market_making_quotes_and_cancels_on_stop(self):
        self.assertTrue(await self.start_v1_strategy(AVELLANEDA_MARKET_MAKING))
        await self.wait_until_trading()

        # Once it sampled enough prices and trades, a bid and an ask around its reservation price (LIMIT_MAKER).
        await wait_until(lambda: len(self.created()) >= 2, 30, "the strategy's first bid and ask")
        self.assertEqual({OrderType.LIMIT_MAKER}, {event.type for event in self.created()})
        self.assertEqual({"limit"}, {order["type"] for order in self.user_orders(PAIR)})
        await self.assert_balances_equal_exchange(("BTC", "USDT"))

        await self.stop_and_check({PAIR})
