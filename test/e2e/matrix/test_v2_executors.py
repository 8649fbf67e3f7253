"""
Compatibility matrix, V2 executors: Hummingbot's executors created through the executor orchestrator of a running V2
script (scripts/v2_with_controllers.py, connected to the markets of the row) against the sandbox. BTC-USDT accepts
market orders; NKYC-USDT does not (`allowMarketOrders: false`), so the executors' MARKET orders there are the
connector's emulation (a crossing limit order whose rest is cancelled).
"""
from decimal import Decimal
from test.e2e.matrix.support import StrategyOnSandboxTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict, List

from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.event.events import OrderFilledEvent
from hummingbot.strategy_v2.executors.data_types import ExecutorConfigBase
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig, DCAMode
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import (
    ExecutionStrategy,
    LimitChaserConfig,
    OrderExecutorConfig,
)
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig, TripleBarrierConfig
from hummingbot.strategy_v2.executors.twap_executor.data_types import TWAPExecutorConfig, TWAPMode
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction
from hummingbot.strategy_v2.models.executors import CloseType

BTC = "BTC-USDT"
NKYC = "NKYC-USDT"
CONTROLLER = "matrix"
SCRIPT = "v2_with_controllers"


class ExecutorsOnSandboxTests(StrategyOnSandboxTestCase):

    async def start_executors_bot(self, *trading_pairs: str):
        mids = {"BTC-USDT": Decimal("67000"), "NKYC-USDT": Decimal("0.8500")}
        for trading_pair, mid in mids.items():
            self.move_mid(trading_pair, str(mid))
        markets = f"nonkyc.{','.join(trading_pairs)}"
        self.assertTrue(await self.start_script(SCRIPT, {"script_file_name": f"{SCRIPT}.py", "markets": markets}))
        await self.wait_until_trading()
        await wait_until(lambda: self.strategy.ready_to_trade, 10, "the strategy to be ready", interval=0.05)
        # Executors price from the local book: it must show the quotes around the mid set above (the sandbox starts
        # elsewhere), or a maker order priced from a stale book can cross the real one.
        for trading_pair in trading_pairs:
            await self.wait_for_book(trading_pair, best_bid_below=mids[trading_pair],
                                     best_bid_above=mids[trading_pair] * Decimal("0.99"))

    def launch(self, config: ExecutorConfigBase) -> str:
        """Creates an executor as a controller's CreateExecutorAction does (its time is the strategy's clock)."""
        config.controller_id = CONTROLLER
        config.timestamp = self.strategy.current_timestamp
        self.strategy.executor_orchestrator.execute_action(
            CreateExecutorAction(controller_id=CONTROLLER, executor_config=config))
        return config.id

    def executor(self, executor_id: str):
        return next(executor for executor in self.strategy.executor_orchestrator.active_executors[CONTROLLER]
                    if executor.config.id == executor_id)

    async def wait_closed(self, executor_id: str, close_type: CloseType, timeout: float = 20):
        executor = self.executor(executor_id)
        await wait_until(lambda: executor.status == RunnableStatus.TERMINATED, timeout,
                         lambda: f"executor {executor_id} to close with {close_type} (status {executor.status}, "
                                 f"close type {executor.close_type})", interval=0.05)
        self.assertEqual(close_type, executor.close_type)

    def order_types_filled(self, trading_pair: str) -> Dict[str, OrderType]:
        return {event.order_id: event.order_type for event in self.events_of(OrderFilledEvent)
                if event.trading_pair == trading_pair}

    def exchange_order_types(self, trading_pair: str) -> List[str]:
        return sorted({order["type"] for order in self.user_orders(trading_pair)})

    # === Order executor ===

    async def test_order_executor_limit_market_and_limit_chaser(self):
        await self.start_executors_bot(BTC)
        # MARKET: a market buy, filled at once.
        market = self.launch(OrderExecutorConfig(connector_name="nonkyc", trading_pair=BTC, side=TradeType.BUY,
                                                 amount=Decimal("0.001"), execution_strategy=ExecutionStrategy.MARKET))
        await self.wait_closed(market, CloseType.POSITION_HOLD)

        # LIMIT: a buy resting at 66900 (below the best bid) until the price falls to it.
        limit = self.launch(OrderExecutorConfig(connector_name="nonkyc", trading_pair=BTC, side=TradeType.BUY,
                                                amount=Decimal("0.001"), price=Decimal("66900"),
                                                execution_strategy=ExecutionStrategy.LIMIT))
        await wait_until(lambda: [order["price"] for order in self.user_orders(BTC, "active")] == ["66900.00"], 10,
                         "the limit buy on the book")
        self.move_mid(BTC, "66800")  # the maker's new asks reach down to our bid
        await self.wait_closed(limit, CloseType.POSITION_HOLD)

        # LIMIT_CHASER: a sell 0.1 % above the best ask, replaced when the ask moves 0.2 % away, until filled.
        chaser = self.launch(OrderExecutorConfig(
            connector_name="nonkyc", trading_pair=BTC, side=TradeType.SELL, amount=Decimal("0.001"),
            execution_strategy=ExecutionStrategy.LIMIT_CHASER,
            chaser_config=LimitChaserConfig(distance=Decimal("0.001"), refresh_threshold=Decimal("0.002"))))
        await wait_until(lambda: len(self.user_orders(BTC, "active")) == 1, 10, "the chaser's first sell")
        first_sell = self.user_orders(BTC, "active")[0]
        self.move_mid(BTC, "66500")
        await wait_until(lambda: [order["id"] for order in self.user_orders(BTC, "active")]
                         not in ([], [first_sell["id"]]), 15, "the chaser to replace its sell")
        second_sell = self.user_orders(BTC, "active")[0]
        self.assertLess(Decimal(second_sell["price"]), Decimal(first_sell["price"]))
        self.move_mid(BTC, "66700")  # the maker's new bids reach up to our ask
        await self.wait_closed(chaser, CloseType.POSITION_HOLD)

        self.assertEqual({OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT_MAKER},
                         set(self.order_types_filled(BTC).values()))
        statuses = {order["id"]: order["status"] for order in self.user_orders(BTC)}
        self.assertEqual(("Cancelled", "Filled"), (statuses[first_sell["id"]], statuses[second_sell["id"]]))
        await self.assert_balances_equal_exchange(("BTC", "USDT"))
        await self.stop_and_check({BTC})

    # === Position executor ===

    def position(self, trading_pair: str, amount: str, entry: str, **barriers) -> PositionExecutorConfig:
        return PositionExecutorConfig(connector_name="nonkyc", trading_pair=trading_pair, side=TradeType.BUY,
                                      amount=Decimal(amount), entry_price=Decimal(entry),
                                      triple_barrier_config=TripleBarrierConfig(**barriers))

    async def test_position_executor_take_profit_stop_loss_and_time_limit_with_and_without_market_orders(self):
        await self.start_executors_bot(BTC, NKYC)
        # Each market: three long positions opened by a limit buy that crosses the book (filled at once), then closed
        # by a MARKET sell: at the time limit (4 s), at the take profit (+1.5 %), at the stop loss (-1.5 %).
        wide = Decimal("0.1")
        executors = {}
        for pair, amount, entry in ((BTC, "0.001", "67200"), (NKYC, "20", "0.8550")):
            executors[pair] = {
                CloseType.TIME_LIMIT: self.launch(
                    self.position(pair, amount, entry, time_limit=4, take_profit=wide, stop_loss=wide)),
                CloseType.TAKE_PROFIT: self.launch(
                    self.position(pair, amount, entry, take_profit=Decimal("0.015"), stop_loss=wide)),
                CloseType.STOP_LOSS: self.launch(
                    self.position(pair, amount, entry, take_profit=wide, stop_loss=Decimal("0.015"))),
            }
        for pair in (BTC, NKYC):
            await self.wait_closed(executors[pair][CloseType.TIME_LIMIT], CloseType.TIME_LIMIT)

        self.move_mid(BTC, "68700")
        self.move_mid(NKYC, "0.8750")
        for pair in (BTC, NKYC):
            await self.wait_closed(executors[pair][CloseType.TAKE_PROFIT], CloseType.TAKE_PROFIT)
        self.move_mid(BTC, "65600")
        self.move_mid(NKYC, "0.8300")
        for pair in (BTC, NKYC):
            await self.wait_closed(executors[pair][CloseType.STOP_LOSS], CloseType.STOP_LOSS)

        for pair in (BTC, NKYC):
            # 3 opening limit buys and 3 closing market sells, each filled in full.
            order_types = list(self.order_types_filled(pair).values())
            self.assertEqual(3, order_types.count(OrderType.LIMIT), pair)
            self.assertEqual(3, order_types.count(OrderType.MARKET), pair)
        self.assertEqual(["limit", "market"], self.exchange_order_types(BTC))
        self.assertEqual(["limit"], self.exchange_order_types(NKYC))  # the emulation: no market order reached it
        await self.assert_balances_equal_exchange(("BTC", "NKYC", "USDT"))
        self.assertEqual((Decimal("2"), Decimal("100000")),
                         (self.connector.get_balance("BTC"), self.connector.get_balance("NKYC")))
        await self.stop_and_check({BTC, NKYC})

    # === Grid executor ===

    async def test_grid_executor_places_its_levels_takes_profit_on_fills_and_closes_on_stop(self):
        await self.start_executors_bot(BTC)
        # 5 levels from 66100 to 67200 (around the mid, 67000), about 60 USDT each, at most 3 buys open at a time.
        # Without max_orders_per_batch the grid's first batch is every level: max_open_orders only gates later ones.
        grid = self.launch(GridExecutorConfig(
            connector_name="nonkyc", trading_pair=BTC, side=TradeType.BUY, start_price=Decimal("66100"),
            end_price=Decimal("67200"), limit_price=Decimal("65000"), total_amount_quote=Decimal("300"),
            min_order_amount_quote=Decimal("50"), max_open_orders=3, max_orders_per_batch=3, leverage=1,
            triple_barrier_config=TripleBarrierConfig(take_profit=Decimal("0.002"),
                                                      open_order_type=OrderType.LIMIT_MAKER,
                                                      take_profit_order_type=OrderType.LIMIT_MAKER)))
        await wait_until(lambda: len(self.user_orders(BTC, "active")) == 3, 15, "three grid buys")
        best_bid = Decimal("66933.00")
        buys = self.user_orders(BTC, "active")
        self.assertEqual({"buy"}, {order["side"] for order in buys})
        self.assertTrue(all(Decimal(order["price"]) <= best_bid for order in buys), buys)

        # The price falls 300 USDT: the maker's new asks fill the two buys closest to the mid; each filled level gets
        # its take profit, a sell 0.2 % above the level.
        self.move_mid(BTC, "66700")
        await wait_until(lambda: len([order for order in self.user_orders(BTC, "active") if order["side"] == "sell"])
                         == 2, 15, "two take profits")
        take_profits = sorted(Decimal(order["price"]) for order in self.user_orders(BTC, "active")
                              if order["side"] == "sell")
        self.assertEqual([Decimal("67058.85"), Decimal("67334.40")], take_profits)
        self.assertEqual({OrderType.LIMIT_MAKER}, {event.type for event in self.created()})
        await self.assert_balances_equal_exchange(("BTC", "USDT"))

        # The stop cancels the grid's orders and sells what it bought with a market order.
        executor = self.executor(grid)
        await self.stop_and_check({BTC})
        self.assertEqual(CloseType.EARLY_STOP, executor.close_type)
        fills = self.events_of(OrderFilledEvent)
        self.assertEqual({OrderType.MARKET}, {fill.order_type for fill in fills if fill.trade_type is TradeType.SELL})
        bought, sold = (sum(fill.amount for fill in fills if fill.trade_type is side)
                        for side in (TradeType.BUY, TradeType.SELL))
        self.assertEqual((Decimal("2"), bought), (self.sandbox.balances("user")["BTC"]["total"], sold))

    # === DCA executor ===

    async def test_dca_executor_buys_its_levels_and_takes_profit_with_an_emulated_market_sell(self):
        await self.start_executors_bot(NKYC)
        dca = self.launch(DCAExecutorConfig(connector_name="nonkyc", trading_pair=NKYC, side=TradeType.BUY,
                                            amounts_quote=[Decimal("10"), Decimal("10")],
                                            prices=[Decimal("0.8450"), Decimal("0.8400")],
                                            take_profit=Decimal("0.01"), stop_loss=Decimal("0.1"),
                                            mode=DCAMode.MAKER))

        await wait_until(lambda: len(self.user_orders(NKYC, "active")) == 2, 15, "the two DCA buys")
        self.assertEqual({"0.8450", "0.8400"}, {order["price"] for order in self.user_orders(NKYC, "active")})
        self.move_mid(NKYC, "0.8440")  # the maker's new asks fill the first level
        await wait_until(lambda: self.executor(dca).get_custom_info().get("current_position_average_price"), 10,
                         "the first level's fill")
        self.move_mid(NKYC, "0.8700")
        await self.wait_closed(dca, CloseType.TAKE_PROFIT)

        self.assertEqual([OrderType.LIMIT, OrderType.MARKET],
                         sorted(self.order_types_filled(NKYC).values(), key=lambda order_type: order_type.name))
        self.assertEqual(["limit"], self.exchange_order_types(NKYC))
        await self.assert_balances_equal_exchange(("NKYC", "USDT"))
        await self.stop_and_check({NKYC})

    # === TWAP executor ===

    async def test_twap_executor_buys_in_equal_slices_with_emulated_market_orders(self):
        await self.start_executors_bot(NKYC)
        twap = self.launch(TWAPExecutorConfig(connector_name="nonkyc", trading_pair=NKYC, side=TradeType.BUY,
                                              total_amount_quote=Decimal("30"), total_duration=4, order_interval=2,
                                              mode=TWAPMode.TAKER))

        await self.wait_closed(twap, CloseType.COMPLETED, timeout=30)

        # 3 slices of 10 USDT, each a MARKET order for the strategy and a crossing limit order on NonKYC.
        self.assertEqual([OrderType.MARKET] * 3, list(self.order_types_filled(NKYC).values()))
        self.assertEqual(3, len(self.user_orders(NKYC)))
        self.assertEqual(["limit"], self.exchange_order_types(NKYC))
        await self.assert_balances_equal_exchange(("NKYC", "USDT"))
        await self.stop_and_check({NKYC})
