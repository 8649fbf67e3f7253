import asyncio
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from hummingbot.connector.exchange.nonkyc import nonkyc_constants as EXCHANGE, nonkyc_web_utils as web_utils
from hummingbot.connector.exchange.nonkyc.nonkyc_stream_core import NonkycStreamCore, RpcRequest
from hummingbot.connector.exchange.nonkyc.nonkyc_utils import describe
from hummingbot.core.network_iterator import NetworkStatus
from hummingbot.core.utils.async_utils import safe_ensure_future
from hummingbot.core.web_assistant.ws_assistant import WSAssistant
from hummingbot.data_feed.candles_feed.candles_base import CandlesBase
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles import constants as CONSTANTS
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.candle_series import CandleSeries, Row
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.candle_shapes import (
    notification_candles,
    rest_bar_row,
    rest_bars,
    rest_next_time,
    ws_candle_row,
)
from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.rest_refresher import RestRefresher
from hummingbot.logger import HummingbotLogger

CANDLE_EVENTS = (EXCHANGE.WS_EVENT_CANDLES_SNAPSHOT, EXCHANGE.WS_EVENT_CANDLES_UPDATE)


class NonkycSpotCandles(CandlesBase):
    """
    NonKYC spot candles (`CandlesConfig(connector="nonkyc", ...)`): the history from REST `GET /market/candles`
    (`candle_series` pages it and fills the intervals without trades), live candles from the WebSocket
    (`subscribeCandles`) on the connector's stream core (`NonkycStreamCore`: back-off, ping, reply matching), and REST
    beside it (`rest_refresher`). An unreadable candle or message is logged and skipped.
    """

    _logger: Optional[HummingbotLogger] = None

    @classmethod
    def logger(cls) -> HummingbotLogger:
        if cls._logger is None:
            cls._logger = logging.getLogger(__name__)
        return cls._logger

    def __init__(self, trading_pair: str, interval: str = "5m", max_records: int = 150):
        if interval not in CONSTANTS.INTERVALS:
            raise ValueError(f"NonKYC candles do not support the interval {interval!r}. Supported intervals: "
                             f"{', '.join(CONSTANTS.INTERVALS)}.")
        super().__init__(trading_pair, interval, max_records)
        self._stream_core = NonkycStreamCore(f"NonKYC candles stream ({trading_pair} {interval})", self.logger,
                                             lambda delay: self._sleep(delay))
        # Instance attributes rather than constants so that tests can shorten them.
        self.rest_poll_interval: float = CONSTANTS.REST_POLL_INTERVAL
        self.rest_check_interval: float = CONSTANTS.REST_CHECK_INTERVAL
        self._rest = RestRefresher(self, f"{trading_pair} {interval}")
        self._series = CandleSeries(self.interval_in_seconds, max_records)
        self._padding_logged = False
        self._live = False
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
        """The WebSocket stream, reconnected with the core's back-off; REST runs beside it (RestRefresher)."""
        self._stream_core.backoff.restart()
        if self._fill_candles_task is None or self._fill_candles_task.done():
            self._fill_candles_task = safe_ensure_future(self._rest.run())
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
                self._live = False
                self._rest.wake_up()
                await self._stream_core.close()

    # === WebSocket ===

    def ws_subscription_payload(self) -> Dict[str, Any]:
        return {"method": EXCHANGE.WS_METHOD_SUBSCRIBE_CANDLES,
                "params": {"symbol": self._ex_trading_pair,
                           "period": self.resolution,
                           "limit": min(self.max_records, CONSTANTS.WS_SNAPSHOT_LIMIT)}}

    async def _subscribe(self, websocket: Optional[WSAssistant], attempt: int = 1):
        if websocket is not None:  # None: the connection closed before a retry
            payload = self.ws_subscription_payload()
            await self._stream_core.send(websocket, payload["method"], payload["params"], context=attempt)

    def _process_message(self, message: Any):
        """Routes one message of the stream through the stream core. Never raises."""
        self._stream_core.route(message, on_event=self._process_candles_event, on_reply=self._process_reply)

    def _process_candles_event(self, message: Dict[str, Any]) -> bool:
        method = message.get("method")
        if method not in CANDLE_EVENTS:
            return False
        self._process_candles_notification(method, message)
        return True

    def _process_candles_notification(self, method: str, message: Dict[str, Any]):
        params = message.get("params")
        if isinstance(params, dict) and not self._is_own_channel(method, params):
            return
        candles = notification_candles(params)
        if candles is None:
            self.logger().warning(f"Skipped a NonKYC {method} message without candles (no `data` list): "
                                  f"{describe(message)}")
            return
        rows = self._readable_rows(candles, ws_candle_row, f"a NonKYC {method} message")
        self.ws_candles += len(rows)
        self._merge(rows)

    def _is_own_channel(self, method: str, params: Dict[str, Any]) -> bool:
        symbol = params.get("symbol")
        if symbol is not None and symbol != self._ex_trading_pair:
            self._stream_core.log_unknown_symbol(str(symbol), method)
            return False
        period = str(params.get("period", self.resolution)).strip()
        if period.isdigit() and int(period) != self.resolution:  # minutes, as subscribed
            self.logger().debug(f"Ignored a NonKYC {method} message of period {period!r}: the feed follows "
                                f"{self.resolution} minutes.")
            return False
        return True

    def _process_reply(self, request: RpcRequest):
        reply = request.reply.result()
        if reply.succeeded:
            self._live = True
            self._stream_core.backoff.session_established()
            self.logger().info(f"Following the NonKYC {self._trading_pair} {self.interval} candles live (WebSocket).")
            return
        self.logger().warning(f"NonKYC rejected {request.method} for {self._trading_pair} {self.interval} "
                              f"(attempt {request.context}): {reply.describe()}. REST keeps the candles current "
                              f"(every {self.rest_poll_interval:g} s).")
        self._live = False
        self._rest.wake_up()
        attempt = request.context
        if attempt >= self._stream_core.max_attempts:  # not an error: REST keeps the candles current
            self.logger().warning(f"NonKYC keeps refusing the live candles of {self._trading_pair} ({attempt} "
                                  f"attempts); they follow REST until the next reconnection.")
            return
        self._stream_core.retry_later(f"{request.method} for {self._trading_pair}", attempt,
                                      lambda: self._subscribe(self._stream_core.websocket, attempt + 1))

    # === REST ===

    async def fill_historical_candles(self):
        await self._sync_from_rest()

    async def _sync_from_rest(self):
        await self.initialize_exchange_data()
        try:
            await self._series.fetch(self._request_candles, self._current_start(),
                                     self.candles_max_result_per_rest_request)
        finally:
            self._rebuild_candles()

    async def fetch_candles(self,
                            start_time: Optional[int] = None,
                            end_time: Optional[int] = None,
                            limit: Optional[int] = None) -> np.ndarray:
        """The candles of `start_time`..`end_time` (candle starts in seconds), one request, as CandlesBase's rows."""
        if start_time is None and end_time is None:
            raise ValueError("Either the start time or end time must be specified.")
        await self.initialize_exchange_data()
        step, most = self.interval_in_seconds, self.candles_max_result_per_rest_request
        count = min(most, max(limit or most, 1))
        if start_time is not None and end_time is not None:
            count = min(most, int(end_time - start_time) // step + 1)
        start_time = end_time - step * count if start_time is None else start_time
        end_time = start_time + step * count if end_time is None else end_time
        rows, _ = await self._request_candles(int(start_time), int(end_time + step), max(count, 1))
        return np.array(rows, dtype=float).reshape(-1, len(self.columns))

    async def _request_candles(self, start: int, end: int, count: int) -> Tuple[List[Row], Optional[int]]:
        """One `/market/candles` request: the candles starting in [start, end), and the start of `meta.nextTime`."""
        answer = await self._api_get(CONSTANTS.CANDLES_ENDPOINT, self._get_rest_candles_params(start, end, count))
        next_time = rest_next_time(answer)
        next_start = None if next_time is None else self._round_timestamp_to_interval_multiple(next_time)
        return self._parse_rest_candles(answer), next_start

    def _get_rest_candles_params(self, start_time: Optional[int] = None, end_time: Optional[int] = None,
                                 limit: Optional[int] = None) -> Dict[str, Any]:
        """NonKYC's `from` / `to` are seconds, `to` excluded; `countBack` (required) is the number of candles."""
        count = limit or max(int((end_time - start_time) // self.interval_in_seconds), 1)
        return {"symbol": self._ex_trading_pair, "resolution": self.resolution,
                "from": int(start_time), "to": int(end_time), "countBack": int(count)}

    def _parse_rest_candles(self, data: Any, end_time: Optional[int] = None) -> List[Row]:
        """The bars of an answer (`{"bars": [...], "meta": {...}}`), oldest first; unreadable bars are skipped."""
        bars = rest_bars(data)
        rows = {row[0]: row for row in self._readable_rows(bars, rest_bar_row, "the NonKYC /market/candles answer")}
        return [rows[start] for start in sorted(rows)]

    async def _api_get(self, path_url: str, params: Optional[Dict[str, Any]] = None) -> Any:
        self.rest_requests += 1
        return await web_utils.api_answer(await self._api_factory.get_rest_assistant(),
                                          url=web_utils.public_rest_url(path_url), path=path_url, params=params)

    # === The candles ===

    def _readable_rows(self, entries: Iterable[Any], read: Callable[[Any], Row], source: str) -> List[Row]:
        """The candles of `entries` as rows, starts rounded to the interval; an unreadable one is logged and skipped."""
        rows = []
        for entry in entries:
            try:
                row = read(entry)
            except (ValueError, TypeError, ArithmeticError) as error:
                self.logger().warning(f"Skipped an unreadable candle of {source} for {self._trading_pair} "
                                      f"({error}): {describe(entry)}")
                continue
            row[0] = float(self._round_timestamp_to_interval_multiple(row[0]))
            rows.append(row)
        return rows

    def _current_start(self) -> int:
        return self._round_timestamp_to_interval_multiple(self._time())

    def _merge(self, rows: List[Row]):
        self._series.merge(rows)
        self._rebuild_candles()

    def _rebuild_candles(self):
        rows = self._series.rows(self._current_start())
        if rows:
            self._candles.clear()
            self._candles.extend(rows)
        first = self._series.padded_before
        if first is not None and not self._padding_logged:
            self._padding_logged = True
            self.logger().info(f"NonKYC has no {self._trading_pair} {self.interval} candle before {first}: "
                               f"the older ones of the {self.max_records} are flat at its open price, with no volume.")
