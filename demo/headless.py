"""
Hummingbot without its terminal UI, set up so that nothing is written outside a work directory and nothing reaches
the internet: the strategy is started by Hummingbot's own `TradingCore` (the code behind the client's `start`
command), which creates the connector from the connector settings, the markets recorder, the clock and the strategy.

What the headless set-up needs, found by reading hummingbot 20260922:
- `HummingbotApplication.main_application()` must exist before anything calls it: `StrategyV2Base.start` reads its
  `_mqtt`, and `HummingbotLogger.notify` (e.g. the throttler's "rate limit almost reached" line) sends it messages.
  Left to itself it builds the terminal UI and writes `conf/conf_client.yml` under the installed package, so a
  headless instance with an in-memory client configuration is installed first.
- `StrategyV2Base.__init__` reads `MarketsRecorder.get_instance()`, which needs a trade database: `TradingCore`
  creates it in `hummingbot.data_path()`, pointed at the work directory.
- The client configuration defaults send anonymized metrics to Hummingbot's servers and take rates from Gate.io:
  metrics are switched off and the rate oracle reads the connector's own order books.
- Loading a V1 strategy's configuration validates its market with Hummingbot's `TradingPairFetcher`, which starts
  fetching the pairs of every exchange from the internet: a fetcher that never gets ready stands in.
- `TradingCore.initialize_markets` creates connectors with the keys of the encrypted `conf/connectors` files; the demo
  hands the sandbox keys to its connector manager instead.
"""
import logging
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Optional

import hummingbot
from hummingbot.client.config.client_config_map import AnonymizedMetricsDisabledMode, ClientConfigMap
from hummingbot.client.config.config_helpers import ClientConfigAdapter, load_strategy_config_map_from_file
from hummingbot.client.hummingbot_application import HummingbotApplication
from hummingbot.connector.exchange_base import ExchangeBase
from hummingbot.core.connector_manager import ConnectorManager
from hummingbot.core.data_type.common import PriceType
from hummingbot.core.rate_oracle.rate_oracle import RateOracle
from hummingbot.core.rate_oracle.sources.rate_source_base import RateSourceBase
from hummingbot.core.trading_core import TradingCore
from hummingbot.core.utils.trading_pair_fetcher import TradingPairFetcher
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory


class ConnectorManagerWithKeys(ConnectorManager):
    """Creates connectors with the API keys it was given rather than with the encrypted configuration files."""

    def __init__(self, client_config: ClientConfigAdapter, api_keys: Dict[str, Dict[str, str]]):
        super().__init__(client_config)
        self._api_keys = api_keys

    def create_connector(self, connector_name: str, trading_pairs: List[str], trading_required: bool = True,
                         api_keys: Optional[Dict[str, str]] = None) -> ExchangeBase:
        return super().create_connector(connector_name, trading_pairs, trading_required,
                                        api_keys or self._api_keys.get(connector_name))


class ConnectorBookRateSource(RateSourceBase):
    """Rates from the mid prices of the running connectors' order books (no price feed from the internet)."""

    def __init__(self, trading_core: TradingCore):
        super().__init__()
        self._trading_core = trading_core

    @property
    def name(self) -> str:
        return "connector_order_books"

    async def get_prices(self, quote_token: Optional[str] = None) -> Dict[str, Decimal]:
        prices = {}
        for connector in list(self._trading_core.connectors.values()):
            if not connector.ready:  # an order book without its snapshot has no price (and warns when asked)
                continue
            for trading_pair in connector.trading_pairs:
                mid = connector.get_price_by_type(trading_pair, PriceType.MidPrice)
                if mid is not None and mid.is_finite() and mid > 0:
                    prices[trading_pair] = mid
        return prices


class UnreadyTradingPairFetcher:
    """Hummingbot's market validators check nothing while the trading pair fetcher is not ready."""
    ready = False
    trading_pairs: Dict[str, List[str]] = {}


class HeadlessHummingbot:
    """
    A headless Hummingbot whose files (trade database) live in `work_dir`. `close()` restores the process-wide
    state it changed (main application, data path, rate oracle source) and closes the HTTP session Hummingbot shares
    between connectors (it belongs to the running event loop), so that it can be used again in one process.
    """

    def __init__(self, work_dir: Path, scripts_path: Path, api_keys: Dict[str, Dict[str, str]]):
        self.work_dir = work_dir
        data_dir = work_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._previous_data_path = hummingbot._data_path
        self._previous_main_app = HummingbotApplication._main_app
        rate_oracle = RateOracle.get_instance()
        self._previous_rate_source = rate_oracle.source
        self._previous_quote_token = rate_oracle.quote_token
        # Loading a V1 configuration checks its market against Hummingbot's trading pair fetcher, whose first use
        # starts fetching the pairs of every exchange (from the internet, once the keystore is unlocked): a fetcher
        # that is never ready stands in, so that the market is taken as configured.
        self._previous_pair_fetcher = TradingPairFetcher._sf_shared_instance
        TradingPairFetcher._sf_shared_instance = UnreadyTradingPairFetcher()
        hummingbot.set_data_path(str(data_dir))

        client_config = ClientConfigAdapter(ClientConfigMap(anonymized_metrics_mode=AnonymizedMetricsDisabledMode()))
        self.app = HummingbotApplication(client_config_map=client_config, headless_mode=True)
        HummingbotApplication._main_app = self.app
        self.trading_core: TradingCore = self.app.trading_core
        self.trading_core.scripts_path = scripts_path
        self.trading_core.connector_manager = ConnectorManagerWithKeys(client_config, api_keys)
        rate_oracle.source = ConnectorBookRateSource(self.trading_core)

    async def start_strategy(self, script_name: str, config: Dict, config_file_name: str) -> bool:
        """Starts a V2 script of `scripts_path` with a configuration dictionary, as the client's `start` does."""
        return await self.trading_core.start_strategy(script_name, config, config_file_name)

    async def start_v1_strategy(self, config_path: Path) -> bool:
        """Starts a V1 strategy (pure_market_making, ...) from its YAML file, as `hbot start` does with one."""
        strategy_config = await load_strategy_config_map_from_file(config_path)
        strategy_name = (strategy_config.strategy if isinstance(strategy_config, ClientConfigAdapter)
                         else strategy_config.get("strategy").value)
        # Strategies with a pydantic configuration read it from the application when they start.
        self.app.strategy_config_map = strategy_config
        return await self.trading_core.start_strategy(strategy_name, strategy_config, config_path.name)

    async def shutdown(self) -> bool:
        """As the client's `stop`: strategy `on_stop`, order cancellation, connectors, clock, recorder."""
        return await self.trading_core.shutdown()

    async def close(self):
        await ConnectionsFactory().close()
        rate_oracle = RateOracle.get_instance()
        rate_oracle.source = self._previous_rate_source
        rate_oracle.quote_token = self._previous_quote_token
        HummingbotApplication._main_app = self._previous_main_app
        TradingPairFetcher._sf_shared_instance = self._previous_pair_fetcher
        hummingbot.set_data_path(self._previous_data_path)
        logging.getLogger(__name__).debug("Headless Hummingbot closed.")
