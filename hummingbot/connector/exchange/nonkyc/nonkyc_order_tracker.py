import time
from decimal import Decimal
from typing import Dict, Optional

from hummingbot.connector.client_order_tracker import ClientOrderTracker
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate


class NonkycOrderTracker(ClientOrderTracker):
    """
    Hummingbot's order tracker with two rules of this connector:

    - A FILLED update completes an order only once the fills that make up its filled amount are recorded.
      Hummingbot's tracker waits 5 s for them and then completes the order "with incomplete information" (wrong PnL,
      inventory and trade history). Here the FILLED update is held: the order stays open (its exchange id is taken at
      once), the log says it waits for its fills, and the update is applied as soon as the last of those fills is
      recorded, from the private stream or from /account/trades. The filled amount the exchange reports travels in
      `OrderUpdate.misc_updates[EXECUTED_AMOUNT_KEY]`; without it, the order's whole amount is waited for.
    - `order_found` starts an order's not-found count again. Hummingbot's count only grows while the order is
      tracked, so not-found answers spread over an order's life would add up to "lost".
    """

    EXECUTED_AMOUNT_KEY = "executed_amount_base"
    # How often a held order says again that it is still waiting for its fills.
    HOLD_REMINDER_INTERVAL = 60.0

    def __init__(self, connector, lost_order_count_limit: int = 3):
        super().__init__(connector=connector, lost_order_count_limit=lost_order_count_limit)
        self._held_completions: Dict[str, OrderUpdate] = {}
        self._hold_logged_at: Dict[str, float] = {}

    # === Not-found counts ===

    def order_found(self, client_order_id: str):
        """The exchange answered for the order: its not-found count starts again."""
        self._order_not_found_records.pop(client_order_id, None)

    def not_found_count(self, client_order_id: str) -> int:
        return self._order_not_found_records.get(client_order_id, 0)

    # === FILLED updates wait for the fills ===

    def is_waiting_for_fills(self, client_order_id: str) -> bool:
        """True while a FILLED update of the order is held until its fills are recorded."""
        return client_order_id in self._held_completions

    async def _process_order_update(self, order_update: OrderUpdate):
        order = self._active_order_of(order_update)
        if order is not None and order_update.new_state is OrderState.FILLED and not order.is_done:
            if not self._fills_recorded(order, order_update):
                await self._hold(order, order_update)
                return
            self._release(order.client_order_id)
        await super()._process_order_update(order_update)

    def process_trade_update(self, trade_update: TradeUpdate):
        super().process_trade_update(trade_update)
        held = self._held_completions.get(trade_update.client_order_id)
        order = self.fetch_tracked_order(trade_update.client_order_id)
        if held is not None and order is not None and self._fills_recorded(order, held):
            self._release(order.client_order_id)
            self.logger().info(f"The fills of order {order.client_order_id} ({order.trading_pair}) are recorded "
                               f"({order.executed_amount_base} {order.base_asset}); completing it.")
            self.process_order_update(held)

    def stop_tracking_order(self, client_order_id: str):
        super().stop_tracking_order(client_order_id)
        self._release(client_order_id)

    async def _hold(self, order: InFlightOrder, order_update: OrderUpdate):
        self._held_completions[order.client_order_id] = order_update
        if order.current_state is OrderState.PENDING_CREATE or order.exchange_order_id is None:
            # The order exists: it takes its exchange id (fills are matched by it) and an open state meanwhile.
            interim = OrderState.PARTIALLY_FILLED if order.executed_amount_base > 0 else OrderState.OPEN
            await super()._process_order_update(order_update._replace(new_state=interim))
        now = time.monotonic()
        logged_at = self._hold_logged_at.get(order.client_order_id)
        if logged_at is None or now - logged_at >= self.HOLD_REMINDER_INTERVAL:
            self._hold_logged_at[order.client_order_id] = now
            log = self.logger().info if logged_at is None else self.logger().warning
            log(f"Order {order.client_order_id} ({order.trading_pair}, exchange id {order.exchange_order_id}) is "
                f"filled on NonKYC, but only {order.executed_amount_base} of its "
                f"{self._filled_amount(order, order_update)} {order.base_asset} of fills are recorded: it stays open "
                f"until the missing fills are read (private stream or /account/trades).")

    def _release(self, client_order_id: str):
        self._held_completions.pop(client_order_id, None)
        self._hold_logged_at.pop(client_order_id, None)

    def _fills_recorded(self, order: InFlightOrder, order_update: OrderUpdate) -> bool:
        if order.completely_filled_event.is_set():
            return True
        filled_amount = self._filled_amount(order, order_update)
        if filled_amount < order.amount and order.executed_amount_base >= filled_amount:
            # The exchange filled less than the amount (and says Filled): its fills are all there.
            order.completely_filled_event.set()
            return True
        return False

    def _filled_amount(self, order: InFlightOrder, order_update: OrderUpdate) -> Decimal:
        reported = (order_update.misc_updates or {}).get(self.EXECUTED_AMOUNT_KEY)
        if isinstance(reported, Decimal) and Decimal(0) < reported < order.amount:
            return reported
        return order.amount

    def _active_order_of(self, order_update: OrderUpdate) -> Optional[InFlightOrder]:
        order = self.fetch_tracked_order(order_update.client_order_id)
        if order is None and order_update.exchange_order_id is not None:
            order = next((candidate for candidate in self.active_orders.values()
                          if candidate.exchange_order_id == order_update.exchange_order_id), None)
        return order
