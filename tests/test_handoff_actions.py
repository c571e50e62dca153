"""The handoff's actions (actions/handoff.py) on rasa_sdk trackers, against a real SQLite queue."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff
from bot.booking import dispose_engines, migrate
from bot.handoff.queue import HandoffQueue
from bot.settings import get_settings

WEDNESDAY_10 = datetime(2026, 12, 2, 10, 0)
SATURDAY_10 = datetime(2026, 12, 5, 10, 0)


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("WECHAT_HANDOFF", raising=False)
    get_settings.cache_clear()
    migrate(url, sync=False)
    try:
        yield url
    finally:
        dispose_engines()
        get_settings.cache_clear()


def user(text: str, intent: str, entities: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}, "entities": entities or []},
        "input_channel": "rest",
    }


def tracker(
    events: List[Dict[str, Any]],
    slots: Optional[Dict[str, Any]] = None,
    sender: str = "citizen-1",
    channel: str = "rest",
) -> Tracker:
    for event in events:
        if event.get("event") == "user":
            event["input_channel"] = channel
    latest = next((e for e in reversed(events) if e.get("event") == "user"), {})
    return Tracker(
        sender,
        slots or {},
        {**(latest.get("parse_data") or {}), "text": latest.get("text")},
        events,
        False,
        None,
        {},
        channel,
    )


def run(action: Any, t: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def responses(messages: List[Dict[str, Any]]) -> List[Optional[str]]:
    return [m.get("response") for m in messages]


def test_request_human_queues_with_place_wait_and_a_token(db: str, monkeypatch) -> None:
    monkeypatch.setattr(handoff, "local_now", lambda: WEDNESDAY_10)
    messages, events = run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")]))
    assert responses(messages)[0] == "utter_handoff_queued"
    assert messages[0]["position"] == 1 and messages[0]["wait_minutes"] == 5
    token = messages[1]["custom"]["handoff"]["token"]
    assert HandoffQueue().poll(token) is not None
    assert {"event": "slot", "name": "handoff_requested", "value": True} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
    # the second citizen is second, with twice the wait
    second, _ = run(
        handoff.ActionHandoff(), tracker([user("找工作人员", "request_human")], sender="c-2")
    )
    assert second[0]["position"] == 2 and second[0]["wait_minutes"] == 10


def test_outside_office_hours_says_when_and_gives_12367(db: str, monkeypatch) -> None:
    monkeypatch.setattr(handoff, "local_now", lambda: SATURDAY_10)
    messages, _ = run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")]))
    assert responses(messages)[0] == "utter_handoff_queued_closed"
    assert messages[0]["hotline"] == "12367"
    assert messages[0]["opens"] == "2026年12月7日（周一） 09:00"
    assert HandoffQueue().take_pending("citizen-1", "rest").open  # queued all the same


def test_an_emergency_case_is_first_and_says_so(db: str, monkeypatch) -> None:
    monkeypatch.setattr(handoff, "local_now", lambda: WEDNESDAY_10)
    run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")], sender="early"))
    events = [
        user(
            "我爸在国外病危",
            "report_emergency",
            [{"entity": "emergency_type", "value": "critical_illness_visit"}],
        ),
        {"event": "bot", "text": "绿色通道…", "metadata": {"utter_action": "utter_green_channel"}},
        user("/request_human", "request_human"),
    ]
    messages, _ = run(handoff.ActionHandoff(), tracker(events, sender="urgent"))
    assert responses(messages)[0] == "utter_handoff_queued_emergency"
    assert messages[0]["position"] == 1
    case = HandoffQueue().cases("staff")[0]
    assert case.emergency == "critical_illness_visit" and case.reason == "emergency"


def test_end_handoff_closes_the_case(db: str, monkeypatch) -> None:
    monkeypatch.setattr(handoff, "local_now", lambda: WEDNESDAY_10)
    run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")]))
    messages, _ = run(handoff.ActionEndHandoff(), tracker([user("结束人工", "end_handoff")]))
    assert responses(messages) == ["utter_handoff_ended"]
    assert not HandoffQueue().take_pending("citizen-1", "rest").open
    again, _ = run(handoff.ActionEndHandoff(), tracker([user("结束人工", "end_handoff")]))
    assert responses(again) == ["utter_handoff_none_open"]


def test_two_fallbacks_in_a_row_hand_over_one_does_not(db: str, monkeypatch) -> None:
    monkeypatch.setattr(handoff, "local_now", lambda: WEDNESDAY_10)
    once = [user("办护照", "ask_documents"), user("qzxv", "nlu_fallback")]
    messages, events = run(handoff.ActionDefaultFallback(), tracker(once))
    assert responses(messages) == ["utter_default"]
    assert events[-1]["event"] == "rewind"
    twice = [
        user("qzxv", "nlu_fallback"),
        user("都不是", "out_of_scope"),
        user("zzkq", "nlu_fallback"),
    ]
    messages, events = run(handoff.ActionDefaultFallback(), tracker(twice))
    assert responses(messages)[:2] == ["utter_handoff_after_fallbacks", "utter_handoff_queued"]
    assert HandoffQueue().cases("staff")[0].reason == "fallbacks"


def test_blank_messages_are_not_misunderstandings(db: str, monkeypatch) -> None:
    """Two sends pressed by mistake get the help text, not a staff case."""
    monkeypatch.setattr(handoff, "local_now", lambda: WEDNESDAY_10)
    blanks = [user("", "nlu_fallback"), user("   ", "nlu_fallback")]
    messages, _ = run(handoff.ActionDefaultFallback(), tracker(blanks))
    assert responses(messages) == ["utter_default"]
    between = [user("qzxv", "nlu_fallback"), user("", "nlu_fallback"), user("zzkq", "nlu_fallback")]
    messages, _ = run(handoff.ActionDefaultFallback(), tracker(between))
    assert responses(messages)[0] == "utter_handoff_after_fallbacks"
    assert [c.reason for c in HandoffQueue().cases("staff")] == ["fallbacks"]


def test_wechat_transfer_mode_asks_the_channel_for_the_transfer_reply(db: str, monkeypatch) -> None:
    monkeypatch.setenv("WECHAT_HANDOFF", "transfer")
    messages, _ = run(
        handoff.ActionHandoff(), tracker([user("转人工", "request_human")], channel="wechat")
    )
    assert messages[0]["custom"] == {"wechat_transfer": True}
    assert HandoffQueue().cases("staff") == []  # WeChat's own agents take it
    # REST citizens still get the queue
    rest, _ = run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")]))
    assert rest[0]["response"].startswith("utter_handoff_queued")


def test_without_the_database_the_phone_numbers_are_given(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x' / 'no.db'}")
    get_settings.cache_clear()
    try:  # no migration: the tables do not exist
        messages, _ = run(handoff.ActionHandoff(), tracker([user("转人工", "request_human")]))
    finally:
        dispose_engines()
        get_settings.cache_clear()
    assert responses(messages) == ["utter_handoff"]
    assert "12367" == messages[0]["hotline"]
    assert json.dumps(messages, ensure_ascii=False).count("·") >= 2  # one line per hall


def test_end_words_and_asking_for_a_person() -> None:
    from bot.handoff.relay import asks_for_person, is_end_request

    assert is_end_request("结束人工！", None) and is_end_request("退出 人工", "greet")
    assert is_end_request("whatever", "end_handoff")
    assert not is_end_request("我想结束人工服务之前再问一句护照多少钱", "ask_fee")
    assert asks_for_person("我爸病危了，帮我转人工") and asks_for_person("能找工作人员吗")
    assert not asks_for_person("我爸病危了，要马上出国")
