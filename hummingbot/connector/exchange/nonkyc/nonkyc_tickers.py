"""
The prices of every NonKYC market from one `/tickers` read, paused markets included: a paused market is not
tradeable, but its price values the asset (a balance in an asset whose only market is paused). The Hummingbot names
come from the tickers themselves (`USDT-TRC20` -> `USDT_TRC20`), so no market list is needed.

A `/tickers` entry: `{"ticker_id": "IMX_USDT", "base_currency": "IMX", "target_currency": "USDT", "last_price": "0.5",
"bid": "0.49", "ask": "0.51", ...}` (decimal strings; a side without orders may be "0" or missing).
"""
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Dict, Optional

from hummingbot.connector.exchange.nonkyc.nonkyc_utils import AssetNames
from hummingbot.connector.utils import combine_to_hb_trading_pair

_ZERO = Decimal(0)


@dataclass(frozen=True)
class MarketTicker:
    symbol: str  # NonKYC's BASE/QUOTE
    trading_pair: str  # Hummingbot's BASE-QUOTE
    last_price: Decimal
    bid: Decimal
    ask: Decimal

    @property
    def valuation_price(self) -> Optional[Decimal]:
        """The mid price when both sides are quoted, else the last price; None when the market has neither."""
        if _ZERO < self.bid <= self.ask:
            return (self.bid + self.ask) / 2
        return self.last_price if self.last_price > _ZERO else None

    def as_pair_prices_row(self) -> Dict[str, str]:
        """The row of `get_all_pairs_prices()`, in the shape of Binance's (`symbol`, `bidPrice`, `askPrice`)."""
        return {"symbol": self.symbol, "bidPrice": f"{self.bid:f}", "askPrice": f"{self.ask:f}",
                "lastPrice": f"{self.last_price:f}"}


def market_tickers(tickers: Any, asset_names: AssetNames,
                   log_skipped: Callable[[str], None]) -> Dict[str, MarketTicker]:
    """
    The tickers of an answer to `/tickers`, by Hummingbot trading pair. Every ticker goes through `asset_names` first,
    so that two tickers sharing a Hummingbot name are both left out. Unreadable entries are skipped (`log_skipped`).
    """
    entries = [entry for entry in tickers if isinstance(entry, dict)] if isinstance(tickers, list) else []
    for entry in entries:
        for key in ("base_currency", "target_currency"):
            if isinstance(entry.get(key), str):
                asset_names.learn(entry[key])
    result = {}
    for entry in entries:
        try:
            ticker = _market_ticker(entry, asset_names)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            log_skipped(f"Skipping malformed NonKYC ticker {entry}.")
            continue
        if ticker is not None:
            result[ticker.trading_pair] = ticker
    return result


def _market_ticker(entry: Dict[str, Any], asset_names: AssetNames) -> Optional[MarketTicker]:
    base_ticker, quote_ticker = str(entry["base_currency"]), str(entry["target_currency"])
    base, quote = asset_names.learn(base_ticker), asset_names.learn(quote_ticker)
    if base is None or quote is None:
        return None  # ambiguous names: logged where the market list is read
    return MarketTicker(symbol=f"{base_ticker}/{quote_ticker}",
                        trading_pair=combine_to_hb_trading_pair(base=base, quote=quote),
                        last_price=_price(entry["last_price"]),
                        bid=_price(entry.get("bid")),
                        ask=_price(entry.get("ask")))


def _price(value: Any) -> Decimal:
    price = Decimal(str(value)) if value not in (None, "") else _ZERO
    if not price.is_finite() or price < _ZERO:
        raise ValueError(f"not a price: {value!r}")
    return price
