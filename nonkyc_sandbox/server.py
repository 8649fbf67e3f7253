"""
The sandbox exchange: REST (`/api/v2/...`) and WebSocket (`/ws` and `/`) on one aiohttp server, over the matching
engine, with simulated traders and fault injection.

    sandbox = SandboxExchange(seed=1)
    await sandbox.start("127.0.0.1", port=0)   # sandbox.rest_url, sandbox.ws_url
    ...
    await sandbox.stop()
"""
import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from nonkyc_sandbox.engine import (
    ERROR_AUTH_FAILED,
    ERROR_AUTH_REQUIRED,
    ERROR_BAD_REQUEST,
    ERROR_VALIDATION,
    FEE_RATE,
    AccountSpec,
    ApiError,
    MatchingEngine,
    Order,
    balance_string,
    now_ms,
    validation_error,
)
from nonkyc_sandbox.faults import CLOUDFLARE_503_BODY, REST_BASE_PATH, FaultInjector, relative_api_path
from nonkyc_sandbox.markets import MarketSpec, default_markets, json_number, normalize_symbol
from nonkyc_sandbox.traders import MAKER_ACCOUNT, SIM_FUNDS, TAKER_ACCOUNT, SimulatedTraders, TraderSettings
from nonkyc_sandbox.ws import WsHub

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_API_SECRET = "sandbox-api-secret"
SECOND_API_KEY = "sandbox-api-key-2"
SECOND_API_SECRET = "sandbox-api-secret-2"
DEFAULT_USER_BALANCES = {
    "USDT": "100000", "BTC": "2", "ETH": "20", "SAL": "1000000", "NKYC": "100000", "DOGE": "100000",
    "USDT-TRC20": "100000",
}
MAX_PAGE_LIMIT = 500
DEFAULT_PAGE_LIMIT = 100
DEFAULT_ORDER_BOOK_LIMIT = 100
CANCEL_RESPONSE_SHAPES = ("success", "order")
MISSING_INPUT_BODY = {"error": {"code": 400, "message": "Bad Request", "description": "Missing required input"}}


def default_accounts(api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET) -> List[AccountSpec]:
    """Two ordinary client accounts with the same funds: `user` (the default keys) and `user2`."""
    return [
        AccountSpec("user", api_key, api_secret, dict(DEFAULT_USER_BALANCES)),
        AccountSpec("user2", SECOND_API_KEY, SECOND_API_SECRET, dict(DEFAULT_USER_BALANCES)),
    ]


def simulated_accounts(markets: List[MarketSpec]) -> List[AccountSpec]:
    assets = sorted({asset for market in markets for asset in (market.base, market.quote)})
    return [
        AccountSpec(name, f"{name}-key", f"{name}-secret", {asset: SIM_FUNDS for asset in assets}, simulated=True)
        for name in (MAKER_ACCOUNT, TAKER_ACCOUNT)
    ]


def json_response(payload: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers, dumps=lambda obj: json.dumps(obj, default=str))


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.http_status)


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf8"), message.encode("utf8"), hashlib.sha256).hexdigest()


class SandboxExchange:
    """
    A NonKYC-compatible exchange for tests and demos.

    `accounts` replaces the default client accounts (`user` / `user2`); the simulated `sim-maker` and `sim-taker`
    accounts are always added. `simulated_traders=False` keeps the books empty and still (tests); `traders.tick()`
    then advances the simulation by hand.
    """

    def __init__(self, seed: int = 0, markets: Optional[List[MarketSpec]] = None,
                 accounts: Optional[List[AccountSpec]] = None, simulated_traders: bool = True,
                 trader_settings: Optional[TraderSettings] = None, ws_heartbeat: Optional[float] = 60.0,
                 cancel_response_shape: str = "success", fee_rate: Decimal = FEE_RATE,
                 access_log: bool = False):
        self.seed = seed
        self.markets = list(markets) if markets is not None else default_markets()
        client_accounts = list(accounts) if accounts is not None else default_accounts()
        taken = {spec.name for spec in client_accounts}
        all_accounts = client_accounts + [spec for spec in simulated_accounts(self.markets) if spec.name not in taken]
        self.engine = MatchingEngine(self.markets, all_accounts, seed=seed, fee_rate=fee_rate)
        self.faults = FaultInjector()
        self.faults._normalize_symbol = self._normalized_or_raw
        self.hub = WsHub(self.engine, self.faults, heartbeat=ws_heartbeat)
        self.faults._drop_ws = self.hub.drop_all
        self.engine.listeners.append(self.hub)
        self.traders = SimulatedTraders(self.engine, seed=seed, settings=trader_settings)
        self.simulated_traders = simulated_traders
        self.set_cancel_response_shape(cancel_response_shape)
        self.access_log = access_log
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self._runner: Optional[web.AppRunner] = None
        self._stopping = asyncio.Event()

    # ----- lifecycle -----

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host()}:{self.port}{REST_BASE_PATH}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host()}:{self.port}/ws"

    def _url_host(self) -> str:
        if self.host in (None, "", "0.0.0.0"):
            return "127.0.0.1"
        return f"[{self.host}]" if ":" in self.host else self.host

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "SandboxExchange":
        if self._runner is not None:
            raise RuntimeError("The sandbox is already running")
        self._stopping = asyncio.Event()
        app = self._build_app()
        runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=logger if self.access_log else None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except Exception:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]
        if self.simulated_traders:
            self.traders.tick()  # books are populated before the first client arrives
            self.traders.start()
        logger.info("NonKYC sandbox listening: REST %s, WS %s", self.rest_url, self.ws_url)
        return self

    async def stop(self) -> None:
        """Stops the traders, closes every WebSocket and HTTP connection and the listening socket."""
        self._stopping.set()
        await self.traders.stop()
        await self.hub.close_all()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> "SandboxExchange":
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # ----- helpers for tests and demos -----

    def set_cancel_response_shape(self, shape: str) -> None:
        """`"success"`: `/cancelorder` answers `{"success": true, "id": ...}`; `"order"`: the cancelled order."""
        if shape not in CANCEL_RESPONSE_SHAPES:
            raise ValueError(f"cancel response shape must be one of {CANCEL_RESPONSE_SHAPES}")
        self.cancel_response_shape = shape

    def order_book_levels(self, symbol: str, limit: Optional[int] = None) -> Dict[str, List[Tuple[Decimal, Decimal]]]:
        """Aggregated levels: bids best (highest) first, asks best (lowest) first, as (price, quantity) Decimals."""
        book = self.engine.books[self._symbol(symbol)]
        return {"bids": book.aggregated("buy", limit), "asks": book.aggregated("sell", limit)}

    def balances(self, account: str) -> Dict[str, Dict[str, Decimal]]:
        """`{asset: {"available", "held", "total"}}` of an account (by name or API key)."""
        return {asset: {"available": balance.available, "held": balance.held, "total": balance.total}
                for asset, balance in self.engine.account(account).balances.items()}

    def set_balance(self, account: str, asset: str, available: Any) -> None:
        self.engine.set_balance(account, asset, Decimal(str(available)))

    def orders(self, account: str, symbol: Optional[str] = None, status: Optional[str] = None) -> List[Dict]:
        """The account's orders in the REST shape, newest first (`status`: active / filled / cancelled)."""
        name = self.engine.account(account).name
        sym = self._symbol(symbol) if symbol else None
        return [order.to_json() for order in self.engine.query_orders(name, sym, status, limit=10 ** 9)]

    def trades(self, account: str, symbol: Optional[str] = None) -> List[Dict]:
        """The account's fills in the `/account/trades` shape, newest first."""
        name = self.engine.account(account).name
        sym = self._symbol(symbol) if symbol else None
        return [trade.to_json() for trade in self.engine.query_trades(name, sym, limit=10 ** 9)]

    def place_order(self, account: str, symbol: str, side: str, order_type: str, quantity: Any,
                    price: Any = None, user_provided_id: Optional[str] = None,
                    strict_validate: bool = False) -> Dict[str, Any]:
        """Places an order as any account (e.g. `"sim-maker"`); raises `ApiError` like the REST call would."""
        name = self.engine.account(account).name
        order = self.engine.create_order(name, self._symbol(symbol), side, order_type, quantity, price,
                                         user_provided_id, strict_validate)
        return order.to_json()

    def cancel_order(self, account: str, order_id: str) -> Dict[str, Any]:
        name = self.engine.account(account).name
        order, _ = self.engine.cancel_order(name, order_id)
        return order.to_json()

    def cancel_all_orders(self, account: str, symbol: str, side: str = "all") -> List[str]:
        name = self.engine.account(account).name
        return [order.id for order in self.engine.cancel_all(name, self._symbol(symbol), side)]

    def add_account(self, spec: AccountSpec) -> None:
        self.engine.add_account(spec)

    def set_market_paused(self, symbol: str, paused: bool = True) -> None:
        self.engine.markets[self._symbol(symbol)].is_paused = paused

    def _symbol(self, symbol: str) -> str:
        normalized = normalize_symbol(symbol, self.engine.markets)
        if normalized is None:
            raise KeyError(f"Unknown market {symbol!r}")
        return normalized

    def _normalized_or_raw(self, symbol: str) -> str:
        return normalize_symbol(symbol, self.engine.markets) or symbol

    # ----- application -----

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._error_middleware, self._fault_middleware])
        base = REST_BASE_PATH
        app.router.add_get(f"{base}/time", self._time)
        app.router.add_get(f"{base}/info", self._info)
        app.router.add_get(f"{base}/market/getlist", self._market_list)
        app.router.add_get(f"{base}/market/info", self._market_info)
        app.router.add_get(f"{base}/market/orderbook", self._order_book)
        app.router.add_get(f"{base}/market/trades", self._public_trades)
        app.router.add_get(f"{base}/tickers", self._tickers)
        app.router.add_get(f"{base}/ticker/{{ticker}}", self._ticker)
        app.router.add_get(f"{base}/balances", self._balances)
        app.router.add_post(f"{base}/createorder", self._create_order)
        app.router.add_post(f"{base}/cancelorder", self._cancel_order)
        app.router.add_post(f"{base}/cancelallorders", self._cancel_all_orders)
        app.router.add_get(f"{base}/getorder/{{id}}", self._get_order)
        app.router.add_get(f"{base}/account/orders", self._account_orders)
        app.router.add_get(f"{base}/account/trades", self._account_trades)
        app.router.add_get("/_sandbox/faults", self._faults_state)
        app.router.add_post("/_sandbox/faults", self._faults_switch)
        app.router.add_delete("/_sandbox/faults", self._faults_reset)
        app.router.add_post("/_sandbox/settings", self._settings)
        app.router.add_get("/ws", self.hub.handle)
        app.router.add_get("/", self._root)
        return app

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler) -> web.StreamResponse:
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

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith(REST_BASE_PATH + "/"):
            path = relative_api_path(request.path)
            rate_limit = self.faults.take_rate_limit(path)
            if rate_limit is not None:
                headers = {"Retry-After": str(rate_limit.retry_after)} if rate_limit.retry_after is not None else None
                return json_response({"error": {"code": 429, "message": "Too Many Requests"}}, status=429,
                                     headers=headers)
            error_body = self.faults.take_error_body(path)
            if error_body is not None:
                return json_response(error_body.body(), status=error_body.http_status)
        return await handler(request)

    async def _root(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.hub.handle(request)
        return json_response({"name": "NonKYC sandbox", "rest": self.rest_url, "ws": self.ws_url})

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

    @staticmethod
    def _json_body(body: str) -> Dict[str, Any]:
        if not body.strip():
            return {}
        try:
            payload = json.loads(body)
        except ValueError:
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Invalid JSON body")
        if not isinstance(payload, dict):
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "The body must be a JSON object")
        return payload

    # ----- public REST -----

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
            raise ApiError(2001, "Market not found")
        return json_response(self._market_json(self._query_market(request, required=True)))

    async def _order_book(self, request: web.Request) -> web.Response:
        market = self._query_market(request, required=True)
        limit = self._int_param(request, "limit", DEFAULT_ORDER_BOOK_LIMIT)
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
        limit = min(self._int_param(request, "limit", DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT)
        trades = list(self.engine.public_trades[market.symbol])[-limit:]
        return json_response([{
            "id": trade.id, "timestamp": trade.timestamp, "side": trade.taker_side,
            "price": market.format_price(trade.price), "quantity": market.format_quantity(trade.quantity),
        } for trade in reversed(trades)])

    async def _tickers(self, request: web.Request) -> web.Response:
        return json_response([self._ticker_json(market) for market in self.engine.markets.values()])

    async def _ticker(self, request: web.Request) -> web.Response:
        symbol = normalize_symbol(request.match_info["ticker"], self.engine.markets)
        if symbol is None:
            raise ApiError(2001, "Market not found")
        return json_response(self._ticker_json(self.engine.markets[symbol]))

    # ----- private REST -----

    async def _balances(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        return json_response(self.engine.balances_json(account))

    async def _create_order(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        payload = self._json_body(body)
        symbol = self._payload_symbol(payload)
        order = self.engine.create_order(
            account, symbol, payload.get("side"), payload.get("type"), payload.get("quantity"),
            payload.get("price"), payload.get("userProvidedId"), self._bool(payload.get("strictValidate", False)))
        fault = self.faults.take_create_fault()
        if fault is not None and fault.kind == "status":
            logger.info("Sandbox fault: order %s created, answering HTTP %s", order.id, fault.status)
            return web.Response(status=fault.status, text=CLOUDFLARE_503_BODY, content_type="text/html")
        if fault is not None and fault.kind == "hang":
            logger.info("Sandbox fault: order %s created, answering after %s s", order.id, fault.delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=fault.delay)
            except asyncio.TimeoutError:
                pass
        return json_response(order.to_json())

    async def _cancel_order(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        payload = self._json_body(body)
        reference = payload.get("id") or payload.get("userProvidedId") or payload.get("orderId")
        if not reference:
            raise validation_error("Missing id")
        order, _ = self.engine.cancel_order(account, str(reference))
        return json_response(self._cancel_json(order))

    async def _cancel_all_orders(self, request: web.Request) -> web.Response:
        account, body = await self._authenticate(request)
        payload = self._json_body(body)
        if not payload.get("symbol"):
            return json_response(MISSING_INPUT_BODY, status=200)
        symbol = self._payload_symbol(payload)
        cancelled = self.engine.cancel_all(account, symbol, str(payload.get("side") or "all"))
        return json_response({"success": True, "ids": [order.id for order in cancelled]})

    async def _get_order(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        return json_response(self.engine.find_order(account, request.match_info["id"]).to_json())

    async def _account_orders(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        market = self._query_market(request, required=False)
        orders = self.engine.query_orders(
            account, market.symbol if market else None, request.query.get("status") or None,
            since=self._int_param(request, "since", None), skip=self._int_param(request, "skip", 0),
            limit=min(self._int_param(request, "limit", DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT))
        return json_response([order.to_json() for order in orders])

    async def _account_trades(self, request: web.Request) -> web.Response:
        account, _ = await self._authenticate(request)
        market = self._query_market(request, required=False)
        trades = self.engine.query_trades(
            account, market.symbol if market else None, since=self._int_param(request, "since", None),
            skip=self._int_param(request, "skip", 0),
            limit=min(self._int_param(request, "limit", DEFAULT_PAGE_LIMIT), MAX_PAGE_LIMIT))
        return json_response([trade.to_json() for trade in trades])

    # ----- sandbox controls -----

    @staticmethod
    def _require_loopback(request: web.Request) -> None:
        try:
            loopback = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ApiError(403, "Forbidden", "Sandbox controls are only served on loopback", http_status=403)

    async def _faults_state(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        return json_response({"faults": self.faults.state(), "cancel_response_shape": self.cancel_response_shape})

    async def _faults_switch(self, request: web.Request) -> web.Response:
        """Body: `{"fault": "<FaultInjector method>", ...arguments}` or a list of such objects."""
        self._require_loopback(request)
        payload = await self._control_payload(request)
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

    @staticmethod
    async def _control_payload(request: web.Request) -> Any:
        try:
            return json.loads(await request.text() or "{}")
        except ValueError:
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Invalid JSON body")

    async def _faults_reset(self, request: web.Request) -> web.Response:
        self._require_loopback(request)
        self.faults.reset()
        return json_response({"success": True, "faults": self.faults.state()})

    async def _settings(self, request: web.Request) -> web.Response:
        """Body: `{"cancel_response_shape": "success"|"order"}`, `{"paused": {"SYMBOL": bool}}`."""
        self._require_loopback(request)
        payload = await self._control_payload(request)
        if not isinstance(payload, dict):
            raise validation_error("The settings must be a JSON object")
        try:
            if "cancel_response_shape" in payload:
                self.set_cancel_response_shape(payload["cancel_response_shape"])
            for symbol, paused in (payload.get("paused") or {}).items():
                self.set_market_paused(symbol, bool(paused))
        except (KeyError, ValueError) as error:
            raise ApiError(ERROR_VALIDATION, "Validation error", str(error))
        return json_response({"success": True, "cancel_response_shape": self.cancel_response_shape})

    # ----- JSON shapes and parameters -----

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

    def _query_market(self, request: web.Request, required: bool) -> Optional[MarketSpec]:
        raw = request.query.get("symbol")
        if not raw:
            if required:
                raise ApiError(ERROR_BAD_REQUEST, "Bad Request", "Missing required input")
            return None
        symbol = normalize_symbol(raw, self.engine.markets)
        if symbol is None:
            raise ApiError(2001, "Market not found", f"Unknown symbol {raw!r}")
        return self.engine.markets[symbol]

    def _payload_symbol(self, payload: Dict[str, Any]) -> str:
        raw = payload.get("symbol")
        if not raw:
            raise validation_error("Missing symbol")
        symbol = normalize_symbol(str(raw), self.engine.markets)
        if symbol is None:
            raise ApiError(2001, "Market not found", f"Unknown symbol {raw!r}")
        return symbol

    @staticmethod
    def _int_param(request: web.Request, name: str, default: Optional[int]) -> Optional[int]:
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

    @staticmethod
    def _bool(value: Any) -> bool:
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)
