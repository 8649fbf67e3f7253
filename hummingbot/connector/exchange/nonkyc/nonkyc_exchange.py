import asyncio
import math
import time
from decimal import Decimal
from typing import Any, Dict, List, Optional, Set, Tuple

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
from hummingbot.connector.exchange.nonkyc.nonkyc_cancel_all import NonkycCancelAll
from hummingbot.connector.exchange.nonkyc.nonkyc_order_book_tracker import NonkycOrderBookTracker
from hummingbot.connector.exchange.nonkyc.nonkyc_order_placement import NonkycOrderPlacement
from hummingbot.connector.exchange.nonkyc.nonkyc_order_tracker import NonkycOrderTracker
from hummingbot.connector.exchange.nonkyc.nonkyc_order_updates import (
    NonkycOrderUpdates,
    exchange_timestamp,
    trading_rule_from_market,
)
from hummingbot.connector.exchange.nonkyc.nonkyc_rate_limit_gate import RateLimitGate
from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import NonkycReconciliation
from hummingbot.connector.exchange.nonkyc.nonkyc_tickers import MarketTicker, market_tickers
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import RecentKeys
from hummingbot.connector.exchange.nonkyc.nonkyc_wall_clock import WallClockDriver
from hummingbot.connector.exchange_py_base import ExchangePyBase
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.connector.utils import combine_to_hb_trading_pair
from hummingbot.core.data_type.cancellation_result import CancellationResult
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.data_type.trade_fee import TradeFeeBase
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.web_assistant.connections.data_types import RESTMethod
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory


class NonkycExchange(ExchangePyBase):
    """
    NonKYC spot exchange: Hummingbot's hooks and the wiring (requests and time sync, markets, rules, fees, prices,
    cancels, status look-ups, balances, the private stream's events). The work behind some hooks has its own module:
    placing orders `NonkycOrderPlacement`, keeping the tracked orders and their fills in line with the exchange
    `NonkycReconciliation`, cancelling every order `NonkycCancelAll`, reading the exchange's answers
    `nonkyc_order_updates`.
    """
    MARKETS_CACHE_SECONDS = 60.0
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
        self._logged_ambiguous_tickers = RecentKeys()
        self._logged_answer_shapes = RecentKeys()
        self._rate_limit_gate = RateLimitGate(logger=self.logger, sleep=lambda delay: self._sleep(delay),
                                              clock=lambda: self._time())
        self._order_updates = NonkycOrderUpdates(asset_names=self._asset_names,
                                                 fee_schema=lambda: self.trade_fee_schema(), logger=self.logger)
        self._order_placement = NonkycOrderPlacement(connector=self)
        self._reconciliation = NonkycReconciliation(connector=self)
        self._cancel_all = NonkycCancelAll(connector=self)
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
        # LIMIT_MAKER is emulated: NonKYC has no post-only flag (see NonkycOrderPlacement).
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
        fresh server time. Timeouts and network errors are raised as they are. While a cancel_all runs, the other
        private requests wait for it (nonkyc_cancel_all.CancelsFirst). The base's `overwrite_url`, `return_err` and
        `headers` are not taken: nothing here needs them.
        """
        rate_limited_retries = 0
        time_resynchronized = False
        while True:
            if is_auth_required:
                await self._cancel_all.wait_for_cancels()
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
        The server time (GET /time, at each status poll; it waits while a cancel_all runs). While NonKYC rate limits,
        the clock offset is kept and /time is not asked: the rate-limit gate says when the limiting ends.
        """
        await self._cancel_all.wait_for_cancels()
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
                    rules.append(trading_rule_from_market(trading_pair, market))
            except Exception:
                self.logger().exception(f"Error parsing the trading pair rule {market}. Skipping.")
        return rules

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
        stay pending forever: it fails instead, with that reason. An order on a pair without a trading rule (a paused,
        inactive or unknown market, which only has a price) fails at once instead of stopping Hummingbot's task.
        """
        if trading_pair not in self._trading_rules:
            reason = (f"{order_type.name} {trade_type.name} order {order_id} on {trading_pair} refused: NonKYC does "
                      f"not trade {trading_pair} through the API (paused, inactive or unknown market).")
            self.logger().warning(reason)
            self.start_tracking_order(order_id=order_id, exchange_order_id=None, trading_pair=trading_pair,
                                      trade_type=trade_type, price=price, amount=amount, order_type=order_type)
            self._update_order_after_failure(order_id=order_id, trading_pair=trading_pair, exception=ValueError(reason))
            return
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
        """Places the order and takes the exchange's view of it (see `NonkycOrderPlacement`)."""
        return await self._order_placement.place_and_process_update(order)

    async def _place_order(self,
                           order_id: str,
                           trading_pair: str,
                           amount: Decimal,
                           trade_type: TradeType,
                           order_type: OrderType,
                           price: Decimal,
                           **kwargs) -> Tuple[str, float]:
        """ExchangePyBase's contract: the exchange id and time of a new order (this connector's own path above)."""
        order_data = await self._order_placement.submit(order_id, trading_pair, amount, trade_type, order_type, price)
        return str(order_data["id"]), exchange_timestamp(order_data, self._now())

    # === Cancels ===

    async def cancel_all(self, timeout_seconds: float) -> List[CancellationResult]:
        """By pair with /cancelallorders where only this bot's orders are active, ahead of the polls (its module)."""
        return await self._cancel_all.cancel_all(timeout_seconds)

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
        if self._order_placement.is_successful_cancel_answer(result, tracked_order):
            return True
        self.logger().warning(f"Unexpected answer cancelling order {order_id} (exchange id "
                              f"{tracked_order.exchange_order_id}, {tracked_order.trading_pair}): {result}")
        return False

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
        self._reconciliation.forget_orders_no_longer_tracked()

    async def _update_orders(self):
        """The states of the tracked orders from NonKYC's active orders (see `NonkycReconciliation`)."""
        await self._reconciliation.update_orders()

    async def _handle_update_error_for_active_order(self, order: InFlightOrder, error: Exception):
        """Only NonKYC's "order not found" counts towards declaring an order lost (see `NonkycReconciliation`)."""
        await self._reconciliation.handle_update_error_for_active_order(order, error)

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
        The update of an order from NonKYC's view of it (REST order, WS report, create answer). The reconciliation
        remembers it: it reads again the fills missing from the filled amount NonKYC reports, and builds the fill of
        an order whose fills cannot be read from it.
        """
        self._reconciliation.remember_reported(order.client_order_id, order_data)
        return self._order_updates.order_update(order, order_data, self._now())

    def _now(self) -> float:
        """The clock's time, or the machine's before the clock has ticked."""
        timestamp = self.current_timestamp
        return self._time() if timestamp is None or math.isnan(timestamp) else timestamp

    # === Fills ===

    async def _update_orders_fills(self, orders: List[InFlightOrder]):
        """The fills of the tracked orders from one account-wide /account/trades read (see `NonkycReconciliation`)."""
        await self._reconciliation.update_orders_fills(orders)

    async def _all_trade_updates_for_order(self, order: InFlightOrder) -> List[TradeUpdate]:
        """All the fills of one order (its pair's account trades since its creation; the polls do not use this)."""
        return await self._reconciliation.all_trade_updates_for_order(order)

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
            CONSTANTS.WS_EVENT_ACTIVE_ORDERS: self._reconciliation.process_active_orders_event,
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

    async def _process_order_report_event(self, event_message: Dict[str, Any]):
        report = event_message["params"]
        order = self._reconciliation.tracked_order(report)
        if order is None:
            self.logger().debug(f"Ignoring a NonKYC report for an order this bot does not track: {report}")
            return
        if report.get("tradeId") is not None or str(report.get("reportType", "")).lower() == "trade":
            self._reconciliation.process_trade_update(self._order_updates.trade_update_from_report(
                order, report, default_timestamp=self.current_timestamp))
        if "status" in report and order.client_order_id in self._order_tracker.all_updatable_orders:
            self._order_tracker.process_order_update(self._order_update_from_exchange_order(order, report))

    async def _process_balances_event(self, event_message: Dict[str, Any]):
        """`currentBalances` carries a list under `result`; `balanceUpdate` one entry (or a list) under `params`."""
        entries = event_message.get("result") if "result" in event_message else event_message.get("params")
        self._set_balances(entries if isinstance(entries, list) else [entries], event=str(event_message.get("method")))
