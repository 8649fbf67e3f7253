import hashlib
import hmac
import json
import secrets
from typing import Any, Dict, Mapping, Optional

from yarl import URL

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as CONSTANTS
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.core.web_assistant.auth import AuthBase
from hummingbot.core.web_assistant.connections.data_types import RESTMethod, RESTRequest, WSRequest


class NonkycAuth(AuthBase):
    """
    NonKYC request signing.

    REST: ``X-API-SIGN = hex(HMAC_SHA256(secret, apiKey + URL + BODY + nonce))``, where a GET signs the full URL with
    its query string exactly as aiohttp sends it (the query is built here and moved into the URL), and a POST signs
    the compact JSON body that is then sent byte for byte.
    WebSocket: ``login`` with ``signature = hex(HMAC_SHA256(secret, nonce))``.
    """

    def __init__(self, api_key: str, secret_key: str, time_provider: TimeSynchronizer):
        self.api_key = api_key or ""
        self.secret_key = secret_key or ""
        self.time_provider = time_provider
        self._last_nonce = 0

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"

    async def rest_authenticate(self, request: RESTRequest) -> RESTRequest:
        nonce = self.next_nonce()
        if request.method == RESTMethod.POST:
            request.data = self.compact_json_body(request.data)
            message = f"{self.api_key}{request.url}{request.data}{nonce}"
        else:
            request.url = self.url_as_sent(request.url, request.params)
            request.params = None
            message = f"{self.api_key}{request.url}{nonce}"

        headers = dict(request.headers or {})
        headers.update({
            "X-API-KEY": self.api_key,
            "X-API-NONCE": nonce,
            "X-API-SIGN": self._sign(message),
        })
        request.headers = headers
        return request

    async def ws_authenticate(self, request: WSRequest) -> WSRequest:
        # The WebSocket session is authenticated once with the `login` message (see `ws_login_payload`).
        return request

    def ws_login_payload(self, request_id: int) -> Dict[str, Any]:
        nonce = secrets.token_hex(16)
        return {
            "method": CONSTANTS.WS_METHOD_LOGIN,
            "params": {
                "algo": CONSTANTS.WS_LOGIN_ALGORITHM,
                "pKey": self.api_key,
                "nonce": nonce,
                "signature": self._sign(nonce),
            },
            "id": request_id,
        }

    def next_nonce(self) -> str:
        """Milliseconds of the synchronized clock, strictly increasing even for requests within the same ms."""
        nonce = max(int(self.time_provider.time() * 1e3), self._last_nonce + 1)
        self._last_nonce = nonce
        return str(nonce)

    @staticmethod
    def url_as_sent(url: str, params: Optional[Mapping[str, Any]]) -> str:
        """
        The URL with its query string exactly as aiohttp/yarl puts it on the wire (for example `/` stays raw in
        `symbol=BTC/USDT`), with the parameters in the order given.
        """
        full_url = URL(url)
        if params:
            full_url = full_url.update_query([(key, NonkycAuth._query_value(value)) for key, value in params.items()])
        return str(full_url)

    @staticmethod
    def compact_json_body(data: Any) -> str:
        if data is None:
            return ""
        payload = json.loads(data) if isinstance(data, (str, bytes)) else data
        return json.dumps(payload, separators=(",", ":"))

    @staticmethod
    def _query_value(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _sign(self, message: str) -> str:
        return hmac.new(self.secret_key.encode("utf8"), message.encode("utf8"), hashlib.sha256).hexdigest()
