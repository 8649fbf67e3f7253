"""
scripts/v2_with_controllers.py on a real NonkycExchange that is not connected: controllers whose state, settings and
performance the test sets, and an executor orchestrator that records the actions it is given.
"""
import asyncio
from decimal import Decimal
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List
from unittest.mock import MagicMock, patch

from controllers.market_making.nonkyc_pmm import NonkycPMMConfig
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import MarketDict, TradeType
from hummingbot.strategy_v2.controllers.controller_base import ControllerBase
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executor_actions import StopExecutorAction
from hummingbot.strategy_v2.models.executors_info import ExecutorInfo, PerformanceReport
from scripts.v2_with_controllers import DRAWDOWN, KILL_SWITCH, V2WithControllers, V2WithControllersConfig

PAIR = "BTC-USDT"
STRATEGY_LOGGER = "hummingbot.strategy.strategy_v2_base"


class Controller:
    """A controller as the script sees it: its config, its status, start and stop."""

    update_config = ControllerBase.update_config

    def __init__(self, config: NonkycPMMConfig):
        self.config = config
        self.status = RunnableStatus.RUNNING

    def stop(self):
        self.status = RunnableStatus.TERMINATED

    def start(self):
        self.status = RunnableStatus.RUNNING

    def to_format_status(self) -> List[str]:
        return []


def Executor(executor_id: str, is_active: bool) -> ExecutorInfo:
    """An executor of a controller's report: an order executor, running or done."""
    return ExecutorInfo(
        id=executor_id, timestamp=1000.0, type="order_executor",
        status=RunnableStatus.RUNNING if is_active else RunnableStatus.TERMINATED,
        config=OrderExecutorConfig(id=executor_id, timestamp=1000.0, connector_name="nonkyc", trading_pair=PAIR,
                                   side=TradeType.BUY, amount=Decimal("0.001"), price=Decimal("60000"),
                                   execution_strategy=ExecutionStrategy.LIMIT),
        net_pnl_pct=Decimal(0), net_pnl_quote=Decimal(0), cum_fees_quote=Decimal(0), filled_amount_quote=Decimal(0),
        is_active=is_active, is_trading=False, custom_info={})


class V2WithControllersTests(IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.connector = NonkycExchange("key", "secret", trading_pairs=[PAIR])
        self.strategies: List[V2WithControllers] = []

    async def asyncTearDown(self):
        for strategy in self.strategies:
            strategy.listen_to_executor_actions_task.cancel()
        await asyncio.sleep(0)
        await super().asyncTearDown()

    def strategy(self, **config) -> V2WithControllers:
        config = V2WithControllersConfig(markets=f"nonkyc.{PAIR}", **config)
        V2WithControllers.init_markets(config)
        with patch("hummingbot.strategy_v2.executors.executor_orchestrator.MarketsRecorder") as recorder:
            recorder.get_instance.return_value.get_all_executors.return_value = []
            recorder.get_instance.return_value.get_all_positions.return_value = []
            strategy = V2WithControllers({"nonkyc": self.connector}, config)
        strategy.executor_orchestrator = MagicMock()
        self.strategies.append(strategy)
        return strategy

    def add_controller(self, strategy: V2WithControllers, controller_id: str, **settings) -> Controller:
        controller = Controller(NonkycPMMConfig(id=controller_id, **settings))
        strategy.controllers[controller_id] = controller
        self.report(strategy, controller_id, pnl="0")
        return controller

    @staticmethod
    def report(strategy: V2WithControllers, controller_id: str, pnl: str, executors=()):
        strategy.controller_reports[controller_id] = {
            "executors": list(executors), "positions": [],
            "performance": PerformanceReport(global_pnl_quote=Decimal(pnl), volume_traded=Decimal("250"))}

    def stopped_executors(self, strategy: V2WithControllers) -> List[str]:
        return [action.executor_id for call in strategy.executor_orchestrator.execute_actions.call_args_list
                for action in call.args[0] if isinstance(action, StopExecutorAction)]

    # === Tests ===

    def test_markets_of_the_config_are_connected_besides_the_controllers(self):
        config = V2WithControllersConfig(markets="nonkyc.BTC-USDT,NKYC-USDT:nonkyc_paper_trade.ETH-USDT")

        self.assertEqual({"nonkyc": {"BTC-USDT", "NKYC-USDT"}, "nonkyc_paper_trade": {"ETH-USDT"}},
                         dict(config.update_markets(MarketDict())))
        self.assertEqual({}, V2WithControllersConfig(markets=None).markets)

    async def test_the_manual_kill_switch_stops_a_controller_and_its_executors_and_its_release_restarts_it(self):
        strategy = self.strategy()
        controller = self.add_controller(strategy, "pmm")
        self.report(strategy, "pmm", pnl="0", executors=[Executor("active", True), Executor("done", False)])

        controller.config = controller.config.model_copy(update={"manual_kill_switch": True})
        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            strategy.apply_kill_switches()
        strategy.apply_kill_switches()

        self.assertEqual(RunnableStatus.TERMINATED, controller.status)
        self.assertEqual(["active"], self.stopped_executors(strategy))
        self.assertEqual({"pmm": KILL_SWITCH}, strategy.stopped_controllers)
        self.assertIn("Stopping controller pmm (manual kill switch).", logs.output[0])

        controller.config = controller.config.model_copy(update={"manual_kill_switch": False})
        strategy.apply_kill_switches()

        self.assertEqual(RunnableStatus.RUNNING, controller.status)
        self.assertEqual({}, strategy.stopped_controllers)

    async def test_a_controller_past_its_drawdown_limit_is_stopped_and_stays_stopped(self):
        strategy = self.strategy(max_controller_drawdown_quote=Decimal("3"))
        losing = self.add_controller(strategy, "losing")
        steady = self.add_controller(strategy, "steady")
        for pnl in ("5", "2.5"):
            self.report(strategy, "losing", pnl=pnl, executors=[Executor("open", True)])
            strategy.apply_drawdown_limits()
        self.assertEqual(RunnableStatus.RUNNING, losing.status)

        self.report(strategy, "losing", pnl="1.9", executors=[Executor("open", True)])
        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            strategy.apply_drawdown_limits()
        strategy.apply_kill_switches()

        self.assertEqual((RunnableStatus.TERMINATED, RunnableStatus.RUNNING), (losing.status, steady.status))
        self.assertEqual(["open"], self.stopped_executors(strategy))
        self.assertIn("Stopping controller losing (max drawdown: P&L 1.9000 is 3.1000 below its peak 5.0000 (limit 3))",
                      logs.output[0])

    async def test_the_global_drawdown_limit_stops_every_controller(self):
        strategy = self.strategy(max_global_drawdown_quote=Decimal("4"))
        controllers = [self.add_controller(strategy, name) for name in ("a", "b")]
        self.report(strategy, "a", pnl="6")
        strategy.apply_drawdown_limits()

        self.report(strategy, "a", pnl="1")
        self.report(strategy, "b", pnl="0.5")
        strategy.apply_drawdown_limits()

        self.assertEqual({"a": DRAWDOWN, "b": DRAWDOWN}, strategy.stopped_controllers)
        self.assertEqual({RunnableStatus.TERMINATED}, {controller.status for controller in controllers})

    async def test_updatable_settings_changed_in_the_controller_file_are_applied_and_logged(self):
        strategy = self.strategy()
        controller = self.add_controller(strategy, "pmm", total_amount_quote=Decimal("200"), leverage=1)
        edited = NonkycPMMConfig(id="pmm", total_amount_quote=Decimal("100"), leverage=5)
        strategy._set_current_timestamp(1000.0)

        with patch.object(V2WithControllersConfig, "load_controller_configs", return_value=[edited]), \
                self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            strategy.update_controllers_configs()

        self.assertEqual((Decimal("100"), 1), (controller.config.total_amount_quote, controller.config.leverage))
        self.assertEqual(["INFO:hummingbot.strategy.strategy_v2_base:Controller pmm: applied total_amount_quote "
                          "200 -> 100."], logs.output)

    async def test_status_opens_with_each_controllers_state_and_performance(self):
        strategy = self.strategy()
        self.add_controller(strategy, "pmm")
        self.add_controller(strategy, "killed")
        self.report(strategy, "pmm", pnl="1.23456", executors=[Executor("e1", True), Executor("e2", False)])
        strategy.stopped_controllers["killed"] = KILL_SWITCH
        strategy.ready_to_trade = True

        status = strategy.format_status()

        self.assertTrue(status.startswith(
            "  Controllers:\n"
            "    pmm (nonkyc_pmm): running | active executors 1 | P&L 1.2346 | volume 250.0000\n"
            "    killed (nonkyc_pmm): stopped (manual kill switch) | active executors 0 | P&L 0.0000 | "
            "volume 250.0000\n"
        ), status)
        self.assertIn("PERFORMANCE SUMMARY", status)
