"""
The NonKYC order book tracker: Hummingbot's `OrderBookTracker`, with every book initialized at once from the
WebSocket snapshots.

Hummingbot's tracker builds the books one pair after the other, each from a REST snapshot, with a one-second pause
between two pairs, at every start of the network: 50 pairs took close to a minute, again after each network restart.
NonKYC sends a snapshot of every subscribed book within milliseconds (see the data source), so here:
- every pair waits for its first WebSocket snapshot at the same time, and its book is built from that snapshot as
  soon as it enters the tracker; the tracker is ready when every book is built;
- a pair whose snapshot has not come within `snapshot_wait` seconds (plus its place in the paced subscriptions) is
  initialized from a REST snapshot instead, through the connector's throttler, and its order book is re-subscribed;
  its WebSocket snapshot replaces the REST book when it comes (one arriving during the REST request is used instead);
- every start (`start_network`) is a new session: the messages left in the pipeline by the previous one are dropped
  and every book is built again from a fresh snapshot; `add_trading_pair` waits for the pair's snapshot the same way.
What happens to a book once it is built (diffs, re-snapshots, the stale-replay guard of `nonkyc_order_book`) is
Hummingbot's tracker, unchanged.
"""
import asyncio
import logging
from collections import defaultdict
from typing import Callable, Dict, List, Optional

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessage, OrderBookMessageType
from hummingbot.core.data_type.order_book_tracker import OrderBookTracker
from hummingbot.core.utils.async_utils import safe_ensure_future
from hummingbot.logger import HummingbotLogger

_SNAPSHOT = OrderBookMessageType.SNAPSHOT


class _SessionDiffStream(asyncio.Queue):
    """
    The tracker's stream of order book messages (snapshots and diffs, in the exchange's order) for one session: it
    drops the messages of an earlier session and shows every snapshot to `on_snapshot` as it enters.
    """

    def __init__(self, first_update_id: int, on_snapshot: Callable[[OrderBookMessage], None]):
        super().__init__()
        self._first_update_id = first_update_id
        self._on_snapshot = on_snapshot

    def put_nowait(self, message: OrderBookMessage):
        if message.update_id < self._first_update_id:
            return
        super().put_nowait(message)
        if message.type is _SNAPSHOT:
            self._on_snapshot(message)


class NonkycOrderBookTracker(OrderBookTracker):
    _nonkyc_logger: Optional[HummingbotLogger] = None

    @classmethod
    def logger(cls) -> HummingbotLogger:
        if cls._nonkyc_logger is None:
            cls._nonkyc_logger = logging.getLogger(HummingbotLogger.logger_name_for_class(cls))
        return cls._nonkyc_logger

    def __init__(self, data_source: NonkycAPIOrderBookDataSource, trading_pairs: List[str],
                 domain: Optional[str] = None):
        super().__init__(data_source=data_source, trading_pairs=trading_pairs, domain=domain)
        # Instance attribute rather than a constant so that tests can shorten it.
        self.snapshot_wait: float = CONSTANTS.ORDER_BOOK_WS_SNAPSHOT_WAIT
        # The latest WS snapshot of each pair whose book is not built yet in this session, and its arrival.
        self._first_snapshots: Dict[str, OrderBookMessage] = {}
        self._snapshot_arrived: Dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def start(self):
        """A new session: its books are built from its own snapshots; nothing of the previous one is replayed."""
        self._order_book_diff_stream = _SessionDiffStream(self._data_source.last_update_id + 1, self._on_snapshot)
        self._tracking_message_queues.clear()
        self._saved_message_queues.clear()
        self._first_snapshots.clear()
        self._snapshot_arrived.clear()
        super().start()

    async def add_trading_pair(self, trading_pair: str) -> bool:
        """The pair's book is built from the snapshot of its new subscription (REST if it is late)."""
        self._first_snapshots.pop(trading_pair, None)
        return await super().add_trading_pair(trading_pair)

    def _on_snapshot(self, snapshot: OrderBookMessage):
        trading_pair = snapshot.trading_pair
        if trading_pair not in self._tracking_message_queues:  # no book yet: the tracker saves its messages
            self._first_snapshots[trading_pair] = snapshot
            self._snapshot_arrived[trading_pair].set()

    async def _init_order_books(self):
        trading_pairs = list(self._trading_pairs)
        # The subscriptions are paced, order books first: the book of the n-th pair is requested n / pace s later.
        await asyncio.gather(*(
            self._init_order_book(trading_pair, self.snapshot_wait + index / CONSTANTS.WS_REQUESTS_PER_SECOND)
            for index, trading_pair in enumerate(trading_pairs)))
        self.logger().info(f"Initialized the order books of {len(trading_pairs)} NonKYC pair(s).")
        self._order_books_initialized.set()

    async def _init_order_book(self, trading_pair: str, wait: float):
        order_book = await self._first_order_book(trading_pair, wait, keep_trying=True)
        self._order_books[trading_pair] = order_book
        self._past_diffs_windows.pop(trading_pair, None)  # the diffs of the previous session's book
        self._tracking_message_queues[trading_pair] = asyncio.Queue()
        self._tracking_tasks[trading_pair] = safe_ensure_future(self._track_single_book(trading_pair))
        self.logger().debug(f"Initialized the order book of {trading_pair}.")

    async def _initial_order_book_for_trading_pair(self, trading_pair: str) -> OrderBook:
        """The book of a pair added while running (`add_trading_pair`)."""
        return await self._first_order_book(trading_pair, self.snapshot_wait, keep_trying=False)

    async def _first_order_book(self, trading_pair: str, wait: float, keep_trying: bool) -> OrderBook:
        """
        The pair's book from its first WS snapshot of the session, or from a REST snapshot when none came within
        `wait` s. When the REST request fails: raises, or with `keep_trying` waits longer for the WS snapshot (twice
        as long each time) and tries REST again.
        """
        while True:
            if await self._first_snapshot_arrived(trading_pair, wait):
                return self._book_from_first_snapshot(trading_pair)
            self.logger().info(f"No WebSocket snapshot of the {trading_pair} order book within {wait:g} s: "
                               f"initializing it from a REST snapshot, and asking for a fresh WebSocket one.")
            self._data_source.request_fresh_snapshot(trading_pair)
            try:
                order_book = await self._data_source.get_new_order_book(trading_pair)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not keep_trying:
                    raise
                wait = min(2 * wait, CONSTANTS.WS_RECONNECT_BACKOFF_MAX)
                self.logger().warning(f"Could not get the REST snapshot of the {trading_pair} order book ({error!r}); "
                                      f"waiting {wait:g} s for its WebSocket snapshot before trying REST again.")
                continue
            # A WS snapshot that arrived during the request is newer than the REST one.
            return self._book_from_first_snapshot(trading_pair) if trading_pair in self._first_snapshots else order_book

    async def _first_snapshot_arrived(self, trading_pair: str, timeout: float) -> bool:
        if trading_pair not in self._first_snapshots:
            try:
                await asyncio.wait_for(self._snapshot_arrived[trading_pair].wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return trading_pair in self._first_snapshots

    def _book_from_first_snapshot(self, trading_pair: str) -> OrderBook:
        snapshot = self._first_snapshots.pop(trading_pair)
        self._snapshot_arrived.pop(trading_pair, None)
        order_book = self._data_source.order_book_create_function()
        order_book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id)
        return order_book
