import asyncio
import math
import time
from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import aiohttp
from bidict import bidict

from hummingbot.connector.constants import s_decimal_NaN
from hummingbot.connector.exchange.nonkyc import (
    nonkyc_constants as CONSTANTS,
    nonkyc_utils,
    nonkyc_web_utils as web_utils,
)
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_api_user_stream_data_source import NonkycAPIUserStreamDataSource
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book_tracker import NonkycOrderBookTracker
from hummingbot.connector.exchange.nonkyc.nonkyc_ws_rpc import RecentKeys
from hummingbot.connector.exchange_py_base import ExchangePyBase
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.connector.utils import combine_to_hb_trading_pair
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.data_type.trade_fee import TokenAmount, TradeFeeBase
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.web_assistant.connections.data_types import RESTMethod
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

_CREATED_ORDER_STATES = (OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL)


class NonkycExchange(ExchangePyBase):
    # Trades of /account/trades are requested from a little before the last poll (or the order's creation), so that
    # clock differences never hide a fill; fills already recorded are skipped by their trade id.
    TRADES_SINCE_MARGIN_MS = 5 * 60 * 1000
    TRADES_MAX_PAGES = 10
    MARKETS_CACHE_SECONDS = 60.0

    web_utils = web_utils

    def __init__(self,
                 nonkyc_api_key: str,
                 nonkyc_api_secret: str,
                 balance_asset_limit: Optional[Dict[str, Dict[str, Decimal]]] = None,
                 rate_limits_share_pct: Decimal = Decimal("100"),
                 trading_pairs: Optional[List[str]] = None,
                 trading_required: bool = True,
                 domain: str = CONSTANTS.DEFAULT_DOMAIN,
                 ):
        self.api_key = nonkyc_api_key or ""
        self.secret_key = nonkyc_api_secret or ""
        self._domain = domain
        self._trading_required = trading_required
        self._trading_pairs = trading_pairs or []
        self._markets_cache: Optional[Tuple[float, List[Dict[str, Any]]]] = None
        self._markets_lock = asyncio.Lock()
        self._fill_cursors_ms: Dict[str, int] = {}
        self._asset_names = nonkyc_utils.AssetNames()
        # Bounded memories of what was logged once: a bot runs for months.
        self._logged_unknown_statuses = RecentKeys()
        self._logged_untracked_orders = RecentKeys()
        self._logged_ambiguous_tickers = RecentKeys()
        super().__init__(balance_asset_limit, rate_limits_share_pct)
        # In place of the tracker ExchangePyBase creates, which builds the books one after the other from REST.
        self._set_order_book_tracker(NonkycOrderBookTracker(
            data_source=self._orderbook_ds, trading_pairs=self.trading_pairs, domain=self.domain))

    # === Properties and configuration ===

    @property
    def authenticator(self) -> NonkycAuth:
        return NonkycAuth(api_key=self.api_key, secret_key=self.secret_key, time_provider=self._time_synchronizer)

    @property
    def name(self) -> str:
        return CONSTANTS.EXCHANGE_NAME

    @property
    def rate_limits_rules(self):
        return CONSTANTS.RATE_LIMITS

    @property
    def domain(self) -> str:
        return self._domain

    @property
    def client_order_id_max_length(self) -> int:
        return CONSTANTS.MAX_ORDER_ID_LEN

    @property
    def client_order_id_prefix(self) -> str:
        return CONSTANTS.HBOT_ORDER_ID_PREFIX

    # The two market paths are required by ExchangePyBase; both requests go through _fetch_markets instead.
    @property
    def trading_rules_request_path(self) -> str:
        return CONSTANTS.MARKETS_PATH_URL

    @property
    def trading_pairs_request_path(self) -> str:
        return CONSTANTS.MARKETS_PATH_URL

    @property
    def check_network_request_path(self) -> str:
        return CONSTANTS.SERVER_TIME_PATH_URL

    @property
    def trading_pairs(self) -> List[str]:
        return self._trading_pairs

    @property
    def is_cancel_request_in_exchange_synchronous(self) -> bool:
        return True

    @property
    def is_trading_required(self) -> bool:
        return self._trading_required

    def supported_order_types(self) -> List[OrderType]:
        # LIMIT_MAKER is emulated: NonKYC has no post-only flag (see _ensure_limit_maker_would_rest).
        return [OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]

    # === Web assistants and data sources ===

    def _create_web_assistants_factory(self) -> WebAssistantsFactory:
        return web_utils.build_api_factory(
            throttler=self._throttler,
            time_synchronizer=self._time_synchronizer,
            domain=self._domain,
            auth=self._auth)

    def _create_order_book_data_source(self) -> OrderBookTrackerDataSource:
        return NonkycAPIOrderBookDataSource(
            trading_pairs=self._trading_pairs,
            connector=self,
            domain=self.domain,
            api_factory=self._web_assistants_factory)

    def _create_user_stream_data_source(self) -> UserStreamTrackerDataSource:
        return NonkycAPIUserStreamDataSource(
            auth=self._auth,
            trading_pairs=self._trading_pairs,
            connector=self,
            api_factory=self._web_assistants_factory,
            domain=self.domain)

    @property
    def stream_statistics(self) -> Dict[str, int]:
        """
        What the WebSocket streams went through since the connector was created: the order book re-subscriptions
        after a sequence gap, and the connections of each stream (every connection beyond the first is a reconnect).
        """
        return {
            "order_book_gap_resubscriptions": self._orderbook_ds.gap_resubscriptions,
            "public_stream_connections": self._orderbook_ds.connection_count,
            "private_stream_connections": self._user_stream_tracker.data_source.connection_count,
        }

    # === Requests and errors ===

    async def _api_request(self,
                           path_url: str,
                           method: RESTMethod = RESTMethod.GET,
                           params: Optional[Dict[str, Any]] = None,
                           data: Optional[Dict[str, Any]] = None,
                           is_auth_required: bool = False,
                           limit_id: Optional[str] = None,
                           timeout: Optional[float] = None) -> Any:
        """
        The one way this connector calls the REST API. Every failed answer raises NonkycAPIError (an HTTP 200 answer
        with an `error` body included); a 429 is retried after a back-off, a refused nonce once after a fresh server
        time. Timeouts and network errors are raised as they are. The base's `overwrite_url`, `return_err` and
        `headers` are not taken: nothing here needs them.
        """
        rate_limit_delays = iter(CONSTANTS.RATE_LIMITED_RETRY_DELAYS)
        time_resynchronized = False
        while True:
            try:
                return await self._send_api_request(path_url, method, params, data, is_auth_required, limit_id, timeout)
            except web_utils.NonkycAPIError as error:
                delay = next(rate_limit_delays, None) if error.is_rate_limited else None
                if delay is not None:
                    self.logger().warning(
                        f"NonKYC answered 429 (rate limited) to {method.name} {path_url}; retrying in {delay} s.")
                    await self._sleep(delay)
                elif not time_resynchronized and self._is_request_exception_related_to_time_synchronizer(error):
                    time_resynchronized = True
                    await self._update_time_synchronizer()
                else:
                    raise

    async def _send_api_request(self,
                                path_url: str,
                                method: RESTMethod,
                                params: Optional[Dict[str, Any]],
                                data: Optional[Dict[str, Any]],
                                is_auth_required: bool,
                                limit_id: Optional[str],
                                timeout: Optional[float]) -> Any:
        rest_assistant = await self._web_assistants_factory.get_rest_assistant()
        url = await self._api_request_url(path_url=path_url, is_auth_required=is_auth_required)
        # return_err: the answer is judged by answer_body, so that error bodies sent with HTTP 200 fail like the rest.
        response = await rest_assistant.execute_request_and_get_response(
            url=url,
            params=params,
            data=data,
            method=method,
            is_auth_required=is_auth_required,
            return_err=True,
            throttler_limit_id=limit_id or path_url,
            timeout=timeout or CONSTANTS.REST_REQUEST_TIMEOUT,
        )
        return await web_utils.answer_body(response, method=method, path=path_url, url=url)

    def _is_request_exception_related_to_time_synchronizer(self, request_exception: Exception) -> bool:
        return isinstance(request_exception, web_utils.NonkycAPIError) and request_exception.may_be_stale_nonce

    def _is_order_not_found_during_status_update_error(self, status_update_exception: Exception) -> bool:
        return self._is_order_not_found(status_update_exception)

    def _is_order_not_found_during_cancelation_error(self, cancelation_exception: Exception) -> bool:
        return self._is_order_not_found(cancelation_exception)

    @staticmethod
    def _is_order_not_found(exception: Exception) -> bool:
        return isinstance(exception, web_utils.NonkycAPIError) and exception.is_order_not_found

    # === Markets, symbols, trading rules and fees ===

    async def _make_trading_rules_request(self) -> List[Dict[str, Any]]:
        return await self._fetch_markets()

    async def _make_trading_pairs_request(self) -> List[Dict[str, Any]]:
        return await self._fetch_markets()

    async def _fetch_markets(self) -> List[Dict[str, Any]]:
        """/market/getlist is large (~560 KB): one fetch serves the symbol map and the trading rules for a minute."""
        async with self._markets_lock:
            cache = self._markets_cache
            if cache is not None and time.monotonic() - cache[0] < self.MARKETS_CACHE_SECONDS:
                return cache[1]
            markets = await self._api_get(path_url=CONSTANTS.MARKETS_PATH_URL)
            if not isinstance(markets, list):
                raise IOError(f"Unexpected answer to {CONSTANTS.MARKETS_PATH_URL}: {markets}")
            self._markets_cache = (time.monotonic(), markets)
            return markets

    def _initialize_trading_pair_symbols_from_exchange_info(self, exchange_info: List[Dict[str, Any]]):
        self._learn_asset_names(exchange_info)
        mapping = bidict()
        for market in exchange_info:
            try:
                trading_pair = self._trading_pair_of_market(market)
                if trading_pair is None:
                    self._warn_if_ambiguous(market)
                    continue
                if trading_pair in mapping.inverse:
                    self.logger().warning(f"Skipping NonKYC market {market['symbol']}: {trading_pair} is already "
                                          f"mapped to {mapping.inverse[trading_pair]}.")
                    continue
                mapping[market["symbol"]] = trading_pair
            except Exception:
                self.logger().exception(f"Error parsing the NonKYC market {market} for the symbol map. Skipping.")
        self._set_trading_pair_symbol_map(mapping)

    def _learn_asset_names(self, markets: List[Dict[str, Any]]):
        """Every ticker of the market list goes through the asset names first, so that any ambiguity is known."""
        for market in markets:
            try:
                for ticker in nonkyc_utils.market_assets(market):
                    self._asset_names.learn(ticker)
            except (ValueError, AttributeError):
                continue  # logged where the market itself is read

    def _trading_pair_of_market(self, market: Dict[str, Any]) -> Optional[str]:
        """
        The Hummingbot pair of a tradeable market (its tickers under their Hummingbot names, `BTC-USDT_TRC20` for
        `BTC/USDT-TRC20`), or None for markets that cannot or must not be traded, or whose names are ambiguous.
        """
        if not nonkyc_utils.is_market_tradeable(market):
            return None
        base, quote = (self._asset_names.learn(ticker) for ticker in nonkyc_utils.market_assets(market))
        if base is None or quote is None:
            return None
        return combine_to_hb_trading_pair(base=base, quote=quote)

    def _warn_if_ambiguous(self, market: Dict[str, Any]):
        try:
            tickers = sorted({ambiguous for ticker in nonkyc_utils.market_assets(market)
                              for ambiguous in self._asset_names.ambiguous_tickers(ticker)})
        except (ValueError, AttributeError):
            return
        if tickers:
            self.logger().warning(f"Skipping NonKYC market {market.get('symbol')}: the tickers {', '.join(tickers)} "
                                  f"would all be named {self._asset_names.translate(tickers[0])} in Hummingbot.")

    async def _format_trading_rules(self, exchange_info_dict: List[Dict[str, Any]]) -> List[TradingRule]:
        """
        Example market (/market/getlist):
        {"symbol": "IMX/USDT", "primaryTicker": "IMX", "priceDecimals": 4, "quantityDecimals": 2, "isActive": true,
         "isPaused": false, "minimumQuantity": 2, "minQuote": 1, "isMinQuoteActive": true, "allowMarketOrders": true}
        """
        self._learn_asset_names(exchange_info_dict)
        rules = []
        for market in exchange_info_dict:
            try:
                trading_pair = self._trading_pair_of_market(market)
                if trading_pair is not None:
                    rules.append(self._trading_rule_from_market(trading_pair, market))
            except Exception:
                self.logger().exception(f"Error parsing the trading pair rule {market}. Skipping.")
        return rules

    @staticmethod
    def _trading_rule_from_market(trading_pair: str, market: Dict[str, Any]) -> TradingRule:
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

    async def _update_trading_fees(self):
        """NonKYC has no fee endpoint: the defaults of nonkyc_utils (or the user's fee overrides) apply."""

    def _get_fee(self,
                 base_currency: str,
                 quote_currency: str,
                 order_type: OrderType,
                 order_side: TradeType,
                 amount: Decimal,
                 price: Decimal = s_decimal_NaN,
                 is_maker: Optional[bool] = None) -> TradeFeeBase:
        is_maker = order_type is OrderType.LIMIT_MAKER if is_maker is None else is_maker
        return TradeFeeBase.new_spot_fee(
            fee_schema=self.trade_fee_schema(),
            trade_type=order_side,
            percent=self.estimate_fee_pct(is_maker),
            percent_token=quote_currency,
        )

    # === Prices ===

    async def get_last_traded_prices(self, trading_pairs: List[str]) -> Dict[str, float]:
        """Last prices of many pairs with a single /tickers call."""
        tickers = await self._api_get(path_url=CONSTANTS.TICKERS_PATH_URL)
        trading_pair_of_symbol = await self.trading_pair_symbol_map()
        wanted = set(trading_pairs)
        prices = {}
        for ticker in tickers if isinstance(tickers, list) else []:
            try:
                trading_pair = trading_pair_of_symbol.get(f"{ticker['base_currency']}/{ticker['target_currency']}")
                if trading_pair in wanted:
                    prices[trading_pair] = float(Decimal(str(ticker["last_price"])))
            except (KeyError, TypeError, ArithmeticError):
                self.logger().debug(f"Skipping malformed NonKYC ticker {ticker}.")
        return prices

    async def _get_last_traded_price(self, trading_pair: str) -> float:
        prices = await self.get_last_traded_prices(trading_pairs=[trading_pair])
        return prices[trading_pair]

    # === Placing orders ===

    async def _create_order(self,
                            trade_type: TradeType,
                            order_id: str,
                            trading_pair: str,
                            amount: Decimal,
                            order_type: OrderType,
                            price: Optional[Decimal] = None,
                            **kwargs):
        """
        ExchangePyBase's order creation. Before sending an order without a price (a MARKET order) it values it at the
        price of the local book, which raises when there is no book or the book is empty, and the order would then
        stay pending forever: it fails instead, with that reason.
        """
        try:
            await super()._create_order(trade_type, order_id, trading_pair, amount, order_type, price, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            order = self._order_tracker.fetch_tracked_order(order_id)
            if order is None or order.current_state is not OrderState.PENDING_CREATE:
                raise
            problem = ("there is no local order book to price it" if trading_pair not in self.order_books
                       else f"the local order book has no price for it ({type(error).__name__})")
            reason = f"{order_type.name} {trade_type.name} order {order_id} on {trading_pair} refused: {problem}."
            self.logger().warning(reason)
            self._update_order_after_failure(order_id=order_id, trading_pair=trading_pair, exception=ValueError(reason))

    async def _place_order_and_process_update(self, order: InFlightOrder, **kwargs) -> str:
        """
        Places the order and takes the exchange's view of it. When the create call gets no clear answer the order is
        looked up by its client id instead of being failed: it is failed only if the exchange does not know it.
        A MARKET order on a market without market orders is sent as a crossing limit order whose rest is cancelled
        at once (`_process_market_order_answer`), so that it fills or ends like a market order.
        """
        emulated = self._is_emulated_market_order(order.trading_pair, order.order_type)
        try:
            order_data = await self._submit_order(
                order.client_order_id, order.trading_pair, order.amount, order.trade_type, order.order_type,
                order.price)
        except Exception as creation_error:
            if not self._is_ambiguous_creation_error(creation_error):
                raise
            order_data = await self._find_order_after_ambiguous_creation(order, creation_error)
            if order_data is None:
                if emulated:
                    await self._end_unconfirmed_emulated_market_order(order)
                return ""
        if order.order_type is OrderType.MARKET:
            await self._process_market_order_answer(order, order_data, emulated)
        else:
            self._order_tracker.process_order_update(self._order_update_from_exchange_order(order, order_data))
        return str(order_data.get("id") or "")

    async def _place_order(self,
                           order_id: str,
                           trading_pair: str,
                           amount: Decimal,
                           trade_type: TradeType,
                           order_type: OrderType,
                           price: Decimal,
                           **kwargs) -> Tuple[str, float]:
        """ExchangePyBase's contract: the exchange id and time of a new order (this connector's own path above)."""
        order_data = await self._submit_order(order_id, trading_pair, amount, trade_type, order_type, price)
        return str(order_data["id"]), self._exchange_timestamp(order_data)

    async def _submit_order(self,
                            order_id: str,
                            trading_pair: str,
                            amount: Decimal,
                            trade_type: TradeType,
                            order_type: OrderType,
                            price: Decimal) -> Dict[str, Any]:
        if order_type is OrderType.LIMIT_MAKER:
            self._ensure_limit_maker_would_rest(trading_pair, trade_type, price)
        if self._is_emulated_market_order(trading_pair, order_type):
            price = self._emulated_market_order_price(order_id, trading_pair, trade_type)
            order_type = OrderType.LIMIT
        order_data = await self._api_post(
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
        trading_rule = self._trading_rules[trading_pair]
        payload = {
            "symbol": await self.exchange_symbol_associated_to_pair(trading_pair=trading_pair),
            "side": CONSTANTS.SIDE_BUY if trade_type is TradeType.BUY else CONSTANTS.SIDE_SELL,
            "type": CONSTANTS.ORDER_TYPE_MARKET if order_type is OrderType.MARKET else CONSTANTS.ORDER_TYPE_LIMIT,
            "quantity": self._decimal_string(amount, trading_rule.min_base_amount_increment),
            "userProvidedId": order_id,
            "strictValidate": True,
        }
        if order_type is not OrderType.MARKET:
            payload["price"] = self._decimal_string(price, trading_rule.min_price_increment)
        return payload

    @staticmethod
    def _decimal_string(value: Decimal, step: Decimal) -> str:
        return f"{value.quantize(step, rounding=ROUND_DOWN):f}"

    def _ensure_limit_maker_would_rest(self, trading_pair: str, trade_type: TradeType, price: Decimal):
        """
        NonKYC has no post-only orders. A LIMIT_MAKER order is sent as a plain limit order only when its price does
        not reach the best opposite price of the local book, so that it does not take liquidity.
        """
        side = trade_type.name
        if trading_pair not in self.order_books:
            raise ValueError(f"LIMIT_MAKER {side} order on {trading_pair} at {price} refused: there is no local order "
                             f"book to check that it would not take liquidity.")
        book = self.order_books[trading_pair]
        entries = list(book.ask_entries() if trade_type is TradeType.BUY else book.bid_entries())
        if not entries:
            return
        best_opposite = Decimal(str(entries[0].price))
        crosses = price >= best_opposite if trade_type is TradeType.BUY else price <= best_opposite
        if crosses:
            raise ValueError(f"LIMIT_MAKER {side} order on {trading_pair} at {price} refused: it would take liquidity "
                             f"(best {'ask' if trade_type is TradeType.BUY else 'bid'} is {best_opposite}) and "
                             f"NonKYC has no post-only orders.")

    # === Market orders, real and emulated ===

    def _is_emulated_market_order(self, trading_pair: str, order_type: OrderType) -> bool:
        """A MARKET order on a market with `allowMarketOrders: false` is sent as a crossing limit order."""
        if order_type is not OrderType.MARKET:
            return False
        trading_rule = self._trading_rules.get(trading_pair)
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
        if trading_pair not in self.order_books:
            raise ValueError(f"{refused} there is no local order book to price the limit order that replaces it.")
        book = self.order_books[trading_pair]
        best_entry = next(iter(book.ask_entries() if is_buy else book.bid_entries()), None)
        if best_entry is None:
            raise ValueError(f"{refused} the local order book has no {opposite}s to price the limit order that "
                             f"replaces it.")
        slippage = nonkyc_utils.market_order_slippage()
        step = self._trading_rules[trading_pair].min_price_increment
        best_price = Decimal(str(best_entry.price))
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
        update = self._order_update_from_exchange_order(order, order_data)
        if update.new_state is OrderState.FAILED:
            self._order_tracker.process_order_update(update)
            return
        still_open = update.new_state in _CREATED_ORDER_STATES
        await self._order_tracker.process_order_update(update if still_open else update._replace(
            new_state=OrderState.OPEN))
        final_data = order_data
        if still_open:
            if not emulated:
                return
            final_data = await self._cancel_rest_of_emulated_market_order(order)
            if final_data is None:
                return
        await self._take_fills_of_ended_order(order, final_data)
        self._order_tracker.process_order_update(self._order_update_from_exchange_order(order, final_data))

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
        description = f"emulated MARKET {order.trade_type.name} order {order.client_order_id} on {order.trading_pair}"
        for attempt, delay in enumerate(CONSTANTS.EMULATED_MARKET_ORDER_CANCEL_DELAYS, start=1):
            await self._sleep(delay)
            try:
                if await self._place_cancel(order.client_order_id, order):
                    break
            except asyncio.CancelledError:
                raise
            except Exception as cancel_error:
                if self._is_order_not_found(cancel_error):
                    break  # no longer active: filled meanwhile (or, after an ambiguous create, perhaps never created)
                self.logger().warning(f"Cancelling the rest of the {description} failed (attempt {attempt}): "
                                      f"{cancel_error}")
        else:
            self.logger().error(f"The rest of the {description} could not be cancelled; it may rest on the book. The "
                                f"order stays tracked and the status polling reports it.")
            return None
        try:
            return await self._get_order_from_exchange(order.exchange_order_id or order.client_order_id)
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
            await self._sleep(delay)
            try:
                for trade_update in await self._all_trade_updates_for_order(order):
                    self._process_trade_update(trade_update)
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

    @staticmethod
    def _is_ambiguous_creation_error(exception: Exception) -> bool:
        """
        True when a create may have reached the exchange although no order came back: a timeout, a network error,
        a server error (HTTP 5xx, Cloudflare pages, codes 500/503/504) or a duplicate `userProvidedId` (an earlier
        attempt of this very order got through).
        """
        if isinstance(exception, web_utils.NonkycAPIError):
            return exception.is_server_error or exception.is_duplicate_client_order_id
        return isinstance(exception, (asyncio.TimeoutError, aiohttp.ClientError))

    async def _find_order_after_ambiguous_creation(self, order: InFlightOrder,
                                                   creation_error: Exception) -> Optional[Dict[str, Any]]:
        """
        Looks an order up by its client id after a create without a clear answer. Returns the exchange's order, or
        None when the exchange could not tell (the order then stays pending and the status polling resolves it).
        Raises (so that the order is failed) when the last look-up answers "order not found".
        """
        description = (f"{order.trade_type.name} {order.order_type.name} order {order.client_order_id} for "
                       f"{order.amount} {order.trading_pair} at {order.price}")
        self.logger().warning(f"No clear answer creating the {description} ({creation_error!r}); "
                              f"looking it up by its client order id.")
        not_found_error = None
        for attempt, delay in enumerate(CONSTANTS.AMBIGUOUS_ORDER_LOOKUP_DELAYS, start=1):
            await self._sleep(delay)
            try:
                order_data = await self._get_order_from_exchange(order.client_order_id)
            except Exception as lookup_error:
                not_found_error = lookup_error if self._is_order_not_found(lookup_error) else None
                if not_found_error is None:
                    self.logger().warning(f"Look-up {attempt} of the {description} failed: {lookup_error}")
                continue
            self.logger().info(f"The {description} exists on NonKYC with id {order_data.get('id')} despite the "
                               f"ambiguous create answer; tracking it.")
            return order_data
        if not_found_error is not None:
            raise IOError(f"The {description} was not created: NonKYC does not know it after an ambiguous create "
                          f"answer ({creation_error!r}).") from not_found_error
        self.logger().warning(f"The {description} could not be confirmed after an ambiguous create answer; it stays "
                              f"pending and the order status polling will resolve it.")
        return None

    # === Cancels ===

    async def _place_cancel(self, order_id: str, tracked_order: InFlightOrder) -> bool:
        result = await self._api_post(
            path_url=CONSTANTS.CANCEL_ORDER_PATH_URL,
            data={"id": tracked_order.exchange_order_id or order_id},
            is_auth_required=True)
        if self._is_successful_cancel_answer(result, tracked_order):
            return True
        self.logger().warning(f"Unexpected answer cancelling order {order_id} (exchange id "
                              f"{tracked_order.exchange_order_id}, {tracked_order.trading_pair}): {result}")
        return False

    def _is_successful_cancel_answer(self, result: Any, order: InFlightOrder) -> bool:
        """Both known shapes: `{"success": true, ...}` and the cancelled order object (its status, when present)."""
        if not isinstance(result, dict):
            return False
        if "success" in result:
            return result["success"] is True
        if not result.get("id"):
            return False
        status = result.get("status")
        return status is None or self._order_state_from_status(status, order) is OrderState.CANCELED

    # === Order status ===

    async def _request_order_status(self, tracked_order: InFlightOrder) -> OrderUpdate:
        order_data = await self._get_order_from_exchange(
            tracked_order.exchange_order_id or tracked_order.client_order_id)
        return self._order_update_from_exchange_order(tracked_order, order_data)

    async def _get_order_from_exchange(self, order_reference: str) -> Dict[str, Any]:
        """GET /getorder/{id}: `order_reference` is the exchange id or the client order id (userProvidedId)."""
        order_data = await self._api_get(
            path_url=CONSTANTS.GET_ORDER_PATH_URL.format(order_reference),
            is_auth_required=True,
            limit_id=CONSTANTS.GET_ORDER_LIMIT_ID)
        if not isinstance(order_data, dict) or not order_data.get("id"):
            raise IOError(f"Unexpected answer to the status request of order {order_reference}: {order_data}")
        return order_data

    def _order_update_from_exchange_order(self, order: InFlightOrder, order_data: Dict[str, Any]) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=order.client_order_id,
            exchange_order_id=str(order_data.get("id") or order.exchange_order_id or "") or None,
            trading_pair=order.trading_pair,
            update_timestamp=self._exchange_timestamp(order_data),
            new_state=self._order_state_from_status(order_data.get("status"), order),
        )

    def _order_state_from_status(self, status: Any, order: InFlightOrder) -> OrderState:
        """
        The one mapping of a NonKYC order status (REST orders, cancel answers, WS reports). An unknown status keeps
        the order open (logged once per status); a partially filled order never goes back to OPEN because of a late
        or stale answer.
        """
        state = CONSTANTS.ORDER_STATE.get(str(status).strip().lower()) if status is not None else None
        if state is None:
            if self._logged_unknown_statuses.add(str(status)):
                self.logger().warning(f"Unknown NonKYC order status {status!r} for order {order.client_order_id} "
                                      f"({order.trading_pair}); the order is kept open.")
            state = order.current_state if order.current_state in _CREATED_ORDER_STATES else OrderState.OPEN
        if state is OrderState.OPEN and order.current_state is OrderState.PARTIALLY_FILLED:
            state = OrderState.PARTIALLY_FILLED
        return state

    def _exchange_timestamp(self, order_data: Dict[str, Any]) -> float:
        timestamp = nonkyc_utils.timestamp_seconds(order_data.get("updatedAt") or order_data.get("createdAt"))
        if timestamp is None:
            timestamp = self.current_timestamp
        if timestamp is None or math.isnan(timestamp):
            timestamp = self._time()
        return timestamp

    # === Fills ===

    async def _update_orders_fills(self, orders: List[InFlightOrder]):
        """One /account/trades request per trading pair for all the orders of that pair, not one per order."""
        fillable_ids = set(self._order_tracker.all_fillable_orders)
        self._fill_cursors_ms = {key: value for key, value in self._fill_cursors_ms.items() if key in fillable_ids}
        orders_by_pair: Dict[str, List[InFlightOrder]] = defaultdict(list)
        for order in orders:
            orders_by_pair[order.trading_pair].append(order)
        for trading_pair, pair_orders in orders_by_pair.items():
            try:
                trade_updates = await self._trade_updates_for_orders(trading_pair, pair_orders)
            except Exception as request_error:
                self.logger().warning(
                    f"Failed to fetch trade updates for {trading_pair} (orders "
                    f"{', '.join(order.client_order_id for order in pair_orders)}). Error: {request_error}",
                    exc_info=request_error)
                continue
            for trade_update in trade_updates:
                self._process_trade_update(trade_update)

    async def _all_trade_updates_for_order(self, order: InFlightOrder) -> List[TradeUpdate]:
        return await self._trade_updates_for_orders(order.trading_pair, [order])

    async def _trade_updates_for_orders(self, trading_pair: str, orders: Iterable[InFlightOrder]) -> List[TradeUpdate]:
        orders_by_exchange_id = {order.exchange_order_id: order for order in orders if order.exchange_order_id}
        if not orders_by_exchange_id:
            return []
        request_time_ms = int(self._time_synchronizer.time() * 1e3)
        since_ms = min(self._fill_cursor_ms(order, request_time_ms) for order in orders_by_exchange_id.values())
        trades = await self._fetch_account_trades(trading_pair, max(since_ms - self.TRADES_SINCE_MARGIN_MS, 0))
        trade_updates = []
        for trade in trades:
            order = orders_by_exchange_id.get(str(trade.get("orderid"))) if isinstance(trade, dict) else None
            if order is None:
                continue
            try:
                trade_updates.append(self._trade_update_from_account_trade(order, trade))
            except Exception:
                self.logger().exception(f"Skipping malformed NonKYC trade {trade} of order {order.client_order_id} "
                                        f"({trading_pair}).")
        for order in orders_by_exchange_id.values():
            self._fill_cursors_ms[order.client_order_id] = request_time_ms
        return trade_updates

    def _fill_cursor_ms(self, order: InFlightOrder, now_ms: int) -> int:
        if order.client_order_id in self._fill_cursors_ms:
            return self._fill_cursors_ms[order.client_order_id]
        created = order.creation_timestamp
        if created and not math.isnan(created) and created > 0:
            return int(created * 1e3)
        return now_ms - 24 * 60 * 60 * 1000

    async def _fetch_account_trades(self, trading_pair: str, since_ms: int) -> List[Dict[str, Any]]:
        symbol = await self.exchange_symbol_associated_to_pair(trading_pair=trading_pair)
        trades: List[Dict[str, Any]] = []
        for page in range(self.TRADES_MAX_PAGES):
            params = {"symbol": symbol, "since": since_ms, "limit": CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT}
            if page > 0:
                params["skip"] = page * CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT
            batch = await self._api_get(
                path_url=CONSTANTS.ACCOUNT_TRADES_PATH_URL, params=params, is_auth_required=True)
            if not isinstance(batch, list):
                raise IOError(f"Unexpected answer to {CONSTANTS.ACCOUNT_TRADES_PATH_URL} for {trading_pair}: {batch}")
            trades.extend(batch)
            if len(batch) < CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT:
                break
        return trades

    def _trade_update_from_account_trade(self, order: InFlightOrder, trade: Dict[str, Any]) -> TradeUpdate:
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
            timestamp=trade.get("timestamp"),
        )

    def _trade_update(self, order: InFlightOrder, trade_id: Any, exchange_order_id: Any, quantity: Any, price: Any,
                      fee_asset: Optional[str], fee_amount: Any, timestamp: Any) -> TradeUpdate:
        fill_amount = Decimal(str(quantity))
        fill_price = Decimal(str(price))
        fee_token = self._asset_names.translate(fee_asset) if fee_asset else order.quote_asset
        fee = TradeFeeBase.new_spot_fee(
            fee_schema=self.trade_fee_schema(),
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
            fill_timestamp=nonkyc_utils.timestamp_seconds(timestamp, default=self.current_timestamp),
        )

    def _process_trade_update(self, trade_update: TradeUpdate):
        """The single entry of fills (REST and WS): a fill is recorded once, and never beyond the order amount."""
        order = self._order_tracker.all_fillable_orders.get(trade_update.client_order_id)
        # The same fill arrives from the WS trade report and from /account/trades: its trade id dedups it (checked
        # here too, so that a repeat is not reported as an overfill below).
        if order is None or trade_update.trade_id in order.order_fills:
            return
        # A fill beyond the order amount would corrupt the executed amount and the balances. This check is the last
        # line of defence, for a fill whose id would differ between the two sources.
        if order.executed_amount_base + trade_update.fill_base_amount > order.amount:
            self.logger().warning(
                f"Ignoring fill {trade_update.trade_id} of {trade_update.fill_base_amount} for order "
                f"{order.client_order_id} (exchange id {order.exchange_order_id}, {order.trading_pair}): it would take "
                f"the executed amount {order.executed_amount_base} beyond the order amount {order.amount}.")
            return
        self._order_tracker.process_trade_update(trade_update)

    # === Balances ===

    async def _update_balances(self):
        balances = await self._api_get(path_url=CONSTANTS.BALANCES_PATH_URL, is_auth_required=True)
        if not isinstance(balances, list):
            raise IOError(f"Unexpected answer to {CONSTANTS.BALANCES_PATH_URL}: {balances}")
        reported_assets = self._set_balances(balances, event=CONSTANTS.BALANCES_PATH_URL)
        for asset in set(self._account_balances) - reported_assets:
            self._account_balances.pop(asset, None)
            self._account_available_balances.pop(asset, None)

    def _set_balances(self, entries: List[Any], event: str) -> Set[str]:
        """
        Sets the balances of the entries and returns their asset names. Every ticker is learnt first, so that two
        tickers of the same list that would share a name are both known as ambiguous before any balance is set.
        """
        for entry in entries:
            ticker = (entry.get("asset") or entry.get("ticker")) if isinstance(entry, dict) else None
            if isinstance(ticker, str):
                self._asset_names.learn(ticker)
        return {asset for asset in (self._set_balance_from_entry(entry, event) for entry in entries)
                if asset is not None}

    def _set_balance_from_entry(self, entry: Any, event: str) -> Optional[str]:
        """
        Total = available + held. The ticker is `asset` in REST entries and `ticker` in WS ones; the balance is kept
        under its Hummingbot asset name. Returns that name, or None (logged) when the entry cannot be used.
        """
        try:
            ticker = entry.get("asset") or entry["ticker"]
            available = Decimal(str(entry["available"]))
            held = Decimal(str(entry.get("held") or "0"))
            asset = self._asset_names.learn(ticker)
        except (AttributeError, KeyError, TypeError, ArithmeticError):
            self.logger().warning(f"Skipping malformed NonKYC balance entry in {event}: {entry}")
            return None
        if asset is None:
            if self._logged_ambiguous_tickers.add(ticker):
                self.logger().warning(
                    f"Skipping the NonKYC balance of {ticker}: the tickers "
                    f"{', '.join(self._asset_names.ambiguous_tickers(ticker))} would all be named "
                    f"{self._asset_names.translate(ticker)} in Hummingbot.")
            return None
        self._account_available_balances[asset] = available
        self._account_balances[asset] = available + held
        return asset

    # === User stream events ===

    async def _user_stream_event_listener(self):
        """
        Processes the private stream's messages: `activeOrders`, `report`, `currentBalances` and `balanceUpdate`.
        Each event is handled on its own, so a bad event is logged and skipped without stopping the listener.
        """
        async for event_message in self._iter_user_event_queue():
            try:
                if not isinstance(event_message, dict):
                    raise TypeError(f"Unexpected user stream message: {event_message!r}")
                await self._process_user_stream_event(event_message)
            except Exception:
                self.logger().error("Unexpected error in user stream listener loop.", exc_info=True)
                await self._sleep(1.0)

    async def _process_user_stream_event(self, event_message: Dict[str, Any]):
        method = event_message.get("method")
        handlers = {
            CONSTANTS.WS_EVENT_REPORT: self._process_order_report_event,
            CONSTANTS.WS_EVENT_ACTIVE_ORDERS: self._process_active_orders_event,
            CONSTANTS.WS_EVENT_CURRENT_BALANCES: self._process_balances_event,
            CONSTANTS.WS_EVENT_BALANCE_UPDATE: self._process_balances_event,
        }
        handler = handlers.get(method)
        if handler is None:
            self.logger().debug(f"Ignoring NonKYC user stream message with method {method!r}.")
            return
        try:
            await handler(event_message)
        except Exception:
            self.logger().exception(f"Error processing the NonKYC user stream event {method}: {event_message}. "
                                    f"Skipping it.")

    def _tracked_order_for_exchange_data(self, order_data: Dict[str, Any]) -> Optional[InFlightOrder]:
        client_order_id = order_data.get("userProvidedId")
        exchange_order_id = str(order_data.get("id") or "")
        return (self._order_tracker.all_fillable_orders.get(client_order_id)
                or self._order_tracker.all_fillable_orders_by_exchange_order_id.get(exchange_order_id))

    async def _process_order_report_event(self, event_message: Dict[str, Any]):
        report = event_message["params"]
        order = self._tracked_order_for_exchange_data(report)
        if order is None:
            self.logger().debug(f"Ignoring a NonKYC report for an order this bot does not track: {report}")
            return
        if report.get("tradeId") is not None or str(report.get("reportType", "")).lower() == "trade":
            self._process_trade_update(self._trade_update_from_report(order, report))
        if "status" in report and order.client_order_id in self._order_tracker.all_updatable_orders:
            self._order_tracker.process_order_update(self._order_update_from_exchange_order(order, report))

    def _trade_update_from_report(self, order: InFlightOrder, report: Dict[str, Any]) -> TradeUpdate:
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
            timestamp=report.get("updatedAt") or report.get("timestamp"),
        )

    async def _process_active_orders_event(self, event_message: Dict[str, Any]):
        """
        Reconciles the tracked orders with the exchange's active orders after each (re)subscription: the listed ones
        are updated, tracked open orders missing from the list get an immediate status and fills check (they may
        have been filled or cancelled while the stream was down), untracked ones are left alone.
        """
        active_orders = event_message["result"]
        if not isinstance(active_orders, list):
            raise ValueError(f"activeOrders without a list under 'result': {event_message}")
        listed_client_ids, filled_meanwhile = self._update_orders_listed_as_active(active_orders)
        missing = [order for order in self.in_flight_orders.values()
                   if order.current_state in _CREATED_ORDER_STATES and order.client_order_id not in listed_client_ids]
        if missing:
            self.logger().info(f"Tracked open orders absent from NonKYC's active orders: "
                               f"{', '.join(order.client_order_id for order in missing)}; checking their status and "
                               f"fills.")
        if missing or filled_meanwhile:
            await self._update_orders_fills(filled_meanwhile + missing)
        if missing:
            await self._update_orders_with_error_handler(
                orders=missing, error_handler=self._handle_update_error_for_active_order)

    def _update_orders_listed_as_active(self, active_orders: List[Any]) -> Tuple[Set[str], List[InFlightOrder]]:
        """Updates the tracked orders of the list. Returns their client ids and those that were filled meanwhile."""
        listed_client_ids = set()
        filled_meanwhile = []
        for order_data in active_orders:
            order = self._tracked_order_for_exchange_data(order_data) if isinstance(order_data, dict) else None
            if order is None:
                self._log_untracked_active_order(order_data)
                continue
            listed_client_ids.add(order.client_order_id)
            if Decimal(str(order_data.get("executedQuantity") or "0")) > order.executed_amount_base:
                filled_meanwhile.append(order)
            self._order_tracker.process_order_update(self._order_update_from_exchange_order(order, order_data))
        return listed_client_ids, filled_meanwhile

    def _log_untracked_active_order(self, order_data: Any):
        key = str(order_data.get("id") if isinstance(order_data, dict) else order_data)
        if self._logged_untracked_orders.add(key):
            self.logger().info(f"NonKYC reports an active order this bot does not track; leaving it alone: "
                               f"{order_data}")

    async def _process_balances_event(self, event_message: Dict[str, Any]):
        """`currentBalances` carries a list under `result`; `balanceUpdate` one entry (or a list) under `params`."""
        entries = event_message.get("result") if "result" in event_message else event_message.get("params")
        self._set_balances(entries if isinstance(entries, list) else [entries], event=str(event_message.get("method")))
