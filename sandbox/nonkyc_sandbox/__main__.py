"""`python -m nonkyc_sandbox --host 127.0.0.1 --port 8765 [--seed N] [--api-key K --api-secret S]`"""
import argparse
import asyncio
import logging
import signal
from typing import List, Optional

from nonkyc_sandbox.candles import TIME_UNITS, WS_SHAPES
from nonkyc_sandbox.markets import default_markets, generated_markets
from nonkyc_sandbox.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxExchange, default_accounts
from nonkyc_sandbox.traders import TraderSettings


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nonkyc_sandbox", description="Local NonKYC-compatible exchange")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 = any free port; default 8765)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation and of the ids")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="API key of the 'user' account")
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET, help="API secret of the 'user' account")
    parser.add_argument("--no-traders", action="store_true", help="do not run the simulated traders")
    parser.add_argument("--extra-markets", type=int, default=0, metavar="N",
                        help="add N generated markets ALT001/USDT ... ALTnnn/USDT to the default ones")
    parser.add_argument("--tick", type=float, default=0.5, help="seconds between simulated trader ticks")
    parser.add_argument("--ws-heartbeat", type=float, default=60.0, help="seconds between server pings")
    parser.add_argument("--cancel-response", choices=("success", "order"), default="success",
                        help="shape of the /cancelorder answer")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    parser.add_argument("--candle-history", type=float, default=24.0, metavar="HOURS",
                        help="hours of generated past trades behind the candles (default 24; 0 for none)")
    parser.add_argument("--candle-time-unit", choices=TIME_UNITS, default="ms",
                        help="unit of the `time` of /market/candles bars (default ms)")
    parser.add_argument("--candle-ws-shape", choices=WS_SHAPES, default=WS_SHAPES[0],
                        help="shape of the WebSocket candle notifications")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sandbox = SandboxExchange(
        seed=args.seed,
        markets=default_markets() + generated_markets(args.extra_markets),
        accounts=default_accounts(args.api_key, args.api_secret),
        simulated_traders=not args.no_traders,
        trader_settings=TraderSettings(interval=args.tick),
        ws_heartbeat=args.ws_heartbeat,
        cancel_response_shape=args.cancel_response,
        access_log=args.access_log,
        candle_time_unit=args.candle_time_unit,
        candle_ws_shape=args.candle_ws_shape,
        candle_history_hours=args.candle_history,
    )
    await sandbox.start(args.host, args.port)
    print(f"NonKYC sandbox running (seed {args.seed})", flush=True)
    print(f"REST base: {sandbox.rest_url}", flush=True)
    print(f"WebSocket: {sandbox.ws_url}", flush=True)
    if args.api_key == DEFAULT_API_KEY and args.api_secret == DEFAULT_API_SECRET:
        print(f"API key / secret: {DEFAULT_API_KEY} / {DEFAULT_API_SECRET} (the defaults)", flush=True)
    else:
        print(f"API key: {args.api_key} (secret as given)", flush=True)
    print(f"Connector: export NONKYC_REST_URL={sandbox.rest_url} NONKYC_WS_URL={sandbox.ws_url}", flush=True)
    print(f"Faults: curl -X POST {sandbox.rest_url.rsplit('/api/v2', 1)[0]}/_sandbox/faults "
          "-d '{\"fault\": \"drop_ws_connections\"}'", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # pragma: no cover (Windows)
            pass
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
        print("NonKYC sandbox stopped", flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
