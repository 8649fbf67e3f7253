from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase

from nonkyc_sandbox import MAKER_ACCOUNT, SandboxExchange, TraderSettings
from nonkyc_sandbox.markets import generated_markets


def without_timestamps(trades):
    return [{key: value for key, value in trade.items() if key != "timestamp"} for trade in trades]


def run_ticks(seed: int, ticks: int) -> SandboxExchange:
    sandbox = SandboxExchange(seed=seed, simulated_traders=False)
    for _ in range(ticks):
        sandbox.traders.tick()
    return sandbox


class SimulatedTraderTests(SandboxTestCase):

    async def test_the_simulation_is_deterministic_under_a_seed(self):
        first, second, other = run_ticks(3, 30), run_ticks(3, 30), run_ticks(4, 30)

        self.assertEqual(first.order_book_levels("BTC/USDT"), second.order_book_levels("BTC/USDT"))
        self.assertEqual(without_timestamps(first.trades("sim-taker")),
                         without_timestamps(second.trades("sim-taker")))
        self.assertGreater(len(first.trades("sim-taker")), 0)
        self.assertEqual([order["id"] for order in first.orders(MAKER_ACCOUNT)],
                         [order["id"] for order in second.orders(MAKER_ACCOUNT)])
        self.assertNotEqual(first.order_book_levels("BTC/USDT"), other.order_book_levels("BTC/USDT"))

    async def test_maker_keeps_several_levels_on_both_sides_of_every_tradeable_market(self):
        self.sandbox.traders.settings.taker_probability = 0
        for _ in range(3):
            self.sandbox.traders.tick()

        for market in self.sandbox.markets:
            book = self.sandbox.order_book_levels(market.symbol)
            if not market.tradeable:
                self.assertEqual({"bids": [], "asks": []}, book, market.symbol)
                continue
            self.assertEqual((5, 5), (len(book["bids"]), len(book["asks"])), market.symbol)
            self.assertLess(book["bids"][0][0], book["asks"][0][0])
            for price, quantity in book["bids"] + book["asks"]:
                self.assertGreaterEqual(quantity, market.minimum_quantity)
                self.assertEqual(price, price.quantize(market.price_step))

    async def test_a_clients_quotes_near_the_mid_get_filled(self):
        self.sandbox.traders.tick()
        mid = self.sandbox.traders.mid["BTC/USDT"]
        for side, factor in (("buy", Decimal("0.995")), ("sell", Decimal("1.005"))):
            await self.client.create_order("BTC/USDT", side, "0.001", str((mid * factor).quantize(Decimal("0.01"))))

        ticks = 0
        while len(self.sandbox.trades("user")) == 0 and ticks < 240:  # 240 ticks = 2 minutes at the default pace
            self.sandbox.traders.tick()
            ticks += 1

        self.assertTrue(self.sandbox.trades("user"), f"no fill of the client's quotes in {ticks} ticks")
        fill = self.sandbox.trades("user")[0]
        self.assertNotEqual(fill["side"].lower(), fill["triggeredBy"])  # the client's quote was the maker

    async def test_running_traders_stream_updates_and_stop_cleanly(self):
        self.sandbox.traders.settings.interval = 0.02
        self.sandbox.traders.start()
        ws = await self.connect_ws()
        await ws.request("subscribeOrderbook", {"symbol": "SAL/USDT", "limit": 5})
        await ws.receive()
        snapshot = await ws.receive()

        updates = [await ws.receive_until(lambda m: m.get("method") == "updateOrderbook") for _ in range(3)]

        sequences = [update["params"]["sequence"] for update in updates]
        self.assertEqual(list(range(snapshot["params"]["sequence"] + 1, snapshot["params"]["sequence"] + 4)),
                         sequences)
        await self.sandbox.traders.stop()
        self.assertFalse(self.sandbox.traders.running)

    async def test_the_simulated_accounts_history_stays_bounded(self):
        engine = self.sandbox.engine
        tradeable = sum(1 for market in self.sandbox.markets if market.tradeable)
        quotes = tradeable * 2 * self.sandbox.traders.settings.levels

        for _ in range(2000 // quotes + 5):
            self.sandbox.traders.tick()

        maker_orders = engine.account_orders[MAKER_ACCOUNT]
        self.assertLessEqual(len([order for order in maker_orders if not order.is_active]), 1000)
        self.assertLessEqual(len(maker_orders), 1000 + quotes)  # the active quotes are never forgotten
        self.assertTrue(all(engine.orders[order.id] is order for order in engine.active_orders(MAKER_ACCOUNT)))
        self.assertLessEqual(len(engine.account_trades["sim-taker"]), 1000)


class ManyMarketsTests(SandboxTestCase):

    def sandbox_kwargs(self):
        return {"markets": generated_markets(40)}

    def test_generated_markets_are_distinct_and_deterministic(self):
        markets = generated_markets(40)

        self.assertEqual([f"ALT{number:03d}/USDT" for number in range(1, 41)], [market.symbol for market in markets])
        self.assertEqual(markets, generated_markets(40))
        self.assertGreater(len({(market.initial_price, market.price_decimals) for market in markets}), 20)
        for market in markets:
            self.assertEqual(market.initial_price, market.initial_price.quantize(market.price_step))
            self.assertGreater(market.initial_price, 0)

    async def test_every_market_streams_diffs_and_each_tick_replaces_the_makers_quotes(self):
        ws = await self.connect_ws()
        for market in self.sandbox.markets:
            await ws.request("subscribeOrderbook", {"symbol": market.symbol, "limit": 10})
        snapshots = {}
        while len(snapshots) < len(self.sandbox.markets):
            message = await ws.receive()
            if message.get("method") == "snapshotOrderbook":
                snapshots[message["params"]["symbol"]] = message["params"]["sequence"]
        self.sandbox.traders.settings.taker_probability = 0

        for _ in range(3):
            self.sandbox.traders.tick()

        updates = {}
        while len(updates) < len(self.sandbox.markets):
            message = await ws.receive_method("updateOrderbook")
            updates.setdefault(message["params"]["symbol"], message["params"]["sequence"])
        self.assertEqual({symbol: sequence + 1 for symbol, sequence in snapshots.items()}, updates)
        quotes = len(self.sandbox.markets) * 2 * self.sandbox.traders.settings.levels
        self.assertEqual(quotes, len(self.sandbox.engine.active_orders(MAKER_ACCOUNT)))


class TraderSettingsTests(SandboxTestCase):
    traders = True

    def sandbox_kwargs(self):
        return {"trader_settings": TraderSettings(interval=0.05)}

    async def test_books_are_populated_on_start_and_keep_moving(self):
        async with self.session.get(f"{self.sandbox.rest_url}/market/orderbook",
                                    params={"symbol": "ETH/USDT"}) as response:
            book = await response.json()

        self.assertEqual((5, 5), (len(book["bids"]), len(book["asks"])))
        # the sequence /market/orderbook answers moves with every change of the book
        await wait_until(lambda: self.sandbox.engine.rest_sequence["ETH/USDT"] > int(book["sequence"]), timeout=2.0,
                         what="the simulated traders to change the ETH/USDT book")
