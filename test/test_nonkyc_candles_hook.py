import importlib.util
import logging
import sys
import unittest
from unittest.mock import patch

import nonkyc_candles_hook
from hummingbot.connector.exchange.nonkyc.nonkyc_rate_source import NonkycRateSource
from hummingbot.core.rate_oracle.rate_oracle import RATE_ORACLE_SOURCES
from hummingbot.data_feed.candles_feed import candles_factory
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles


def executed_through_the_hook(module_name: str):
    """A Hummingbot module executed again from its source, found through the hook as an import would find it."""
    package_path = sys.modules[module_name.rpartition(".")[0]].__path__
    spec = nonkyc_candles_hook.RegisterAfterFactoryImport().find_spec(module_name, package_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CandlesHookTests(unittest.TestCase):

    def fresh_factory_module(self):
        return executed_through_the_hook(nonkyc_candles_hook.FACTORY_MODULE)

    def test_the_factory_module_gets_the_feed_as_soon_as_it_is_executed(self):
        factory = self.fresh_factory_module()

        self.assertIs(NonkycSpotCandles, factory.CandlesFactory._candles_map["nonkyc"])
        self.assertIn("binance", factory.CandlesFactory._candles_map)

    def test_install_is_idempotent_and_registers_an_already_imported_factory(self):
        factory = candles_factory
        with patch.dict(factory.CandlesFactory._candles_map, clear=False):
            factory.CandlesFactory._candles_map.pop("nonkyc", None)
            with patch.object(sys, "meta_path", list(sys.meta_path)):
                nonkyc_candles_hook.install()
                nonkyc_candles_hook.install()
                hooks = [finder for finder in sys.meta_path
                         if isinstance(finder, nonkyc_candles_hook.RegisterAfterFactoryImport)]
            self.assertEqual(1, len(hooks))
            self.assertIs(NonkycSpotCandles, factory.CandlesFactory._candles_map["nonkyc"])

    def test_a_feed_that_cannot_be_imported_leaves_the_factory_working_with_a_warning(self):
        with patch.dict(sys.modules, {"hummingbot.data_feed.candles_feed.nonkyc_spot_candles": None}):
            with self.assertLogs(nonkyc_candles_hook.__name__, logging.WARNING) as logs:
                factory = self.fresh_factory_module()

        self.assertNotIn("nonkyc", factory.CandlesFactory._candles_map)
        self.assertIn("binance", factory.CandlesFactory._candles_map)
        self.assertIn("Could not register the NonKYC candles feed", logs.output[0])


class RateSourceHookTests(unittest.TestCase):

    def fresh_client_config_module(self):
        return executed_through_the_hook(nonkyc_candles_hook.CLIENT_CONFIG_MODULE)

    def test_the_client_config_module_accepts_nonkyc_as_rate_source_as_soon_as_it_is_executed(self):
        config_module = self.fresh_client_config_module()

        self.assertIn("nonkyc", config_module.RATE_SOURCE_MODES)
        self.assertIn("binance", config_module.RATE_SOURCE_MODES)
        config = config_module.ClientConfigMap.model_validate({"rate_oracle_source": "nonkyc"})
        self.assertEqual("nonkyc", config.rate_oracle_source.name)
        self.assertIs(NonkycRateSource, RATE_ORACLE_SOURCES["nonkyc"])

    def test_a_rate_source_that_cannot_be_imported_leaves_the_client_config_working_with_a_warning(self):
        with patch.dict(sys.modules, {"hummingbot.connector.exchange.nonkyc.nonkyc_rate_source": None}):
            with self.assertLogs(nonkyc_candles_hook.__name__, logging.WARNING) as logs:
                config_module = self.fresh_client_config_module()

        self.assertNotIn("nonkyc", config_module.RATE_SOURCE_MODES)
        self.assertEqual("binance", config_module.ClientConfigMap.model_validate(
            {"rate_oracle_source": "binance"}).rate_oracle_source.name)
        self.assertIn("Could not register NonKYC as a rate source", logs.output[0])
