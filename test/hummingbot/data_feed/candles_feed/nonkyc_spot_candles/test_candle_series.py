from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Dict, List, Optional, Tuple

from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.candle_series import CandleSeries, Row, flat_row

STEP = 300
START = 1772170800  # the start of the current candle


def candle(index: int, close: float, volume: float = 1.0) -> Row:
    """The candle `index` intervals after START (negative: before), opening 0.5 below its close."""
    return [float(START + STEP * index), close - 0.5, close + 1, close - 1, close, volume, 0.0, 0.0, 0.0, 0.0]


def flat(index: int, price: float) -> Row:
    return flat_row(START + STEP * index, price)


class FakePages:
    """`/market/candles` over a dict of candles: the newest `count` starting in [start, end), and the start of the
    latest earlier candle when none is in range (NonKYC's `meta.nextTime`)."""

    def __init__(self, *candles: Row):
        self.candles: Dict[int, Row] = {int(row[0]): row for row in candles}
        self.requests: List[Tuple[int, int, int]] = []

    async def __call__(self, start: int, end: int, count: int) -> Tuple[List[Row], Optional[int]]:
        self.requests.append((start, end, count))
        starts = [row_start for row_start in sorted(self.candles) if start <= row_start < end][-count:]
        earlier = [row_start for row_start in self.candles if row_start < start]
        return [list(self.candles[row_start]) for row_start in starts], None if starts or not earlier else max(earlier)


class CandleSeriesRowsTests(IsolatedAsyncioWrapperTestCase):

    def test_intervals_without_candles_are_flat_at_the_previous_close_up_to_the_current_one(self):
        series = CandleSeries(STEP, 5)
        series.merge([candle(-4, 10.0), candle(-3, 11.0), candle(-1, 12.0)])

        self.assertEqual([candle(-4, 10.0), candle(-3, 11.0), flat(-2, 11.0), candle(-1, 12.0), flat(0, 12.0)],
                         series.rows(START))

    def test_an_older_copy_of_a_candle_never_replaces_a_newer_one(self):
        series = CandleSeries(STEP, 1)
        series.merge([candle(0, 20.0, volume=5.0)])
        series.merge([candle(0, 19.0, volume=2.0)])  # a REST answer sent before the last live update
        self.assertEqual([candle(0, 20.0, volume=5.0)], series.rows(START))

        series.merge([candle(0, 21.0, volume=7.0)])
        self.assertEqual([candle(0, 21.0, volume=7.0)], series.rows(START))

    def test_a_young_market_is_padded_at_its_first_open_once_nonkyc_has_no_older_candle(self):
        series = CandleSeries(STEP, 4)
        series.merge([candle(-1, 30.0), candle(0, 31.0)])
        self.assertEqual([candle(-1, 30.0), candle(0, 31.0)], series.rows(START))  # older candles may still come
        self.assertIsNone(series.padded_before)

        series.history_complete = True

        self.assertEqual([flat(-3, 29.5), flat(-2, 29.5), candle(-1, 30.0), candle(0, 31.0)], series.rows(START))
        self.assertEqual(START - STEP, series.padded_before)

    def test_candles_older_than_the_series_are_forgotten_but_the_newest_of_them_opens_it(self):
        series = CandleSeries(STEP, 3)
        series.merge([candle(-5, 50.0), candle(-4, 60.0), candle(0, 70.0)])

        self.assertEqual([flat(-2, 60.0), flat(-1, 60.0), candle(0, 70.0)], series.rows(START))
        self.assertEqual([START - 4 * STEP, START], sorted(series.known))

    def test_a_candle_newer_than_the_clock_ends_the_series(self):
        series = CandleSeries(STEP, 2)
        series.merge([candle(0, 40.0), candle(1, 41.0)])

        self.assertEqual([candle(0, 40.0), candle(1, 41.0)], series.rows(START))

    def test_no_rows_while_no_candle_is_known(self):
        self.assertEqual([], CandleSeries(STEP, 3).rows(START))


class CandleSeriesFetchTests(IsolatedAsyncioWrapperTestCase):

    async def test_the_latest_page_then_older_pages_until_the_oldest_wanted_candle(self):
        history = [candle(index, 100.0 + index) for index in range(-9, 1)]
        pages = FakePages(*history)
        series = CandleSeries(STEP, 10)

        await series.fetch(pages, START, page=4)

        self.assertEqual([(START - 3 * STEP, START + STEP, 4), (START - 7 * STEP, START - 3 * STEP, 4),
                          (START - 11 * STEP, START - 7 * STEP, 4)], pages.requests)
        self.assertEqual(history, series.rows(START))
        self.assertFalse(series.history_complete)

    async def test_a_market_quiet_for_long_continues_from_the_candle_an_empty_page_names(self):
        pages = FakePages(candle(-2001, 9.5), candle(-2000, 11.0))
        series = CandleSeries(STEP, 4)

        await series.fetch(pages, START, page=4)

        self.assertEqual((START - 2003 * STEP, START - 1999 * STEP, 4), pages.requests[-1])  # the page ending with it
        self.assertEqual([flat(index, 11.0) for index in (-3, -2, -1, 0)], series.rows(START))

    async def test_a_young_market_completes_its_history_when_no_older_candle_exists(self):
        pages = FakePages(candle(-1, 30.0), candle(0, 31.0))
        series = CandleSeries(STEP, 4)

        await series.fetch(pages, START, page=500)

        self.assertTrue(series.history_complete)
        self.assertEqual([flat(-3, 29.5), flat(-2, 29.5), candle(-1, 30.0), candle(0, 31.0)], series.rows(START))
        self.assertEqual(START - STEP, series.padded_before)

    async def test_later_fetches_ask_for_the_candles_since_the_newest_known_one(self):
        pages = FakePages(*[candle(index, 100.0 + index) for index in range(-3, 0)])
        series = CandleSeries(STEP, 3)
        await series.fetch(pages, START - STEP, page=4)
        pages.candles[START] = candle(0, 200.0)

        await series.fetch(pages, START, page=4)

        self.assertEqual((START - STEP, START + STEP, 2), pages.requests[-1])
        self.assertEqual(candle(0, 200.0), series.rows(START)[-1])

    async def test_after_a_pause_longer_than_a_page_the_series_starts_again_from_the_latest_candles(self):
        pages = FakePages(candle(-10, 10.0))
        series = CandleSeries(STEP, 2)
        await series.fetch(pages, START - 10 * STEP, page=4)
        pages.candles = {START - STEP: candle(-1, 20.0), START: candle(0, 21.0)}

        await series.fetch(pages, START, page=4)

        self.assertEqual((START - 3 * STEP, START + STEP, 4), pages.requests[-1])
        self.assertEqual([START - STEP, START], sorted(series.known))
        self.assertEqual([candle(-1, 20.0), candle(0, 21.0)], series.rows(START))

    async def test_a_market_without_candles_has_an_empty_series(self):
        pages = FakePages()
        series = CandleSeries(STEP, 3)

        await series.fetch(pages, START, page=4)

        self.assertEqual([(START - 3 * STEP, START + STEP, 4)], pages.requests)
        self.assertTrue(series.history_complete)
        self.assertEqual([], series.rows(START))
