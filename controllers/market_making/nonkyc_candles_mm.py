"""
Market making on one NonKYC pair whose spreads follow the pair's volatility, read from NonKYC candles: the spreads
are multiples of the normalized average true range (NATR) of the last `volatility_length` candles, so a volatile
market widens the quotes and a calm one narrows them, within `[min_volatility, max_volatility]`. Everything else
(levels, position executors, refresh, exits) is the NonKYC market-making controller, nonkyc_pmm.

    hbot deploy nonkyc_candles_mm --controller --set trading_pair=BTC-USDT --set total_amount_quote=100 \\
        --set candles_interval=5m --set buy_spreads=1,2 --set sell_spreads=1,2
"""
from decimal import Decimal
from typing import List, Optional

import pandas as pd
from pydantic import Field

from controllers.market_making import nonkyc_pmm
from hummingbot.core.data_type.common import PriceType
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig


def normalized_average_true_range(candles: pd.DataFrame, length: int) -> Optional[float]:
    """
    NATR of the last candle as a fraction of its close (Wilder's smoothing of the true range over `length` candles),
    or None when there are fewer than two candles.
    """
    if len(candles) < 2:
        return None
    high, low, close = (candles[column].astype(float) for column in ("high", "low", "close"))
    previous_close = close.shift(1)
    true_range = pd.concat([high - low, (high - previous_close).abs(), (low - previous_close).abs()],
                           axis=1).max(axis=1).iloc[1:]
    average_true_range = true_range.ewm(alpha=1 / max(length, 1), adjust=False).mean().iloc[-1]
    last_close = close.iloc[-1]
    return float(average_true_range / last_close) if last_close > 0 else None


class NonkycCandlesMMConfig(nonkyc_pmm.NonkycPMMConfig):
    controller_name: str = "nonkyc_candles_mm"
    buy_spreads: List[float] = Field(
        default="1,2",
        json_schema_extra={"prompt": "Buy spreads as multiples of the volatility (NATR), comma-separated (e.g. 1,2): ",
                           "prompt_on_new": True, "is_updatable": True})
    sell_spreads: List[float] = Field(
        default="1,2",
        json_schema_extra={"prompt": "Sell spreads as multiples of the volatility (NATR), comma-separated (e.g. 1,2): ",
                           "prompt_on_new": True, "is_updatable": True})
    candles_connector: Optional[str] = Field(
        default=None,
        json_schema_extra={"prompt": "Connector of the candles (empty: the traded exchange): ",
                           "prompt_on_new": True})
    candles_trading_pair: Optional[str] = Field(
        default=None,
        json_schema_extra={"prompt": "Trading pair of the candles (empty: the traded pair): ", "prompt_on_new": True})
    candles_interval: str = Field(
        default="5m",
        json_schema_extra={"prompt": "Candle interval (NonKYC: 5m, 15m, 30m, 1h, 4h, 8h, 12h, 1d): ",
                           "prompt_on_new": True})
    volatility_length: int = Field(
        default=14, gt=0,
        json_schema_extra={"prompt": "Number of candles the volatility is averaged over (e.g. 14): ",
                           "prompt_on_new": True, "is_updatable": True})
    min_volatility: Decimal = Field(
        default=Decimal("0.001"), ge=0,
        json_schema_extra={"prompt": "Lowest volatility the spreads are computed from (e.g. 0.001 for 0.1 %): ",
                           "prompt_on_new": False, "is_updatable": True})
    max_volatility: Decimal = Field(
        default=Decimal("0.05"), gt=0,
        json_schema_extra={"prompt": "Highest volatility the spreads are computed from (e.g. 0.05 for 5 %): ",
                           "prompt_on_new": False, "is_updatable": True})

    @property
    def candles_connector_name(self) -> str:
        # A paper-trade connector reads the exchange's own (public) candles.
        return self.candles_connector or self.connector_name.replace("_paper_trade", "")

    @property
    def candles_pair(self) -> str:
        return self.candles_trading_pair or self.trading_pair

    @property
    def candles_max_records(self) -> int:
        # The volatility needs `volatility_length` true ranges, hence one more candle; the feed is ready when full.
        return self.volatility_length + 1


class NonkycCandlesMM(nonkyc_pmm.NonkycPMM):

    def __init__(self, config: NonkycCandlesMMConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.config: NonkycCandlesMMConfig = config

    def get_candles_config(self) -> List[CandlesConfig]:
        return [CandlesConfig(connector=self.config.candles_connector_name, trading_pair=self.config.candles_pair,
                              interval=self.config.candles_interval, max_records=self.config.candles_max_records)]

    async def update_processed_data(self):
        candles = self.market_data_provider.get_candles_df(
            self.config.candles_connector_name, self.config.candles_pair, self.config.candles_interval,
            self.config.candles_max_records)
        natr = normalized_average_true_range(candles, self.config.volatility_length)
        volatility = min(max(Decimal(str(natr)) if natr is not None else self.config.min_volatility,
                             self.config.min_volatility), self.config.max_volatility)
        reference_price = self.market_data_provider.get_price_by_type(
            self.config.connector_name, self.config.trading_pair, PriceType.MidPrice)
        self.processed_data = {"reference_price": Decimal(reference_price), "spread_multiplier": volatility,
                               "natr": natr, "candles": len(candles)}

    def to_format_status(self) -> List[str]:
        if "spread_multiplier" not in self.processed_data:
            return ["  Waiting for candles."]
        natr = self.processed_data["natr"]
        volatility = self.processed_data["spread_multiplier"]
        spreads = ", ".join(f"{Decimal(str(spread)) * volatility:.4%}" for spread in self.config.buy_spreads)
        return [f"  Volatility (NATR of {self.processed_data['candles']} {self.config.candles_interval} candles of "
                f"{self.config.candles_connector_name} {self.config.candles_pair}): "
                f"{'n/a' if natr is None else f'{natr:.4%}'}, spreads from {volatility:.4%}",
                f"  Buy spreads: {spreads}"]
