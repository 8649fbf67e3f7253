"""
The WebSocket side of the sandbox (JSON-RPC 2.0 style): login, order book / trade streams with their own sequence
counters, and the private reports / balances streams. The hub listens to the matching engine and fans its events out
to the subscribed connections; every connection has a writer task that sends its queue in order.
"""
import asyncio
import hashlib
import hmac
import json
import logging
from decimal import Decimal
from typing import Any, Dict, List, Optional, Set

from aiohttp import WSMsgType, web

from nonkyc_sandbox.candles import RESOLUTIONS, Bar
from nonkyc_sandbox.engine import (
    ERROR_AUTH_FAILED,
    ERROR_AUTH_REQUIRED,
    ERROR_BAD_REQUEST,
    ERROR_MARKET_NOT_FOUND,
    ApiError,
    MatchingEngine,
    Trade,
    balance_string,
    iso_timestamp,
    now_ms,
)
from nonkyc_sandbox.faults import FaultInjector
from nonkyc_sandbox.markets import MarketSpec, normalize_symbol, object_id

logger = logging.getLogger(__name__)

WS_SEQUENCE_START = 1215881
TRADES_SEQUENCE_START = 48213
SEQUENCE_SPACING = 100000  # between the counters of two markets
TRADES_SNAPSHOT_SIZE = 50
DEFAULT_BOOK_LIMIT = 100
DEFAULT_CANDLES_LIMIT = 100
MAX_CANDLES_LIMIT = 1000
CLOSE_TIMEOUT = 1.0
ERROR_METHOD_NOT_FOUND = 402


class _Drop:
    def __init__(self, abrupt: bool):
        self.abrupt = abrupt


class WsConnection:
    def __init__(self, ws: web.WebSocketResponse, transport: Optional[asyncio.BaseTransport], number: int):
        self.ws = ws
        self.transport = transport
        self.number = number
        self.queue: asyncio.Queue = asyncio.Queue()
        self.account: Optional[str] = None
        self.book_subscriptions: Dict[str, int] = {}
        self.trade_subscriptions: Set[str] = set()
        self.candle_subscriptions: Dict[str, Set[int]] = {}  # symbol -> periods (minutes)
        self.reports = False
        self.balances = False
        self.closing = False
        self.finished = asyncio.Event()
        self.writer: Optional[asyncio.Task] = None

    def send(self, payload: Dict[str, Any]) -> None:
        if not self.closing:
            self.queue.put_nowait(json.dumps(payload))

    def drop(self, abrupt: bool = False) -> None:
        if not self.closing:
            self.closing = True
            self.queue.put_nowait(_Drop(abrupt))

    async def write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, _Drop):
                await self._close(item.abrupt)
                return
            try:
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _close(self, abrupt: bool) -> None:
        if abrupt and self.transport is not None:
            self.transport.abort()
            return
        try:
            await self.ws.close(code=1001, message=b"sandbox closed the connection")
        except (ConnectionError, RuntimeError):
            pass


def rpc_result(request_id: Any, result: Any = True) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def rpc_error(request_id: Any, code: int, message: str) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def notification(method: str, params: Any) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


class WsHub:
    def __init__(self, engine: MatchingEngine, faults: FaultInjector, heartbeat: Optional[float] = 60.0):
        self.engine = engine
        self.faults = faults
        self.heartbeat = heartbeat
        self.connections: Set[WsConnection] = set()
        self.book_sequence: Dict[str, int] = {}
        self.trade_sequence: Dict[str, int] = {}
        for index, symbol in enumerate(engine.markets):
            self.book_sequence[symbol] = WS_SEQUENCE_START + index * SEQUENCE_SPACING
            self.trade_sequence[symbol] = TRADES_SEQUENCE_START + index * SEQUENCE_SPACING
        self._updates_sent: Dict[str, int] = {}
        self._connection_count = 0
        self._methods = {
            "login": self._login,
            "subscribeOrderbook": self._subscribe_order_book,
            "unsubscribeOrderbook": self._unsubscribe_order_book,
            "subscribeTrades": self._subscribe_trades,
            "unsubscribeTrades": self._unsubscribe_trades,
            "subscribeCandles": self._subscribe_candles,
            "unsubscribeCandles": self._unsubscribe_candles,
            "subscribeReports": self._subscribe_reports,
            "unsubscribeReports": self._unsubscribe_reports,
            "subscribeBalances": self._subscribe_balances,
            "unsubscribeBalances": self._unsubscribe_balances,
            "getTradingBalance": self._get_trading_balance,
            "getOrders": self._get_orders,
            "newOrder": self._new_order,
            "cancelOrder": self._cancel_order,
        }

    # ----- connections -----

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, timeout=CLOSE_TIMEOUT, autoping=True)
        await ws.prepare(request)
        self._connection_count += 1
        connection = WsConnection(ws, request.transport, self._connection_count)
        connection.writer = asyncio.get_running_loop().create_task(
            connection.write_loop(), name=f"nonkyc-sandbox-ws-writer-{connection.number}")
        self.connections.add(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(connection, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(connection)
            await self._finish_writer(connection)
            connection.finished.set()
        return ws

    @staticmethod
    async def _finish_writer(connection: WsConnection) -> None:
        writer = connection.writer
        if writer is None:
            return
        if connection.closing:  # the writer is closing the socket: let it finish the close handshake
            try:
                await asyncio.wait_for(asyncio.shield(writer), timeout=CLOSE_TIMEOUT * 2)
                return
            except (asyncio.TimeoutError, asyncio.CancelledError, ConnectionError, RuntimeError):
                pass
        connection.closing = True
        writer.cancel()
        try:
            await writer
        except (asyncio.CancelledError, ConnectionError, RuntimeError):
            pass

    def drop_all(self, abrupt: bool = False) -> int:
        connections = list(self.connections)
        for connection in connections:
            connection.drop(abrupt)
        logger.info("Sandbox: dropping %s WebSocket connection(s)%s", len(connections), " abruptly" if abrupt else "")
        return len(connections)

    async def close_all(self) -> None:
        connections = list(self.connections)
        for connection in connections:
            connection.drop(abrupt=False)
        if connections:
            await asyncio.wait([asyncio.ensure_future(connection.finished.wait()) for connection in connections],
                               timeout=CLOSE_TIMEOUT * 3)

    # ----- requests -----

    def _on_text(self, connection: WsConnection, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            connection.send(rpc_error(None, ERROR_BAD_REQUEST, "Bad Request: invalid JSON"))
            return
        if not isinstance(request, dict):
            connection.send(rpc_error(None, ERROR_BAD_REQUEST, "Bad Request: expected a JSON object"))
            return
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params") or {}
        handler = self._methods.get(method)
        if handler is None:
            connection.send(rpc_error(request_id, ERROR_METHOD_NOT_FOUND, f"Method not found: {method}"))
            return
        if not isinstance(params, dict):
            connection.send(rpc_error(request_id, ERROR_BAD_REQUEST, "Bad Request: params must be an object"))
            return
        try:
            handler(connection, params, request_id)
        except ApiError as error:
            connection.send(rpc_error(request_id, error.code, error.message))
        except Exception:
            logger.exception("Sandbox WS: %s (id %s) failed", method, request_id)
            connection.send(rpc_error(request_id, 500, "Internal Server Error"))

    def _login(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self.engine.accounts_by_key.get(str(params.get("pKey") or ""))
        nonce = params.get("nonce")
        signature = str(params.get("signature") or "")
        algo_ok = str(params.get("algo") or "").upper() == "HS256"
        if account is None or not algo_ok or nonce is None or nonce == "":
            connection.send(rpc_error(request_id, ERROR_AUTH_FAILED, "Authorization failed"))
            return
        expected = hmac.new(account.api_secret.encode("utf8"), str(nonce).encode("utf8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            connection.send(rpc_error(request_id, ERROR_AUTH_FAILED, "Authorization failed"))
            return
        connection.account = account.name
        connection.send(rpc_result(request_id))

    def _symbol(self, params: Dict[str, Any]) -> MarketSpec:
        symbol = normalize_symbol(str(params.get("symbol") or ""), self.engine.markets)
        if symbol is None:
            raise ApiError(ERROR_MARKET_NOT_FOUND, "Market not found")
        return self.engine.markets[symbol]

    def _subscribe_order_book(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        market = self._symbol(params)
        try:
            limit = int(params.get("limit") or DEFAULT_BOOK_LIMIT)
        except (TypeError, ValueError):
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request: invalid limit")
        refusal = self.faults.take_refused_subscription(market.symbol)
        if refusal is not None:
            raise ApiError(*refusal)
        book = self.engine.books[market.symbol]
        connection.book_subscriptions[market.symbol] = limit
        connection.send(rpc_result(request_id))
        if self.faults.take_withheld_snapshot(market.symbol):
            return
        connection.send(notification("snapshotOrderbook", {
            "symbol": market.symbol,
            "sequence": self.book_sequence[market.symbol],
            "asks": self._levels(market, book.aggregated("sell", limit)),
            "bids": self._levels(market, book.aggregated("buy", limit)),
        }))

    def _unsubscribe_order_book(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        market = self._symbol(params)
        connection.book_subscriptions.pop(market.symbol, None)
        connection.send(rpc_result(request_id))

    def _subscribe_trades(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        market = self._symbol(params)
        connection.trade_subscriptions.add(market.symbol)
        recent = list(self.engine.public_trades[market.symbol])[-TRADES_SNAPSHOT_SIZE:]
        connection.send(rpc_result(request_id))
        connection.send(notification("snapshotTrades", {
            "symbol": market.symbol,
            "sequence": str(self.trade_sequence[market.symbol]),  # a string, as captured live
            "data": [trade.to_public_json() for trade in recent],
        }))

    def _unsubscribe_trades(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        market = self._symbol(params)
        connection.trade_subscriptions.discard(market.symbol)
        connection.send(rpc_result(request_id))

    def _subscribe_candles(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        """`{symbol, period (minutes), limit}` -> ack, then `snapshotCandles` (the latest `limit` candles), then one
        `updateCandles` per trade batch (see `candles.WS_SHAPES` for their shape)."""
        rejection = self.faults.take_candle_subscription_rejection()
        if rejection is not None:
            raise ApiError(rejection.code, rejection.message)
        market = self._symbol(params)
        period = self._candle_period(params)
        try:
            limit = min(int(params.get("limit") or DEFAULT_CANDLES_LIMIT), MAX_CANDLES_LIMIT)
        except (TypeError, ValueError):
            raise ApiError(ERROR_BAD_REQUEST, "Bad Request: invalid limit")
        connection.candle_subscriptions.setdefault(market.symbol, set()).add(period)
        connection.send(rpc_result(request_id))
        bars = self.engine.candles.bars(market.symbol, period, None, None, limit)
        connection.send(self._candles_notification("snapshotCandles", market, period, bars))

    def _unsubscribe_candles(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        market = self._symbol(params)
        periods = connection.candle_subscriptions.get(market.symbol, set())
        if params.get("period") is None:
            periods.clear()
        else:
            periods.discard(self._candle_period(params))
        if not periods:
            connection.candle_subscriptions.pop(market.symbol, None)
        connection.send(rpc_result(request_id))

    @staticmethod
    def _candle_period(params: Dict[str, Any]) -> int:
        try:
            period = int(params.get("period"))
        except (TypeError, ValueError):
            period = None
        if period not in RESOLUTIONS:
            raise ApiError(ERROR_BAD_REQUEST, f"Bad Request: period must be one of {', '.join(map(str, RESOLUTIONS))}")
        return period

    def _candles_notification(self, method: str, market: MarketSpec, period: int, bars: List[Bar]) -> Dict[str, Any]:
        """A `snapshotCandles` / `updateCandles` notification in the shape the candle history's `ws_shape` names."""
        shape = self.engine.candles.ws_shape
        candles = [self._ws_candle(market, bar, shape) for bar in bars]
        return notification(method, {"symbol": market.symbol, "period": period, "data": candles})

    @staticmethod
    def _ws_candle(market: MarketSpec, bar: Bar, shape: str) -> Dict[str, Any]:
        if shape.startswith("min_max"):
            prices = {"open": market.format_price(bar.open), "close": market.format_price(bar.close),
                      "min": market.format_price(bar.low), "max": market.format_price(bar.high)}
        else:
            prices = {"open": market.format_price(bar.open), "high": market.format_price(bar.high),
                      "low": market.format_price(bar.low), "close": market.format_price(bar.close)}
        volume = market.format_quantity(bar.volume)
        if shape == "min_max_timestamp":
            return {"timestamp": iso_timestamp(bar.start * 1000), **prices, "volume": volume}
        if shape == "min_max_datetime":
            return {"datetime": iso_timestamp(bar.start * 1000), **prices, "volume": volume}
        return {"timestamp": bar.start * 1000, **prices, "volume": volume}

    @staticmethod
    def _require_login(connection: WsConnection) -> str:
        if connection.account is None:
            raise ApiError(ERROR_AUTH_REQUIRED, "Authorization required")
        return connection.account

    def _subscribe_reports(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self._require_login(connection)
        connection.reports = True
        orders = [order.to_json() for order in self.engine.active_orders(account)]
        connection.send({"jsonrpc": "2.0", "method": "activeOrders", "result": orders, "id": request_id})

    def _unsubscribe_reports(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        connection.reports = False
        connection.send(rpc_result(request_id))

    def _subscribe_balances(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account_name = self._require_login(connection)
        connection.balances = True
        account = self.engine.accounts[account_name]
        result = [{
            "assetId": object_id("asset", asset),
            "ticker": asset,
            "available": balance_string(balance.available),
            "held": balance_string(balance.held),
            "changePercent": 0,
        } for asset, balance in sorted(account.balances.items())]
        connection.send({
            "jsonrpc": "2.0",
            "method": "currentBalances",
            "timestamp": now_ms(),
            "portfolioData": self._portfolio(account_name),
            "result": result,
            "id": request_id,
        })

    def _unsubscribe_balances(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        connection.balances = False
        connection.send(rpc_result(request_id))

    def _get_trading_balance(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self.engine.accounts[self._require_login(connection)]
        connection.send(rpc_result(request_id, [
            {"asset": asset, "available": balance_string(balance.available), "held": balance_string(balance.held)}
            for asset, balance in sorted(account.balances.items())]))

    def _get_orders(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self._require_login(connection)
        symbol = self._symbol(params).symbol if params.get("symbol") else None
        connection.send(rpc_result(request_id, [order.to_json()
                                                for order in self.engine.active_orders(account, symbol)]))

    def _new_order(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self._require_login(connection)
        order = self.engine.create_order(
            account, self._symbol(params).symbol, params.get("side"), params.get("type"), params.get("quantity"),
            params.get("price"), params.get("userProvidedId"), bool(params.get("strictValidate", False)))
        connection.send(rpc_result(request_id, order.to_json()))

    def _cancel_order(self, connection: WsConnection, params: Dict[str, Any], request_id: Any) -> None:
        account = self._require_login(connection)
        reference = params.get("orderId") or params.get("userProvidedId") or params.get("id")
        order, _ = self.engine.cancel_order(account, str(reference or ""))
        connection.send(rpc_result(request_id, order.to_json()))

    # ----- engine events -----

    def on_report(self, account: str, params: Dict[str, Any]) -> None:
        if any(connection.reports and connection.account == account for connection in self.connections) \
                and self.faults.take_report_drop(account):
            return
        message = None
        for connection in list(self.connections):
            if connection.reports and connection.account == account:
                message = message or notification("report", params)
                connection.send(message)

    def on_book_update(self, market: MarketSpec, bids: List, asks: List) -> None:
        symbol = market.symbol
        self.book_sequence[symbol] += 1 + self.faults.take_ws_sequence_skip(symbol)
        count = self._updates_sent.get(symbol, 0) + 1
        self._updates_sent[symbol] = count
        timestamp = now_ms()
        message = notification("updateOrderbook", {
            "asks": self._levels(market, asks),
            "bids": self._levels(market, bids),
            "symbol": symbol,
            # both forms occur live: integer milliseconds and ISO-8601 strings
            "timestamp": timestamp if count % 2 else iso_timestamp(timestamp),
            "sequence": self.book_sequence[symbol],
        })
        copies = 2 if self.faults.take_ws_duplicate(symbol) else 1
        for connection in list(self.connections):
            if symbol in connection.book_subscriptions:
                for _ in range(copies):
                    connection.send(message)

    def on_trades(self, market: MarketSpec, trades: List[Trade]) -> None:
        symbol = market.symbol
        self.trade_sequence[symbol] += 1
        message = notification("updateTrades", {
            "symbol": symbol,
            "sequence": self.trade_sequence[symbol],
            "data": [trade.to_public_json() for trade in trades],
        })
        for connection in list(self.connections):
            if symbol in connection.trade_subscriptions:
                connection.send(message)
        self._send_candle_updates(market, trades)

    def _send_candle_updates(self, market: MarketSpec, trades: List[Trade]) -> None:
        """The candles the trades changed, to every connection subscribed to them."""
        listeners = [connection for connection in self.connections if market.symbol in connection.candle_subscriptions]
        for period in sorted({period for connection in listeners
                              for period in connection.candle_subscriptions[market.symbol]}):
            changed = (self.engine.candles.bar_at(market.symbol, period, trade.timestamp) for trade in trades)
            bars = {bar.start: bar for bar in changed if bar is not None}
            message = self._candles_notification("updateCandles", market, period,
                                                 [bars[start] for start in sorted(bars)])
            for connection in listeners:
                if period in connection.candle_subscriptions.get(market.symbol, ()):
                    connection.send(message)

    def on_balances(self, account: str, assets: List[str]) -> None:
        listeners = [connection for connection in self.connections
                     if connection.balances and connection.account == account]
        if not listeners:
            return
        balances = self.engine.accounts[account].balances
        for asset in assets:
            balance = balances[asset]
            message = notification("balanceUpdate", {
                "ticker": asset,
                "available": balance_string(balance.available),
                "held": balance_string(balance.held),
            })
            for connection in listeners:
                connection.send(message)

    # ----- helpers -----

    @staticmethod
    def _levels(market: MarketSpec, levels: List) -> List[Dict[str, str]]:
        # a removed level carries quantity "0", as live
        return [{"price": market.format_price(price),
                 "quantity": market.format_quantity(quantity) if quantity > 0 else "0"}
                for price, quantity in levels]

    def _portfolio(self, account_name: str) -> Dict[str, str]:
        usd = Decimal(0)
        for asset, balance in self.engine.accounts[account_name].balances.items():
            usd += balance.total * self._usd_price(asset)
        btc_price = self._usd_price("BTC")
        btc = usd / btc_price if btc_price > 0 else Decimal(0)
        return {"totalUsdValue": format(usd.quantize(Decimal("0.01")), "f"),
                "totalBtcValue": format(btc.quantize(Decimal("1e-8")), "f")}

    def _usd_price(self, asset: str) -> Decimal:
        if asset.startswith("USDT"):
            return Decimal(1)
        stats = self.engine.stats.get(f"{asset}/USDT")
        return stats.last_price if stats is not None else Decimal(0)
