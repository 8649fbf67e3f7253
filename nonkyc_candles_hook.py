"""
Registers the NonKYC candles feed in Hummingbot's `CandlesFactory`, without editing Hummingbot, in every Python process
of the environment: the client, the `hbot` CLI and the bots it starts, scripts, controllers, tests.

`CandlesFactory._candles_map` (connector name -> feed class) is a class attribute filled when
`hummingbot.data_feed.candles_feed.candles_factory` is executed. Set-up installs `nonkyc_candles_hook.pth` in the
environment's site-packages, which calls `install()` at interpreter start; `install()` imports nothing of Hummingbot
(start-up stays as fast as it was): it adds an import hook that adds `nonkyc` to the map right after the factory
module is executed, whenever and however it is first imported (or reloaded). Standard library only.

The same hook registers NonKYC as a rate source of Hummingbot's rate oracle (`rate_oracle_source: nonkyc`) right after
`hummingbot.client.config.client_config_map` is executed, before any client configuration is read (see the
connector's `nonkyc_rate_source.py`).
"""
import importlib.abc
import logging
import sys
from types import ModuleType
from typing import Optional, Sequence

FACTORY_MODULE = "hummingbot.data_feed.candles_feed.candles_factory"
CLIENT_CONFIG_MODULE = "hummingbot.client.config.client_config_map"
CONNECTOR_NAME = "nonkyc"


def register(factory_module: ModuleType):
    """Adds the NonKYC feed to the factory's map (a feed registered under the name by someone else is kept)."""
    from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import NonkycSpotCandles

    factory_module.CandlesFactory._candles_map.setdefault(CONNECTOR_NAME, NonkycSpotCandles)


def register_rate_source(client_config_module: ModuleType):
    """Adds NonKYC to the rate oracle's sources and to the choices of the client's `rate_oracle_source`."""
    from hummingbot.connector.exchange.nonkyc.nonkyc_rate_source import register as register_nonkyc_rate_source

    register_nonkyc_rate_source(client_config_module)


# What to register once each module has been executed, and what to say when it fails.
REGISTRATIONS = {
    FACTORY_MODULE: (register, "Could not register the NonKYC candles feed with Hummingbot's CandlesFactory (run "
                               "./setup.sh to link the feed into the installed Hummingbot)."),
    CLIENT_CONFIG_MODULE: (register_rate_source, "Could not register NonKYC as a rate source of Hummingbot's rate "
                                                 "oracle (rate_oracle_source: nonkyc)."),
}


def _register_or_warn(module: ModuleType):
    # Never breaks the import of the module: without NonKYC, Hummingbot still runs every other feed and source.
    registration, failure = REGISTRATIONS[module.__name__]
    try:
        registration(module)
    except Exception:
        logging.getLogger(__name__).warning(failure, exc_info=True)


class RegisterAfterFactoryImport(importlib.abc.MetaPathFinder):
    """
    Finds the modules of REGISTRATIONS (the candles factory, the client config map) with the other finders, and
    registers NonKYC there once their loader has executed them.
    """

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None):
        if fullname not in REGISTRATIONS:
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
        # The loader instance is the module's own (the path finder makes one per module).
        execute = loader.exec_module

        def exec_module(module: ModuleType):
            execute(module)
            _register_or_warn(module)

        loader.exec_module = exec_module


def install():
    """Registers now in the modules already imported, and after every later import of them. Idempotent."""
    if not any(isinstance(finder, RegisterAfterFactoryImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, RegisterAfterFactoryImport())
    for module_name in REGISTRATIONS:
        module = sys.modules.get(module_name)
        if module is not None:
            _register_or_warn(module)
