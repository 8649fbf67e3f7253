"""
Public smoke test of the NonKYC API (or any compatible server), through the connector's own URL and WS code.

    .venv/bin/python scripts/live_api/public_smoke.py [--pair BTC/USDT] [--rest-url URL --ws-url URL]

Checks /time drift, the /market/getlist fields the connector relies on, /market/orderbook (and the type of its
`sequence`), /tickers, and on the WebSocket an order-book snapshot, updates with contiguous sequences, and trades.
Candles, over REST (/market/candles) and the WebSocket (subscribeCandles): the checks pass when the candles feed reads
them, and print the shape the exchange sends (time field and unit, high/low or min/max, the fields), which the API
documents only partly. Prints one PASS/FAIL line per check and a summary; exits 1 when anything failed.
"""
import os
import sys
import time
from decimal import Decimal
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from live_api_common import (  # noqa: E402
    CONSTANTS,
    NonkycClient,
    Report,
    RESTMethod,
    apply_urls,
    argument_parser,
    exchange_symbol,
    expect,
    receive_until,
    run,
)

from hummingbot.connector.exchange.nonkyc.nonkyc_utils import describe  # noqa: E402
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.candle_shapes import (  # noqa: E402
    notification_candles,
    rest_bar_row,
    rest_bars,
    ws_candle_row,
)

MARKET_FIELDS = ("symbol", "priceDecimals", "quantityDecimals", "isActive", "isPaused", "minimumQuantity",
                 "minQuote", "isMinQuoteActive", "allowMarketOrders")
MAX_CLOCK_DRIFT_MS = 30_000
CANDLE_RESOLUTION = 5  # minutes
CANDLE_HOURS = 6  # how far back the REST check asks for candles
CANDLE_EVENTS = (CONSTANTS.WS_EVENT_CANDLES_SNAPSHOT, CONSTANTS.WS_EVENT_CANDLES_UPDATE)
TIME_FIELDS = ("time", "timestamp", "datetime")
UNREADABLE = (ValueError, TypeError, ArithmeticError)


async def main() -> int:
    args = argument_parser(__doc__.splitlines()[1]).parse_args()
    apply_urls(args)
    symbol = exchange_symbol(args.pair)
    client = NonkycClient()
    report = Report()
    try:
        await report.check("GET /time (clock drift)", lambda: check_time(client))
        await report.check("GET /market/getlist", lambda: check_markets(client, symbol))
        await report.check("GET /market/orderbook", lambda: check_rest_order_book(client, symbol))
        await report.check("GET /tickers", lambda: check_tickers(client, symbol))
        await report.check("GET /market/candles", lambda: check_rest_candles(client, symbol))
        await check_websocket(client, report, symbol, args.ws_seconds)
        await check_ws_candles(client, report, symbol, args.ws_seconds)
    finally:
        await client.close()
    return report.summary()


async def check_time(client: NonkycClient) -> str:
    before = time.time() * 1e3
    response = await client.rest(RESTMethod.GET, CONSTANTS.SERVER_TIME_PATH_URL)
    local_ms = (before + time.time() * 1e3) / 2
    expect(isinstance(response.get("serverTime"), int), f"serverTime is not an integer: {response}")
    drift = response["serverTime"] - local_ms
    expect(abs(drift) < MAX_CLOCK_DRIFT_MS, f"clock drift {drift:.0f} ms exceeds {MAX_CLOCK_DRIFT_MS} ms")
    return f"server time {response['serverTime']}, drift {drift:+.0f} ms"


async def check_markets(client: NonkycClient, symbol: str) -> str:
    markets = await client.rest(RESTMethod.GET, CONSTANTS.MARKETS_PATH_URL)
    expect(isinstance(markets, list) and markets, "no markets")
    by_symbol = {market.get("symbol"): market for market in markets}
    expect(symbol in by_symbol, f"{symbol} is not listed")
    market = by_symbol[symbol]
    missing = [field for field in MARKET_FIELDS if field not in market]
    expect(not missing, f"{symbol} lacks {missing}")
    expect(isinstance(market["priceDecimals"], int) and isinstance(market["quantityDecimals"], int),
           "priceDecimals/quantityDecimals are not integers")
    tradeable = sum(1 for m in markets if m.get("isActive") and not m.get("isPaused") and not m.get("apiExcluded"))
    return (f"{len(markets)} markets ({tradeable} tradeable); {symbol}: priceDecimals {market['priceDecimals']}, "
            f"quantityDecimals {market['quantityDecimals']}, minimumQuantity {market['minimumQuantity']}")


async def check_rest_order_book(client: NonkycClient, symbol: str) -> str:
    book = await client.rest(RESTMethod.GET, CONSTANTS.ORDER_BOOK_PATH_URL, params={"symbol": symbol, "limit": 20})
    expect(book.get("symbol") == symbol, f"symbol {book.get('symbol')} != {symbol}")
    sequence = book.get("sequence")
    expect(str(sequence).isdigit(), f"sequence {sequence!r} is not numeric")
    for side in ("bids", "asks"):
        levels: List[Dict[str, Any]] = book.get(side, [])
        for level in levels:
            Decimal(level["price"]), Decimal(level["quantity"])
    return (f"sequence {sequence!r} ({type(sequence).__name__}), {len(book.get('bids', []))} bids, "
            f"{len(book.get('asks', []))} asks")


async def check_tickers(client: NonkycClient, symbol: str) -> str:
    tickers = await client.rest(RESTMethod.GET, CONSTANTS.TICKERS_PATH_URL)
    ticker_id = symbol.replace("/", "_")
    matching = [ticker for ticker in tickers if ticker.get("ticker_id") == ticker_id]
    expect(matching, f"{ticker_id} not in /tickers")
    ticker = matching[0]
    expect(f"{ticker['base_currency']}/{ticker['target_currency']}" == symbol, f"currencies of {ticker_id} differ")
    Decimal(ticker["last_price"])
    return f"{len(tickers)} tickers; {ticker_id} last price {ticker['last_price']}"


async def check_websocket(client: NonkycClient, report: Report, symbol: str, seconds: float):
    try:
        ws = await client.ws()
    except Exception as error:
        report.record("WS connect", False, f"{type(error).__name__}: {error}")
        return
    try:
        book_id = await client.ws_request(ws, CONSTANTS.WS_METHOD_SUBSCRIBE_ORDER_BOOK, {"symbol": symbol, "limit": 20})
        trades_id = await client.ws_request(ws, CONSTANTS.WS_METHOD_SUBSCRIBE_TRADES, {"symbol": symbol})
        updates: List[Dict[str, Any]] = []

        def enough(message: Dict[str, Any]) -> bool:
            if message.get("method") == CONSTANTS.WS_EVENT_ORDER_BOOK_UPDATE:
                updates.append(message)
            return len(updates) >= 3

        messages = await receive_until(ws, enough, seconds)
    finally:
        await ws.disconnect()
    replies = {message.get("id"): message for message in messages if "id" in message}
    for name, request_id in (("subscribeOrderbook", book_id), ("subscribeTrades", trades_id)):
        reply = replies.get(request_id, {})
        report.record(f"WS {name} reply", reply.get("result") is True, f"{reply or 'no reply'}")
    snapshots = [m for m in messages if m.get("method") == CONSTANTS.WS_EVENT_ORDER_BOOK_SNAPSHOT]
    report.record("WS snapshotOrderbook", bool(snapshots) and isinstance(snapshots[0]["params"].get("sequence"), int),
                  f"sequence {snapshots[0]['params'].get('sequence')!r}" if snapshots else "none received")
    report.record("WS updateOrderbook sequence continuity", *sequence_continuity(snapshots, updates))
    trade_methods = (CONSTANTS.WS_EVENT_TRADES_SNAPSHOT, CONSTANTS.WS_EVENT_TRADES_UPDATE)
    trade_messages = [m for m in messages if m.get("method") in trade_methods]
    entries = [entry for message in trade_messages for entry in message["params"].get("data", [])]
    well_formed = all({"id", "price", "quantity", "side"} <= set(entry) for entry in entries)
    report.record("WS trades", bool(trade_messages) and well_formed,
                  f"{len(trade_messages)} messages, {len(entries)} trades")


async def check_rest_candles(client: NonkycClient, symbol: str) -> str:
    now = int(time.time())
    answer = await client.rest(RESTMethod.GET, CONSTANTS.CANDLES_PATH_URL, params={
        "symbol": symbol, "resolution": CANDLE_RESOLUTION, "from": now - CANDLE_HOURS * 3600,
        "to": now + CANDLE_RESOLUTION * 60, "countBack": CANDLE_HOURS * 60 // CANDLE_RESOLUTION})
    bars = rest_bars(answer)
    expect(bars, f"no bar in the last {CANDLE_HOURS} h (choose a busier --pair?): {describe(answer)}")
    shape = candle_shape(bars[-1])
    try:
        for bar in bars:
            rest_bar_row(bar)
    except UNREADABLE as error:
        raise AssertionError(f"the candles feed cannot read {shape}: {error}")
    meta = answer.get("meta")
    return f"{len(bars)} bars; {shape}; meta fields {sorted(meta) if isinstance(meta, dict) else repr(meta)}"


async def check_ws_candles(client: NonkycClient, report: Report, symbol: str, seconds: float):
    try:
        ws = await client.ws()
    except Exception as error:
        report.record("WS connect (candles)", False, f"{type(error).__name__}: {error}")
        return
    try:
        request_id = await client.ws_request(ws, CONSTANTS.WS_METHOD_SUBSCRIBE_CANDLES,
                                             {"symbol": symbol, "period": CANDLE_RESOLUTION, "limit": 10})
        messages = await receive_until(ws, lambda message: bool(candle_notifications([message])), seconds)
    finally:
        await ws.disconnect()
    reply = next((message for message in messages if message.get("id") == request_id), {})
    report.record("WS subscribeCandles reply", reply.get("result") is True, f"{reply or 'no reply'}")
    report.record("WS candles", *ws_candles_shape(messages))


def candle_notifications(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [message for message in messages if message.get("method") in CANDLE_EVENTS]


def ws_candles_shape(messages: List[Dict[str, Any]]) -> Tuple[bool, str]:
    """Whether the candles feed reads the candle notifications, and their shape."""
    notifications = candle_notifications(messages)
    if not notifications:
        methods = sorted({str(message["method"]) for message in messages if "method" in message})
        return False, f"no {'/'.join(CANDLE_EVENTS)} within the listening time (other methods: {methods})"
    method, params = notifications[-1]["method"], notifications[-1].get("params")
    candles = notification_candles(params)
    if not candles:
        return False, f"{method} without candles in a `params.data` list: {describe(params)}"
    shape = candle_shape(candles[-1])
    try:
        for candle in candles:
            ws_candle_row(candle)
    except UNREADABLE as error:
        return False, f"the candles feed cannot read {shape}: {error}"
    return True, f"{method} with {len(candles)} candles in `params.data`; {shape}"


def candle_shape(candle: Any) -> str:
    """A candle's shape: its time field and unit, high/low or min/max, its fields."""
    if not isinstance(candle, dict):
        return f"a candle that is not a JSON object ({describe(candle)})"
    time_field = next((field for field in TIME_FIELDS if field in candle), None)
    fields = set(candle)
    prices = "high/low" if {"high", "low"} <= fields else "min/max" if {"min", "max"} <= fields else "no high/low"
    return f"time in `{time_field}` ({time_unit(candle.get(time_field))}), {prices}, fields {sorted(fields)}"


def time_unit(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "missing"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "ISO string" if isinstance(value, str) else type(value).__name__
    unit = "milliseconds" if number >= 1e12 else "seconds"
    return f"{unit} as text" if isinstance(value, str) else unit


def sequence_continuity(snapshots: List[Dict[str, Any]], updates: List[Dict[str, Any]]):
    if not snapshots or not updates:
        return False, f"{len(updates)} updates within the listening time (choose a busier --pair?)"
    last = int(snapshots[0]["params"]["sequence"])
    for update in updates:
        sequence = int(update["params"]["sequence"])
        if sequence != last + 1:
            return False, f"gap or duplicate: {last} followed by {sequence}"
        last = sequence
    return True, f"{len(updates)} updates contiguous from {snapshots[0]['params']['sequence']} to {last}"


if __name__ == "__main__":
    run(main)
