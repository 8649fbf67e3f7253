import json
import os
import unittest
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import clear_url_overrides
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase

from aioresponses import aioresponses

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_web_utils import NonkycAPIError

BALANCES_URL = "https://api.nonkyc.io/api/v2/balances"
CLOUDFLARE_522_PAGE = ("<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>api.nonkyc.io | 522: Connection timed out"
                       "</title></head>\n<body><div id=\"cf-error-details\"><h1>Connection timed out</h1>"
                       "<p>Error code 522</p></div></body>\n</html>\n")


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

    @aioresponses()
    async def test_get_current_server_time_raises_the_typed_error_for_an_error_body_or_a_page(self, mock_api):
        url = web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL)
        mock_api.get(url, body=json.dumps({"error": {"code": 503, "message": "Service unavailable"}}))
        mock_api.get(url, status=522, body=CLOUDFLARE_522_PAGE, content_type="text/html")

        with self.assertRaises(NonkycAPIError) as error_answer:
            await web_utils.get_current_server_time()
        with self.assertRaises(NonkycAPIError) as cloudflare_page:
            await web_utils.get_current_server_time()

        answered = error_answer.exception
        self.assertEqual((200, 503, "/time"), (answered.http_status, answered.code, answered.path))
        self.assertEqual((522, None), (cloudflare_page.exception.http_status, cloudflare_page.exception.code))

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


def answer_error(http_status: int, body: str, method: str = "GET", path: str = "/balances",
                 url: str = BALANCES_URL) -> NonkycAPIError:
    return NonkycAPIError.from_answer(http_status=http_status, body=body, method=method, path=path, url=url)


def error_body(code: int, message: str, **fields) -> str:
    return json.dumps({"error": {"code": code, "message": message, **fields}})


class NonkycAPIErrorTests(unittest.TestCase):
    """The typed error of a failed REST answer, built from NonKYC's real error bodies."""

    def classification(self, error: NonkycAPIError) -> dict:
        return {name: getattr(error, name) for name in (
            "is_order_not_found", "is_rate_limited", "is_server_error", "is_duplicate_client_order_id",
            "is_credentials_error", "may_be_stale_nonce") if getattr(error, name)}

    def test_it_is_an_io_error_carrying_status_code_message_method_and_path(self):
        error = answer_error(400, error_body(20002, "Active order not found for cancellation"), method="POST",
                             path="/cancelorder", url="https://api.nonkyc.io/api/v2/cancelorder")

        self.assertIsInstance(error, IOError)
        self.assertEqual((400, 20002, "Active order not found for cancellation", "POST", "/cancelorder"),
                         (error.http_status, error.code, error.message, error.method, error.path))
        self.assertEqual('Error executing request POST https://api.nonkyc.io/api/v2/cancelorder. HTTP status is 400. '
                         'Error: {"error": {"code": 20002, "message": "Active order not found for cancellation"}}',
                         str(error))
        self.assertEqual({"is_order_not_found": True}, self.classification(error))

    def test_order_not_found_is_code_20002_whatever_the_http_status(self):
        for status in (200, 400, 404):
            error = answer_error(status, error_body(20002, "Order not found"), path="/getorder/HBOT1")
            self.assertEqual({"is_order_not_found": True}, self.classification(error), status)

    def test_http_200_with_an_error_body(self):
        # /cancelallorders without a symbol, captured live
        error = answer_error(200, error_body(400, "Bad Request", description="Missing required input"),
                             method="POST", path="/cancelallorders")

        self.assertEqual((200, 400, "Bad Request"), (error.http_status, error.code, error.message))
        self.assertIn("HTTP status is 200. Error: ", str(error))
        self.assertEqual({}, self.classification(error))

    def test_rate_limited_by_http_status_or_error_code(self):
        answers = [(429, error_body(429, "Too Many Requests")), (429, "Too Many Requests"),
                   (200, error_body(429, "Too many requests"))]
        for status, body in answers:
            error = answer_error(status, body)
            self.assertEqual({"is_rate_limited": True}, self.classification(error), body)
        plain_text = answer_error(429, "Too Many Requests")
        self.assertEqual((None, "Too Many Requests"), (plain_text.code, plain_text.message))

    def test_refused_credentials_tell_the_user_what_to_check(self):
        error = answer_error(401, error_body(1002, "Authorization failed"))

        self.assertEqual({"is_credentials_error": True, "may_be_stale_nonce": True}, self.classification(error))
        self.assertEqual(
            "NonKYC refused the API credentials for GET /balances: check the API key, the secret and the key's "
            "permissions (code 1002, Authorization failed). Error executing request GET " + BALANCES_URL + ". HTTP "
            'status is 401. Error: {"error": {"code": 1002, "message": "Authorization failed"}}', str(error))

    def test_a_forbidden_key_is_a_credentials_error_but_no_clock_problem(self):
        error = answer_error(401, error_body(1003, "Action is forbidden for this API key"), method="POST",
                             path="/createorder")

        self.assertEqual({"is_credentials_error": True}, self.classification(error))
        self.assertTrue(str(error).startswith("NonKYC refused the API credentials for POST /createorder"))

    def test_a_nonce_refusal_without_an_auth_code_may_be_a_stale_nonce(self):
        self.assertTrue(answer_error(401, "Invalid nonce").may_be_stale_nonce)
        self.assertFalse(answer_error(400, error_body(10001, "Validation error: nonce")).may_be_stale_nonce)

    def test_cloudflare_page_is_a_server_error_without_code_and_is_not_dumped(self):
        error = answer_error(522, CLOUDFLARE_522_PAGE, method="POST", path="/createorder",
                             url="https://api.nonkyc.io/api/v2/createorder")

        self.assertEqual((522, None), (error.http_status, error.code))
        self.assertEqual({"is_server_error": True}, self.classification(error))
        self.assertEqual("Error executing request POST https://api.nonkyc.io/api/v2/createorder. HTTP status is 522. "
                         "Error: HTML page (api.nonkyc.io | 522: Connection timed out)", str(error))
        self.assertEqual(CLOUDFLARE_522_PAGE, error.body)

    def test_an_html_page_without_title_is_shortened_to_its_size(self):
        page = "<html><body>" + "x" * 5000 + "</body></html>"

        self.assertEqual(f"HTML page ({len(page)} characters)", answer_error(503, page).message)

    def test_server_errors_mean_check_the_result_later(self):
        answers = [(503, error_body(503, "Service unavailable")), (200, error_body(504, "Gateway timeout")),
                   (200, error_body(500, "Internal Server Error")), (502, "Bad gateway")]
        for status, body in answers:
            self.assertEqual({"is_server_error": True}, self.classification(answer_error(status, body)), body)

    def test_duplicate_user_provided_id(self):
        error = answer_error(400, error_body(20008, "Duplicate clientOrderId"), method="POST", path="/createorder")

        self.assertEqual({"is_duplicate_client_order_id": True}, self.classification(error))

    def test_errors_that_mean_nothing_special(self):
        answers = [(400, error_body(20001, "Insufficient funds")), (400, error_body(2001, "Market not found")),
                   (200, "<html><title>Maintenance</title></html>"), (404, json.dumps({"message": "?"})),
                   (400, json.dumps({"error": "Bad userProvidedId"}))]
        for status, body in answers:
            self.assertEqual({}, self.classification(answer_error(status, body)), body)

    def test_an_error_given_as_plain_text_has_a_message_and_no_code(self):
        error = answer_error(400, json.dumps({"error": "Bad userProvidedId"}), method="POST", path="/createorder")

        self.assertEqual((None, "Bad userProvidedId"), (error.code, error.message))
