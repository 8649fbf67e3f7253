import hashlib
import hmac
import json
from test.hummingbot.connector.exchange.nonkyc.real_sockets import (
    close_shared_aiohttp_session,
    use_fresh_shared_aiohttp_session,
)
from test.isolated_asyncio_wrapper_test_case import IsolatedAsyncioWrapperTestCase
from typing import Any, Dict, List
from unittest.mock import MagicMock

from aiohttp import web

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_auth import NonkycAuth
from hummingbot.core.web_assistant.connections.data_types import RESTMethod, RESTRequest, WSJSONRequest
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

API_KEY = "testApiKey"
SECRET = "testSecret"


def expected_signature(message: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode("utf8"), message.encode("utf8"), hashlib.sha256).hexdigest()


class NonkycAuthTests(IsolatedAsyncioWrapperTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.time_provider = MagicMock()
        self.time_provider.time.return_value = 1772170404.982
        self.auth = NonkycAuth(api_key=API_KEY, secret_key=SECRET, time_provider=self.time_provider)

    async def test_get_signs_key_full_url_with_query_and_nonce(self):
        request = RESTRequest(
            method=RESTMethod.GET,
            url="https://api.nonkyc.io/api/v2/account/trades",
            params={"symbol": "BTC/USDT", "since": 1772170000000, "limit": 500},
            is_auth_required=True)

        signed = await self.auth.rest_authenticate(request)

        expected_url = "https://api.nonkyc.io/api/v2/account/trades?symbol=BTC/USDT&since=1772170000000&limit=500"
        self.assertEqual(expected_url, signed.url)
        self.assertIsNone(signed.params)
        self.assertEqual(API_KEY, signed.headers["X-API-KEY"])
        self.assertEqual("1772170404982", signed.headers["X-API-NONCE"])
        self.assertEqual(expected_signature(f"{API_KEY}{expected_url}1772170404982"), signed.headers["X-API-SIGN"])

    async def test_post_signs_and_sends_the_same_compact_json(self):
        request = RESTRequest(
            method=RESTMethod.POST,
            url="https://api.nonkyc.io/api/v2/createorder",
            data=json.dumps({"symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "0.5",
                             "price": "67000.00", "userProvidedId": "HBOTBBCUT1", "strictValidate": True}),
            is_auth_required=True)

        signed = await self.auth.rest_authenticate(request)

        expected_body = ('{"symbol":"BTC/USDT","side":"buy","type":"limit","quantity":"0.5","price":"67000.00",'
                         '"userProvidedId":"HBOTBBCUT1","strictValidate":true}')
        self.assertEqual(expected_body, signed.data)
        message = f"{API_KEY}https://api.nonkyc.io/api/v2/createorder{expected_body}1772170404982"
        self.assertEqual(expected_signature(message), signed.headers["X-API-SIGN"])

    async def test_post_without_body_signs_the_url_alone(self):
        request = RESTRequest(method=RESTMethod.POST, url="https://api.nonkyc.io/api/v2/cancelallorders",
                              is_auth_required=True)

        signed = await self.auth.rest_authenticate(request)

        self.assertEqual("", signed.data)
        message = f"{API_KEY}https://api.nonkyc.io/api/v2/cancelallorders1772170404982"
        self.assertEqual(expected_signature(message), signed.headers["X-API-SIGN"])

    async def test_boolean_query_values_are_sent_and_signed_in_lower_case(self):
        request = RESTRequest(method=RESTMethod.GET, url="https://api.nonkyc.io/api/v2/account/orders",
                              params={"symbol": "BTC_USDT", "isActive": True, "hidden": False}, is_auth_required=True)

        signed = await self.auth.rest_authenticate(request)

        expected_url = "https://api.nonkyc.io/api/v2/account/orders?symbol=BTC_USDT&isActive=true&hidden=false"
        self.assertEqual(expected_url, signed.url)
        self.assertEqual(expected_signature(f"{API_KEY}{expected_url}1772170404982"), signed.headers["X-API-SIGN"])

    async def test_the_websocket_session_is_authenticated_by_login_not_per_message(self):
        request = WSJSONRequest(payload={"method": "subscribeReports", "params": {}, "id": 1})

        self.assertEqual({"method": "subscribeReports", "params": {}, "id": 1},
                         (await self.auth.ws_authenticate(request)).payload)

    async def test_nonce_is_milliseconds_and_strictly_increasing_within_the_same_millisecond(self):
        nonces = [int(self.auth.next_nonce()) for _ in range(3)]
        self.assertEqual([1772170404982, 1772170404983, 1772170404984], nonces)

        self.time_provider.time.return_value = 1772170404.900  # the clock went back (time re-synchronized)
        self.assertEqual(1772170404985, int(self.auth.next_nonce()))

        self.time_provider.time.return_value = 1772170500.000
        self.assertEqual(1772170500000, int(self.auth.next_nonce()))

    def test_ws_login_payload(self):
        payload = self.auth.ws_login_payload(request_id=99)

        params = payload["params"]
        self.assertEqual("login", payload["method"])
        self.assertEqual(99, payload["id"])
        self.assertEqual("HS256", params["algo"])
        self.assertEqual(API_KEY, params["pKey"])
        self.assertGreaterEqual(len(params["nonce"]), 16)
        self.assertEqual(expected_signature(params["nonce"]), params["signature"])
        self.assertNotEqual(params["nonce"], self.auth.ws_login_payload(request_id=100)["params"]["nonce"])

    def test_repr_does_not_reveal_the_secret(self):
        self.assertNotIn(SECRET, repr(self.auth))
        self.assertNotIn(API_KEY, repr(self.auth))


class NonkycAuthOnTheWireTests(IsolatedAsyncioWrapperTestCase):
    """
    The signature must cover the URL exactly as aiohttp puts it on the wire. A local HTTP server receives the real
    requests sent through Hummingbot's web assistants, and the signature is checked against the raw request line.
    """

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.received: List[Dict[str, Any]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        time_provider = MagicMock()
        time_provider.time.return_value = 1772170404.982
        self.auth = NonkycAuth(api_key=API_KEY, secret_key=SECRET, time_provider=time_provider)
        use_fresh_shared_aiohttp_session()
        self.factory = WebAssistantsFactory(throttler=web_utils.create_throttler(), auth=self.auth)

    async def asyncTearDown(self) -> None:
        await close_shared_aiohttp_session()
        await self.runner.cleanup()
        await super().asyncTearDown()

    async def _record(self, request: web.Request) -> web.Response:
        self.received.append({
            "url": f"{request.scheme}://{request.host}{request.raw_path}",
            "body": await request.text(),
            "headers": dict(request.headers),
        })
        return web.json_response({"ok": True})

    def assert_signature_matches_wire(self, received: Dict[str, Any]):
        headers = received["headers"]
        message = f"{headers['X-API-KEY']}{received['url']}{received['body']}{headers['X-API-NONCE']}"
        self.assertEqual(expected_signature(message), headers["X-API-SIGN"])

    async def test_get_with_slash_symbol_and_unsorted_params_is_signed_as_sent(self):
        rest_assistant = await self.factory.get_rest_assistant()
        url = f"http://127.0.0.1:{self.port}/api/v2/account/trades"

        await rest_assistant.execute_request(
            url=url, throttler_limit_id=CONSTANTS.ACCOUNT_TRADES_PATH_URL, method=RESTMethod.GET,
            is_auth_required=True,
            params={"symbol": "BTC/USDT", "since": 1772170000000, "limit": 500, "skip": 0})

        received = self.received[0]
        self.assertEqual(f"{url}?symbol=BTC/USDT&since=1772170000000&limit=500&skip=0", received["url"])
        self.assert_signature_matches_wire(received)

    async def test_post_body_on_the_wire_is_the_signed_compact_json(self):
        rest_assistant = await self.factory.get_rest_assistant()
        url = f"http://127.0.0.1:{self.port}/api/v2/createorder"
        payload = {"symbol": "BTC/USDT", "side": "sell", "type": "limit", "quantity": "0.010917",
                   "price": "67883.06", "userProvidedId": "HBOTSBCUT2", "strictValidate": True}

        await rest_assistant.execute_request(
            url=url, throttler_limit_id=CONSTANTS.CREATE_ORDER_PATH_URL, method=RESTMethod.POST,
            is_auth_required=True, data=payload)

        received = self.received[0]
        self.assertEqual(json.dumps(payload, separators=(",", ":")), received["body"])
        self.assertEqual(url, received["url"])
        self.assert_signature_matches_wire(received)
