from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

# The key sets of the live captures (`rest_market_getlist_entry`, `rest_tickers_entry`).
MARKET_KEYS = {"id", "symbol", "primaryTicker", "primaryName", "priceDecimals", "quantityDecimals", "isActive",
               "isPaused", "minimumQuantity", "minQuote", "isMinQuoteActive", "allowMarketOrders",
               "allowTriggerOrders", "bestAsk", "bestBid", "lastPrice", "volume"}
TICKER_KEYS = {"ticker_id", "base_currency", "target_currency", "last_price", "bid", "ask", "high", "low",
               "base_volume", "target_volume"}


class PublicRestTests(SandboxTestCase):

    async def get(self, path: str, **params):
        async with self.session.get(f"{self.sandbox.rest_url}{path}", params=params) as response:
            return response.status, await response.json()

    async def test_time(self):
        status, body = await self.get("/time")

        self.assertEqual(200, status)
        self.assertEqual(["serverTime"], list(body))
        self.assertGreater(body["serverTime"], 1_700_000_000_000)

    async def test_market_list_has_the_live_shape_and_the_special_markets(self):
        status, markets = await self.get("/market/getlist")

        self.assertEqual(200, status)
        for market in markets:
            self.assertEqual(MARKET_KEYS, set(market))
            self.assertIsInstance(market["priceDecimals"], int)
            self.assertIsInstance(market["minimumQuantity"], (int, float))
            self.assertIsInstance(market["bestAsk"], str)
        by_symbol = {market["symbol"]: market for market in markets}
        btc = by_symbol["BTC/USDT"]
        self.assertEqual((2, 6, 0.00001, 1, True),
                         (btc["priceDecimals"], btc["quantityDecimals"], btc["minimumQuantity"], btc["minQuote"],
                          btc["isMinQuoteActive"]))
        sal = by_symbol["SAL/USDT"]
        self.assertEqual((6, 4, 1, False), (sal["priceDecimals"], sal["quantityDecimals"], sal["minimumQuantity"],
                                            sal["isMinQuoteActive"]))
        self.assertTrue(by_symbol["DOGE/USDT"]["isPaused"])
        self.assertFalse(by_symbol["NKYC/USDT"]["allowMarketOrders"])
        self.assertTrue(any("-" in symbol for symbol in by_symbol))
        self.assertNotEqual((2, 6), (by_symbol["ETH/USDT"]["priceDecimals"], by_symbol["ETH/USDT"]["quantityDecimals"]))

    async def test_order_book_sequence_is_a_string_from_the_rest_counter_and_moves_with_the_book(self):
        status, before = await self.get("/market/orderbook", symbol="BTC/USDT", limit=5)
        self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", "60000.00")
        self.sandbox.place_order("user2", "BTC/USDT", "sell", "limit", "0.002", "61000.00")

        status, after = await self.get("/market/orderbook", symbol="BTC_USDT", limit=5)

        self.assertEqual(200, status)
        self.assertIsInstance(before["sequence"], str)
        self.assertEqual(int(before["sequence"]) + 2, int(after["sequence"]))
        self.assertLess(int(after["sequence"]), 1_000_000)  # far from the WS counter (~1,215,881)
        self.assertEqual({"marketid", "symbol", "timestamp", "sequence", "bids", "asks"}, set(after))
        self.assertEqual([{"price": "60000.00", "quantity": "0.001000"}], after["bids"])
        self.assertEqual([{"price": "61000.00", "quantity": "0.002000"}], after["asks"])

    async def test_order_book_limit_and_raw_or_encoded_symbols(self):
        for price in ("60000.00", "59000.00", "58000.00"):
            self.sandbox.place_order("user2", "BTC/USDT", "buy", "limit", "0.001", price)

        for query in ("symbol=BTC/USDT&limit=2", "symbol=BTC%2FUSDT&limit=2"):
            async with self.session.get(f"{self.sandbox.rest_url}/market/orderbook?{query}") as response:
                body = await response.json()
            self.assertEqual(["60000.00", "59000.00"], [level["price"] for level in body["bids"]])

    async def test_unknown_symbol_answers_2001(self):
        status, body = await self.get("/market/orderbook", symbol="NOPE/USDT")

        self.assertEqual((400, 2001), (status, body["error"]["code"]))

    async def test_tickers_have_the_live_shape_and_follow_trades(self):
        self.sandbox.place_order("user2", "ETH/USDT", "sell", "limit", "0.5", "3600.00")
        self.sandbox.place_order("user", "ETH/USDT", "buy", "market", "0.2")
        self.sandbox.place_order("user2", "ETH/USDT", "buy", "limit", "0.1", "3550.00")

        status, tickers = await self.get("/tickers")

        self.assertEqual(200, status)
        for ticker in tickers:
            self.assertEqual(TICKER_KEYS, set(ticker))
        eth = next(ticker for ticker in tickers if ticker["ticker_id"] == "ETH_USDT")
        self.assertEqual(("ETH", "USDT", "3600.00", "3550.00", "3600.00", "0.2000", "720.00000000"),
                         (eth["base_currency"], eth["target_currency"], eth["last_price"], eth["bid"], eth["ask"],
                          eth["base_volume"], eth["target_volume"]))
        dashed = [ticker["ticker_id"] for ticker in tickers if "-" in ticker["ticker_id"]]
        self.assertEqual(["BTC_USDT-TRC20"], dashed)

    async def test_unknown_path_answers_a_json_error(self):
        status, body = await self.get("/nope")

        self.assertEqual((404, 402), (status, body["error"]["code"]))

    async def test_single_market_and_single_ticker(self):
        status, market = await self.get("/market/info", symbol="SAL_USDT")
        self.assertEqual((200, "SAL/USDT"), (status, market["symbol"]))
        status, same = await self.get("/market/info", id=market["id"])
        self.assertEqual(market, same)

        async with self.session.get(f"{self.sandbox.rest_url}/ticker/BTC_USDT-TRC20") as response:
            ticker = await response.json()
        self.assertEqual(("BTC", "USDT-TRC20"), (ticker["base_currency"], ticker["target_currency"]))
