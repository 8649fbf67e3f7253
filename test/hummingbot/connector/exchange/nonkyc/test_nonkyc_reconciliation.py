"""
The reconciliation of the exchange with NonKYC (nonkyc_reconciliation.py): the paging of /account/trades, the fills
the exchange reads from it, and a status look-up answered "not found". The polls end to end (listing, transient
errors, rate limiting, cost) are in test_nonkyc_exchange_reconciliation.py.
"""
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeRestTestCase,
    NonkycExchangeShapes,
    url_regex,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List

from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import (
    AccountTradesPages,
    NonkycReconciliation,
    timestamp_ms,
)
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.trade_fee import TokenAmount

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


class StatusLookUpTests(NonkycExchangeRestTestCase):

    @aioresponses()
    async def test_status_answered_http_200_with_20002_counts_as_not_found(self, mock_api):
        order = self.track()
        self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id,
                               [(200, {"error": {"code": 20002, "message": "Order not found"}})])
        self.configure_active_orders(mock_api, [])

        await self.exchange._update_orders()

        self.assertEqual(1, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertTrue(self.logged("WARNING", f"NonKYC does not know order HBOT1 (COINALPHA-HBOT, exchange id "
                                               f"{order.exchange_order_id}) (code 20002, Order not found); not found "
                                               f"1 time(s) in a row, it is declared lost after 4."))


class AccountTradesFillsTests(NonkycExchangeRestTestCase):

    def configure_trades(self, mock_api: aioresponses, trades: List[Dict[str, Any]], repeat: bool = False):
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), body=json.dumps(trades),
                     repeat=repeat)

    def trades_requests(self, mock_api: aioresponses) -> List[URL]:
        return [key[1] for key in mock_api.requests if CONSTANTS.ACCOUNT_TRADES_PATH_URL in key[1].path]

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

        requests = self.trades_requests(mock_api)
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
        second_since = max(int(url.query["since"]) for url in self.trades_requests(mock_api))
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

        since = int(self.trades_requests(mock_api)[0].query["since"])
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
                         [(url.query["since"], url.query.get("skip")) for url in self.trades_requests(mock_api)])

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
