"""
The stream core: the JSON-RPC plumbing of every NonKYC WebSocket stream (the public order books and trades, the
private reports and balances, the candles feed). The streams keep only what is theirs (subscriptions and sequences,
login and event forwarding); everything a JSON-RPC connection needs is here, once:

- request ids, the requests waiting for their reply (a future each), matching a reply to its request, and failing
  every waiting request when the connection ends;
- reading a reply or an error reply (`{"result": ...}` / `{"error": {"code", "message"}}`) into one value;
- the connection (aiohttp heartbeat, silence timeout), released whole when it ends (even by a cancelled close),
  the client ping and one reconnect back-off policy;
- the pace of the requests (`WS_REQUESTS_PER_SECOND`): every request waits for its own slot, in the order of the
  calls, so a subscription round of many pairs never floods the exchange and a retry is not held behind it;
- the routing of a message (`route`): an event to the stream's handler, a reply to its request, anything else to
  the logs, an error in a handler logged with the message;
- bounded "log once" memories, heartbeat text frames and the shortened description of a message for logs.
"""
import asyncio
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set

import aiohttp

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import RecentKeys, describe
from hummingbot.core.web_assistant.connections.data_types import WSJSONRequest
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant

HEARTBEAT_TEXTS = frozenset(("ping", "pong"))


def is_heartbeat(message: Any) -> bool:
    """A "ping"/"pong" text frame, or a JSON message whose method is ping or pong."""
    if isinstance(message, str):
        return message.strip().lower() in HEARTBEAT_TEXTS
    return isinstance(message, dict) and str(message.get("method")).lower() in HEARTBEAT_TEXTS


def aiohttp_websocket_of(websocket: Optional[WSAssistant]) -> Optional[aiohttp.ClientWebSocketResponse]:
    """The aiohttp WebSocket of a WSAssistant, None before it connects or after it disconnects (Hummingbot exposes no
    accessor: its private attributes are read defensively)."""
    connection = getattr(websocket, "_connection", None)
    aiohttp_websocket = getattr(connection, "_connection", None)
    return aiohttp_websocket if isinstance(aiohttp_websocket, aiohttp.ClientWebSocketResponse) else None


@dataclass(frozen=True)
class RpcReply:
    """
    What came back for a request: its `result`, or the `code` and `message` of its `error`, or nothing at all
    (`answered` is False: no reply in time, or the connection ended first).
    """
    result: Any = None
    error_code: Optional[int] = None
    error_message: Optional[str] = None
    answered: bool = True

    @classmethod
    def from_message(cls, message: Dict[str, Any]) -> "RpcReply":
        error = message.get("error")
        if error is None:
            return cls(result=message.get("result"))
        if isinstance(error, dict):
            code, text = error.get("code"), error.get("message")
        else:
            code, text = None, error
        return cls(error_code=code if isinstance(code, int) else None, error_message=str(text or error))

    @classmethod
    def missing(cls, reason: str) -> "RpcReply":
        return cls(error_message=reason, answered=False)

    @property
    def is_error(self) -> bool:
        return self.error_message is not None

    @property
    def accepted(self) -> bool:
        """A plain acknowledgement, `{"result": true}`."""
        return not self.is_error and self.result is True

    @property
    def succeeded(self) -> bool:
        """Answered with a result (`true`, a list, an object...), not with an error, `false` or nothing."""
        return not self.is_error and self.result is not None and self.result is not False

    def describe(self) -> str:
        if not self.answered:
            return f"no reply ({self.error_message})"
        if self.is_error:
            return f"code {self.error_code}, {self.error_message}"
        return f"result {describe(self.result, 100)}"


@dataclass
class RpcRequest:
    """A request sent on a connection. `context` is what the sender needs to act on the reply (a symbol, ...)."""
    request_id: int
    method: str
    params: Dict[str, Any]
    reply: asyncio.Future
    context: Any = None


class ReconnectBackoff:
    """
    The wait before each connection attempt of a stream: none before the first one, then `initial` seconds, doubled
    after every attempt that did not establish a session, at most `maximum`. Once a session is established, the next
    attempt waits `initial` seconds again.
    """

    def __init__(self,
                 initial: float = CONSTANTS.WS_RECONNECT_DELAY_INITIAL,
                 maximum: float = CONSTANTS.WS_RECONNECT_BACKOFF_MAX):
        self.initial = initial
        self.maximum = maximum
        self._next_delay = 0.0

    @property
    def upcoming_delay(self) -> float:
        return self._next_delay

    def next_delay(self) -> float:
        delay = self._next_delay
        self._next_delay = min(max(delay * 2, self.initial), self.maximum)
        return delay

    def session_established(self):
        self._next_delay = self.initial

    def restart(self):
        """A stream (re)started by its owner connects at once."""
        self._next_delay = 0.0

    def slow_down(self):
        """The exchange keeps refusing the session: reconnecting soon will not help."""
        self._next_delay = self.maximum


class NonkycStreamCore:
    """The stream core of one NonKYC WebSocket stream (its JSON-RPC plumbing); see the module documentation."""

    def __init__(self, stream_name: str, logger: Callable[[], logging.Logger],
                 sleep: Callable[[float], Awaitable[None]]):
        self.stream_name = stream_name
        self._logger = logger
        self._sleep = sleep
        # Instance attributes rather than constants so that tests can shorten them.
        self.ping_interval: float = CONSTANTS.WS_PING_INTERVAL
        self.silence_timeout: float = CONSTANTS.WS_SILENCE_TIMEOUT
        self.reply_timeout: float = CONSTANTS.WS_REPLY_TIMEOUT
        self.retry_delay: float = CONSTANTS.WS_RETRY_DELAY
        self.max_attempts: int = CONSTANTS.WS_MAX_ATTEMPTS
        self.send_interval: float = 1 / CONSTANTS.WS_REQUESTS_PER_SECOND

        self.backoff = ReconnectBackoff()
        self.connection_count = 0
        self.websocket: Optional[WSAssistant] = None
        # The aiohttp WebSocket under `websocket`, kept because WSConnection forgets it when the connection ends.
        self._aiohttp_websocket: Optional[aiohttp.ClientWebSocketResponse] = None
        self._last_request_id = 0
        self._next_send_time = 0.0
        self._waiting: Dict[int, RpcRequest] = {}
        self._ping_task: Optional[asyncio.Task] = None
        self._scheduled: Set[asyncio.Task] = set()
        self._unknown_methods_logged = RecentKeys()
        self._quiet_symbols = RecentKeys()

    # === Connection ===

    async def connect(self, api_factory: WebAssistantsFactory) -> WSAssistant:
        """
        Waits out the reconnect back-off, then connects. `ping_timeout` is aiohttp's heartbeat (a ping after that
        long without traffic; the connection drops when the pong does not come within half of it) and
        `message_timeout` bounds the silence of every receive. A client ping also goes out every `ping_interval`.
        """
        await self.wait_for_backoff()
        websocket = await api_factory.get_ws_assistant()
        self.websocket = websocket  # kept at once, so that close() disconnects it even if what follows fails
        await websocket.connect(ws_url=web_utils.wss_url(),
                                ping_timeout=CONSTANTS.WS_PING_INTERVAL,
                                message_timeout=self.silence_timeout)
        self._aiohttp_websocket = aiohttp_websocket_of(websocket)
        self.connection_count += 1
        self._next_send_time = 0.0  # slots taken on an earlier connection do not delay this one
        self._ping_task = asyncio.ensure_future(self._ping_periodically(websocket))
        return websocket

    async def wait_for_backoff(self):
        """The pause before a connection attempt (see `ReconnectBackoff`); `connect` takes it itself."""
        delay = self.backoff.next_delay()
        if delay > 0:
            await self._sleep(delay)

    async def messages(self, websocket: WSAssistant) -> AsyncIterator[Any]:
        """
        The messages of a connection (JSON decoded, or the text of a non-JSON frame). When the connection ends, by a
        close, an error or `silence_timeout` seconds without a message, the waiting requests are failed and a
        ConnectionError says why.
        """
        try:
            async for response in websocket.iter_messages():
                yield response.data
        except TimeoutError as timeout:
            raise ConnectionError(f"no message from NonKYC within {self.silence_timeout:g} s ({timeout!r})")
        finally:
            self.connection_ended()
        raise ConnectionError(f"the {self.stream_name} was disconnected")

    def connection_ended(self, reason: str = "the connection closed"):
        """Every request still waiting gets its answer: none."""
        waiting, self._waiting = self._waiting, {}
        for request in waiting.values():
            self._resolve(request, RpcReply.missing(reason))

    def run_later(self, delay: float, action: Callable[[], Awaitable[None]]):
        """Runs `action` after `delay` seconds, unless the connection is closed first."""
        task = asyncio.ensure_future(self._run_later(delay, action))
        self._scheduled.add(task)
        task.add_done_callback(self._scheduled.discard)

    def retry_later(self, description: str, attempt: int, action: Callable[[], Awaitable[None]]):
        """
        Runs `action` (attempt `attempt + 1` of a request the exchange rejected) after a delay that doubles with each
        attempt, unless `max_attempts` were made already.
        """
        if attempt >= self.max_attempts:
            self._logger().error(f"{self.stream_name}: giving up {description} after {attempt} attempts; it is tried "
                                 f"again on the next reconnection.")
            return
        delay = self.retry_delay * 2 ** (attempt - 1)
        self._logger().info(f"{self.stream_name}: retrying {description} in {delay:g} s (attempt {attempt + 1} of "
                            f"{self.max_attempts}).")
        self.run_later(delay, action)

    async def _run_later(self, delay: float, action: Callable[[], Awaitable[None]]):
        try:
            if delay > 0:
                await self._sleep(delay)
            await action()
        except asyncio.CancelledError:
            raise
        except Exception:
            self._logger().exception(f"{self.stream_name}: unexpected error in a scheduled action.")

    async def close(self):
        """
        Stops the ping and the actions scheduled with `run_later`, fails the waiting requests and disconnects. Safe to
        call at any time, repeatedly. Everything is taken over before the first await, so that a connection the stream
        makes meanwhile (a network restart starts the new one while the old one closes) is left alone. The connection
        is released even when this close is cancelled: Hummingbot's order book tracker cancels the stream's task at
        every stop, also while the task is closing (a restart stops twice), and the aiohttp response left open would
        be found later by the garbage collector ("Unclosed response").
        """
        self._cancel_ping_task()
        scheduled, self._scheduled = list(self._scheduled), set()
        for task in scheduled:
            task.cancel()
        self.connection_ended()
        websocket, self.websocket = self.websocket, None
        aiohttp_websocket, self._aiohttp_websocket = self._aiohttp_websocket, None
        try:
            await asyncio.gather(*scheduled, return_exceptions=True)
            if websocket is not None:
                await self._disconnect(websocket)
        finally:
            self._close_http_response(aiohttp_websocket)

    async def _disconnect(self, websocket: WSAssistant):
        try:
            await websocket.disconnect()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._logger().debug(f"{self.stream_name}: error while disconnecting ({error!r}).")

    def _close_http_response(self, aiohttp_websocket: Optional[aiohttp.ClientWebSocketResponse]):
        """
        Closes the HTTP response under an aiohttp WebSocket (and with it the TCP connection) when nothing else did:
        a close cancelled before its disconnect, or a connection aiohttp marked closed itself without closing its
        response (a client error while reading, e.g. ServerDisconnectedError), which WSConnection.disconnect() then
        takes as closed already.
        """
        response = getattr(aiohttp_websocket, "_response", None)
        try:
            if response is not None and not response.closed:
                response.close()
        except Exception as error:
            self._logger().debug(f"{self.stream_name}: error while closing the connection's response ({error!r}).")

    async def _ping_periodically(self, websocket: WSAssistant):
        """Returns when a ping fails: the stream's receive loop then notices the broken connection and reconnects."""
        while True:
            await self._sleep_for_ping()
            try:
                await websocket.ping()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._logger().debug(f"{self.stream_name}: ping failed ({error!r}).")
                return

    async def _sleep_for_ping(self):
        # asyncio's own sleep: tests replace the streams' sleep (reconnect back-off), not the ping's clock.
        await asyncio.sleep(self.ping_interval)

    def _cancel_ping_task(self):
        if self._ping_task is not None and not self._ping_task.done():
            self._ping_task.cancel()
        self._ping_task = None

    # === Requests and replies ===

    async def send(self, websocket: WSAssistant, method: str, params: Dict[str, Any],
                   context: Any = None) -> RpcRequest:
        """Sends a request once its slot comes (see `_wait_for_send_slot`)."""
        await self._wait_for_send_slot()
        self._last_request_id += 1
        request = RpcRequest(request_id=self._last_request_id, method=method, params=params,
                             reply=asyncio.get_running_loop().create_future(), context=context)
        self._waiting[request.request_id] = request
        await websocket.send(WSJSONRequest(payload={"method": method, "params": params, "id": request.request_id}))
        return request

    async def _wait_for_send_slot(self):
        """
        At most one request every `send_interval` seconds. Each caller takes the next free slot at once and waits for
        it, so concurrent senders go out in the order of their calls, interleaved: none waits for another's whole
        round. asyncio's own sleep: tests replace the streams' sleep (reconnect back-off), not this clock.
        """
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_send_time)
        self._next_send_time = slot + self.send_interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def request(self, websocket: WSAssistant, method: str, params: Dict[str, Any],
                      timeout: Optional[float] = None) -> RpcReply:
        """Sends a request and waits for its reply (someone else must be reading the connection)."""
        return await self.wait_for_reply(await self.send(websocket, method, params), timeout)

    async def wait_for_reply(self, request: RpcRequest, timeout: Optional[float] = None) -> RpcReply:
        timeout = self.reply_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(request.reply), timeout)
        except asyncio.TimeoutError:
            self._waiting.pop(request.request_id, None)
            return RpcReply.missing(f"none within {timeout:g} s")

    async def replies(self, requests: List[RpcRequest]) -> Dict[str, RpcReply]:
        """Waits for the replies of several requests at once: method -> reply."""
        replies = await asyncio.gather(*(self.wait_for_reply(request) for request in requests))
        return {request.method: reply for request, reply in zip(requests, replies)}

    @staticmethod
    def describe_replies(replies: Dict[str, RpcReply]) -> str:
        return ", ".join(f"{method}: {'accepted' if reply.accepted else reply.describe()}"
                         for method, reply in replies.items())

    def take_reply(self, message: Dict[str, Any]) -> Optional[RpcRequest]:
        """The waiting request that `message` answers, its reply resolved; None when no request waits for it."""
        request = self._waiting.pop(self._request_id(message.get("id")), None)
        if request is not None:
            self._resolve(request, RpcReply.from_message(message))
        return request

    def answer(self, request: RpcRequest, message: Dict[str, Any]):
        """Resolves a request with a message that answers it without carrying its id."""
        self._waiting.pop(request.request_id, None)
        self._resolve(request, RpcReply.from_message(message))

    def oldest_waiting(self, method: str) -> Optional[RpcRequest]:
        return next((request for request in self._waiting.values() if request.method == method), None)

    @staticmethod
    def _request_id(value: Any) -> Optional[int]:
        if type(value) is int:
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _resolve(request: RpcRequest, reply: RpcReply):
        if not request.reply.done():
            request.reply.set_result(reply)

    # === Routing ===

    def route(self,
              message: Any,
              on_event: Callable[[Dict[str, Any]], bool],
              on_reply: Optional[Callable[[RpcRequest], None]] = None):
        """
        Routes one message of the stream; never raises. `on_event` gets every JSON object first and returns True when
        it was an event of the stream (and handled it). Otherwise a reply (`result` or `error`) resolves the request
        waiting for it, which then goes to `on_reply`, and a reply no request waits for is logged; anything else
        (heartbeat, not a JSON object, unknown method) is logged as unusable. An error in a handler is logged with the
        message, which is skipped.
        """
        try:
            if isinstance(message, dict):
                if on_event(message):
                    return
                if "result" in message or "error" in message:
                    request = self.take_reply(message)
                    if request is None:
                        self.log_unmatched_reply(message)
                    elif on_reply is not None:
                        on_reply(request)
                    return
            self.log_unusable_message(message)
        except Exception:
            self._logger().exception(f"{self.stream_name}: unexpected error while handling the message "
                                     f"{describe(message)}; skipped.")

    # === Logging ===

    def log_unusable_message(self, message: Any):
        """A message no handler takes: heartbeats at debug level, an unknown method once as a warning."""
        if is_heartbeat(message):
            self._logger().debug(f"{self.stream_name}: heartbeat {describe(message)}.")
        elif not isinstance(message, dict):
            self._logger().warning(f"{self.stream_name}: skipped a message that is not a JSON object: "
                                   f"{describe(message)}")
        elif "method" in message:
            method = str(message["method"])
            level = logging.WARNING if self._unknown_methods_logged.add(method) else logging.DEBUG
            self._logger().log(level, f"{self.stream_name}: skipped a message with the unknown method {method}: "
                                      f"{describe(message)}")
        else:
            self._logger().warning(f"{self.stream_name}: skipped an unrecognized message {describe(message)}")

    def log_unmatched_reply(self, message: Dict[str, Any]):
        reply = RpcReply.from_message(message)
        if reply.is_error:
            self._logger().warning(f"{self.stream_name}: error reply to request {message.get('id')}: "
                                   f"{reply.describe()}")
        else:
            self._logger().debug(f"{self.stream_name}: ignored a reply to no waiting request: {describe(message)}")

    def log_unknown_symbol(self, symbol: str, method: Any):
        """A message of a market the stream has not subscribed: a warning once per symbol, then debug lines."""
        level = logging.WARNING if self._quiet_symbols.add(symbol) else logging.DEBUG
        self._logger().log(level, f"{self.stream_name}: ignored a {method} message for {symbol}: not subscribed.")

    def expect_stray_messages(self, symbol: str):
        """Messages of a market just unsubscribed are expected for a while: they are logged at debug level only."""
        self._quiet_symbols.add(symbol)
