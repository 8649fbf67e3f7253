"""
Market orders: real ones where the market allows them, and on markets with `allowMarketOrders: false` a crossing
limit order whose rest is cancelled at once, reported to the strategy as a market order (created, filled, then
completed or cancelled), with aioresponses and NonKYC's shapes.
"""
import asyncio
import json
import os
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    url_regex,
    wait_until,
)
from typing import Any, Dict, List, Optional
from unittest.mock import patch

from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder
from hummingbot.core.event.event_forwarder import EventForwarder
from hummingbot.core.event.events import (
    BuyOrderCreatedEvent,
    MarketEvent,
    MarketOrderFailureEvent,
    OrderCancelledEvent,
    SellOrderCompletedEvent,
)

ORDER_EVENTS = (MarketEvent.BuyOrderCreated, MarketEvent.SellOrderCreated, MarketEvent.OrderFilled,
                MarketEvent.BuyOrderCompleted, MarketEvent.SellOrderCompleted, MarketEvent.OrderCancelled,
                MarketEvent.OrderFailure)
NOT_FOUND = {"error": {"code": 20002, "message": "Active order not found for cancellation"}}


class NonkycMarketOrderTests(NonkycExchangeTestCase):
    trading_pair = "NKYC-USDT"  # no market orders, as on the sandbox
    exchange_symbol = "NKYC/USDT"
    open_pair = "BTC-USDT"
    open_symbol = "BTC/USDT"
    symbol_map = {exchange_symbol: trading_pair, open_symbol: open_pair}
    exchange_id = NonkycExchangeShapes.exchange_order_id

    def setUp(self) -> None:
        super().setUp()
        self.exchange._trading_rules = {
            self.trading_pair: TradingRule(self.trading_pair, min_order_size=Decimal("1"),
                                           min_price_increment=Decimal("0.0001"),
                                           min_base_amount_increment=Decimal("0.01"),
                                           supports_market_orders=False),
            self.open_pair: TradingRule(self.open_pair, min_order_size=Decimal("0.00001"),
                                        min_price_increment=Decimal("0.01"),
                                        min_base_amount_increment=Decimal("0.000001"),
                                        supports_market_orders=True),
        }
        # Every order event, in the order the strategy receives them (EventLogger sorts its log by timestamp).
        self.order_events: List[Any] = []
        self.forwarder = EventForwarder(self.order_events.append)  # the connector holds its listeners weakly
        for event in ORDER_EVENTS:
            self.exchange.add_listener(event, self.forwarder)
        environment = patch.dict(os.environ)
        environment.start()
        self.addCleanup(environment.stop)
        os.environ.pop(CONSTANTS.MARKET_ORDER_SLIPPAGE_ENV_VAR, None)

    # === Helpers ===

    @staticmethod
    def url(path: str) -> str:
        return web_utils.private_rest_url(path)

    def event_kinds(self) -> List[str]:
        return [type(event).__name__ for event in self.order_events]

    def sent(self, mock_api: aioresponses, method: str, path: str) -> List[Dict[str, Any]]:
        calls = [call for (request_method, url), calls in mock_api.requests.items()
                 if request_method == method and url.path == URL(self.url(path)).path for call in calls]
        return [json.loads(call.kwargs["data"]) if call.kwargs.get("data") else call.kwargs.get("params")
                for call in calls]

    def template(self, trade_type: TradeType = TradeType.BUY, amount: str = "10",
                 trading_pair: Optional[str] = None) -> InFlightOrder:
        """An order like the one the test places, for NonkycExchangeShapes (the client id is not known yet)."""
        return InFlightOrder(client_order_id="HBOT-placed-by-the-test", trading_pair=trading_pair or self.trading_pair,
                             order_type=OrderType.LIMIT, trade_type=trade_type, amount=Decimal(amount),
                             creation_timestamp=1640780000, price=Decimal("0"), exchange_order_id=self.exchange_id)

    def exchange_order(self, status: str, executed: str, price: str, trade_type: TradeType = TradeType.BUY,
                       amount: str = "10", trading_pair: Optional[str] = None, **overrides) -> Dict[str, Any]:
        symbol = self.exchange_symbol if trading_pair is None else self.open_symbol
        return NonkycExchangeShapes.order(self.template(trade_type, amount, trading_pair), status, Decimal(executed),
                                          exchange_symbol=symbol, price=price, **overrides)

    def trade(self, quantity: str, price: str, trade_id: str, trade_type: TradeType = TradeType.BUY,
              trading_pair: Optional[str] = None) -> Dict[str, Any]:
        symbol = self.exchange_symbol if trading_pair is None else self.open_symbol
        return NonkycExchangeShapes.account_trade(self.template(trade_type, trading_pair=trading_pair),
                                                  Decimal(quantity), Decimal(price),
                                                  Decimal(quantity) * Decimal(price) * Decimal("0.002"),
                                                  trade_id=trade_id, exchange_symbol=symbol)

    def answer(self, mock_api: aioresponses, method: str, path: str, body: Any, status: int = 200, **kwargs):
        pattern = url_regex(self.url(path), with_query=True) if method == "GET" else self.url(path)
        getattr(mock_api, method.lower())(pattern, status=status, body=json.dumps(body), **kwargs)

    def answer_lookup(self, mock_api: aioresponses, body: Any, status: int = 200, reference: str = ".*"):
        mock_api.get(re.compile("^" + re.escape(self.url("/getorder/")) + reference + "$"), status=status,
                     body=json.dumps(body))

    async def place(self, trade_type: TradeType = TradeType.BUY, amount: str = "10",
                    trading_pair: Optional[str] = None) -> InFlightOrder:
        """Places a MARKET order (the exchange's answers are configured before) and returns it once tracked."""
        place = self.exchange.buy if trade_type is TradeType.BUY else self.exchange.sell
        order_id = place(trading_pair or self.trading_pair, Decimal(amount), OrderType.MARKET, Decimal("NaN"))
        await wait_until(lambda: order_id in self.exchange._order_tracker.all_orders, what=f"{order_id} to be tracked")
        return self.exchange._order_tracker.all_orders[order_id]

    async def wait_for_end(self, order: InFlightOrder):
        """Waits until the order's final events were sent (the tracker then stops tracking it)."""
        await wait_until(lambda: order.client_order_id not in self.exchange.in_flight_orders,
                         what=lambda: f"order {order.client_order_id} to end (state {order.current_state})")

    # === Markets without market orders ===

    @aioresponses()
    async def test_partly_filled_emulated_buy_is_cancelled_and_reported_as_a_market_order(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 4), (0.1260, 500)])
        # Sent as a limit buy at 0.1250 * 1.02 = 0.1275: 4 fill at once, the other 6 would rest.
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    self.exchange_order("Partly Filled", "4", "0.1275"))
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, {"success": True})
        self.answer_lookup(mock_api, self.exchange_order("Cancelled", "4", "0.1275"))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL, [self.trade("4", "0.1250", "T1")])

        order = await self.place(amount="10")
        await self.wait_for_end(order)

        self.assertEqual([{"symbol": "NKYC/USDT", "side": "buy", "type": "limit", "quantity": "10.00",
                           "price": "0.1275", "userProvidedId": order.client_order_id, "strictValidate": True}],
                         self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL))
        self.assertEqual([{"id": self.exchange_id}], self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual(["BuyOrderCreatedEvent", "OrderFilledEvent", "OrderCancelledEvent"], self.event_kinds())
        created, filled, _ = self.order_events
        self.assertEqual((OrderType.MARKET, OrderType.MARKET), (created.type, filled.order_type))
        self.assertEqual((Decimal("4"), Decimal("0.1250"), "T1"),
                         (filled.amount, filled.price, filled.exchange_trade_id))
        self.assertTrue(order.is_cancelled)
        self.assertEqual((OrderType.MARKET, Decimal("4")), (order.order_type, order.executed_amount_base))
        self.assertTrue(self.logged("INFO", f"MARKET BUY order {order.client_order_id} on NKYC-USDT sent as a limit "
                                            f"order at 0.1275 (best ask 0.125, slippage limit 2 %)"))

    @aioresponses()
    async def test_emulated_sell_filled_at_once_is_completed_without_a_cancel(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        # A sell at 0.1230 * 0.98 = 0.12054, rounded up to the price step: 0.1206.
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    self.exchange_order("Filled", "10", "0.1206", TradeType.SELL))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL,
                    [self.trade("6", "0.1230", "T1", TradeType.SELL), self.trade("4", "0.1230", "T2", TradeType.SELL)])

        order = await self.place(TradeType.SELL, amount="10")
        await self.wait_for_end(order)

        self.assertEqual("0.1206", self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL)[0]["price"])
        self.assertEqual([], self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual(["SellOrderCreatedEvent", "OrderFilledEvent", "OrderFilledEvent", "SellOrderCompletedEvent"],
                         self.event_kinds())
        completed = self.order_events[-1]
        self.assertIsInstance(completed, SellOrderCompletedEvent)
        self.assertEqual((OrderType.MARKET, Decimal("10")), (completed.order_type, completed.base_asset_amount))
        self.assertEqual([], self.logged("WARNING", ""))

    @aioresponses()
    async def test_emulated_order_that_meets_no_liquidity_ends_cancelled_without_fills(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL, self.exchange_order("Active", "0", "0.1275"))
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL,
                    self.exchange_order("Cancelled", "0", "0.1275"))
        self.answer_lookup(mock_api, self.exchange_order("Cancelled", "0", "0.1275"))

        order = await self.place(TradeType.BUY)
        await self.wait_for_end(order)

        self.assertEqual(["BuyOrderCreatedEvent", "OrderCancelledEvent"], self.event_kinds())
        self.assertEqual([], self.sent(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL))

    @aioresponses()
    async def test_emulated_order_without_a_book_or_an_opposite_side_fails_at_once(self, mock_api):
        without_book = await self.place(TradeType.BUY)
        await self.wait_for_end(without_book)
        self.set_book(bids=[(0.1230, 500)], asks=[])
        without_asks = await self.place(TradeType.BUY)
        await self.wait_for_end(without_asks)

        self.assertEqual([], self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL))
        self.assertTrue(without_book.is_failure and without_asks.is_failure)
        failures = [event for event in self.order_events if isinstance(event, MarketOrderFailureEvent)]
        self.assertEqual([OrderType.MARKET] * 2, [event.order_type for event in failures])
        self.assertEqual(f"MARKET BUY order {without_book.client_order_id} on NKYC-USDT refused: there is no local "
                         f"order book to price it.", failures[0].error_message)
        self.assertEqual(f"MARKET BUY order {without_asks.client_order_id} on NKYC-USDT refused: NonKYC does not "
                         f"allow market orders on this market and the local order book has no asks to price the "
                         f"limit order that replaces it.", failures[1].error_message)

    @aioresponses()
    async def test_market_order_where_the_book_gives_no_price_fails_at_once(self, mock_api):
        # Hummingbot values a market order at the best bid of the local book before the connector sees it.
        self.set_book(bids=[], asks=[(67010, 1)], trading_pair=self.open_pair)

        order = await self.place(TradeType.SELL, amount="0.5", trading_pair=self.open_pair)
        await self.wait_for_end(order)

        self.assertEqual([], self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL))
        self.assertTrue(order.is_failure)
        self.assertEqual(f"MARKET SELL order {order.client_order_id} on BTC-USDT refused: the local order book has no "
                         f"price for it (InvalidOperation).",
                         self.order_events[-1].error_message)

    @aioresponses()
    async def test_the_slippage_limit_comes_from_the_environment_and_a_bad_value_fails_the_order(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        os.environ[CONSTANTS.MARKET_ORDER_SLIPPAGE_ENV_VAR] = "0.1"
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    self.exchange_order("Filled", "10", "0.1107", TradeType.SELL))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL,
                    [self.trade("10", "0.1230", "T1", TradeType.SELL)])
        order = await self.place(TradeType.SELL)
        await self.wait_for_end(order)
        os.environ[CONSTANTS.MARKET_ORDER_SLIPPAGE_ENV_VAR] = "2%"
        refused = await self.place(TradeType.SELL)
        await self.wait_for_end(refused)

        self.assertEqual(["0.1107"], [request["price"] for request in
                                      self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL)])
        self.assertTrue(order.is_filled)
        self.assertTrue(refused.is_failure)
        self.assertIn("NONKYC_MARKET_ORDER_SLIPPAGE='2%' is not a fraction between 0 and 1",
                      self.order_events[-1].error_message)

    @aioresponses()
    async def test_rest_filled_before_the_cancel_is_reported_completed(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    self.exchange_order("Partly Filled", "3", "0.1275"))
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, NOT_FOUND, status=400)
        self.answer_lookup(mock_api, self.exchange_order("Filled", "10", "0.1275"))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL,
                    [self.trade("3", "0.1250", "T1"), self.trade("7", "0.1251", "T2")])

        order = await self.place(TradeType.BUY)
        await self.wait_for_end(order)

        self.assertEqual(["BuyOrderCreatedEvent", "OrderFilledEvent", "OrderFilledEvent", "BuyOrderCompletedEvent"],
                         self.event_kinds())
        self.assertEqual(Decimal("10"), order.executed_amount_base)

    @aioresponses()
    async def test_a_cancel_that_keeps_failing_leaves_the_order_tracked_not_failed(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL, self.exchange_order("Active", "0", "0.1275"))
        for _ in CONSTANTS.EMULATED_MARKET_ORDER_CANCEL_DELAYS:
            self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, {"error": {"code": 503, "message": "down"}},
                        status=503)

        order = await self.place(TradeType.BUY)
        await wait_until(lambda: self.logged("ERROR", "could not be cancelled"), what="the cancel to be given up")

        self.assertEqual(len(CONSTANTS.EMULATED_MARKET_ORDER_CANCEL_DELAYS),
                         len(self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL)))
        self.assertTrue(order.is_open)
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual(["BuyOrderCreatedEvent"], self.event_kinds())
        self.assertTrue(self.logged("ERROR", f"The rest of the emulated MARKET BUY order {order.client_order_id} on "
                                             f"NKYC-USDT could not be cancelled; it may rest on the book."))

    @aioresponses()
    async def test_create_timeout_then_order_found_still_cancels_the_rest(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), exception=asyncio.TimeoutError())
        self.answer_lookup(mock_api, self.exchange_order("Active", "0", "0.1275"), reference="HBOT.*")
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, {"success": True})
        self.answer_lookup(mock_api, self.exchange_order("Cancelled", "0", "0.1275"), reference=self.exchange_id)

        order = await self.place(TradeType.BUY)
        await self.wait_for_end(order)

        self.assertEqual([{"id": self.exchange_id}], self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual(["BuyOrderCreatedEvent", "OrderCancelledEvent"], self.event_kinds())
        self.assertTrue(self.logged("WARNING", f"No clear answer creating the BUY MARKET order "
                                               f"{order.client_order_id}"))

    @aioresponses()
    async def test_unconfirmed_create_is_cancelled_by_its_client_id(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), exception=asyncio.TimeoutError())
        for _ in CONSTANTS.AMBIGUOUS_ORDER_LOOKUP_DELAYS:
            self.answer_lookup(mock_api, "down", status=500)
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, {"success": True})
        self.answer_lookup(mock_api, self.exchange_order("Cancelled", "2", "0.1275"))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL, [self.trade("2", "0.1250", "T1")])

        order = await self.place(TradeType.BUY)
        await self.wait_for_end(order)

        self.assertEqual([{"id": order.client_order_id}], self.sent(mock_api, "POST",
                                                                    CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual(["BuyOrderCreatedEvent", "OrderFilledEvent", "OrderCancelledEvent"], self.event_kinds())
        self.assertEqual((self.exchange_id, Decimal("2")), (order.exchange_order_id, order.executed_amount_base))

    @aioresponses()
    async def test_unconfirmed_create_unknown_to_the_cancel_is_left_to_the_status_polling(self, mock_api):
        self.set_book(bids=[(0.1230, 500)], asks=[(0.1250, 500)])
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), exception=asyncio.TimeoutError())
        for _ in range(len(CONSTANTS.AMBIGUOUS_ORDER_LOOKUP_DELAYS) + 1):
            self.answer_lookup(mock_api, "down", status=500)
        self.answer(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL, NOT_FOUND, status=400)

        order = await self.place(TradeType.BUY)
        await wait_until(lambda: self.logged("WARNING", "could not be read"), what="the final look-up to fail")

        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertFalse(order.is_done)
        self.assertEqual([], self.event_kinds())

    # === Markets with market orders ===
    # (Hummingbot values a market order at the mid price of the local book for its minimum notional check.)

    @aioresponses()
    async def test_real_market_order_partly_filled_reports_its_fills_before_the_cancel(self, mock_api):
        self.set_book(bids=[(66990, 1)], asks=[(67010, 1)], trading_pair=self.open_pair)
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    self.exchange_order("Cancelled", "0.2", "67000", TradeType.SELL, "0.5", self.open_pair,
                                        type="market"))
        self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL,
                    [self.trade("0.2", "67000", "T1", TradeType.SELL, self.open_pair)])

        order = await self.place(TradeType.SELL, amount="0.5", trading_pair=self.open_pair)
        await self.wait_for_end(order)

        request = self.sent(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL)[0]
        self.assertEqual("market", request["type"])
        self.assertNotIn("price", request)
        self.assertEqual([], self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual(["SellOrderCreatedEvent", "OrderFilledEvent", "OrderCancelledEvent"], self.event_kinds())
        self.assertEqual(Decimal("0.2"), order.executed_amount_base)

    @aioresponses()
    async def test_real_market_order_still_open_in_the_answer_is_not_cancelled_by_the_connector(self, mock_api):
        self.set_book(bids=[(66990, 1)], asks=[(67010, 1)], trading_pair=self.open_pair)
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    {"id": self.exchange_id, "status": "New", "createdAt": 1640780000000})

        order = await self.place(TradeType.BUY, amount="0.5", trading_pair=self.open_pair)
        await wait_until(lambda: order.is_open and order.exchange_order_id, what="the market order to be open")

        self.assertEqual([], self.sent(mock_api, "POST", CONSTANTS.CANCEL_ORDER_PATH_URL))
        self.assertEqual([BuyOrderCreatedEvent], [type(event) for event in self.order_events])

    @aioresponses()
    async def test_fills_that_do_not_arrive_in_time_are_logged_and_the_order_still_ends(self, mock_api):
        self.set_book(bids=[(66990, 1)], asks=[(67010, 1)], trading_pair=self.open_pair)
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    {"id": self.exchange_id, "status": "Cancelled", "executedQuantity": "0.1",
                     "createdAt": 1640780000000})
        for _ in CONSTANTS.ENDED_ORDER_FILLS_LOOKUP_DELAYS:
            self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL, [])

        order = await self.place(TradeType.BUY, amount="0.5", trading_pair=self.open_pair)
        await self.wait_for_end(order)

        self.assertEqual([BuyOrderCreatedEvent, OrderCancelledEvent],
                         [type(event) for event in self.order_events])
        self.assertTrue(self.logged("WARNING", f"Order {order.client_order_id} (BTC-USDT) ended with 0.1 executed on "
                                               f"NonKYC, 0 of it in fills received so far"))

    @aioresponses()
    async def test_failed_fill_requests_are_logged_and_a_filled_order_waits_for_its_fills(self, mock_api):
        self.set_book(bids=[(66990, 1)], asks=[(67010, 1)], trading_pair=self.open_pair)
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    {"id": self.exchange_id, "status": "Filled", "executedQuantity": "n/a",
                     "createdAt": 1640780000000})
        for _ in CONSTANTS.ENDED_ORDER_FILLS_LOOKUP_DELAYS:
            self.answer(mock_api, "GET", CONSTANTS.ACCOUNT_TRADES_PATH_URL, {"error": {"code": 500, "message": "down"}},
                        status=500)

        order = await self.place(TradeType.BUY, amount="0.5", trading_pair=self.open_pair)
        # Unreadable, the executed quantity is taken as the whole order.
        await wait_until(lambda: self.logged("WARNING", f"Order {order.client_order_id} (BTC-USDT) ended with 0.500000 "
                                                        f"executed"), what="the missing fills to be logged")

        self.assertEqual(len(CONSTANTS.ENDED_ORDER_FILLS_LOOKUP_DELAYS),
                         len(self.logged("WARNING", f"Fetching the fills of order {order.client_order_id} (BTC-USDT) "
                                                    f"failed")))
        # The order tracker completes a filled order only with its fills (the status polling reads them later).
        await wait_until(lambda: self.exchange._order_tracker.is_waiting_for_fills(order.client_order_id),
                         what="the completion to wait for the fills")
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual([BuyOrderCreatedEvent], [type(event) for event in self.order_events])

    @aioresponses()
    async def test_a_rejected_market_order_fails(self, mock_api):
        self.set_book(bids=[(66990, 1)], asks=[(67010, 1)], trading_pair=self.open_pair)
        self.answer(mock_api, "POST", CONSTANTS.CREATE_ORDER_PATH_URL,
                    {"id": self.exchange_id, "status": "Rejected", "createdAt": 1640780000000})

        order = await self.place(TradeType.BUY, amount="0.5", trading_pair=self.open_pair)
        await self.wait_for_end(order)

        self.assertTrue(order.is_failure)
        self.assertEqual([MarketOrderFailureEvent], [type(event) for event in self.order_events])
