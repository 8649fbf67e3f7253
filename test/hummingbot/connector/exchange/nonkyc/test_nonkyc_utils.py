import json
import unittest
from decimal import Decimal
from pathlib import Path

from hummingbot.connector.exchange.nonkyc import nonkyc_utils as utils
from hummingbot.core.data_type.common import TradeType
from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee, DeductedFromReturnsTradeFee, TradeFeeBase

LIVE_SAMPLES = Path(__file__).resolve().parents[5].parent / "shared" / "fixtures" / "nonkyc-live-samples.json"


class NonkycUtilsTests(unittest.TestCase):

    def test_default_fees_are_two_tenths_of_a_percent_and_a_buy_pays_on_top_of_its_cost(self):
        self.assertEqual(Decimal("0.002"), utils.DEFAULT_FEES.maker_percent_fee_decimal)
        self.assertEqual(Decimal("0.002"), utils.DEFAULT_FEES.taker_percent_fee_decimal)
        buy_fee = TradeFeeBase.new_spot_fee(utils.DEFAULT_FEES, TradeType.BUY, percent=Decimal("0.002"))
        sell_fee = TradeFeeBase.new_spot_fee(utils.DEFAULT_FEES, TradeType.SELL, percent=Decimal("0.002"))
        self.assertIsInstance(buy_fee, AddedToCostTradeFee)
        self.assertIsInstance(sell_fee, DeductedFromReturnsTradeFee)

    def test_live_trade_sample_confirms_fee_added_to_buy_cost(self):
        trade = {"side": "Buy", "price": "0.021118", "quantity": "1771.1985", "fee": "0.074808339846",
                 "totalWithFee": "37.478978262846"}
        if LIVE_SAMPLES.exists():
            trade = json.loads(LIVE_SAMPLES.read_text())["rest_account_trades_entry"]
        cost = Decimal(trade["price"]) * Decimal(trade["quantity"])
        self.assertEqual(Decimal(trade["totalWithFee"]), cost + Decimal(trade["fee"]))
        self.assertEqual(Decimal("0.002"), (Decimal(trade["fee"]) / cost).quantize(Decimal("0.0001")))

    def test_config_map_declares_secure_connect_keys_and_example_pair(self):
        self.assertEqual("nonkyc", utils.KEYS.connector)
        for field_name in ("nonkyc_api_key", "nonkyc_api_secret"):
            extra = utils.NonkycConfigMap.model_fields[field_name].json_schema_extra
            self.assertTrue(extra["is_secure"])
            self.assertTrue(extra["is_connect_key"])
            self.assertTrue(extra["prompt_on_new"])
        self.assertEqual("BTC-USDT", utils.EXAMPLE_PAIR)
        self.assertTrue(utils.CENTRALIZED)
        self.assertFalse(hasattr(utils, "OTHER_DOMAINS"))

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
