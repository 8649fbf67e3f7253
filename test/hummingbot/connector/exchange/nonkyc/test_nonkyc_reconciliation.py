from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List

from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import AccountTradesPages, timestamp_ms

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
