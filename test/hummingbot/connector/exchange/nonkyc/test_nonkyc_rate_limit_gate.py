import asyncio
import logging
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import LogAssertions, LogRecorder
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List, Optional

from hummingbot.connector.exchange.nonkyc.nonkyc_rate_limit_gate import RateLimitGate


class RateLimitGateTests(IsolatedAsyncioWrapperTestCase, LogAssertions):

    def setUp(self) -> None:
        super().setUp()
        self.now = 1000.0
        self.sleeps: List[float] = []
        self.log_recorder = LogRecorder()
        self.logger = logging.getLogger("test.nonkyc.rate_limit_gate")
        self.logger.setLevel(1)
        self.logger.addHandler(self.log_recorder)
        self.addCleanup(self.logger.removeHandler, self.log_recorder)
        self.gate = RateLimitGate(logger=lambda: self.logger, sleep=self.sleep, clock=lambda: self.now)

    async def sleep(self, delay: float):
        self.sleeps.append(delay)
        self.now += delay

    async def request(self, answer_429: bool, retry_after: Optional[float] = None):
        async with self.gate.turn():
            if answer_429:
                self.gate.rate_limited("GET /account/orders", retry_after)
            else:
                self.gate.succeeded()

    async def test_back_off_doubles_up_to_the_maximum_and_one_warning_per_episode(self):
        for _ in range(8):
            await self.request(answer_429=True)
        await self.request(answer_429=False)

        self.assertEqual([1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], self.sleeps[:7])
        self.assertEqual(1, len(self.log_messages("WARNING")))
        self.assertTrue(self.is_logged("WARNING", "NonKYC is rate limiting this API key (HTTP 429 on GET "
                                                  "/account/orders)"))
        self.assertTrue(self.is_logged("INFO", "NonKYC stopped rate limiting after 121 s (8 requests answered 429)"))
        self.assertFalse(self.gate.limited)

    async def test_after_an_episode_requests_go_without_waiting_and_a_new_episode_warns_again(self):
        await self.request(answer_429=True)
        await self.request(answer_429=False)
        sleeps = len(self.sleeps)

        for _ in range(3):
            await self.request(answer_429=False)
        await self.request(answer_429=True)

        self.assertEqual(sleeps, len(self.sleeps))
        self.assertEqual(2, len(self.log_messages("WARNING")))

    async def test_answers_to_requests_sent_before_the_back_off_do_not_extend_it(self):
        self.gate.rate_limited("GET /balances")
        self.gate.rate_limited("GET /account/trades")
        self.gate.rate_limited("GET /time")

        await self.request(answer_429=False)

        self.assertEqual([1.0], self.sleeps)

    async def test_retry_after_is_respected_within_the_maximum(self):
        await self.request(answer_429=True, retry_after=5)
        await self.request(answer_429=True, retry_after=500)
        await self.request(answer_429=False)

        self.assertEqual([5.0, 30.0], self.sleeps)

    async def test_during_an_episode_requests_go_one_at_a_time(self):
        self.gate.rate_limited("GET /balances")
        in_flight, most_in_flight = 0, 0
        release = asyncio.Event()

        async def request():
            nonlocal in_flight, most_in_flight
            async with self.gate.turn():
                in_flight += 1
                most_in_flight = max(most_in_flight, in_flight)
                await release.wait()
                in_flight -= 1

        tasks = [asyncio.create_task(request()) for _ in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*tasks)

        self.assertEqual(1, most_in_flight)
