import asyncio
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.utils.async_utils import safe_ensure_future
from hummingbot.core.web_assistant.connections.data_types import WSJSONRequest
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.logger import HummingbotLogger

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange


class NonkycAPIUserStreamDataSource(UserStreamTrackerDataSource):
    """
    The NonKYC private WebSocket stream.

    Per connection: connect, `login` and wait for its reply, then `subscribeReports` and `subscribeBalances`, each
    confirmed before going on, then forward the private events (`activeOrders`, `report`, `currentBalances`,
    `balanceUpdate`) unchanged to the output queue. Replies, acks and pings are consumed here. Any failure reconnects
    with an exponential backoff that is reset after a successful login.
    """

    # The messages handed to the exchange, unchanged.
    FORWARDED_EVENTS = (
        CONSTANTS.WS_EVENT_ACTIVE_ORDERS,
        CONSTANTS.WS_EVENT_REPORT,
        CONSTANTS.WS_EVENT_CURRENT_BALANCES,
        CONSTANTS.WS_EVENT_BALANCE_UPDATE,
    )
    # Each private subscription and the event that also confirms it: the reply to `subscribeReports` is the
    # `activeOrders` message, and `currentBalances` may come without the request id.
    PRIVATE_SUBSCRIPTIONS = (
        (CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS, CONSTANTS.WS_EVENT_ACTIVE_ORDERS),
        (CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES, CONSTANTS.WS_EVENT_CURRENT_BALANCES),
    )
    HEARTBEAT_MESSAGES = ("ping", "pong")
    MAX_SUBSCRIPTION_ATTEMPTS = 3
    INITIAL_RECONNECT_DELAY = 1.0
    LOGGED_MESSAGE_MAX_LENGTH = 200

    _logger: Optional[HummingbotLogger] = None

    def __init__(self,
                 auth: NonkycAuth,
                 trading_pairs: List[str],
                 connector: "NonkycExchange",
                 api_factory: WebAssistantsFactory,
                 domain: str = CONSTANTS.DEFAULT_DOMAIN):
        super().__init__()
        self._auth = auth
        self._trading_pairs = trading_pairs
        self._connector = connector
        self._api_factory = api_factory
        self._domain = domain

        # Instance attributes rather than constants so that tests can shorten them.
        self._login_timeout: float = CONSTANTS.WS_LOGIN_TIMEOUT
        self._subscription_timeout: float = CONSTANTS.WS_LOGIN_TIMEOUT
        self._ping_interval: float = CONSTANTS.WS_PING_INTERVAL
        self._silence_timeout: float = CONSTANTS.WS_SILENCE_TIMEOUT

        self._reconnect_delay: float = self.INITIAL_RECONNECT_DELAY
        self._last_request_id = 0
        self._requests_in_flight: Dict[str, str] = {}  # request id (as a string) -> method
        self._buffered_events: List[Dict[str, Any]] = []
        self._output_queue: Optional[asyncio.Queue] = None
        self._ping_task: Optional[asyncio.Task] = None
        self._session_ready = False
        self._last_session_recv_time = 0.0
        self._unknown_methods_logged: Set[str] = set()

    @property
    def last_recv_time(self) -> float:
        """
        The time of the last message received on a logged-in and subscribed connection. Traffic on a connection whose
        login failed proves nothing about private events, so it does not count. The value survives a reconnection: the
        exchange then switches to fast REST polling once it gets old, without flipping to not-ready.
        """
        if self._ws_assistant is not None and self._session_ready:
            return max(self._ws_assistant.last_recv_time, self._last_session_recv_time)
        return self._last_session_recv_time

    async def listen_for_user_stream(self, output: asyncio.Queue):
        self._output_queue = output
        while True:
            try:
                self._ws_assistant = await self._connected_websocket_assistant()
                await self._subscribe_channels(websocket_assistant=self._ws_assistant)
                await self._process_websocket_messages(websocket_assistant=self._ws_assistant, queue=output)
            except asyncio.CancelledError:
                raise
            except Exception as exception:
                self._log_interruption(exception, delay=self._reconnect_delay)
            finally:
                await self._on_user_stream_interruption(websocket_assistant=self._ws_assistant)
            await self._sleep(self._advance_reconnect_delay())

    async def stop(self):
        self._cancel_ping_task()
        await super().stop()

    async def _connected_websocket_assistant(self) -> WSAssistant:
        if not (self._auth.api_key and self._auth.secret_key):
            raise IOError("NonKYC private stream: no API key and secret configured, cannot log in.")
        websocket_assistant = await self._api_factory.get_ws_assistant()
        # Kept at once so that the interruption clean-up disconnects it even when the login fails.
        self._ws_assistant = websocket_assistant
        # `ping_timeout` is aiohttp's heartbeat: a ping after that long without traffic, and the connection is
        # dropped when the pong does not come within half of it. `message_timeout` bounds the silence.
        await websocket_assistant.connect(
            ws_url=web_utils.wss_url(self._domain),
            ping_timeout=CONSTANTS.WS_PING_INTERVAL,
            message_timeout=self._silence_timeout,
        )
        await self._login(websocket_assistant)
        self._reconnect_delay = self.INITIAL_RECONNECT_DELAY
        return websocket_assistant

    async def _login(self, websocket_assistant: WSAssistant):
        request_id = self._next_request_id()
        payload = self._auth.ws_login_payload(request_id)
        await self._send(websocket_assistant, payload)
        reply = await self._receive_reply(
            websocket_assistant, request_id=request_id, confirming_event=None, timeout=self._login_timeout)
        if reply is None:
            raise IOError(f"NonKYC private stream login timed out: no reply to login (id {request_id}) "
                          f"within {self._login_timeout:g} s.")
        error = web_utils.error_in_response(reply)
        if error is not None:
            raise IOError(f"NonKYC private stream login failed: code {error.get('code')}, {error.get('message')}")
        if reply.get("result") is not True:
            raise IOError(f"NonKYC private stream login failed: unexpected reply {self._describe(reply)}")
        self.logger().info("Logged in to the NonKYC private stream.")

    async def _subscribe_channels(self, websocket_assistant: WSAssistant):
        for method, confirming_event in self.PRIVATE_SUBSCRIPTIONS:
            await self._subscribe(websocket_assistant, method=method, confirming_event=confirming_event)
        self._session_ready = True
        self.logger().info("Subscribed to NonKYC order reports and balances.")

    async def _subscribe(self, websocket_assistant: WSAssistant, method: str, confirming_event: str):
        """Sends the subscription until it is confirmed, at most MAX_SUBSCRIPTION_ATTEMPTS times."""
        problem = ""
        for attempt in range(1, self.MAX_SUBSCRIPTION_ATTEMPTS + 1):
            request_id = self._next_request_id()
            await self._send(websocket_assistant, {"method": method, "params": {}, "id": request_id})
            reply = await self._receive_reply(
                websocket_assistant, request_id=request_id, confirming_event=confirming_event,
                timeout=self._subscription_timeout)
            problem = self._subscription_problem(reply, confirming_event)
            if problem is None:
                self.logger().debug(f"NonKYC private stream: {method} (id {request_id}) confirmed.")
                return
            self.logger().warning(f"NonKYC private stream: {method} (id {request_id}) failed: {problem} "
                                  f"(attempt {attempt} of {self.MAX_SUBSCRIPTION_ATTEMPTS}).")
        # A subscription the exchange keeps refusing will not be fixed by reconnecting at once.
        self._reconnect_delay = CONSTANTS.WS_RECONNECT_BACKOFF_MAX
        raise IOError(f"NonKYC private stream: {method} failed {self.MAX_SUBSCRIPTION_ATTEMPTS} times "
                      f"(last: {problem}).")

    def _subscription_problem(self, reply: Optional[Dict[str, Any]], confirming_event: str) -> Optional[str]:
        """What is wrong with the reply to a subscription, or None when it confirms the subscription."""
        if reply is None:
            return f"no reply within {self._subscription_timeout:g} s"
        error = web_utils.error_in_response(reply)
        if error is not None:
            return f"code {error.get('code')}, {error.get('message')}"
        if reply.get("method") == confirming_event or reply.get("result"):
            return None
        return f"unexpected reply {self._describe(reply)}"

    async def _process_websocket_messages(self, websocket_assistant: WSAssistant, queue: asyncio.Queue):
        self._flush_buffered_events()
        self._ping_task = safe_ensure_future(web_utils.ping_periodically(
            websocket_assistant, self._ping_interval, self.logger(), "NonKYC private stream"))
        try:
            async for ws_response in websocket_assistant.iter_messages():
                await self._process_event_message(event_message=ws_response.data, queue=queue)
        finally:
            self._cancel_ping_task()
        raise ConnectionError("The NonKYC private stream was disconnected.")

    async def _process_event_message(self, event_message: Any, queue: asyncio.Queue):
        self._route_message(event_message, deliver=queue.put_nowait)

    async def _on_user_stream_interruption(self, websocket_assistant: Optional[WSAssistant]):
        websocket_assistant = websocket_assistant or self._ws_assistant
        self._cancel_ping_task()
        if self._session_ready and websocket_assistant is not None:
            self._last_session_recv_time = max(self._last_session_recv_time, websocket_assistant.last_recv_time)
        self._session_ready = False
        self._requests_in_flight.clear()
        self._flush_buffered_events()
        self._ws_assistant = None
        if websocket_assistant is not None:
            try:
                await websocket_assistant.disconnect()
            except asyncio.CancelledError:
                raise
            except Exception as exception:
                self.logger().debug(f"NonKYC private stream: error while disconnecting ({exception}).")

    async def _send(self, websocket_assistant: WSAssistant, payload: Dict[str, Any]):
        self._requests_in_flight[str(payload["id"])] = payload["method"]
        await websocket_assistant.send(WSJSONRequest(payload=payload))

    async def _receive_reply(self,
                             websocket_assistant: WSAssistant,
                             request_id: int,
                             confirming_event: Optional[str],
                             timeout: float) -> Optional[Dict[str, Any]]:
        """The reply to the request, or None when none came within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout) as scope:
                return await self._wait_for_reply(websocket_assistant, request_id, confirming_event)
        except TimeoutError:
            if scope.expired():
                return None
            raise  # the connection's own silence timeout

    async def _wait_for_reply(self,
                              websocket_assistant: WSAssistant,
                              request_id: int,
                              confirming_event: Optional[str]) -> Dict[str, Any]:
        """Reads messages until the reply comes. Events read meanwhile are buffered, in order, for the exchange."""
        while True:
            response = await websocket_assistant.receive()
            if response is None:
                method = self._requests_in_flight.get(str(request_id), "request")
                raise ConnectionError(f"The NonKYC private stream closed while waiting for the reply to {method} "
                                      f"(id {request_id}).")
            message = response.data
            if self._is_reply(message, request_id, confirming_event):
                self._requests_in_flight.pop(str(request_id), None)
                if self._is_forwarded_event(message):
                    self._buffered_events.append(message)
                return message
            self._route_message(message, deliver=self._buffered_events.append)

    @staticmethod
    def _is_reply(message: Any, request_id: int, confirming_event: Optional[str]) -> bool:
        if not isinstance(message, dict):
            return False
        message_id = message.get("id")
        if message_id is not None:
            return str(message_id) == str(request_id)
        return confirming_event is not None and message.get("method") == confirming_event

    def _is_forwarded_event(self, message: Any) -> bool:
        return (isinstance(message, dict)
                and message.get("method") in self.FORWARDED_EVENTS
                and "error" not in message)

    def _route_message(self, message: Any, deliver: Callable[[Dict[str, Any]], None]):
        """Hands private events to `deliver`; consumes and logs everything else. Never raises."""
        try:
            if self._is_forwarded_event(message):
                deliver(message)
            else:
                self._consume_message(message)
        except Exception:
            self.logger().exception(f"NonKYC private stream: unexpected error while handling the message "
                                    f"{self._describe(message)}; skipped.")

    def _consume_message(self, message: Any):
        if not isinstance(message, dict):
            if str(message).strip().lower() in self.HEARTBEAT_MESSAGES:
                self.logger().debug(f"NonKYC private stream: heartbeat {self._describe(message)}.")
            else:
                self.logger().warning(f"NonKYC private stream: skipped a message that is not a JSON object: "
                                      f"{self._describe(message)}")
            return
        method = message.get("method")
        message_id = message.get("id")
        if "error" in message or (method is None and message_id is not None):
            self._log_reply(message, message_id)
        elif method is None:
            self._log_unrecognized_message(message)
        elif str(method).lower() in self.HEARTBEAT_MESSAGES:
            self.logger().debug(f"NonKYC private stream: heartbeat {self._describe(message)}.")
        else:
            self._log_unknown_method(message, method)

    def _log_reply(self, message: Dict[str, Any], message_id: Any):
        method = self._requests_in_flight.pop(str(message_id), None) or message.get("method") or "unknown request"
        error = web_utils.error_in_response(message)
        if error is not None:
            self.logger().warning(f"NonKYC private stream: {method} (id {message_id}) was rejected: "
                                  f"code {error.get('code')}, {error.get('message')}")
        elif "result" in message:
            self.logger().debug(f"NonKYC private stream: {method} (id {message_id}) acknowledged.")
        else:
            self._log_unrecognized_message(message)

    def _log_unrecognized_message(self, message: Dict[str, Any]):
        self.logger().warning(f"NonKYC private stream: skipped an unrecognized message {self._describe(message)}")

    def _log_unknown_method(self, message: Dict[str, Any], method: Any):
        method_name = str(method)
        text = f"NonKYC private stream: skipped a message with the unknown method {method_name}: "
        if method_name in self._unknown_methods_logged:
            self.logger().debug(text + self._describe(message))
        else:
            self._unknown_methods_logged.add(method_name)
            self.logger().warning(text + self._describe(message))

    def _flush_buffered_events(self):
        if self._output_queue is None:
            return
        for event in self._buffered_events:
            self._output_queue.put_nowait(event)
        self._buffered_events.clear()

    def _cancel_ping_task(self):
        if self._ping_task is not None and not self._ping_task.done():
            self._ping_task.cancel()
        self._ping_task = None

    def _log_interruption(self, exception: Exception, delay: float):
        retry = f"Reconnecting in {delay:g} s."
        if isinstance(exception, ConnectionError):
            self.logger().warning(f"The NonKYC private stream connection was closed ({exception}). {retry}")
        elif isinstance(exception, TimeoutError):
            reason = str(exception) or "no message received"
            self.logger().warning(f"The NonKYC private stream timed out ({reason}; silence limit "
                                  f"{self._silence_timeout:g} s). {retry}")
        elif isinstance(exception, OSError):
            self.logger().error(f"{str(exception).rstrip('.')}. {retry}")
        else:
            self.logger().exception(f"Unexpected error while listening to the NonKYC private stream. {retry}")

    def _advance_reconnect_delay(self) -> float:
        delay = self._reconnect_delay
        self._reconnect_delay = min(delay * 2, CONSTANTS.WS_RECONNECT_BACKOFF_MAX)
        return delay

    def _next_request_id(self) -> int:
        self._last_request_id += 1
        return self._last_request_id

    def _describe(self, message: Any) -> str:
        text = str(message)
        if len(text) > self.LOGGED_MESSAGE_MAX_LENGTH:
            text = text[:self.LOGGED_MESSAGE_MAX_LENGTH] + "..."
        return text
