import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Set

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book import NonkycOrderBook
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import timestamp_seconds
from hummingbot.core.data_type.order_book_message import OrderBookMessage
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.utils.async_utils import safe_ensure_future
from hummingbot.core.web_assistant.connections.data_types import WSJSONRequest
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.logger import HummingbotLogger

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

_SUBSCRIBE_METHODS = (CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK, CONSTANTS.WS_METHOD_SUBSCRIBE_TRADES)
_UNSUBSCRIBE_METHOD = {
    CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK: CONSTANTS.WS_METHOD_UNSUBSCRIBE_ORDER_BOOK,
    CONSTANTS.WS_METHOD_SUBSCRIBE_TRADES: CONSTANTS.WS_METHOD_UNSUBSCRIBE_TRADES,
}
_TRADE_EVENTS = (CONSTANTS.WS_EVENT_TRADES_SNAPSHOT, CONSTANTS.WS_EVENT_TRADES_UPDATE)
_HEARTBEAT_TEXTS = ("ping", "pong")


@dataclass
class _PendingRequest:
    """A request sent on the public stream whose reply has not come yet."""
    method: str
    params: Dict[str, Any]
    trading_pair: str
    attempt: int
    retry_when_rejected: bool
    reply: Optional[asyncio.Future] = None


class _TradeHistory:
    """The ids of the last trades of one market, so that each trade is reported once."""

    def __init__(self, size: int):
        self.snapshot_seen = False
        self._ids: Set[str] = set()
        self._order: Deque[str] = deque()
        self._size = size

    def __contains__(self, trade_id: str) -> bool:
        return trade_id in self._ids

    def add(self, trade_id: str):
        """Remembers a trade id not remembered yet, forgetting the oldest beyond the size."""
        self._ids.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


class NonkycAPIOrderBookDataSource(OrderBookTrackerDataSource):
    """
    NonKYC public order books and trades, all pairs on one WebSocket connection (JSON-RPC).

    Per pair, `subscribeOrderbook` and `subscribeTrades` are sent with their own ids and their replies checked; a
    rejected subscription is logged and retried a bounded number of times.

    Order book sequence discipline, per exchange symbol and per connection:
    - `snapshotOrderbook` sets the pair's WS sequence; `updateOrderbook` must carry last + 1. A sequence <= last is a
      duplicate and is dropped. A larger one is a gap: the pair's updates are dropped and its order book alone is
      re-subscribed (unsubscribe + subscribe) for a fresh WS snapshot; while it waits no second resync is started.
    - After a reconnect every pair waits for a fresh WS snapshot (all sequence state is per connection).

    How the messages are kept exact inside Hummingbot's `OrderBookTracker` (which is not edited):
    - Every snapshot and diff gets an update id from one increasing counter, so ids follow the exchange's order.
      The REST `/market/orderbook` sequence is a different counter and is never compared with them: a REST snapshot
      (which only initialises a book until the WS snapshot arrives) has update id 0, so the tracker never drops a WS
      message because of it.
    - WS snapshots travel through the diff queue with the diffs. The tracker keeps one FIFO per pair for diffs (and
      for the diffs it buffers before the pair's book exists) but holds snapshots back until every book is
      initialised; on the diff path a snapshot is applied exactly between the diffs it was sent between.
    - Snapshots and diffs are `NonkycOrderBookMessage`s, which compare by update id: when a snapshot is applied the
      tracker re-applies only the remembered diffs that are newer than it (none, given the FIFO), never stale ones.
    - REST snapshots are never re-applied to a live book: the hourly refresh re-subscribes the WS order books instead.

    Trades: every entry of `updateTrades` / `snapshotTrades` is one trade message, reported once (by trade id). The
    first `snapshotTrades` of a market is history from before the subscription and is not reported.

    Heartbeat: a client ping every WS_PING_INTERVAL seconds; aiohttp's heartbeat and a receive timeout of
    WS_SILENCE_TIMEOUT seconds turn a silent connection into a ConnectionError, and the base loop reconnects.
    """

    REST_SNAPSHOT_UPDATE_ID = 0
    MAX_SUBSCRIPTION_ATTEMPTS = 5
    SUBSCRIPTION_RETRY_DELAY = 1.0
    MIN_RECONNECT_INTERVAL = 1.0
    TRADE_IDS_REMEMBERED = 1000
    LOGGED_MESSAGE_MAX_LENGTH = 300

    _logger: Optional[HummingbotLogger] = None

    def __init__(self,
                 trading_pairs: List[str],
                 connector: "NonkycExchange",
                 api_factory: WebAssistantsFactory,
                 domain: str = CONSTANTS.DEFAULT_DOMAIN):
        super().__init__(trading_pairs)
        self._connector = connector
        self._api_factory = api_factory
        self._domain = domain
        self._trade_messages_queue_key = CONSTANTS.WS_EVENT_TRADES_UPDATE
        self._diff_messages_queue_key = CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE
        self._snapshot_messages_queue_key = CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT

        # Instance attributes rather than constants so that tests can shorten them.
        self._ping_interval: float = CONSTANTS.WS_PING_INTERVAL
        self._silence_timeout: float = CONSTANTS.WS_SILENCE_TIMEOUT
        self._subscription_timeout: float = CONSTANTS.WS_LOGIN_TIMEOUT

        # Kept across connections.
        self._trading_pair_by_symbol: Dict[str, str] = {}
        self._trade_histories: Dict[str, _TradeHistory] = {}
        self._last_request_id = 0
        self._last_update_id = self.REST_SNAPSHOT_UPDATE_ID
        self._last_connection_time: Optional[float] = None
        self._unknown_methods_logged: Set[str] = set()
        self._unknown_symbols_logged: Set[str] = set()
        self._unsubscribed_symbols: Set[str] = set()

        # Per connection, cleared by _on_order_stream_interruption.
        # symbol -> WS sequence of the last applied message; None while waiting for a (fresh) snapshot.
        self._order_book_sequences: Dict[str, Optional[int]] = {}
        self._order_book_subscription_attempts: Dict[str, int] = {}
        self._updates_dropped_while_waiting: Dict[str, int] = {}
        self._symbols_to_resync: List[str] = []
        self._pending_requests: Dict[str, _PendingRequest] = {}
        self._retry_tasks: Set[asyncio.Task] = set()
        self._ping_task: Optional[asyncio.Task] = None

    # === Prices and REST snapshots ===

    async def get_last_traded_prices(self,
                                     trading_pairs: List[str],
                                     domain: Optional[str] = None) -> Dict[str, float]:
        return await self._connector.get_last_traded_prices(trading_pairs=trading_pairs)

    async def _order_book_snapshot(self, trading_pair: str) -> OrderBookMessage:
        """The REST order book; it only initialises the book until the pair's WS snapshot arrives."""
        symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
        response = await self._connector._api_get(
            path_url=CONSTANTS.ORDER_BOOK_PATH_URL,
            params={"symbol": symbol, "limit": CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH})
        if not isinstance(response, dict):
            raise IOError(f"Unexpected NonKYC order book answer for {trading_pair}: {self._describe(response)}")
        try:
            rest_sequence = NonkycOrderBook.parse_sequence(response.get("sequence"))
        except ValueError:
            rest_sequence = None  # informational only: it is a different counter from the WS sequence
        return NonkycOrderBook.snapshot_message_from_exchange(
            response,
            timestamp_seconds(response.get("timestamp")) or self._time(),
            {"trading_pair": trading_pair, "update_id": self.REST_SNAPSHOT_UPDATE_ID, "sequence": rest_sequence})

    async def _request_order_book_snapshots(self, output: asyncio.Queue):
        """
        Called by the base class when no snapshot came for an hour. A REST book cannot be placed in the WS stream,
        so every order book is refreshed from a fresh WS snapshot instead.
        """
        websocket_assistant = self._ws_assistant
        if websocket_assistant is None or not self._order_book_sequences:
            return
        self.logger().info("Refreshing the NonKYC order books from fresh WebSocket snapshots (hourly).")
        for symbol in list(self._order_book_sequences):
            self._wait_for_fresh_snapshot(symbol)
            self._symbols_to_resync.append(symbol)
        await self._send_resync_requests(websocket_assistant)

    # === Connection and subscriptions ===

    async def _connected_websocket_assistant(self) -> WSAssistant:
        # The base loop reconnects at once after a ConnectionError: never faster than MIN_RECONNECT_INTERVAL.
        if self._last_connection_time is not None:
            wait = self._last_connection_time + self.MIN_RECONNECT_INTERVAL - self._time()
            if wait > 0:
                await self._sleep(wait)
        self._last_connection_time = self._time()
        websocket_assistant: WSAssistant = await self._api_factory.get_ws_assistant()
        # `ping_timeout` is aiohttp's heartbeat (a ping after that long without traffic; the connection is dropped
        # when the pong does not come within half of it) and `message_timeout` bounds the silence of every receive.
        await websocket_assistant.connect(
            ws_url=web_utils.wss_url(self._domain),
            ping_timeout=CONSTANTS.WS_PING_INTERVAL,
            message_timeout=self._silence_timeout)
        return websocket_assistant

    async def _subscribe_channels(self, ws: WSAssistant):
        """Sends the subscriptions of every pair; their replies are checked by the message loop."""
        for trading_pair in list(self._trading_pairs):
            try:
                symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
            except KeyError:
                self.logger().error(f"{trading_pair} is not a NonKYC market: not subscribing to its order book.")
                continue
            await self._send_pair_subscriptions(ws, symbol, trading_pair, caller_waits=False)
        self.logger().info("Subscribing to the NonKYC public order book and trade channels...")

    async def subscribe_to_trading_pair(self, trading_pair: str) -> bool:
        websocket_assistant = self._ws_assistant
        if websocket_assistant is None:
            self.logger().warning(f"Cannot subscribe to {trading_pair}: the NonKYC public stream is not connected.")
            return False
        symbol = None
        try:
            symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
            requests = await self._send_pair_subscriptions(websocket_assistant, symbol, trading_pair, caller_waits=True)
            accepted = await self._wait_for_replies(requests)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger().exception(f"Unexpected error subscribing to the {trading_pair} order book and trades.")
            if symbol is not None:
                self._forget_symbol(symbol)
            return False
        if all(accepted.values()):
            self.add_trading_pair(trading_pair)
            self.logger().info(f"Subscribed to the {trading_pair} order book and trade channels.")
            return True
        self.logger().warning(f"Subscribing to {trading_pair} failed ({self._describe_replies(accepted)}).")
        self._forget_symbol(symbol)
        await self._undo_subscriptions(websocket_assistant, symbol, trading_pair, accepted)
        return False

    async def _undo_subscriptions(self,
                                  websocket_assistant: WSAssistant,
                                  symbol: str,
                                  trading_pair: str,
                                  accepted: Dict[str, Optional[bool]]):
        """Best effort: unsubscribes the channels of a failed pair subscription that the exchange accepted."""
        try:
            for method, was_accepted in accepted.items():
                if was_accepted:
                    await self._send_request(websocket_assistant, _UNSUBSCRIBE_METHOD[method], {"symbol": symbol},
                                             trading_pair, retry_when_rejected=False)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.logger().warning(f"Could not unsubscribe the channels of {trading_pair}: {error!r}")

    async def unsubscribe_from_trading_pair(self, trading_pair: str) -> bool:
        websocket_assistant = self._ws_assistant
        if websocket_assistant is None:
            self.logger().warning(f"Cannot unsubscribe from {trading_pair}: the NonKYC public stream is not connected.")
            return False
        try:
            symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
            # Forgotten first: whatever still arrives for the pair is ignored.
            self._forget_symbol(symbol)
            self.remove_trading_pair(trading_pair)
            requests = [
                await self._send_request(websocket_assistant, method, {"symbol": symbol}, trading_pair,
                                         retry_when_rejected=False, wait_for_reply=True)
                for method in (CONSTANTS.WS_METHOD_UNSUBSCRIBE_ORDER_BOOK, CONSTANTS.WS_METHOD_UNSUBSCRIBE_TRADES)]
            accepted = await self._wait_for_replies(requests)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger().exception(f"Unexpected error unsubscribing from the {trading_pair} order book and trades.")
            return False
        if all(accepted.values()):
            self.logger().info(f"Unsubscribed from the {trading_pair} order book and trade channels.")
            return True
        self.logger().warning(f"Unsubscribing from {trading_pair} failed ({self._describe_replies(accepted)}).")
        return False

    async def _send_pair_subscriptions(self,
                                       websocket_assistant: WSAssistant,
                                       symbol: str,
                                       trading_pair: str,
                                       caller_waits: bool) -> List[_PendingRequest]:
        """
        Subscribes to the order book and the trades of a pair. When `caller_waits`, the caller gets the replies and
        decides; otherwise a rejected subscription is retried (bounded).
        """
        self._register_order_book_subscription(symbol, trading_pair)
        return [
            await self._send_order_book_subscription(websocket_assistant, symbol, attempt=1, caller_waits=caller_waits),
            await self._send_request(websocket_assistant, CONSTANTS.WS_METHOD_SUBSCRIBE_TRADES, {"symbol": symbol},
                                     trading_pair, retry_when_rejected=not caller_waits, wait_for_reply=caller_waits),
        ]

    async def _send_order_book_subscription(self,
                                            websocket_assistant: WSAssistant,
                                            symbol: str,
                                            attempt: int,
                                            caller_waits: bool = False) -> _PendingRequest:
        self._order_book_subscription_attempts[symbol] = attempt
        return await self._send_request(
            websocket_assistant, CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK,
            {"symbol": symbol, "limit": CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH},
            self._trading_pair_by_symbol.get(symbol, symbol), attempt=attempt,
            retry_when_rejected=not caller_waits, wait_for_reply=caller_waits)

    async def _send_request(self,
                            websocket_assistant: WSAssistant,
                            method: str,
                            params: Dict[str, Any],
                            trading_pair: str,
                            retry_when_rejected: bool,
                            attempt: int = 1,
                            wait_for_reply: bool = False) -> _PendingRequest:
        self._last_request_id += 1
        request_id = self._last_request_id
        reply = asyncio.get_running_loop().create_future() if wait_for_reply else None
        request = _PendingRequest(method=method, params=params, trading_pair=trading_pair, attempt=attempt,
                                  retry_when_rejected=retry_when_rejected, reply=reply)
        self._pending_requests[str(request_id)] = request
        await websocket_assistant.send(WSJSONRequest(payload={"method": method, "params": params, "id": request_id}))
        return request

    async def _wait_for_replies(self, requests: List[_PendingRequest]) -> Dict[str, Optional[bool]]:
        """method -> True (accepted), False (rejected) or None (no reply in time)."""
        futures = [request.reply for request in requests]
        await asyncio.wait(futures, timeout=self._subscription_timeout)
        return {request.method: (request.reply.result() if request.reply.done() else None) for request in requests}

    @staticmethod
    def _describe_replies(accepted: Dict[str, Optional[bool]]) -> str:
        words = {True: "accepted", False: "rejected", None: "no reply"}
        return ", ".join(f"{method}: {words[result]}" for method, result in accepted.items())

    def _forget_symbol(self, symbol: str):
        self._unsubscribed_symbols.add(symbol)
        self._trading_pair_by_symbol.pop(symbol, None)
        self._order_book_sequences.pop(symbol, None)
        self._order_book_subscription_attempts.pop(symbol, None)
        self._updates_dropped_while_waiting.pop(symbol, None)
        self._trade_histories.pop(symbol, None)

    # === Message loop ===

    async def _process_websocket_messages(self, websocket_assistant: WSAssistant):
        self._ping_task = safe_ensure_future(web_utils.ping_periodically(
            websocket_assistant, self._ping_interval, self.logger(), "NonKYC public stream"))
        try:
            async for ws_response in websocket_assistant.iter_messages():
                self._process_message(ws_response.data)
                if self._symbols_to_resync:
                    await self._send_resync_requests(websocket_assistant)
        except TimeoutError as timeout:
            raise ConnectionError(f"no message from NonKYC within {self._silence_timeout:g} s ({timeout})")
        finally:
            self._cancel_ping_task()
        raise ConnectionError("the NonKYC public stream was disconnected")

    def _process_message(self, message: Any):
        """Routes one message of the public stream. Never raises: whatever cannot be used is logged and skipped."""
        try:
            if type(message) is not dict:
                self._log_non_object_message(message)
                return
            method = message.get("method")
            if method == CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE:
                self._process_order_book_update(message)
            elif method == CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT:
                self._process_order_book_snapshot(message)
            elif method in _TRADE_EVENTS:
                self._message_queue[self._trade_messages_queue_key].put_nowait(message)
            elif "result" in message or "error" in message:
                self._process_reply(message)
            else:
                self._log_unknown_method(message)
        except Exception:
            self.logger().exception(f"Unexpected error handling the NonKYC public message {self._describe(message)}; "
                                    f"skipped.")

    def _process_order_book_update(self, message: Dict[str, Any]):
        try:
            diff = self._diff_message_from_update(message["params"])
        except Exception as error:
            self._on_unreadable_order_book_message(message, error)
            return
        if diff is not None:
            self._message_queue[self._diff_messages_queue_key].put_nowait(diff)

    def _diff_message_from_update(self, params: Dict[str, Any]) -> Optional[OrderBookMessage]:
        """
        The hot path: sequence check and parse of an `updateOrderbook`. Returns the diff to apply, or None when the
        update is dropped (duplicate, gap, pair waiting for a snapshot or not subscribed).
        """
        symbol = params["symbol"]
        sequence = params["sequence"]
        if type(sequence) is not int:
            sequence = NonkycOrderBook.parse_sequence(sequence)
        last_sequence = self._order_book_sequences.get(symbol)
        if last_sequence is None:
            self._drop_update_without_snapshot(symbol)
            return None
        if sequence != last_sequence + 1:
            if sequence <= last_sequence:
                self.logger().debug(f"Dropped a duplicate NonKYC order book update for {symbol}: sequence {sequence}, "
                                    f"last applied {last_sequence}.")
            else:
                self._on_sequence_gap(symbol, last_sequence, sequence)
            return None
        self._last_update_id += 1
        diff = NonkycOrderBook.diff_message(
            params, self._trading_pair_by_symbol[symbol], self._last_update_id, sequence)
        self._order_book_sequences[symbol] = sequence
        return diff

    def _process_order_book_snapshot(self, message: Dict[str, Any]):
        try:
            snapshot = self._snapshot_message_from_ws(message["params"])
        except Exception as error:
            self._on_unreadable_order_book_message(message, error)
            return
        if snapshot is not None:
            # On the diff queue on purpose: see the class documentation.
            self._message_queue[self._diff_messages_queue_key].put_nowait(snapshot)

    def _snapshot_message_from_ws(self, params: Dict[str, Any]) -> Optional[OrderBookMessage]:
        symbol = params["symbol"]
        if symbol not in self._order_book_sequences:
            self._log_message_of_unknown_symbol(symbol, CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT)
            return None
        sequence = NonkycOrderBook.parse_sequence(params["sequence"])
        snapshot = NonkycOrderBook.snapshot_message_from_exchange(params, self._time(), {
            "trading_pair": self._trading_pair_by_symbol[symbol],
            "update_id": self._last_update_id + 1,
            "sequence": sequence,
        })
        self._last_update_id += 1
        self._order_book_sequences[symbol] = sequence
        self._order_book_subscription_attempts.pop(symbol, None)
        dropped = self._updates_dropped_while_waiting.pop(symbol, 0)
        self.logger().info(f"Order book of {snapshot.trading_pair} synchronised from a NonKYC snapshot at sequence "
                           f"{sequence}" + (f" ({dropped} updates dropped while waiting)." if dropped else "."))
        return snapshot

    def _drop_update_without_snapshot(self, symbol: str):
        if symbol in self._order_book_sequences:
            self._updates_dropped_while_waiting[symbol] = self._updates_dropped_while_waiting.get(symbol, 0) + 1
        else:
            self._log_message_of_unknown_symbol(symbol, CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE)

    def _on_sequence_gap(self, symbol: str, last_sequence: int, sequence: int):
        self.logger().warning(
            f"Order book sequence gap for {self._trading_pair_by_symbol.get(symbol, symbol)}: expected "
            f"{last_sequence + 1} after {last_sequence}, received {sequence}. Dropping its updates and re-subscribing "
            f"its order book for a fresh snapshot.")
        self._wait_for_fresh_snapshot(symbol)
        self._symbols_to_resync.append(symbol)

    def _on_unreadable_order_book_message(self, message: Dict[str, Any], error: Exception):
        """An order book message that cannot be applied: the book may now differ from the exchange's, so resync."""
        params = message.get("params")
        symbol = params.get("symbol") if isinstance(params, dict) else None
        trading_pair = self._trading_pair_by_symbol.get(symbol) if isinstance(symbol, str) else None
        if trading_pair is None or symbol not in self._order_book_sequences:
            self.logger().warning(f"Skipped an unreadable NonKYC {message.get('method')} message ({error!r}): "
                                  f"{self._describe(message)}")
            return
        if message.get("method") == CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT:
            self.logger().error(f"Skipped an unreadable NonKYC order book snapshot for {trading_pair} ({error!r}): "
                                f"{self._describe(message)}")
            self._wait_for_fresh_snapshot(symbol)
            self._schedule_retry(self._order_book_subscription_request(symbol), resubscribe=True)
        elif self._order_book_sequences[symbol] is not None:
            self.logger().warning(f"Skipped an unreadable NonKYC order book update for {trading_pair} ({error!r}): "
                                  f"{self._describe(message)}. Re-subscribing its order book for a fresh snapshot.")
            self._wait_for_fresh_snapshot(symbol)
            self._symbols_to_resync.append(symbol)
        else:
            self.logger().debug(f"Skipped an unreadable NonKYC order book update for {trading_pair} while waiting "
                                f"for its snapshot ({error!r}).")

    def _register_order_book_subscription(self, symbol: str, trading_pair: str):
        """From now on the messages of `symbol` are those of `trading_pair`, starting with a snapshot."""
        self._trading_pair_by_symbol[symbol] = trading_pair
        self._unsubscribed_symbols.discard(symbol)
        self._wait_for_fresh_snapshot(symbol)

    def _wait_for_fresh_snapshot(self, symbol: str):
        self._order_book_sequences[symbol] = None

    async def _send_resync_requests(self, websocket_assistant: WSAssistant):
        symbols, self._symbols_to_resync = self._symbols_to_resync, []
        for symbol in dict.fromkeys(symbols):
            if symbol not in self._trading_pair_by_symbol:
                continue
            await self._send_request(websocket_assistant, CONSTANTS.WS_METHOD_UNSUBSCRIBE_ORDER_BOOK,
                                     {"symbol": symbol}, self._trading_pair_by_symbol[symbol],
                                     retry_when_rejected=False)
            await self._send_order_book_subscription(websocket_assistant, symbol, attempt=1)

    # === Replies and retries ===

    def _process_reply(self, message: Dict[str, Any]):
        request_id = message.get("id")
        request = self._pending_requests.pop(str(request_id), None) if request_id is not None else None
        error = web_utils.error_in_response(message)
        if request is None:
            if error is not None:
                self.logger().warning(f"NonKYC public stream error (request id {request_id}): "
                                      f"code {error.get('code')}, {error.get('message')}")
            else:
                self.logger().debug(f"Ignored a NonKYC reply to an unknown request: {self._describe(message)}")
            return
        accepted = error is None and message.get("result") is True
        if request.reply is not None and not request.reply.done():
            request.reply.set_result(accepted)
        if accepted:
            self.logger().debug(f"NonKYC {request.method} for {request.trading_pair} (id {request_id}) accepted.")
            return
        reason = (f"code {error.get('code')}, {error.get('message')}" if error is not None
                  else f"unexpected reply {self._describe(message)}")
        self.logger().warning(f"NonKYC rejected {request.method} for {request.trading_pair} (id {request_id}, "
                              f"attempt {request.attempt}): {reason}")
        if request.retry_when_rejected and request.method in _SUBSCRIBE_METHODS:
            self._schedule_retry(request)

    def _order_book_subscription_request(self, symbol: str) -> _PendingRequest:
        """The order book subscription of a symbol, as last sent on this connection."""
        return _PendingRequest(
            method=CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK,
            params={"symbol": symbol, "limit": CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH},
            trading_pair=self._trading_pair_by_symbol[symbol],
            attempt=self._order_book_subscription_attempts.get(symbol, 1),
            retry_when_rejected=True)

    def _schedule_retry(self, request: _PendingRequest, resubscribe: bool = False):
        """
        Sends the subscription again after a delay that doubles with each attempt, at most MAX_SUBSCRIPTION_ATTEMPTS
        times in all. `resubscribe` unsubscribes first (the subscription exists but its snapshot was unreadable).
        """
        if request.attempt >= self.MAX_SUBSCRIPTION_ATTEMPTS:
            self.logger().error(f"Giving up {request.method} for {request.trading_pair} after {request.attempt} "
                                f"attempts; it is tried again on the next reconnection.")
            return
        delay = self.SUBSCRIPTION_RETRY_DELAY * 2 ** (request.attempt - 1)
        self.logger().info(f"Retrying {request.method} for {request.trading_pair} in {delay:g} s "
                           f"(attempt {request.attempt + 1} of {self.MAX_SUBSCRIPTION_ATTEMPTS}).")
        task = safe_ensure_future(self._retry_request(request, delay, resubscribe))
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_tasks.discard)

    async def _retry_request(self, request: _PendingRequest, delay: float, resubscribe: bool):
        await self._sleep(delay)
        symbol = request.params["symbol"]
        websocket_assistant = self._ws_assistant
        if websocket_assistant is None or symbol not in self._trading_pair_by_symbol:
            return
        try:
            if resubscribe:
                await self._send_request(websocket_assistant, _UNSUBSCRIBE_METHOD[request.method], {"symbol": symbol},
                                         request.trading_pair, retry_when_rejected=False)
            if request.method == CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK:
                self._wait_for_fresh_snapshot(symbol)
                await self._send_order_book_subscription(websocket_assistant, symbol, attempt=request.attempt + 1)
            else:
                await self._send_request(websocket_assistant, request.method, request.params, request.trading_pair,
                                         retry_when_rejected=True, attempt=request.attempt + 1)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # A broken connection: the message loop notices it and reconnects, which subscribes again.
            self.logger().warning(f"Could not retry {request.method} for {request.trading_pair}: {error!r}")

    # === Trades ===

    async def _parse_trade_message(self, raw_message: Dict[str, Any], message_queue: asyncio.Queue):
        method = raw_message.get("method")
        params = raw_message.get("params")
        symbol = params.get("symbol") if isinstance(params, dict) else None
        trading_pair = self._trading_pair_by_symbol.get(symbol) if isinstance(symbol, str) else None
        entries = params.get("data") if isinstance(params, dict) else None
        if trading_pair is None and isinstance(symbol, str):
            self._log_message_of_unknown_symbol(symbol, method)
            return
        if trading_pair is None or not isinstance(entries, list):
            self.logger().warning(f"Skipped a NonKYC {method} message without a market or a trade list: "
                                  f"{self._describe(raw_message)}")
            return
        history = self._trade_histories.get(symbol)
        if history is None:
            history = self._trade_histories[symbol] = _TradeHistory(self.TRADE_IDS_REMEMBERED)
        trades = self._new_trades(entries, trading_pair, method, history)
        if method == CONSTANTS.WS_EVENT_TRADES_SNAPSHOT and not history.snapshot_seen:
            # The first snapshot of a market is history from before the subscription, not new trades.
            history.snapshot_seen = True
            self.logger().debug(f"{len(trades)} NonKYC trades of {trading_pair} from before the subscription are "
                                f"not reported.")
            return
        trades.sort(key=lambda trade: trade.timestamp)
        for trade in trades:
            message_queue.put_nowait(trade)

    def _new_trades(self,
                    entries: List[Any],
                    trading_pair: str,
                    method: str,
                    history: _TradeHistory) -> List[OrderBookMessage]:
        """The trade messages of the entries not reported before; they are remembered as reported."""
        trades = []
        for entry in entries:
            try:
                trade = NonkycOrderBook.trade_message_from_exchange(entry, {"trading_pair": trading_pair})
            except Exception as error:
                self.logger().warning(f"Skipped a malformed trade of a NonKYC {method} message for {trading_pair} "
                                      f"({error!r}): {self._describe(entry)}")
                continue
            if trade.trade_id in history:
                continue
            history.add(trade.trade_id)
            trades.append(trade)
        return trades

    async def _parse_order_book_diff_message(self, raw_message: OrderBookMessage, message_queue: asyncio.Queue):
        # Snapshots and diffs are parsed, in order, by the message loop (which also checks the sequences).
        message_queue.put_nowait(raw_message)

    # === Heartbeat and interruption ===

    def _cancel_ping_task(self):
        if self._ping_task is not None and not self._ping_task.done():
            self._ping_task.cancel()
        self._ping_task = None

    async def _on_order_stream_interruption(self, websocket_assistant: Optional[WSAssistant] = None):
        """Everything learnt on the old connection is void: each pair starts again from a fresh WS snapshot."""
        self._cancel_ping_task()
        for task in list(self._retry_tasks):
            task.cancel()
        self._retry_tasks.clear()
        for request in self._pending_requests.values():
            if request.reply is not None and not request.reply.done():
                request.reply.set_result(None)
        self._pending_requests.clear()
        self._order_book_sequences.clear()
        self._order_book_subscription_attempts.clear()
        self._updates_dropped_while_waiting.clear()
        self._symbols_to_resync.clear()
        await super()._on_order_stream_interruption(websocket_assistant=websocket_assistant)

    # === Logging helpers ===

    def _log_non_object_message(self, message: Any):
        if isinstance(message, str) and message.strip().lower() in _HEARTBEAT_TEXTS:
            self.logger().debug(f"NonKYC public stream heartbeat: {message!r}")
        else:
            self.logger().warning(f"Skipped a NonKYC public message that is not a JSON object: "
                                  f"{self._describe(message)}")

    def _log_message_of_unknown_symbol(self, symbol: str, method: str):
        """Expected for a market just unsubscribed; otherwise the symbol is not one we subscribed to: warn once."""
        text = f"Ignored a NonKYC {method} message for {symbol}: not subscribed."
        if symbol in self._unsubscribed_symbols or symbol in self._unknown_symbols_logged:
            self.logger().debug(text)
        else:
            self._unknown_symbols_logged.add(symbol)
            self.logger().warning(text)

    def _log_unknown_method(self, message: Dict[str, Any]):
        method = str(message.get("method"))
        text = f"Skipped a NonKYC public message with an unknown method ({method}): {self._describe(message)}"
        if method in self._unknown_methods_logged:
            self.logger().debug(text)
        else:
            self._unknown_methods_logged.add(method)
            self.logger().warning(text)

    def _describe(self, message: Any) -> str:
        text = repr(message)
        if len(text) > self.LOGGED_MESSAGE_MAX_LENGTH:
            text = text[:self.LOGGED_MESSAGE_MAX_LENGTH] + "..."
        return text
