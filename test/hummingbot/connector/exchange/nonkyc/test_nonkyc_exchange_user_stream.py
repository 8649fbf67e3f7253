import asyncio
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    url_regex,
    wait_until,
)
from typing import Any, Dict, List, Optional
from unittest.mock import AsyncMock

from aioresponses import aioresponses

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.event.events import MarketEvent


class NonkycExchangeUserStreamTests(NonkycExchangeTestCase):
    """The exchange's handling of private stream events (issue: private stream reconciliation)."""

    trading_pair = "COINALPHA-HBOT"
    exchange_symbol = "COINALPHA/HBOT"

    def setUp(self) -> None:
        super().setUp()
        self.exchange._trading_rules = {self.trading_pair: TradingRule(
            self.trading_pair, min_order_size=Decimal("0.01"), min_price_increment=Decimal("0.0001"),
            min_base_amount_increment=Decimal("0.000001"))}

    def track(self, client_id: str, exchange_id: Optional[str], amount: str = "1",
              state: OrderState = OrderState.OPEN) -> InFlightOrder:
        self.exchange.start_tracking_order(
            order_id=client_id, exchange_order_id=exchange_id, trading_pair=self.trading_pair,
            trade_type=TradeType.BUY, price=Decimal("10000"), amount=Decimal(amount), order_type=OrderType.LIMIT)
        order = self.exchange.in_flight_orders[client_id]
        order.current_state = state
        return order

    async def feed(self, *messages: Any):
        """Runs the listener over `messages`. Order state changes are applied in tasks: wait for them."""
        queue = AsyncMock()
        queue.get.side_effect = list(messages) + [asyncio.CancelledError()]
        self.exchange._user_stream_tracker._user_stream = queue
        with self.assertRaises(asyncio.CancelledError):
            await self.exchange._user_stream_event_listener()

    async def wait_for_state(self, order: InFlightOrder, state: OrderState):
        await wait_until(lambda: order.current_state is state,
                         what=lambda: f"order {order.client_order_id} to be {state.name} (it is "
                                      f"{order.current_state.name})")

    def report(self, order: InFlightOrder, status: str, report_type: str, **fields) -> Dict[str, Any]:
        params = NonkycExchangeShapes.order(order, status, exchange_symbol=self.exchange_symbol)
        params["reportType"] = report_type
        params.update(fields)
        return {"jsonrpc": "2.0", "method": "report", "params": params}

    def trade_report(self, order: InFlightOrder, status: str, trade_id: str, quantity: str, executed: str,
                     fee: str = "2") -> Dict[str, Any]:
        return self.report(order, status, "trade", tradeId=trade_id, tradeQuantity=quantity, tradePrice="10000",
                           tradeFee=fee, executedQuantity=executed)

    def fills(self) -> List[Any]:
        return self.events[MarketEvent.OrderFilled].event_log

    # --- Reports ---

    async def test_reports_new_partially_filled_filled(self):
        order = self.track("HBOT1", None, state=OrderState.PENDING_CREATE)
        order.exchange_order_id = None

        await self.feed(
            {**self.report(order, "New", "new"), "params": {**self.report(order, "New", "new")["params"],
                                                            "id": NonkycExchangeShapes.exchange_order_id}},
            self.trade_report(order, "Partly Filled", "t1", quantity="0.4", executed="0.4"),
        )

        await self.wait_for_state(order, OrderState.PARTIALLY_FILLED)
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual(1, len(self.events[MarketEvent.BuyOrderCreated].event_log))

        await self.feed(self.trade_report(order, "Filled", "t2", quantity="0.6", executed="1"))

        await self.wait_for_state(order, OrderState.FILLED)
        self.assertEqual([Decimal("0.4"), Decimal("0.6")], [fill.amount for fill in self.fills()])
        self.assertEqual(Decimal("1"), order.executed_amount_base)
        self.assertEqual(1, len(self.events[MarketEvent.BuyOrderCompleted].event_log))

    async def test_trade_report_fill_size_is_trade_quantity_not_the_cumulative_executed_quantity(self):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id, amount="3")

        await self.feed(self.trade_report(order, "Partly Filled", "t1", quantity="1", executed="1"),
                        self.trade_report(order, "Partly Filled", "t2", quantity="0.5", executed="1.5"))

        self.assertEqual([Decimal("1"), Decimal("0.5")], [fill.amount for fill in self.fills()])
        self.assertEqual(Decimal("1.5"), order.executed_amount_base)
        self.assertEqual("HBOT", self.fills()[0].trade_fee.flat_fees[0].token)
        self.assertEqual(Decimal("2"), self.fills()[0].trade_fee.flat_fees[0].amount)

    async def test_cancelled_report(self):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)

        await self.feed(self.report(order, "Cancelled", "canceled"))

        await self.wait_for_state(order, OrderState.CANCELED)
        self.assertEqual("HBOT1", self.events[MarketEvent.OrderCancelled].event_log[0].order_id)

    async def test_trade_report_with_alternate_fee_asset(self):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)
        report = self.trade_report(order, "Partly Filled", "t1", quantity="0.1", executed="0.1")
        report["params"].update({"alternateFeeAsset": "NKYC", "alternateFee": "0.75"})

        await self.feed(report)

        self.assertEqual(("NKYC", Decimal("0.75")), (self.fills()[0].trade_fee.flat_fees[0].token,
                                                     self.fills()[0].trade_fee.flat_fees[0].amount))

    async def test_report_for_an_untracked_order_is_ignored(self):
        tracked = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)
        stranger = InFlightOrder("someone-else", self.trading_pair, OrderType.LIMIT, TradeType.BUY, Decimal("1"),
                                 1640780000, Decimal("9000"), "69a12a99f65594545010ffff")

        await self.feed(self.trade_report(stranger, "Filled", "t9", quantity="1", executed="1"))

        self.assertEqual([], self.fills())
        self.assertTrue(tracked.is_open)
        self.assertEqual(Decimal(0), tracked.executed_amount_base)
        self.assertTrue(self.logged("DEBUG", "Ignoring a NonKYC report for an order this bot does not track"))

    async def test_fill_that_arrives_before_the_creation_response_is_not_lost(self):
        request_sent = asyncio.Event()
        release_create = asyncio.Event()

        async def slow_create(url, **kwargs):
            request_sent.set()
            await release_create.wait()

        with aioresponses() as mock_api:
            body = {"id": NonkycExchangeShapes.exchange_order_id, "status": "Active", "createdAt": 1640780000000}
            mock_api.post(web_utils.private_rest_url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(body),
                          callback=slow_create)
            order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.LIMIT, Decimal("10000"))
            await wait_until(request_sent.is_set, what="the create request to be sent")
            order = self.exchange.in_flight_orders[order_id]
            fill_report = self.trade_report(order, "Partly Filled", "t1", quantity="0.25", executed="0.25")
            fill_report["params"]["id"] = NonkycExchangeShapes.exchange_order_id

            await self.feed(fill_report)
            self.assertEqual(Decimal("0.25"), order.executed_amount_base)

            release_create.set()
            await self.wait_for_state(order, OrderState.PARTIALLY_FILLED)

        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual(["t1"], [fill.exchange_trade_id for fill in self.fills()])

    @aioresponses()
    async def test_the_same_fill_via_ws_and_rest_is_counted_once(self, mock_api):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)
        await self.feed(self.trade_report(order, "Partly Filled", NonkycExchangeShapes.trade_id, quantity="0.5",
                                          executed="0.5"))
        trade = NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("2"),
                                                   exchange_symbol=self.exchange_symbol)
        mock_api.get(url_regex(web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True),
                     body=json.dumps([trade]))

        await self.exchange._update_orders_fills([order])

        self.assertEqual(1, len(self.fills()))
        self.assertEqual(Decimal("0.5"), order.executed_amount_base)

    # --- activeOrders reconciliation ---

    @aioresponses()
    async def test_active_orders_reconciliation(self, mock_api):
        listed = self.track("HBOT1", None, state=OrderState.PENDING_CREATE)
        gone = self.track("HBOT2", "69a12a99f65594545010e502")
        pending_create = self.track("HBOT3", None, state=OrderState.PENDING_CREATE)
        listed_data = NonkycExchangeShapes.order(listed, "Active", exchange_symbol=self.exchange_symbol,
                                                 id="69a12a99f65594545010e501")
        untracked_data = {**listed_data, "id": "69a12a99f65594545010e5ff", "userProvidedId": "manual-order"}
        gone_trade = NonkycExchangeShapes.account_trade(gone, Decimal("1"), Decimal("10000"), Decimal("2"),
                                                        trade_id="t-gone", exchange_symbol=self.exchange_symbol)
        mock_api.get(url_regex(web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True),
                     body=json.dumps([gone_trade]))
        mock_api.get(url_regex(web_utils.private_rest_url("/getorder/69a12a99f65594545010e502")),
                     body=json.dumps(NonkycExchangeShapes.order(gone, "Filled", executed=Decimal("1"),
                                                                exchange_symbol=self.exchange_symbol)))
        active_orders = {"jsonrpc": "2.0", "method": "activeOrders", "result": [listed_data, untracked_data], "id": 3}

        await self.feed(active_orders, active_orders)

        await self.wait_for_state(listed, OrderState.OPEN)
        await self.wait_for_state(gone, OrderState.FILLED)
        self.assertEqual("69a12a99f65594545010e501", listed.exchange_order_id)
        self.assertEqual(["t-gone"], [fill.exchange_trade_id for fill in self.fills()])
        self.assertEqual(OrderState.PENDING_CREATE, pending_create.current_state)
        self.assertEqual(1, len(self.logged("INFO", "NonKYC reports 1 active order(s) this bot does not track")))
        status_requests = [key for key in mock_api.requests if "/getorder/" in str(key[1])]
        self.assertEqual(1, len(status_requests))

    @aioresponses()
    async def test_listed_order_filled_while_the_stream_was_down_gets_its_fills_at_once(self, mock_api):
        order = self.track("HBOT1", "69a12a99f65594545010e501", amount="1")
        listed = NonkycExchangeShapes.order(order, "Partly Filled", executed=Decimal("0.3"),
                                            exchange_symbol=self.exchange_symbol)
        trade = NonkycExchangeShapes.account_trade(order, Decimal("0.3"), Decimal("10000"), Decimal("6"),
                                                   trade_id="t-meanwhile", exchange_symbol=self.exchange_symbol)
        mock_api.get(url_regex(web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True),
                     body=json.dumps([trade]))

        await self.feed({"jsonrpc": "2.0", "method": "activeOrders", "result": [listed], "id": 3})

        await self.wait_for_state(order, OrderState.PARTIALLY_FILLED)
        self.assertEqual(["t-meanwhile"], [fill.exchange_trade_id for fill in self.fills()])
        self.assertEqual(Decimal("0.3"), order.executed_amount_base)

    # --- Balances ---

    async def test_current_balances_and_balance_update(self):
        current_balances = {
            "jsonrpc": "2.0", "method": "currentBalances", "timestamp": 1772170422567,
            "portfolioData": {"totalUsdValue": "5.82", "totalBtcValue": "0.00008593"},
            "result": [{"assetId": "6982a6966fe9953e2576d260", "ticker": "USDT", "available": "5.82701928",
                        "held": "1.00000000", "changePercent": 0},
                       {"assetId": "6982a6966fe9953e2576d261", "ticker": "SAL", "available": "100", "held": "0"}]}
        balance_update = {"jsonrpc": "2.0", "method": "balanceUpdate",
                          "params": {"ticker": "USDT", "available": "4.5", "held": "2.32701928"}}

        await self.feed(current_balances, balance_update)

        self.assertEqual(Decimal("4.5"), self.exchange.available_balances["USDT"])
        self.assertEqual(Decimal("6.82701928"), self.exchange.get_balance("USDT"))
        self.assertEqual(Decimal("100"), self.exchange.get_balance("SAL"))
        self.assertTrue(self.exchange.real_time_balance_update)

    # --- Malformed events ---

    async def test_malformed_events_are_logged_with_context_and_the_listener_keeps_going(self):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)
        bad_trade = self.trade_report(order, "Partly Filled", "t1", quantity="not-a-number", executed="0.1")

        await self.feed(
            {"jsonrpc": "2.0", "method": "report"},
            bad_trade,
            {"jsonrpc": "2.0", "method": "activeOrders", "result": {"not": "a list"}, "id": 3},
            {"jsonrpc": "2.0", "method": "balanceUpdate", "params": {"ticker": "USDT"}},
            {"jsonrpc": "2.0", "method": "somethingNew", "params": {}},
            self.report(order, "Cancelled", "canceled"),
        )

        await self.wait_for_state(order, OrderState.CANCELED)
        self.assertEqual(3, len(self.logged("ERROR", "Error processing the NonKYC user stream event")))
        self.assertTrue(self.logged("WARNING", "Skipping malformed NonKYC balance entry in balanceUpdate"))
        self.assertTrue(self.logged("DEBUG", "Ignoring NonKYC user stream message with method 'somethingNew'"))
        self.assertFalse(self.logged("ERROR", "Unexpected error in user stream listener loop."))

    def test_order_status_pattern_is_checked_case_insensitively(self):
        order = self.track("HBOT1", NonkycExchangeShapes.exchange_order_id)
        order_updates = self.exchange._order_updates
        self.assertEqual(OrderState.FILLED, order_updates.order_state("FILLED", order))
        self.assertEqual(OrderState.PARTIALLY_FILLED, order_updates.order_state(" Partly Filled ", order))
