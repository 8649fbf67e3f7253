"""
End-to-end tests of the connector as Hummingbot API runs it (no Clock, no start_network(), `trading_pairs=[]`, pairs
added with `add_trading_pair`), against the sandbox over real sockets: timestamps from the wall clock, a fill whose
private report was lost found by the REST safety net within its interval, prices of a paused market, candles.
"""
import math
import time
from decimal import Decimal
from test.e2e.e2e_support import PAIR, SYMBOL, TAKER, USER
from test.e2e.hummingbot_api_support import HummingbotApiLifecycleTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.event.events import MarketEvent
from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig


def short_intervals(connector: NonkycExchange):
    """The wall clock ticks every 0.1 s; status polls every 1 s (private stream silent) or 3 s (alive)."""
    connector.WALL_CLOCK_TICK_INTERVAL = 0.1
    connector.SHORT_POLL_INTERVAL = 1.0
    connector.LONG_POLL_INTERVAL = 3.0


class HummingbotApiLifecycleEndToEndTests(HummingbotApiLifecycleTestCase):

    async def place_bid(self, connector: NonkycExchange, amount: str, price: str):
        order_id = connector.buy(PAIR, Decimal(amount), OrderType.LIMIT, Decimal(price))
        await wait_until(lambda: connector.events[MarketEvent.BuyOrderCreated].event_log, 10, "the bid to be created",
                         interval=0.05)
        return connector.in_flight_orders[order_id]

    async def test_timestamps_come_from_the_wall_clock_never_nan_nor_stale(self):
        connector = await self.start_like_hummingbot_api()
        self.assertAlmostEqual(time.time(), connector.current_timestamp, delta=2)
        await self.add_trading_pair_like_hummingbot_api(connector, PAIR)

        bid = await self.place_bid(connector, "0.001", "60000")

        created = connector.events[MarketEvent.BuyOrderCreated].event_log[0]
        for timestamp in (bid.creation_timestamp, bid.last_update_timestamp, created.timestamp,
                          created.creation_timestamp):
            self.assertTrue(math.isfinite(timestamp))
            self.assertAlmostEqual(time.time(), timestamp, delta=5)
        await self.refresh_like_hummingbot_api(connector)  # sets the timestamp by hand, then nothing for 5 minutes
        refreshed = connector.current_timestamp
        await wait_until(lambda: connector.current_timestamp > refreshed + 1, 5, "the timestamp to follow the clock")
        self.assertAlmostEqual(time.time(), connector.current_timestamp, delta=1)
        self.assertEqual([], self.errors_logged())

    async def test_a_fill_whose_private_report_was_lost_is_found_within_the_poll_interval(self):
        connector = await self.start_like_hummingbot_api(before_loops=short_intervals)
        await self.add_trading_pair_like_hummingbot_api(connector, PAIR)
        data_source = connector._user_stream_tracker.data_source
        await wait_until(lambda: data_source.last_recv_time > 0, 10, "the private stream to be subscribed")
        bid = await self.place_bid(connector, "0.01", "60000")
        trades_read = self.sandbox.rest.requests_by_endpoint["/account/trades"]

        self.sandbox.faults.drop_private_reports(count=10, account=USER)
        filled_at = time.monotonic()
        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.01")
        await wait_until(lambda: connector.events[MarketEvent.OrderFilled].event_log, connector.LONG_POLL_INTERVAL + 10,
                         lambda: f"the fill to be found (state {bid.current_state})", interval=0.05)
        found_after = time.monotonic() - filled_at
        await wait_until(lambda: connector.events[MarketEvent.BuyOrderCompleted].event_log, 10,
                         "the order to complete", interval=0.05)

        self.assertLess(found_after, connector.LONG_POLL_INTERVAL + 5)  # not at the API's 5-minute refresh
        self.assertTrue(bid.is_filled)
        on_exchange = [(trade["id"], Decimal(trade["quantity"]), Decimal(trade["price"]))
                       for trade in self.sandbox.trades(USER, SYMBOL) if trade["orderid"] == bid.exchange_order_id]
        self.assertEqual(on_exchange, [(fill.exchange_trade_id, fill.amount, fill.price)
                                       for fill in connector.events[MarketEvent.OrderFilled].event_log])
        self.assertGreater(self.sandbox.rest.requests_by_endpoint["/account/trades"], trades_read)
        self.assertEqual(1, len(connector.events[MarketEvent.BuyOrderCompleted].event_log))
        self.assertEqual([], self.errors_logged())

    async def test_a_paused_market_is_priced_for_valuation_and_stays_untradeable(self):
        connector = await self.start_like_hummingbot_api()
        tickers_read = self.sandbox.rest.requests_by_endpoint["/tickers"]

        # The API values a balance in the last price of `<TOKEN>-USDT` when its rate oracle has none.
        self.assertEqual(0.12, await connector._get_last_traded_price("DOGE-USDT"))
        rows = {row["symbol"]: row for row in await connector.get_all_pairs_prices()}
        self.assertEqual(set(self.sandbox.engine.markets), set(rows))
        self.assertEqual({"symbol": "DOGE/USDT", "bidPrice": "0.00000", "askPrice": "0.00000", "lastPrice": "0.12000"},
                         rows["DOGE/USDT"])  # the exchange's strings
        self.assertEqual("DOGE-USDT", await connector.trading_pair_associated_to_exchange_symbol("DOGE/USDT"))
        self.assertEqual(1, self.sandbox.rest.requests_by_endpoint["/tickers"] - tickers_read)
        self.assertNotIn("DOGE-USDT", connector.trading_rules)
        self.assertNotIn("DOGE-USDT", await connector.all_trading_pairs())

    async def test_candles_through_the_connectors_throttler_as_the_api_validates_a_feed(self):
        now_ms = int(time.time() * 1000)
        for minutes_ago in range(60, 0, -5):
            self.sandbox.add_past_trade(SYMBOL, "60000", "0.01", now_ms - minutes_ago * 60 * 1000)
        connector = await self.start_like_hummingbot_api()

        throttled = []  # the limit ids of the requests that went through the connector's throttler
        execute_task = connector.throttler.execute_task
        connector.throttler.execute_task = lambda limit_id: throttled.append(limit_id) or execute_task(limit_id)

        feed = CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair=PAIR, interval="5m",
                                                       max_records=50), connector=connector)
        await feed.initialize_exchange_data()
        candles = await feed.fetch_candles(end_time=int(time.time()), limit=50)

        self.assertIs(connector.throttler, feed._api_factory.throttler)
        self.assertIn(CONSTANTS.CANDLES_PATH_URL, throttled)
        self.assertGreaterEqual(len(candles), 12)
        self.assertEqual(60000.0, candles[0][4])
