import json
import logging
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeRestTestCase,
    NonkycExchangeShapes,
    clear_url_overrides,
    url_regex,
    wait_until,
)
from typing import Any, Callable, Dict, List, Optional, Tuple
from unittest.mock import MagicMock

from aioresponses import aioresponses
from aioresponses.core import RequestCall

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.test_support.exchange_connector_test import AbstractExchangeConnectorTests
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_row import OrderBookRow
from hummingbot.core.data_type.trade_fee import (
    AddedToCostTradeFee,
    DeductedFromReturnsTradeFee,
    TokenAmount,
    TradeFeeBase,
)


class NonkycExchangeTests(AbstractExchangeConnectorTests.ExchangeConnectorTests):
    """Hummingbot's generic connector suite, fed with NonKYC shapes."""

    def setUp(self) -> None:
        clear_url_overrides(self)
        super().setUp()

    # --- URLs ---

    @property
    def all_symbols_url(self):
        return web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL)

    @property
    def latest_prices_url(self):
        return web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL)

    @property
    def network_status_url(self):
        return web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL)

    @property
    def trading_rules_url(self):
        return web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL)

    @property
    def order_creation_url(self):
        return web_utils.private_rest_url(CONSTANTS.CREATE_ORDER_PATH_URL)

    @property
    def balance_url(self):
        return web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL)

    # --- Responses ---

    @property
    def all_symbols_request_mock_response(self):
        return [NonkycExchangeShapes.market(self.exchange_trading_pair)]

    @property
    def latest_prices_request_mock_response(self):
        return [{
            "ticker_id": f"{self.base_asset}_{self.quote_asset}", "base_currency": self.base_asset,
            "target_currency": self.quote_asset, "last_price": str(self.expected_latest_price),
            "bid": "9999.0", "ask": "10001.0", "high": "10100.0", "low": "9900.0",
            "base_volume": "112345.8300", "target_volume": "18969.8608",
        }]

    @property
    def all_symbols_including_invalid_pair_mock_response(self) -> Tuple[str, Any]:
        response = [
            NonkycExchangeShapes.market(self.exchange_trading_pair),
            NonkycExchangeShapes.market("INVALID/PAIR", isPaused=True),
        ]
        return "INVALID-PAIR", response

    @property
    def network_status_request_successful_mock_response(self):
        return {"serverTime": 1772170404982}

    @property
    def trading_rules_request_mock_response(self):
        return [NonkycExchangeShapes.market(self.exchange_trading_pair)]

    @property
    def trading_rules_request_erroneous_mock_response(self):
        return [{"symbol": self.exchange_trading_pair, "primaryTicker": self.base_asset, "isActive": True,
                 "isPaused": False, "minimumQuantity": 0.01}]

    @property
    def order_creation_request_successful_mock_response(self):
        return {
            "id": self.expected_exchange_order_id, "userProvidedId": "ignored",
            "market": {"id": NonkycExchangeShapes.market_id, "symbol": self.exchange_trading_pair},
            "symbol": self.exchange_trading_pair, "side": "buy", "type": "limit", "price": "10000.0000",
            "quantity": "100.000000", "executedQuantity": "0", "remainQuantity": "100.000000", "status": "Active",
            "isActive": True, "createdAt": 1640780000000, "updatedAt": 1640780000000,
        }

    @property
    def balance_request_mock_response_for_base_and_quote(self):
        return [
            {"asset": self.base_asset, "name": "Coin Alpha", "available": "10", "held": "5", "pending": "0",
             "assetid": "6982a6966fe9953e2576d261"},
            {"asset": self.quote_asset, "name": "HBOT", "available": "2000", "held": "0", "pending": "0",
             "assetid": "6982a6966fe9953e2576d262"},
        ]

    @property
    def balance_request_mock_response_only_base(self):
        return [{"asset": self.base_asset, "name": "Coin Alpha", "available": "10", "held": "5", "pending": "0",
                 "assetid": "6982a6966fe9953e2576d261"}]

    @property
    def balance_event_websocket_update(self):
        return {"jsonrpc": "2.0", "method": "balanceUpdate",
                "params": {"ticker": self.base_asset, "available": "10", "held": "5"}}

    @property
    def expected_latest_price(self):
        return 9999.9

    @property
    def expected_supported_order_types(self):
        return [OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]

    @property
    def expected_trading_rule(self):
        return TradingRule(
            trading_pair=self.trading_pair,
            min_order_size=Decimal("0.01"),
            min_price_increment=Decimal("0.0001"),
            min_base_amount_increment=Decimal("0.000001"),
            min_notional_size=Decimal("1"),
            supports_market_orders=True,
        )

    @property
    def expected_logged_error_for_erroneous_trading_rule(self):
        return f"Error parsing the trading pair rule {self.trading_rules_request_erroneous_mock_response[0]}. Skipping."

    @property
    def expected_exchange_order_id(self):
        return NonkycExchangeShapes.exchange_order_id

    @property
    def is_order_fill_http_update_included_in_status_update(self) -> bool:
        return True

    @property
    def is_order_fill_http_update_executed_during_websocket_order_event_processing(self) -> bool:
        return False

    @property
    def expected_partial_fill_price(self) -> Decimal:
        return Decimal("10500")

    @property
    def expected_partial_fill_amount(self) -> Decimal:
        return Decimal("0.5")

    @property
    def expected_fill_fee(self) -> TradeFeeBase:
        return AddedToCostTradeFee(
            percent_token=self.quote_asset,
            flat_fees=[TokenAmount(token=self.quote_asset, amount=Decimal("30"))])

    @property
    def expected_fill_trade_id(self) -> str:
        return NonkycExchangeShapes.trade_id

    def exchange_symbol_for_tokens(self, base_token: str, quote_token: str) -> str:
        return f"{base_token}/{quote_token}"

    def create_exchange_instance(self):
        return NonkycExchange(
            nonkyc_api_key="testAPIKey",
            nonkyc_api_secret="testSecret",
            trading_pairs=[self.trading_pair],
        )

    # --- Request validation ---

    def validate_auth_credentials_present(self, request_call: RequestCall):
        headers = request_call.kwargs["headers"]
        self.assertEqual("testAPIKey", headers["X-API-KEY"])
        self.assertTrue(headers["X-API-NONCE"].isdigit())
        self.assertRegex(headers["X-API-SIGN"], r"^[0-9a-f]{64}$")

    def validate_order_creation_request(self, order: InFlightOrder, request_call: RequestCall):
        request_data = json.loads(request_call.kwargs["data"])
        self.assertEqual(self.exchange_trading_pair, request_data["symbol"])
        self.assertEqual(order.trade_type.name.lower(), request_data["side"])
        self.assertEqual("limit", request_data["type"])
        self.assertEqual(f"{order.amount.quantize(Decimal('0.000001'))}", request_data["quantity"])
        self.assertEqual(f"{order.price.quantize(Decimal('0.0001'))}", request_data["price"])
        self.assertEqual(order.client_order_id, request_data["userProvidedId"])
        self.assertIs(True, request_data["strictValidate"])

    def validate_order_cancelation_request(self, order: InFlightOrder, request_call: RequestCall):
        request_data = json.loads(request_call.kwargs["data"])
        self.assertEqual({"id": order.exchange_order_id}, request_data)

    def validate_order_status_request(self, order: InFlightOrder, request_call: RequestCall):
        self.assertIsNone(request_call.kwargs["params"])
        self.assertIsNone(request_call.kwargs["data"])

    def validate_trades_request(self, order: InFlightOrder, request_call: RequestCall):
        # The query (symbol, since, limit) is signed inside the URL; the fills tests of NonkycExchangeBehaviourTests
        # check its content.
        self.assertIsNone(request_call.kwargs["params"])
        self.assertIsNone(request_call.kwargs["data"])

    # --- Mocked answers ---

    def _order_status_url(self, order: InFlightOrder) -> str:
        return web_utils.private_rest_url(CONSTANTS.GET_ORDER_PATH_URL.format(order.exchange_order_id))

    def _trades_url(self) -> str:
        return web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL)

    def _configure_order_status(self, order: InFlightOrder, mock_api: aioresponses, body: Any, status: int = 200,
                                callback: Optional[Callable] = None) -> str:
        url = self._order_status_url(order)
        mock_api.get(url_regex(url), body=json.dumps(body), status=status, callback=callback)
        return url

    def _configure_trades(self, mock_api: aioresponses, body: Any, status: int = 200,
                          callback: Optional[Callable] = None) -> str:
        url = self._trades_url()
        mock_api.get(url_regex(url, with_query=True), body=json.dumps(body), status=status, callback=callback)
        return url

    def configure_successful_cancelation_response(self, order: InFlightOrder, mock_api: aioresponses,
                                                  callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        url = web_utils.private_rest_url(CONSTANTS.CANCEL_ORDER_PATH_URL)
        mock_api.post(url, body=json.dumps({"success": True, "id": order.exchange_order_id}), callback=callback)
        return url

    def configure_erroneous_cancelation_response(self, order: InFlightOrder, mock_api: aioresponses,
                                                 callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        url = web_utils.private_rest_url(CONSTANTS.CANCEL_ORDER_PATH_URL)
        mock_api.post(url, status=400, body=json.dumps({"error": {"code": 10001, "message": "Validation error"}}),
                      callback=callback)
        return url

    def configure_order_not_found_error_cancelation_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        url = web_utils.private_rest_url(CONSTANTS.CANCEL_ORDER_PATH_URL)
        body = {"error": {"code": 20002, "message": "Active order not found for cancellation"}}
        mock_api.post(url, status=400, body=json.dumps(body), callback=callback)
        return url

    def configure_one_successful_one_erroneous_cancel_all_response(
            self, successful_order: InFlightOrder, erroneous_order: InFlightOrder,
            mock_api: aioresponses) -> List[str]:
        self.configure_successful_cancelation_response(order=successful_order, mock_api=mock_api)
        url = self.configure_erroneous_cancelation_response(order=erroneous_order, mock_api=mock_api)
        return [url]

    # A status poll lists the active orders (/account/orders?status=active) and looks up with /getorder only the
    # tracked orders that list does not show: an open or partly filled order is confirmed by the list alone.

    def _active_orders_url(self) -> str:
        return web_utils.private_rest_url(CONSTANTS.ACCOUNT_ORDERS_PATH_URL)

    def _configure_active_orders(self, mock_api: aioresponses, orders: List[Dict[str, Any]],
                                 callback: Optional[Callable] = None) -> str:
        url = self._active_orders_url()
        mock_api.get(url_regex(url, with_query=True), body=json.dumps(orders), callback=callback)
        return url

    def configure_completely_filled_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> List[str]:
        body = NonkycExchangeShapes.order(order, "Filled", executed=order.amount,
                                          exchange_symbol=self.exchange_trading_pair)
        return [self._configure_active_orders(mock_api, []),
                self._configure_order_status(order, mock_api, body, callback=callback)]

    def configure_canceled_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> List[str]:
        body = NonkycExchangeShapes.order(order, "Cancelled", exchange_symbol=self.exchange_trading_pair)
        return [self._configure_active_orders(mock_api, []),
                self._configure_order_status(order, mock_api, body, callback=callback)]

    def configure_open_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> List[str]:
        body = NonkycExchangeShapes.order(order, "Active", exchange_symbol=self.exchange_trading_pair)
        return [self._configure_active_orders(mock_api, [body], callback=callback)]

    def configure_http_error_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        self._configure_active_orders(mock_api, [])
        url = self._order_status_url(order)
        mock_api.get(url_regex(url), status=500, body="Internal server error", callback=callback)
        return url

    def configure_partially_filled_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        body = NonkycExchangeShapes.order(order, "Partly Filled", executed=self.expected_partial_fill_amount,
                                          exchange_symbol=self.exchange_trading_pair)
        return self._configure_active_orders(mock_api, [body], callback=callback)

    def configure_order_not_found_error_order_status_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> List[str]:
        body = {"error": {"code": 20002, "message": "Order not found"}}
        self._configure_active_orders(mock_api, [])
        return [self._configure_order_status(order, mock_api, body, status=404, callback=callback)]

    def configure_partial_fill_trade_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        trade = NonkycExchangeShapes.account_trade(
            order, quantity=self.expected_partial_fill_amount, price=self.expected_partial_fill_price,
            fee=Decimal("30"), exchange_symbol=self.exchange_trading_pair)
        return self._configure_trades(mock_api, [trade], callback=callback)

    def configure_erroneous_http_fill_trade_response(
            self, order: InFlightOrder, mock_api: aioresponses,
            callback: Optional[Callable] = lambda *args, **kwargs: None) -> str:
        return self._configure_trades(mock_api, {"error": {"code": 400, "message": "Bad Request"}}, status=400,
                                      callback=callback)

    def configure_full_fill_trade_response(
            self, order: InFlightOrder, mock_api: aioresponses, callback: Optional[Callable] = None) -> str:
        trade = NonkycExchangeShapes.account_trade(
            order, quantity=order.amount, price=order.price, fee=Decimal("30"),
            exchange_symbol=self.exchange_trading_pair)
        return self._configure_trades(mock_api, [trade], callback=callback)

    # --- WebSocket events ---

    def _report(self, order: InFlightOrder, status: str, report_type: str, **fields) -> Dict[str, Any]:
        params = NonkycExchangeShapes.order(order, status, exchange_symbol=self.exchange_trading_pair)
        params["reportType"] = report_type
        params.update(fields)
        return {"jsonrpc": "2.0", "method": "report", "params": params}

    def order_event_for_new_order_websocket_update(self, order: InFlightOrder):
        return self._report(order, "New", "new")

    def order_event_for_canceled_order_websocket_update(self, order: InFlightOrder):
        return self._report(order, "Cancelled", "canceled")

    def order_event_for_full_fill_websocket_update(self, order: InFlightOrder):
        return self._report(
            order, "Filled", "trade", executedQuantity=str(order.amount), remainQuantity="0",
            tradeId=self.expected_fill_trade_id, tradeQuantity=str(order.amount), tradePrice=str(order.price),
            tradeFee="30")

    def trade_event_for_full_fill_websocket_update(self, order: InFlightOrder):
        # A NonKYC trade report carries both the fill and the new order state (see the order event above).
        return None

    @aioresponses()
    async def test_update_order_status_when_request_fails_marks_order_as_not_found(self, mock_api):
        # Replaces the generic test, whose contract is the bug this connector fixes: an HTTP 500 on a look-up says
        # nothing about the order, so it must not count towards declaring the order lost.
        self.exchange._set_current_timestamp(1640780000)
        self.exchange.start_tracking_order(
            order_id=self.client_order_id_prefix + "1", exchange_order_id=str(self.expected_exchange_order_id),
            trading_pair=self.trading_pair, order_type=OrderType.LIMIT, trade_type=TradeType.BUY,
            price=Decimal("10000"), amount=Decimal("1"))
        order: InFlightOrder = self.exchange.in_flight_orders[self.client_order_id_prefix + "1"]
        url = self.configure_http_error_order_status_response(order=order, mock_api=mock_api)

        await self.exchange._update_order_status()

        self.validate_auth_credentials_present(self._all_executed_requests(mock_api, url)[0])
        self.assertTrue(order.is_open)
        self.assertEqual(0, self.exchange._order_tracker.not_found_count(order.client_order_id))
        expected_log = (f"Could not look up order {order.client_order_id} ({self.trading_pair}, exchange id "
                        f"{order.exchange_order_id}); it stays tracked and is looked up again at the next poll. "
                        f"Error: NonkycAPIError: Error executing request GET")
        self.assertTrue(any(record.levelname == "WARNING" and record.getMessage().startswith(expected_log)
                            for record in self.log_records))

    async def test_user_stream_logs_errors(self):
        # The generic test sends a plain string; it must reach the listener's loop-level error line.
        await super().test_user_stream_logs_errors()
        self.assertFalse(any("testSecret" in record.getMessage() for record in self.log_records))

    async def test_all_trading_pairs_uses_one_markets_request_for_symbols_and_rules(self):
        with aioresponses() as mock_api:
            self.exchange._set_trading_pair_symbol_map(None)
            self.configure_all_symbols_response(mock_api=mock_api)
            pairs = await self.exchange.all_trading_pairs()
            await self.exchange._update_trading_rules()

            self.assertEqual([self.trading_pair], pairs)
            self.assertIn(self.trading_pair, self.exchange.trading_rules)
            markets_calls = self._all_executed_requests(mock_api, self.all_symbols_url)
            self.assertEqual(1, len(markets_calls))

    async def test_create_order_request_has_no_price_for_market_orders(self):
        self._simulate_trading_rules_initialized()
        self.exchange._trading_rules[self.trading_pair].supports_market_orders = True
        with aioresponses() as mock_api:
            mock_api.post(self.order_creation_url,
                          body=json.dumps(self.order_creation_request_successful_mock_response))
            self.exchange._set_current_timestamp(1640780000)
            self.exchange.order_book_tracker._order_books[self.trading_pair] = self._book_with(
                bids=[(9990, 10)], asks=[(10010, 10)])
            order_id = self.place_sell_order(amount=Decimal("1.2345678"), order_type=OrderType.MARKET)
            await wait_until(lambda: order_id in self.exchange.in_flight_orders
                             and self.exchange.in_flight_orders[order_id].is_open, what="the market order to be open")

            request = json.loads(self._all_executed_requests(mock_api, self.order_creation_url)[0].kwargs["data"])
            self.assertEqual({"symbol": self.exchange_trading_pair, "side": "sell", "type": "market",
                              "quantity": "1.234567", "userProvidedId": order_id, "strictValidate": True}, request)
            self.assertTrue(self.exchange.in_flight_orders[order_id].is_open)

    def _book_with(self, bids: List[Tuple[float, float]], asks: List[Tuple[float, float]]):
        book = OrderBook()
        book.apply_snapshot([OrderBookRow(price, amount, 1) for price, amount in bids],
                            [OrderBookRow(price, amount, 1) for price, amount in asks], 1)
        return book


class NonkycExchangeBehaviourTests(NonkycExchangeRestTestCase):
    """
    What the exchange itself does on its REST side: markets and trading rules, fees, the status request, balances,
    prices, keys and construction. Order placement, status translation, fills and cancel_all are tested in
    test_nonkyc_order_placement.py, test_nonkyc_order_updates.py, test_nonkyc_reconciliation.py and
    test_nonkyc_cancel_all.py.
    """

    # --- Symbols and trading rules ---

    @aioresponses()
    async def test_markets_map_symbols_and_skip_untradeable_and_malformed_entries(self, mock_api):
        markets = [
            NonkycExchangeShapes.market("IMX/USDT", price_decimals=4, quantity_decimals=2, minimumQuantity=2,
                                        minQuote=1, isMinQuoteActive=True),
            NonkycExchangeShapes.market("SAL/USDT", price_decimals=6, quantity_decimals=4, minimumQuantity=1,
                                        minQuote=5, isMinQuoteActive=False, allowMarketOrders=False),
            NonkycExchangeShapes.market("OFF/USDT", isActive=False),
            NonkycExchangeShapes.market("PAUSE/USDT", isPaused=True),
            NonkycExchangeShapes.market("HIDDEN/USDT", apiExcluded=True),
            NonkycExchangeShapes.market("BTC/USDT-TRC20"),
            {"symbol": "BAD/USDT", "isActive": True, "isPaused": False, "primaryTicker": "BAD"},
            {"symbol": None, "isActive": True},
        ]
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL), body=json.dumps(markets))
        self.exchange._set_trading_pair_symbol_map(None)

        await self.exchange._update_trading_rules()

        self.assertEqual({"IMX/USDT": "IMX-USDT", "SAL/USDT": "SAL-USDT", "BAD/USDT": "BAD-USDT",
                          "BTC/USDT-TRC20": "BTC-USDT_TRC20"},
                         dict(await self.exchange.trading_pair_symbol_map()))
        self.assertEqual({"IMX-USDT", "SAL-USDT", "BTC-USDT_TRC20"}, set(self.exchange.trading_rules))
        imx = self.exchange.trading_rules["IMX-USDT"]
        self.assertEqual((Decimal("2"), Decimal("0.0001"), Decimal("0.01"), Decimal("1"), True),
                         (imx.min_order_size, imx.min_price_increment, imx.min_base_amount_increment,
                          imx.min_notional_size, imx.supports_market_orders))
        sal = self.exchange.trading_rules["SAL-USDT"]
        self.assertEqual((Decimal("1"), Decimal("0.000001"), Decimal("0.0001"), Decimal("0"), False),
                         (sal.min_order_size, sal.min_price_increment, sal.min_base_amount_increment,
                          sal.min_notional_size, sal.supports_market_orders))
        self.assertTrue(self.logged("ERROR", "Error parsing the trading pair rule {'symbol': 'BAD/USDT'"))
        self.assertTrue(self.logged("ERROR", "Error parsing the NonKYC market {'symbol': None"))

    @aioresponses()
    async def test_a_second_market_for_the_same_pair_is_skipped_with_a_warning(self, mock_api):
        markets = [NonkycExchangeShapes.market("IMX/USDT"),
                   {**NonkycExchangeShapes.market("IMXUSDT"), "primaryAsset": {"ticker": "IMX"},
                    "secondaryAsset": {"ticker": "USDT"}}]
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL), body=json.dumps(markets))
        self.exchange._set_trading_pair_symbol_map(None)

        await self.exchange._update_trading_rules()

        self.assertEqual({"IMX/USDT": "IMX-USDT"}, dict(await self.exchange.trading_pair_symbol_map()))
        self.assertTrue(self.logged("WARNING",
                                    "Skipping NonKYC market IMXUSDT: IMX-USDT is already mapped to IMX/USDT."))

    @aioresponses()
    async def test_a_markets_answer_that_is_not_a_list_is_an_error(self, mock_api):
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL), body=json.dumps({"markets": []}))

        with self.assertRaises(IOError) as context:
            await self.exchange._update_trading_rules()

        self.assertEqual("Unexpected answer to /market/getlist: {'markets': []}", str(context.exception))

    def test_fee_estimate_is_maker_for_limit_maker_orders_and_in_the_quote_asset(self):
        # Fee overrides of a user with different maker and taker fees
        self.exchange.estimate_fee_pct = MagicMock(
            side_effect=lambda is_maker: Decimal("0.001") if is_maker else Decimal("0.003"))

        maker_buy = self.exchange.get_fee("COINALPHA", "HBOT", OrderType.LIMIT_MAKER, TradeType.BUY, Decimal("1"))
        taker_sell = self.exchange.get_fee("COINALPHA", "HBOT", OrderType.LIMIT, TradeType.SELL, Decimal("1"))
        resting_limit = self.exchange.get_fee("COINALPHA", "HBOT", OrderType.LIMIT, TradeType.BUY, Decimal("1"),
                                              is_maker=True)

        self.assertIsInstance(maker_buy, AddedToCostTradeFee)
        self.assertEqual((Decimal("0.001"), "HBOT"), (maker_buy.percent, maker_buy.percent_token))
        self.assertIsInstance(taker_sell, DeductedFromReturnsTradeFee)
        self.assertEqual((Decimal("0.003"), "HBOT"), (taker_sell.percent, taker_sell.percent_token))
        self.assertEqual(Decimal("0.001"), resting_limit.percent)

    # --- Status request ---

    @aioresponses()
    async def test_a_status_answer_that_is_not_an_order_is_an_error(self, mock_api):
        order = self.track()
        self.configure_lookup(mock_api, NonkycExchangeShapes.exchange_order_id, [])

        with self.assertRaises(IOError) as context:
            await self.exchange._request_order_status(order)

        self.assertEqual(f"Unexpected answer to the status request of order {order.exchange_order_id}: []",
                         str(context.exception))

    # --- Balances and prices ---

    @aioresponses()
    async def test_balances_total_is_available_plus_held_and_bad_entries_are_skipped(self, mock_api):
        balances = [{"asset": "USDT", "name": "Tether", "available": "5.82701928", "held": "1.5", "pending": "9",
                     "assetid": "6982a6966fe9953e2576d260"},
                    {"asset": "SAL", "available": "abc", "held": "0"}]
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps(balances))

        await self.exchange._update_balances()

        self.assertEqual(Decimal("5.82701928"), self.exchange.available_balances["USDT"])
        self.assertEqual(Decimal("7.32701928"), self.exchange.get_balance("USDT"))
        self.assertNotIn("SAL", self.exchange.get_all_balances())
        self.assertTrue(self.logged("WARNING", "Skipping malformed NonKYC balance entry in /balances"))

    @aioresponses()
    async def test_a_balances_answer_that_is_not_a_list_is_an_error_and_keeps_the_balances(self, mock_api):
        self.exchange._account_balances["USDT"] = Decimal("7")
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps({"USDT": "1"}))

        with self.assertRaises(IOError) as context:
            await self.exchange._update_balances()

        self.assertEqual("Unexpected answer to /balances: {'USDT': '1'}", str(context.exception))
        self.assertEqual(Decimal("7"), self.exchange.get_balance("USDT"))

    @aioresponses()
    async def test_connect_path_updates_balances_on_a_fresh_instance_without_start_network(self, mock_api):
        exchange = NonkycExchange(nonkyc_api_key="key", nonkyc_api_secret="secret", trading_pairs=[])
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL),
                     body=json.dumps({"serverTime": 1772170404982}))
        mock_api.get(self.url(CONSTANTS.BALANCES_PATH_URL),
                     body=json.dumps([{"asset": "USDT", "available": "10", "held": "2"}]))

        await exchange._update_balances()

        self.assertEqual(Decimal("12"), exchange.get_balance("USDT"))

    def test_construction_with_empty_keys_for_paper_trade(self):
        exchange = NonkycExchange(nonkyc_api_key="", nonkyc_api_secret="", trading_pairs=[self.trading_pair],
                                  trading_required=False)

        self.assertEqual("nonkyc", exchange.name)
        self.assertTrue(exchange.status_dict["account_balance"])
        self.assertTrue(exchange.status_dict["user_stream_initialized"])

    @aioresponses()
    async def test_last_traded_prices_of_many_pairs_with_one_tickers_call(self, mock_api):
        tickers = [
            {"ticker_id": "COINALPHA_HBOT", "base_currency": "COINALPHA", "target_currency": "HBOT",
             "last_price": "10000.5", "bid": "1", "ask": "2"},
            {"ticker_id": "ETH_USDT", "base_currency": "ETH", "target_currency": "USDT", "last_price": "2000.25"},
            {"ticker_id": "IMX_USDT", "base_currency": "IMX", "target_currency": "USDT", "last_price": "0.1706"},
            {"ticker_id": "BROKEN"},
        ]
        mock_api.get(web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL), body=json.dumps(tickers))

        prices = await self.exchange.get_last_traded_prices([self.trading_pair, self.other_pair])

        self.assertEqual({self.trading_pair: 10000.5, self.other_pair: 2000.25}, prices)
        self.assertEqual(1, len(mock_api.requests))

    @aioresponses()
    async def test_last_traded_price_of_one_pair(self, mock_api):
        tickers = [{"ticker_id": "ETH_USDT", "base_currency": "ETH", "target_currency": "USDT",
                    "last_price": "2000.25"}]
        mock_api.get(web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL), body=json.dumps(tickers))

        self.assertEqual(2000.25, await self.exchange._get_last_traded_price(self.other_pair))

    @aioresponses()
    async def test_no_log_line_carries_the_key_secret_or_signature(self, mock_api):
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), status=401,
                      body=json.dumps({"error": {"code": 1002, "message": "Authorization failed"}}), repeat=True)
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL),
                     body=json.dumps({"serverTime": 1640780000000}), repeat=True)
        signatures = []
        original_authenticate = self.exchange._auth.rest_authenticate

        async def remember_signature(request):
            signed = await original_authenticate(request)
            signatures.append(signed.headers["X-API-SIGN"])
            return signed

        self.exchange._auth.rest_authenticate = remember_signature
        order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.LIMIT, Decimal("10000"))
        await wait_until(lambda: self.failures.event_log, what="the order refused for its credentials to fail")

        self.assertEqual(order_id, self.failures.event_log[0].order_id)
        self.assertIn("NonKYC refused the API credentials for POST /createorder",
                      self.failures.event_log[0].error_message)
        self.assertTrue(signatures)
        for record in self.log_records:
            text = record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                          if record.exc_info else "")
            for secret in ["testSecret", "testAPIKey"] + signatures:
                self.assertNotIn(secret, text)
