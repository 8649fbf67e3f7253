"""
Shared set-up of the private stream tests (nonkyc_api_user_stream_data_source.py): NonKYC's private stream messages
in their live shapes, the fake reconnection wait, and a test case running the data source over a fake NonKYC server.
"""
import asyncio
import contextlib
import logging
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    FakeNonkycServer,
    LogAssertions,
    LogRecorder,
    clear_url_overrides,
    drain_queue,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List, Optional
from unittest.mock import MagicMock

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_api_user_stream_data_source import NonkycAPIUserStreamDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.connector.test_support.network_mocking_assistant import NetworkMockingAssistant
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.utils import async_utils
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

API_KEY = "testApiKey0123"
API_SECRET = "testApiSecret4567"

LOGIN = CONSTANTS.WS_METHOD_LOGIN
SUBSCRIBE_REPORTS = CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS
SUBSCRIBE_BALANCES = CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES
SESSION_REQUESTS = [LOGIN, SUBSCRIBE_REPORTS, SUBSCRIBE_BALANCES]

LOGGED_IN = "Logged in to the NonKYC private stream."
SUBSCRIBED = "Subscribed to NonKYC order reports and balances."
CLOSED_BY_SERVER = "The NonKYC private stream connection was closed (The WS connection was closed unexpectedly."

# Shapes from /work/shared/fixtures/nonkyc-live-samples.json (and the API notes for report / balanceUpdate).
CURRENT_BALANCES = {  # as captured live: without the request id
    "jsonrpc": "2.0", "method": "currentBalances", "timestamp": 1772170422567,
    "portfolioData": {"totalUsdValue": "5.82", "totalBtcValue": "0.00008593"},
    "result": [{"assetId": "6982a6966fe9953e2576d260", "ticker": "USDT", "available": "5.82701928",
                "held": "0.00000000", "changePercent": 0}],
}
REPORT = {
    "jsonrpc": "2.0", "method": "report",
    "params": {"id": "69a12a99f65594545010e592", "userProvidedId": "HBOT-B-BTC-USDT-1", "symbol": "BTC/USDT",
               "side": "buy", "type": "limit", "status": "Partly Filled", "price": "67000.00",
               "quantity": "0.010000", "executedQuantity": "0.004000", "createdAt": 1772170410000,
               "updatedAt": 1772170411000, "reportType": "trade", "tradeId": "69a12a99f65594545010e5ff",
               "tradeQuantity": "0.004000", "tradePrice": "67000.00", "tradeFee": "0.536"},
}
BALANCE_UPDATE = {"jsonrpc": "2.0", "method": "balanceUpdate",
                  "params": {"ticker": "USDT", "available": "4.12", "held": "1.70"}}


def active_orders(request: Dict[str, Any], orders: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The answer to `subscribeReports`: the open orders under `result`, with the request's id."""
    return {"jsonrpc": "2.0", "method": "activeOrders", "result": orders or [], "id": request["id"]}


def no_reply(index: int, request: Dict[str, Any]) -> List[Any]:
    return []


def methods(messages: List[Dict[str, Any]]) -> List[str]:
    return [message["method"] for message in messages]


class ReconnectDelays:
    """
    Stands in for the data source's `_sleep`, which it uses for the wait before reconnecting only: records each delay
    (and the loop time it started) and holds the stream in that wait until the test lets it go on with `allow`.
    """

    def __init__(self):
        self.delays: List[float] = []
        self.started_at: List[float] = []
        self.allowed = 0

    def allow(self, count: int = 1):
        self.allowed += count

    async def sleep(self, delay: float):
        self.delays.append(delay)
        self.started_at.append(asyncio.get_running_loop().time())
        number = len(self.delays)
        await asyncio.sleep(0)  # like any real sleep, it lets the other tasks run
        while number > self.allowed:
            await asyncio.sleep(0.001)


class FailingOnceQueue(asyncio.Queue):
    """An output queue whose consumer side fails on one given message (once)."""

    def __init__(self, failing_message: Any):
        super().__init__()
        self.failing_message = failing_message

    def put_nowait(self, item: Any):
        if item == self.failing_message:
            self.failing_message = None
            raise RuntimeError("consumer failed")
        super().put_nowait(item)


class NonkycUserStreamTestCase(LogAssertions, IsolatedAsyncioWrapperTestCase):
    """
    The private stream data source (keys API_KEY / API_SECRET) over a fake NonKYC server that accepts the login and
    answers the subscriptions with `activeOrders` and CURRENT_BALANCES; reconnection waits held by `reconnects`,
    captured logs (checked for secrets after each test) and the helpers to wait for sessions, requests and events.
    """

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        clear_url_overrides(self)
        self.mocking_assistant = NetworkMockingAssistant()
        await self.mocking_assistant.async_init()
        self.server = FakeNonkycServer(self.mocking_assistant)  # login and other requests: `{"result": true}`
        self.server.replies[SUBSCRIBE_REPORTS] = lambda index, request: [active_orders(request)]
        self.server.replies[SUBSCRIBE_BALANCES] = lambda index, request: [CURRENT_BALANCES]

        self.reconnects = ReconnectDelays()
        self.data_source = self.build_data_source(API_KEY, API_SECRET)
        self.output: asyncio.Queue = asyncio.Queue()
        self.listening_tasks: List[asyncio.Task] = []

        self.log_recorder = LogRecorder()
        # The data source's logger, and the one that reports exceptions escaping background tasks.
        self.loggers = [self.data_source.logger(), logging.getLogger(async_utils.__name__)]
        self.previous_levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(1)
            logger.addHandler(self.log_recorder)

    async def asyncTearDown(self) -> None:
        for task in self.listening_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for logger, level in zip(self.loggers, self.previous_levels):
            logger.removeHandler(self.log_recorder)
            logger.setLevel(level)
        self.assert_no_secret_logged()
        await super().asyncTearDown()

    def build_data_source(self, api_key: str, secret: str) -> NonkycAPIUserStreamDataSource:
        auth = NonkycAuth(api_key=api_key, secret_key=secret, time_provider=TimeSynchronizer())
        api_factory = WebAssistantsFactory(
            throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS), auth=auth, connections_factory=self.server)
        data_source = NonkycAPIUserStreamDataSource(
            auth=auth, trading_pairs=["BTC-USDT"], connector=MagicMock(), api_factory=api_factory)
        # Timing of the stream core. The reply timeout is long enough never to expire by accident on a loaded machine:
        # the tests that need it to expire shorten it; so do the ping tests with the ping interval.
        data_source._stream_core.reply_timeout = 3
        data_source._stream_core.ping_interval = 1000
        data_source._stream_core.silence_timeout = 5
        # The pace of the requests has its own tests (test_nonkyc_stream_core).
        data_source._stream_core.send_interval = 0
        data_source._sleep = self.reconnects.sleep
        return data_source

    # --- helpers ---

    def start_listening(self, data_source: Optional[NonkycAPIUserStreamDataSource] = None) -> asyncio.Task:
        data_source = data_source or self.data_source
        task = asyncio.get_running_loop().create_task(data_source.listen_for_user_stream(self.output))
        self.listening_tasks.append(task)
        return task

    async def wait_for_sessions(self, count: int = 1):
        """Waits until `count` connections were logged in and subscribed."""
        await wait_until(lambda: len(self.logged("INFO", SUBSCRIBED)) >= count,
                         what=lambda: f"{count} subscribed session(s); sent so far: {self.server.sent_methods()}, "
                                      f"logs: {self.log_messages()[-5:]}")

    async def wait_for_reconnect_delays(self, count: int):
        await wait_until(lambda: len(self.reconnects.delays) >= count,
                         what=lambda: f"{count} reconnection delay(s), got {self.reconnects.delays}; "
                                      f"logs: {self.log_messages()[-5:]}")

    async def wait_for_output(self, count: int):
        await wait_until(lambda: self.output.qsize() >= count,
                         what=lambda: f"{count} event(s) on the output queue, got {self.output.qsize()}")

    async def wait_for_request(self, method: str, count: int = 1, index: int = -1):
        await wait_until(lambda: len(self.server.websockets) > (index if index >= 0 else 0)
                         and len(self.server.sent_requests(method, index)) >= count,
                         what=lambda: f"{count} {method} request(s) on connection {index}; "
                                      f"{len(self.server.websockets)} connection(s)")

    def drain_output(self) -> List[Any]:
        return drain_queue(self.output)

    def logged(self, level: str, text: str) -> List[str]:
        return [message for message in self.log_messages(level) if text in message]

    def assert_no_secret_logged(self):
        secrets = {API_KEY, API_SECRET}
        for index in range(len(self.server.websockets)):
            for login in self.server.sent_requests(LOGIN, index):
                secrets.update((login["params"]["nonce"], login["params"]["signature"]))
        formatter = logging.Formatter()
        for record in self.log_recorder.records:
            text = formatter.format(record)
            for secret in secrets:
                self.assertNotIn(secret, text, "a secret (key, secret, nonce or signature) was logged")
