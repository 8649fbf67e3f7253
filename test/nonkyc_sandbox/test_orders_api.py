import json
import re
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

LIVE_SAMPLE_ERROR = {"error": {"code": 400, "message": "Bad Request", "description": "Missing required input"}}
ORDER_KEYS = {"id", "userProvidedId", "market", "symbol", "side", "type", "price", "quantity", "executedQuantity",
              "remainQuantity", "status", "isActive", "createdAt", "updatedAt"}


class CancelTests(SandboxTestCase):

    async def test_cancel_answers_success_by_default(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        status, body = await self.client.post("/cancelorder", {"id": order["id"]})

        self.assertEqual((200, {"success": True, "id": order["id"]}), (status, body))
        self.assertEqual("Cancelled", self.sandbox.orders("user")[0]["status"])

    async def test_cancel_can_answer_the_cancelled_order(self):
        self.sandbox.set_cancel_response_shape("order")
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="c1")

        status, body = await self.client.post("/cancelorder", {"id": "c1"})

        self.assertEqual(200, status)
        self.assertEqual(ORDER_KEYS, set(body))
        self.assertEqual((order["id"], "Cancelled", False), (body["id"], body["status"], body["isActive"]))

    async def test_cancelling_twice_reports_success_and_a_filled_order_is_not_found(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")
        await self.client.post("/cancelorder", {"id": order["id"]})

        status, body = await self.client.post("/cancelorder", {"id": order["id"]})
        self.assertEqual((200, True), (status, body["success"]))

        status, filled = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "market", "0.001")
        status, body = await self.client.post("/cancelorder", {"id": filled["id"]})
        self.assertEqual((400, 20002), (status, body["error"]["code"]))
        self.assertEqual("Active order not found for cancellation", body["error"]["message"])

    async def test_cancel_all_without_symbol_answers_200_with_the_live_error_body(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        status, body = await self.client.post("/cancelallorders", {"side": "all"})

        self.assertEqual((200, LIVE_SAMPLE_ERROR), (status, body))
        self.assertEqual("Active", self.sandbox.orders("user")[0]["status"])

    async def test_cancel_all_cancels_the_side_asked_for_and_lists_the_ids(self):
        _, buy = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")
        _, sell = await self.client.create_order("BTC/USDT", "sell", "0.001", "70000.00")
        _, other_market = await self.client.create_order("ETH/USDT", "buy", "0.01", "3000.00")

        status, body = await self.client.post("/cancelallorders", {"symbol": "BTC/USDT", "side": "buy"})
        self.assertEqual((200, {"success": True, "ids": [buy["id"]]}), (status, body))

        status, body = await self.client.post("/cancelallorders", {"symbol": "BTC_USDT", "side": "all"})
        self.assertEqual({"success": True, "ids": [sell["id"]]}, body)
        active = [order["id"] for order in self.sandbox.orders("user", status="active")]
        self.assertEqual([other_market["id"]], active)


class OrderQueryTests(SandboxTestCase):

    async def test_order_object_shape(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="s1")

        self.assertEqual(ORDER_KEYS, set(order))
        self.assertRegex(order["id"], re.compile(r"^[0-9a-f]{24}$"))
        self.assertEqual("BTC/USDT", order["market"]["symbol"])
        self.assertRegex(order["market"]["id"], re.compile(r"^[0-9a-f]{24}$"))
        self.assertEqual(("buy", "limit", "60000.00", "0.001000", "0.000000", "0.001000", "Active", True),
                         (order["side"], order["type"], order["price"], order["quantity"],
                          order["executedQuantity"], order["remainQuantity"], order["status"], order["isActive"]))
        self.assertIsInstance(order["createdAt"], int)
        self.assertIsInstance(order["updatedAt"], int)

    async def test_get_order_by_exchange_id_and_by_user_provided_id(self):
        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="g1")

        for reference in (order["id"], "g1"):
            status, body = await self.client.get(f"/getorder/{reference}")
            self.assertEqual((200, order["id"]), (status, body["id"]))

    async def test_account_orders_filters_and_pages_newest_first(self):
        ids = []
        for index in range(4):
            _, order = await self.client.create_order("BTC/USDT", "buy", "0.001", f"6000{index}.00")
            ids.append(order["id"])
        _, eth = await self.client.create_order("ETH/USDT", "buy", "0.01", "3000.00")
        await self.client.post("/cancelorder", {"id": ids[0]})

        status, active = await self.client.get("/account/orders", [("symbol", "BTC/USDT"), ("status", "active")])
        self.assertEqual([ids[3], ids[2], ids[1]], [order["id"] for order in active])

        status, page = await self.client.get("/account/orders", [("status", "active"), ("limit", 2), ("skip", 1)])
        self.assertEqual([ids[3], ids[2]], [order["id"] for order in page])

        status, cancelled = await self.client.get("/account/orders", [("status", "cancelled")])
        self.assertEqual([ids[0]], [order["id"] for order in cancelled])

        status, future = await self.client.get("/account/orders", [("since", eth["createdAt"] + 60000)])
        self.assertEqual([], future)

    async def test_account_trades_newest_first_with_limit_and_since(self):
        for price in ("60000.00", "60001.00", "60002.00"):
            self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.001", price)
        await self.client.create_order("BTC/USDT", "buy", "0.003", order_type="market")

        status, trades = await self.client.get("/account/trades", [("limit", 2)])
        self.assertEqual(["60002.00", "60001.00"], [trade["price"] for trade in trades])

        status, trades = await self.client.get("/account/trades", [("skip", 2)])
        self.assertEqual(["60000.00"], [trade["price"] for trade in trades])

        status, trades = await self.client.get("/account/trades", [("since", trades[0]["timestamp"] + 60000)])
        self.assertEqual([], trades)

    async def test_balances_shape(self):
        await self.client.create_order("BTC/USDT", "sell", "0.5", "90000.00")

        status, balances = await self.client.get("/balances")

        self.assertEqual(200, status)
        btc = next(entry for entry in balances if entry["asset"] == "BTC")
        self.assertEqual({"asset", "name", "available", "held", "pending", "assetid"}, set(btc))
        self.assertEqual(("Bitcoin", "1.50000000", "0.50000000", "0.00000000"),
                         (btc["name"], btc["available"], btc["held"], btc["pending"]))

    async def test_invalid_json_body_is_a_bad_request(self):
        url = f"{self.sandbox.rest_url}/createorder"
        body = "{not json"
        async with self.session.post(url, data=body, headers=self.client.headers(url, body)) as response:
            self.assertEqual(400, response.status)
            self.assertEqual(400, json.loads(await response.text())["error"]["code"])
