"""
The translation of NonKYC order statuses into Hummingbot order updates (nonkyc_order_updates.py), through the
exchange's status request: every status, the update time, an unknown status.
"""
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeRestTestCase,
    NonkycExchangeShapes,
    wait_until,
)
from unittest.mock import MagicMock

from aioresponses import aioresponses

from hummingbot.core.data_type.in_flight_order import OrderState


class NonkycOrderUpdateTests(NonkycExchangeRestTestCase):

    @aioresponses()
    async def test_status_map_covers_every_known_status(self, mock_api):
        expected = {
            "New": OrderState.OPEN, "Active": OrderState.OPEN, "Partly Filled": OrderState.PARTIALLY_FILLED,
            "Filled": OrderState.FILLED, "Cancelled": OrderState.CANCELED, "Expired": OrderState.CANCELED,
            "Rejected": OrderState.FAILED, "active": OrderState.OPEN, "partly filled": OrderState.PARTIALLY_FILLED,
            "canceled": OrderState.CANCELED,
        }
        order = self.track()
        for status, state in expected.items():
            self.configure_lookup(mock_api, NonkycExchangeShapes.exchange_order_id, self.found_order(status))
            update = await self.exchange._request_order_status(order)
            self.assertEqual(state, update.new_state, status)

    @aioresponses()
    async def test_status_time_is_the_exchange_time_else_the_clock_else_the_local_time(self, mock_api):
        order = self.track()
        without_times = {key: value for key, value in self.found_order("Active").items()
                         if key not in ("createdAt", "updatedAt")}
        for payload in (self.found_order("Active"), without_times, without_times):
            self.configure_lookup(mock_api, NonkycExchangeShapes.exchange_order_id, payload)
        self.exchange._time = MagicMock(return_value=1640789999.5)

        exchange_time = await self.exchange._request_order_status(order)
        clock_time = await self.exchange._request_order_status(order)
        self.exchange._set_current_timestamp(float("nan"))  # the clock has not started yet
        local_time = await self.exchange._request_order_status(order)

        self.assertEqual([1640780001.0, 1640780000.0, 1640789999.5],
                         [update.update_timestamp for update in (exchange_time, clock_time, local_time)])

    @aioresponses()
    async def test_unknown_status_keeps_the_order_open_and_is_logged_once(self, mock_api):
        order = self.track()
        order.current_state = OrderState.PENDING_CREATE
        for _ in range(2):
            self.configure_lookup(mock_api, NonkycExchangeShapes.exchange_order_id, self.found_order("Suspended"))
        self.configure_active_orders(mock_api, [], repeat=True)

        await self.exchange._update_orders()
        await self.exchange._update_orders()

        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the order to be kept open")
        warnings = [r for r in self.log_records if "Unknown NonKYC order status 'Suspended'" in r.getMessage()]
        self.assertEqual(1, len(warnings))
