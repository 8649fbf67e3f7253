import asyncio
import logging
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    FakeNonkycServer,
    LogAssertions,
    LogRecorder,
    rpc_error,
    rpc_result,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List
from unittest import TestCase

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import (
    NonkycStreamCore,
    ReconnectBackoff,
    RpcReply,
    describe,
    is_heartbeat,
)
from hummingbot.connector.test_support.network_mocking_assistant import NetworkMockingAssistant
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory


class RpcReplyTests(TestCase):

    def test_a_result_reply(self):
        reply = RpcReply.from_message({"jsonrpc": "2.0", "result": True, "id": 3})

        self.assertTrue(reply.accepted)
        self.assertTrue(reply.succeeded)
        self.assertFalse(reply.is_error)
        self.assertEqual("result True", reply.describe())

    def test_an_active_orders_reply_succeeds_without_being_a_plain_acknowledgement(self):
        # `subscribeReports` is answered by the activeOrders message: a list under `result` (empty when no order).
        reply = RpcReply.from_message({"jsonrpc": "2.0", "method": "activeOrders", "result": [], "id": 4})

        self.assertTrue(reply.succeeded)
        self.assertFalse(reply.accepted)

    def test_an_error_reply_of_the_live_shape(self):
        reply = RpcReply.from_message({"jsonrpc": "2.0", "error": {"code": 1002, "message": "Authorization failed"},
                                       "id": 1})

        self.assertTrue(reply.is_error)
        self.assertFalse(reply.succeeded)
        self.assertEqual((1002, "Authorization failed"), (reply.error_code, reply.error_message))
        self.assertEqual("code 1002, Authorization failed", reply.describe())

    def test_error_replies_of_unexpected_shapes_are_still_errors(self):
        as_text = RpcReply.from_message({"error": "Unknown method", "id": 2})
        code_as_text = RpcReply.from_message({"error": {"code": "x", "message": "odd"}, "id": 2})
        without_message = RpcReply.from_message({"error": {"code": 400}, "id": 2})

        self.assertEqual((None, "Unknown method"), (as_text.error_code, as_text.error_message))
        self.assertEqual((None, "odd"), (code_as_text.error_code, code_as_text.error_message))
        self.assertTrue(without_message.is_error)
        self.assertEqual(400, without_message.error_code)

    def test_false_or_null_results_do_not_confirm_anything(self):
        self.assertFalse(RpcReply.from_message({"result": False, "id": 1}).succeeded)
        self.assertFalse(RpcReply.from_message({"result": None, "id": 1}).succeeded)

    def test_a_missing_reply_says_why(self):
        reply = RpcReply.missing("none within 10 s")

        self.assertFalse(reply.answered)
        self.assertFalse(reply.succeeded)
        self.assertEqual("no reply (none within 10 s)", reply.describe())


class ReconnectBackoffTests(TestCase):

    def test_no_wait_first_then_doubling_up_to_the_maximum(self):
        backoff = ReconnectBackoff(initial=1.0, maximum=8.0)

        self.assertEqual([0.0, 1.0, 2.0, 4.0, 8.0, 8.0], [backoff.next_delay() for _ in range(6)])

    def test_an_established_session_brings_the_delay_back_to_the_start(self):
        backoff = ReconnectBackoff(initial=1.0, maximum=8.0)
        for _ in range(5):
            backoff.next_delay()

        backoff.session_established()

        self.assertEqual([1.0, 2.0], [backoff.next_delay(), backoff.next_delay()])

    def test_restart_connects_at_once_and_slow_down_waits_the_maximum(self):
        backoff = ReconnectBackoff(initial=1.0, maximum=30.0)
        backoff.slow_down()
        self.assertEqual(30.0, backoff.upcoming_delay)

        backoff.restart()

        self.assertEqual(0.0, backoff.next_delay())


class MessageHelpersTests(TestCase):

    def test_heartbeats_in_text_and_json(self):
        messages = ("ping", " PONG\n", {"method": "ping"}, "pingpong", {"method": "report"})
        self.assertEqual([True, True, True, False, False], [is_heartbeat(message) for message in messages])

    def test_describe_shortens_long_messages(self):
        self.assertEqual("{'a': 1}", describe({"a": 1}))
        text = describe({"data": "x" * 1000})
        self.assertTrue(text.endswith("..."))
        self.assertEqual(303, len(text))


class NonkycStreamCoreTests(LogAssertions, IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.mocking_assistant = NetworkMockingAssistant()
        await self.mocking_assistant.async_init()
        self.server = FakeNonkycServer(self.mocking_assistant)
        self.api_factory = WebAssistantsFactory(throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS),
                                                connections_factory=self.server)
        self.log_recorder = LogRecorder()
        self.logger = logging.getLogger("test_nonkyc_stream_core")
        self.logger.setLevel(1)
        self.logger.addHandler(self.log_recorder)
        self.sleeps: List[float] = []
        self.stream_core = NonkycStreamCore("NonKYC test stream", lambda: self.logger, self.fake_sleep)
        self.stream_core.ping_interval = 1000
        self.reader = None

    async def asyncTearDown(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.stream_core.close()
        self.logger.removeHandler(self.log_recorder)
        await super().asyncTearDown()

    async def fake_sleep(self, delay: float):
        self.sleeps.append(delay)
        await asyncio.sleep(0)

    async def connect_and_read(self):
        """Connects and reads every message, handing replies to the core as a stream's message loop does."""
        websocket = await self.stream_core.connect(self.api_factory)
        self.received = []

        async def read():
            async for message in self.stream_core.messages(websocket):
                if self.stream_core.take_reply(message) is None:
                    self.received.append(message)

        self.reader = asyncio.ensure_future(read())
        return websocket

    async def test_a_request_gets_its_own_reply_even_when_replies_come_out_of_order(self):
        self.server.default_reply = lambda index, request: []
        websocket = await self.connect_and_read()

        first = await self.stream_core.send(websocket, "subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 100})
        second = await self.stream_core.send(websocket, "subscribeTrades", {"symbol": "BTC/USDT"})
        self.server.push({"jsonrpc": "2.0", "error": {"code": 2001, "message": "Symbol not found"},
                          "id": str(second.request_id)})
        self.server.push(rpc_result({"id": first.request_id}))

        replies = await self.stream_core.replies([first, second])

        self.assertEqual([1, 2], [request["id"] for request in self.server.sent()])
        self.assertTrue(replies["subscribeOrderbook"].accepted)
        self.assertEqual("code 2001, Symbol not found", replies["subscribeTrades"].describe())

    async def test_a_reply_that_does_not_come_in_time_is_reported_missing(self):
        self.server.default_reply = lambda index, request: []
        websocket = await self.connect_and_read()

        reply = await self.stream_core.request(websocket, "login", {"algo": "HS256"}, timeout=0.01)

        self.assertEqual("no reply (none within 0.01 s)", reply.describe())
        # A late reply then answers no one: it is not taken for another request's.
        self.server.push(rpc_result({"id": 1}))
        await wait_until(lambda: self.received, what="the late reply to be read as an unmatched message")

    async def test_the_end_of_the_connection_answers_every_waiting_request_at_once(self):
        self.server.default_reply = lambda index, request: []
        websocket = await self.connect_and_read()
        self.stream_core.reply_timeout = 30
        waiting = asyncio.ensure_future(self.stream_core.request(websocket, "subscribeReports", {}))
        await wait_until(lambda: self.server.sent(), what="the request to be sent")

        self.server.close()

        reply = await asyncio.wait_for(waiting, 5)
        self.assertEqual("no reply (the connection closed)", reply.describe())
        with self.assertRaises(ConnectionError):
            await self.reader
        self.reader = None

    async def test_a_stream_that_just_ends_is_reported_as_disconnected(self):
        class EndedConnection:
            async def iter_messages(self):
                await asyncio.sleep(0)
                return
                yield

        with self.assertRaisesRegex(ConnectionError, "the NonKYC test stream was disconnected"):
            async for _ in self.stream_core.messages(EndedConnection()):
                pass

    async def test_a_silent_connection_ends_with_a_connection_error_that_says_so(self):
        self.stream_core.silence_timeout = 70
        await self.connect_and_read()
        self.mocking_assistant.add_websocket_aiohttp_exception(self.server.websockets[0], asyncio.TimeoutError())

        with self.assertRaisesRegex(ConnectionError, "no message from NonKYC within 70 s"):
            await self.reader
        self.reader = None

    async def test_connect_uses_the_heartbeat_and_silence_timeout_and_counts_connections(self):
        await self.stream_core.connect(self.api_factory)
        await self.stream_core.close()
        await self.stream_core.connect(self.api_factory)

        self.assertEqual(CONSTANTS.WS_PING_INTERVAL, self.server.sessions[0].connection_kwargs["heartbeat"])
        self.assertEqual(2, self.stream_core.connection_count)
        self.assertEqual([1.0], self.sleeps, "the second connection waited for the back-off")

    async def test_requests_are_paced_and_concurrent_senders_go_out_interleaved_in_call_order(self):
        self.server.default_reply = lambda index, request: []
        self.stream_core.send_interval = 0.02
        websocket = await self.connect_and_read()
        sent_at = []
        first_sent = asyncio.Event()
        record = self.server.websockets[0].send_json.side_effect
        self.server.websockets[0].send_json.side_effect = lambda request: (
            sent_at.append(asyncio.get_running_loop().time()), first_sent.set(), record(request))

        async def send_all(method: str, symbols: List[str]):
            for symbol in symbols:
                await self.stream_core.send(websocket, method, {"symbol": symbol})

        round_of_books = asyncio.ensure_future(send_all("subscribeOrderbook", ["A/USDT", "B/USDT", "C/USDT"]))
        # Woken by the first request itself: polling could miss the 20 ms during which only A is out.
        await asyncio.wait_for(first_sent.wait(), timeout=5)
        self.assertEqual(1, len(sent_at), "the first request, sent at once")
        await self.stream_core.send(websocket, "subscribeTrades", {"symbol": "X/USDT"})  # e.g. a retry
        await round_of_books

        # B had taken its slot when X asked for one; X did not wait for the end of the round.
        self.assertEqual([("subscribeOrderbook", "A/USDT"), ("subscribeOrderbook", "B/USDT"),
                          ("subscribeTrades", "X/USDT"), ("subscribeOrderbook", "C/USDT")],
                         [(request["method"], request["params"]["symbol"]) for request in self.server.sent()])
        self.assertEqual([1, 2, 3, 4], [request["id"] for request in self.server.sent()])
        for number, moment in enumerate(sent_at):
            self.assertGreaterEqual(moment - sent_at[0], number * 0.02 - 1e-3, f"request {number + 1} left too soon")

    async def test_a_new_connection_does_not_wait_for_the_slots_taken_on_the_previous_one(self):
        self.server.default_reply = lambda index, request: []
        self.stream_core.send_interval = 1000
        websocket = await self.stream_core.connect(self.api_factory)
        await self.stream_core.send(websocket, "login", {})
        # Its slot is 1000 s away.
        waiting = asyncio.ensure_future(self.stream_core.send(websocket, "subscribeReports", {}))
        await self.stream_core.close()
        waiting.cancel()

        websocket = await self.stream_core.connect(self.api_factory)
        await asyncio.wait_for(self.stream_core.send(websocket, "login", {}), 5)

        self.assertEqual(["login"], self.server.sent_methods(1))

    async def test_closing_leaves_alone_a_connection_made_meanwhile(self):
        # A network restart starts the stream again while the old connection is still being closed.
        old = await self.stream_core.connect(self.api_factory)
        held = asyncio.Event()

        async def held_action():
            try:
                await held.wait()
            finally:
                await asyncio.sleep(0)  # the scheduled action takes a moment to stop

        self.stream_core.run_later(0, held_action)
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(self.stream_core.close())
        await asyncio.sleep(0)
        new = await self.stream_core.connect(self.api_factory)
        await closing

        self.assertIs(new, self.stream_core.websocket)
        self.assertEqual([False, True], [connection.connected for connection in self.server.connections])
        self.assertIsNot(old, new)

    async def test_the_client_pings_until_a_ping_fails(self):
        self.stream_core.ping_interval = 0  # a ping at every turn of the event loop
        await self.stream_core.connect(self.api_factory)
        websocket = self.server.websockets[0]
        await wait_until(lambda: websocket.ping.await_count >= 3, what="three pings")

        websocket.ping.side_effect = RuntimeError("connection lost")
        await wait_until(lambda: self.is_logged("DEBUG", "NonKYC test stream: ping failed (RuntimeError("),
                         what="the failed ping to be logged")
        pings = websocket.ping.await_count
        for _ in range(20):
            await asyncio.sleep(0)
        self.assertEqual(pings, websocket.ping.await_count, "no ping after the failed one")

    async def test_scheduled_actions_run_after_their_delay_unless_the_connection_closes(self):
        ran = []

        async def action(name: str):
            ran.append(name)

        self.stream_core.run_later(2.0, lambda: action("first"))
        await wait_until(lambda: ran == ["first"], what="the first action")
        self.assertEqual([2.0], self.sleeps)

        held = asyncio.Event()

        async def held_sleep(delay: float):
            await held.wait()

        self.stream_core._sleep = held_sleep
        self.stream_core.run_later(5.0, lambda: action("second"))
        await self.stream_core.close()
        held.set()
        await asyncio.sleep(0)

        self.assertEqual(["first"], ran)

    async def test_retries_double_their_delay_and_stop_at_the_maximum_attempts(self):
        self.stream_core.max_attempts = 3
        ran = []

        async def resend():
            ran.append(len(self.sleeps))

        for attempt in (1, 2, 3):
            self.stream_core.retry_later("subscribeTrades for BTC-USDT", attempt, resend)
        await wait_until(lambda: len(ran) == 2, what="the two allowed retries")

        self.assertEqual([1.0, 2.0], self.sleeps)
        self.assertTrue(self.is_logged("INFO", "NonKYC test stream: retrying subscribeTrades for BTC-USDT in 2 s "
                                               "(attempt 3 of 3)."))
        self.assertTrue(self.is_logged("ERROR", "NonKYC test stream: giving up subscribeTrades for BTC-USDT after 3 "
                                                "attempts; it is tried again on the next reconnection."))

    async def test_an_action_that_fails_is_logged_and_does_not_break_the_stream(self):
        async def broken():
            raise ValueError("bad state")

        self.stream_core.run_later(0, broken)

        await wait_until(lambda: self.is_logged("ERROR", "NonKYC test stream: unexpected error in a scheduled action"),
                         what="the failed action to be logged")

    async def test_unknown_methods_and_symbols_are_warned_about_once(self):
        for _ in range(3):
            self.stream_core.log_unusable_message({"jsonrpc": "2.0", "method": "tickerUpdate", "params": {}})
            self.stream_core.log_unknown_symbol("DOGE/USDT", "updateOrderbook")
        self.stream_core.expect_stray_messages("ETH/USDT")
        self.stream_core.log_unknown_symbol("ETH/USDT", "updateTrades")

        warnings = self.log_messages("WARNING")
        self.assertEqual(1, sum("unknown method tickerUpdate" in message for message in warnings))
        self.assertEqual(1, sum("DOGE/USDT" in message for message in warnings))
        self.assertFalse(any("ETH/USDT" in message for message in warnings), "expected after an unsubscription")
        self.assertTrue(self.is_logged("DEBUG", "NonKYC test stream: ignored a updateTrades message for ETH/USDT: "
                                                "not subscribed."))

    async def test_other_unusable_messages_are_logged_by_kind(self):
        self.stream_core.log_unusable_message("pong")
        self.stream_core.log_unusable_message("<html>502</html>")
        self.stream_core.log_unusable_message({"jsonrpc": "2.0", "params": {}})
        self.stream_core.log_unmatched_reply(rpc_error({"id": 9}, 400, "Unknown error"))
        self.stream_core.log_unmatched_reply(rpc_result({"id": 9}))

        self.assertTrue(self.is_logged("DEBUG", "NonKYC test stream: heartbeat 'pong'."))
        self.assertTrue(self.is_logged("WARNING", "NonKYC test stream: skipped a message that is not a JSON object: "
                                                  "'<html>502</html>'"))
        self.assertTrue(self.is_logged("WARNING", "NonKYC test stream: skipped an unrecognized message"))
        self.assertTrue(self.is_logged("WARNING", "NonKYC test stream: error reply to request 9: code 400, "
                                                  "Unknown error"))
        self.assertTrue(self.is_logged("DEBUG", "NonKYC test stream: ignored a reply to no waiting request"))

    async def test_route_hands_events_replies_and_the_rest_each_to_its_place(self):
        self.server.default_reply = lambda index, request: []
        websocket = await self.stream_core.connect(self.api_factory)
        request = await self.stream_core.send(websocket, "subscribeOrderbook", {"symbol": "BTC/USDT"})
        events, replied = [], []

        def on_event(message):
            if message.get("method") != "updateOrderbook":
                return False
            events.append(message)
            return True

        update = {"jsonrpc": "2.0", "method": "updateOrderbook", "params": {"symbol": "BTC/USDT", "sequence": 1}}
        for message in (update, rpc_result({"id": request.request_id}), rpc_error({"id": 9}, 400, "Unknown error"),
                        "pong", {"jsonrpc": "2.0", "method": "somethingNew", "params": {}}):
            self.stream_core.route(message, on_event, replied.append)

        self.assertEqual([update], events)
        self.assertEqual([request], replied)
        self.assertTrue(request.reply.result().accepted)
        self.assertTrue(self.is_logged("WARNING", "NonKYC test stream: error reply to request 9: code 400, "
                                                  "Unknown error"))
        self.assertTrue(self.is_logged("DEBUG", "NonKYC test stream: heartbeat 'pong'."))
        self.assertTrue(self.is_logged("WARNING", "NonKYC test stream: skipped a message with the unknown method "
                                                  "somethingNew"))

    async def test_route_logs_an_error_in_a_handler_with_the_message_and_goes_on(self):
        def failing(message):
            raise ValueError("bad sequence")

        self.stream_core.route({"method": "updateOrderbook", "params": {}}, failing)
        self.stream_core.route("pong", failing)

        errors = [record for record in self.log_recorder.records if record.levelname == "ERROR"]
        self.assertEqual(1, len(errors))
        self.assertEqual("NonKYC test stream: unexpected error while handling the message {'method': "
                         "'updateOrderbook', 'params': {}}; skipped.", errors[0].getMessage())
        self.assertIsNotNone(errors[0].exc_info, "with the traceback")
        self.assertTrue(self.is_logged("DEBUG", "NonKYC test stream: heartbeat 'pong'."))
