"""
Every asset priced: the last prices and `get_all_pairs_prices()` cover every market `/tickers` lists, paused ones
included, from one `/tickers` read; paused markets stay untradeable.
"""
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import NonkycExchangeTestCase
from typing import Any, Dict

from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.core.data_type.common import OrderType, TradeType


def market(symbol: str, paused: bool = False) -> Dict[str, Any]:
    """A /market/getlist entry (live shape)."""
    return {"id": f"id-{symbol}", "symbol": symbol, "primaryTicker": symbol.split("/")[0], "priceDecimals": 5,
            "quantityDecimals": 1, "isActive": True, "isPaused": paused, "minimumQuantity": 10, "minQuote": 1,
            "isMinQuoteActive": True, "allowMarketOrders": True, "allowTriggerOrders": False, "bestAsk": "0",
            "bestBid": "0", "lastPrice": "0", "volume": "0"}


def ticker(base: str, quote: str, last: str, bid: str = "0", ask: str = "0") -> Dict[str, Any]:
    """A /tickers entry (live shape)."""
    return {"ticker_id": f"{base}_{quote}", "base_currency": base, "target_currency": quote, "last_price": last,
            "bid": bid, "ask": ask, "high": last, "low": last, "base_volume": "1", "target_volume": last}


TICKERS = [
    ticker("BTC", "USDT", "60400", "60000", "61000"),
    ticker("DOGE", "USDT", "0.12"),  # paused: no book, a last price
    ticker("BTC", "USDT-TRC20", "60300", "60100", "60500"),
    ticker("NEW", "USDT", "0"),  # never traded, no book: no price to value with
    {"ticker_id": "BROKEN"},
]


class ExchangePricesTests(NonkycExchangeTestCase):
    symbol_map = {}
    trading_pair = "BTC-USDT"

    def setUp(self) -> None:
        super().setUp()
        self.exchange._set_trading_pair_symbol_map(None)
        self.tickers_url = web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL)

    async def load_markets(self, mock_api):
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL),
                     body=json.dumps([market("BTC/USDT"), market("DOGE/USDT", paused=True),
                                      market("BTC/USDT-TRC20")]))
        await self.exchange._update_trading_rules()

    @aioresponses()
    async def test_a_paused_market_has_a_last_price_but_no_trading_rule_and_no_order(self, mock_api):
        await self.load_markets(mock_api)
        mock_api.get(self.tickers_url, body=json.dumps(TICKERS), repeat=True)

        prices = await self.exchange.get_last_traded_prices(["BTC-USDT", "DOGE-USDT", "BTC-USDT_TRC20", "ETH-USDT"])

        self.assertEqual({"BTC-USDT": 60400.0, "DOGE-USDT": 0.12, "BTC-USDT_TRC20": 60300.0}, prices)
        self.assertEqual(0.12, await self.exchange._get_last_traded_price("DOGE-USDT"))
        self.assertNotIn("DOGE-USDT", self.exchange.trading_rules)
        self.assertNotIn("DOGE-USDT", await self.exchange.all_trading_pairs())
        # Hummingbot's order creation stops at the missing trading rule (its background task logs the KeyError).
        with self.assertRaises(KeyError):
            await self.exchange._create_order(TradeType.BUY, "HBOT-doge", "DOGE-USDT", Decimal("100"),
                                              OrderType.LIMIT, Decimal("0.1"))
        self.assertNotIn("HBOT-doge", self.exchange.in_flight_orders)
        self.assertEqual([], [request for (method, _), request in mock_api.requests.items() if method == "POST"])
        self.assertEqual(1, len(mock_api.requests[("GET", URL(self.tickers_url))]))

    @aioresponses()
    async def test_all_pairs_prices_come_in_binances_shape_from_one_tickers_read(self, mock_api):
        mock_api.get(self.tickers_url, body=json.dumps(TICKERS))

        rows = await self.exchange.get_all_pairs_prices()

        self.assertEqual([
            {"symbol": "BTC/USDT", "bidPrice": "60000", "askPrice": "61000", "lastPrice": "60400"},
            {"symbol": "DOGE/USDT", "bidPrice": "0", "askPrice": "0", "lastPrice": "0.12"},
            {"symbol": "BTC/USDT-TRC20", "bidPrice": "60100", "askPrice": "60500", "lastPrice": "60300"},
            {"symbol": "NEW/USDT", "bidPrice": "0", "askPrice": "0", "lastPrice": "0"},
        ], rows)
        self.assertTrue(self.logged("DEBUG", "Skipping malformed NonKYC ticker {'ticker_id': 'BROKEN'}"))
        # As Hummingbot's Binance rate source reads such rows: every symbol maps back to its pair, paused ones too.
        mock_api.get(web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL),
                     body=json.dumps([market("BTC/USDT"), market("DOGE/USDT", paused=True),
                                      market("BTC/USDT-TRC20")]))
        self.assertEqual(["BTC-USDT", "DOGE-USDT", "BTC-USDT_TRC20", "NEW-USDT"],
                         [await self.exchange.trading_pair_associated_to_exchange_symbol(row["symbol"])
                          for row in rows])
        with self.assertRaises(KeyError):
            await self.exchange.trading_pair_associated_to_exchange_symbol("ETH/USDT")
        self.assertEqual(1, len(mock_api.requests[("GET", URL(self.tickers_url))]))
