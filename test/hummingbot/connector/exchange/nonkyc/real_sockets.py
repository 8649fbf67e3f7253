"""Helpers for tests that talk to real local servers through Hummingbot's web assistants (no mocks)."""
from hummingbot.core.web_assistant.connections.connections_factory import ConnectionsFactory


def use_fresh_shared_aiohttp_session():
    """
    Hummingbot keeps one process-wide aiohttp session, bound to the event loop that first used it. Each test runs in
    its own loop, so a test that really connects starts from a new session.
    """
    ConnectionsFactory._instance = None


async def close_shared_aiohttp_session():
    factory = ConnectionsFactory()
    for attribute in ("_shared_client", "_ws_independent_session"):
        session = getattr(factory, attribute, None)
        if session is not None and not session.closed:
            await session.close()
        setattr(factory, attribute, None)
    ConnectionsFactory._instance = None
