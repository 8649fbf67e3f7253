"""
The NonKYC candle shapes the feed reads, as CandlesBase rows. Each names its evidence in /work/shared/nonkyc-api.md;
the first run of `scripts/live_api/public_smoke.py` with network access prints the shape the exchange sends.
"""
import math
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from hummingbot.connector.exchange.nonkyc.nonkyc_utils import describe, timestamp_seconds
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.candle_series import Row

# REST `/market/candles`: the API table gives `{bars: [{time, open, high, low, close, volume}], meta}`, the unit of
# `time` undocumented (seconds and milliseconds are read).
REST_TIME_KEYS, REST_HIGH_KEYS, REST_LOW_KEYS = ("time",), ("high",), ("low",)
# WebSocket `snapshotCandles` / `updateCandles`: "sources show both low/high and min/max"; the docs name `timestamp`
# (ms or ISO, as every WS timestamp) and a live report an ISO `datetime`. The candles are read from `params.data`, a
# list: the layout of the sibling trades notifications (the candles section names none).
WS_TIME_KEYS, WS_HIGH_KEYS, WS_LOW_KEYS = ("timestamp", "datetime"), ("high", "max"), ("low", "min")


def rest_bars(answer: Any) -> List[Any]:
    """The bars of a `/market/candles` answer (none when it has no `bars`)."""
    bars = answer.get("bars", []) if isinstance(answer, dict) else None
    if not isinstance(bars, list):
        raise ValueError(f"unexpected /market/candles answer: {describe(answer)}")
    return bars


def rest_next_time(answer: Any) -> Optional[float]:
    """
    The latest candle before an empty page, in seconds, when the answer names it. The file gives `meta: {}` without its
    fields: `meta.nextTime` is TradingView UDF's, whose `from`, `to` and `countBack` the endpoint takes.
    """
    meta = answer.get("meta") if isinstance(answer, dict) else None
    next_time = meta.get("nextTime") if isinstance(meta, dict) else None
    return None if next_time is None else candle_time_seconds(next_time)


def notification_candles(params: Any) -> Optional[List[Any]]:
    """The candles of a WebSocket notification's params; None when they hold no `data` list."""
    candles = params.get("data") if isinstance(params, dict) else None
    return candles if isinstance(candles, list) else None


def rest_bar_row(bar: Any) -> Row:
    return _candle_row(bar, REST_TIME_KEYS, REST_HIGH_KEYS, REST_LOW_KEYS)


def ws_candle_row(candle: Any) -> Row:
    return _candle_row(candle, WS_TIME_KEYS, WS_HIGH_KEYS, WS_LOW_KEYS)


def candle_time_seconds(value: Any) -> float:
    """A candle time in seconds: seconds or milliseconds (a number or a numeric string), or an ISO-8601 string."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"no candle time ({value!r})")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            seconds = timestamp_seconds(value)
            if seconds is None:
                raise ValueError(f"unreadable candle time {value!r}")
            return seconds
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"unreadable candle time {value!r}")
    return float(CandlesBase.ensure_timestamp_in_seconds(number))


def _candle_row(entry: Any, time_keys: Tuple[str, ...], high_keys: Tuple[str, ...],
                low_keys: Tuple[str, ...]) -> Row:
    """The API names no quote volume, trade count nor taker volume: those columns are 0."""
    if not isinstance(entry, dict):
        raise ValueError("a candle must be a JSON object")
    return [candle_time_seconds(_first_value(entry, time_keys)), _amount(entry, ("open",)), _amount(entry, high_keys),
            _amount(entry, low_keys), _amount(entry, ("close",)), _amount(entry, ("volume",)), 0.0, 0.0, 0.0, 0.0]


def _first_value(entry: Dict[str, Any], keys: Tuple[str, ...]) -> Any:
    return next((entry[key] for key in keys if entry.get(key) is not None), None)


def _amount(entry: Dict[str, Any], keys: Tuple[str, ...]) -> float:
    value = _first_value(entry, keys)
    if value is None or isinstance(value, bool):
        raise ValueError(f"no {'/'.join(keys)}")
    number = Decimal(str(value))
    if not number.is_finite() or number < 0:
        raise ValueError(f"{keys[0]} is {value!r}")
    return float(number)
