"""
scripts/nonkyc_market_maker.py started the way the demo starts it (Hummingbot's TradingCore, the real NonkycExchange,
a real Clock) against the NonKYC sandbox on a free port, without simulated traders: the test sets the book itself.
"""
import logging
from decimal import Decimal
from test.e2e.matrix.support import StrategyOnSandboxTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict

from demo.monitor import StreamResyncs
from demo.run_demo import SCRIPT_NAME
from demo.sandbox_environment import CONNECTOR_NAME

SYMBOL = "BTC/USDT"
PAIR = "BTC-USDT"
BOOK_MAKER = "sim-maker"
STRATEGY_LOGGER = "hummingbot.strategy.strategy_v2_base"


class MarketMakerOnSandboxTests(StrategyOnSandboxTestCase):
    """The demo's script (`scripts/nonkyc_market_maker.py`) on a sandbox whose book only the test changes."""

    seed = 7
    simulated_traders = False

    # === Helpers ===

    def quote_book(self, best_bid: str, best_ask: str):
        """Replaces the book maker's quotes: one bid and one ask of 1 BTC."""
        self.sandbox.cancel_all_orders(BOOK_MAKER, SYMBOL)
        self.sandbox.place_order(BOOK_MAKER, SYMBOL, "buy", "limit", "1", best_bid)
        self.sandbox.place_order(BOOK_MAKER, SYMBOL, "sell", "limit", "1", best_ask)

    async def start_bot(self, **config) -> None:
        settings = {"connector_name": CONNECTOR_NAME, "trading_pair": PAIR, **config}
        self.assertTrue(await self.start_script(SCRIPT_NAME, settings))

    def active_quotes(self) -> Dict[str, Dict]:
        return {order["side"]: order for order in self.user_orders(PAIR, "active")}

    # === Tests ===

    async def test_quotes_are_placed_refreshed_and_cancelled_on_stop(self):
        self.quote_book(best_bid="67000.00", best_ask="67100.00")  # mid 67050
        await self.start_bot(order_amount="0.0012345678", bid_spread="0.0012345", ask_spread="0.0012345",
                             order_refresh_time="2")

        await wait_until(lambda: len(self.active_quotes()) == 2, timeout=10.0, what="the first bid and ask")
        first = self.active_quotes()
        # bid 66967.226775 rounded down, ask 67132.773225 rounded up, amount truncated to 6 decimals
        self.assertEqual(("66967.22", "0.001234"), (first["buy"]["price"], first["buy"]["quantity"]))
        self.assertEqual(("67132.78", "0.001234"), (first["sell"]["price"], first["sell"]["quantity"]))
        self.assertEqual("limit", first["buy"]["type"])
        self.assertTrue(first["buy"]["userProvidedId"].startswith("HBOT"))

        # mid 67070, a move that does not reach our quotes: bid 66987.202085 -> 66987.20, ask 67152.797915 -> 67152.80
        self.quote_book(best_bid="67020.00", best_ask="67120.00")
        await wait_until(lambda: {order["price"] for order in self.active_quotes().values()}
                         == {"66987.20", "67152.80"}, timeout=10.0, what="the re-quote around the new mid")

        first_ids = {first["buy"]["id"], first["sell"]["id"]}
        statuses = {order["id"]: order["status"] for order in self.user_orders(PAIR)}
        self.assertEqual({"Cancelled"}, {statuses[order_id] for order_id in first_ids})

        await self.stop_bot()

        self.assertEqual([], self.user_orders(PAIR, "active"))
        self.assertEqual({"Cancelled"}, {order["status"] for order in self.user_orders(PAIR)})
        self.assertEqual(4, len(self.user_orders(PAIR)))

    async def test_only_the_order_the_balance_covers_is_placed(self):
        self.quote_book(best_bid="67000.00", best_ask="67100.00")
        self.sandbox.set_balance("user", "USDT", "20")  # far from the 67 USDT a 0.001 BTC bid needs

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            await self.start_bot(order_amount="0.001", bid_spread="0.002", ask_spread="0.002",
                                 order_refresh_time="30")
            await wait_until(lambda: len(self.active_quotes()) == 1, timeout=10.0, what="the ask")
            strategy = self.bot.trading_core.strategy
            ask_seen_at = strategy.current_timestamp
            await wait_until(lambda: strategy.current_timestamp > ask_seen_at, timeout=10.0,
                             what="one more tick of the strategy")

        # The strategy tracks an order as soon as it places it: a bid sent but not yet on the exchange would show.
        self.assertEqual([False], [order.is_buy for order in strategy.open_orders()])
        self.assertEqual(["sell"], list(self.active_quotes()))
        self.assertEqual("67184.10", self.active_quotes()["sell"]["price"])
        self.assertTrue(any("Skipping the buy order of 0.001000 BTC at 66915.90 USDT: the available balance does "
                            "not cover it" in line for line in logs.output), logs.output)

    async def test_a_fill_is_reported_and_the_strategy_keeps_quoting_the_other_side(self):
        self.quote_book(best_bid="66000.00", best_ask="68100.00")  # mid 67050, our quotes inside the spread
        await self.start_bot(order_amount="0.002", bid_spread="0.001", ask_spread="0.001", order_refresh_time="30")
        await wait_until(lambda: len(self.active_quotes()) == 2, timeout=10.0, what="the bid and the ask")
        strategy = self.bot.trading_core.strategy

        with self.assertLogs(STRATEGY_LOGGER, level="INFO") as logs:
            # A taker sells into our bid (66982.95): it is the best bid, so it fills first.
            self.sandbox.place_order("sim-taker", SYMBOL, "sell", "market", "0.002")
            await wait_until(lambda: len(strategy.open_orders()) == 1, timeout=10.0, what="the bot to see the fill")

        self.assertEqual(["sell"], list(self.active_quotes()))
        self.assertFalse(strategy.open_orders()[0].is_buy)
        self.assertTrue(any("Filled: buy 0.002000 BTC at 66982.95 USDT" in line for line in logs.output), logs.output)
        balances = self.sandbox.balances("user")
        self.assertEqual(Decimal("2.002"), balances["BTC"]["total"])

    async def test_the_demo_counts_the_resyncs_of_the_connector(self):
        root = logging.getLogger()
        self.addCleanup(root.setLevel, root.level)
        root.setLevel(logging.INFO)  # as the demo's logging set-up does
        self.quote_book(best_bid="67000.00", best_ask="67100.00")
        await self.start_bot(order_amount="0.001", order_refresh_time="30")
        connector = self.bot.trading_core.connectors[CONNECTOR_NAME]
        await wait_until(lambda: connector.ready, timeout=10.0, what="the connector to be ready")
        self.assertEqual({"order_book_gap_resubscriptions": 0, "public_stream_connections": 1,
                          "private_stream_connections": 1}, connector.stream_statistics)
        self.assertEqual(StreamResyncs(0, 0), StreamResyncs.of(connector))

        self.sandbox.faults.skip_ws_sequence(symbol=SYMBOL)
        self.quote_book(best_bid="67010.00", best_ask="67090.00")  # book updates: the first one jumps a number
        await wait_until(lambda: StreamResyncs.of(connector).gap_resubscriptions == 1, timeout=10.0,
                         what="the gap re-subscription")
        self.sandbox.faults.drop_ws_connections()
        await wait_until(lambda: StreamResyncs.of(connector) == StreamResyncs(1, 2), timeout=10.0,
                         what="both streams to reconnect")

        self.assertEqual([], self.all_errors.errors)
