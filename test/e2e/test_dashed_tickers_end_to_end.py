"""
A NonKYC market whose quote ticker holds a dash (`BTC/USDT-TRC20`), traded end to end: the real connector and a
Hummingbot Clock against the sandbox over real sockets, then Hummingbot's own balance valuation over every asset.
"""
from decimal import Decimal
from test.e2e.e2e_support import TAKER, USER, EndToEndTestCase
from test.hummingbot.connector.exchange.nonkyc.nonkyc_test_support import wait_until
from typing import Dict, Tuple

from hummingbot.cli.commands.balance import _exchange_assets
from hummingbot.core.event.events import MarketEvent

PAIR = "BTC-USDT_TRC20"
SYMBOL = "BTC/USDT-TRC20"


class DashedTickerEndToEndTests(EndToEndTestCase):

    def sandbox_balances(self) -> Dict[str, Tuple[Decimal, Decimal]]:
        return {asset.replace("-", "_"): (values["total"], values["available"])
                for asset, values in self.sandbox.balances(USER).items() if values["total"]}

    def connector_balances(self, connector) -> Dict[str, Tuple[Decimal, Decimal]]:
        return {asset: (total, connector.get_available_balance(asset))
                for asset, total in connector.get_all_balances().items() if total}

    async def test_a_dashed_market_trades_and_every_reported_asset_can_be_valued(self):
        connector = await self.start_connector(trading_pairs=[PAIR])
        self.assertIn(PAIR, connector.trading_rules)
        self.assertIn(PAIR, connector.order_books)

        bid = await self.place(connector, "buy", "0.01", "60000", trading_pair=PAIR)
        on_exchange = self.sandbox.orders(USER, SYMBOL, "active")
        self.assertEqual([(bid.exchange_order_id, bid.client_order_id)],
                         [(order["id"], order["userProvidedId"]) for order in on_exchange])
        self.sandbox.place_order(TAKER, SYMBOL, "sell", "market", "0.01")
        await wait_until(lambda: bid.is_filled and bid.is_done, 10, "the fill of the bid")

        fills = connector.events[MarketEvent.OrderFilled].event_log
        exchange_trades = self.sandbox.trades(USER, SYMBOL)
        self.assertEqual(sorted((trade["id"], Decimal(trade["quantity"]), Decimal(trade["fee"]))
                                for trade in exchange_trades),
                         sorted((fill.exchange_trade_id, fill.amount, fill.trade_fee.flat_fees[0].amount)
                                for fill in fills))
        self.assertEqual({(PAIR, "USDT_TRC20")}, {(fill.trading_pair, fill.trade_fee.flat_fees[0].token)
                                                  for fill in fills})
        await wait_until(lambda: self.connector_balances(connector) == self.sandbox_balances(), 10,
                         lambda: f"equal balances (connector {self.connector_balances(connector)}, "
                                 f"sandbox {self.sandbox_balances()})", interval=0.05)
        self.assertIn("USDT_TRC20", connector.get_all_balances())
        self.assertFalse(any("-" in asset for asset in connector.get_all_balances()))

        # What `hbot balance` runs to value each asset, over everything the connector reports.
        prices = {PAIR: Decimal("60000"), "USDT_TRC20-USDT": Decimal("1")}
        assets, _, total = _exchange_assets("nonkyc", connector.get_all_balances(), connector.available_balances,
                                            prices, "USDT")
        self.assertIn("USDT_TRC20", [asset["asset"] for asset in assets])
        self.assertGreater(total, Decimal(0))
        self.assertEqual([], self.errors_logged())
