"""
Fault injection, switchable while the sandbox runs (in-process through `sandbox.faults`, or over HTTP through
`POST /_sandbox/faults`). Every fault is counted: it fires on the next N matching occasions and then disarms itself.
"""
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

REST_BASE_PATH = "/api/v2"

CLOUDFLARE_TITLES = {
    502: "Bad gateway", 503: "Service temporarily unavailable", 520: "Web server is returning an unknown error",
    521: "Web server is down", 522: "Connection timed out", 523: "Origin is unreachable", 524: "A timeout occurred",
}
SERVER_ERROR_MESSAGES = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


def cloudflare_page(status: int) -> str:
    """The HTML error page Cloudflare answers in front of api.nonkyc.io (520-524 when the origin fails)."""
    title = CLOUDFLARE_TITLES.get(status, "Error")
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head><title>api.nonkyc.io | {status}: {title}</title></head>
<body>
<div id="cf-error-details">
<h1>{title}</h1>
<p>Error code {status}</p>
<p>Cloudflare Ray ID: 8f3a1c2b4d5e6f70 &bull; Performance &amp; security by Cloudflare</p>
</div>
</body>
</html>
"""


CLOUDFLARE_503_BODY = cloudflare_page(503)


def relative_api_path(path: str) -> str:
    """`/api/v2/createorder` → `/createorder` (paths given without the base are kept)."""
    if path.startswith(REST_BASE_PATH + "/"):
        return path[len(REST_BASE_PATH):]
    return path if path.startswith("/") else "/" + path


def path_matches(pattern: Optional[str], path: str) -> bool:
    """True when `pattern` (None = every path) is the request path or one of its parents (`/getorder` matches
    `/getorder/abc`)."""
    if pattern is None:
        return True
    pattern = relative_api_path(pattern).rstrip("/")
    path = relative_api_path(path)
    return path == pattern or path.startswith(pattern + "/")


def unchanged_symbol(symbol: str) -> str:
    return symbol


@dataclass
class RateLimitFault:
    remaining: int
    path: Optional[str]
    retry_after: Optional[float]


@dataclass
class RateLimitStretch:
    until: float  # time.monotonic() at which the stretch ends
    path: Optional[str]
    retry_after: Optional[float]


@dataclass
class ServerErrorFault:
    """Answers every `every`-th matching request (the others go through) with HTTP `status`, `remaining` times."""
    remaining: int
    path: Optional[str]
    status: int
    cloudflare: bool
    every: int = 1
    seen: int = 0


@dataclass
class ReportDropFault:
    remaining: int
    account: Optional[str]


@dataclass
class ErrorBodyFault:
    remaining: int
    path: str
    code: int
    message: str
    description: Optional[str]
    http_status: int

    def body(self) -> Dict[str, Any]:
        error: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.description is not None:
            error["description"] = self.description
        return {"error": error}


@dataclass
class CreateFault:
    kind: str  # "status" (answer with an HTTP error status after creating) or "hang" (answer late)
    status: int = 503
    delay: float = 0.0


@dataclass
class WsRejection:
    code: int
    message: str


class FaultInjector:
    """The switchboard of faults. Public methods are also reachable over HTTP by name (see `ACTIONS`)."""

    ACTIONS = (
        "skip_ws_sequence", "duplicate_ws_updates", "withhold_ws_snapshot", "refuse_ws_subscription",
        "drop_ws_connections", "fail_next_create", "hang_next_create",
        "rate_limit_next", "rate_limit_for", "error_body_next", "server_error_next", "cloudflare_error_next",
        "drop_private_reports", "reset", "reject_candle_subscriptions",
    )

    def __init__(self, drop_ws: Optional[Callable[[bool], int]] = None,
                 normalize_symbol: Callable[[str], str] = unchanged_symbol,
                 clock: Callable[[], float] = time.monotonic):
        """
        `drop_ws(abrupt)` closes every WebSocket connection and returns how many it closed (without it there is
        nothing to drop); `normalize_symbol` turns a symbol as given (`BTC_USDT`) into the one the server uses;
        `clock` times the faults that last a while.
        """
        self._drop_ws = drop_ws
        self._normalize_symbol = normalize_symbol
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Disarms every pending fault."""
        self.ws_sequence_skips: Dict[Optional[str], int] = {}
        self.ws_duplicates: Dict[Optional[str], int] = {}
        self.withheld_snapshots: Dict[Optional[str], int] = {}
        self.refused_subscriptions: Dict[Optional[str], int] = {}
        self.refusal_error = (503, "Service Unavailable")
        self.create_faults: List[CreateFault] = []
        self.rate_limits: List[RateLimitFault] = []
        self.rate_limit_stretches: List[RateLimitStretch] = []
        self.error_bodies: List[ErrorBodyFault] = []
        self.candle_subscription_rejections: List[WsRejection] = []
        self.server_errors: List[ServerErrorFault] = []
        self.report_drops: List[ReportDropFault] = []

    # ----- switches -----

    def skip_ws_sequence(self, count: int = 1, symbol: Optional[str] = None) -> None:
        """The next `updateOrderbook` of `symbol` (of any pair when None) jumps `count` sequence numbers."""
        symbol = self._normalize_symbol(symbol) if symbol else None
        self.ws_sequence_skips[symbol] = self.ws_sequence_skips.get(symbol, 0) + int(count)

    def duplicate_ws_updates(self, count: int = 1, symbol: Optional[str] = None) -> None:
        """The next `count` `updateOrderbook` messages (of `symbol`, or of any pair) are each sent twice."""
        symbol = self._normalize_symbol(symbol) if symbol else None
        self.ws_duplicates[symbol] = self.ws_duplicates.get(symbol, 0) + int(count)

    def withhold_ws_snapshot(self, count: int = 1, symbol: Optional[str] = None) -> None:
        """The next `count` `subscribeOrderbook` requests (of `symbol`, or of any pair) are acknowledged, but their
        `snapshotOrderbook` is never sent; the `updateOrderbook` messages follow as usual."""
        symbol = self._normalize_symbol(symbol) if symbol else None
        self.withheld_snapshots[symbol] = self.withheld_snapshots.get(symbol, 0) + int(count)

    def refuse_ws_subscription(self, count: int = 1, symbol: Optional[str] = None, code: int = 503,
                               message: str = "Service Unavailable") -> None:
        """The next `count` `subscribeOrderbook` requests (of `symbol`, or of any pair) are answered with an error
        and not subscribed."""
        symbol = self._normalize_symbol(symbol) if symbol else None
        self.refused_subscriptions[symbol] = self.refused_subscriptions.get(symbol, 0) + int(count)
        self.refusal_error = (int(code), message)

    def drop_ws_connections(self, abrupt: bool = False) -> int:
        """Closes every open WebSocket connection now (`abrupt`: drop the TCP connection without a close frame).
        Returns the number of connections dropped."""
        return self._drop_ws(bool(abrupt)) if self._drop_ws is not None else 0

    def fail_next_create(self, count: int = 1, status: int = 503) -> None:
        """The next `count` `/createorder` calls create the order and then answer HTTP `status` with a Cloudflare
        HTML page."""
        self.create_faults.extend(CreateFault(kind="status", status=int(status)) for _ in range(int(count)))

    def hang_next_create(self, delay: float = 30.0, count: int = 1) -> None:
        """The next `count` `/createorder` calls create the order and then wait `delay` seconds before answering
        (long enough for the client to time out)."""
        self.create_faults.extend(CreateFault(kind="hang", delay=float(delay)) for _ in range(int(count)))

    def rate_limit_next(self, count: int = 1, path: Optional[str] = None, retry_after: Optional[float] = 1) -> None:
        """The next `count` REST requests (of `path`, or any) answer HTTP 429, before doing anything."""
        self.rate_limits.append(RateLimitFault(remaining=int(count), path=path, retry_after=retry_after))

    def rate_limit_for(self, seconds: float, path: Optional[str] = None, retry_after: Optional[float] = 1) -> None:
        """Every REST request (of `path`, or any) answers HTTP 429 for the next `seconds`, before doing anything: a
        long stretch of rate limiting."""
        self.rate_limit_stretches.append(
            RateLimitStretch(until=self._clock() + float(seconds), path=path, retry_after=retry_after))

    def server_error_next(self, path: Optional[str] = None, count: int = 1, status: int = 500, every: int = 1) -> None:
        """The next `count` REST requests (of `path`, or any) answer HTTP `status` with a NonKYC error body of the
        same code (500, 503, 504), without doing anything. With `every=N` only every N-th matching request fails:
        the errors are spread out."""
        self._add_server_error(path, count, status, every, cloudflare=False)

    def cloudflare_error_next(self, path: Optional[str] = None, count: int = 1, status: int = 522,
                              every: int = 1) -> None:
        """Like `server_error_next`, with Cloudflare's HTML error page (522: Connection timed out by default)."""
        self._add_server_error(path, count, status, every, cloudflare=True)

    def _add_server_error(self, path: Optional[str], count: int, status: int, every: int, cloudflare: bool) -> None:
        if int(status) < 500 or int(every) < 1:
            raise ValueError("status must be a 5xx and every at least 1")
        self.server_errors.append(ServerErrorFault(remaining=int(count), path=path, status=int(status),
                                                   cloudflare=cloudflare, every=int(every)))

    def drop_private_reports(self, count: int = 1, account: Optional[str] = None) -> None:
        """The next `count` private `report` messages (to `account`'s connections, or to any) are not sent: the
        client only learns about those order changes through REST."""
        self.report_drops.append(ReportDropFault(remaining=int(count), account=account))

    def error_body_next(self, path: str, count: int = 1, code: int = 500, message: str = "Internal Server Error",
                        description: Optional[str] = None, http_status: int = 200) -> None:
        """The next `count` REST requests of `path` answer HTTP `http_status` (200 by default) with an error body,
        without doing anything."""
        self.error_bodies.append(ErrorBodyFault(remaining=int(count), path=path, code=int(code), message=message,
                                                description=description, http_status=int(http_status)))

    def reject_candle_subscriptions(self, count: int = 1, code: int = 503,
                                    message: str = "Service Unavailable") -> None:
        """The next `count` `subscribeCandles` requests are answered with the error `code` (the live candles channel
        is unavailable)."""
        self.candle_subscription_rejections.extend(WsRejection(int(code), message) for _ in range(int(count)))

    def state(self) -> Dict[str, Any]:
        return {
            "ws_sequence_skips": {str(key): value for key, value in self.ws_sequence_skips.items()},
            "ws_duplicates": {str(key): value for key, value in self.ws_duplicates.items()},
            "withheld_snapshots": {str(key): value for key, value in self.withheld_snapshots.items()},
            "refused_subscriptions": {str(key): value for key, value in self.refused_subscriptions.items()},
            "create_faults": [asdict(fault) for fault in self.create_faults],
            "rate_limits": [asdict(fault) for fault in self.rate_limits],
            "rate_limit_stretches": [{"seconds_left": round(max(fault.until - self._clock(), 0.0), 3),
                                      "path": fault.path, "retry_after": fault.retry_after}
                                     for fault in self._live_stretches()],
            "error_bodies": [asdict(fault) for fault in self.error_bodies],
            "candle_subscription_rejections": len(self.candle_subscription_rejections),
            "server_errors": [asdict(fault) for fault in self.server_errors],
            "report_drops": [asdict(fault) for fault in self.report_drops],
        }

    def apply(self, action: str, params: Dict[str, Any]) -> Any:
        """Runs a switch by name (the HTTP control endpoint)."""
        if action not in self.ACTIONS:
            raise ValueError(f"Unknown fault {action!r}; known: {', '.join(self.ACTIONS)}")
        return getattr(self, action)(**params)

    # ----- consumption by the server -----

    def take_ws_sequence_skip(self, symbol: str) -> int:
        for key in (symbol, None):
            count = self.ws_sequence_skips.pop(key, 0)
            if count:
                return count
        return 0

    def take_ws_duplicate(self, symbol: str) -> bool:
        return self._take_per_symbol(self.ws_duplicates, symbol)

    def take_withheld_snapshot(self, symbol: str) -> bool:
        return self._take_per_symbol(self.withheld_snapshots, symbol)

    def take_refused_subscription(self, symbol: str) -> Optional[Tuple[int, str]]:
        """The error code and message to refuse a subscription of `symbol` with, if a refusal is armed for it."""
        return self.refusal_error if self._take_per_symbol(self.refused_subscriptions, symbol) else None

    @staticmethod
    def _take_per_symbol(counts: Dict[Optional[str], int], symbol: str) -> bool:
        """Counts down the fault armed for `symbol`, else the one armed for every pair; False when none is armed."""
        for key in (symbol, None):
            remaining = counts.get(key, 0)
            if remaining > 0:
                if remaining == 1:
                    del counts[key]
                else:
                    counts[key] = remaining - 1
                return True
        return False

    def take_candle_subscription_rejection(self) -> Optional[WsRejection]:
        return self.candle_subscription_rejections.pop(0) if self.candle_subscription_rejections else None

    def take_create_fault(self) -> Optional[CreateFault]:
        return self.create_faults.pop(0) if self.create_faults else None

    def take_rate_limit(self, path: str) -> Optional[Any]:
        """The 429 fault that answers this request: a running stretch, else a counted one."""
        for stretch in self._live_stretches():
            if path_matches(stretch.path, path):
                return stretch
        return self._take_counted(self.rate_limits, path)

    def _live_stretches(self) -> List[RateLimitStretch]:
        now = self._clock()
        self.rate_limit_stretches = [stretch for stretch in self.rate_limit_stretches if stretch.until > now]
        return self.rate_limit_stretches

    def take_server_error(self, path: str) -> Optional[ServerErrorFault]:
        for fault in self.server_errors:
            if path_matches(fault.path, path):
                fault.seen += 1
                if fault.seen % fault.every:
                    return None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.server_errors.remove(fault)
                return fault
        return None

    def take_report_drop(self, account: str) -> bool:
        for fault in self.report_drops:
            if fault.account is None or fault.account == account:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.report_drops.remove(fault)
                return True
        return False

    def take_error_body(self, path: str) -> Optional[ErrorBodyFault]:
        return self._take_counted(self.error_bodies, path)

    @staticmethod
    def _take_counted(faults: List[Any], path: str) -> Optional[Any]:
        for fault in faults:
            if path_matches(fault.path, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None
