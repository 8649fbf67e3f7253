from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase


class AccountPagingTests(SandboxTestCase):
    """`/account/orders` and `/account/trades` take `limit` 1..500 and `skip` 0..500, as the API notes say."""

    async def trade_times(self, count: int):
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", f"{count * 0.001:.3f}", "60000.00")
        for _ in range(count):
            self.sandbox.place_order("user", "BTC/USDT", "buy", "market", "0.001")
        return [trade["timestamp"] for trade in self.sandbox.trades("user")]

    async def test_limit_and_skip_beyond_500_are_refused_with_a_validation_error(self):
        for path in ("/account/trades", "/account/orders"):
            for params in ([("limit", 501)], [("limit", 0)], [("skip", 501)], [("skip", 1000), ("limit", 500)]):
                status, body = await self.client.get(path, params)
                self.assertEqual((400, 10001), (status, body["error"]["code"]), (path, params))
            status, body = await self.client.get(path, [("skip", 500), ("limit", 500)])
            self.assertEqual((200, []), (status, body), path)

    async def test_trades_come_newest_first_with_since_too_and_page_by_skip(self):
        await self.trade_times(5)
        newest_first = self.sandbox.trades("user")
        oldest_time = newest_first[-1]["timestamp"]

        status, recent = await self.client.get("/account/trades", [("limit", 2)])
        self.assertEqual([trade["id"] for trade in newest_first[:2]], [trade["id"] for trade in recent])

        status, first_page = await self.client.get("/account/trades", [("since", oldest_time), ("limit", 2)])
        self.assertEqual([trade["id"] for trade in newest_first[:2]], [trade["id"] for trade in first_page])
        status, next_page = await self.client.get("/account/trades", [("since", oldest_time), ("limit", 5),
                                                                      ("skip", 2)])
        self.assertEqual([trade["id"] for trade in newest_first[2:]], [trade["id"] for trade in next_page])
        newest_time = newest_first[0]["timestamp"]
        status, after_newest = await self.client.get("/account/trades", [("since", newest_time)])
        self.assertEqual([trade["id"] for trade in newest_first if trade["timestamp"] >= newest_time],
                         [trade["id"] for trade in after_newest])  # `since` includes its millisecond

    async def test_orders_stay_newest_first_with_since(self):
        first = self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "50000.00")
        second = self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "50001.00")

        status, orders = await self.client.get("/account/orders", [("status", "active"), ("since", first["createdAt"])])

        self.assertEqual([second["id"], first["id"]], [order["id"] for order in orders])


class ServerFaultTests(SandboxTestCase):

    async def test_cloudflare_pages_spread_over_every_other_request_of_a_path(self):
        self.sandbox.faults.cloudflare_error_next(path="/account/orders", count=2, every=2)

        answers = [await self.client.get("/account/orders") for _ in range(6)]

        self.assertEqual([200, 522, 200, 522, 200, 200], [status for status, _ in answers])
        self.assertIn("522: Connection timed out", answers[1][1])
        self.assertIn("Cloudflare", answers[1][1])
        status, _ = await self.client.get("/balances")
        self.assertEqual(200, status)
        self.assertEqual([], self.sandbox.faults.state()["server_errors"])

    async def test_server_errors_answer_a_nonkyc_error_body_without_doing_anything(self):
        self.sandbox.faults.server_error_next(path="/createorder", count=1, status=503)

        status, body = await self.client.create_order("BTC/USDT", "buy", "0.001", "60000.00")

        self.assertEqual((503, {"error": {"code": 503, "message": "Service Unavailable"}}), (status, body))
        self.assertEqual([], self.sandbox.orders("user"))

    async def test_a_stretch_of_429_answers_every_request_until_it_ends(self):
        self.sandbox.faults.rate_limit_for(seconds=0.3, retry_after=2)

        for path in ("/balances", "/account/trades", "/time"):
            async with self.session.get(f"{self.sandbox.rest_url}{path}") as response:
                self.assertEqual((429, "2"), (response.status, response.headers["Retry-After"]), path)
        self.assertEqual(1, len(self.sandbox.faults.state()["rate_limit_stretches"]))
        await wait_until(lambda: not self.sandbox.faults.state()["rate_limit_stretches"], 2,
                         "the stretch of 429 to end")

        status, _ = await self.client.get("/balances")
        self.assertEqual(200, status)

    async def test_requests_are_counted_by_endpoint_faulted_ones_included(self):
        order = self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "50000.00")
        self.sandbox.faults.server_error_next(path="/getorder", count=1, status=500)

        for _ in range(2):
            await self.client.get(f"/getorder/{order['id']}")
        await self.client.get("/account/trades")

        self.assertEqual({"/getorder": 2, "/account/trades": 1}, dict(self.sandbox.rest.requests_by_endpoint))

    async def test_faults_switched_over_http(self):
        async with self.session.post(f"{self.control_url}/faults", json=[
                {"fault": "cloudflare_error_next", "path": "/balances", "status": 524},
                {"fault": "rate_limit_for", "seconds": 60, "path": "/tickers"},
                {"fault": "drop_private_reports", "count": 2}]) as response:
            state = (await response.json())["faults"]
        self.assertEqual((1, 1, 2), (len(state["server_errors"]), len(state["rate_limit_stretches"]),
                                     state["report_drops"][0]["remaining"]))

        status, page = await self.client.get("/balances")
        self.assertEqual(524, status)
        self.assertIn("524: A timeout occurred", page)
        async with self.session.post(f"{self.control_url}/faults",
                                     json={"fault": "server_error_next", "status": 404}) as response:
            self.assertEqual(400, response.status)


class DroppedReportTests(SandboxTestCase):

    async def test_dropped_reports_are_not_sent_and_the_next_ones_are(self):
        ws = await self.connect_ws()
        await ws.login()
        await ws.request("subscribeReports")
        await ws.receive_method("activeOrders")
        self.sandbox.faults.drop_private_reports(count=1, account="user")

        dropped = self.sandbox.place_order("user", "ETH/USDT", "buy", "limit", "0.01", "3000.00")
        sent = self.sandbox.place_order("user", "ETH/USDT", "buy", "limit", "0.01", "3001.00")

        report = await ws.receive_method("report")
        self.assertEqual(sent["id"], report["params"]["id"])
        self.assertNotEqual(dropped["id"], report["params"]["id"])
        await ws.assert_nothing_sent()
