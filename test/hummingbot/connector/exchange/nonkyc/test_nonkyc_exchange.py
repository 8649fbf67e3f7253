import asyncio
import json
import logging
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    clear_url_overrides,
    url_regex,
    wait_until,
)
from typing import Any, Callable, Dict, List, Optional, Tuple
from unittest.mock import MagicMock

import aiohttp
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_exchange import NonkycExchange
from hummingbot.connector.exchange.nonkyc.nonkyc_reconciliation import NonkycReconciliation
from hummingbot.connector.test_support.exchange_connector_test import AbstractExchangeConnectorTests
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_row import OrderBookRow
from hummingbot.core.data_type.trade_fee import (
    AddedToCostTradeFee,
    DeductedFromReturnsTradeFee,
    TokenAmount,
    TradeFeeBase,
)
from hummingbot.core.event.events import MarketEvent


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


class NonkycExchangeBehaviourTests(NonkycExchangeTestCase):
    """NonKYC-specific behaviour of the exchange's REST side, with aioresponses and the real NonKYC shapes."""

    trading_pair = "COINALPHA-HBOT"
    exchange_symbol = "COINALPHA/HBOT"
    other_pair = "ETH-USDT"
    other_symbol = "ETH/USDT"
    symbol_map = {exchange_symbol: trading_pair, other_symbol: other_pair}

    def setUp(self) -> None:
        super().setUp()
        self.exchange._trading_rules = {
            self.trading_pair: TradingRule(self.trading_pair, min_order_size=Decimal("0.01"),
                                           min_price_increment=Decimal("0.0001"),
                                           min_base_amount_increment=Decimal("0.000001"),
                                           supports_market_orders=True),
            self.other_pair: TradingRule(self.other_pair, min_order_size=Decimal("0.001"),
                                         min_price_increment=Decimal("0.01"),
                                         min_base_amount_increment=Decimal("0.0001"),
                                         supports_market_orders=False),
        }
        self.failures = self.events[MarketEvent.OrderFailure]
        self.fills = self.events[MarketEvent.OrderFilled]

    def track(self, client_id: str = "HBOT1", exchange_id: Optional[str] = NonkycExchangeShapes.exchange_order_id,
              trading_pair: Optional[str] = None, amount: str = "1", price: str = "10000",
              trade_type: TradeType = TradeType.BUY) -> InFlightOrder:
        self.exchange.start_tracking_order(
            order_id=client_id, exchange_order_id=exchange_id, trading_pair=trading_pair or self.trading_pair,
            trade_type=trade_type, price=Decimal(price), amount=Decimal(amount), order_type=OrderType.LIMIT)
        return self.exchange.in_flight_orders[client_id]

    @staticmethod
    def url(path: str) -> str:
        return web_utils.private_rest_url(path)

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

    # --- Orders ---

    def order_state(self, order_id: str) -> Optional[OrderState]:
        order = self.exchange._order_tracker.all_orders.get(order_id)
        return order.current_state if order is not None else None

    async def place_and_wait(self, mock_api: aioresponses, order_type: OrderType, price: Decimal,
                             trade_type: TradeType = TradeType.BUY, amount: Decimal = Decimal("1"),
                             trading_pair: Optional[str] = None) -> str:
        """Places an order (the exchange accepts it as New) and waits until it is open or failed."""
        body = {"id": NonkycExchangeShapes.exchange_order_id, "status": "New", "createdAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(body))
        place = self.exchange.buy if trade_type is TradeType.BUY else self.exchange.sell
        order_id = place(trading_pair or self.trading_pair, amount, order_type, price)
        await wait_until(lambda: self.order_state(order_id) in (OrderState.OPEN, OrderState.FAILED),
                         what=lambda: f"order {order_id} to be open or failed (state {self.order_state(order_id)})")
        return order_id

    def create_requests(self, mock_api: aioresponses) -> List[Dict[str, Any]]:
        calls = mock_api.requests.get(("POST", URL(self.url(CONSTANTS.CREATE_ORDER_PATH_URL))), [])
        return [json.loads(call.kwargs["data"]) for call in calls]

    @aioresponses()
    async def test_client_order_id_is_the_user_provided_id_of_at_most_32_characters(self, mock_api):
        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT, Decimal("9000.123456"))

        request = self.create_requests(mock_api)[0]
        self.assertEqual(order_id, request["userProvidedId"])
        self.assertTrue(order_id.startswith(CONSTANTS.HBOT_ORDER_ID_PREFIX))
        self.assertLessEqual(len(order_id), 32)
        self.assertEqual("9000.1234", request["price"])
        self.assertEqual("1.000000", request["quantity"])
        order = self.exchange.in_flight_orders[order_id]
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)

    @aioresponses()
    async def test_limit_maker_is_placed_as_limit_when_it_would_rest(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[(10010, 1)])

        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10009.99"))

        request = self.create_requests(mock_api)[0]
        self.assertEqual(("limit", "10009.9900"), (request["type"], request["price"]))
        self.assertTrue(self.exchange.in_flight_orders[order_id].is_open)

    @aioresponses()
    async def test_limit_maker_is_placed_when_the_opposite_side_of_the_book_is_empty(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[])

        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("20000"))

        self.assertEqual("20000.0000", self.create_requests(mock_api)[0]["price"])
        self.assertTrue(self.exchange.in_flight_orders[order_id].is_open)

    @aioresponses()
    async def test_limit_maker_that_would_take_liquidity_fails_without_reaching_the_exchange(self, mock_api):
        self.set_book(bids=[(9990, 1)], asks=[(10010, 1)])

        buy_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10010"))
        sell_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("9990"), TradeType.SELL)

        self.assertEqual([], self.create_requests(mock_api))
        self.assertEqual([buy_id, sell_id], [event.order_id for event in self.failures.event_log])
        self.assertTrue(self.logged("INFO", "LIMIT_MAKER BUY order on COINALPHA-HBOT at 10010.0000 refused: it would "
                                            "take liquidity (best ask is 10010.0)"))
        self.assertTrue(self.logged("INFO", "LIMIT_MAKER SELL order on COINALPHA-HBOT at 9990.0000 refused"))

    @aioresponses()
    async def test_limit_maker_without_a_local_book_fails_with_a_clear_message(self, mock_api):
        order_id = await self.place_and_wait(mock_api, OrderType.LIMIT_MAKER, Decimal("10000"))

        self.assertEqual([], self.create_requests(mock_api))
        self.assertEqual(order_id, self.failures.event_log[0].order_id)
        self.assertTrue(self.logged("INFO", "there is no local order book to check that it would not take liquidity"))

    @aioresponses()
    async def test_place_order_returns_the_exchange_id_and_the_creation_time(self, mock_api):
        body = {"id": NonkycExchangeShapes.exchange_order_id, "status": "New", "createdAt": 1640780000000}
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps(body))

        result = await self.exchange._place_order("HBOT1", self.trading_pair, Decimal("1"), TradeType.SELL,
                                                  OrderType.LIMIT, Decimal("10000"))

        self.assertEqual((NonkycExchangeShapes.exchange_order_id, 1640780000.0), result)
        self.assertEqual("sell", self.create_requests(mock_api)[0]["side"])

    @aioresponses()
    async def test_a_create_answer_without_an_order_id_fails_the_order_without_a_look_up(self, mock_api):
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), body=json.dumps({"status": "ok"}))

        order_id = self.exchange.buy(self.trading_pair, Decimal("1"), OrderType.LIMIT, Decimal("10000"))
        await wait_until(lambda: self.failures.event_log, what="the order to fail")

        self.assertEqual(order_id, self.failures.event_log[0].order_id)
        self.assertIn(f"Unexpected answer creating order {order_id} on {self.trading_pair}: {{'status': 'ok'}}",
                      self.failures.event_log[0].error_message)
        self.assertFalse([key for key in mock_api.requests if key[0] == "GET"])

    # --- Ambiguous placement ---

    def configure_active_orders(self, mock_api: aioresponses, orders: List[Dict[str, Any]], repeat: bool = False):
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_ORDERS_PATH_URL), with_query=True), body=json.dumps(orders),
                     repeat=repeat)

    def configure_lookups(self, mock_api: aioresponses, client_id_pattern: str, answers: List[Tuple[int, Any]]):
        url = re.compile("^" + re.escape(self.url("/getorder/")) + client_id_pattern + "$")
        for status, body in answers:
            mock_api.get(url, status=status, body=json.dumps(body))

    async def place_with_ambiguous_create(self, mock_api: aioresponses, create_kwargs: Dict[str, Any],
                                          lookup_answers: List[Tuple[int, Any]]) -> InFlightOrder:
        mock_api.post(self.url(CONSTANTS.CREATE_ORDER_PATH_URL), **create_kwargs)
        self.configure_lookups(mock_api, "HBOT.*", lookup_answers)
        order_id = self.exchange.buy(self.trading_pair, Decimal("2"), OrderType.LIMIT, Decimal("10000"))
        await wait_until(lambda: self.create_settled(order_id), what=f"the ambiguous create of {order_id} to settle")
        return self.exchange._order_tracker.all_orders[order_id]

    def create_settled(self, order_id: str) -> bool:
        """The order left PENDING_CREATE, or the connector gave up confirming it and left it to the status polling."""
        state = self.order_state(order_id)
        gave_up = any(order_id in record.getMessage() for record in self.logged("WARNING", "could not be confirmed"))
        return state is not None and (state is not OrderState.PENDING_CREATE or gave_up)

    def found_order(self, status: str, executed: str = "0") -> Dict[str, Any]:
        return {"id": NonkycExchangeShapes.exchange_order_id, "userProvidedId": "x", "symbol": self.exchange_symbol,
                "side": "buy", "type": "limit", "price": "10000", "quantity": "2", "executedQuantity": executed,
                "status": status, "createdAt": 1640780000000, "updatedAt": 1640780001000}

    @aioresponses()
    async def test_create_timeout_then_order_found_adopts_exchange_id_and_state(self, mock_api):
        not_found = {"error": {"code": 20002, "message": "Order not found"}}
        order = await self.place_with_ambiguous_create(
            mock_api, {"exception": asyncio.TimeoutError()},
            [(404, not_found), (200, self.found_order("Partly Filled", executed="0.5"))])

        self.assertEqual(OrderState.PARTIALLY_FILLED, order.current_state)
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual([], self.failures.event_log)
        lookups = [key for key in mock_api.requests if key[0] == "GET" and "/getorder/" in str(key[1])]
        self.assertEqual(f"/api/v2/getorder/{order.client_order_id}", lookups[0][1].path)
        self.assertTrue(self.logged("WARNING", f"No clear answer creating the BUY LIMIT order {order.client_order_id}"))

    @aioresponses()
    async def test_create_answered_503_or_cloudflare_page_or_network_error_is_looked_up_not_failed(self, mock_api):
        ambiguous_answers = [
            {"status": 503, "body": json.dumps({"error": {"code": 503, "message": "Service unavailable"}})},
            {"status": 522, "body": "<html><head><title>522: Connection timed out</title></head></html>",
             "content_type": "text/html"},
            {"exception": aiohttp.ClientConnectionError("Connection reset by peer")},
            {"status": 200, "body": json.dumps({"error": {"code": 504, "message": "Gateway timeout"}})},
        ]
        for create_kwargs in ambiguous_answers:
            order = await self.place_with_ambiguous_create(mock_api, create_kwargs, [(200, self.found_order("Active"))])

            self.assertEqual(OrderState.OPEN, order.current_state, create_kwargs)
            self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)
        self.assertEqual([], self.failures.event_log)

    @aioresponses()
    async def test_create_ambiguous_then_exchange_answers_order_not_found_fails_the_order(self, mock_api):
        not_found = {"error": {"code": 20002, "message": "Order not found"}}
        order = await self.place_with_ambiguous_create(
            mock_api, {"status": 502, "body": "Bad gateway"}, [(404, not_found)] * 3)

        self.assertTrue(order.is_failure)
        self.assertEqual(order.client_order_id, self.failures.event_log[0].order_id)
        self.assertTrue(self.logged("NETWORK", f"Error submitting buy LIMIT order to Nonkyc for 2.000000 "
                                               f"{self.trading_pair} 10000.0000."))

    @aioresponses()
    async def test_create_ambiguous_and_lookups_fail_keeps_the_order_pending_for_status_polling(self, mock_api):
        order = await self.place_with_ambiguous_create(
            mock_api, {"exception": asyncio.TimeoutError()}, [(500, "down")] * 3)

        self.assertEqual(OrderState.PENDING_CREATE, order.current_state)
        self.assertIn(order.client_order_id, self.exchange.in_flight_orders)
        self.assertEqual([], self.failures.event_log)
        self.assertTrue(self.logged("WARNING", "could not be confirmed after an ambiguous create answer"))

        self.configure_lookups(mock_api, re.escape(order.client_order_id), [(200, self.found_order("Active"))])
        self.configure_active_orders(mock_api, [])
        await self.exchange._update_orders()
        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the status poll to open the order")
        self.assertEqual(NonkycExchangeShapes.exchange_order_id, order.exchange_order_id)

    @aioresponses()
    async def test_create_rejected_by_a_clear_exchange_error_fails_immediately(self, mock_api):
        body = {"error": {"code": 20001, "message": "Insufficient funds"}}
        order = await self.place_with_ambiguous_create(mock_api, {"status": 400, "body": json.dumps(body)}, [])

        self.assertTrue(order.is_failure)
        self.assertTrue(self.logged("INFO", "'error_message': 'Error executing request POST"))
        self.assertTrue(self.logged("INFO", "Insufficient funds"))
        lookups = [key for key in mock_api.requests if key[0] == "GET"]
        self.assertEqual([], lookups)

    # --- Cancel ---

    @aioresponses()
    async def test_cancel_uses_the_exchange_id_and_accepts_the_cancelled_order_object(self, mock_api):
        order = self.track()
        cancelled = {**self.found_order("Cancelled"), "userProvidedId": order.client_order_id}
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps(cancelled))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertEqual(order.client_order_id, result)
        call = mock_api.requests[("POST", URL(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)))][0]
        self.assertEqual({"id": NonkycExchangeShapes.exchange_order_id}, json.loads(call.kwargs["data"]))
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")

    @aioresponses()
    async def test_cancel_uses_the_client_id_when_the_exchange_id_is_unknown(self, mock_api):
        order = self.track(exchange_id=None)
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps({"success": True}))

        await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        call = mock_api.requests[("POST", URL(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)))][0]
        self.assertEqual({"id": order.client_order_id}, json.loads(call.kwargs["data"]))
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")

    @aioresponses()
    async def test_cancel_answered_http_200_with_error_body_is_a_failure_and_20002_is_not_found(self, mock_api):
        order = self.track()
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL),
                      body=json.dumps({"error": {"code": 20002, "message": "Active order not found for cancellation"}}))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertIsNone(result)
        self.assertFalse(order.is_cancelled)
        self.assertEqual(1, self.exchange._order_tracker._order_not_found_records[order.client_order_id])
        self.assertTrue(self.logged("WARNING", f"Failed to cancel order {order.client_order_id} (order not found)"))

    @aioresponses()
    async def test_cancel_with_unexpected_answer_is_not_reported_as_cancelled(self, mock_api):
        order = self.track()
        unexpected_answers = [{"success": False}, [], {}, {**self.found_order("Filled"), "id": order.exchange_order_id}]
        for answer in unexpected_answers:
            mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL), body=json.dumps(answer))

            result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

            self.assertIsNone(result, answer)
            self.assertTrue(order.is_open, answer)
        warnings = self.logged("WARNING", f"Unexpected answer cancelling order {order.client_order_id}")
        self.assertEqual(len(unexpected_answers), len(warnings))

    @aioresponses()
    async def test_cancel_answer_status_is_read_like_every_other_status(self, mock_api):
        order = self.track()
        mock_api.post(self.url(CONSTANTS.CANCEL_ORDER_PATH_URL),
                      body=json.dumps({"id": order.exchange_order_id, "status": " CANCELED "}))

        result = await self.exchange._execute_cancel(self.trading_pair, order.client_order_id)

        self.assertEqual(order.client_order_id, result)
        await wait_until(lambda: order.is_cancelled, what="the order to be cancelled")

    @aioresponses()
    async def test_cancel_all_cancels_only_the_orders_this_connector_tracks(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        second = self.track("HBOT2", "69a12a99f65594545010e502", trading_pair=self.other_pair)
        cancel_url = self.url(CONSTANTS.CANCEL_ORDER_PATH_URL)
        mock_api.post(cancel_url, body=json.dumps({"success": True}), repeat=True)
        mock_api.post(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL), body=json.dumps({"success": True, "ids": []}))

        results = await self.exchange.cancel_all(timeout_seconds=5)

        self.assertEqual({first.client_order_id, second.client_order_id},
                         {result.order_id for result in results if result.success})
        sent_ids = {json.loads(call.kwargs["data"])["id"] for call in mock_api.requests[("POST", URL(cancel_url))]}
        self.assertEqual({"69a12a99f65594545010e501", "69a12a99f65594545010e502"}, sent_ids)
        self.assertNotIn(("POST", URL(self.url(CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL))), mock_api.requests)

    # --- Status ---

    @aioresponses()
    async def test_status_map_covers_every_known_status(self, mock_api):
        expected = {
            "New": OrderState.OPEN, "Active": OrderState.OPEN, "Partly Filled": OrderState.PARTIALLY_FILLED,
            "Filled": OrderState.FILLED, "Cancelled": OrderState.CANCELED, "Expired": OrderState.CANCELED,
            "Rejected": OrderState.FAILED, "active": OrderState.OPEN, "partly filled": OrderState.PARTIALLY_FILLED,
            "canceled": OrderState.CANCELED,
        }
        order = self.track()
        for status, state in expected.items():
            self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id, [(200, self.found_order(status))])
            update = await self.exchange._request_order_status(order)
            self.assertEqual(state, update.new_state, status)

    @aioresponses()
    async def test_a_status_answer_that_is_not_an_order_is_an_error(self, mock_api):
        order = self.track()
        self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id, [(200, [])])

        with self.assertRaises(IOError) as context:
            await self.exchange._request_order_status(order)

        self.assertEqual(f"Unexpected answer to the status request of order {order.exchange_order_id}: []",
                         str(context.exception))

    @aioresponses()
    async def test_status_time_is_the_exchange_time_else_the_clock_else_the_local_time(self, mock_api):
        order = self.track()
        without_times = {key: value for key, value in self.found_order("Active").items()
                         if key not in ("createdAt", "updatedAt")}
        self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id,
                               [(200, self.found_order("Active")), (200, without_times), (200, without_times)])
        self.exchange._time = MagicMock(return_value=1640789999.5)

        exchange_time = await self.exchange._request_order_status(order)
        clock_time = await self.exchange._request_order_status(order)
        self.exchange._set_current_timestamp(float("nan"))  # the clock has not started yet
        local_time = await self.exchange._request_order_status(order)

        self.assertEqual([1640780001.0, 1640780000.0, 1640789999.5],
                         [update.update_timestamp for update in (exchange_time, clock_time, local_time)])

    @aioresponses()
    async def test_unknown_status_keeps_the_order_open_and_is_logged_once(self, mock_api):
        order = self.track()
        order.current_state = OrderState.PENDING_CREATE
        self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id,
                               [(200, self.found_order("Suspended"))] * 2)
        self.configure_active_orders(mock_api, [], repeat=True)

        await self.exchange._update_orders()
        await self.exchange._update_orders()

        await wait_until(lambda: order.current_state is OrderState.OPEN, what="the order to be kept open")
        warnings = [r for r in self.log_records if "Unknown NonKYC order status 'Suspended'" in r.getMessage()]
        self.assertEqual(1, len(warnings))

    @aioresponses()
    async def test_status_answered_http_200_with_20002_counts_as_not_found(self, mock_api):
        order = self.track()
        self.configure_lookups(mock_api, NonkycExchangeShapes.exchange_order_id,
                               [(200, {"error": {"code": 20002, "message": "Order not found"}})])
        self.configure_active_orders(mock_api, [])

        await self.exchange._update_orders()

        self.assertEqual(1, self.exchange._order_tracker.not_found_count(order.client_order_id))
        self.assertTrue(self.logged("WARNING", f"NonKYC does not know order HBOT1 (COINALPHA-HBOT, exchange id "
                                               f"{order.exchange_order_id}) (code 20002, Order not found); not found "
                                               f"1 time(s) in a row, it is declared lost after 4."))

    # --- Fills ---

    def configure_trades(self, mock_api: aioresponses, trades: List[Dict[str, Any]], repeat: bool = False):
        mock_api.get(url_regex(self.url(CONSTANTS.ACCOUNT_TRADES_PATH_URL), with_query=True), body=json.dumps(trades),
                     repeat=repeat)

    def trades_requests(self, mock_api: aioresponses) -> List[URL]:
        return [key[1] for key in mock_api.requests if CONSTANTS.ACCOUNT_TRADES_PATH_URL in key[1].path]

    @aioresponses()
    async def test_fills_of_every_pair_come_from_one_account_wide_trades_request(self, mock_api):
        first = self.track("HBOT1", "69a12a99f65594545010e501")
        second = self.track("HBOT2", "69a12a99f65594545010e502", trade_type=TradeType.SELL)
        third = self.track("HBOT3", "69a12a99f65594545010e503", trading_pair=self.other_pair)
        trades = [
            NonkycExchangeShapes.account_trade(first, Decimal("0.4"), Decimal("10000"), Decimal("8"), trade_id="t1",
                                               exchange_symbol=self.exchange_symbol),
            NonkycExchangeShapes.account_trade(second, Decimal("1"), Decimal("10001"), Decimal("20.002"),
                                               trade_id="t2", side="SELL", exchange_symbol=self.exchange_symbol),
            NonkycExchangeShapes.account_trade(third, Decimal("0.1"), Decimal("2000"), Decimal("0.4"), trade_id="t3",
                                               exchange_symbol=self.other_symbol),
            {**NonkycExchangeShapes.account_trade(first, Decimal("1"), Decimal("1"), Decimal("0")),
             "orderid": "someone-elses-order", "id": "t4"},
        ]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([first, second, third])

        requests = self.trades_requests(mock_api)
        self.assertEqual(1, len(requests))
        self.assertEqual({"since": str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS), "limit": "500"},
                         dict(requests[0].query))
        self.assertEqual(["t1", "t2", "t3"], sorted(event.exchange_trade_id for event in self.fills.event_log))
        self.assertEqual((Decimal("0.4"), Decimal("1"), Decimal("0.1")),
                         (first.executed_amount_base, second.executed_amount_base, third.executed_amount_base))
        self.assertFalse([record for record in self.log_records if "someone-elses-order" in record.getMessage()])

    @aioresponses()
    async def test_fill_fee_in_quote_or_in_the_alternate_fee_asset(self, mock_api):
        order = self.track()
        trades = [
            NonkycExchangeShapes.account_trade(order, Decimal("0.25"), Decimal("10000"), Decimal("5"), trade_id="t1"),
            {**NonkycExchangeShapes.account_trade(order, Decimal("0.25"), Decimal("10000"), Decimal("5"),
                                                  trade_id="t2"),
             "alternateFeeAsset": "NKYC", "alternateFee": "1.5", "timestamp": 1640780005123},
        ]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([order])

        fees = {event.exchange_trade_id: event.trade_fee.flat_fees for event in self.fills.event_log}
        self.assertEqual([TokenAmount("HBOT", Decimal("5"))], fees["t1"])
        self.assertEqual([TokenAmount("NKYC", Decimal("1.5"))], fees["t2"])
        fill = order.order_fills["t2"]
        self.assertEqual(1640780005.123, fill.fill_timestamp)
        self.assertEqual(Decimal("2500"), fill.fill_quote_amount)

    @aioresponses()
    async def test_a_fill_is_never_recorded_twice_nor_beyond_the_order_amount(self, mock_api):
        order = self.track(amount="1")
        trades = [
            NonkycExchangeShapes.account_trade(order, Decimal("0.6"), Decimal("10000"), Decimal("12"), trade_id="t1"),
            NonkycExchangeShapes.account_trade(order, Decimal("0.6"), Decimal("10000"), Decimal("12"), trade_id="t2"),
        ]
        self.configure_trades(mock_api, trades, repeat=True)

        await self.exchange._update_orders_fills([order])
        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t1"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertEqual(Decimal("0.6"), order.executed_amount_base)
        self.assertTrue(self.logged("WARNING", "Ignoring fill t2 of 0.6 for order HBOT1"))
        # The second poll starts from the first poll's time (less the margin), not from the order's creation.
        second_since = max(int(url.query["since"]) for url in self.trades_requests(mock_api))
        self.assertEqual(1640780100000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS, second_since)

    @aioresponses()
    async def test_a_trade_whose_side_differs_from_the_order_is_logged_and_skipped(self, mock_api):
        order = self.track()
        trades = [NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"),
                                                     side="Sell", trade_id="t1"),
                  NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"),
                                                     side="BUY", trade_id="t2")]
        self.configure_trades(mock_api, trades)

        await self.exchange._update_orders_fills([order])

        self.assertEqual(["t2"], [event.exchange_trade_id for event in self.fills.event_log])
        self.assertTrue(self.logged("ERROR", "Skipping malformed NonKYC trade"))

    @aioresponses()
    async def test_orders_without_an_exchange_id_need_no_trades_request(self, mock_api):
        order = self.track(exchange_id=None)

        await self.exchange._update_orders_fills([order])

        self.assertEqual({}, mock_api.requests)

    @aioresponses()
    async def test_fills_of_an_order_without_creation_time_are_searched_over_the_last_day(self, mock_api):
        order = self.track()
        order.creation_timestamp = 0
        self.configure_trades(mock_api, [])

        await self.exchange._update_orders_fills([order])

        since = int(self.trades_requests(mock_api)[0].query["since"])
        self.assertEqual(1640780100000 - 24 * 60 * 60 * 1000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS, since)

    @aioresponses()
    async def test_fills_beyond_one_page_are_read_from_the_next_page(self, mock_api):
        order = self.track(amount="1")
        trades = [NonkycExchangeShapes.account_trade(order, Decimal("0.001"), Decimal("10000"), Decimal("0.02"),
                                                     trade_id=f"t{index}", timestamp=1640780002000 + index)
                  for index in range(CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT + 1)]
        self.configure_trades(mock_api, trades[:CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT])
        self.configure_trades(mock_api, trades[CONSTANTS.ACCOUNT_TRADES_PAGE_LIMIT - 1:])

        await self.exchange._update_orders_fills([order])

        self.assertEqual(Decimal("0.501"), order.executed_amount_base)
        first_since = str(1640780000000 - NonkycReconciliation.TRADES_SINCE_MARGIN_MS)
        self.assertEqual([(first_since, None), ("1640780002499", None)],
                         [(url.query["since"], url.query.get("skip")) for url in self.trades_requests(mock_api)])

    @aioresponses()
    async def test_a_trades_answer_that_is_not_a_list_is_logged_and_the_next_poll_tries_again(self, mock_api):
        order = self.track()
        self.configure_trades(mock_api, {"message": "maintenance"})

        await self.exchange._update_orders_fills([order])

        self.assertTrue(self.logged("WARNING", "Failed to read the account trades (fills of HBOT1); reading again "
                                               "from the same point at the next poll. Error: OSError: Unexpected "
                                               "answer to /account/trades: {'message': 'maintenance'}"))
        self.assertIsNone(self.exchange._reconciliation.trades_cursor_ms)

    @aioresponses()
    async def test_all_trade_updates_of_one_order(self, mock_api):
        order = self.track()
        other = self.track("HBOT2", "69a12a99f65594545010e502")
        self.configure_trades(mock_api, [
            NonkycExchangeShapes.account_trade(order, Decimal("0.5"), Decimal("10000"), Decimal("10"), trade_id="t1"),
            NonkycExchangeShapes.account_trade(other, Decimal("0.5"), Decimal("10000"), Decimal("10"), trade_id="t2")])

        trade_updates = await self.exchange._all_trade_updates_for_order(order)

        self.assertEqual([("t1", order.client_order_id, Decimal("0.5"), Decimal("5000"))],
                         [(update.trade_id, update.client_order_id, update.fill_base_amount, update.fill_quote_amount)
                          for update in trade_updates])

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
