"""/metrics and /health/ready of the real servers (tests/live.py), after real turns."""

from __future__ import annotations

import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

PHONE = "13812345678"


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += float(sample.value)
    return total


def _scrape(url: str) -> str:
    response = requests.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_turns_emergencies_and_fallbacks_move_the_counters(live_bot) -> None:
    before = _scrape(live_bot.url)
    actions_before = _scrape(live_bot.actions_url)
    sender = f"metrics-{uuid.uuid4().hex}"
    assert "身份证" in live_bot.text("办护照要带什么材料", sender)
    assert "绿色通道" in live_bot.text("我父亲在美国去世了，我要马上去奔丧", sender)
    lost = f"lost-{uuid.uuid4().hex}"
    live_bot.say("asdkjh qwe zzz", lost)
    live_bot.say("qqq www eee", lost)
    live_bot.say(f"我的电话是{PHONE}", lost)

    after = _scrape(live_bot.url)
    actions_after = _scrape(live_bot.actions_url)

    def moved(text_before: str, text_after: str, name: str, **labels: str) -> float:
        return _value(text_after, name, **labels) - _value(text_before, name, **labels)

    assert moved(before, after, "crj_turns_total", channel="rest", outcome="ok") >= 5
    assert moved(before, after, "crj_turn_seconds_count", channel="rest") >= 5
    assert moved(before, after, "crj_emergencies_total", category="bereavement") >= 1
    assert moved(before, after, "crj_fallbacks_total", kind="nlu_fallback") >= 1
    assert moved(before, after, "crj_fallbacks_total", kind="action_default_fallback") >= 1
    assert moved(actions_before, actions_after, "crj_action_calls_total", outcome="ok") >= 1
    for text in (after, actions_after):
        assert sender not in text and lost not in text
        assert PHONE not in text and "奔丧" not in text


def test_both_servers_are_ready(live_bot) -> None:
    rasa = requests.get(f"{live_bot.url}/health/ready", timeout=30)
    assert rasa.status_code == 200, rasa.text
    assert rasa.json()["checks"] == {"model": "ok", "tracker_store": "ok"}  # no REDIS_URL
    actions = requests.get(f"{live_bot.actions_url}/health/ready", timeout=30)
    assert actions.status_code == 200, actions.text
    assert actions.json()["checks"] == {"actions": "ok", "booking_db": "ok"}
    assert requests.get(f"{live_bot.url}/health", timeout=30).json() == {"status": "ok"}


def test_metrics_are_not_served_to_a_proxied_client(live_bot) -> None:
    """Through a proxy (nginx adds X-Forwarded-For) only a METRICS_TOKEN holder may scrape."""
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    for url in (live_bot.url, live_bot.actions_url):
        assert requests.get(f"{url}/metrics", headers=proxied, timeout=30).status_code == 403


def test_json_logs_and_action_server_failures_on_the_real_servers(tmp_path) -> None:
    """LOG_FORMAT=json on both servers; with the action server gone the turn answers busy,
    the failure is counted by reason, and every log line is JSON without a clear number."""
    import json

    from tests.live import start_live_bot, stop

    bot, procs = start_live_bot(
        tmp_path / "json", extra_env={"LOG_FORMAT": "json", "ACTION_TIMEOUT_SECONDS": "3"}
    )
    try:
        bot.say(f"我的电话是{PHONE}")
        before = _scrape(bot.url)
        procs[0].terminate()
        procs[0].wait(timeout=20)
        assert "系统繁忙" in bot.text("办护照要带什么材料")
        after = _scrape(bot.url)
        ready = requests.get(f"{bot.url}/health/ready", timeout=30)
    finally:
        stop(procs)
    failure = {"action": "action_answer_kb", "reason": "unreachable"}
    name = "crj_action_server_failures_total"
    assert _value(after, name, **failure) - _value(before, name, **failure) == 1
    assert _value(after, "crj_errors_total") > _value(before, "crj_errors_total")
    assert ready.status_code == 200  # the action server has its own readiness
    # (the action server's JSON lines: tests/test_metrics.py; it logged nothing here)
    lines = (tmp_path / "json" / "rasa.log").read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert any(r["logger"] == "bot.rasa_patches" and "exc" in r for r in records)
    assert PHONE not in "\n".join(lines)
