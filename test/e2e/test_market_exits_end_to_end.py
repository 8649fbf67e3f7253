"""
Market orders end to end on the sandbox: on NKYC/USDT (`allowMarketOrders: false`) a MARKET order is sent as a
crossing limit order whose rest is cancelled at once; on BTC/USDT it stays a real market order. The real connector,
a real Clock and real sockets.
"""
from decimal import Decimal
from test.e2e.e2e_support import MAKER, PAIR, SYMBOL, USER, EndToEndTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import List

from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import InFlightOrder
from hummingbot.core.event.events import MarketEvent

NKYC_PAIR = "NKYC-USDT"
NKYC_SYMBOL = "NKYC/USDT"


class MarketExitsEndToEndTests(EndToEndTestCase):
    assets = ("BTC", "NKYC", "USDT")

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        # A thin NKYC book: 80 NKYC offered within 2 % of the best ask, more only far above it.
        self.sandbox.place_order(MAKER, NKYC_SYMBOL, "sell", "limit", "50", "0.1200")
        self.sandbox.place_order(MAKER, NKYC_SYMBOL, "sell", "limit", "30", "0.1210")
        self.sandbox.place_order(MAKER, NKYC_SYMBOL, "sell", "limit", "500", "0.2000")
        self.sandbox.place_order(MAKER, NKYC_SYMBOL, "buy", "limit", "500", "0.1190")
        self.sandbox.place_order(MAKER, SYMBOL, "sell", "limit", "0.01", "61000")
        self.sandbox.place_order(MAKER, SYMBOL, "buy", "limit", "0.01", "60990")

    async def wait_until_ended(self, order: InFlightOrder, connector):
        await wait_until(lambda: order.client_order_id not in connector.in_flight_orders, 15,
                         lambda: f"order {order.client_order_id} to end (state {order.current_state})", interval=0.05)

    def user_orders(self, symbol: str) -> List[dict]:
        return self.sandbox.orders(USER, symbol)

    async def test_market_buy_on_a_market_without_market_orders_fills_what_it_can_and_never_rests(self):
        connector = await self.start_connector(trading_pairs=(NKYC_PAIR, PAIR))

        buy = await self.place(connector, "buy", "100", order_type=OrderType.MARKET, trading_pair=NKYC_PAIR)
        await self.wait_until_ended(buy, connector)

        # Sent as a limit buy at 0.1200 * 1.02 = 0.1224: it took the 80 NKYC up to that price, the rest was cancelled.
        [on_exchange] = self.user_orders(NKYC_SYMBOL)
        self.assertEqual(("limit", "0.1224", "Cancelled", "80.00"),
                         (on_exchange["type"], on_exchange["price"], on_exchange["status"],
                          on_exchange["executedQuantity"]))
        self.assertEqual([], self.sandbox.orders(USER, NKYC_SYMBOL, status="active"))
        self.assertTrue(buy.is_cancelled)
        self.assertEqual((OrderType.MARKET, Decimal("80")), (buy.order_type, buy.executed_amount_base))
        created = connector.events[MarketEvent.BuyOrderCreated].event_log
        self.assertEqual([(buy.client_order_id, OrderType.MARKET)], [(event.order_id, event.type) for event in created])
        self.assertEqual([buy.client_order_id], [event.order_id
                                                 for event in connector.events[MarketEvent.OrderCancelled].event_log])
        fills = connector.events[MarketEvent.OrderFilled].event_log
        self.assertEqual({OrderType.MARKET}, {fill.order_type for fill in fills})
        self.assertEqual(self.sandbox_fills(NKYC_SYMBOL), self.fills_of(connector))
        await self.assert_balances_equal_sandbox(connector)
        self.assertEqual([], self.errors_logged())

    async def test_market_sell_on_a_market_without_market_orders_completes_when_the_book_covers_it(self):
        connector = await self.start_connector(trading_pairs=(NKYC_PAIR, PAIR))

        sell = await self.place(connector, "sell", "120", order_type=OrderType.MARKET, trading_pair=NKYC_PAIR)
        await self.wait_until_ended(sell, connector)

        [on_exchange] = self.user_orders(NKYC_SYMBOL)
        self.assertEqual(("limit", "0.1167", "Filled"),
                         (on_exchange["type"], on_exchange["price"], on_exchange["status"]))
        completed = connector.events[MarketEvent.SellOrderCompleted].event_log
        self.assertEqual([(sell.client_order_id, OrderType.MARKET, Decimal("120"))],
                         [(event.order_id, event.order_type, event.base_asset_amount) for event in completed])
        self.assertEqual(self.sandbox_fills(NKYC_SYMBOL), self.fills_of(connector))
        await self.assert_balances_equal_sandbox(connector)
        self.assertEqual([], self.errors_logged())

    async def test_market_order_on_a_market_with_market_orders_stays_a_market_order(self):
        connector = await self.start_connector(trading_pairs=(NKYC_PAIR, PAIR))

        buy = await self.place(connector, "buy", "0.004", order_type=OrderType.MARKET)
        await self.wait_until_ended(buy, connector)

        [on_exchange] = self.user_orders(SYMBOL)
        self.assertEqual(("market", "Filled"), (on_exchange["type"], on_exchange["status"]))
        self.assertEqual([buy.client_order_id],
                         [event.order_id for event in connector.events[MarketEvent.BuyOrderCompleted].event_log])
        self.assertEqual(self.sandbox_fills(SYMBOL), self.fills_of(connector))
        await self.assert_balances_equal_sandbox(connector)
        self.assertEqual([], self.errors_logged())
