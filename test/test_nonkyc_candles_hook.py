import importlib.util
import logging
import sys
import unittest
from unittest.mock import patch

import nonkyc_candles_hook
from hummingbot.data_feed.candles_feed import candles_factory
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles


class CandlesHookTests(unittest.TestCase):

    def fresh_factory_module(self):
        """The factory module executed again from its source, found through the hook as an import would find it."""
        package_path = sys.modules["hummingbot.data_feed.candles_feed"].__path__
        spec = nonkyc_candles_hook.RegisterAfterFactoryImport().find_spec(nonkyc_candles_hook.FACTORY_MODULE,
                                                                          package_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

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
