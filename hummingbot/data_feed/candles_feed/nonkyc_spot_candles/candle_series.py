"""
A NonKYC candle series: the candles NonKYC sent for one pair and interval, merged as they come (REST pages, live
updates); the REST pages that complete it (the latest candles, then the history backwards); and the equidistant rows
CandlesBase keeps, rebuilt from them. NonKYC sends no candle for an interval without trades, and CandlesBase throws its
candles away when they are not equidistant: such intervals become flat candles, as do the oldest ones of a market
younger than the series.
"""
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

# A candle as CandlesBase keeps it: timestamp (s), open, high, low, close, volume, quote_asset_volume, n_trades,
# taker_buy_base_volume, taker_buy_quote_volume.
Row = List[float]
OPEN, CLOSE, VOLUME = 1, 4, 5
# One `/market/candles` request, (start, end, count) -> the candles starting in [start, end), oldest first, and the
# start of the latest candle before `start` when the answer names it (for an empty page).
PageFetcher = Callable[[int, int, int], Awaitable[Tuple[List[Row], Optional[int]]]]


def flat_row(start: int, price: float) -> Row:
    """An interval without trades: flat at `price`, no volume."""
    return [float(start), price, price, price, price, 0.0, 0.0, 0.0, 0.0, 0.0]


class CandleSeries:
    """The latest `size` intervals of `step` seconds. Candle starts are multiples of `step` (the feed rounds them)."""

    def __init__(self, step: int, size: int):
        self.step = step
        self.size = size
        self.known: Dict[int, Row] = {}  # candle start -> the candle as NonKYC sent it (no flat ones)
        self.history_complete = False  # NonKYC has no candle older than the oldest known one
        self.padded_before: Optional[int] = None  # a young market's first candle, once flat ones precede it

    def forget(self):
        """Starts again from nothing, e.g. when the newest known candle is too old to page forwards from."""
        self.known.clear()
        self.history_complete = False

    def oldest_wanted_start(self, current_start: int) -> int:
        newest = max(max(self.known, default=0), current_start)
        return newest - self.step * (self.size - 1)

    async def fetch(self, fetch_page: PageFetcher, current_start: int, page: int):
        """The candles since the newest known one (a full page when none is known), then the missing history."""
        count = page
        if self.known:
            missing = (current_start - max(self.known)) // self.step + 1
            if missing > page:  # too long since the last update: start again from the latest candles
                self.forget()
            else:
                count = max(missing, 1)
        rows, next_start = await fetch_page(current_start - self.step * (count - 1), current_start + self.step, count)
        self.merge(rows)
        await self._fetch_missing_history(fetch_page, current_start, page, next_start)

    async def _fetch_missing_history(self, fetch_page: PageFetcher, current_start: int, page: int,
                                     next_start: Optional[int]):
        """
        Pages backwards until the oldest wanted candle, or one before it, is known, or NonKYC has no older candle.
        An empty page that names the latest earlier candle continues from there.
        """
        if not self.known:
            self.history_complete = False  # nothing known yet: look again, a market may have traded meanwhile
        while not self.history_complete:
            older: List[Row] = []
            if self.known:
                oldest_known = min(self.known)
                if oldest_known <= self.oldest_wanted_start(current_start):
                    return
                rows, next_start = await fetch_page(oldest_known - self.step * page, oldest_known, page)
                older = self.older_than_known(rows)
            if not older and next_start is not None:  # the page that ends with it
                rows, next_start = await fetch_page(next_start - self.step * (page - 1), next_start + self.step, page)
                older = self.older_than_known(rows)
            if not older:
                self.history_complete = True
            self.merge(older)

    def older_than_known(self, rows: List[Row]) -> List[Row]:
        if not self.known:
            return rows
        oldest_known = min(self.known)
        return [row for row in rows if row[0] < oldest_known]

    def merge(self, rows: Iterable[Row]):
        for row in rows:
            start = int(row[0])
            known = self.known.get(start)
            # A candle's volume only grows: an older copy of it (a REST answer sent before a live update) never
            # replaces a newer one.
            if known is None or row[VOLUME] >= known[VOLUME]:
                self.known[start] = row

    def rows(self, current_start: int) -> List[Row]:
        """
        The `size` latest intervals, up to the current one: NonKYC's candles, and flat ones (the previous close, no
        volume) where NonKYC has none. Empty while no candle is known.
        """
        if not self.known:
            return []
        oldest_wanted = self.oldest_wanted_start(current_start)
        previous_close = self._opening_price(oldest_wanted)
        rows = []
        for start in range(oldest_wanted, oldest_wanted + self.step * self.size, self.step):
            row = self.known.get(start)
            if row is None and previous_close is not None:
                row = flat_row(start, previous_close)
            if row is not None:
                rows.append(row)
                previous_close = row[CLOSE]
        return rows

    def _opening_price(self, oldest_wanted: int) -> Optional[float]:
        """
        The price the series starts from: the close of the newest candle before the wanted ones (the older ones are
        forgotten); on a young market (NonKYC has no older candle), its first open; otherwise none, and the series
        starts at its oldest known candle.
        """
        before = [start for start in self.known if start < oldest_wanted]
        anchor = max(before, default=None)
        for start in before:
            if start != anchor:
                del self.known[start]
        if anchor is not None:
            return self.known[anchor][CLOSE]
        if not self.history_complete:
            return None
        first = min(self.known)
        if first > oldest_wanted:
            self.padded_before = first
        return self.known[first][OPEN]
