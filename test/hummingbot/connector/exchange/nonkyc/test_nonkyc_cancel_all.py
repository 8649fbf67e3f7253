"""
cancel_all by pair: the plan (which pair and side go by one `/cancelallorders`, which orders one by one) and its
execution against NonKYC answers in their documented shapes (aioresponses).
"""
import asyncio
import json
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeRestTestCase,
    NonkycExchangeTestCase,
)
from typing import Any, Dict, List, Optional
from unittest import TestCase

from aioresponses import CallbackResult, aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_cancel_all import BulkCancel, plan_cancels
from hummingbot.core.api_throttler.data_types import RateLimit
from hummingbot.core.data_type.cancellation_result import CancellationResult
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.event.events import MarketEvent

BTC, ETH = "BTC/USDT", "ETH/USDT"
PAIRS = {BTC: "BTC-USDT", ETH: "ETH-USDT"}


def an_order(client_id: str, symbol: str = BTC, side: TradeType = TradeType.BUY,
             exchange_id: Optional[str] = "default") -> InFlightOrder:
    return InFlightOrder(client_order_id=client_id, trading_pair=PAIRS[symbol], order_type=OrderType.LIMIT,
                         trade_type=side, amount=Decimal("1"), price=Decimal("100"), creation_timestamp=1640780000,
                         exchange_order_id=f"ex-{client_id}" if exchange_id == "default" else exchange_id,
                         initial_state=OrderState.OPEN)


def listed(order_id: str, market_symbol: Optional[str], side: str, user_provided_id: Optional[str] = None,
           **overrides) -> Dict:
    """An active order as `/account/orders?status=active` lists it."""
    entry = {"id": order_id, "userProvidedId": user_provided_id, "market": {"id": "m1", "symbol": market_symbol},
             "symbol": market_symbol, "side": side, "type": "limit", "price": "100", "quantity": "1",
             "executedQuantity": "0", "remainQuantity": "1", "status": "Active", "isActive": True,
             "createdAt": 1640780000000, "updatedAt": 1640780000000}
    entry.update(overrides)
    return entry


def listing_of(*orders: InFlightOrder) -> List[Dict]:
    return [listed(order.exchange_order_id, next(s for s, p in PAIRS.items() if p == order.trading_pair),
                   order.trade_type.name.lower(), order.client_order_id) for order in orders]


def client_ids(orders) -> List[str]:
    return sorted(order.client_order_id for order in orders)


class CancelPlanTests(TestCase):

    def setUp(self):
        self.btc_buys = [an_order(f"B{n}") for n in range(3)]
        self.btc_sells = [an_order(f"S{n}", side=TradeType.SELL) for n in range(2)]
        self.eth = [an_order(f"E{n}", symbol=ETH, side=side) for n, side in enumerate((TradeType.BUY, TradeType.SELL))]
        self.ours = self.btc_buys + self.btc_sells + self.eth

    def test_pairs_where_only_this_bot_has_active_orders_go_by_one_request_for_both_sides(self):
        plan = plan_cancels(self.ours, listing_of(*self.ours), listing_complete=True)

        self.assertEqual([(BTC, "all", client_ids(self.btc_buys + self.btc_sells)), (ETH, "all", ["E0", "E1"])],
                         [(bulk.symbol, bulk.side, client_ids(bulk.orders)) for bulk in plan.bulk])
        self.assertEqual([], plan.one_by_one)

    def test_the_side_where_another_bot_has_an_order_goes_one_by_one_and_the_other_side_by_request(self):
        other_bot = listed("ex-other", BTC, "buy", "HBOT-another-bot-1")

        plan = plan_cancels(self.ours, listing_of(*self.ours) + [other_bot], listing_complete=True)

        self.assertEqual([(BTC, "sell", ["S0", "S1"]), (ETH, "all", ["E0", "E1"])],
                         [(bulk.symbol, bulk.side, client_ids(bulk.orders)) for bulk in plan.bulk])
        self.assertEqual(["B0", "B1", "B2"], client_ids(plan.one_by_one))

    def test_a_pair_with_other_orders_on_both_sides_goes_one_by_one(self):
        others = [listed("ex-o1", BTC, "buy"), listed("ex-o2", BTC, "sell", "placed-by-hand")]

        plan = plan_cancels(self.ours, others + listing_of(*self.ours), listing_complete=True)

        self.assertEqual([(ETH, "all")], [(bulk.symbol, bulk.side) for bulk in plan.bulk])
        self.assertEqual(client_ids(self.btc_buys + self.btc_sells), client_ids(plan.one_by_one))

    def test_another_order_whose_side_is_unreadable_blocks_both_sides_of_its_pair(self):
        plan = plan_cancels(self.ours, listing_of(*self.ours) + [listed("ex-o", BTC, "")], listing_complete=True)

        self.assertEqual([ETH], [bulk.symbol for bulk in plan.bulk])
        self.assertEqual(client_ids(self.btc_buys + self.btc_sells), client_ids(plan.one_by_one))

    def test_everything_goes_one_by_one_when_the_listing_is_incomplete_or_shows_an_order_of_unknown_pair(self):
        for listing, complete in ((listing_of(*self.ours), False),
                                  (listing_of(*self.ours) + [listed("ex-o", None, "buy", market=None)], True),
                                  (listing_of(*self.ours) + ["not an order"], True)):
            plan = plan_cancels(self.ours, listing, listing_complete=complete)

            self.assertEqual([], plan.bulk)
            self.assertEqual(client_ids(self.ours), client_ids(plan.one_by_one))

    def test_tracked_orders_the_listing_does_not_show_go_one_by_one(self):
        finished_meanwhile = an_order("F")
        plan = plan_cancels(self.ours + [finished_meanwhile], listing_of(*self.ours), listing_complete=True)

        self.assertEqual(["F"], client_ids(plan.one_by_one))
        self.assertNotIn("F", plan.listed_exchange_ids)

    def test_a_pending_create_listed_by_its_client_id_goes_with_its_pair_and_gets_its_exchange_id(self):
        pending = an_order("P", exchange_id=None)
        pending.current_state = OrderState.PENDING_CREATE
        listing = listing_of(*self.btc_buys) + [listed("ex-new", BTC, "Buy", "P", symbol=None)]  # `market.symbol`

        plan = plan_cancels(self.btc_buys + [pending], listing, listing_complete=True)

        self.assertEqual([BulkCancel(BTC, "all", tuple(self.btc_buys + [pending]))], plan.bulk)
        self.assertEqual("ex-new", plan.listed_exchange_ids["P"])
        self.assertEqual([], plan.one_by_one)

    def test_orders_are_matched_by_exchange_id_when_the_listing_has_no_client_id(self):
        listing = [listed(order.exchange_order_id, BTC, "buy") for order in self.btc_buys]

        plan = plan_cancels(self.btc_buys, listing, listing_complete=True)

        self.assertEqual([(BTC, "all", ["B0", "B1", "B2"])],
                         [(bulk.symbol, bulk.side, client_ids(bulk.orders)) for bulk in plan.bulk])


class CancelAllExecutionTests(NonkycExchangeTestCase):
    symbol_map = {BTC: "BTC-USDT", ETH: "ETH-USDT"}
    trading_pair = "BTC-USDT"

    def setUp(self) -> None:
        super().setUp()
        self.exchange._throttler.set_rate_limits([
            RateLimit(limit_id=rate_limit.limit_id, limit=10_000, time_interval=rate_limit.time_interval,
                      linked_limits=rate_limit.linked_limits) for rate_limit in CONSTANTS.RATE_LIMITS])
        self.cancelled = self.events[MarketEvent.OrderCancelled]

    def track(self, client_id: str, symbol: str = BTC, side: TradeType = TradeType.BUY) -> InFlightOrder:
        self.exchange.start_tracking_order(
            order_id=client_id, exchange_order_id=f"ex-{client_id}", trading_pair=PAIRS[symbol], trade_type=side,
            price=Decimal("100"), amount=Decimal("1"), order_type=OrderType.LIMIT)
        order = self.exchange.in_flight_orders[client_id]
        order.current_state = OrderState.OPEN
        return order

    @staticmethod
    def url(path: str) -> str:
        return web_utils.private_rest_url(path)

    def mock_listing(self, mock_api: aioresponses, listing: List[Any], **answer):
        mock_api.get(re.compile("^" + re.escape(self.url(CONSTANTS.ACCOUNT_ORDERS_PATH_URL)) + r"\?.*"),
                     body=json.dumps(listing), **answer)

    def bulk_requests(self, mock_api: aioresponses) -> List[Dict[str, Any]]:
        return [json.loads(call.kwargs["data"])
                for call in mock_api.requests.get(("POST", URL(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL))), [])]

    def single_requests(self, mock_api: aioresponses) -> List[str]:
        return sorted(json.loads(call.kwargs["data"])["id"]
                      for call in mock_api.requests.get(("POST", URL(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL))), []))

    @aioresponses()
    async def test_orders_alone_on_their_pairs_are_cancelled_by_one_request_per_pair(self, mock_api):
        orders = [self.track(f"HBOT{n}", symbol, side) for n, (symbol, side) in enumerate(
            [(BTC, TradeType.BUY), (BTC, TradeType.SELL), (ETH, TradeType.BUY), (ETH, TradeType.BUY)])]
        self.mock_listing(mock_api, listing_of(*orders))
        for symbol, cancelled in ((BTC, orders[:2]), (ETH, orders[2:])):
            mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), body=json.dumps(
                {"success": True, "ids": [order.exchange_order_id for order in cancelled]}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual([CancellationResult(order.client_order_id, True) for order in orders], results)
        self.assertEqual([{"symbol": BTC, "side": "all"}, {"symbol": ETH, "side": "all"}],
                         self.bulk_requests(mock_api))
        self.assertEqual([], self.single_requests(mock_api))
        self.assertEqual(sorted(order.client_order_id for order in orders),
                         sorted(event.order_id for event in self.cancelled.event_log))
        self.assertEqual({}, self.exchange.in_flight_orders)
        self.assertTrue(self.logged("INFO", "cancel_all: 4 of 4 orders cancelled on NonKYC"))

    @aioresponses()
    async def test_the_side_shared_with_another_bot_is_cancelled_one_by_one_and_its_order_is_left_alone(self, mock_api):
        buys = [self.track(f"HBOT-B{n}") for n in range(2)]
        sells = [self.track(f"HBOT-S{n}", side=TradeType.SELL) for n in range(2)]
        self.mock_listing(mock_api, listing_of(*buys, *sells) + [listed("ex-other", BTC, "buy", "OTHER-BOT-1")])
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), body=json.dumps(
            {"success": True, "ids": [order.exchange_order_id for order in sells]}))
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps({"success": True}), repeat=True)

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertTrue(all(result.success for result in results))
        self.assertEqual(4, len(results))
        self.assertEqual([{"symbol": BTC, "side": "sell"}], self.bulk_requests(mock_api))
        self.assertEqual(["ex-HBOT-B0", "ex-HBOT-B1"], self.single_requests(mock_api))
        self.assertTrue(all(order.is_cancelled for order in buys + sells))

    @aioresponses()
    async def test_an_answer_without_ids_or_a_failed_bulk_cancel_falls_back_to_one_by_one(self, mock_api):
        orders = [self.track("HBOT1"), self.track("HBOT2", ETH)]
        self.mock_listing(mock_api, listing_of(*orders))
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), body=json.dumps({"success": True}))
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), status=503,
                      body=json.dumps({"error": {"code": 503, "message": "Service Unavailable"}}))
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps({"success": True}), repeat=True)

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual({"HBOT1", "HBOT2"}, {result.order_id for result in results if result.success})
        self.assertEqual(["ex-HBOT1", "ex-HBOT2"], self.single_requests(mock_api))
        self.assertTrue(self.logged("WARNING", "Unexpected answer cancelling the 1 orders on BTC/USDT (side all) with "
                                               "/cancelallorders"))
        self.assertTrue(self.logged("WARNING", "Cancelling the 1 orders on ETH/USDT (side all) with /cancelallorders "
                                               "failed; cancelling them one by one"))

    @aioresponses()
    async def test_unconfirmed_orders_stay_tracked_and_are_logged_with_what_is_known(self, mock_api):
        confirmed, refused = self.track("HBOT1", ETH), self.track("HBOT2")
        not_in_answer = self.track("HBOT3", ETH)
        self.mock_listing(mock_api, listing_of(confirmed, not_in_answer)
                          + [listed(refused.exchange_order_id, BTC, "buy", "HBOT2"), listed("ex-x", BTC, "buy")])
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL),
                      body=json.dumps({"success": True, "ids": [confirmed.exchange_order_id]}))
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), status=500,
                      body=json.dumps({"error": {"code": 500, "message": "Internal Server Error"}}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual([CancellationResult("HBOT1", True), CancellationResult("HBOT2", False),
                          CancellationResult("HBOT3", False)], results)
        self.assertEqual({"HBOT2", "HBOT3"}, set(self.exchange.in_flight_orders))
        warning = self.logged("WARNING", "cancel_all could not confirm the cancellation of 2 order(s); they stay "
                                         "tracked")[0].getMessage()
        self.assertIn("HBOT2 (BUY 1 BTC-USDT at 100, exchange id ex-HBOT2, state OPEN: its /cancelorder got no "
                      "confirmation", warning)
        self.assertIn("HBOT3 (BUY 1 ETH-USDT at 100, exchange id ex-HBOT3, state OPEN: listed active, but not among "
                      "the orders /cancelallorders cancelled", warning)

    @aioresponses()
    async def test_orders_of_another_bot_cancelled_in_the_window_after_the_listing_are_logged(self, mock_api):
        order = self.track("HBOT1")
        self.mock_listing(mock_api, listing_of(order))
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL),
                      body=json.dumps({"success": True, "ids": [order.exchange_order_id, "ex-placed-meanwhile"]}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual([CancellationResult("HBOT1", True)], results)
        self.assertTrue(self.logged("WARNING", "/cancelallorders on BTC/USDT (side all) also cancelled 1 order(s) "
                                               "this bot does not track, placed on the same API key after the "
                                               "listing it relied on: ex-placed-meanwhile."))

    @aioresponses()
    async def test_a_listing_older_than_the_limit_is_taken_again_before_its_bulk_cancel(self, mock_api):
        order = self.track("HBOT1")
        times = [0.0, 0.0]  # the start and the first listing; then the first bulk cancel finds the listing too old
        self.exchange._cancel_all._clock = lambda: times.pop(0) if times else CONSTANTS.CANCEL_ALL_LISTING_MAX_AGE + 1
        self.mock_listing(mock_api, listing_of(order))
        self.mock_listing(mock_api, listing_of(order))
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL),
                      body=json.dumps({"success": True, "ids": [order.exchange_order_id]}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual([CancellationResult("HBOT1", True)], results)
        listings = [call for (method, url), calls in mock_api.requests.items() for call in calls
                    if url.path.endswith(CONSTANTS.ACCOUNT_ORDERS_PATH_URL)]
        self.assertEqual(2, len(listings))
        self.assertEqual(1, len(self.bulk_requests(mock_api)))

    @aioresponses()
    async def test_requests_of_the_polls_wait_while_a_cancel_all_runs(self, mock_api):
        order = self.track("HBOT1")
        sent: List[str] = []
        cancel_answered = asyncio.Event()
        release_cancel = asyncio.Event()

        async def answer_cancel(url, **kwargs):
            sent.append("/cancelallorders")
            cancel_answered.set()
            await release_cancel.wait()
            return CallbackResult(body=json.dumps({"success": True, "ids": [order.exchange_order_id]}))

        def answer_balances(url, **kwargs):
            sent.append("/balances")
            return CallbackResult(body=json.dumps([]))

        self.mock_listing(mock_api, listing_of(order))
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), callback=answer_cancel)
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL), callback=answer_balances)

        cancel_all = asyncio.create_task(self.exchange.cancel_all(timeout_seconds=5))
        await asyncio.wait_for(cancel_answered.wait(), 5)
        balances = asyncio.create_task(self.exchange._update_balances())
        await asyncio.sleep(0.05)
        self.assertFalse(balances.done())
        release_cancel.set()
        results = await cancel_all
        await asyncio.wait_for(balances, 5)

        self.assertEqual(["/cancelallorders", "/balances"], sent)
        self.assertEqual([CancellationResult("HBOT1", True)], results)

    @aioresponses()
    async def test_the_timeout_returns_what_was_confirmed_and_logs_the_rest(self, mock_api):
        fast, slow = self.track("HBOT1", ETH), self.track("HBOT2")
        self.mock_listing(mock_api, listing_of(fast) + listing_of(slow) + [listed("ex-x", BTC, "buy")])
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL),
                      body=json.dumps({"success": True, "ids": [fast.exchange_order_id]}))

        async def never_answered(url, **kwargs):
            await asyncio.sleep(10)

        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), callback=never_answered)

        results = await self.exchange.cancel_all(timeout_seconds=0.3)

        self.assertEqual([CancellationResult("HBOT1", True), CancellationResult("HBOT2", False)], results)
        self.assertIn("HBOT2", self.exchange.in_flight_orders)
        self.assertTrue(self.logged("WARNING", "state OPEN: no answer within the 0.3 s of cancel_all"))
        self.assertFalse(self.exchange._cancel_all.cancels_first.running)


class CancelAllOfTrackedOrdersTests(NonkycExchangeRestTestCase):

    @aioresponses()
    async def test_cancel_all_cancels_only_the_orders_this_connector_tracks(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        second = self.track("HBOT2", "69a12a99f65594545010e502", trading_pair=self.other_pair)
        cancel_url = self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)
        mock_api.post(cancel_url, body=json.dumps({"success": True}), repeat=True)
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), body=json.dumps({"success": True, "ids": []}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual({first.client_order_id, second.client_order_id},
                         {result.order_id for result in results if result.success})
        sent_ids = {json.loads(call.kwargs["data"])["id"] for call in mock_api.requests[("POST", URL(cancel_url))]}
        self.assertEqual({"69a12a99f65594545010e501", "69a12a99f65594545010e502"}, sent_ids)
        self.assertNotIn(("POST", URL(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL))), mock_api.requests)
