"""
Order book diff throughput: the NonKYC connector against Binance's.

Replays a synthetic stream of `updateOrderbook` messages (JSON text, 3 bid and 3 ask levels each) through exactly
what the NonKYC public stream listener runs for each message - `json.loads`, then the data source's routing,
sequence check, parse and diff queue (`NonkycAPIOrderBookDataSource._process_message`), then `OrderBook.apply_diffs`
- and, in the same
run, the equivalent Binance `depthUpdate` stream through `json.loads`, `BinanceOrderBook.diff_message_from_exchange`
and `OrderBook.apply_diffs`. Prints messages per second for both and their ratio, each the median of the rounds.

Usage, from the repository root:
    .venv/bin/python benchmarks/order_book_diff_benchmark.py [--messages 50000] [--rounds 5] [--seed 7]
"""
import argparse
import json
import logging
import random
import statistics
import time
from typing import Callable, List, Tuple

from hummingbot.connector.exchange.binance.binance_order_book import BinanceOrderBook
from hummingbot.connector.exchange.nonkyc.nonkyc_api_order_book_data_source import NonkycAPIOrderBookDataSource
from hummingbot.core.data_type.order_book import OrderBook

SYMBOL = "BTC/USDT"
TRADING_PAIR = "BTC-USDT"
FIRST_SEQUENCE = 1215881
FIRST_TIMESTAMP_MS = 1772170410000
LEVELS_PER_SIDE = 3
TARGET_RATIO = 1.0

Level = Tuple[str, str]


def synthetic_levels(rng: random.Random, mid: float, side: int) -> List[Level]:
    """Three levels near the mid price; about one in five removes its level (quantity "0")."""
    levels = []
    for _ in range(LEVELS_PER_SIDE):
        price = mid + side * rng.randint(1, 400) * 0.01
        quantity = "0" if rng.random() < 0.2 else f"{rng.uniform(0.0001, 2.5):.6f}"
        levels.append((f"{price:.2f}", quantity))
    return levels


def synthetic_streams(count: int, seed: int) -> Tuple[str, List[str], List[str]]:
    """The NonKYC snapshot, and the same `count` updates as NonKYC and as Binance JSON texts."""
    rng = random.Random(seed)
    mid = 67800.0
    snapshot = json.dumps({"jsonrpc": "2.0", "method": "snapshotOrderbook", "params": {
        "symbol": SYMBOL, "sequence": FIRST_SEQUENCE,
        "asks": [{"price": f"{mid + i * 0.5:.2f}", "quantity": "1.000000"} for i in range(1, 21)],
        "bids": [{"price": f"{mid - i * 0.5:.2f}", "quantity": "1.000000"} for i in range(1, 21)],
    }})
    nonkyc, binance = [], []
    for index in range(count):
        mid += rng.choice((-0.5, 0.0, 0.5))
        bids = synthetic_levels(rng, mid, -1)
        asks = synthetic_levels(rng, mid, +1)
        sequence = FIRST_SEQUENCE + 1 + index
        timestamp = FIRST_TIMESTAMP_MS + 100 * index
        nonkyc.append(json.dumps({"jsonrpc": "2.0", "method": "updateOrderbook", "params": {
            "asks": [{"price": price, "quantity": quantity} for price, quantity in asks],
            "bids": [{"price": price, "quantity": quantity} for price, quantity in bids],
            "symbol": SYMBOL, "timestamp": timestamp, "sequence": sequence}}))
        binance.append(json.dumps({
            "e": "depthUpdate", "E": timestamp, "s": "BTCUSDT", "U": sequence, "u": sequence,
            "b": [[price, quantity] for price, quantity in bids],
            "a": [[price, quantity] for price, quantity in asks]}))
    return snapshot, nonkyc, binance


def nonkyc_replay(snapshot_text: str, messages: List[str]) -> Callable[[], OrderBook]:
    def run() -> OrderBook:
        data_source = NonkycAPIOrderBookDataSource(trading_pairs=[TRADING_PAIR], connector=None, api_factory=None)
        # What subscribing the pair does, without a connection: the symbol's messages are expected, snapshot first.
        data_source._trading_pair_by_symbol[SYMBOL] = TRADING_PAIR
        data_source._sequences.expect_snapshot(SYMBOL)
        # The message loop's own routing, sequence check and parse; the messages come out of its diff queue.
        process_message = data_source._process_message
        take = data_source._message_queue[data_source._diff_messages_queue_key].get_nowait
        process_message(json.loads(snapshot_text))
        snapshot = take()
        book = OrderBook()
        book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id)
        loads = json.loads
        apply_diffs = book.apply_diffs
        for text in messages:
            process_message(loads(text))
            diff = take()
            apply_diffs(diff.bids, diff.asks, diff.update_id)
        return book
    return run


def binance_replay(snapshot_text: str, messages: List[str]) -> Callable[[], OrderBook]:
    def run() -> OrderBook:
        params = json.loads(snapshot_text)["params"]
        snapshot = BinanceOrderBook.snapshot_message_from_exchange({
            "lastUpdateId": params["sequence"],
            "bids": [[level["price"], level["quantity"]] for level in params["bids"]],
            "asks": [[level["price"], level["quantity"]] for level in params["asks"]],
        }, time.time(), {"trading_pair": TRADING_PAIR})
        book = OrderBook()
        book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.update_id)
        loads = json.loads
        diff_message_from_exchange = BinanceOrderBook.diff_message_from_exchange
        apply_diffs = book.apply_diffs
        for text in messages:
            diff = diff_message_from_exchange(loads(text), time.time(), {"trading_pair": TRADING_PAIR})
            apply_diffs(diff.bids, diff.asks, diff.update_id)
        return book
    return run


def timed(replay: Callable[[], OrderBook]) -> Tuple[float, OrderBook]:
    start = time.perf_counter()
    book = replay()
    return time.perf_counter() - start, book


def levels_of(book: OrderBook) -> Tuple[list, list]:
    return ([(row.price, row.amount) for row in book.bid_entries()],
            [(row.price, row.amount) for row in book.ask_entries()])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000, help="updates per stream (at least 50000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic stream")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the data source logs each snapshot at INFO

    snapshot, nonkyc_messages, binance_messages = synthetic_streams(args.messages, args.seed)
    replays = {"NonKYC": nonkyc_replay(snapshot, nonkyc_messages),
               "Binance": binance_replay(snapshot, binance_messages)}
    rates = {name: [] for name in replays}
    books = {}
    for round_index in range(args.rounds):
        # Alternate which one goes first, so neither always runs on a warmer interpreter.
        names = list(replays) if round_index % 2 == 0 else list(reversed(replays))
        for name in names:
            seconds, books[name] = timed(replays[name])
            rates[name].append(args.messages / seconds)

    if levels_of(books["NonKYC"]) != levels_of(books["Binance"]):
        raise SystemExit("The two replays ended with different books: the benchmark is not comparing like with like.")

    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["NonKYC"] / median["Binance"]
    print(f"Order book diffs: {args.messages} messages x {args.rounds} rounds, "
          f"{LEVELS_PER_SIDE} bid + {LEVELS_PER_SIDE} ask levels each (median of the rounds)")
    for name, values in rates.items():
        print(f"  {name:<8} {median[name]:>12,.0f} msg/s   (rounds: {', '.join(f'{v:,.0f}' for v in values)})")
    print(f"  ratio NonKYC / Binance: {ratio:.2f} (target >= {TARGET_RATIO:.1f}: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})")


if __name__ == "__main__":
    main()
