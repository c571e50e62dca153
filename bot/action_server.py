"""The action server: rasa_sdk's executor behind a guard, with actions run off the event loop.

Why not stock `rasa run actions`:
- it listens on 0.0.0.0 with CORS "*" and runs any action for anyone who can reach it, with
  whatever tracker they send; here only the Rasa server may call it (the shared secret in
  the X-Action-Token header, or, in development without a secret, loopback clients only);
- actions call the booking database synchronously; on the event loop one locked SQLite write
  stalled every other citizen. Each action call runs in a worker thread with its own event
  loop, so a slow write delays only its own conversation.

Like the Rasa server it answers GET /health (liveness), /health/ready (actions registered,
booking database answering) and /metrics (action calls by action and outcome, their time,
bookings, errors); see bot.health and bot.metrics.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics
from bot.health import action_server_readiness, metrics_response, readiness_response
from bot.inputs import MAX_SENDER_CHARS, is_loopback
from bot.log_format import install_log_format
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Action-Token"
#: Worker threads for action calls: more than the cores, since most of a call waits on the DB.
WORKER_THREADS = 8
#: Largest action call accepted (a tracker with its history and the domain).
MAX_CALL_BYTES = 8 * 1024 * 1024

_thread_state = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker thread, reused for every call that thread runs."""
    loop = getattr(_thread_state, "loop", None)
    if loop is None:
        loop = asyncio.new_event_loop()
        _thread_state.loop = loop
    return loop


def caller_allowed(request: Request, settings: Settings) -> bool:
    """The shared secret when one is configured, else a loopback client without a proxy."""
    expected = settings.action_server_token
    if expected:
        provided = request.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(provided.encode(), expected.encode())
    if settings.is_production:
        return False
    return is_loopback(request)


def _action_call(request: Request) -> Optional[Dict[str, Any]]:
    body = request.body or b""
    if request.headers.get("Content-Encoding") == "deflate":
        body = zlib.decompressobj().decompress(body, MAX_CALL_BYTES)
    call = json.loads(body)
    return call if isinstance(call, dict) else None


def create_app(action_package: str = "actions", settings: Optional[Settings] = None) -> Sanic:
    """The guarded action server for `action_package`."""
    settings = settings or get_settings()
    app = Sanic("crj_actions", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = MAX_CALL_BYTES
    executor = ActionExecutor()
    executor.register_package(action_package)
    pool = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="action")

    def run_in_thread(call: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        return _thread_loop().run_until_complete(executor.run(call))

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        """Liveness: the process answers (bot.health)."""
        return response.json({"status": "ok"})

    @app.get("/health/ready")
    async def ready(_: Request) -> HTTPResponse:
        """Readiness: actions registered, booking database answering (bot.health)."""
        return readiness_response(await action_server_readiness(executor.actions))

    @app.get("/metrics")
    async def scrape(request: Request) -> HTTPResponse:
        return metrics_response(request)

    @app.post("/webhook")
    async def webhook(request: Request) -> HTTPResponse:
        if not caller_allowed(request, settings):
            logger.warning("action call refused from %s", request.ip)
            return response.json({"error": "forbidden"}, status=403)
        try:
            call = _action_call(request)
        except (ValueError, zlib.error):
            call = None
        tracker = (call or {}).get("tracker")
        if call is None or not isinstance(tracker, dict):
            return response.json({"error": "invalid action call"}, status=400)
        if len(str(tracker.get("sender_id") or "")) > MAX_SENDER_CHARS:
            return response.json({"error": "sender id too long"}, status=400)
        loop = asyncio.get_running_loop()
        # Only a registered action's name is a label: the caller chooses `next_action`.
        name = str(call.get("next_action") or "")
        label = name if name in executor.actions else metrics.OTHER
        started = time.perf_counter()
        try:
            result = await loop.run_in_executor(pool, run_in_thread, call)
        except ActionExecutionRejection as exc:
            metrics.record_action_call(label, "rejected", time.perf_counter() - started)
            return response.json({"error": exc.message, "action_name": exc.action_name}, status=400)
        except ActionNotFoundException as exc:
            logger.error("unknown action %s", exc.action_name)
            metrics.record_action_call(label, "not_found", time.perf_counter() - started)
            return response.json({"error": exc.message, "action_name": exc.action_name}, status=404)
        except Exception:
            logger.exception("action %s failed", call.get("next_action"))
            metrics.record_action_call(label, "failed", time.perf_counter() - started)
            return response.json({"error": "action failed"}, status=500)
        metrics.record_action_call(label, "ok", time.perf_counter() - started)
        return response.json(result)

    @app.get("/actions")
    async def actions(request: Request) -> HTTPResponse:
        if not caller_allowed(request, settings):
            return response.json({"error": "forbidden"}, status=403)
        return response.json([{"name": name} for name in executor.actions])

    @app.after_server_stop
    async def stop_pool(*_: Any) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    return app


def serve(port: int, host: Optional[str] = None) -> None:
    """Run the action server in the foreground (one Sanic worker; the threads do the work)."""
    settings = get_settings()
    app = create_app("actions", settings)
    install_log_format(settings.log_format)
    metrics.install_error_counter()
    bind = host or settings.bind_host
    logger.info("action server on http://%s:%s", bind, port)
    app.run(host=bind, port=port, workers=1, access_log=False, motd=False)
