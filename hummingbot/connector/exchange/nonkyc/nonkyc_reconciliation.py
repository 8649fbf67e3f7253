"""
Reconciliation of the tracked orders with NonKYC over REST and the private stream: the active-order listing
(`/account/orders`) and the WebSocket `activeOrders` event, the handling of failed look-ups, and the reading of
`/account/trades` (cursor, re-reads and the pager `AccountTradesPages`, within NonKYC's paging limits).
"""
import asyncio
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_order_updates import (
    CREATED_ORDER_STATES,
    executed_quantity,
    is_synthesized_fill,
    synthesized_fill_price,
)
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import RecentKeys, timestamp_seconds
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, TradeUpdate

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

Fetch = Callable[[Dict[str, Any]], Awaitable[List[Any]]]


def timestamp_ms(entry: Any) -> Optional[int]:
    """The `timestamp` of an API entry in milliseconds (int ms or ISO string), or None."""
    seconds = timestamp_seconds(entry.get("timestamp")) if isinstance(entry, dict) else None
    return None if seconds is None else int(round(seconds * 1e3))


class AccountTradesPages:
    """
    Reads `/account/trades` from `since_ms` on, one page at a time, within NonKYC's limits (`limit` and `skip` at most
    500). NonKYC's REST reference lists them newest first; an answer listed oldest first is read too, so every full
    page is read for its order:
    - newest first (or a page all of one millisecond, whose order cannot be told): the next page is the next `skip`,
      so at most `limit + max_skip` trades after `since` can be reached; beyond that `truncated` is set, the caller
      must not move its cursor, and `oldest_read_ms` says how far back the read went;
    - oldest first: the next page starts at the time of the page's last trade (`since` = that millisecond; trades of
      that millisecond seen again are dropped by id), so any number of trades is read.
    `pages()` yields the new trades of each page as soon as it is read: a later page that fails loses nothing read.
    After the iteration, `complete` says whether every trade since `since_ms` was read; `read_until_ms`, when not
    None, is a time before which every trade was read (oldest-first pages only).
    """

    OLDEST_FIRST = "oldest first"
    NEWEST_FIRST = "newest first"

    def __init__(self,
                 fetch: Fetch,
                 since_ms: int,
                 page_limit: int = CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT,
                 max_skip: int = CONSTANTS.MAX_PAGE_SKIP,
                 max_pages: int = CONSTANTS.ACCOUNT_TRADES_MAX_PAGES_PER_POLL):
        self._fetch = fetch
        self.since_ms = since_ms
        self._page_limit = page_limit
        self._max_skip = max_skip
        self._max_pages = max_pages
        self._seen_ids: Set[str] = set()
        self.requests = 0
        self.order: Optional[str] = None
        self.complete = False
        self.truncated = False
        self.read_until_ms: Optional[int] = None
        self.oldest_read_ms: Optional[int] = None

    async def pages(self) -> AsyncIterator[List[Any]]:
        since, skip = self.since_ms, 0
        while self.requests < self._max_pages:
            params: Dict[str, Any] = {"since": since, "limit": self._page_limit}
            if skip:
                params["skip"] = skip
            batch = await self._fetch(params)
            self.requests += 1
            self.complete = len(batch) < self._page_limit
            if not self.complete:
                since, skip = self._next_page(batch, since, skip)
            yield self._new_trades(batch)
            if self.complete:
                return
            if skip > self._max_skip:
                self.truncated = True
                return

    def _next_page(self, batch: List[Any], since: int, skip: int) -> Tuple[int, int]:
        """Where the page after a full `batch` starts; sets `order` and, for oldest-first pages, `read_until_ms`."""
        self.order = self.order or self._order_of(batch)
        last_ms = timestamp_ms(batch[-1])
        if self.order != self.OLDEST_FIRST or last_ms is None:
            return since, skip + self._page_limit
        self.read_until_ms = last_ms
        return (last_ms, 0) if last_ms > since else (since, skip + self._page_limit)

    def _new_trades(self, batch: List[Any]) -> List[Any]:
        times = [time_ms for time_ms in map(timestamp_ms, batch) if time_ms is not None]
        if times:
            self.oldest_read_ms = min(times + ([self.oldest_read_ms] if self.oldest_read_ms is not None else []))
        new = []
        for trade in batch:
            trade_id = str(trade.get("id")) if isinstance(trade, dict) and trade.get("id") is not None else None
            if trade_id is not None:
                if trade_id in self._seen_ids:
                    continue
                self._seen_ids.add(trade_id)
            new.append(trade)
        return new

    def _order_of(self, batch: List[Any]) -> Optional[str]:
        first, last = timestamp_ms(batch[0]), timestamp_ms(batch[-1])
        if first is None or last is None or first == last:
            return None
        return self.OLDEST_FIRST if first < last else self.NEWEST_FIRST


class NonkycReconciliation:
    """
    Keeps the tracked orders in line with NonKYC: their states from the active-order listing (REST or the private
    stream's `activeOrders`), one look-up per order it cannot confirm, and their fills from the account trades.
    State: the account-trades cursor (every trade older than it, in server ms, has been read), NonKYC's latest view of
    each order and the filled amounts it reported, and the reported amounts for which an order's fills were read
    again. An order NonKYC reports filled whose fills cannot be read completes with a fill built from the order.
    """

    # Trades of /account/trades are requested from a little before the cursor (or the order's creation), so that
    # clock differences and trades recorded a little late never hide a fill; fills already recorded are skipped by
    # their trade id.
    TRADES_SINCE_MARGIN_MS = 60 * 1000
    UNTRACKED_ORDERS_SHOWN = 5

    def __init__(self, connector: "NonkycExchange"):
        self._connector = connector
        self.trades_cursor_ms: Optional[int] = None
        self._trades_truncation_logged = False
        self._account_trades_lock = asyncio.Lock()
        self._reported_executed: Dict[str, Decimal] = {}
        self._fill_rereads: Dict[str, Decimal] = {}
        self._reported_orders: Dict[str, Dict[str, Any]] = {}
        self._logged_untracked_orders = RecentKeys()

    def logger(self):
        return self._connector.logger()

    # === Order states ===

    async def update_orders(self):
        """
        States of the tracked orders from NonKYC's active orders (`/account/orders?status=active`, paged at 500,
        whatever the number of pairs and orders). The orders it lists are confirmed by it; the others (filled,
        cancelled, not created, or beyond a listing too long to page) are looked up one by one. A failed listing
        changes nothing: the orders keep their state until the next poll.
        """
        connector = self._connector
        orders = list(connector.in_flight_orders.values())
        if not orders:
            return
        try:
            active_orders, complete = await self.fetch_active_orders()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            connector._log_failed_request(f"Could not list NonKYC's active orders; the {len(orders)} tracked orders "
                                          f"keep their state and are checked again at the next poll", error)
            return
        listed_client_ids, _ = self._update_orders_listed_as_active(active_orders)
        to_look_up = [order for order in orders if order.client_order_id not in listed_client_ids]
        if to_look_up and not complete:
            self.logger().debug(f"NonKYC lists more active orders than can be paged; looking up "
                                f"{len(to_look_up)} tracked orders one by one.")
        await connector._update_orders_with_error_handler(
            orders=to_look_up, error_handler=connector._handle_update_error_for_active_order)

    async def fetch_active_orders(self) -> Tuple[List[Any], bool]:
        """The account's active orders (every pair), and whether the list is complete (`skip` stops at 500)."""
        active_orders: List[Any] = []
        skip = 0
        while True:
            params = {"status": CONSTANTS.ACCOUNT_ORDERS_STATUS_ACTIVE, "limit": CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT}
            if skip:
                params["skip"] = skip
            page = self._connector._list_in_answer(
                await self._connector._api_get(path_url=CONSTANTS.ACCOUNT_ORDERS_PATH_URL, params=params,
                                               is_auth_required=True),
                CONSTANTS.ACCOUNT_ORDERS_PATH_URL)
            active_orders.extend(page)
            if len(page) < CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT:
                return active_orders, True
            skip += CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT
            if skip > CONSTANTS.MAX_PAGE_SKIP:
                return active_orders, False

    async def handle_update_error_for_active_order(self, order: InFlightOrder, error: Exception):
        """
        Only NonKYC's "order not found" (20002) counts towards declaring an order lost (and failed). Rate limits,
        5xx, Cloudflare pages, timeouts and network errors say nothing about the order: it is looked up again at
        the next poll. (Hummingbot's default counts every error as "not found".)
        """
        connector = self._connector
        description = f"order {order.client_order_id} ({order.trading_pair}, exchange id {order.exchange_order_id})"
        if connector._is_order_not_found(error):
            count = connector._order_tracker.not_found_count(order.client_order_id) + 1
            self.logger().warning(
                f"NonKYC does not know {description} (code 20002, {error.message}); not found {count} time(s) in a "
                f"row, it is declared lost after {connector._order_tracker.lost_order_count_limit + 1}.")
            await connector._order_tracker.process_order_not_found(order.client_order_id)
        else:
            connector._log_failed_request(f"Could not look up {description}; it stays tracked and is looked up again "
                                          f"at the next poll", error)

    async def process_active_orders_event(self, event_message: Dict[str, Any]):
        """
        Reconciles the tracked orders with the exchange's active orders after each (re)subscription: the listed ones
        are updated, tracked open orders missing from the list get an immediate status and fills check (they may
        have been filled or cancelled while the stream was down), untracked ones are left alone. A failed look-up
        only counts when NonKYC answers "order not found".
        """
        connector = self._connector
        active_orders = event_message["result"]
        if not isinstance(active_orders, list):
            raise ValueError(f"activeOrders without a list under 'result': {event_message}")
        listed_client_ids, filled_meanwhile = self._update_orders_listed_as_active(active_orders)
        missing = [order for order in connector.in_flight_orders.values()
                   if order.current_state in CREATED_ORDER_STATES and order.client_order_id not in listed_client_ids]
        if missing:
            self.logger().info(f"Tracked open orders absent from NonKYC's active orders: "
                               f"{', '.join(order.client_order_id for order in missing)}; checking their status and "
                               f"fills.")
            await connector._update_orders_with_error_handler(
                orders=missing, error_handler=connector._handle_update_error_for_active_order)
        if missing or filled_meanwhile:
            await connector._update_orders_fills(filled_meanwhile + missing)

    def _update_orders_listed_as_active(self, active_orders: List[Any]) -> Tuple[Set[str], List[InFlightOrder]]:
        """
        Updates the tracked orders of a list of active orders (WS `activeOrders` or REST `/account/orders`): each
        listed order is found (its not-found count starts again) and takes the listed state when it differs. Returns
        the client ids listed and the orders whose listed filled amount is above their recorded fills.
        """
        tracker = self._connector._order_tracker
        listed_client_ids = set()
        filled_meanwhile = []
        untracked = []
        for order_data in active_orders:
            order = self.tracked_order(order_data) if isinstance(order_data, dict) else None
            if order is None:
                untracked.append(order_data)
                continue
            listed_client_ids.add(order.client_order_id)
            tracker.order_found(order.client_order_id)
            if order.client_order_id not in tracker.active_orders or order.is_done:
                continue  # finished meanwhile: a listing taken before that must not reopen it
            order_update = self._connector._order_update_from_exchange_order(order, order_data)
            executed = executed_quantity(order_data)
            if executed is not None and executed > order.executed_amount_base:
                filled_meanwhile.append(order)
            changed = (order_update.new_state, order_update.exchange_order_id)
            if changed != (order.current_state, order.exchange_order_id):
                tracker.process_order_update(order_update)
        self._log_untracked_active_orders(untracked)
        return listed_client_ids, filled_meanwhile

    def _log_untracked_active_orders(self, orders_data: List[Any]):
        """One line for the active orders of the account this bot does not track and has not reported yet."""
        new = [order_data for order_data in orders_data if self._logged_untracked_orders.add(
            str(order_data.get("id") if isinstance(order_data, dict) else order_data))]
        if new:
            shown = ", ".join(str(order_data) for order_data in new[:self.UNTRACKED_ORDERS_SHOWN])
            hidden = len(new) - self.UNTRACKED_ORDERS_SHOWN
            more = f" and {hidden} more" if hidden > 0 else ""
            self.logger().info(f"NonKYC reports {len(new)} active order(s) this bot does not track; leaving them "
                               f"alone: {shown}{more}")

    def remember_reported(self, client_order_id: str, order_data: Dict[str, Any]):
        """
        NonKYC's view of an order (REST order, WS report, create answer): fills missing from the filled amount it
        reports are read again, and a fill built from the order takes its price from it.
        """
        self._reported_orders[client_order_id] = order_data
        executed = executed_quantity(order_data)
        if executed is not None and executed > self._reported_executed.get(client_order_id, Decimal(0)):
            self._reported_executed[client_order_id] = executed

    def forget_orders_no_longer_tracked(self):
        fillable = self._connector._order_tracker.all_fillable_orders
        for memory in (self._reported_executed, self._fill_rereads, self._reported_orders):
            for client_order_id in [key for key in memory if key not in fillable]:
                del memory[client_order_id]

    # === Fills ===

    def tracked_order(self, order_data: Dict[str, Any]) -> Optional[InFlightOrder]:
        """The tracked order an exchange order or report is about, by client id or else by exchange id."""
        tracker = self._connector._order_tracker
        return (tracker.all_fillable_orders.get(order_data.get("userProvidedId"))
                or tracker.all_fillable_orders_by_exchange_order_id.get(str(order_data.get("id") or "")))

    def process_trade_update(self, trade_update: TradeUpdate):
        """The single entry of fills (REST and WS): a fill is recorded once, and never beyond the order amount."""
        tracker = self._connector._order_tracker
        order = tracker.all_fillable_orders.get(trade_update.client_order_id)
        # The same fill arrives from the WS trade report and from /account/trades: its trade id dedups it (checked
        # here too, so that a repeat is not reported as an overfill below).
        if order is None or trade_update.trade_id in order.order_fills:
            return
        if any(is_synthesized_fill(trade_id) for trade_id in order.order_fills):
            self.logger().warning(
                f"Ignoring fill {trade_update.trade_id} of {trade_update.fill_base_amount} for order "
                f"{order.client_order_id} ({order.trading_pair}): a fill built from the order already stands for the "
                f"fills NonKYC reported and could not be read.")
            return
        # A fill beyond the order amount would corrupt the executed amount and the balances. This check is the last
        # line of defence, for a fill whose id would differ between the two sources.
        if order.executed_amount_base + trade_update.fill_base_amount > order.amount:
            self.logger().warning(
                f"Ignoring fill {trade_update.trade_id} of {trade_update.fill_base_amount} for order "
                f"{order.client_order_id} (exchange id {order.exchange_order_id}, {order.trading_pair}): it would take "
                f"the executed amount {order.executed_amount_base} beyond the order amount {order.amount}.")
            return
        tracker.process_trade_update(trade_update)

    async def update_orders_fills(self, orders: List[InFlightOrder]):
        """
        Fills from /account/trades: one account-wide read (every pair, no `symbol`) records the fills of every order
        this bot tracks; `orders` only says whether there is anything to read. Trades of orders the bot does not track
        are skipped quietly. A read that fails is logged and keeps what it had read; the next poll starts again where
        the reading stopped.
        """
        if not any(order.exchange_order_id for order in orders):
            return
        async with self._account_trades_lock:
            try:
                await self._read_account_trades()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._connector._log_failed_request(
                    f"Failed to read the account trades (fills of "
                    f"{', '.join(order.client_order_id for order in orders)}); reading again from the same point at "
                    f"the next poll", error)

    async def _read_account_trades(self):
        """
        Reads the account trades since the cursor (less TRADES_SINCE_MARGIN_MS, so that trades recorded a little late
        are never skipped; fills already recorded are dropped by their trade id), page by page. The cursor moves as
        far as the trades read, and to the time of the first request once every trade is read.
        """
        request_time_ms = int(self._connector._time_synchronizer.time() * 1e3)
        start_ms = self._account_trades_start_ms(request_time_ms)
        pages = AccountTradesPages(self._fetch_account_trades_page,
                                   since_ms=max(start_ms - self.TRADES_SINCE_MARGIN_MS, 0))
        async for trades in pages.pages():
            self._record_account_trades(trades)
            if pages.read_until_ms is not None:
                self.trades_cursor_ms = max(start_ms, pages.read_until_ms)
        if pages.complete:
            self.trades_cursor_ms = request_time_ms
            self._trades_truncation_logged = False
            self._read_again_fills_not_found(request_time_ms)
        elif pages.truncated:
            if not self._trades_truncation_logged:
                self._trades_truncation_logged = True
                self.logger().warning(
                    f"NonKYC lists /account/trades {pages.order or 'in one millisecond'} and more trades than its skip "
                    f"limit (500) lets read follow {pages.since_ms}: the older ones cannot be read now, so the next "
                    f"poll reads from the same point again. Their fills can still arrive through the private stream.")
            self._complete_filled_orders_beyond_reach(pages.oldest_read_ms)
        else:
            self.logger().info(f"Read {pages.requests} pages of account trades in this poll; the next poll goes on "
                               f"from {self.trades_cursor_ms}.")

    def _complete_filled_orders_beyond_reach(self, oldest_read_ms: Optional[int]):
        """
        After a read that NonKYC's paging limits stopped before the oldest trades (newest first, more than 1 000
        trades after `since`): an order NonKYC reports filled, created before the oldest trade read, whose missing
        fills no private report brought either, would wait for them forever. It completes with one fill built from
        the order (`NonkycOrderUpdates.synthesized_fill`); the trades read before this decision are recorded first.
        """
        connector = self._connector
        now_ms = int(connector._time_synchronizer.time() * 1e3)
        for order in list(connector.in_flight_orders.values()):
            if (not connector._order_tracker.is_waiting_for_fills(order.client_order_id)
                    or (oldest_read_ms is not None and creation_ms(order, now_ms) >= oldest_read_ms)):
                continue
            executed = self._reported_executed.get(order.client_order_id) or order.amount
            price, price_source = synthesized_fill_price(order, self._reported_orders.get(order.client_order_id))
            schema = connector.trade_fee_schema()
            fee_rate = (schema.taker_percent_fee_decimal if order.order_type is OrderType.MARKET
                        else schema.maker_percent_fee_decimal)
            fill = (connector._order_updates.synthesized_fill(order, executed, price, fee_rate, now_ms / 1e3)
                    if price is not None else None)
            if fill is None:
                continue
            quantity, fee = fill.fill_base_amount.normalize(), fill.fee.flat_fees[0].amount.normalize()
            self.logger().warning(
                f"Order {order.client_order_id} ({order.trading_pair}, exchange id {order.exchange_order_id}) is "
                f"filled on NonKYC ({executed.normalize():f} {order.base_asset}) but {quantity:f} of its fills are "
                f"older than the {CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT + CONSTANTS.MAX_PAGE_SKIP} newest account "
                f"trades /account/trades lets read, and no private report brought them: recording one fill of "
                f"{quantity:f} at {price} ({price_source}) with an estimated fee of {fee:f} {order.quote_asset} (the "
                f"market's fee rate, {(fee_rate * 100).normalize():f} %), trade id {fill.trade_id}.")
            self.process_trade_update(fill)

    def _account_trades_start_ms(self, now_ms: int) -> int:
        """The cursor, or the creation of the oldest order with fills to read when there is no (older) cursor."""
        orders = [order for order in self._connector._order_tracker.all_fillable_orders.values()
                  if order.exchange_order_id]
        oldest_order_ms = min((creation_ms(order, now_ms) for order in orders), default=now_ms)
        return oldest_order_ms if self.trades_cursor_ms is None else max(self.trades_cursor_ms, oldest_order_ms)

    async def _fetch_account_trades_page(self, params: Dict[str, Any]) -> List[Any]:
        answer = await self._connector._api_get(path_url=CONSTANTS.ACCOUNT_TRADES_PATH_URL, params=params,
                                                is_auth_required=True)
        return self._connector._list_in_answer(answer, CONSTANTS.ACCOUNT_TRADES_PATH_URL)

    def _record_account_trades(self, trades: List[Any]):
        orders = self._connector._order_tracker.all_fillable_orders_by_exchange_order_id
        for trade_update in self._trade_updates_of_orders(trades, orders):
            self.process_trade_update(trade_update)

    def _trade_updates_of_orders(self, trades: List[Any], orders: Dict[str, InFlightOrder]) -> List[TradeUpdate]:
        """The fills among account trades of the orders given by exchange id; other trades are skipped quietly."""
        trade_updates = []
        for trade in trades:
            order = orders.get(str(trade.get("orderid"))) if isinstance(trade, dict) else None
            if order is None:
                continue  # a trade of an order this bot does not track
            try:
                trade_updates.append(self._connector._order_updates.trade_update_from_account_trade(
                    order, trade, default_timestamp=self._connector.current_timestamp))
            except Exception:
                self.logger().exception(f"Skipping malformed NonKYC trade {trade} of order {order.client_order_id} "
                                        f"({order.trading_pair}).")
        return trade_updates

    def _read_again_fills_not_found(self, now_ms: int):
        """
        After a complete read, a tracked order whose filled amount (as NonKYC reports it) is still above its recorded
        fills has fills the reading missed (e.g. trades made before its exchange id was known): the cursor goes back
        to the order's creation, once for each filled amount reported.
        """
        for order in list(self._connector.in_flight_orders.values()):
            reported = self._reported_executed.get(order.client_order_id)
            if (reported is None or order.executed_amount_base >= reported
                    or self._fill_rereads.get(order.client_order_id, Decimal(-1)) >= reported):
                continue
            self._fill_rereads[order.client_order_id] = reported
            self.trades_cursor_ms = min(self.trades_cursor_ms, creation_ms(order, now_ms))
            self.logger().info(
                f"NonKYC reports {reported} {order.base_asset} filled for order {order.client_order_id} "
                f"({order.trading_pair}), but the account trades read so far hold {order.executed_amount_base}: the "
                f"next poll reads them again from the order's creation.")

    async def all_trade_updates_for_order(self, order: InFlightOrder) -> List[TradeUpdate]:
        """All the fills of one order (its pair's account trades since its creation; the polls do not use this)."""
        if not order.exchange_order_id:
            return []
        symbol = await self._connector.exchange_symbol_associated_to_pair(trading_pair=order.trading_pair)
        now_ms = int(self._connector._time_synchronizer.time() * 1e3)

        async def fetch(params: Dict[str, Any]) -> List[Any]:
            return await self._fetch_account_trades_page({"symbol": symbol, **params})

        pages = AccountTradesPages(fetch, since_ms=max(creation_ms(order, now_ms) - self.TRADES_SINCE_MARGIN_MS, 0))
        trade_updates = []
        async for trades in pages.pages():
            trade_updates.extend(self._trade_updates_of_orders(trades, {order.exchange_order_id: order}))
        return trade_updates


def creation_ms(order: InFlightOrder, now_ms: int) -> int:
    """An order's creation in ms; a day before `now_ms` when it is unknown."""
    created = order.creation_timestamp
    if created and not math.isnan(created) and created > 0:
        return int(created * 1e3)
    return now_ms - 24 * 60 * 60 * 1000
