from decimal import Decimal
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

D = Decimal


class MatchingTests(SandboxTestCase):

    async def test_limit_buy_fills_best_price_first_then_time_priority_and_rests_the_rest(self):
        early = self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.010", "68000.00", "early")
        late = self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.010", "68000.00", "late")
        better = self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.005", "67900.00", "better")

        status, taker = await self.client.create_order("BTC/USDT", "buy", "0.030", "68000.00", userProvidedId="t")

        self.assertEqual(200, status, taker)
        fills = list(reversed(self.sandbox.trades("user2")))  # oldest first
        self.assertEqual([better["id"], early["id"], late["id"]], [fill["orderid"] for fill in fills])
        self.assertEqual(["0.005000", "0.010000", "0.010000"], [fill["quantity"] for fill in fills])
        self.assertEqual(["67900.00", "68000.00", "68000.00"], [fill["price"] for fill in fills])
        self.assertEqual("Partly Filled", taker["status"])
        self.assertEqual("0.025000", taker["executedQuantity"])
        self.assertEqual("0.005000", taker["remainQuantity"])
        self.assertEqual({"bids": [(D("68000.00"), D("0.005"))], "asks": []},
                         self.sandbox.order_book_levels("BTC/USDT"))

    async def test_partial_fill_leaves_the_resting_order_partly_filled(self):
        resting = self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "2.0000", "3400.00", "rest")

        status, taker = await self.client.create_order("ETH/USDT", "sell", "0.5", "3400.00")

        self.assertEqual("Filled", taker["status"])
        status, order = await self.client2.get(f"/getorder/{resting['id']}")
        self.assertEqual(200, status)
        self.assertEqual(("Partly Filled", "0.5000", "1.5000", True),
                         (order["status"], order["executedQuantity"], order["remainQuantity"], order["isActive"]))
        self.assertEqual([(D("3400.00"), D("1.5"))], self.sandbox.order_book_levels("ETH/USDT")["bids"])

    async def test_market_buy_walks_the_book_for_its_base_quantity(self):
        for price, quantity in (("3500.00", "0.1"), ("3501.00", "0.2"), ("3505.00", "1.0")):
            self.sandbox.place_order("user2", "ETH/USDT", "sell", "limit", quantity, price)

        status, order = await self.client.create_order("ETH/USDT", "buy", "0.5", order_type="market")

        self.assertEqual(200, status, order)
        self.assertEqual(("market", "Filled", "0.5000"), (order["type"], order["status"], order["executedQuantity"]))
        trades = list(reversed(self.sandbox.trades("user", "ETH/USDT")))
        self.assertEqual([("3500.00", "0.1000"), ("3501.00", "0.2000"), ("3505.00", "0.2000")],
                         [(trade["price"], trade["quantity"]) for trade in trades])
        # average price = (350 + 700.2 + 701) / 0.5
        self.assertEqual("3502.40", order["price"])
        self.assertEqual([(D("3505.00"), D("0.8"))], self.sandbox.order_book_levels("ETH/USDT")["asks"])

    async def test_market_sell_larger_than_the_book_fills_what_it_can_and_cancels_the_rest(self):
        self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "0.3", "3400.00")

        status, order = await self.client.create_order("ETH/USDT", "sell", "1.0", order_type="market")

        self.assertEqual(("Cancelled", "0.3000", "0.7000"),
                         (order["status"], order["executedQuantity"], order["remainQuantity"]))
        self.assertEqual(D("19.7"), self.sandbox.balances("user")["ETH"]["available"])

    async def test_fees_and_balances_after_a_fill(self):
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.5", "60000.00", "maker-sell")

        status, order = await self.client.create_order("BTC/USDT", "buy", "0.5", "60000.00", userProvidedId="tb")

        self.assertEqual("Filled", order["status"])
        # taker buy: 30000 + 0.2 % fee = 30060 USDT paid, 0.5 BTC received
        buyer = self.sandbox.balances("user")
        self.assertEqual((D("69940"), D("0")), (buyer["USDT"]["available"], buyer["USDT"]["held"]))
        self.assertEqual(D("2.5"), buyer["BTC"]["available"])
        # maker sell: 30000 - 60 fee received, 0.5 BTC delivered from the held amount
        seller = self.sandbox.balances("user2")
        self.assertEqual((D("129940"), D("0")), (seller["USDT"]["available"], seller["USDT"]["held"]))
        self.assertEqual((D("1.5"), D("0")), (seller["BTC"]["available"], seller["BTC"]["held"]))

        status, buyer_trades = await self.client.get("/account/trades", [("symbol", "BTC/USDT")])
        status2, seller_trades = await self.client2.get("/account/trades", [("symbol", "BTC_USDT")])
        buy, sell = buyer_trades[0], seller_trades[0]
        self.assertEqual(buy["id"], sell["id"])
        self.assertEqual(
            {"id", "market", "orderid", "side", "triggeredBy", "price", "quantity", "fee", "totalWithFee",
             "timestamp"}, set(buy))
        self.assertEqual(("Buy", "buy", "60", "30060"),
                         (buy["side"], buy["triggeredBy"], buy["fee"], buy["totalWithFee"]))
        self.assertEqual(("Sell", "buy", "60", "29940"),
                         (sell["side"], sell["triggeredBy"], sell["fee"], sell["totalWithFee"]))
        self.assertIsInstance(buy["timestamp"], int)
        self.assertEqual({"id": order["market"]["id"], "symbol": "BTC/USDT"}, buy["market"])

    async def test_resting_buy_holds_cost_plus_fee_and_pays_at_the_maker_price(self):
        status, order = await self.client.create_order("SAL/USDT", "buy", "1000", "0.030000")

        usdt = self.sandbox.balances("user")["USDT"]
        self.assertEqual((D("99969.94"), D("30.06")), (usdt["available"], usdt["held"]))

        self.sandbox.place_order("user2", "SAL/USDT", "sell", "limit", "1000", "0.020000")  # trades at 0.03

        usdt = self.sandbox.balances("user")["USDT"]
        self.assertEqual((D("99969.94"), D("0")), (usdt["available"], usdt["held"]))
        self.assertEqual(D("1001000"), self.sandbox.balances("user")["SAL"]["available"])

    async def test_crossing_buy_pays_the_better_maker_price_and_gets_its_surplus_reserve_back(self):
        self.sandbox.place_order("user2", "SAL/USDT", "sell", "limit", "500", "0.025000")

        status, order = await self.client.create_order("SAL/USDT", "buy", "500", "0.030000")

        self.assertEqual("Filled", order["status"])
        # 500 * 0.025 = 12.5, fee 0.025: the 15.03 reserved at the limit price is not kept
        usdt = self.sandbox.balances("user")["USDT"]
        self.assertEqual((D("99987.475"), D("0")), (usdt["available"], usdt["held"]))

    async def test_cancel_releases_the_held_funds(self):
        status, order = await self.client.create_order("BTC/USDT", "sell", "0.25", "90000.00")
        btc = self.sandbox.balances("user")["BTC"]
        self.assertEqual((D("1.75"), D("0.25")), (btc["available"], btc["held"]))

        status, _ = await self.client.post("/cancelorder", {"id": order["id"]})

        self.assertEqual(200, status)
        btc = self.sandbox.balances("user")["BTC"]
        self.assertEqual((D("2"), D("0")), (btc["available"], btc["held"]))
        self.assertEqual({"bids": [], "asks": []}, self.sandbox.order_book_levels("BTC/USDT"))

    async def test_fee_numbers_match_the_live_capture(self):
        # rest_account_trades_entry of the live samples: a maker Buy of 1771.1985 SAL at 0.021118, triggered by a sell
        self.sandbox.place_order("user", "SAL/USDT", "buy", "limit", "1771.1985", "0.021118")
        self.sandbox.place_order("user2", "SAL/USDT", "sell", "market", "1771.1985")

        trade = self.sandbox.trades("user", "SAL/USDT")[0]

        self.assertEqual(("Buy", "sell", "0.021118", "1771.1985", "0.074808339846", "37.478978262846"),
                         (trade["side"], trade["triggeredBy"], trade["price"], trade["quantity"], trade["fee"],
                          trade["totalWithFee"]))
