"""
The compatibility matrix's harness: a strategy started through Hummingbot's own machinery (`TradingCore`, as the
client's `start` does: the real NonkycExchange, a Clock, the markets recorder) against the NonKYC sandbox over real
sockets, and the checks a user makes afterwards: fills and fees recorded once and equal to the exchange's, balances
equal to the exchange's, no order left open after the stop, no ERROR log line from the connector.

The sandbox's simulated maker keeps a book of 5 levels per side, 10 bps apart, around a mid price that only moves when
a test moves it (`move_mid`); nothing takes liquidity unless a test does (`take`).
"""
import asyncio
import json
import logging
import shutil
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.hummingbot.connector.exchange.nonkyc.real_sockets import use_fresh_shared_aiohttp_session
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

from demo.headless import HeadlessHummingbot
from demo.monitor import ErrorLogWatcher
from demo.sandbox_environment import CONNECTOR_NAME, SANDBOX_ACCOUNT, SCRIPTS_PATH, SandboxEnvironment, sandbox_api_keys
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.event.event_forwarder import EventForwarder
from hummingbot.core.event.events import BuyOrderCreatedEvent, MarketEvent, SellOrderCreatedEvent
from nonkyc_sandbox import SandboxExchange, TraderSettings

USER = SANDBOX_ACCOUNT
TAKER = "sim-taker"
# The sandbox's side of a keep-alive HTTP connection: it ends only when the client closes the connection.
SERVER_CONNECTION_TASK = "RequestHandler.start"
ORDER_EVENTS = (MarketEvent.BuyOrderCreated, MarketEvent.SellOrderCreated, MarketEvent.OrderFilled,
                MarketEvent.BuyOrderCompleted, MarketEvent.SellOrderCompleted, MarketEvent.OrderCancelled,
                MarketEvent.OrderFailure)
QUIET_BOOK = TraderSettings(interval=0.2, volatility_bps=Decimal("0"), taker_probability=0.0)
# Hummingbot's recorder stores prices and amounts as integers of 1e-6 (SqliteDecimal(6)).
DB_SCALE = Decimal("1e6")

Fill = Tuple[str, Decimal, Decimal, Decimal]  # trade id, amount, price, fee


def task_name(task: asyncio.Task) -> str:
    """The coroutine a task runs; for Hummingbot's `safe_ensure_future` tasks, the coroutine it wraps."""
    coroutine = task.get_coro()
    frame = getattr(coroutine, "cr_frame", None)
    wrapped = frame.f_locals.get("c") if frame is not None and coroutine.__qualname__ == "safe_wrapper" else None
    return getattr(wrapped, "__qualname__", None) or coroutine.__qualname__


def symbol_of(trading_pair: str) -> str:
    return trading_pair.replace("-", "/")


def sandbox_fills(sandbox: SandboxExchange, trading_pairs: Iterable[str]) -> List[Fill]:
    """The trades of the sandbox account on `trading_pairs`, with their fee."""
    return sorted((trade["id"], Decimal(trade["quantity"]), Decimal(trade["price"]), Decimal(trade["fee"]))
                  for trading_pair in trading_pairs for trade in sandbox.trades(USER, symbol_of(trading_pair)))


def trade_database_fills(db_path: Union[str, Path]) -> List[Fill]:
    """The fills Hummingbot's markets recorder stored in its trade database (what `history` reads), with their fee."""
    with sqlite3.connect(db_path) as database:
        rows = database.execute("SELECT exchange_trade_id, amount, price, trade_fee FROM TradeFill").fetchall()
    return sorted((trade_id, Decimal(amount) / DB_SCALE, Decimal(price) / DB_SCALE,
                   sum((Decimal(fee["amount"]) for fee in json.loads(trade_fee)["flat_fees"]), Decimal(0)))
                  for trade_id, amount, price, trade_fee in rows)


class StrategyOnSandboxTestCase(IsolatedAsyncioWrapperTestCase):
    """A sandbox with a quiet simulated book, and a headless Hummingbot to start one strategy on it."""

    seed = 12
    simulated_traders = True
    trader_settings = QUIET_BOOK

    async def asyncSetUp(self):
        await super().asyncSetUp()
        use_fresh_shared_aiohttp_session()
        self.sandbox = SandboxExchange(seed=self.seed, simulated_traders=self.simulated_traders,
                                       trader_settings=self.trader_settings)
        self.environment = SandboxEnvironment(self.sandbox)
        await self.environment.start()
        self.work_dir = Path(tempfile.mkdtemp(prefix="nonkyc-matrix-"))
        self.addCleanup(shutil.rmtree, self.work_dir, ignore_errors=True)
        self.connector_errors = self.watch_errors("hummingbot.connector")
        self.all_errors = self.watch_errors("")
        self.bot: Optional[HeadlessHummingbot] = None
        self.db_path: Optional[str] = None
        self.tasks_before = asyncio.all_tasks()

    async def asyncTearDown(self):
        try:
            if self.bot is not None:
                await self.stop_bot()
        finally:
            await self.environment.stop()
        await wait_until(lambda: not self.running_tasks(ignored=()), timeout=5.0,
                         what=lambda: f"the tasks of the test to end: {self.running_tasks(ignored=())}")
        await super().asyncTearDown()

    def watch_errors(self, logger_name: str) -> ErrorLogWatcher:
        watcher = ErrorLogWatcher()
        logger = logging.getLogger(logger_name)
        logger.addHandler(watcher)
        self.addCleanup(logger.removeHandler, watcher)
        return watcher

    def running_tasks(self, ignored: Iterable[str] = (SERVER_CONNECTION_TASK,)) -> List[str]:
        names = [task_name(task) for task in asyncio.all_tasks() - self.tasks_before
                 if task is not asyncio.current_task() and not task.done()]
        return [name for name in names if name not in ignored]

    # === The bot ===

    def new_bot(self) -> HeadlessHummingbot:
        self.bot = HeadlessHummingbot(self.work_dir, SCRIPTS_PATH, api_keys=sandbox_api_keys())
        return self.bot

    async def start_script(self, script_name: str, config: Dict[str, Any]) -> bool:
        """Starts a V2 script of scripts/ with a configuration dictionary, as `hbot start` does with its file."""
        started = await self.new_bot().start_strategy(script_name, config, f"{script_name}_matrix.yml")
        self.after_start(started)
        return started

    async def start_v1_strategy(self, config_yaml: str) -> bool:
        """Starts a V1 strategy from the text of its conf/strategies YAML file, as `hbot start` does."""
        path = self.work_dir / "conf_v1_matrix.yml"
        path.write_text(config_yaml)
        started = await self.new_bot().start_v1_strategy(path)
        self.after_start(started)
        return started

    def after_start(self, started: bool):
        if started:
            self.db_path = self.bot.trading_core.trade_fill_db.db_path
            self.record_order_events()

    def record_order_events(self):
        """Keeps every order event of the connector, in order, in `self.order_events` (call once it exists)."""
        self.order_events: List[Any] = []
        self._forwarder = EventForwarder(self.order_events.append)  # the connector holds its listeners weakly
        for event in ORDER_EVENTS:
            self.connector.add_listener(event, self._forwarder)

    def events_of(self, event_class) -> List[Any]:
        return [event for event in self.order_events if isinstance(event, event_class)]

    def created(self) -> List[Any]:
        return self.events_of((BuyOrderCreatedEvent, SellOrderCreatedEvent))

    @property
    def connector(self) -> NonkycExchange:
        return self.bot.trading_core.connectors[CONNECTOR_NAME]

    @property
    def strategy(self):
        return self.bot.trading_core.strategy

    async def wait_until_trading(self, timeout: float = 30.0):
        await wait_until(lambda: self.bot.trading_core.connectors.get(CONNECTOR_NAME) is not None
                         and self.connector.ready, timeout, "the connector to be ready", interval=0.05)

    async def stop_bot(self):
        """As the client's `stop`: the strategy stops (V2: executors close), orders are cancelled, all ends."""
        bot, self.bot = self.bot, None
        try:
            self.assertTrue(await bot.shutdown())
            await wait_until(lambda: not self.running_tasks(), timeout=10.0,
                             what=lambda: f"the bot's tasks to end after the stop: {self.running_tasks()}")
        finally:
            await bot.close()

    # === The market ===

    def move_mid(self, trading_pair: str, price: str):
        """The simulated maker re-quotes its 5 levels per side around `price`, at once (a tick of the traders)."""
        self.sandbox.traders.set_mid(symbol_of(trading_pair), Decimal(price))
        self.sandbox.traders.tick()

    async def wait_for_book(self, trading_pair: str, best_bid_below: Optional[Decimal] = None,
                            best_bid_above: Optional[Decimal] = None):
        """Waits until the connector's book shows the simulated maker's quotes (around the mid a test set)."""
        def ready() -> bool:
            book = self.connector.order_books.get(trading_pair) if self.bot else None
            bids = list(book.bid_entries()) if book is not None else []
            if not bids:
                return False
            best_bid = Decimal(str(bids[0].price))
            return ((best_bid_below is None or best_bid < best_bid_below)
                    and (best_bid_above is None or best_bid > best_bid_above))
        await wait_until(ready, 10, f"the {trading_pair} book to follow the mid", interval=0.05)

    def take(self, trading_pair: str, side: str, quantity: str, price: str):
        """A taker's limit order through our orders down to `price`; what it does not fill is cancelled."""
        order = self.sandbox.place_order(TAKER, symbol_of(trading_pair), side, "limit", quantity, price)
        if order["status"] in ("Active", "Partly Filled"):
            self.sandbox.cancel_order(TAKER, order["id"])
        return order

    def user_orders(self, trading_pair: str, status: Optional[str] = None) -> List[Dict]:
        return self.sandbox.orders(USER, symbol_of(trading_pair), status=status)

    # === What a user checks ===

    def exchange_fills(self, trading_pairs: Iterable[str]) -> List[Fill]:
        return sandbox_fills(self.sandbox, trading_pairs)

    def recorded_fills(self) -> List[Fill]:
        """The fills Hummingbot's markets recorder stored (what `history` reads), with their fee."""
        return trade_database_fills(self.db_path)

    async def assert_balances_equal_exchange(self, assets: Iterable[str]):
        def balances() -> Tuple[Dict[str, Tuple[Decimal, Decimal]], Dict[str, Tuple[Decimal, Decimal]]]:
            on_exchange = self.sandbox.balances(USER)
            return ({asset: (self.connector.get_balance(asset), self.connector.get_available_balance(asset))
                     for asset in assets},
                    {asset: (on_exchange[asset]["total"], on_exchange[asset]["available"]) for asset in assets})
        await wait_until(lambda: balances()[0] == balances()[1], 10,
                         lambda: f"the bot's balances {balances()[0]} to equal the exchange's {balances()[1]}",
                         interval=0.05)

    def assert_fills_recorded_once_as_on_exchange(self, trading_pairs: Iterable[str]) -> List[Fill]:
        recorded = self.recorded_fills()
        self.assertEqual(len(recorded), len({fill[0] for fill in recorded}), "a fill was recorded twice")
        self.assertEqual(self.exchange_fills(trading_pairs), recorded)
        return recorded

    def assert_nothing_left_open(self, trading_pairs: Iterable[str]):
        for trading_pair in trading_pairs:
            self.assertEqual([], self.user_orders(trading_pair, "active"), f"orders left open on {trading_pair}")

    def assert_no_errors_logged(self):
        self.assertEqual([], self.connector_errors.errors, "ERROR lines from the connector")
        self.assertEqual([], self.all_errors.errors, "ERROR lines")

    async def stop_and_check(self, trading_pairs: Set[str]) -> List[Fill]:
        """Stops the bot, then checks what a user checks after a run; returns the fills."""
        await self.stop_bot()
        self.assert_nothing_left_open(trading_pairs)
        fills = self.assert_fills_recorded_once_as_on_exchange(trading_pairs)
        self.assert_no_errors_logged()
        return fills
