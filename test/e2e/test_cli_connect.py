import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Optional, Tuple

import hummingbot
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

# Runs Hummingbot's own CLI entry point with its root path moved to a temporary directory, so that the test's keys
# and keystore never touch the user's conf/ (Hummingbot derives conf/, logs/ and its connector scan from root_path()).
CLI_RUNNER = """
import pathlib, runpy, sys
import hummingbot
root = pathlib.Path(sys.argv[1])
hummingbot.root_path = lambda: root
sys.argv = ["hbot"] + sys.argv[2:]
runpy.run_module("hummingbot.cli.main", run_name="__main__")
"""


class CliConnectAgainstSandboxTests(IsolatedAsyncioWrapperTestCase):
    """`python -m hummingbot.cli.main connect nonkyc` as a user runs it, with the connector pointed at the sandbox."""

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.sandbox = SandboxExchange(seed=11, simulated_traders=False)
        await self.sandbox.start("127.0.0.1", 0)
        self.root = tempfile.TemporaryDirectory()
        root = Path(self.root.name)
        for directory in ("conf/connectors", "conf/strategies", "conf/scripts", "conf/controllers", "logs", "data"):
            (root / directory).mkdir(parents=True)
        (root / "hummingbot").symlink_to(Path(hummingbot.__file__).resolve().parent)

    async def asyncTearDown(self) -> None:
        await self.sandbox.stop()
        self.root.cleanup()
        await super().asyncTearDown()

    async def hbot(self, *args: str, stdin: Optional[str] = None) -> Tuple[int, str]:
        environment = dict(os.environ, HBOT_PASSWORD="sandbox-keystore-password",
                           NONKYC_REST_URL=self.sandbox.rest_url, NONKYC_WS_URL=self.sandbox.ws_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI_RUNNER, self.root.name, *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=environment)
        output, _ = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), timeout=120)
        return process.returncode, output.decode()

    async def add_keys(self, secret: str, replace: bool = False) -> Tuple[int, str]:
        keys = json.dumps({"nonkyc_api_key": DEFAULT_API_KEY, "nonkyc_api_secret": secret})
        return await self.hbot("connect", "nonkyc", "--keys-stdin", *(["--replace"] if replace else []), stdin=keys)

    @staticmethod
    def nonkyc_row(output: str) -> str:
        return next(line for line in output.splitlines() if line.startswith("| nonkyc"))

    async def test_good_keys_are_confirmed_and_bad_keys_refused_with_a_clear_message(self):
        exit_code, output = await self.add_keys("a-wrong-secret")
        self.assertEqual(0, exit_code, output)
        self.assertNotIn("a-wrong-secret", output)

        exit_code, output = await self.hbot("connect")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(self.nonkyc_row(output), r"\| nonkyc\s+\| yes\s+\| no\s+\| NonKYC refused the API credentials")
        self.assertIn("Authorization failed", output)
        self.assertNotIn("a-wrong-secret", output)

        exit_code, output = await self.add_keys(DEFAULT_API_SECRET, replace=True)
        self.assertEqual(0, exit_code, output)
        exit_code, output = await self.hbot("connect")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(self.nonkyc_row(output), r"\| nonkyc\s+\| yes\s+\| yes\s+\|")
        self.assertNotIn(DEFAULT_API_SECRET, output)

    async def test_balance_lists_every_asset_of_the_account_network_variants_included(self):
        # The sandbox account holds USDT-TRC20: Hummingbot names it USDT_TRC20 (with the raw ticker, `balance` stopped
        # with "too many values to unpack").
        exit_code, output = await self.add_keys(DEFAULT_API_SECRET)
        self.assertEqual(0, exit_code, output)

        exit_code, output = await self.hbot("balance", "--units-only")

        self.assertEqual(0, exit_code, output)
        self.assertNotIn("Traceback", output)
        self.assertRegex(output, r"\| USDT_TRC20\s+\| 100000\s+\|")
        self.assertRegex(output, r"\| BTC\s+\| 2\s+\|")
        self.assertNotIn("USDT-TRC20", output)

    async def test_connector_is_listed_with_its_key_fields(self):
        exit_code, output = await self.hbot("connect", "--all")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(output, r"\| nonkyc\s+\| no\s+\|")

        exit_code, output = await self.hbot("connect", "nonkyc", "--fields")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(output, r"\| nonkyc_api_key\s+\| yes\s+\| Enter your NonKYC API key")
        self.assertRegex(output, r"\| nonkyc_api_secret\s+\| yes\s+\| Enter your NonKYC API secret")
