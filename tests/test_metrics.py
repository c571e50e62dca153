"""Metrics, readiness and JSON logs (bot.metrics, bot.health, bot.log_format) without a model
server: the real prometheus-client, real Sanic apps on loopback, real databases."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import sqlalchemy as sa
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot import metrics
from bot.booking import dispose_engines, migrate
from bot.health import add_rasa_routes
from bot.log_format import JsonFormatter, install_log_format
from bot.privacy import install_log_masking
from bot.settings import get_settings
from tests.test_wechat import ServerThread

ID = "33052119900315001X"
PHONE = "13812345678"


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings re-read from a clean environment for each test."""
    for key in ("METRICS_TOKEN", "REDIS_URL", "APP_ENV", "ACTION_SERVER_TOKEN", "LOG_FORMAT"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    dispose_engines()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def _value(text: str, name: str, **labels: str) -> float:
    """One sample of the text format, 0 when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def _tracker(text: str, intent: str, entities: list[dict[str, Any]]) -> DialogueStateTracker:
    tracker = DialogueStateTracker(uuid.uuid4().hex, slots=[])
    tracker.update(UserUttered(text, intent={"name": intent, "confidence": 0.4}, entities=entities))
    return tracker


# --- labels -----------------------------------------------------------------------------------


def test_labels_come_from_closed_sets_never_from_the_citizen() -> None:
    before = metrics.render().decode()
    sender_like = f"openid-{PHONE}"
    metrics.record_turn(sender_like, 0.2, failed=False)  # a made-up input_channel
    metrics.record_turn("rest", 0.05, failed=True)
    tracker = _tracker(
        f"我爸爸去世了 {PHONE}",
        "nlu_fallback",
        [
            {"entity": "emergency_type", "value": "bereavement"},
            {"entity": "emergency_type", "value": ID},  # not a category: "other"
        ],
    )
    metrics.observe_turn(tracker)
    metrics.record_booking_refusal(PHONE)
    after = metrics.render().decode()

    assert PHONE not in after and ID not in after and sender_like not in after
    assert "138****" not in after  # not even masked: no text of a message reaches a label
    moved = {
        ("crj_turns_total", (("channel", "other"), ("outcome", "ok"))): 1,
        ("crj_turns_total", (("channel", "rest"), ("outcome", "failed"))): 1,
        ("crj_fallbacks_total", (("kind", "nlu_fallback"),)): 1,
        ("crj_emergencies_total", (("category", "bereavement"),)): 1,
        ("crj_emergencies_total", (("category", "other"),)): 1,
        ("crj_booking_refusals_total", (("code", "other"),)): 1,
    }
    for (name, labels), delta in moved.items():
        assert _value(after, name, **dict(labels)) - _value(before, name, **dict(labels)) == delta
    assert _value(after, "crj_turn_seconds_count", channel="rest") >= 1


def test_an_error_record_is_counted_by_its_top_logger() -> None:
    metrics.install_error_counter()
    before = _value(metrics.render().decode(), "crj_errors_total", source="bot")
    logging.getLogger("bot.some.module").error("the booking database went away")
    logging.getLogger("bot.some.module").warning("only a warning")
    after = _value(metrics.render().decode(), "crj_errors_total", source="bot")
    assert after - before == 1


def test_a_broken_metric_never_breaks_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_metrics", lambda: (_ for _ in ()).throw(RuntimeError("x")))
    metrics.record_turn("rest", 0.1, failed=False)  # logged once, not raised
    metrics.record_booking("made")


# --- /metrics access --------------------------------------------------------------------------


def _rasa_like_app(agent: Any = None) -> Sanic:
    app = Sanic(f"health_{uuid.uuid4().hex[:8]}")
    add_rasa_routes(app)
    if agent is not None:
        app.ctx.agent = agent
    return app


def test_metrics_need_loopback_or_the_metrics_token(env: pytest.MonkeyPatch) -> None:
    srv = ServerThread(_rasa_like_app()).start()
    try:
        direct = requests.get(f"{srv.base}/metrics", timeout=10)
        assert direct.status_code == 200 and "crj_turns_total" in direct.text
        assert direct.headers["content-type"].startswith("text/plain")
        proxied = requests.get(
            f"{srv.base}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10
        )
        assert proxied.status_code == 403
        env.setenv("METRICS_TOKEN", "a-long-metrics-scrape-token")
        get_settings.cache_clear()
        assert requests.get(f"{srv.base}/metrics", timeout=10).status_code == 403
        bearer = {"Authorization": "Bearer a-long-metrics-scrape-token"}
        assert requests.get(f"{srv.base}/metrics", headers=bearer, timeout=10).status_code == 200
        wrong = {"Authorization": "Bearer guessed"}
        assert requests.get(f"{srv.base}/metrics", headers=wrong, timeout=10).status_code == 403
        assert requests.get(f"{srv.base}/health", timeout=10).json() == {"status": "ok"}
    finally:
        srv.stop()


def test_a_short_metrics_token_is_refused_in_production(env: pytest.MonkeyPatch) -> None:
    from bot.settings import production_problems

    env.setenv("APP_ENV", "production")
    env.setenv("METRICS_TOKEN", "short")
    get_settings.cache_clear()
    assert any("METRICS_TOKEN" in p for p in production_problems(get_settings()))


# --- readiness --------------------------------------------------------------------------------


def test_rasa_server_is_not_ready_before_the_model_is_loaded(env: pytest.MonkeyPatch) -> None:
    srv = ServerThread(_rasa_like_app()).start()
    try:
        ready = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "model: not_loaded"
        assert requests.get(f"{srv.base}/health", timeout=10).status_code == 200  # still alive
    finally:
        srv.stop()


def _action_server(tmp_path: Path) -> ServerThread:
    from bot.action_server import create_app

    app = create_app("tests.action_fixtures", get_settings())
    app.name = f"actions_{uuid.uuid4().hex[:8]}"
    return ServerThread(app).start()


def test_action_server_ready_with_its_database_and_503_without(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'booking.db'}"
    migrate(url, sync=False)
    env.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    srv = _action_server(tmp_path)
    try:
        ready = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"actions": "ok", "booking_db": "ok"}
    finally:
        srv.stop()

    port = _closed_port()
    env.setenv("DATABASE_URL", f"postgresql://crj:secret-password@127.0.0.1:{port}/booking")
    get_settings.cache_clear()
    dispose_engines()
    srv = _action_server(tmp_path)
    try:
        down = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert requests.get(f"{srv.base}/health", timeout=10).status_code == 200
    finally:
        srv.stop()
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "not_ready" and body["reason"] == "booking_db: OperationalError"
    assert "secret-password" not in down.text and str(port) not in down.text


@pytest.fixture(scope="module")
def model_path() -> Path:
    from tests.live import MODEL

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first (make test does)")
    return MODEL


def _load_agent(model: Path, tracker_store: Any) -> Any:
    from rasa.core.agent import Agent

    return Agent.load(str(model), tracker_store=tracker_store)


def test_rasa_server_readiness_follows_the_tracker_database_and_redis(
    env: pytest.MonkeyPatch, pg_url: str, redis_url: str, model_path: Path
) -> None:
    """Ready on PostgreSQL and Redis; 503 once the tracker database is gone, or Redis is."""
    from rasa.shared.core.domain import Domain

    from bot.stores import EnvTrackerStore

    env.setenv("TRACKER_STORE_URL", pg_url)
    env.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    store = EnvTrackerStore(domain=Domain.empty())
    agent = _load_agent(model_path, store)
    srv = ServerThread(_rasa_like_app(agent)).start()
    try:
        ready = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"model": "ok", "tracker_store": "ok", "redis": "ok"}

        env.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
        get_settings.cache_clear()
        no_redis = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert no_redis.status_code == 503 and no_redis.json()["reason"].startswith("redis: ")

        env.setenv("REDIS_URL", redis_url)
        get_settings.cache_clear()
        _drop_database(pg_url)
        store.engine.dispose()  # pooled connections died with the database
        no_db = requests.get(f"{srv.base}/health/ready", timeout=10)
        assert no_db.status_code == 503
        assert no_db.json()["reason"] == "tracker_store: OperationalError"
        assert no_db.json()["checks"]["model"] == "ok"
    finally:
        srv.stop()


def _drop_database(url: str) -> None:
    """What an operator's mistake or an outage does: the database is no longer there."""
    from tests.conftest import PG_ADMIN_URL

    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


# --- JSON logs --------------------------------------------------------------------------------


def test_json_lines_keep_ids_and_phones_masked() -> None:
    install_log_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("bot.test_json_logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("booking for %s, phone %s", ID, PHONE)
        try:
            raise ValueError(f"bad id {ID}")
        except ValueError:
            log.exception("failed for 电话%s", PHONE)
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "ERROR"]
    assert lines[0]["message"] == "booking for 330521********001X, phone 138****5678"
    assert lines[0]["logger"] == "bot.test_json_logs" and lines[0]["time"].endswith("+00:00")
    assert "ValueError: bad id 330521********001X" in lines[1]["exc"]
    assert ID not in stream.getvalue() and PHONE not in stream.getvalue()


def test_log_format_switches_existing_handlers_only_for_json() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    plain = logging.Formatter("%(message)s")
    handler.setFormatter(plain)
    root.addHandler(handler)
    try:
        assert install_log_format("text") is False and handler.formatter is plain
        assert install_log_format("json") is True
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.removeHandler(handler)


def test_action_server_writes_json_lines_with_masked_numbers(tmp_path: Path) -> None:
    """The real action server started as `make run` starts it, with LOG_FORMAT=json."""
    import os
    import subprocess
    import sys
    import time

    from tests.live import ROOT, free_port

    port = free_port()
    log_path = tmp_path / "actions.log"
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'booking.db'}",
        "ACTION_SERVER_TOKEN": "json-log-test-action-token",
        "PYTHONWARNINGS": "ignore",
    }
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.serve", "actions", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        headers = {"X-Action-Token": "json-log-test-action-token"}
        call = {"next_action": f"action_{PHONE}", "sender_id": "s", "tracker": {"sender_id": "s"}}
        unknown = requests.post(f"{base}/webhook", json=call, headers=headers, timeout=30)
        assert unknown.status_code == 404
        scraped = requests.get(f"{base}/metrics", timeout=10).text
        assert _value(scraped, "crj_action_calls_total", action="other", outcome="not_found") == 1
        assert PHONE not in scraped
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    unknown_lines = [r for r in records if r["message"].startswith("unknown action")]
    assert unknown_lines and unknown_lines[0]["message"] == "unknown action action_138****5678"
    assert PHONE not in text


# --- the Rasa-side counters that bot.rasa_patches feeds ---------------------------------------


def test_default_fallback_and_unreachable_action_server_are_counted() -> None:
    """Rasa's own ActionDefaultFallback and RemoteAction, run as the processor runs them."""
    from rasa.core.actions.action import ActionDefaultFallback, RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import EndpointConfig

    from bot import rasa_patches

    rasa_patches.install()
    domain = Domain.from_yaml(
        'version: "3.1"\nresponses:\n  utter_default: [{text: "没听懂"}]\n'
        '  utter_system_busy: [{text: "系统繁忙"}]\n'
    )
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    tracker = _tracker("qqq www eee", "nlu_fallback", [])
    before = metrics.render().decode()

    fallback_events = asyncio.run(
        ActionDefaultFallback().run(CollectingOutputChannel(), nlg, tracker, domain)
    )
    remote = RemoteAction(
        "action_answer_kb", EndpointConfig(url=f"http://127.0.0.1:{_closed_port()}/webhook")
    )
    guarded = rasa_patches._GuardedAction(remote)
    busy_events = asyncio.run(guarded.run(CollectingOutputChannel(), nlg, tracker, domain))

    after = metrics.render().decode()
    assert fallback_events[0].text == "没听懂" and busy_events[0].text == "系统繁忙"
    kind = {"kind": "action_default_fallback"}
    assert (
        _value(after, "crj_fallbacks_total", **kind) - _value(before, "crj_fallbacks_total", **kind)
        == 1
    )
    failure = {"action": "action_answer_kb", "reason": "unreachable"}
    name = "crj_action_server_failures_total"
    assert _value(after, name, **failure) - _value(before, name, **failure) == 1
