"""Liveness, readiness and the metrics route of both servers.

Both servers answer the same three routes:

- GET /health: liveness. The process answers; nothing else is checked, so a slow database
  never makes an orchestrator restart a healthy process.
- GET /health/ready: readiness. 200 `{"status": "ready", "checks": {...}}` when this process
  can serve a turn, else 503 with `"reason"` naming the first failed check. The Rasa server
  checks that the model is loaded, that the tracker store's database answers and, when
  REDIS_URL is set, that Redis (lock store, WeChat de-duplication) answers; the action
  server checks that its actions are registered and that the booking database answers.
  A check that does not answer within READY_TIMEOUT_S fails. Failures say only the check's
  name and the error's class, never a URL, a host or a password.
- GET /metrics: bot.metrics in the Prometheus text format (bot.metrics.scrape_allowed says
  who may read it).

The Rasa server's routes are added by bot.rasa_patches around Rasa's `configure_app`; the
action server's in bot.action_server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics
from bot.settings import get_settings

__all__ = [
    "READY_TIMEOUT_S",
    "Readiness",
    "rasa_readiness",
    "action_server_readiness",
    "readiness_response",
    "metrics_response",
    "add_rasa_routes",
]

#: Longest a readiness check may take; orchestrators probe with a timeout of a few seconds.
READY_TIMEOUT_S = 2.0
OK = "ok"


@dataclass
class Readiness:
    """The outcome of each check, in the order they were asked."""

    checks: Dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(value == OK for value in self.checks.values())

    @property
    def reason(self) -> Optional[str]:
        for name, value in self.checks.items():
            if value != OK:
                return f"{name}: {value}"
        return None


async def _probe(work: Callable[[], Any], timeout: float = READY_TIMEOUT_S) -> str:
    """Run a blocking check in a thread; "ok", "timeout" or the error's class name."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, work), timeout)
    except asyncio.TimeoutError:
        return "timeout"
    except Exception as exc:
        return type(exc).__name__
    return OK


def _select_one(engine: Any) -> Callable[[], None]:
    def work() -> None:
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return work


_redis_clients: Dict[str, Any] = {}


def _redis_ping(lock_store: Any, url: str) -> Callable[[], None]:
    """PING on the lock store's own client, or on one made for REDIS_URL."""

    def work() -> None:
        client = getattr(lock_store, "red", None)
        if client is None:
            import redis

            client = _redis_clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=READY_TIMEOUT_S)
                _redis_clients[url] = client
        client.ping()

    return work


async def _gather(probes: Dict[str, Awaitable[str]]) -> Dict[str, str]:
    values = await asyncio.gather(*probes.values())
    return dict(zip(probes, values))


async def rasa_readiness(app: Sanic) -> Readiness:
    """Model loaded, tracker database answering, Redis answering when configured."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        return Readiness({"model": "not_loaded"})
    readiness = Readiness({"model": OK})
    probes: Dict[str, Awaitable[str]] = {}
    store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)  # FailSafe
    engine = getattr(store, "engine", None)
    if engine is not None:
        probes["tracker_store"] = _probe(_select_one(engine))
    redis_url = get_settings().redis_url
    if redis_url:
        probes["redis"] = _probe(_redis_ping(agent.lock_store, redis_url))
    readiness.checks.update(await _gather(probes))
    return readiness


async def action_server_readiness(action_names: Any) -> Readiness:
    """Actions registered and the booking database answering."""
    from bot.booking.db import get_engine

    readiness = Readiness({"actions": OK if action_names else "none_registered"})
    try:
        engine = get_engine()
    except Exception as exc:  # a malformed DATABASE_URL
        readiness.checks["booking_db"] = type(exc).__name__
        return readiness
    readiness.checks["booking_db"] = await _probe(_select_one(engine))
    return readiness


def readiness_response(readiness: Readiness) -> HTTPResponse:
    """200 when ready, else 503 with the first failed check as the reason."""
    if readiness.ready:
        return response.json({"status": "ready", "checks": readiness.checks})
    return response.json(
        {"status": "not_ready", "reason": readiness.reason, "checks": readiness.checks},
        status=503,
    )


def metrics_response(request: Request) -> HTTPResponse:
    """This process's metrics, for a scraper that may read them (else 403)."""
    if not metrics.scrape_allowed(request, get_settings().metrics_token):
        return response.json({"error": "forbidden"}, status=403)
    return response.raw(metrics.render(), content_type=metrics.CONTENT_TYPE)


def add_rasa_routes(app: Sanic) -> None:
    """Add /health, /health/ready and /metrics to the Rasa server's app (once)."""
    if getattr(app.ctx, "crj_health_routes", False):
        return
    app.ctx.crj_health_routes = True

    @app.get("/health", name="crj_health_live")
    async def live(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/health/ready", name="crj_health_ready")
    async def ready(request: Request) -> HTTPResponse:
        return readiness_response(await rasa_readiness(request.app))

    @app.get("/metrics", name="crj_metrics")
    async def scrape(request: Request) -> HTTPResponse:
        return metrics_response(request)
