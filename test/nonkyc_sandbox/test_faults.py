import asyncio
import time
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

import aiohttp


class WebSocketFaultTests(SandboxTestCase):

    async def subscribed_book(self, symbol: str = "BTC/USDT"):
        ws = await self.connect_ws()
        await ws.request("subscribeOrderbook", {"symbol": symbol, "limit": 10})
        await ws.receive()
        snapshot = await ws.receive()
        return ws, snapshot["params"]["sequence"]

    async def test_skipped_sequence_numbers_leave_a_gap_once(self):
        ws, sequence = await self.subscribed_book()
        self.sandbox.faults.skip_ws_sequence(count=3, symbol="BTC/USDT")

        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60001.00")

        sequences = [(await ws.receive())["params"]["sequence"] for _ in range(2)]
        self.assertEqual([sequence + 4, sequence + 5], sequences)

    async def test_skip_for_another_pair_does_not_touch_this_one(self):
        ws, sequence = await self.subscribed_book()
        self.sandbox.faults.skip_ws_sequence(count=5, symbol="ETH/USDT")

        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")

        self.assertEqual(sequence + 1, (await ws.receive())["params"]["sequence"])

    async def test_duplicated_updates_are_sent_twice(self):
        ws, sequence = await self.subscribed_book()
        self.sandbox.faults.duplicate_ws_updates(count=2)

        for price in ("60000.00", "60001.00", "60002.00"):
            self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", price)

        messages = [await ws.receive() for _ in range(5)]
        self.assertEqual([sequence + 1, sequence + 1, sequence + 2, sequence + 2, sequence + 3],
                         [message["params"]["sequence"] for message in messages])
        self.assertEqual(messages[0], messages[1])
        await ws.assert_nothing_sent()

    async def test_withheld_snapshot_is_acknowledged_without_its_snapshot_then_updates_follow(self):
        self.sandbox.faults.withhold_ws_snapshot(symbol="BTC_USDT")
        ws = await self.connect_ws()
        request_id = await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 10})
        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": request_id}, await ws.receive())

        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.assertEqual("updateOrderbook", (await ws.receive())["method"])

        await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 10})  # the fault fired once
        await ws.receive()
        snapshot = await ws.receive()
        self.assertEqual(("snapshotOrderbook", [{"price": "60000.00", "quantity": "0.001000"}]),
                         (snapshot["method"], snapshot["params"]["bids"]))

    async def test_refused_subscription_answers_an_error_and_subscribes_nothing(self):
        self.sandbox.faults.refuse_ws_subscription(symbol="ETH/USDT", code=429, message="Too Many Requests")
        ws = await self.connect_ws()

        request_id = await ws.request("subscribeOrderbook", {"symbol": "ETH/USDT", "limit": 10})
        self.assertEqual({"jsonrpc": "2.0", "error": {"code": 429, "message": "Too Many Requests"}, "id": request_id},
                         await ws.receive())
        await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 10})  # another pair: not refused
        await ws.receive()
        self.assertEqual("snapshotOrderbook", (await ws.receive())["method"])

        self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "0.01", "3000.00")
        await ws.assert_nothing_sent()
        self.assertEqual({}, self.sandbox.faults.state()["refused_subscriptions"])

    async def test_drop_closes_every_connection_and_new_ones_work(self):
        first, _ = await self.subscribed_book()
        second = await self.connect_ws()
        await second.login()

        dropped = self.sandbox.faults.drop_ws_connections()

        self.assertEqual(2, dropped)
        for ws in (first, second):
            message = await ws.ws.receive(timeout=2)
            self.assertEqual(aiohttp.WSMsgType.CLOSE, message.type)
        third, _ = await self.subscribed_book()
        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.assertEqual("updateOrderbook", (await third.receive())["method"])

    async def test_abrupt_drop_ends_the_connection_without_a_close_frame(self):
        ws, _ = await self.subscribed_book()

        self.assertEqual(1, self.sandbox.faults.drop_ws_connections(abrupt=True))

        message = await ws.ws.receive(timeout=2)
        self.assertIn(message.type, (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR))
        self.assertNotEqual(aiohttp.WSMsgType.CLOSE, message.type)


class RestFaultTests(SandboxTestCase):

    async def test_create_answered_503_after_the_order_was_created(self):
        self.sandbox.faults.fail_next_create()

        status, body = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="a503")

        self.assertEqual(503, status)
        self.assertIn("Cloudflare", body)
        status, order = await self.client.get("/getorder/a503")
        self.assertEqual((200, "Active"), (status, order["status"]))
        status, _ = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="after")
        self.assertEqual(200, status)

    async def test_create_that_hangs_times_the_client_out_but_the_order_exists(self):
        self.sandbox.faults.hang_next_create(delay=30)
        started = time.monotonic()
        create = asyncio.ensure_future(
            self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00", userProvidedId="slow"))
        await wait_until(lambda: self.sandbox.orders("user"), timeout=2.0, what="the create to reach the sandbox")

        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(create, 0.3)  # the client gives up: the answer is held back

        status, order = await self.client.get("/getorder/slow")
        self.assertEqual((200, "slow"), (status, order["userProvidedId"]))
        await self.sandbox.stop()  # the hanging handler must not hold the shutdown
        self.assertLess(time.monotonic() - started, 5)

    async def test_create_that_hangs_a_little_still_answers_after_the_delay(self):
        self.sandbox.faults.hang_next_create(delay=0.2)
        started = time.monotonic()

        status, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        self.assertEqual((200, "Active"), (status, order["status"]))

    async def test_429_burst_on_one_path_then_normal_answers(self):
        self.sandbox.faults.rate_limit_next(count=2, path="/balances", retry_after=1)

        for _ in range(2):
            async with self.session.get(f"{self.sandbox.rest_url}/balances") as response:
                self.assertEqual(429, response.status)
                self.assertEqual("1", response.headers["Retry-After"])
                self.assertEqual(429, (await response.json())["error"]["code"])
        status, _ = await self.client.get("/account/orders")
        self.assertEqual(200, status)
        status, _ = await self.client.get("/balances")
        self.assertEqual(200, status)

    async def test_429_on_any_path(self):
        self.sandbox.faults.rate_limit_next(count=1)

        status, body = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        self.assertEqual((429, 429), (status, body["error"]["code"]))
        self.assertEqual([], self.sandbox.orders("user"))

    async def test_http_200_error_body_on_a_path_does_nothing(self):
        self.sandbox.faults.error_body_next("/createorder", count=1, code=10001, message="Validation error")

        status, body = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        self.assertEqual((200, {"error": {"code": 10001, "message": "Validation error"}}), (status, body))
        self.assertEqual([], self.sandbox.orders("user"))
        status, _ = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")
        self.assertEqual(200, status)

    async def test_error_body_path_prefix_matches_paths_with_parameters(self):
        _, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")
        self.sandbox.faults.error_body_next("/getorder", count=2)

        results = [await self.client.get(f"/getorder/{order['id']}") for _ in range(3)]

        self.assertEqual([200, 200, 200], [status for status, _ in results])
        self.assertEqual([500, 500], [body["error"]["code"] for _, body in results[:2]])
        self.assertEqual(order["id"], results[2][1]["id"])


class ControlEndpointTests(SandboxTestCase):

    async def post(self, path: str, payload):
        async with self.session.post(f"{self.control_url}{path}", json=payload) as response:
            return response.status, await response.json()

    async def test_faults_switched_over_http(self):
        status, body = await self.post("/faults", [
            {"fault": "skip_ws_sequence", "symbol": "BTC_USDT", "count": 2},
            {"fault": "error_body_next", "path": "/balances", "count": 1},
        ])
        self.assertEqual(200, status)
        self.assertEqual({"BTC/USDT": 2}, body["faults"]["ws_sequence_skips"])

        status, balances = await self.client.get("/balances")
        self.assertEqual(500, balances["error"]["code"])

        async with self.session.delete(f"{self.control_url}/faults") as response:
            self.assertEqual({}, (await response.json())["faults"]["ws_sequence_skips"])
        async with self.session.get(f"{self.control_url}/faults") as response:
            state = await response.json()
        self.assertEqual(([], {}), (state["faults"]["error_bodies"], state["faults"]["ws_sequence_skips"]))

    async def test_drop_over_http(self):
        ws = await self.connect_ws()

        status, body = await self.post("/faults", {"fault": "drop_ws_connections"})

        self.assertEqual((200, [1]), (status, body["results"]))
        self.assertEqual(aiohttp.WSMsgType.CLOSE, (await ws.ws.receive(timeout=2)).type)

    async def test_unknown_fault_or_bad_arguments_are_rejected(self):
        for payload in ({"fault": "explode"}, {"fault": "rate_limit_next", "colour": "red"}):
            status, body = await self.post("/faults", payload)
            self.assertEqual((400, 10001), (status, body["error"]["code"]))

    async def test_cancel_response_shape_switched_over_http(self):
        status, body = await self.post("/settings", {"cancel_response_shape": "order"})
        self.assertEqual((200, "order"), (status, body["cancel_response_shape"]))
        _, order = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        _, cancelled = await self.client.post("/cancelorder", {"id": order["id"]})

        self.assertEqual("Cancelled", cancelled["status"])
