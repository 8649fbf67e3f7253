"""
The reconciliation of the tracked orders with NonKYC over REST (nonkyc_reconciliation.py): the pager of
/account/trades, the status poll (one active-order listing, look-ups only for the orders it does not list, "not found"
counted only on NonKYC's 20002) and the fills read from the account-wide trades. How the polls hold up under transient
errors and rate limiting, and what they cost, is in test_nonkyc_rest_errors_and_rate_limits.py.
"""
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NOT_FOUND,
    POLL_TIME_MS,
    RATE_LIMITED,
    TRANSIENT_ANSWERS,
    NonkycExchangeRestTestCase,
    NonkycExchangeShapes,
    NonkycReconciliationTestCase,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List

from aioresponses import aioresponses

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import (
    AccountTradesPages,
    NonkycReconciliation,
    timestamp_ms,
)
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import OrderState
from hummingbot.core.data_type.trade_fee import TokenAmount
from hummingbot.core.event.events import MarketEvent

TRADE_SHAPE = {"market": {"id": "66be1b9ae1d5ae4126f68be4", "symbol": "SAL/USDT"},
               "orderid": "6990d8e81be80212916d57f9", "side": "Buy", "triggeredBy": "sell", "price": "0.021118",
               "quantity": "1771.1985", "fee": "0.074808339846", "totalWithFee": "37.478978262846"}


def trade(number: int, timestamp: Any) -> Dict[str, Any]:
    """An /account/trades entry (live shape) with its own id."""
    return {**TRADE_SHAPE, "id": f"69914db4b3e90040c2b8{number:04x}", "timestamp": timestamp}


class FakeTradesApi:
    """Answers `/account/trades` queries over a list of trades the way an API with a given order would."""

    def __init__(self, trades: List[Dict[str, Any]], oldest_first_with_since: bool, fail_on_request: int = 0):
        self.trades = sorted(trades, key=timestamp_ms)
        self.oldest_first_with_since = oldest_first_with_since
        self.fail_on_request = fail_on_request
        self.queries: List[Dict[str, Any]] = []

    async def fetch(self, params: Dict[str, Any]) -> List[Dict[str, Any]]:
        self.queries.append(dict(params))
        if len(self.queries) == self.fail_on_request:
            raise IOError("Error executing request GET /account/trades. HTTP status is 522.")
        assert params["limit"] <= 500 and params.get("skip", 0) <= 500, params
        selected = [entry for entry in self.trades if timestamp_ms(entry) >= params["since"]]
        if not self.oldest_first_with_since:
            selected.reverse()
        skip = params.get("skip", 0)
        return selected[skip:skip + params["limit"]]


async def read_all(pages: AccountTradesPages) -> List[Dict[str, Any]]:
    read = []
    async for page in pages.pages():
        read.extend(page)
    return read


class AccountTradesPagesTests(IsolatedAsyncioWrapperTestCase):

    async def test_oldest_first_pages_by_time_and_reads_any_number_of_trades(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(1201)],
                            oldest_first_with_since=True)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        read = await read_all(pages)

        self.assertEqual(1201, len(read))
        self.assertEqual(len(read), len({entry["id"] for entry in read}))
        self.assertTrue(pages.complete)
        self.assertEqual(AccountTradesPages.OLDEST_FIRST, pages.order)
        self.assertEqual([{"since": 1771130000000, "limit": 500}, {"since": 1771130000499, "limit": 500},
                          {"since": 1771130000998, "limit": 500}], api.queries)
        self.assertEqual(1771130000998, pages.read_until_ms)

    async def test_a_page_all_in_one_millisecond_is_stepped_over_with_skip(self):
        api = FakeTradesApi([trade(number, 1771130000000) for number in range(700)]
                            + [trade(1000 + number, 1771130000001) for number in range(3)],
                            oldest_first_with_since=True)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        read = await read_all(pages)

        self.assertEqual(703, len(read))
        self.assertEqual([{"since": 1771130000000, "limit": 500}, {"since": 1771130000000, "limit": 500, "skip": 500}],
                         api.queries)
        self.assertTrue(pages.complete)

    async def test_iso_timestamps_page_like_milliseconds(self):
        trades = [trade(number, f"2026-02-27T05:24:{number // 1000:02d}.{number % 1000:03d}Z") for number in range(600)]
        api = FakeTradesApi(trades, oldest_first_with_since=True)
        pages = AccountTradesPages(api.fetch, since_ms=1772169840000)

        read = await read_all(pages)

        self.assertEqual(600, len(read))
        self.assertEqual(1772169840499, api.queries[1]["since"])  # 2026-02-27T05:24:00.499Z
        self.assertTrue(pages.complete)

    async def test_newest_first_pages_by_skip_up_to_500_then_says_it_is_truncated(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(1201)],
                            oldest_first_with_since=False)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        read = await read_all(pages)

        self.assertEqual(1000, len(read))
        self.assertEqual([None, 500], [query.get("skip") for query in api.queries])
        self.assertEqual(AccountTradesPages.NEWEST_FIRST, pages.order)
        self.assertTrue(pages.truncated)
        self.assertFalse(pages.complete)
        self.assertIsNone(pages.read_until_ms)

    async def test_pages_all_of_one_millisecond_page_by_skip_and_never_move_the_cursor_past_unread_trades(self):
        # 1 200 trades of one millisecond (a burst), after `since`: the order of a page cannot be told.
        api = FakeTradesApi([trade(number, 1771130000005) for number in range(1200)], oldest_first_with_since=False)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        read = await read_all(pages)

        self.assertEqual(1000, len(read))
        self.assertEqual([(1771130000000, None), (1771130000000, 500)],
                         [(query["since"], query.get("skip")) for query in api.queries])
        self.assertTrue(pages.truncated)
        self.assertIsNone(pages.read_until_ms)
        self.assertEqual(1771130000005, pages.oldest_read_ms)

    async def test_a_truncated_newest_first_read_says_how_far_back_it_went(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(1201)],
                            oldest_first_with_since=False)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        await read_all(pages)

        self.assertEqual(1771130000201, pages.oldest_read_ms)  # the 201 older trades were not reached

    async def test_newest_first_within_the_limits_is_complete(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(700)],
                            oldest_first_with_since=False)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)

        read = await read_all(pages)

        self.assertEqual(700, len(read))
        self.assertTrue(pages.complete)

    async def test_a_failing_page_raises_after_the_pages_read_were_handed_out(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(1201)],
                            oldest_first_with_since=True, fail_on_request=2)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000)
        handed_out = []

        with self.assertRaises(IOError):
            async for page in pages.pages():
                handed_out.extend(page)

        self.assertEqual(500, len(handed_out))
        self.assertEqual(1771130000499, pages.read_until_ms)
        self.assertFalse(pages.complete)

    async def test_the_page_cap_stops_a_long_read_where_it_can_go_on(self):
        api = FakeTradesApi([trade(number, 1771130000000 + number) for number in range(2000)],
                            oldest_first_with_since=True)
        pages = AccountTradesPages(api.fetch, since_ms=1771130000000, max_pages=2)

        read = await read_all(pages)

        self.assertEqual(999, len(read))
        self.assertEqual(2, pages.requests)
        self.assertFalse(pages.complete or pages.truncated)
        self.assertEqual(1771130000998, pages.read_until_ms)


class StatusPollTests(NonkycReconciliationTestCase):

    @aioresponses()
    async def test_listed_orders_of_every_pair_are_confirmed_by_one_listing_without_look_ups(self, mock_api):
        orders = [self.track("HBOT1", "69a12a99f65594545010e501"),
                  self.track("HBOT2", "69a12a99f65594545010e502", trade_type=TradeType.SELL),
                  self.track("HBOT3", "69a12a99f65594545010e503", trading_pair=self.other_pair),
                  self.track("HBOT4", None, trading_pair=self.other_pair, state=OrderState.PENDING_CREATE)]
        listing = [self.order_data(orders[0], "Active"), self.order_data(orders[1], "Partly Filled", "0.25"),
                   self.order_data(orders[2], "Active"),
                   self.order_data(orders[3], "New", id="69a12a99f65594545010e504")]
        self.configure_active_orders(mock_api, listing)

        await self.exchange._update_orders()
        await self.settle()

        listing_requests = self.requests_to(mock_api, CONSTANTS.ACCOUNT_ORDERS_PATH_URL)
        self.assertEqual([{"status": "active", "limit": "500"}], [dict(url.query) for url in listing_requests])
        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertEqual([OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.OPEN, OrderState.OPEN],
                         [order.current_state for order in orders])
        self.assertEqual("69a12a99f65594545010e504", orders[3].exchange_order_id)

    @aioresponses()
    async def test_only_orders_absent_from_the_listing_are_looked_up(self, mock_api):
        listed = self.track("HBOT1", "69a12a99f65594545010e501")
        cancelled = self.track("HBOT2", "69a12a99f65594545010e502")
        filled = self.track("HBOT3", "69a12a99f65594545010e503")
        self.configure_active_orders(mock_api, [self.order_data(listed, "Active")])
        self.configure_lookup(mock_api, cancelled.exchange_order_id, self.order_data(cancelled, "Cancelled"))
        self.configure_lookup(mock_api, filled.exchange_order_id, self.order_data(filled, "Filled", "1"))
        self.configure_trades(mock_api, [self.account_trade(filled, "t1", "1")])

        await self.exchange._update_order_status()
        await wait_until(lambda: filled.is_filled and cancelled.is_cancelled, what="the looked-up orders to finish")

        lookups = sorted(url.path for url in self.requests_to(mock_api, "/getorder/"))
        self.assertEqual([f"/api/v2/getorder/{cancelled.exchange_order_id}",
                          f"/api/v2/getorder/{filled.exchange_order_id}"], lookups)
        self.assertTrue(listed.is_open)
        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])

    @aioresponses()
    async def test_transient_errors_on_look_ups_never_make_an_order_lost(self, mock_api):
        order = self.track()
        answers = [RATE_LIMITED] * (CONSTANTS.RATE_LIMITED_RETRIES + 1) + list(TRANSIENT_ANSWERS.values()) * 2
        for answer in answers:
            self.configure_lookup(mock_api, order.exchange_order_id, **answer)
        self.configure_active_orders(mock_api, [], repeat=True)
        self.configure_trades(mock_api, [], repeat=True)
        polls = 1 + 2 * len(TRANSIENT_ANSWERS)

        for _ in range(polls):
            await self.exchange._update_order_status()
        await self.settle()

        self.assertTrue(order.is_open)
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual({}, self.exchange._order_tracker.lost_orders)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertEqual([], self.failures.event_log)
        self.assertEqual([], self.requests_to(mock_api, CONSTANTS.CANCEL_ORDER_PATH_URL))
        lookup_warnings = self.warnings_about("Could not look up order HBOT1 (COINALPHA-HBOT, exchange id "
                                              "69a12a99f65594545010e5aa); it stays tracked and is looked up again at "
                                              "the next poll. Error: ")
        self.assertEqual(polls - 1, len(lookup_warnings))  # the 429 is logged at debug level, after one warning
        for fragment in ("HTTP status is 500", "HTTP status is 522. Error: HTML page (api.nonkyc.io | 522",
                         "HTTP status is 503", "HTTP status is 200", "TimeoutError", "Connection reset by peer"):
            self.assertTrue(any(fragment in message for message in lookup_warnings), fragment)
        self.assertEqual(1, len(self.warnings_about("NonKYC is rate limiting this API key")))

    @aioresponses()
    async def test_only_20002_counts_and_an_order_found_starts_its_count_again(self, mock_api):
        order = self.track()
        self.configure_trades(mock_api, [], repeat=True)
        for answer in [NOT_FOUND] * 3 + [{"body": json.dumps(self.order_data(order, "Active"))}] + [NOT_FOUND] * 3:
            self.configure_active_orders(mock_api, [])
            self.configure_lookup(mock_api, order.exchange_order_id, **answer)
        for _ in range(7):
            await self.exchange._update_order_status()
        self.assertEqual(3, self.exchange._order_tracker.not_found_count(order.client_order_id))

        self.configure_active_orders(mock_api, [self.order_data(order, "Active")])  # listed: found again
        await self.exchange._update_order_status()
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))

        for _ in range(4):
            self.configure_active_orders(mock_api, [])
            self.configure_lookup(mock_api, order.exchange_order_id, **NOT_FOUND)
            await self.exchange._update_order_status()
        await wait_until(lambda: order.is_failure, what="the order NonKYC does not know to be declared failed")

        self.assertEqual([order.client_order_id], [event.order_id for event in self.failures.event_log])
        self.assertIn(order.client_order_id, self.exchange._order_tracker.lost_orders)
        self.assertTrue(self.logged("WARNING", "NonKYC does not know order HBOT1 (COINALPHA-HBOT, exchange id "
                                               "69a12a99f65594545010e5aa) (code 20002, Order not found); not found 4 "
                                               "time(s) in a row, it is declared lost after 4."))

    @aioresponses()
    async def test_a_failed_listing_changes_nothing_and_looks_nothing_up(self, mock_api):
        orders = [self.track("HBOT1", "69a12a99f65594545010e501"), self.track("HBOT2", "69a12a99f65594545010e502")]
        self.configure_active_orders(mock_api, [], **TRANSIENT_ANSWERS["Cloudflare 522"])

        await self.exchange._update_orders()

        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertTrue(all(order.is_open for order in orders))
        self.assertTrue(self.logged("WARNING", "Could not list NonKYC's active orders; the 2 tracked orders keep their "
                                               "state and are checked again at the next poll. Error: NonkycAPIError: "
                                               "Error executing request GET"))

    @aioresponses()
    async def test_the_listing_is_paged_at_500_and_orders_beyond_it_are_looked_up(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        beyond = self.track("HBOT2", "69a12a99f65594545010e502")
        others = [self.order_data(first, "Active", id=f"69a12a99f6559454501{index:05d}", userProvidedId=f"bot2-{index}")
                  for index in range(999)]
        self.configure_active_orders(mock_api, [self.order_data(first, "Active")] + others[:499])
        self.configure_active_orders(mock_api, others[499:])
        self.configure_lookup(mock_api, beyond.exchange_order_id, self.order_data(beyond, "Active"))

        await self.exchange._update_orders()

        self.assertEqual([None, "500"], [url.query.get("skip")
                                         for url in self.requests_to(mock_api, CONSTANTS.ACCOUNT_ORDERS_PATH_URL)])
        self.assertEqual([f"/api/v2/getorder/{beyond.exchange_order_id}"],
                         [url.path for url in self.requests_to(mock_api, "/getorder/")])
        untracked_lines = self.logged("INFO", "NonKYC reports 999 active order(s) this bot does not track; leaving "
                                              "them alone")
        self.assertEqual(1, len(untracked_lines))
        self.assertIn("and 994 more", untracked_lines[0].getMessage())

    @aioresponses()
    async def test_a_listing_wrapped_in_an_object_is_read_and_the_new_shape_logged_once(self, mock_api):
        order = self.track(state=OrderState.PENDING_CREATE)
        for _ in range(2):
            self.configure_active_orders(mock_api, [], body=json.dumps({"data": [self.order_data(order, "Active")]}))
            await self.exchange._update_orders()
        await self.settle()

        self.assertEqual(OrderState.OPEN, order.current_state)
        self.assertEqual([], self.requests_to(mock_api, "/getorder/"))
        self.assertEqual(1, len(self.warnings_about("NonKYC answered /account/orders with an object holding the list "
                                                    "under 'data' instead of a plain list; reading that list.")))

    @aioresponses()
    async def test_a_listing_taken_before_an_order_finished_does_not_reopen_it(self, mock_api):
        finished = self.track("HBOT1", "69a12a99f65594545010e501")
        other = self.track("HBOT2", "69a12a99f65594545010e502")
        report = {"jsonrpc": "2.0", "method": "report",
                  "params": {**self.order_data(finished, "Filled", "1"), "reportType": "trade", "tradeId": "t1",
                             "tradeQuantity": "1", "tradePrice": "10000", "tradeFee": "20"}}
        await self.exchange._process_user_stream_event(report)
        await wait_until(lambda: finished.is_filled, what="the order filled through the private stream")
        self.configure_active_orders(mock_api, [self.order_data(finished, "Active"), self.order_data(other, "Active")])

        await self.exchange._update_orders()
        await self.settle()

        self.assertEqual(OrderState.FILLED, finished.current_state)
        self.assertEqual(1, len(self.completions.event_log))


class StatusLookUpTests(NonkycExchangeRestTestCase):

    @aioresponses()
    async def test_status_answered_http_200_with_20002_counts_as_not_found(self, mock_api):
        order = self.track()
        self.configure_lookup(mock_api, NonkycExchangeShapes.exchange_order_id,
                              {"error": {"code": 20002, "message": "Order not found"}})
        self.configure_active_orders(mock_api, [])

        await self.exchange._update_orders()

        self.assertEqual(1, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertTrue(self.logged("WARNING", f"NonKYC does not know order HBOT1 (COINALPHA-HBOT, exchange id "
                                               f"{order.exchange_order_id}) (code 20002, Order not found); not found "
                                               f"1 time(s) in a row, it is declared lost after 4."))


class AccountTradesFillsTests(NonkycExchangeRestTestCase):

    @aioresponses()
    async def test_fills_of_every_pair_come_from_one_account_wide_trades_request(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        second = self.track("HBOT2", "69a12a99f65594545010e502", trade_type=TradeType.SELL)
        third = self.track("HBOT3", "69a12a99f65594545010e503", trading_pair=self.other_pair)
        trades = [
            NonkycExchangeShapes.account_trade(first, Decimal("0.4"), Decimal("10000"), Decimal("8"), trade_id="t1",
                                               exchange_symbol=self.exchange_symbol),
            NonkycExchangeShapes.account_trade(second, Decimal("1"), Decimal("10001"), Decimal("20.002"),
                                               trade_id="t2", side="SELL", exchange_symbol=self.exchange_symbol),
            NonkycExchangeShapes.account_trade(third, Decimal("0.1"), Decimal("2000"), Decimal("0.4"), trade_id="t3",
                                               exchange_symbol=self.other_symbol),
            {**NonkycExchangeShapes.account_trade(first, Decimal("1"), Decimal("1"), Decimal("0")),
             "orderid": "someone-elses-order", "id": "t4"},
        ]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([first, second, third])

        requests = self.requests_to(mock_api, CONSTANTS.ACCOUNT_TRADES_PATH_URL)
        self.assertEqual(1, len(requests))
        self.assertEqual({"since": str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), "limit": "500"},
                         dict(requests[0].query))
        self.assertEqual(["t1", "t2", "t3"], sorted(event.exchange_trade_id for event in self.fills.event_log))
        self.assertEqual((Decimal("0.4"), Decimal("1"), Decimal("0.1")),
                         (first.executed_amount_base, second.executed_amount_base, third.executed_amount_base))
        self.assertFalse([record for record in self.log_records if "someone-elses-order" in record.getMessage()])

    @aioresponses()
    async def test_fill_fee_in_quote_or_in_the_alternate_fee_asset(self, mock_api):
        order = self.track()
        trades = [
            NonkycExchangeShapes.account_trade(order, Decimal("0.25"), Decimal("10000"), Decimal("5"), trade_id="t1"),
            {**NonkycExchangeShapes.account_trade(order, Decimal("0.25"), Decimal("10000"), Decimal("5"),
                                                  trade_id="t2"),
             "alternateFeeAsset": "NKYC", "alternateFee": "1.5", "timestamp": 1640780005123},
        ]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([order])

        fees = {event.exchange_trade_id: event.trade_fee.flat_fees for event in self.fills.event_log}
        self.assertEqual([TokenAmount("HBOT", Decimal("5"))], fees["t1"])
        self.assertEqual([TokenAmount("NKYC", Decimal("1.5"))], fees["t2"])
        fill = order.order_fills["t2"]
        self.assertEqual(1640780005.123, fill.fill_timestamp)
        self.assertEqual(Decimal("2500"), fill.fill_quote_amount)

    @aioresponses()
    async def test_a_fill_is_never_recorded_twice_nor_beyond_the_order_amount(self, mock_api):
        order = self.track(amount="1")
        trades = [
            NonkycExchangeShapes.account_trade(order, Decimal("0.6"), Decimal("10000"), Decimal("12"), trade_id="t1"),
            NonkycExchangeShapes.account_trade(order, Decimal("0.6"), Decimal("10000"), Decimal("12"), trade_id="t2"),
        ]
        self.configure_trades(mock_api, trades, repeat=True)

        await self.exchange._update_orders_fills([order])
        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(Decimal("0.6"), order.executed_amount_base)
        self.assertTrue(self.logged("WARNING", "Ignoring fill t2 of 0.6 for order HBOT1"))
        # The second poll starts from the first poll's time (less the margin), not from the order's creation.
        second_since = max(int(url.query["since"])
                           for url in self.requests_to(mock_api, CONSTANTS.ACCOUNT_TRADES_PATH_URL))
        self.assertEqual(1640780100000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS, second_since)

    @aioresponses()
    async def test_a_trade_whose_side_differs_from_the_order_is_logged_and_skipped(self, mock_api):
        order = self.track()
        trades = [NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"),
                                                     side="Sell", trade_id="t1"),
                  NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"),
                                                     side="BUY", trade_id="t2")]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertTrue(self.logged("ERROR", "Skipping malformed NonKYC trade"))

    @aioresponses()
    async def test_orders_without_an_exchange_id_need_no_trades_request(self, mock_api):
        order = self.track(exchange_id=None)

        await self.exchange._update_orders_fills([order])

        self.assertEqual({}, mock_api.requests)

    @aioresponses()
    async def test_fills_of_an_order_without_creation_time_are_searched_over_the_last_day(self, mock_api):
        order = self.track()
        order.creation_timestamp = 0
        self.configure_trades(mock_api, [])

        await self.exchange._update_orders_fills([order])

        since = int(self.requests_to(mock_api, CONSTANTS.ACCOUNT_TRADES_PATH_URL)[0].query["since"])
        self.assertEqual(1640780100000 - 24 * 60 * 60 * 1000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS, since)

    @aioresponses()
    async def test_fills_beyond_one_page_are_read_from_the_next_page(self, mock_api):
        order = self.track(amount="1")
        trades = [NonkycExchangeShapes.account_trade(order, Decimal("0.001"), Decimal("10000"), Decimal("0.02"),
                                                     trade_id=f"t{index}", timestamp=1640780002000 + index)
                  for index in range(CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT + 1)]
        self.configure_trades(mock_api, trades[:CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT])
        self.configure_trades(mock_api, trades[CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT - 1:])

        await self.exchange._update_orders_fills([order])

        self.assertEqual(Decimal("0.501"), order.executed_amount_base)
        first_since = str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS)
        self.assertEqual([(first_since, None), ("1640780002499", None)],
                         [(url.query["since"], url.query.get("skip"))
                          for url in self.requests_to(mock_api, CONSTANTS.ACCOUNT_TRADES_PATH_URL)])

    @aioresponses()
    async def test_a_trades_answer_that_is_not_a_list_is_logged_and_the_next_poll_tries_again(self, mock_api):
        order = self.track()
        self.configure_trades(mock_api, {"message": "maintenance"})

        await self.exchange._update_orders_fills([order])

        self.assertTrue(self.logged("WARNING", "Failed to read the account trades (fills of HBOT1); reading again "
                                               "from the same point at the next poll. Error: OSError: Unexpected "
                                               "answer to /account/trades: {'message': 'maintenance'}"))
        self.assertIsNone(self.exchange._reconciliation.trades_cursor_ms)

    @aioresponses()
    async def test_all_trade_updates_of_one_order(self, mock_api):
        order = self.track()
        other = self.track("HBOT2", "69a12a99f65594545010e502")
        self.configure_trades(mock_api, [
            NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"), trade_id="t1"),
            NonkycExchangeShapes.account_trade(other, Decimal("0.5"), Decimal("10000"), Decimal("10"), trade_id="t2")])

        trade_updates = await self.exchange._all_trade_updates_for_order(order)

        self.assertEqual([("t1", order.client_order_id, Decimal("0.5"), Decimal("5000"))],
                         [(update.trade_id, update.client_order_id, update.fill_base_amount, update.fill_quote_amount)
                          for update in trade_updates])


class FillsTests(NonkycReconciliationTestCase):

    @aioresponses()
    async def test_a_filled_status_waits_for_its_fills_and_completes_with_them(self, mock_api):
        order = self.track()
        self.configure_active_orders(mock_api, [], repeat=True)
        self.configure_lookup(mock_api, order.exchange_order_id, self.order_data(order, "Filled", "1"), repeat=True)
        self.configure_trades(mock_api, **TRANSIENT_ANSWERS["Cloudflare 522"])

        await self.exchange._update_order_status()
        await self.settle()

        self.assertTrue(order.is_open)
        self.assertTrue(self.exchange._order_tracker.is_waiting_for_fills(order.client_order_id))
        self.assertEqual([], self.completions.event_log)
        self.assertTrue(self.logged("INFO", "Order HBOT1 (COINALPHA-HBOT, exchange id 69a12a99f65594545010e5aa) is "
                                            "filled on NonKYC, but only 0 of its 1 COINALPHA of fills are recorded: "
                                            "it stays open until the missing fills are read"))
        self.assertIsNone(await self.exchange._execute_order_cancel(order))  # a filled order is not cancelled
        self.assertEqual([], self.requests_to(mock_api, CONSTANTS.CANCEL_ORDER_PATH_URL))

        self.configure_trades(mock_api, [self.account_trade(order, "t1", "0.4"),
                                         self.account_trade(order, "t2", "0.6", timestamp=1640780003000)])
        await self.exchange._update_order_status()
        await wait_until(lambda: self.completions.event_log, what="the order to complete with its fills")

        completed = self.completions.event_log[0]
        self.assertEqual((Decimal("1"), Decimal("10000")), (completed.base_asset_amount, completed.quote_asset_amount))
        self.assertEqual(["t1", "t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertFalse(self.logged("WARNING", "The complete update will be processed with incomplete information"))

    @aioresponses()
    async def test_a_fill_behind_1200_other_account_trades_is_read_by_paging_by_time(self, mock_api):
        order = self.track()
        others = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780001000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(1200)]
        fill = self.account_trade(order, "t-ours", "1", timestamp=1640780003000)
        later = [{**self.account_trade(order, f"later-{index}", "0.01", timestamp=1640780004000 + index),
                  "orderid": "69a12a99f65594545010ffff"} for index in range(300)]
        calls = self.configure_trades_api(mock_api, others + [fill] + later)

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t-ours"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(Decimal("1"), order.executed_amount_base)
        self.assertEqual(4, len(calls))
        self.assertTrue(all(int(url.query["limit"]) <= 500 and int(url.query.get("skip", 0)) <= 500
                            for url in calls))
        self.assertTrue(all("symbol" not in url.query for url in calls))
        self.assertEqual(POLL_TIME_MS, self.exchange._reconciliation.trades_cursor_ms)
        self.assertFalse([record for record in self.log_records if "other-" in record.getMessage()])

    @aioresponses()
    async def test_a_failing_page_keeps_the_fills_read_and_the_cursor_before_the_unread_trades(self, mock_api):
        order = self.track(amount="2")
        first = self.account_trade(order, "t1", "0.5", timestamp=1640780001000)
        filler = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780002000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(499)]
        second = self.account_trade(order, "t2", "0.5", timestamp=1640780009000)
        calls = self.configure_trades_api(mock_api, [first] + filler + [second],
                                          failing_requests={2: TRANSIENT_ANSWERS["Cloudflare 522"]})

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(1640780002498, self.exchange._reconciliation.trades_cursor_ms)
        self.assertTrue(self.logged("WARNING", "Failed to read the account trades (fills of HBOT1); reading again "
                                               "from the same point at the next poll. Error: NonkycAPIError"))

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1", "t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(str(1640780002498 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), calls[2].query["since"])

    @aioresponses()
    async def test_newest_first_answers_are_read_and_a_truncated_read_keeps_the_cursor(self, mock_api):
        order = self.track()
        others = [{**self.account_trade(order, f"other-{index}", "0.01", timestamp=1640780001000 + index),
                   "orderid": "69a12a99f65594545010ffff"} for index in range(1100)]
        fill = self.account_trade(order, "t-ours", "0.3", timestamp=1640780005000)
        calls = self.configure_trades_api(mock_api, others + [fill], oldest_first=False)

        for _ in range(2):
            await self.exchange._update_orders_fills([order])

        self.assertEqual(["t-ours"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual([None, "500", None, "500"], [url.query.get("skip") for url in calls])
        self.assertIsNone(self.exchange._reconciliation.trades_cursor_ms)
        self.assertEqual(1, len(self.warnings_about("NonKYC lists /account/trades newest first and more trades than "
                                                    "its skip limit (500) lets read")))

    @aioresponses()
    async def test_fills_the_reading_missed_are_read_again_from_the_order_creation(self, mock_api):
        order = self.track(exchange_id=None)  # e.g. an ambiguous create: its trades cannot be matched yet
        self.track("HBOT2", "69a12a99f65594545010e502")
        missed = {**self.account_trade(order, "t-missed", "0.5", timestamp=1640780001000),
                  "orderid": "69a12a99f65594545010e5a1"}
        calls = self.configure_trades_api(mock_api, [missed])
        await self.exchange._update_orders_fills(list(self.exchange.in_flight_orders.values()))
        self.assertEqual(POLL_TIME_MS, self.exchange._reconciliation.trades_cursor_ms)

        listing = [self.order_data(order, "Partly Filled", "0.5", id="69a12a99f65594545010e5a1"),
                   self.order_data(self.exchange.in_flight_orders["HBOT2"], "Active")]
        self.configure_active_orders(mock_api, listing)
        await self.exchange._update_order_status()
        await self.settle()
        self.assertEqual("69a12a99f65594545010e5a1", order.exchange_order_id)
        self.assertEqual(Decimal("0"), order.executed_amount_base)
        self.assertTrue(self.logged("INFO", "NonKYC reports 0.5 COINALPHA filled for order HBOT1 (COINALPHA-HBOT), "
                                            "but the account trades read so far hold 0: the next poll reads them "
                                            "again from the order's creation."))

        listing = [self.order_data(order, "Partly Filled", "0.5", id="69a12a99f65594545010e5a1"),
                   self.order_data(self.exchange.in_flight_orders["HBOT2"], "Active")]
        self.configure_active_orders(mock_api, listing)
        await self.exchange._update_order_status()

        self.assertEqual(["t-missed"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), calls[-1].query["since"])

    @aioresponses()
    async def test_a_market_order_filled_at_creation_takes_its_id_at_once_and_completes_with_its_fill(self, mock_api):
        created = {"id": "69a12a99f65594545010e5a2", "userProvidedId": "x", "symbol": self.exchange_symbol,
                   "side": "buy", "type": "market", "quantity": "1", "executedQuantity": "1", "status": "Filled",
                   "createdAt": 1640780000000, "updatedAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(created))
        order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.MARKET, Decimal("10000"))
        await wait_until(lambda: self.exchange._order_tracker.is_waiting_for_fills(order_id),
                         what="the FILLED create answer to wait for its fill")
        order = self.exchange.in_flight_orders[order_id]
        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the order to be open meanwhile")
        self.assertEqual("69a12a99f65594545010e5a2", order.exchange_order_id)

        self.configure_trades(mock_api, [{**self.account_trade(order, "t1", "1", price="10001"),
                                          "orderid": "69a12a99f65594545010e5a2"}])
        await self.exchange._update_orders_fills([order])
        await wait_until(lambda: self.completions.event_log, what="the order to complete")

        self.assertEqual(OrderState.FILLED, order.current_state)
        self.assertEqual(1, len(self.events[MarketEvent.BuyOrderCreated].event_log))

    @aioresponses()
    async def test_an_order_filled_below_its_amount_completes_once_those_fills_are_recorded(self, mock_api):
        order = self.track(order_type=OrderType.MARKET)
        self.configure_active_orders(mock_api, [])
        self.configure_lookup(mock_api, order.exchange_order_id, self.order_data(order, "Filled", "0.7"))
        self.configure_trades(mock_api, [self.account_trade(order, "t1", "0.7")])

        await self.exchange._update_order_status()
        await wait_until(lambda: order.is_filled, what="the order to complete")

        self.assertEqual(Decimal("0.7"), self.completions.event_log[0].base_asset_amount)
        self.assertFalse(self.logged("WARNING", "incomplete information"))
