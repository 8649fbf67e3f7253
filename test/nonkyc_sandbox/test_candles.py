import time
from decimal import Decimal
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase
from typing import Any, Dict, List, Tuple

from nonkyc_sandbox.candles import WS_SHAPES

STEP = 300
BUCKET = 1772150400  # 2026-02-27 00:00 UTC: a candle start at every resolution, in the past


def is_method(name: str):
    return lambda message: message.get("method") == name


class CandlesRestTests(SandboxTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.past_trades = [(BUCKET + 10, "100", "1"), (BUCKET + 70, "110", "2"), (BUCKET + 200, "95", "1"),
                            (BUCKET + 2 * STEP + 5, "105", "0.5")]

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        for seconds, price, quantity in self.past_trades:
            self.sandbox.add_past_trade("BTC/USDT", price, quantity, seconds * 1000)

    async def candles(self, **params: Any) -> Tuple[int, Any]:
        query = {"symbol": "BTC/USDT", "resolution": 5, "countBack": 10, **params}
        async with self.session.get(f"{self.sandbox.rest_url}/market/candles",
                                    params={key: str(value) for key, value in query.items()}) as response:
            return response.status, await response.json()

    async def test_bars_are_the_ohlcv_of_the_trades_with_time_in_milliseconds_or_seconds(self):
        status, answer = await self.candles(**{"from": BUCKET, "to": BUCKET + 3 * STEP})
        self.assertEqual(200, status)
        self.assertEqual({"bars": [
            {"time": BUCKET * 1000, "open": 100, "high": 110, "low": 95, "close": 95, "volume": 4},
            {"time": (BUCKET + 2 * STEP) * 1000, "open": 105, "high": 105, "low": 105, "close": 105, "volume": 0.5},
        ], "meta": {"noData": False}}, answer)

        async with self.session.post(f"{self.control_url}/settings", json={"candle_time_unit": "s"}) as response:
            self.assertEqual(200, response.status)
        _, answer = await self.candles(resolution=15, **{"from": BUCKET, "to": BUCKET + 3 * STEP})
        self.assertEqual([{"time": BUCKET, "open": 100, "high": 110, "low": 95, "close": 105, "volume": 4.5}],
                         answer["bars"])

    async def test_count_back_from_and_to_select_the_bars(self):
        _, newest = await self.candles(countBack=1)
        _, from_later = await self.candles(**{"from": BUCKET + STEP})
        _, before_to = await self.candles(**{"to": BUCKET + 2 * STEP})
        _, empty = await self.candles(**{"from": BUCKET + STEP, "to": BUCKET + 2 * STEP})

        self.assertEqual([(BUCKET + 2 * STEP) * 1000], [bar["time"] for bar in newest["bars"]])
        self.assertEqual([(BUCKET + 2 * STEP) * 1000], [bar["time"] for bar in from_later["bars"]])
        self.assertEqual([BUCKET * 1000], [bar["time"] for bar in before_to["bars"]])
        self.assertEqual({"bars": [], "meta": {"noData": True, "nextTime": BUCKET}}, empty)

    async def test_answers_are_capped_per_request(self):
        self.sandbox.candles.max_bars_per_request = 1
        _, answer = await self.candles()
        self.assertEqual([(BUCKET + 2 * STEP) * 1000], [bar["time"] for bar in answer["bars"]])

    async def test_invalid_requests_are_refused(self):
        self.assertEqual((400, {"error": {"code": 400, "message": "Bad Request",
                                          "description": "Missing required input: countBack"}}),
                         await self.candles(countBack=""))
        status, answer = await self.candles(resolution=7)
        self.assertEqual((400, 10001), (status, answer["error"]["code"]))
        self.assertIn("resolution must be one of 5, 15, 30, 60, 180, 240, 480, 720, 1440",
                      answer["error"]["description"])
        status, answer = await self.candles(symbol="NOPE/USDT")
        self.assertEqual((400, 2001), (status, answer["error"]["code"]))

    async def test_trades_of_the_engine_make_the_current_candle(self):
        self.sandbox.place_order("user2", "ETH/USDT", "sell", "limit", "0.5", "3500.00")
        self.sandbox.place_order("user", "ETH/USDT", "buy", "limit", "0.2", "3500.00")

        _, answer = await self.candles(symbol="ETH_USDT", countBack=1)
        traded_at = self.sandbox.trades("user", "ETH/USDT")[0]["timestamp"] // 1000
        self.assertEqual([{"time": (traded_at - traded_at % STEP) * 1000, "open": 3500, "high": 3500, "low": 3500,
                           "close": 3500, "volume": 0.2}], answer["bars"])


class CandlesWebSocketTests(SandboxTestCase):

    def trade(self, price: str, quantity: str = "0.001"):
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", quantity, price)
        self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", quantity, price)

    async def test_subscription_sends_a_snapshot_then_each_changed_candle(self):
        self.sandbox.add_past_trade("BTC/USDT", "60000", "1", BUCKET * 1000)
        ws = await self.connect_ws()
        request_id = await ws.request("subscribeCandles", {"symbol": "BTC/USDT", "period": 5, "limit": 10})

        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": request_id}, await ws.receive())
        snapshot = await ws.receive()
        self.assertEqual({"jsonrpc": "2.0", "method": "snapshotCandles", "params": {
            "symbol": "BTC/USDT", "period": 5, "data": [{
                "timestamp": "2026-02-27T00:00:00.000Z", "open": "60000.00", "close": "60000.00", "min": "60000.00",
                "max": "60000.00", "volume": "1.000000"}]}}, snapshot)

        self.trade("61000.00")
        first = await ws.receive_until(is_method("updateCandles"))
        self.trade("60500.00", "0.002")
        second = await ws.receive_until(is_method("updateCandles"))

        candle = second["params"]["data"][0]
        self.assertEqual([first["params"]["data"][0]["timestamp"]], [candle["timestamp"]])
        self.assertEqual({"open": "61000.00", "close": "60500.00", "min": "60500.00", "max": "61000.00",
                          "volume": "0.003000"},
                         {key: candle[key] for key in ("open", "close", "min", "max", "volume")})

    async def test_every_notification_shape(self):
        ws = await self.connect_ws()
        await ws.request("subscribeCandles", {"symbol": "BTC/USDT", "period": "5"})
        await ws.receive_until(is_method("snapshotCandles"))
        shapes: Dict[str, Dict[str, Any]] = {}
        for shape in WS_SHAPES:
            self.sandbox.candles.set_ws_shape(shape)
            self.trade("61000.00")
            shapes[shape] = (await ws.receive_until(is_method("updateCandles")))["params"]

        def keys(params: Dict[str, Any]) -> List[str]:
            return sorted(params["data"][0])

        self.assertEqual({"data", "period", "symbol"}, {key for params in shapes.values() for key in params})
        self.assertEqual(["close", "max", "min", "open", "timestamp", "volume"], keys(shapes["min_max_timestamp"]))
        self.assertEqual(["close", "high", "low", "open", "timestamp", "volume"], keys(shapes["high_low_timestamp_ms"]))
        self.assertIsInstance(shapes["high_low_timestamp_ms"]["data"][0]["timestamp"], int)
        self.assertEqual(["close", "datetime", "max", "min", "open", "volume"], keys(shapes["min_max_datetime"]))
        with self.assertRaises(ValueError):
            self.sandbox.candles.set_ws_shape("other")

    async def test_rejection_fault_and_invalid_subscriptions(self):
        async with self.session.post(f"{self.control_url}/faults",
                                     json={"fault": "reject_candle_subscriptions", "count": 1}) as response:
            self.assertEqual(200, response.status)
        ws = await self.connect_ws()

        rejected = await ws.request("subscribeCandles", {"symbol": "BTC/USDT", "period": 5})
        self.assertEqual({"jsonrpc": "2.0", "error": {"code": 503, "message": "Service Unavailable"},
                          "id": rejected}, await ws.receive())
        bad_period = await ws.request("subscribeCandles", {"symbol": "BTC/USDT", "period": 1})
        self.assertEqual(400, (await ws.receive())["error"]["code"])
        accepted = await ws.request("subscribeCandles", {"symbol": "BTC/USDT", "period": 5})
        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": accepted}, await ws.receive())
        self.assertNotEqual(bad_period, accepted)

        await ws.receive_until(is_method("snapshotCandles"))
        await ws.request("unsubscribeCandles", {"symbol": "BTC/USDT"})
        await ws.receive()
        self.trade("61000.00")
        await ws.assert_nothing_sent()


class CandleHistoryTests(SandboxTestCase):

    def sandbox_kwargs(self) -> Dict[str, Any]:
        return {"candle_history_hours": 2}

    async def test_generated_history_leads_to_the_initial_price(self):
        now = int(time.time())
        bars = self.sandbox.candles.bars("BTC/USDT", 5, now - 3 * 3600, None, 100)
        self.assertIn(len(bars), (24, 25))
        self.assertLessEqual(now - 2 * 3600 - STEP, bars[0].start)
        for bar in bars:
            self.assertTrue(Decimal("60000") < bar.low <= bar.high < Decimal("76000"), bar)
        self.assertEqual([], self.sandbox.candles.bars("BTC/USDT", 5, now - 3 * 3600, now - 2 * 3600 - STEP, 100))
