"""What the benchmarks that drive the real connector on the sandbox share: waiting for a condition and a Clock."""
import asyncio
import time

from hummingbot.core.clock import Clock, ClockMode


async def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:g} s waiting for {what}.")
        await asyncio.sleep(0.05)


def start_realtime_clock(connector) -> asyncio.Task:
    """Ticks the connector every second, as a bot's Clock does (its status polls and network checks run), until the
    returned task is cancelled (`stop_task`)."""
    clock = Clock(ClockMode.REALTIME, tick_size=1.0)
    clock.add_iterator(connector)

    async def run_clock():
        with clock:
            await clock.run()

    return asyncio.ensure_future(run_clock())


async def stop_task(task: asyncio.Task):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
