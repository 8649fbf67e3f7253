import asyncio
import json
import os
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_order_book_test_support import (
    BTC_PAIR,
    BTC_SYMBOL,
    ETH_PAIR,
    ETH_SYMBOL,
    SOL_PAIR,
    SOL_SYMBOL,
    NonkycOrderBookDataSourceTestBase,
    book_levels,
    rest_order_book,
    trade,
    ws_snapshot,
    ws_trades,
    ws_update,
)
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import rpc_error, rpc_result, wait_until
from typing import Any, Dict, List
from unittest.mock import AsyncMock, patch

from aioresponses import aioresponses
from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book import NonkycOrderBookMessage
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessageType


def accepted(index: int, request: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [rpc_result(request)]


def rejected(index: int, request: Dict[str, Any], code: int = 2001,
             message: str = "Symbol not found") -> List[Dict[str, Any]]:
    return [rpc_error(request, code, message)]


def no_reply(index: int, request: Dict[str, Any]) -> List[Dict[str, Any]]:
    return []


class NonkycAPIOrderBookDataSourceRestTests(NonkycOrderBookDataSourceTestBase):

    def order_book_url(self) -> re.Pattern:
        return re.compile("^" + re.escape(web_utils.public_rest_url(CONSTANTS.ORDER_BOOK_PATH_URL)) + r"(\?.*)?$")

    async def test_new_order_book_from_rest_snapshot(self):
        with aioresponses() as mock_api:
            mock_api.get(self.order_book_url(), body=json.dumps(rest_order_book(
                BTC_SYMBOL, "6064", bids=[("67679.55", "0.000422"), ("67600.00", "1.5")],
                asks=[("67883.06", "0.010917")])))

            book = await self.data_source.get_new_order_book(BTC_PAIR)

            request = next(iter(mock_api.requests.values()))[0]
        self.assertEqual({"symbol": BTC_SYMBOL, "limit": CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH}, request.kwargs["params"])
        self.assertEqual(([(67679.55, 0.000422), (67600.0, 1.5)], [(67883.06, 0.010917)]), book_levels(book))
        # The REST sequence is a different counter from the WS one: it never becomes the book's update id.
        self.assertEqual(NonkycAPIOrderBookDataSource.REST_SNAPSHOT_UPDATE_ID, book.snapshot_uid)

    async def test_rest_snapshot_ignores_its_sequence_whatever_it_is(self):
        # The REST sequence is another counter than the WS one: it is never read, even when it is not a number.
        with aioresponses() as mock_api:
            mock_api.get(self.order_book_url(), body=json.dumps(rest_order_book(
                BTC_SYMBOL, "n/a", bids=[("1.5", "2")], asks=[])))
            book = await self.data_source.get_new_order_book(BTC_PAIR)

        self.assertEqual(([(1.5, 2.0)], []), book_levels(book))
        self.assertEqual(NonkycAPIOrderBookDataSource.REST_SNAPSHOT_UPDATE_ID, book.snapshot_uid)

    async def test_rest_error_body_or_unexpected_answer_raises(self):
        with aioresponses() as mock_api:
            mock_api.get(self.order_book_url(), body=json.dumps(
                {"error": {"code": 2001, "message": "Symbol not found"}}))
            with self.assertRaisesRegex(IOError, "Symbol not found"):
                await self.data_source.get_new_order_book(BTC_PAIR)

            mock_api.get(self.order_book_url(), body=json.dumps([1, 2]))
            with self.assertRaisesRegex(IOError, "Unexpected NonKYC order book answer for BTC-USDT"):
                await self.data_source.get_new_order_book(BTC_PAIR)

    async def test_last_traded_prices_come_from_the_connector(self):
        with aioresponses() as mock_api:
            mock_api.get(web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL), body=json.dumps([
                {"ticker_id": "BTC_USDT", "base_currency": "BTC", "target_currency": "USDT", "last_price": "67700.5",
                 "bid": "67679.55", "ask": "67883.06", "high": "68000", "low": "67000", "base_volume": "1",
                 "target_volume": "67700.5"}]))

            prices = await self.data_source.get_last_traded_prices([BTC_PAIR])

        self.assertEqual({BTC_PAIR: 67700.5}, prices)


class NonkycAPIOrderBookDataSourceStreamTests(NonkycOrderBookDataSourceTestBase):

    # --- connection and subscriptions ---

    async def test_connects_to_the_configured_url_with_heartbeat_and_silence_timeout(self):
        with patch.dict(os.environ, {CONSTANTS.WSS_URL_ENV_VAR: "wss://sandbox.example/ws"}):
            self.start_listening()
            await self.wait_for_subscriptions()

        session = self.stream.sessions[0]
        self.assertEqual(("wss://sandbox.example/ws",), session.connection_args)
        self.assertEqual(CONSTANTS.WS_PING_INTERVAL, session.connection_kwargs["heartbeat"])
        self.assertEqual((CONSTANTS.WS_SILENCE_TIMEOUT,), self.stream.websockets[0].receive.call_args.args)

    async def test_subscriptions_are_sent_order_books_first_with_their_own_ids(self):
        self.start_listening()
        await self.wait_for_subscriptions()

        sent = self.stream.sent()
        self.assertEqual([
            {"method": "subscribeOrderbook", "params": {"symbol": BTC_SYMBOL, "limit": 100}},
            {"method": "subscribeOrderbook", "params": {"symbol": ETH_SYMBOL, "limit": 100}},
            {"method": "subscribeTrades", "params": {"symbol": BTC_SYMBOL}},
            {"method": "subscribeTrades", "params": {"symbol": ETH_SYMBOL}},
        ], [{"method": request["method"], "params": request["params"]} for request in sent])
        ids = [request["id"] for request in sent]
        self.assertTrue(all(isinstance(request_id, int) for request_id in ids))
        self.assertEqual(4, len(set(ids)))
        await wait_until(lambda: self.stream.all_delivered(), what="the four acknowledgements to be read")
        await wait_until(lambda: sum(" accepted." in message for message in self.log_messages("DEBUG")) == 4,
                         what="the four subscriptions to be acknowledged")
        self.assertFalse(self.is_logged("WARNING", "rejected"))

    async def test_pair_unknown_to_the_exchange_is_skipped_and_the_others_subscribed(self):
        self.data_source._trading_pairs.append("FOO-BAR")
        self.start_listening()
        await self.wait_for_subscriptions()

        await wait_until(lambda: self.is_logged("ERROR", "FOO-BAR is not a NonKYC market"),
                         what="the unknown pair to be reported")
        self.assertEqual(4, len(self.stream.sent()))

    async def test_rejected_subscription_is_logged_and_retried(self):
        answers = iter([rejected, accepted])
        self.stream.replies["subscribeOrderbook"] = lambda index, request: (
            next(answers) if request["params"]["symbol"] == ETH_SYMBOL else accepted)(index, request)
        self.start_listening()

        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 3,
                         what="the retried subscription of ETH")
        eth_requests = [request for request in self.stream.sent_requests("subscribeOrderbook")
                        if request["params"]["symbol"] == ETH_SYMBOL]
        self.assertEqual(2, len(eth_requests))
        self.assertNotEqual(eth_requests[0]["id"], eth_requests[1]["id"])
        self.assertTrue(self.is_logged(
            "WARNING", f"NonKYC rejected subscribeOrderbook for {ETH_PAIR} (id {eth_requests[0]['id']}, attempt 1): "
                       f"code 2001, Symbol not found"))
        self.assertEqual([1.0], self.sleep_delays)
        self.assertTrue(self.is_logged("INFO", f"NonKYC public stream: retrying subscribeOrderbook for {ETH_PAIR} in "
                                               f"1 s (attempt 2 of 5)."))
        await wait_until(lambda: self.stream.all_delivered(), what="the second acknowledgement to be read")
        # Accepted on the second attempt: the snapshot that follows is used.
        await self.deliver(ws_snapshot(ETH_SYMBOL, 10, bids=[("1", "1")]))
        self.assertEqual([ETH_PAIR], [message.trading_pair for message in self.drain(self.diffs)])

    async def test_rejected_subscription_gives_up_after_the_maximum_attempts(self):
        self.stream.replies["subscribeTrades"] = (
            lambda index, request: rejected(index, request, 503, "Service unavailable"))
        self.data_source._trading_pairs.remove(ETH_PAIR)
        self.start_listening()

        maximum = 5
        await wait_until(lambda: self.is_logged("ERROR", f"NonKYC public stream: giving up subscribeTrades for "
                                                         f"{BTC_PAIR} after {maximum} attempts"),
                         what="the retries of subscribeTrades to end")
        self.assertEqual(maximum, len(self.stream.sent_requests("subscribeTrades")))
        self.assertEqual([1.0, 2.0, 4.0, 8.0], self.sleep_delays)
        self.assertEqual(1, len(self.stream.sent_requests("subscribeOrderbook")))
        self.assertEqual(1, len(self.stream.websockets), "a rejected subscription does not reconnect")

    async def test_a_paced_round_retries_a_refused_pair_without_holding_the_other_pairs_back(self):
        pairs = {f"ALT{number:03d}/USDT": f"ALT{number:03d}-USDT" for number in range(1, 13)}
        self.connector._set_trading_pair_symbol_map(bidict(pairs))
        self.data_source._trading_pairs[:] = list(pairs.values())
        self.data_source._stream_core.send_interval = 0.01
        refused = iter([True])
        sent_at: List[float] = []

        def subscribe(index: int, request: Dict[str, Any]) -> List[Dict[str, Any]]:
            sent_at.append(asyncio.get_running_loop().time())
            if request["params"]["symbol"] == "ALT001/USDT" and next(refused, False):
                return rejected(index, request, 503, "Service unavailable")
            return [rpc_result(request), ws_snapshot(request["params"]["symbol"], 500, bids=[("1", "1")])]

        self.stream.replies["subscribeOrderbook"] = subscribe
        self.stream.replies["subscribeTrades"] = lambda index, request: (
            sent_at.append(asyncio.get_running_loop().time()), accepted(index, request))[1]
        self.start_listening()
        await wait_until(lambda: len(self.stream.sent()) == 25, what="12 + 12 subscriptions and one retry")

        calls = [(method, params["symbol"]) for method, params in self.sent_calls()]
        retry = calls.index(("subscribeOrderbook", "ALT001/USDT"), 1)
        self.assertLess(retry, 12, "the retry went out in the middle of the round, not after it")
        self.assertEqual([("subscribeOrderbook", symbol) for symbol in pairs] + [("subscribeTrades", symbol)
                                                                                 for symbol in pairs],
                         calls[:retry] + calls[retry + 1:], "every order book first, then the trades")
        for number, moment in enumerate(sent_at):
            self.assertGreaterEqual(moment - sent_at[0], number * 0.01 - 1e-3, f"request {number + 1} left too soon")
        await self.deliver()
        self.assertEqual(set(pairs.values()), {message.trading_pair for message in self.drain(self.diffs)})

    # --- order book sequence discipline ---

    async def test_snapshot_then_diffs_in_order(self):
        snapshots = await self.connect_and_sync({BTC_SYMBOL: 1215881})
        await self.deliver(ws_update(BTC_SYMBOL, 1215882, bids=[("100.5", "2")]),
                           ws_update(BTC_SYMBOL, 1215883, asks=[("101", "0")]))
        diffs = self.drain(self.diffs)

        self.assertEqual([OrderBookMessageType.SNAPSHOT], [message.type for message in snapshots])
        self.assertIsInstance(snapshots[0], NonkycOrderBookMessage)
        self.assertEqual(1215881, snapshots[0].content["sequence"])
        self.assertEqual([OrderBookMessageType.DIFF, OrderBookMessageType.DIFF], [message.type for message in diffs])
        self.assertEqual([1215882, 1215883], [message.content["sequence"] for message in diffs])
        update_ids = [snapshots[0].update_id] + [message.update_id for message in diffs]
        self.assertEqual(sorted(set(update_ids)), update_ids, "update ids increase with the exchange's order")
        self.assertGreater(update_ids[0], NonkycAPIOrderBookDataSource.REST_SNAPSHOT_UPDATE_ID)
        book = OrderBook()
        for message in snapshots + diffs:
            if message.type is OrderBookMessageType.SNAPSHOT:
                book.apply_snapshot(message.bids, message.asks, message.update_id)
            else:
                book.apply_diffs(message.bids, message.asks, message.update_id)
        self.assertEqual(([(100.5, 2.0), (100.0, 1.0)], []), book_levels(book))
        self.assertTrue(self.is_logged("INFO", f"Order book of {BTC_PAIR} synchronised from a NonKYC snapshot at "
                                               f"sequence 1215881."))

    async def test_duplicates_are_dropped(self):
        await self.connect_and_sync({BTC_SYMBOL: 500})
        await self.deliver(ws_update(BTC_SYMBOL, 501, bids=[("100.5", "2")]),
                           ws_update(BTC_SYMBOL, 501, bids=[("100.5", "9")]),
                           ws_update(BTC_SYMBOL, 500, bids=[("99", "9")]),
                           ws_update(BTC_SYMBOL, 502, asks=[("102", "1")]))

        diffs = self.drain(self.diffs)
        self.assertEqual([501, 502], [message.content["sequence"] for message in diffs])
        self.assertTrue(self.is_logged("DEBUG", f"Dropped a duplicate NonKYC order book update for {BTC_SYMBOL}: "
                                                f"sequence 501, last applied 501."))
        self.assertEqual([], self.stream.sent_requests("unsubscribeOrderbook"))

    async def test_gap_resubscribes_that_pair_only(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        sent_before = len(self.stream.sent())

        await self.deliver(ws_update(BTC_SYMBOL, 501, bids=[("100.5", "2")]),
                           ws_update(BTC_SYMBOL, 503, bids=[("100.7", "2")]),
                           ws_update(ETH_SYMBOL, 7001, asks=[("101.5", "1")]),
                           ws_update(BTC_SYMBOL, 504, bids=[("100.8", "2")]),
                           ws_update(BTC_SYMBOL, 510, bids=[("100.9", "2")]))

        self.assertTrue(self.is_logged("WARNING", f"Order book sequence gap for {BTC_PAIR}: expected 502 after 501, "
                                                  f"received 503."))
        await wait_until(lambda: len(self.stream.sent()) >= sent_before + 2, what="the resync of BTC")
        resync = self.stream.sent()[sent_before:]
        self.assertEqual([("unsubscribeOrderbook", {"symbol": BTC_SYMBOL}),
                          ("subscribeOrderbook", {"symbol": BTC_SYMBOL, "limit": 100})],
                         [(request["method"], request["params"]) for request in resync],
                         "one resync of BTC only, even though more updates came while it waited")
        self.assertEqual(1, len(self.stream.websockets), "no reconnection")
        diffs = self.drain(self.diffs)
        self.assertEqual([(BTC_PAIR, 501), (ETH_PAIR, 7001)],
                         [(message.trading_pair, message.content["sequence"]) for message in diffs])

        # The fresh snapshot restarts BTC; ETH went on undisturbed.
        await self.deliver(ws_snapshot(BTC_SYMBOL, 520, bids=[("100.9", "2")]),
                           ws_update(BTC_SYMBOL, 521, asks=[("102", "3")]),
                           ws_update(ETH_SYMBOL, 7002, asks=[("101.5", "0")]))
        messages = self.drain(self.diffs)
        self.assertEqual([(OrderBookMessageType.SNAPSHOT, BTC_PAIR, 520), (OrderBookMessageType.DIFF, BTC_PAIR, 521),
                          (OrderBookMessageType.DIFF, ETH_PAIR, 7002)],
                         [(message.type, message.trading_pair, message.content["sequence"]) for message in messages])
        self.assertTrue(self.is_logged("INFO", f"Order book of {BTC_PAIR} synchronised from a NonKYC snapshot at "
                                               f"sequence 520."))

    async def test_rejected_resubscription_is_retried(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        answers = iter([rejected, accepted])
        self.stream.replies["subscribeOrderbook"] = lambda index, request: next(answers)(index, request)

        await self.deliver(ws_update(BTC_SYMBOL, 502))

        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 4,
                         what="the rejected resubscription of BTC to be retried")
        self.assertEqual(BTC_SYMBOL, self.stream.sent_requests("subscribeOrderbook")[-1]["params"]["symbol"])
        self.assertEqual([1.0], self.sleep_delays)

    async def test_reconnect_starts_every_pair_again_from_a_fresh_snapshot(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_update(BTC_SYMBOL, 501, bids=[("100.5", "2")]))
        self.drain(self.diffs)

        self.stream.close()
        await self.wait_for_subscriptions(count=4, index=1)
        self.assertTrue(self.is_logged("WARNING", "The websocket connection was closed"))

        # 502 would have followed 501 on the old connection: it is dropped until the new snapshot arrives.
        await self.deliver(ws_update(BTC_SYMBOL, 502, bids=[("100.6", "2")]),
                           ws_snapshot(BTC_SYMBOL, 530, bids=[("100.6", "2")]),
                           ws_update(BTC_SYMBOL, 531, asks=[("102", "1")]))
        messages = self.drain(self.diffs)
        self.assertEqual([(OrderBookMessageType.SNAPSHOT, 530), (OrderBookMessageType.DIFF, 531)],
                         [(message.type, message.content["sequence"]) for message in messages])
        self.assertFalse(self.listener.done())

    async def test_a_caller_waiting_for_a_reply_learns_at_once_that_the_connection_ended(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["subscribeOrderbook"] = no_reply
        self.data_source._stream_core.reply_timeout = 30
        subscribing = self.run_in_background(self.data_source.subscribe_to_trading_pair(SOL_PAIR))
        await wait_until(lambda: len(self.stream.sent_requests("subscribeTrades")) == 3, what="SOL's subscriptions")

        self.stream.close()

        self.assertFalse(await asyncio.wait_for(subscribing, 5), "no 30 s wait for a reply that cannot come")
        self.assertTrue(self.is_logged("WARNING", f"Could not subscribe to {SOL_PAIR} (subscribeOrderbook: no reply "
                                                  f"(the connection closed), subscribeTrades: accepted)."))

    async def test_a_pending_resubscription_is_dropped_when_the_connection_ends(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["subscribeOrderbook"] = rejected
        await self.deliver(ws_update(BTC_SYMBOL, 502))  # gap: BTC is re-subscribed, rejected, retried in 1 s
        release_retry = asyncio.Event()

        async def held_sleep(delay: float):
            self.sleep_delays.append(delay)
            if len(self.sleep_delays) == 1:  # the retry's delay; the reconnection's back-off goes on
                await release_retry.wait()

        self.data_source._sleep = held_sleep
        await wait_until(lambda: self.is_logged("INFO", "retrying subscribeOrderbook"), what="the retry to be planned")
        self.stream.replies["subscribeOrderbook"] = accepted
        self.stream.close()
        await self.wait_for_subscriptions(count=4, index=1)
        release_retry.set()
        for _ in range(10):
            await asyncio.sleep(0)

        self.assertEqual(2, len(self.stream.sent_requests("subscribeOrderbook", index=1)),
                         "the new connection subscribes BTC and ETH once each; the old retry is not sent")

    async def test_iso_timestamps_and_string_sequences(self):
        self.start_listening()
        await self.wait_for_subscriptions()
        await self.deliver(ws_snapshot(BTC_SYMBOL, "900", bids=[("100", "1")]),
                           ws_update(BTC_SYMBOL, "901", bids=[("100", "2")], timestamp="2026-02-27T05:24:41.018Z"),
                           ws_update(BTC_SYMBOL, 902, bids=[("100", "3")], timestamp=1772170410000))

        snapshot, iso_diff, ms_diff = self.drain(self.diffs)
        self.assertEqual([900, 901, 902], [m.content["sequence"] for m in (snapshot, iso_diff, ms_diff)])
        self.assertAlmostEqual(1772169881.018, iso_diff.timestamp, places=6)
        self.assertEqual(1772170410.0, ms_diff.timestamp)

    async def test_messages_of_markets_not_subscribed_are_ignored_with_one_warning_per_market(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_snapshot("DOGE/USDT", 1, bids=[("1", "1")]), ws_update("DOGE/USDT", 2),
                           ws_trades("updateTrades", "DOGE/USDT", [trade("d1")]))

        self.assertEqual([], self.drain(self.diffs))
        self.assertEqual([], self.drain(self.trades))
        self.assertEqual(["NonKYC public stream: ignored a snapshotOrderbook message for DOGE/USDT: not subscribed."],
                         [message for message in self.log_messages("WARNING") if "DOGE" in message])
        self.assertTrue(self.is_logged("DEBUG", "ignored a updateOrderbook message for DOGE/USDT: not subscribed."))
        self.assertTrue(self.is_logged("DEBUG", "ignored a updateTrades message for DOGE/USDT: not subscribed."))

    # --- malformed messages ---

    async def test_malformed_messages_are_logged_and_skipped(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        await self.deliver(
            "this is not json",
            json.dumps([1, 2, 3]),
            "pong",
            {"jsonrpc": "2.0", "method": "tickerUpdate", "params": {}},
            {"jsonrpc": "2.0", "method": "tickerUpdate", "params": {}},
            {"jsonrpc": "2.0", "error": {"code": 400, "message": "Unknown error"}},
            {"jsonrpc": "2.0", "result": True, "id": 424242},
            {"jsonrpc": "2.0", "method": "updateOrderbook"},
            {"jsonrpc": "2.0", "method": "updateOrderbook", "params": {"sequence": 501}},
            {"jsonrpc": "2.0", "method": "updateOrderbook", "params": "nonsense"},
            ws_update(ETH_SYMBOL, None),
            {"jsonrpc": "2.0", "method": "snapshotOrderbook", "params": {"sequence": 5, "bids": [], "asks": []}},
            ws_update(BTC_SYMBOL, 501, bids=[("100.5", "2")]),
        )

        self.assertTrue(self.is_logged("WARNING", "NonKYC public stream: skipped a message that is not a JSON "
                                                  "object: 'this is not json'"))
        self.assertTrue(self.is_logged("WARNING", "not a JSON object: [1, 2, 3]"))
        self.assertTrue(self.is_logged("DEBUG", "NonKYC public stream: heartbeat 'pong'"))
        unknown = "NonKYC public stream: skipped a message with the unknown method tickerUpdate"
        self.assertEqual(1, sum(unknown in message for message in self.log_messages("WARNING")), "warned once")
        self.assertTrue(self.is_logged("DEBUG", unknown))
        self.assertTrue(self.is_logged("WARNING", "NonKYC public stream: error reply to request None: code 400, "
                                                  "Unknown error"))
        self.assertTrue(self.is_logged("DEBUG", "NonKYC public stream: ignored a reply to no waiting request"))
        self.assertTrue(self.is_logged("WARNING", "Skipped an unreadable NonKYC updateOrderbook message (KeyError"))
        self.assertTrue(self.is_logged("WARNING", "Skipped an unreadable NonKYC snapshotOrderbook message"))
        # An update of a synced pair that cannot be read may hide a change: that pair is resynced.
        self.assertTrue(self.is_logged("WARNING", f"Skipped an unreadable NonKYC updateOrderbook message for "
                                                  f"{ETH_PAIR} (ValueError("))
        await wait_until(lambda: self.stream.sent_requests("unsubscribeOrderbook"), what="the resync of ETH")
        self.assertEqual([{"symbol": ETH_SYMBOL}],
                         [request["params"] for request in self.stream.sent_requests("unsubscribeOrderbook")])
        # The listener is alive and BTC went on.
        self.assertEqual([(BTC_PAIR, 501)], [(m.trading_pair, m.content["sequence"]) for m in self.drain(self.diffs)])
        self.assertFalse(self.listener.done())
        self.assertEqual(1, len(self.stream.websockets))

    async def test_unreadable_levels_of_a_synced_pair_trigger_a_resync(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        await self.deliver(ws_update(BTC_SYMBOL, 501, bids=[("abc", "1")]),
                           ws_update(BTC_SYMBOL, 502, bids=[("100", "1")], asks=[("nan", "1")]),
                           ws_update(BTC_SYMBOL, "n/a", bids=[("100", "1")]))

        self.assertEqual([], self.drain(self.diffs))
        await wait_until(lambda: self.stream.sent_requests("unsubscribeOrderbook"), what="the resync of BTC")
        for _ in range(10):
            await asyncio.sleep(0)
        self.assertEqual(1, len(self.stream.sent_requests("unsubscribeOrderbook")), "one resync, no loop")
        self.assertTrue(self.is_logged("DEBUG", "Skipped an unreadable NonKYC updateOrderbook message (ValueError"))

    async def test_unreadable_snapshot_is_retried_later_with_a_resubscription(self):
        self.start_listening()
        await self.wait_for_subscriptions()

        await self.deliver({"jsonrpc": "2.0", "method": "snapshotOrderbook",
                            "params": {"symbol": BTC_SYMBOL, "sequence": 5, "bids": [{"price": "x", "quantity": "1"}],
                                       "asks": []}})

        self.assertTrue(self.is_logged("ERROR", f"Skipped an unreadable NonKYC snapshotOrderbook message for "
                                                f"{BTC_PAIR}"))
        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 3,
                         what="the unreadable snapshot to be retried with a resubscription")
        self.assertEqual([{"symbol": BTC_SYMBOL}],
                         [request["params"] for request in self.stream.sent_requests("unsubscribeOrderbook")])
        self.assertEqual([1.0], self.sleep_delays)
        self.assertEqual([], self.drain(self.diffs))

    async def test_unreadable_snapshot_of_a_synced_pair_stops_its_updates_until_a_fresh_snapshot(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        await self.deliver({"jsonrpc": "2.0", "method": "snapshotOrderbook",
                            "params": {"symbol": BTC_SYMBOL, "sequence": 600, "bids": "garbage", "asks": []}},
                           ws_update(BTC_SYMBOL, 501))
        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 3,
                         what="the resubscription after the unreadable snapshot")
        await self.deliver(ws_snapshot(BTC_SYMBOL, 610, bids=[("100", "2")]), ws_update(BTC_SYMBOL, 611))

        self.assertEqual([(OrderBookMessageType.SNAPSHOT, 610), (OrderBookMessageType.DIFF, 611)],
                         [(message.type, message.content["sequence"]) for message in self.drain(self.diffs)])

    async def test_unexpected_error_while_handling_a_message_is_logged_and_skipped(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        with patch.object(self.data_source, "_process_event", side_effect=RuntimeError("boom")):
            await self.deliver({"jsonrpc": "2.0", "result": True, "id": 1})
        await self.deliver(ws_update(BTC_SYMBOL, 501))

        self.assertTrue(self.is_logged("ERROR", "NonKYC public stream: unexpected error while handling the message"))
        self.assertEqual(1, len(self.drain(self.diffs)))

    # --- trades ---

    async def test_trades_from_update_trades_with_several_entries(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_trades("snapshotTrades", BTC_SYMBOL, [trade("a1"), trade("a2")]))
        self.assertEqual([], self.drain(self.trades), "history from before the subscription is not reported")

        await self.deliver(ws_trades("updateTrades", BTC_SYMBOL, [
            trade("b2", price="67801.00", quantity="0.5", side="buy", timestamp_ms=1772169882000),
            trade("b1", price="67800.00", quantity="0.25", side="sell", timestamp_ms=1772169881500),
        ]))

        trades = self.drain(self.trades)
        self.assertEqual(["b1", "b2"], [message.trade_id for message in trades], "in time order")
        first, second = trades
        self.assertEqual(OrderBookMessageType.TRADE, first.type)
        self.assertEqual(BTC_PAIR, first.trading_pair)
        self.assertEqual(float(TradeType.SELL.value), first.content["trade_type"])
        self.assertEqual(float(TradeType.BUY.value), second.content["trade_type"])
        self.assertEqual((Decimal("67800.00"), Decimal("0.25")), (first.content["price"], first.content["amount"]))
        self.assertEqual(1772169881.5, first.timestamp)

    async def test_trades_from_snapshot_trades_are_reported_once(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_trades("snapshotTrades", BTC_SYMBOL, [trade("a1"), trade("a2")]),
                           ws_trades("updateTrades", BTC_SYMBOL, [trade("a3", timestamp_ms=1772169890000)]),
                           ws_trades("updateTrades", BTC_SYMBOL, [trade("a3", timestamp_ms=1772169890000)]))
        self.assertEqual(["a3"], [message.trade_id for message in self.drain(self.trades)])

        # After a reconnection the new snapshot holds trades already reported and one made meanwhile.
        self.stream.close()
        await self.wait_for_subscriptions(count=4, index=1)
        await self.deliver(ws_trades("snapshotTrades", BTC_SYMBOL, [
            trade("a4", timestamp_ms=1772169895000), trade("a3", timestamp_ms=1772169890000), trade("a2"),
            trade("a1")]))

        self.assertEqual(["a4"], [message.trade_id for message in self.drain(self.trades)])

    async def test_update_before_the_first_trade_snapshot_is_reported_and_not_repeated(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_trades("updateTrades", ETH_SYMBOL, [trade("e2", timestamp_ms=1772169899000)]),
                           ws_trades("snapshotTrades", ETH_SYMBOL, [trade("e2", timestamp_ms=1772169899000),
                                                                    trade("e1")]))

        self.assertEqual([("e2", ETH_PAIR)], [(m.trade_id, m.trading_pair) for m in self.drain(self.trades)])

    async def test_malformed_trades_are_logged_and_skipped(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver(ws_trades("snapshotTrades", BTC_SYMBOL, []),
                           {"jsonrpc": "2.0", "method": "updateTrades", "params": {"symbol": BTC_SYMBOL}},
                           {"jsonrpc": "2.0", "method": "updateTrades", "params": "nonsense"},
                           ws_trades("updateTrades", BTC_SYMBOL, [trade("x1", side="short"), trade("x2")]))

        self.assertEqual(["x2"], [message.trade_id for message in self.drain(self.trades)])
        self.assertEqual(2, sum("Skipped a NonKYC updateTrades message without a market or a trade list" in message
                                for message in self.log_messages("WARNING")))
        self.assertTrue(self.is_logged("WARNING", f"Skipped a malformed trade of a NonKYC updateTrades message for "
                                                  f"{BTC_PAIR} (ValueError(\"trade side 'short'"))

    # --- heartbeat and silence ---

    async def test_client_pings_periodically(self):
        self.data_source._stream_core.ping_interval = 0.01
        self.start_listening()
        await self.wait_for_subscriptions()

        await wait_until(lambda: self.stream.websockets[0].ping.await_count >= 2, what="two client pings")

    async def test_failed_ping_ends_the_ping_task_quietly(self):
        self.data_source._stream_core.ping_interval = 0  # a ping at every turn of the event loop
        self.start_listening()
        await self.wait_for_subscriptions()
        self.stream.websockets[0].ping.side_effect = RuntimeError("connection lost")

        await wait_until(lambda: self.is_logged("DEBUG", "NonKYC public stream: ping failed"), what="a failed ping")
        pings = self.stream.websockets[0].ping.await_count
        for _ in range(20):
            await asyncio.sleep(0)
        self.assertEqual(pings, self.stream.websockets[0].ping.await_count, "no ping after the failed one")
        self.assertFalse(self.listener.done())

    async def test_silent_connection_is_reconnected_without_cancelled_error(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        self.mocking_assistant.add_websocket_aiohttp_exception(self.stream.websockets[0], asyncio.TimeoutError())
        await self.wait_for_subscriptions(count=4, index=1)

        self.assertTrue(self.is_logged("WARNING", f"The websocket connection was closed (no message from NonKYC "
                                                  f"within {CONSTANTS.WS_SILENCE_TIMEOUT} s"))
        self.assertFalse(self.listener.done())
        self.assertFalse(any(record.exc_info for record in self.log_recorder.records),
                         "a silent connection is an expected event, not an unexpected error")

    async def test_reconnections_back_off_until_a_snapshot_proves_the_session(self):
        self.start_listening()
        await self.wait_for_subscriptions()
        self.assertEqual([], self.sleep_delays, "the first connection does not wait")
        for index in range(1, 4):
            self.stream.close(index - 1)
            await self.wait_for_subscriptions(index=index)
        self.assertEqual([1.0, 2.0, 4.0], self.sleep_delays)

        await self.deliver(ws_snapshot(BTC_SYMBOL, 10, bids=[("1", "1")]))
        self.stream.close()
        await self.wait_for_subscriptions(index=4)
        self.assertEqual([1.0, 2.0, 4.0, 1.0], self.sleep_delays, "a working session resets the back-off")

    async def test_hourly_refresh_resubscribes_the_order_books_instead_of_using_rest(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        output = asyncio.Queue()

        await self.data_source._request_order_book_snapshots(output)

        self.assertTrue(output.empty())
        await wait_until(lambda: len(self.stream.sent_requests("subscribeOrderbook")) == 4,
                         what="both order books to be subscribed again")
        self.assertEqual([BTC_SYMBOL, ETH_SYMBOL],
                         [request["params"]["symbol"] for request in self.stream.sent_requests("unsubscribeOrderbook")])
        self.assertTrue(self.is_logged("INFO", "Refreshing the NonKYC order books from fresh WebSocket snapshots"))

    async def test_hourly_refresh_does_nothing_when_disconnected(self):
        output = asyncio.Queue()
        await self.data_source._request_order_book_snapshots(output)

        self.assertTrue(output.empty())
        self.assertEqual([], self.stream.websockets)

    # --- dynamic subscriptions ---

    async def test_subscribe_to_trading_pair_while_running(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        self.assertTrue(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))

        self.assertEqual([("subscribeOrderbook", {"symbol": SOL_SYMBOL, "limit": 100}),
                          ("subscribeTrades", {"symbol": SOL_SYMBOL})],
                         [(request["method"], request["params"]) for request in self.stream.sent()[-2:]])
        self.assertIn(SOL_PAIR, self.data_source._trading_pairs)
        self.assertTrue(self.is_logged("INFO", f"Subscribed to the {SOL_PAIR} order book and trade channels."))
        await self.deliver(ws_snapshot(SOL_SYMBOL, 3, bids=[("150", "1")]), ws_update(SOL_SYMBOL, 4))
        self.assertEqual([SOL_PAIR, SOL_PAIR], [message.trading_pair for message in self.drain(self.diffs)])

    async def test_subscribe_to_trading_pair_rejected_undoes_what_was_accepted(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["subscribeTrades"] = rejected

        self.assertFalse(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))

        self.assertNotIn(SOL_PAIR, self.data_source._trading_pairs)
        self.assertTrue(self.is_logged("WARNING", f"Could not subscribe to {SOL_PAIR} (subscribeOrderbook: accepted, "
                                                  f"subscribeTrades: code 2001, Symbol not found)."))
        self.assertEqual(("unsubscribeOrderbook", {"symbol": SOL_SYMBOL}),
                         (self.stream.sent()[-1]["method"], self.stream.sent()[-1]["params"]))
        self.assertEqual([BTC_SYMBOL, ETH_SYMBOL, SOL_SYMBOL],
                         [request["params"]["symbol"] for request in self.stream.sent_requests("subscribeTrades")],
                         "no retry of a caller's request")

    async def test_subscribe_to_trading_pair_without_reply_fails(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["subscribeOrderbook"] = no_reply

        self.assertFalse(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))

        self.assertTrue(self.is_logged("WARNING", "subscribeOrderbook: no reply (none within 0.2 s), subscribeTrades: "
                                                  "accepted"))
        self.assertEqual(("unsubscribeTrades", {"symbol": SOL_SYMBOL}),
                         (self.stream.sent()[-1]["method"], self.stream.sent()[-1]["params"]))

    async def test_subscribe_to_unknown_pair_fails_with_a_log(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        self.assertFalse(await self.data_source.subscribe_to_trading_pair("FOO-BAR"))

        self.assertTrue(self.is_logged("WARNING", "Cannot subscribe to FOO-BAR: it is not a NonKYC market."))
        self.assertEqual(4, len(self.stream.sent()), "nothing sent")

    async def test_subscribe_when_the_send_fails_forgets_the_pair(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.websockets[0].send_json.side_effect = RuntimeError("connection lost")

        self.assertFalse(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))

        self.assertTrue(self.is_logged("ERROR", f"Unexpected error trying to subscribe to the {SOL_PAIR} order book"))
        self.assertNotIn(SOL_PAIR, self.data_source._trading_pairs)
        # Whatever still comes for SOL is not used.
        self.stream.websockets[0].send_json.side_effect = None
        await self.deliver(ws_snapshot(SOL_SYMBOL, 3, bids=[("150", "1")]))
        self.assertEqual([], self.drain(self.diffs))

    async def test_failed_undo_of_a_subscription_is_logged(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["subscribeTrades"] = rejected
        self.fail_sending("unsubscribeOrderbook")

        self.assertFalse(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))
        self.assertTrue(self.is_logged("WARNING", f"Could not send unsubscribeOrderbook for {SOL_PAIR}: "
                                                  f"RuntimeError('connection lost')"))

    async def test_subscribe_and_unsubscribe_need_a_connection(self):
        self.assertFalse(await self.data_source.subscribe_to_trading_pair(SOL_PAIR))
        self.assertFalse(await self.data_source.unsubscribe_from_trading_pair(BTC_PAIR))

        self.assertTrue(self.is_logged("WARNING", f"Cannot subscribe to {SOL_PAIR}: the NonKYC public stream is not "
                                                  f"connected."))
        self.assertTrue(self.is_logged("WARNING", f"Cannot unsubscribe from {BTC_PAIR}: the NonKYC public stream is "
                                                  f"not connected."))

    async def test_unsubscribe_from_trading_pair_while_running(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})

        self.assertTrue(await self.data_source.unsubscribe_from_trading_pair(ETH_PAIR))

        self.assertEqual([("unsubscribeOrderbook", {"symbol": ETH_SYMBOL}),
                          ("unsubscribeTrades", {"symbol": ETH_SYMBOL})],
                         [(request["method"], request["params"]) for request in self.stream.sent()[-2:]])
        self.assertNotIn(ETH_PAIR, self.data_source._trading_pairs)
        self.assertTrue(self.is_logged("INFO", f"Unsubscribed from the {ETH_PAIR} order book and trade channels."))
        # What the exchange still sends for it is ignored; BTC goes on.
        await self.deliver(ws_update(ETH_SYMBOL, 7001), ws_trades("updateTrades", ETH_SYMBOL, [trade("e1")]),
                           ws_update(BTC_SYMBOL, 501))
        self.assertEqual([BTC_PAIR], [message.trading_pair for message in self.drain(self.diffs)])
        self.assertEqual([], self.drain(self.trades))
        self.assertFalse(self.is_logged("WARNING", "ignored a"), "expected right after unsubscribing")

    async def test_unsubscribe_rejected_or_failing(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.stream.replies["unsubscribeTrades"] = (
            lambda index, request: rejected(index, request, 400, "Not subscribed"))

        self.assertFalse(await self.data_source.unsubscribe_from_trading_pair(ETH_PAIR))
        self.assertTrue(self.is_logged("WARNING", f"Could not unsubscribe from {ETH_PAIR} (unsubscribeOrderbook: "
                                                  f"accepted, unsubscribeTrades: code 400, Not subscribed)."))

        self.assertFalse(await self.data_source.unsubscribe_from_trading_pair("FOO-BAR"))
        self.assertTrue(self.is_logged("WARNING", "Cannot unsubscribe from FOO-BAR: it is not a NonKYC market."))


class NonkycAPIOrderBookDataSourceEdgeTests(NonkycOrderBookDataSourceTestBase):

    async def test_a_resync_of_a_market_unsubscribed_meanwhile_is_not_sent(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.data_source._sleep = AsyncMock()  # hold nothing: the resync would go out at once
        unsubscribing = self.run_in_background(self.data_source.unsubscribe_from_trading_pair(ETH_PAIR))
        await self.deliver(ws_update(ETH_SYMBOL, 7005))  # a gap, but ETH is being unsubscribed
        await unsubscribing

        self.assertEqual([], self.stream.sent_requests("subscribeOrderbook")[2:], "no re-subscription of ETH")

    async def test_a_retry_that_cannot_be_sent_is_logged(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        self.fail_sending("unsubscribeOrderbook")
        await self.deliver(ws_update(ETH_SYMBOL, 7005))

        await wait_until(lambda: self.is_logged("WARNING", f"Could not send unsubscribeOrderbook for {ETH_PAIR}: "
                                                           f"RuntimeError('connection lost')"),
                         what="the failed resync to be logged")
        self.assertFalse(self.listener.done())

    async def test_long_messages_are_shortened_in_the_logs(self):
        await self.connect_and_sync({BTC_SYMBOL: 500, ETH_SYMBOL: 7000})
        await self.deliver({"jsonrpc": "2.0", "method": "tickerUpdate", "params": {"data": "x" * 1000}})

        logged = next(message for message in self.log_messages("WARNING") if "tickerUpdate" in message)
        self.assertTrue(logged.endswith("..."))
        self.assertLess(len(logged), 500)
