"""
A trend follower on one NonKYC pair, driven by NonKYC candles read through Hummingbot's market data provider: when the
average close of the last `fast_length` candles is above the average of the last `slow_length`, it opens a long
position (a MARKET buy of `order_amount_quote`), run by a position executor that closes it at the take profit, the
stop loss or the time limit (MARKET sells), or when the trend turns down. One position at a time, and none for
`cooldown` seconds after one closed. Spot: long positions only.

    hbot create nonkyc_candles_trend --set trading_pair=NKYC-USDT --set candles_interval=15m
    hbot start conf_nonkyc_candles_trend.yml

On markets without market orders (NonKYC's `allowMarketOrders: false`) the connector sends its MARKET orders as crossing
limit orders whose rest is cancelled at once.
"""
import os
from decimal import Decimal
from typing import Dict, List, Optional

import pandas as pd
from pydantic import Field

from hummingbot.connector.connector_base import ConnectorBase
from hummingbot.core.data_type.common import MarketDict, OrderType, PriceType, TradeType
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy.strategy_v2_base import StrategyV2Base, StrategyV2ConfigBase
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig, TripleBarrierConfig
from hummingbot.strategy_v2.models.executor_actions import CreateExecutorAction, StopExecutorAction

EXECUTORS = "main"  # the controller id of executors created by a script


class NonkycCandlesTrendConfig(StrategyV2ConfigBase):
    script_file_name: str = os.path.basename(__file__)
    connector_name: str = Field(default="nonkyc", json_schema_extra={
        "prompt": "Connector (nonkyc, or nonkyc_paper_trade): ", "prompt_on_new": True})
    trading_pair: str = Field(default="BTC-USDT", json_schema_extra={
        "prompt": "Trading pair (e.g. NKYC-USDT): ", "prompt_on_new": True})
    candles_interval: str = Field(default="5m", json_schema_extra={
        "prompt": "Candle interval (5m, 15m, 30m, 1h, 4h, 8h, 12h, 1d): ", "prompt_on_new": True})
    fast_length: int = Field(default=5, gt=0, json_schema_extra={
        "prompt": "Candles of the fast average (e.g. 5): ", "prompt_on_new": True})
    slow_length: int = Field(default=20, gt=1, json_schema_extra={
        "prompt": "Candles of the slow average (e.g. 20): ", "prompt_on_new": True})
    order_amount_quote: Decimal = Field(default=Decimal("20"), gt=0, json_schema_extra={
        "prompt": "Amount of each position, in the quote asset (e.g. 20): ", "prompt_on_new": True})
    take_profit: Decimal = Field(default=Decimal("0.02"), gt=0, json_schema_extra={
        "prompt": "Take profit (0.02 for 2 %): ", "prompt_on_new": True})
    stop_loss: Decimal = Field(default=Decimal("0.01"), gt=0, json_schema_extra={
        "prompt": "Stop loss (0.01 for 1 %): ", "prompt_on_new": True})
    time_limit: int = Field(default=3600, gt=0, json_schema_extra={
        "prompt": "Time limit of a position, in seconds: ", "prompt_on_new": True})
    cooldown: int = Field(default=300, ge=0, json_schema_extra={
        "prompt": "Seconds without a new position after one closed: ", "prompt_on_new": True})

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)

    @property
    def candles(self) -> CandlesConfig:
        return CandlesConfig(connector=self.connector_name.replace("_paper_trade", ""), trading_pair=self.trading_pair,
                             interval=self.candles_interval, max_records=max(self.slow_length, self.fast_length))


def trend(closes: pd.Series, fast_length: int, slow_length: int) -> Optional[int]:
    """1 when the fast average of the closes is above the slow one, -1 when below, 0 when equal, None without data."""
    if len(closes) < max(fast_length, slow_length):
        return None
    fast, slow = closes.iloc[-fast_length:].mean(), closes.iloc[-slow_length:].mean()
    return 1 if fast > slow else -1 if fast < slow else 0


class NonkycCandlesTrend(StrategyV2Base):

    def __init__(self, connectors: Dict[str, ConnectorBase], config: NonkycCandlesTrendConfig):
        super().__init__(connectors, config)
        self.config: NonkycCandlesTrendConfig = config
        self.market_data_provider.initialize_candles_feed(config.candles)
        self.last_close_timestamp = 0.0

    def candles(self) -> pd.DataFrame:
        candles = self.config.candles
        return self.market_data_provider.get_candles_df(candles.connector, candles.trading_pair, candles.interval,
                                                        candles.max_records)

    def signal(self) -> Optional[int]:
        return trend(self.candles()["close"], self.config.fast_length, self.config.slow_length)

    def executors(self):
        return self.get_executors_by_controller(EXECUTORS)

    def on_tick(self):
        self.update_executors_info()
        if not self.market_data_provider.ready or self._is_stop_triggered:
            return
        for executor in self.executors():
            if executor.is_done and executor.close_timestamp:
                self.last_close_timestamp = max(self.last_close_timestamp, executor.close_timestamp)
        self.executor_orchestrator.execute_actions(self.create_actions_proposal() + self.stop_actions_proposal())

    def create_actions_proposal(self) -> List[CreateExecutorAction]:
        # Not `is_active`: a position that is closing (its exit order not yet filled) is neither active nor done.
        if any(not executor.is_done for executor in self.executors()) or self.signal() != 1 \
                or self.current_timestamp < self.last_close_timestamp + self.config.cooldown:
            return []
        price = self.market_data_provider.get_price_by_type(self.config.connector_name, self.config.trading_pair,
                                                            PriceType.MidPrice)
        config = PositionExecutorConfig(
            timestamp=self.current_timestamp, connector_name=self.config.connector_name,
            trading_pair=self.config.trading_pair, side=TradeType.BUY, entry_price=price,
            amount=self.config.order_amount_quote / price,
            triple_barrier_config=TripleBarrierConfig(
                take_profit=self.config.take_profit, stop_loss=self.config.stop_loss,
                time_limit=self.config.time_limit, open_order_type=OrderType.MARKET))
        self.logger().info(f"Uptrend on the {self.config.candles_interval} candles of {self.config.trading_pair}: "
                           f"buying {config.amount:.8f} at about {price}.")
        return [CreateExecutorAction(controller_id=EXECUTORS, executor_config=config)]

    def stop_actions_proposal(self) -> List[StopExecutorAction]:
        if self.signal() != -1:
            return []
        return [StopExecutorAction(controller_id=EXECUTORS, executor_id=executor.id)
                for executor in self.executors() if executor.is_active and executor.is_trading]

    def format_status(self) -> str:
        if not self.ready_to_trade or not self.market_data_provider.ready:
            return "Waiting for the connector and the candles."
        candles = self.candles()
        signal = {1: "up", -1: "down", 0: "flat", None: "n/a"}[self.signal()]
        lines = [super().format_status(), "", f"  Trend of the {self.config.candles_interval} candles: {signal} "
                 f"(fast {self.config.fast_length}, slow {self.config.slow_length})",
                 "  " + candles.tail(3)[["timestamp", "open", "high", "low", "close", "volume"]]
                 .to_string(index=False).replace("\n", "\n  ")]
        for executor in self.executors():
            lines.append(f"  Position {executor.id[:8]}: {executor.status.name} {executor.close_type or ''} "
                         f"P&L {executor.net_pnl_quote:.4f}")
        return "\n".join(lines)
