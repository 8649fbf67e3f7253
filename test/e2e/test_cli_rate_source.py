import re
from decimal import Decimal
from test.e2e.cli_support import CliTestCase
from test.e2e.e2e_support import MAKER, SYMBOL
from typing import Dict


class CliRateSourceAgainstSandboxTests(CliTestCase):
    """NonKYC as the rate oracle's source of the `hbot` CLI (`rate_oracle_source: nonkyc`), against the sandbox."""

    hbot_timeout = 120

    @staticmethod
    def asset_values(output: str) -> Dict[str, Decimal]:
        """The `value($)` column of `hbot balance`, by asset."""
        rows = re.findall(r"^\| *([A-Z0-9_]+) *\| *[\d.e+-]+ *\| *([\d.e+-]+) *\|", output, flags=re.MULTILINE)
        return {asset: Decimal(value) for asset, value in rows}

    async def test_balance_values_every_asset_with_a_usdt_market_at_nonkyc_prices(self):
        # A quoted book for BTC (the mid is the rate); DOGE's only market is paused and has no book: its last price.
        self.sandbox.place_order(MAKER, SYMBOL, "buy", "limit", "0.01", "60000")
        self.sandbox.place_order(MAKER, SYMBOL, "sell", "limit", "0.01", "61000")
        self.assertEqual(0, (await self.add_keys())[0])

        # Hummingbot's `hbot config` refuses `rate_oracle_source VALUE` for every source ("a section"): the source
        # is set through its `name`, as for Binance or Gate.io.
        exit_code, output = await self.hbot("config", "rate_oracle_source", "nonkyc")
        self.assertNotEqual(0, exit_code, output)
        self.assertIn("'rate_oracle_source' is a section", output)
        output = await self.hbot_succeeds("config", "rate_oracle_source.name", "nonkyc")
        self.assertIn("- key: rate_oracle_source.name\n- value: nonkyc", output)
        self.assertIn("name: nonkyc", (self.install.root / "conf" / "conf_client.yml").read_text())
        output = await self.hbot_succeeds("config")
        self.assertRegex(output, r"rate_oracle_source.name\s*\|\s*nonkyc")

        tickers_before = self.sandbox.rest.requests_by_endpoint["/tickers"]
        output = await self.hbot_succeeds("balance")

        self.assertNotIn("Traceback", output)
        self.assertEqual(1, self.sandbox.rest.requests_by_endpoint["/tickers"] - tickers_before, output)
        last_price = {symbol: stats.last_price for symbol, stats in self.sandbox.engine.stats.items()}
        expected = {
            "BTC": Decimal("2") * Decimal("60500"),
            "ETH": Decimal("20") * last_price["ETH/USDT"],
            "SAL": Decimal("1000000") * last_price["SAL/USDT"],
            "NKYC": Decimal("100000") * last_price["NKYC/USDT"],
            "DOGE": Decimal("100000") * last_price["DOGE/USDT"],  # paused
            "USDT": Decimal("100000"),
            "USDT_TRC20": Decimal("0"),  # no USDT market: no rate, as with any source
        }
        values = self.asset_values(output)
        self.assertEqual(set(expected), set(values), output)
        for asset, value in expected.items():
            self.assertAlmostEqual(float(value), float(values[asset]), delta=float(value) * 1e-6 + 1e-9, msg=output)
        self.assertTrue(all(values[asset] > 0 for asset in expected if asset != "USDT_TRC20"), output)
