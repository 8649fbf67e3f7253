"""
The HTTP side of the sandbox: the NonKYC REST API under `/api/v2` (`RestApi`: public and signed endpoints, signature
checks, fault injection on the way in) and the sandbox's own control endpoints under `/_sandbox` (`ControlApi`).

Each class lists its endpoints in `routes()`; a new endpoint is a handler method plus one line there.
"""
import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
from collections import Counter
from decimal import Decimal
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from aiohttp import web

from nonkyc_sandbox.candles import RESOLUTIONS, Bar
from nonkyc_sandbox.engine import (
    ERROR_AUTH_FAILED,
    ERROR_AUTH_REQUIRED,
    ERROR_BAD_REQUEST,
    ERROR_MARKET_NOT_FOUND,
    ERROR_VALIDATION,
    ApiError,
    MatchingEngine,
    Order,
    balance_string,
    now_ms,
    validation_error,
)
from nonkyc_sandbox.faults import (
    CLOUDFLARE_503_BODY,
    REST_BASE_PATH,
    SERVER_ERROR_MESSAGES,
    FaultInjector,
    cloudflare_page,
    relative_api_path,
)
from nonkyc_sandbox.markets import MarketSpec, json_number, normalize_symbol

logger = logging.getLogger(__name__)

CONTROL_BASE_PATH = "/_sandbox"
MAX_PAGE_LIMIT = 500
MAX_PAGE_SKIP = 500
DEFAULT_PAGE_LIMIT = 100
DEFAULT_ORDER_BOOK_LIMIT = 100
CANCEL_RESPONSE_SHAPES = ("success", "order")
MISSING_INPUT_BODY = {"error": {"code": 400, "message": "Bad Request", "description": "Missing required input"}}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ----- JSON answers -----

def json_response(payload: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers, dumps=lambda obj: json.dumps(obj, default=str))


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.http_status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers `ApiError`s, unknown paths and unexpected exceptions with NonKYC error bodies."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPNotFound:
        return json_response({"error": {"code": 402, "message": "Method not found"}}, status=404)
    except web.HTTPMethodNotAllowed:
        return json_response({"error": {"code": 402, "message": "Method not allowed"}}, status=405)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("Sandbox: unexpected error on %s %s", request.method, request.path)
        return json_response({"error": {"code": 500, "message": "Internal Server Error"}}, status=500)


# ----- request parameters -----

def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf8"), message.encode("utf8"), hashlib.sha256).hexdigest()


def json_object(body: str) -> Dict[str, Any]:
    """The JSON object of a request body (`{}` when empty)."""
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError:
        raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Invalid JSON body")
    if not isinstance(payload, dict):
        raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "The body must be a JSON object")
    return payload


def int_param(request: web.Request, name: str, default: Optional[int]) -> Optional[int]:
    """A non-negative integer query parameter (`default` when absent or empty)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"{name} must be an integer")
    if value < 0:
        raise validation_error(f"{name} must not be negative")
    return value


def page_limit(request: web.Request) -> int:
    return min(int_param(request, "limit", DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT)


def account_paging(request: web.Request) -> Tuple[int, int]:
    """`skip` and `limit` of `/account/orders` and `/account/trades`: NonKYC takes `limit` 1..500 and `skip` 0..500
    and refuses the rest with a validation error (10001)."""
    limit = int_param(request, "limit", DEFAULT_PAGE_LIMIT)
    skip = int_param(request, "skip", 0)
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_PAGE_LIMIT}")
    if skip > MAX_PAGE_SKIP:
        raise validation_error(f"skip must be between 0 and {MAX_PAGE_SKIP}")
    return skip, limit


def endpoint_of(path: str) -> str:
    """The endpoint of an API path, without its path parameter: `/getorder/abc` → `/getorder`."""
    for prefix in ("/getorder/", "/ticker/"):
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return path


def bool_value(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class RestApi:
    """
    The NonKYC REST API over the matching engine. `cancel_response_shape` (switchable at run time) chooses what
    `/cancelorder` answers; `stop()` releases the `/createorder` calls held by a hang fault.
    """

    def __init__(self, engine: MatchingEngine, faults: FaultInjector, cancel_response_shape: str = "success"):
        self.engine = engine
        self.faults = faults
        self.set_cancel_response_shape(cancel_response_shape)
        self._stopping = asyncio.Event()
        # Every API request received, by endpoint (`endpoint_of`), faulted ones included: what a client costs.
        self.requests_by_endpoint: Counter = Counter()

    def set_cancel_response_shape(self, shape: str) -> None:
        """`"success"`: `/cancelorder` answers `{"success": true, "id": ...}`; `"order"`: the cancelled order."""
        if shape not in CANCEL_RESPONSE_SHAPES:
            raise ValueError(f"cancel response shape must be one of {CANCEL_RESPONSE_SHAPES}")
        self.cancel_response_shape = shape

    def start(self) -> None:
        """Called when the server starts (again): hang faults hold their answers for their whole delay."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Called when the server stops: the creates held by a hang fault answer now."""
        self._stopping.set()

    def routes(self) -> List[web.RouteDef]:
        base = REST_BASE_PATH
        return [
            web.get(f"{base}/time", self._time),
            web.get(f"{base}/info", self._info),
            web.get(f"{base}/market/getlist", self._market_list),
            web.get(f"{base}/market/info", self._market_info),
            web.get(f"{base}/market/orderbook", self._order_book),
            web.get(f"{base}/market/trades", self._public_trades),
            web.get(f"{base}/market/candles", self._candles),
            web.get(f"{base}/tickers", self._tickers),
            web.get(f"{base}/ticker/{{ticker}}", self._ticker),
            web.get(f"{base}/balances", self._balances),
            web.post(f"{base}/createorder", self._create_order),
            web.post(f"{base}/cancelorder", self._cancel_order),
            web.post(f"{base}/cancelallorders", self._cancel_all_orders),
            web.get(f"{base}/getorder/{{id}}", self._get_order),
            web.get(f"{base}/account/orders", self._account_orders),
            web.get(f"{base}/account/trades", self._account_trades),
        ]

    @web.middleware
    async def fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Counts every API request; armed 429, error-body and server-error faults answer it before its handler."""
        if request.path.startswith(REST_BASE_PATH + "/"):
            path = relative_api_path(request.path)
            self.requests_by_endpoint[endpoint_of(path)] += 1
            rate_limit = self.faults.take_rate_limit(path)
            if rate_limit is not None:
                headers = {"Retry-After": str(rate_limit.retry_after)} if rate_limit.retry_after is not None else None
                return json_response({"error": {"code": 429, "message": "Too Many Requests"}}, status=429,
                                     headers=headers)
            error_body = self.faults.take_error_body(path)
            if error_body is not None:
                return json_response(error_body.body(), status=error_body.http_status)
            server_error = self.faults.take_server_error(path)
            if server_error is not None and server_error.cloudflare:
                return web.Response(status=server_error.status, text=cloudflare_page(server_error.status),
                                    content_type="text/html")
            if server_error is not None:
                message = SERVER_ERROR_MESSAGES.get(server_error.status, "Server Error")
                return json_response({"error": {"code": server_error.status, "message": message}},
                                     status=server_error.status)
        return await handler(request)

    # ----- authentication -----

    async def _authenticate(self, request: web.Request) -> Tuple[str, str]:
        """Verifies the REST signature; returns the account name and the raw body text."""
        body = await request.text()
        api_key = request.headers.get("X-API-KEY")
        nonce = request.headers.get("X-API-NONCE")
        signature = request.headers.get("X-API-SIGN")
        if not api_key or not nonce or not signature:
            raise ApiError(ERROR_AUTH_REQUIRED, "Authorization required", http_status=401)
        account = self.engine.accounts_by_key.get(api_key)
        if account is None:
            raise ApiError(ERROR_AUTH_FAILED, "Authorization failed", http_status=401)
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        expected = sign(account.api_secret, f"{api_key}{url}{body}{nonce}")
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise ApiError(ERROR_AUTH_FAILED, "Authorization failed", http_status=401)
        if not nonce.isdigit():
            raise ApiError(ERROR_AUTH_FAILED, "Authorization failed: invalid nonce",
                           "The nonce must be an integer", http_status=401)
        if int(nonce) <= account.last_nonce:
            raise ApiError(ERROR_AUTH_FAILED, "Authorization failed: invalid nonce",
                           f"Nonce {nonce} must be greater than the previous nonce {account.last_nonce}",
                           http_status=401)
        account.last_nonce = int(nonce)
        return account.name, body

    # ----- public endpoints -----

    async def _time(self, request: web.Request) -> web.Response:
        return json_response({"serverTime": now_ms()})

    async def _info(self, request: web.Request) -> web.Response:
        return json_response({"name": "NonKYC sandbox", "version": "1.3.0", "serverTime": now_ms()})

    async def _market_list(self, request: web.Request) -> web.Response:
        return json_response([self._market_json(market) for market in self.engine.markets.values()])

    async def _market_info(self, request: web.Request) -> web.Response:
        market_id = request.query.get("id")
        if market_id:
            for market in self.engine.markets.values():
                if market.id == market_id:
                    return json_response(self._market_json(market))
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found")
        return json_response(self._market_json(self._query_market(request, required=True)))

    async def _order_book(self, request: web.Request) -> web.Response:
        market = self._query_market(request, required=True)
        limit = int_param(request, "limit", DEFAULT_ORDER_BOOK_LIMIT)
        book = self.engine.books[market.symbol]
        return json_response({
            "marketid": market.id,
            "symbol": market.symbol,
            "timestamp": now_ms(),
            "sequence": str(self.engine.rest_sequence[market.symbol]),
            "bids": self._levels_json(market, book.aggregated("buy", limit)),
            "asks": self._levels_json(market, book.aggregated("sell", limit)),
        })

    async def _public_trades(self, request: web.Request) -> web.Response:
        market = self._query_market(request, required=True)
        trades = list(self.engine.public_trades[market.symbol])[-page_limit(request):]
        return json_response([{
            "id": trade.id, "timestamp": trade.timestamp, "side": trade.taker_side,
            "price": market.format_price(trade.price), "quantity": market.format_quantity(trade.quantity),
        } for trade in reversed(trades)])

    async def _candles(self, request: web.Request) -> web.Response:
        """
        `symbol`, `resolution` (minutes) and `countBack` are required; the answer holds the newest `countBack` bars
        starting in [`from`, `to`) (seconds), oldest first, and `meta.nextTime` (the newest earlier bar) when empty.
        """
        market = self._query_market(request, required=True)
        resolution = int_param(request, "resolution", None)
        if resolution not in RESOLUTIONS:
            raise validation_error(f"resolution must be one of {', '.join(map(str, RESOLUTIONS))}")
        count_back = int_param(request, "countBack", None)
        if count_back is None:
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Missing required input: countBack")
        start, end = int_param(request, "from", None), int_param(request, "to", None)
        candles = self.engine.candles
        bars = candles.bars(market.symbol, resolution, start, end, count_back)
        meta: Dict[str, Any] = {"noData": not bars}
        next_time = None if bars else candles.latest_start_before(market.symbol, resolution, start or end)
        if next_time is not None:
            meta["nextTime"] = next_time
        return json_response({"bars": [self._bar_json(bar) for bar in bars], "meta": meta})

    def _bar_json(self, bar: Bar) -> Dict[str, Any]:
        """A bar as TradingView-style datafeeds send it: numbers, `time` in the switchable unit."""
        return {"time": bar.start * (1000 if self.engine.candles.time_unit == "ms" else 1),
                "open": json_number(bar.open), "high": json_number(bar.high), "low": json_number(bar.low),
                "close": json_number(bar.close), "volume": json_number(bar.volume)}

    async def _tickers(self, request: web.Request) -> web.Response:
        return json_response([self._ticker_json(market) for market in self.engine.markets.values()])

    async def _ticker(self, request: web.Request) -> web.Response:
        symbol = normalize_symbol(request.match_info["ticker"], self.engine.markets)
        if symbol is None:
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found")
        return json_response(self._ticker_json(self.engine.markets[symbol]))

    # ----- signed endpoints -----

    async def _balances(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        return json_response(self.engine.balances_json(account))

    async def _create_order(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        payload = json_object(body)
        symbol = self._payload_symbol(payload)
        order = self.engine.create_order(
            account, symbol, payload.get("side"), payload.get("type"), payload.get("quantity"),
            payload.get("price"), payload.get("userProvidedId"), bool_value(payload.get("strictValidate", False)))
        fault = self.faults.take_create_fault()
        if fault is not None and fault.kind == "status":
            logger.info("Sandbox fault: order %s created, answering HTTP %s", order.id, fault.status)
            return web.Response(status=fault.status, text=CLOUDFLARE_503_BODY, content_type="text/html")
        if fault is not None and fault.kind == "hang":
            logger.info("Sandbox fault: order %s created, answering after %s s", order.id, fault.delay)
            await self._hang(fault.delay)
        return json_response(order.to_json())

    async def _hang(self, delay: float) -> None:
        """Waits `delay` seconds, or less when the sandbox stops."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass

    async def _cancel_order(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        payload = json_object(body)
        reference = payload.get("id") or payload.get("userProvidedId") or payload.get("orderId")
        if not reference:
            raise validation_error("Missing id")
        order, _ = self.engine.cancel_order(account, str(reference))
        return json_response(self._cancel_json(order))

    async def _cancel_all_orders(self, request: web.Request) -> web.Response:
        """`{symbol, side: all|buy|sell}` (symbol required): `{"success": true, "ids": [...]}`, the orders cancelled."""
        account, body = await self._authenticate(request)
        payload = json_object(body)
        if not payload.get("symbol"):
            return json_response(MISSING_INPUT_BODY, status=200)  # the live API answers this one HTTP 200
        symbol = self._payload_symbol(payload)
        cancelled = self.engine.cancel_all(account, symbol, str(payload.get("side") or "all"))
        return json_response({"success": True, "ids": [order.id for order in cancelled]})

    async def _get_order(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        return json_response(self.engine.find_order(account, request.match_info["id"]).to_json())

    async def _account_orders(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        market = self._query_market(request, required=False)
        skip, limit = account_paging(request)
        orders = self.engine.query_orders(
            account, market.symbol if market else None, request.query.get("status") or None,
            since=int_param(request, "since", None), skip=skip, limit=limit)
        return json_response([order.to_json() for order in orders])

    async def _account_trades(self, request: web.Request) -> web.Response:
        """Newest first ("ordered by created timestamp descending", NonKYC's REST reference), `since` included."""
        account, _ = await self._authenticate(request)
        market = self._query_market(request, required=False)
        skip, limit = account_paging(request)
        since = int_param(request, "since", None)
        trades = self.engine.query_trades(account, market.symbol if market else None, since=since, skip=skip,
                                          limit=limit)
        return json_response([trade.to_json() for trade in trades])

    # ----- JSON shapes -----

    def _cancel_json(self, order: Order) -> Dict[str, Any]:
        if self.cancel_response_shape == "order":
            return order.to_json()
        return {"success": True, "id": order.id}

    def _market_json(self, market: MarketSpec) -> Dict[str, Any]:
        book = self.engine.books[market.symbol]
        stats = self.engine.stats[market.symbol]
        best_ask, best_bid = book.best_price("sell"), book.best_price("buy")
        return {
            "id": market.id,
            "symbol": market.symbol,
            "primaryTicker": market.base,
            "primaryName": market.primary_name,
            "priceDecimals": market.price_decimals,
            "quantityDecimals": market.quantity_decimals,
            "isActive": market.is_active,
            "isPaused": market.is_paused,
            "minimumQuantity": json_number(market.minimum_quantity),
            "minQuote": json_number(market.min_quote),
            "isMinQuoteActive": market.is_min_quote_active,
            "allowMarketOrders": market.allow_market_orders,
            "allowTriggerOrders": market.allow_trigger_orders,
            "bestAsk": market.format_price(best_ask or Decimal(0)),
            "bestBid": market.format_price(best_bid or Decimal(0)),
            "lastPrice": market.format_price(stats.last_price),
            "volume": market.format_quantity(stats.base_volume),
        }

    def _ticker_json(self, market: MarketSpec) -> Dict[str, Any]:
        book = self.engine.books[market.symbol]
        stats = self.engine.stats[market.symbol]
        return {
            "ticker_id": market.ticker_id,
            "base_currency": market.base,
            "target_currency": market.quote,
            "last_price": market.format_price(stats.last_price),
            "bid": market.format_price(book.best_price("buy") or Decimal(0)),
            "ask": market.format_price(book.best_price("sell") or Decimal(0)),
            "high": market.format_price(stats.high if stats.high is not None else stats.last_price),
            "low": market.format_price(stats.low if stats.low is not None else stats.last_price),
            "base_volume": market.format_quantity(stats.base_volume),
            "target_volume": balance_string(stats.quote_volume),
        }

    @staticmethod
    def _levels_json(market: MarketSpec, levels: List[Tuple[Decimal, Decimal]]) -> List[Dict[str, str]]:
        return [{"price": market.format_price(price), "quantity": market.format_quantity(quantity)}
                for price, quantity in levels]

    # ----- symbols -----

    def _query_market(self, request: web.Request, required: bool) -> Optional[MarketSpec]:
        raw = request.query.get("symbol")
        if not raw:
            if required:
                raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Missing required input")
            return None
        symbol = normalize_symbol(raw, self.engine.markets)
        if symbol is None:
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found", f"Unknown symbol {raw!r}")
        return self.engine.markets[symbol]

    def _payload_symbol(self, payload: Dict[str, Any]) -> str:
        raw = payload.get("symbol")
        if not raw:
            raise validation_error("Missing symbol")
        symbol = normalize_symbol(str(raw), self.engine.markets)
        if symbol is None:
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found", f"Unknown symbol {raw!r}")
        return symbol


class ControlApi:
    """
    The sandbox's own endpoints (no authentication, loopback clients only): `GET|POST|DELETE /_sandbox/faults` reads,
    arms and resets faults, `POST /_sandbox/settings` changes the cancel answer shape and pauses markets.
    """

    def __init__(self, faults: FaultInjector, rest: RestApi, set_market_paused: Callable[[str, bool], None]):
        self.faults = faults
        self.rest = rest
        self.set_market_paused = set_market_paused

    def routes(self) -> List[web.RouteDef]:
        base = CONTROL_BASE_PATH
        return [
            web.get(f"{base}/faults", self._faults_state),
            web.post(f"{base}/faults", self._faults_switch),
            web.delete(f"{base}/faults", self._faults_reset),
            web.post(f"{base}/settings", self._settings),
        ]

    async def _faults_state(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        return json_response({"faults": self.faults.state(), "cancel_response_shape": self.rest.cancel_response_shape})

    async def _faults_switch(self, request: web.Request) -> web.Response:
        """Body: `{"fault": "<FaultInjector method>", ...arguments}` or a list of such objects."""
        self._require_loopback(request)
        payload = await self._payload(request)
        results = []
        for item in payload if isinstance(payload, list) else [payload]:
            if not isinstance(item, dict):
                raise validation_error("Each fault must be a JSON object")
            params = dict(item)
            action = params.pop("fault", None) or params.pop("action", None)
            try:
                results.append(self.faults.apply(str(action), params))
            except (TypeError, ValueError) as error:
                raise ApiError(ERROR_VALIDATION, "Validation error", str(error))
        return json_response({"success": True, "results": results, "faults": self.faults.state()})

    async def _faults_reset(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        self.faults.reset()
        return json_response({"success": True, "faults": self.faults.state()})

    async def _settings(self, request: web.Request) -> web.Response:
        """
        Body: `{"cancel_response_shape": "success"|"order"}`, `{"paused": {"SYMBOL": bool}}`, `{"candle_time_unit":
        "ms"|"s"}`, `{"candle_ws_shape": "<one of candles.WS_SHAPES>"}`.
        """
        self._require_loopback(request)
        payload = await self._payload(request)
        if not isinstance(payload, dict):
            raise validation_error("The settings must be a JSON object")
        try:
            if "cancel_response_shape" in payload:
                self.rest.set_cancel_response_shape(payload["cancel_response_shape"])
            for symbol, paused in (payload.get("paused") or {}).items():
                self.set_market_paused(symbol, bool(paused))
            if "candle_time_unit" in payload:
                self.rest.engine.candles.set_time_unit(payload["candle_time_unit"])
            if "candle_ws_shape" in payload:
                self.rest.engine.candles.set_ws_shape(payload["candle_ws_shape"])
        except (KeyError, ValueError) as error:
            raise ApiError(ERROR_VALIDATION, "Validation error", str(error))
        return json_response({"success": True, "cancel_response_shape": self.rest.cancel_response_shape})

    @staticmethod
    def _require_loopback(request: web.Request) -> None:
        try:
            loopback = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ApiError(403, "Forbidden", "Sandbox controls are only served on loopback", http_status=403)

    @staticmethod
    async def _payload(request: web.Request) -> Any:
        """Any JSON value (a fault list is an array); `{}` when the body is empty."""
        try:
            return json.loads(await request.text() or "{}")
        except ValueError:
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Invalid JSON body")
