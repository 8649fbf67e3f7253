from decimal import Decimal

from hummingbot.core.api_throttler.data_types import LinkedLimitWeightPair, RateLimit
from hummingbot.core.data_type.in_flight_order import OrderState

EXCHANGE_NAME = "nonkyc"
DEFAULT_DOMAIN = "nonkyc"

# Client order ids become the exchange's `userProvidedId` (kept at 32 characters at most).
HBOT_ORDER_ID_PREFIX = "HBOT"
MAX_ORDER_ID_LEN = 32

# Base URLs. The environment variables override them when the URLs are built (tests, sandbox, live scripts).
REST_URL = "https://api.nonkyc.io/api/v2"
WSS_URL = "wss://ws.nonkyc.io"
REST_URL_ENV_VAR = "NONKYC_REST_URL"
WSS_URL_ENV_VAR = "NONKYC_WS_URL"

# Public REST endpoints
SERVER_TIME_PATH_URL = "/time"
MARKETS_PATH_URL = "/market/getlist"
ORDER_BOOK_PATH_URL = "/market/orderbook"
TICKERS_PATH_URL = "/tickers"
CANDLES_PATH_URL = "/market/candles"

# Private REST endpoints
BALANCES_PATH_URL = "/balances"
CREATE_ORDER_PATH_URL = "/createorder"
CANCEL_ORDER_PATH_URL = "/cancelorder"
CANCEL_ALL_ORDERS_PATH_URL = "/cancelallorders"
GET_ORDER_PATH_URL = "/getorder/{}"
GET_ORDER_LIMIT_ID = "/getorder"
ACCOUNT_ORDERS_PATH_URL = "/account/orders"
ACCOUNT_TRADES_PATH_URL = "/account/trades"

# Request parameters
SIDE_BUY = "buy"
SIDE_SELL = "sell"
ORDER_TYPE_LIMIT = "limit"
ORDER_TYPE_MARKET = "market"
ACCOUNT_TRADES_PAGE_LIMIT = 500
ORDER_BOOK_SNAPSHOT_DEPTH = 100

# REST reconciliation. NonKYC caps `limit` and `skip` at 500 on /account/orders and /account/trades: beyond that the
# trades are paged by time (`since`). One poll reads at most ACCOUNT_TRADES_MAX_PAGES_PER_POLL pages of trades and
# continues from there at the next poll.
ACCOUNT_ORDERS_PAGE_LIMIT = 500
ACCOUNT_ORDERS_STATUS_ACTIVE = "active"
MAX_PAGE_SKIP = 500
ACCOUNT_TRADES_MAX_PAGES_PER_POLL = 20

# cancel_all (nonkyc_cancel_all.py): a `/cancelallorders` is sent only this many seconds after the listing of active
# orders it relies on (another bot on the key could place an order on the pair meanwhile); past that, the pair is
# listed again, at most CANCEL_ALL_MAX_LISTINGS listings in all.
CANCEL_ALL_LISTING_MAX_AGE = 2.0
CANCEL_ALL_MAX_LISTINGS = 3

# Request timeouts (seconds). A create that times out is ambiguous: the order may exist on the exchange.
REST_REQUEST_TIMEOUT = 20
CREATE_ORDER_TIMEOUT = 10
# Look-ups of an ambiguous create through /getorder/{userProvidedId}: delays between the attempts.
AMBIGUOUS_ORDER_LOOKUP_DELAYS = (0.5, 1.0, 2.0)
# While NonKYC answers 429, requests wait with a back-off shared by every request (1, 2, 4 ... 30 s); one request
# is retried RATE_LIMITED_RETRIES times before its caller gets the 429 (and tries again at its next turn).
RATE_LIMIT_BACKOFF_INITIAL = 1.0
RATE_LIMIT_BACKOFF_MAX = 30.0
RATE_LIMITED_RETRIES = 3

# Market orders on markets with `allowMarketOrders: false` (emulated). Such a MARKET order is sent as a limit order at
# the best opposite price of the local book moved by this slippage limit (a buy at most 2 % above the best ask, a sell
# at least 2 % below the best bid), and what does not fill at once is cancelled. The limit is the worst price the order
# accepts: wider fills more of a thin book, narrower protects against a book that moved. A buy holds price x quantity
# of the quote asset while it is open, so the limit also sets how much quote balance the order needs. Set it per bot
# with the environment variable (a fraction: 0.05 for 5 %).
MARKET_ORDER_SLIPPAGE = Decimal("0.02")
MARKET_ORDER_SLIPPAGE_ENV_VAR = "NONKYC_MARKET_ORDER_SLIPPAGE"
# Attempts to cancel what an emulated market order did not fill (delays before each): it must not rest on the book.
EMULATED_MARKET_ORDER_CANCEL_DELAYS = (0.0, 0.5, 1.0, 2.0, 4.0)
# Fetches of the fills of a market order that ended, until they add up to what the exchange reports executed.
ENDED_ORDER_FILLS_LOOKUP_DELAYS = (0.0, 0.5, 1.0, 2.0)

# Rate limits. NonKYC publishes none but answers 429; the notes budget about 5 requests/s per key.
# REQUESTS_PER_SECOND is the one value to tune: every endpoint counts against the shared pools below.
REQUESTS_PER_SECOND = 5
ONE_SECOND = 1
ALL_REQUESTS_POOL = "NONKYC_ALL_REQUESTS"
PRIVATE_REQUESTS_POOL = "NONKYC_PRIVATE_REQUESTS"
ORDER_REQUESTS_POOL = "NONKYC_ORDER_REQUESTS"

_PUBLIC = [LinkedLimitWeightPair(ALL_REQUESTS_POOL, 1)]
_PRIVATE = [LinkedLimitWeightPair(ALL_REQUESTS_POOL, 1), LinkedLimitWeightPair(PRIVATE_REQUESTS_POOL, 1)]
_ORDERS = _PRIVATE + [LinkedLimitWeightPair(ORDER_REQUESTS_POOL, 1)]

# Every endpoint's own limit, linked to the shared pools it counts against.
_ENDPOINT_POOLS = {
    SERVER_TIME_PATH_URL: _PUBLIC,
    MARKETS_PATH_URL: _PUBLIC,
    ORDER_BOOK_PATH_URL: _PUBLIC,
    TICKERS_PATH_URL: _PUBLIC,
    CANDLES_PATH_URL: _PUBLIC,
    BALANCES_PATH_URL: _PRIVATE,
    GET_ORDER_LIMIT_ID: _PRIVATE,
    ACCOUNT_ORDERS_PATH_URL: _PRIVATE,
    ACCOUNT_TRADES_PATH_URL: _PRIVATE,
    CREATE_ORDER_PATH_URL: _ORDERS,
    CANCEL_ORDER_PATH_URL: _ORDERS,
    CANCEL_ALL_ORDERS_PATH_URL: _ORDERS,
}

RATE_LIMITS = [
    RateLimit(limit_id=pool, limit=REQUESTS_PER_SECOND, time_interval=ONE_SECOND)
    for pool in (ALL_REQUESTS_POOL, PRIVATE_REQUESTS_POOL, ORDER_REQUESTS_POOL)
] + [
    RateLimit(limit_id=endpoint, limit=REQUESTS_PER_SECOND, time_interval=ONE_SECOND, linked_limits=pools)
    for endpoint, pools in _ENDPOINT_POOLS.items()
]

# Order states, keyed by the lower-cased `status` of the exchange (REST orders, cancel answers and WS reports); read
# only through NonkycOrderUpdates.order_state (nonkyc_order_updates).
ORDER_STATE = {
    "new": OrderState.OPEN,
    "active": OrderState.OPEN,
    "open": OrderState.OPEN,
    "partly filled": OrderState.PARTIALLY_FILLED,
    "partlyfilled": OrderState.PARTIALLY_FILLED,
    "partially filled": OrderState.PARTIALLY_FILLED,
    "partiallyfilled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "cancelled": OrderState.CANCELED,
    "canceled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.FAILED,
}

# Error codes (body `{"error": {"code", "message", "description"?}}`, on REST and WS)
ERROR_CODE_RATE_LIMITED = 429
# Internal error, service unavailable, gateway timeout: the request may have been carried out; check the result later.
SERVER_ERROR_CODES = (500, 503, 504)
ERROR_CODE_AUTHORIZATION_REQUIRED = 1001
ERROR_CODE_AUTHORIZATION_FAILED = 1002
ERROR_CODE_API_KEY_FORBIDDEN = 1003
ERROR_CODE_ORDER_NOT_FOUND = 20002
ERROR_CODE_DUPLICATE_CLIENT_ORDER_ID = 20008
AUTH_ERROR_CODES = (ERROR_CODE_AUTHORIZATION_REQUIRED, ERROR_CODE_AUTHORIZATION_FAILED)
CREDENTIAL_ERROR_CODES = AUTH_ERROR_CODES + (ERROR_CODE_API_KEY_FORBIDDEN,)

# WebSocket (JSON-RPC 2.0 style)
WS_METHOD_LOGIN = "login"
WS_METHOD_SUBSCRIBE_ORDER_BOOK = "subscribeOrderbook"
WS_METHOD_UNSUBSCRIBE_ORDER_BOOK = "unsubscribeOrderbook"
WS_METHOD_SUBSCRIBE_TRADES = "subscribeTrades"
WS_METHOD_UNSUBSCRIBE_TRADES = "unsubscribeTrades"
WS_METHOD_SUBSCRIBE_REPORTS = "subscribeReports"
WS_METHOD_SUBSCRIBE_BALANCES = "subscribeBalances"
WS_METHOD_SUBSCRIBE_CANDLES = "subscribeCandles"

WS_EVENT_ORDER_BOOK_SNAPSHOT = "snapshotOrderbook"
WS_EVENT_ORDER_BOOK_UPDATE = "updateOrderbook"
WS_EVENT_TRADES_SNAPSHOT = "snapshotTrades"
WS_EVENT_TRADES_UPDATE = "updateTrades"
WS_EVENT_ACTIVE_ORDERS = "activeOrders"
WS_EVENT_REPORT = "report"
WS_EVENT_CURRENT_BALANCES = "currentBalances"
WS_EVENT_BALANCE_UPDATE = "balanceUpdate"
# The candles notifications (nonkyc-api.md: `subscribeCandles` answers `snapshotCandles` then `updateCandles`).
WS_EVENT_CANDLES_SNAPSHOT = "snapshotCandles"
WS_EVENT_CANDLES_UPDATE = "updateCandles"

WS_LOGIN_ALGORITHM = "HS256"
# The server pings every 60 s; the client pings every ~20 s and reconnects a connection silent for ~70 s.
WS_PING_INTERVAL = 20
WS_SILENCE_TIMEOUT = 70
# How long a request (login, subscription) waits for its reply.
WS_REPLY_TIMEOUT = 10
# Reconnections wait 1, 2, 4 ... 30 s; back to 1 s once a session worked.
WS_RECONNECT_DELAY_INITIAL = 1.0
WS_RECONNECT_BACKOFF_MAX = 30
# The pace of the requests sent on one WebSocket connection (subscriptions, login...): at most this many a second,
# each request waiting for its slot in turn. NonKYC publishes no WebSocket limit and takes one symbol per
# subscription, so N pairs cost 2N requests. Exchanges that publish a limit allow 5 to 10 messages a second per
# connection, but each message may carry up to about a hundred topics; 40 one-symbol requests a second stays far below
# that in topics, spreads out the snapshots (up to 100 levels per side each) the server builds for them instead of
# asking for all at once, and still requests every order book of 50 pairs within 1.25 s (order books go first).
WS_REQUESTS_PER_SECOND = 40
# A pair's order book is initialized from a REST snapshot only when its WebSocket snapshot has not come this many
# seconds after the start (plus the pair's place in the paced subscriptions): enough for the connection, the market
# list and the snapshot on the live exchange, short next to the minute a REST start-up of 50 pairs took.
ORDER_BOOK_WS_SNAPSHOT_WAIT = 5.0
# A subscription the exchange rejects is sent again after 1, 2, 4, 8 s: 5 attempts in all.
WS_RETRY_DELAY = 1.0
WS_MAX_ATTEMPTS = 5
# Keys remembered by the streams' bounded memories (symbols and methods logged once, trade ids reported).
WS_RECENT_KEYS_CAPACITY = 1000
