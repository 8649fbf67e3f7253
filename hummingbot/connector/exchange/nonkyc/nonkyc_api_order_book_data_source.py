import asyncio
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book import (
    NewTrades,
    NonkycOrderBook,
    OrderBookSequences,
    SequenceVerdict,
)
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import NonkycStreamCore, RpcReply, RpcRequest
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import describe, timestamp_seconds
from hummingbot.core.data_type.order_book_message import OrderBookMessage
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.logger import HummingbotLogger

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

_UNSUBSCRIBE_METHOD = {
    CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK: CONSTANTS.WS_METHOD_UNSUBSCRIBE_ORDER_BOOK,
    CONSTANTS.WS_METHOD_SUBSCRIBE_TRADES: CONSTANTS.WS_METHOD_UNSUBSCRIBE_TRADES,
}
_SUBSCRIBE_METHODS = tuple(_UNSUBSCRIBE_METHOD)
_TRADE_EVENTS = (CONSTANTS.WS_EVENT_TRADES_SNAPSHOT, CONSTANTS.WS_EVENT_TRADES_UPDATE)
_APPLY = SequenceVerdict.APPLY


@dataclass(frozen=True)
class _Channel:
    """The market a request of the public stream is about, and how to react when the exchange rejects it."""
    symbol: str
    trading_pair: str
    attempt: int = 1
    retry_when_rejected: bool = True


class NonkycAPIOrderBookDataSource(OrderBookTrackerDataSource):
    """
    NonKYC public order books and trades, all pairs on one WebSocket connection (JSON-RPC on the stream core,
    `nonkyc_stream_core`).

    Per pair, `subscribeOrderbook` and `subscribeTrades` are sent (paced by the stream core, every order book first)
    and their replies checked; a rejected subscription is logged and retried a bounded number of times. The sequences
    of each connection follow `OrderBookSequences`: on a gap the pair's order book alone is re-subscribed
    (unsubscribe + subscribe) for a fresh WS snapshot; after a reconnect every pair waits for a fresh snapshot.

    The update ids of the messages keep the books exact inside Hummingbot's `OrderBookTracker`, see `nonkyc_order_book`.
    The books are built from the WS snapshots (`NonkycOrderBookTracker`); a REST snapshot (update id 0) only stands in
    for a late one until it arrives. The hourly refresh re-subscribes the WS order books instead of using REST.

    Trades: every entry of `updateTrades` / `snapshotTrades` is one trade message, reported as `NewTrades` decides.
    """

    REST_SNAPSHOT_UPDATE_ID = 0

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
        self._stream_core = NonkycStreamCore("NonKYC public stream", self.logger, lambda delay: self._sleep(delay))
        # Order book re-subscriptions because of a sequence gap, since the start.
        self.gap_resubscriptions = 0

        # Kept across connections.
        # The subscribed symbols, read at once by the message loop (the connector's map is async and has every market).
        self._trading_pair_by_symbol: Dict[str, str] = {}
        self._new_trades = NewTrades()
        self._last_update_id = self.REST_SNAPSHOT_UPDATE_ID

        # Per connection, cleared by _on_order_stream_interruption.
        self._sequences = OrderBookSequences()
        self._order_book_attempts: Dict[str, int] = {}  # symbol -> order book subscriptions since its last snapshot

    @property
    def last_update_id(self) -> int:
        """The update id of the last order book message handed on; every later one has a larger id."""
        return self._last_update_id

    @property
    def connection_count(self) -> int:
        """Connections of the public stream since the start (reconnections are the ones beyond the first)."""
        return self._stream_core.connection_count

    # === Prices and REST snapshots ===

    async def get_last_traded_prices(self, trading_pairs: List[str], domain: Optional[str] = None) -> Dict[str, float]:
        """
        The connector's last prices (one shared /tickers read). A pair /tickers does not list keeps its book's price:
        the order book tracker asks again at once for every pair left out of the answer, without pausing.
        """
        prices = await self._connector.get_last_traded_prices(trading_pairs=trading_pairs)
        books = self._connector.order_books
        return {trading_pair: prices[trading_pair] if trading_pair in prices
                else (books[trading_pair].last_trade_price if trading_pair in books else float("nan"))
                for trading_pair in trading_pairs}

    async def _order_book_snapshot(self, trading_pair: str) -> OrderBookMessage:
        """The REST order book; it only initialises the book until the pair's WS snapshot arrives."""
        symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
        response = await self._connector._api_get(
            path_url=CONSTANTS.ORDER_BOOK_PATH_URL,
            params={"symbol": symbol, "limit": CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH})
        if not isinstance(response, dict):
            raise IOError(f"Unexpected NonKYC order book answer for {trading_pair}: {describe(response)}")
        return NonkycOrderBook.snapshot_message_from_exchange(
            response,
            timestamp_seconds(response.get("timestamp")) or self._time(),
            {"trading_pair": trading_pair, "update_id": self.REST_SNAPSHOT_UPDATE_ID})

    async def _request_order_book_snapshots(self, output: asyncio.Queue):
        """
        Called by the base class when no snapshot came for an hour. A REST book cannot be placed in the WS stream,
        so every order book is refreshed from a fresh WS snapshot instead.
        """
        if self._ws_assistant is None or not self._sequences.symbols:
            return
        self.logger().info("Refreshing the NonKYC order books from fresh WebSocket snapshots (hourly).")
        for symbol in self._sequences.symbols:
            self._resubscribe_order_book(symbol)

    # === Connection and subscriptions ===

    async def listen_for_subscriptions(self):
        self._stream_core.backoff.restart()
        await super().listen_for_subscriptions()

    async def _connected_websocket_assistant(self) -> WSAssistant:
        return await self._stream_core.connect(self._api_factory)

    async def _subscribe_channels(self, ws: WSAssistant):
        """
        Sends the subscriptions of every pair in the background, paced by the stream core, while the message loop
        reads their replies and snapshots: every order book first (the tracker waits for them), then the trades.
        """
        channels = []
        for trading_pair in list(self._trading_pairs):
            try:
                symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
            except KeyError:
                self.logger().error(f"{trading_pair} is not a NonKYC market: not subscribing to its order book.")
                continue
            self._trading_pair_by_symbol[symbol] = trading_pair
            channels.append(_Channel(symbol, trading_pair))
        self._stream_core.run_later(0, lambda: self._send_if_connected(
            *[(method, channel) for method in _SUBSCRIBE_METHODS for channel in channels]))
        self.logger().info("Subscribing to the NonKYC public order book and trade channels...")

    async def subscribe_to_trading_pair(self, trading_pair: str) -> bool:
        """Subscribes a pair while the stream runs; its book is live as soon as its snapshot arrives."""
        channel = await self._runtime_channel(trading_pair, "subscribe to")
        if channel is None:
            return False
        self._trading_pair_by_symbol[channel.symbol] = trading_pair
        if await self._sent_and_accepted(channel, _SUBSCRIBE_METHODS, ("subscribe to", "Subscribed to")):
            self.add_trading_pair(trading_pair)
            return True
        self._forget_symbol(channel.symbol)
        return False

    async def unsubscribe_from_trading_pair(self, trading_pair: str) -> bool:
        channel = await self._runtime_channel(trading_pair, "unsubscribe from")
        if channel is None:
            return False
        # Forgotten first: whatever still arrives for the pair is ignored.
        self._forget_symbol(channel.symbol)
        self.remove_trading_pair(trading_pair)
        return await self._sent_and_accepted(channel, tuple(_UNSUBSCRIBE_METHOD.values()),
                                             ("unsubscribe from", "Unsubscribed from"))

    async def _runtime_channel(self, trading_pair: str, action: str) -> Optional[_Channel]:
        if self._ws_assistant is None:
            self.logger().warning(f"Cannot {action} {trading_pair}: the NonKYC public stream is not connected.")
            return None
        try:
            symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
        except KeyError:
            self.logger().warning(f"Cannot {action} {trading_pair}: it is not a NonKYC market.")
            return None
        return _Channel(symbol, trading_pair, retry_when_rejected=False)

    async def _sent_and_accepted(self, channel: _Channel, methods: Tuple[str, ...], action: Tuple[str, str]) -> bool:
        """Sends requests about one pair while the stream runs; True when the exchange accepted them all."""
        try:
            replies = await self._stream_core.replies([await self._send(self._ws_assistant, method, channel)
                                                       for method in methods])
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger().exception(f"Unexpected error trying to {action[0]} the {channel.trading_pair} order book "
                                    f"and trades.")
            return False
        if all(reply.accepted for reply in replies.values()):
            self.logger().info(f"{action[1]} the {channel.trading_pair} order book and trade channels.")
            return True
        self.logger().warning(f"Could not {action[0]} {channel.trading_pair} "
                              f"({self._stream_core.describe_replies(replies)}).")
        # Best effort: the subscriptions the exchange accepted are undone.
        await self._send_if_connected(*[(_UNSUBSCRIBE_METHOD[method], channel) for method, reply in replies.items()
                                        if reply.accepted and method in _UNSUBSCRIBE_METHOD])
        return False

    async def _send(self, websocket_assistant: WSAssistant, method: str, channel: _Channel) -> RpcRequest:
        params: Dict[str, Any] = {"symbol": channel.symbol}
        if method == CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK:
            params["limit"] = CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH
            self._sequences.expect_snapshot(channel.symbol)
            self._order_book_attempts[channel.symbol] = channel.attempt
        return await self._stream_core.send(websocket_assistant, method, params, channel)

    def _forget_symbol(self, symbol: str):
        self._stream_core.expect_stray_messages(symbol)
        self._trading_pair_by_symbol.pop(symbol, None)
        self._sequences.forget(symbol)
        self._order_book_attempts.pop(symbol, None)
        self._new_trades.forget(symbol)

    def request_fresh_snapshot(self, trading_pair: str):
        """Re-subscribes a subscribed order book whose snapshot has not come (the tracker waited for it in vain)."""
        symbol = next((symbol for symbol, pair in self._trading_pair_by_symbol.items() if pair == trading_pair), None)
        if symbol is not None and self._sequences.is_waiting_for_snapshot(symbol):
            self._resubscribe_order_book(symbol)

    def _resubscribe_order_book(self, symbol: str):
        """A fresh WS snapshot for one market: its order book is unsubscribed and subscribed again."""
        trading_pair = self._trading_pair_by_symbol.get(symbol)
        if trading_pair is not None:
            self._stream_core.run_later(0, lambda: self._resend(CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK,
                                                                _Channel(symbol, trading_pair), unsubscribe_first=True))

    # === Message loop ===

    async def _process_websocket_messages(self, websocket_assistant: WSAssistant):
        async for message in self._stream_core.messages(websocket_assistant):
            self._process_message(message)

    def _process_message(self, message: Any):
        """Routes one message of the public stream on the stream core. Never raises."""
        self._stream_core.route(message, self._process_event, self._process_reply)

    def _process_event(self, message: Dict[str, Any]) -> bool:
        method = message.get("method")
        if method == CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE:
            self._process_order_book_update(message)
        elif method == CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT:
            self._process_order_book_snapshot(message)
        elif method in _TRADE_EVENTS:
            self._message_queue[self._trade_messages_queue_key].put_nowait(message)
        else:
            return False
        return True

    def _process_order_book_update(self, message: Dict[str, Any]):
        """The hot path: sequence check and parse of an `updateOrderbook`."""
        try:
            params = message["params"]
            symbol = params["symbol"]
            sequence = params["sequence"]
            if type(sequence) is not int:
                sequence = NonkycOrderBook.parse_sequence(sequence)
            verdict = self._sequences.check_update(symbol, sequence)
            if verdict is not _APPLY:
                self._on_update_not_applied(symbol, sequence, verdict)
                return
            self._last_update_id += 1
            diff = NonkycOrderBook.diff_message(
                params, self._trading_pair_by_symbol[symbol], self._last_update_id, sequence)
        except Exception as error:
            self._on_unreadable_order_book_message(message, error)
            return
        self._message_queue[self._diff_messages_queue_key].put_nowait(diff)

    def _on_update_not_applied(self, symbol: str, sequence: int, verdict: SequenceVerdict):
        if verdict is SequenceVerdict.GAP:
            _, last_sequence, _ = self._sequences.last_gap
            self.logger().warning(
                f"Order book sequence gap for {self._trading_pair_by_symbol.get(symbol, symbol)}: expected "
                f"{last_sequence + 1} after {last_sequence}, received {sequence}. Dropping its updates and "
                f"re-subscribing its order book for a fresh snapshot.")
            self.gap_resubscriptions += 1
            self._resubscribe_order_book(symbol)
        elif verdict is SequenceVerdict.DUPLICATE:
            self.logger().debug(f"Dropped a duplicate NonKYC order book update for {symbol}: sequence {sequence}, "
                                f"last applied {self._sequences.last_sequence(symbol)}.")
        elif verdict is SequenceVerdict.NOT_SUBSCRIBED:
            self._stream_core.log_unknown_symbol(symbol, CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE)

    def _process_order_book_snapshot(self, message: Dict[str, Any]):
        try:
            params = message["params"]
            symbol = params["symbol"]
            if symbol not in self._sequences:
                self._stream_core.log_unknown_symbol(symbol, CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT)
                return
            sequence = NonkycOrderBook.parse_sequence(params["sequence"])
            snapshot = NonkycOrderBook.snapshot_message_from_exchange(params, self._time(), {
                "trading_pair": self._trading_pair_by_symbol[symbol],
                "update_id": self._last_update_id + 1,
                "sequence": sequence,
            })
        except Exception as error:
            self._on_unreadable_order_book_message(message, error)
            return
        self._last_update_id += 1
        self._sequences.on_snapshot(symbol, sequence)
        self._order_book_attempts.pop(symbol, None)
        self._stream_core.backoff.session_established()
        self.logger().info(f"Order book of {snapshot.trading_pair} synchronised from a NonKYC snapshot at sequence "
                           f"{sequence}.")
        # On the diff queue on purpose: see the class documentation.
        self._message_queue[self._diff_messages_queue_key].put_nowait(snapshot)

    def _on_unreadable_order_book_message(self, message: Dict[str, Any], error: Exception):
        """An order book message that cannot be applied: the book may now differ from the exchange's, so resync."""
        method = message.get("method")
        params = message.get("params")
        symbol = params.get("symbol") if isinstance(params, dict) else None
        trading_pair = self._trading_pair_by_symbol.get(symbol) if isinstance(symbol, str) else None
        is_snapshot = method == CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT
        if trading_pair is None or symbol not in self._sequences or (
                not is_snapshot and self._sequences.is_waiting_for_snapshot(symbol)):
            level = logging.DEBUG if trading_pair is not None else logging.WARNING
            self.logger().log(level, f"Skipped an unreadable NonKYC {method} message ({error!r}): {describe(message)}")
            return
        self.logger().log(logging.ERROR if is_snapshot else logging.WARNING,
                          f"Skipped an unreadable NonKYC {method} message for {trading_pair} ({error!r}): "
                          f"{describe(message)}. Re-subscribing its order book for a fresh snapshot.")
        self._sequences.expect_snapshot(symbol)
        if is_snapshot:
            channel = _Channel(symbol, trading_pair, attempt=self._order_book_attempts.get(symbol, 1))
            self._retry(CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK, channel, unsubscribe_first=True)
        else:
            self._resubscribe_order_book(symbol)

    # === Replies and retries ===

    def _process_reply(self, request: RpcRequest):
        reply: RpcReply = request.reply.result()
        channel: _Channel = request.context
        if reply.accepted:
            self.logger().debug(f"NonKYC {request.method} for {channel.trading_pair} (id {request.request_id}) "
                                f"accepted.")
            return
        self.logger().warning(f"NonKYC rejected {request.method} for {channel.trading_pair} (id {request.request_id}, "
                              f"attempt {channel.attempt}): {reply.describe()}")
        if channel.retry_when_rejected and request.method in _SUBSCRIBE_METHODS:
            self._retry(request.method, channel)

    def _retry(self, method: str, channel: _Channel, unsubscribe_first: bool = False):
        """Sends a subscription again, later; `unsubscribe_first` when it exists but its snapshot was unreadable."""
        next_attempt = replace(channel, attempt=channel.attempt + 1)
        self._stream_core.retry_later(f"{method} for {channel.trading_pair}", channel.attempt,
                                      lambda: self._resend(method, next_attempt, unsubscribe_first))

    async def _resend(self, method: str, channel: _Channel, unsubscribe_first: bool):
        if channel.symbol in self._trading_pair_by_symbol:
            unsubscription = (_UNSUBSCRIBE_METHOD[method], replace(channel, retry_when_rejected=False))
            await self._send_if_connected(*((unsubscription,) if unsubscribe_first else ()), (method, channel))

    async def _send_if_connected(self, *requests: Tuple[str, _Channel]):
        """Best effort: a broken connection is noticed by the message loop, which reconnects and subscribes again."""
        for method, channel in requests:
            try:
                if self._ws_assistant is not None:
                    await self._send(self._ws_assistant, method, channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.logger().warning(f"Could not send {method} for {channel.trading_pair}: {error!r}")
                return

    # === Trades ===

    async def _parse_trade_message(self, raw_message: Dict[str, Any], message_queue: asyncio.Queue):
        method = raw_message.get("method")
        params = raw_message.get("params")
        symbol = params.get("symbol") if isinstance(params, dict) else None
        trading_pair = self._trading_pair_by_symbol.get(symbol) if isinstance(symbol, str) else None
        if trading_pair is None and isinstance(symbol, str):
            self._stream_core.log_unknown_symbol(symbol, method)
            return
        try:
            trades, errors = NonkycOrderBook.trade_messages_from_exchange(params["data"], trading_pair)
        except Exception as error:
            self.logger().warning(f"Skipped a NonKYC {method} message without a market or a trade list ({error!r}): "
                                  f"{describe(raw_message)}")
            return
        for entry, error in errors:
            self.logger().warning(f"Skipped a malformed trade of a NonKYC {method} message for {trading_pair} "
                                  f"({error!r}): {describe(entry)}")
        for trade in self._new_trades.select(symbol, trades, method == CONSTANTS.WS_EVENT_TRADES_SNAPSHOT):
            message_queue.put_nowait(trade)

    async def _parse_order_book_diff_message(self, raw_message: OrderBookMessage, message_queue: asyncio.Queue):
        # Snapshots and diffs are parsed, in order, by the message loop (which also checks the sequences).
        message_queue.put_nowait(raw_message)

    # === Interruption ===

    async def _on_order_stream_interruption(self, websocket_assistant: Optional[WSAssistant] = None):
        """Everything learnt on the old connection is void: each pair starts again from a fresh WS snapshot."""
        self._sequences.clear()
        self._order_book_attempts.clear()
        await self._stream_core.close()
