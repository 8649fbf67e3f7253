import json
import os
from typing import Any, Callable, Dict, Optional

import hummingbot.connector.exchange.nonkyc.nonkyc_constants as CONSTANTS
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.connector.utils import TimeSynchronizerRESTPreProcessor
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.web_assistant.auth import AuthBase
from hummingbot.core.web_assistant.connections.data_types import RESTMethod, RESTResponse
from hummingbot.core.web_assistant.rest_assistant import RESTAssistant
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory


def rest_base_url() -> str:
    """The REST base (ending in /api/v2): NONKYC_REST_URL when set, production otherwise. Read at every call."""
    return (os.environ.get(CONSTANTS.REST_URL_ENV_VAR) or CONSTANTS.REST_URL).rstrip("/")


def wss_url(domain: str = CONSTANTS.DEFAULT_DOMAIN) -> str:
    """The WebSocket URL: NONKYC_WS_URL when set, production otherwise. Read at every call."""
    return os.environ.get(CONSTANTS.WSS_URL_ENV_VAR) or CONSTANTS.WSS_URL


def public_rest_url(path_url: str, domain: str = CONSTANTS.DEFAULT_DOMAIN) -> str:
    return rest_base_url() + path_url


def private_rest_url(path_url: str, domain: str = CONSTANTS.DEFAULT_DOMAIN) -> str:
    return rest_base_url() + path_url


def build_api_factory(
        throttler: Optional[AsyncThrottler] = None,
        time_synchronizer: Optional[TimeSynchronizer] = None,
        domain: str = CONSTANTS.DEFAULT_DOMAIN,
        time_provider: Optional[Callable] = None,
        auth: Optional[AuthBase] = None) -> WebAssistantsFactory:
    throttler = throttler or create_throttler()
    time_synchronizer = time_synchronizer or TimeSynchronizer()
    time_provider = time_provider or (lambda: get_current_server_time(throttler=throttler, domain=domain))
    return WebAssistantsFactory(
        throttler=throttler,
        auth=auth,
        rest_pre_processors=[
            TimeSynchronizerRESTPreProcessor(synchronizer=time_synchronizer, time_provider=time_provider),
        ])


def build_api_factory_without_time_synchronizer_pre_processor(throttler: AsyncThrottler) -> WebAssistantsFactory:
    return WebAssistantsFactory(throttler=throttler)


def create_throttler() -> AsyncThrottler:
    return AsyncThrottler(CONSTANTS.RATE_LIMITS)


async def get_current_server_time(
        throttler: Optional[AsyncThrottler] = None,
        domain: str = CONSTANTS.DEFAULT_DOMAIN) -> float:
    """The exchange's clock in milliseconds, from GET /time."""
    throttler = throttler or create_throttler()
    api_factory = build_api_factory_without_time_synchronizer_pre_processor(throttler=throttler)
    body = await api_answer(await api_factory.get_rest_assistant(),
                            url=public_rest_url(path_url=CONSTANTS.SERVER_TIME_PATH_URL, domain=domain),
                            path=CONSTANTS.SERVER_TIME_PATH_URL)
    return float(body["serverTime"])


async def api_answer(rest_assistant: RESTAssistant,
                     url: str,
                     path: str,
                     method: RESTMethod = RESTMethod.GET,
                     params: Optional[Dict[str, Any]] = None,
                     data: Optional[Dict[str, Any]] = None,
                     is_auth_required: bool = False,
                     throttler_limit_id: Optional[str] = None,
                     timeout: Optional[float] = None) -> Any:
    """
    One REST request and its JSON answer (see `answer_body`): the answer is judged here rather than by Hummingbot
    (`return_err`), so that an error body sent with HTTP 200 fails like an HTTP error.
    """
    response = await rest_assistant.execute_request_and_get_response(
        url=url,
        params=params,
        data=data,
        method=method,
        is_auth_required=is_auth_required,
        return_err=True,
        throttler_limit_id=throttler_limit_id or path,
        timeout=timeout or CONSTANTS.REST_REQUEST_TIMEOUT,
    )
    return await answer_body(response, method=method, path=path, url=url)


def error_in_response(response: Any) -> Optional[Dict[str, Any]]:
    """
    The NonKYC error object of a response body (`{"error": {"code", "message", ...}}`), whatever the HTTP status was,
    or None when the body is not an error.
    """
    if isinstance(response, dict) and "error" in response:
        error = response["error"]
        return error if isinstance(error, dict) else {"code": None, "message": str(error)}
    return None


class NonkycAPIError(IOError):
    """
    A NonKYC REST call that failed: an HTTP error status, or an answer whose body is a NonKYC error
    (`{"error": {"code", "message", ...}}`, also sent with HTTP 200) or is not JSON (a Cloudflare page). `code` and
    `message` are those of the error body; `code` is None when the body has none.

    It is an IOError and its text keeps Hummingbot's form, "Error executing request GET <url>. HTTP status is 429.
    Error: <body>" (an HTML page shortened to its title), so Hummingbot's own handling of request errors still
    applies. A refusal of the API credentials is preceded by a sentence telling the user what to check.
    """

    def __init__(self,
                 http_status: int,
                 code: Optional[int],
                 message: str,
                 method: str,
                 path: str,
                 body: str = "",
                 url: Optional[str] = None,
                 retry_after: Optional[float] = None):
        self.http_status = http_status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.body = body
        self.url = url or path
        self.retry_after = retry_after  # seconds, from a `Retry-After` header (429 answers)
        super().__init__(self._text())

    @classmethod
    def from_answer(cls, http_status: int, body: str, method: str, path: str, url: Optional[str] = None,
                    retry_after: Optional[float] = None) -> "NonkycAPIError":
        """The error of an answer: code and message of its error body, or the shortened body when it is not JSON."""
        parsed = _json_or_none(body)
        error = (error_in_response(parsed) or {}) if parsed is not None else {"message": shortened_body(body)}
        code = error.get("code")
        return cls(http_status=http_status, code=code if isinstance(code, int) else None,
                   message=str(error.get("message") or ""), method=method, path=path, body=body, url=url,
                   retry_after=retry_after)

    @property
    def is_order_not_found(self) -> bool:
        return self.code == CONSTANTS.ERROR_CODE_ORDER_NOT_FOUND

    @property
    def is_rate_limited(self) -> bool:
        return CONSTANTS.ERROR_CODE_RATE_LIMITED in (self.http_status, self.code)

    @property
    def is_server_error(self) -> bool:
        """HTTP 5xx (Cloudflare's 520-524 pages included) or an error code meaning "check the result later"."""
        return self.http_status >= 500 or self.code in CONSTANTS.SERVER_ERROR_CODES

    @property
    def is_duplicate_client_order_id(self) -> bool:
        return self.code == CONSTANTS.ERROR_CODE_DUPLICATE_CLIENT_ORDER_ID

    @property
    def is_credentials_error(self) -> bool:
        return self.code in CONSTANTS.CREDENTIAL_ERROR_CODES

    @property
    def may_be_stale_nonce(self) -> bool:
        """NonKYC refuses a stale or reused nonce like any failed signature: HTTP 401, code 1001 or 1002."""
        return self.code in CONSTANTS.AUTH_ERROR_CODES or (self.http_status == 401 and "nonce" in self.message.lower())

    def _text(self) -> str:
        text = (f"Error executing request {self.method} {self.url}. HTTP status is {self.http_status}. "
                f"Error: {shortened_body(self.body)}")
        if self.is_credentials_error:
            text = (f"NonKYC refused the API credentials for {self.method} {self.path}: check the API key, the "
                    f"secret and the key's permissions (code {self.code}, {self.message}). {text}")
        return text


async def answer_body(response: RESTResponse, method: RESTMethod, path: str, url: str) -> Any:
    """
    The JSON body of a successful answer. Raises NonkycAPIError for an HTTP error status, for an error body whatever
    the HTTP status, and for a body that is not JSON.
    """
    text = await response.text()
    body = _json_or_none(text)
    if response.status < 400 and body is not None and error_in_response(body) is None:
        return body
    raise NonkycAPIError.from_answer(http_status=response.status, body=text, method=method.name, path=path, url=url,
                                     retry_after=_retry_after_seconds(response.headers))


def _retry_after_seconds(headers: Any) -> Optional[float]:
    """The `Retry-After` header in seconds (the HTTP-date form is not used by NonKYC and is ignored)."""
    try:
        value = float((headers or {}).get("Retry-After"))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def shortened_body(body: str) -> str:
    """An answer body as shown in an error: an HTML page (Cloudflare) is reduced to its title, the rest is kept."""
    lowered = body.lower()
    if "<html" not in lowered:
        return body
    start, end = lowered.find("<title>"), lowered.find("</title>")
    title = body[start + len("<title>"):end].strip() if 0 <= start < end else ""
    return f"HTML page ({title or f'{len(body)} characters'})"


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
