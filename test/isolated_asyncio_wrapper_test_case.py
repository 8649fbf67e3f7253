"""
The helper that ``hummingbot.connector.test_support`` imports but the hummingbot 20260922 release does not ship.

Written to the behaviour checked by the release's own ``test/test_isolated_asyncio_wrapper_test_case.py`` (a copy of
which runs in this project's suite).
"""
import asyncio
import concurrent.futures
import functools
import unittest
from typing import Any, Awaitable, Callable, Coroutine, List, Optional, TypeVar, Union

T = TypeVar("T")


def _current_event_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        return None


class IsolatedAsyncioWrapperTestCase(unittest.IsolatedAsyncioTestCase):
    """
    An ``IsolatedAsyncioTestCase`` that remembers the event loop that was current before the class ran and puts it
    back afterwards, so that code creating asyncio objects at import or class set-up time keeps working.
    """

    main_event_loop: Optional[asyncio.AbstractEventLoop] = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        loop = _current_event_loop()
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        cls.main_event_loop = loop

    @classmethod
    def tearDownClass(cls) -> None:
        loop = cls.main_event_loop
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        super().tearDownClass()

    @staticmethod
    async def await_task_completion(coroutine_names: Union[str, List[str]]) -> None:
        """Waits for every running task whose coroutine has one of the given names."""
        names = [coroutine_names] if isinstance(coroutine_names, str) else list(coroutine_names)
        current = asyncio.current_task()
        tasks = [
            task for task in asyncio.all_tasks()
            if task is not current and getattr(task.get_coro(), "__name__", None) in names
        ]
        await asyncio.gather(*tasks)

    def run_async_with_timeout(self, coroutine: Awaitable[T], timeout: float = 1) -> T:
        """Runs a coroutine on the test's event loop from synchronous test code."""
        return self._asyncioRunner.get_loop().run_until_complete(asyncio.wait_for(coroutine, timeout))


def async_to_sync(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """
    Turns a coroutine function into a plain function that runs it on a private event loop. The caller's current
    event loop is the same afterwards, also when the coroutine raises.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _run_on_private_loop(func, *args, **kwargs)
        # Called from inside a running loop: a second loop cannot run in this thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            return executor.submit(_run_on_private_loop, func, *args, **kwargs).result()

    return wrapper


def _run_on_private_loop(func: Callable[..., Coroutine[Any, Any, T]], *args, **kwargs) -> T:
    previous_loop = _current_event_loop()
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(func(*args, **kwargs))
    finally:
        loop.close()
        asyncio.set_event_loop(previous_loop)
