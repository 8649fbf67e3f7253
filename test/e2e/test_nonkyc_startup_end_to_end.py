"""
End-to-end start-up with many pairs: the real NonkycExchange, driven by a real Hummingbot Clock, against the sandbox
with 50 generated markets (ALT001/USDT ...) over real sockets. The books must come from the WebSocket snapshots (no
REST snapshot unless one is late), equal the exchange's, follow its diffs, and do the same after a network restart
and for a pair added while running.
"""
from decimal import Decimal
from test.e2e.e2e_support import EndToEndTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict, List, Optional, Tuple
from unittest.mock import patch

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from nonkyc_sandbox.markets import MarketSpec, default_markets, generated_markets

MARKETS = 50
PAIRS = [f"ALT{number:03d}-USDT" for number in range(1, MARKETS + 1)]

Levels = Dict[str, List[Tuple[Decimal, Decimal]]]


class ManyPairsEndToEndTests(EndToEndTestCase):

    def sandbox_markets(self) -> Optional[List[MarketSpec]]:
        return default_markets() + generated_markets(MARKETS)

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.sandbox.traders.tick()  # every book has levels; each test then steps the traders itself
        self.rest_snapshots: List[str] = []
        original = NonkycAPIOrderBookDataSource._order_book_snapshot

        async def recorded(data_source: NonkycAPIOrderBookDataSource, trading_pair: str):
            self.rest_snapshots.append(trading_pair)
            return await original(data_source, trading_pair)

        patcher = patch.object(NonkycAPIOrderBookDataSource, "_order_book_snapshot", recorded)
        patcher.start()
        self.addCleanup(patcher.stop)

    def connector_levels(self, connector: NonkycExchange, trading_pair: str) -> Levels:
        market = self.sandbox.engine.markets[trading_pair.replace("-", "/")]
        book = connector.get_order_book(trading_pair)
        return {side: [(Decimal(str(row.price)).quantize(market.price_step),
                        Decimal(str(row.amount)).quantize(market.quantity_step)) for row in rows]
                for side, rows in (("bids", book.bid_entries()), ("asks", book.ask_entries()))}

    def sandbox_levels(self, trading_pair: str) -> Levels:
        return self.sandbox.order_book_levels(trading_pair.replace("-", "/"), limit=CONSTANTS.ORDER_BOOK_SNAPSHOT_DEPTH)

    def pairs_differing(self, connector: NonkycExchange, pairs: List[str]) -> List[str]:
        return [pair for pair in pairs if self.connector_levels(connector, pair) != self.sandbox_levels(pair)]

    async def assert_books_equal_the_sandbox(self, connector: NonkycExchange, pairs: List[str], context: str):
        await wait_until(lambda: not self.pairs_differing(connector, pairs), 10,
                         lambda: f"the books {context} to equal the sandbox's (differing: "
                                 f"{self.pairs_differing(connector, pairs)})", interval=0.05)

    async def test_fifty_pairs_are_ready_from_their_ws_snapshots_and_follow_the_exchange(self):
        connector = await self.start_connector(trading_pairs=PAIRS)

        self.assertEqual([], self.rest_snapshots)
        await self.assert_books_equal_the_sandbox(connector, PAIRS, "at start")
        self.sandbox.traders.tick()  # a diff on every market
        await self.assert_books_equal_the_sandbox(connector, PAIRS, "after a round of diffs")
        self.assertEqual(1, connector.stream_statistics["public_stream_connections"])
        self.assertEqual([], self.errors_logged())

    async def test_a_withheld_snapshot_falls_back_to_rest_then_the_book_goes_live(self):
        self.sandbox.faults.withhold_ws_snapshot(symbol="ALT007/USDT")
        # Long enough for the eleven other snapshots on a loaded machine; the withheld one never comes.
        with patch.object(CONSTANTS, "ORDER_BOOK_WS_SNAPSHOT_WAIT", 3.0):
            connector = await self.start_connector(trading_pairs=PAIRS[:12])

        self.assertEqual(["ALT007-USDT"], self.rest_snapshots)
        self.assertTrue(any("No WebSocket snapshot of the ALT007-USDT order book" in record.getMessage()
                            for record in self.log_records))
        self.sandbox.traders.tick()
        await self.assert_books_equal_the_sandbox(connector, PAIRS[:12], "after the re-subscription and diffs")
        self.assertEqual(["ALT007-USDT"], self.rest_snapshots)
        self.assertEqual([], self.errors_logged())

    async def test_a_refused_subscription_is_retried_while_the_other_pairs_get_their_books(self):
        self.sandbox.faults.refuse_ws_subscription(symbol="ALT003/USDT")
        connector = await self.start_connector(trading_pairs=PAIRS[:12])

        initialized = [record.getMessage() for record in self.log_records
                       if record.getMessage().startswith("Initialized the order book of ")]
        self.assertEqual(12, len(initialized))
        self.assertEqual("Initialized the order book of ALT003-USDT.", initialized[-1], "the others did not wait")
        self.assertTrue(any("rejected subscribeOrderbook for ALT003-USDT" in record.getMessage()
                            for record in self.log_records))
        self.assertEqual([], self.rest_snapshots)
        self.sandbox.traders.tick()
        await self.assert_books_equal_the_sandbox(connector, PAIRS[:12], "after diffs")

    async def test_fifty_pairs_are_ready_again_from_fresh_snapshots_after_a_network_restart(self):
        connector = await self.start_connector(trading_pairs=PAIRS)

        await connector.stop_network()  # what Hummingbot's network check does when the exchange is unreachable
        self.assertFalse(connector.ready)
        self.sandbox.traders.tick()  # the books change while the network is down
        await connector.start_network()  # and when it is back
        await wait_until(lambda: connector.ready, 30, lambda: f"the connector to be ready ({connector.status_dict})",
                         interval=0.05)

        self.assertEqual([], self.rest_snapshots)
        await self.assert_books_equal_the_sandbox(connector, PAIRS, "after the restart")
        self.sandbox.traders.tick()
        await self.assert_books_equal_the_sandbox(connector, PAIRS, "after diffs")
        self.assertEqual(2, connector.stream_statistics["public_stream_connections"])
        self.assertEqual([], self.errors_logged())

    async def test_a_pair_added_while_running_is_live_from_its_ws_snapshot(self):
        connector = await self.start_connector(trading_pairs=PAIRS[:1])

        self.assertTrue(await connector.add_trading_pair("ALT002-USDT"))

        self.assertEqual([], self.rest_snapshots)
        await self.assert_books_equal_the_sandbox(connector, PAIRS[:2], "after the pair was added")
        self.sandbox.traders.tick()
        await self.assert_books_equal_the_sandbox(connector, PAIRS[:2], "after diffs")
        self.assertEqual([], self.errors_logged())
