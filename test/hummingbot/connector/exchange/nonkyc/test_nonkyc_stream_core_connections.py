"""
The stream core over real sockets, against the NonKYC sandbox: a connection that ends, however it ends, is released
at once. One left open is closed only when the garbage collector finds its aiohttp response, which asyncio then reports
as an ERROR ("Unclosed response") at a random moment, during whatever runs then.
"""
import asyncio
import gc
import logging
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import LogRecorder, wait_until
from test.hummingbot.connector.exchange.nonkyc.real_sockets import (
    close_shared_aiohttp_session,
    use_fresh_shared_aiohttp_session,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List, Optional

from aiohttp import ServerDisconnectedError

from demo.sandbox_environment import SandboxEnvironment
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import NonkycStreamCore, aiohttp_websocket_of
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from nonkyc_sandbox.server import SandboxExchange


class StreamCoreConnectionReleaseTests(IsolatedAsyncioWrapperTestCase):

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        loop = asyncio.get_running_loop()
        loop.set_debug(True)  # aiohttp reports an unclosed response in debug mode only
        self.reported: List[str] = []
        loop.set_exception_handler(self._exception_handler)
        self.asyncio_errors = LogRecorder()
        logging.getLogger("asyncio").addHandler(self.asyncio_errors)
        self.addCleanup(logging.getLogger("asyncio").removeHandler, self.asyncio_errors)
        use_fresh_shared_aiohttp_session()
        self.sandbox = SandboxExchange(seed=1)
        self.environment = SandboxEnvironment(self.sandbox)
        await self.environment.start()
        self.stream_logger = logging.getLogger("test.nonkyc_stream_core_connections")
        self.stream_core = NonkycStreamCore("NonKYC test stream", lambda: self.stream_logger,
                                            lambda delay: asyncio.sleep(0))  # reconnects without a back-off
        self.api_factory = WebAssistantsFactory(throttler=AsyncThrottler(CONSTANTS.RATE_LIMITS))
        self.stream_task: Optional[asyncio.Task] = None

    async def asyncTearDown(self) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            await asyncio.gather(self.stream_task, return_exceptions=True)
        await self.stream_core.close()
        await self.environment.stop()
        await close_shared_aiohttp_session()
        await super().asyncTearDown()

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: Dict[str, Any]):
        self.reported.append(context.get("message", ""))
        loop.default_exception_handler(context)

    # === Helpers ===

    async def run_stream(self):
        """What the public, private and candles streams do with their core: connect, read until the connection ends,
        close, again."""
        while True:
            websocket = await self.stream_core.connect(self.api_factory)
            try:
                async for _ in self.stream_core.messages(websocket):
                    pass
            except ConnectionError:
                pass
            finally:
                await self.stream_core.close()

    async def start_stream(self, connections: int = 1):
        self.stream_task = asyncio.ensure_future(self.run_stream())
        await wait_until(lambda: self.stream_core.connection_count == connections
                         and len(self.sandbox.hub.connections) == 1, 5, "the stream to be connected")

    def open_connections(self) -> int:
        """The WebSocket connections the sandbox still sees open."""
        return len(self.sandbox.hub.connections)

    def unclosed_resources_reported(self) -> List[str]:
        """What asyncio reports once the garbage collector has run: its ERROR lines and the loop's exception handler
        calls (an unclosed response, connection or client session)."""
        gc.collect()
        return [record.getMessage() for record in self.asyncio_errors.records if record.levelname == "ERROR"] + \
            self.reported

    # === Tests ===

    async def test_a_connection_the_server_drops_is_released_and_the_stream_reconnects(self):
        await self.start_stream()

        for number, abrupt in enumerate((False, True), start=2):
            with self.subTest(abrupt=abrupt):
                self.assertEqual(1, self.sandbox.faults.drop_ws_connections(abrupt=abrupt))
                await wait_until(lambda: self.stream_core.connection_count == number and self.open_connections() == 1,
                                 5, lambda: f"the stream to reconnect (connection {self.stream_core.connection_count},"
                                            f" {self.open_connections()} open on the sandbox)")

        self.assertEqual([], self.unclosed_resources_reported())

    async def test_a_connection_aiohttp_ends_without_closing_its_response_is_released(self):
        await self.start_stream()
        aiohttp_websocket = aiohttp_websocket_of(self.stream_core.websocket)

        # A client error while reading (e.g. ServerDisconnectedError): aiohttp marks the WebSocket closed but leaves
        # its response, and the TCP connection, open; WSConnection.disconnect() then sees nothing left to close.
        aiohttp_websocket._reader.set_exception(ServerDisconnectedError())

        await wait_until(lambda: self.stream_core.connection_count == 2, 5, "the stream to reconnect")
        await wait_until(lambda: self.open_connections() == 1, 5,
                         lambda: f"the old connection to be closed ({self.open_connections()} open on the sandbox)")
        self.assertTrue(aiohttp_websocket.closed)
        del aiohttp_websocket
        self.assertEqual([], self.unclosed_resources_reported())

    async def test_a_stream_cancelled_again_while_it_closes_still_releases_its_connection(self):
        # Hummingbot's order book tracker cancels the stream's task at every stop without forgetting it, so a restart
        # (stop_network, then start_network which stops first) cancels it a second time while it is still closing.
        may_finish = asyncio.Event()

        async def slow_to_stop():  # a scheduled action that takes a moment to end once cancelled
            try:
                await asyncio.Event().wait()
            finally:
                await may_finish.wait()

        await self.start_stream()
        self.stream_core.run_later(0, slow_to_stop)

        self.stream_task.cancel()
        await wait_until(lambda: self.stream_core.websocket is None, 5, "the stream to be closing")
        self.assertFalse(self.stream_task.done(), "still closing: waiting for its scheduled action")
        self.stream_task.cancel()
        may_finish.set()
        await asyncio.gather(self.stream_task, return_exceptions=True)

        await wait_until(lambda: self.open_connections() == 0, 5,
                         lambda: f"the connection to be closed ({self.open_connections()} open on the sandbox)")
        self.assertEqual([], self.unclosed_resources_reported())
