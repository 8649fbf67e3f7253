import hashlib
import hmac
from test.nonkyc_sandbox.sandbox_test_support import SandboxTestCase, hmac_hex

from yarl import URL

from nonkyc_sandbox import DEFAULT_API_KEY


class RestSignatureTests(SandboxTestCase):

    async def test_signed_get_with_raw_slash_in_query_is_accepted(self):
        self.sandbox.place_order("user", "BTC/USDT", "buy", "limit", "0.001", "60000.00", user_provided_id="auth-1")

        status, body = await self.client.get("/account/orders", [("symbol", "BTC/USDT"), ("status", "active")])

        self.assertEqual(200, status)
        self.assertEqual(["auth-1"], [order["userProvidedId"] for order in body])

    async def test_signed_get_with_encoded_slash_and_underscore_symbols_are_accepted(self):
        for symbol in ("BTC%2FUSDT", "BTC_USDT"):
            status, body = await self.client.get("/account/trades", [("symbol", symbol), ("limit", 10)])
            self.assertEqual(200, status, body)
            self.assertEqual([], body)

    async def test_signed_post_is_accepted_and_creates_the_order(self):
        status, body = await self.client.create_order("BTC/USDT", "sell", "0.002", "70000.00", userProvidedId="p-1")

        self.assertEqual(200, status, body)
        self.assertEqual("p-1", body["userProvidedId"])
        self.assertEqual("Active", body["status"])
        self.assertEqual("0.002000", body["quantity"])

    async def test_bad_signature_is_rejected_with_401_and_code_1002(self):
        status, body = await self.client.get("/balances", signature="0" * 64)

        self.assertEqual(401, status)
        self.assertEqual(1002, body["error"]["code"])
        self.assertEqual("Authorization failed", body["error"]["message"])

    async def test_signature_over_a_reordered_query_is_rejected(self):
        sent_url = f"{self.sandbox.rest_url}/account/orders?symbol=BTC/USDT&limit=5"
        signed_url = f"{self.sandbox.rest_url}/account/orders?limit=5&symbol=BTC/USDT"
        nonce = self.client.next_nonce()
        headers = {"X-API-KEY": DEFAULT_API_KEY, "X-API-NONCE": nonce,
                   "X-API-SIGN": hmac_hex(self.client.api_secret, f"{DEFAULT_API_KEY}{signed_url}{nonce}")}

        async with self.session.get(URL(sent_url, encoded=True), headers=headers) as response:
            self.assertEqual(401, response.status)
            self.assertEqual(1002, (await response.json())["error"]["code"])

    async def test_post_body_different_from_the_signed_one_is_rejected(self):
        url = f"{self.sandbox.rest_url}/cancelallorders"
        signed_body = '{"symbol":"BTC/USDT","side":"all"}'
        sent_body = '{"symbol": "BTC/USDT", "side": "all"}'
        headers = self.client.headers(url, signed_body)

        async with self.session.post(url, data=sent_body, headers=headers) as response:
            self.assertEqual(401, response.status)

    async def test_missing_headers_answer_1001(self):
        async with self.session.get(f"{self.sandbox.rest_url}/balances") as response:
            self.assertEqual(401, response.status)
            self.assertEqual(1001, (await response.json())["error"]["code"])

    async def test_unknown_key_answers_1002(self):
        self.client.api_key = "not-a-key"

        status, body = await self.client.get("/balances")

        self.assertEqual(401, status)
        self.assertEqual(1002, body["error"]["code"])

    async def test_replayed_or_smaller_nonce_is_rejected_and_a_larger_one_works_again(self):
        status, _ = await self.client.get("/balances", nonce="1900000000000")
        self.assertEqual(200, status)

        for nonce in ("1900000000000", "1899999999999"):
            status, body = await self.client.get("/balances", nonce=nonce)
            self.assertEqual(401, status)
            self.assertEqual(1002, body["error"]["code"])
            self.assertIn("nonce", body["error"]["message"].lower())

        status, _ = await self.client.get("/balances", nonce="1900000000001")
        self.assertEqual(200, status)

    async def test_a_failed_signature_does_not_consume_the_nonce(self):
        status, _ = await self.client.get("/balances", nonce="1900000000000", signature="f" * 64)
        self.assertEqual(401, status)

        status, _ = await self.client.get("/balances", nonce="1900000000000")
        self.assertEqual(200, status)


class WsLoginTests(SandboxTestCase):

    async def test_login_with_a_good_signature_succeeds(self):
        ws = await self.connect_ws()

        reply = await ws.login()

        self.assertEqual({"jsonrpc": "2.0", "result": True, "id": 1}, reply)

    async def test_login_with_a_bad_signature_fails_with_1002(self):
        ws = await self.connect_ws()
        nonce = "0011223344556677"
        bad = hmac.new(b"wrong-secret", nonce.encode(), hashlib.sha256).hexdigest()

        request_id = await ws.request("login", {"algo": "HS256", "pKey": DEFAULT_API_KEY, "nonce": nonce,
                                                "signature": bad})
        reply = await ws.receive()

        self.assertEqual({"jsonrpc": "2.0", "error": {"code": 1002, "message": "Authorization failed"},
                          "id": request_id}, reply)

    async def test_private_subscriptions_before_login_fail_with_1001(self):
        ws = await self.connect_ws()

        for method in ("subscribeReports", "subscribeBalances"):
            request_id = await ws.request(method)
            reply = await ws.receive()
            self.assertEqual(request_id, reply["id"])
            self.assertEqual(1001, reply["error"]["code"])

    async def test_websocket_is_also_served_on_the_root_path(self):
        ws = await self.connect_ws("/")

        reply = await ws.login()

        self.assertTrue(reply["result"])
