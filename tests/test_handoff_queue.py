"""The handoff queue (bot.handoff): order, access, delivery once, masking, office hours.

SQLite and the real PostgreSQL (skipped with a reason when it is not running), migrated by
the project's own Alembic migrations.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from sqlalchemy import select, update

from bot.booking import dispose_engines, get_engine, migrate
from bot.handoff.hours import is_staffed, next_opening, staffed_sessions
from bot.handoff.models import HandoffCase, HandoffMessage
from bot.handoff.queue import WECHAT_QUOTA, HandoffQueue
from bot.handoff.summary import build_summary, detect_emergency, detect_reason

CLEAR_ID = "33052119900315001X"
CLEAR_PHONE = "13812345678"
#: Any 15+ character ID-like run of digits, or an 11-digit mobile, in clear.
CLEAR_NUMBER = re.compile(r"\d{15,17}[\dXx]|1[3-9]\d{9}")


@pytest.fixture(params=["sqlite", "postgresql"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HandoffQueue]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'handoff.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    migrate(url, sync=False)
    try:
        yield HandoffQueue(get_engine(url))
    finally:
        dispose_engines()


def summary(**extra: Any) -> Dict[str, Any]:
    return {"reason": "request", "slots": [], "turns": [], **extra}


def open_case(queue: HandoffQueue, sender: str, channel: str = "rest", **kw: Any) -> Any:
    return queue.open_case(
        sender_id=sender,
        channel=channel,
        reason=kw.pop("reason", "request"),
        summary=kw.pop("summary", summary()),
        **kw,
    )


def events_with_numbers() -> List[Dict[str, Any]]:
    return [
        {"event": "user", "text": "我要预约护照", "parse_data": {"intent": {"name": "book"}}},
        {"event": "bot", "text": "请告诉我您的身份证号码", "metadata": {}},
        {"event": "user", "text": f"身份证 {CLEAR_ID} 电话 {CLEAR_PHONE}", "parse_data": {}},
        {"event": "bot", "text": f"好的 {CLEAR_PHONE[:3]} {CLEAR_PHONE[3:7]} {CLEAR_PHONE[7:]}"},
        {"event": "user", "text": "转人工", "parse_data": {"intent": {"name": "request_human"}}},
    ]


# ------------------------------------------------------------------------------ order
def test_emergencies_go_first_then_the_oldest(queue: HandoffQueue) -> None:
    first = open_case(queue, "a")
    second = open_case(queue, "b")
    urgent = open_case(queue, "c", emergency="bereavement")
    assert (first.position, second.position) == (1, 2)
    assert urgent.position == 1 and urgent.priority
    assert queue.take_pending("a", "rest").position == 2
    assert queue.take_pending("b", "rest").position == 3
    listed = [c.id for c in queue.cases("staff-1") if c.status == "waiting"]
    assert listed == [urgent.case_id, first.case_id, second.case_id]


def test_asking_again_keeps_one_case_and_its_place(queue: HandoffQueue) -> None:
    first = open_case(queue, "a")
    again = open_case(queue, "a")
    assert again.case_id == first.case_id and not again.created and again.token is None
    assert first.token and len(first.token) >= 40
    # the same sender on another channel is another conversation
    assert open_case(queue, "a", channel="wechat").case_id != first.case_id


# ------------------------------------------------------------------------------ staff access
def test_only_the_session_that_took_a_case_answers_or_closes_it(queue: HandoffQueue) -> None:
    case = open_case(queue, "a").case_id
    assert queue.reply(case, "staff-1", "你好").code == "not_yours"  # not taken yet
    assert queue.take(case, "staff-1").code == "ok"
    assert queue.take(case, "staff-2").code == "not_waiting"
    assert queue.reply(case, "staff-2", "插话").code == "not_yours"
    assert queue.close_by_staff(case, "staff-2").code == "not_yours"
    assert queue.reply(case, "staff-1", "   ").code == "empty"
    assert queue.reply(case, "staff-1", "请问您要办什么？").code == "ok"
    assert queue.take(999_999, "staff-1").code == "not_found"
    assert queue.close_by_staff(case, "staff-1").code == "ok"
    assert queue.reply(case, "staff-1", "还在吗").code == "closed"
    assert not queue.take_pending("a", "rest").open  # the bot answers again


# ------------------------------------------------------------------------------ delivery
def test_staff_messages_reach_the_citizen_once_by_turn_or_poll(queue: HandoffQueue) -> None:
    opened = open_case(queue, "a")
    queue.take(opened.case_id, "staff-1")
    queue.reply(opened.case_id, "staff-1", "请带上身份证")
    state = queue.take_pending("a", "rest")
    assert [m.kind for m in state.pending] == ["taken", "text"]
    assert state.pending[1].text == "请带上身份证" and state.status == "taken"
    assert queue.take_pending("a", "rest").pending == []  # delivered once
    queue.reply(opened.case_id, "staff-1", "第二条")
    found = queue.poll(opened.token or "")
    assert found is not None
    is_open, language, pending = found
    assert is_open and language == "zh" and [m.text for m in pending] == ["第二条"]
    assert queue.take_pending("a", "rest").pending == []  # the poll already delivered it
    queue.close_by_staff(opened.case_id, "staff-1")
    closed = queue.poll(opened.token or "")
    assert closed is not None and closed[0] is False and [m.kind for m in closed[2]] == ["closed"]


def test_a_wrong_or_guessed_token_reads_nothing(queue: HandoffQueue) -> None:
    opened = open_case(queue, "a")
    queue.take(opened.case_id, "staff-1")
    queue.reply(opened.case_id, "staff-1", "只给本人看")
    for token in ["", "a", "a" * 43, (opened.token or "")[:-1] + "x", "a" * 500, "令牌"]:
        assert queue.poll(token) is None
    assert [m.text for m in queue.take_pending("a", "rest").pending][-1] == "只给本人看"


def test_the_citizen_closes_with_end_and_later_staff_lines_are_dropped(queue: HandoffQueue) -> None:
    opened = open_case(queue, "a")
    queue.take(opened.case_id, "staff-1")
    queue.add_citizen_message(opened.case_id, f"我的电话是{CLEAR_PHONE}")
    assert queue.close_by_citizen("a", "rest")
    assert not queue.close_by_citizen("a", "rest")  # nothing open any more
    assert queue.take_pending("a", "rest").pending == []
    view = queue.case(opened.case_id, "staff-1")
    assert view is not None and view.status == "closed"
    citizen = [m for m in view.messages if m["author"] == "citizen"]
    assert citizen and CLEAR_PHONE not in citizen[0]["text"] and "138****5678" in citizen[0]["text"]


def test_wechat_api_only_within_48_hours_and_the_quota(queue: HandoffQueue) -> None:
    opened = open_case(queue, "oOpenId", channel="wechat")
    assert queue.take(opened.case_id, "staff-1").wechat_allowed
    allowed = [queue.reply(opened.case_id, "staff-1", f"第{i}条").wechat_allowed for i in range(6)]
    # taking counted as one API message: four more replies fit in WeChat's five
    assert allowed == [True] * (WECHAT_QUOTA - 1) + [False, False]
    queue.add_citizen_message(opened.case_id, "好的")  # a new message re-opens the quota
    assert queue.reply(opened.case_id, "staff-1", "收到").wechat_allowed
    table = HandoffCase.__table__
    with queue._engine.begin() as conn:  # the citizen wrote last 49 hours ago
        conn.execute(
            update(table)
            .where(table.c.id == opened.case_id)
            .values(last_citizen_at=datetime.now(timezone.utc) - timedelta(hours=49))
        )
    late = queue.reply(opened.case_id, "staff-1", "还在吗")
    assert late.code == "ok" and not late.wechat_allowed
    # kept for the citizen's next message instead
    assert "还在吗" in [m.text for m in queue.take_pending("oOpenId", "wechat").pending]
    assert queue.reply(opened.case_id, "staff-1", "rest").channel == "wechat"


def test_a_failed_wechat_send_is_kept_for_the_next_turn(queue: HandoffQueue) -> None:
    opened = open_case(queue, "oOpenId", channel="wechat")
    queue.take(opened.case_id, "staff-1")
    queue.take_pending("oOpenId", "wechat")
    sent = queue.reply(opened.case_id, "staff-1", "您好")
    assert sent.wechat_allowed and queue.take_pending("oOpenId", "wechat").pending == []
    queue.undeliver(int(sent.message_id or 0))
    assert [m.text for m in queue.take_pending("oOpenId", "wechat").pending] == ["您好"]


# ------------------------------------------------------------------------------ privacy
def test_a_summary_holds_no_clear_id_number_or_phone(queue: HandoffQueue) -> None:
    slots = {
        "booking_service": "passport",
        "booking_name": "张三",
        "booking_id_number": CLEAR_ID,  # even if a slot ever held one in clear
        "booking_phone": CLEAR_PHONE,
        "requested_slot": None,
        "language": "zh",
    }
    built = build_summary(
        slots=slots,
        events=events_with_numbers(),
        reason="request",
        emergency=None,
        channel="rest",
    )
    assert not CLEAR_NUMBER.search(json.dumps(built, ensure_ascii=False))
    assert built["topic_name"] == "普通护照" or built["topic"] == "passport"
    texts = [t["text"] for t in built["turns"]]
    assert any("330521********001X" in t for t in texts) and any("138****5678" in t for t in texts)
    assert {s["slot"] for s in built["slots"]} >= {"booking_service", "booking_phone"}
    assert "requested_slot" not in {s["slot"] for s in built["slots"]}

    # stored: masked again whatever the caller passed, and the same in the staff view
    raw = {"turns": [{"from": "citizen", "text": f"{CLEAR_ID} / {CLEAR_PHONE}"}], "slots": []}
    opened = open_case(queue, "a", summary=raw)
    with queue._engine.connect() as conn:
        stored = conn.execute(
            select(HandoffCase.__table__.c.summary).where(
                HandoffCase.__table__.c.id == opened.case_id
            )
        ).scalar_one()
    assert not CLEAR_NUMBER.search(json.dumps(stored, ensure_ascii=False))
    from bot.channels.guide_queue import case_json

    view = queue.case(opened.case_id, "staff-1")
    assert view is not None
    assert not CLEAR_NUMBER.search(json.dumps(case_json(view), ensure_ascii=False))


def test_staff_replies_are_stored_masked(queue: HandoffQueue) -> None:
    opened = open_case(queue, "a")
    queue.take(opened.case_id, "staff-1")
    queue.reply(opened.case_id, "staff-1", f"您登记的电话 {CLEAR_PHONE} 对吗")
    with queue._engine.connect() as conn:
        texts = conn.execute(select(HandoffMessage.__table__.c.text)).scalars().all()
    assert not any(CLEAR_NUMBER.search(t) for t in texts)


# ------------------------------------------------------------------------------ summary parts
def test_emergency_and_reason_detection() -> None:
    events = [
        {
            "event": "user",
            "text": "我爸病危",
            "parse_data": {
                "entities": [{"entity": "emergency_type", "value": "critical_illness_visit"}]
            },
        },
        {"event": "bot", "text": "绿色通道…", "metadata": {"utter_action": "utter_green_channel"}},
        {"event": "user", "text": "/request_human", "parse_data": {}},
    ]
    assert detect_emergency({}, events) == "critical_illness_visit"
    assert detect_emergency({"emergency_type": "bereavement"}, []) == "bereavement"
    assert detect_emergency({}, events_with_numbers()) is None
    assert detect_reason(events, "critical_illness_visit") == "emergency"
    form = [
        {
            "event": "bot",
            "text": "试了三次…",
            "metadata": {"utter_action": "utter_booking_form_handoff"},
        },
        {"event": "user", "text": "/request_human"},
    ]
    assert detect_reason(form, None) == "form_failures"
    assert detect_reason(events_with_numbers(), None) == "request"


# ------------------------------------------------------------------------------ office hours
SESSIONS = staffed_sessions([["09:00", "12:00"], ["13:30", "17:00"]])


def test_staffed_only_in_sessions_on_working_days() -> None:
    wednesday = datetime(2026, 12, 2)
    assert is_staffed(datetime.combine(wednesday, time(10, 0)), SESSIONS)
    assert not is_staffed(datetime.combine(wednesday, time(12, 30)), SESSIONS)
    assert not is_staffed(datetime.combine(wednesday, time(17, 0)), SESSIONS)
    assert not is_staffed(datetime(2026, 12, 5, 10, 0), SESSIONS)  # a Saturday
    assert not is_staffed(datetime(2026, 10, 1, 10, 0), SESSIONS)  # National Day


def test_next_opening_skips_lunch_nights_weekends_and_holidays() -> None:
    assert next_opening(datetime(2026, 12, 2, 12, 30), SESSIONS) == datetime(2026, 12, 2, 13, 30)
    assert next_opening(datetime(2026, 12, 4, 18, 0), SESSIONS) == datetime(2026, 12, 7, 9, 0)
    after_holiday = next_opening(datetime(2026, 10, 1, 9, 0), SESSIONS)
    assert after_holiday is not None and after_holiday.date() > datetime(2026, 10, 7).date()


def test_the_halls_sessions_come_from_the_knowledge_base() -> None:
    assert staffed_sessions() == SESSIONS  # data/kb/halls.yml booking_defaults


# ------------------------------------------------------------------------------ caps
def test_one_client_opens_three_cases_an_hour_whatever_its_sender_ids(queue: HandoffQueue) -> None:
    at = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
    opened = [open_case(queue, f"s{i}", client_key="k1", now=at) for i in range(3)]
    assert all(o.created and o.refused is None for o in opened)
    fourth = open_case(queue, "s3", client_key="k1", now=at + timedelta(minutes=5))
    assert fourth.refused == "client_limit" and not fourth.created and fourth.token is None
    assert queue.take_pending("s3", "rest").case_id is None  # nothing was stored for it
    # the conversation's own case is always found again, and another client is not counted
    again = open_case(queue, "s0", client_key="k1", now=at + timedelta(minutes=6))
    assert again.refused is None and again.case_id == opened[0].case_id
    assert open_case(queue, "t0", client_key="k2", now=at).created
    # closing does not give the place back: the cap counts the cases opened in the hour
    assert queue.close_by_citizen("s1", "rest")
    assert open_case(queue, "s4", client_key="k1", now=at + timedelta(minutes=59)).refused
    later = open_case(queue, "s4", client_key="k1", now=at + timedelta(minutes=61))
    assert later.created and later.refused is None
    # a channel that vouches for its senders (WeChat: no client key) has no per-client cap
    assert all(open_case(queue, f"wx{i}", "wechat", now=at).created for i in range(4))


def test_a_full_queue_refuses_new_cases_until_one_is_taken(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'full.db'}"
    migrate(url, sync=False)
    queue = HandoffQueue(get_engine(url), max_waiting=2)
    first = open_case(queue, "a", client_key="ka")
    open_case(queue, "b", client_key="kb")
    full = open_case(queue, "c", client_key="kc", emergency="bereavement")
    assert full.refused == "queue_full" and full.case_id == 0
    assert open_case(queue, "a", client_key="ka").case_id == first.case_id  # still found
    assert queue.take(first.case_id, "desk").code == "ok"
    assert open_case(queue, "c", client_key="kc").created
    dispose_engines()


def test_parallel_openings_from_one_client_cannot_outrun_the_cap(queue: HandoffQueue) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: open_case(queue, f"p{i}", client_key="kp"), range(8)))
    assert sum(r.created for r in results) == 3
    assert sum(r.refused == "client_limit" for r in results) == 5
