import json
import subprocess
import sys
import tempfile
import unittest

# What a script, a controller or a bot started by the `hbot` CLI runs in its own fresh interpreter: nothing of the
# project is imported first; the registration comes from set-up's `nonkyc_candles_hook.pth`.
FRESH_PROCESS = """
import json
from hummingbot.data_feed.candles_feed.candles_factory import CandlesFactory
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig

feed = CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair="BTC-USDT", interval="5m"))
try:
    CandlesFactory.get_candle(CandlesConfig(connector="nonkyc", trading_pair="BTC-USDT", interval="1m"))
    refusal = None
except ValueError as error:
    refusal = str(error)
print(json.dumps({"feed": f"{type(feed).__module__}.{type(feed).__name__}", "symbol": feed._ex_trading_pair,
                  "resolution": feed.resolution, "refusal": refusal}))
"""


class CandlesFactoryRegistrationTests(unittest.TestCase):

    def test_a_fresh_process_gets_the_nonkyc_feed_from_the_factory(self):
        with tempfile.TemporaryDirectory() as elsewhere:  # not the repository: nothing of it on sys.path
            result = subprocess.run([sys.executable, "-c", FRESH_PROCESS], cwd=elsewhere, capture_output=True,
                                    text=True, timeout=90)

        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual({
            "feed": "hummingbot.data_feed.candles_feed.nonkyc_spot_candles.nonkyc_spot_candles.NonkycSpotCandles",
            "symbol": "BTC/USDT",
            "resolution": 5,
            "refusal": "NonKYC candles do not support the interval '1m'. Supported intervals: 5m, 15m, 30m, 1h, 4h, "
                       "8h, 12h, 1d.",
        }, json.loads(result.stdout.strip().splitlines()[-1]))
