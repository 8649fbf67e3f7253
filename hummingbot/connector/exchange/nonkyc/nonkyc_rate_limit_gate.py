"""
The back-off every REST request of the connector shares while NonKYC rate limits (HTTP 429): creates and cancels
included, not only the polls.
"""
import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Callable, Optional

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS


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
