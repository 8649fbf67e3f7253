import asyncio
import logging
import os
from typing import Any, Callable, Dict, Optional

import hummingbot.connector.exchange.nonkyc.nonkyc_constants as CONSTANTS
from hummingbot.connector.time_synchronizer import TimeSynchronizer
from hummingbot.connector.utils import TimeSynchronizerRESTPreProcessor
from hummingbot.core.api_throttler.async_throttler import AsyncThrottler
from hummingbot.core.web_assistant.auth import AuthBase
from hummingbot.core.web_assistant.connections.data_types import RESTMethod
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory
from hummingbot.core.web_assistant.ws_assistant import WSAssistant


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
    rest_assistant = await api_factory.get_rest_assistant()
    response = await rest_assistant.execute_request(
        url=public_rest_url(path_url=CONSTANTS.SERVER_TIME_PATH_URL, domain=domain),
        method=RESTMethod.GET,
        throttler_limit_id=CONSTANTS.SERVER_TIME_PATH_URL,
        timeout=CONSTANTS.REST_REQUEST_TIMEOUT,
    )
    return float(response["serverTime"])


def error_in_response(response: Any) -> Optional[Dict[str, Any]]:
    """
    The NonKYC error object of a response body (`{"error": {"code", "message", ...}}`), whatever the HTTP status was,
    or None when the body is not an error.
    """
    if isinstance(response, dict) and "error" in response:
        error = response["error"]
        return error if isinstance(error, dict) else {"code": None, "message": str(error)}
    return None


async def ping_periodically(websocket_assistant: WSAssistant, interval: float, logger: logging.Logger, stream: str):
    """
    A client ping every `interval` seconds, whatever the traffic (NonKYC clients ping about every 20 s). Returns when
    a ping fails: the stream's receive loop then notices the broken connection and reconnects.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await websocket_assistant.ping()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.debug(f"{stream}: ping failed ({error}).")
            return
