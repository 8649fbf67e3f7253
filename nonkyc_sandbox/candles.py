"""
The sandbox's candles: OHLCV of every market at every NonKYC resolution, built from the engine's trades (and from past
trades added for tests and demos). REST `GET /market/candles` (`rest.py`) and the WebSocket `subscribeCandles`
(`ws.py`) serve them.

Two things NonKYC does not document are switchable here, so that a client can be tested against each variant:
- `time_unit`: the unit of a REST bar's `time`, `"ms"` or `"s"`;
- `ws_shape`: the shape of the WebSocket candle notifications, one of `WS_SHAPES`.
"""
import bisect
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, List, Optional, Tuple

from nonkyc_sandbox.markets import MarketSpec

RESOLUTIONS = (5, 15, 30, 60, 180, 240, 480, 720, 1440)  # minutes
TIME_UNITS = ("ms", "s")
# The candle notifications /work/shared/nonkyc-api.md allows (`snapshotCandles` / `updateCandles`, params `symbol`,
# `period` and the candles under `data`): "sources show both low/high and min/max"; the docs name `timestamp`, a live
# report an ISO `datetime`.
WS_SHAPES = (
    "min_max_timestamp",  # HitBTC style: min / max, `timestamp` as an ISO string, values as strings
    "high_low_timestamp_ms",  # high / low, `timestamp` in integer milliseconds
    "min_max_datetime",  # min / max, `datetime` as an ISO string
)
MAX_BARS_PER_REQUEST = 500
BARS_KEPT = 5000  # per market and resolution; the oldest are forgotten first
HISTORY_TRADE_SPACING_MS = 60_000  # one past trade a minute in a generated history
HISTORY_VOLATILITY = 0.002  # standard deviation of a generated history's price steps


@dataclass
class Bar:
    start: int  # seconds
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)

    @classmethod
    def first(cls, start: int, price: Decimal, quantity: Decimal) -> "Bar":
        return cls(start, price, price, price, price, quantity)

    def add(self, price: Decimal, quantity: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += quantity


class _Series:
    """The bars of one market at one resolution, by start time."""

    def __init__(self):
        self.starts: List[int] = []
        self.bars: Dict[int, Bar] = {}


class CandleHistory:
    def __init__(self, markets: Dict[str, MarketSpec], time_unit: str = "ms", ws_shape: str = WS_SHAPES[0],
                 max_bars_per_request: int = MAX_BARS_PER_REQUEST, bars_kept: int = BARS_KEPT):
        self.markets = markets
        self.max_bars_per_request = max_bars_per_request
        self.bars_kept = bars_kept
        self.set_time_unit(time_unit)
        self.set_ws_shape(ws_shape)
        self._series: Dict[Tuple[str, int], _Series] = {
            (symbol, resolution): _Series() for symbol in markets for resolution in RESOLUTIONS}

    def set_time_unit(self, unit: str) -> None:
        """The unit of a REST bar's `time`: "ms" or "s"."""
        if unit not in TIME_UNITS:
            raise ValueError(f"candle time unit must be one of {TIME_UNITS}")
        self.time_unit = unit

    def set_ws_shape(self, shape: str) -> None:
        """The shape of the WebSocket candle notifications, one of WS_SHAPES."""
        if shape not in WS_SHAPES:
            raise ValueError(f"candle WebSocket shape must be one of {WS_SHAPES}")
        self.ws_shape = shape

    # ----- recording -----

    def record(self, symbol: str, timestamp_ms: int, price: Decimal, quantity: Decimal) -> None:
        """A trade of `symbol` goes into its bar of every resolution."""
        seconds = int(timestamp_ms) // 1000
        for resolution in RESOLUTIONS:
            series = self._series[(symbol, resolution)]
            start = seconds - seconds % (resolution * 60)
            bar = series.bars.get(start)
            if bar is not None:
                bar.add(price, quantity)
                continue
            series.bars[start] = Bar.first(start, price, quantity)
            bisect.insort(series.starts, start)
            if len(series.starts) > self.bars_kept:
                del series.bars[series.starts.pop(0)]

    def generate_history(self, symbol: str, hours: float, end_ms: int, end_price: Decimal,
                         rng: random.Random) -> int:
        """
        Past trades of `symbol`, one a minute over `hours` before `end_ms`: a seeded random walk ending at `end_price`.
        Returns how many were recorded.
        """
        market = self.markets[symbol]
        count = int(hours * 3600_000 / HISTORY_TRADE_SPACING_MS)
        price = float(end_price)
        for index in range(count):
            timestamp = end_ms - HISTORY_TRADE_SPACING_MS * (index + 1)
            price *= 1 + rng.gauss(0, HISTORY_VOLATILITY)
            quantity = market.minimum_quantity * rng.randint(1, 50)
            self.record(symbol, timestamp, market.truncate_price(Decimal(str(price))) or market.price_step, quantity)
        return count

    # ----- queries -----

    def bars(self, symbol: str, resolution: int, start: Optional[int], end: Optional[int], count: int) -> List[Bar]:
        """The newest `count` bars (at most `max_bars_per_request`) starting in [start, end), oldest first."""
        series = self._series[(symbol, resolution)]
        low = 0 if start is None else bisect.bisect_left(series.starts, start)
        high = len(series.starts) if end is None else bisect.bisect_left(series.starts, end)
        count = min(count, self.max_bars_per_request)
        low = max(low, high - count)
        return [series.bars[bar_start] for bar_start in series.starts[low:high]] if count > 0 else []

    def latest_start_before(self, symbol: str, resolution: int, end: Optional[int]) -> Optional[int]:
        """The start of the newest bar before `end` (UDF's `nextTime` of an empty answer)."""
        series = self._series[(symbol, resolution)]
        index = len(series.starts) if end is None else bisect.bisect_left(series.starts, end)
        return series.starts[index - 1] if index > 0 else None

    def bar_at(self, symbol: str, resolution: int, timestamp_ms: int) -> Optional[Bar]:
        seconds = int(timestamp_ms) // 1000
        return self._series[(symbol, resolution)].bars.get(seconds - seconds % (resolution * 60))
