"""Shared set-up of the NonKYC connector tests."""
import asyncio
import logging
import os
import unittest
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List, Optional
from unittest.mock import AsyncMock, MagicMock, patch

from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.event.event_logger import EventLogger
from hummingbot.core.event.events import MarketEvent


def clear_url_overrides(test_case: unittest.TestCase):
    """Unit tests use the production URLs: NONKYC_REST_URL / NONKYC_WS_URL of the caller's shell must not leak in."""
    patcher = patch.dict(os.environ)
    patcher.start()
    test_case.addCleanup(patcher.stop)
    for name in (CONSTANTS.REST_URL_ENV_VAR, CONSTANTS.WSS_URL_ENV_VAR):
        os.environ.pop(name, None)


def drain_queue(queue: asyncio.Queue) -> List[Any]:
    messages = []
    while not queue.empty():
        messages.append(queue.get_nowait())
    return messages


class LogRecorder(logging.Handler):
    def __init__(self):
        super().__init__(level=1)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord):
        self.records.append(record)


class LogAssertions:
    """Log look-ups for test cases that record logs in `self.log_recorder`."""

    log_recorder: LogRecorder

    def log_messages(self, level: Optional[str] = None) -> List[str]:
        return [record.getMessage() for record in self.log_recorder.records
                if level is None or record.levelname == level]

    def is_logged(self, level: str, text: str) -> bool:
        return any(text in message for message in self.log_messages(level))


class NonkycExchangeTestCase(IsolatedAsyncioWrapperTestCase):
    """A NonkycExchange with known symbols, a fixed clock, instant sleeps, captured logs and event loggers."""

    level = 0
    symbol_map = {"COINALPHA/HBOT": "COINALPHA-HBOT"}
    recorded_events = (MarketEvent.OrderFilled, MarketEvent.OrderCancelled, MarketEvent.OrderFailure,
                       MarketEvent.BuyOrderCompleted, MarketEvent.BuyOrderCreated)

    def setUp(self) -> None:
        super().setUp()
        clear_url_overrides(self)
        self.log_records: List[logging.LogRecord] = []
        self.exchange = NonkycExchange(nonkyc_api_key="testAPIKey", nonkyc_api_secret="testSecret",
                                       trading_pairs=list(self.symbol_map.values()))
        self.exchange._time_synchronizer.add_time_offset_ms_sample(0)
        self.exchange._time_synchronizer.time = MagicMock(return_value=1640780100.0)
        self.exchange._set_trading_pair_symbol_map(bidict(self.symbol_map))
        self.exchange._set_current_timestamp(1640780000)
        self.exchange._sleep = AsyncMock()
        for logger in (self.exchange.logger(), self.exchange._order_tracker.logger()):
            logger.setLevel(1)
            logger.addHandler(self)
            self.addCleanup(logger.removeHandler, self)
        self.events: Dict[MarketEvent, EventLogger] = {}
        for event in self.recorded_events:
            self.events[event] = EventLogger()
            self.exchange.add_listener(event, self.events[event])

    def handle(self, record: logging.LogRecord):
        self.log_records.append(record)

    def logged(self, level: str, fragment: str) -> List[logging.LogRecord]:
        return [record for record in self.log_records
                if record.levelname == level and fragment in record.getMessage()]
