"""
The connector without a Clock. Hummingbot API (the server behind Condor, the MCP server and the Dashboard) builds the
connector with `trading_pairs=[]` and starts only some of its loops (trading rules, fees, the user stream and its
listener, lost orders): it never calls `start_network()` and no Clock ticks the connector. Then `tick()` never runs,
ExchangePyBase's status polling (the REST safety net under the private stream: order listing, account trades,
balances) never wakes, and `current_timestamp` stays NaN, or stale at whatever the API last set.

`WallClockDriver` stands in for the Clock while none ticks the connector: it runs beside the lost-orders loop (which
Hummingbot API and `start_network()` both start) and ticks the connector with the wall clock every
`WALL_CLOCK_TICK_INTERVAL` seconds through ExchangePyBase's own `tick()`, so that the status poll has the cadence it
has in a bot (`SHORT_POLL_INTERVAL` while the private stream is silent, `LONG_POLL_INTERVAL` otherwise); it starts the
status polling loop in its usual slot when nothing did. A Clock is recognised by its ticks (Hummingbot's Clock leaves
the connector's `clock` unset): while they come, at most `WALL_CLOCK_TAKEOVER_DELAY` seconds apart (or twice the
Clock's own tick interval, when it is longer), the driver does nothing, so that the connector is never ticked, nor
polled, twice.
"""
import time
from typing import TYPE_CHECKING

from hummingbot.core.utils.async_utils import safe_ensure_future

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange


class WallClockDriver:

    def __init__(self, connector: "NonkycExchange"):
        self._connector = connector
        self._runs = 0
        self._ticking = False
        self._last_clock_tick = float("-inf")  # time.monotonic() of the last tick that did not come from here
        self._clock_tick_interval = 0.0  # between the last two such ticks

    @property
    def driving(self) -> bool:
        """True while it ticks the connector: it runs and no Clock ticks the connector."""
        return self._runs > 0 and not self._clock_ticks()

    def tick_seen(self):
        """Called by the connector's `tick()`: a tick that does not come from the driver is a Clock's."""
        if not self._ticking:
            now = time.monotonic()
            if self._last_clock_tick > float("-inf"):
                self._clock_tick_interval = now - self._last_clock_tick
            self._last_clock_tick = now

    async def run_beside(self, loop_coroutine):
        """Runs `loop_coroutine` (a connector loop) with the driver beside it; the driver ends with it."""
        driver = safe_ensure_future(self.run())
        try:
            await loop_coroutine
        finally:
            driver.cancel()

    async def run(self):
        """Ticks the connector with the wall clock, while no Clock does, until cancelled."""
        self._runs += 1
        try:
            while True:
                if not self._clock_ticks():
                    self._tick()
                await self._connector._sleep(self._connector.WALL_CLOCK_TICK_INTERVAL)
        finally:
            self._runs -= 1

    def _clock_ticks(self) -> bool:
        silence = max(self._connector.WALL_CLOCK_TAKEOVER_DELAY, 2 * self._clock_tick_interval)
        return time.monotonic() - self._last_clock_tick < silence

    def _tick(self):
        connector = self._connector
        # In the slot start_network() uses, so that a later start_network() or stop_network() (and Hummingbot API's
        # own stop, which cancels the same attributes) replaces or ends it: there is never a second status loop.
        if connector._status_polling_task is None:
            connector._status_polling_task = safe_ensure_future(connector._status_polling_loop())
        self._ticking = True
        try:
            connector.tick(connector._time())
        finally:
            self._ticking = False
