from test.e2e.cli_support import CliTestCase

from nonkyc_sandbox.server import DEFAULT_API_SECRET


class CliConnectAgainstSandboxTests(CliTestCase):
    """`python -m hummingbot.cli.main connect nonkyc` as a user runs it, with the connector pointed at the sandbox."""

    hbot_timeout = 120

    @staticmethod
    def nonkyc_row(output: str) -> str:
        return next(line for line in output.splitlines() if line.startswith("| nonkyc"))

    async def test_good_keys_are_confirmed_and_bad_keys_refused_with_a_clear_message(self):
        exit_code, output = await self.add_keys("a-wrong-secret")
        self.assertEqual(0, exit_code, output)
        self.assertNotIn("a-wrong-secret", output)

        exit_code, output = await self.hbot("connect")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(self.nonkyc_row(output), r"\| nonkyc\s+\| yes\s+\| no\s+\| NonKYC refused the API credentials")
        self.assertIn("Authorization failed", output)
        self.assertNotIn("a-wrong-secret", output)

        exit_code, output = await self.add_keys(DEFAULT_API_SECRET, replace=True)
        self.assertEqual(0, exit_code, output)
        exit_code, output = await self.hbot("connect")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(self.nonkyc_row(output), r"\| nonkyc\s+\| yes\s+\| yes\s+\|")
        self.assertNotIn(DEFAULT_API_SECRET, output)

    async def test_balance_lists_every_asset_of_the_account_network_variants_included(self):
        # The sandbox account holds USDT-TRC20: Hummingbot names it USDT_TRC20 (with the raw ticker, `balance` stopped
        # with "too many values to unpack").
        exit_code, output = await self.add_keys(DEFAULT_API_SECRET)
        self.assertEqual(0, exit_code, output)

        exit_code, output = await self.hbot("balance", "--units-only")

        self.assertEqual(0, exit_code, output)
        self.assertNotIn("Traceback", output)
        self.assertRegex(output, r"\| USDT_TRC20\s+\| 100000\s+\|")
        self.assertRegex(output, r"\| BTC\s+\| 2\s+\|")
        self.assertNotIn("USDT-TRC20", output)

    async def test_connector_is_listed_with_its_key_fields(self):
        exit_code, output = await self.hbot("connect", "--all")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(output, r"\| nonkyc\s+\| no\s+\|")

        exit_code, output = await self.hbot("connect", "nonkyc", "--fields")
        self.assertEqual(0, exit_code, output)
        self.assertRegex(output, r"\| nonkyc_api_key\s+\| yes\s+\| Enter your NonKYC API key")
        self.assertRegex(output, r"\| nonkyc_api_secret\s+\| yes\s+\| Enter your NonKYC API secret")
