"""
Shared set-up of the order-book tests: NonKYC order-book and trade messages, the exchange's own book to compare with,
the data source over a fake NonKYC WebSocket server, and the order-book tracker harness driven by it.
"""
import asyncio
import contextlib
import json
import re
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    FakeNonkycServer,
    LogAssertions,
    LogRecorder,
    drain_queue,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from unittest.mock import AsyncMock

from aioresponses import aioresponses
from aioresponses.core import CallbackResult
from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.test_support.network_mocking_assistant import NetworkMockingAssistant
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessage
from hummingbot.core.data_type.order_book_tracker import OrderBookTracker
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

BTC_PAIR, BTC_SYMBOL = "BTC-USDT", "BTC/USDT"
ETH_PAIR, ETH_SYMBOL = "ETH-USDT", "ETH/USDT"
SOL_PAIR, SOL_SYMBOL = "SOL-USDT", "SOL/USDT"

Levels = Iterable[Tuple[str, str]]


# --- NonKYC payloads (shapes of /work/shared/fixtures/nonkyc-live-samples.json) ---

def ws_levels(levels: Levels) -> List[Dict[str, str]]:
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def ws_snapshot(symbol: str, sequence: Any, bids: Levels = (), asks: Levels = ()) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "snapshotOrderbook",
            "params": {"symbol": symbol, "sequence": sequence, "asks": ws_levels(asks), "bids": ws_levels(bids)}}


def ws_update(symbol: str, sequence: Any, bids: Levels = (), asks: Levels = (),
              timestamp: Any = 1772170410000) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "updateOrderbook",
            "params": {"asks": ws_levels(asks), "bids": ws_levels(bids), "symbol": symbol,
                       "timestamp": timestamp, "sequence": sequence}}


def trade(trade_id: str, price: str = "67799.74", quantity: str = "0.020323", side: str = "sell",
          timestamp_ms: int = 1772169881018) -> Dict[str, Any]:
    return {"id": trade_id, "price": price, "quantity": quantity, "side": side,
            "timestamp": "2026-02-27T05:24:41.018Z", "timestampms": timestamp_ms}


def ws_trades(method: str, symbol: str, entries: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": {"symbol": symbol, "sequence": "6064", "data": entries}}


def rest_order_book(symbol: str, sequence: str, bids: Levels, asks: Levels) -> Dict[str, Any]:
    return {"marketid": "643bfeeb5e07bba23a98a981", "symbol": symbol, "timestamp": 1772169899391,
            "sequence": sequence, "bids": ws_levels(bids), "asks": ws_levels(asks)}


class ExchangeBook:
    """The exchange's own book, built from the same messages the test sends: what Hummingbot's book must equal."""

    def __init__(self):
        self.bids: Dict[float, float] = {}
        self.asks: Dict[float, float] = {}

    def snapshot(self, message: Dict[str, Any]):
        self.bids, self.asks = {}, {}
        self.update(message)

    def update(self, message: Dict[str, Any]):
        for side, levels in ((self.bids, message["params"]["bids"]), (self.asks, message["params"]["asks"])):
            for level in levels:
                price, quantity = float(level["price"]), float(level["quantity"])
                if quantity == 0:
                    side.pop(price, None)
                else:
                    side[price] = quantity

    def levels(self) -> Tuple[List[Tuple[float, float]], List[Tuple[float, float]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


def book_levels(book: OrderBook) -> Tuple[List[Tuple[float, float]], List[Tuple[float, float]]]:
    return ([(row.price, row.amount) for row in book.bid_entries()],
            [(row.price, row.amount) for row in book.ask_entries()])


class NonkycOrderBookDataSourceTestBase(LogAssertions, IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.mocking_assistant = NetworkMockingAssistant()
        await self.mocking_assistant.async_init()
        self.stream = FakeNonkycServer(self.mocking_assistant)

        self.connector = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=[BTC_PAIR, ETH_PAIR],
                                        trading_required=False)
        self.connector._set_trading_pair_symbol_map(
            bidict({BTC_SYMBOL: BTC_PAIR, ETH_SYMBOL: ETH_PAIR, SOL_SYMBOL: SOL_PAIR}))
        self.connector._time_synchronizer.add_time_offset_ms_sample(0)

        api_factory = WebAssistantsFactory(throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS),
                                           connections_factory=self.stream)
        self.data_source = NonkycAPIOrderBookDataSource(
            trading_pairs=[BTC_PAIR, ETH_PAIR], connector=self.connector, api_factory=api_factory)
        # Timing of the stream core, shortened for the tests.
        self.data_source._stream_core.reply_timeout = 0.2
        self.data_source._stream_core.ping_interval = 1000
        self.data_source._stream_core.send_interval = 0  # the pace of the requests has its own tests
        self.sleep_delays: List[float] = []
        self.data_source._sleep = self.fake_sleep

        self.diffs: asyncio.Queue = asyncio.Queue()
        self.trades: asyncio.Queue = asyncio.Queue()
        self.tasks: List[asyncio.Task] = []

        self.log_recorder = LogRecorder()
        self.loggers = [self.data_source.logger(), OrderBookTracker.logger()]
        self.previous_levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(1)
            logger.addHandler(self.log_recorder)

    async def asyncTearDown(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.data_source._on_order_stream_interruption()
        for logger, level in zip(self.loggers, self.previous_levels):
            logger.removeHandler(self.log_recorder)
            logger.setLevel(level)
        await super().asyncTearDown()

    async def fake_sleep(self, delay: float):
        self.sleep_delays.append(delay)
        await asyncio.sleep(0)

    # --- helpers ---

    def run_in_background(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.append(task)
        return task

    def start_listening(self):
        loop = asyncio.get_running_loop()
        self.listener = self.run_in_background(self.data_source.listen_for_subscriptions())
        self.run_in_background(self.data_source.listen_for_order_book_diffs(loop, self.diffs))
        self.run_in_background(self.data_source.listen_for_trades(loop, self.trades))

    async def wait_for_subscriptions(self, count: int = 4, index: int = -1):
        needed_connections = index + 1 if index >= 0 else 1
        await wait_until(lambda: len(self.stream.websockets) >= needed_connections
                         and len(self.stream.sent(index)) >= count,
                         what=lambda: f"{count} requests on connection {index} ({len(self.stream.websockets)} "
                                      f"connections)")

    async def deliver(self, *messages: Any, index: int = -1):
        """Pushes the messages and waits until the data source has read them all and emptied its own queues."""
        self.stream.push_all(messages, index)
        await wait_until(lambda: self.stream.all_delivered(index), what="the data source to read every message")
        for _ in range(5):
            await asyncio.sleep(0)
        await wait_until(lambda: all(queue.empty() for queue in self.data_source._message_queue.values()),
                         what="the data source to hand on every parsed message")

    async def connect_and_sync(self, sequences: Dict[str, int]):
        """Connects and delivers a snapshot for each symbol; returns the snapshot messages emitted."""
        self.start_listening()
        await self.wait_for_subscriptions(count=2 * len(self.data_source._trading_pairs))
        await self.deliver(*[ws_snapshot(symbol, sequence, bids=[("100", "1")], asks=[("101", "1")])
                             for symbol, sequence in sequences.items()])
        return self.drain(self.diffs)

    def sent_calls(self, index: int = -1, start: int = 0) -> List[Tuple[str, Dict[str, Any]]]:
        return [(request["method"], request["params"]) for request in self.stream.sent(index)[start:]]

    def fail_sending(self, method: str):
        """From now on, sending a `method` request on the current connection fails as on a broken connection."""
        websocket = self.stream.websockets[-1]
        answer = websocket.send_json.side_effect

        def send(request: Dict[str, Any]):
            if request["method"] == method:
                raise RuntimeError("connection lost")
            answer(request)

        websocket.send_json.side_effect = send

    @staticmethod
    def drain(queue: asyncio.Queue) -> List[Any]:
        return drain_queue(queue)


class OrderBookTrackerTestBase(NonkycOrderBookDataSourceTestBase):
    """
    A tracker (`tracker_class`) driven by the real data source over a mocked websocket, the exchange's own books to
    compare its books with, and REST order books answered from `rest_books` (the symbols requested are recorded).
    """

    tracker_class = OrderBookTracker

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        # The tracker polls the last prices of pairs without recent trades; answering for every pair keeps it idle.
        self.connector.get_last_traded_prices = AsyncMock(
            side_effect=lambda trading_pairs: {trading_pair: 1.0 for trading_pair in trading_pairs})
        self.exchange_books = {BTC_SYMBOL: ExchangeBook(), ETH_SYMBOL: ExchangeBook()}
        self.rest_books = {
            # A REST sequence far above the WS ones, and a level the WS book does not have.
            BTC_SYMBOL: rest_order_book(BTC_SYMBOL, "99999999999", bids=[("50", "9")], asks=[("500", "9")]),
            ETH_SYMBOL: rest_order_book(ETH_SYMBOL, "6064", bids=[("40", "9")], asks=[("400", "9")]),
        }
        # The update id of the last order book message handed to the tracker, per pair.
        self.last_update_ids: Dict[str, int] = {}
        forward = self.data_source._parse_order_book_diff_message

        async def record_and_forward(raw_message: OrderBookMessage, message_queue: asyncio.Queue):
            self.last_update_ids[raw_message.trading_pair] = raw_message.update_id
            await forward(raw_message, message_queue)

        self.data_source._parse_order_book_diff_message = record_and_forward
        self.rest_requests: List[str] = []
        self.mock_api = aioresponses()
        self.mock_api.start()
        self.mock_api.get(re.compile("^" + re.escape(web_utils.public_rest_url(CONSTANTS.ORDER_BOOK_PATH_URL))),
                          callback=self.rest_order_book_answer, repeat=True)

    async def asyncTearDown(self) -> None:
        self.mock_api.stop()
        if getattr(self, "tracker", None) is not None:
            self.tracker.stop()
        await super().asyncTearDown()

    def rest_order_book_answer(self, url, **kwargs) -> CallbackResult:
        self.rest_requests.append(kwargs["params"]["symbol"])
        return CallbackResult(status=200, body=json.dumps(self.rest_books[kwargs["params"]["symbol"]]))

    def start_tracker(self, trading_pairs: List[str], init_sleep: Optional[Callable] = None) -> OrderBookTracker:
        self.tracker = self.tracker_class(data_source=self.data_source, trading_pairs=trading_pairs)
        self.tracker._sleep = init_sleep or AsyncMock()
        self.tracker.start()
        self.listener = self.tracker._order_book_stream_listener_task
        return self.tracker

    async def send(self, message: Dict[str, Any], apply_to_exchange_book: bool = True, index: int = -1):
        """Sends a message the way the exchange would, keeping the exchange's own book up to date."""
        if apply_to_exchange_book:
            book = self.exchange_books[message["params"]["symbol"]]
            (book.snapshot if message["method"] == "snapshotOrderbook" else book.update)(message)
        self.stream.push(message, index)

    async def wait_until_tracker_applied_everything(self, trading_pair: str):
        """Until the data source has read every message and the tracker applied every message it was given."""
        await wait_until(lambda: all(self.stream.all_delivered(index) for index in range(len(self.stream.websockets))),
                         what="the data source to read every message")
        await wait_until(lambda: all(queue.empty() for queue in self.data_source._message_queue.values()),
                         what="the data source to hand on every parsed message")
        last_update_id = self.last_update_ids[trading_pair]
        await wait_until(lambda: trading_pair in self.tracker.order_books and max(
            self.tracker.order_books[trading_pair].last_diff_uid,
            self.tracker.order_books[trading_pair].snapshot_uid) >= last_update_id,
            what=f"the tracker to apply every message of {trading_pair}")

    def assert_tracker_book_equals_exchange_book(self, trading_pair: str, symbol: str):
        self.assertEqual(self.exchange_books[symbol].levels(), book_levels(self.tracker.order_books[trading_pair]))
