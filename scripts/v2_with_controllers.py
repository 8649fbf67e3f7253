"""
The generic V2 script that runs controllers: `hbot create|deploy NAME --controller` and `hbot start CONTROLLER.yml`
run every controller through it (the CLI writes a loader config `conf/scripts/<name>.yml` with `script_file_name:
v2_with_controllers.py` and `controllers_config: [<controller config>]`). Hummingbot's release does not ship it;
this one is written for hummingbot 20260922 on `StrategyV2Base`, which already loads the controllers, routes their
executor actions and re-reads their config files every 10 s.

What it adds:
- `markets`: markets to connect besides the controllers' own (for executors created by hand, or to watch prices);
- the controllers' live settings: a changed `is_updatable` field of a controller's file is applied while the bot
  runs (and logged), `manual_kill_switch: true` stops a controller and its executors, `false` starts it again;
- optional drawdown limits (`max_controller_drawdown_quote`, `max_global_drawdown_quote`, in quote units of the
  controllers' P&L): past one, the controller (or all of them) and its executors are stopped, and stay stopped;
- `status` opens with one line per controller (state, P&L, volume) before Hummingbot's own controller report;
- on `stop`, the base stops the controllers first, then their executors (which cancel their orders and close what
  they opened), then the market data feeds.
"""
import os
from decimal import Decimal
from typing import Dict, List, Optional, Set

from pydantic import Field, field_validator

from hummingbot.connector.connector_base import ConnectorBase
from hummingbot.core.data_type.common import MarketDict
from hummingbot.strategy.strategy_v2_base import StrategyV2Base, StrategyV2ConfigBase
from hummingbot.strategy_v2.models.base import RunnableStatus
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction

KILL_SWITCH = "manual kill switch"
DRAWDOWN = "max drawdown"


class V2WithControllersConfig(StrategyV2ConfigBase):
    script_file_name: str = os.path.basename(__file__)
    markets: Dict[str, Set[str]] = Field(
        default={},
        json_schema_extra={"prompt": "Markets to connect besides the controllers' ones, as exchange.pair1,pair2 "
                                     "(e.g. nonkyc.BTC-USDT,ETH-USDT), empty for none: ", "prompt_on_new": False})
    max_global_drawdown_quote: Optional[Decimal] = Field(
        default=None,
        json_schema_extra={"prompt": "Stop every controller when their P&L falls this far below its peak "
                                     "(quote units, empty for no limit): ", "prompt_on_new": False})
    max_controller_drawdown_quote: Optional[Decimal] = Field(
        default=None,
        json_schema_extra={"prompt": "Stop a controller when its P&L falls this far below its peak "
                                     "(quote units, empty for no limit): ", "prompt_on_new": False})

    @field_validator("markets", mode="before")
    @classmethod
    def parse_markets(cls, value):
        if value is None:
            return {}
        return cls.parse_markets_str(value) if isinstance(value, str) else value

    def update_markets(self, markets: MarketDict) -> MarketDict:
        for connector_name, trading_pairs in self.markets.items():
            markets.add_or_update(connector_name, *trading_pairs)
        return markets


class V2WithControllers(StrategyV2Base):

    def __init__(self, connectors: Dict[str, ConnectorBase], config: V2WithControllersConfig):
        super().__init__(connectors, config)
        self.config: V2WithControllersConfig = config
        self.peak_pnl_by_controller: Dict[str, Decimal] = {}
        self.peak_global_pnl = Decimal("0")
        # Why a controller was stopped by this script (kill switch or drawdown); absent while it runs.
        self.stopped_controllers: Dict[str, str] = {}

    # === Controllers' settings and limits ===

    def on_tick(self):
        super().on_tick()
        if self.ready_to_trade and not self._is_stop_triggered:
            self.apply_kill_switches()
            self.apply_drawdown_limits()

    def update_controllers_configs(self):
        """The base re-reads the controllers' files every 10 s and applies their updatable fields; logged here."""
        before = {controller_id: self.updatable_settings(controller.config)
                  for controller_id, controller in self.controllers.items()}
        super().update_controllers_configs()
        for controller_id, controller in self.controllers.items():
            if controller_id not in before:
                self.logger().info(f"Controller {controller_id} added from its configuration file.")
                continue
            after = self.updatable_settings(controller.config)
            changes = [f"{name} {before[controller_id][name]} -> {value}"
                       for name, value in after.items() if before[controller_id][name] != value]
            if changes:
                self.logger().info(f"Controller {controller_id}: applied {', '.join(changes)}.")

    @staticmethod
    def updatable_settings(config) -> Dict[str, object]:
        return {name: getattr(config, name) for name, field in type(config).model_fields.items()
                if (field.json_schema_extra or {}).get("is_updatable", False)}

    def apply_kill_switches(self):
        for controller_id, controller in self.controllers.items():
            kill_switch_on = controller.config.manual_kill_switch
            if kill_switch_on and controller.status == RunnableStatus.RUNNING:
                self.stop_controller(controller_id, KILL_SWITCH)
            elif not kill_switch_on and self.stopped_controllers.get(controller_id) == KILL_SWITCH:
                self.logger().info(f"Controller {controller_id}: manual kill switch off, starting it again.")
                del self.stopped_controllers[controller_id]
                controller.start()

    def apply_drawdown_limits(self):
        pnl_by_controller = {controller_id: self.controller_pnl(controller_id) for controller_id in self.controllers}
        limit = self.config.max_controller_drawdown_quote
        for controller_id, pnl in pnl_by_controller.items():
            peak = max(self.peak_pnl_by_controller.get(controller_id, Decimal("0")), pnl)
            self.peak_pnl_by_controller[controller_id] = peak
            if limit is not None and peak - pnl > limit and controller_id not in self.stopped_controllers:
                self.stop_controller(controller_id, DRAWDOWN,
                                     f"P&L {pnl:.4f} is {peak - pnl:.4f} below its peak {peak:.4f} (limit {limit})")
        global_pnl = sum(pnl_by_controller.values(), Decimal("0"))
        self.peak_global_pnl = max(self.peak_global_pnl, global_pnl)
        global_limit = self.config.max_global_drawdown_quote
        if global_limit is not None and self.peak_global_pnl - global_pnl > global_limit:
            detail = (f"the global P&L {global_pnl:.4f} is {self.peak_global_pnl - global_pnl:.4f} below its peak "
                      f"(limit {global_limit})")
            for controller_id in self.controllers:
                if self.stopped_controllers.get(controller_id) != DRAWDOWN:
                    self.stop_controller(controller_id, DRAWDOWN, detail)

    def controller_pnl(self, controller_id: str) -> Decimal:
        report = self.get_performance_report(controller_id)
        return Decimal(report.global_pnl_quote) if report is not None else Decimal("0")

    def stop_controller(self, controller_id: str, reason: str, detail: str = ""):
        """Stops a controller and every executor it still runs (their orders are cancelled, positions closed)."""
        self.logger().info(f"Stopping controller {controller_id} ({reason}{': ' + detail if detail else ''}).")
        self.stopped_controllers[controller_id] = reason
        self.controllers[controller_id].stop()
        active = self.filter_executors(self.get_executors_by_controller(controller_id),
                                       lambda executor: executor.is_active)
        if active:
            self.executor_orchestrator.execute_actions(
                [StopExecutorAction(controller_id=controller_id, executor_id=executor.id) for executor in active])

    # === The base's proposals: controllers send their own actions ===

    def create_actions_proposal(self) -> List[CreateExecutorAction]:
        return []

    def stop_actions_proposal(self) -> List[StopExecutorAction]:
        return []

    def apply_initial_setting(self):
        """Leverage and position mode of the controllers' perpetual connectors (nothing to do on spot ones)."""
        position_modes = {}
        for controller in self.controllers.values():
            settings = controller.config.model_dump()
            connector_name = settings.get("connector_name")
            if connector_name is None or not self.is_perpetual(connector_name):
                continue
            if "position_mode" in settings:
                position_modes[connector_name] = settings["position_mode"]
            if "leverage" in settings and "trading_pair" in settings:
                self.connectors[connector_name].set_leverage(settings["trading_pair"], settings["leverage"])
        for connector_name, position_mode in position_modes.items():
            self.connectors[connector_name].set_position_mode(position_mode)

    # === Status ===

    def format_status(self) -> str:
        if not self.ready_to_trade:
            return super().format_status()
        lines = ["  Controllers:"]
        for controller_id, controller in self.controllers.items():
            report = self.get_performance_report(controller_id)
            state = self.controller_state(controller_id, controller.status)
            pnl = f"{report.global_pnl_quote:.4f}" if report is not None else "0"
            volume = f"{report.volume_traded:.4f}" if report is not None else "0"
            active = len(self.filter_executors(self.get_executors_by_controller(controller_id),
                                               lambda executor: executor.is_active))
            lines.append(f"    {controller_id} ({controller.config.controller_name}): {state} | active executors "
                         f"{active} | P&L {pnl} | volume {volume}")
        return "\n".join(lines) + "\n" + super().format_status()

    def controller_state(self, controller_id: str, status: RunnableStatus) -> str:
        if controller_id in self.stopped_controllers:
            return f"stopped ({self.stopped_controllers[controller_id]})"
        return "running" if status == RunnableStatus.RUNNING else status.name.lower()
