"""
Accounts, orders and the matching engine of the sandbox exchange.

The engine is synchronous: every operation runs to completion and then tells its listeners (the WebSocket hub) what
changed — order reports, public trades, order book levels and balances — in the order it happened. Operations can be
grouped with `batch()` so that, for example, a market maker's re-quote becomes one order book update.
"""
import logging
import random
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Protocol, Tuple

from nonkyc_sandbox.candles import CandleHistory
from nonkyc_sandbox.markets import MarketSpec, decimals_of, object_id

logger = logging.getLogger(__name__)

FEE_RATE = Decimal("0.002")
ZERO = Decimal(0)

# Error codes of the NonKYC API.
ERROR_BAD_REQUEST = 400
ERROR_AUTH_REQUIRED = 1001
ERROR_AUTH_FAILED = 1002
ERROR_MARKET_NOT_FOUND = 2001
ERROR_VALIDATION = 10001
ERROR_INSUFFICIENT_FUNDS = 20001
ERROR_ORDER_NOT_FOUND = 20002
ERROR_DUPLICATE_CLIENT_ORDER_ID = 20008

STATUS_NEW = "New"
STATUS_ACTIVE = "Active"
STATUS_PARTLY_FILLED = "Partly Filled"
STATUS_FILLED = "Filled"
STATUS_CANCELLED = "Cancelled"
ACTIVE_STATUSES = (STATUS_NEW, STATUS_ACTIVE, STATUS_PARTLY_FILLED)

BUY = "buy"
SELL = "sell"
LIMIT = "limit"
MARKET = "market"

PUBLIC_TRADES_KEPT = 200
REST_SEQUENCE_START = 6064

ASSET_NAMES = {
    "BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether", "SAL": "Salvium", "NKYC": "NonKYC Token",
    "DOGE": "Dogecoin", "USDT-TRC20": "Tether (TRC20)",
}


class ApiError(Exception):
    """An error answered with the NonKYC error body `{"error": {"code", "message", "description"?}}`."""

    def __init__(self, code: int, message: str, description: Optional[str] = None, http_status: int = 400):
        super().__init__(f"{code} {message}" + (f": {description}" if description else ""))
        self.code = code
        self.message = message
        self.description = description
        self.http_status = http_status

    def body(self) -> Dict[str, Any]:
        error: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.description is not None:
            error["description"] = self.description
        return {"error": error}


def validation_error(description: str) -> ApiError:
    return ApiError(ERROR_VALIDATION, "Validation error", description)


def plain(value: Decimal) -> str:
    """A decimal as a plain string (never in exponent notation)."""
    return format(value, "f")


def amount_string(value: Decimal) -> str:
    """An exact amount without trailing zeros, like the live fees (`"0.074808339846"`)."""
    return plain(value.normalize())


def balance_string(value: Decimal) -> str:
    """A balance with at least 8 decimals, as the exchange shows them (`"5.82701928"`)."""
    if decimals_of(value) <= 8:
        return plain(value.quantize(Decimal("1e-8")))
    return plain(value.normalize())


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Balance:
    available: Decimal = ZERO
    held: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.available + self.held


@dataclass
class Account:
    name: str
    api_key: str
    api_secret: str
    balances: Dict[str, Balance] = field(default_factory=dict)
    simulated: bool = False
    last_nonce: int = 0

    def balance(self, asset: str) -> Balance:
        if asset not in self.balances:
            self.balances[asset] = Balance()
        return self.balances[asset]


@dataclass
class AccountSpec:
    """An account to create at start-up: `balances` maps assets to available amounts."""
    name: str
    api_key: str
    api_secret: str
    balances: Dict[str, Any] = field(default_factory=dict)
    simulated: bool = False


@dataclass
class Order:
    id: str
    account: str
    market: MarketSpec
    side: str
    type: str
    quantity: Decimal
    price: Optional[Decimal]
    user_provided_id: Optional[str]
    sequence: int
    created_at: int
    updated_at: int
    status: str = STATUS_NEW
    executed_quantity: Decimal = ZERO
    executed_notional: Decimal = ZERO
    held: Decimal = ZERO  # reserved funds: quote for a buy, base for a sell

    @property
    def remain(self) -> Decimal:
        return self.quantity - self.executed_quantity

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def symbol(self) -> str:
        return self.market.symbol

    def display_price(self) -> str:
        if self.price is not None:
            return self.market.format_price(self.price)
        if self.executed_quantity > 0:  # a market order shows its average price
            return self.market.format_price(self.executed_notional / self.executed_quantity)
        return "0"

    def to_json(self) -> Dict[str, Any]:
        market = self.market
        return {
            "id": self.id,
            "userProvidedId": self.user_provided_id,
            "market": {"id": market.id, "symbol": market.symbol},
            "symbol": market.symbol,
            "side": self.side,
            "type": self.type,
            "price": self.display_price(),
            "quantity": market.format_quantity(self.quantity),
            "executedQuantity": market.format_quantity(self.executed_quantity),
            "remainQuantity": market.format_quantity(self.remain),
            "status": self.status,
            "isActive": self.is_active,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass
class Trade:
    """One fill between a resting (maker) and an incoming (taker) order."""
    id: str
    market: MarketSpec
    price: Decimal
    quantity: Decimal
    taker_side: str
    timestamp: int
    maker_order_id: str
    taker_order_id: str

    def to_public_json(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "price": self.market.format_price(self.price),
            "quantity": self.market.format_quantity(self.quantity),
            "side": self.taker_side,
            "timestamp": iso_timestamp(self.timestamp),
            "timestampms": self.timestamp,
        }


@dataclass
class AccountTrade:
    """One side of a trade as an account sees it in `/account/trades`."""
    id: str
    market: MarketSpec
    order_id: str
    side: str
    triggered_by: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    total_with_fee: Decimal
    timestamp: int

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "market": {"id": self.market.id, "symbol": self.market.symbol},
            "orderid": self.order_id,
            "side": self.side.capitalize(),
            "triggeredBy": self.triggered_by,
            "price": self.market.format_price(self.price),
            "quantity": self.market.format_quantity(self.quantity),
            "fee": amount_string(self.fee),
            "totalWithFee": amount_string(self.total_with_fee),
            "timestamp": self.timestamp,
        }


def iso_timestamp(ms: int) -> str:
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class EngineListener(Protocol):
    def on_report(self, account: str, params: Dict[str, Any]) -> None: ...

    def on_book_update(self, market: MarketSpec, bids: List[Tuple[Decimal, Decimal]],
                       asks: List[Tuple[Decimal, Decimal]]) -> None: ...

    def on_trades(self, market: MarketSpec, trades: List[Trade]) -> None: ...

    def on_balances(self, account: str, assets: List[str]) -> None: ...


class Book:
    """Price levels of one market; each level is a FIFO list of resting orders (price-time priority)."""

    def __init__(self):
        self.bids: Dict[Decimal, List[Order]] = {}
        self.asks: Dict[Decimal, List[Order]] = {}

    def side(self, side: str) -> Dict[Decimal, List[Order]]:
        return self.bids if side == BUY else self.asks

    def best_price(self, side: str) -> Optional[Decimal]:
        levels = self.side(side)
        if not levels:
            return None
        return max(levels) if side == BUY else min(levels)

    def sorted_levels(self, side: str) -> List[Tuple[Decimal, List[Order]]]:
        levels = self.side(side)
        return sorted(levels.items(), key=lambda item: item[0], reverse=(side == BUY))

    def aggregated(self, side: str, limit: Optional[int] = None) -> List[Tuple[Decimal, Decimal]]:
        result = [(price, sum((order.remain for order in orders), ZERO)) for price, orders in self.sorted_levels(side)]
        return result[:limit] if limit else result

    def level_quantity(self, side: str, price: Decimal) -> Decimal:
        return sum((order.remain for order in self.side(side).get(price, [])), ZERO)

    def add(self, order: Order) -> None:
        self.side(order.side).setdefault(order.price, []).append(order)

    def remove(self, order: Order) -> None:
        levels = self.side(order.side)
        level = levels.get(order.price)
        if level and order in level:
            level.remove(order)
            if not level:
                del levels[order.price]


@dataclass
class MarketStats:
    last_price: Decimal
    high: Optional[Decimal] = None
    low: Optional[Decimal] = None
    base_volume: Decimal = ZERO
    quote_volume: Decimal = ZERO


class _PendingEvents:
    def __init__(self):
        self.reports: List[Tuple[str, Dict[str, Any]]] = []
        self.book_levels: Dict[str, Dict[str, set]] = {}
        self.trades: Dict[str, List[Trade]] = {}
        self.balances: Dict[str, List[str]] = {}

    def touch_level(self, symbol: str, side: str, price: Decimal) -> None:
        self.book_levels.setdefault(symbol, {BUY: set(), SELL: set()})[side].add(price)

    def touch_balance(self, account: str, *assets: str) -> None:
        changed = self.balances.setdefault(account, [])
        for asset in assets:
            if asset not in changed:
                changed.append(asset)


class MatchingEngine:
    def __init__(self, markets: List[MarketSpec], accounts: List[AccountSpec], seed: int = 0,
                 fee_rate: Decimal = FEE_RATE, clock: Callable[[], int] = now_ms,
                 max_user_provided_id_length: int = 64):
        self.markets: Dict[str, MarketSpec] = {market.symbol: market for market in markets}
        self.fee_rate = fee_rate
        self.clock = clock
        self.max_user_provided_id_length = max_user_provided_id_length
        self.listeners: List[EngineListener] = []
        self.accounts: Dict[str, Account] = {}
        self.accounts_by_key: Dict[str, Account] = {}
        self.account_orders: Dict[str, List[Order]] = {}
        self.account_trades: Dict[str, List[AccountTrade]] = {}
        self.books: Dict[str, Book] = {symbol: Book() for symbol in self.markets}
        self.orders: Dict[str, Order] = {}
        self.public_trades: Dict[str, Deque[Trade]] = {
            symbol: deque(maxlen=PUBLIC_TRADES_KEPT) for symbol in self.markets}
        self.stats: Dict[str, MarketStats] = {
            symbol: MarketStats(last_price=market.initial_price) for symbol, market in self.markets.items()}
        self.rest_sequence: Dict[str, int] = {symbol: REST_SEQUENCE_START for symbol in self.markets}
        self.candles = CandleHistory(self.markets)
        self._ids = random.Random(f"ids-{seed}")
        self._order_sequence = 0
        self._batch_depth = 0
        self._pending = _PendingEvents()
        for spec in accounts:
            self.add_account(spec)

    # ----- accounts -----

    def add_account(self, spec: AccountSpec) -> Account:
        account = Account(name=spec.name, api_key=spec.api_key, api_secret=spec.api_secret, simulated=spec.simulated)
        for asset, amount in spec.balances.items():
            account.balance(asset).available = Decimal(str(amount))
        self.accounts[spec.name] = account
        self.accounts_by_key[spec.api_key] = account
        self.account_orders.setdefault(spec.name, [])
        self.account_trades.setdefault(spec.name, [])
        return account

    def account(self, name_or_key: str) -> Account:
        account = self.accounts.get(name_or_key) or self.accounts_by_key.get(name_or_key)
        if account is None:
            raise KeyError(f"Unknown account {name_or_key!r}")
        return account

    def set_balance(self, account_name: str, asset: str, available: Decimal) -> None:
        account = self.account(account_name)
        account.balance(asset).available = Decimal(str(available))
        self._pending.touch_balance(account.name, asset)
        self._flush_if_idle()

    # ----- ids -----

    def new_id(self) -> str:
        while True:
            candidate = f"{self._ids.getrandbits(96):024x}"
            if candidate not in self.orders:
                return candidate

    def prune_history(self, account_name: str, keep_orders: int = 1000, keep_trades: int = 1000) -> None:
        """Forgets all but the newest finished orders and fills of an account (the simulated traders create many)."""
        orders = self.account_orders[account_name]
        finished = [order for order in orders if not order.is_active]
        if len(finished) > keep_orders:
            forgotten = {id(order) for order in finished[:len(finished) - keep_orders]}
            for order in finished[:len(finished) - keep_orders]:
                self.orders.pop(order.id, None)
            self.account_orders[account_name] = [order for order in orders if id(order) not in forgotten]
        trades = self.account_trades[account_name]
        if len(trades) > keep_trades:
            del trades[:len(trades) - keep_trades]

    # ----- grouping of events -----

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Groups several operations so that listeners hear about their changes once, at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            self._flush_if_idle()

    def _flush_if_idle(self) -> None:
        if self._batch_depth == 0:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, _PendingEvents()
        for account, params in pending.reports:
            self._notify("on_report", account, params)
        for symbol, trades in pending.trades.items():
            self._notify("on_trades", self.markets[symbol], trades)
        for symbol, sides in pending.book_levels.items():
            book = self.books[symbol]
            bids = [(price, book.level_quantity(BUY, price)) for price in sorted(sides[BUY], reverse=True)]
            asks = [(price, book.level_quantity(SELL, price)) for price in sorted(sides[SELL])]
            if bids or asks:
                self.rest_sequence[symbol] += 1
                self._notify("on_book_update", self.markets[symbol], bids, asks)
        for account, assets in pending.balances.items():
            self._notify("on_balances", account, assets)

    def _notify(self, method: str, *args) -> None:
        for listener in list(self.listeners):
            try:
                getattr(listener, method)(*args)
            except Exception:  # a broken listener must not undo or block the operation that already happened
                logger.exception("Sandbox engine: listener %s.%s failed", type(listener).__name__, method)

    # ----- look-ups -----

    def market(self, symbol: Optional[str]) -> MarketSpec:
        market = self.markets.get(symbol or "")
        if market is None:
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found", f"Unknown symbol {symbol!r}")
        return market

    def find_order(self, account_name: str, reference: str) -> Order:
        """An order of the account by exchange id, else by userProvidedId; 20002 when neither matches."""
        order = self.orders.get(reference)
        if order is not None and order.account == account_name:
            return order
        for candidate in reversed(self.account_orders.get(account_name, [])):
            if candidate.user_provided_id is not None and candidate.user_provided_id == reference:
                return candidate
        raise ApiError(ERROR_ORDER_NOT_FOUND, "Order not found")

    def active_orders(self, account_name: str, symbol: Optional[str] = None) -> List[Order]:
        return [order for order in self.account_orders.get(account_name, [])
                if order.is_active and (symbol is None or order.symbol == symbol)]

    # ----- orders -----

    def create_order(self, account_name: str, symbol: Optional[str], side: Any, order_type: Any, quantity: Any,
                     price: Any = None, user_provided_id: Any = None, strict_validate: bool = False) -> Order:
        account = self.account(account_name)
        market = self.market(symbol)
        side, order_type = self._validate_side_and_type(market, side, order_type)
        quantity = self._validated_amount(market, "quantity", quantity, market.quantity_decimals, strict_validate)
        order_price = None
        if order_type == LIMIT:
            order_price = self._validated_amount(market, "price", price, market.price_decimals, strict_validate)
        if quantity < market.minimum_quantity:
            raise validation_error(
                f"Quantity {plain(quantity)} is below the minimum quantity {plain(market.minimum_quantity)}")
        market_cost = self._market_order_cost(market, side, quantity) if order_type == MARKET else None
        notional = order_price * quantity if order_price is not None else market_cost
        if market.is_min_quote_active and notional < market.min_quote:
            raise validation_error(f"Order total {plain(notional)} is below the minimum {plain(market.min_quote)}")
        user_provided_id = self._validated_user_provided_id(account, user_provided_id)
        self._check_funds(account, market, side, quantity, order_price, market_cost)
        return self._accept_order(account, market, side, order_type, quantity, order_price, user_provided_id)

    def cancel_order(self, account_name: str, reference: str) -> Tuple[Order, bool]:
        """
        Cancels an active order (by id or userProvidedId). Returns the order and whether it was active; an order that
        was already cancelled is returned as is; a filled or unknown one raises 20002.
        """
        try:
            order = self.find_order(account_name, reference)
        except ApiError:
            raise ApiError(ERROR_ORDER_NOT_FOUND, "Active order not found for cancellation")
        if order.status == STATUS_CANCELLED:
            return order, False
        if not order.is_active:
            raise ApiError(ERROR_ORDER_NOT_FOUND, "Active order not found for cancellation")
        self._cancel(order)
        self._flush_if_idle()
        return order, True

    def cancel_all(self, account_name: str, symbol: str, side: str = "all") -> List[Order]:
        market = self.market(symbol)
        side = (side or "all").lower()
        if side not in ("all", BUY, SELL):
            raise validation_error(f"Unknown side {side!r}")
        cancelled = []
        with self.batch():
            for order in self.active_orders(account_name, market.symbol):
                if side in ("all", order.side):
                    self._cancel(order)
                    cancelled.append(order)
        return cancelled

    # ----- validation -----

    @staticmethod
    def _validate_side_and_type(market: MarketSpec, side: Any, order_type: Any) -> Tuple[str, str]:
        if not market.tradeable:
            raise validation_error(f"Market {market.symbol} is paused")
        side = str(side or "").lower()
        order_type = str(order_type or "").lower()
        if side not in (BUY, SELL):
            raise validation_error(f"Invalid side {side!r}")
        if order_type not in (LIMIT, MARKET):
            raise validation_error(f"Invalid order type {order_type!r}")
        if order_type == MARKET and not market.allow_market_orders:
            raise validation_error(f"Market orders are not allowed on {market.symbol}")
        return side, order_type

    @staticmethod
    def _validated_amount(market: MarketSpec, name: str, raw: Any, decimals: int, strict: bool) -> Decimal:
        if raw is None or raw == "" or isinstance(raw, bool):
            raise validation_error(f"Missing {name}")
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            raise validation_error(f"Invalid {name} {raw!r}")
        if not value.is_finite() or value <= 0:
            raise validation_error(f"Invalid {name} {raw!r}")
        if decimals_of(value) > decimals:
            if strict:
                raise validation_error(f"The {name} {raw} has more than {decimals} decimals")
            value = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)
            if value <= 0:
                raise validation_error(f"Invalid {name} {raw!r}")
        return value

    def _validated_user_provided_id(self, account: Account, raw: Any) -> Optional[str]:
        if raw is None or raw == "":
            return None
        user_provided_id = str(raw)
        if len(user_provided_id) > self.max_user_provided_id_length:
            raise validation_error(
                f"userProvidedId is longer than {self.max_user_provided_id_length} characters")
        for order in self.account_orders[account.name]:
            if order.user_provided_id == user_provided_id:
                raise ApiError(ERROR_DUPLICATE_CLIENT_ORDER_ID, "Duplicate clientOrderId",
                               f"userProvidedId {user_provided_id} is already used")
        return user_provided_id

    def _market_order_cost(self, market: MarketSpec, side: str, quantity: Decimal) -> Decimal:
        """Quote amount a market order of `quantity` would trade against the book (without fees)."""
        remaining, cost = quantity, ZERO
        opposite = SELL if side == BUY else BUY
        for price, level_quantity in self.books[market.symbol].aggregated(opposite):
            fill = min(remaining, level_quantity)
            cost += fill * price
            remaining -= fill
            if remaining <= 0:
                break
        if remaining == quantity:
            raise validation_error(f"No liquidity for a market {side} on {market.symbol}")
        return cost

    def _check_funds(self, account: Account, market: MarketSpec, side: str, quantity: Decimal,
                     price: Optional[Decimal], market_cost: Optional[Decimal]) -> None:
        if side == BUY:
            needed = (price * quantity if price is not None else market_cost) * (1 + self.fee_rate)
            asset = market.quote
        else:
            needed = quantity
            asset = market.base
        available = account.balance(asset).available
        if available < needed:
            raise ApiError(ERROR_INSUFFICIENT_FUNDS, "Insufficient funds",
                           f"Needs {plain(needed)} {asset}, {plain(available)} available")

    # ----- execution -----

    def _accept_order(self, account: Account, market: MarketSpec, side: str, order_type: str, quantity: Decimal,
                      price: Optional[Decimal], user_provided_id: Optional[str]) -> Order:
        self._order_sequence += 1
        timestamp = self.clock()
        order = Order(id=self.new_id(), account=account.name, market=market, side=side, type=order_type,
                      quantity=quantity, price=price, user_provided_id=user_provided_id,
                      sequence=self._order_sequence, created_at=timestamp, updated_at=timestamp)
        self.orders[order.id] = order
        self.account_orders[account.name].append(order)
        if order_type == LIMIT:
            self._hold(account, order)
        self._report(order, "new")
        self._match(order)
        if order.remain > 0:
            if order_type == LIMIT:
                order.status = STATUS_ACTIVE if order.executed_quantity == 0 else STATUS_PARTLY_FILLED
                self.books[market.symbol].add(order)
                self._pending.touch_level(market.symbol, side, price)
            else:  # what a market order could not fill is cancelled
                order.status = STATUS_CANCELLED
                order.updated_at = self.clock()
                self._report(order, "canceled")
        self._flush_if_idle()
        return order

    def _hold(self, account: Account, order: Order) -> None:
        market = order.market
        if order.side == BUY:
            amount, asset = order.price * order.quantity * (1 + self.fee_rate), market.quote
        else:
            amount, asset = order.quantity, market.base
        balance = account.balance(asset)
        balance.available -= amount
        balance.held += amount
        order.held = amount
        self._pending.touch_balance(account.name, asset)

    def _release_hold(self, order: Order, amount: Decimal) -> None:
        asset = order.market.quote if order.side == BUY else order.market.base
        balance = self.accounts[order.account].balance(asset)
        amount = min(amount, order.held)
        balance.held -= amount
        balance.available += amount
        order.held -= amount
        self._pending.touch_balance(order.account, asset)

    def _match(self, taker: Order) -> None:
        book = self.books[taker.symbol]
        opposite = SELL if taker.side == BUY else BUY
        while taker.remain > 0:
            best = book.best_price(opposite)
            if best is None or (taker.type == LIMIT and (
                    (taker.side == BUY and best > taker.price) or (taker.side == SELL and best < taker.price))):
                break
            maker = book.side(opposite)[best][0]
            quantity = min(taker.remain, maker.remain)
            self._execute(maker, taker, best, quantity)
            if maker.remain == 0:
                book.remove(maker)
            self._pending.touch_level(taker.symbol, opposite, best)

    def _execute(self, maker: Order, taker: Order, price: Decimal, quantity: Decimal) -> None:
        market = taker.market
        timestamp = self.clock()
        trade = Trade(id=self.new_id(), market=market, price=price, quantity=quantity, taker_side=taker.side,
                      timestamp=timestamp, maker_order_id=maker.id, taker_order_id=taker.id)
        for order in (maker, taker):
            fee = price * quantity * self.fee_rate
            self._settle(order, price, quantity, fee)
            order.executed_quantity += quantity
            order.executed_notional += price * quantity
            order.status = STATUS_FILLED if order.remain == 0 else STATUS_PARTLY_FILLED
            order.updated_at = timestamp
            if order.remain == 0 and order.held > 0:
                self._release_hold(order, order.held)
            notional = price * quantity
            total = notional + fee if order.side == BUY else notional - fee
            self.account_trades[order.account].append(AccountTrade(
                id=trade.id, market=market, order_id=order.id, side=order.side, triggered_by=taker.side,
                price=price, quantity=quantity, fee=fee, total_with_fee=total, timestamp=timestamp))
            self._report(order, "trade", {
                "tradeId": trade.id,
                "tradeQuantity": market.format_quantity(quantity),
                "tradePrice": market.format_price(price),
                "tradeFee": amount_string(fee),
                "tradeTimestamp": timestamp,
            })
        self.public_trades[market.symbol].append(trade)
        self.candles.record(market.symbol, timestamp, price, quantity)
        self._pending.trades.setdefault(market.symbol, []).append(trade)
        stats = self.stats[market.symbol]
        stats.last_price = price
        stats.high = price if stats.high is None else max(stats.high, price)
        stats.low = price if stats.low is None else min(stats.low, price)
        stats.base_volume += quantity
        stats.quote_volume += price * quantity

    def _settle(self, order: Order, price: Decimal, quantity: Decimal, fee: Decimal) -> None:
        """Moves the funds of one side of a fill; the fee is paid in the quote asset."""
        account = self.accounts[order.account]
        market = order.market
        base, quote = account.balance(market.base), account.balance(market.quote)
        notional = price * quantity
        if order.side == BUY:
            if order.type == LIMIT:  # the reserve was taken at the limit price: release this fill's share
                self._release_hold(order, order.price * quantity * (1 + self.fee_rate))
            quote.available -= notional + fee
            base.available += quantity
        else:
            if order.type == LIMIT:
                base.held -= quantity
                order.held -= quantity
            else:
                base.available -= quantity
            quote.available += notional - fee
        self._pending.touch_balance(account.name, market.base, market.quote)

    def _cancel(self, order: Order) -> None:
        self.books[order.symbol].remove(order)
        self._pending.touch_level(order.symbol, order.side, order.price)
        if order.held > 0:
            self._release_hold(order, order.held)
        order.status = STATUS_CANCELLED
        order.updated_at = self.clock()
        self._report(order, "canceled")

    def _report(self, order: Order, report_type: str, extra: Optional[Dict[str, Any]] = None) -> None:
        params = order.to_json()
        if report_type == "new":
            params["status"] = STATUS_NEW
            params["isActive"] = True
        params["reportType"] = report_type
        if extra:
            params.update(extra)
        self._pending.reports.append((order.account, params))

    # ----- queries -----

    def query_orders(self, account_name: str, symbol: Optional[str] = None, status: Optional[str] = None,
                     since: Optional[int] = None, skip: int = 0, limit: int = 100) -> List[Order]:
        wanted = {
            None: None, "active": ACTIVE_STATUSES, "filled": (STATUS_FILLED,), "cancelled": (STATUS_CANCELLED,),
            "canceled": (STATUS_CANCELLED,),
        }
        if status is not None and status.lower() not in wanted:
            raise validation_error(f"Unknown status {status!r}")
        statuses = wanted[status.lower() if status else None]
        orders = [
            order for order in reversed(self.account_orders.get(account_name, []))
            if (symbol is None or order.symbol == symbol)
            and (statuses is None or order.status in statuses)
            and (since is None or order.created_at >= since)
        ]
        return orders[skip:skip + limit]

    def query_trades(self, account_name: str, symbol: Optional[str] = None, since: Optional[int] = None,
                     skip: int = 0, limit: int = 100) -> List[AccountTrade]:
        """The account's trades (of `symbol`, from `since` ms on), newest first."""
        trades = self.account_trades.get(account_name, [])
        trades = [
            trade for trade in reversed(trades)
            if (symbol is None or trade.market.symbol == symbol) and (since is None or trade.timestamp >= since)
        ]
        return trades[skip:skip + limit]

    def balances_json(self, account_name: str) -> List[Dict[str, Any]]:
        account = self.account(account_name)
        return [{
            "asset": asset,
            "name": ASSET_NAMES.get(asset, asset),
            "available": balance_string(balance.available),
            "held": balance_string(balance.held),
            "pending": balance_string(ZERO),
            "assetid": object_id("asset", asset),
        } for asset, balance in sorted(account.balances.items())]
