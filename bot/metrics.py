"""Prometheus metrics of the Rasa server and the action server, in one place.

Each server process has its own registry, created on first use (importing this module
creates nothing, and needs no prometheus_client), and serves it at GET /metrics in the
Prometheus text format. One process per server, so no multiprocess mode; with several
Sanic workers each worker counts on its own and a scrape sees one of them.

No personal data: every label value comes from a closed set that the code or the knowledge
base defines (channel names, fallback kinds, emergency categories, action names, refusal
codes, logger names). Anything else a client could put there (a sender id, a typed text, a
made-up `input_channel`) is counted as "other", so a label can neither leak a person nor
grow without bound.

Who may read /metrics (see `scrape_allowed`): a client on this machine without a proxy in
between, or anyone with `Authorization: Bearer $METRICS_TOKEN` when METRICS_TOKEN is set.
"""

from __future__ import annotations

import functools
import hmac
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Optional, TypeVar, cast

__all__ = [
    "CONTENT_TYPE",
    "render",
    "scrape_allowed",
    "record_turn",
    "observe_turn",
    "record_default_fallback",
    "record_action_server_failure",
    "record_action_call",
    "record_booking",
    "record_booking_refusal",
    "install_error_counter",
    "channel_label",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
#: Input channels this project runs (credentials.yml), plus Rasa's own shell and socket.io.
KNOWN_CHANNELS = frozenset({"rest", "wechat", "webchat", "guide", "cmdline", "socketio"})
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_default_fallback"
EMERGENCY_ENTITY = "emergency_type"
#: Seconds: a turn is ~50 ms alone, seconds under load; WeChat gives up after 5 s.
TURN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Top-level logger names whose ERROR records are counted under their own label.
ERROR_SOURCES = frozenset({"rasa", "rasa_sdk", "sanic", "bot", "actions", "sqlalchemy", "root"})


@dataclass(frozen=True)
class _Metrics:
    registry: Any
    turns: Any
    turn_seconds: Any
    fallbacks: Any
    emergencies: Any
    action_server_failures: Any
    action_calls: Any
    action_seconds: Any
    bookings: Any
    booking_refusals: Any
    errors: Any


logger = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., None])
_warned = False


def _never_raises(record: _F) -> _F:
    """A metric that cannot be recorded is logged once and skipped: a turn or a booking
    never fails because of its counters."""

    @functools.wraps(record)
    def guarded(*args: Any, **kwargs: Any) -> None:
        global _warned
        try:
            record(*args, **kwargs)
        except Exception:
            if not _warned:
                _warned = True
                logger.warning("metrics not recorded", exc_info=True)

    return cast(_F, guarded)


_lock = threading.RLock()  # re-entrant: an ERROR logged while the metrics are made is counted
_instance: Optional[_Metrics] = None


def _metrics() -> _Metrics:
    """This process's registry and metrics, made on first use."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = _create()
        return _instance


def _create() -> _Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return _Metrics(
        registry=registry,
        turns=Counter(
            "crj_turns",
            "User messages handled, by input channel and outcome (ok, failed).",
            ["channel", "outcome"],
            registry=registry,
        ),
        turn_seconds=Histogram(
            "crj_turn_seconds",
            "Time from a user message to the end of its turn, waiting for the lock included.",
            ["channel"],
            buckets=TURN_BUCKETS,
            registry=registry,
        ),
        fallbacks=Counter(
            "crj_fallbacks",
            "Turns that fell back: nlu_fallback (intent unsure) or action_default_fallback.",
            ["kind"],
            registry=registry,
        ),
        emergencies=Counter(
            "crj_emergencies",
            "Messages recognised as an emergency, by category (the emergency_type entity).",
            ["category"],
            registry=registry,
        ),
        action_server_failures=Counter(
            "crj_action_server_failures",
            "Custom actions the Rasa server could not run on the action server, by reason.",
            ["action", "reason"],
            registry=registry,
        ),
        action_calls=Counter(
            "crj_action_calls",
            "Action calls the action server ran, by action and outcome.",
            ["action", "outcome"],
            registry=registry,
        ),
        action_seconds=Histogram(
            "crj_action_seconds",
            "Time the action server spent on one action call.",
            ["action"],
            buckets=ACTION_BUCKETS,
            registry=registry,
        ),
        bookings=Counter(
            "crj_bookings",
            "Bookings written: made, rescheduled, cancelled.",
            ["event"],
            registry=registry,
        ),
        booking_refusals=Counter(
            "crj_booking_refusals",
            "Booking requests refused, by refusal code (unavailable: the database is down).",
            ["code"],
            registry=registry,
        ),
        errors=Counter(
            "crj_errors",
            "Log records at ERROR or above, by top-level logger.",
            ["source"],
            registry=registry,
        ),
    )


def render() -> bytes:
    """The current values in the Prometheus text format."""
    from prometheus_client import generate_latest

    return bytes(generate_latest(_metrics().registry))


def scrape_allowed(request: Any, token: Optional[str]) -> bool:
    """METRICS_TOKEN as a bearer token when set; otherwise a loopback client without proxy.

    Why not RASA_AUTH_TOKEN: that token opens the whole HTTP API (read any tracker, set any
    slot); a monitoring system that only needs counters must not hold it.
    """
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    from bot.inputs import is_loopback

    return is_loopback(request)


def _bounded(value: Any, allowed: Iterable[str]) -> str:
    text = str(value or "")
    return text if text in allowed else OTHER


def channel_label(name: Any) -> str:
    """The input channel's name when it is one this project runs, else "other"."""
    return _bounded(name, KNOWN_CHANNELS)


@lru_cache(maxsize=1)
def _emergency_categories() -> frozenset[str]:
    from bot.kb.emergency import get_emergency_kb

    return frozenset(get_emergency_kb().categories)


@_never_raises
def record_turn(channel: Any, seconds: float, *, failed: bool) -> None:
    """One user message handled (or failed) after `seconds`."""
    metrics = _metrics()
    label = channel_label(channel)
    metrics.turns.labels(label, "failed" if failed else "ok").inc()
    metrics.turn_seconds.labels(label).observe(max(seconds, 0.0))


@_never_raises
def observe_turn(tracker: Any) -> None:
    """Count the unsure NLU reading and the emergency of the turn that just ran."""
    from rasa.shared.core.events import UserUttered

    message = next((e for e in reversed(tracker.events) if isinstance(e, UserUttered)), None)
    if message is None:
        return
    if (message.intent or {}).get("name") == FALLBACK_INTENT:
        _metrics().fallbacks.labels(FALLBACK_INTENT).inc()
    categories = {
        entity.get("value")
        for entity in message.entities or []
        if entity.get("entity") == EMERGENCY_ENTITY
    }
    for category in sorted(str(c) for c in categories if c):
        _metrics().emergencies.labels(_bounded(category, _emergency_categories())).inc()


@_never_raises
def record_default_fallback() -> None:
    """action_default_fallback ran: predicted by the RulePolicy, or the two-stage
    fallback gave up (which runs it without an event of its own)."""
    _metrics().fallbacks.labels(FALLBACK_ACTION).inc()


def _failure_reason(error: BaseException) -> str:
    """timeout, unreachable, http_error or error, from what RemoteAction raised."""
    import asyncio

    import aiohttp

    chain = [error, error.__cause__, error.__context__]
    if any(isinstance(e, asyncio.TimeoutError) for e in chain):
        return "timeout"
    if any(isinstance(e, aiohttp.ClientResponseError) for e in chain):
        return "http_error"
    if any(isinstance(e, aiohttp.ClientConnectionError) for e in chain) or "connect" in str(error):
        return "unreachable"
    return "error"


@_never_raises
def record_action_server_failure(action: Any, action_name: str, error: BaseException) -> None:
    """A custom action failed on the Rasa server's side (only RemoteAction counts)."""
    from rasa.core.actions.action import RemoteAction

    if isinstance(action, RemoteAction):
        _metrics().action_server_failures.labels(action_name, _failure_reason(error)).inc()


@_never_raises
def record_action_call(action: str, outcome: str, seconds: float) -> None:
    """One call on the action server; `action` must be a registered action's name."""
    metrics = _metrics()
    metrics.action_calls.labels(action, outcome).inc()
    metrics.action_seconds.labels(action).observe(max(seconds, 0.0))


@_never_raises
def record_booking(event: str) -> None:
    """made, rescheduled or cancelled, once the transaction committed."""
    _metrics().bookings.labels(event).inc()


@_never_raises
def record_booking_refusal(code: Optional[str]) -> None:
    """A refused booking request (a RefusalCode)."""
    from bot.booking.repository import REFUSAL_CODES

    _metrics().booking_refusals.labels(_bounded(code, REFUSAL_CODES)).inc()


class _ErrorCounter(logging.Handler):
    """Counts ERROR records by top-level logger; never formats or stores the message."""

    def emit(self, record: logging.LogRecord) -> None:
        top = record.name.split(".", 1)[0] if record.name else "root"
        _metrics().errors.labels(_bounded(top, ERROR_SOURCES)).inc()


_error_counter: Optional[_ErrorCounter] = None


def install_error_counter() -> None:
    """Count every ERROR record of this process (idempotent), whatever else handles it."""
    global _error_counter
    with _lock:
        if _error_counter is None:
            _error_counter = _ErrorCounter(level=logging.ERROR)
            logging.getLogger().addHandler(_error_counter)
