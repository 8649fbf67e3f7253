"""
Shared helpers of the sandbox tests: a REST client that signs the way the NonKYC API notes describe (written here
independently of the connector), a WebSocket helper, and a test case that runs a sandbox on a free loopback port.
"""
import asyncio
import hashlib
import hmac
import json
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

import aiohttp
from yarl import URL

from nonkyc_sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET, SECOND_API_KEY, SECOND_API_SECRET, SandboxExchange


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf8"), message.encode("utf8"), hashlib.sha256).hexdigest()


class SignedClient:
    """Signs `apiKey + URL + BODY + nonce`: the GET URL with its query exactly as sent, the POST body as sent."""

    def __init__(self, session: aiohttp.ClientSession, rest_url: str, api_key: str, api_secret: str):
        self.session = session
        self.rest_url = rest_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.last_nonce = 0

    def next_nonce(self) -> str:
        self.last_nonce = max(int(time.time() * 1000), self.last_nonce + 1)
        return str(self.last_nonce)

    def headers(self, url: str, body: str = "", nonce: Optional[str] = None,
                signature: Optional[str] = None) -> Dict[str, str]:
        nonce = nonce or self.next_nonce()
        return {
            "X-API-KEY": self.api_key,
            "X-API-NONCE": nonce,
            "X-API-SIGN": signature or hmac_hex(self.api_secret, f"{self.api_key}{url}{body}{nonce}"),
        }

    @staticmethod
    def query_string(params: Optional[List[Tuple[str, Any]]]) -> str:
        """`key=value&...` in the given order, values raw (so `BTC/USDT` keeps its slash)."""
        return "&".join(f"{key}={value}" for key, value in (params or []))

    async def get(self, path: str, params: Optional[List[Tuple[str, Any]]] = None,
                  **header_overrides) -> Tuple[int, Any]:
        query = self.query_string(params)
        url = f"{self.rest_url}{path}" + (f"?{query}" if query else "")
        headers = self.headers(url, **header_overrides)
        async with self.session.get(URL(url, encoded=True), headers=headers) as response:
            return response.status, await self._body(response)

    async def post(self, path: str, payload: Dict[str, Any], **header_overrides) -> Tuple[int, Any]:
        url = f"{self.rest_url}{path}"
        body = json.dumps(payload, separators=(",", ":"))
        headers = self.headers(url, body, **header_overrides)
        headers["Content-Type"] = "application/json"
        async with self.session.post(url, data=body, headers=headers) as response:
            return response.status, await self._body(response)

    async def create_order(self, symbol: str, side: str, quantity: str, price: Optional[str] = None,
                           order_type: Optional[str] = None, **extra) -> Tuple[int, Any]:
        payload = {"symbol": symbol, "side": side, "type": order_type or ("limit" if price else "market"),
                   "quantity": quantity}
        if price is not None:
            payload["price"] = price
        payload.update(extra)
        return await self.post("/createorder", payload)

    @staticmethod
    async def _body(response: aiohttp.ClientResponse) -> Any:
        text = await response.text()
        try:
            return json.loads(text)
        except ValueError:
            return text


class WsClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.next_id = 0

    async def request(self, method: str, params: Optional[Dict[str, Any]] = None) -> int:
        self.next_id += 1
        await self.ws.send_json({"method": method, "params": params or {}, "id": self.next_id})
        return self.next_id

    async def receive(self, timeout: Optional[float] = 2.0) -> Dict[str, Any]:
        message = await self.ws.receive(timeout=timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"Expected a text message, got {message.type}")
        return json.loads(message.data)

    async def receive_until(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 2.0,
                            what: str = "a matching WebSocket message") -> Dict[str, Any]:
        """The first message that satisfies `predicate` (the ones before it are dropped)."""
        async def first_match() -> Dict[str, Any]:
            while True:
                message = await self.receive(timeout=None)
                if predicate(message):
                    return message

        try:
            return await asyncio.wait_for(first_match(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")

    async def receive_method(self, method: str, timeout: float = 2.0) -> Dict[str, Any]:
        return await self.receive_until(lambda message: message.get("method") == method, timeout,
                                        what=f"a {method} message")

    async def login(self, api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
                    nonce: str = "a1b2c3d4e5f60718293a4b5c6d7e8f90") -> Dict[str, Any]:
        request_id = await self.request("login", {"algo": "HS256", "pKey": api_key, "nonce": nonce,
                                                  "signature": hmac_hex(api_secret, nonce)})
        return await self.receive_until(lambda message: message.get("id") == request_id, what="the login answer")

    async def assert_nothing_sent(self) -> None:
        """
        Fails when the server sent this connection a message the test has not read. The sandbox answers a request
        after every message queued before it, in order, so the answer of a new request must come next. (The request
        is for a method the sandbox does not have: it answers an error and changes nothing.)
        """
        request_id = await self.request("sandboxTestBarrier")
        message = await self.receive()
        if message.get("id") != request_id:
            raise AssertionError(f"Unexpected WebSocket message: {message}")


class SandboxTestCase(unittest.IsolatedAsyncioTestCase):
    """Runs a sandbox (traders off unless `traders` is set) on a free port with a client session."""

    seed = 7
    traders = False

    def sandbox_kwargs(self) -> Dict[str, Any]:
        return {}

    async def asyncSetUp(self) -> None:
        self.sandbox = SandboxExchange(seed=self.seed, simulated_traders=self.traders, **self.sandbox_kwargs())
        await self.sandbox.start("127.0.0.1", 0)
        self.session = aiohttp.ClientSession()
        self.client = SignedClient(self.session, self.sandbox.rest_url, DEFAULT_API_KEY, DEFAULT_API_SECRET)
        self.client2 = SignedClient(self.session, self.sandbox.rest_url, SECOND_API_KEY, SECOND_API_SECRET)
        self._websockets: List[aiohttp.ClientWebSocketResponse] = []

    async def asyncTearDown(self) -> None:
        for ws in self._websockets:
            await ws.close()
        await self.session.close()
        await self.sandbox.stop()
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        self.assertEqual([], leftovers, "the sandbox left tasks running")

    async def connect_ws(self, path: str = "/ws") -> WsClient:
        url = self.sandbox.ws_url if path == "/ws" else self.sandbox.ws_url.rsplit("/ws", 1)[0] + path
        ws = await self.session.ws_connect(url)
        self._websockets.append(ws)
        return WsClient(ws)

    @property
    def control_url(self) -> str:
        return self.sandbox.rest_url.rsplit("/api/v2", 1)[0] + "/_sandbox"
