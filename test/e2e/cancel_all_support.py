"""
Many resting orders of a bot over several pairs of the sandbox, for the cancel_all end-to-end tests and benchmark.

The orders are placed on the sandbox directly (with the bot's client order ids) and handed to the connector as
Hummingbot hands a bot its orders after a restart (`restore_tracking_states`): placing 100 orders through the
connector would take 20 s at the request budget, and only their cancellation is measured.
"""
import time
from decimal import ROUND_UP, Decimal
from typing import Dict, List, Sequence

from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from nonkyc_sandbox.markets import MarketSpec
from nonkyc_sandbox.server import SandboxExchange

# The tradeable markets of the sandbox's default list (DOGE/USDT is paused).
GRID_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SAL/USDT", "NKYC/USDT", "BTC/USDT-TRC20")
ORDER_NOTIONAL = Decimal("12")  # in the quote asset, at the mid: above every minimum of these markets


def trading_pair_of(symbol: str) -> str:
    """`BTC/USDT-TRC20` → `BTC-USDT_TRC20` (a dash inside a ticker becomes an underscore in Hummingbot)."""
    base, quote = symbol.split("/")
    return f"{base.replace('-', '_')}-{quote.replace('-', '_')}"


def order_quantity(market: MarketSpec) -> Decimal:
    quantity = (ORDER_NOTIONAL / market.initial_price).quantize(market.quantity_step, rounding=ROUND_UP)
    return max(market.minimum_quantity, quantity)


def place_grid(sandbox: SandboxExchange, account: str, orders_per_pair: int, symbols: Sequence[str] = GRID_SYMBOLS,
               prefix: str = "HBOT-grid") -> List[InFlightOrder]:
    """
    `orders_per_pair` resting orders on each market, half bids from 30 % below the mid down, half asks from 30 %
    above it up, under client ids `{prefix}{n}`; returns them as a bot tracks them (open, with their exchange ids).
    """
    orders = []
    for symbol in symbols:
        market = sandbox.engine.markets[symbol]
        mid = market.initial_price
        quantity = order_quantity(market)
        for index in range(orders_per_pair):
            side = TradeType.BUY if index % 2 == 0 else TradeType.SELL
            level = Decimal(index // 2) / 1000
            price = mid * (Decimal("0.7") - level if side is TradeType.BUY else Decimal("1.3") + level)
            client_order_id = f"{prefix}{len(orders)}"
            placed = sandbox.place_order(account, symbol, side.name.lower(), "limit", market.format_quantity(quantity),
                                         market.format_price(price), user_provided_id=client_order_id)
            orders.append(InFlightOrder(
                client_order_id=client_order_id, trading_pair=trading_pair_of(symbol), order_type=OrderType.LIMIT,
                trade_type=side, amount=Decimal(placed["quantity"]), price=Decimal(placed["price"]),
                creation_timestamp=time.time(), exchange_order_id=placed["id"], initial_state=OrderState.OPEN))
    return orders


def place_other_bot_orders(sandbox: SandboxExchange, account: str, symbol: str,
                           prefix: str = "other-bot-") -> List[Dict]:
    """A second bot on the same API key: a bid and an ask far from the mid, under its own client ids."""
    market = sandbox.engine.markets[symbol]
    quantity = market.format_quantity(order_quantity(market))
    return [sandbox.place_order(account, symbol, side, "limit", quantity,
                                market.format_price(market.initial_price * factor), user_provided_id=f"{prefix}{side}")
            for side, factor in (("buy", Decimal("0.5")), ("sell", Decimal("1.5")))]


def hand_to_connector(connector: NonkycExchange, orders: List[InFlightOrder]):
    """The connector tracks `orders` as it does the orders Hummingbot restores at a start."""
    connector.restore_tracking_states({order.client_order_id: order.to_json() for order in orders})


def active_order_ids(sandbox: SandboxExchange, account: str, symbols: Sequence[str] = GRID_SYMBOLS) -> List[str]:
    """The client ids (`userProvidedId`) of the account's active orders on `symbols`."""
    return sorted(order["userProvidedId"] for symbol in symbols
                  for order in sandbox.orders(account, symbol, status="active"))
