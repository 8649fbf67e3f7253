import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import unittest
import urllib.request
import warnings
from pathlib import Path
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.nonkyc_sandbox.sandbox_test_support import SignedClient, WsClient

import aiohttp

from nonkyc_sandbox import SandboxExchange, TraderSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class ShutdownTests(unittest.TestCase):

    def test_stop_with_busy_clients_leaves_no_task_socket_or_warning(self):
        async def scenario():
            sandbox = SandboxExchange(seed=1, trader_settings=TraderSettings(interval=0.02))
            await sandbox.start("127.0.0.1", 0)
            session = aiohttp.ClientSession()
            ws = WsClient(await session.ws_connect(sandbox.ws_url))
            await ws.login()
            await ws.request("subscribeOrderbook", {"symbol": "BTC/USDT", "limit": 5})
            await ws.request("subscribeReports")
            await ws.receive_until(lambda message: message.get("method") == "updateOrderbook")
            sandbox.faults.hang_next_create(delay=60)
            client = SignedClient(session, sandbox.rest_url, "sandbox-api-key", "sandbox-api-secret")
            hanging = asyncio.ensure_future(client.create_order("BTC/USDT", "buy", "0.001", "60000.00"))
            await wait_until(lambda: sandbox.orders("user"), timeout=2.0,
                             what="the hanging create to reach the sandbox")

            started = asyncio.get_running_loop().time()
            await sandbox.stop()
            stop_duration = asyncio.get_running_loop().time() - started

            closing = await ws.ws.receive(timeout=2)
            while closing.type == aiohttp.WSMsgType.TEXT:  # updates sent before the shutdown
                closing = await ws.ws.receive(timeout=2)
            status, _ = await asyncio.wait_for(hanging, 2)  # the hanging create was answered at shutdown
            with self.assertRaises(aiohttp.ClientConnectionError):
                await session.get(f"{sandbox.rest_url}/time")
            await ws.ws.close()
            await session.close()
            leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            return stop_duration, closing.type, status, leftovers

        with warnings.catch_warnings(record=True) as caught, self.assertNoLogs("asyncio", level="WARNING"):
            warnings.simplefilter("always")
            stop_duration, closing_type, status, leftovers = asyncio.run(scenario())
            gc.collect()

        self.assertLess(stop_duration, 3)
        self.assertEqual(aiohttp.WSMsgType.CLOSE, closing_type)
        self.assertEqual(200, status)
        self.assertEqual([], leftovers)
        self.assertEqual([], [str(warning.message) for warning in caught
                              if issubclass(warning.category, ResourceWarning)])

    def test_stop_is_idempotent_and_the_sandbox_can_start_again(self):
        async def scenario():
            sandbox = SandboxExchange(simulated_traders=False)
            async with sandbox:
                first_port = sandbox.port
            await sandbox.stop()
            await sandbox.start()
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{sandbox.rest_url}/time") as response:
                    status = response.status
            await sandbox.stop()
            return first_port, status

        first_port, status = asyncio.run(scenario())

        self.assertGreater(first_port, 0)
        self.assertEqual(200, status)


class CommandLineTests(unittest.TestCase):

    def test_module_starts_prints_its_urls_serves_and_stops_on_sigint(self):
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        process = subprocess.Popen(
            [sys.executable, "-m", "nonkyc_sandbox", "--host", "127.0.0.1", "--port", "0", "--seed", "5",
             "--no-traders", "--api-key", "k1", "--api-secret", "s1", "--log-level", "WARNING", "--extra-markets", "3"],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            while not any(line.startswith("WebSocket:") for line in lines):
                line = process.stdout.readline()
                if not line:
                    self.fail(f"the sandbox exited early: {process.stderr.read()}")
                lines.append(line.strip())
            rest_url = next(line.split(": ", 1)[1] for line in lines if line.startswith("REST base:"))
            ws_url = next(line.split(": ", 1)[1] for line in lines if line.startswith("WebSocket:"))
            self.assertRegex(rest_url, r"^http://127\.0\.0\.1:\d+/api/v2$")
            self.assertRegex(ws_url, r"^ws://127\.0\.0\.1:\d+/ws$")
            with urllib.request.urlopen(f"{rest_url}/market/getlist", timeout=5) as response:
                markets = json.loads(response.read())
            symbols = [market["symbol"] for market in markets]
            self.assertIn("BTC/USDT", symbols)
            self.assertEqual(["ALT001/USDT", "ALT002/USDT", "ALT003/USDT"], symbols[-3:])
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
        self.assertEqual(0, process.returncode, err)
        self.assertIn("NonKYC sandbox stopped", out)
