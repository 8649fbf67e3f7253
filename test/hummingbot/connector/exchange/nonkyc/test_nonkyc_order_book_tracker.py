"""
The order-book trackers driven by the real data source over a mocked websocket: Hummingbot's own tracker, and the
NonKYC tracker's start-up, REST fallback, network restart and pairs added while running.
"""
import asyncio
from test.hummingbot.connector.exchange.nonkyc.nonkyc_order_book_test_support import (
    BTC_PAIR,
    BTC_SYMBOL,
    ETH_PAIR,
    ETH_SYMBOL,
    SOL_PAIR,
    SOL_SYMBOL,
    ExchangeBook,
    OrderBookTrackerTestBase,
    book_levels,
    rest_order_book,
    trade,
    ws_snapshot,
    ws_trades,
    ws_update,
)
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import rpc_result, wait_until
from typing import Any, Dict, List, Optional, Set, Tuple
from unittest.mock import patch

from aioresponses.core import CallbackResult
from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book import NonkycOrderBook, NonkycOrderBookMessage
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book_tracker import NonkycOrderBookTracker
from hummingbot.core.data_type.order_book_message import OrderBookMessage


class NonkycOrderBookTrackerTests(OrderBookTrackerTestBase):
    """
    Hummingbot's own OrderBookTracker driven by the real data source over a mocked websocket: after snapshots, diffs,
    gaps, re-subscriptions and reconnections the tracker's book equals the exchange's, level for level.
    """

    async def test_book_equals_the_exchange_book_through_gap_resubscription_and_fresh_snapshot(self):
        self.data_source._trading_pairs[:] = [BTC_PAIR]
        tracker = self.start_tracker([BTC_PAIR])
        await wait_until(lambda: tracker.ready, what="the tracker to be ready")
        self.assertEqual(([(50.0, 9.0)], [(500.0, 9.0)]), book_levels(tracker.order_books[BTC_PAIR]),
                         "the REST book initialises the tracker until the WS snapshot arrives")
        await self.wait_for_subscriptions(count=2)

        await self.send(ws_snapshot(BTC_SYMBOL, 1000, bids=[("100", "1"), ("99", "2")],
                                    asks=[("101", "1"), ("102", "2")]))
        await self.send(ws_update(BTC_SYMBOL, 1001, bids=[("99.5", "3")]))
        await self.send(ws_update(BTC_SYMBOL, 1002, asks=[("101", "0"), ("101.5", "4")]))
        await self.send(ws_update(BTC_SYMBOL, 1003, bids=[("100", "5")]))
        await self.wait_until_tracker_applied_everything(BTC_PAIR)
        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)

        # 1004 never reaches us: it removes the levels 1001 and 1002 added.
        self.exchange_books[BTC_SYMBOL].update(ws_update(BTC_SYMBOL, 1004, bids=[("99.5", "0")], asks=[("101.5", "0")]))
        await self.send(ws_update(BTC_SYMBOL, 1005, asks=[("103", "1")]))
        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 2,
                         what="the resubscription after the gap")
        self.assertEqual([{"symbol": BTC_SYMBOL}],
                         [request["params"] for request in self.stream.sent_requests("unsubscribeOrderbook")])
        await self.send(ws_update(BTC_SYMBOL, 1006, bids=[("98", "1")]))  # arrives while waiting: dropped

        await self.send(ws_snapshot(BTC_SYMBOL, 1006, bids=[("100", "5"), ("99", "2"), ("98", "1")],
                                    asks=[("102", "2"), ("103", "1")]))
        await self.send(ws_update(BTC_SYMBOL, 1007, bids=[("100", "0")], asks=[("102.5", "1")]))
        await self.send(ws_update(BTC_SYMBOL, 1008, bids=[("99", "2.5")]))
        await self.wait_until_tracker_applied_everything(BTC_PAIR)

        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)
        self.assertEqual(([(99.0, 2.5), (98.0, 1.0)], [(102.0, 2.0), (102.5, 1.0), (103.0, 1.0)]),
                         book_levels(tracker.order_books[BTC_PAIR]))
        self.assertEqual(0, tracker.metrics.total_diffs_rejected,
                         "the REST sequence never made the tracker drop a diff")
        self.assertEqual(1, len(self.stream.websockets))

    async def test_control_with_hummingbot_ordering_the_stale_levels_come_back(self):
        # The same scenario with Hummingbot's message ordering: proves the test above sees the trap it guards against.
        with patch.object(NonkycOrderBookMessage, "__lt__", OrderBookMessage.__lt__):
            self.data_source._trading_pairs[:] = [BTC_PAIR]
            tracker = self.start_tracker([BTC_PAIR])
            await wait_until(lambda: tracker.ready, what="the tracker to be ready")
            await self.wait_for_subscriptions(count=2)
            await self.send(ws_snapshot(BTC_SYMBOL, 1000, bids=[("100", "1")], asks=[("102", "2")]))
            await self.send(ws_update(BTC_SYMBOL, 1001, bids=[("99.5", "3")]))
            await self.send(ws_update(BTC_SYMBOL, 1003, asks=[("103", "1")]))
            await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 2,
                             what="the resubscription after the gap")
            await self.send(ws_snapshot(BTC_SYMBOL, 1003, bids=[("100", "1")], asks=[("102", "2"), ("103", "1")]))
            await self.wait_until_tracker_applied_everything(BTC_PAIR)

            self.assertIn((99.5, 3.0), book_levels(tracker.order_books[BTC_PAIR])[0])
            self.assertNotEqual(self.exchange_books[BTC_SYMBOL].levels(), book_levels(tracker.order_books[BTC_PAIR]))

    async def test_book_equals_the_exchange_book_after_a_reconnection(self):
        self.data_source._trading_pairs[:] = [BTC_PAIR]
        tracker = self.start_tracker([BTC_PAIR])
        await wait_until(lambda: tracker.ready, what="the tracker to be ready")
        await self.wait_for_subscriptions(count=2)
        await self.send(ws_snapshot(BTC_SYMBOL, 1000, bids=[("100", "1")], asks=[("101", "1")]))
        for sequence in range(1001, 1041):
            await self.send(ws_update(BTC_SYMBOL, sequence, bids=[(f"{90 + sequence % 7}", f"{sequence % 3}")]))
        await self.wait_until_tracker_applied_everything(BTC_PAIR)
        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)

        self.stream.close()
        await self.wait_for_subscriptions(count=2, index=1)
        # Changes made while disconnected only show in the new snapshot.
        await self.send(ws_snapshot(BTC_SYMBOL, 1100, bids=[("95", "4")], asks=[("101", "2"), ("104", "1")]))
        await self.send(ws_update(BTC_SYMBOL, 1101, asks=[("101", "0")]))
        await self.wait_until_tracker_applied_everything(BTC_PAIR)

        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)
        self.assertEqual(([(95.0, 4.0)], [(104.0, 1.0)]), book_levels(tracker.order_books[BTC_PAIR]))

    async def test_snapshot_and_many_diffs_before_the_tracker_is_ready_keep_their_order(self):
        # While ETH's REST book is still being fetched the tracker is not ready: BTC's WS snapshot and 40 diffs (more
        # than the 32 the tracker replays) arrive, and ETH's WS snapshot arrives before ETH's book exists.
        release_init = asyncio.Event()

        async def slow_init_sleep(delay):
            await release_init.wait()

        tracker = self.start_tracker([BTC_PAIR, ETH_PAIR], init_sleep=slow_init_sleep)
        await wait_until(lambda: BTC_PAIR in tracker.order_books, what="the BTC book to be created")
        await self.wait_for_subscriptions(count=4)
        await self.send(ws_snapshot(BTC_SYMBOL, 1000, bids=[("100", "1")], asks=[("101", "1")]))
        for sequence in range(1001, 1041):
            await self.send(ws_update(BTC_SYMBOL, sequence, asks=[(f"{101 + sequence % 9}", f"{sequence % 4}")]))
        await self.send(ws_snapshot(ETH_SYMBOL, 7000, bids=[("10", "1")], asks=[("11", "1")]))
        await self.wait_until_tracker_applied_everything(BTC_PAIR)
        self.assertFalse(tracker.ready)

        release_init.set()
        await wait_until(lambda: tracker.ready, what="the tracker to be ready")
        await self.send(ws_update(ETH_SYMBOL, 7001, bids=[("10.5", "2")]))
        await self.wait_until_tracker_applied_everything(ETH_PAIR)

        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)
        self.assert_tracker_book_equals_exchange_book(ETH_PAIR, ETH_SYMBOL)
        self.assertNotIn((40.0, 9.0), book_levels(tracker.order_books[ETH_PAIR])[0], "no REST-era level is left")

    async def test_trades_reach_the_tracker_once(self):
        self.data_source._trading_pairs[:] = [BTC_PAIR]
        tracker = self.start_tracker([BTC_PAIR])
        await wait_until(lambda: tracker.ready, what="the tracker to be ready")
        await self.wait_for_subscriptions(count=2)

        self.stream.push_all([ws_trades("snapshotTrades", BTC_SYMBOL, [trade("a1", price="67000")]),
                              ws_trades("updateTrades", BTC_SYMBOL, [trade("a2", price="67100"),
                                                                     trade("a2", price="67100")])])
        await wait_until(lambda: tracker.metrics.total_trades_processed >= 1, what="the trade to reach the tracker")
        await self.deliver()

        self.assertEqual(1, tracker.metrics.total_trades_processed)
        self.assertEqual(67100.0, tracker.order_books[BTC_PAIR].last_trade_price)


class NonkycOrderBookTrackerStartUpTests(OrderBookTrackerTestBase):
    """
    The NonKYC tracker, driven by the real data source over a mocked websocket whose exchange answers every order
    book subscription with its snapshot (unless the test holds it back): start-up from the WS snapshots, the REST
    fallback, the network restart and the pairs added while running. The tracker's books are compared with the
    exchange's, level for level.
    """

    tracker_class = NonkycOrderBookTracker

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        tracker_logger = NonkycOrderBookTracker.logger()
        self.loggers.append(tracker_logger)
        self.previous_levels.append(tracker_logger.level)
        tracker_logger.setLevel(1)
        tracker_logger.addHandler(self.log_recorder)
        self.snapshot_wait = CONSTANTS.ORDER_BOOK_WS_SNAPSHOT_WAIT
        self.held_back: Set[str] = set()
        self.sequences: Dict[str, int] = {}
        self.versions: Dict[str, int] = {}
        self.rest_failures: List[int] = []  # HTTP statuses of the next REST answers, before the normal ones
        self.rest_request_times: List[float] = []
        self.during_rest_request: Optional[Any] = None
        self.stream.replies["subscribeOrderbook"] = self.subscribe_order_book
        self.exchange_books[SOL_SYMBOL] = ExchangeBook()
        self.rest_books[SOL_SYMBOL] = rest_order_book(SOL_SYMBOL, "6064", bids=[("20", "9")], asks=[("200", "9")])

    # --- the exchange ---

    def subscribe_order_book(self, index: int, request: Dict[str, Any]) -> List[Dict[str, Any]]:
        """An acknowledgement, then the snapshot of the book, unless the test holds it back."""
        symbol = request["params"]["symbol"]
        if symbol in self.held_back:
            return [rpc_result(request)]
        return [rpc_result(request), self.exchange_snapshot(symbol)]

    def exchange_snapshot(self, symbol: str) -> Dict[str, Any]:
        """A new snapshot of the exchange's book of `symbol` (its levels change with every snapshot)."""
        version = self.versions[symbol] = self.versions.get(symbol, 0) + 1
        self.sequences[symbol] = self.sequences.get(symbol, 1000 * version) + 10
        base = 100 + 10 * sorted(self.exchange_books).index(symbol)
        snapshot = ws_snapshot(symbol, self.sequences[symbol],
                               bids=[(f"{base}", f"{version}"), (f"{base - 1}", "2")],
                               asks=[(f"{base + 1}", f"{version}"), (f"{base + 2}", "3")])
        self.exchange_books[symbol].snapshot(snapshot)
        return snapshot

    async def send_update(self, symbol: str, bids=(), asks=()):
        self.sequences[symbol] += 1
        await self.send(ws_update(symbol, self.sequences[symbol], bids=bids, asks=asks))

    async def rest_order_book_answer(self, url, **kwargs) -> CallbackResult:
        self.rest_request_times.append(asyncio.get_running_loop().time())
        if self.during_rest_request is not None:
            await self.during_rest_request(kwargs["params"]["symbol"])
        if self.rest_failures:
            self.rest_requests.append(kwargs["params"]["symbol"])
            return CallbackResult(status=self.rest_failures.pop(0), body="<html>503 Service Unavailable</html>")
        return super().rest_order_book_answer(url, **kwargs)

    def use_pairs(self, count: int) -> List[str]:
        pairs = {f"ALT{number:03d}/USDT": f"ALT{number:03d}-USDT" for number in range(1, count + 1)}
        self.connector._set_trading_pair_symbol_map(bidict({**pairs, SOL_SYMBOL: SOL_PAIR}))
        self.data_source._trading_pairs[:] = list(pairs.values())
        for symbol in pairs:
            self.exchange_books[symbol] = ExchangeBook()
            self.rest_books[symbol] = rest_order_book(symbol, "6064", bids=[("1", "9")], asks=[("900", "9")])
        return list(pairs.values())

    # --- the tracker ---

    def start_tracker(self, trading_pairs: Optional[List[str]] = None, init_sleep=None) -> NonkycOrderBookTracker:
        # As in the connector, the tracker and the data source share the list of pairs.
        self.tracker = NonkycOrderBookTracker(data_source=self.data_source,
                                              trading_pairs=self.data_source._trading_pairs)
        self.tracker.snapshot_wait = self.snapshot_wait
        self.tracker.start()
        return self.tracker

    async def wait_ready(self, timeout: float = 5.0):
        await wait_until(lambda: self.tracker.ready, timeout, what="the tracker to be ready")

    def assert_books_equal_the_exchange_books(self, pairs: List[str]):
        for pair in pairs:
            self.assert_tracker_book_equals_exchange_book(pair, pair.replace("-", "/"))

    def best_ask(self, symbol: str) -> str:
        return str(self.exchange_books[symbol].levels()[1][0][0])

    def book(self, trading_pair: str) -> Tuple[List[Tuple[float, float]], List[Tuple[float, float]]]:
        return book_levels(self.tracker.order_books[trading_pair])

    # --- start-up ---

    async def test_books_of_many_pairs_are_initialized_together_from_their_ws_snapshots(self):
        pairs = self.use_pairs(20)
        self.held_back = {"ALT001/USDT"}  # the first pair's snapshot is late: the other pairs do not wait for it
        tracker = self.start_tracker()

        await wait_until(lambda: len(tracker.order_books) == 19, what="the 19 books whose snapshot came")
        self.assertNotIn(pairs[0], tracker.order_books)
        self.assertFalse(tracker.ready)
        await self.send(self.exchange_snapshot("ALT001/USDT"))
        await self.wait_ready()

        self.assert_books_equal_the_exchange_books(pairs)
        self.assertEqual([], self.rest_requests)
        self.assertTrue(self.is_logged("INFO", "Initialized the order books of 20 NonKYC pair(s)."))
        for symbol in ("ALT001/USDT", "ALT007/USDT", "ALT020/USDT"):
            await self.send_update(symbol, bids=[("99.5", "4")], asks=[(self.best_ask(symbol), "0")])
        await self.send_update("ALT007/USDT", bids=[("99.5", "0")])
        for pair in ("ALT001-USDT", "ALT007-USDT", "ALT020-USDT"):
            await self.wait_until_tracker_applied_everything(pair)
        self.assert_books_equal_the_exchange_books(pairs)
        self.assertEqual(0, tracker.metrics.total_diffs_rejected)

    async def test_a_late_snapshot_falls_back_to_rest_and_the_book_goes_live_with_its_ws_snapshot(self):
        self.held_back = {BTC_SYMBOL}
        self.snapshot_wait = 0.1
        self.start_tracker()

        await self.wait_ready()
        self.assertEqual([BTC_SYMBOL], self.rest_requests)
        self.assertEqual(([(50.0, 9.0)], [(500.0, 9.0)]), self.book(BTC_PAIR), "the REST book")
        self.assert_tracker_book_equals_exchange_book(ETH_PAIR, ETH_SYMBOL)
        self.assertTrue(self.is_logged("INFO", f"No WebSocket snapshot of the {BTC_PAIR} order book within 0.1 s: "
                                               f"initializing it from a REST snapshot"))
        # The order book whose snapshot did not come is subscribed again.
        await wait_until(lambda: [{"symbol": BTC_SYMBOL}] == [
            request["params"] for request in self.stream.sent_requests("unsubscribeOrderbook")]
            and len(self.stream.sent_requests("subscribeOrderbook")) == 3, what="the re-subscription of BTC")

        await self.send(self.exchange_snapshot(BTC_SYMBOL))
        await self.send_update(BTC_SYMBOL, bids=[("99.5", "1")])
        await self.wait_until_tracker_applied_everything(BTC_PAIR)
        self.assert_tracker_book_equals_exchange_book(BTC_PAIR, BTC_SYMBOL)
        self.assertEqual([BTC_SYMBOL], self.rest_requests)
        self.assertEqual(0, self.tracker.metrics.total_diffs_rejected,
                         "the REST book (its REST sequence is 99999999999) made the tracker drop no WS message")

    async def test_rest_fallbacks_stay_within_the_connectors_request_budget(self):
        pairs = self.use_pairs(CONSTANTS.REQUESTS_PER_SECOND + 2)
        self.held_back = {pair.replace("-", "/") for pair in pairs}
        self.snapshot_wait = 0.05
        self.start_tracker()

        await self.wait_ready(timeout=10)

        self.assertEqual(sorted(self.held_back), sorted(self.rest_requests))
        self.assertEqual(([(1.0, 9.0)], [(900.0, 9.0)]), self.book(pairs[-1]))
        # The REST budget is REQUESTS_PER_SECOND a second: the requests beyond it waited for the next second.
        first = self.rest_request_times[0]
        self.assertGreater(self.rest_request_times[CONSTANTS.REQUESTS_PER_SECOND] - first, 0.9)

    async def test_a_failed_rest_snapshot_waits_longer_for_the_ws_one_then_tries_rest_again(self):
        self.held_back = {ETH_SYMBOL}
        self.snapshot_wait = 0.05
        self.rest_failures = [503]
        self.start_tracker()

        await self.wait_ready()

        self.assertEqual([ETH_SYMBOL, ETH_SYMBOL], self.rest_requests)
        self.assertTrue(self.is_logged("WARNING", f"Could not get the REST snapshot of the {ETH_PAIR} order book"))
        self.assertTrue(self.is_logged("WARNING", "waiting 0.15 s for its WebSocket snapshot before trying REST "
                                                  "again."))
        self.assertEqual(([(40.0, 9.0)], [(400.0, 9.0)]), self.book(ETH_PAIR))

    async def test_a_ws_snapshot_that_arrives_during_the_rest_request_is_used_instead(self):
        self.data_source._trading_pairs.remove(ETH_PAIR)
        self.snapshot_wait = 0.05
        tracker = self.start_tracker()
        await self.wait_ready()
        self.held_back = {SOL_SYMBOL}
        self.during_rest_request = lambda symbol: self.deliver(self.exchange_snapshot(symbol))

        self.assertTrue(await tracker.add_trading_pair(SOL_PAIR))

        # The book add_trading_pair built, before the tracker applied any message: the WS one, newer than REST's.
        self.assertEqual([SOL_SYMBOL], self.rest_requests)
        self.assert_tracker_book_equals_exchange_book(SOL_PAIR, SOL_SYMBOL)

    # --- network restart ---

    async def test_a_network_restart_builds_every_book_again_from_fresh_snapshots(self):
        pairs = self.use_pairs(12)
        tracker = self.start_tracker()
        await self.wait_ready()
        await self.send_update("ALT003/USDT", bids=[("119.5", "7")])
        await self.wait_until_tracker_applied_everything("ALT003-USDT")

        tracker.stop()  # what the connector's stop_network does when the network check fails
        self.assertFalse(tracker.ready)
        await wait_until(lambda: not self.stream.connections[0].connected, what="the old connection to close")
        # A snapshot the old connection delivered, still in the pipeline when the network stopped: not to be used.
        stale = NonkycOrderBook.snapshot_message_from_exchange(
            {"bids": [{"price": "1", "quantity": "1"}], "asks": []}, 0,
            {"trading_pair": "ALT001-USDT", "update_id": self.data_source.last_update_id})
        self.data_source._message_queue[self.data_source._diff_messages_queue_key].put_nowait(stale)
        self.held_back = {"ALT001/USDT"}
        tracker.snapshot_wait = 0.1
        tracker.start()  # start_network, once the network is back

        await self.wait_ready()
        self.assertEqual(2, len(self.stream.websockets))
        subscribed = [request["params"]["symbol"] for request in self.stream.sent_requests("subscribeOrderbook", 1)]
        self.assertEqual([pair.replace("-", "/") for pair in pairs], subscribed[:12])
        self.assertEqual(["ALT001/USDT"], self.rest_requests, "the stale snapshot was not taken for a fresh one")
        self.assert_books_equal_the_exchange_books(pairs[1:])
        self.assertEqual(2, self.versions["ALT005/USDT"], "the books come from the new snapshots")
        await self.send_update("ALT005/USDT", asks=[("141", "0")])
        await self.wait_until_tracker_applied_everything("ALT005-USDT")
        self.assert_books_equal_the_exchange_books(pairs[1:])

    # --- pairs added while running ---

    async def test_a_pair_added_while_running_is_live_as_soon_as_its_snapshot_arrives(self):
        self.data_source._trading_pairs.remove(ETH_PAIR)
        tracker = self.start_tracker()
        await self.wait_ready()

        self.assertTrue(await tracker.add_trading_pair(SOL_PAIR))

        self.assert_tracker_book_equals_exchange_book(SOL_PAIR, SOL_SYMBOL)
        self.assertEqual([], self.rest_requests)
        await self.send_update(SOL_SYMBOL, bids=[("118", "1")], asks=[("121", "0")])
        await self.wait_until_tracker_applied_everything(SOL_PAIR)
        self.assert_tracker_book_equals_exchange_book(SOL_PAIR, SOL_SYMBOL)

    async def test_a_pair_added_while_running_without_snapshot_uses_rest_and_fails_when_rest_fails(self):
        self.data_source._trading_pairs.remove(ETH_PAIR)
        self.snapshot_wait = 0.05
        tracker = self.start_tracker()
        await self.wait_ready()
        self.held_back = {SOL_SYMBOL, ETH_SYMBOL}

        self.assertTrue(await tracker.add_trading_pair(SOL_PAIR))
        self.assertEqual(([(20.0, 9.0)], [(200.0, 9.0)]), self.book(SOL_PAIR))

        self.rest_failures = [503]
        self.assertFalse(await tracker.add_trading_pair(ETH_PAIR))
        self.assertNotIn(ETH_PAIR, tracker.order_books)
        self.assertTrue(self.is_logged("ERROR", f"Error adding trading pair {ETH_PAIR}"))
        self.assertEqual([SOL_SYMBOL, ETH_SYMBOL], self.rest_requests)
