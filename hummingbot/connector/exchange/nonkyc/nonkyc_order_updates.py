"""
Plain translators, without I/O, from NonKYC's answers to what Hummingbot tracks: an order status to an `OrderState`
(the one mapping), the executed quantity and the time of an order, an `OrderUpdate` from an exchange order or a WS
report, a `TradeUpdate` from an account trade or a WS trade report (or built from the order itself when its fills
cannot be read), a `TradingRule` from a market. The exchange, the
order placement and the reconciliation all read the exchange's answers through here.
"""
import logging
import math
from decimal import Decimal
from typing import Any, Callable, Dict, Optional, Tuple

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.exchange.nonkyc.nonkyc_order_tracker import NonkycOrderTracker
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import AssetNames, RecentKeys, timestamp_seconds
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate
from hummingbot.core.data_type.trade_fee import TokenAmount, TradeFeeBase, TradeFeeSchema

CREATED_ORDER_STATES = (OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL)
# A fill built from the order itself, when NonKYC reports an order filled and its fills cannot be read (see
# NonkycReconciliation): its trade id derives from the order's exchange id and the executed amount, so that a re-read
# or a restart never records it twice.
SYNTHESIZED_FILL_ID_PREFIX = "order-fill-"
# NonKYC documents no average price of an order; these names are read when an answer carries one.
AVERAGE_PRICE_KEYS = ("averagePrice", "avgPrice", "averageExecutedPrice", "avgExecutedPrice")


def executed_quantity(order_data: Dict[str, Any]) -> Optional[Decimal]:
    """`executedQuantity` (cumulative) of an order, or None when absent or unreadable."""
    try:
        executed = Decimal(str(order_data["executedQuantity"]))
    except (KeyError, TypeError, ArithmeticError):
        return None
    return executed if executed.is_finite() and executed >= 0 else None


def exchange_timestamp(order_data: Dict[str, Any], now: float) -> float:
    """The time of an order's last change (`updatedAt`, else `createdAt`), or `now` when it has none."""
    timestamp = timestamp_seconds(order_data.get("updatedAt") or order_data.get("createdAt"))
    return now if timestamp is None or math.isnan(timestamp) else timestamp


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


def trading_rule_from_market(trading_pair: str, market: Dict[str, Any]) -> TradingRule:
    price_step = Decimal(1).scaleb(-int(market["priceDecimals"]))
    size_step = Decimal(1).scaleb(-int(market["quantityDecimals"]))
    min_notional = Decimal(str(market["minQuote"])) if market.get("isMinQuoteActive") else Decimal(0)
    return TradingRule(
        trading_pair=trading_pair,
        min_order_size=max(Decimal(str(market["minimumQuantity"])), size_step),
        min_price_increment=price_step,
        min_base_amount_increment=size_step,
        min_notional_size=min_notional,
        supports_limit_orders=True,
        supports_market_orders=bool(market.get("allowMarketOrders", False)),
    )


class NonkycOrderUpdates:
    """
    The translators that need more than their input: the asset names (fee assets), the fee schema, and a logger with
    a bounded memory of the unknown statuses already reported.
    """

    def __init__(self,
                 asset_names: AssetNames,
                 fee_schema: Callable[[], TradeFeeSchema],
                 logger: Callable[[], logging.Logger]):
        self._asset_names = asset_names
        self._fee_schema = fee_schema
        self._logger = logger
        self._logged_unknown_statuses = RecentKeys()

    def order_state(self, status: Any, order: InFlightOrder) -> OrderState:
        """
        The one mapping of a NonKYC order status (REST orders, cancel answers, WS reports). An unknown status keeps
        the order open (logged once per status); a partially filled order never goes back to OPEN because of a late
        or stale answer.
        """
        state = CONSTANTS.ORDER_STATE.get(str(status).strip().lower()) if status is not None else None
        if state is None:
            if self._logged_unknown_statuses.add(str(status)):
                self._logger().warning(f"Unknown NonKYC order status {status!r} for order {order.client_order_id} "
                                       f"({order.trading_pair}); the order is kept open.")
            state = order.current_state if order.current_state in CREATED_ORDER_STATES else OrderState.OPEN
        if state is OrderState.OPEN and order.current_state is OrderState.PARTIALLY_FILLED:
            state = OrderState.PARTIALLY_FILLED
        return state

    def order_update(self, order: InFlightOrder, order_data: Dict[str, Any], now: float) -> OrderUpdate:
        """
        The update of an order from NonKYC's view of it (REST order, WS report, create answer). The filled amount
        NonKYC reports goes to the tracker, which completes a FILLED order only once those fills are recorded.
        """
        executed = executed_quantity(order_data)
        return OrderUpdate(
            client_order_id=order.client_order_id,
            exchange_order_id=str(order_data.get("id") or order.exchange_order_id or "") or None,
            trading_pair=order.trading_pair,
            update_timestamp=exchange_timestamp(order_data, now),
            new_state=self.order_state(order_data.get("status"), order),
            misc_updates={NonkycOrderTracker.EXECUTED_AMOUNT_KEY: executed} if executed is not None else None,
        )

    def trade_update_from_account_trade(self, order: InFlightOrder, trade: Dict[str, Any],
                                        default_timestamp: float) -> TradeUpdate:
        """A fill from /account/trades: `side` is capitalised ("Buy"), the fee is in the quote asset by default."""
        if str(trade["side"]).lower() != order.trade_type.name.lower():
            raise ValueError(f"trade side {trade['side']} differs from the order side {order.trade_type.name}")
        return self._trade_update(
            order=order,
            trade_id=trade["id"],
            exchange_order_id=trade["orderid"],
            quantity=trade["quantity"],
            price=trade["price"],
            fee_asset=trade.get("alternateFeeAsset"),
            fee_amount=trade.get("alternateFee") if trade.get("alternateFeeAsset") else trade.get("fee"),
            timestamp=timestamp_seconds(trade.get("timestamp"), default=default_timestamp),
        )

    def trade_update_from_report(self, order: InFlightOrder, report: Dict[str, Any],
                                 default_timestamp: float) -> TradeUpdate:
        """The fill of a trade report is `tradeQuantity` (this fill), never the cumulative `executedQuantity`."""
        fee_asset = report.get("alternateFeeAsset") or report.get("tradeFeeAsset")
        return self._trade_update(
            order=order,
            trade_id=report["tradeId"],
            exchange_order_id=report.get("id"),
            quantity=report["tradeQuantity"],
            price=report["tradePrice"],
            fee_asset=fee_asset,
            fee_amount=report.get("alternateFee") if report.get("alternateFeeAsset") else report.get("tradeFee"),
            timestamp=timestamp_seconds(report.get("updatedAt") or report.get("timestamp"),
                                        default=default_timestamp),
        )

    def synthesized_fill(self, order: InFlightOrder, executed: Decimal, price: Decimal, fee_rate: Decimal,
                         timestamp: float) -> Optional[TradeUpdate]:
        """
        One fill standing for the fills of `order` that cannot be read: the executed amount NonKYC reports less the
        fills recorded, at `price`, with a fee estimated at `fee_rate` in the quote asset. None when nothing is
        missing.
        """
        quantity = executed - order.executed_amount_base
        if quantity <= 0 or not order.exchange_order_id:
            return None
        return self._trade_update(order=order, trade_id=synthesized_fill_id(order.exchange_order_id, executed),
                                  exchange_order_id=order.exchange_order_id, quantity=quantity, price=price,
                                  fee_asset=None, fee_amount=quantity * price * fee_rate, timestamp=timestamp)

    def _trade_update(self, order: InFlightOrder, trade_id: Any, exchange_order_id: Any, quantity: Any, price: Any,
                      fee_asset: Optional[str], fee_amount: Any, timestamp: float) -> TradeUpdate:
        fill_amount = Decimal(str(quantity))
        fill_price = Decimal(str(price))
        fee_token = self._asset_names.translate(fee_asset) if fee_asset else order.quote_asset
        fee = TradeFeeBase.new_spot_fee(
            fee_schema=self._fee_schema(),
            trade_type=order.trade_type,
            percent_token=fee_token,
            flat_fees=[TokenAmount(amount=Decimal(str(fee_amount or "0")), token=fee_token)],
        )
        return TradeUpdate(
            trade_id=str(trade_id),
            client_order_id=order.client_order_id,
            exchange_order_id=str(exchange_order_id or order.exchange_order_id),
            trading_pair=order.trading_pair,
            fee=fee,
            fill_base_amount=fill_amount,
            fill_quote_amount=fill_amount * fill_price,
            fill_price=fill_price,
            fill_timestamp=timestamp,
        )
