"""
The NonKYC market-making demo: starts the NonKYC sandbox on a free loopback port and points the connector at it (the
sandbox environment, `demo/sandbox_environment.py`), runs `scripts/nonkyc_market_maker.py` through Hummingbot's own
strategy machinery (connector created from the connector settings, `Clock`, markets recorder, `StrategyV2Base` life
cycle) for a bounded time, prints a live status every few seconds and a summary at the end, then cancels the orders
and stops everything.

    .venv/bin/python -m demo [--duration 60] [--pair BTC-USDT] [--bid-spread 0.001] ...

Exit status: 0 when the run was clean, 1 when it logged errors or left orders open, 2 when the bot never got ready.
"""
import argparse
import asyncio
import logging
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Callable, Dict, List, Optional

from demo.headless import HeadlessHummingbot
from demo.monitor import ErrorLogWatcher, OrderEventRecorder, StreamResyncs
from demo.sandbox_environment import CONNECTOR_NAME, SANDBOX_ACCOUNT, SCRIPTS_PATH, SandboxEnvironment, sandbox_api_keys
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import AssetNames
from hummingbot.core.data_type.common import PriceType, TradeType
from nonkyc_sandbox import MarketSpec, SandboxExchange, TraderSettings

SCRIPT_NAME = "nonkyc_market_maker"
CONFIG_FILE_NAME = "nonkyc_market_maker_demo.yml"  # names the trade database; no file is written under conf/
DEFAULT_ORDER_NOTIONAL = Decimal("100")  # quote units, when --order-amount is not given
EXIT_OK, EXIT_ERRORS, EXIT_NOT_READY = 0, 1, 2
NOT_READY_WARNING = "is not ready. Please wait..."


class DemoError(Exception):
    """A problem with the demo's options or set-up, reported without a traceback."""


@dataclass
class DemoOptions:
    duration: float = 60.0
    pair: str = "BTC-USDT"
    order_amount: Optional[Decimal] = None
    bid_spread: Decimal = Decimal("0.002")
    ask_spread: Decimal = Decimal("0.002")
    refresh_time: float = 10.0
    price_source: str = "mid"
    seed: int = 0
    status_interval: float = 5.0
    ready_timeout: float = 30.0
    trader_interval: float = 0.5
    taker_probability: float = 0.35
    faults: bool = False
    keep_files: bool = False
    verbose: bool = False


@dataclass
class DemoSummary:
    pair: str
    rest_url: str = ""
    started: bool = False
    ready: bool = False
    ready_after: Optional[float] = None
    run_time: float = 0.0
    placed: int = 0
    cancelled: int = 0
    completely_filled: int = 0
    failed: int = 0
    fill_count: int = 0
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    fees: Dict[str, Decimal] = field(default_factory=dict)
    exchange_fill_count: int = 0
    exchange_fees: Decimal = Decimal(0)
    balance_changes: Dict[str, Decimal] = field(default_factory=dict)
    gap_resubscriptions: int = 0
    reconnections: int = 0
    error_count: int = 0
    errors: List[str] = field(default_factory=list)
    open_orders_left: int = 0
    shutdown_clean: bool = False
    work_dir: Optional[Path] = None
    log_file: Optional[Path] = None

    @property
    def exit_code(self) -> int:
        if not self.ready:
            return EXIT_NOT_READY
        if self.error_count or self.open_orders_left or not self.shutdown_clean:
            return EXIT_ERRORS
        return EXIT_OK

    def format(self) -> str:
        base, quote = self.pair.split("-")
        fees = ", ".join(f"{amount:.8f} {token}" for token, amount in sorted(self.fees.items())) or "none"
        changes = ", ".join(f"{asset} {_signed(amount)}" for asset, amount in sorted(self.balance_changes.items()))
        ready = f"ready after {self.ready_after:.1f} s" if self.ready else "NEVER READY"
        lines = [
            "",
            "=" * 78,
            "NonKYC market-making demo - summary",
            "=" * 78,
            f"market            {self.pair} on the NonKYC sandbox ({self.rest_url})",
            f"run time          {self.run_time:.1f} s ({ready})",
            f"orders            placed {self.placed}, cancelled {self.cancelled}, filled {self.completely_filled}, "
            f"failed {self.failed}",
            f"fills             {self.fill_count} trades: bought {self.bought:f} {base}, sold {self.sold:f} {base} "
            f"(exchange recorded {self.exchange_fill_count})",
            f"fees paid         {fees} (exchange recorded {self.exchange_fees:.8f} {quote})",
            f"balance change    {changes or 'none'}",
            f"order-book resync {self.gap_resubscriptions} gap re-subscriptions, {self.reconnections} reconnects",
            f"errors            {self.error_count} ERROR log lines",
        ]
        lines.extend(f"                    {error}" for error in self.errors)
        lines.append(f"open orders left  {self.open_orders_left} on the exchange after the stop")
        lines.append(f"shutdown          {'clean' if self.shutdown_clean else 'FAILED'}")
        if self.log_file is not None:
            lines.append(f"log file          {self.log_file}")
        lines.append(f"result            {'OK' if self.exit_code == EXIT_OK else 'FAILED'} "
                     f"(exit status {self.exit_code})")
        lines.append("=" * 78)
        return "\n".join(lines)


def _signed(amount: Decimal) -> str:
    return f"{amount.normalize():+f}" if amount else "0"


# === Options ===

def parse_args(argv: Optional[List[str]] = None) -> DemoOptions:
    defaults = DemoOptions()
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Market making on a local NonKYC sandbox with the real NonKYC connector and Hummingbot's strategy "
                    "machinery.")
    parser.add_argument("--duration", type=float, default=defaults.duration,
                        help="seconds the strategy runs (default %(default)s)")
    parser.add_argument("--pair", default=defaults.pair, help="sandbox trading pair (default %(default)s)")
    parser.add_argument("--order-amount", type=Decimal, default=None,
                        help=f"order amount in the base asset (default: about {DEFAULT_ORDER_NOTIONAL} quote units)")
    parser.add_argument("--bid-spread", type=Decimal, default=defaults.bid_spread,
                        help="bid spread as a fraction of the reference price (default %(default)s)")
    parser.add_argument("--ask-spread", type=Decimal, default=defaults.ask_spread,
                        help="ask spread as a fraction of the reference price (default %(default)s)")
    parser.add_argument("--refresh-time", type=float, default=defaults.refresh_time,
                        help="seconds between re-quotes (default %(default)s)")
    parser.add_argument("--price-source", default=defaults.price_source,
                        help="mid, last_trade or best_bid_ask (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="sandbox simulation seed")
    parser.add_argument("--status-interval", type=float, default=defaults.status_interval,
                        help="seconds between two status prints (default %(default)s)")
    parser.add_argument("--ready-timeout", type=float, default=defaults.ready_timeout,
                        help="seconds allowed for the connector to get ready (default %(default)s)")
    parser.add_argument("--trader-interval", type=float, default=defaults.trader_interval,
                        help="seconds between two rounds of the sandbox's simulated traders (default %(default)s)")
    parser.add_argument("--taker-probability", type=float, default=defaults.taker_probability,
                        help="chance per round that the simulated taker trades (default %(default)s)")
    parser.add_argument("--faults", action="store_true",
                        help="inject a WebSocket sequence gap and a connection drop during the run")
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the temporary work directory (log file, trade database)")
    parser.add_argument("--verbose", action="store_true", help="print INFO log lines too")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.status_interval <= 0 or args.ready_timeout <= 0 or args.refresh_time <= 0:
        parser.error("durations and intervals must be positive")
    return DemoOptions(
        duration=args.duration, pair=args.pair.upper(), order_amount=args.order_amount, bid_spread=args.bid_spread,
        ask_spread=args.ask_spread, refresh_time=args.refresh_time, price_source=args.price_source, seed=args.seed,
        status_interval=args.status_interval, ready_timeout=args.ready_timeout, trader_interval=args.trader_interval,
        taker_probability=args.taker_probability, faults=args.faults, keep_files=args.keep_files,
        verbose=args.verbose)


def sandbox_market(sandbox: SandboxExchange, pair: str) -> MarketSpec:
    tradeable = {f"{AssetNames.translate(market.base)}-{AssetNames.translate(market.quote)}": market
                 for market in sandbox.markets if market.tradeable}
    if pair not in tradeable:
        raise DemoError(f"{pair} is not a tradeable sandbox pair; choose one of {', '.join(sorted(tradeable))}.")
    return tradeable[pair]


def default_order_amount(market: MarketSpec) -> Decimal:
    """About DEFAULT_ORDER_NOTIONAL quote units, on two significant digits, never below the market minimums."""
    raw = DEFAULT_ORDER_NOTIONAL / market.initial_price
    two_digits = Decimal(1).scaleb(raw.adjusted() - 1)
    amount = max(raw.quantize(two_digits, rounding=ROUND_UP), market.minimum_quantity)
    if market.is_min_quote_active:
        amount = max(amount, (market.min_quote * 2 / market.initial_price).quantize(market.quantity_step, ROUND_UP))
    return amount.quantize(market.quantity_step, rounding=ROUND_UP)


def strategy_config(options: DemoOptions, order_amount: Decimal) -> Dict[str, str]:
    return {
        "connector_name": CONNECTOR_NAME,
        "trading_pair": options.pair,
        "order_amount": str(order_amount),
        "bid_spread": str(options.bid_spread),
        "ask_spread": str(options.ask_spread),
        "order_refresh_time": str(options.refresh_time),
        "price_source": options.price_source,
    }


# === Logging and environment ===

class _HideExpectedWaitingLines(logging.Filter):
    """StrategyV2Base warns on every tick until the connector is ready; the console shows the demo's own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return NOT_READY_WARNING not in str(record.msg)


def install_logging(log_file: Path, verbose: bool, own_console: bool = False) -> Callable[[], None]:
    """
    Everything to the log file, warnings (INFO with --verbose) to the console. With `own_console` (the command line
    run) the console handlers installed by imported libraries are detached for the run (pyinjective calls
    `logging.basicConfig` when Hummingbot imports it). Returns the undo function.
    """
    root = logging.getLogger()
    previous_level = root.level
    detached = [handler for handler in root.handlers if own_console and _is_console_handler(handler)]
    for handler in detached:
        root.removeHandler(handler)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console_handler = logging.StreamHandler(sys.stderr)
    console_handler.setLevel(logging.INFO if verbose else logging.WARNING)
    console_handler.setFormatter(logging.Formatter("  %(levelname)s %(name)s: %(message)s"))
    console_handler.addFilter(_HideExpectedWaitingLines())
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(file_handler)
    root.addHandler(console_handler)

    def restore():
        root.removeHandler(file_handler)
        root.removeHandler(console_handler)
        file_handler.close()
        for handler in detached:
            root.addHandler(handler)
        root.setLevel(previous_level)
    return restore


def _is_console_handler(handler: logging.Handler) -> bool:
    return (type(handler) is logging.StreamHandler
            and handler.stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__))


# === Status ===

def _number(value: Decimal, places: int = 8) -> str:
    if value is None or not value.is_finite():
        return "n/a"
    return f"{value:,.{places}f}"


def format_status(elapsed: float, pair: str, connector, strategy, recorder: OrderEventRecorder,
                  price_places: int, amount_places: int) -> str:
    """Three lines: the mid and our quotes (with their distance to the mid), the order tallies, the balances."""
    base, quote = pair.split("-")
    mid = connector.get_price_by_type(pair, PriceType.MidPrice)
    open_orders = {"bid": None, "ask": None}
    for order in strategy.open_orders():
        open_orders["bid" if order.is_buy else "ask"] = order
    quotes = []
    for side, order in open_orders.items():
        if order is None:
            quotes.append(f"{side} none")
            continue
        distance = f" ({(order.price / mid - 1) * 100:+.2f} %)" if mid.is_finite() and mid > 0 else ""
        quotes.append(f"{side} {_number(order.quantity, amount_places)} @ {_number(order.price, price_places)}"
                      f"{distance}")
    buys, sells = recorder.fills[TradeType.BUY], recorder.fills[TradeType.SELL]
    fees = ", ".join(f"{amount:.6f} {token}" for token, amount in sorted(recorder.fees.items())) or f"0 {quote}"
    balances = " | ".join(
        f"{asset} {_number(connector.get_balance(asset), places)} "
        f"(available {_number(connector.get_available_balance(asset), places)})"
        for asset, places in ((base, amount_places), (quote, 4)))
    return "\n".join([
        f"[{elapsed:5.1f} s] {pair} mid {_number(mid, price_places)} | {' | '.join(quotes)}",
        f"          orders placed {recorder.placed}, cancelled {recorder.cancelled}, filled "
        f"{recorder.completely_filled} | fills {recorder.fill_count}: bought {buys.base_amount:f} {base}, sold "
        f"{sells.base_amount:f} {base} | fees {fees}",
        f"          balances {balances}",
    ])


# === The run ===

async def wait_until_ready(connector, strategy, timeout: float, stop_requested: asyncio.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop_requested.is_set():
        if connector.ready and strategy.ready_to_trade:
            return True
        await asyncio.sleep(0.1)
    return connector.ready and strategy.ready_to_trade


async def trade(options: DemoOptions, sandbox: SandboxExchange, connector, strategy, recorder: OrderEventRecorder,
                market: MarketSpec, run_started: float, stop_requested: asyncio.Event, out: Callable[[str], None]):
    """Lets the strategy run until the duration is over, printing the status and injecting the optional faults."""
    deadline = run_started + options.duration
    next_status = time.monotonic()
    faults = []
    if options.faults:
        faults = [(run_started + options.duration / 3, "WebSocket sequence gap",
                   lambda: sandbox.faults.skip_ws_sequence(symbol=market.symbol)),
                  (run_started + options.duration * 2 / 3, "WebSocket connections dropped",
                   lambda: sandbox.faults.drop_ws_connections())]
    while not stop_requested.is_set():
        now = time.monotonic()
        if now >= deadline:
            break
        if faults and now >= faults[0][0]:
            _, description, inject = faults.pop(0)
            inject()
            out(f"[{now - run_started:5.1f} s] fault injected: {description}")
        if now >= next_status:
            out(format_status(now - run_started, options.pair, connector, strategy, recorder,
                              market.price_decimals, market.quantity_decimals))
            next_status = now + options.status_interval
        try:
            await asyncio.wait_for(stop_requested.wait(), timeout=min(0.25, max(deadline - now, 0.01)))
        except asyncio.TimeoutError:
            pass


def account_totals(sandbox: SandboxExchange) -> Dict[str, Decimal]:
    return {asset: balance["total"] for asset, balance in sandbox.balances(SANDBOX_ACCOUNT).items()}


def fill_summary_from_exchange(summary: DemoSummary, sandbox: SandboxExchange, market: MarketSpec,
                               initial_totals: Dict[str, Decimal]):
    final_totals = account_totals(sandbox)
    summary.balance_changes = {
        AssetNames.translate(asset): final_totals.get(asset, Decimal(0)) - initial_totals.get(asset, Decimal(0))
        for asset in (market.base, market.quote)}
    trades = sandbox.trades(SANDBOX_ACCOUNT, market.symbol)
    summary.exchange_fill_count = len(trades)
    summary.exchange_fees = sum((Decimal(trade["fee"]) for trade in trades), Decimal(0))
    summary.open_orders_left = len(sandbox.orders(SANDBOX_ACCOUNT, market.symbol, status="active"))


def fill_summary_from_bot(summary: DemoSummary, recorder: OrderEventRecorder, watcher: ErrorLogWatcher):
    summary.placed = recorder.placed
    summary.cancelled = recorder.cancelled
    summary.completely_filled = recorder.completely_filled
    summary.failed = recorder.failed
    summary.fill_count = recorder.fill_count
    summary.bought = recorder.fills[TradeType.BUY].base_amount
    summary.sold = recorder.fills[TradeType.SELL].base_amount
    summary.fees = dict(recorder.fees)
    summary.error_count = watcher.error_count
    summary.errors = list(watcher.errors)


async def run_demo(options: DemoOptions, out: Callable[[str], None] = print,
                   stop_requested: Optional[asyncio.Event] = None, own_console: bool = False) -> DemoSummary:
    """Runs the whole demo and returns its summary (also printed through `out`)."""
    stop_requested = stop_requested or asyncio.Event()
    sandbox = SandboxExchange(seed=options.seed, trader_settings=TraderSettings(
        interval=options.trader_interval, taker_probability=options.taker_probability))
    market = sandbox_market(sandbox, options.pair)
    order_amount = options.order_amount or default_order_amount(market)
    work_dir = Path(tempfile.mkdtemp(prefix="nonkyc-demo-"))
    summary = DemoSummary(pair=options.pair, work_dir=work_dir, log_file=work_dir / "demo.log")
    restore_logging = install_logging(summary.log_file, options.verbose, own_console)
    watcher = ErrorLogWatcher()
    logging.getLogger().addHandler(watcher)
    environment = SandboxEnvironment(sandbox)
    recorder = OrderEventRecorder()
    try:
        await environment.start()
        summary.rest_url = sandbox.rest_url
        initial_totals = account_totals(sandbox)
        out(f"NonKYC sandbox listening on {sandbox.rest_url} (WebSocket {sandbox.ws_url})")
        out(f"Starting {SCRIPT_NAME} on {options.pair}: {order_amount} {market.base} per order, spreads "
            f"{options.bid_spread} / {options.ask_spread}, refresh every {options.refresh_time:g} s, reference "
            f"{options.price_source}, for {options.duration:g} s")
        await run_bot(options, order_amount, sandbox, market, work_dir, recorder, summary, stop_requested, out)
        fill_summary_from_exchange(summary, sandbox, market, initial_totals)
    finally:
        await environment.stop()
        fill_summary_from_bot(summary, recorder, watcher)
        logging.getLogger().removeHandler(watcher)
        restore_logging()
    if summary.exit_code == EXIT_OK and not options.keep_files:
        shutil.rmtree(work_dir, ignore_errors=True)
        summary.log_file = None
    out(summary.format())
    return summary


async def run_bot(options: DemoOptions, order_amount: Decimal, sandbox: SandboxExchange, market: MarketSpec,
                  work_dir: Path, recorder: OrderEventRecorder, summary: DemoSummary, stop_requested: asyncio.Event,
                  out: Callable[[str], None]):
    """Starts the script through Hummingbot's TradingCore, lets it trade, and shuts everything down."""
    bot = HeadlessHummingbot(work_dir, SCRIPTS_PATH, api_keys=sandbox_api_keys())
    run_started = time.monotonic()
    try:
        summary.started = await bot.start_strategy(SCRIPT_NAME, strategy_config(options, order_amount),
                                                   CONFIG_FILE_NAME)
        if not summary.started:
            out("The strategy did not start (see the errors above).")
            return
        connector = bot.trading_core.connectors[CONNECTOR_NAME]
        strategy = bot.trading_core.strategy
        recorder.attach(connector)
        summary.ready = await wait_until_ready(connector, strategy, options.ready_timeout, stop_requested)
        if not summary.ready:
            pending = [name for name, done in connector.status_dict.items() if not done]
            out(f"The connector did not get ready within {options.ready_timeout:g} s (waiting for: "
                f"{', '.join(pending) or 'the strategy'}).")
            return
        summary.ready_after = time.monotonic() - run_started
        out(f"Connector ready after {summary.ready_after:.1f} s; the strategy is quoting.")
        await trade(options, sandbox, connector, strategy, recorder, market, run_started, stop_requested, out)
        out("Stopping: cancelling the orders and shutting down...")
    finally:
        summary.run_time = time.monotonic() - run_started
        if CONNECTOR_NAME in bot.trading_core.connectors:
            resyncs = StreamResyncs.of(bot.trading_core.connectors[CONNECTOR_NAME])
            summary.gap_resubscriptions, summary.reconnections = resyncs.gap_resubscriptions, resyncs.reconnections
        summary.shutdown_clean = await bot.shutdown()
        await asyncio.sleep(0.5)  # lets the connector's network tasks finish their cancellation
        await bot.close()


def main(argv: Optional[List[str]] = None) -> int:
    options = parse_args(argv)

    async def run_with_signals() -> DemoSummary:
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop_requested.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover (Windows, non-main thread)
                pass
        return await run_demo(options, out=lambda text: print(text, flush=True), stop_requested=stop_requested,
                              own_console=True)

    try:
        summary = asyncio.run(run_with_signals())
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NOT_READY
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
