"""The demo command: its options, a short end-to-end run against the sandbox, and the run_demo.sh wrapper."""
import asyncio
import contextlib
import io
import os
import shutil
import stat
import subprocess
import tempfile
import unittest
from decimal import Decimal
from pathlib import Path
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import List, Set

from demo.run_demo import EXIT_NOT_READY, EXIT_OK, DemoOptions, default_order_amount, main, parse_args, run_demo
from demo.sandbox_environment import REPO_ROOT
from nonkyc_sandbox import default_markets


def running_task_names(since: Set[asyncio.Task]) -> List[str]:
    """The tasks created after `since` that are still running (but the current one)."""
    return [task.get_coro().__qualname__ for task in asyncio.all_tasks() - since
            if task is not asyncio.current_task() and not task.done()]


class DemoOptionsTests(unittest.TestCase):

    def test_options_from_the_command_line(self):
        options = parse_args(["--duration", "15", "--pair", "eth-usdt", "--bid-spread", "0.003", "--order-amount",
                              "0.05", "--price-source", "best_bid_ask", "--faults"])

        self.assertEqual(15.0, options.duration)
        self.assertEqual("ETH-USDT", options.pair)
        self.assertEqual(Decimal("0.003"), options.bid_spread)
        self.assertEqual(Decimal("0.002"), options.ask_spread)  # the default
        self.assertEqual(Decimal("0.05"), options.order_amount)
        self.assertEqual("best_bid_ask", options.price_source)
        self.assertTrue(options.faults)

    def test_non_positive_durations_are_refused(self):
        with contextlib.redirect_stderr(io.StringIO()) as stderr, self.assertRaises(SystemExit):
            parse_args(["--duration", "0"])
        self.assertIn("durations and intervals must be positive", stderr.getvalue())

    def test_default_order_amount_is_about_100_quote_units_within_the_market_rules(self):
        markets = {market.symbol: market for market in default_markets()}

        self.assertEqual(Decimal("0.001500"), default_order_amount(markets["BTC/USDT"]))  # 100 / 67800 = 0.001474...
        self.assertEqual(Decimal("0.029"), default_order_amount(markets["ETH/USDT"]))  # 100 / 3500 = 0.02857...
        self.assertEqual(Decimal("4800"), default_order_amount(markets["SAL/USDT"]))  # 100 / 0.021118 = 4735.3...

    def test_an_unknown_or_paused_pair_exits_with_a_message_before_starting_anything(self):
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            exit_code = main(["--pair", "DOGE-USDT"])  # paused on the sandbox

        self.assertEqual(EXIT_NOT_READY, exit_code)
        self.assertIn("DOGE-USDT is not a tradeable sandbox pair; choose one of BTC-USDT, BTC-USDT_TRC20, ETH-USDT, "
                      "NKYC-USDT, SAL-USDT", stderr.getvalue())


class DemoEndToEndTests(IsolatedAsyncioWrapperTestCase):

    async def test_a_short_run_quotes_and_ends_clean(self):
        tasks_before = asyncio.all_tasks()
        lines = []

        summary = await run_demo(DemoOptions(duration=15, refresh_time=4, status_interval=5), out=lines.append)

        output = "\n".join(lines)
        self.assertEqual(EXIT_OK, summary.exit_code, output)
        self.assertTrue(summary.ready)
        self.assertGreater(summary.placed, 0)
        self.assertEqual(0, summary.error_count, summary.errors)
        self.assertEqual(0, summary.failed)
        self.assertEqual(0, summary.open_orders_left)
        self.assertTrue(summary.shutdown_clean)
        # Every fill the exchange recorded for the account reached the bot, with the same fees.
        self.assertEqual(summary.exchange_fill_count, summary.fill_count)
        self.assertEqual(summary.exchange_fees, sum(summary.fees.values(), Decimal(0)))
        self.assertGreaterEqual(output.count("BTC-USDT mid "), 3)
        self.assertIn(f"orders            placed {summary.placed}, cancelled {summary.cancelled}", output)
        self.assertIn("errors            0 ERROR log lines", output)
        self.assertIn("result            OK (exit status 0)", output)
        self.assertFalse(summary.work_dir.exists())  # a clean run leaves no files behind
        await wait_until(lambda: not running_task_names(tasks_before), timeout=5.0,
                         what=lambda: f"the demo's tasks to end: {running_task_names(tasks_before)}")


class RunDemoScriptTests(unittest.TestCase):
    """run_demo.sh in a copy of the repository layout where setup.sh and the venv's python are stand-ins."""

    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="nonkyc-run-demo-sh-"))
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        shutil.copy(REPO_ROOT / "run_demo.sh", self.root / "run_demo.sh")
        self.write_executable("setup.sh", "#!/usr/bin/env bash\necho setup >> \"$(dirname \"$0\")/calls\"\n")
        self.write_executable(
            ".venv/bin/python",
            "#!/usr/bin/env bash\necho \"python $* (cwd $PWD)\" >> \"$(dirname \"$0\")/../../calls\"\nexit 3\n")

    def write_executable(self, relative_path: str, content: str):
        path = self.root / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def test_sets_up_then_runs_the_demo_module_with_the_arguments_and_its_exit_status(self):
        result = subprocess.run([str(self.root / "run_demo.sh"), "--duration", "30", "--pair", "ETH-USDT"],
                                cwd=tempfile.gettempdir(), env={**os.environ}, capture_output=True, timeout=30)

        self.assertEqual(3, result.returncode, result.stderr)
        self.assertEqual(["setup", f"python -m demo --duration 30 --pair ETH-USDT (cwd {self.root})"],
                         (self.root / "calls").read_text().splitlines())
