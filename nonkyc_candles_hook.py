"""
Registers the NonKYC candles feed in Hummingbot's `CandlesFactory`, without editing Hummingbot, in every Python process
of the environment: the client, the `hbot` CLI and the bots it starts, scripts, controllers, tests.

`CandlesFactory._candles_map` (connector name -> feed class) is a class attribute filled when
`hummingbot.data_feed.candles_feed.candles_factory` is executed. Set-up installs `nonkyc_candles_hook.pth` in the
environment's site-packages, which calls `install()` at interpreter start; `install()` imports nothing of Hummingbot
(start-up stays as fast as it was): it adds an import hook that adds `nonkyc` to the map right after the factory
module is executed, whenever and however it is first imported (or reloaded). Standard library only.
"""
import importlib.abc
import logging
import sys
from types import ModuleType
from typing import Optional, Sequence

FACTORY_MODULE = "hummingbot.data_feed.candles_feed.candles_factory"
CONNECTOR_NAME = "nonkyc"


def register(factory_module: ModuleType):
    """Adds the NonKYC feed to the factory's map (a feed registered under the name by someone else is kept)."""
    from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles

    factory_module.CandlesFactory._candles_map.setdefault(CONNECTOR_NAME, NonkycSpotCandles)


def _register_or_warn(factory_module: ModuleType):
    # Never breaks the import of the factory: without the feed, Hummingbot still runs every other one.
    try:
        register(factory_module)
    except Exception:
        logging.getLogger(__name__).warning(
            "Could not register the NonKYC candles feed with Hummingbot's CandlesFactory (run ./setup.sh to link "
            "the feed into the installed Hummingbot).", exc_info=True)


class RegisterAfterFactoryImport(importlib.abc.MetaPathFinder):
    """Finds the factory module with the other finders, and registers the feed once its loader has executed it."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None):
        if fullname != FACTORY_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                self._register_after_execution(spec.loader)
                return spec
        return None

    @staticmethod
    def _register_after_execution(loader: importlib.abc.Loader):
        # The loader instance is the factory module's own (the path finder makes one per module).
        execute = loader.exec_module

        def exec_module(module: ModuleType):
            execute(module)
            _register_or_warn(module)

        loader.exec_module = exec_module


def install():
    """Registers the feed now if the factory is already imported, and after every later import of it. Idempotent."""
    if not any(isinstance(finder, RegisterAfterFactoryImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, RegisterAfterFactoryImport())
    factory_module = sys.modules.get(FACTORY_MODULE)
    if factory_module is not None:
        _register_or_warn(factory_module)
