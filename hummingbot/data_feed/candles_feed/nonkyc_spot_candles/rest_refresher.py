"""
REST beside the live candles stream: it fills the history, then refreshes the latest candles every
`rest_poll_interval` s while the live stream is unavailable, and every `rest_check_interval` s as a check while it runs
(a live stream sends nothing while a market does not trade).
"""
import asyncio
import logging
from typing import TYPE_CHECKING

from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import constants as CONSTANTS

if TYPE_CHECKING:
    from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.nonkyc_spot_candles import NonkycSpotCandles


class RestRefresher:
    """Takes the feed the way the connector's data sources take the connector; `description` names its candles."""

    def __init__(self, feed: "NonkycSpotCandles", description: str):
        self._feed = feed
        self._description = description
        self._failing = False
        self._wakeup = asyncio.Event()

    def wake_up(self):
        """The live stream stopped: REST takes over at once."""
        self._wakeup.set()

    def period(self) -> float:
        feed = self._feed
        return feed.rest_check_interval if feed.live else feed.rest_poll_interval

    async def run(self):
        feed = self._feed
        while True:
            try:
                await feed._sync_from_rest()
                if self._failing:
                    feed.logger().info(f"The NonKYC {self._description} candles are updated from REST again.")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:
                level = logging.DEBUG if self._failing else logging.WARNING
                feed.logger().log(level, f"Could not update the NonKYC {self._description} candles from REST "
                                         f"({error!r}); retrying in {self.period():g} s.")
                self._failing = True
            await self._wait_for_next_refresh()

    async def _wait_for_next_refresh(self):
        """
        Waits for the next refresh: its period, or less when the live stream stops. Meanwhile, when a new candle
        starts and nothing came for it, it is opened flat.
        """
        feed, loop = self._feed, asyncio.get_running_loop()
        deadline = loop.time() + self.period()
        while loop.time() < deadline:
            next_candle_in = feed.interval_in_seconds - feed._time() % feed.interval_in_seconds
            timeout = min(deadline - loop.time(), next_candle_in + CONSTANTS.NEW_CANDLE_DELAY)
            try:
                await asyncio.wait_for(self._wakeup.wait(), max(timeout, 0))
                self._wakeup.clear()
                return
            except asyncio.TimeoutError:
                feed._rebuild_candles()
