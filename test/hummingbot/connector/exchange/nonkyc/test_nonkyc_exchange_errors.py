import asyncio
import json
from decimal import Decimal
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import CLOUDFLARE_522_PAGE, NonkycExchangeTestCase
from typing import Any, Dict
from unittest.mock import AsyncMock, MagicMock

import aiohttp
from aioresponses import aioresponses
from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_order_placement import is_ambiguous_creation_error
from hummingbot.connector.exchange.nonkyc.nonkyc_web_utils import NonkycAPIError


def error_body(code: int, message: str, **fields) -> str:
    return json.dumps({"error": {"code": code, "message": message, **fields}})


class NonkycExchangeRequestErrorTests(NonkycExchangeTestCase):
    """The exchange's REST requests: one typed error for every failed answer, retries, and the error classifiers."""

    balances_url = web_utils.private_rest_url(CONSTANTS.BALANCES_PATH_URL)
    server_time_url = web_utils.public_rest_url(CONSTANTS.SERVER_TIME_PATH_URL)

    async def error_of_answer(self, answer: Dict[str, Any]) -> Exception:
        """The exception the connector raises when GET /balances gets `answer` (aioresponses keyword arguments)."""
        with aioresponses() as mock_api:
            mock_api.get(self.balances_url, repeat=True, **answer)
            mock_api.get(self.server_time_url, body=json.dumps({"serverTime": 1640780100000}), repeat=True)
            with self.assertRaises(Exception) as context:
                await self.exchange._api_get(path_url=CONSTANTS.BALANCES_PATH_URL, is_auth_required=True)
        return context.exception

    def classification(self, error: Exception) -> Dict[str, bool]:
        classifiers = {
            "order not found (status)": self.exchange._is_order_not_found_during_status_update_error,
            "order not found (cancel)": self.exchange._is_order_not_found_during_cancelation_error,
            "time synchronizer": self.exchange._is_request_exception_related_to_time_synchronizer,
            "ambiguous create": is_ambiguous_creation_error,
        }
        return {name: True for name, classifier in classifiers.items() if classifier(error)}

    # --- What a failed answer raises ---

    async def test_http_200_with_an_error_body_is_a_failure(self):
        error = await self.error_of_answer({"body": error_body(1003, "Action is forbidden for this API key")})

        self.assertIsInstance(error, NonkycAPIError)
        self.assertEqual((200, 1003, "GET", "/balances"), (error.http_status, error.code, error.method, error.path))
        self.assertIn("Action is forbidden for this API key", str(error))

    async def test_a_cloudflare_page_raises_the_typed_error_with_its_status_and_no_code(self):
        error = await self.error_of_answer({"status": 522, "body": CLOUDFLARE_522_PAGE, "content_type": "text/html"})

        self.assertIsInstance(error, NonkycAPIError)
        self.assertEqual((522, None), (error.http_status, error.code))
        self.assertTrue(str(error).endswith("HTTP status is 522. Error: HTML page (api.nonkyc.io | 522: Connection "
                                            "timed out)"))

    async def test_a_success_status_with_a_body_that_is_not_json_is_a_failure_not_a_decode_crash(self):
        error = await self.error_of_answer({"status": 200, "body": "<html><title>Maintenance</title></html>"})

        self.assertIsInstance(error, NonkycAPIError)
        self.assertEqual((200, None, "HTML page (Maintenance)"), (error.http_status, error.code, error.message))

    async def test_timeouts_and_network_errors_are_raised_as_they_are(self):
        for exception in (asyncio.TimeoutError(), aiohttp.ClientConnectionError("Connection reset by peer")):
            error = await self.error_of_answer({"exception": exception})
            self.assertIs(exception, error)

    # --- Retries ---

    def use_fake_clock(self):
        """The connector's clock moves only when it sleeps."""
        self.now = 1640780100.0

        async def sleep(delay: float):
            self.now += delay

        self.exchange._time = MagicMock(side_effect=lambda: self.now)
        self.exchange._sleep = AsyncMock(side_effect=sleep)

    @aioresponses()
    async def test_rate_limited_answer_backs_off_and_retries(self, mock_api):
        self.use_fake_clock()
        mock_api.get(self.balances_url, status=429, body="Too Many Requests")
        mock_api.get(self.balances_url, status=200, body=error_body(429, "Too many requests"))
        mock_api.get(self.balances_url, body=json.dumps([{"asset": "USDT", "available": "3", "held": "0"}]))

        await self.exchange._update_balances()

        self.assertEqual(Decimal("3"), self.exchange.get_balance("USDT"))
        self.assertEqual([1.0, 2.0], [call.args[0] for call in self.exchange._sleep.await_args_list])
        self.assertEqual(1, len(self.logged("WARNING", "NonKYC is rate limiting this API key (HTTP 429 on GET "
                                                       "/balances).")))
        self.assertTrue(self.logged("INFO", "NonKYC stopped rate limiting after 3 s (2 requests answered 429); "
                                            "requests are back to their normal pace."))

    async def test_rate_limit_retries_are_bounded(self):
        self.use_fake_clock()
        error = await self.error_of_answer({"status": 429, "body": error_body(429, "Too Many Requests")})

        self.assertTrue(error.is_rate_limited)
        self.assertEqual([1.0, 2.0, 4.0], [call.args[0] for call in self.exchange._sleep.await_args_list])
        self.assertEqual(CONSTANTS.RATE_LIMITED_RETRIES, self.exchange._sleep.await_count)

    @aioresponses()
    async def test_nonce_failure_resynchronizes_time_and_retries_once(self, mock_api):
        mock_api.get(self.balances_url, status=401,
                     body=error_body(1002, "Authorization failed", description="Invalid nonce"))
        mock_api.get(self.server_time_url, body=json.dumps({"serverTime": 1772170404982}))
        mock_api.get(self.balances_url, body=json.dumps([{"asset": "USDT", "available": "1", "held": "0"}]))

        await self.exchange._update_balances()

        self.assertEqual(Decimal("1"), self.exchange.get_balance("USDT"))
        self.assertIn(("GET", URL(self.server_time_url)), mock_api.requests)

    @aioresponses()
    async def test_refused_credentials_are_reported_clearly_after_one_time_resync(self, mock_api):
        mock_api.get(self.balances_url, status=401, body=error_body(1002, "Authorization failed"), repeat=True)
        mock_api.get(self.server_time_url, body=json.dumps({"serverTime": 1772170404982}))

        with self.assertRaises(NonkycAPIError) as context:
            await self.exchange._update_balances()

        self.assertTrue(str(context.exception).startswith(
            "NonKYC refused the API credentials for GET /balances: check the API key, the secret and the key's "
            "permissions (code 1002, Authorization failed)."))
        self.assertEqual(2, len(mock_api.requests[("GET", URL(self.balances_url))]))

    @aioresponses()
    async def test_a_key_without_permission_is_refused_without_a_time_resync(self, mock_api):
        mock_api.get(self.balances_url, status=401, body=error_body(1003, "Action is forbidden for this API key"))

        with self.assertRaises(NonkycAPIError) as context:
            await self.exchange._update_balances()

        self.assertIn("NonKYC refused the API credentials for GET /balances", str(context.exception))
        self.assertEqual([("GET", URL(self.balances_url))], list(mock_api.requests))

    # --- Classifiers ---

    async def test_classifiers_read_the_fields_of_real_nonkyc_answers(self):
        expectations = [
            ({"status": 400, "body": error_body(20002, "Active order not found for cancellation")},
             {"order not found (status)", "order not found (cancel)"}),
            ({"status": 200, "body": error_body(20002, "Order not found")},
             {"order not found (status)", "order not found (cancel)"}),
            ({"status": 401, "body": error_body(1002, "Authorization failed")}, {"time synchronizer"}),
            ({"status": 401, "body": error_body(1001, "Authorization required")}, {"time synchronizer"}),
            ({"status": 401, "body": error_body(1003, "Action is forbidden for this API key")}, set()),
            ({"status": 429, "body": "Too Many Requests"}, set()),
            ({"status": 429, "body": error_body(429, "Too Many Requests")}, set()),
            ({"status": 522, "body": CLOUDFLARE_522_PAGE, "content_type": "text/html"}, {"ambiguous create"}),
            ({"status": 502, "body": "Bad gateway"}, {"ambiguous create"}),
            ({"status": 503, "body": error_body(503, "Service unavailable")}, {"ambiguous create"}),
            ({"status": 200, "body": error_body(504, "Gateway timeout")}, {"ambiguous create"}),
            ({"status": 200, "body": error_body(500, "Internal Server Error")}, {"ambiguous create"}),
            ({"status": 400, "body": error_body(20008, "Duplicate clientOrderId")}, {"ambiguous create"}),
            ({"status": 400, "body": error_body(20001, "Insufficient funds")}, set()),
            ({"status": 400, "body": error_body(10001, "Validation error")}, set()),
            ({"exception": asyncio.TimeoutError()}, {"ambiguous create"}),
            ({"exception": aiohttp.ClientConnectionError("Connection reset by peer")}, {"ambiguous create"}),
        ]
        for answer, expected in expectations:
            error = await self.error_of_answer(answer)
            self.assertEqual(expected, set(self.classification(error)), answer)

    def test_classifiers_do_not_parse_the_text_of_other_errors(self):
        hummingbot_error = IOError('Error executing request GET x. HTTP status is 503. Error: {"error": {"code": '
                                   '20002, "message": "Order not found", "description": "Invalid nonce"}}')
        binance_error = IOError('Error executing request GET x. HTTP status is 400. Error: '
                                '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}')

        self.assertEqual({}, self.classification(hummingbot_error))
        self.assertEqual({}, self.classification(binance_error))
