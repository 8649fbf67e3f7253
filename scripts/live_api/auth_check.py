"""
Authenticated check of the NonKYC API (or any compatible server), through the connector's own signing and URL code.

    NONKYC_API_KEY=... NONKYC_API_SECRET=... .venv/bin/python scripts/live_api/auth_check.py [--pair BTC/USDT] [--trade]

Keys come from the environment or from `.env` at the repository root, and are never printed. Checks balances, open
orders, trades, the REST signature of a GET with a query and of a POST, and on the WebSocket the login,
`activeOrders` and `currentBalances`. With --trade only, it also places a limit buy at the market's minimum size far
below the market and cancels it. Prints one PASS/FAIL line per check and a summary; exits 1 when anything failed.
"""
import os
import sys
import time
from decimal import ROUND_UP, Decimal
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from live_api_common import (  # noqa: E402
    CONSTANTS,
    NonkycClient,
    Report,
    RESTMethod,
    WSJSONRequest,
    apply_urls,
    argument_parser,
    exchange_symbol,
    expect,
    load_keys,
    receive_until,
    run,
)

from hummingbot.connector.exchange.nonkyc.nonkyc_utils import timestamp_seconds  # noqa: E402

AUTH_FAILURE_CODES = (CONSTANTS.ERROR_CODE_AUTHORIZATION_REQUIRED, CONSTANTS.ERROR_CODE_AUTHORIZATION_FAILED)
FAR_BELOW_MARKET = Decimal("0.5")


async def main() -> int:
    parser = argument_parser(__doc__.splitlines()[1])
    parser.add_argument("--trade", action="store_true",
                        help="also place and cancel a minimum-size limit buy far below the market")
    args = parser.parse_args()
    apply_urls(args)
    api_key, api_secret = load_keys()
    report = Report(secrets=[api_key, api_secret])
    if not api_key or not api_secret:
        report.record("API keys", False, "set NONKYC_API_KEY and NONKYC_API_SECRET (environment or .env)")
        return report.summary()
    symbol = exchange_symbol(args.pair)
    client = NonkycClient(api_key, api_secret)
    try:
        await report.check("GET /balances", lambda: check_balances(client))
        await report.check("GET /account/orders (signed GET with a query)", lambda: check_open_orders(client, symbol))
        await report.check("GET /account/trades (signed GET with a query)", lambda: check_trades(client, symbol))
        await report.check("POST /cancelorder of an unknown order (signed POST)", lambda: check_signed_post(client))
        await report.check("WS login, activeOrders, currentBalances", lambda: check_private_ws(client, args.ws_seconds))
        if args.trade:
            await report.check("place and cancel a far-from-market limit order",
                               lambda: place_and_cancel(client, symbol))
    finally:
        await client.close()
    return report.summary()


async def check_balances(client: NonkycClient) -> str:
    balances = await client.rest(RESTMethod.GET, CONSTANTS.BALANCES_PATH_URL, auth=True)
    expect(isinstance(balances, list), f"unexpected answer {balances}")
    for entry in balances:
        Decimal(entry["available"]), Decimal(entry["held"])
    funded = [entry["asset"] for entry in balances if Decimal(entry["available"]) + Decimal(entry["held"]) > 0]
    return f"{len(balances)} assets, {len(funded)} with a balance"


async def check_open_orders(client: NonkycClient, symbol: str) -> str:
    orders = await client.rest(RESTMethod.GET, CONSTANTS.ACCOUNT_ORDERS_PATH_URL, auth=True,
                               params={"symbol": symbol, "status": "active", "limit": 100})
    expect(isinstance(orders, list), f"unexpected answer {orders}")
    return f"{len(orders)} active orders on {symbol}"


async def check_trades(client: NonkycClient, symbol: str) -> str:
    since = int((time.time() - 30 * 24 * 3600) * 1e3)
    trades = await client.rest(RESTMethod.GET, CONSTANTS.ACCOUNT_TRADES_PATH_URL, auth=True,
                               params={"symbol": symbol, "since": since, "limit": 50})
    expect(isinstance(trades, list), f"unexpected answer {trades}")
    for trade in trades:
        expect({"id", "orderid", "side", "price", "quantity", "fee", "timestamp"} <= set(trade), f"trade {trade}")
    # The API notes do not say in which order a `since` query lists trades; the connector reads both (see README).
    times = [timestamp_seconds(trade["timestamp"]) for trade in trades]
    order = ("oldest first" if times[0] < times[-1] else "newest first") if len(set(times)) > 1 else "order unknown"
    return f"{len(trades)} trades on {symbol} in the last 30 days, listed {order}"


async def check_signed_post(client: NonkycClient) -> str:
    """An unknown order id must be answered "order not found", which proves the POST signature was accepted."""
    status, body = await client.rest(RESTMethod.POST, CONSTANTS.CANCEL_ORDER_PATH_URL, auth=True, return_err=True,
                                     data={"id": "000000000000000000000000"})
    error: Dict[str, Any] = body.get("error") or {} if isinstance(body, dict) else {}
    expect(error.get("code") not in AUTH_FAILURE_CODES and status != 401, f"signature refused: {status} {body}")
    return f"HTTP {status}, {error.get('code', 'no error')} {error.get('message', '')}".strip()


async def check_private_ws(client: NonkycClient, seconds: float) -> str:
    ws = await client.ws()
    try:
        login_id = client.next_id()
        await ws.send(WSJSONRequest(payload=client.auth.ws_login_payload(login_id)))
        replies = await receive_until(ws, lambda message: message.get("id") == login_id, seconds)
        login_reply = next((m for m in replies if m.get("id") == login_id), None)
        expect(login_reply is not None and login_reply.get("result") is True, f"login reply: {login_reply}")
        reports_id = await client.ws_request(ws, CONSTANTS.WS_METHOD_SUBSCRIBE_REPORTS, {})
        await client.ws_request(ws, CONSTANTS.WS_METHOD_SUBSCRIBE_BALANCES, {})
        seen: Dict[str, Dict[str, Any]] = {}

        def both_seen(message: Dict[str, Any]) -> bool:
            if message.get("method") in (CONSTANTS.WS_EVENT_ACTIVE_ORDERS, CONSTANTS.WS_EVENT_CURRENT_BALANCES):
                seen[message["method"]] = message
            return len(seen) == 2

        await receive_until(ws, both_seen, seconds)
    finally:
        await ws.disconnect()
    active = seen.get(CONSTANTS.WS_EVENT_ACTIVE_ORDERS)
    balances = seen.get(CONSTANTS.WS_EVENT_CURRENT_BALANCES)
    expect(active is not None and isinstance(active.get("result"), list), f"activeOrders: {active}")
    expect(active.get("id") in (reports_id, None), f"activeOrders id {active.get('id')} != {reports_id}")
    expect(balances is not None and isinstance(balances.get("result"), list), f"currentBalances: {balances}")
    return f"login ok, {len(active['result'])} active orders, {len(balances['result'])} balances"


async def place_and_cancel(client: NonkycClient, symbol: str) -> str:
    markets = await client.rest(RESTMethod.GET, CONSTANTS.MARKETS_PATH_URL)
    market = next(m for m in markets if m.get("symbol") == symbol)
    price_step = Decimal(1).scaleb(-int(market["priceDecimals"]))
    size_step = Decimal(1).scaleb(-int(market["quantityDecimals"]))
    book = await client.rest(RESTMethod.GET, CONSTANTS.ORDER_BOOK_PATH_URL, params={"symbol": symbol, "limit": 5})
    reference = Decimal(book["bids"][0]["price"]) if book.get("bids") else Decimal(str(market["lastPrice"]))
    price = max((reference * FAR_BELOW_MARKET).quantize(price_step), price_step)
    quantity = Decimal(str(market["minimumQuantity"])).quantize(size_step, rounding=ROUND_UP)
    if market.get("isMinQuoteActive"):
        quantity = max(quantity, (Decimal(str(market["minQuote"])) / price).quantize(size_step, rounding=ROUND_UP))
    client_id = f"HBOTLIVE{int(time.time() * 1e3)}"
    order = await client.rest(RESTMethod.POST, CONSTANTS.CREATE_ORDER_PATH_URL, auth=True, data={
        "symbol": symbol, "side": "buy", "type": "limit", "quantity": f"{quantity:f}", "price": f"{price:f}",
        "userProvidedId": client_id, "strictValidate": True})
    expect(order.get("id"), f"create answered {order}")
    found = await client.rest(RESTMethod.GET, CONSTANTS.GET_ORDER_PATH_URL.format(client_id), auth=True,
                              limit_id=CONSTANTS.GET_ORDER_LIMIT_ID)
    expect(found.get("id") == order["id"], f"/getorder/{client_id} answered {found}")
    cancelled = await client.rest(RESTMethod.POST, CONSTANTS.CANCEL_ORDER_PATH_URL, auth=True,
                                  data={"id": order["id"]})
    after = await client.rest(RESTMethod.GET, CONSTANTS.GET_ORDER_PATH_URL.format(order["id"]), auth=True,
                              limit_id=CONSTANTS.GET_ORDER_LIMIT_ID)
    expect(str(after.get("status", "")).lower() in ("cancelled", "canceled"), f"status after cancel: {after}")
    return (f"buy {quantity} {symbol} at {price}: created {order['id']}, cancel answered "
            f"{'success' if cancelled.get('success') else cancelled.get('status')}, status {after['status']}")


if __name__ == "__main__":
    run(main)
