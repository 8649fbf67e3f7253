"""
A simple market maker for NonKYC: one bid and one ask around a reference price, re-quoted every
`order_refresh_time` seconds.

Each refresh cycle:
1. cancels the quotes still open, and waits until the exchange confirmed the cancellations (so that the balance
   they held is free again before the budget is checked);
2. computes the bid and ask prices from the reference price (`price_source`) and the spreads, and quantizes them to
   the market's price step (bids rounded down, asks rounded up, so the spreads are never narrower than configured)
   and the amount to the size step;
3. skips an order below the market's minimum size or minimum notional, or one the available balance cannot cover
   (fees included, through the connector's budget checker), with a log line saying why;
4. places the rest as LIMIT orders (NonKYC has no post-only flag: LIMIT_MAKER is only emulated by the connector).

When the strategy stops, it cancels its open orders and waits (a few seconds at most) for the confirmations.

Run it with the hbot CLI: `create nonkyc_market_maker --set trading_pair=BTC-USDT --name <config>.yml`, then
`start <config>.yml` (see the README; `connector_name=nonkyc_paper_trade` paper trades), or see `./run_demo.sh` for a
run against the local NonKYC sandbox.
"""
import asyncio
import logging
import os
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Dict, List, Optional, Tuple

from pydantic import Field, field_validator

from hummingbot.connector.connector_base import ConnectorBase
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.connector.utils import split_hb_trading_pair
from hummingbot.core.data_type.common import MarketDict, OrderType, PriceType, TradeType
from hummingbot.core.data_type.limit_order import LimitOrder
from hummingbot.core.data_type.order_candidate import OrderCandidate
from hummingbot.core.event.events import OrderFilledEvent
from hummingbot.strategy.strategy_v2_base import StrategyV2Base, StrategyV2ConfigBase

# Price sources: a reference price for the bid and one for the ask.
PRICE_SOURCES: Dict[str, Tuple[PriceType, PriceType]] = {
    "mid": (PriceType.MidPrice, PriceType.MidPrice),
    "last_trade": (PriceType.LastTrade, PriceType.LastTrade),
    "best_bid_ask": (PriceType.BestBid, PriceType.BestAsk),
}


class NonkycMarketMakerConfig(StrategyV2ConfigBase):
    script_file_name: str = os.path.basename(__file__)
    connector_name: str = Field(
        default="nonkyc",
        json_schema_extra={"prompt": "Exchange connector (e.g. nonkyc): ", "prompt_on_new": True})
    trading_pair: str = Field(
        default="BTC-USDT",
        json_schema_extra={"prompt": "Trading pair (e.g. BTC-USDT): ", "prompt_on_new": True})
    order_amount: Decimal = Field(
        default=Decimal("0.001"), gt=0,
        json_schema_extra={"prompt": "Order amount, in the base asset (e.g. 0.001): ", "prompt_on_new": True})
    bid_spread: Decimal = Field(
        default=Decimal("0.002"), ge=0, lt=1,
        json_schema_extra={"prompt": "Bid spread below the reference price, as a fraction (0.002 = 0.2 %): ",
                           "prompt_on_new": True})
    ask_spread: Decimal = Field(
        default=Decimal("0.002"), ge=0,
        json_schema_extra={"prompt": "Ask spread above the reference price, as a fraction (0.002 = 0.2 %): ",
                           "prompt_on_new": True})
    order_refresh_time: float = Field(
        default=15.0, gt=0,
        json_schema_extra={"prompt": "Seconds between two re-quotes (e.g. 15): ", "prompt_on_new": True})
    price_source: str = Field(
        default="mid",
        json_schema_extra={"prompt": f"Reference price ({' / '.join(PRICE_SOURCES)}): ", "prompt_on_new": True})
    cancel_timeout_on_stop: float = Field(
        default=10.0, ge=0,
        json_schema_extra={"prompt": "Seconds to wait for the cancellations when stopping (e.g. 10): "})

    @field_validator("price_source", mode="before")
    @classmethod
    def validate_price_source(cls, value: str) -> str:
        normalized = str(value).strip().lower()
        if normalized not in PRICE_SOURCES:
            raise ValueError(f"price_source must be one of {', '.join(PRICE_SOURCES)}; got {value!r}")
        return normalized

    def update_markets(self, markets: MarketDict) -> MarketDict:
        return markets.add_or_update(self.connector_name, self.trading_pair)


class NonkycMarketMaker(StrategyV2Base):
    """One bid and one ask around a reference price, cancelled and re-placed every `order_refresh_time` seconds."""

    def __init__(self, connectors: Dict[str, ConnectorBase], config: NonkycMarketMakerConfig):
        super().__init__(connectors, config)
        self.config = config
        self.base_asset, self.quote_asset = split_hb_trading_pair(config.trading_pair)
        self.next_refresh_timestamp = 0.0

    @property
    def connector(self) -> ConnectorBase:
        return self.connectors[self.config.connector_name]

    # === Quoting cycle ===

    def on_tick(self):
        if self.current_timestamp < self.next_refresh_timestamp:
            return
        open_orders = self.open_orders()
        if open_orders:
            # Re-quote on a later tick, once the exchange confirmed the cancellations and released the balance.
            self.cancel_orders(open_orders)
            return
        proposal = self.create_proposal()
        proposal = self.apply_trading_rules(proposal)
        proposal = self.apply_budget(proposal)
        self.place_orders(proposal)
        self.next_refresh_timestamp = self.current_timestamp + self.config.order_refresh_time

    def reference_prices(self) -> Tuple[Decimal, Decimal]:
        """The prices the bid and the ask are computed from (NaN when the order book cannot tell yet)."""
        bid_price_type, ask_price_type = PRICE_SOURCES[self.config.price_source]
        pair = self.config.trading_pair
        return (Decimal(str(self.connector.get_price_by_type(pair, bid_price_type))),
                Decimal(str(self.connector.get_price_by_type(pair, ask_price_type))))

    def trading_rules(self) -> Optional[Dict[str, TradingRule]]:
        """The connector's trading rules; None for paper-trade connectors, which have none and accept any size."""
        return getattr(self.connector, "trading_rules", None)

    def create_proposal(self) -> List[OrderCandidate]:
        rules = self.trading_rules()
        if rules is not None and self.config.trading_pair not in rules:
            self.log_with_clock(logging.WARNING, f"Not quoting {self.config.trading_pair}: "
                                                 f"{self.config.connector_name} has no trading rule for it.")
            return []
        bid_reference, ask_reference = self.reference_prices()
        if not self._is_usable_price(bid_reference) or not self._is_usable_price(ask_reference):
            self.log_with_clock(logging.INFO, f"Not quoting {self.config.trading_pair}: no {self.config.price_source} "
                                              f"reference price yet (bid {bid_reference}, ask {ask_reference}).")
            return []
        amount = self.connector.quantize_order_amount(self.config.trading_pair, self.config.order_amount)
        bid_price = self.quantize_price(TradeType.BUY, bid_reference * (Decimal(1) - self.config.bid_spread))
        ask_price = self.quantize_price(TradeType.SELL, ask_reference * (Decimal(1) + self.config.ask_spread))
        return [self._candidate(TradeType.BUY, amount, bid_price), self._candidate(TradeType.SELL, amount, ask_price)]

    def quantize_price(self, side: TradeType, price: Decimal) -> Decimal:
        """Rounds to the price step: down for a bid, up for an ask, so that a quote never gets closer to the
        reference than its spread."""
        step = self.connector.get_order_price_quantum(self.config.trading_pair, price)
        if step <= 0:
            return price
        rounding = ROUND_FLOOR if side is TradeType.BUY else ROUND_CEILING
        return (price / step).to_integral_value(rounding=rounding) * step

    def apply_trading_rules(self, proposal: List[OrderCandidate]) -> List[OrderCandidate]:
        """Drops the orders the exchange would refuse: below the minimum size or the minimum notional."""
        rules = self.trading_rules()
        if rules is None:
            return proposal
        rule = rules.get(self.config.trading_pair)
        if rule is None:
            return []
        accepted = []
        for candidate in proposal:
            notional = candidate.amount * candidate.price
            if candidate.price <= 0:
                reason = f"its price {candidate.price} is not positive"
            elif candidate.amount < rule.min_order_size:
                reason = (f"the amount {candidate.amount} {self.base_asset} is below the minimum order size "
                          f"{rule.min_order_size} {self.base_asset}")
            elif notional < rule.min_notional_size:
                reason = (f"its notional {notional:.8g} {self.quote_asset} is below the minimum notional "
                          f"{rule.min_notional_size} {self.quote_asset}")
            else:
                accepted.append(candidate)
                continue
            self.log_with_clock(logging.INFO, f"Skipping the {self._describe(candidate)}: {reason}.")
        return accepted

    def apply_budget(self, proposal: List[OrderCandidate]) -> List[OrderCandidate]:
        """Keeps the orders the available balance covers, fees included (all or nothing per order)."""
        if not proposal:
            return []
        budget_checker = self.connector.budget_checker
        adjusted = budget_checker.adjust_candidates(proposal, all_or_none=True)
        affordable = []
        for original, candidate in zip(proposal, adjusted):
            if candidate.amount > 0:
                affordable.append(candidate)
                continue
            needed = budget_checker.populate_collateral_entries(original).collateral_dict
            shortfall = ", ".join(
                f"needs {amount:.8g} {token}, {self.connector.get_available_balance(token):.8g} available"
                for token, amount in needed.items())
            self.log_with_clock(logging.INFO, f"Skipping the {self._describe(original)}: the available balance does "
                                              f"not cover it ({shortfall}).")
        return affordable

    def place_orders(self, proposal: List[OrderCandidate]):
        for candidate in proposal:
            place = self.buy if candidate.order_side is TradeType.BUY else self.sell
            place(self.config.connector_name, candidate.trading_pair, candidate.amount, candidate.order_type,
                  candidate.price)

    # === Orders ===

    def open_orders(self) -> List[LimitOrder]:
        return [order for order in self.get_active_orders(connector_name=self.config.connector_name)
                if order.trading_pair == self.config.trading_pair]

    def cancel_orders(self, orders: List[LimitOrder]):
        for order in orders:
            self.cancel(self.config.connector_name, order.trading_pair, order.client_order_id)

    async def on_stop(self):
        """Cancels the open quotes and waits (at most `cancel_timeout_on_stop` seconds) for the confirmations."""
        deadline = time.monotonic() + self.config.cancel_timeout_on_stop
        open_orders = self.open_orders()
        if open_orders:
            self.log_with_clock(logging.INFO, f"Stopping: cancelling {len(open_orders)} open order(s).")
        while open_orders and time.monotonic() < deadline:
            self.cancel_orders(open_orders)
            await asyncio.sleep(0.25)
            open_orders = self.open_orders()
        if open_orders:
            self.log_with_clock(logging.WARNING, f"Stopping: {len(open_orders)} order(s) still open after "
                                                 f"{self.config.cancel_timeout_on_stop:g} s: "
                                                 f"{', '.join(order.client_order_id for order in open_orders)}.")
        await super().on_stop()

    # === Events and status ===

    def did_fill_order(self, event: OrderFilledEvent):
        message = (f"Filled: {event.trade_type.name.lower()} {event.amount} {self.base_asset} at {event.price} "
                   f"{self.quote_asset} (order {event.order_id}).")
        self.log_with_clock(logging.INFO, message)
        self.notify_hb_app_with_timestamp(message)

    def format_status(self) -> str:
        if not self.ready_to_trade:
            return "Market connectors are not ready."
        bid_reference, ask_reference = self.reference_prices()
        lines = [f"  {self.config.connector_name} {self.config.trading_pair}: reference ({self.config.price_source}) "
                 f"bid {bid_reference} / ask {ask_reference}; spreads {self.config.bid_spread} / "
                 f"{self.config.ask_spread}; next refresh in "
                 f"{max(self.next_refresh_timestamp - self.current_timestamp, 0):.0f} s"]
        return "\n".join(lines) + "\n" + super().format_status()

    # === Helpers ===

    def _candidate(self, side: TradeType, amount: Decimal, price: Decimal) -> OrderCandidate:
        return OrderCandidate(trading_pair=self.config.trading_pair, is_maker=True, order_type=OrderType.LIMIT,
                              order_side=side, amount=amount, price=price)

    def _describe(self, candidate: OrderCandidate) -> str:
        return (f"{candidate.order_side.name.lower()} order of {candidate.amount} {self.base_asset} at "
                f"{candidate.price} {self.quote_asset}")

    @staticmethod
    def _is_usable_price(price: Optional[Decimal]) -> bool:
        return price is not None and price.is_finite() and price > 0
