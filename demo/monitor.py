"""
What the demo watches while the bot runs: the connector's order events (placed, cancelled, filled, ...), the ERROR log
records, and the connector's own counts of order-book gap re-subscriptions and stream (re)connections.
"""
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, DefaultDict, Dict, List

from hummingbot.connector.connector_base import ConnectorBase
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.event.event_forwarder import EventForwarder
from hummingbot.core.event.events import MarketEvent, OrderFilledEvent

MAX_KEPT_ERRORS = 10


class ErrorLogWatcher(logging.Handler):
    """Counts ERROR records, keeping the first few."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.error_count = 0
        self.errors: List[str] = []

    def emit(self, record: logging.LogRecord):
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(f"{record.name}: {message.splitlines()[0] if message else ''}")


@dataclass(frozen=True)
class StreamResyncs:
    """The order-book gap re-subscriptions and stream reconnections of a NonKYC connector, from its own counts."""
    gap_resubscriptions: int = 0
    reconnections: int = 0

    @classmethod
    def of(cls, connector: ConnectorBase) -> "StreamResyncs":
        statistics = connector.stream_statistics
        connections = (statistics["public_stream_connections"], statistics["private_stream_connections"])
        return cls(gap_resubscriptions=statistics["order_book_gap_resubscriptions"],
                   reconnections=sum(max(count - 1, 0) for count in connections))


@dataclass
class FillTotals:
    trades: int = 0
    base_amount: Decimal = Decimal(0)
    quote_amount: Decimal = Decimal(0)


@dataclass
class OrderEventRecorder:
    """Tallies the order events a connector emits. Keep a reference to it: the connector holds its listeners weakly."""

    placed: int = 0
    cancelled: int = 0
    completely_filled: int = 0
    failed: int = 0
    fills: Dict[TradeType, FillTotals] = field(
        default_factory=lambda: {TradeType.BUY: FillTotals(), TradeType.SELL: FillTotals()})
    fees: DefaultDict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    filled_order_ids: Counter = field(default_factory=Counter)
    _forwarders: List[EventForwarder] = field(default_factory=list)

    def attach(self, connector: ConnectorBase):
        handlers: Dict[MarketEvent, Callable] = {
            MarketEvent.BuyOrderCreated: self._on_created,
            MarketEvent.SellOrderCreated: self._on_created,
            MarketEvent.OrderCancelled: self._on_cancelled,
            MarketEvent.OrderFilled: self._on_filled,
            MarketEvent.BuyOrderCompleted: self._on_completed,
            MarketEvent.SellOrderCompleted: self._on_completed,
            MarketEvent.OrderFailure: self._on_failed,
        }
        for event, handler in handlers.items():
            forwarder = EventForwarder(handler)
            self._forwarders.append(forwarder)
            connector.add_listener(event, forwarder)

    @property
    def fill_count(self) -> int:
        return sum(totals.trades for totals in self.fills.values())

    def _on_created(self, _event):
        self.placed += 1

    def _on_cancelled(self, _event):
        self.cancelled += 1

    def _on_completed(self, _event):
        self.completely_filled += 1

    def _on_failed(self, _event):
        self.failed += 1

    def _on_filled(self, event: OrderFilledEvent):
        totals = self.fills[event.trade_type]
        totals.trades += 1
        totals.base_amount += event.amount
        totals.quote_amount += event.amount * event.price
        self.filled_order_ids[event.order_id] += 1
        fee = event.trade_fee
        for flat_fee in fee.flat_fees:
            self.fees[flat_fee.token] += flat_fee.amount
        if not fee.flat_fees and fee.percent:
            base, quote = event.trading_pair.split("-", 1)
            token = fee.percent_token or quote
            self.fees[token] += fee.percent * (event.amount if token == base else event.amount * event.price)
