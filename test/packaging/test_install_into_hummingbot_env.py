"""
The package (`setup.py`) as a user installs it: the wheel is built from a copy of the repository, then installed with
the README's command into a fresh environment that has `hummingbot==20260922` (and its locked dependencies, from uv's
cache, offline) and nothing of the repository. Every command there runs outside the repository, without PYTHONPATH,
so only what the wheel installed can be imported. The sandbox exchange runs from the project's own environment.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Optional, Set

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements" / "requirements.lock"
BUILD_CONSTRAINTS = REPO_ROOT / "requirements" / "build-constraints.txt"
DISTRIBUTION = "hummingbot-nonkyc-connector"
WHEEL = "hummingbot_nonkyc_connector-0.1.0-py3-none-any.whl"
# The README's commands, word for word (the test checks that the README shows them).
INSTALL_COMMAND = f"python -m pip install {WHEEL}"
UNINSTALL_COMMAND = f"python -m pip uninstall -y {DISTRIBUTION}"
BUILD_COMMAND = "python -m pip wheel --no-deps -w dist ."
SOURCE_INSTALL_COMMAND = "python -m pip install ."
# Hummingbot's Docker image and source install run Hummingbot from its checkout (/home/hummingbot in the image), where
# its connector scan looks; their conda environment has no `hummingbot` distribution. Run from the checkout:
SITE_PACKAGES = "\"$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\""
CHECKOUT_INSTALL_LINE = (f"python -m zipfile -e {WHEEL} nonkyc-connector && cp -r nonkyc-connector/hummingbot . && "
                         f"cp nonkyc-connector/nonkyc_candles_hook.* {SITE_PACKAGES} && rm -r nonkyc-connector {WHEEL}")
CHECKOUT_UNINSTALL_LINE = ("rm -r hummingbot/connector/exchange/nonkyc hummingbot/data_feed/candles_feed/"
                           f"nonkyc_spot_candles && rm {SITE_PACKAGES}/nonkyc_candles_hook.*")
# Offline here: setuptools comes from the building environment instead of the package index.
OFFLINE_BUILD = "--no-build-isolation"

PACKAGE_DIRECTORIES = ("hummingbot/connector/exchange/nonkyc/",
                       "hummingbot/data_feed/candles_feed/nonkyc_spot_candles/")
TOP_LEVEL_FILES = ("nonkyc_candles_hook.py", "nonkyc_candles_hook.pth")
NOT_THE_PACKAGE = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "logs", "conf", "data")

FACTORY_CHECK = """
import json
from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig

feed = CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair="BTC-USDT", interval="5m"))
print(json.dumps({"feed": type(feed).__name__, "file": __import__(type(feed).__module__, fromlist=["_"]).__file__}))
"""

# On a sandbox without simulated traders: a bid placed and cancelled, then a bid filled by a second account's market
# sell, on a Clock as in a bot. Arguments: the key and secret of the account, then of the second account.
ORDER_ROUND_TRIP = """
import asyncio
import json
import logging
import sys
from decimal import Decimal

from hummingbot.connector.exchange.nonkyc import nonkyc_exchange
from hummingbot.core.clock import Clock, ClockMode
from hummingbot.core.data_type.common import OrderType

PAIR = "BTC-USDT"
logging.basicConfig(level=logging.WARNING)
logging.getLogger("hummingbot.connector").setLevel(11)  # Hummingbot's NETWORK level: failures with their tracebacks


async def wait_for(condition, what, timeout=30):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def place_bid(connector, price):
    order_id = connector.buy(PAIR, Decimal("0.001"), OrderType.LIMIT, Decimal(price))
    order = connector._order_tracker.fetch_order
    await wait_for(lambda: order(order_id) is not None and order(order_id).exchange_order_id is not None, "a bid")
    return order(order_id)


def best_bid(connector):
    row = next(iter(connector.order_books[PAIR].bid_entries()), None)
    return None if row is None else Decimal(str(row.price))


async def round_trip():
    ours, other = (nonkyc_exchange.NonkycExchange(nonkyc_api_key=key, nonkyc_api_secret=secret, trading_pairs=[PAIR])
                   for key, secret in (sys.argv[1:3], sys.argv[3:5]))
    clock = Clock(ClockMode.REALTIME, tick_size=0.5)
    clock.add_iterator(ours)
    clock.add_iterator(other)
    with clock:
        ticking = asyncio.ensure_future(clock.run())
        try:
            await wait_for(lambda: ours.ready and other.ready, f"the connectors to be ready ({ours.status_dict})")
            cancelled = await place_bid(ours, "59000")
            states = {"cancelled": [cancelled.current_state.name]}
            ours.cancel(PAIR, cancelled.client_order_id)
            await wait_for(lambda: cancelled.is_cancelled, "the cancel")
            states["cancelled"].append(cancelled.current_state.name)
            filled = await place_bid(ours, "60000")
            states["filled"] = [filled.current_state.name]
            await wait_for(lambda: best_bid(other) == filled.price, "the bid in the book of the second account")
            other.sell(PAIR, Decimal("0.001"), OrderType.MARKET, Decimal("NaN"))
            await wait_for(lambda: filled.is_filled and filled.is_done, "the bid to fill")
            states["filled"] += [filled.current_state.name, str(filled.executed_amount_base)]
            print(json.dumps(dict(states, module=nonkyc_exchange.__file__)))
        finally:
            ticking.cancel()
            for connector in (ours, other):
                await connector.stop_network()


asyncio.run(round_trip())
"""


def run(command: List[str], cwd: Path, env: Dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def build_wheel(destination: Path) -> Path:
    """The README's build command, on a copy of the repository, with the setuptools of the project's environment."""
    source = destination / "hummingbot-nonkyc-connector"
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_THE_PACKAGE))
    command = [sys.executable] + BUILD_COMMAND.split()[1:] + [OFFLINE_BUILD]
    result = run(command, cwd=source, env=dict(os.environ, PIP_NO_INDEX="1"))
    if result.returncode != 0:
        raise AssertionError(f"building the wheel failed:\n{result.stdout}\n{result.stderr}")
    return source


class HummingbotEnvironment:
    """A new virtual environment with the locked dependencies (Hummingbot included) and nothing of the repository."""

    def __init__(self, path: Path):
        self.path = path
        self.python = path / "bin" / "python"
        subprocess.run([sys._base_executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=120)
        uv = shutil.which("uv", path=str(Path(sys.executable).parent))
        if uv is None:
            raise unittest.SkipTest("uv is not in the project's environment (run ./setup.sh)")
        result = subprocess.run(
            [uv, "pip", "install", "--offline", "--quiet", "--python", str(self.python), "-r", str(LOCK),
             "--build-constraint", str(BUILD_CONSTRAINTS), "--no-binary", "hummingbot"],
            capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise unittest.SkipTest(f"the locked packages are not all in uv's cache, and this test installs offline "
                                    f"(./setup.sh fills the cache): {result.stderr.strip()[-500:]}")
        self.site_packages = Path(run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                       "['purelib'])"], cwd=path, env=self.environment()).stdout.strip())

    def environment(self, **extra: str) -> Dict[str, str]:
        """The environment's own interpreter first on PATH (as when it is activated); nothing points at the repo."""
        env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")
               and not name.startswith(("COV_CORE", "COVERAGE_", "PYTEST"))}
        env.update(PATH=f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(self.path),
                   PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
        return env

    def shell(self, command: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
        """Runs a README command (`python -m ...`) in the activated environment."""
        return run(command.split(), cwd=cwd, env=self.environment(**extra))

    def python_code(self, code: str, *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
        return run([str(self.python), "-c", code, *args], cwd=cwd, env=self.environment(**extra))

    def pip_freeze(self) -> Set[str]:
        result = run([str(self.python), "-m", "pip", "freeze", "--all"], cwd=self.path, env=self.environment())
        return set(result.stdout.splitlines())

    def move_hummingbot_to_a_checkout(self, checkout: Path):
        """Makes this environment look like Hummingbot's Docker image: Hummingbot in a checkout, not installed."""
        checkout.mkdir()
        shutil.move(self.site_packages / "hummingbot", checkout / "hummingbot")
        for metadata in self.site_packages.glob("hummingbot-*.dist-info"):
            shutil.rmtree(metadata)

    def bash(self, line: str, cwd: Path) -> subprocess.CompletedProcess:
        return run(["bash", "-c", line], cwd=cwd, env=self.environment())

    def nonkyc_files(self) -> List[str]:
        """Every file or directory of the environment's site-packages whose name mentions NonKYC."""
        return sorted(str(path.relative_to(self.site_packages)) for path in self.site_packages.rglob("*nonkyc*"))


class PackageTestCase(unittest.TestCase):
    work: Path
    wheel: Path
    source: Path

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = Path(tempfile.mkdtemp(prefix="nonkyc-package-"))
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        cls.source = build_wheel(cls.work)
        cls.wheel = cls.source / "dist" / WHEEL
        cls.elsewhere = cls.work / "elsewhere"  # the working directory of every command in the environment
        cls.elsewhere.mkdir()
        cls.hummingbot_env = HummingbotEnvironment(cls.work / "env")
        cls.frozen_before = cls.hummingbot_env.pip_freeze()

    def install_wheel(self) -> subprocess.CompletedProcess:
        result = self.hummingbot_env.shell(INSTALL_COMMAND, cwd=self.wheel.parent)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        return result


class InstalledPackageTests(PackageTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.install_output = cls.hummingbot_env.shell(INSTALL_COMMAND, cwd=cls.wheel.parent)

    def setUp(self):
        self.assertEqual(0, self.install_output.returncode, self.install_output.stdout + self.install_output.stderr)

    def test_the_readme_shows_the_commands_this_test_runs(self):
        readme = (REPO_ROOT / "README.md").read_text()
        commands = (BUILD_COMMAND, INSTALL_COMMAND, f"RUN {INSTALL_COMMAND}", UNINSTALL_COMMAND, SOURCE_INSTALL_COMMAND,
                    f"RUN {CHECKOUT_INSTALL_LINE}", CHECKOUT_INSTALL_LINE, CHECKOUT_UNINSTALL_LINE)

        self.assertEqual([], [command for command in commands if command not in readme])

    def test_the_wheel_holds_the_connector_its_candles_feed_and_the_hook_only_and_pins_nothing(self):
        with zipfile.ZipFile(self.wheel) as wheel:
            names = wheel.namelist()
            metadata = wheel.read("hummingbot_nonkyc_connector-0.1.0.dist-info/METADATA").decode()
        files = [name for name in names if not name.startswith("hummingbot_nonkyc_connector-0.1.0.dist-info/")]

        self.assertEqual([], [name for name in files
                              if name not in TOP_LEVEL_FILES and not name.startswith(PACKAGE_DIRECTORIES)])
        for expected in TOP_LEVEL_FILES + ("hummingbot/connector/exchange/nonkyc/__init__.py",
                                           "hummingbot/connector/exchange/nonkyc/nonkyc_utils.py",
                                           "hummingbot/connector/exchange/nonkyc/nonkyc_exchange.py",
                                           "hummingbot/data_feed/candles_feed/nonkyc_spot_candles/__init__.py"):
            self.assertIn(expected, files)
        self.assertEqual(sorted(str(path.relative_to(REPO_ROOT)) for directory in PACKAGE_DIRECTORIES
                                for path in (REPO_ROOT / directory).glob("*.py")),
                         sorted(name for name in files if name.startswith(PACKAGE_DIRECTORIES)))
        self.assertEqual(["Requires-Dist: hummingbot>=20260922"],
                         [line for line in metadata.splitlines() if line.startswith("Requires-Dist")])

    def test_installing_changes_no_installed_version_and_adds_only_the_connector(self):
        after = self.hummingbot_env.pip_freeze()

        self.assertEqual(set(), self.frozen_before - after)
        added = [line.split("#sha256=")[0] for line in after - self.frozen_before]
        self.assertEqual([f"{DISTRIBUTION} @ {self.wheel.as_uri()}"], added)
        self.assertIn("hummingbot==20260922", after)
        self.assertNotIn("Downloading", self.install_output.stdout)

    def test_the_files_are_where_hummingbot_looks_and_nothing_else_of_the_project_is_installed(self):
        site_packages = self.hummingbot_env.site_packages

        self.assertTrue((site_packages / "hummingbot/connector/exchange/nonkyc/nonkyc_utils.py").is_file())
        self.assertTrue((site_packages / "hummingbot/data_feed/candles_feed/nonkyc_spot_candles").is_dir())
        self.assertEqual("import nonkyc_candles_hook; nonkyc_candles_hook.install()\n",
                         (site_packages / "nonkyc_candles_hook.pth").read_text())
        self.assertFalse(any(path.is_symlink() for path in site_packages.rglob("*nonkyc*")))
        self.assertFalse((site_packages / "nonkyc_sandbox").exists())

    def test_connect_all_lists_nonkyc(self):
        result = self.hummingbot_env.shell("python -m hummingbot.cli.main connect --all", cwd=self.elsewhere)

        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"\| nonkyc\s+\| no\s+\|")
        self.assertNotIn("Could not register", result.stdout + result.stderr)  # the start-up hook's warnings

    def test_a_new_process_gets_the_nonkyc_candles_feed_from_the_factory_and_starts_without_warnings(self):
        result = self.hummingbot_env.python_code(FACTORY_CHECK, cwd=self.elsewhere)

        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual("", result.stderr)  # the .pth line runs at every start: any error there would show here
        shown = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertEqual("NonkycSpotCandles", shown["feed"])
        self.assertTrue(shown["file"].startswith(str(self.hummingbot_env.site_packages)), shown["file"])

    def test_an_order_cancelled_and_an_order_filled_on_the_sandbox(self):
        sandbox = SandboxProcess(self.elsewhere)
        self.addCleanup(sandbox.stop)

        result = self.hummingbot_env.python_code(
            ORDER_ROUND_TRIP, "sandbox-api-key", "sandbox-api-secret", "sandbox-api-key-2", "sandbox-api-secret-2",
            cwd=self.elsewhere, NONKYC_REST_URL=sandbox.rest_url, NONKYC_WS_URL=sandbox.ws_url)

        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        shown = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertTrue(shown["module"].startswith(str(self.hummingbot_env.site_packages)), shown["module"])
        self.assertEqual(["OPEN", "CANCELED"], shown["cancelled"])
        self.assertEqual(["OPEN", "FILLED", Decimal("0.001")], shown["filled"][:2] + [Decimal(shown["filled"][2])])
        # (Hummingbot itself logs that it cannot write conf/conf_client.yml into an environment without conf/.)
        self.assertEqual([], re.findall(r" - hummingbot\.connector\S* - (?:WARNING|ERROR) - .*", result.stderr))


class UninstallAndOtherInstallsTests(PackageTestCase):

    def test_uninstall_removes_every_file_and_the_startup_file(self):
        self.install_wheel()
        self.assertNotEqual([], self.hummingbot_env.nonkyc_files())

        result = self.hummingbot_env.shell(UNINSTALL_COMMAND, cwd=self.elsewhere)

        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertEqual([], self.hummingbot_env.nonkyc_files())
        self.assertEqual(self.frozen_before, self.hummingbot_env.pip_freeze())
        factory = self.hummingbot_env.python_code(
            "from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory as F; "
            "print('nonkyc' in F._candles_map)", cwd=self.elsewhere)
        self.assertEqual(("False", ""), (factory.stdout.strip(), factory.stderr))

    def test_a_source_install_installs_the_same_files_as_the_wheel(self):
        self.install_wheel()
        from_wheel = self.hummingbot_env.nonkyc_files()
        self.assertEqual(0, self.hummingbot_env.shell(UNINSTALL_COMMAND, cwd=self.elsewhere).returncode)

        result = self.hummingbot_env.shell(f"{SOURCE_INSTALL_COMMAND} {OFFLINE_BUILD}", cwd=self.source)
        self.addCleanup(self.hummingbot_env.shell, UNINSTALL_COMMAND, cwd=self.elsewhere)

        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertEqual(from_wheel, self.hummingbot_env.nonkyc_files())

    def test_an_editable_install_is_refused_with_the_way_to_develop(self):
        result = self.hummingbot_env.shell(f"python -m pip install {OFFLINE_BUILD} -e .", cwd=self.source)

        self.assertNotEqual(0, result.returncode)
        self.assertIn("The NonKYC connector has no editable install: run ./setup.sh for development, or install a "
                      "wheel (see the README).", result.stdout + result.stderr)
        self.assertEqual([], self.hummingbot_env.nonkyc_files())
        self.assertEqual(self.frozen_before, self.hummingbot_env.pip_freeze())


class CheckoutInstallTests(PackageTestCase):
    """Hummingbot's Docker image and source install: Hummingbot runs from its checkout, with a conda environment."""

    def test_the_install_lines_put_the_connector_and_feed_into_the_checkout_and_the_uninstall_lines_remove_them(self):
        checkout = self.work / "hummingbot-checkout"
        self.hummingbot_env.move_hummingbot_to_a_checkout(checkout)
        shutil.copy(self.wheel, checkout)

        result = self.hummingbot_env.bash(CHECKOUT_INSTALL_LINE, cwd=checkout)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)

        self.assertTrue((checkout / "hummingbot/connector/exchange/nonkyc/nonkyc_utils.py").is_file())
        self.assertEqual(["nonkyc_candles_hook.pth", "nonkyc_candles_hook.py"], self.hummingbot_env.nonkyc_files())
        self.assertEqual(["hummingbot"], sorted(path.name for path in checkout.iterdir()))
        listed = self.hummingbot_env.shell("python -m hummingbot.cli.main connect --all", cwd=checkout)
        self.assertEqual(0, listed.returncode, listed.stdout + listed.stderr)
        self.assertRegex(listed.stdout, r"\| nonkyc\s+\| no\s+\|")
        factory = self.hummingbot_env.python_code(FACTORY_CHECK, cwd=checkout)
        self.assertEqual(0, factory.returncode, factory.stderr)
        self.assertEqual("", factory.stderr)
        self.assertTrue(json.loads(factory.stdout.strip().splitlines()[-1])["file"].startswith(str(checkout)))

        result = self.hummingbot_env.bash(CHECKOUT_UNINSTALL_LINE, cwd=checkout)

        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertEqual([], self.hummingbot_env.nonkyc_files())
        self.assertEqual([], sorted(str(path) for path in checkout.rglob("*nonkyc*")))


class SandboxProcess:
    """`python -m nonkyc_sandbox` from the project's environment, on a free loopback port."""

    def __init__(self, cwd: Path):
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "sandbox"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nonkyc_sandbox", "--host", "127.0.0.1", "--port", "0", "--seed", "7",
             "--no-traders", "--log-level", "WARNING"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        urls: Dict[str, Optional[str]] = {"REST base": None, "WebSocket": None}
        while None in urls.values():
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the sandbox exited early: {self.process.stderr.read()}")
            match = re.match(r"^(REST base|WebSocket): (\S+)$", line.strip())
            if match:
                urls[match.group(1)] = match.group(2)
        self.rest_url, self.ws_url = urls["REST base"], urls["WebSocket"]

    def stop(self):
        self.process.terminate()
        self.process.communicate(timeout=15)
