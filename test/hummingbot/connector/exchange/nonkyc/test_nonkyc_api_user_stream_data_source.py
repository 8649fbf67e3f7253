"""
The private stream data source (nonkyc_api_user_stream_data_source.py) against a fake NonKYC server: login and
subscriptions, the events it forwards, reconnection, pings and liveness. The set-up is in
nonkyc_user_stream_test_support.py.
"""
import asyncio
import hashlib
import hmac
import os
import time
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import rpc_error, rpc_result, wait_until
from test.hummingbot.connector.exchange.nonkyc.nonkyc_user_stream_test_support import (
    API_KEY,
    API_SECRET,
    BALANCE_UPDATE,
    CLOSED_BY_SERVER,
    CURRENT_BALANCES,
    LOGGED_IN,
    LOGIN,
    REPORT,
    SESSION_REQUESTS,
    SUBSCRIBE_BALANCES,
    SUBSCRIBE_REPORTS,
    SUBSCRIBED,
    FailingOnceQueue,
    NonkycUserStreamTestCase,
    active_orders,
    methods,
    no_reply,
)
from typing import Any, Dict, List
from unittest.mock import patch

import aiohttp

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_api_user_stream_data_source import NonkycAPIUserStreamDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange


class NonkycAPIUserStreamDataSourceTests(NonkycUserStreamTestCase):

    # --- login ---

    async def test_login_message_shape_and_hmac_signature(self):
        self.server.replies[LOGIN] = no_reply
        self.start_listening()
        await self.wait_for_request(LOGIN)

        login = self.server.sent()[0]
        self.assertEqual({"method", "params", "id"}, set(login))
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

    async def test_login_nonce_and_request_id_are_fresh_on_every_connection(self):
        self.server.replies[LOGIN] = lambda index, request: [rpc_error(request, 1002, "Authorization failed")]
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_request(LOGIN, index=1)

        first, second = self.server.sent(0)[0], self.server.sent(1)[0]
        self.assertNotEqual(first["params"]["nonce"], second["params"]["nonce"])
        self.assertNotEqual(first["params"]["signature"], second["params"]["signature"])
        self.assertNotEqual(first["id"], second["id"])

    async def test_connects_to_the_configured_url_with_heartbeat_and_silence_timeout(self):
        self.data_source._stream_core.silence_timeout = 45
        with patch.dict(os.environ, {CONSTANTS.WSS_URL_ENV_VAR: "wss://sandbox.example/ws"}):
            self.start_listening()
            await self.wait_for_sessions()

        session = self.server.sessions[0]
        self.assertEqual(("wss://sandbox.example/ws",), session.connection_args)
        # WSConnection hands `ping_timeout` to aiohttp as its heartbeat (ping when idle, pong deadline = half).
        self.assertEqual(CONSTANTS.WS_PING_INTERVAL, session.connection_kwargs["heartbeat"])
        self.assertFalse(session.connection_kwargs["autoping"])
        # ...and `message_timeout` as the timeout of every receive: a longer silence raises TimeoutError.
        self.assertEqual((45,), self.server.websockets[0].receive.call_args.args)

    async def test_login_is_logged_then_reports_and_balances_are_subscribed_in_order(self):
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual((CONSTANTS.WSS_URL,), self.server.sessions[0].connection_args)
        sent = self.server.sent()
        self.assertEqual(SESSION_REQUESTS, methods(sent))
        self.assertEqual({}, sent[1]["params"])
        self.assertEqual({}, sent[2]["params"])
        self.assertEqual(3, len({message["id"] for message in sent}), "every request has its own id")
        self.assertEqual([LOGGED_IN, SUBSCRIBED], self.log_messages("INFO"))
        self.assertEqual([], self.log_messages("WARNING") + self.log_messages("ERROR"))
        self.assertEqual([], self.reconnects.delays, "no wait before the first connection")
        self.assertEqual(1, self.data_source.connection_count)

    async def test_subscriptions_wait_for_the_login_reply_and_events_meanwhile_are_forwarded_in_order(self):
        self.server.replies[LOGIN] = no_reply
        self.start_listening()
        await self.wait_for_request(LOGIN)

        self.server.push_all([REPORT, BALANCE_UPDATE])
        await self.wait_for_output(2)
        self.assertEqual([LOGIN], self.server.sent_methods(), "nothing is subscribed before the login reply")

        self.server.push(rpc_result(self.server.sent()[0]))
        await self.wait_for_sessions()
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods())
        reports_request = self.server.sent()[1]
        self.assertEqual([REPORT, BALANCE_UPDATE, active_orders(reports_request), CURRENT_BALANCES],
                         self.drain_output())

    async def test_login_rejected_is_logged_without_secrets_and_nothing_is_subscribed(self):
        self.server.replies[LOGIN] = lambda index, request: [rpc_error(request, 1002, "Authorization failed")]
        self.start_listening()
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(
            ["NonKYC private stream login failed: code 1002, Authorization failed. Reconnecting in 1 s."],
            self.log_messages("ERROR"))
        self.assertEqual([LOGIN], self.server.sent_methods())
        self.assertEqual([1.0], self.reconnects.delays)
        self.assertFalse(self.server.connections[0].connected, "the connection was closed")
        self.assertTrue(self.output.empty())
        login = self.server.sent()[0]
        for message in self.log_messages():
            for secret in (API_KEY, API_SECRET, login["params"]["nonce"], login["params"]["signature"]):
                self.assertNotIn(secret, message)

    async def test_login_answered_with_false_fails(self):
        self.server.replies[LOGIN] = lambda index, request: [rpc_result(request, False)]
        self.start_listening()
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(["NonKYC private stream login failed: result False. Reconnecting in 1 s."],
                         self.log_messages("ERROR"))
        self.assertEqual([LOGIN], self.server.sent_methods())

    async def test_login_reply_with_the_id_as_a_string_is_accepted(self):
        self.server.replies[LOGIN] = lambda index, request: [
            {"jsonrpc": "2.0", "result": True, "id": str(request["id"])}]
        self.start_listening()
        await self.wait_for_sessions()

        self.assertTrue(self.is_logged("INFO", LOGGED_IN))
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods())

    async def test_login_without_reply_fails_after_the_reply_timeout_and_the_stream_reconnects(self):
        loop = asyncio.get_running_loop()
        login_sent_at: List[float] = []

        def login_reply(index: int, request: Dict[str, Any]) -> List[Any]:
            if index == 0:
                login_sent_at.append(loop.time())
                return []
            return [rpc_result(request)]

        self.server.replies[LOGIN] = login_reply
        self.data_source._stream_core.reply_timeout = 0.2
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual(["NonKYC private stream login failed: no reply (none within 0.2 s). Reconnecting in 1 s."],
                         self.log_messages("ERROR"))
        self.assertGreaterEqual(self.reconnects.started_at[0] - login_sent_at[0], 0.19,
                                "the login reply is awaited for the reply timeout")
        self.assertEqual([1.0], self.reconnects.delays)
        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods(1))

    async def test_connection_closed_while_waiting_for_the_login_reply_fails_it_at_once(self):
        self.server.replies[LOGIN] = no_reply
        self.data_source._stream_core.reply_timeout = 60
        self.start_listening()
        await self.wait_for_request(LOGIN)

        self.server.close()
        # Far less than the reply timeout: the login does not wait for a reply that cannot come any more.
        await self.wait_for_reconnect_delays(1)

        warnings = self.log_messages("WARNING")
        self.assertEqual(1, len(warnings), warnings)
        self.assertTrue(warnings[0].startswith(CLOSED_BY_SERVER), warnings[0])
        self.assertTrue(warnings[0].endswith("Reconnecting in 1 s."), warnings[0])
        self.assertEqual([], self.log_messages("ERROR"), "neither a login failure nor an unhandled error")

    async def test_non_json_text_while_waiting_for_the_login_reply_is_skipped(self):
        self.server.replies[LOGIN] = lambda index, request: [
            "<html>522 Connection timed out</html>", rpc_result(request)]
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual(["NonKYC private stream: skipped a message that is not a JSON object: "
                          "'<html>522 Connection timed out</html>'"], self.log_messages("WARNING"))
        self.assertEqual(["activeOrders", "currentBalances"], methods(self.drain_output()))

    async def test_without_keys_no_connection_is_opened_and_the_retries_back_off(self):
        data_source = self.build_data_source("", "")
        self.reconnects.allow(3)
        self.start_listening(data_source)
        await self.wait_for_reconnect_delays(4)

        self.assertEqual([1.0, 2.0, 4.0, 8.0], self.reconnects.delays)
        self.assertEqual([], self.server.websockets)
        self.assertEqual(
            "NonKYC private stream: no API key and secret configured, cannot log in. Reconnecting in 1 s.",
            self.log_messages("ERROR")[0])
        self.assertEqual(0, data_source.last_recv_time)

    async def test_exchange_with_empty_keys_builds_a_data_source_that_cannot_log_in(self):
        exchange = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=["BTC-USDT"],
                                  trading_required=False)
        data_source = exchange._create_user_stream_data_source()
        data_source._sleep = self.reconnects.sleep

        self.assertIsInstance(data_source, NonkycAPIUserStreamDataSource)
        self.assertEqual(0, data_source.last_recv_time)
        self.start_listening(data_source)
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(
            ["NonKYC private stream: no API key and secret configured, cannot log in. Reconnecting in 1 s."],
            self.log_messages("ERROR"))
        self.assertEqual(0, data_source.last_recv_time)
        self.assertEqual(0, data_source.connection_count)

    # --- subscriptions ---

    async def test_active_orders_and_current_balances_are_forwarded_unchanged(self):
        orders = [{key: value for key, value in REPORT["params"].items() if not key.startswith("trade")}]
        self.server.replies[SUBSCRIBE_REPORTS] = lambda index, request: [active_orders(request, orders)]
        self.start_listening()
        await self.wait_for_sessions()

        reports_request = self.server.sent_requests(SUBSCRIBE_REPORTS)[0]
        self.assertEqual([active_orders(reports_request, orders), CURRENT_BALANCES], self.drain_output())

    async def test_events_between_the_subscription_replies_keep_their_order(self):
        self.server.replies[SUBSCRIBE_REPORTS] = lambda index, request: [active_orders(request), REPORT]
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual(["activeOrders", "report", "currentBalances"], methods(self.drain_output()))

    async def test_balances_subscription_confirmed_by_a_plain_ack(self):
        self.server.replies[SUBSCRIBE_BALANCES] = lambda index, request: [rpc_result(request)]
        self.start_listening()
        await self.wait_for_sessions()

        self.server.push(CURRENT_BALANCES)
        await self.wait_for_output(2)
        self.assertEqual(["activeOrders", "currentBalances"], methods(self.drain_output()))
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods(), "nothing sent again")
        self.assertEqual([], self.log_messages("WARNING"))

    async def test_balances_subscription_confirmed_by_current_balances_with_the_request_id(self):
        self.server.replies[SUBSCRIBE_BALANCES] = lambda index, request: [dict(CURRENT_BALANCES, id=request["id"])]
        self.start_listening()
        await self.wait_for_sessions()

        balances_request = self.server.sent_requests(SUBSCRIBE_BALANCES)[0]
        self.assertEqual(dict(CURRENT_BALANCES, id=balances_request["id"]), self.drain_output()[1])
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods())

    async def test_rejected_subscription_is_logged_and_sent_again(self):
        def reject_first(index: int, request: Dict[str, Any]) -> List[Any]:
            if len(self.server.sent_requests(SUBSCRIBE_REPORTS)) == 1:
                return [rpc_error(request, 503, "Service unavailable")]
            return [active_orders(request)]

        self.server.replies[SUBSCRIBE_REPORTS] = reject_first
        self.start_listening()
        await self.wait_for_sessions()

        sent = self.server.sent()
        self.assertEqual([LOGIN, SUBSCRIBE_REPORTS, SUBSCRIBE_REPORTS, SUBSCRIBE_BALANCES], methods(sent))
        self.assertNotEqual(sent[1]["id"], sent[2]["id"])
        self.assertEqual(["NonKYC private stream: subscribeReports failed: code 503, Service unavailable "
                          "(attempt 1 of 3)."], self.log_messages("WARNING"))
        self.assertEqual([], self.reconnects.delays, "a retried subscription does not reconnect")
        self.assertEqual(["activeOrders", "currentBalances"], methods(self.drain_output()))

    async def test_subscription_rejected_three_times_reconnects_after_the_longest_delay_and_keeps_it(self):
        self.server.replies[SUBSCRIBE_BALANCES] = lambda index, request: [
            rpc_error(request, 1003, "Action forbidden for this API key")]
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_reconnect_delays(2)

        maximum = float(CONSTANTS.WS_RECONNECT_BACKOFF_MAX)
        self.assertEqual([maximum, maximum], self.reconnects.delays, "even though each login succeeded")
        for index in (0, 1):
            self.assertEqual([LOGIN, SUBSCRIBE_REPORTS] + [SUBSCRIBE_BALANCES] * 3, self.server.sent_methods(index))
        self.assertEqual(
            [f"NonKYC private stream: subscribeBalances failed: code 1003, Action forbidden for this API key "
             f"(attempt {attempt} of 3)." for attempt in (1, 2, 3)] * 2,
            self.log_messages("WARNING"))
        self.assertEqual(
            ["NonKYC private stream: subscribeBalances failed 3 times (last: code 1003, Action forbidden for this "
             "API key). Reconnecting in 30 s."] * 2,
            self.log_messages("ERROR"))
        self.assertFalse(self.is_logged("INFO", SUBSCRIBED))
        self.assertEqual(0, self.data_source.last_recv_time, "a session without its subscriptions is not live")
        # The activeOrders that arrived before each failure still reaches the exchange.
        self.assertEqual(["activeOrders", "activeOrders"], methods(self.drain_output()))

    async def test_subscription_without_reply_is_sent_again_and_a_late_error_reply_is_logged(self):
        def silent_first(index: int, request: Dict[str, Any]) -> List[Any]:
            if len(self.server.sent_requests(SUBSCRIBE_BALANCES)) == 1:
                return []
            return [rpc_result(request)]

        self.server.replies[SUBSCRIBE_BALANCES] = silent_first
        self.data_source._stream_core.reply_timeout = 0.2
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual([SUBSCRIBE_BALANCES, SUBSCRIBE_BALANCES], self.server.sent_methods()[2:])
        self.assertEqual(["NonKYC private stream: subscribeBalances failed: no reply (none within 0.2 s) "
                          "(attempt 1 of 3)."], self.log_messages("WARNING"))

        first_id = self.server.sent_requests(SUBSCRIBE_BALANCES)[0]["id"]
        self.server.push(rpc_error({"id": first_id}, 500, "Internal error"))
        late_error = f"NonKYC private stream: error reply to request {first_id}: code 500, Internal error"
        await wait_until(lambda: self.is_logged("WARNING", late_error), what="the late error reply to be logged")
        self.assertEqual([], self.reconnects.delays)

    async def test_subscription_answered_with_false_is_sent_again(self):
        def false_first(index: int, request: Dict[str, Any]) -> List[Any]:
            if len(self.server.sent_requests(SUBSCRIBE_REPORTS)) == 1:
                return [rpc_result(request, False)]
            return [active_orders(request)]

        self.server.replies[SUBSCRIBE_REPORTS] = false_first
        self.start_listening()
        await self.wait_for_sessions()

        self.assertEqual(["NonKYC private stream: subscribeReports failed: result False (attempt 1 of 3)."],
                         self.log_messages("WARNING"))
        self.assertEqual(2, len(self.server.sent_requests(SUBSCRIBE_REPORTS)))

    async def test_connection_closed_while_waiting_for_a_subscription_fails_it_at_once(self):
        self.server.replies[SUBSCRIBE_REPORTS] = no_reply
        self.data_source._stream_core.reply_timeout = 60
        self.start_listening()
        await self.wait_for_request(SUBSCRIBE_REPORTS)

        self.server.close()
        await self.wait_for_reconnect_delays(1)

        self.assertEqual([LOGIN, SUBSCRIBE_REPORTS], self.server.sent_methods(), "not sent again on a closed stream")
        warnings = self.log_messages("WARNING")
        self.assertEqual(1, len(warnings), warnings)
        self.assertTrue(warnings[0].startswith(CLOSED_BY_SERVER), warnings[0])
        self.assertTrue(warnings[0].endswith("Reconnecting in 1 s."), warnings[0])
        self.assertEqual([], self.log_messages("ERROR"))

    # --- events and other messages ---

    async def test_events_are_forwarded_unchanged_in_order_and_everything_else_is_consumed(self):
        self.start_listening()
        await self.wait_for_sessions()
        self.drain_output()

        self.server.push_all([
            REPORT,
            {"jsonrpc": "2.0", "result": True, "id": 999},
            {"jsonrpc": "2.0", "method": "ping"},
            "pong",
            BALANCE_UPDATE,
            {"jsonrpc": "2.0", "error": {"code": 402, "message": "Method not found"}, "id": 998},
            "<html>520 Origin Error</html>",
            {"jsonrpc": "2.0", "params": {"x": 1}},
            {"jsonrpc": "2.0", "id": 997},
            {"jsonrpc": "2.0", "method": "activeOrders", "error": {"code": 500, "message": "Internal error"}},
            [1, 2, 3],
            CURRENT_BALANCES,
        ])
        await self.wait_for_output(3)
        await wait_until(self.server.all_delivered, what="the data source to read every message")

        self.assertEqual([REPORT, BALANCE_UPDATE, CURRENT_BALANCES], self.drain_output())
        prefix = "NonKYC private stream: "
        self.assertEqual([
            prefix + "ignored a reply to no waiting request: {'jsonrpc': '2.0', 'result': True, 'id': 999}",
            prefix + "heartbeat {'jsonrpc': '2.0', 'method': 'ping'}.",
            prefix + "heartbeat 'pong'.",
        ], [message for message in self.log_messages("DEBUG") if "ignored" in message or "heartbeat" in message])
        self.assertEqual([
            prefix + "error reply to request 998: code 402, Method not found",
            prefix + "skipped a message that is not a JSON object: '<html>520 Origin Error</html>'",
            prefix + "skipped an unrecognized message {'jsonrpc': '2.0', 'params': {'x': 1}}",
            prefix + "skipped an unrecognized message {'jsonrpc': '2.0', 'id': 997}",
            prefix + "error reply to request None: code 500, Internal error",
            prefix + "skipped a message that is not a JSON object: [1, 2, 3]",
        ], self.log_messages("WARNING"))
        self.assertEqual([], self.reconnects.delays, "the stream goes on")

    async def test_unknown_method_is_logged_once_as_a_warning_then_at_debug_level(self):
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_sessions()

        ticker = {"jsonrpc": "2.0", "method": "ticker", "params": {"symbol": "BTC/USDT"}}
        candle = {"jsonrpc": "2.0", "method": "updateCandles", "params": {"symbol": "BTC/USDT"}}
        self.server.push_all([ticker, ticker, candle, REPORT])
        await self.wait_for_output(3)
        # Still once after a reconnection.
        self.server.close()
        await self.wait_for_sessions(2)
        self.server.push_all([ticker, REPORT])
        await self.wait_for_output(6)

        def count(level: str, method: str) -> int:
            return len(self.logged(level, f"NonKYC private stream: skipped a message with the unknown method {method}: "
                                          f"{{'jsonrpc': '2.0', 'method': '{method}'"))

        self.assertEqual((1, 2), (count("WARNING", "ticker"), count("DEBUG", "ticker")))
        self.assertEqual((1, 0), (count("WARNING", "updateCandles"), count("DEBUG", "updateCandles")))

    async def test_long_messages_are_shortened_in_logs(self):
        self.start_listening()
        await self.wait_for_sessions()

        self.server.push_all(["x" * 5000, REPORT])
        await self.wait_for_output(3)

        warning = self.logged("WARNING", "not a JSON object")[0]
        self.assertLess(len(warning), 400)
        self.assertTrue(warning.endswith("..."))

    async def test_an_error_while_handling_one_message_is_logged_and_the_stream_goes_on(self):
        self.output = FailingOnceQueue(failing_message=REPORT)
        self.start_listening()
        await self.wait_for_sessions()
        self.drain_output()

        self.server.push_all([REPORT, BALANCE_UPDATE])
        await self.wait_for_output(1)

        self.assertEqual([BALANCE_UPDATE], self.drain_output())
        errors = [record for record in self.log_recorder.records if record.levelname == "ERROR"]
        self.assertEqual(1, len(errors))
        self.assertTrue(errors[0].getMessage().startswith(
            "NonKYC private stream: unexpected error while handling the message {'jsonrpc': '2.0', 'method': "
            "'report'"), errors[0].getMessage())
        self.assertTrue(errors[0].getMessage().endswith("; skipped."))
        self.assertIsNotNone(errors[0].exc_info, "with the traceback")
        self.assertEqual([], self.reconnects.delays)

    # --- interruptions, reconnection, heartbeat ---

    async def test_server_close_is_logged_and_the_stream_reconnects_and_subscribes_again(self):
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_sessions()

        self.server.close(index=0)
        await self.wait_for_sessions(2)

        warnings = self.log_messages("WARNING")
        self.assertEqual(1, len(warnings), warnings)
        self.assertTrue(warnings[0].startswith(CLOSED_BY_SERVER), warnings[0])
        self.assertTrue(warnings[0].endswith("Reconnecting in 1 s."), warnings[0])
        self.assertEqual([], self.log_messages("ERROR"), "no unhandled error logged")
        self.assertEqual([1.0], self.reconnects.delays)
        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual(SESSION_REQUESTS, self.server.sent_methods(1))
        self.assertEqual(2, self.data_source.connection_count)
        # Both subscriptions' initial snapshots arrive again after the reconnection.
        self.assertEqual(["activeOrders", "currentBalances"] * 2, methods(self.drain_output()))

    async def test_stream_ending_without_a_close_frame_reconnects(self):
        self.start_listening()
        await self.wait_for_sessions()

        # The connection was closed on our side: the message iteration simply ends.
        await self.server.connections[0].disconnect()
        self.server.push("", message_type=aiohttp.WSMsgType.CLOSED)
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(["The NonKYC private stream connection was closed (the NonKYC private stream was "
                          "disconnected). Reconnecting in 1 s."], self.log_messages("WARNING"))

    async def test_silence_longer_than_the_silence_timeout_reconnects(self):
        self.start_listening()
        await self.wait_for_sessions()

        # What aiohttp raises when a receive waited `silence_timeout` seconds in vain.
        self.mocking_assistant.add_websocket_aiohttp_exception(self.server.websockets[0], asyncio.TimeoutError())
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(["The NonKYC private stream connection was closed (no message from NonKYC within 5 s "
                          "(TimeoutError('Message receive timed out.'))). Reconnecting in 1 s."],
                         self.log_messages("WARNING"))
        self.assertFalse(self.server.connections[0].connected)

    async def test_silence_while_waiting_for_a_subscription_is_reported_as_silence_not_as_a_missing_reply(self):
        self.server.replies[SUBSCRIBE_REPORTS] = no_reply
        self.data_source._stream_core.reply_timeout = 60
        self.start_listening()
        await self.wait_for_request(SUBSCRIBE_REPORTS)

        self.mocking_assistant.add_websocket_aiohttp_exception(self.server.websockets[0], asyncio.TimeoutError())
        await self.wait_for_reconnect_delays(1)

        self.assertEqual(1, len(self.server.sent_requests(SUBSCRIBE_REPORTS)))
        self.assertEqual(["The NonKYC private stream connection was closed (no message from NonKYC within 5 s "
                          "(TimeoutError('Message receive timed out.'))). Reconnecting in 1 s."],
                         self.log_messages("WARNING"))

    async def test_reconnect_delay_doubles_up_to_the_maximum_and_restarts_after_a_successful_login(self):
        failing_connections = 7
        self.server.replies[LOGIN] = lambda index, request: (
            [rpc_error(request, 1002, "Authorization failed")] if index < failing_connections
            else [rpc_result(request)])
        self.reconnects.allow(failing_connections)
        self.start_listening()
        await self.wait_for_sessions()

        expected = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        self.assertEqual(expected, self.reconnects.delays)
        # Each failure announces the delay that is then waited.
        self.assertEqual([f"Reconnecting in {delay:g} s." for delay in expected],
                         [message.rsplit(". ", 1)[1] for message in self.logged("ERROR", "login failed")])

        self.server.close()
        await self.wait_for_reconnect_delays(failing_connections + 1)
        self.assertEqual(1.0, self.reconnects.delays[-1])
        self.assertTrue(self.log_messages("WARNING")[-1].endswith("Reconnecting in 1 s."))
        self.assertEqual(failing_connections + 1, self.data_source.connection_count)

    async def test_unexpected_error_is_logged_with_traceback_and_the_stream_reconnects(self):
        self.server.connection_errors.append(ValueError("unexpected"))
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_sessions()

        errors = [record for record in self.log_recorder.records if record.levelname == "ERROR"]
        self.assertEqual(["Unexpected error while listening to the NonKYC private stream. Reconnecting in 1 s."],
                         [record.getMessage() for record in errors])
        self.assertIsNotNone(errors[0].exc_info)
        self.assertEqual([1.0], self.reconnects.delays)
        self.assertEqual(1, self.data_source.connection_count)

    async def test_a_failing_disconnect_is_logged_at_debug_level_and_the_stream_goes_on(self):
        self.server.replies[LOGIN] = lambda index, request: [] if index == 0 else [rpc_result(request)]
        self.reconnects.allow(1)
        self.start_listening()
        await self.wait_for_request(LOGIN)
        websocket = self.server.websockets[0]
        websocket.closed = False
        websocket.close.side_effect = RuntimeError("already gone")

        self.server.push(rpc_error(self.server.sent()[0], 1002, "Authorization failed"))
        await self.wait_for_sessions()

        websocket.close.assert_awaited()
        self.assertTrue(self.is_logged(
            "DEBUG", "NonKYC private stream: error while disconnecting (RuntimeError('already gone'))."))
        self.assertEqual(["NonKYC private stream login failed: code 1002, Authorization failed. Reconnecting in 1 s."],
                         self.log_messages("ERROR"))

    async def test_cancellation_propagates_and_closes_the_connection(self):
        self.server.replies[LOGIN] = no_reply
        self.data_source._stream_core.reply_timeout = 60
        task = self.start_listening()
        await self.wait_for_request(LOGIN)

        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task

        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual([], self.reconnects.delays)
        self.assertEqual([], self.log_messages("WARNING") + self.log_messages("ERROR"))

    async def test_pings_go_out_every_ping_interval_and_stop_with_the_connection(self):
        interval = 0.05
        self.data_source._stream_core.ping_interval = interval
        loop = asyncio.get_running_loop()
        connected_at: List[float] = []
        ping_times: List[float] = []

        def login_reply(index: int, request: Dict[str, Any]) -> List[Any]:
            if index == 0:  # sent right after the connection opened, before any ping
                connected_at.append(loop.time())
                self.server.websockets[0].ping.side_effect = lambda: ping_times.append(loop.time())
            return [rpc_result(request)]

        self.server.replies[LOGIN] = login_reply
        self.start_listening()
        await self.wait_for_sessions()
        await wait_until(lambda: len(ping_times) >= 3, what=lambda: f"3 pings, got {len(ping_times)}")

        tolerance = 0.01
        self.assertGreaterEqual(ping_times[0] - connected_at[0], interval - tolerance)
        for earlier, later in zip(ping_times, ping_times[1:]):
            self.assertGreaterEqual(later - earlier, interval - tolerance)

        self.server.close()
        await self.wait_for_reconnect_delays(1)
        pings_before_close = len(ping_times)
        self.reconnects.allow(1)
        await self.wait_for_sessions(2)
        # The new connection's pings are the clock: meanwhile the closed connection got none.
        await wait_until(lambda: self.server.websockets[1].ping.call_count >= 2,
                         what="2 pings on the new connection")
        self.assertEqual(pings_before_close, len(ping_times), "the pings stopped with the connection")

    async def test_a_failed_ping_is_logged_at_debug_level_and_the_stream_goes_on(self):
        self.data_source._stream_core.ping_interval = 0  # a ping on every turn of the event loop
        self.start_listening()
        await self.wait_for_sessions()
        self.drain_output()
        ping = self.server.websockets[0].ping
        ping.side_effect = ConnectionResetError("reset")

        failure = "NonKYC private stream: ping failed (ConnectionResetError('reset'))."
        await wait_until(lambda: self.is_logged("DEBUG", failure), what="the failed ping to be logged")
        pings = ping.call_count
        for _ in range(20):
            await asyncio.sleep(0)
        self.assertEqual(pings, ping.call_count, "no ping after the failed one")
        self.assertEqual(1, len(self.logged("DEBUG", failure)))

        # The receive loop decides about the connection: it is still open and events still arrive.
        self.server.push(REPORT)
        await self.wait_for_output(1)
        self.assertEqual([REPORT], self.drain_output())
        self.assertEqual([], self.reconnects.delays)
        self.assertEqual([], self.log_messages("WARNING") + self.log_messages("ERROR"))

    async def test_stop_disconnects_and_stops_the_pings(self):
        self.data_source._stream_core.ping_interval = 0  # a ping on every turn of the event loop
        self.start_listening()
        await self.wait_for_sessions()
        ping = self.server.websockets[0].ping
        await wait_until(lambda: ping.call_count > 0, what="a ping")

        await self.data_source.stop()
        pings = ping.call_count
        for _ in range(20):
            await asyncio.sleep(0)

        self.assertFalse(self.server.connections[0].connected)
        self.assertEqual(pings, ping.call_count, "no ping after stop")

    async def test_last_recv_time_counts_only_subscribed_sessions_and_survives_a_reconnection(self):
        self.server.replies[LOGIN] = lambda index, request: (
            [rpc_result(request)] if index == 1 else [rpc_error(request, 1002, "Authorization failed")])
        self.assertEqual(0, self.data_source.last_recv_time)
        self.start_listening()
        await self.wait_for_reconnect_delays(1)
        self.assertGreater(self.server.connections[0].last_recv_time, 0)
        self.assertEqual(0, self.data_source.last_recv_time, "a failed login does not make a live stream")

        self.reconnects.allow(1)
        await self.wait_for_sessions()
        self.assertGreater(self.data_source.last_recv_time, 0)
        self.assertEqual(self.server.connections[1].last_recv_time, self.data_source.last_recv_time)
        self.drain_output()

        before = time.time()
        self.server.push(REPORT)
        await self.wait_for_output(1)
        after = time.time()
        last_event_time = self.data_source.last_recv_time
        self.assertTrue(before <= last_event_time <= after, (before, last_event_time, after))

        self.server.close()
        await self.wait_for_reconnect_delays(2)
        self.assertEqual(last_event_time, self.data_source.last_recv_time, "it survives the disconnection")

        # The next connection's login fails: its later traffic does not count either.
        self.reconnects.allow(1)
        await self.wait_for_reconnect_delays(3)
        self.assertGreater(self.server.connections[2].last_recv_time, last_event_time)
        self.assertEqual(last_event_time, self.data_source.last_recv_time)
