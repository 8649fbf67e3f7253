"""
The sandbox exchange: REST (`/api/v2/...`, see `rest.py`) and WebSocket (`/ws` and `/`, see `ws.py`) on one aiohttp
server, over the matching engine, with simulated traders and fault injection. `SandboxExchange` wires the pieces,
runs the server and offers the in-process API of tests and demos.

    sandbox = SandboxExchange(seed=1)
    await sandbox.start("127.0.0.1", port=0)   # sandbox.rest_url, sandbox.ws_url
    ...
    await sandbox.stop()
"""
import logging
import random
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from nonkyc_sandbox.candles import WS_SHAPES, CandleHistory
from nonkyc_sandbox.engine import FEE_RATE, AccountSpec, MatchingEngine, now_ms
from nonkyc_sandbox.faults import REST_BASE_PATH, FaultInjector
from nonkyc_sandbox.markets import MarketSpec, default_markets, normalize_symbol
from nonkyc_sandbox.rest import ControlApi, RestApi, error_middleware, json_response
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


class SandboxExchange:
    """
    A NonKYC-compatible exchange for tests and demos.

    `accounts` replaces the default client accounts (`user` / `user2`); the simulated `sim-maker` and `sim-taker`
    accounts are always added. `simulated_traders=False` keeps the books empty and still (tests); `traders.tick()`
    then advances the simulation by hand. Candles: `candle_time_unit` ("ms" / "s") of the REST bars,
    `candle_ws_shape` of the WebSocket notifications (`candles.WS_SHAPES`), `candle_history_hours` of generated past
    trades.
    """

    def __init__(self, seed: int = 0, markets: Optional[List[MarketSpec]] = None,
                 accounts: Optional[List[AccountSpec]] = None, simulated_traders: bool = True,
                 trader_settings: Optional[TraderSettings] = None, ws_heartbeat: Optional[float] = 60.0,
                 cancel_response_shape: str = "success", fee_rate: Decimal = FEE_RATE,
                 access_log: bool = False, candle_time_unit: str = "ms", candle_ws_shape: str = WS_SHAPES[0],
                 candle_history_hours: float = 0.0):
        self.seed = seed
        self.markets = list(markets) if markets is not None else default_markets()
        client_accounts = list(accounts) if accounts is not None else default_accounts()
        taken = {spec.name for spec in client_accounts}
        all_accounts = client_accounts + [spec for spec in simulated_accounts(self.markets) if spec.name not in taken]
        self.engine = MatchingEngine(self.markets, all_accounts, seed=seed, fee_rate=fee_rate)
        self._set_up_candles(candle_time_unit, candle_ws_shape, candle_history_hours)
        self.faults = FaultInjector(drop_ws=self._drop_ws_connections, normalize_symbol=self._normalized_or_raw)
        self.hub = WsHub(self.engine, self.faults, heartbeat=ws_heartbeat)
        self.engine.listeners.append(self.hub)
        self.rest = RestApi(self.engine, self.faults, cancel_response_shape=cancel_response_shape)
        self.control = ControlApi(self.faults, self.rest, set_market_paused=self.set_market_paused)
        self.traders = SimulatedTraders(self.engine, seed=seed, settings=trader_settings)
        self.simulated_traders = simulated_traders
        self.access_log = access_log
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self._runner: Optional[web.AppRunner] = None

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
        self.rest.start()
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
        self.rest.stop()  # first: a create held by a hang fault answers before its connection is closed
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

    @property
    def cancel_response_shape(self) -> str:
        return self.rest.cancel_response_shape

    @cancel_response_shape.setter
    def cancel_response_shape(self, shape: str) -> None:
        self.set_cancel_response_shape(shape)

    def set_cancel_response_shape(self, shape: str) -> None:
        """`"success"`: `/cancelorder` answers `{"success": true, "id": ...}`; `"order"`: the cancelled order."""
        self.rest.set_cancel_response_shape(shape)

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

    @property
    def candles(self) -> CandleHistory:
        """The candles of every market (`bars(...)`, `bar_at(...)`, `set_time_unit(...)`, `set_ws_shape(...)`)."""
        return self.engine.candles

    def add_past_trade(self, symbol: str, price: Any, quantity: Any, timestamp_ms: int) -> None:
        """A trade in the past, for the candles only (no account, no order book): history for candle tests."""
        self.engine.candles.record(self._symbol(symbol), int(timestamp_ms), Decimal(str(price)), Decimal(str(quantity)))

    def _set_up_candles(self, time_unit: str, ws_shape: str, history_hours: float) -> None:
        candles = self.engine.candles
        candles.set_time_unit(time_unit)
        candles.set_ws_shape(ws_shape)
        if history_hours > 0:
            end_ms = now_ms()
            for symbol, market in self.engine.markets.items():
                candles.generate_history(symbol, history_hours, end_ms, market.initial_price,
                                         random.Random(f"candles-{self.seed}-{symbol}"))

    def _symbol(self, symbol: str) -> str:
        normalized = normalize_symbol(symbol, self.engine.markets)
        if normalized is None:
            raise KeyError(f"Unknown market {symbol!r}")
        return normalized

    def _normalized_or_raw(self, symbol: str) -> str:
        return normalize_symbol(symbol, self.engine.markets) or symbol

    def _drop_ws_connections(self, abrupt: bool) -> int:
        return self.hub.drop_all(abrupt)

    # ----- application -----

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware, self.rest.fault_middleware])
        app.add_routes(self.rest.routes())
        app.add_routes(self.control.routes())
        app.router.add_get("/ws", self.hub.handle)
        app.router.add_get("/", self._root)
        return app

    async def _root(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.hub.handle(request)
        return json_response({"name": "NonKYC sandbox", "rest": self.rest_url, "ws": self.ws_url})
