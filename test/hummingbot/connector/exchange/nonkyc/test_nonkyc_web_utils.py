import json
import os
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import clear_url_overrides
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase

from aioresponses import aioresponses

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils


class NonkycWebUtilsTests(IsolatedAsyncioWrapperTestCase):

    def setUp(self) -> None:
        super().setUp()
        clear_url_overrides(self)

    def test_production_urls_by_default(self):
        self.assertEqual("https://api.nonkyc.io/api/v2/market/getlist",
                         web_utils.public_rest_url(CONSTANTS.MARKETS_PATH_URL))
        self.assertEqual("https://api.nonkyc.io/api/v2/balances",
                         web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL))
        self.assertEqual("wss://ws.nonkyc.io", web_utils.wss_url())

    def test_environment_overrides_are_read_when_urls_are_built(self):
        os.environ[CONSTANTS.REST_URL_ENV_VAR] = "http://127.0.0.1:8765/api/v2/"
        os.environ[CONSTANTS.WSS_URL_ENV_VAR] = "ws://127.0.0.1:8765/ws"

        self.assertEqual("http://127.0.0.1:8765/api/v2/time", web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL))
        self.assertEqual("http://127.0.0.1:8765/api/v2/createorder",
                         web_utils.private_rest_url(CONSTANTS.CREATE_ORDER_PATH_URL))
        self.assertEqual("ws://127.0.0.1:8765/ws", web_utils.wss_url())

        del os.environ[CONSTANTS.REST_URL_ENV_VAR]
        self.assertEqual("https://api.nonkyc.io/api/v2/time", web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL))

    @aioresponses()
    async def test_get_current_server_time_reads_server_time_in_ms(self, mock_api):
        mock_api.get(web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL),
                     body=json.dumps({"serverTime": 1772170404982}))

        server_time = await web_utils.get_current_server_time()

        self.assertEqual(1772170404982.0, server_time)

    def test_error_in_response_whatever_the_http_status(self):
        body = {"error": {"code": 400, "message": "Bad Request", "description": "Missing required input"}}
        self.assertEqual(body["error"], web_utils.error_in_response(body))
        self.assertEqual({"code": None, "message": "boom"}, web_utils.error_in_response({"error": "boom"}))
        self.assertIsNone(web_utils.error_in_response({"success": True}))
        self.assertIsNone(web_utils.error_in_response([{"asset": "USDT"}]))

    def test_every_endpoint_has_a_rate_limit_in_the_shared_pools(self):
        limit_ids = {limit.limit_id for limit in CONSTANTS.RATE_LIMITS}
        endpoints = [CONSTANTS.SERVER_TIME_PATH_URL, CONSTANTS.MARKETS_PATH_URL, CONSTANTS.ORDER_BOOK_PATH_URL,
                     CONSTANTS.TICKERS_PATH_URL, CONSTANTS.BALANCES_PATH_URL, CONSTANTS.CREATE_ORDER_PATH_URL,
                     CONSTANTS.CANCEL_ORDER_PATH_URL, CONSTANTS.CANCEL_ALL_ORDERS_PATH_URL,
                     CONSTANTS.GET_ORDER_LIMIT_ID,
                     CONSTANTS.ACCOUNT_ORDERS_PATH_URL, CONSTANTS.ACCOUNT_TRADES_PATH_URL]
        for endpoint in endpoints:
            self.assertIn(endpoint, limit_ids)
        for limit in CONSTANTS.RATE_LIMITS:
            if limit.limit_id in endpoints:
                pools = {linked.limit_id for linked in limit.linked_limits}
                self.assertIn(CONSTANTS.ALL_REQUESTS_POOL, pools)
        throttler = web_utils.create_throttler()
        self.assertIn(CONSTANTS.GET_ORDER_LIMIT_ID, throttler._id_to_limit_map)
