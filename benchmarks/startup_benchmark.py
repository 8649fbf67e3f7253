"""
Start-up with many pairs: how long the NonKYC connector takes to become ready, and what streaming costs.

First it times a fresh Python process that imports the connector and Hummingbot's Clock: what every bot, CLI command
and test subprocess pays before anything starts (far more without compiled bytecode when PYTHONDONTWRITEBYTECODE is
set, see setup.sh). Then it starts the sandbox exchange in its own process (so that its CPU is not counted) with
generated markets (ALT001/USDT, ALT002/USDT, ...) and, in this process, for each pair count:
- builds a `NonkycExchange` with the sandbox keys and that many pairs, and starts it through a real-time Hummingbot
  `Clock` (the network check, `start_network`, then the order books, balances, rules and user stream);
- prints the seconds until `connector.ready` and which part of `connector.status_dict` became true last;
- calls `stop_network()` and `start_network()` (what Hummingbot's network check does when the exchange comes back)
  and prints the same for the restart.
Last, with the largest pair count streaming diffs (the sandbox's simulated traders requote every market each tick), it
prints the CPU time of this process (the connector, its Clock and Hummingbot's trackers) per 1 000 messages: the order
book diffs and trades that reached Hummingbot's order book tracker.

Target: ready within 3 s with 50 pairs on loopback, and again within 3 s after a network restart.

Usage, from the repository root:
    .venv/bin/python benchmarks/startup_benchmark.py [--pairs 1 12 50] [--cpu-seconds 20] [--tick 0.5]
"""
import argparse
import asyncio
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from hummingbot.client.config.client_config_map import AnonymizedMetricsDisabledMode, ClientConfigMap
from hummingbot.client.config.config_helpers import ClientConfigAdapter
from hummingbot.client.hummingbot_application import HummingbotApplication
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.clock import Clock, ClockMode
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory

REPO_ROOT = Path(__file__).resolve().parents[1]
API_KEY, API_SECRET = "sandbox-api-key", "sandbox-api-secret"  # the sandbox's default `user` account
TARGET_SECONDS = 3.0
POLL_INTERVAL = 0.005


@dataclass
class Readiness:
    seconds: Optional[float]  # None: not ready before the timeout
    last_part: str


def generated_pairs(count: int) -> List[str]:
    """The Hummingbot pairs of the sandbox's generated markets (see nonkyc_sandbox.markets.generated_markets)."""
    return [f"ALT{number:03d}-USDT" for number in range(1, count + 1)]


def fresh_import_seconds() -> float:
    """Wall time of a new interpreter that imports the connector and the Clock, with this process's environment."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import hummingbot.connector.exchange.nonkyc.nonkyc_exchange, "
                                          "hummingbot.core.clock"], check=True, cwd=REPO_ROOT)
    return time.perf_counter() - started


def start_sandbox(markets: int, tick: float) -> Tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "nonkyc_sandbox", "--host", "127.0.0.1", "--port", "0", "--seed", "1",
         "--extra-markets", str(markets), "--tick", str(tick), "--log-level", "WARNING"],
        cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), stdout=subprocess.PIPE, text=True)
    urls: Dict[str, str] = {}
    while "WebSocket" not in urls:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("The sandbox exited before printing its URLs.")
        name, _, value = line.strip().partition(": ")
        urls[name] = value
    return process, urls["REST base"], urls["WebSocket"]


def stop_sandbox(process: subprocess.Popen):
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


async def wait_ready(connector: NonkycExchange, started: float, timeout: float) -> Readiness:
    """Polls `status_dict` until every part is true; the last part is the one that became true last."""
    became_true: Dict[str, float] = {}
    while True:
        now = time.perf_counter()
        status = connector.status_dict
        for part, value in status.items():
            if value:
                became_true.setdefault(part, now - started)
            else:
                became_true.pop(part, None)
        if all(status.values()):
            last_part = max(became_true, key=became_true.get)
            return Readiness(became_true[last_part], last_part)
        if now - started > timeout:
            return Readiness(None, "not ready: " + ", ".join(part for part, value in status.items() if not value))
        await asyncio.sleep(POLL_INTERVAL)


async def run_clock(clock: Clock):
    with clock:
        await clock.run()


async def measure_pairs(count: int, timeout: float, cpu_seconds: float) -> Tuple[Readiness, Readiness, str]:
    connector = NonkycExchange(nonkyc_api_key=API_KEY, nonkyc_api_secret=API_SECRET,
                               trading_pairs=generated_pairs(count))
    clock = Clock(ClockMode.REALTIME, tick_size=1.0)
    clock.add_iterator(connector)
    started = time.perf_counter()
    clock_task = asyncio.ensure_future(run_clock(clock))
    cpu_line = ""
    try:
        cold = await wait_ready(connector, started, timeout)
        await connector.stop_network()
        restarted = time.perf_counter()
        await connector.start_network()
        restart = await wait_ready(connector, restarted, timeout)
        if cpu_seconds > 0:
            cpu_line = await measure_cpu(connector, cpu_seconds)
    finally:
        clock_task.cancel()
        await asyncio.gather(clock_task, return_exceptions=True)
        await connector.stop_network()
    return cold, restart, cpu_line


def messages_received(connector: NonkycExchange) -> int:
    metrics = connector.order_book_tracker.metrics
    return metrics.total_diffs_processed + metrics.total_trades_processed


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure_cpu(connector: NonkycExchange, seconds: float) -> str:
    await asyncio.sleep(2.0)  # the first diffs after the snapshots
    messages, cpu, wall = messages_received(connector), process_cpu_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    messages = messages_received(connector) - messages
    cpu = process_cpu_seconds() - cpu
    wall = time.perf_counter() - wall
    if messages == 0:
        return f"no message reached the order book tracker in {wall:.1f} s"
    return (f"{cpu * 1e6 / messages:.0f} ms of CPU per 1 000 messages ({messages} diffs and trades in {wall:.1f} s, "
            f"{messages / wall:.0f} msg/s, the process busy {100 * cpu / wall:.1f} % of the time)")


def readiness_cells(readiness: Readiness) -> Tuple[str, str]:
    if readiness.seconds is None:
        return "timeout", readiness.last_part
    mark = "" if readiness.seconds <= TARGET_SECONDS else " (above target)"
    return f"{readiness.seconds:.2f}{mark}", readiness.last_part


def install_headless_application():
    """
    Hummingbot's logger hands notifications (such as the throttler's "rate limit almost reached") to the main
    application, which it creates on first use: the terminal client, seconds of imports in the middle of a
    measurement. A bot has it from its start; so has this benchmark (headless, in-memory configuration, as the demo).
    """
    client_config = ClientConfigAdapter(ClientConfigMap(anonymized_metrics_mode=AnonymizedMetricsDisabledMode()))
    HummingbotApplication._main_app = HummingbotApplication(client_config_map=client_config, headless_mode=True)


async def run(args: argparse.Namespace):
    install_headless_application()
    rows = []
    cpu_line = ""
    for count in args.pairs:
        is_largest = count == max(args.pairs)
        cold, restart, line = await measure_pairs(count, args.timeout, args.cpu_seconds if is_largest else 0)
        cpu_line = line or cpu_line
        rows.append((count,) + readiness_cells(cold) + readiness_cells(restart))
        print(f"measured {count} pair(s)", file=sys.stderr, flush=True)
    factory = ConnectionsFactory()
    for session in (factory._shared_client, factory._ws_independent_session):
        if session is not None and not session.closed:
            await session.close()

    headers = ("pairs", "ready after (s)", "last part", "ready after a network restart (s)", "last part")
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    for row in (headers,) + tuple(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"target: ready within {TARGET_SECONDS:g} s with 50 pairs, cold and after a network restart")
    if cpu_line:
        print(f"streaming with {max(args.pairs)} pairs: {cpu_line}")
    print(f"a fresh process importing the connector: {args.import_seconds:.2f} s "
          f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[1, 12, 50], help="pair counts to measure")
    parser.add_argument("--cpu-seconds", type=float, default=20.0,
                        help="how long to measure the CPU while the largest pair count streams (0: skip)")
    parser.add_argument("--tick", type=float, default=0.5,
                        help="seconds between the sandbox's simulated trader ticks (each requotes every market)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    args.import_seconds = fresh_import_seconds()
    sandbox, rest_url, ws_url = start_sandbox(max(args.pairs), args.tick)
    os.environ[CONSTANTS.REST_URL_ENV_VAR], os.environ[CONSTANTS.WSS_URL_ENV_VAR] = rest_url, ws_url
    try:
        asyncio.run(run(args))
    finally:
        stop_sandbox(sandbox)


if __name__ == "__main__":
    main()
