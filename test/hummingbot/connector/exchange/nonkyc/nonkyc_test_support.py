"""
Shared set-up of the NonKYC connector tests: logs, queues, conditions to wait on, the NonKYC REST shapes, failure
answers and URL patterns of the exchange tests, the exchange test cases, and a fake WebSocket server.
"""
import asyncio
import json
import logging
import os
import re
import unittest
from decimal import Decimal
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union
from unittest.mock import AsyncMock, MagicMock, patch

import aiohttp
from aioresponses import CallbackResult, aioresponses
from bidict import bidict
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.test_support.network_mocking_assistant import (
    MockWebsocketClientSession,
    NetworkMockingAssistant,
)
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.api_throttler.data_types import RateLimit
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_row import OrderBookRow
from hummingbot.core.event.event_logger import EventLogger
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.web_assistant.connections.rest_connection import RESTConnection
from hummingbot.core.web_assistant.connections.ws_connection import WSConnection

# How often `wait_until` checks its condition: often enough for the tests' pace, rarely enough not to keep a core busy.
WAIT_INTERVAL = 0.01


def clear_url_overrides(test_case: unittest.TestCase):
    """Unit tests use the production URLs: NONKYC_REST_URL / NONKYC_WS_URL of the caller's shell must not leak in."""
    patcher = patch.dict(os.environ)
    patcher.start()
    test_case.addCleanup(patcher.stop)
    for name in (CONSTANTS.REST_URL_ENV_VAR, CONSTANTS.WSS_URL_ENV_VAR):
        os.environ.pop(name, None)


async def wait_until(condition: Callable[[], Any],
                     timeout: float = 5.0,
                     what: Union[str, Callable[[], str]] = "the expected condition",
                     interval: float = WAIT_INTERVAL):
    """
    Waits until `condition()` is true, checking it every `interval` seconds (at least WAIT_INTERVAL). After `timeout`
    seconds it fails the test with a message naming `what` did not happen (a callable is evaluated then, so the
    message can show the state at the time of the failure).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            description = what() if callable(what) else what
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {description}.")
        await asyncio.sleep(max(interval, WAIT_INTERVAL))


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
    trading_pair = "COINALPHA-HBOT"
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

    def warnings_about(self, fragment: str) -> List[str]:
        return [record.getMessage() for record in self.logged("WARNING", fragment)]

    def set_book(self, bids: List[Tuple[float, float]], asks: List[Tuple[float, float]],
                 trading_pair: Optional[str] = None):
        """Gives the connector a local order book of `trading_pair` (default: the test's `trading_pair`)."""
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(price, amount, 1) for price, amount in bids],
                            [OrderBookRow(price, amount, 1) for price, amount in asks], 1)
        self.exchange.order_book_tracker._order_books[trading_pair or self.trading_pair] = book


# --- NonKYC REST shapes and URL patterns of the exchange tests ---

def url_regex(url: str, with_query: bool = False) -> re.Pattern:
    """A pattern for aioresponses that matches the URL (and, optionally, any query string after it)."""
    escaped = "^" + re.escape(url)
    return re.compile(escaped + (r"(\?.*)?$" if with_query else "$"))


CLOUDFLARE_522_PAGE = ("<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>api.nonkyc.io | 522: Connection timed "
                       "out</title></head>\n<body><div id=\"cf-error-details\"><p>Error code 522</p></div></body>\n"
                       "</html>\n")
# Failed answers of NonKYC's REST API, as aioresponses arguments.
NOT_FOUND = {"status": 404, "body": json.dumps({"error": {"code": 20002, "message": "Order not found"}})}
TRANSIENT_ANSWERS = {
    "HTTP 500": {"status": 500, "body": json.dumps({"error": {"code": 500, "message": "Internal Server Error"}})},
    "Cloudflare 522": {"status": 522, "body": CLOUDFLARE_522_PAGE, "content_type": "text/html"},
    "HTTP 503": {"status": 503, "body": json.dumps({"error": {"code": 503, "message": "Service Unavailable"}})},
    "HTTP 200 with error 504": {"status": 200,
                                "body": json.dumps({"error": {"code": 504, "message": "Gateway Timeout"}})},
    "time-out": {"exception": asyncio.TimeoutError()},
    "network error": {"exception": aiohttp.ClientConnectionError("Connection reset by peer")},
}
RATE_LIMITED = {"status": 429, "body": json.dumps({"error": {"code": 429, "message": "Too Many Requests"}})}
POLL_TIME_MS = 1640780100000  # the server time of the polls (the exchange test case's time synchronizer)


class NonkycExchangeShapes:
    """NonKYC payload shapes (from ../shared/nonkyc-api.md and the live samples), shared by the connector tests."""

    exchange_order_id = "69a12a99f65594545010e5aa"
    trade_id = "69914db4b3e90040c2b8f0d8"
    market_id = "643bfabe4f63469320902710"

    @staticmethod
    def market(symbol: str, price_decimals: int = 4, quantity_decimals: int = 6, **overrides) -> Dict[str, Any]:
        base = symbol.split("/")[0]
        market = {
            "symbol": symbol, "primaryTicker": base, "primaryName": base.title(),
            "priceDecimals": price_decimals, "quantityDecimals": quantity_decimals,
            "isActive": True, "isPaused": False,
            "minimumQuantity": 0.01, "minQuote": 1, "isMinQuoteActive": True,
            "allowMarketOrders": True, "allowTriggerOrders": True,
            "bestAsk": "10001.0000", "bestBid": "9999.0000", "lastPrice": "10000.0000", "volume": "112345.8300",
            "id": NonkycExchangeShapes.market_id,
        }
        market.update(overrides)
        return market

    @staticmethod
    def order(order: InFlightOrder, status: str, executed: Decimal = Decimal(0), exchange_symbol: str = "",
              **overrides) -> Dict[str, Any]:
        data = {
            "id": order.exchange_order_id or NonkycExchangeShapes.exchange_order_id,
            "userProvidedId": order.client_order_id,
            "market": {"id": NonkycExchangeShapes.market_id, "symbol": exchange_symbol},
            "symbol": exchange_symbol,
            "side": order.trade_type.name.lower(),
            "type": "market" if order.order_type is OrderType.MARKET else "limit",
            "price": str(order.price),
            "quantity": str(order.amount),
            "executedQuantity": str(executed),
            "remainQuantity": str(order.amount - executed),
            "status": status,
            "isActive": status in ("New", "Active", "Partly Filled"),
            "createdAt": 1640780000000,
            "updatedAt": 1640780001000,
        }
        data.update(overrides)
        return data

    @staticmethod
    def account_trade(order: InFlightOrder, quantity: Decimal, price: Decimal, fee: Decimal,
                      trade_id: str = trade_id, exchange_symbol: str = "", **overrides) -> Dict[str, Any]:
        side = order.trade_type.name.capitalize()
        data = {
            "id": trade_id,
            "market": {"id": NonkycExchangeShapes.market_id, "symbol": exchange_symbol},
            "orderid": order.exchange_order_id,
            "side": side,
            "triggeredBy": "sell" if side == "Buy" else "buy",
            "price": str(price),
            "quantity": str(quantity),
            "fee": str(fee),
            "totalWithFee": str(quantity * price + fee),
            "timestamp": 1640780002000,
        }
        data.update(overrides)
        return data


class NonkycExchangeRestTestCase(NonkycExchangeTestCase):
    """
    The exchange with two pairs and their trading rules, and the REST helpers (aioresponses, NonKYC shapes) of the
    tests of its markets, balances, order placement, status updates and fills.
    """

    trading_pair = "COINALPHA-HBOT"
    exchange_symbol = "COINALPHA/HBOT"
    other_pair = "ETH-USDT"
    other_symbol = "ETH/USDT"
    symbol_map = {exchange_symbol: trading_pair, other_symbol: other_pair}
    tracked_state: Optional[OrderState] = None  # the state `track` gives orders, None: Hummingbot's PENDING_CREATE

    def setUp(self) -> None:
        super().setUp()
        self.exchange._trading_rules = {
            self.trading_pair: TradingRule(self.trading_pair, min_order_size=Decimal("0.01"),
                                           min_price_increment=Decimal("0.0001"),
                                           min_base_amount_increment=Decimal("0.000001"),
                                           supports_market_orders=True),
            self.other_pair: TradingRule(self.other_pair, min_order_size=Decimal("0.001"),
                                         min_price_increment=Decimal("0.01"),
                                         min_base_amount_increment=Decimal("0.0001"),
                                         supports_market_orders=False),
        }
        self.failures = self.events[MarketEvent.OrderFailure]
        self.fills = self.events[MarketEvent.OrderFilled]

    def track(self, client_id: str = "HBOT1", exchange_id: Optional[str] = NonkycExchangeShapes.exchange_order_id,
              trading_pair: Optional[str] = None, amount: str = "1", price: str = "10000",
              trade_type: TradeType = TradeType.BUY, order_type: OrderType = OrderType.LIMIT,
              state: Optional[OrderState] = None) -> InFlightOrder:
        """Tracks an order in `state` (default: the test case's `tracked_state`, else Hummingbot's PENDING_CREATE)."""
        self.exchange.start_tracking_order(
            order_id=client_id, exchange_order_id=exchange_id, trading_pair=trading_pair or self.trading_pair,
            trade_type=trade_type, price=Decimal(price), amount=Decimal(amount), order_type=order_type)
        order = self.exchange.in_flight_orders[client_id]
        state = state or self.tracked_state
        if state is not None:
            order.current_state = state
        return order

    def order_data(self, order: InFlightOrder, status: str, executed: str = "0", **overrides) -> Dict[str, Any]:
        symbol = self.other_symbol if order.trading_pair == self.other_pair else self.exchange_symbol
        return NonkycExchangeShapes.order(order, status, executed=Decimal(executed), exchange_symbol=symbol,
                                          **overrides)

    def account_trade(self, order: InFlightOrder, trade_id: str, quantity: str, timestamp: int = 1640780002000,
                      price: Optional[str] = None) -> Dict[str, Any]:
        return NonkycExchangeShapes.account_trade(
            order, Decimal(quantity), Decimal(price) if price else order.price, Decimal("0.5"), trade_id=trade_id,
            exchange_symbol=self.exchange_symbol, timestamp=timestamp)

    @staticmethod
    def url(path: str) -> str:
        return web_utils.private_rest_url(path)

    # configure_active_orders, configure_lookup and configure_trades answer the next request (every request with
    # `repeat`) with the given data as JSON, or with the aioresponses `answer` (status, body, exception, ...).

    def configure_active_orders(self, mock_api: aioresponses, orders: List[Dict[str, Any]], repeat: bool = False,
                                **answer):
        if not answer:
            answer = {"body": json.dumps(orders)}
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_ORDERS_PATH_URL), with_query=True), repeat=repeat, **answer)

    def configure_lookup(self, mock_api: aioresponses, reference_pattern: str, payload: Any = None,
                         repeat: bool = False, **answer):
        """The look-up (GET /getorder/{reference}) of the orders whose id or client id matches `reference_pattern`."""
        if payload is not None:
            answer = {"body": json.dumps(payload), **answer}
        mock_api.get(re.compile("^" + re.escape(self.url("/getorder/")) + reference_pattern + "$"), repeat=repeat,
                     **answer)

    def configure_trades(self, mock_api: aioresponses, trades: Optional[Any] = None, repeat: bool = False,
                         **answer):
        if not answer:
            answer = {"body": json.dumps(trades or [])}
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), repeat=repeat, **answer)

    def configure_trades_api(self, mock_api: aioresponses, trades: List[Dict[str, Any]], oldest_first: bool = True,
                             failing_requests: Optional[Dict[int, Dict[str, Any]]] = None) -> List[URL]:
        """/account/trades answered from `trades` like an API listing `since` queries in the given order."""
        calls = []

        def answer(url: URL, **kwargs) -> CallbackResult:
            calls.append(url)
            failure = (failing_requests or {}).get(len(calls))
            if failure is not None:
                return CallbackResult(**failure)
            since, skip, limit = (int(url.query["since"]), int(url.query.get("skip", 0)), int(url.query["limit"]))
            selected = sorted((entry for entry in trades if entry["timestamp"] >= since),
                              key=lambda entry: entry["timestamp"], reverse=not oldest_first)
            return CallbackResult(body=json.dumps(selected[skip:skip + limit]))

        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), callback=answer,
                     repeat=True)
        return calls

    @staticmethod
    def requests_to(mock_api: aioresponses, path: str) -> List[URL]:
        """The URLs of the requests sent to `path`, one per request, in order."""
        return [url for (method, url), calls in mock_api.requests.items() if path in url.path for _ in calls]

    async def settle(self):
        """Lets the tracker's update tasks run."""
        for _ in range(5):
            await asyncio.sleep(0)

    def found_order(self, status: str, executed: str = "0") -> Dict[str, Any]:
        return {"id": NonkycExchangeShapes.exchange_order_id, "userProvidedId": "x", "symbol": self.exchange_symbol,
                "side": "buy", "type": "limit", "price": "10000", "quantity": "2", "executedQuantity": executed,
                "status": status, "createdAt": 1640780000000, "updatedAt": 1640780001000}


class NonkycReconciliationTestCase(NonkycExchangeRestTestCase):
    """
    The REST helpers for the tests of the status, fills and balance polls, which send many requests: the throttler
    lets them all through at once, every pair trades market orders, and orders are tracked open.
    """

    recorded_events = NonkycExchangeRestTestCase.recorded_events + (MarketEvent.SellOrderCompleted,)
    tracked_state = OrderState.OPEN

    def setUp(self) -> None:
        super().setUp()
        # Hummingbot's throttler spaces requests in real time (5 per second); these tests send many, answered at once.
        self.exchange._throttler.set_rate_limits([
            RateLimit(limit_id=rate_limit.limit_id, limit=10_000, time_interval=rate_limit.time_interval,
                      linked_limits=rate_limit.linked_limits) for rate_limit in CONSTANTS.RATE_LIMITS])
        for trading_pair in self.symbol_map.values():
            self.exchange._trading_rules[trading_pair] = TradingRule(
                trading_pair, min_order_size=Decimal("0.01"), min_price_increment=Decimal("0.0001"),
                min_base_amount_increment=Decimal("0.000001"), supports_market_orders=True)
        self.completions = self.events[MarketEvent.BuyOrderCompleted]


# --- the fake NonKYC WebSocket server of the data source tests ---

Reply = Callable[[int, Dict[str, Any]], List[Any]]


def rpc_result(request: Dict[str, Any], result: Any = True) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request["id"]}


def rpc_error(request: Dict[str, Any], code: int, message: str) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request["id"]}


def accept(index: int, request: Dict[str, Any]) -> List[Any]:
    """The default answer of the fake server: the request is accepted (`{"result": true, "id": n}`)."""
    return [rpc_result(request)]


class FakeNonkycServer:
    """
    Stands in for Hummingbot's connections factory: every WebSocket connection is a real `WSConnection` over a fresh
    `NetworkMockingAssistant` websocket mock. Each request sent is answered by `replies[method](index, request)`
    (`default_reply` for other methods), where `index` is the connection's number; dicts are sent as JSON and strings
    as they are. Tests push notifications with `push`, end a connection with `close`, and make the next connection
    attempts fail by queueing exceptions in `connection_errors`.
    """

    def __init__(self, mocking_assistant: NetworkMockingAssistant, default_reply: Reply = accept):
        self.mocking_assistant = mocking_assistant
        self.default_reply = default_reply
        self.replies: Dict[str, Reply] = {}
        self.websockets: List[AsyncMock] = []
        self.sessions: List[MockWebsocketClientSession] = []  # their connection arguments (URL, heartbeat)
        self.connection_errors: List[Exception] = []
        self.connections: List[WSConnection] = []  # the client side of each connection (connected, ...)
        self._rest_session: Optional[aiohttp.ClientSession] = None

    async def get_rest_connection(self) -> RESTConnection:
        """
        REST goes through an aiohttp session of this fake server (tests mock it with aioresponses), never through
        Hummingbot's process-wide session, which would stay bound to the test's event loop. `close_rest_session`
        closes it.
        """
        if self._rest_session is None or self._rest_session.closed:
            self._rest_session = aiohttp.ClientSession()
        return RESTConnection(aiohttp_client_session=self._rest_session)

    async def close_rest_session(self):
        if self._rest_session is not None:
            await self._rest_session.close()

    async def get_ws_connection(self) -> WSConnection:
        if self.connection_errors:
            raise self.connection_errors.pop(0)
        index = len(self.websockets)
        websocket = self.mocking_assistant.create_websocket_mock()
        record_sent_message = websocket.send_json.side_effect

        def answer(request: Dict[str, Any]):
            record_sent_message(request)
            for message in self.replies.get(request.get("method"), self.default_reply)(index, request):
                self.push(message, index)

        websocket.send_json.side_effect = answer
        self.websockets.append(websocket)
        self.sessions.append(MockWebsocketClientSession(mock_websocket=websocket))
        self.connections.append(WSConnection(aiohttp_client_session=self.sessions[-1]))
        return self.connections[-1]

    def push(self, message: Any, index: int = -1, message_type: aiohttp.WSMsgType = aiohttp.WSMsgType.TEXT):
        text = message if isinstance(message, str) else json.dumps(message)
        self.mocking_assistant.add_websocket_aiohttp_message(self.websockets[index], text, message_type)

    def push_all(self, messages: Iterable[Any], index: int = -1):
        for message in messages:
            self.push(message, index)

    def close(self, index: int = -1):
        """The server closes the connection (a CLOSE frame)."""
        self.push("", index, aiohttp.WSMsgType.CLOSE)

    def sent(self, index: int = -1) -> List[Dict[str, Any]]:
        if not self.websockets:
            return []
        return self.mocking_assistant.json_messages_sent_through_websocket(self.websockets[index])

    def sent_requests(self, method: str, index: int = -1) -> List[Dict[str, Any]]:
        return [request for request in self.sent(index) if request.get("method") == method]

    def sent_methods(self, index: int = -1) -> List[str]:
        return [request.get("method") for request in self.sent(index)]

    def all_delivered(self, index: int = -1) -> bool:
        """True when the client has read every message pushed on the connection."""
        key = self.websockets[index]._stable_key
        return self.mocking_assistant._incoming_websocket_aiohttp_queues[key].empty()
