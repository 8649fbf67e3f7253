"""
Placing orders on NonKYC: the create payload and its submission, the LIMIT_MAKER guard (NonKYC has no post-only
orders), market orders (real, or emulated by a crossing limit order whose rest is cancelled at once), the look-up of an
order whose create got no clear answer, and the shapes of a cancel answer.
"""
import asyncio
import os
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any, Dict, Optional

import aiohttp

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_order_updates import CREATED_ORDER_STATES
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState

if TYPE_CHECKING:
    from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange


def market_order_slippage() -> Decimal:
    """
    The slippage limit of emulated market orders (see MARKET_ORDER_SLIPPAGE): the environment variable
    NONKYC_MARKET_ORDER_SLIPPAGE when it is set, else the default. A value that is not a fraction between 0 and 1
    raises ValueError naming the variable, so that the order fails with that reason rather than at a wrong price.
    """
    raw = os.environ.get(CONSTANTS.MARKET_ORDER_SLIPPAGE_ENV_VAR, "").strip()
    if not raw:
        return CONSTANTS.MARKET_ORDER_SLIPPAGE
    try:
        slippage = Decimal(raw)
    except ArithmeticError:
        slippage = None
    if slippage is None or not slippage.is_finite() or not 0 < slippage < 1:
        raise ValueError(f"{CONSTANTS.MARKET_ORDER_SLIPPAGE_ENV_VAR}={raw!r} is not a fraction between 0 and 1 "
                         f"(0.02 for 2 %).")
    return slippage


def decimal_string(value: Decimal, step: Decimal) -> str:
    return f"{value.quantize(step, rounding=ROUND_DOWN):f}"


def is_ambiguous_creation_error(exception: Exception) -> bool:
    """
    True when a create may have reached the exchange although no order came back: a timeout, a network error,
    a server error (HTTP 5xx, Cloudflare pages, codes 500/503/504) or a duplicate `userProvidedId` (an earlier
    attempt of this very order got through).
    """
    if isinstance(exception, web_utils.NonkycAPIError):
        return exception.is_server_error or exception.is_duplicate_client_order_id
    return isinstance(exception, (asyncio.TimeoutError, aiohttp.ClientError))


class NonkycOrderPlacement:
    """The connector's order creation past Hummingbot's hooks (`_place_order_and_process_update`, `_place_order`)."""

    def __init__(self, connector: "NonkycExchange"):
        self._connector = connector

    def logger(self):
        return self._connector.logger()

    # === Submitting ===

    async def place_and_process_update(self, order: InFlightOrder) -> str:
        """
        Places the order and takes the exchange's view of it. When the create call gets no clear answer the order is
        looked up by its client id instead of being failed: it is failed only if the exchange does not know it.
        A MARKET order on a market without market orders is sent as a crossing limit order whose rest is cancelled
        at once (`_process_market_order_answer`), so that it fills or ends like a market order.
        """
        connector = self._connector
        emulated = self.is_emulated_market_order(order.trading_pair, order.order_type)
        try:
            order_data = await self.submit(
                order.client_order_id, order.trading_pair, order.amount, order.trade_type, order.order_type,
                order.price)
        except Exception as creation_error:
            if not is_ambiguous_creation_error(creation_error):
                raise
            order_data = await self._find_order_after_ambiguous_creation(order, creation_error)
            if order_data is None:
                if emulated:
                    await self._end_unconfirmed_emulated_market_order(order)
                return ""
        if order.order_type is OrderType.MARKET:
            await self._process_market_order_answer(order, order_data, emulated)
        else:
            update = connector._order_update_from_exchange_order(order, order_data)
            connector._order_tracker.process_order_update(update)
        return str(order_data.get("id") or "")

    async def submit(self,
                     order_id: str,
                     trading_pair: str,
                     amount: Decimal,
                     trade_type: TradeType,
                     order_type: OrderType,
                     price: Decimal) -> Dict[str, Any]:
        """Sends the create and returns the order NonKYC answers (raises when the answer holds no order)."""
        if order_type is OrderType.LIMIT_MAKER:
            self._ensure_limit_maker_would_rest(trading_pair, trade_type, price)
        if self.is_emulated_market_order(trading_pair, order_type):
            price = self._emulated_market_order_price(order_id, trading_pair, trade_type)
            order_type = OrderType.LIMIT
        order_data = await self._connector._api_post(
            path_url=CONSTANTS.CREATE_ORDER_PATH_URL,
            data=await self._create_order_payload(order_id, trading_pair, amount, trade_type, order_type, price),
            is_auth_required=True,
            timeout=CONSTANTS.CREATE_ORDER_TIMEOUT)
        if not isinstance(order_data, dict) or not order_data.get("id"):
            raise IOError(f"Unexpected answer creating order {order_id} on {trading_pair}: {order_data}")
        return order_data

    async def _create_order_payload(self,
                                    order_id: str,
                                    trading_pair: str,
                                    amount: Decimal,
                                    trade_type: TradeType,
                                    order_type: OrderType,
                                    price: Decimal) -> Dict[str, Any]:
        trading_rule = self._connector._trading_rules[trading_pair]
        payload = {
            "symbol": await self._connector.exchange_symbol_associated_to_pair(trading_pair=trading_pair),
            "side": CONSTANTS.SIDE_BUY if trade_type is TradeType.BUY else CONSTANTS.SIDE_SELL,
            "type": CONSTANTS.ORDER_TYPE_MARKET if order_type is OrderType.MARKET else CONSTANTS.ORDER_TYPE_LIMIT,
            "quantity": decimal_string(amount, trading_rule.min_base_amount_increment),
            "userProvidedId": order_id,
            "strictValidate": True,
        }
        if order_type is not OrderType.MARKET:
            payload["price"] = decimal_string(price, trading_rule.min_price_increment)
        return payload

    def _ensure_limit_maker_would_rest(self, trading_pair: str, trade_type: TradeType, price: Decimal):
        """
        NonKYC has no post-only orders. A LIMIT_MAKER order is sent as a plain limit order only when its price does
        not reach the best opposite price of the local book, so that it does not take liquidity.
        """
        side = trade_type.name
        if trading_pair not in self._connector.order_books:
            raise ValueError(f"LIMIT_MAKER {side} order on {trading_pair} at {price} refused: there is no local order "
                             f"book to check that it would not take liquidity.")
        best_opposite = self._best_opposite_price(trading_pair, trade_type)
        if best_opposite is None:
            return
        crosses = price >= best_opposite if trade_type is TradeType.BUY else price <= best_opposite
        if crosses:
            raise ValueError(f"LIMIT_MAKER {side} order on {trading_pair} at {price} refused: it would take liquidity "
                             f"(best {'ask' if trade_type is TradeType.BUY else 'bid'} is {best_opposite}) and "
                             f"NonKYC has no post-only orders.")

    def _best_opposite_price(self, trading_pair: str, trade_type: TradeType) -> Optional[Decimal]:
        """The best price of the local book an order would take (the best ask for a buy), or None when none is."""
        book = self._connector.order_books[trading_pair]
        best_entry = next(iter(book.ask_entries() if trade_type is TradeType.BUY else book.bid_entries()), None)
        return Decimal(str(best_entry.price)) if best_entry is not None else None

    # === Market orders, real and emulated ===

    def is_emulated_market_order(self, trading_pair: str, order_type: OrderType) -> bool:
        """A MARKET order on a market with `allowMarketOrders: false` is sent as a crossing limit order."""
        if order_type is not OrderType.MARKET:
            return False
        trading_rule = self._connector._trading_rules.get(trading_pair)
        return trading_rule is not None and not trading_rule.supports_market_orders

    def _emulated_market_order_price(self, order_id: str, trading_pair: str, trade_type: TradeType) -> Decimal:
        """
        The limit price standing in for a market order: the best opposite price of the local book moved by the
        slippage limit (a buy above the best ask, a sell below the best bid), on the market's price grid. It is the
        worst price the order accepts; what the book does not fill up to it is cancelled at once.
        """
        is_buy = trade_type is TradeType.BUY
        opposite = "ask" if is_buy else "bid"
        refused = (f"MARKET {trade_type.name} order {order_id} on {trading_pair} refused: NonKYC does not allow market "
                   f"orders on this market and")
        if trading_pair not in self._connector.order_books:
            raise ValueError(f"{refused} there is no local order book to price the limit order that replaces it.")
        best_price = self._best_opposite_price(trading_pair, trade_type)
        if best_price is None:
            raise ValueError(f"{refused} the local order book has no {opposite}s to price the limit order that "
                             f"replaces it.")
        slippage = market_order_slippage()
        step = self._connector._trading_rules[trading_pair].min_price_increment
        if is_buy:
            price = max((best_price * (1 + slippage)).quantize(step, rounding=ROUND_DOWN),
                        best_price.quantize(step, rounding=ROUND_UP))
        else:
            price = min((best_price * (1 - slippage)).quantize(step, rounding=ROUND_UP),
                        best_price.quantize(step, rounding=ROUND_DOWN))
        percent = (slippage * 100).normalize()
        self.logger().info(f"MARKET {trade_type.name} order {order_id} on {trading_pair} sent as a limit order at "
                           f"{price} (best {opposite} {best_price}, slippage limit {percent:f} %): NonKYC does not "
                           f"allow market orders on this market; what does not fill at once is cancelled.")
        return price

    async def _process_market_order_answer(self, order: InFlightOrder, order_data: Dict[str, Any], emulated: bool):
        """
        Reports a market order as strategies expect it: created, then its fills, then completed or cancelled. NonKYC
        often answers a market order already ended (filled, or cancelled after a partial fill): the order is reported
        created first and its fills are taken before its final state, so that the executed amount is complete when
        the strategy learns that the order ended. An emulated order still open is cancelled first.
        """
        tracker = self._connector._order_tracker
        update = self._connector._order_update_from_exchange_order(order, order_data)
        if update.new_state is OrderState.FAILED:
            tracker.process_order_update(update)
            return
        still_open = update.new_state in CREATED_ORDER_STATES
        await tracker.process_order_update(update if still_open else update._replace(new_state=OrderState.OPEN))
        final_data = order_data
        if still_open:
            if not emulated:
                return
            final_data = await self._cancel_rest_of_emulated_market_order(order)
            if final_data is None:
                return
        await self._take_fills_of_ended_order(order, final_data)
        tracker.process_order_update(self._connector._order_update_from_exchange_order(order, final_data))

    async def _end_unconfirmed_emulated_market_order(self, order: InFlightOrder):
        """
        An emulated market order whose create got no clear answer may rest on the book: its rest is cancelled by its
        client id. When the exchange does not know it as active, the status polling resolves it as for any order.
        """
        final_data = await self._cancel_rest_of_emulated_market_order(order)
        if final_data is not None:
            await self._process_market_order_answer(order, final_data, emulated=True)

    async def _cancel_rest_of_emulated_market_order(self, order: InFlightOrder) -> Optional[Dict[str, Any]]:
        """
        Cancels what an emulated market order did not fill at once (retrying: it must not rest) and returns the
        order as the exchange then shows it. Returns None, logged, when that cannot be known now: the status polling
        and the private stream then report the order. Never raises, since failing an order that exists would lose it.
        """
        connector = self._connector
        description = f"emulated MARKET {order.trade_type.name} order {order.client_order_id} on {order.trading_pair}"
        for attempt, delay in enumerate(CONSTANTS.EMULATED_MARKET_ORDER_CANCEL_DELAYS, start=1):
            await connector._sleep(delay)
            try:
                if await connector._place_cancel(order.client_order_id, order):
                    break
            except asyncio.CancelledError:
                raise
            except Exception as cancel_error:
                if connector._is_order_not_found(cancel_error):
                    break  # no longer active: filled meanwhile (or, after an ambiguous create, perhaps never created)
                self.logger().warning(f"Cancelling the rest of the {description} failed (attempt {attempt}): "
                                      f"{cancel_error}")
        else:
            self.logger().error(f"The rest of the {description} could not be cancelled; it may rest on the book. The "
                                f"order stays tracked and the status polling reports it.")
            return None
        try:
            return await connector._get_order_from_exchange(order.exchange_order_id or order.client_order_id)
        except asyncio.CancelledError:
            raise
        except Exception as lookup_error:
            self.logger().warning(f"The final state of the {description} could not be read ({lookup_error}); the "
                                  f"status polling reports it.")
            return None

    async def _take_fills_of_ended_order(self, order: InFlightOrder, order_data: Dict[str, Any]):
        """Takes the fills of an order that ended until they add up to the amount the exchange reports executed."""
        try:
            executed = Decimal(str(order_data.get("executedQuantity") or "0"))
        except ArithmeticError:
            executed = order.amount
        for delay in CONSTANTS.ENDED_ORDER_FILLS_LOOKUP_DELAYS:
            if order.executed_amount_base >= executed:
                return
            await self._connector._sleep(delay)
            try:
                for trade_update in await self._connector._all_trade_updates_for_order(order):
                    self._connector._reconciliation.process_trade_update(trade_update)
            except asyncio.CancelledError:
                raise
            except Exception as fills_error:
                self.logger().warning(f"Fetching the fills of order {order.client_order_id} ({order.trading_pair}) "
                                      f"failed: {fills_error}")
        if order.executed_amount_base < executed:
            self.logger().warning(f"Order {order.client_order_id} ({order.trading_pair}) ended with {executed} "
                                  f"executed on NonKYC, {order.executed_amount_base} of it in fills received so far; "
                                  f"the rest is recorded when its fills arrive.")

    # === Ambiguous creates ===

    async def _find_order_after_ambiguous_creation(self, order: InFlightOrder,
                                                   creation_error: Exception) -> Optional[Dict[str, Any]]:
        """
        Looks an order up by its client id after a create without a clear answer. Returns the exchange's order, or
        None when the exchange could not tell (the order then stays pending and the status polling resolves it).
        Raises (so that the order is failed) when the last look-up answers "order not found".
        """
        connector = self._connector
        description = (f"{order.trade_type.name} {order.order_type.name} order {order.client_order_id} for "
                       f"{order.amount} {order.trading_pair} at {order.price}")
        self.logger().warning(f"No clear answer creating the {description} ({creation_error!r}); "
                              f"looking it up by its client order id.")
        not_found_error = None
        for attempt, delay in enumerate(CONSTANTS.AMBIGUOUS_ORDER_LOOKUP_DELAYS, start=1):
            await connector._sleep(delay)
            try:
                order_data = await connector._get_order_from_exchange(order.client_order_id)
            except Exception as lookup_error:
                not_found_error = lookup_error if connector._is_order_not_found(lookup_error) else None
                if not_found_error is None:
                    self.logger().warning(f"Look-up {attempt} of the {description} failed: {lookup_error}")
                continue
            self.logger().info(f"The {description} exists on NonKYC with id {order_data.get('id')} despite the "
                               f"ambiguous create answer; tracking it.")
            connector._order_tracker.order_found(order.client_order_id)
            return order_data
        if not_found_error is not None:
            raise IOError(f"The {description} was not created: NonKYC does not know it after an ambiguous create "
                          f"answer ({creation_error!r}).") from not_found_error
        self.logger().warning(f"The {description} could not be confirmed after an ambiguous create answer; it stays "
                              f"pending and the order status polling will resolve it.")
        return None

    # === Cancel answers ===

    def is_successful_cancel_answer(self, result: Any, order: InFlightOrder) -> bool:
        """Both known shapes: `{"success": true, ...}` and the cancelled order object (its status, when present)."""
        if not isinstance(result, dict):
            return False
        if "success" in result:
            return result["success"] is True
        if not result.get("id"):
            return False
        status = result.get("status")
        return status is None or self._connector._order_updates.order_state(status, order) is OrderState.CANCELED
