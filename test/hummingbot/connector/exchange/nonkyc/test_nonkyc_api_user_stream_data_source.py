import asyncio
import contextlib
import hashlib
import hmac
import json
import os
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import LogAssertions, LogRecorder, drain_queue
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Callable, Dict, List, Optional
from unittest.mock import AsyncMock, MagicMock, patch

import aiohttp

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_api_user_stream_data_source import NonkycAPIUserStreamDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.connector.test_support.network_mocking_assistant import (
    MockWebsocketClientSession,
    NetworkMockingAssistant,
)
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.web_assistant.connections.ws_connection import WSConnection
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

API_KEY = "testApiKey0123"
API_SECRET = "testApiSecret4567"

# Shapes from /work/shared/fixtures/nonkyc-live-samples.json (and the API notes for report / balanceUpdate).
CURRENT_BALANCES = {
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


def active_orders_reply(request: Dict[str, Any]) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "activeOrders", "result": [], "id": request["id"]}


def ok_reply(request: Dict[str, Any]) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "result": True, "id": request["id"]}


def error_reply(request: Dict[str, Any], code: int, message: str) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request["id"]}


Handler = Callable[[int, Dict[str, Any]], List[Any]]


class FakeNonkycServer:
    """
    Stands in for the WebSocket connections factory: every connection is a real WSConnection over a fresh
    NetworkMockingAssistant websocket mock, and each request sent is answered by the handler of its method
    (handler(connection_index, request) -> messages to push; dicts are sent as JSON, strings as they are).
    """

    def __init__(self, mocking_assistant: NetworkMockingAssistant):
        self.mocking_assistant = mocking_assistant
        self.websockets: List[AsyncMock] = []
        self.sessions: List[MockWebsocketClientSession] = []
        self.connections: List[WSConnection] = []
        self.connection_errors: List[Exception] = []
        self.handlers: Dict[str, Handler] = {
            CONSTANTS.WS_METHOD_LOGIN: lambda index, request: [ok_reply(request)],
            CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS: lambda index, request: [active_orders_reply(request)],
            # As captured live: currentBalances without the request id.
            CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES: lambda index, request: [CURRENT_BALANCES],
        }

    async def get_ws_connection(self) -> WSConnection:
        if self.connection_errors:
            raise self.connection_errors.pop(0)
        index = len(self.websockets)
        websocket = self.mocking_assistant.create_websocket_mock()
        record_sent_message = websocket.send_json.side_effect

        def answer(request: Dict[str, Any]):
            record_sent_message(request)
            for message in self.handlers.get(request.get("method"), lambda *_: [])(index, request):
                self.push(message, index)

        websocket.send_json.side_effect = answer
        session = MockWebsocketClientSession(mock_websocket=websocket)
        connection = WSConnection(aiohttp_client_session=session)
        self.websockets.append(websocket)
        self.sessions.append(session)
        self.connections.append(connection)
        return connection

    def push(self, message: Any, index: int = -1, message_type: aiohttp.WSMsgType = aiohttp.WSMsgType.TEXT):
        text = message if isinstance(message, str) else json.dumps(message)
        self.mocking_assistant.add_websocket_aiohttp_message(self.websockets[index], text, message_type)

    def sent(self, index: int = -1) -> List[Dict[str, Any]]:
        if not self.websockets:
            return []
        return self.mocking_assistant.json_messages_sent_through_websocket(self.websockets[index])

    def sent_methods(self, index: int = -1) -> List[str]:
        return [message["method"] for message in self.sent(index)]


class NonkycAPIUserStreamDataSourceTests(LogAssertions, IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.mocking_assistant = NetworkMockingAssistant()
        await self.mocking_assistant.async_init()
        self.server = FakeNonkycServer(self.mocking_assistant)
        self.data_source = self.build_data_source(API_KEY, API_SECRET)
        self.output: asyncio.Queue = asyncio.Queue()
        self.listening_task: Optional[asyncio.Task] = None

        self.reconnect_delays: List[float] = []
        self.max_reconnects = 1
        self.data_source._sleep = self.fake_sleep

        self.log_recorder = LogRecorder()
        self.logger = self.data_source.logger()
        self.previous_log_level = self.logger.level
        self.logger.setLevel(1)
        self.logger.addHandler(self.log_recorder)

    async def asyncTearDown(self) -> None:
        if self.listening_task is not None:
            self.listening_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listening_task
        self.data_source._cancel_ping_task()
        self.logger.removeHandler(self.log_recorder)
        self.logger.setLevel(self.previous_log_level)
        await super().asyncTearDown()

    def build_data_source(self, api_key: str, secret: str) -> NonkycAPIUserStreamDataSource:
        auth = NonkycAuth(api_key=api_key, secret_key=secret, time_provider=TimeSynchronizer())
        api_factory = WebAssistantsFactory(
            throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS), auth=auth, connections_factory=self.server)
        data_source = NonkycAPIUserStreamDataSource(
            auth=auth, trading_pairs=["BTC-USDT"], connector=MagicMock(), api_factory=api_factory)
        # Fast, deterministic timers; the ping test shortens the ping interval itself.
        data_source._login_timeout = 0.05
        data_source._subscription_timeout = 0.05
        data_source._ping_interval = 1000
        return data_source

    async def fake_sleep(self, delay: float):
        # The n-th reconnection waits here while n >= max_reconnects: tests raise max_reconnects to let it go on.
        self.reconnect_delays.append(delay)
        while len(self.reconnect_delays) >= self.max_reconnects:
            await asyncio.sleep(0.001)

    def start_listening(self):
        self.listening_task = asyncio.get_running_loop().create_task(
            self.data_source.listen_for_user_stream(self.output))

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                self.fail("The expected condition was not reached in time.")
            await asyncio.sleep(0.001)

    async def wait_for_session(self):
        await self.wait_until(lambda: self.data_source._session_ready)

    def drain_output(self) -> List[Any]:
        return drain_queue(self.output)

    def assert_no_secret_in(self, text: str, login_request: Dict[str, Any]):
        self.assertNotIn(API_KEY, text)
        self.assertNotIn(API_SECRET, text)
        self.assertNotIn(login_request["params"]["nonce"], text)
        self.assertNotIn(login_request["params"]["signature"], text)

    # --- login ---

    async def test_login_message_format_and_signature(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: []
        self.start_listening()
        await self.wait_until(lambda: len(self.server.sent()) == 1)

        login = self.server.sent()[0]
        self.assertEqual("login", login["method"])
        self.assertIsInstance(login["id"], int)
        params = login["params"]
        self.assertEqual({"algo", "pKey", "nonce", "signature"}, set(params))
        self.assertEqual("HS256", params["algo"])
        self.assertEqual(API_KEY, params["pKey"])
        self.assertIsInstance(params["nonce"], str)
        self.assertGreaterEqual(len(params["nonce"]), 16)
        expected_signature = hmac.new(API_SECRET.encode("utf8"), params["nonce"].encode("utf8"),
                                      hashlib.sha256).hexdigest()
        self.assertEqual(expected_signature, params["signature"])

    async def test_login_nonce_is_fresh_on_every_connection(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            error_reply(request, 1002, "Authorization failed")]
        self.max_reconnects = 2
        self.start_listening()
        await self.wait_until(lambda: len(self.server.websockets) == 2 and len(self.server.sent(1)) == 1)

        first, second = self.server.sent(0)[0], self.server.sent(1)[0]
        self.assertNotEqual(first["params"]["nonce"], second["params"]["nonce"])
        self.assertNotEqual(first["id"], second["id"])

    async def test_connects_to_the_configured_url_with_heartbeat_and_silence_timeout(self):
        with patch.dict(os.environ, {CONSTANTS.WSS_URL_ENV_VAR: "wss://sandbox.example/ws"}):
            self.start_listening()
            await self.wait_for_session()

        session = self.server.sessions[0]
        self.assertEqual(("wss://sandbox.example/ws",), session.connection_args)
        # WSConnection hands `ping_timeout` to aiohttp as its heartbeat (ping when idle, pong deadline = half).
        self.assertEqual(CONSTANTS.WS_PING_INTERVAL, session.connection_kwargs["heartbeat"])
        self.assertFalse(session.connection_kwargs["autoping"])
        # ...and `message_timeout` as the timeout of every receive: silence longer than that raises TimeoutError.
        self.assertEqual((CONSTANTS.WS_SILENCE_TIMEOUT,), self.server.websockets[0].receive.call_args.args)

    async def test_successful_login_is_logged_and_followed_by_the_subscriptions(self):
        self.start_listening()
        await self.wait_for_session()

        sent = self.server.sent()
        self.assertEqual(["login", "subscribeReports", "subscribeBalances"], [m["method"] for m in sent])
        self.assertEqual({}, sent[1]["params"])
        self.assertEqual({}, sent[2]["params"])
        self.assertEqual(3, len({m["id"] for m in sent}), "every request has its own id")
        self.assertTrue(self.is_logged("INFO", "Logged in to the NonKYC private stream."))
        self.assertTrue(self.is_logged("INFO", "Subscribed to NonKYC order reports and balances."))

    async def test_subscriptions_are_sent_only_after_the_login_reply(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: []
        self.start_listening()
        await self.wait_until(lambda: len(self.server.sent()) == 1)
        for _ in range(20):
            await asyncio.sleep(0)
        self.assertEqual(["login"], self.server.sent_methods())

        self.server.push(ok_reply(self.server.sent()[0]))
        await self.wait_for_session()
        self.assertEqual(["login", "subscribeReports", "subscribeBalances"], self.server.sent_methods())

    async def test_login_error_reply_raises_io_error_with_code_and_message_only(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            error_reply(request, 1002, "Authorization failed")]

        with self.assertRaises(IOError) as context:
            await self.data_source._connected_websocket_assistant()

        text = str(context.exception)
        self.assertEqual("NonKYC private stream login failed: code 1002, Authorization failed", text)
        self.assert_no_secret_in(text, self.server.sent()[0])

    async def test_login_error_in_the_loop_is_logged_without_secrets_and_nothing_is_subscribed(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            error_reply(request, 1002, "Authorization failed")]
        self.start_listening()
        await self.wait_until(lambda: self.reconnect_delays == [1.0])

        self.assertTrue(self.is_logged(
            "ERROR", "NonKYC private stream login failed: code 1002, Authorization failed. Reconnecting in 1 s."))
        self.assertEqual(["login"], self.server.sent_methods())
        self.assertFalse(self.server.connections[0].connected, "the connection was closed")
        self.assertIsNone(self.data_source._ws_assistant)
        for message in self.log_messages():
            self.assert_no_secret_in(message, self.server.sent()[0])

    async def test_login_with_unexpected_reply_fails(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            {"jsonrpc": "2.0", "result": False, "id": request["id"]}]

        with self.assertRaises(IOError) as context:
            await self.data_source._connected_websocket_assistant()
        self.assertIn("NonKYC private stream login failed: unexpected reply", str(context.exception))

    async def test_login_reply_with_the_id_as_a_string_is_accepted(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            {"jsonrpc": "2.0", "result": True, "id": str(request["id"])}]
        self.start_listening()
        await self.wait_for_session()
        self.assertTrue(self.is_logged("INFO", "Logged in to the NonKYC private stream."))

    async def test_login_without_reply_times_out_and_reconnects(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: (
            [] if index == 0 else [ok_reply(request)])
        self.max_reconnects = 2
        self.start_listening()
        await self.wait_for_session()

        login_id = self.server.sent(0)[0]["id"]
        self.assertTrue(self.is_logged(
            "ERROR", f"NonKYC private stream login timed out: no reply to login (id {login_id}) within 0.05 s. "
                     f"Reconnecting in 1 s."))
        self.assertEqual([1.0], self.reconnect_delays)
        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual(["login", "subscribeReports", "subscribeBalances"], self.server.sent_methods(1))

    async def test_login_wait_uses_the_login_timeout(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: []
        self.data_source._login_timeout = 0.2
        loop = asyncio.get_running_loop()
        started = loop.time()

        with self.assertRaises(IOError):
            await self.data_source._connected_websocket_assistant()
        self.assertGreaterEqual(loop.time() - started, 0.19)

    async def test_connection_closed_while_waiting_for_the_login_reply(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: []
        self.start_listening()
        await self.wait_until(lambda: len(self.server.sent()) == 1)

        await self.server.connections[0].disconnect()
        self.server.push("", message_type=aiohttp.WSMsgType.CLOSED)
        await self.wait_until(lambda: self.reconnect_delays == [1.0])

        self.assertTrue(self.is_logged(
            "WARNING", "The NonKYC private stream connection was closed (The NonKYC private stream closed while "
                       "waiting for the reply to login"))

    async def test_events_received_before_the_login_reply_are_forwarded_after_login(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [REPORT]
        self.start_listening()
        await self.wait_until(lambda: len(self.server.sent()) == 1)
        await self.mocking_assistant.run_until_all_aiohttp_messages_delivered(self.server.websockets[0])
        for _ in range(10):
            await asyncio.sleep(0)
        self.assertTrue(self.output.empty(), "nothing is forwarded before the login succeeded")

        self.server.push(ok_reply(self.server.sent()[0]))
        await self.wait_until(lambda: self.output.qsize() == 3)

        messages = self.drain_output()
        self.assertEqual(REPORT, messages[0])
        self.assertEqual("activeOrders", messages[1]["method"])
        self.assertEqual(CURRENT_BALANCES, messages[2])

    async def test_non_json_text_while_waiting_for_the_login_reply_is_skipped(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: [
            "<html>522 Connection timed out</html>", ok_reply(request)]
        self.start_listening()
        await self.wait_for_session()

        self.assertTrue(self.is_logged(
            "WARNING", "skipped a message that is not a JSON object: <html>522 Connection timed out</html>"))
        self.assertEqual(["activeOrders", "currentBalances"], [m["method"] for m in self.drain_output()])

    async def test_without_keys_no_connection_is_opened_and_the_retries_back_off(self):
        self.data_source = self.build_data_source("", "")
        self.data_source._sleep = self.fake_sleep
        self.max_reconnects = 4
        self.start_listening()
        await self.wait_until(lambda: len(self.reconnect_delays) == 4)

        self.assertEqual([1.0, 2.0, 4.0, 8.0], self.reconnect_delays)
        self.assertEqual([], self.server.websockets)
        self.assertTrue(self.is_logged(
            "ERROR", "NonKYC private stream: no API key and secret configured, cannot log in. Reconnecting in 1 s."))
        self.assertEqual(0, self.data_source.last_recv_time)

    async def test_exchange_with_empty_keys_builds_this_data_source(self):
        from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

        exchange = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=["BTC-USDT"],
                                  trading_required=False)
        data_source = exchange._create_user_stream_data_source()

        self.assertIsInstance(data_source, NonkycAPIUserStreamDataSource)
        self.assertEqual(0, data_source.last_recv_time)
        with self.assertRaises(IOError) as context:
            await data_source._connected_websocket_assistant()
        self.assertIn("no API key and secret configured", str(context.exception))

    # --- subscriptions ---

    async def test_active_orders_reply_and_current_balances_are_forwarded_unchanged(self):
        active_orders = {"jsonrpc": "2.0", "method": "activeOrders", "result": [dict(REPORT["params"])]}

        def reply_with_orders(index, request):
            return [dict(active_orders, id=request["id"])]

        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS] = reply_with_orders
        self.start_listening()
        await self.wait_until(lambda: self.output.qsize() == 2)

        reports_id = self.server.sent()[1]["id"]
        self.assertEqual([dict(active_orders, id=reports_id), CURRENT_BALANCES], self.drain_output())

    async def test_balances_subscription_confirmed_by_a_plain_ack(self):
        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES] = lambda index, request: [ok_reply(request)]
        self.start_listening()
        await self.wait_for_session()

        self.server.push(CURRENT_BALANCES)
        await self.wait_until(lambda: self.output.qsize() == 2)
        messages = self.drain_output()
        self.assertEqual("activeOrders", messages[0]["method"])
        self.assertEqual(CURRENT_BALANCES, messages[1])
        self.assertFalse(any("failed" in message for message in self.log_messages("WARNING")))

    async def test_balances_subscription_confirmed_by_current_balances_with_the_id(self):
        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES] = lambda index, request: [
            dict(CURRENT_BALANCES, id=request["id"])]
        self.start_listening()
        await self.wait_until(lambda: self.output.qsize() == 2)

        balances_id = self.server.sent()[2]["id"]
        self.assertEqual(dict(CURRENT_BALANCES, id=balances_id), self.drain_output()[1])
        self.assertTrue(self.data_source._session_ready)

    async def test_subscription_error_reply_is_logged_and_retried(self):
        def reject_first(index, request):
            if self.server.sent_methods().count("subscribeReports") == 1:
                return [error_reply(request, 503, "Service unavailable")]
            return [active_orders_reply(request)]

        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS] = reject_first
        self.start_listening()
        await self.wait_for_session()

        sent = self.server.sent()
        self.assertEqual(["login", "subscribeReports", "subscribeReports", "subscribeBalances"],
                         [m["method"] for m in sent])
        self.assertNotEqual(sent[1]["id"], sent[2]["id"])
        self.assertTrue(self.is_logged(
            "WARNING", f"NonKYC private stream: subscribeReports (id {sent[1]['id']}) failed: code 503, "
                       f"Service unavailable (attempt 1 of 3)."))
        self.assertEqual([], self.reconnect_delays)
        self.assertEqual(["activeOrders", "currentBalances"], [m["method"] for m in self.drain_output()])

    async def test_subscription_rejected_every_time_reconnects_after_the_longest_delay(self):
        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES] = lambda index, request: [
            error_reply(request, 1003, "Action forbidden for this API key")]
        self.start_listening()
        await self.wait_until(lambda: len(self.reconnect_delays) == 1)

        self.assertEqual(3, self.server.sent_methods().count("subscribeBalances"))
        self.assertEqual([float(CONSTANTS.WS_RECONNECT_BACKOFF_MAX)], self.reconnect_delays)
        self.assertEqual(3, sum("subscribeBalances" in m and "code 1003, Action forbidden for this API key" in m
                                for m in self.log_messages("WARNING")))
        self.assertTrue(self.is_logged(
            "ERROR", "NonKYC private stream: subscribeBalances failed 3 times (last: code 1003, Action forbidden "
                     "for this API key). Reconnecting in 30 s."))
        self.assertFalse(self.data_source._session_ready)
        # The activeOrders that arrived before the failure still reaches the exchange.
        self.assertEqual(["activeOrders"], [m["method"] for m in self.drain_output()])

    async def test_subscription_without_reply_is_sent_again_and_a_late_error_names_the_method(self):
        def silent_first(index, request):
            if self.server.sent_methods().count("subscribeBalances") == 1:
                return []
            return [ok_reply(request)]

        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES] = silent_first
        self.start_listening()
        await self.wait_for_session()

        first_id = self.server.sent()[2]["id"]
        self.assertTrue(self.is_logged(
            "WARNING", f"NonKYC private stream: subscribeBalances (id {first_id}) failed: no reply within 0.05 s "
                       f"(attempt 1 of 3)."))

        self.server.push({"jsonrpc": "2.0", "error": {"code": 500, "message": "Internal error"}, "id": first_id})
        await self.wait_until(lambda: self.is_logged("WARNING", "was rejected"))
        self.assertTrue(self.is_logged(
            "WARNING", f"NonKYC private stream: subscribeBalances (id {first_id}) was rejected: code 500, "
                       f"Internal error"))

    async def test_subscription_reply_with_unexpected_content_is_retried(self):
        def odd_first(index, request):
            if self.server.sent_methods().count("subscribeReports") == 1:
                return [{"jsonrpc": "2.0", "result": False, "id": request["id"]}]
            return [active_orders_reply(request)]

        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS] = odd_first
        self.start_listening()
        await self.wait_for_session()
        self.assertTrue(self.is_logged("WARNING", "subscribeReports"))
        self.assertTrue(self.is_logged("WARNING", "failed: unexpected reply"))

    # --- events and other messages ---

    async def test_events_are_forwarded_unchanged_and_everything_else_is_consumed(self):
        self.start_listening()
        await self.wait_for_session()
        self.drain_output()

        self.server.push(REPORT)
        self.server.push({"jsonrpc": "2.0", "result": True, "id": 999})
        self.server.push({"jsonrpc": "2.0", "method": "ping"})
        self.server.push("pong")
        self.server.push(BALANCE_UPDATE)
        self.server.push({"jsonrpc": "2.0", "error": {"code": 402, "message": "Method not found"}, "id": 998})
        self.server.push("<html>520 Origin Error</html>")
        self.server.push({"jsonrpc": "2.0", "params": {"x": 1}})
        self.server.push({"jsonrpc": "2.0", "id": 997})
        self.server.push({"jsonrpc": "2.0", "method": "activeOrders", "error": {"code": 500, "message": "x"}})
        self.server.push([1, 2, 3])
        self.server.push(CURRENT_BALANCES)
        await self.wait_until(lambda: self.output.qsize() == 3)
        await self.mocking_assistant.run_until_all_aiohttp_messages_delivered(self.server.websockets[0])

        self.assertEqual([REPORT, BALANCE_UPDATE, CURRENT_BALANCES], self.drain_output())
        self.assertTrue(self.is_logged("DEBUG", "unknown request (id 999) acknowledged."))
        self.assertTrue(self.is_logged("DEBUG", "heartbeat"))
        self.assertTrue(self.is_logged(
            "WARNING", "NonKYC private stream: unknown request (id 998) was rejected: code 402, Method not found"))
        self.assertTrue(self.is_logged(
            "WARNING", "skipped a message that is not a JSON object: <html>520 Origin Error</html>"))
        self.assertTrue(self.is_logged("WARNING", "skipped an unrecognized message {'jsonrpc': '2.0', 'params'"))
        self.assertTrue(self.is_logged("WARNING", "skipped an unrecognized message {'jsonrpc': '2.0', 'id': 997}"))
        self.assertTrue(self.is_logged(
            "WARNING", "NonKYC private stream: activeOrders (id None) was rejected: code 500, x"))
        self.assertTrue(self.is_logged("WARNING", "not a JSON object: [1, 2, 3]"))
        self.assertIsNotNone(self.data_source._ws_assistant, "the stream is still running")

    async def test_unknown_method_is_logged_once_as_warning_then_as_debug(self):
        self.start_listening()
        await self.wait_for_session()

        ticker = {"jsonrpc": "2.0", "method": "ticker", "params": {"symbol": "BTC/USDT"}}
        self.server.push(ticker)
        self.server.push(ticker)
        self.server.push(REPORT)
        await self.wait_until(lambda: self.output.qsize() == 3)

        text = "NonKYC private stream: skipped a message with the unknown method ticker"
        self.assertEqual(1, sum(text in m for m in self.log_messages("WARNING")))
        self.assertEqual(1, sum(text in m for m in self.log_messages("DEBUG")))

    async def test_long_messages_are_truncated_in_logs(self):
        self.start_listening()
        await self.wait_for_session()

        self.server.push("x" * 5000)
        self.server.push(REPORT)
        await self.wait_until(lambda: self.output.qsize() == 3)

        warning = next(m for m in self.log_messages("WARNING") if "not a JSON object" in m)
        self.assertLess(len(warning), 400)
        self.assertTrue(warning.endswith("..."))

    async def test_an_error_while_handling_one_message_is_logged_and_the_stream_goes_on(self):
        self.start_listening()
        await self.wait_for_session()
        self.drain_output()

        with patch.object(self.data_source, "_consume_message", side_effect=ValueError("boom")):
            self.server.push({"jsonrpc": "2.0", "method": "ticker"})
            self.server.push(REPORT)
            await self.wait_until(lambda: self.output.qsize() == 1)

        self.assertEqual([REPORT], self.drain_output())
        self.assertTrue(self.is_logged(
            "ERROR", "NonKYC private stream: unexpected error while handling the message "
                     "{'jsonrpc': '2.0', 'method': 'ticker'}; skipped."))

    # --- interruptions, reconnection, heartbeat ---

    async def test_server_close_raises_connection_error_and_the_stream_reconnects(self):
        self.max_reconnects = 2
        self.start_listening()
        await self.wait_for_session()

        self.server.push("", index=0, message_type=aiohttp.WSMsgType.CLOSE)
        await self.wait_until(lambda: len(self.server.websockets) == 2 and self.data_source._session_ready)

        self.assertTrue(self.is_logged("WARNING", "The NonKYC private stream connection was closed (The WS "
                                                  "connection was closed unexpectedly."))
        self.assertTrue(self.is_logged("WARNING", "Reconnecting in 1 s."))
        self.assertEqual([1.0], self.reconnect_delays)
        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual(["login", "subscribeReports", "subscribeBalances"], self.server.sent_methods(1))
        # Both subscriptions' initial snapshots arrive again after the reconnection.
        self.assertEqual(["activeOrders", "currentBalances"] * 2, [m["method"] for m in self.drain_output()])

    async def test_stream_ending_without_a_close_frame_reconnects(self):
        self.start_listening()
        await self.wait_for_session()

        # Our side closed the connection: the message iterator simply ends.
        await self.server.connections[0].disconnect()
        self.server.push("", message_type=aiohttp.WSMsgType.CLOSED)
        await self.wait_until(lambda: self.reconnect_delays == [1.0])

        self.assertTrue(self.is_logged(
            "WARNING", "The NonKYC private stream connection was closed (The NonKYC private stream was "
                       "disconnected.). Reconnecting in 1 s."))

    async def test_silence_longer_than_the_message_timeout_reconnects(self):
        self.start_listening()
        await self.wait_for_session()

        self.mocking_assistant.add_websocket_aiohttp_exception(self.server.websockets[0], asyncio.TimeoutError())
        await self.wait_until(lambda: self.reconnect_delays == [1.0])

        self.assertTrue(self.is_logged(
            "WARNING", f"The NonKYC private stream timed out (Message receive timed out.; silence limit "
                       f"{CONSTANTS.WS_SILENCE_TIMEOUT} s). Reconnecting in 1 s."))
        self.assertFalse(self.server.connections[0].connected)

    async def test_timeout_without_text_is_described(self):
        self.data_source._log_interruption(TimeoutError(), delay=2)
        self.assertTrue(self.is_logged("WARNING", "timed out (no message received; silence limit"))

    async def test_silence_timeout_during_a_subscription_wait_is_not_a_missing_reply(self):
        self.server.handlers[CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS] = lambda index, request: []
        self.data_source._subscription_timeout = 5
        self.start_listening()
        await self.wait_until(lambda: "subscribeReports" in self.server.sent_methods())

        self.mocking_assistant.add_websocket_aiohttp_exception(self.server.websockets[0], asyncio.TimeoutError())
        await self.wait_until(lambda: self.reconnect_delays == [1.0])

        self.assertEqual(1, self.server.sent_methods(0).count("subscribeReports"))
        self.assertTrue(self.is_logged("WARNING", "The NonKYC private stream timed out (Message receive timed out."))

    async def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_successful_login(self):
        failing_connections = 7
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: (
            [error_reply(request, 1002, "Authorization failed")] if index < failing_connections
            else [ok_reply(request)])
        self.max_reconnects = failing_connections + 1
        self.start_listening()
        await self.wait_until(lambda: len(self.server.websockets) == failing_connections + 1
                              and self.data_source._session_ready)
        self.assertEqual([1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], self.reconnect_delays)

        self.server.push("", message_type=aiohttp.WSMsgType.CLOSE)
        await self.wait_until(lambda: len(self.reconnect_delays) == failing_connections + 1)
        self.assertEqual(1.0, self.reconnect_delays[-1])

    async def test_unexpected_error_is_logged_with_traceback_and_the_stream_reconnects(self):
        self.server.connection_errors.append(ValueError("unexpected"))
        self.max_reconnects = 2
        self.start_listening()
        await self.wait_for_session()

        records = [r for r in self.log_recorder.records if r.levelname == "ERROR"]
        self.assertEqual("Unexpected error while listening to the NonKYC private stream. Reconnecting in 1 s.",
                         records[0].getMessage())
        self.assertIsNotNone(records[0].exc_info)
        self.assertEqual([1.0], self.reconnect_delays)

    async def test_interruption_disconnects_and_clears_the_assistant_and_pending_state(self):
        self.start_listening()
        await self.wait_for_session()
        ws_assistant = self.data_source._ws_assistant
        ping_task = self.data_source._ping_task
        self.data_source._requests_in_flight["42"] = "subscribeReports"
        self.data_source._buffered_events.append(REPORT)
        self.drain_output()

        await self.data_source._on_user_stream_interruption(websocket_assistant=ws_assistant)
        await asyncio.sleep(0)

        self.assertIsNone(self.data_source._ws_assistant)
        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual({}, self.data_source._requests_in_flight)
        self.assertIsNone(self.data_source._ping_task)
        self.assertTrue(ping_task.cancelled())
        self.assertFalse(self.data_source._session_ready)
        self.assertEqual([REPORT], self.drain_output(), "buffered events are not lost")

    async def test_interruption_tolerates_a_failing_disconnect(self):
        ws_assistant = MagicMock()
        ws_assistant.disconnect = AsyncMock(side_effect=RuntimeError("already gone"))
        self.data_source._ws_assistant = ws_assistant

        await self.data_source._on_user_stream_interruption(websocket_assistant=None)

        ws_assistant.disconnect.assert_awaited_once()
        self.assertIsNone(self.data_source._ws_assistant)
        self.assertTrue(self.is_logged("DEBUG", "error while disconnecting (already gone)"))

    async def test_cancellation_propagates_and_closes_the_connection(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: []
        self.data_source._login_timeout = 10
        self.start_listening()
        await self.wait_until(lambda: len(self.server.sent()) == 1)

        self.listening_task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await self.listening_task
        self.listening_task = None

        self.assertFalse(self.server.connections[0].connected)
        self.assertIsNone(self.data_source._ws_assistant)
        self.assertEqual([], self.reconnect_delays)

    async def test_pings_are_sent_periodically_while_connected(self):
        self.data_source._ping_interval = 0.01
        self.start_listening()
        await self.wait_for_session()

        websocket = self.server.websockets[0]
        await self.wait_until(lambda: websocket.ping.await_count >= 3)

        self.server.push("", message_type=aiohttp.WSMsgType.CLOSE)
        await self.wait_until(lambda: self.reconnect_delays == [1.0])
        pings_after_close = websocket.ping.await_count
        await asyncio.sleep(0.05)
        self.assertEqual(pings_after_close, websocket.ping.await_count, "the pinger stops with the connection")

    async def test_a_failed_ping_stops_the_pinger_quietly(self):
        self.data_source._ping_interval = 0.01
        self.start_listening()
        await self.wait_for_session()
        self.server.websockets[0].ping.side_effect = ConnectionResetError("reset")

        await self.wait_until(lambda: self.is_logged("DEBUG", "NonKYC private stream: ping failed (reset)."))
        await self.wait_until(lambda: self.data_source._ping_task is None or self.data_source._ping_task.done())
        self.assertIsNotNone(self.data_source._ws_assistant, "the receive loop decides about reconnecting")

    async def test_last_recv_time_reflects_traffic_of_the_logged_in_stream_only(self):
        self.server.handlers[CONSTANTS.WS_METHOD_LOGIN] = lambda index, request: (
            [error_reply(request, 1002, "Authorization failed")] if index == 0 else [ok_reply(request)])
        self.assertEqual(0, self.data_source.last_recv_time)
        self.start_listening()
        await self.wait_until(lambda: self.reconnect_delays == [1.0])
        self.assertGreater(self.server.connections[0].last_recv_time, 0)
        self.assertEqual(0, self.data_source.last_recv_time, "a failed login does not count as a live stream")

        self.max_reconnects = 2
        await self.wait_for_session()
        connection = self.server.connections[1]
        self.assertEqual(connection.last_recv_time, self.data_source.last_recv_time)

        self.server.push(REPORT, index=1)
        before = connection.last_recv_time
        await self.wait_until(lambda: connection.last_recv_time > before)
        self.assertEqual(connection.last_recv_time, self.data_source.last_recv_time)

        self.server.push("", index=1, message_type=aiohttp.WSMsgType.CLOSE)
        await self.wait_until(lambda: len(self.reconnect_delays) == 2)
        self.assertIsNone(self.data_source._ws_assistant)
        self.assertEqual(connection.last_recv_time, self.data_source.last_recv_time,
                         "the time of the last message survives the disconnection")

    async def test_stop_cancels_the_pinger_and_disconnects(self):
        self.start_listening()
        await self.wait_for_session()
        ping_task = self.data_source._ping_task

        await self.data_source.stop()
        await asyncio.sleep(0)

        self.assertTrue(ping_task.cancelled())
        self.assertIsNone(self.data_source._ws_assistant)
        self.assertFalse(self.server.connections[0].connected)

    async def test_buffered_events_wait_for_a_queue(self):
        self.data_source._buffered_events.append(REPORT)
        self.data_source._flush_buffered_events()
        self.assertEqual([REPORT], self.data_source._buffered_events)

        self.data_source._output_queue = self.output
        self.data_source._flush_buffered_events()
        self.assertEqual([], self.data_source._buffered_events)
        self.assertEqual([REPORT], self.drain_output())
