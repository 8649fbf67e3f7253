"""
NonKYC tickers that contain a dash (network variants such as `USDT-TRC20`): Hummingbot splits pairs on the dash, so
inside Hummingbot they are named with an underscore (`USDT_TRC20`, pair `BTC-USDT_TRC20`) everywhere, and the
exchange's own symbol is sent back byte for byte.
"""
import json
import re
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    wait_until,
)
from unittest import TestCase

from aioresponses import aioresponses

from hummingbot.cli.commands.balance import _exchange_assets
from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import AssetNames
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.event.events import MarketEvent


class AssetNamesTests(TestCase):

    def test_a_dash_inside_a_ticker_becomes_an_underscore_and_other_tickers_stay_as_they_are(self):
        names = AssetNames()

        self.assertEqual(["USDT_TRC20", "BTC", "USDT", "ETH_BEP20_X"],
                         [names.learn(ticker) for ticker in ("USDT-TRC20", "BTC", "USDT", "ETH-BEP20-X")])

    def test_two_tickers_with_the_same_name_are_both_ambiguous_whatever_the_order(self):
        for tickers in (["USDT-TRC20", "USDT_TRC20"], ["USDT_TRC20", "USDT-TRC20"]):
            with self.subTest(tickers=tickers):
                names = AssetNames(tickers)

                self.assertEqual([None, None], [names.learn(ticker) for ticker in tickers])
                self.assertEqual(["USDT-TRC20", "USDT_TRC20"], names.ambiguous_tickers("USDT-TRC20"))
                self.assertEqual("USDT", names.learn("USDT"), "other tickers are not affected")
                self.assertEqual([], names.ambiguous_tickers("USDT"))

    def test_learning_the_same_ticker_again_changes_nothing(self):
        names = AssetNames(["USDT-TRC20", "USDT-TRC20"])

        self.assertEqual("USDT_TRC20", names.learn("USDT-TRC20"))


class NonkycDashedTickersTests(NonkycExchangeTestCase):
    """The connector with the live market list shape, where one market's quote ticker holds a dash."""

    symbol_map = {}

    def setUp(self) -> None:
        super().setUp()
        self.exchange._set_trading_pair_symbol_map(None)

    def markets(self, *extra) -> str:
        return json.dumps([NonkycExchangeShapes.market("BTC/USDT", price_decimals=2),
                           NonkycExchangeShapes.market("BTC/USDT-TRC20", price_decimals=2), *extra])

    async def load_markets(self, mock_api, *extra):
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL), body=self.markets(*extra))
        await self.exchange._update_trading_rules()

    @aioresponses()
    async def test_a_dashed_market_is_a_tradeable_pair_under_the_mapped_name(self, mock_api):
        await self.load_markets(mock_api)

        self.assertEqual({"BTC/USDT": "BTC-USDT", "BTC/USDT-TRC20": "BTC-USDT_TRC20"},
                         dict(await self.exchange.trading_pair_symbol_map()))
        self.assertEqual("BTC/USDT-TRC20", await self.exchange.exchange_symbol_associated_to_pair("BTC-USDT_TRC20"))
        rule = self.exchange.trading_rules["BTC-USDT_TRC20"]
        self.assertEqual((Decimal("0.01"), True), (rule.min_price_increment, rule.supports_market_orders))
        self.assertTrue(all(pair.count("-") == 1 for pair in await self.exchange.all_trading_pairs()))

    @aioresponses()
    async def test_two_tickers_that_would_share_a_name_are_both_skipped_with_a_warning_naming_them(self, mock_api):
        await self.load_markets(mock_api, NonkycExchangeShapes.market("ETH/USDT_TRC20"))

        self.assertEqual({"BTC/USDT": "BTC-USDT"}, dict(await self.exchange.trading_pair_symbol_map()))
        self.assertTrue(self.logged("WARNING", "Skipping NonKYC market BTC/USDT-TRC20: the tickers USDT-TRC20, "
                                               "USDT_TRC20 would all be named USDT_TRC20 in Hummingbot."))
        self.assertTrue(self.logged("WARNING", "Skipping NonKYC market ETH/USDT_TRC20: the tickers USDT-TRC20, "
                                               "USDT_TRC20 would all be named USDT_TRC20 in Hummingbot."))
        self.assertNotIn("BTC-USDT_TRC20", self.exchange.trading_rules)

    @aioresponses()
    async def test_balances_from_rest_and_both_websocket_shapes_use_the_mapped_name(self, mock_api):
        mock_api.get(web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps([
            {"asset": "USDT-TRC20", "name": "Tether (TRC20)", "available": "100000.00000000", "held": "25.5",
             "pending": "0", "assetid": "6982a6966fe9953e2576d261"},
            {"asset": "BTC", "name": "Bitcoin", "available": "2.0", "held": "0", "pending": "0", "assetid": "x"}]))

        await self.exchange._update_balances()
        self.assertEqual({"USDT_TRC20": Decimal("100025.5"), "BTC": Decimal("2.0")}, self.exchange.get_all_balances())

        await self.exchange._process_user_stream_event({
            "jsonrpc": "2.0", "method": "currentBalances", "timestamp": 1772170422567,
            "portfolioData": {"totalUsdValue": "1", "totalBtcValue": "0"},
            "result": [{"assetId": "6982a6966fe9953e2576d261", "ticker": "USDT-TRC20", "available": "99000",
                        "held": "1000", "changePercent": 0}]})
        self.assertEqual(Decimal("99000"), self.exchange.available_balances["USDT_TRC20"])

        await self.exchange._process_user_stream_event({
            "jsonrpc": "2.0", "method": "balanceUpdate", "params": {"ticker": "USDT-TRC20", "available": "98000",
                                                                    "held": "2000"}})
        self.assertEqual((Decimal("100000"), Decimal("98000")),
                         (self.exchange.get_balance("USDT_TRC20"), self.exchange.available_balances["USDT_TRC20"]))
        self.assertFalse(any("-" in asset for asset in self.exchange.get_all_balances()))

    @aioresponses()
    async def test_a_balance_whose_name_is_ambiguous_is_skipped_and_reported_once(self, mock_api):
        entries = [{"asset": "USDT-TRC20", "available": "1", "held": "0"},
                   {"asset": "USDT_TRC20", "available": "2", "held": "0"},
                   {"asset": "USDT", "available": "3", "held": "0"}]
        for _ in range(2):
            mock_api.get(web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps(entries))
            await self.exchange._update_balances()
            self.assertEqual({"USDT": Decimal("3")}, self.exchange.get_all_balances())
        self.assertEqual([f"Skipping the NonKYC balance of {ticker}: the tickers USDT-TRC20, USDT_TRC20 would all be "
                          f"named USDT_TRC20 in Hummingbot." for ticker in ("USDT-TRC20", "USDT_TRC20")],
                         [record.getMessage() for record in self.logged("WARNING", "Skipping the NonKYC balance of")],
                         "one warning per ticker, not one per update")

    @aioresponses()
    async def test_orders_go_out_with_the_exchange_symbol_byte_for_byte_and_fees_come_back_mapped(self, mock_api):
        await self.load_markets(mock_api)
        self.exchange._trading_rules["BTC-USDT_TRC20"] = TradingRule(
            "BTC-USDT_TRC20", min_order_size=Decimal("0.00001"), min_price_increment=Decimal("0.01"),
            min_base_amount_increment=Decimal("0.000001"))
        create_url = web_utils.private_rest_url(CONSTANTS.CREATE_ORDER_PATH_URL)
        mock_api.post(create_url, body=json.dumps({"id": NonkycExchangeShapes.exchange_order_id,
                                                   "status": "Active", "createdAt": 1640780000000}))

        order_id = self.exchange.buy("BTC-USDT_TRC20", Decimal("0.01"), OrderType.LIMIT, Decimal("60000"))
        await wait_until(lambda: order_id in self.exchange.in_flight_orders
                         and self.exchange.in_flight_orders[order_id].is_open, what="the order to be open")
        request = mock_api.requests[("POST", next(key[1] for key in mock_api.requests if key[0] == "POST"))][0]
        self.assertEqual("BTC/USDT-TRC20", json.loads(request.kwargs["data"])["symbol"])

        order = self.exchange.in_flight_orders[order_id]
        mock_api.get(re.compile("^" + re.escape(web_utils.private_rest_url(CONSTANTS.ACCOUNT_TRADES_PATH_URL))),
                     body=json.dumps([
                         NonkycExchangeShapes.account_trade(order, Decimal("0.004"), Decimal("60000"), Decimal("0.48"),
                                                            exchange_symbol="BTC/USDT-TRC20"),
                         NonkycExchangeShapes.account_trade(order, Decimal("0.006"), Decimal("60000"), Decimal("0.5"),
                                                            trade_id="69914db4b3e90040c2b8f0d9",
                                                            exchange_symbol="BTC/USDT-TRC20",
                                                            alternateFeeAsset="NKYC-BEP20", alternateFee="0.5")]))
        await self.exchange._update_orders_fills([order])

        fills = self.events[MarketEvent.OrderFilled].event_log
        self.assertEqual([("BTC-USDT_TRC20", "USDT_TRC20", Decimal("0.48")), ("BTC-USDT_TRC20", "NKYC_BEP20",
                                                                              Decimal("0.5"))],
                         [(fill.trading_pair, fill.trade_fee.flat_fees[0].token, fill.trade_fee.flat_fees[0].amount)
                          for fill in fills])
        self.assertEqual(TradeType.BUY, fills[0].trade_type)

    @aioresponses()
    async def test_last_traded_prices_of_a_dashed_market(self, mock_api):
        await self.load_markets(mock_api)
        mock_api.get(web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL), body=json.dumps([
            {"ticker_id": "BTC_USDT-TRC20", "base_currency": "BTC", "target_currency": "USDT-TRC20",
             "last_price": "67700.5", "bid": "67679.55", "ask": "67883.06", "high": "68000", "low": "67000",
             "base_volume": "1", "target_volume": "67700.5"},
            {"ticker_id": "BTC_USDT", "base_currency": "BTC", "target_currency": "USDT", "last_price": "67650",
             "bid": "1", "ask": "2", "high": "3", "low": "0.5", "base_volume": "1", "target_volume": "1"}]))

        prices = await self.exchange.get_last_traded_prices(["BTC-USDT_TRC20", "BTC-USDT"])

        self.assertEqual({"BTC-USDT_TRC20": 67700.5, "BTC-USDT": 67650.0}, prices)

    @aioresponses()
    async def test_hummingbots_balance_valuation_reads_every_asset_the_connector_reports(self, mock_api):
        # What `hbot balance` runs for each asset: with the raw ticker it stopped with "too many values to unpack".
        mock_api.get(web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL), body=json.dumps([
            {"asset": "USDT-TRC20", "available": "100", "held": "0"}, {"asset": "USDT", "available": "50", "held": "0"},
            {"asset": "BTC", "available": "1", "held": "0"}]))
        await self.exchange._update_balances()
        prices = {"BTC-USDT": Decimal("60000"), "USDT_TRC20-USDT": Decimal("0.999")}

        assets, _, total = _exchange_assets("nonkyc", self.exchange.get_all_balances(),
                                            self.exchange.available_balances, prices, "USDT")

        self.assertEqual(["BTC", "USDT", "USDT_TRC20"], [asset["asset"] for asset in assets])
        self.assertEqual(Decimal("60000") + Decimal("50") + Decimal("99.9"), total)
