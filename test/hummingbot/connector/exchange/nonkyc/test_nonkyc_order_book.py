import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import List, Tuple
from unittest import TestCase

from hummingbot.connector.exchange.nonkyc.nonkyc_order_book import (
    NewTrades,
    NonkycOrderBook,
    NonkycOrderBookMessage,
    OrderBookSequences,
    SequenceVerdict,
)
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessage, OrderBookMessageType
from hummingbot.core.data_type.order_book_row import OrderBookRow

# Shapes (and values) of /work/shared/fixtures/nonkyc-live-samples.json.
WS_SNAPSHOT_PARAMS = {"symbol": "BTC/USDT", "sequence": 1215881,
                      "asks": [{"price": "67883.06", "quantity": "0.010917"}],
                      "bids": [{"price": "67679.55", "quantity": "0.000422"}]}
WS_UPDATE_PARAMS = {"asks": [{"price": "67883.06", "quantity": "0"}],
                    "bids": [{"price": "67680.00", "quantity": "0.25"}],
                    "symbol": "BTC/USDT", "timestamp": 1772170410000, "sequence": 1215882}
REST_ORDER_BOOK = {"marketid": "643bfeeb5e07bba23a98a981", "symbol": "BTC/USDT", "timestamp": 1772169899391,
                   "sequence": "6064",
                   "bids": [{"price": "67679.55", "quantity": "0.000422"}],
                   "asks": [{"price": "67883.06", "quantity": "0.010917"}]}
TRADE_ENTRY = {"id": "69a12a99f65594545010e592", "price": "67799.74", "quantity": "0.020323", "side": "sell",
               "timestamp": "2026-02-27T05:24:41.018Z", "timestampms": 1772169881018}


def levels(book: OrderBook) -> Tuple[List[Tuple[float, float]], List[Tuple[float, float]]]:
    return ([(row.price, row.amount) for row in book.bid_entries()],
            [(row.price, row.amount) for row in book.ask_entries()])


def book_levels(bids, asks):
    return [{"price": price, "quantity": quantity} for price, quantity in bids], \
        [{"price": price, "quantity": quantity} for price, quantity in asks]


def diff(update_id: int, bids=(), asks=()) -> NonkycOrderBookMessage:
    bid_levels, ask_levels = book_levels(bids, asks)
    return NonkycOrderBook.diff_message_from_exchange(
        {"bids": bid_levels, "asks": ask_levels, "timestamp": 1772170410000 + update_id},
        metadata={"trading_pair": "BTC-USDT", "update_id": update_id})


def snapshot(update_id: int, bids=(), asks=()) -> NonkycOrderBookMessage:
    bid_levels, ask_levels = book_levels(bids, asks)
    return NonkycOrderBook.snapshot_message_from_exchange(
        {"bids": bid_levels, "asks": ask_levels}, 1772170411.0, {"trading_pair": "BTC-USDT", "update_id": update_id})


class NonkycOrderBookSnapshotTests(TestCase):

    def test_ws_snapshot_becomes_snapshot_message_with_rows_of_its_update_id(self):
        message = NonkycOrderBook.snapshot_message_from_exchange(
            WS_SNAPSHOT_PARAMS, 1772170411.5, {"trading_pair": "BTC-USDT", "update_id": 7, "sequence": 1215881})

        self.assertIsInstance(message, NonkycOrderBookMessage)
        self.assertEqual(OrderBookMessageType.SNAPSHOT, message.type)
        self.assertEqual("BTC-USDT", message.trading_pair)
        self.assertEqual(7, message.update_id)
        self.assertEqual(1215881, message.content["sequence"])
        self.assertEqual(1772170411.5, message.timestamp)
        self.assertEqual([OrderBookRow(67679.55, 0.000422, 7)], message.bids)
        self.assertEqual([OrderBookRow(67883.06, 0.010917, 7)], message.asks)

    def test_rest_snapshot_builds_the_book(self):
        message = NonkycOrderBook.snapshot_message_from_exchange(
            REST_ORDER_BOOK, 1772169899.391, {"trading_pair": "BTC-USDT", "update_id": 0, "sequence": 6064})
        book = OrderBook()
        book.apply_snapshot(message.bids, message.asks, message.update_id)

        self.assertEqual(([(67679.55, 0.000422)], [(67883.06, 0.010917)]), levels(book))
        self.assertEqual(6064, message.content["sequence"])

    def test_snapshot_with_an_empty_side_is_valid(self):
        message = NonkycOrderBook.snapshot_message_from_exchange(
            {"bids": [], "asks": [{"price": "1.5", "quantity": "2"}]}, 1.0, {"trading_pair": "A-B", "update_id": 1})

        self.assertEqual([], message.bids)
        self.assertEqual([OrderBookRow(1.5, 2.0, 1)], message.asks)
        self.assertIsNone(message.content["sequence"])

    def test_snapshot_without_a_side_is_rejected(self):
        with self.assertRaisesRegex(KeyError, "needs both 'bids' and 'asks'"):
            NonkycOrderBook.snapshot_message_from_exchange(
                {"symbol": "BTC/USDT", "bids": []}, 1.0, {"trading_pair": "BTC-USDT", "update_id": 1})


class NonkycOrderBookDiffTests(TestCase):

    def test_live_update_becomes_diff_and_quantity_zero_removes_the_level(self):
        message = NonkycOrderBook.diff_message_from_exchange(
            WS_UPDATE_PARAMS, metadata={"trading_pair": "BTC-USDT", "update_id": 8, "sequence": 1215882})
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(67679.55, 0.000422, 7)], [OrderBookRow(67883.06, 0.010917, 7)], 7)
        book.apply_diffs(message.bids, message.asks, message.update_id)

        self.assertEqual(OrderBookMessageType.DIFF, message.type)
        self.assertEqual(8, message.update_id)
        self.assertEqual(1215882, message.content["sequence"])
        self.assertEqual(1772170410.0, message.timestamp)
        self.assertEqual(([(67680.00, 0.25), (67679.55, 0.000422)], []), levels(book))

    def test_iso_timestamp_is_read(self):
        params = dict(WS_UPDATE_PARAMS, timestamp="2026-02-27T05:24:41.018Z")
        message = NonkycOrderBook.diff_message_from_exchange(params, metadata={"trading_pair": "X-Y", "update_id": 1})

        expected = datetime(2026, 2, 27, 5, 24, 41, 18000, tzinfo=timezone.utc).timestamp()
        self.assertAlmostEqual(expected, message.timestamp, places=6)

    def test_numeric_string_timestamp_is_read_as_milliseconds(self):
        params = dict(WS_UPDATE_PARAMS, timestamp="1772170410500")
        message = NonkycOrderBook.diff_message_from_exchange(params, metadata={"trading_pair": "X-Y", "update_id": 1})

        self.assertEqual(1772170410.5, message.timestamp)

    def test_missing_or_unreadable_timestamp_falls_back_to_now(self):
        for timestamp in (None, "yesterday"):
            params = dict(WS_UPDATE_PARAMS, timestamp=timestamp)
            before = time.time()
            message = NonkycOrderBook.diff_message_from_exchange(
                params, metadata={"trading_pair": "X-Y", "update_id": 1})
            self.assertTrue(before <= message.timestamp <= time.time(), timestamp)

    def test_explicit_timestamp_wins(self):
        message = NonkycOrderBook.diff_message_from_exchange(
            WS_UPDATE_PARAMS, 123.0, {"trading_pair": "X-Y", "update_id": 1})

        self.assertEqual(123.0, message.timestamp)

    def test_missing_side_means_no_change_on_that_side(self):
        message = NonkycOrderBook.diff_message_from_exchange(
            {"bids": [{"price": "10", "quantity": "1"}], "timestamp": 1},
            metadata={"trading_pair": "X-Y", "update_id": 3})

        self.assertEqual([OrderBookRow(10.0, 1.0, 3)], message.bids)
        self.assertEqual([], message.asks)

    def test_malformed_levels_are_rejected(self):
        cases = [
            ({"bids": {"price": "1", "quantity": "1"}}, TypeError),
            ({"bids": "1.5"}, TypeError),
            ({"bids": 5}, TypeError),
            ({"bids": ""}, TypeError),
            ({"asks": 0}, TypeError),
            ({"asks": [["1.5", "2"]]}, TypeError),
            ({"asks": [{"price": "1.5"}]}, KeyError),
            ({"asks": [{"price": "abc", "quantity": "1"}]}, ValueError),
            ({"asks": [{"price": None, "quantity": "1"}]}, TypeError),
            ({"bids": [{"price": "nan", "quantity": "1"}]}, ValueError),
            ({"bids": [{"price": "inf", "quantity": "1"}]}, ValueError),
            ({"bids": [{"price": "0", "quantity": "1"}]}, ValueError),
            ({"bids": [{"price": "-1", "quantity": "1"}]}, ValueError),
            ({"bids": [{"price": "1", "quantity": "-1"}]}, ValueError),
            ({"bids": [{"price": "1", "quantity": "NaN"}]}, ValueError),
        ]
        for params, error in cases:
            with self.subTest(params=params), self.assertRaises(error):
                NonkycOrderBook.diff_message_from_exchange(params, 1.0, {"trading_pair": "X-Y", "update_id": 1})


class NonkycOrderBookSequenceTests(TestCase):

    def test_ints_and_numeric_strings_are_sequences(self):
        self.assertEqual(1215881, NonkycOrderBook.parse_sequence(1215881))
        self.assertEqual(6064, NonkycOrderBook.parse_sequence("6064"))
        self.assertEqual(12, NonkycOrderBook.parse_sequence(" 12 "))

    def test_anything_else_is_rejected(self):
        for value in (None, True, 1.5, "12a", "-3", "", [1]):
            with self.subTest(value=value), self.assertRaisesRegex(ValueError, "is not an integer"):
                NonkycOrderBook.parse_sequence(value)


class NonkycOrderBookTradeTests(TestCase):

    def test_live_trade_entry_becomes_trade_message(self):
        message = NonkycOrderBook.trade_message_from_exchange(TRADE_ENTRY, {"trading_pair": "BTC-USDT"})

        self.assertEqual(OrderBookMessageType.TRADE, message.type)
        self.assertEqual("BTC-USDT", message.trading_pair)
        self.assertEqual("69a12a99f65594545010e592", message.trade_id)
        self.assertEqual(float(TradeType.SELL.value), message.content["trade_type"])
        self.assertEqual(Decimal("67799.74"), message.content["price"])
        self.assertEqual(Decimal("0.020323"), message.content["amount"])
        self.assertEqual(1772169881.018, message.timestamp)
        self.assertEqual(1772169881018, message.content["update_id"])

    def test_buy_side_in_any_case(self):
        message = NonkycOrderBook.trade_message_from_exchange(dict(TRADE_ENTRY, side="Buy"), {"trading_pair": "A-B"})

        self.assertEqual(float(TradeType.BUY.value), message.content["trade_type"])

    def test_iso_timestamp_is_used_without_timestampms(self):
        entry = {key: value for key, value in TRADE_ENTRY.items() if key != "timestampms"}
        message = NonkycOrderBook.trade_message_from_exchange(entry, {"trading_pair": "A-B"})

        self.assertAlmostEqual(1772169881.018, message.timestamp, places=6)

    def test_numbers_instead_of_strings_are_accepted(self):
        message = NonkycOrderBook.trade_message_from_exchange(dict(TRADE_ENTRY, price=1.25, quantity=3),
                                                              {"trading_pair": "A-B"})

        self.assertEqual(Decimal("1.25"), message.content["price"])
        self.assertEqual(Decimal("3"), message.content["amount"])

    def test_malformed_trade_entries_are_rejected(self):
        cases = [
            (dict(TRADE_ENTRY, side="short"), "neither 'buy' nor 'sell'"),
            (dict(TRADE_ENTRY, side=None), "neither 'buy' nor 'sell'"),
            (dict(TRADE_ENTRY, price="abc"), "price 'abc' is not a number"),
            (dict(TRADE_ENTRY, price=None), "price None is not a number"),
            (dict(TRADE_ENTRY, quantity="0"), "quantity '0' is not a positive number"),
            (dict(TRADE_ENTRY, quantity="NaN"), "not a positive number"),
            (dict(TRADE_ENTRY, id=""), "is not a non-empty string"),
            (dict(TRADE_ENTRY, id=12), "is not a non-empty string"),
        ]
        for entry, message in cases:
            with self.subTest(entry=entry), self.assertRaisesRegex(ValueError, message):
                NonkycOrderBook.trade_message_from_exchange(entry, {"trading_pair": "A-B"})
        with self.assertRaises(KeyError):
            NonkycOrderBook.trade_message_from_exchange({"id": "x", "side": "buy", "price": "1"}, {"trading_pair": "A"})


class NonkycOrderBookMessageOrderingTests(TestCase):
    """
    Hummingbot's OrderBook.restore_from_snapshot_and_diffs re-applies the diffs that sort after the snapshot. With the
    base OrderBookMessage ordering every diff sorts after a snapshot; NonKYC messages sort by update id.
    """

    def setUp(self):
        self.stale_diffs = [diff(2, bids=[("99.5", "3")]), diff(3, asks=[("101", "0"), ("101.5", "4")])]
        self.fresh_snapshot = snapshot(10, bids=[("100", "5"), ("99", "2")], asks=[("102", "2")])
        self.newer_diff = diff(11, bids=[("98", "1")])

    def test_restoring_a_snapshot_replays_only_newer_diffs(self):
        book = OrderBook()
        book.restore_from_snapshot_and_diffs(self.fresh_snapshot, self.stale_diffs + [self.newer_diff])

        self.assertEqual(([(100.0, 5.0), (99.0, 2.0), (98.0, 1.0)], [(102.0, 2.0)]), levels(book))
        self.assertEqual(10, book.snapshot_uid)

    def test_control_base_messages_bring_stale_levels_back(self):
        # The trap the NonKYC ordering avoids: same messages, Hummingbot's ordering.
        def as_base(message: OrderBookMessage) -> OrderBookMessage:
            content = dict(message.content, bids=[row[:2] for row in message.bids],
                           asks=[row[:2] for row in message.asks])
            return OrderBookMessage(message.type, content, message.timestamp)

        book = OrderBook()
        book.restore_from_snapshot_and_diffs(as_base(self.fresh_snapshot),
                                             [as_base(message) for message in self.stale_diffs])

        bids, asks = levels(book)
        self.assertIn((99.5, 3.0), bids)
        self.assertIn((101.5, 4.0), asks)

    def test_ordering_is_by_update_id_and_falls_back_for_trades(self):
        trade = NonkycOrderBook.trade_message_from_exchange(TRADE_ENTRY, {"trading_pair": "BTC-USDT"})

        self.assertTrue(self.stale_diffs[0] < self.fresh_snapshot)
        self.assertFalse(self.fresh_snapshot < self.stale_diffs[1])
        self.assertTrue(self.fresh_snapshot < self.newer_diff)
        # Against a trade the base rule applies: order book messages sort first.
        self.assertTrue(self.newer_diff < trade)
        self.assertTrue(self.fresh_snapshot < trade)


class OrderBookSequencesTests(TestCase):

    def setUp(self):
        self.sequences = OrderBookSequences()
        self.sequences.expect_snapshot("BTC/USDT")

    def verdicts(self, symbol: str, *sequences: int) -> List[SequenceVerdict]:
        return [self.sequences.check_update(symbol, sequence) for sequence in sequences]

    def test_updates_wait_for_the_snapshot_then_follow_it_one_by_one(self):
        self.assertEqual([SequenceVerdict.WAITING_FOR_SNAPSHOT], self.verdicts("BTC/USDT", 1215882))

        self.assertTrue(self.sequences.on_snapshot("BTC/USDT", 1215881))

        self.assertEqual([SequenceVerdict.APPLY] * 3, self.verdicts("BTC/USDT", 1215882, 1215883, 1215884))
        self.assertEqual(1215884, self.sequences.last_sequence("BTC/USDT"))

    def test_a_repeated_or_older_update_is_a_duplicate_and_changes_nothing(self):
        self.sequences.on_snapshot("BTC/USDT", 500)
        self.verdicts("BTC/USDT", 501)

        self.assertEqual([SequenceVerdict.DUPLICATE, SequenceVerdict.DUPLICATE, SequenceVerdict.APPLY],
                         self.verdicts("BTC/USDT", 501, 400, 502))

    def test_a_gap_waits_for_a_fresh_snapshot_and_drops_everything_until_then(self):
        self.sequences.on_snapshot("BTC/USDT", 500)

        self.assertEqual([SequenceVerdict.APPLY, SequenceVerdict.GAP], self.verdicts("BTC/USDT", 501, 503))
        self.assertEqual(("BTC/USDT", 501, 503), self.sequences.last_gap)
        # Later updates, even contiguous with the gap, are not applied (and raise no second gap) until a snapshot.
        self.assertEqual([SequenceVerdict.WAITING_FOR_SNAPSHOT] * 2, self.verdicts("BTC/USDT", 504, 510))
        self.assertTrue(self.sequences.is_waiting_for_snapshot("BTC/USDT"))

        self.sequences.on_snapshot("BTC/USDT", 520)
        self.assertEqual([SequenceVerdict.DUPLICATE, SequenceVerdict.APPLY], self.verdicts("BTC/USDT", 520, 521))

    def test_symbols_are_independent(self):
        self.sequences.expect_snapshot("ETH/USDT")
        self.sequences.on_snapshot("BTC/USDT", 500)
        self.sequences.on_snapshot("ETH/USDT", 7000)

        self.assertEqual([SequenceVerdict.GAP], self.verdicts("BTC/USDT", 600))
        self.assertEqual([SequenceVerdict.APPLY], self.verdicts("ETH/USDT", 7001))

    def test_messages_of_symbols_not_subscribed_are_refused(self):
        self.assertEqual([SequenceVerdict.NOT_SUBSCRIBED], self.verdicts("DOGE/USDT", 1))
        self.assertFalse(self.sequences.on_snapshot("DOGE/USDT", 1))
        self.assertNotIn("DOGE/USDT", self.sequences)

        self.sequences.on_snapshot("BTC/USDT", 500)
        self.sequences.forget("BTC/USDT")
        self.assertEqual([SequenceVerdict.NOT_SUBSCRIBED], self.verdicts("BTC/USDT", 501))

    def test_clear_forgets_every_symbol_of_the_old_connection(self):
        self.sequences.on_snapshot("BTC/USDT", 500)

        self.sequences.clear()

        self.assertEqual([], self.sequences.symbols)
        self.assertEqual([SequenceVerdict.NOT_SUBSCRIBED], self.verdicts("BTC/USDT", 501))


class NewTradesTests(TestCase):

    @staticmethod
    def trades(*ids_and_times: Tuple[str, int]) -> List[OrderBookMessage]:
        return [NonkycOrderBook.trade_message_from_exchange(dict(TRADE_ENTRY, id=trade_id, timestampms=time_ms),
                                                            {"trading_pair": "BTC-USDT"})
                for trade_id, time_ms in ids_and_times]

    def test_the_first_snapshot_is_history_and_later_trades_are_reported_once_in_time_order(self):
        new_trades = NewTrades()

        history = new_trades.select("BTC/USDT", self.trades(("a1", 1), ("a2", 2)), from_snapshot=True)
        update = new_trades.select("BTC/USDT", self.trades(("a4", 4), ("a3", 3), ("a2", 2)), from_snapshot=False)
        repeated = new_trades.select("BTC/USDT", self.trades(("a3", 3)), from_snapshot=False)
        # After a reconnection the new snapshot holds trades already reported and one made meanwhile.
        snapshot = new_trades.select("BTC/USDT", self.trades(("a5", 5), ("a4", 4), ("a1", 1)), from_snapshot=True)

        self.assertEqual([[], ["a3", "a4"], [], ["a5"]],
                         [[trade.trade_id for trade in batch] for batch in (history, update, repeated, snapshot)])

    def test_only_the_last_ids_of_a_market_are_remembered(self):
        new_trades = NewTrades(remembered=3)
        new_trades.select("BTC/USDT", self.trades(*[(f"t{i}", i) for i in range(5)]), from_snapshot=False)

        again = new_trades.select("BTC/USDT", self.trades(("t4", 4), ("t1", 1)), from_snapshot=False)

        self.assertEqual(["t1"], [trade.trade_id for trade in again], "t1 was forgotten, t4 was not")

    def test_a_forgotten_market_starts_again_from_its_history(self):
        new_trades = NewTrades()
        new_trades.select("BTC/USDT", self.trades(("a1", 1)), from_snapshot=True)
        new_trades.select("BTC/USDT", self.trades(("a2", 2)), from_snapshot=False)

        new_trades.forget("BTC/USDT")

        self.assertEqual([], new_trades.select("BTC/USDT", self.trades(("a2", 2), ("a3", 3)), from_snapshot=True))
