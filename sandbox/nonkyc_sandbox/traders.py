"""
Simulated traders that keep the sandbox alive: a market maker quoting several levels around a random-walk mid price,
and a taker that now and then crosses the book (market orders, and limit orders that sweep down to a random depth,
whatever they meet on the way — including another client's quotes) so that a market-making bot gets filled.
"""
import asyncio
import logging
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Dict, List, Optional

from nonkyc_sandbox.engine import BUY, LIMIT, MARKET, SELL, ApiError, MatchingEngine
from nonkyc_sandbox.markets import MarketSpec

logger = logging.getLogger(__name__)

MAKER_ACCOUNT = "sim-maker"
TAKER_ACCOUNT = "sim-taker"
# The simulated accounts are topped up to this amount of every asset whenever they fall below half of it.
SIM_FUNDS = Decimal("1000000000")


@dataclass
class TraderSettings:
    interval: float = 0.5  # seconds between ticks
    levels: int = 5  # maker levels per side
    level_spacing_bps: Decimal = Decimal("10")  # distance of the first level from the mid, and between levels
    volatility_bps: Decimal = Decimal("4")  # standard deviation of the mid's random walk per tick
    max_drift: Decimal = Decimal("0.2")  # the mid stays within ±20 % of the market's initial price
    taker_probability: float = 0.35  # chance per market and tick that the taker trades
    max_sweep_bps: Decimal = Decimal("150")  # how deep (from the mid) a sweeping taker order reaches at most
    max_sweep_notional_factor: Decimal = Decimal("20")  # cap of a sweep, in multiples of the market's order notional


class SimulatedTraders:
    def __init__(self, engine: MatchingEngine, seed: int = 0, settings: Optional[TraderSettings] = None,
                 maker_account: str = MAKER_ACCOUNT, taker_account: str = TAKER_ACCOUNT):
        self.engine = engine
        self.settings = settings or TraderSettings()
        self.maker_account = maker_account
        self.taker_account = taker_account
        self.rng = random.Random(f"traders-{seed}")
        self.mid: Dict[str, Decimal] = {symbol: market.initial_price for symbol, market in engine.markets.items()}
        # The maker's resting quotes per market: requoting cancels them by id, so that a tick costs the same per market
        # whatever the number of markets (cancelling "all orders of the market" scans every order of the account).
        self._quotes: Dict[str, List[str]] = {}
        self.ticks = 0
        self._task: Optional[asyncio.Task] = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nonkyc-sandbox-traders")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                logger.exception("Simulated traders: tick %s failed", self.ticks)
            await asyncio.sleep(self.settings.interval)

    def set_mid(self, symbol: str, price: Decimal) -> None:
        self.mid[symbol] = Decimal(str(price))

    def tick(self) -> None:
        """One round: every tradeable market gets a new mid, fresh maker quotes and maybe a taker order."""
        self.ticks += 1
        self._top_up_funds()
        for symbol, market in self.engine.markets.items():
            if not market.tradeable:
                continue
            with self.engine.batch():
                self._walk_mid(market)
                self._requote(market)
                if self.rng.random() < self.settings.taker_probability:
                    self._take(market)
        for account in (self.maker_account, self.taker_account):
            if account in self.engine.accounts:
                self.engine.prune_history(account)

    # ----- maker -----

    def _walk_mid(self, market: MarketSpec) -> None:
        settings = self.settings
        change = Decimal(str(self.rng.gauss(0, 1))) * settings.volatility_bps / Decimal(10000)
        mid = self.mid[market.symbol] * (1 + change)
        low = market.initial_price * (1 - settings.max_drift)
        high = market.initial_price * (1 + settings.max_drift)
        self.mid[market.symbol] = min(max(mid, low), high)

    def _requote(self, market: MarketSpec) -> None:
        for order_id in self._quotes.pop(market.symbol, []):
            order = self.engine.orders.get(order_id)
            if order is not None and order.is_active:
                self.engine.cancel_order(self.maker_account, order_id)
        quotes = self._quotes[market.symbol] = []
        mid = self.mid[market.symbol]
        spacing = self.settings.level_spacing_bps / Decimal(10000)
        for level in range(1, self.settings.levels + 1):
            bid = (mid * (1 - spacing * level)).quantize(market.price_step, rounding=ROUND_DOWN)
            ask = (mid * (1 + spacing * level)).quantize(market.price_step, rounding=ROUND_UP)
            for side, price in ((BUY, bid), (SELL, ask)):
                if price <= 0:
                    continue
                quantity = self._order_quantity(market, price, Decimal(str(self.rng.uniform(0.5, 1.5))))
                order = self._place(self.maker_account, market, side, LIMIT, quantity, price)
                if order is not None and order.is_active:
                    quotes.append(order.id)

    # ----- taker -----

    def _take(self, market: MarketSpec) -> None:
        side = BUY if self.rng.random() < 0.5 else SELL
        if market.allow_market_orders and self.rng.random() < 0.5:
            quantity = self._order_quantity(market, self.mid[market.symbol], Decimal(str(self.rng.uniform(0.2, 1))))
            self._place(self.taker_account, market, side, MARKET, quantity)
        else:
            self._sweep(market, side)

    def _sweep(self, market: MarketSpec, side: str) -> None:
        """A limit order through the opposite side down to a random depth; what it does not fill is cancelled."""
        depth = Decimal(str(self.rng.uniform(0, float(self.settings.max_sweep_bps)))) / Decimal(10000)
        mid = self.mid[market.symbol]
        if side == BUY:
            limit = (mid * (1 + depth)).quantize(market.price_step, rounding=ROUND_DOWN)
            reachable = [(price, qty) for price, qty in self._levels(market, SELL) if price <= limit]
        else:
            limit = (mid * (1 - depth)).quantize(market.price_step, rounding=ROUND_UP)
            reachable = [(price, qty) for price, qty in self._levels(market, BUY) if price >= limit]
        if not reachable or limit <= 0:
            return
        cap = market.sim_order_notional * self.settings.max_sweep_notional_factor / mid
        quantity = min(sum(qty for _, qty in reachable), cap)
        quantity = max(market.truncate_quantity(quantity), self._minimum_quantity(market, limit))
        order = self._place(self.taker_account, market, side, LIMIT, quantity, limit)
        if order is not None and order.is_active:
            self.engine.cancel_order(self.taker_account, order.id)

    # ----- helpers -----

    def _levels(self, market: MarketSpec, side: str) -> List:
        return self.engine.books[market.symbol].aggregated(side)

    def _order_quantity(self, market: MarketSpec, price: Decimal, factor: Decimal) -> Decimal:
        quantity = market.truncate_quantity(market.sim_order_notional * factor / price)
        return max(quantity, self._minimum_quantity(market, price))

    @staticmethod
    def _minimum_quantity(market: MarketSpec, price: Decimal) -> Decimal:
        minimum = market.minimum_quantity
        if market.is_min_quote_active and price > 0:
            minimum = max(minimum, (market.min_quote / price).quantize(market.quantity_step, rounding=ROUND_UP))
        return minimum

    def _place(self, account: str, market: MarketSpec, side: str, order_type: str, quantity: Decimal,
               price: Optional[Decimal] = None):
        try:
            return self.engine.create_order(account, market.symbol, side, order_type, quantity, price)
        except ApiError as error:
            logger.debug("Simulated %s: %s %s %s %s@%s rejected: %s", account, market.symbol, order_type, side,
                         quantity, price, error)
            return None

    def _top_up_funds(self) -> None:
        assets = set()
        for market in self.engine.markets.values():
            assets.update((market.base, market.quote))
        for name in (self.maker_account, self.taker_account):
            account = self.engine.accounts.get(name)
            if account is None:
                continue
            for asset in sorted(assets):
                balance = account.balance(asset)
                if balance.available < SIM_FUNDS / 2:
                    balance.available = SIM_FUNDS
