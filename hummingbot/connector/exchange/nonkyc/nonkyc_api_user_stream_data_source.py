import asyncio
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import NonkycStreamCore
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.logger import HummingbotLogger

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange


class NonkycAPIUserStreamDataSource(UserStreamTrackerDataSource):
    """
    The NonKYC private WebSocket stream (JSON-RPC on the stream core, `nonkyc_stream_core`).

    Per connection: connect, `login` and wait for its reply, then `subscribeReports` and `subscribeBalances`, each
    confirmed before going on. The private events (`activeOrders`, `report`, `currentBalances`, `balanceUpdate`) go
    unchanged to the output queue in the order they arrive; replies, acks and heartbeats are consumed here. Any
    failure reconnects after the stream core's back-off.
    """

    FORWARDED_EVENTS = (
        CONSTANTS.WS_EVENT_ACTIVE_ORDERS,
        CONSTANTS.WS_EVENT_REPORT,
        CONSTANTS.WS_EVENT_CURRENT_BALANCES,
        CONSTANTS.WS_EVENT_BALANCE_UPDATE,
    )
    # The private subscriptions, each with the event that also confirms it: the reply to `subscribeReports` is the
    # `activeOrders` message, and `currentBalances` may come without the request id.
    SUBSCRIPTION_CONFIRMED_BY = {
        CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS: CONSTANTS.WS_EVENT_ACTIVE_ORDERS,
        CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES: CONSTANTS.WS_EVENT_CURRENT_BALANCES,
    }
    MAX_SUBSCRIPTION_ATTEMPTS = 3

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
        self._stream_core = NonkycStreamCore("NonKYC private stream", self.logger, lambda delay: self._sleep(delay))
        self._subscription_of_event = {event: method for method, event in self.SUBSCRIPTION_CONFIRMED_BY.items()}
        self._session_ready = False
        self._last_session_recv_time = 0.0
        self._reader: Optional[asyncio.Task] = None  # the task reading the current connection

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

    @property
    def connection_count(self) -> int:
        """Connections of the private stream since the start (reconnections are the ones beyond the first)."""
        return self._stream_core.connection_count

    async def listen_for_user_stream(self, output: asyncio.Queue):
        self._stream_core.backoff.restart()
        while True:
            try:
                websocket_assistant = await self._connected_websocket_assistant()
                await self._listen_on(websocket_assistant, output)
            except asyncio.CancelledError:
                raise
            except Exception as exception:
                self._log_interruption(exception)
            finally:
                await self._on_user_stream_interruption(websocket_assistant=self._ws_assistant)

    async def stop(self):
        await self._stream_core.close()
        await super().stop()

    async def _connected_websocket_assistant(self) -> WSAssistant:
        if not (self._auth.api_key and self._auth.secret_key):
            await self._stream_core.wait_for_backoff()
            raise IOError("NonKYC private stream: no API key and secret configured, cannot log in.")
        self._ws_assistant = await self._stream_core.connect(self._api_factory)
        return self._ws_assistant

    async def _listen_on(self, websocket_assistant: WSAssistant, output: asyncio.Queue):
        """Reads the connection while logging in and subscribing, then until it ends (by raising)."""
        # A plain task, not `safe_ensure_future`: that wrapper would log the end of the connection as an unhandled
        # error and swallow it, while it must reach the listen loop (warning and reconnection delay).
        reader = asyncio.ensure_future(self._read_messages(websocket_assistant, output))
        self._reader = reader
        try:
            try:
                await self._subscribe_channels(websocket_assistant)
            except Exception:
                if reader.done():
                    await reader  # the connection ended first: its error is the one worth reporting
                raise
            await reader
        finally:
            # Waited for, so that the end of this connection never fails a request of the next one.
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _subscribe_channels(self, websocket_assistant: WSAssistant):
        await self._login(websocket_assistant)
        for method in self.SUBSCRIPTION_CONFIRMED_BY:
            await self._subscribe(websocket_assistant, method)
        self._session_ready = True
        self.logger().info("Subscribed to NonKYC order reports and balances.")

    async def _login(self, websocket_assistant: WSAssistant):
        login = self._auth.ws_login_payload(request_id=0)  # the stream core gives the request its id
        reply = await self._stream_core.request(websocket_assistant, login["method"], login["params"])
        if not reply.accepted:
            raise IOError(f"NonKYC private stream login failed: {reply.describe()}")
        self._stream_core.backoff.session_established()
        self.logger().info("Logged in to the NonKYC private stream.")

    async def _subscribe(self, websocket_assistant: WSAssistant, method: str):
        """Sends the subscription until it is confirmed, at most MAX_SUBSCRIPTION_ATTEMPTS times."""
        for attempt in range(1, self.MAX_SUBSCRIPTION_ATTEMPTS + 1):
            reply = await self._stream_core.request(websocket_assistant, method, {})
            if reply.succeeded:
                self.logger().debug(f"NonKYC private stream: {method} confirmed.")
                return
            if self._reader is not None and self._reader.done():
                # The connection ended (the reader failed the request): sending again would wait for replies that
                # nobody reads. `_listen_on` reports why the connection ended, and the usual back-off applies.
                raise IOError(f"NonKYC private stream: {method} failed: {reply.describe()}.")
            self.logger().warning(f"NonKYC private stream: {method} failed: {reply.describe()} "
                                  f"(attempt {attempt} of {self.MAX_SUBSCRIPTION_ATTEMPTS}).")
        # A subscription the exchange keeps refusing will not be fixed by reconnecting at once.
        self._stream_core.backoff.slow_down()
        raise IOError(f"NonKYC private stream: {method} failed {self.MAX_SUBSCRIPTION_ATTEMPTS} times "
                      f"(last: {reply.describe()}).")

    async def _read_messages(self, websocket_assistant: WSAssistant, output: asyncio.Queue):
        async for message in self._stream_core.messages(websocket_assistant):
            self._route_message(message, output)

    def _route_message(self, message: Any, output: asyncio.Queue):
        """Hands private events to the exchange; replies go to the requests waiting for them. Never raises."""
        self._stream_core.route(message, lambda event: self._forward_event(event, output))

    def _forward_event(self, message: Dict[str, Any], output: asyncio.Queue) -> bool:
        if message.get("method") not in self.FORWARDED_EVENTS or "error" in message:
            return False
        self._confirm_subscription(message)
        output.put_nowait(message)
        return True

    def _confirm_subscription(self, event: Dict[str, Any]):
        """An event that answers a subscription, by the request id or (without one) by its method."""
        if self._stream_core.take_reply(event) is None and "result" in event:
            request = self._stream_core.oldest_waiting(self._subscription_of_event.get(event["method"]))
            if request is not None:
                self._stream_core.answer(request, event)

    async def _on_user_stream_interruption(self, websocket_assistant: Optional[WSAssistant]):
        if self._session_ready and self._ws_assistant is not None:
            self._last_session_recv_time = max(self._last_session_recv_time, self._ws_assistant.last_recv_time)
        self._session_ready = False
        self._ws_assistant = None
        await self._stream_core.close()

    def _log_interruption(self, exception: Exception):
        retry = f"Reconnecting in {self._stream_core.backoff.upcoming_delay:g} s."
        if isinstance(exception, ConnectionError):
            self.logger().warning(f"The NonKYC private stream connection was closed ({exception}). {retry}")
        elif isinstance(exception, OSError):
            self.logger().error(f"{str(exception).rstrip('.')}. {retry}")
        else:
            self.logger().exception(f"Unexpected error while listening to the NonKYC private stream. {retry}")
