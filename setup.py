"""
The NonKYC connector as a package for an existing Hummingbot environment (one that has `hummingbot` installed).

A wheel of it holds exactly what Hummingbot needs and nothing else of the project: the connector
(`hummingbot/connector/exchange/nonkyc/`, where Hummingbot's connector discovery scans), the candles feed
(`hummingbot/data_feed/candles_feed/nonkyc_spot_candles/`), the module `nonkyc_candles_hook` and the start-up file
`nonkyc_candles_hook.pth` that registers the feed in Hummingbot's `CandlesFactory` (Python runs a site-packages `.pth`
at every interpreter start). It requires Hummingbot without pinning it, so installing never changes the environment's
Hummingbot or its dependencies. `pip uninstall hummingbot-nonkyc-connector` removes all of it.

The sandbox exchange is a distribution of its own (`sandbox/setup.py`). For development, `./setup.sh` links the
repository into `.venv` instead (edits take effect without reinstalling).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel
from setuptools.errors import SetupError

STARTUP_FILE = "nonkyc_candles_hook.pth"


class BuildWithStartupFile(build_py):
    """Puts the `.pth` start-up file at the root of the wheel, which pip installs into site-packages."""

    def run(self):
        # A rebuild in the same tree must not ship modules deleted since (build_py never removes old outputs).
        shutil.rmtree(os.path.join(self.build_lib, "hummingbot"), ignore_errors=True)
        super().run()
        self.copy_file(STARTUP_FILE, os.path.join(self.build_lib, STARTUP_FILE))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, STARTUP_FILE)]


class NoEditableInstall(editable_wheel):
    """An editable install would not put the connector where Hummingbot's directory scan looks for it."""

    def run(self):
        raise SetupError("The NonKYC connector has no editable install: run ./setup.sh for development, or install a "
                         "wheel (see the README).")


setup(
    name="hummingbot-nonkyc-connector",
    version="0.1.0",
    description="NonKYC exchange connector and candles feed for Hummingbot",
    packages=["hummingbot.connector.exchange.nonkyc", "hummingbot.data_feed.candles_feed.nonkyc_spot_candles"],
    py_modules=["nonkyc_candles_hook"],
    install_requires=["hummingbot>=20260922"],
    cmdclass={"build_py": BuildWithStartupFile, "editable_wheel": NoEditableInstall},
)
