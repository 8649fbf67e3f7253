"""
Reconciliation of the tracked orders with NonKYC over REST and the private stream: the active-order listing
(`/account/orders`) and the WebSocket `activeOrders` event, the handling of failed look-ups, and the reading of
`/account/trades` (cursor, re-reads and the pager `AccountTradesPages`, within NonKYC's paging limits).
"""
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import timestamp_seconds

Fetch = Callable[[Dict[str, Any]], Awaitable[List[Any]]]


def timestamp_ms(entry: Any) -> Optional[int]:
    """The `timestamp` of an API entry in milliseconds (int ms or ISO string), or None."""
    seconds = timestamp_seconds(entry.get("timestamp")) if isinstance(entry, dict) else None
    return None if seconds is None else int(round(seconds * 1e3))


class AccountTradesPages:
    """
    Reads `/account/trades` from `since_ms` on, one page at a time, within NonKYC's limits (`limit` and `skip` at most
    500). The API notes do not say in which order a `since` query lists trades, so every full page is read for it:
    - oldest first: the next page starts at the time of the page's last trade (`since` = that millisecond; trades of
      that millisecond seen again are dropped by id, and `skip` only steps over a page that is all one millisecond),
      so any number of trades is read;
    - newest first: the next page is the next `skip`, so at most `limit + max_skip` trades after `since` can be
      reached; beyond that `truncated` is set and the caller must not move its cursor.
    `pages()` yields the new trades of each page as soon as it is read: a later page that fails loses nothing read.
    After the iteration, `complete` says whether every trade since `since_ms` was read; `read_until_ms`, when not
    None, is a time before which every trade was read (oldest-first pages only).
    """

    OLDEST_FIRST = "oldest first"
    NEWEST_FIRST = "newest first"

    def __init__(self,
                 fetch: Fetch,
                 since_ms: int,
                 page_limit: int = CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT,
                 max_skip: int = CONSTANTS.MAX_PAGE_SKIP,
                 max_pages: int = CONSTANTS.ACCOUNT_TRADES_MAX_PAGES_PER_POLL):
        self._fetch = fetch
        self.since_ms = since_ms
        self._page_limit = page_limit
        self._max_skip = max_skip
        self._max_pages = max_pages
        self._seen_ids: Set[str] = set()
        self.requests = 0
        self.order: Optional[str] = None
        self.complete = False
        self.truncated = False
        self.read_until_ms: Optional[int] = None

    async def pages(self) -> AsyncIterator[List[Any]]:
        since, skip = self.since_ms, 0
        while self.requests < self._max_pages:
            params: Dict[str, Any] = {"since": since, "limit": self._page_limit}
            if skip:
                params["skip"] = skip
            batch = await self._fetch(params)
            self.requests += 1
            self.complete = len(batch) < self._page_limit
            if not self.complete:
                since, skip = self._next_page(batch, since, skip)
            yield self._new_trades(batch)
            if self.complete:
                return
            if skip > self._max_skip:
                self.truncated = True
                return

    def _next_page(self, batch: List[Any], since: int, skip: int) -> Tuple[int, int]:
        """Where the page after a full `batch` starts; sets `order` and, for oldest-first pages, `read_until_ms`."""
        order = self._order_of(batch)
        self.order = self.order or order
        last_ms = timestamp_ms(batch[-1])
        if order == self.NEWEST_FIRST or last_ms is None:
            return since, skip + self._page_limit
        self.read_until_ms = last_ms
        return (last_ms, 0) if last_ms > since else (since, skip + self._page_limit)

    def _new_trades(self, batch: List[Any]) -> List[Any]:
        new = []
        for trade in batch:
            trade_id = str(trade.get("id")) if isinstance(trade, dict) and trade.get("id") is not None else None
            if trade_id is not None:
                if trade_id in self._seen_ids:
                    continue
                self._seen_ids.add(trade_id)
            new.append(trade)
        return new

    def _order_of(self, batch: List[Any]) -> Optional[str]:
        first, last = timestamp_ms(batch[0]), timestamp_ms(batch[-1])
        if first is None or last is None or first == last:
            return None
        return self.OLDEST_FIRST if first < last else self.NEWEST_FIRST
