"""
Order placement by the exchange (nonkyc_order_placement.py) against NonKYC answers in their real shapes
(aioresponses): the create payload, the LIMIT_MAKER guard, create answers, ambiguous creates and cancel answers.
Emulated market orders are in test_nonkyc_market_orders.py.
"""
import asyncio
import json
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeRestTestCase,
    NonkycExchangeShapes,
    wait_until,
)
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState


class NonkycOrderPlacementTests(NonkycExchangeRestTestCase):

    # --- Create payload, LIMIT_MAKER guard and create answers ---

    def order_state(self, order_id: str) -> Optional[OrderState]:
        order = self.exchange._order_tracker.all_orders.get(order_id)
        return order.current_state if order is not None else None

    async def place_and_wait(self, mock_api: aioresponses, order_type: OrderType, price: Decimal,
                             trade_type: TradeType = TradeType.BUY, amount: Decimal = Decimal("1"),
                             trading_pair: Optional[str] = None) -> str:
        """Places an order (the exchange accepts it as New) and waits until it is open or failed."""
        body = {"id": NonkycExchangeShapes.exchange_order_id, "status": "New", "createdAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(body))
        place = self.exchange.buy if trade_type is TradeType.BUY else self.exchange.sell
        order_id = place(trading_pair or self.trading_pair, amount, order_type, price)
        await wait_until(lambda: self.order_state(order_id) in (OrderState.OPEN, OrderState.FAILED),
                         what=lambda: f"order {order_id} to be open or failed (state {self.order_state(order_id)})")
        return order_id

    def create_requests(self, mock_api: aioresponses) -> List[Dict[str, Any]]:
        calls = mock_api.requests.get(("POST", URL(self.url(CONSTANTS.CREATE_ORDER_PATH_URL))), [])
        return [json.loads(call.kwargs["data"]) for call in calls]

    @aioresponses()
    async def test_client_order_id_is_the_user_provided_id_of_at_most_32_characters(self, mock_api):
        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT, Decimal("9000.123456"))

        request = self.create_requests(mock_api)[0]
        self.assertEqual(order_id, request["userProvidedId"])
        self.assertTrue(order_id.startswith(CONSTANTS.HBOT_ORDER_ID_PREFIX))
        self.assertLessEqual(len(order_id), 32)
        self.assertEqual("9000.1234", request["price"])
        self.assertEqual("1.000000", request["quantity"])
        order = self.exchange.in_flight_orders[order_id]
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)

    @aioresponses()
    async def test_limit_maker_is_placed_as_limit_when_it_would_rest(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[(10010, 1)])

        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10009.99"))

        request = self.create_requests(mock_api)[0]
        self.assertEqual(("limit", "10009.9900"), (request["type"], request["price"]))
        self.assertTrue(self.exchange.in_flight_orders[order_id].is_open)

    @aioresponses()
    async def test_limit_maker_is_placed_when_the_opposite_side_of_the_book_is_empty(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[])

        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("20000"))

        self.assertEqual("20000.0000", self.create_requests(mock_api)[0]["price"])
        self.assertTrue(self.exchange.in_flight_orders[order_id].is_open)

    @aioresponses()
    async def test_limit_maker_that_would_take_liquidity_fails_without_reaching_the_exchange(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[(10010, 1)])

        buy_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10010"))
        sell_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("9990"), TradeType.SELL)

        self.assertEqual([], self.create_requests(mock_api))
        self.assertEqual([buy_id, sell_id], [event.order_id for event in self.failures.event_log])
        self.assertTrue(self.logged("INFO", "LIMIT_MAKER BUY order on COINALPHA-HBOT at 10010.0000 refused: it would "
                                            "take liquidity (best ask is 10010.0)"))
        self.assertTrue(self.logged("INFO", "LIMIT_MAKER SELL order on COINALPHA-HBOT at 9990.0000 refused"))

    @aioresponses()
    async def test_limit_maker_without_a_local_book_fails_with_a_clear_message(self, mock_api):
        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10000"))

        self.assertEqual([], self.create_requests(mock_api))
        self.assertEqual(order_id, self.failures.event_log[0].order_id)
        self.assertTrue(self.logged("INFO", "there is no local order book to check that it would not take liquidity"))

    @aioresponses()
    async def test_place_order_returns_the_exchange_id_and_the_creation_time(self, mock_api):
        body = {"id": NonkycExchangeShapes.exchange_order_id, "status": "New", "createdAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(body))

        result = await self.exchange._place_order("HBOT1", self.trading_pair, Decimal("1"), TradeType.SELL,
                                                  OrderType.LIMIT, Decimal("10000"))

        self.assertEqual((NonkycExchangeShapes.exchange_order_id, 1640780000.0), result)
        self.assertEqual("sell", self.create_requests(mock_api)[0]["side"])

    @aioresponses()
    async def test_a_create_answer_without_an_order_id_fails_the_order_without_a_look_up(self, mock_api):
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps({"status": "ok"}))

        order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.LIMIT, Decimal("10000"))
        await wait_until(lambda: self.failures.event_log, what="the order to fail")

        self.assertEqual(order_id, self.failures.event_log[0].order_id)
        self.assertIn(f"Unexpected answer creating order {order_id} on {self.trading_pair}: {{'status': 'ok'}}",
                      self.failures.event_log[0].error_message)
        self.assertFalse([key for key in mock_api.requests if key[0] == "GET"])

    # --- Ambiguous placement ---

    async def place_with_ambiguous_create(self, mock_api: aioresponses, create_kwargs: Dict[str, Any],
                                          lookup_answers: List[Tuple[int, Any]]) -> InFlightOrder:
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), **create_kwargs)
        for status, payload in lookup_answers:
            self.configure_lookup(mock_api, "HBOT.*", payload, status=status)
        order_id = self.exchange.buy(self.trading_pair, Decimal("2"), OrderType.LIMIT, Decimal("10000"))
        await wait_until(lambda: self.create_settled(order_id), what=f"the ambiguous create of {order_id} to settle")
        return self.exchange._order_tracker.all_orders[order_id]

    def create_settled(self, order_id: str) -> bool:
        """The order left PENDING_CREATE, or the connector gave up confirming it and left it to the status polling."""
        state = self.order_state(order_id)
        gave_up = any(order_id in record.getMessage() for record in self.logged("WARNING", "could not be confirmed"))
        return state is not None and (state is not OrderState.PENDING_CREATE or gave_up)

    @aioresponses()
    async def test_create_timeout_then_order_found_adopts_exchange_id_and_state(self, mock_api):
        not_found = {"error": {"code": 20002, "message": "Order not found"}}
        order = await self.place_with_ambiguous_create(
            mock_api, {"exception": asyncio.TimeoutError()},
            [(404, not_found), (200, self.found_order("Partly Filled", executed="0.5"))])

        self.assertEqual(OrderState.PARTIALLY_FILLED, order.current_state)
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual([], self.failures.event_log)
        lookups = [key for key in mock_api.requests if key[0] == "GET" and "/getorder/" in str(key[1])]
        self.assertEqual(f"/api/v2/getorder/{order.client_order_id}", lookups[0][1].path)
        self.assertTrue(self.logged("WARNING", f"No clear answer creating the BUY LIMIT order {order.client_order_id}"))

    @aioresponses()
    async def test_create_answered_503_or_cloudflare_page_or_network_error_is_looked_up_not_failed(self, mock_api):
        ambiguous_answers = [
            {"status": 503, "body": json.dumps({"error": {"code": 503, "message": "Service unavailable"}})},
            {"status": 522, "body": "<html><head><title>522: Connection timed out</title></head></html>",
             "content_type": "text/html"},
            {"exception": aiohttp.ClientConnectionError("Connection reset by peer")},
            {"status": 200, "body": json.dumps({"error": {"code": 504, "message": "Gateway timeout"}})},
        ]
        for create_kwargs in ambiguous_answers:
            order = await self.place_with_ambiguous_create(mock_api, create_kwargs, [(200, self.found_order("Active"))])

            self.assertEqual(OrderState.OPEN, order.current_state, create_kwargs)
            self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual([], self.failures.event_log)

    @aioresponses()
    async def test_create_ambiguous_then_exchange_answers_order_not_found_fails_the_order(self, mock_api):
        not_found = {"error": {"code": 20002, "message": "Order not found"}}
        order = await self.place_with_ambiguous_create(
            mock_api, {"status": 502, "body": "Bad gateway"}, [(404, not_found)] * 3)

        self.assertTrue(order.is_failure)
        self.assertEqual(order.client_order_id, self.failures.event_log[0].order_id)
        self.assertTrue(self.logged("NETWORK", f"Error submitting buy LIMIT order to Nonkyc for 2.000000 "
                                               f"{self.trading_pair} 10000.0000."))

    @aioresponses()
    async def test_create_ambiguous_and_lookups_fail_keeps_the_order_pending_for_status_polling(self, mock_api):
        order = await self.place_with_ambiguous_create(
            mock_api, {"exception": asyncio.TimeoutError()}, [(500, "down")] * 3)

        self.assertEqual(OrderState.PENDING_CREATE, order.current_state)
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual([], self.failures.event_log)
        self.assertTrue(self.logged("WARNING", "could not be confirmed after an ambiguous create answer"))

        self.configure_lookup(mock_api, re.escape(order.client_order_id), self.found_order("Active"))
        self.configure_active_orders(mock_api, [])
        await self.exchange._update_orders()
        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the status poll to open the order")
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)

    @aioresponses()
    async def test_create_rejected_by_a_clear_exchange_error_fails_immediately(self, mock_api):
        body = {"error": {"code": 20001, "message": "Insufficient funds"}}
        order = await self.place_with_ambiguous_create(mock_api, {"status": 400, "body": json.dumps(body)}, [])

        self.assertTrue(order.is_failure)
        self.assertTrue(self.logged("INFO", "'error_message': 'Error executing request POST"))
        self.assertTrue(self.logged("INFO", "Insufficient funds"))
        lookups = [key for key in mock_api.requests if key[0] == "GET"]
        self.assertEqual([], lookups)

    # --- Cancel ---

    @aioresponses()
    async def test_cancel_uses_the_exchange_id_and_accepts_the_cancelled_order_object(self, mock_api):
        order = self.track()
        cancelled = {**self.found_order("Cancelled"), "userProvidedId": order.client_order_id}
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps(cancelled))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertEqual(order.client_order_id, result)
        call = mock_api.requests[("POST", URL(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)))][0]
        self.assertEqual({"id": NonkycExchangeShapes.exchange_order_id}, json.loads(call.kwargs["data"]))
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")

    @aioresponses()
    async def test_cancel_uses_the_client_id_when_the_exchange_id_is_unknown(self, mock_api):
        order = self.track(exchange_id=None)
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps({"success": True}))

        await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        call = mock_api.requests[("POST", URL(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)))][0]
        self.assertEqual({"id": order.client_order_id}, json.loads(call.kwargs["data"]))
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")

    @aioresponses()
    async def test_cancel_answered_http_200_with_error_body_is_a_failure_and_20002_is_not_found(self, mock_api):
        order = self.track()
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL),
                      body=json.dumps({"error": {"code": 20002, "message": "Active order not found for cancellation"}}))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertIsNone(result)
        self.assertFalse(order.is_cancelled)
        self.assertEqual(1, self.exchange._order_tracker._order_not_found_records[order.client_order_id])
        self.assertTrue(self.logged("WARNING", f"Failed to cancel order {order.client_order_id} (order not found)"))

    @aioresponses()
    async def test_cancel_with_unexpected_answer_is_not_reported_as_cancelled(self, mock_api):
        order = self.track()
        unexpected_answers = [{"success": False}, [], {}, {**self.found_order("Filled"), "id": order.exchange_order_id}]
        for answer in unexpected_answers:
            mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps(answer))

            result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

            self.assertIsNone(result, answer)
            self.assertTrue(order.is_open, answer)
        warnings = self.logged("WARNING", f"Unexpected answer cancelling order {order.client_order_id}")
        self.assertEqual(len(unexpected_answers), len(warnings))

    @aioresponses()
    async def test_cancel_answer_status_is_read_like_every_other_status(self, mock_api):
        order = self.track()
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL),
                      body=json.dumps({"id": order.exchange_order_id, "status": " CANCELED "}))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertEqual(order.client_order_id, result)
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")
