"""
Compatibility matrix, the candles-driven market-making controller deployed with the `hbot` CLI: `hbot deploy
nonkyc_candles_mm --controller` runs it through scripts/v2_with_controllers.py in a bot process against the sandbox
(running in this test's event loop), then `status`, a live change of its config, `history` and `stop`, as a user types
them.
"""
import json
import re
from decimal import Decimal
from test.e2e.cli_support import CliTestCase
from test.e2e.matrix.support import Fill, sandbox_fills, trade_database_fills
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict, List

from nonkyc_sandbox import DEFAULT_API_SECRET, SandboxExchange, TraderSettings

PAIR = "BTC-USDT"
SYMBOL = "BTC/USDT"
CONFIG = "conf_nonkyc_candles_mm.yml"
BOT = "conf_nonkyc_candles_mm"


class CandlesControllerThroughTheCliTests(CliTestCase):

    def new_sandbox(self) -> SandboxExchange:
        # Two hours of 5-minute candles (a random walk) give the controller a volatility; the simulated maker quotes
        # 5 levels a side and nothing takes liquidity unless the test does.
        return SandboxExchange(seed=21, candle_history_hours=2, trader_settings=TraderSettings(
            interval=0.2, volatility_bps=Decimal("0"), taker_probability=0.0))

    def quotes(self) -> List[Dict]:
        return self.sandbox.orders("user", SYMBOL, status="active")

    def recorded_fills(self) -> List[Fill]:
        return trade_database_fills(self.install.root / "data" / f"{BOT}.sqlite")

    def exchange_fills(self) -> List[Fill]:
        return sandbox_fills(self.sandbox, [PAIR])

    async def test_deploy_status_live_config_history_and_stop(self):
        exit_code, output = await self.add_keys(DEFAULT_API_SECRET)
        self.assertEqual(0, exit_code, output)

        output = await self.hbot_succeeds("deploy", "nonkyc_candles_mm", "--controller",
                                          "--set", f"trading_pair={PAIR}",
                                          "--set", "total_amount_quote=200", "--set", "candles_interval=5m",
                                          "--set", "buy_spreads=1,2", "--set", "sell_spreads=1,2",
                                          "--set", "skip_rebalance=true", "--set", "executor_refresh_time=600")
        self.assertRegex(output, r"- status: running")

        # Two bids and two asks, 1 and 2 volatilities (NATR of the 5-minute candles) away from the mid.
        await wait_until(lambda: len(self.quotes()) == 4, 60, "the controller's four quotes", interval=0.2)
        status = await self.hbot_succeeds("status")
        self.assertRegex(status, r"Controllers:\n\s+\S+ \(nonkyc_candles_mm\): running \| active executors 4")
        volatility = Decimal(re.search(r"spreads from ([\d.]+)%", status).group(1)) / 100
        self.assertIn("Volatility (NATR of 15 5m candles of nonkyc BTC-USDT)", status)
        self.assertIn("PERFORMANCE SUMMARY", status)
        mid = Decimal("67800")
        bids = sorted((Decimal(quote["price"]) for quote in self.quotes() if quote["side"] == "buy"), reverse=True)
        for level, bid in enumerate(bids, start=1):
            self.assertAlmostEqual(float(mid * (1 - level * volatility)), float(bid), delta=float(mid) * 0.0005)

        # The price falls to our best bid (the maker's new asks fill it, not the next one): the fill is recorded, and
        # `history` counts it.
        self.sandbox.traders.set_mid(SYMBOL, bids[0] / Decimal("1.0015"))
        # Waited for on the exchange's trades: the executor soon places its take profit, so the count of active
        # orders is 3 only in passing.
        await wait_until(lambda: any(price == bids[0] for _, _, price, _ in self.exchange_fills()), 10,
                         "the fill of our best bid")
        await wait_until(lambda: len(self.recorded_fills()) == len(self.exchange_fills()), 20,
                         "the bot to record the fill", interval=0.2)
        history = await self.hbot_succeeds("history")
        self.assertRegex(history, rf"\| nonkyc \| BTC-USDT \| {len(self.exchange_fills())} +\| ")

        # A live change of the controller's config (an updatable field) is applied by the running bot.
        await self.hbot_succeeds("config", "total_amount_quote", "100")
        await wait_until(lambda: any("applied total_amount_quote 200 -> 100" in line
                                     for line in self.install.log_lines(BOT)), 30, "the live config change",
                         interval=0.5)

        balances = json.loads(await self.hbot_succeeds("status", "--json"))["balances"]["nonkyc"]
        on_exchange = self.sandbox.balances("user")
        self.assertEqual({asset: float(on_exchange[asset]["total"]) for asset in ("BTC", "USDT")},
                         {asset: balances[asset] for asset in ("BTC", "USDT")})

        await self.hbot_succeeds("stop")
        self.assertEqual([], self.quotes())
        self.assertEqual(self.exchange_fills(), self.recorded_fills())
        errors = [line for line in self.install.log_lines(BOT) if " - ERROR - " in line]
        self.assertEqual([], [line for line in errors if ".connector." in line], errors)
