from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import Any, Dict, Hashable, Iterable, List, Optional, Set, Tuple

from pydantic import ConfigDict, Field, SecretStr

from hummingbot.client.config.config_data_types import BaseConnectorConfigMap
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.core.data_type.trade_fee import TradeFeeSchema

CENTRALIZED = True
EXAMPLE_PAIR = "BTC-USDT"

# 0.2 % maker and taker at the lowest tier. The fee of a buy is charged in the quote asset on top of its cost
# (live trade sample: totalWithFee = price * quantity + fee).
DEFAULT_FEES = TradeFeeSchema(
    maker_percent_fee_decimal=Decimal("0.002"),
    taker_percent_fee_decimal=Decimal("0.002"),
    buy_percent_fee_deducted_from_returns=False,
)


def is_market_tradeable(market: Dict[str, Any]) -> bool:
    """A market is tradeable through the API when it is active, not paused and not excluded from the API."""
    return (market.get("isActive") is True
            and not market.get("isPaused", False)
            and not market.get("apiExcluded", False))


# NonKYC writes network variants of assets with a dash (`USDT-TRC20`), but Hummingbot splits every trading pair on the
# dash (`BASE-QUOTE`): inside Hummingbot that dash becomes an underscore (`USDT_TRC20`, pair `BTC-USDT_TRC20`). The
# underscore because Hummingbot gives it no meaning in a trading pair or an asset name, it is not part of NonKYC's
# `BASE/QUOTE` symbols, and it reads as the same asset to a user.
TICKER_DASH = "-"
ASSET_NAME_DASH = "_"


class AssetNames:
    """
    The one mapping between NonKYC tickers and Hummingbot asset names. A known name maps back to the exchange's ticker
    byte for byte. Two tickers that would get the same name (`USDT-TRC20` and `USDT_TRC20`) are ambiguous: neither of
    them has a name.
    """

    def __init__(self, tickers: Iterable[str] = ()):
        self._ticker_by_name: Dict[str, str] = {}
        self._ambiguous: Dict[str, Set[str]] = {}
        for ticker in tickers:
            self.learn(ticker)

    @staticmethod
    def translate(ticker: str) -> str:
        """The Hummingbot spelling of a ticker, whether or not it is ambiguous."""
        return ticker.replace(TICKER_DASH, ASSET_NAME_DASH)

    def learn(self, ticker: str) -> Optional[str]:
        """The Hummingbot name of `ticker`, remembered; None when another ticker has the same name."""
        name = self.translate(ticker)
        if name in self._ambiguous:
            self._ambiguous[name].add(ticker)
            return None
        known = self._ticker_by_name.setdefault(name, ticker)
        if known != ticker:
            self._ambiguous[name] = {known, ticker}
            del self._ticker_by_name[name]
            return None
        return name

    def ambiguous_tickers(self, ticker: str) -> List[str]:
        """The tickers sharing the Hummingbot name of `ticker` (empty when its name is unambiguous)."""
        return sorted(self._ambiguous.get(self.translate(ticker), ()))


# A message quoted in a log line is cut at this length.
LOGGED_MESSAGE_MAX_LENGTH = 300


def describe(message: Any, max_length: int = LOGGED_MESSAGE_MAX_LENGTH) -> str:
    """A message as it goes into a log line: its repr, shortened."""
    text = repr(message)
    return text if len(text) <= max_length else text[:max_length] + "..."


def market_assets(market: Dict[str, Any]) -> Tuple[str, str]:
    """
    Base and quote tickers of a `/market/getlist` entry. Current payloads only have `symbol` (`BASE/QUOTE`) and
    `primaryTicker`; older ones nested `primaryAsset.ticker` / `secondaryAsset.ticker`.
    """
    symbol = market.get("symbol")
    if isinstance(symbol, str) and symbol.count("/") == 1:
        base, quote = symbol.split("/")
    else:
        base = (market.get("primaryAsset") or {}).get("ticker")
        quote = (market.get("secondaryAsset") or {}).get("ticker")
    if not base or not quote:
        raise ValueError(f"Market has no base/quote tickers: {market!r}")
    return base, quote


def timestamp_seconds(value: Any, default: Optional[float] = None) -> Optional[float]:
    """
    A NonKYC timestamp in seconds: integer milliseconds (int or numeric string) or an ISO-8601 string such as
    `2026-02-27T05:24:41.018Z`. Returns `default` when the value is missing or unreadable.
    """
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value) / 1e3
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(Decimal(text)) / 1e3
        except ArithmeticError:
            pass
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default


class RecentKeys:
    """
    The last `capacity` keys seen, the oldest forgotten first: a memory for "log once" and "report once" that does
    not grow without limit in a bot that runs for months.
    """

    def __init__(self, capacity: int = CONSTANTS.WS_RECENT_KEYS_CAPACITY):
        self._capacity = capacity
        self._keys: "OrderedDict[Hashable, None]" = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> bool:
        """Remembers `key`; True when it was not remembered yet."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True

    def discard(self, key: Hashable):
        self._keys.pop(key, None)


class NonkycConfigMap(BaseConnectorConfigMap):
    connector: str = "nonkyc"
    nonkyc_api_key: SecretStr = Field(
        default=...,
        json_schema_extra={
            "prompt": lambda cm: "Enter your NonKYC API key",
            "is_secure": True,
            "is_connect_key": True,
            "prompt_on_new": True,
        }
    )
    nonkyc_api_secret: SecretStr = Field(
        default=...,
        json_schema_extra={
            "prompt": lambda cm: "Enter your NonKYC API secret",
            "is_secure": True,
            "is_connect_key": True,
            "prompt_on_new": True,
        }
    )
    model_config = ConfigDict(title="nonkyc")


KEYS = NonkycConfigMap.model_construct()
