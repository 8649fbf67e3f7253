"""
The NonKYC candles feed's own constants. The API facts it shares with the connector (REST and WebSocket names, the
rate-limit pools) come from the connector's `nonkyc_constants`, so that both count against the same request budget.
"""
from bidict import bidict

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as EXCHANGE

# The name of the feed in Hummingbot's CandlesFactory (`CandlesConfig(connector="nonkyc", ...)`).
CONNECTOR_NAME = EXCHANGE.EXCHANGE_NAME

CANDLES_ENDPOINT = EXCHANGE.CANDLES_PATH_URL
HEALTH_CHECK_ENDPOINT = EXCHANGE.SERVER_TIME_PATH_URL

# Hummingbot interval -> NonKYC resolution (minutes). NonKYC also serves 180 minutes, for which Hummingbot has no
# interval name (its "3m" is 3 minutes, and CandlesBase knows no "3h"), so it is not offered.
INTERVALS = bidict({
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "4h": 240,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
})

# `countBack` of one REST request; a longer history is fetched in pages, backwards.
MAX_RESULTS_PER_CANDLESTICK_REST_REQUEST = 500
# `limit` of the WebSocket subscription (the candles of its snapshot): the history itself comes from REST.
WS_SNAPSHOT_LIMIT = 100

# How often REST refreshes the latest candles: every few seconds while the live stream is unavailable, and once a
# minute as a check while it runs (a live stream sends nothing while a market does not trade).
REST_POLL_INTERVAL = 10.0
REST_CHECK_INTERVAL = 60.0
# Waking up this long after a candle's start, when nothing else happened, opens the new (flat) candle.
NEW_CANDLE_DELAY = 0.5

# Every request of the feed counts against the connector's pools, whether it has its own throttler (standalone) or
# shares the connector's (attach_connector).
RATE_LIMITS = EXCHANGE.RATE_LIMITS
