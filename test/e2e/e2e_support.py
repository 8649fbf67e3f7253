"""
The end-to-end tests' harness: a sandbox on a free loopback port and real NonkycExchange connectors pointed at it,
each ticked by a real-time Hummingbot Clock, with the checks the tests share (orders, balances and fills against the
sandbox's, ERROR log lines).
"""
import asyncio
import logging
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from test.hummingbot.connector.exchange.nonkyc.real_sockets import (
    close_shared_aiohttp_session,
    use_fresh_shared_aiohttp_session,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Dict, List, Optional, Tuple

from demo.sandbox_environment import SandboxEnvironment
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.clock import Clock, ClockMode
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.event.event_logger import EventLogger
from hummingbot.core.event.events import MarketEvent
from nonkyc_sandbox.markets import MarketSpec
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange

PAIR = "BTC-USDT"
SYMBOL = "BTC/USDT"
USER = "user"
TAKER = "sim-taker"
MAKER = "sim-maker"


class EndToEndTestCase(IsolatedAsyncioWrapperTestCase):
    """Starts a sandbox on a free loopback port and a connector pointed at it, ticked by a real-time Clock."""

    level = 0
    simulated_traders = False
    assets = ("BTC", "USDT")  # the assets whose balances are compared with the sandbox's

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        use_fresh_shared_aiohttp_session()
        self.log_records: List[logging.LogRecord] = []
        self.sandbox = SandboxExchange(seed=5, simulated_traders=self.simulated_traders, markets=self.sandbox_markets())
        self.environment = SandboxEnvironment(self.sandbox)
        await self.environment.start()
        self.connectors: List[NonkycExchange] = []
        self.clock_tasks: List[asyncio.Task] = []

    async def asyncTearDown(self) -> None:
        for connector in list(self.connectors):
            await self.stop_connector(connector)
        await self.environment.stop()
        await close_shared_aiohttp_session()
        await super().asyncTearDown()

    def handle(self, record: logging.LogRecord):
        self.log_records.append(record)

    def sandbox_markets(self) -> Optional[List[MarketSpec]]:
        return None  # the sandbox's default markets

    @staticmethod
    def loggers_of(connector: NonkycExchange) -> List[logging.Logger]:
        return [connector.logger(), connector._order_tracker.logger(), connector.order_book_tracker.logger(),
                connector._orderbook_ds.logger(), connector._user_stream_tracker.data_source.logger()]

    async def start_connector(self, secret: str = DEFAULT_API_SECRET, saved_states: Optional[Dict] = None,
                              wait_ready: bool = True, trading_pairs: Optional[List[str]] = None) -> NonkycExchange:
        connector = NonkycExchange(nonkyc_api_key=DEFAULT_API_KEY, nonkyc_api_secret=secret,
                                   trading_pairs=trading_pairs or [PAIR])
        for logger in self.loggers_of(connector):
            logger.setLevel(1)
            logger.addHandler(self)
        connector.events = {event: EventLogger() for event in (
            MarketEvent.OrderFilled, MarketEvent.OrderCancelled, MarketEvent.OrderFailure,
            MarketEvent.BuyOrderCompleted, MarketEvent.SellOrderCompleted, MarketEvent.BuyOrderCreated)}
        for event, event_logger in connector.events.items():
            connector.add_listener(event, event_logger)
        if saved_states:
            connector.restore_tracking_states(saved_states)
        clock = Clock(ClockMode.REALTIME, tick_size=0.5)
        clock.add_iterator(connector)
        self.clock_tasks.append(asyncio.create_task(self.run_clock(clock)))
        self.connectors.append(connector)
        if wait_ready:
            await wait_until(lambda: connector.ready, 30,
                             lambda: f"the connector to be ready ({connector.status_dict})", interval=0.05)
        return connector

    @staticmethod
    async def run_clock(clock: Clock):
        with clock:
            await clock.run()

    async def stop_connector(self, connector: NonkycExchange):
        task = self.clock_tasks.pop(self.connectors.index(connector))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await connector.stop_network()
        for logger in self.loggers_of(connector):
            logger.removeHandler(self)
        self.connectors.remove(connector)

    async def place(self, connector: NonkycExchange, side: str, amount: str, price: Optional[str] = None,
                    order_type: OrderType = OrderType.LIMIT, trading_pair: str = PAIR) -> InFlightOrder:
        place = connector.buy if side == "buy" else connector.sell
        order_id = place(trading_pair, Decimal(amount), order_type, Decimal(price) if price else Decimal("NaN"))
        await wait_until(lambda: self.order(connector, order_id) is not None
                         and self.order(connector, order_id).current_state != OrderState.PENDING_CREATE,
                         10, f"order {order_id} to be created", interval=0.05)
        return self.order(connector, order_id)

    @staticmethod
    def order(connector: NonkycExchange, client_order_id: str) -> Optional[InFlightOrder]:
        return connector._order_tracker.all_fillable_orders.get(client_order_id)

    def sandbox_balances(self) -> Dict[str, Tuple[Decimal, Decimal]]:
        return {asset: (values["total"], values["available"])
                for asset, values in self.sandbox.balances(USER).items() if asset in self.assets}

    def connector_balances(self, connector: NonkycExchange) -> Dict[str, Tuple[Decimal, Decimal]]:
        return {asset: (connector.get_balance(asset), connector.get_available_balance(asset))
                for asset in self.assets}

    async def assert_balances_equal_sandbox(self, connector: NonkycExchange):
        await wait_until(lambda: self.connector_balances(connector) == self.sandbox_balances(), 10,
                         lambda: f"equal balances (connector {self.connector_balances(connector)}, "
                                 f"sandbox {self.sandbox_balances()})", interval=0.05)

    def fills_of(self, connector: NonkycExchange) -> List[Tuple[str, Decimal, Decimal, Decimal]]:
        return sorted((event.exchange_trade_id, event.amount, event.price, event.trade_fee.flat_fees[0].amount)
                      for event in connector.events[MarketEvent.OrderFilled].event_log)

    def sandbox_fills(self, symbol: Optional[str] = SYMBOL) -> List[Tuple[str, Decimal, Decimal, Decimal]]:
        return sorted((trade["id"], Decimal(trade["quantity"]), Decimal(trade["price"]), Decimal(trade["fee"]))
                      for trade in self.sandbox.trades(USER, symbol))

    def errors_logged(self) -> List[str]:
        return [record.getMessage() for record in self.log_records if record.levelno >= logging.ERROR]
