"""Market definitions of the sandbox exchange (what `/market/getlist` lists)."""
import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Dict, List, Optional, Union

Number = Union[Decimal, int, str]


def object_id(*parts: str) -> str:
    """A stable 24-hex id (the shape of a Mongo ObjectId) derived from the given text."""
    return hashlib.sha256("|".join(parts).encode("utf8")).hexdigest()[:24]


def split_symbol(symbol: str) -> List[str]:
    """`BASE/QUOTE` → [BASE, QUOTE]."""
    base, quote = symbol.split("/", 1)
    return [base, quote]


def step(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


@dataclass
class MarketSpec:
    """
    One market. `symbol` is `BASE/QUOTE`. `initial_price` seeds the simulated traders' mid price, and
    `sim_order_notional` (quote units) sizes their orders.
    """
    symbol: str
    price_decimals: int
    quantity_decimals: int
    minimum_quantity: Decimal
    min_quote: Decimal = Decimal("1")
    is_min_quote_active: bool = True
    allow_market_orders: bool = True
    allow_trigger_orders: bool = True
    is_active: bool = True
    is_paused: bool = False
    initial_price: Decimal = Decimal("1")
    sim_order_notional: Decimal = Decimal("200")
    primary_name: Optional[str] = None
    id: str = field(default="")

    def __post_init__(self):
        self.minimum_quantity = Decimal(str(self.minimum_quantity))
        self.min_quote = Decimal(str(self.min_quote))
        self.initial_price = Decimal(str(self.initial_price))
        self.sim_order_notional = Decimal(str(self.sim_order_notional))
        if not self.id:
            self.id = object_id("market", self.symbol)
        if self.primary_name is None:
            self.primary_name = self.base

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    @property
    def price_step(self) -> Decimal:
        return step(self.price_decimals)

    @property
    def quantity_step(self) -> Decimal:
        return step(self.quantity_decimals)

    @property
    def tradeable(self) -> bool:
        return self.is_active and not self.is_paused

    @property
    def ticker_id(self) -> str:
        return self.symbol.replace("/", "_")

    def truncate_price(self, price: Decimal) -> Decimal:
        return price.quantize(self.price_step, rounding=ROUND_DOWN)

    def truncate_quantity(self, quantity: Decimal) -> Decimal:
        return quantity.quantize(self.quantity_step, rounding=ROUND_DOWN)

    def format_price(self, price: Decimal) -> str:
        return format(price.quantize(self.price_step), "f")

    def format_quantity(self, quantity: Decimal) -> str:
        return format(quantity.quantize(self.quantity_step), "f")


def default_markets() -> List[MarketSpec]:
    """
    The default market list: different decimals and minimums, one paused market, one without market orders and one
    whose quote ticker contains a dash (which a Hummingbot connector cannot map to a trading pair).
    """
    return [
        MarketSpec("BTC/USDT", price_decimals=2, quantity_decimals=6, minimum_quantity=Decimal("0.00001"),
                   min_quote=Decimal("1"), initial_price=Decimal("67800"), primary_name="Bitcoin"),
        MarketSpec("ETH/USDT", price_decimals=2, quantity_decimals=4, minimum_quantity=Decimal("0.001"),
                   min_quote=Decimal("5"), initial_price=Decimal("3500"), primary_name="Ethereum"),
        MarketSpec("SAL/USDT", price_decimals=6, quantity_decimals=4, minimum_quantity=Decimal("1"),
                   min_quote=Decimal("1"), is_min_quote_active=False, initial_price=Decimal("0.021118"),
                   sim_order_notional=Decimal("50"), primary_name="Salvium"),
        MarketSpec("NKYC/USDT", price_decimals=4, quantity_decimals=2, minimum_quantity=Decimal("1"),
                   min_quote=Decimal("1"), allow_market_orders=False, initial_price=Decimal("0.8500"),
                   sim_order_notional=Decimal("50"), primary_name="NonKYC Token"),
        MarketSpec("DOGE/USDT", price_decimals=5, quantity_decimals=1, minimum_quantity=Decimal("10"),
                   min_quote=Decimal("1"), is_paused=True, initial_price=Decimal("0.12000"),
                   primary_name="Dogecoin"),
        MarketSpec("BTC/USDT-TRC20", price_decimals=2, quantity_decimals=6, minimum_quantity=Decimal("0.00001"),
                   min_quote=Decimal("1"), initial_price=Decimal("67810"), primary_name="Bitcoin"),
    ]


def generated_markets(count: int, quote: str = "USDT") -> List[MarketSpec]:
    """
    `count` small-cap markets `ALT001/QUOTE`, `ALT002/QUOTE`, ... with varied prices and decimals, for tests and
    benchmarks that need many pairs (NonKYC's long tail). Deterministic: the same count gives the same markets.
    """
    markets = []
    for number in range(1, count + 1):
        price_decimals = 4 + number % 4  # 4 to 7 decimals
        price = Decimal(1 + number % 97).scaleb(-(number % 3))  # from 0.01 to 97
        markets.append(MarketSpec(
            f"ALT{number:03d}/{quote}", price_decimals=price_decimals, quantity_decimals=2,
            minimum_quantity=Decimal("1"), min_quote=Decimal("1"),
            initial_price=price.quantize(step(price_decimals)), sim_order_notional=Decimal("50"),
            primary_name=f"Altcoin {number}"))
    return markets


def markets_by_symbol(markets: List[MarketSpec]) -> Dict[str, MarketSpec]:
    return {market.symbol: market for market in markets}


def normalize_symbol(raw: Optional[str], known: Dict[str, MarketSpec]) -> Optional[str]:
    """
    The `BASE/QUOTE` symbol of a query/body value given as `BASE/QUOTE`, `BASE%2FQUOTE` (already decoded by the web
    framework) or `BASE_QUOTE`; None when it names no known market.
    """
    if not raw:
        return None
    candidate = raw.strip().upper()
    if candidate in known:
        return candidate
    if "_" in candidate:
        slashed = candidate.replace("_", "/", 1)
        if slashed in known:
            return slashed
    return None


def decimals_of(value: Decimal) -> int:
    """Number of decimal places a decimal value carries (trailing zeros do not count)."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def json_number(value: Decimal) -> Number:
    """An int when the value is integral, else a float: the way the live `/market/getlist` carries minimums."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)
