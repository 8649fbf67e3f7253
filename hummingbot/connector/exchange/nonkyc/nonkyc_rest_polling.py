"""
The two pieces of the connector's REST polling that do not depend on Hummingbot: the shared back-off while NonKYC
rate limits (`RateLimitGate`) and the reading of `/account/trades` within NonKYC's paging limits
(`AccountTradesPages`).
"""
import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import timestamp_seconds

Fetch = Callable[[Dict[str, Any]], Awaitable[List[Any]]]


class RateLimitGate:
    """
    Every REST request of the connector goes through this gate. While NonKYC answers 429 (an "episode"):
    - the first 429 logs one warning saying that the exchange is rate limiting and what is delayed;
    - requests wait until the back-off has passed and go one at a time;
    - a 429 to a request sent after the back-off doubles it (1, 2, 4 ... `max_delay` s, at least the answer's
      `Retry-After` but never more than `max_delay`); 429s to requests already in flight do not;
    - the first successful answer ends the episode (one info line), and requests go at their normal pace again.
    `initial_delay` and `max_delay` (seconds) may be changed at any time (tests shorten them).
    """

    def __init__(self,
                 logger: Callable[[], logging.Logger],
                 sleep: Callable[[float], Awaitable[Any]],
                 clock: Callable[[], float],
                 initial_delay: float = CONSTANTS.RATE_LIMIT_BACKOFF_INITIAL,
                 max_delay: float = CONSTANTS.RATE_LIMIT_BACKOFF_MAX):
        self._logger = logger
        self._sleep = sleep
        self._clock = clock
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._one_at_a_time = asyncio.Lock()
        self._episode_start: Optional[float] = None
        self._rejections = 0
        self._delay = initial_delay
        self._resume_at = 0.0

    @property
    def limited(self) -> bool:
        """True from the first 429 until the next successful answer."""
        return self._episode_start is not None

    @asynccontextmanager
    async def turn(self):
        """Wraps one request: waits for the back-off and, during an episode, for the requests ahead of it."""
        if not self.limited:
            yield
            return
        async with self._one_at_a_time:
            remaining = self._resume_at - self._clock()
            if remaining > 0:
                await self._sleep(remaining)
            yield

    def rate_limited(self, what: str, retry_after: Optional[float] = None):
        """Records a 429 answer to `what` (e.g. "GET /balances")."""
        now = self._clock()
        self._rejections += 1
        if self._episode_start is None:
            self._episode_start = now
            self._delay = self.initial_delay
            self._logger().warning(
                f"NonKYC is rate limiting this API key (HTTP 429 on {what}). Until it stops, the connector's REST "
                f"requests wait and go one at a time with a growing back-off of up to {self.max_delay:g} s: the "
                f"order status, fill and balance polls are delayed, and so are order creations and cancels. Orders "
                f"stay tracked and the connector stays connected.")
        elif now >= self._resume_at:
            self._delay = min(self._delay * 2, self.max_delay)
        else:
            return  # a request sent before the current back-off: it says nothing new
        delay = min(max(self._delay, retry_after or 0.0), self.max_delay)
        self._resume_at = now + delay
        self._logger().debug(f"NonKYC answered 429 to {what}; requests wait {delay:g} s.")

    def succeeded(self):
        """Records a successful answer: it ends an episode."""
        if self._episode_start is None:
            return
        duration = self._clock() - self._episode_start
        self._logger().info(f"NonKYC stopped rate limiting after {duration:.0f} s ({self._rejections} requests "
                            f"answered 429); requests are back to their normal pace.")
        self._episode_start = None
        self._rejections = 0
        self._delay = self.initial_delay
        self._resume_at = 0.0


def timestamp_ms(entry: Any) -> Optional[int]:
    """The `timestamp` of an API entry in milliseconds (int ms or ISO string), or None."""
    seconds = timestamp_seconds(entry.get("timestamp")) if isinstance(entry, dict) else None
    return None if seconds is None else int(round(seconds * 1e3))


class AccountTradesPages:
    """
    Reads `/account/trades` from `since_ms` on, one page at a time, within NonKYC's limits (`limit` and `skip` at most
    500). NonKYC's REST reference lists them newest first; an answer listed oldest first is read too, so every full
    page is read for its order:
    - newest first (or a page all of one millisecond, whose order cannot be told): the next page is the next `skip`,
      so at most `limit + max_skip` trades after `since` can be reached; beyond that `truncated` is set, the caller
      must not move its cursor, and `oldest_read_ms` says how far back the read went;
    - oldest first: the next page starts at the time of the page's last trade (`since` = that millisecond; trades of
      that millisecond seen again are dropped by id), so any number of trades is read.
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
        self.oldest_read_ms: Optional[int] = None

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
        self.order = self.order or self._order_of(batch)
        last_ms = timestamp_ms(batch[-1])
        if self.order != self.OLDEST_FIRST or last_ms is None:
            return since, skip + self._page_limit
        self.read_until_ms = last_ms
        return (last_ms, 0) if last_ms > since else (since, skip + self._page_limit)

    def _new_trades(self, batch: List[Any]) -> List[Any]:
        times = [time_ms for time_ms in map(timestamp_ms, batch) if time_ms is not None]
        if times:
            self.oldest_read_ms = min(times + ([self.oldest_read_ms] if self.oldest_read_ms is not None else []))
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
