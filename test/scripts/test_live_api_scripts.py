import asyncio
import os
import sys
from pathlib import Path
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Dict, Tuple
from unittest import TestCase

from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange
from scripts.live_api.live_api_common import exchange_symbol
from scripts.live_api.public_smoke import ws_candles_shape

REPO_ROOT = Path(__file__).resolve().parents[2]
LIVE_API_DIR = REPO_ROOT / "scripts" / "live_api"


class LiveApiScriptsAgainstSandboxTests(IsolatedAsyncioWrapperTestCase):
    """The live smoke scripts, run as a user runs them, against the local sandbox exchange (real sockets)."""

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.sandbox = SandboxExchange(seed=7, candle_history_hours=1)  # candles for the candles checks
        await self.sandbox.start("127.0.0.1", 0)

    async def asyncTearDown(self) -> None:
        await self.sandbox.stop()
        await super().asyncTearDown()

    async def run_script(self, name: str, *args: str, env: Dict[str, str] = None) -> Tuple[int, str]:
        environment = {key: value for key, value in os.environ.items()
                       if key not in ("NONKYC_API_KEY", "NONKYC_API_SECRET")}
        environment.update(env or {})
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(LIVE_API_DIR / name), "--rest-url", self.sandbox.rest_url, "--ws-url",
            self.sandbox.ws_url, "--ws-seconds", "10", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=str(REPO_ROOT), env=environment)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=90)
        return process.returncode, output.decode()

    async def test_public_smoke_passes_against_the_sandbox(self):
        exit_code, output = await self.run_script("public_smoke.py", "--pair", "BTC-USDT")

        self.assertEqual(0, exit_code, output)
        for check in ("GET /time", "GET /market/getlist", "GET /market/orderbook", "GET /tickers",
                      "GET /market/candles", "WS snapshotOrderbook", "WS updateOrderbook sequence continuity",
                      "WS trades", "WS subscribeCandles reply", "WS candles"):
            self.assertIn(f"PASS {check}", output)
        self.assertIn("sequence '", output)  # the REST order book sequence is reported as the string it is
        # the candle shapes the exchange sends (the sandbox's defaults), for the first run with network access
        self.assertIn("time in `time` (milliseconds), high/low, fields ['close', 'high', 'low', 'open', 'time', "
                      "'volume']; meta fields ['noData']", output)
        self.assertIn("PASS WS candles: snapshotCandles with 10 candles in `params.data`; time in `timestamp` (ISO "
                      "string), min/max, fields ['close', 'max', 'min', 'open', 'timestamp', 'volume']", output)
        self.assertIn("SUMMARY: 12 passed, 0 failed", output)

    async def test_public_smoke_names_the_other_candle_shapes(self):
        self.sandbox.candles.set_time_unit("s")
        self.sandbox.candles.set_ws_shape("min_max_datetime")

        exit_code, output = await self.run_script("public_smoke.py", "--pair", "BTC-USDT")

        self.assertEqual(0, exit_code, output)
        self.assertRegex(output, r"PASS GET /market/candles: \d+ bars; time in `time` \(seconds\), high/low")
        self.assertIn("PASS WS candles: snapshotCandles with 10 candles in `params.data`; time in `datetime` (ISO "
                      "string), min/max", output)

    async def test_authenticated_check_with_trade_passes_and_never_prints_the_keys(self):
        keys = {"NONKYC_API_KEY": DEFAULT_API_KEY, "NONKYC_API_SECRET": DEFAULT_API_SECRET}
        exit_code, output = await self.run_script("auth_check.py", "--trade", env=keys)

        self.assertEqual(0, exit_code, output)
        self.assertIn("PASS place and cancel a far-from-market limit order", output)
        self.assertIn("SUMMARY: 6 passed, 0 failed", output)
        self.assertNotIn(DEFAULT_API_KEY, output)
        self.assertNotIn(DEFAULT_API_SECRET, output)
        self.assertEqual([], self.sandbox.orders("user", status="active"))

    async def test_authenticated_check_fails_with_exit_code_1_on_bad_keys(self):
        exit_code, output = await self.run_script(
            "auth_check.py", env={"NONKYC_API_KEY": DEFAULT_API_KEY, "NONKYC_API_SECRET": "wrong-secret"})

        self.assertEqual(1, exit_code, output)
        self.assertIn("FAIL GET /balances", output)
        self.assertIn("1002", output)
        self.assertNotIn("wrong-secret", output)

    async def test_authenticated_check_without_keys_fails_clearly(self):
        exit_code, output = await self.run_script("auth_check.py", env={"NONKYC_API_KEY": "", "NONKYC_API_SECRET": ""})

        self.assertEqual(1, exit_code, output)
        self.assertIn("FAIL API keys: set NONKYC_API_KEY and NONKYC_API_SECRET", output)


class PairArgumentTests(TestCase):

    def test_the_pair_may_be_typed_in_nonkyc_hummingbot_or_path_form(self):
        self.assertEqual(["BTC/USDT", "BTC/USDT-TRC20", "BTC/USDT", "BTC/USDT-TRC20", "BTC/USDT"],
                         [exchange_symbol(pair) for pair in ("BTC/USDT", "btc/usdt-trc20", "BTC-USDT",
                                                             "BTC-USDT_TRC20", "BTC_USDT")])


class CandleShapeReportTests(TestCase):
    """What public_smoke.py prints when the live exchange sends candles the feed does not read."""

    def test_candle_notifications_the_feed_cannot_read_fail_and_show_their_shape(self):
        candle = {"open": "1", "close": "1", "volume": "2"}
        flat = {"method": "updateCandles", "params": {"symbol": "BTC/USDT", "period": 5, "timestamp": 1772170800000,
                                                      "high": "1", "low": "1", **candle}}
        time_field = {"method": "snapshotCandles", "params": {"data": [{"time": "1772170800", "max": "1", "min": "1",
                                                                        **candle}]}}

        self.assertEqual((False, "no snapshotCandles/updateCandles within the listening time (other methods: "
                                 "['updateTrades'])"), ws_candles_shape([{"method": "updateTrades", "params": {}}]))
        passed, detail = ws_candles_shape([flat])
        self.assertFalse(passed)
        self.assertTrue(detail.startswith("updateCandles without candles in a `params.data` list: {'symbol'"), detail)
        self.assertEqual((False, "the candles feed cannot read time in `time` (seconds as text), min/max, fields "
                                 "['close', 'max', 'min', 'open', 'time', 'volume']: no candle time (None)"),
                         ws_candles_shape([time_field]))
