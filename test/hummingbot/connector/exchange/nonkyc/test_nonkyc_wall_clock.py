"""
The connector without a Clock (Hummingbot API): timestamps from the wall clock and the REST safety net on the bot's
cadence, from the lost-orders loop that Hummingbot API starts; with a Clock, the status polls are the Clock's alone.
"""
import asyncio
import time
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import clear_url_overrides, wait_until
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List
from unittest.mock import AsyncMock, MagicMock, PropertyMock, patch

from hummingbot.connector.exchange.nonkyc.nonkyc_api_user_stream_data_source import NonkycAPIUserStreamDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.clock import Clock, ClockMode
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.utils.async_utils import safe_ensure_future


class WallClockTests(IsolatedAsyncioWrapperTestCase):

    def setUp(self) -> None:
        super().setUp()
        clear_url_overrides(self)
        self.exchange = NonkycExchange(nonkyc_api_key="testAPIKey", nonkyc_api_secret="testSecret",
                                       trading_pairs=[], trading_required=True)
        self.polls: List[float] = []  # the wall-clock time of each status poll
        self.exchange._status_polling_loop_fetch_updates = AsyncMock(side_effect=lambda: self.polls.append(
            time.monotonic()))
        self.exchange._update_time_synchronizer = AsyncMock()
        self.exchange._cancel_lost_orders = AsyncMock()
        self.exchange._update_lost_orders_status = AsyncMock()
        self.exchange.check_network = AsyncMock(return_value=NetworkStatus.NOT_CONNECTED)
        self.ticks = 0
        original_tick = self.exchange.tick

        def counting_tick(timestamp: float):
            self.ticks += 1
            original_tick(timestamp)

        self.exchange.tick = counting_tick
        self.wall_clock_turns = 0
        original_sleep = self.exchange._sleep

        async def counting_sleep(delay: float):
            self.wall_clock_turns += delay == self.exchange.WALL_CLOCK_TICK_INTERVAL
            await original_sleep(delay)

        self.exchange._sleep = counting_sleep
        self.tasks: List[asyncio.Task] = []

    async def asyncTearDown(self) -> None:
        for task in self.tasks + [self.exchange._status_polling_task]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[task for task in self.tasks if task is not None], return_exceptions=True)
        await super().asyncTearDown()

    def start_like_hummingbot_api(self):
        """What Hummingbot API starts of the connector's loops that matter here (no start_network(), no Clock)."""
        self.exchange._lost_orders_update_task = safe_ensure_future(self.exchange._lost_orders_update_polling_loop())
        self.tasks.append(self.exchange._lost_orders_update_task)

    def private_stream_last_message(self, seconds_ago: float, now=time.time):
        patcher = patch.object(NonkycAPIUserStreamDataSource, "last_recv_time", new_callable=PropertyMock,
                               side_effect=lambda: now() - seconds_ago)
        patcher.start()
        self.addCleanup(patcher.stop)

    async def test_timestamps_come_from_the_wall_clock_without_a_clock_never_nan_nor_stale(self):
        wall_clock = [1796000000.0]
        self.exchange._time = MagicMock(side_effect=lambda: wall_clock[0])

        self.assertEqual(1796000000.0, self.exchange.current_timestamp)  # built, nothing started: not NaN

        self.exchange._set_current_timestamp(1795999000.0)  # what Hummingbot API sets before its 5-minute refresh
        self.start_like_hummingbot_api()
        await wait_until(lambda: self.ticks > 0, what="the first wall-clock tick")
        wall_clock[0] += 42.5
        self.exchange.start_tracking_order(order_id="HBOT-1", exchange_order_id=None, trading_pair="BTC-USDT",
                                           trade_type=TradeType.BUY, price=Decimal("60000"), amount=Decimal("0.01"),
                                           order_type=OrderType.LIMIT)

        self.assertEqual(1796000042.5, self.exchange.current_timestamp)
        self.assertEqual(1796000042.5, self.exchange.in_flight_orders["HBOT-1"].creation_timestamp)

    async def test_a_timestamp_set_by_hand_is_kept_while_nothing_drives_the_connector(self):
        self.exchange._set_current_timestamp(1640780000)

        self.assertEqual(1640780000, self.exchange.current_timestamp)

    async def test_the_safety_net_polls_at_the_short_interval_while_the_private_stream_is_silent(self):
        self.exchange.WALL_CLOCK_TICK_INTERVAL = 0.01
        self.exchange.SHORT_POLL_INTERVAL = 0.1
        self.exchange.LONG_POLL_INTERVAL = 60
        self.private_stream_last_message(seconds_ago=3600)

        self.start_like_hummingbot_api()
        await wait_until(lambda: len(self.polls) >= 4, timeout=10, what=lambda: f"4 status polls ({self.polls})")

        # Four polls within the wait: the short interval (the long one is a minute), and never two in one interval.
        gaps = [later - earlier for earlier, later in zip(self.polls[1:], self.polls[2:])]
        self.assertTrue(all(gap > 0.05 for gap in gaps), gaps)
        self.assertEqual(len(self.polls), self.exchange._update_time_synchronizer.await_count)

    async def test_the_safety_net_waits_for_the_long_interval_while_the_private_stream_is_alive(self):
        self.exchange.WALL_CLOCK_TICK_INTERVAL = 0.01
        self.exchange.SHORT_POLL_INTERVAL = 0.05
        self.exchange.LONG_POLL_INTERVAL = 3600
        self.private_stream_last_message(seconds_ago=1)

        self.start_like_hummingbot_api()
        await wait_until(lambda: self.ticks >= 30, timeout=10, what="30 wall-clock ticks")

        self.assertEqual(1, len(self.polls))  # the first tick's poll (as a bot's first tick), none since

    async def test_a_clock_driven_connector_is_polled_by_the_clock_alone(self):
        self.exchange.WALL_CLOCK_TICK_INTERVAL = 0.001
        self.exchange.SHORT_POLL_INTERVAL = 5
        self.private_stream_last_message(seconds_ago=3600, now=lambda: 1000)  # in the Clock's time
        clock = Clock(ClockMode.BACKTEST, tick_size=1.0, start_time=1000.0, end_time=2000.0)
        clock.add_iterator(self.exchange)

        with clock:
            # What start_network() starts: the status polling loop and the lost-orders loop (with the driver beside).
            status_polling = safe_ensure_future(self.exchange._status_polling_loop())
            self.exchange._status_polling_task = status_polling
            self.start_like_hummingbot_api()
            for timestamp in range(1001, 1031):
                clock.backtest_til(timestamp)
                await wait_until(lambda: not self.exchange._poll_notifier.is_set(), what="the poll of the tick")
                turns = self.wall_clock_turns
                await wait_until(lambda: self.wall_clock_turns >= turns + 2, what="the wall-clock driver to turn")
            self.assertEqual(1030.0, self.exchange.current_timestamp)

        # Polls at 1000 (the first tick), 1005, ..., 1030: seven, each once.
        self.assertEqual(7, len(self.polls))
        self.assertEqual(30, self.ticks)  # the Clock's ticks (1001 to 1030), none of the wall clock's
        self.assertIs(status_polling, self.exchange._status_polling_task)
        self.assertGreater(self.wall_clock_turns, 60)

    async def test_the_wall_clock_takes_over_only_when_a_clock_stopped_ticking(self):
        monotonic = [100.0]
        self.exchange._wall_clock._runs = 1  # as while the driver runs beside the lost-orders loop
        with patch("hummingbot.connector.exchange.nonkyc.nonkyc_wall_clock.time.monotonic",
                   side_effect=lambda: monotonic[0]):
            self.assertTrue(self.exchange._wall_clock.driving)
            for now in (100.0, 130.0):  # a Clock ticking every 30 s (a tick size beyond the 10 s takeover delay)
                monotonic[0] = now
                self.exchange.tick(now)
                self.assertFalse(self.exchange._wall_clock.driving)
            monotonic[0] = 185.0
            self.assertFalse(self.exchange._wall_clock.driving)  # 55 s: less than two of its intervals
            monotonic[0] = 191.0
            self.assertTrue(self.exchange._wall_clock.driving)
