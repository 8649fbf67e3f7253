"""
A FILLED order always completes: when NonKYC reports an order filled and its missing fills are beyond what
`/account/trades` lets read (newest first, more than 1 000 newer trades) and no private report brought them, the
connector records one fill built from the order. The builder (pure) and the decision, against NonKYC's answer shapes.
"""
import json
import logging
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import NonkycExchangeTestCase, wait_until
from typing import Any, Dict, List, Optional
from unittest import TestCase

from aioresponses import CallbackResult, aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_utils, nonkyc_web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_order_updates import (
    NonkycOrderUpdates,
    synthesized_fill_id,
    synthesized_fill_price,
)
from hummingbot.core.api_throttler.data_types import RateLimit
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, TradeUpdate
from hummingbot.core.data_type.trade_fee import TokenAmount, TradeFeeBase
from hummingbot.core.event.events import MarketEvent

EXCHANGE_ID = "69a12a99f65594545010e5aa"
FEE_RATE = Decimal("0.002")


def an_order(order_type: OrderType = OrderType.LIMIT, amount: str = "1", price: str = "10000") -> InFlightOrder:
    return InFlightOrder(client_order_id="HBOT1", trading_pair="COINALPHA-HBOT", order_type=order_type,
                         trade_type=TradeType.BUY, amount=Decimal(amount), price=Decimal(price),
                         creation_timestamp=1640780000, exchange_order_id=EXCHANGE_ID, initial_state=OrderState.OPEN)


def synthesized_fill(order: InFlightOrder, executed: Decimal, price: Decimal, fee_rate: Decimal,
                     timestamp: float) -> Optional[TradeUpdate]:
    updates = NonkycOrderUpdates(asset_names=nonkyc_utils.AssetNames(), fee_schema=lambda: nonkyc_utils.DEFAULT_FEES,
                                 logger=lambda: logging.getLogger(__name__))
    return updates.synthesized_fill(order, executed, price, fee_rate, timestamp)


def record_fill(order: InFlightOrder, trade_id: str, quantity: str, price: str = "10000"):
    order.update_with_trade_update(TradeUpdate(
        trade_id=trade_id, client_order_id=order.client_order_id, exchange_order_id=EXCHANGE_ID,
        trading_pair=order.trading_pair, fill_timestamp=1640780001, fill_price=Decimal(price),
        fill_base_amount=Decimal(quantity), fill_quote_amount=Decimal(quantity) * Decimal(price),
        fee=TradeFeeBase.new_spot_fee(fee_schema=nonkyc_utils.DEFAULT_FEES, trade_type=order.trade_type,
                                      flat_fees=[TokenAmount("HBOT", Decimal("0"))])))


class SynthesizedFillBuilderTests(TestCase):

    def test_the_fill_is_what_nonkyc_reports_executed_less_the_fills_recorded_at_the_limit_price(self):
        order = an_order()
        record_fill(order, "t-read", "0.25")
        price, source = synthesized_fill_price(order, {"price": "10000", "executedQuantity": "1"})

        fill = synthesized_fill(order, Decimal("1"), price, FEE_RATE, 1640780050.0)

        self.assertEqual(("its limit price", Decimal("10000")), (source, price))
        self.assertEqual((f"order-fill-{EXCHANGE_ID}-1", Decimal("0.75"), Decimal("10000"), Decimal("7500")),
                         (fill.trade_id, fill.fill_base_amount, fill.fill_price, fill.fill_quote_amount))
        self.assertEqual([TokenAmount("HBOT", Decimal("15.000"))], fill.fee.flat_fees)  # 0.2 % of 7 500, quote asset
        self.assertEqual((order.client_order_id, EXCHANGE_ID, 1640780050.0),
                         (fill.client_order_id, fill.exchange_order_id, fill.fill_timestamp))

    def test_the_trade_id_depends_only_on_the_order_and_the_executed_amount(self):
        half = synthesized_fill_id(EXCHANGE_ID, Decimal("0.5"))
        self.assertEqual(half, synthesized_fill_id(EXCHANGE_ID, Decimal("0.50")))
        self.assertNotEqual(half, synthesized_fill_id(EXCHANGE_ID, Decimal("0.6")))
        first = synthesized_fill(an_order(), Decimal("1"), Decimal("1"), FEE_RATE, 1.0)
        again = synthesized_fill(an_order(), Decimal("1"), Decimal("2"), FEE_RATE, 2.0)
        self.assertEqual(first.trade_id, again.trade_id)

    def test_nothing_is_built_when_no_fill_is_missing(self):
        order = an_order()
        record_fill(order, "t-read", "1")

        self.assertIsNone(synthesized_fill(order, Decimal("1"), Decimal("10000"), FEE_RATE, 1.0))

    def test_the_price_is_nonkycs_average_price_when_it_gives_one_else_the_best_known_for_a_market_order(self):
        limit, market = an_order(), an_order(OrderType.MARKET, price="9990")

        self.assertEqual((Decimal("10001.5"), "the average price NonKYC reports (averagePrice)"),
                         synthesized_fill_price(limit, {"averagePrice": "10001.5", "price": "10000"}))
        self.assertEqual(Decimal("10003"), synthesized_fill_price(market, {"price": "10003"})[0])
        self.assertIn("the price Hummingbot valued this market order at",
                      synthesized_fill_price(market, {"price": "0"})[1])
        self.assertEqual(Decimal("9990"), synthesized_fill_price(market, None)[0])
        self.assertEqual((None, "no price is known"), synthesized_fill_price(an_order(OrderType.MARKET, price="NaN"),
                                                                             {}))


class SynthesizedFillDecisionTests(NonkycExchangeTestCase):
    recorded_events = NonkycExchangeTestCase.recorded_events

    def setUp(self) -> None:
        super().setUp()
        self.exchange._throttler.set_rate_limits([
            RateLimit(limit_id=rate_limit.limit_id, limit=10_000, time_interval=rate_limit.time_interval,
                      linked_limits=rate_limit.linked_limits) for rate_limit in CONSTANTS.RATE_LIMITS])
        self.fills = self.events[MarketEvent.OrderFilled]

    async def track_filled_on_exchange(self, executed: str = "1", created: float = 1640780000) -> InFlightOrder:
        """A resting order that NonKYC now reports Filled: the tracker holds it until its fills are recorded."""
        self.exchange._set_current_timestamp(created)
        self.exchange.start_tracking_order(order_id="HBOT1", exchange_order_id=EXCHANGE_ID,
                                           trading_pair=self.trading_pair, trade_type=TradeType.BUY,
                                           price=Decimal("10000"), amount=Decimal("1"), order_type=OrderType.LIMIT)
        order = self.exchange.in_flight_orders["HBOT1"]
        order.current_state = OrderState.OPEN
        data = {"id": EXCHANGE_ID, "userProvidedId": "HBOT1", "symbol": "COINALPHA/HBOT", "side": "buy",
                "type": "limit", "price": "10000", "quantity": "1", "executedQuantity": executed,
                "status": "Filled", "createdAt": int(created * 1e3), "updatedAt": 1640780090000}
        self.exchange._order_tracker.process_order_update(self.exchange._order_update_from_exchange_order(order, data))
        await wait_until(lambda: self.exchange._order_tracker.is_waiting_for_fills("HBOT1"), what="the held FILLED")
        return order

    def trade(self, trade_id: str, timestamp: int, quantity: str = "0.01", order_id: str = "69a12a99f6559454501ffff0",
              price: str = "10000") -> Dict[str, Any]:
        return {"id": trade_id, "market": {"id": "m", "symbol": "COINALPHA/HBOT"}, "orderid": order_id, "side": "Buy",
                "triggeredBy": "sell", "price": price, "quantity": quantity, "fee": "0.2", "totalWithFee": "100.2",
                "timestamp": timestamp}

    def mock_newest_first_trades(self, mock_api: aioresponses, trades: List[Dict[str, Any]]):
        def answer(url: URL, **kwargs) -> CallbackResult:
            since, skip, limit = int(url.query["since"]), int(url.query.get("skip", 0)), int(url.query["limit"])
            selected = sorted((trade for trade in trades if trade["timestamp"] >= since),
                              key=lambda trade: trade["timestamp"], reverse=True)
            return CallbackResult(body=json.dumps(selected[skip:skip + limit]))

        url = nonkyc_web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL)
        mock_api.get(re.compile("^" + re.escape(url) + r"\?.*"), callback=answer, repeat=True)

    def newer_trades(self, count: int = 1100, first_ms: int = 1640780010000) -> List[Dict[str, Any]]:
        return [self.trade(f"other-{index}", first_ms + index) for index in range(count)]

    def record_account_trade(self, order: InFlightOrder, trade: Dict[str, Any]):
        trade_update = self.exchange._order_updates.trade_update_from_account_trade(order, trade, 1640780060.0)
        self.exchange._reconciliation.process_trade_update(trade_update)

    def fills_recorded(self, order: InFlightOrder) -> List[tuple]:
        return sorted((fill.trade_id, fill.fill_base_amount, fill.fill_price, fill.fee.flat_fees[0].amount)
                      for fill in order.order_fills.values())

    @aioresponses()
    async def test_an_order_filled_behind_the_reach_of_the_trades_read_completes_with_one_fill_built_from_it(
            self, mock_api):
        order = await self.track_filled_on_exchange()
        unreachable = self.trade("t-ours", 1640780005000, quantity="1", order_id=EXCHANGE_ID)
        self.mock_newest_first_trades(mock_api, [unreachable] + self.newer_trades())

        await self.exchange._update_orders_fills([order])

        self.assertEqual([(f"order-fill-{EXCHANGE_ID}-1", Decimal("1"), Decimal("10000"), Decimal("20.000"))],
                         self.fills_recorded(order))
        completions = self.events[MarketEvent.BuyOrderCompleted]
        await wait_until(lambda: completions.event_log, what="the order to complete")
        self.assertEqual(["HBOT1"], [event.order_id for event in completions.event_log])
        self.assertTrue(order.is_filled)
        self.assertTrue(self.logged("WARNING", f"Order HBOT1 (COINALPHA-HBOT, exchange id {EXCHANGE_ID}) is filled "
                                               f"on NonKYC (1 COINALPHA) but 1 of its fills are older than the 1000 "
                                               f"newest account trades"))
        self.assertTrue(self.logged("WARNING", "recording one fill of 1 at 10000 (its limit price) with an estimated "
                                               "fee of 20 HBOT (the market's fee rate, 0.2 %), trade id "
                                               f"order-fill-{EXCHANGE_ID}-1."))

        await self.exchange._update_orders_fills([order])
        self.record_account_trade(order, unreachable)

        self.assertEqual(1, len(self.fills.event_log))  # neither the next read nor the real trade counts it again

    @aioresponses()
    async def test_fills_read_before_the_decision_are_used_and_only_the_rest_is_built(self, mock_api):
        order = await self.track_filled_on_exchange()
        in_reach = self.trade("t-read", 1640780020500, quantity="0.4", order_id=EXCHANGE_ID, price="9999")
        self.mock_newest_first_trades(mock_api, [self.trade("t-lost", 1640780005000, quantity="0.6",
                                                            order_id=EXCHANGE_ID), in_reach] + self.newer_trades())

        await self.exchange._update_orders_fills([order])

        self.assertEqual([(f"order-fill-{EXCHANGE_ID}-1", Decimal("0.6"), Decimal("10000"), Decimal("12.0000")),
                          ("t-read", Decimal("0.4"), Decimal("9999"), Decimal("0.2"))], self.fills_recorded(order))
        await wait_until(lambda: order.is_done, what="the order to complete")

    @aioresponses()
    async def test_an_order_younger_than_the_oldest_trade_read_keeps_waiting_for_its_fills(self, mock_api):
        order = await self.track_filled_on_exchange(created=1640780050)  # after the oldest of the trades read
        self.mock_newest_first_trades(mock_api, self.newer_trades(first_ms=1640780010000))

        await self.exchange._update_orders_fills([order])

        self.assertEqual([], self.fills_recorded(order))
        self.assertFalse(order.is_done)
        self.assertTrue(self.exchange._order_tracker.is_waiting_for_fills("HBOT1"))

    @aioresponses()
    async def test_a_complete_read_never_builds_a_fill(self, mock_api):
        order = await self.track_filled_on_exchange()
        self.mock_newest_first_trades(mock_api, self.newer_trades(count=300))

        await self.exchange._update_orders_fills([order])

        self.assertEqual([], self.fills_recorded(order))
        self.assertFalse(order.is_done)

    async def test_a_late_real_fill_after_a_built_one_is_ignored(self):
        order = await self.track_filled_on_exchange(executed="0.5")
        built = synthesized_fill(order, Decimal("0.5"), Decimal("10000"), FEE_RATE, 1.0)
        self.exchange._reconciliation.process_trade_update(built)
        late: Optional[Dict[str, Any]] = self.trade("t-late", 1640780005000, quantity="0.3", order_id=EXCHANGE_ID)

        self.record_account_trade(order, late)

        self.assertEqual([built.trade_id], list(order.order_fills))
        self.assertTrue(self.logged("WARNING", "Ignoring fill t-late of 0.3 for order HBOT1 (COINALPHA-HBOT): a fill "
                                               "built from the order already stands for"))
