import json
import unittest
from decimal import Decimal
from pathlib import Path

from hummingbot.client.config.config_helpers import ClientConfigAdapter
from hummingbot.connector.exchange.nonkyc import nonkyc_utils as utils
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee, DeductedFromReturnsTradeFee, TradeFeeBase

LIVE_SAMPLES = Path(__file__).resolve().parents[5].parent / "shared" / "fixtures" / "nonkyc-live-samples.json"


class NonkycUtilsTests(unittest.TestCase):

    def test_default_fees_reproduce_the_live_trade_sample_paid_on_top_of_a_buy(self):
        trade = {"side": "Buy", "price": "0.021118", "quantity": "1771.1985", "fee": "0.074808339846",
                 "totalWithFee": "37.478978262846"}
        if LIVE_SAMPLES.exists():
            trade = json.loads(LIVE_SAMPLES.read_text())["rest_account_trades_entry"]
        price, quantity = Decimal(trade["price"]), Decimal(trade["quantity"])

        for percent in (utils.DEFAULT_FEES.maker_percent_fee_decimal, utils.DEFAULT_FEES.taker_percent_fee_decimal):
            fee = TradeFeeBase.new_spot_fee(utils.DEFAULT_FEES, TradeType.BUY, percent=percent, percent_token="USDT")
            self.assertIsInstance(fee, AddedToCostTradeFee)
            self.assertEqual(Decimal(trade["fee"]), fee.fee_amount_in_token("SAL-USDT", price, quantity, token="USDT"))
        self.assertEqual(Decimal(trade["totalWithFee"]), price * quantity + Decimal(trade["fee"]))
        sell_fee = TradeFeeBase.new_spot_fee(utils.DEFAULT_FEES, TradeType.SELL, percent=Decimal("0.002"))
        self.assertIsInstance(sell_fee, DeductedFromReturnsTradeFee)

    def test_the_keys_are_prompted_for_on_connect_and_never_shown(self):
        config = ClientConfigAdapter(utils.NonkycConfigMap(nonkyc_api_key="my-key", nonkyc_api_secret="my-secret"))

        shown = {item.attr: item.printable_value for item in config.traverse()}
        prompts = {attr: config.get_client_data(attr).prompt(None) for attr in ("nonkyc_api_key", "nonkyc_api_secret")}

        self.assertEqual({"connector": "nonkyc", "nonkyc_api_key": "**********", "nonkyc_api_secret": "**********"},
                         shown)
        self.assertEqual({"nonkyc_api_key": "Enter your NonKYC API key",
                          "nonkyc_api_secret": "Enter your NonKYC API secret"}, prompts)
        self.assertEqual(["nonkyc_api_key", "nonkyc_api_secret"],
                         [attr for attr in config.keys() if config.get_client_data(attr).is_connect_key])
        self.assertNotIn("my-secret", repr(config.hb_config))

    def test_market_is_tradeable_only_when_active_not_paused_and_not_api_excluded(self):
        market = {"symbol": "IMX/USDT", "isActive": True, "isPaused": False}
        self.assertTrue(utils.is_market_tradeable(market))
        self.assertFalse(utils.is_market_tradeable({**market, "isActive": False}))
        self.assertFalse(utils.is_market_tradeable({**market, "isPaused": True}))
        self.assertFalse(utils.is_market_tradeable({**market, "apiExcluded": True}))
        self.assertFalse(utils.is_market_tradeable({"symbol": "IMX/USDT"}))

    def test_market_assets_from_symbol_or_nested_assets(self):
        self.assertEqual(("IMX", "USDT"), utils.market_assets({"symbol": "IMX/USDT", "primaryTicker": "IMX"}))
        older = {"symbol": "IMXUSDT", "primaryAsset": {"ticker": "IMX"}, "secondaryAsset": {"ticker": "USDT"}}
        self.assertEqual(("IMX", "USDT"), utils.market_assets(older))
        with self.assertRaises(ValueError):
            utils.market_assets({"symbol": "IMX"})

    def test_timestamps_in_milliseconds_numeric_strings_and_iso(self):
        self.assertEqual(1772169881.018, utils.timestamp_seconds(1772169881018))
        self.assertEqual(1772169881.018, utils.timestamp_seconds("1772169881018"))
        self.assertAlmostEqual(1772169881.018, utils.timestamp_seconds("2026-02-27T05:24:41.018Z"), places=3)
        self.assertIsNone(utils.timestamp_seconds(None))
        self.assertEqual(5.0, utils.timestamp_seconds("not a time", default=5.0))
        self.assertEqual(5.0, utils.timestamp_seconds({"ms": 1}, default=5.0))


class RecentKeysTests(unittest.TestCase):

    def test_remembers_new_keys_and_forgets_the_oldest_beyond_its_capacity(self):
        keys = utils.RecentKeys(capacity=3)

        self.assertEqual([True, True, False, True, True], [keys.add(key) for key in ("a", "b", "a", "c", "d")])
        # "a" was seen again after "b": "b" is the oldest and goes first.
        self.assertEqual([True, False, True, True], [key in keys for key in ("a", "b", "c", "d")])
        self.assertEqual(3, len(keys))

    def test_stays_bounded_whatever_it_is_given(self):
        keys = utils.RecentKeys(capacity=100)
        for number in range(10_000):
            keys.add(f"symbol-{number}")

        self.assertEqual(100, len(keys))
        self.assertIn("symbol-9999", keys)
