import asyncio
import math
import time
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Dict, List, Optional, Set, Tuple

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
from hummingbot.connector.exchange.nonkyc.nonkyc_order_tracker import NonkycOrderTracker
from hummingbot.connector.exchange.nonkyc.nonkyc_rest_polling import AccountTradesPages, RateLimitGate
from hummingbot.connector.exchange.nonkyc.nonkyc_tickers import MarketTicker, market_tickers
from hummingbot.connector.exchange.nonkyc.nonkyc_wall_clock import WallClockDriver
from hummingbot.connector.exchange.nonkyc.nonkyc_ws_rpc import RecentKeys
from hummingbot.connector.exchange_py_base import ExchangePyBase
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.connector.utils import combine_to_hb_trading_pair
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.data_type.trade_fee import TokenAmount, TradeFeeBase
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.web_assistant.connections.data_types import RESTMethod
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

_CREATED_ORDER_STATES = (OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL)


class NonkycExchange(ExchangePyBase):
    # Trades of /account/trades are requested from a little before the cursor (or the order's creation), so that
    # clock differences and trades recorded a little late never hide a fill; fills already recorded are skipped by
    # their trade id.
    TRADES_SINCE_MARGIN_MS = 60 * 1000
    MARKETS_CACHE_SECONDS = 60.0
    UNTRACKED_ORDERS_SHOWN = 5
    # /tickers (the order-book tracker's fallback for last prices) is read at most once per interval, for all pairs.
    LAST_PRICES_REFRESH_INTERVAL = 30.0
    # Without a Clock, the wall clock ticks the connector this often (Hummingbot's default tick size), from this long
    # after the last tick of a Clock (see nonkyc_wall_clock.py).
    WALL_CLOCK_TICK_INTERVAL = 1.0
    WALL_CLOCK_TAKEOVER_DELAY = 10.0

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
        self._asset_names = nonkyc_utils.AssetNames()
        # Bounded memories of what was logged once: a bot runs for months.
        self._logged_unknown_statuses = RecentKeys()
        self._logged_untracked_orders = RecentKeys()
        self._logged_ambiguous_tickers = RecentKeys()
        self._logged_answer_shapes = RecentKeys()
        self._rate_limit_gate = RateLimitGate(logger=self.logger, sleep=lambda delay: self._sleep(delay),
                                              clock=lambda: self._time())
        # REST reconciliation: every account trade older than the cursor (server ms) has been read; the filled
        # amounts NonKYC reported per order; the reported amounts for which an order's fills were read again.
        self._trades_cursor_ms: Optional[int] = None
        self._trades_truncation_logged = False
        self._account_trades_lock = asyncio.Lock()
        self._reported_executed: Dict[str, Decimal] = {}
        self._fill_rereads: Dict[str, Decimal] = {}
        self._tickers_cache: Optional[Tuple[float, Dict[str, MarketTicker]]] = None
        self._tickers_lock = asyncio.Lock()
        self._wall_clock = WallClockDriver(self)
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

    @property
    def current_timestamp(self) -> float:
        """
        The time of the Clock that ticks the connector (or the time a test sets). Without a Clock (Hummingbot API),
        the wall clock: never NaN, never stale (see nonkyc_wall_clock.py).
        """
        timestamp = super().current_timestamp
        if self._wall_clock.driving or math.isnan(timestamp):
            return self._time()
        return timestamp

    def tick(self, timestamp: float):
        self._wall_clock.tick_seen()
        super().tick(timestamp)

    async def _lost_orders_update_polling_loop(self):
        """ExchangePyBase's loop, with the wall-clock driver beside it: the status polls run even without a Clock."""
        await self._wall_clock.run_beside(super()._lost_orders_update_polling_loop())

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
    def rate_limit_gate(self) -> RateLimitGate:
        """The back-off shared by every REST request while NonKYC answers 429 (`limited`, `max_delay`, ...)."""
        return self._rate_limit_gate

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
        with an `error` body included). A 429 goes through the rate-limit gate (a back-off shared by every request,
        one warning per episode) and is retried RATE_LIMITED_RETRIES times; a refused nonce is retried once after a
        fresh server time. Timeouts and network errors are raised as they are. The base's `overwrite_url`,
        `return_err` and `headers` are not taken: nothing here needs them.
        """
        rate_limited_retries = 0
        time_resynchronized = False
        while True:
            async with self._rate_limit_gate.turn():
                try:
                    result = await self._send_api_request(
                        path_url, method, params, data, is_auth_required, limit_id, timeout)
                except web_utils.NonkycAPIError as error:
                    if error.is_rate_limited:
                        self._rate_limit_gate.rate_limited(f"{method.name} {path_url}", error.retry_after)
                        if rate_limited_retries < CONSTANTS.RATE_LIMITED_RETRIES:
                            rate_limited_retries += 1
                            continue
                    if error.is_rate_limited or time_resynchronized or \
                            not self._is_request_exception_related_to_time_synchronizer(error):
                        raise
                    time_resynchronized = True
                else:
                    self._rate_limit_gate.succeeded()
                    return result
            await self._update_time_synchronizer()

    async def _send_api_request(self,
                                path_url: str,
                                method: RESTMethod,
                                params: Optional[Dict[str, Any]],
                                data: Optional[Dict[str, Any]],
                                is_auth_required: bool,
                                limit_id: Optional[str],
                                timeout: Optional[float]) -> Any:
        return await web_utils.api_answer(
            await self._web_assistants_factory.get_rest_assistant(),
            url=await self._api_request_url(path_url=path_url, is_auth_required=is_auth_required),
            path=path_url,
            method=method,
            params=params,
            data=data,
            is_auth_required=is_auth_required,
            throttler_limit_id=limit_id,
            timeout=timeout)

    async def _update_time_synchronizer(self, pass_on_non_cancelled_error: bool = False):
        """
        The server time (GET /time, at each status poll). While NonKYC rate limits, the clock offset is kept and
        /time is not asked: the rate-limit gate says when the limiting ends.
        """
        if self._rate_limit_gate.limited:
            return
        try:
            await self._time_synchronizer.update_server_time_offset_with_time_provider(
                time_provider=self._server_time_ms())
        except asyncio.CancelledError:
            raise
        except Exception:
            if not pass_on_non_cancelled_error:
                self.logger().exception(f"Error requesting time from {self.name_cap} server")
                raise

    async def _server_time_ms(self) -> float:
        """
        The time provider of the clock synchronisation. A 429 answer gives the synchronizer its own estimate of the
        time over the request, a sample at its current offset: the clock does not move, and the synchronizer logs
        no "could not refresh server time" warning of its own (the rate-limit gate has warned once).
        """
        started = self._time_synchronizer.time()
        try:
            server_time_ms = await web_utils.get_current_server_time(throttler=self._throttler, domain=self.domain)
        except web_utils.NonkycAPIError as error:
            if not error.is_rate_limited:
                raise
            self._rate_limit_gate.rate_limited(f"GET {CONSTANTS.SERVER_TIME_PATH_URL}", error.retry_after)
            return (started + self._time_synchronizer.time()) / 2 * 1e3
        self._rate_limit_gate.succeeded()
        return server_time_ms

    async def check_network(self) -> NetworkStatus:
        """
        Connected when NonKYC answers, 429 included: a rate-limited exchange is there, and Hummingbot stops the whole
        network (order books, streams, polls) of a connector that is not connected.
        """
        if self._rate_limit_gate.limited:
            return NetworkStatus.CONNECTED
        try:
            await self._make_network_check_request()
        except asyncio.CancelledError:
            raise
        except web_utils.NonkycAPIError as error:
            return NetworkStatus.CONNECTED if error.is_rate_limited else NetworkStatus.NOT_CONNECTED
        except Exception:
            return NetworkStatus.NOT_CONNECTED
        return NetworkStatus.CONNECTED

    def _list_in_answer(self, answer: Any, path: str) -> List[Any]:
        """
        The list a listing endpoint answers. The notes describe a plain list; a list wrapped in an object (under
        `data`, `result`, `items`, `orders` or `trades`) is accepted too, and logged once.
        """
        if isinstance(answer, list):
            return answer
        if isinstance(answer, dict):
            for key in ("data", "result", "items", "orders", "trades"):
                if isinstance(answer.get(key), list):
                    if self._logged_answer_shapes.add((path, key)):
                        self.logger().warning(f"NonKYC answered {path} with an object holding the list under "
                                              f"{key!r} instead of a plain list; reading that list.")
                    return answer[key]
        raise IOError(f"Unexpected answer to {path}: {answer}")

    def _log_failed_request(self, context: str, error: Exception):
        """
        A REST step that failed and is simply tried again later: a 429 is logged at debug level (the rate-limit gate
        has warned once), anything else as a warning with the error.
        """
        rate_limited = isinstance(error, web_utils.NonkycAPIError) and error.is_rate_limited
        log = self.logger().debug if rate_limited else self.logger().warning
        log(f"{context}. Error: {type(error).__name__}: {error}")

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
        """
        Last prices of many pairs from one /tickers call, shared by every caller for LAST_PRICES_REFRESH_INTERVAL
        seconds: the order-book tracker asks every few seconds for each pair without a recent trade. Every market
        /tickers lists has a price, paused ones included (they value an asset; they are never traded).
        """
        tickers = await self._market_tickers()
        return {trading_pair: float(tickers[trading_pair].last_price)
                for trading_pair in trading_pairs if trading_pair in tickers}

    async def get_all_pairs_prices(self) -> List[Dict[str, str]]:
        """
        The prices of every market, paused ones included, from the same /tickers read, in the shape of Hummingbot's
        Binance connector: `[{"symbol": "BTC/USDT", "bidPrice": "...", "askPrice": "...", "lastPrice": "..."}]`
        (`trading_pair_associated_to_exchange_symbol` knows every such symbol).
        """
        return [ticker.as_pair_prices_row() for ticker in (await self._market_tickers()).values()]

    async def trading_pair_associated_to_exchange_symbol(self, symbol: str) -> str:
        """The pair of a tradeable market from the symbol map, else of any market /tickers lists (a paused one)."""
        symbol_map = await self.trading_pair_symbol_map()
        if symbol in symbol_map:
            return symbol_map[symbol]
        for ticker in (await self._market_tickers()).values():
            if ticker.symbol == symbol:
                return ticker.trading_pair
        raise KeyError(symbol)

    async def _market_tickers(self) -> Dict[str, MarketTicker]:
        async with self._tickers_lock:
            cache = self._tickers_cache
            if cache is not None and time.monotonic() - cache[0] < self.LAST_PRICES_REFRESH_INTERVAL:
                return cache[1]
            tickers = market_tickers(await self._api_get(path_url=CONSTANTS.TICKERS_PATH_URL), self._asset_names,
                                     log_skipped=self.logger().debug)
            self._tickers_cache = (time.monotonic(), tickers)
            return tickers

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
        book = self.order_books[trading_pair]
        best_entry = next(iter(book.ask_entries() if trade_type is TradeType.BUY else book.bid_entries()), None)
        return Decimal(str(best_entry.price)) if best_entry is not None else None

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
        best_price = self._best_opposite_price(trading_pair, trade_type)
        if best_price is None:
            raise ValueError(f"{refused} the local order book has no {opposite}s to price the limit order that "
                             f"replaces it.")
        slippage = nonkyc_utils.market_order_slippage()
        step = self._trading_rules[trading_pair].min_price_increment
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
            self._order_tracker.order_found(order.client_order_id)
            return order_data
        if not_found_error is not None:
            raise IOError(f"The {description} was not created: NonKYC does not know it after an ambiguous create "
                          f"answer ({creation_error!r}).") from not_found_error
        self.logger().warning(f"The {description} could not be confirmed after an ambiguous create answer; it stays "
                              f"pending and the order status polling will resolve it.")
        return None

    # === Cancels ===

    async def _place_cancel(self, order_id: str, tracked_order: InFlightOrder) -> bool:
        if self._order_tracker.is_waiting_for_fills(order_id):
            self.logger().info(f"Not cancelling order {order_id} ({tracked_order.trading_pair}): NonKYC reports it "
                               f"filled; it completes once its fills are recorded.")
            return False
        try:
            result = await self._api_post(
                path_url=CONSTANTS.CANCEL_ORDER_PATH_URL,
                data={"id": tracked_order.exchange_order_id or order_id},
                is_auth_required=True)
        except asyncio.TimeoutError as error:
            # Hummingbot counts a cancel time-out as "order not found"; it only means that no answer came.
            raise IOError(f"No answer from NonKYC cancelling order {order_id} ({tracked_order.trading_pair}) within "
                          f"{CONSTANTS.REST_REQUEST_TIMEOUT} s.") from error
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

    def _create_order_tracker(self) -> NonkycOrderTracker:
        return NonkycOrderTracker(connector=self)

    async def _update_order_status(self):
        """
        The order part of a status poll: the states first (one /account/orders listing, /getorder only for the
        orders it cannot confirm), then the fills of every tracked order (one account-wide /account/trades read), so
        that a FILLED state seen in this poll finds its fills in the same poll.
        """
        await self._update_orders()
        await self._update_orders_fills(list(self._order_tracker.all_fillable_orders.values()))
        self._forget_orders_no_longer_tracked()

    async def _update_orders(self):
        """
        States of the tracked orders from NonKYC's active orders (`/account/orders?status=active`, paged at 500,
        whatever the number of pairs and orders). The orders it lists are confirmed by it; the others (filled,
        cancelled, not created, or beyond a listing too long to page) are looked up one by one. A failed listing
        changes nothing: the orders keep their state until the next poll.
        """
        orders = list(self.in_flight_orders.values())
        if not orders:
            return
        try:
            active_orders, complete = await self._fetch_active_orders()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._log_failed_request(f"Could not list NonKYC's active orders; the {len(orders)} tracked orders keep "
                                     f"their state and are checked again at the next poll", error)
            return
        listed_client_ids, _ = self._update_orders_listed_as_active(active_orders)
        to_look_up = [order for order in orders if order.client_order_id not in listed_client_ids]
        if to_look_up and not complete:
            self.logger().debug(f"NonKYC lists more active orders than can be paged; looking up "
                                f"{len(to_look_up)} tracked orders one by one.")
        await self._update_orders_with_error_handler(
            orders=to_look_up, error_handler=self._handle_update_error_for_active_order)

    async def _fetch_active_orders(self) -> Tuple[List[Any], bool]:
        """The account's active orders (every pair), and whether the list is complete (`skip` stops at 500)."""
        active_orders: List[Any] = []
        skip = 0
        while True:
            params = {"status": CONSTANTS.ACCOUNT_ORDERS_STATUS_ACTIVE, "limit": CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT}
            if skip:
                params["skip"] = skip
            page = self._list_in_answer(
                await self._api_get(path_url=CONSTANTS.ACCOUNT_ORDERS_PATH_URL, params=params, is_auth_required=True),
                CONSTANTS.ACCOUNT_ORDERS_PATH_URL)
            active_orders.extend(page)
            if len(page) < CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT:
                return active_orders, True
            skip += CONSTANTS.ACCOUNT_ORDERS_PAGE_LIMIT
            if skip > CONSTANTS.MAX_PAGE_SKIP:
                return active_orders, False

    async def _handle_update_error_for_active_order(self, order: InFlightOrder, error: Exception):
        """
        Only NonKYC's "order not found" (20002) counts towards declaring an order lost (and failed). Rate limits,
        5xx, Cloudflare pages, timeouts and network errors say nothing about the order: it is looked up again at
        the next poll. (Hummingbot's default counts every error as "not found".)
        """
        description = f"order {order.client_order_id} ({order.trading_pair}, exchange id {order.exchange_order_id})"
        if self._is_order_not_found(error):
            count = self._order_tracker.not_found_count(order.client_order_id) + 1
            self.logger().warning(
                f"NonKYC does not know {description} (code 20002, {error.message}); not found {count} time(s) in a "
                f"row, it is declared lost after {self._order_tracker.lost_order_count_limit + 1}.")
            await self._order_tracker.process_order_not_found(order.client_order_id)
        else:
            self._log_failed_request(f"Could not look up {description}; it stays tracked and is looked up again at "
                                     f"the next poll", error)

    async def _request_order_status(self, tracked_order: InFlightOrder) -> OrderUpdate:
        order_data = await self._get_order_from_exchange(
            tracked_order.exchange_order_id or tracked_order.client_order_id)
        self._order_tracker.order_found(tracked_order.client_order_id)
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
        """
        The update of an order from NonKYC's view of it (REST order, WS report, create answer). The filled amount
        NonKYC reports is remembered (fills missing from it are read again) and passed on to the tracker, which
        completes a FILLED order only once those fills are recorded.
        """
        executed = self._executed_quantity(order_data)
        if executed is not None and executed > self._reported_executed.get(order.client_order_id, Decimal(0)):
            self._reported_executed[order.client_order_id] = executed
        return OrderUpdate(
            client_order_id=order.client_order_id,
            exchange_order_id=str(order_data.get("id") or order.exchange_order_id or "") or None,
            trading_pair=order.trading_pair,
            update_timestamp=self._exchange_timestamp(order_data),
            new_state=self._order_state_from_status(order_data.get("status"), order),
            misc_updates={NonkycOrderTracker.EXECUTED_AMOUNT_KEY: executed} if executed is not None else None,
        )

    @staticmethod
    def _executed_quantity(order_data: Dict[str, Any]) -> Optional[Decimal]:
        """`executedQuantity` (cumulative) of an order, or None when absent or unreadable."""
        try:
            executed = Decimal(str(order_data["executedQuantity"]))
        except (KeyError, TypeError, ArithmeticError):
            return None
        return executed if executed.is_finite() and executed >= 0 else None

    def _forget_orders_no_longer_tracked(self):
        fillable = self._order_tracker.all_fillable_orders
        for memory in (self._reported_executed, self._fill_rereads):
            for client_order_id in [key for key in memory if key not in fillable]:
                del memory[client_order_id]

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
                self._log_failed_request(
                    f"Failed to read the account trades (fills of "
                    f"{', '.join(order.client_order_id for order in orders)}); reading again from the same point at "
                    f"the next poll", error)

    async def _read_account_trades(self):
        """
        Reads the account trades since the cursor (less TRADES_SINCE_MARGIN_MS, so that trades recorded a little late
        are never skipped; fills already recorded are dropped by their trade id), page by page. The cursor moves as
        far as the trades read, and to the time of the first request once every trade is read.
        """
        request_time_ms = int(self._time_synchronizer.time() * 1e3)
        start_ms = self._account_trades_start_ms(request_time_ms)
        pages = AccountTradesPages(self._fetch_account_trades_page,
                                   since_ms=max(start_ms - self.TRADES_SINCE_MARGIN_MS, 0))
        async for trades in pages.pages():
            self._record_account_trades(trades)
            if pages.read_until_ms is not None:
                self._trades_cursor_ms = max(start_ms, pages.read_until_ms)
        if pages.complete:
            self._trades_cursor_ms = request_time_ms
            self._trades_truncation_logged = False
            self._read_again_fills_not_found(request_time_ms)
        elif pages.truncated and not self._trades_truncation_logged:
            self._trades_truncation_logged = True
            self.logger().warning(
                f"NonKYC lists /account/trades {pages.order or 'in one millisecond'} and more trades than its skip "
                f"limit (500) lets read follow {pages.since_ms}: the older ones cannot be read now, so the next poll "
                f"reads from the same point again. Their fills can still arrive through the private stream.")
        else:
            self.logger().info(f"Read {pages.requests} pages of account trades in this poll; the next poll goes on "
                               f"from {self._trades_cursor_ms}.")

    def _account_trades_start_ms(self, now_ms: int) -> int:
        """The cursor, or the creation of the oldest order with fills to read when there is no (older) cursor."""
        orders = [order for order in self._order_tracker.all_fillable_orders.values() if order.exchange_order_id]
        oldest_order_ms = min((self._creation_ms(order, now_ms) for order in orders), default=now_ms)
        return oldest_order_ms if self._trades_cursor_ms is None else max(self._trades_cursor_ms, oldest_order_ms)

    @staticmethod
    def _creation_ms(order: InFlightOrder, now_ms: int) -> int:
        created = order.creation_timestamp
        if created and not math.isnan(created) and created > 0:
            return int(created * 1e3)
        return now_ms - 24 * 60 * 60 * 1000

    async def _fetch_account_trades_page(self, params: Dict[str, Any]) -> List[Any]:
        answer = await self._api_get(path_url=CONSTANTS.ACCOUNT_TRADES_PATH_URL, params=params, is_auth_required=True)
        return self._list_in_answer(answer, CONSTANTS.ACCOUNT_TRADES_PATH_URL)

    def _record_account_trades(self, trades: List[Any]):
        orders = self._order_tracker.all_fillable_orders_by_exchange_order_id
        for trade_update in self._trade_updates_of_orders(trades, orders):
            self._process_trade_update(trade_update)

    def _trade_updates_of_orders(self, trades: List[Any], orders: Dict[str, InFlightOrder]) -> List[TradeUpdate]:
        """The fills among account trades of the orders given by exchange id; other trades are skipped quietly."""
        trade_updates = []
        for trade in trades:
            order = orders.get(str(trade.get("orderid"))) if isinstance(trade, dict) else None
            if order is None:
                continue  # a trade of an order this bot does not track
            try:
                trade_updates.append(self._trade_update_from_account_trade(order, trade))
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
        for order in list(self.in_flight_orders.values()):
            reported = self._reported_executed.get(order.client_order_id)
            if (reported is None or order.executed_amount_base >= reported
                    or self._fill_rereads.get(order.client_order_id, Decimal(-1)) >= reported):
                continue
            self._fill_rereads[order.client_order_id] = reported
            self._trades_cursor_ms = min(self._trades_cursor_ms, self._creation_ms(order, now_ms))
            self.logger().info(
                f"NonKYC reports {reported} {order.base_asset} filled for order {order.client_order_id} "
                f"({order.trading_pair}), but the account trades read so far hold {order.executed_amount_base}: the "
                f"next poll reads them again from the order's creation.")

    async def _all_trade_updates_for_order(self, order: InFlightOrder) -> List[TradeUpdate]:
        """All the fills of one order (its pair's account trades since its creation; the polls do not use this)."""
        if not order.exchange_order_id:
            return []
        symbol = await self.exchange_symbol_associated_to_pair(trading_pair=order.trading_pair)
        now_ms = int(self._time_synchronizer.time() * 1e3)

        async def fetch(params: Dict[str, Any]) -> List[Any]:
            return await self._fetch_account_trades_page({"symbol": symbol, **params})

        pages = AccountTradesPages(fetch, since_ms=max(self._creation_ms(order, now_ms) - self.TRADES_SINCE_MARGIN_MS,
                                                       0))
        trade_updates = []
        async for trades in pages.pages():
            trade_updates.extend(self._trade_updates_of_orders(trades, {order.exchange_order_id: order}))
        return trade_updates

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

    async def _update_all_balances(self):
        """The balance part of a status poll: a failure keeps the balances and is logged (429s quietly)."""
        try:
            await self._update_balances()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._log_failed_request("Failed to update balances; they are read again at the next poll", error)

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
        have been filled or cancelled while the stream was down), untracked ones are left alone. A failed look-up
        only counts when NonKYC answers "order not found".
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
            await self._update_orders_with_error_handler(
                orders=missing, error_handler=self._handle_update_error_for_active_order)
        if missing or filled_meanwhile:
            await self._update_orders_fills(filled_meanwhile + missing)

    def _update_orders_listed_as_active(self, active_orders: List[Any]) -> Tuple[Set[str], List[InFlightOrder]]:
        """
        Updates the tracked orders of a list of active orders (WS `activeOrders` or REST `/account/orders`): each
        listed order is found (its not-found count starts again) and takes the listed state when it differs. Returns
        the client ids listed and the orders whose listed filled amount is above their recorded fills.
        """
        listed_client_ids = set()
        filled_meanwhile = []
        untracked = []
        for order_data in active_orders:
            order = self._tracked_order_for_exchange_data(order_data) if isinstance(order_data, dict) else None
            if order is None:
                untracked.append(order_data)
                continue
            listed_client_ids.add(order.client_order_id)
            self._order_tracker.order_found(order.client_order_id)
            if order.client_order_id not in self._order_tracker.active_orders or order.is_done:
                continue  # finished meanwhile: a listing taken before that must not reopen it
            order_update = self._order_update_from_exchange_order(order, order_data)
            executed = self._executed_quantity(order_data)
            if executed is not None and executed > order.executed_amount_base:
                filled_meanwhile.append(order)
            changed = (order_update.new_state, order_update.exchange_order_id)
            if changed != (order.current_state, order.exchange_order_id):
                self._order_tracker.process_order_update(order_update)
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

    async def _process_balances_event(self, event_message: Dict[str, Any]):
        """`currentBalances` carries a list under `result`; `balanceUpdate` one entry (or a list) under `params`."""
        entries = event_message.get("result") if "result" in event_message else event_message.get("params")
        self._set_balances(entries if isinstance(entries, list) else [entries], event=str(event_message.get("method")))
