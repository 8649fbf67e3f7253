"""
Plain translators, without I/O, from NonKYC's answers to what Hummingbot tracks.
"""
from decimal import Decimal
from typing import Any, Dict, Optional, Tuple

from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, TradeUpdate
from hummingbot.core.data_type.trade_fee import TokenAmount, TradeFeeBase, TradeFeeSchema

# A fill built from the order itself, when NonKYC reports an order filled and its fills cannot be read (see
# NonkycReconciliation): its trade id derives from the order's exchange id and the executed amount, so that a re-read
# or a restart never records it twice.
SYNTHESIZED_FILL_ID_PREFIX = "order-fill-"
# NonKYC documents no average price of an order; these names are read when an answer carries one.
AVERAGE_PRICE_KEYS = ("averagePrice", "avgPrice", "averageExecutedPrice", "avgExecutedPrice")


def _positive_decimal(value: Any) -> Optional[Decimal]:
    try:
        number = Decimal(str(value))
    except (TypeError, ArithmeticError):
        return None
    return number if number.is_finite() and number > 0 else None


def synthesized_fill_id(exchange_order_id: str, executed: Decimal) -> str:
    return f"{SYNTHESIZED_FILL_ID_PREFIX}{exchange_order_id}-{executed.normalize():f}"


def is_synthesized_fill(trade_id: str) -> bool:
    return trade_id.startswith(SYNTHESIZED_FILL_ID_PREFIX)


def synthesized_fill_price(order: InFlightOrder, order_data: Optional[Dict[str, Any]]) -> Tuple[Optional[Decimal], str]:
    """
    The price of a fill built from the order, and what it is: the average price NonKYC gives for the order when it
    gives one, else the order's limit price; a market order has none: the price NonKYC shows for it, else the price
    Hummingbot valued it at, the best information there is.
    """
    data = order_data or {}
    for key in AVERAGE_PRICE_KEYS:
        price = _positive_decimal(data.get(key))
        if price is not None:
            return price, f"the average price NonKYC reports ({key})"
    if order.order_type is not OrderType.MARKET and _positive_decimal(order.price) is not None:
        return order.price, "its limit price"
    price = _positive_decimal(data.get("price"))
    if price is not None:
        return price, "the price NonKYC shows for this market order, the best information there is"
    price = _positive_decimal(order.price)
    if price is not None:
        return price, "the price Hummingbot valued this market order at, the best information there is"
    return None, "no price is known"


def synthesized_fill(order: InFlightOrder, executed: Decimal, price: Decimal, fee_rate: Decimal,
                     fee_schema: TradeFeeSchema, timestamp: float) -> Optional[TradeUpdate]:
    """
    One fill standing for the fills of `order` that cannot be read: the executed amount NonKYC reports less the fills
    recorded, at `price`, with a fee estimated at `fee_rate` in the quote asset. None when nothing is missing.
    """
    quantity = executed - order.executed_amount_base
    if quantity <= 0 or not order.exchange_order_id:
        return None
    fee = TradeFeeBase.new_spot_fee(
        fee_schema=fee_schema,
        trade_type=order.trade_type,
        percent_token=order.quote_asset,
        flat_fees=[TokenAmount(amount=quantity * price * fee_rate, token=order.quote_asset)],
    )
    return TradeUpdate(
        trade_id=synthesized_fill_id(order.exchange_order_id, executed),
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id,
        trading_pair=order.trading_pair,
        fee=fee,
        fill_base_amount=quantity,
        fill_quote_amount=quantity * price,
        fill_price=price,
        fill_timestamp=timestamp,
    )
