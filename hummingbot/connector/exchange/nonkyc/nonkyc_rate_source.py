"""
NonKYC as Hummingbot's rate source: with `rate_oracle_source: nonkyc` (conf/conf_client.yml, or
`hbot config rate_oracle_source.name nonkyc`), the USD values of `balance`, `status` and every conversion of the rate
oracle come from NonKYC's own prices, so that assets traded only on NonKYC have one. One `/tickers` read prices every
market, paused ones included, and is cached for 30 s like Hummingbot's exchange sources; the connector's URL
overrides (NONKYC_REST_URL) apply.

Registered without editing Hummingbot: the client's `rate_oracle_source` field is a union of the rate source modes,
fixed when `hummingbot.client.config.client_config_map` is executed. `register()` adds the source and its mode to
Hummingbot's tables and rebuilds that field; the start-up hook (`nonkyc_candles_hook.py`) calls it right after the
module is executed, in every process. This module imports nothing of the client config itself, so that it can be
imported first.
"""
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Dict, Optional, Union

from pydantic import ConfigDict, Field

from hummingbot.core.rate_oracle.sources.rate_source_base import RateSourceBase
from hummingbot.core.utils import async_ttl_cache

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

RATE_SOURCE_NAME = "nonkyc"


class NonkycRateSource(RateSourceBase):

    def __init__(self):
        super().__init__()
        self._exchange: Optional["NonkycExchange"] = None  # built at the first use (circular imports)

    @property
    def name(self) -> str:
        return RATE_SOURCE_NAME

    @async_ttl_cache(ttl=30, maxsize=1)
    async def get_prices(self, quote_token: Optional[str] = None) -> Dict[str, Decimal]:
        """
        The price of every NonKYC market (`BASE-QUOTE` -> the mid price, or the last price when a side has no order).
        Every pair is returned whatever `quote_token`: the rate oracle finds the conversions it needs among them.
        """
        try:
            tickers = await self._nonkyc_exchange()._market_tickers()
        except Exception:
            self.logger().exception("Unexpected error while retrieving rates from NonKYC (GET /tickers). Check the "
                                    "log file for more info.")
            return {}
        return {trading_pair: ticker.valuation_price for trading_pair, ticker in tickers.items()
                if ticker.valuation_price is not None}

    def _nonkyc_exchange(self) -> "NonkycExchange":
        if self._exchange is None:
            from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

            self._exchange = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=[],
                                            trading_required=False)
            self._exchange.LAST_PRICES_REFRESH_INTERVAL = 0  # get_prices caches: one cache, not two in a row
        return self._exchange


def register(client_config_module: ModuleType):
    """
    Makes `nonkyc` a rate source of `client_config_module` (Hummingbot's `client_config_map`): in the rate oracle's
    RATE_ORACLE_SOURCES, in RATE_SOURCE_MODES, and in the type of ClientConfigMap's `rate_oracle_source`. Idempotent.
    """
    from hummingbot.core.rate_oracle import rate_oracle

    rate_oracle.RATE_ORACLE_SOURCES.setdefault(RATE_SOURCE_NAME, NonkycRateSource)
    modes = client_config_module.RATE_SOURCE_MODES
    if RATE_SOURCE_NAME in modes:
        return
    modes[RATE_SOURCE_NAME] = _rate_source_mode(client_config_module.ExchangeRateSourceModeBase)
    config_map = client_config_module.ClientConfigMap
    field = config_map.model_fields["rate_oracle_source"]
    field.annotation = Union[tuple(modes.values())]
    field.description = f"A source for rate oracle, currently {', '.join(modes)}"
    config_map.model_rebuild(force=True)


def _rate_source_mode(exchange_rate_source_mode_base: type) -> type:
    """The config model of the source, as Hummingbot writes those of its exchange sources (`name: nonkyc`)."""
    class NonkycRateSourceMode(exchange_rate_source_mode_base):
        name: str = Field(default=RATE_SOURCE_NAME)
        model_config = ConfigDict(title=RATE_SOURCE_NAME)

    return NonkycRateSourceMode
