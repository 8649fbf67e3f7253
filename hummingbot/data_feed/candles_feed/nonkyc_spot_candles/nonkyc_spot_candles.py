import asyncio
import logging
import math
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as EXCHANGE, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import NonkycStreamCore, RpcRequest, describe
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import timestamp_seconds
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.utils.async_utils import safe_ensure_future
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import constants as CONSTANTS
from hummingbot.logger import HummingbotLogger

# A candle as CandlesBase keeps it: timestamp (s), open, high, low, close, volume, quote_asset_volume, n_trades,
# taker_buy_base_volume, taker_buy_quote_volume.
Row = List[float]

# Where NonKYC candles carry each value, in order of preference: public sources show `low`/`high` and `min`/`max`,
# `time`, `timestamp` (seconds, milliseconds or ISO) and `datetime` (ISO).
TIME_KEYS = ("time", "timestamp", "datetime")
HIGH_KEYS = ("high", "max")
LOW_KEYS = ("low", "min")
QUOTE_VOLUME_KEYS = ("volumeQuote", "quoteVolume")
# HitBTC-style period names (`M5`, `H4`, `D1`), in case NonKYC echoes them instead of minutes.
PERIOD_UNIT_MINUTES = {"M": 1, "H": 60, "D": 1440}


def unsupported_interval_message(interval: Any) -> str:
    return (f"NonKYC candles do not support the interval {interval!r}. Supported intervals: "
            f"{', '.join(CONSTANTS.INTERVALS)}.")


def candle_time_seconds(value: Any) -> float:
    """A candle time in seconds: seconds or milliseconds (a number or a numeric string), or an ISO-8601 string."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"no candle time ({value!r})")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            seconds = timestamp_seconds(value)
            if seconds is None:
                raise ValueError(f"unreadable candle time {value!r}")
            return seconds
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"unreadable candle time {value!r}")
    return float(CandlesBase.ensure_timestamp_in_seconds(number))


def _first_value(entry: Dict[str, Any], keys: Tuple[str, ...]) -> Any:
    return next((entry[key] for key in keys if entry.get(key) is not None), None)


def _amount(entry: Dict[str, Any], keys: Tuple[str, ...], default: Optional[float] = None) -> float:
    value = _first_value(entry, keys)
    if value is None and default is not None:
        return default
    if value is None or isinstance(value, bool):
        raise ValueError(f"no {'/'.join(keys)}")
    number = Decimal(str(value))
    if not number.is_finite() or number < 0:
        raise ValueError(f"{keys[0]} is {value!r}")
    return float(number)


def candle_row(entry: Any) -> Row:
    """A NonKYC candle (REST bar or WebSocket candle, any of their variants) as a CandlesBase row."""
    if not isinstance(entry, dict):
        raise ValueError("a candle must be a JSON object")
    return [candle_time_seconds(_first_value(entry, TIME_KEYS)),
            _amount(entry, ("open",)),
            _amount(entry, HIGH_KEYS),
            _amount(entry, LOW_KEYS),
            _amount(entry, ("close",)),
            _amount(entry, ("volume",)),
            _amount(entry, QUOTE_VOLUME_KEYS, default=0.0),
            0.0, 0.0, 0.0]


def candle_entries(params: Any) -> List[Any]:
    """The candles of a notification's params: `{data: [candles]}`, `{data: candle}`, a candle itself, or a list."""
    if isinstance(params, list):
        return params
    if isinstance(params, dict):
        data = params.get("data", params)
        return data if isinstance(data, list) else [data]
    raise ValueError("no candles in the message")


def resolution_minutes(period: Any) -> Optional[int]:
    """A period as minutes (`5`, `"5"`, `"M5"`, `"H4"`, `"D1"`); None when it cannot be read."""
    text = str(period).strip().upper()
    if text.isdigit():
        return int(text)
    if len(text) > 1 and text[0] in PERIOD_UNIT_MINUTES and text[1:].isdigit():
        return PERIOD_UNIT_MINUTES[text[0]] * int(text[1:])
    return None


class NonkycSpotCandles(CandlesBase):
    """
    NonKYC spot candles (`CandlesConfig(connector="nonkyc", ...)`).

    - History from REST `GET /market/candles`, paged backwards until `max_records` candles are known (or NonKYC has
      no older ones: the missing oldest candles are then flat at the first known price, with no volume, so that the
      feed gets ready on a young market).
    - Live candles from the WebSocket (`subscribeCandles`) on the connector's stream core (`NonkycStreamCore`:
      back-off, ping, reply matching). Every known notification shape is read; an unreadable candle is logged and
      skipped.
    - REST keeps the candles current while the live stream is unavailable (polled every `rest_poll_interval` s), and
      checks them every `rest_check_interval` s while it runs.
    - NonKYC sends no candle for an interval without trades: such gaps, and the current interval until its first
      trade, are flat candles at the previous close with no volume. The candles stay equidistant, as CandlesBase needs.
    """

    _logger: Optional[HummingbotLogger] = None

    @classmethod
    def logger(cls) -> HummingbotLogger:
        if cls._logger is None:
            cls._logger = logging.getLogger(__name__)
        return cls._logger

    def __init__(self, trading_pair: str, interval: str = "5m", max_records: int = 150):
        if interval not in CONSTANTS.INTERVALS:
            raise ValueError(unsupported_interval_message(interval))
        super().__init__(trading_pair, interval, max_records)
        self._stream_core = NonkycStreamCore(f"NonKYC candles stream ({trading_pair} {interval})", self.logger,
                                             lambda delay: self._sleep(delay))
        # Instance attributes rather than constants so that tests can shorten them.
        self.rest_poll_interval: float = CONSTANTS.REST_POLL_INTERVAL
        self.rest_check_interval: float = CONSTANTS.REST_CHECK_INTERVAL
        self._exchange_candles: Dict[int, Row] = {}  # candle start -> the candle as NonKYC sent it (no flat ones)
        self._history_complete = False  # NonKYC has no candle older than the oldest known one
        self._padding_logged = False
        self._live = False
        self._rest_failing = False
        self._rest_wakeup = asyncio.Event()
        self.rest_requests = 0
        self.ws_candles = 0  # candles received on the WebSocket

    # === Names and URLs ===

    @property
    def name(self) -> str:
        return f"{CONSTANTS.CONNECTOR_NAME}_{self._trading_pair}"

    @property
    def rest_url(self) -> str:
        return web_utils.rest_base_url()

    @property
    def wss_url(self) -> str:
        return web_utils.wss_url()

    @property
    def health_check_url(self) -> str:
        return web_utils.public_rest_url(CONSTANTS.HEALTH_CHECK_ENDPOINT)

    @property
    def candles_url(self) -> str:
        return web_utils.public_rest_url(CONSTANTS.CANDLES_ENDPOINT)

    @property
    def candles_endpoint(self) -> str:
        return CONSTANTS.CANDLES_ENDPOINT

    @property
    def candles_max_result_per_rest_request(self) -> int:
        return CONSTANTS.MAX_RESULTS_PER_CANDLESTICK_REST_REQUEST

    @property
    def rate_limits(self):
        return CONSTANTS.RATE_LIMITS

    @property
    def intervals(self):
        return CONSTANTS.INTERVALS

    @property
    def resolution(self) -> int:
        """The interval in NonKYC's unit: minutes."""
        return CONSTANTS.INTERVALS[self.interval]

    @property
    def live(self) -> bool:
        """True while the WebSocket subscription runs; otherwise REST keeps the candles current."""
        return self._live

    @property
    def connection_count(self) -> int:
        return self._stream_core.connection_count

    def get_exchange_trading_pair(self, trading_pair: str) -> str:
        """`BTC-USDT` -> `BTC/USDT`. With a connector attached, its symbol map is used instead."""
        return trading_pair.replace("-", "/", 1)

    async def check_network(self) -> NetworkStatus:
        await self._api_get(CONSTANTS.HEALTH_CHECK_ENDPOINT)
        return NetworkStatus.CONNECTED

    # === Start and stop ===

    async def stop_network(self):
        tasks = [task for task in (self._listen_candles_task, self._fill_candles_task) if task is not None]
        await super().stop_network()
        # Their clean-up (the WebSocket closed) is over before a restart can open a new one.
        await asyncio.gather(*tasks, return_exceptions=True)
        self._live = False

    async def listen_for_subscriptions(self):
        """The WebSocket stream, reconnected with the stream core's back-off; REST runs beside it
        (_keep_current_from_rest)."""
        self._stream_core.backoff.restart()
        if self._fill_candles_task is None or self._fill_candles_task.done():
            self._fill_candles_task = safe_ensure_future(self._keep_current_from_rest())
        while True:
            try:
                websocket = await self._stream_core.connect(self._api_factory)
                await self._subscribe(websocket)
                async for message in self._stream_core.messages(websocket):
                    self._process_message(message)
            except asyncio.CancelledError:
                raise
            except (ConnectionError, OSError, asyncio.TimeoutError) as error:
                self.logger().warning(f"The NonKYC candles stream of {self._trading_pair} was interrupted ({error}); "
                                      f"reconnecting. REST keeps the candles current meanwhile.")
            except Exception:
                self.logger().exception(f"Unexpected error on the NonKYC candles stream of {self._trading_pair}; "
                                        f"reconnecting. REST keeps the candles current meanwhile.")
            finally:
                await self._on_stream_interruption()

    async def _on_stream_interruption(self):
        self._live = False
        self._rest_wakeup.set()  # REST takes over at once
        await self._stream_core.close()

    # === WebSocket ===

    def ws_subscription_payload(self) -> Dict[str, Any]:
        return {"method": EXCHANGE.WS_METHOD_SUBSCRIBE_CANDLES,
                "params": {"symbol": self._ex_trading_pair,
                           "period": self.resolution,
                           "limit": min(self.max_records, CONSTANTS.WS_SNAPSHOT_LIMIT)}}

    async def _subscribe(self, websocket: WSAssistant, attempt: int = 1):
        payload = self.ws_subscription_payload()
        await self._stream_core.send(websocket, payload["method"], payload["params"], context=attempt)

    async def _resubscribe(self, attempt: int):
        if self._stream_core.websocket is not None:
            await self._subscribe(self._stream_core.websocket, attempt)

    def _process_message(self, message: Any):
        """Routes one message of the stream. Never raises: whatever cannot be used is logged and skipped."""
        try:
            method = message.get("method") if isinstance(message, dict) else None
            if isinstance(method, str) and "candle" in method.lower():
                self._process_candles_notification(method, message)
            elif isinstance(message, dict) and ("result" in message or "error" in message):
                self._process_reply(message)
            else:
                self._stream_core.log_unusable_message(message)
        except Exception:
            self.logger().exception(f"Unexpected error handling the NonKYC candles message {describe(message)}; "
                                    f"skipped.")

    def _process_candles_notification(self, method: str, message: Dict[str, Any]):
        params = message.get("params")
        if isinstance(params, dict) and not self._is_own_channel(method, params):
            return
        try:
            entries = candle_entries(params)
        except ValueError as error:
            self.logger().warning(f"Skipped a NonKYC {method} message without candles ({error}): {describe(message)}")
            return
        self._merge_candle_entries(entries, f"{method} message")

    def _is_own_channel(self, method: str, params: Dict[str, Any]) -> bool:
        symbol = params.get("symbol")
        if symbol is not None and str(symbol).replace("_", "/").upper() != self._ex_trading_pair.upper():
            self._stream_core.log_unknown_symbol(str(symbol), method)
            return False
        period = params.get("period")
        if period is not None and resolution_minutes(period) not in (None, self.resolution):
            self.logger().debug(f"Ignored a NonKYC {method} message of period {period!r}: the feed follows "
                                f"{self.resolution} minutes.")
            return False
        return True

    def _merge_candle_entries(self, entries: Iterable[Any], source: str):
        rows = self._readable_candle_rows(entries, f"a NonKYC {source}")
        self.ws_candles += len(rows)
        self._merge_exchange_candles(rows)

    def _readable_candle_rows(self, entries: Iterable[Any], source: str) -> List[Row]:
        """The candles of `entries` as rows; an unreadable one is logged (naming `source`) and skipped."""
        rows = []
        for entry in entries:
            try:
                rows.append(candle_row(entry))
            except (ValueError, TypeError, ArithmeticError) as error:
                self.logger().warning(f"Skipped an unreadable candle of {source} for {self._trading_pair} "
                                      f"({error}): {describe(entry)}")
        return rows

    def _process_reply(self, message: Dict[str, Any]):
        request = self._stream_core.take_reply(message)
        if request is None:
            self._stream_core.log_unmatched_reply(message)
            return
        reply = request.reply.result()
        if reply.succeeded:
            self._on_subscribed(request, reply.result)
            return
        self.logger().warning(f"NonKYC rejected {request.method} for {self._trading_pair} {self.interval} "
                              f"(attempt {request.context}): {reply.describe()}. REST keeps the candles current "
                              f"(every {self.rest_poll_interval:g} s).")
        self._live = False
        self._rest_wakeup.set()
        attempt = request.context
        if attempt >= self._stream_core.max_attempts:  # not an error: REST keeps the candles current
            self.logger().warning(f"NonKYC keeps refusing the live candles of {self._trading_pair} ({attempt} "
                                  f"attempts); they follow REST until the next reconnection.")
            return
        self._stream_core.retry_later(f"{request.method} for {self._trading_pair}", attempt,
                                      lambda: self._resubscribe(attempt + 1))

    def _on_subscribed(self, request: RpcRequest, result: Any):
        self._live = True
        self._stream_core.backoff.session_established()
        self.logger().info(f"Following the NonKYC {self._trading_pair} {self.interval} candles live (WebSocket).")
        if isinstance(result, list) or (isinstance(result, dict) and "data" in result):  # the candles themselves
            self._merge_candle_entries(candle_entries(result), f"{request.method} reply")

    # === REST ===

    async def _keep_current_from_rest(self):
        """Fills the history, then keeps the latest candles current: often while the live stream is unavailable."""
        while True:
            try:
                await self._sync_from_rest()
                if self._rest_failing:
                    self.logger().info(f"The NonKYC {self._trading_pair} {self.interval} candles are updated from "
                                       f"REST again.")
                self._rest_failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:
                level = logging.DEBUG if self._rest_failing else logging.WARNING
                self.logger().log(level, f"Could not update the NonKYC {self._trading_pair} {self.interval} candles "
                                         f"from REST ({error!r}); retrying in {self._rest_period():g} s.")
                self._rest_failing = True
            await self._wait_for_next_rest_sync()

    def _rest_period(self) -> float:
        return self.rest_check_interval if self._live else self.rest_poll_interval

    async def _wait_for_next_rest_sync(self):
        """
        Waits for the next REST update: its period, or less when the live stream stops. Meanwhile, when a new candle
        starts and nothing came for it, it is opened flat.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._rest_period()
        while loop.time() < deadline:
            next_candle_in = self.interval_in_seconds - self._time() % self.interval_in_seconds
            timeout = min(deadline - loop.time(), next_candle_in + CONSTANTS.NEW_CANDLE_DELAY)
            try:
                await asyncio.wait_for(self._rest_wakeup.wait(), max(timeout, 0))
                self._rest_wakeup.clear()
                return
            except asyncio.TimeoutError:
                self._rebuild_candles()

    async def fill_historical_candles(self):
        await self._sync_from_rest()

    async def _sync_from_rest(self):
        await self.initialize_exchange_data()
        meta = await self._fetch_latest_candles()
        await self._fetch_missing_history(meta)

    async def _fetch_latest_candles(self) -> Dict[str, Any]:
        """The candles since the newest known one (a full page when none is known); the answer's `meta`."""
        step = self.interval_in_seconds
        current = self._candle_start(self._time())
        count = self.candles_max_result_per_rest_request
        if self._exchange_candles:
            missing = (current - max(self._exchange_candles)) // step + 1
            if missing > count:  # too long since the last update: start again from the latest candles
                self._exchange_candles.clear()
                self._history_complete = False
            else:
                count = max(missing, 1)
        rows, meta = await self._request_candles(current - step * (count - 1), current + step, count)
        self._merge_exchange_candles(rows)
        return meta

    async def _fetch_missing_history(self, latest_meta: Dict[str, Any]):
        """
        Pages backwards until the oldest wanted candle, or one before it, is known, or NonKYC has no older candle.
        An empty page whose `meta` names a `nextTime` (the latest earlier candle) continues from there.
        """
        step = self.interval_in_seconds
        page = self.candles_max_result_per_rest_request
        meta = latest_meta
        if not self._exchange_candles:
            self._history_complete = False  # nothing known yet: look again, a market may have traded meanwhile
        while not self._history_complete:
            older: List[Row] = []
            if self._exchange_candles:
                oldest_known = min(self._exchange_candles)
                if oldest_known <= self._oldest_wanted_start():
                    return
                rows, meta = await self._request_candles(oldest_known - step * page, oldest_known, page)
                older = self._older_than_known(rows)
            next_time = meta.get("nextTime")
            if not older and next_time is not None:
                latest_earlier = self._candle_start(candle_time_seconds(next_time))  # one page that ends with it
                rows, meta = await self._request_candles(latest_earlier - step * (page - 1), latest_earlier + step,
                                                         page)
                older = self._older_than_known(rows)
            if not older:
                self._history_complete = True
            self._merge_exchange_candles(older)

    def _older_than_known(self, rows: List[Row]) -> List[Row]:
        if not self._exchange_candles:
            return rows
        oldest_known = min(self._exchange_candles)
        return [row for row in rows if row[0] < oldest_known]

    async def fetch_candles(self,
                            start_time: Optional[int] = None,
                            end_time: Optional[int] = None,
                            limit: Optional[int] = None) -> np.ndarray:
        """The candles of `start_time`..`end_time` (candle starts in seconds), one request, as CandlesBase's rows."""
        if start_time is None and end_time is None:
            raise ValueError("Either the start time or end time must be specified.")
        await self.initialize_exchange_data()
        step = self.interval_in_seconds
        count = min(self.candles_max_result_per_rest_request, max(limit or self.candles_max_result_per_rest_request, 1))
        if start_time is not None and end_time is not None:
            count = min(self.candles_max_result_per_rest_request, int(end_time - start_time) // step + 1)
        start_time = end_time - step * count if start_time is None else start_time
        end_time = start_time + step * count if end_time is None else end_time
        rows, _ = await self._request_candles(start_time, end_time + step, max(count, 1))
        return np.array(rows, dtype=float).reshape(-1, len(self.columns))

    async def _request_candles(self, start: float, end: float, count: int) -> Tuple[List[Row], Dict[str, Any]]:
        """One `/market/candles` request: the candles starting in [start, end), and the answer's `meta`."""
        answer = await self._api_get(CONSTANTS.CANDLES_ENDPOINT, self._get_rest_candles_params(start, end, count))
        meta = answer.get("meta") if isinstance(answer, dict) else None
        return self._parse_rest_candles(answer), meta if isinstance(meta, dict) else {}

    def _get_rest_candles_params(self, start_time: Optional[int] = None, end_time: Optional[int] = None,
                                 limit: Optional[int] = None) -> Dict[str, Any]:
        """NonKYC's `from` / `to` are seconds, `to` excluded; `countBack` (required) is the number of candles."""
        count = limit or max(int((end_time - start_time) // self.interval_in_seconds), 1)
        return {"symbol": self._ex_trading_pair, "resolution": self.resolution,
                "from": int(start_time), "to": int(end_time), "countBack": int(count)}

    def _parse_rest_candles(self, data: Any, end_time: Optional[int] = None) -> List[Row]:
        """The bars of an answer (`{"bars": [...], "meta": {...}}`), oldest first; unreadable bars are skipped."""
        bars = data.get("bars") if isinstance(data, dict) else data
        if bars is None and isinstance(data, dict):
            bars = []
        if not isinstance(bars, list):
            raise ValueError(f"unexpected /market/candles answer: {describe(data)}")
        rows = {}
        for row in self._readable_candle_rows(bars, "the NonKYC /market/candles answer"):
            row[0] = float(self._candle_start(row[0]))
            rows[row[0]] = row
        return [rows[start] for start in sorted(rows)]

    async def _api_get(self, path_url: str, params: Optional[Dict[str, Any]] = None) -> Any:
        self.rest_requests += 1
        return await web_utils.api_answer(await self._api_factory.get_rest_assistant(),
                                          url=web_utils.public_rest_url(path_url), path=path_url, params=params)

    # === The candles ===

    def _candle_start(self, timestamp: float) -> int:
        return int(timestamp - timestamp % self.interval_in_seconds)

    def _oldest_wanted_start(self) -> int:
        newest = max(max(self._exchange_candles, default=0), self._candle_start(self._time()))
        return newest - self.interval_in_seconds * (self.max_records - 1)

    def _merge_exchange_candles(self, rows: Iterable[Row]):
        for row in rows:
            start = self._candle_start(row[0])
            row[0] = float(start)
            known = self._exchange_candles.get(start)
            # A candle's volume only grows: an older copy of it (a REST answer sent before a live update) never
            # replaces a newer one.
            if known is None or row[5] >= known[5]:
                self._exchange_candles[start] = row
        self._rebuild_candles()

    def _rebuild_candles(self):
        """
        The `max_records` latest intervals, up to the current one: NonKYC's candles, and flat ones (the previous
        close, no volume) where NonKYC has none. Before the oldest known candle, flat candles at its open only when
        NonKYC has no older ones.
        """
        if not self._exchange_candles:
            return
        step = self.interval_in_seconds
        oldest_wanted = self._oldest_wanted_start()
        newest = oldest_wanted + step * (self.max_records - 1)
        before = [start for start in self._exchange_candles if start < oldest_wanted]
        anchor = max(before, default=None)
        for start in before:
            if start != anchor:
                del self._exchange_candles[start]
        previous_close = self._exchange_candles[anchor][4] if anchor is not None else None
        if previous_close is None and self._history_complete:
            previous_close = self._exchange_candles[min(self._exchange_candles)][1]
            self._log_padding(min(self._exchange_candles))
        rows = []
        for start in range(oldest_wanted, newest + 1, step):
            row = self._exchange_candles.get(start)
            if row is None and previous_close is not None:
                row = [float(start), previous_close, previous_close, previous_close, previous_close,
                       0.0, 0.0, 0.0, 0.0, 0.0]
            if row is not None:
                rows.append(row)
                previous_close = row[4]
        self._candles.clear()
        self._candles.extend(rows)

    def _log_padding(self, first_start: int):
        if not self._padding_logged and first_start > self._oldest_wanted_start():
            self._padding_logged = True
            self.logger().info(f"NonKYC has no {self._trading_pair} {self.interval} candle before {first_start}: "
                               f"the older ones of the {self.max_records} are flat at its open price, with no volume.")
