from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

import aiohttp


def is_method(name: str):
    return lambda message: message.get("method") == name


class OrderBookStreamTests(SandboxTestCase):

    async def test_snapshot_then_contiguous_updates_from_a_ws_counter(self):
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.004", "61000.00")
        ws = await self.connect_ws()

        request_id = await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 10})
        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": request_id}, await ws.receive())
        snapshot = await ws.receive()
        self.assertEqual("snapshotOrderbook", snapshot["method"])
        self.assertEqual({"symbol": "BTC/USDT", "sequence": snapshot["params"]["sequence"],
                          "asks": [{"price": "61000.00", "quantity": "0.004000"}], "bids": []}, snapshot["params"])

        bid = self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.002", "61000.00")
        self.sandbox.cancel_order("user2", bid["id"])
        updates = [await ws.receive() for _ in range(3)]

        sequence = snapshot["params"]["sequence"]
        self.assertIsInstance(sequence, int)
        self.assertEqual([sequence + 1, sequence + 2, sequence + 3], [u["params"]["sequence"] for u in updates])
        self.assertEqual({"method": "updateOrderbook", "jsonrpc": "2.0"},
                         {key: updates[0][key] for key in ("method", "jsonrpc")})
        self.assertEqual([{"price": "60000.00", "quantity": "0.001000"}], updates[0]["params"]["bids"])
        self.assertEqual([{"price": "61000.00", "quantity": "0.006000"}], updates[1]["params"]["asks"])
        self.assertEqual([{"price": "60000.00", "quantity": "0"}], updates[2]["params"]["bids"])
        timestamps = [update["params"]["timestamp"] for update in updates]
        self.assertEqual({int, str}, {type(timestamp) for timestamp in timestamps})
        self.assertTrue(any(isinstance(t, str) and t.endswith("Z") and "T" in t for t in timestamps))

        async with self.session.get(f"{self.sandbox.rest_url}/market/orderbook",
                                    params={"symbol": "BTC/USDT"}) as response:
            rest_sequence = int((await response.json())["sequence"])
        self.assertGreater(abs(updates[-1]["params"]["sequence"] - rest_sequence), 1_000_000)

    async def test_each_pair_has_its_own_counter_and_unsubscribe_stops_the_stream(self):
        ws = await self.connect_ws()
        await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 5})
        await ws.request("subscribeOrderbook", {"symbol": "ETH_USDT", "limit": 5})
        snapshots = [await ws.receive_until(is_method("snapshotOrderbook")) for _ in range(2)]
        self.assertEqual(["BTC/USDT", "ETH/USDT"], [s["params"]["symbol"] for s in snapshots])
        self.assertNotEqual(snapshots[0]["params"]["sequence"], snapshots[1]["params"]["sequence"])

        request_id = await ws.request("unsubscribeOrderbook", {"symbol": "BTC/USDT"})
        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": request_id}, await ws.receive())
        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "0.01", "3000.00")

        update = await ws.receive()
        self.assertEqual(("ETH/USDT", snapshots[1]["params"]["sequence"] + 1),
                         (update["params"]["symbol"], update["params"]["sequence"]))
        await ws.assert_nothing_sent()

    async def test_unknown_symbol_and_unknown_method_answer_errors(self):
        ws = await self.connect_ws()

        request_id = await ws.request("subscribeOrderbook", {"symbol": "NOPE/USDT"})
        self.assertEqual({"jsonrpc": "2.0", "error": {"code": 2001, "message": "Market not found"},
                          "id": request_id}, await ws.receive())
        request_id = await ws.request("subscribeEverything")
        self.assertEqual((402, request_id), ((reply := await ws.receive())["error"]["code"], reply["id"]))
        await ws.ws.send_str("{broken")
        self.assertEqual(400, (await ws.receive())["error"]["code"])


class TradeStreamTests(SandboxTestCase):

    async def test_snapshot_of_recent_trades_then_updates_with_several_trades(self):
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.001", "60000.00")
        self.sandbox.place_order("user", "BTC/USDT", "buy", "market", "0.001")
        ws = await self.connect_ws()

        request_id = await ws.request("subscribeTrades", {"symbol": "BTC/USDT"})
        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": request_id}, await ws.receive())
        snapshot = await ws.receive()
        self.assertEqual("snapshotTrades", snapshot["method"])
        self.assertEqual(1, len(snapshot["params"]["data"]))
        entry = snapshot["params"]["data"][0]
        self.assertEqual({"id", "price", "quantity", "side", "timestamp", "timestampms"}, set(entry))
        self.assertEqual(("60000.00", "0.001000", "buy"), (entry["price"], entry["quantity"], entry["side"]))
        self.assertIsInstance(entry["timestampms"], int)
        self.assertTrue(entry["timestamp"].endswith("Z"))
        self.assertEqual(self.sandbox.trades("user")[0]["id"], entry["id"])

        self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "60500.00")
        self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "60400.00")
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "market", "0.002")
        update = await ws.receive()

        self.assertEqual("updateTrades", update["method"])
        self.assertEqual(int(snapshot["params"]["sequence"]) + 1, update["params"]["sequence"])
        self.assertEqual([("60500.00", "sell"), ("60400.00", "sell")],
                         [(trade["price"], trade["side"]) for trade in update["params"]["data"]])

        await ws.request("unsubscribeTrades", {"symbol": "BTC/USDT"})
        await ws.receive()
        self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "60300.00")
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "market", "0.001")
        await ws.assert_nothing_sent()


class PrivateStreamTests(SandboxTestCase):

    async def test_reports_new_trade_and_canceled(self):
        existing = self.sandbox.place_order("user", "ETH/USDT", "buy", "limit", "0.01", "3000.00", "existing")
        self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "0.01", "3000.00", "not-mine")
        ws = await self.connect_ws()
        await ws.login()

        request_id = await ws.request("subscribeReports")
        active = await ws.receive()
        self.assertEqual(("activeOrders", request_id), (active["method"], active["id"]))
        self.assertEqual([existing["id"]], [order["id"] for order in active["result"]])

        status, order = await self.client.create_order("ETH/USDT", "sell", "1.0", "3600.00", userProvidedId="r1")
        new = await ws.receive()
        self.assertEqual(("report", "new", "New", order["id"], "r1"),
                         (new["method"], new["params"]["reportType"], new["params"]["status"],
                          new["params"]["id"], new["params"]["userProvidedId"]))

        self.sandbox.place_order("user2", "ETH/USDT", "buy", "market", "0.3")
        trade = await ws.receive()
        params = trade["params"]
        rest_trade = self.sandbox.trades("user")[0]
        self.assertEqual(("trade", "Partly Filled", "0.3000", "0.3000", "3600.00", "2.16"),
                         (params["reportType"], params["status"], params["tradeQuantity"],
                          params["executedQuantity"], params["tradePrice"], params["tradeFee"]))
        self.assertEqual(rest_trade["id"], params["tradeId"])

        self.sandbox.place_order("user2", "ETH/USDT", "buy", "market", "0.2")
        second = (await ws.receive())["params"]
        self.assertEqual(("0.2000", "0.5000"), (second["tradeQuantity"], second["executedQuantity"]))

        await self.client.post("/cancelorder", {"id": "r1"})
        canceled = await ws.receive()
        self.assertEqual(("canceled", "Cancelled", "0.5000"),
                         (canceled["params"]["reportType"], canceled["params"]["status"],
                          canceled["params"]["executedQuantity"]))

    async def test_balances_snapshot_then_balance_updates(self):
        ws = await self.connect_ws()
        await ws.login()

        request_id = await ws.request("subscribeBalances")
        current = await ws.receive()
        self.assertEqual(("currentBalances", request_id), (current["method"], current["id"]))
        self.assertIsInstance(current["timestamp"], int)
        self.assertEqual({"totalUsdValue", "totalBtcValue"}, set(current["portfolioData"]))
        usdt = next(entry for entry in current["result"] if entry["ticker"] == "USDT")
        self.assertEqual({"assetId", "ticker", "available", "held", "changePercent"}, set(usdt))
        self.assertEqual(("100000.00000000", "0.00000000"), (usdt["available"], usdt["held"]))

        await self.client.create_order("BTC/USDT", "buy", "0.1", "60000.00")
        update = await ws.receive_until(is_method("balanceUpdate"))

        # 0.1 * 60000 + 0.2 % fee is held
        self.assertEqual({"ticker": "USDT", "available": "93988.00000000", "held": "6012.00000000"}, update["params"])

        self.sandbox.place_order("user2", "BTC/USDT", "sell", "market", "0.1")
        updates = [await ws.receive_until(is_method("balanceUpdate")) for _ in range(2)]
        self.assertEqual({"BTC": ("2.10000000", "0.00000000"), "USDT": ("93988.00000000", "0.00000000")},
                         {u["params"]["ticker"]: (u["params"]["available"], u["params"]["held"]) for u in updates})

    async def test_private_streams_of_one_account_do_not_see_another(self):
        ws = await self.connect_ws()
        await ws.login()
        await ws.request("subscribeReports")
        await ws.request("subscribeBalances")
        await ws.receive()
        await ws.receive()

        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")

        await ws.assert_nothing_sent()


class HeartbeatTests(SandboxTestCase):

    def sandbox_kwargs(self):
        return {"ws_heartbeat": 0.1}

    async def test_server_pings_and_answers_client_pings(self):
        ws = await self.session.ws_connect(self.sandbox.ws_url, autoping=False)
        self._websockets.append(ws)

        ping = await ws.receive(timeout=2)
        self.assertEqual(aiohttp.WSMsgType.PING, ping.type)
        await ws.pong(ping.data)

        await ws.ping(b"client-ping")
        message = await ws.receive(timeout=2)
        while message.type == aiohttp.WSMsgType.PING:
            await ws.pong(message.data)
            message = await ws.receive(timeout=2)
        self.assertEqual((aiohttp.WSMsgType.PONG, b"client-ping"), (message.type, message.data))


class WsRequestMethodTests(SandboxTestCase):

    async def test_new_order_get_orders_cancel_order_and_trading_balance(self):
        ws = await self.connect_ws()
        await ws.login()

        request_id = await ws.request("newOrder", {"symbol": "BTC/USDT", "side": "buy", "type": "limit",
                                                   "quantity": "0.01", "price": "60000.00", "userProvidedId": "w1"})
        created = await ws.receive()
        self.assertEqual((request_id, "Active", "w1"),
                         (created["id"], created["result"]["status"], created["result"]["userProvidedId"]))

        request_id = await ws.request("getOrders", {"symbol": "BTC/USDT"})
        self.assertEqual([created["result"]["id"]], [order["id"] for order in (await ws.receive())["result"]])

        request_id = await ws.request("getTradingBalance")
        balances = {entry["asset"]: entry for entry in (await ws.receive())["result"]}
        self.assertEqual({"asset": "USDT", "available": "99398.80000000", "held": "601.20000000"}, balances["USDT"])

        request_id = await ws.request("cancelOrder", {"userProvidedId": "w1"})
        self.assertEqual("Cancelled", (await ws.receive())["result"]["status"])

        request_id = await ws.request("newOrder", {"symbol": "BTC/USDT", "side": "buy", "type": "limit",
                                                   "quantity": "100", "price": "60000.00"})
        self.assertEqual({"jsonrpc": "2.0", "error": {"code": 20001, "message": "Insufficient funds"},
                          "id": request_id}, await ws.receive())
