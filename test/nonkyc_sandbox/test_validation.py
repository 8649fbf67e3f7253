from decimal import Decimal
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase


class OrderValidationTests(SandboxTestCase):

    async def assert_rejected(self, expected_code: int, *args, **kwargs) -> dict:
        status, body = await self.client.create_order(*args, **kwargs)
        self.assertEqual(400, status, body)
        self.assertEqual(expected_code, body["error"]["code"], body)
        self.assertEqual({"bids": [], "asks": []}, self.sandbox.order_book_levels(args[0]))
        return body

    async def test_strict_validate_rejects_extra_decimals(self):
        await self.assert_rejected(10001, "BTC/USDT", "buy", "0.0012345", "60000.00", strictValidate=True)
        await self.assert_rejected(10001, "BTC/USDT", "buy", "0.001", "60000.001", strictValidate=True)

    async def test_without_strict_validate_extra_decimals_are_truncated(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.0012349", "60000.019",
                                                       strictValidate=False)

        self.assertEqual(200, status, order)
        self.assertEqual(("0.001234", "60000.01"), (order["quantity"], order["price"]))

    async def test_quantity_below_the_minimum_is_rejected(self):
        body = await self.assert_rejected(10001, "SAL/USDT", "buy", "0.5", "0.021000")
        self.assertIn("minimum quantity", body["error"]["description"])

    async def test_notional_below_min_quote_is_rejected_only_when_active(self):
        body = await self.assert_rejected(10001, "ETH/USDT", "buy", "0.001", "3000.00")  # 3 USDT < minQuote 5
        self.assertIn("below the minimum", body["error"]["description"])

        status, order = await self.client.create_order("SAL/USDT", "buy", "1", "0.010000")  # 0.01 USDT, inactive
        self.assertEqual(200, status, order)

    async def test_insufficient_funds_answers_20001(self):
        await self.assert_rejected(20001, "BTC/USDT", "buy", "2", "60000.00")  # 120240 USDT > 100000
        await self.assert_rejected(20001, "BTC/USDT", "sell", "2.5", "60000.00")

    async def test_funds_held_by_resting_orders_are_not_available(self):
        status, _ = await self.client.create_order("BTC/USDT", "sell", "1.5", "90000.00")
        self.assertEqual(200, status)

        status, body = await self.client.create_order("BTC/USDT", "sell", "1", "91000.00")

        self.assertEqual((400, 20001), (status, body["error"]["code"]))

    async def test_duplicate_user_provided_id_answers_20008_even_after_the_first_order_ended(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="dup")
        await self.client.post("/cancelorder", {"id": order["id"]})

        status, body = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="dup")

        self.assertEqual((400, 20008), (status, body["error"]["code"]))
        status, _ = await self.client2.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="dup")
        self.assertEqual(200, status)  # ids are per account

    async def test_paused_market_rejects_orders(self):
        body = await self.assert_rejected(10001, "DOGE/USDT", "buy", "100", "0.10000")
        self.assertIn("paused", body["error"]["description"])

    async def test_market_orders_are_rejected_where_the_market_does_not_allow_them(self):
        self.sandbox.place_order("user2", "NKYC/USDT", "sell", "limit", "100", "0.9000")

        status, body = await self.client.create_order("NKYC/USDT", "buy", "10", order_type="market")

        self.assertEqual((400, 10001), (status, body["error"]["code"]))
        self.assertIn("Market orders are not allowed", body["error"]["description"])

    async def test_unknown_symbol_answers_2001(self):
        status, body = await self.client.create_order("XXX/USDT", "buy", "1", "1.00")

        self.assertEqual((400, 2001), (status, body["error"]["code"]))

    async def test_invalid_side_type_and_amounts_are_validation_errors(self):
        for kwargs in ({"side": "hold", "quantity": "1", "price": "1.00"},
                       {"side": "buy", "quantity": "-1", "price": "60000.00"},
                       {"side": "buy", "quantity": "abc", "price": "60000.00"},
                       {"side": "buy", "quantity": "0.001", "price": None, "order_type": "limit"},
                       {"side": "buy", "quantity": "0.001", "price": "60000.00", "order_type": "stop"}):
            status, body = await self.client.create_order("BTC/USDT", **kwargs)
            self.assertEqual((400, 10001), (status, body["error"]["code"]), kwargs)

    async def test_market_order_into_an_empty_book_is_rejected(self):
        await self.assert_rejected(10001, "BTC/USDT", "buy", "0.01", order_type="market")

    async def test_unknown_order_answers_20002(self):
        status, body = await self.client.get("/getorder/ffffffffffffffffffffffff")
        self.assertEqual((400, 20002), (status, body["error"]["code"]))

        status, body = await self.client.post("/cancelorder", {"id": "no-such-order"})
        self.assertEqual((400, 20002), (status, body["error"]["code"]))

    async def test_orders_of_another_account_are_not_found(self):
        other = self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00", "theirs")

        for reference in (other["id"], "theirs"):
            status, body = await self.client.get(f"/getorder/{reference}")
            self.assertEqual(20002, body["error"]["code"])
        self.assertEqual([(Decimal("60000.00"), Decimal("0.001"))],
                         self.sandbox.order_book_levels("BTC/USDT")["bids"])
