"""
Market making on one NonKYC pair with fixed spreads: on each side a ladder of limit orders around the mid price, each
run by a position executor (take profit, stop loss, time limit), renewed every `executor_refresh_time` seconds. Its
stop loss and time limit exit with MARKET orders, which the connector emulates on NonKYC markets without them.

    hbot deploy nonkyc_pmm --controller --set trading_pair=BTC-USDT --set total_amount_quote=100
"""
from decimal import Decimal

from pydantic import Field

from hummingbot.core.data_type.common import PositionMode
from hummingbot.strategy_v2.controllers.market_making_controller_base import (
    MarketMakingControllerBase,
    MarketMakingControllerConfigBase,
)
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig


class NonkycPMMConfig(MarketMakingControllerConfigBase):
    controller_name: str = "nonkyc_pmm"
    connector_name: str = Field(
        default="nonkyc",
        json_schema_extra={"prompt": "Enter the connector name (nonkyc, or nonkyc_paper_trade): ",
                           "prompt_on_new": True})
    trading_pair: str = Field(
        default="BTC-USDT",
        json_schema_extra={"prompt": "Enter the trading pair (e.g. BTC-USDT): ", "prompt_on_new": True})
    leverage: int = Field(default=1, json_schema_extra={"prompt": "Leverage (1 on spot markets): "})
    position_mode: PositionMode = Field(default="ONEWAY", json_schema_extra={"prompt": "Position mode: "})
    total_amount_quote: Decimal = Field(
        default=Decimal("100"),
        json_schema_extra={"prompt": "Enter the total amount in quote asset the orders may use (e.g. 100): ",
                           "prompt_on_new": True, "is_updatable": True})


class NonkycPMM(MarketMakingControllerBase):
    """Every level is a position executor opened at the level's price (Hummingbot's market-making base)."""

    def __init__(self, config: NonkycPMMConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config: NonkycPMMConfig = config

    def get_executor_config(self, level_id: str, price: Decimal, amount: Decimal) -> PositionExecutorConfig:
        return PositionExecutorConfig(
            timestamp=self.market_data_provider.time(),
            level_id=level_id,
            connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair,
            entry_price=price,
            amount=amount,
            triple_barrier_config=self.config.triple_barrier_config,
            leverage=self.config.leverage,
            side=self.get_trade_type_from_level_id(level_id),
        )
