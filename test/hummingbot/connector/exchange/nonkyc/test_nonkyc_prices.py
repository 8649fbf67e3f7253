"""
Every asset priced: the last prices, `get_all_pairs_prices()` and NonKYC as Hummingbot's rate source cover every
market `/tickers` lists, paused ones included, from one `/tickers` read; paused markets stay untradeable.
"""
import json
import os
import pathlib
import tempfile
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import (
    LogAssertions,
    LogRecorder,
    NonkycExchangeShapes,
    NonkycExchangeTestCase,
    clear_url_overrides,
    wait_until,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict
from unittest.mock import patch

from aioresponses import aioresponses
from yarl import URL

from hummingbot.client.config import client_config_map
from hummingbot.client.config.client_config_map import ClientConfigMap
from hummingbot.client.config.config_helpers import ClientConfigAdapter, save_to_yml
from hummingbot.connector.exchange.nonkyc import (
    nonkyc_constants as CONSTANTS,
    nonkyc_rate_source,
    nonkyc_web_utils as web_utils,
)
from hummingbot.connector.exchange.nonkyc.nonkyc_rate_source import NonkycRateSource
from hummingbot.core.data_type.common import OrderType
from hummingbot.core.event.events import MarketEvent
from hummingbot.core.rate_oracle.rate_oracle import RATE_ORACLE_SOURCES, RateOracle
from hummingbot.core.rate_oracle.utils import find_rate


def ticker(base: str, quote: str, last: str, bid: str = "0", ask: str = "0") -> Dict[str, Any]:
    """A /tickers entry (live shape)."""
    return {"ticker_id": f"{base}_{quote}", "base_currency": base, "target_currency": quote, "last_price": last,
            "bid": bid, "ask": ask, "high": last, "low": last, "base_volume": "1", "target_volume": last}


MARKETS = [NonkycExchangeShapes.market("BTC/USDT"), NonkycExchangeShapes.market("DOGE/USDT", isPaused=True),
           NonkycExchangeShapes.market("BTC/USDT-TRC20")]
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
                     body=json.dumps(MARKETS))
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
        order_id = self.exchange.buy("DOGE-USDT", Decimal("100"), OrderType.LIMIT, Decimal("0.1"))
        await wait_until(lambda: self.events[MarketEvent.OrderFailure].event_log, what="the refused order")

        failure = self.events[MarketEvent.OrderFailure].event_log[0]
        self.assertEqual(order_id, failure.order_id)
        self.assertEqual(f"LIMIT BUY order {order_id} on DOGE-USDT refused: NonKYC does not trade DOGE-USDT through "
                         f"the API (paused, inactive or unknown market).", failure.error_message)
        self.assertNotIn(order_id, self.exchange.in_flight_orders)
        self.assertEqual([], [request for (method, _), request in mock_api.requests.items() if method == "POST"])
        self.assertEqual([], self.logged("ERROR", ""))
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
                     body=json.dumps(MARKETS))
        self.assertEqual(["BTC-USDT", "DOGE-USDT", "BTC-USDT_TRC20", "NEW-USDT"],
                         [await self.exchange.trading_pair_associated_to_exchange_symbol(row["symbol"])
                          for row in rows])
        with self.assertRaises(KeyError):
            await self.exchange.trading_pair_associated_to_exchange_symbol("ETH/USDT")
        self.assertEqual(1, len(mock_api.requests[("GET", URL(self.tickers_url))]))


class RateSourceTests(IsolatedAsyncioWrapperTestCase, LogAssertions):

    def setUp(self) -> None:
        super().setUp()
        clear_url_overrides(self)
        self.log_recorder = LogRecorder()
        NonkycRateSource.logger().addHandler(self.log_recorder)
        self.addCleanup(NonkycRateSource.logger().removeHandler, self.log_recorder)
        # Hummingbot's cache is the function's, keyed by the source's repr: a new source may reuse an old address.
        NonkycRateSource.get_prices.cache_clear()

    async def prices(self, source: NonkycRateSource) -> Dict[str, Decimal]:
        return await source.get_prices(quote_token="USDT")

    @aioresponses()
    async def test_prices_of_every_market_from_one_cached_tickers_read_at_the_overridden_url(self, mock_api):
        rest_url = "http://127.0.0.1:8765/api/v2"
        mock_api.get(f"{rest_url}/tickers", body=json.dumps(TICKERS), repeat=True)
        source = NonkycRateSource()

        with patch.dict(os.environ, {CONSTANTS.REST_URL_ENV_VAR: rest_url}):
            prices = await self.prices(source)
            self.assertEqual(prices, await self.prices(source))

        self.assertEqual({"BTC-USDT": Decimal("60500"), "DOGE-USDT": Decimal("0.12"),
                          "BTC-USDT_TRC20": Decimal("60300")}, prices)
        self.assertEqual(1, len(mock_api.requests[("GET", URL(f"{rest_url}/tickers"))]))
        self.assertEqual("nonkyc", source.name)
        self.assertEqual(Decimal("12000"), Decimal("100000") * find_rate(prices, "DOGE-USDT"))
        self.assertEqual(Decimal("60500"), find_rate(prices, "BTC-USD"))

    @aioresponses()
    async def test_an_unreachable_exchange_gives_no_prices_and_one_error_naming_the_request(self, mock_api):
        mock_api.get(web_utils.public_rest_url(CONSTANTS.TICKERS_PATH_URL), status=503,
                     body=json.dumps({"error": {"code": 503, "message": "Service Unavailable"}}), repeat=True)

        self.assertEqual({}, await self.prices(NonkycRateSource()))
        self.assertEqual(1, len(self.log_messages("ERROR")))
        self.assertIn("Unexpected error while retrieving rates from NonKYC (GET /tickers)", self.log_messages()[0])


class RateSourceRegistrationTests(IsolatedAsyncioWrapperTestCase):
    """The start-up hook registered the source when Hummingbot's client config module was executed."""

    def tearDown(self) -> None:
        RateOracle.get_instance().source = RATE_ORACLE_SOURCES["gate_io"]()
        super().tearDown()

    def test_the_client_config_accepts_nonkyc_as_a_name_and_as_a_section_and_sets_the_oracle_source(self):
        self.assertIs(NonkycRateSource, RATE_ORACLE_SOURCES["nonkyc"])
        self.assertIn("nonkyc", client_config_map.RATE_SOURCE_MODES)
        for value in ("nonkyc", {"name": "nonkyc"}):
            with self.subTest(value=value):
                RateOracle.get_instance().source = RATE_ORACLE_SOURCES["gate_io"]()
                config = ClientConfigMap.model_validate({"rate_oracle_source": value})

                self.assertEqual("nonkyc", config.rate_oracle_source.name)
                self.assertIsInstance(RateOracle.get_instance().source, NonkycRateSource)

    def test_setting_the_source_by_name_is_validated_and_saved_as_hummingbot_writes_sources(self):
        adapter = ClientConfigAdapter(ClientConfigMap())
        adapter.rate_oracle_source = "nonkyc"
        path = self.temporary_file()
        save_to_yml(path, adapter)

        self.assertIn("rate_oracle_source:\n  name: nonkyc\n", path.read_text())
        self.assertIsInstance(RateOracle.get_instance().source, NonkycRateSource)
        field = ClientConfigMap.model_fields["rate_oracle_source"]
        self.assertIn("nonkyc", field.description)
        self.assertIn("/nonkyc)", field.json_schema_extra["prompt"](adapter))  # the interactive client's prompt
        with self.assertRaises(Exception):
            adapter.rate_oracle_source = "no_such_source"

    def test_registering_again_changes_nothing(self):
        mode = client_config_map.RATE_SOURCE_MODES["nonkyc"]
        nonkyc_rate_source.register(client_config_map)

        self.assertIs(mode, client_config_map.RATE_SOURCE_MODES["nonkyc"])
        self.assertEqual(1, list(client_config_map.RATE_SOURCE_MODES).count("nonkyc"))

    def temporary_file(self) -> pathlib.Path:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        return pathlib.Path(directory.name) / "conf_client.yml"
