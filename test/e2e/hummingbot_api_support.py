"""
The connector driven as Hummingbot API drives it (the server behind Condor, the MCP server and the Dashboard; its
lifecycle is read from `services/unified_connector_service.py` of hummingbot-api ee7ce5c): built with
`trading_pairs=[]`, initialised by hand, only some loops started, order books added with `add_trading_pair`, no
`start_network()` and no Clock. The steps below are the API's own, in its order, against the sandbox over real sockets.
"""
import asyncio
import time
from test.e2e.e2e_support import EndToEndTestCase
from typing import List

from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.event.event_logger import EventLogger
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.utils.async_utils import safe_ensure_future
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

# The task attributes Hummingbot API starts (`_start_connector_network`) and cancels (`_stop_connector_network`).
API_TASKS = ("_trading_rules_polling_task", "_trading_fees_polling_task", "_status_polling_task",
             "_user_stream_tracker_task", "_user_stream_event_listener_task", "_lost_orders_update_task")


class HummingbotApiLifecycleTestCase(EndToEndTestCase):
    """The end-to-end harness's sandbox, with trading connectors run as Hummingbot API runs them (no Clock)."""

    recorded_events = (MarketEvent.OrderFilled, MarketEvent.BuyOrderCreated, MarketEvent.BuyOrderCompleted,
                       MarketEvent.OrderFailure)

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.api_connectors: List[NonkycExchange] = []

    async def asyncTearDown(self) -> None:
        for connector in self.api_connectors:
            await self.stop_like_hummingbot_api(connector)
            for logger in self.loggers_of(connector):
                logger.removeHandler(self)
        await super().asyncTearDown()

    async def start_like_hummingbot_api(self, before_loops=None) -> NonkycExchange:
        """
        `_create_trading_connector`, `_create_and_initialize_trading_connector` and `_start_connector_network`.
        `before_loops(connector)` runs before the loops start (to shorten intervals, as a test may).
        """
        connector = NonkycExchange(nonkyc_api_key=DEFAULT_API_KEY, nonkyc_api_secret=DEFAULT_API_SECRET,
                                   trading_pairs=[], trading_required=True)
        self.api_connectors.append(connector)
        for logger in self.loggers_of(connector):
            logger.setLevel(1)
            logger.addHandler(self)
        connector.events = {event: EventLogger() for event in self.recorded_events}
        for event, event_logger in connector.events.items():
            connector.add_listener(event, event_logger)
        await connector._initialize_trading_pair_symbol_map()
        await connector._update_trading_rules()
        await connector._update_balances()
        if before_loops is not None:
            before_loops(connector)
        await self.stop_like_hummingbot_api(connector)  # as `_start_connector_network` does first
        connector._trading_rules_polling_task = safe_ensure_future(connector._trading_rules_polling_loop())
        connector._trading_fees_polling_task = safe_ensure_future(connector._trading_fees_polling_loop())
        connector._user_stream_tracker_task = connector._create_user_stream_tracker_task()
        connector._user_stream_event_listener_task = safe_ensure_future(connector._user_stream_event_listener())
        connector._lost_orders_update_task = safe_ensure_future(connector._lost_orders_update_polling_loop())
        return connector

    @staticmethod
    async def stop_like_hummingbot_api(connector: NonkycExchange):
        """`_stop_connector_network`: cancels the task attributes, stops the order book tracker, stop_network()."""
        tasks = [getattr(connector, name) for name in API_TASKS if getattr(connector, name) is not None]
        for name in API_TASKS:
            setattr(connector, name, None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        connector.order_book_tracker.stop()
        await connector.stop_network()

    @staticmethod
    async def add_trading_pair_like_hummingbot_api(connector: NonkycExchange, trading_pair: str):
        """`_add_trading_pair_to_tracker`: the first pair starts the tracker with it, later ones are added."""
        tracker = connector.order_book_tracker
        if tracker.ready:
            await connector.add_trading_pair(trading_pair)
        else:
            if trading_pair not in tracker._trading_pairs:
                tracker._trading_pairs.append(trading_pair)
            tracker.start()
            await asyncio.wait_for(tracker.wait_ready(), timeout=30.0)

    @staticmethod
    async def refresh_like_hummingbot_api(connector: NonkycExchange):
        """`_update_connector_state`, every `account_update_interval` minutes (5 by default)."""
        connector._set_current_timestamp(time.time())
        await connector._update_balances()
        if connector.in_flight_orders:
            await connector._update_order_status()
