"""
A local NonKYC-compatible exchange for testing the NonKYC connector: REST `/api/v2` and WebSocket JSON-RPC on one
loopback port, a price-time priority matching engine with 0.2 % fees, simulated traders and fault injection.
Independent of Hummingbot (aiohttp and the standard library only). See README.md.
"""
from nonkyc_sandbox.engine import AccountSpec, ApiError, MatchingEngine
from nonkyc_sandbox.faults import FaultInjector
from nonkyc_sandbox.markets import MarketSpec, default_markets
from nonkyc_sandbox.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_USER_BALANCES,
    SECOND_API_KEY,
    SECOND_API_SECRET,
    SandboxExchange,
    default_accounts,
)
from nonkyc_sandbox.traders import MAKER_ACCOUNT, TAKER_ACCOUNT, SimulatedTraders, TraderSettings

__all__ = [
    "AccountSpec", "ApiError", "DEFAULT_API_KEY", "DEFAULT_API_SECRET", "DEFAULT_USER_BALANCES", "FaultInjector",
    "MAKER_ACCOUNT", "MarketSpec", "MatchingEngine", "SECOND_API_KEY", "SECOND_API_SECRET", "SandboxExchange",
    "SimulatedTraders", "TAKER_ACCOUNT", "TraderSettings", "default_accounts", "default_markets",
]
