"""One kept-alive HTTP client session per event loop for Rasa's endpoints.

Why: Rasa 3.6's `EndpointConfig.request` opens a new `aiohttp.ClientSession`, and so a new
TCP connection, for every call. Every custom action of every turn paid for a session, a
connector and a TCP handshake with the action server (py-spy on the live server,
2026-12-02: the session's set-up alone was 7% of the Rasa process's busy time on turns that
answer from the KB). Here the calls of one event loop share one session per endpoint
(headers and auth), whose connections stay open between calls.

Why a short keep-alive: the client drops an idle connection after KEEPALIVE_S, before the
server does (Sanic closes after 5 s, nginx after 75 s), so a call is never written into a
connection that the server is closing at that moment. A killed action server's connections
are closed by the kernel; the next call opens a new one, as before.
"""

from __future__ import annotations

import asyncio
import atexit
from typing import Any, Dict, Optional, Tuple

import aiohttp

__all__ = ["install", "close_sessions", "KEEPALIVE_S"]

#: Below Sanic's default keep-alive (5 s), so the client always closes first.
KEEPALIVE_S = 2.0

_SessionKey = Tuple[int, Tuple[Tuple[str, str], ...], Optional[Tuple[str, str]]]
#: The loop is kept beside its session: an id may be reused once a loop is gone.
_sessions: Dict[_SessionKey, Tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}
_installed = False


class _Borrowed:
    """`async with` over a shared session that leaves it open (Rasa's request closes the
    session it is given when its block ends)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *_: Any) -> None:
        return None


def _shared_session(endpoint: Any, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
    auth = None
    if endpoint.basic_auth:
        auth = (endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    headers = tuple(sorted((str(k), str(v)) for k, v in (endpoint.headers or {}).items()))
    key: _SessionKey = (id(loop), headers, auth)
    owner, session = _sessions.get(key, (None, None))
    if session is None or session.closed or owner is not loop:
        for stale, (gone, old) in list(_sessions.items()):
            if gone.is_closed():  # its loop ended without a server stop (tests, CLI runs)
                del _sessions[stale]
                old.detach()
        session = aiohttp.ClientSession(
            headers=dict(headers),
            auth=aiohttp.BasicAuth(*auth) if auth else None,
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
        )
        _sessions[key] = (loop, session)
    return session


async def close_sessions(*_: Any) -> None:
    """Close this loop's shared sessions (a Sanic `after_server_stop` listener)."""
    loop = asyncio.get_running_loop()
    for key, (owner, session) in list(_sessions.items()):
        if owner is loop:
            del _sessions[key]
            await session.close()


@atexit.register
def _forget_sessions() -> None:
    """At exit, mark the sessions of loops that never stopped a server as closed, so
    aiohttp does not report them as leaked while the interpreter shuts down."""
    for _, session in _sessions.values():
        session.detach()
    _sessions.clear()


def install() -> None:
    """Make `EndpointConfig.session()` lend the loop's shared session (idempotent)."""
    global _installed
    if _installed:
        return
    from rasa.utils.endpoints import EndpointConfig

    original = EndpointConfig.session

    def session(self: Any) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the stock, short-lived session
            return original(self)
        return _Borrowed(_shared_session(self, loop))

    session.__wrapped__ = original  # type: ignore[attr-defined]
    EndpointConfig.session = session
    _installed = True
