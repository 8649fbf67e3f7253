"""
The `hbot` CLI as a user runs it, in a Hummingbot install of its own: a temporary directory that holds a `hummingbot`
package whose entries link to the installed one, except `__init__.py`, which is copied. Hummingbot computes its root
path from that file, so conf/, logs/, data/, scripts/ and controllers/ are the temporary directory's, and so they are
for the bot processes the CLI starts (`python -m hummingbot.cli.engine`, run from the root path): the test's keys,
keystore, configs, logs and trade databases never touch the repository's. `CliTestCase` is the base class of the
`hbot` tests: a sandbox on a free loopback port and such an install pointed at it.
"""
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Dict, Optional, Tuple

import hummingbot
from nonkyc_sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

REPO_ROOT = Path(__file__).resolve().parents[2]
KEYSTORE_PASSWORD = "sandbox-keystore-password"
CONF_DIRECTORIES = ("conf/connectors", "conf/strategies", "conf/scripts", "conf/controllers", "logs", "data")


class TemporaryHummingbotInstall:

    def __init__(self, sandbox_rest_url: str, sandbox_ws_url: str):
        self.root = Path(tempfile.mkdtemp(prefix="nonkyc-hbot-"))
        package = Path(hummingbot.__file__).resolve().parent
        (self.root / "hummingbot").mkdir()
        for entry in package.iterdir():
            if entry.name == "__init__.py":
                shutil.copy(entry, self.root / "hummingbot" / entry.name)
            elif entry.name != "__pycache__":
                (self.root / "hummingbot" / entry.name).symlink_to(entry)
        for directory in ("scripts", "controllers"):
            (self.root / directory).symlink_to(REPO_ROOT / directory)
        for directory in CONF_DIRECTORIES:
            (self.root / directory).mkdir(parents=True)
        self.environment = dict(os.environ, PYTHONPATH=str(self.root), HBOT_PASSWORD=KEYSTORE_PASSWORD,
                                NONKYC_REST_URL=sandbox_rest_url, NONKYC_WS_URL=sandbox_ws_url)

    async def hbot(self, *args: str, stdin: Optional[str] = None, timeout: float = 180) -> Tuple[int, str]:
        """Runs `python -m hummingbot.cli.main ARGS` there; returns its exit status and output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hummingbot.cli.main", *args, cwd=self.root, env=self.environment,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), timeout=timeout)
        return process.returncode, output.decode()

    def bot_pid(self) -> Optional[int]:
        pid_file = self.root / "data" / "bot" / "bot.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_lines(self, bot_name: str):
        log_file = self.root / "logs" / f"logs_{bot_name}.log"
        return log_file.read_text().splitlines() if log_file.exists() else []

    def cleanup(self):
        """Ends the bot process the CLI started, if a failed test left it running, then removes the install."""
        pid = self.bot_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def connector_keys(self, key: str, secret: str) -> Dict[str, str]:
        return {"nonkyc_api_key": key, "nonkyc_api_secret": secret}


class CliTestCase(IsolatedAsyncioWrapperTestCase):
    """A sandbox (`new_sandbox`) started on a free loopback port, and the `hbot` CLI of a temporary install on it."""

    hbot_timeout: float = 180

    def new_sandbox(self) -> SandboxExchange:
        return SandboxExchange(seed=11, simulated_traders=False)

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.sandbox = self.new_sandbox()
        await self.sandbox.start("127.0.0.1", 0)
        self.install = TemporaryHummingbotInstall(self.sandbox.rest_url, self.sandbox.ws_url)

    async def asyncTearDown(self) -> None:
        self.install.cleanup()
        await self.sandbox.stop()
        await super().asyncTearDown()

    async def hbot(self, *args: str, stdin: Optional[str] = None) -> Tuple[int, str]:
        """`hbot ARGS` as a user types it; returns its exit status and output."""
        return await self.install.hbot(*args, stdin=stdin, timeout=self.hbot_timeout)

    async def hbot_succeeds(self, *args: str, stdin: Optional[str] = None) -> str:
        """`hbot ARGS`, which must exit 0; returns its output."""
        exit_code, output = await self.hbot(*args, stdin=stdin)
        self.assertEqual(0, exit_code, output)
        return output

    async def add_keys(self, secret: str = DEFAULT_API_SECRET, replace: bool = False) -> Tuple[int, str]:
        """`hbot connect nonkyc --keys-stdin` with the sandbox user's API key and `secret`."""
        keys = json.dumps(self.install.connector_keys(DEFAULT_API_KEY, secret))
        return await self.hbot("connect", "nonkyc", "--keys-stdin", *(["--replace"] if replace else []), stdin=keys)
