"""
Shared plumbing of the NonKYC live smoke scripts: command line, keys from the environment or `.env`, PASS/FAIL
reporting, and the connector's own REST/WS assistants and signing (nothing is re-implemented here).
"""
import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory
from hummingbot.core.web_assistant.connections.data_types import RESTMethod, WSJSONRequest
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant

REPO_ROOT = Path(__file__).resolve().parents[2]

API_KEY_ENV_VAR = "NONKYC_API_KEY"
API_SECRET_ENV_VAR = "NONKYC_API_SECRET"


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rest-url", help=f"REST base ending in /api/v2 (default: ${CONSTANTS.REST_URL_ENV_VAR} or "
                                           f"{CONSTANTS.REST_URL})")
    parser.add_argument("--ws-url",
                        help=f"WebSocket URL (default: ${CONSTANTS.WSS_URL_ENV_VAR} or {CONSTANTS.WSS_URL})")
    parser.add_argument("--pair", default="BTC/USDT",
                        help="market to check, BASE/QUOTE or BASE-QUOTE (default BTC/USDT)")
    parser.add_argument("--ws-seconds", type=float, default=20.0, help="how long to listen on the WebSocket")
    return parser


def apply_urls(args: argparse.Namespace):
    """The connector builds its URLs from these variables, so the scripts use exactly the connector's URL code."""
    if args.rest_url:
        os.environ[CONSTANTS.REST_URL_ENV_VAR] = args.rest_url
    if args.ws_url:
        os.environ[CONSTANTS.WSS_URL_ENV_VAR] = args.ws_url


def exchange_symbol(pair: str) -> str:
    """
    NonKYC's `BASE/QUOTE` from what the user typed: `BTC/USDT-TRC20` is kept as it is, Hummingbot's `BTC-USDT_TRC20`
    goes back to NonKYC's tickers (an underscore inside an asset name is a dash of the ticker), and the path form
    `BTC_USDT` becomes `BTC/USDT`.
    """
    pair = pair.strip().upper()
    if "/" in pair:
        return pair
    if "-" in pair:
        base, quote = pair.split("-", 1)
        return f"{base.replace('_', '-')}/{quote.replace('_', '-')}"
    return pair.replace("_", "/", 1)


def load_keys(env_file: Path = REPO_ROOT / ".env") -> Tuple[str, str]:
    """API key and secret from the environment, else from `.env` at the repository root. Never printed."""
    values = {}
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                values[name.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    key = os.environ.get(API_KEY_ENV_VAR) or values.get(API_KEY_ENV_VAR, "")
    secret = os.environ.get(API_SECRET_ENV_VAR) or values.get(API_SECRET_ENV_VAR, "")
    return key, secret


class Report:
    """Prints one PASS/FAIL line per check and a summary; the exit code is 1 when anything failed."""

    def __init__(self, secrets: Optional[List[str]] = None):
        self.results: List[Tuple[str, bool, str]] = []
        self._secrets = [secret for secret in (secrets or []) if secret]

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def record(self, name: str, passed: bool, detail: str = ""):
        self.results.append((name, passed, detail))
        print(self._redact(f"{'PASS' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}"), flush=True)

    async def check(self, name: str, action: Callable[[], Awaitable[str]]) -> bool:
        """Runs one check; it passes when the action returns (its text is the detail) and fails when it raises."""
        try:
            detail = await action()
        except Exception as error:
            self.record(name, False, f"{type(error).__name__}: {error}")
            return False
        self.record(name, True, detail or "")
        return True

    def summary(self) -> int:
        failed = [name for name, passed, _ in self.results if not passed]
        print(f"SUMMARY: {len(self.results) - len(failed)} passed, {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else ""), flush=True)
        return 1 if failed else 0


def expect(condition: bool, message: str):
    if not condition:
        raise AssertionError(message)


class NonkycClient:
    """The connector's own web assistants: REST signing by NonkycAuth, URLs by nonkyc_web_utils."""

    def __init__(self, api_key: str = "", api_secret: str = ""):
        self.time_synchronizer = TimeSynchronizer()
        self.auth = NonkycAuth(api_key=api_key, secret_key=api_secret, time_provider=self.time_synchronizer)
        self.throttler = web_utils.create_throttler()
        self.factory: WebAssistantsFactory = web_utils.build_api_factory(
            throttler=self.throttler, time_synchronizer=self.time_synchronizer, auth=self.auth)
        self._request_id = 0

    async def rest(self, method: RESTMethod, path: str, params: Optional[Dict[str, Any]] = None,
                   data: Optional[Dict[str, Any]] = None, auth: bool = False, limit_id: Optional[str] = None,
                   return_err: bool = False) -> Any:
        rest_assistant = await self.factory.get_rest_assistant()
        response = await rest_assistant.execute_request_and_get_response(
            url=web_utils.private_rest_url(path) if auth else web_utils.public_rest_url(path),
            throttler_limit_id=limit_id or path, params=params, data=data, method=method, is_auth_required=auth,
            return_err=return_err, timeout=CONSTANTS.REST_REQUEST_TIMEOUT)
        body = await response.json()
        if not return_err:
            error = web_utils.error_in_response(body)
            expect(error is None, f"{method.name} {path} answered an error: {error}")
        return (response.status, body) if return_err else body

    async def ws(self) -> WSAssistant:
        ws = await self.factory.get_ws_assistant()
        await ws.connect(ws_url=web_utils.wss_url(), ping_timeout=CONSTANTS.WS_PING_INTERVAL)
        return ws

    def next_id(self) -> int:
        self._request_id += 1
        return self._request_id

    async def ws_request(self, ws: WSAssistant, method: str, params: Dict[str, Any]) -> int:
        request_id = self.next_id()
        await ws.send(WSJSONRequest(payload={"method": method, "params": params, "id": request_id}))
        return request_id

    async def close(self):
        factory = ConnectionsFactory()
        if factory._shared_client is not None:
            await factory._shared_client.close()
            factory._shared_client = None


async def receive_until(ws: WSAssistant, done: Callable[[Dict[str, Any]], bool], seconds: float) -> List[Dict]:
    """Collects WS messages until `done(message)` is true for one of them or the time is up."""
    messages: List[Dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = await asyncio.wait_for(ws.receive(), timeout=max(deadline - time.monotonic(), 0.01))
        except asyncio.TimeoutError:
            break
        if response is None:
            break
        message = response.data if isinstance(response.data, dict) else json.loads(response.data)
        messages.append(message)
        if done(message):
            break
    return messages


def run(main: Callable[[], Awaitable[int]]):
    sys.exit(asyncio.run(main()))
