"""
The sandbox environment of the demo and of the e2e matrix: a NonKYC sandbox started on a free loopback port, the
connector pointed at it (NONKYC_REST_URL / NONKYC_WS_URL, restored when it stops), and the sandbox account's keys
for a headless Hummingbot. It lives here rather than in `nonkyc_sandbox`, which stays independent of Hummingbot.
"""
import os
from pathlib import Path
from typing import Dict, Optional

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from nonkyc_sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_PATH = REPO_ROOT / "scripts"
CONNECTOR_NAME = "nonkyc"
SANDBOX_ACCOUNT = "user"  # the account of DEFAULT_API_KEY
LOOPBACK = "127.0.0.1"


def sandbox_api_keys() -> Dict[str, Dict[str, str]]:
    """The connector's keys for the sandbox account, as a headless Hummingbot's connector manager takes them."""
    return {CONNECTOR_NAME: {"nonkyc_api_key": DEFAULT_API_KEY, "nonkyc_api_secret": DEFAULT_API_SECRET}}


class SandboxEnvironment:
    """Starts `sandbox` on a free loopback port and points the connector at it; `stop` undoes both."""

    VARIABLES = (CONSTANTS.REST_URL_ENV_VAR, CONSTANTS.WSS_URL_ENV_VAR)

    def __init__(self, sandbox: SandboxExchange):
        self.sandbox = sandbox
        self._previous: Optional[Dict[str, Optional[str]]] = None

    async def start(self):
        await self.sandbox.start(LOOPBACK, 0)
        self._previous = {name: os.environ.get(name) for name in self.VARIABLES}
        os.environ[CONSTANTS.REST_URL_ENV_VAR] = self.sandbox.rest_url
        os.environ[CONSTANTS.WSS_URL_ENV_VAR] = self.sandbox.ws_url

    async def stop(self):
        """Stops the sandbox and restores the variables (also after a failed or missing `start`)."""
        await self.sandbox.stop()
        for name, value in (self._previous or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous = None
