"""
`cancel_all` for NonKYC: what Hummingbot calls at `stop` (`cancel_all(20 s)`) and at start for dangling orders
(`cancel_all(10 s)`).

Hummingbot's base sends one `/cancelorder` per order, at the 5 requests/s budget and behind the status polls: 100
orders take more than 20 s. Here the key's active orders are listed once (`/account/orders`) and, for a pair and side
where every active order is one this bot tracks, one `POST /cancelallorders {symbol, side}` cancels them all; the
other orders go one by one. While a `cancel_all` runs, the connector's other private requests and the status poll's
clock request wait for it (`CancelsFirst`), so that the cancels have the request budget to themselves.

- `plan_cancels` (pure) decides which (pair, side) go by `/cancelallorders` and which orders one by one.
- `NonkycCancelAll` runs the plan with the connector and returns a `CancellationResult` per order, true only when the
  exchange confirmed the cancel (the `ids` of `/cancelallorders`, a cancel answer, or a report or listing that made
  the order cancelled). Unconfirmed orders stay tracked and are logged by client id with what is known of them.

The window: another bot on the same key can place an order on a pair between the listing and its
`/cancelallorders`, which would cancel it too. A `/cancelallorders` is therefore sent only within
`CANCEL_ALL_LISTING_MAX_AGE` seconds of the listing it relies on (otherwise the pair is listed again), the bulk cancels
go first, right after the listing, and orders of another bot that it cancelled are logged.
"""
import asyncio
import contextvars
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.core.data_type.cancellation_result import CancellationResult
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate

if TYPE_CHECKING:  # pragma: no cover
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange

SIDE_ALL = "all"
SIDES = (CONSTANTS.SIDE_BUY, CONSTANTS.SIDE_SELL)

# True in the task of a running cancel_all and in the tasks it starts: their requests never wait for it.
_IN_CANCEL_ALL: contextvars.ContextVar[bool] = contextvars.ContextVar("nonkyc_in_cancel_all", default=False)


# === The plan ===

@dataclass(frozen=True)
class BulkCancel:
    """One `POST /cancelallorders {symbol, side}`: `orders` are every active order of the key on that pair and side."""
    symbol: str  # the exchange's symbol, as the listing gives it (`BTC/USDT`)
    side: str  # "all", "buy" or "sell"
    orders: Tuple[InFlightOrder, ...]


@dataclass
class CancelPlan:
    bulk: List[BulkCancel] = field(default_factory=list)
    one_by_one: List[InFlightOrder] = field(default_factory=list)
    # The exchange id of every order the listing showed active (by client id); a pending create gets its id here.
    listed_exchange_ids: Dict[str, str] = field(default_factory=dict)


def listed_symbol(entry: Dict[str, Any]) -> Optional[str]:
    """The exchange symbol of a listed order (`symbol`, or `market.symbol`), or None."""
    symbol = entry.get("symbol")
    if not symbol and isinstance(entry.get("market"), dict):
        symbol = entry["market"].get("symbol")
    return str(symbol) if symbol else None


def listed_side(entry: Dict[str, Any]) -> Optional[str]:
    side = str(entry.get("side") or "").strip().lower()
    return side if side in SIDES else None


def order_side(order: InFlightOrder) -> str:
    return CONSTANTS.SIDE_BUY if order.trade_type is TradeType.BUY else CONSTANTS.SIDE_SELL


def plan_cancels(orders: Sequence[InFlightOrder], active_orders: Sequence[Any], listing_complete: bool) -> CancelPlan:
    """
    Which of `orders` (the tracked orders to cancel) go by `/cancelallorders` and which one by one, from the key's
    active orders (`/account/orders?status=active`, every pair). A pair and side goes by `/cancelallorders` only when
    every active order the listing shows there is one of `orders`; a pair whose both sides qualify takes one request
    (side "all"). Orders the listing does not show (a create still pending, an order finished meanwhile) and orders
    where another order (another bot's) is active go one by one; so does everything when the listing is incomplete
    or shows an order whose pair cannot be read.
    """
    plan = CancelPlan()
    ours, others, unreadable_other = _sort_listing(plan, orders, active_orders)
    if unreadable_other or not listing_complete:
        plan.one_by_one.extend(order for group in ours.values() for order in group)
    else:
        _plan_bulk_cancels(plan, ours, others)
    planned = {order.client_order_id for order in plan.one_by_one}
    planned.update(order.client_order_id for bulk in plan.bulk for order in bulk.orders)
    plan.one_by_one.extend(order for order in orders if order.client_order_id not in planned)
    return plan


def _sort_listing(plan: CancelPlan, orders: Sequence[InFlightOrder], active_orders: Sequence[Any]) -> Tuple[
        Dict[Tuple[str, str], List[InFlightOrder]], Set[Tuple[Optional[str], Optional[str]]], bool]:
    """
    Sorts the listed active orders into ours by (symbol, side) and the (symbol, side) of the others; records the
    exchange ids of ours in `plan` and sends ours whose pair or side the listing does not confirm one by one. Also
    says whether the listing holds an entry of another order whose pair cannot be read.
    """
    by_client_id = {order.client_order_id: order for order in orders}
    by_exchange_id = {order.exchange_order_id: order for order in orders if order.exchange_order_id}
    ours: Dict[Tuple[str, str], List[InFlightOrder]] = {}
    others: Set[Tuple[Optional[str], Optional[str]]] = set()  # (symbol, side) with another order; side None: both
    unreadable_other = False
    for entry in active_orders:
        if not isinstance(entry, dict):
            unreadable_other = True
            continue
        order = by_client_id.get(entry.get("userProvidedId")) or by_exchange_id.get(str(entry.get("id") or ""))
        symbol, side = listed_symbol(entry), listed_side(entry)
        if order is None:
            unreadable_other = unreadable_other or symbol is None
            others.add((symbol, side))
            continue
        if entry.get("id"):
            plan.listed_exchange_ids[order.client_order_id] = str(entry["id"])
        if symbol is None or side != order_side(order):
            plan.one_by_one.append(order)
            continue
        ours.setdefault((symbol, side), []).append(order)
    return ours, others, unreadable_other


def _plan_bulk_cancels(plan: CancelPlan, ours: Dict[Tuple[str, str], List[InFlightOrder]],
                       others: Set[Tuple[Optional[str], Optional[str]]]):
    for symbol in sorted({symbol for symbol, _ in ours}):
        free_sides = [side for side in SIDES if (symbol, side) not in others and (symbol, None) not in others]
        if len(free_sides) == len(SIDES):
            orders = tuple(order for side in SIDES for order in ours.get((symbol, side), []))
            plan.bulk.append(BulkCancel(symbol=symbol, side=SIDE_ALL, orders=orders))
            continue
        for side in SIDES:
            orders = ours.get((symbol, side), [])
            if not orders:
                continue
            if side in free_sides:
                plan.bulk.append(BulkCancel(symbol=symbol, side=side, orders=tuple(orders)))
            else:
                plan.one_by_one.extend(orders)


# === Cancels go first ===

class CancelsFirst:
    """
    While a cancel_all runs, the requests that call `wait_for_cancels` (the connector's private requests and the
    status poll's clock request) wait until it ends, unless they are its own. The throttler serves whoever asks when
    there is room, so the cancels then have the request budget to themselves.
    """

    def __init__(self):
        self._running = 0
        self._ended = asyncio.Event()
        self._ended.set()

    @property
    def running(self) -> bool:
        return self._running > 0

    @contextmanager
    def cancelling(self) -> Iterator[None]:
        """Wraps a cancel_all: its requests (in this task and the tasks it starts) go ahead of the others."""
        token = _IN_CANCEL_ALL.set(True)
        self._running += 1
        self._ended.clear()
        try:
            yield
        finally:
            _IN_CANCEL_ALL.reset(token)
            self._running -= 1
            if self._running == 0:
                self._ended.set()

    async def wait_for_cancels(self):
        while self._running and not _IN_CANCEL_ALL.get():
            await self._ended.wait()


# === The execution ===

class NonkycCancelAll:
    """Runs `cancel_all` for a connector (see the module's description)."""

    def __init__(self, connector: "NonkycExchange", clock: Callable[[], float] = time.monotonic):
        self._connector = connector
        self._clock = clock
        self.cancels_first = CancelsFirst()

    def logger(self) -> logging.Logger:
        return self._connector.logger()

    async def wait_for_cancels(self):
        """Called by the requests that must wait while a cancel_all runs."""
        await self.cancels_first.wait_for_cancels()

    async def cancel_all(self, timeout_seconds: float) -> List[CancellationResult]:
        orders = [order for order in self._connector.in_flight_orders.values() if not order.is_done]
        if not orders:
            return []
        run = _CancelRun(self._connector, orders, self._clock)
        started = self._clock()
        task = asyncio.ensure_future(self._run_first(run))
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout_seconds)
        finally:
            if not task.done():
                task.cancel()
                run.timed_out = True
            await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            self.logger().error("Unexpected error cancelling all orders; the orders not confirmed stay tracked.",
                                exc_info=task.exception())
        return run.results(elapsed=self._clock() - started, timeout_seconds=timeout_seconds)

    async def _run_first(self, run: "_CancelRun"):
        with self.cancels_first.cancelling():
            await run.execute()


class _CancelRun:
    """One cancel_all: the listing, the bulk cancels, the cancels one by one, and what was confirmed."""

    def __init__(self, connector: "NonkycExchange", orders: List[InFlightOrder], clock: Callable[[], float]):
        self._connector = connector
        self._orders = orders
        self._clock = clock
        self._confirmed: Set[str] = set()
        self._notes: Dict[str, str] = {}
        self._listed_exchange_ids: Dict[str, str] = {}
        self.requests: Dict[str, int] = {}
        self.timed_out = False

    def logger(self) -> logging.Logger:
        return self._connector.logger()

    async def execute(self):
        one_by_one: List[InFlightOrder] = []
        pending = list(self._orders)
        for _ in range(CONSTANTS.CANCEL_ALL_MAX_LISTINGS):
            listing = await self._list_active_orders()
            if listing is None:
                break
            plan = plan_cancels(pending, *listing)
            listed_at = self._clock()
            self._listed_exchange_ids.update(plan.listed_exchange_ids)
            for order in plan.one_by_one:
                if order.client_order_id not in plan.listed_exchange_ids:
                    self._notes[order.client_order_id] = "not listed as active by NonKYC"
            one_by_one.extend(plan.one_by_one)
            stale: List[InFlightOrder] = []
            for bulk in plan.bulk:
                if self._clock() - listed_at > CONSTANTS.CANCEL_ALL_LISTING_MAX_AGE:
                    stale.extend(bulk.orders)  # listed again before its /cancelallorders (see the module)
                    continue
                one_by_one.extend(await self._cancel_in_bulk(bulk))
            pending = [order for order in stale if not order.is_done]
            if not pending:
                break
        one_by_one.extend(pending)
        await asyncio.gather(*(self._cancel_one(order) for order in one_by_one if not order.is_done))

    def _count(self, path: str):
        self.requests[path] = self.requests.get(path, 0) + 1

    async def _list_active_orders(self) -> Optional[Tuple[List[Any], bool]]:
        self._count(CONSTANTS.ACCOUNT_ORDERS_PATH_URL)
        try:
            return await self._connector._reconciliation.fetch_active_orders()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._connector._log_failed_request(
                f"Could not list NonKYC's active orders to cancel them by pair; cancelling the {len(self._orders)} "
                f"orders one by one", error)
            return None

    async def _cancel_in_bulk(self, bulk: BulkCancel) -> List[InFlightOrder]:
        """Sends one /cancelallorders; returns the orders to cancel one by one when it cannot confirm them."""
        description = f"{len(bulk.orders)} orders on {bulk.symbol} (side {bulk.side})"
        self._count(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL)
        try:
            answer = await self._connector._api_post(
                path_url=CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL, data={"symbol": bulk.symbol, "side": bulk.side},
                is_auth_required=True)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._connector._log_failed_request(f"Cancelling the {description} with /cancelallorders failed; "
                                                f"cancelling them one by one", error)
            return list(bulk.orders)
        ids = answer.get("ids") if isinstance(answer, dict) and answer.get("success") is not False else None
        if not isinstance(ids, list):
            self.logger().warning(f"Unexpected answer cancelling the {description} with /cancelallorders: {answer}; "
                                  f"cancelling them one by one.")
            return list(bulk.orders)
        cancelled_ids = {str(order_id) for order_id in ids}
        ours = set()
        for order in bulk.orders:
            exchange_id = self._listed_exchange_ids.get(order.client_order_id) or order.exchange_order_id
            ours.add(exchange_id)
            if exchange_id in cancelled_ids:
                self._confirm(order, exchange_id)
            elif not order.is_done:
                self._notes[order.client_order_id] = ("listed active, but not among the orders /cancelallorders "
                                                      "cancelled (filled or cancelled meanwhile?)")
        others = sorted(cancelled_ids - ours)
        if others:
            self.logger().warning(
                f"/cancelallorders on {bulk.symbol} (side {bulk.side}) also cancelled {len(others)} order(s) this bot "
                f"does not track, placed on the same API key after the listing it relied on: {', '.join(others)}.")
        return []

    def _confirm(self, order: InFlightOrder, exchange_order_id: Optional[str]):
        self._confirmed.add(order.client_order_id)
        if order.is_done:
            return
        timestamp = self._connector.current_timestamp
        if timestamp is None or timestamp != timestamp:  # NaN before the clock ticks
            timestamp = self._connector._time()
        self._connector._order_tracker.process_order_update(OrderUpdate(
            client_order_id=order.client_order_id, exchange_order_id=exchange_order_id or order.exchange_order_id,
            trading_pair=order.trading_pair, update_timestamp=timestamp, new_state=OrderState.CANCELED))

    async def _cancel_one(self, order: InFlightOrder):
        """/cancelorder through the connector's own path (it applies the CANCELED state and handles not-found)."""
        self._count(CONSTANTS.CANCEL_ORDER_PATH_URL)
        if await self._connector._execute_order_cancel(order) is not None:
            self._confirmed.add(order.client_order_id)
        elif not order.is_done and order.client_order_id not in self._notes:
            self._notes[order.client_order_id] = "its /cancelorder got no confirmation (see the log above)"

    def results(self, elapsed: float, timeout_seconds: float) -> List[CancellationResult]:
        cancelled = [order for order in self._orders
                     if order.client_order_id in self._confirmed or order.current_state is OrderState.CANCELED]
        cancelled_ids = {order.client_order_id for order in cancelled}
        unconfirmed = [order for order in self._orders if order.client_order_id not in cancelled_ids]
        requests = ", ".join(f"{count} {path}" for path, count in sorted(self.requests.items()))
        self.logger().info(f"cancel_all: {len(cancelled)} of {len(self._orders)} orders cancelled on NonKYC in "
                           f"{elapsed:.2f} s ({requests}).")
        if unconfirmed:
            self._log_unconfirmed(unconfirmed, timeout_seconds)
        return ([CancellationResult(order.client_order_id, True) for order in cancelled]
                + [CancellationResult(order.client_order_id, False) for order in unconfirmed])

    def _log_unconfirmed(self, orders: List[InFlightOrder], timeout_seconds: float):
        waiting = self._connector._order_tracker.is_waiting_for_fills
        details = []
        for order in orders:
            if waiting(order.client_order_id):
                note = "NonKYC reports it filled; it completes once its fills are recorded"
            elif order.is_done:
                note = f"ended {order.current_state.name} meanwhile"
            else:
                note = self._notes.get(order.client_order_id) or (
                    f"no answer within the {timeout_seconds:g} s of cancel_all" if self.timed_out
                    else "not confirmed")
            details.append(f"{order.client_order_id} ({order.trade_type.name} {order.amount} {order.trading_pair} "
                           f"at {order.price}, exchange id {order.exchange_order_id}, state "
                           f"{order.current_state.name}: {note})")
        self.logger().warning(
            f"cancel_all could not confirm the cancellation of {len(orders)} order(s); they stay tracked and are "
            f"cancelled or reconciled by the next pass: {'; '.join(details)}")
