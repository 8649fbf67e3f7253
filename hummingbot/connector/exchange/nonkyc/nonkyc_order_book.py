"""
NonKYC order book messages, and the rules that keep Hummingbot's book equal to the exchange's.

How the messages stay exact inside Hummingbot's `OrderBookTracker` (which is not edited):
- Every snapshot and diff gets an update id from one increasing counter of the data source, so ids follow the
  exchange's order. The REST `/market/orderbook` sequence is a different counter and is never compared with them: a
  REST snapshot (which only stands in for a late WS snapshot, see `nonkyc_order_book_tracker`) has update id 0, so the
  tracker never drops a WS message because of it.
- WS snapshots travel through the diff queue with the diffs. The tracker keeps one FIFO per pair for diffs (and for
  the diffs it buffers before the pair's book exists) but holds snapshots back until every book is initialised; on the
  diff path a snapshot is applied exactly between the diffs it was sent between.
- Snapshots and diffs are `NonkycOrderBookMessage`s, which compare by update id: when a snapshot is applied the
  tracker re-applies only the remembered diffs that are newer than it (none, given the FIFO), never stale ones.
"""
import math
import time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Dict, List, Optional, Set, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import RecentKeys, timestamp_seconds
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessage, OrderBookMessageType
from hummingbot.core.data_type.order_book_row import OrderBookRow

_INFINITY = math.inf
_tuple_new = tuple.__new__
_BUY = float(TradeType.BUY.value)
_SELL = float(TradeType.SELL.value)
_TRADE_TYPES = {"buy": _BUY, "sell": _SELL}


class NonkycOrderBookMessage(OrderBookMessage):
    """
    A snapshot or diff of a NonKYC order book.

    - Its levels are parsed once, when the message is built, into the `OrderBookRow`s that `bids` / `asks` return.
    - It compares by update id. Hummingbot's `OrderBookMessage.__lt__` says a snapshot sorts before every diff, so
      `OrderBook.restore_from_snapshot_and_diffs` would re-apply all the diffs the tracker remembers (up to 32) on top
      of every snapshot, bringing back levels the snapshot had removed. With this ordering only diffs newer than the
      snapshot are re-applied, which is what that method intends.
    """

    @property
    def bids(self) -> List[OrderBookRow]:
        return self.content["bids"]

    @property
    def asks(self) -> List[OrderBookRow]:
        return self.content["asks"]

    def __lt__(self, other: OrderBookMessage) -> bool:
        if self.has_update_id and other.has_update_id:
            return self.update_id < other.update_id
        return super().__lt__(other)


class NonkycOrderBook(OrderBook):
    """
    Builds order book messages from NonKYC payloads. Levels are `{"price": str, "quantity": str}` dicts of decimal
    strings; a quantity of "0" removes the level. Malformed payloads raise `KeyError` / `TypeError` / `ValueError`,
    with a message saying what is wrong; callers log and skip them.
    """

    @classmethod
    def snapshot_message_from_exchange(cls,
                                       msg: Dict[str, Any],
                                       timestamp: float,
                                       metadata: Dict[str, Any]) -> NonkycOrderBookMessage:
        """
        :param msg: a REST `/market/orderbook` answer or the `params` of a `snapshotOrderbook` notification
        :param timestamp: the snapshot time, in seconds
        :param metadata: `trading_pair` and `update_id` of the message, and optionally the exchange's `sequence`
        """
        if "bids" not in msg or "asks" not in msg:
            raise KeyError(f"an order book snapshot needs both 'bids' and 'asks' (keys: {sorted(msg)})")
        return _book_message(OrderBookMessageType.SNAPSHOT, metadata["trading_pair"], metadata["update_id"],
                             metadata.get("sequence"), msg["bids"], msg["asks"], timestamp)

    @classmethod
    def diff_message_from_exchange(cls,
                                   msg: Dict[str, Any],
                                   timestamp: Optional[float] = None,
                                   metadata: Optional[Dict[str, Any]] = None) -> NonkycOrderBookMessage:
        """
        :param msg: the `params` of an `updateOrderbook` notification; a side may be missing (no change on it)
        :param timestamp: seconds; by default the update's own `timestamp` (int ms or ISO string), else now
        :param metadata: `trading_pair` and `update_id` of the message, and optionally the exchange's `sequence`
        """
        return cls.diff_message(msg, metadata["trading_pair"], metadata["update_id"], metadata.get("sequence"),
                                timestamp)

    @staticmethod
    def diff_message(msg: Dict[str, Any],
                     trading_pair: str,
                     update_id: int,
                     sequence: Optional[int] = None,
                     timestamp: Optional[float] = None) -> NonkycOrderBookMessage:
        """`diff_message_from_exchange` without the metadata dict: the order book's hot path, keep it lean."""
        if timestamp is None:
            timestamp = msg.get("timestamp")
            if type(timestamp) is int:
                timestamp = timestamp * 1e-3
            else:
                timestamp = timestamp_seconds(timestamp) or time.time()
        return _book_message(OrderBookMessageType.DIFF, trading_pair, update_id, sequence, msg.get("bids"),
                             msg.get("asks"), timestamp)

    @classmethod
    def trade_message_from_exchange(cls, msg: Dict[str, Any], metadata: Dict[str, Any]) -> OrderBookMessage:
        """
        :param msg: one entry of the `data` list of `snapshotTrades` / `updateTrades`:
            `{"id", "price", "quantity", "side": "buy"|"sell" (the taker's side), "timestamp": ISO, "timestampms": int}`
        :param metadata: `trading_pair` of the trade
        """
        trade_id = msg["id"]
        if not isinstance(trade_id, str) or not trade_id:
            raise ValueError(f"trade id {trade_id!r} is not a non-empty string")
        side = msg["side"]
        trade_type = _TRADE_TYPES.get(side.lower()) if isinstance(side, str) else None
        if trade_type is None:
            raise ValueError(f"trade side {side!r} is neither 'buy' nor 'sell'")
        price = cls._positive_decimal(msg["price"], "price")
        amount = cls._positive_decimal(msg["quantity"], "quantity")
        timestamp = timestamp_seconds(msg.get("timestampms")) or timestamp_seconds(msg.get("timestamp")) or time.time()
        return OrderBookMessage(OrderBookMessageType.TRADE, {
            "trading_pair": metadata["trading_pair"],
            "trade_type": trade_type,
            "trade_id": trade_id,
            "update_id": int(timestamp * 1e3),
            "price": price,
            "amount": amount,
        }, timestamp=timestamp)

    @classmethod
    def trade_messages_from_exchange(
            cls, entries: List[Any], trading_pair: str) -> Tuple[List[OrderBookMessage], List[Tuple[Any, Exception]]]:
        """
        The trade messages of the `data` list of `snapshotTrades` / `updateTrades`, and the entries that could not be
        read with their errors. Raises TypeError when `entries` is not a list or there is no trading pair.
        """
        if not isinstance(entries, list) or trading_pair is None:
            raise TypeError(f"no trade list ({type(entries).__name__}) or no trading pair ({trading_pair!r})")
        trades, errors = [], []
        for entry in entries:
            try:
                trades.append(cls.trade_message_from_exchange(entry, {"trading_pair": trading_pair}))
            except Exception as error:
                errors.append((entry, error))
        return trades, errors

    @staticmethod
    def parse_sequence(value: Any) -> int:
        """A sequence number: an int or a string of digits."""
        if type(value) is int:
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise ValueError(f"sequence {value!r} is not an integer")

    @staticmethod
    def _positive_decimal(value: Any, name: str) -> Decimal:
        try:
            number = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        except (InvalidOperation, ValueError, TypeError):
            raise ValueError(f"{name} {value!r} is not a number")
        if not (number.is_finite() and number > 0):
            raise ValueError(f"{name} {value!r} is not a positive number")
        return number


def _book_message(message_type: OrderBookMessageType,
                  trading_pair: str,
                  update_id: int,
                  sequence: Optional[int],
                  bids: Any,
                  asks: Any,
                  timestamp: float) -> NonkycOrderBookMessage:
    content = {
        "trading_pair": trading_pair,
        "update_id": update_id,
        "sequence": sequence,
        "bids": _rows(bids, update_id) if bids else _no_rows(bids),
        "asks": _rows(asks, update_id) if asks else _no_rows(asks),
    }
    # What OrderBookMessage.__new__ does, without its extra call layers (this is the hot path).
    return _tuple_new(NonkycOrderBookMessage, (message_type, content, timestamp))


def _rows(levels: List[Dict[str, Any]], update_id: int) -> List[OrderBookRow]:
    """`[{"price": "1.5", "quantity": "2"}, ...]` -> `[OrderBookRow(1.5, 2.0, update_id), ...]`."""
    rows = []
    append = rows.append
    for level in levels:
        price = float(level["price"])
        amount = float(level["quantity"])
        # Also rejects NaN, which fails every comparison.
        if not (0.0 < price < _INFINITY and 0.0 <= amount < _INFINITY):
            raise ValueError(f"invalid order book level: price {level['price']!r}, quantity {level['quantity']!r}")
        # What OrderBookRow(price, amount, update_id) does, without the call layer.
        append(_tuple_new(OrderBookRow, (price, amount, update_id)))
    return rows


def _no_rows(levels: Any) -> List[OrderBookRow]:
    """A side without levels: missing (None) or an empty list."""
    if levels is None or isinstance(levels, list):
        return []
    raise TypeError(f"order book levels must be a list, not {levels!r}")


class SequenceVerdict(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    GAP = "gap"
    WAITING_FOR_SNAPSHOT = "waiting for a snapshot"
    NOT_SUBSCRIBED = "not subscribed"


_WAITING = None
_UNKNOWN = object()


class OrderBookSequences:
    """
    The sequence rules of NonKYC's WebSocket order books, per exchange symbol, for one connection.

    A subscribed symbol waits for a snapshot; a snapshot sets its last applied sequence; an update must carry that
    sequence + 1 to be applied. A smaller or equal one is a duplicate. A larger one is a gap: the symbol waits for a
    fresh snapshot again, and every update until then is dropped. `last_gap` keeps the numbers of the latest gap
    (symbol, last applied sequence, sequence received) for the log line that reports it.
    """

    def __init__(self):
        # symbol -> last applied sequence, or None while the symbol waits for a snapshot
        self._last: Dict[str, Optional[int]] = {}
        self.last_gap: Optional[Tuple[str, int, int]] = None

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._last

    @property
    def symbols(self) -> List[str]:
        return list(self._last)

    def expect_snapshot(self, symbol: str):
        """The symbol is (re)subscribed: its updates wait for a fresh snapshot."""
        self._last[symbol] = _WAITING

    def is_waiting_for_snapshot(self, symbol: str) -> bool:
        return symbol in self._last and self._last[symbol] is _WAITING

    def forget(self, symbol: str):
        self._last.pop(symbol, None)

    def clear(self):
        self._last.clear()

    def on_snapshot(self, symbol: str, sequence: int) -> bool:
        """Takes a snapshot's sequence; False (nothing changes) when the symbol is not subscribed."""
        if symbol not in self._last:
            return False
        self._last[symbol] = sequence
        return True

    def check_update(self, symbol: str, sequence: int) -> SequenceVerdict:
        """The verdict for an update; an applied update becomes the symbol's last sequence (the hot path)."""
        last = self._last.get(symbol, _UNKNOWN)
        if last is _WAITING:
            return SequenceVerdict.WAITING_FOR_SNAPSHOT
        if last is _UNKNOWN:
            return SequenceVerdict.NOT_SUBSCRIBED
        if sequence == last + 1:
            self._last[symbol] = sequence
            return SequenceVerdict.APPLY
        if sequence <= last:
            return SequenceVerdict.DUPLICATE
        self._last[symbol] = _WAITING
        self.last_gap = (symbol, last, sequence)
        return SequenceVerdict.GAP

    def last_sequence(self, symbol: str) -> Optional[int]:
        return self._last.get(symbol)


class NewTrades:
    """
    Which public trades are new, per exchange symbol: each trade is reported once (by trade id; the last `remembered`
    ids of each market are kept), and the first `snapshotTrades` of a market, history from before the subscription,
    is not reported at all.
    """

    def __init__(self, remembered: int = CONSTANTS.WS_RECENT_KEYS_CAPACITY):
        self._remembered = remembered
        self._reported: Dict[str, RecentKeys] = {}
        self._history_skipped: Set[str] = set()

    def select(self, symbol: str, trades: List[OrderBookMessage], from_snapshot: bool) -> List[OrderBookMessage]:
        """The trades to report, oldest first; all of them are remembered as reported."""
        reported = self._reported.setdefault(symbol, RecentKeys(self._remembered))
        new_trades = [trade for trade in trades if reported.add(trade.trade_id)]
        if from_snapshot and symbol not in self._history_skipped:
            self._history_skipped.add(symbol)
            return []
        return sorted(new_trades, key=lambda trade: trade.timestamp)

    def forget(self, symbol: str):
        self._reported.pop(symbol, None)
        self._history_skipped.discard(symbol)
