"""Findings of the attacker review, one test each, and the repository's access rules on
SQLite and on the real PostgreSQL.

The review: any slot can be set through Rasa's HTTP API and the action server trusts the
tracker it is sent, so (1) slots saying "verified"/"owner" must grant nothing; (2) failed
last-four tries must be counted in the database, not per form or sender; (3) codes must be
too long to guess and a miss must not tell "exists" from "not found"; (4) sealed IDs and
phones must never enter the tracker's events; (5) the booking form's name and date edges;
(6) a locked SQLite write must not stall a reply past WeChat's 5 s.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time as clock
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select, update

import actions.booking as booking
import actions.booking.common as booking_common
from bot.booking import BookingRepository, PendingPersonalStore, get_engine, normalize_code
from bot.booking.access import CODE_FAILURE_LIMIT, GRANT_TTL, SENDER_FAILURE_LIMIT
from bot.booking.db import LOCK_TIMEOUT_S, write_lock
from bot.booking.models import Booking, PendingPersonal, VerificationFailure
from bot.booking.pending import PENDING_TTL
from bot.booking.repository import CODE_ALPHABET
from tests.test_booking_actions import (  # noqa: F401 - `store` is the autouse booking store
    ACTIONS,
    ADULT_ID,
    DOMAIN,
    PHONE,
    Chat,
    render,
    slot_event,
    store,
)
from tests.test_booking_actions import (
    repo as chat_repo,
)
from tests.test_booking_repo import book, db_url, repo  # noqa: F401 - fixtures

FORGED_SECRET_VALUES = (ADULT_ID, PHONE, "139 5712 4321", "sealed:")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- repository: grants, lockout, rate limits, same reply, codes (SQLite + PostgreSQL) ---------


def test_access_is_the_owner_or_a_recorded_grant(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]  # sender-0 on "rest"
    assert repo.check_access(code, sender_id="sender-0", channel="rest").level == "owner"
    assert repo.may_access(code, "sender-0", "rest")
    assert not repo.may_access(code, "sender-0", "wechat")  # owner = sender AND channel
    assert not repo.may_access(code, "stranger", "rest")
    assert repo.check_access(code, sender_id="stranger", channel="rest").booking is None

    # Without access the repository itself refuses to change the booking (defence in depth).
    assert repo.cancel(code, actor="stranger", channel="rest").error == "not_found"
    moved = repo.reschedule(
        code,
        day=date(2026, 12, 1),
        start=time(9, 0),
        actor="stranger",
        channel="rest",
        today=date(2026, 11, 27),
    )
    assert moved.error == "not_found"
    assert repo.get(code).status == "active" and repo.get(code).day == date(2026, 11, 30)  # type: ignore[union-attr]

    assert repo.verify_last4(code, "0000", sender_id="stranger", channel="rest").error == "mismatch"
    granted = repo.verify_last4(code, "5678", sender_id="stranger", channel="rest")
    assert granted.ok and granted.level == "grant" and granted.booking.phone_masked == "138****5678"  # type: ignore[union-attr]
    assert repo.may_access(code, "stranger", "rest")
    assert not repo.may_access(code, "stranger", "wechat")  # the grant is for this channel
    later = _now() + GRANT_TTL + timedelta(minutes=1)
    assert not repo.check_access(code, sender_id="stranger", channel="rest", at=later).ok  # expired
    assert repo.cancel(code, actor="stranger", channel="rest").ok  # within the grant
    assert [t["action"] for t in repo.audit_trail(code)] == ["book", "verify", "cancel"]


def test_five_failures_lock_the_code_for_everyone_but_the_owner(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    early = repo.verify_last4(code, "5678", sender_id="helper", channel="web")
    assert early.ok
    errors = [
        repo.verify_last4(code, f"{i:04d}", sender_id=f"guess-{i}", channel="rest").error
        for i in range(CODE_FAILURE_LIMIT)
    ]
    assert errors == ["mismatch"] * (CODE_FAILURE_LIMIT - 1) + ["locked"]
    # The right digits from a new sender (or a restarted form) no longer help today.
    assert repo.verify_last4(code, "5678", sender_id="fresh", channel="rest").error == "locked"
    assert repo.check_access(code, sender_id="fresh", channel="rest").error == "locked"
    assert not repo.may_access(code, "helper", "web")  # locked for grant holders too
    assert repo.may_access(code, "sender-0", "rest")  # the owner still gets in
    tomorrow = _now() + timedelta(days=1, minutes=1)
    assert repo.verify_last4(code, "5678", sender_id="fresh", channel="rest", at=tomorrow).ok
    # A code nobody has is locked the same way (so the lock tells nothing either).
    ghost = [
        repo.verify_last4("HZ-ZZZZZZZZ", f"{i:04d}", sender_id=f"g-{i}", channel="rest").error
        for i in range(CODE_FAILURE_LIMIT)
    ]
    assert ghost == errors


def test_failures_are_rate_limited_per_sender(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    results = [
        repo.verify_last4(
            f"HZ-{'23456789AB'[i]}{'Z' * 7}", "0000", sender_id="scanner", channel="rest"
        )
        for i in range(SENDER_FAILURE_LIMIT)
    ]
    assert [r.error for r in results] == ["mismatch"] * (SENDER_FAILURE_LIMIT - 1) + [
        "rate_limited"
    ]
    assert (
        repo.verify_last4(code, "5678", sender_id="scanner", channel="rest").error == "rate_limited"
    )
    assert repo.check_access(code, sender_id="scanner", channel="rest").error == "rate_limited"
    assert repo.verify_last4(code, "5678", sender_id="someone", channel="rest").ok
    in_an_hour = _now() + timedelta(hours=1, minutes=1)
    assert repo.verify_last4(code, "5678", sender_id="scanner", channel="rest", at=in_an_hour).ok
    with repo._engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(VerificationFailure.__table__)
        ).scalar()
    assert rows == SENDER_FAILURE_LIMIT  # at the limit nothing more is compared or counted


def test_unknown_code_and_wrong_digits_give_the_same_answer(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    ghost = "HZ-" + ("Z" if code[3] != "Z" else "Y") + code[4:]
    wrong = repo.verify_last4(code, "0000", sender_id="a", channel="rest")
    unknown = repo.verify_last4(ghost, "5678", sender_id="b", channel="rest")
    assert (wrong.ok, wrong.error, wrong.hall_id, wrong.booking) == (
        unknown.ok,
        unknown.error,
        unknown.hall_id,
        unknown.booking,
    )
    assert wrong.error == "mismatch" and wrong.hall_id == "huzhou"
    seen, not_seen = (repo.check_access(c, sender_id="c", channel="rest") for c in (code, ghost))
    assert (seen.ok, seen.error, seen.hall_id, seen.booking) == (
        not_seen.ok,
        not_seen.error,
        not_seen.hall_id,
        not_seen.booking,
    )


def test_new_codes_have_eight_characters_and_old_codes_still_work(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    prefix, body = code.split("-")
    assert prefix == "HZ" and len(body) == 8 and set(body) <= set(CODE_ALPHABET)
    assert normalize_code(code.lower().replace("-", " ")) == code
    old = book(repo, 7, day=date(2026, 12, 1)).code  # type: ignore[attr-defined]
    with repo._engine.begin() as conn:  # a booking made before the change
        conn.execute(
            update(Booking.__table__).where(Booking.__table__.c.code == old).values(code="HZ-7K3Q9")
        )
    assert repo.get("hz 7k3q9").code == "HZ-7K3Q9"  # type: ignore[union-attr]
    assert repo.may_access("ＨＺ７Ｋ３Ｑ９", "sender-7", "rest")
    assert repo.verify_last4("hz7k3q9", "0007", sender_id="x", channel="rest").ok
    assert booking.find_booking_code("查一下hz 7k3q9") == "HZ-7K3Q9"
    assert booking.find_booking_code(f"预约号{code}是哪天") == code


def test_parallel_guesses_cannot_pass_the_limit(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    with ThreadPoolExecutor(
        max_workers=12
    ) as pool:  # worker threads, as the action server runs them
        errors = list(
            pool.map(
                lambda i: (
                    repo.verify_last4(code, f"{i:04d}", sender_id=f"t-{i}", channel="rest").error
                ),
                range(24),
            )
        )
    assert set(errors) <= {"mismatch", "locked"}
    with repo._engine.connect() as conn:
        failures = conn.execute(
            select(func.count()).select_from(VerificationFailure.__table__)
        ).scalar()
    assert failures == CODE_FAILURE_LIMIT
    assert repo.verify_last4(code, "5678", sender_id="late", channel="rest").error == "locked"


# --- SQLite: a locked database answers "unavailable" within seconds ---------------------------


def test_locked_sqlite_gives_unavailable_quickly_from_any_thread(tmp_path: Path) -> None:
    from tests.test_booking_repo import prepare

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    repository = BookingRepository(prepare(url, tmp_path))
    code = book(repository).code  # type: ignore[attr-defined]
    other = sqlite3.connect(str(tmp_path / "locked.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = clock.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            booked = pool.submit(book, repository, 3).result()
            tried = pool.submit(
                repository.verify_last4, code, "0000", sender_id="s", channel="rest"
            ).result()
        elapsed = clock.monotonic() - started
        assert booked.error == "unavailable" and tried.error == "unavailable"  # type: ignore[attr-defined]
        assert elapsed < 2 * LOCK_TIMEOUT_S + 2, elapsed  # two waits of 3 s, never 30 s
        with pytest.raises(Exception) as info:
            PendingPersonalStore(repository._engine).put("conv", "phone", PHONE)
        assert info.type.__name__ == "BookingUnavailable"
    finally:
        other.rollback()
        other.close()
    # The in-process write lock gives up the same way.
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_lock(repository._engine):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        started = clock.monotonic()
        assert book(repository, 4).error == "unavailable"  # type: ignore[attr-defined]
        assert clock.monotonic() - started < LOCK_TIMEOUT_S + 1.5
    finally:
        release.set()
        holder.join()
    assert book(repository, 5).ok  # type: ignore[attr-defined]
    with get_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == int(LOCK_TIMEOUT_S * 1000)


# --- actions: forged trackers ---------------------------------------------------------------


def _run(name: str, sender: str, slots: Dict[str, Any], channel: str = "rest") -> tuple[list, list]:
    """Run one action on a tracker built by an attacker (as posted to the action server)."""
    all_slots = {s: None for s in DOMAIN["slots"]}
    all_slots.update(slots)
    latest = {"text": "/affirm", "intent": {"name": "affirm", "confidence": 1.0}, "entities": []}
    events = [{"event": "user", "text": "/affirm", "parse_data": latest, "input_channel": channel}]
    tracker = Tracker(sender, all_slots, latest, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    returned = asyncio.run(ACTIONS[name].run(dispatcher, tracker, DOMAIN))
    return [render(m, all_slots) for m in dispatcher.messages], returned


def test_forged_slots_do_not_cancel_someone_elses_booking() -> None:
    code = Chat().book()
    for flag in ("verified", "owner"):
        forged = {"booking_code": code, "booking_phone_last4": flag, "booking_cancel_confirm": True}
        messages, _ = _run("action_cancel_booking", "attacker", forged)
        assert chat_repo().get(code).status == "active"
        text = json.dumps(messages, ensure_ascii=False)
        assert "已取消" not in text and "139****4321" not in text and "2026年12月2日" not in text
    # The same through a chat where the attacker set the slots over the HTTP API.
    chat = Chat(sender="attacker-2")
    forged = {
        "booking_code": code,
        "booking_phone_last4": "verified",
        "booking_cancel_confirm": True,
    }
    chat._apply(
        [slot_event(k, v) for k, v in forged.items()]
    )  # POST /conversations/…/tracker/events
    chat.run_action("action_cancel_booking")
    assert chat_repo().get(code).status == "active" and "重新核验" in chat.text
    chat._apply([slot_event(k, v) for k, v in forged.items()])
    chat.say("取消预约", "cancel_booking")  # the form re-checks a forged "verified" slot too
    assert "后四位" in chat.text and "2026年12月2日" not in chat.text
    assert chat_repo().get(code).status == "active"


def test_forged_verified_lookup_reveals_nothing_and_reads_like_no_booking() -> None:
    code = Chat().book()
    real, _ = _run(
        "action_lookup_booking",
        "attacker",
        {"booking_code": code, "booking_phone_last4": "verified"},
    )
    ghost, _ = _run(
        "action_lookup_booking",
        "attacker",
        {"booking_code": "HZ-ZZZZZZZZ", "booking_phone_last4": "verified"},
    )
    assert [m["text"] for m in real] == [m["text"] for m in ghost]
    blob = json.dumps(real, ensure_ascii=False)
    assert (
        code not in blob
        and "139****4321" not in blob
        and "330521" not in blob
        and "2026年12月2日" not in blob
    )
    forged_move = {
        "booking_code": code,
        "booking_phone_last4": "owner",
        "booking_date": "2026-12-03",
        "booking_time": "14:00",
        "booking_confirm": True,
    }
    _run("action_reschedule_booking", "attacker", forged_move)
    assert chat_repo().get(code).day == date(2026, 12, 2)
    # The owner on another channel is not the owner either.
    other_channel, _ = _run(
        "action_lookup_booking",
        "wx-openid-A",
        {"booking_code": code, "booking_phone_last4": "owner"},
        channel="wechat",
    )
    assert "139****4321" not in json.dumps(other_channel, ensure_ascii=False)


def test_restarting_the_form_or_changing_sender_does_not_reset_the_tries() -> None:
    code = Chat().book()
    guesses = iter(f"{i:04d}" for i in range(1000, 1100))
    first = Chat(sender="thief-1")
    first.say(f"查一下{code}", "lookup_booking")
    for _ in range(3):
        first.say(next(guesses))
    assert "转人工" in first.text  # the form's own three tries
    first.say(f"查一下{code}", "lookup_booking")  # restart the form
    first.say(next(guesses))
    second = Chat(sender="thief-2")  # a new sender
    second.say(f"查一下{code}", "lookup_booking")
    second.say(next(guesses))  # the 5th failure on this code today
    assert "核验失败的次数太多" in second.text and "12367" in second.text
    assert second.active_loop is None
    third = Chat(sender="thief-3")
    third.say(f"查一下{code}", "lookup_booking")
    assert "核验失败的次数太多" in third.text and "后四位" not in third.text
    third.say("/lookup_booking")
    third.say("4321")  # right digits, too late
    assert "2026年12月2日" not in json.dumps(
        [first.transcript, second.transcript, third.transcript], ensure_ascii=False
    )
    owner = Chat()
    owner.say(f"查一下{code}", "lookup_booking")
    assert "2026年12月2日" in owner.text  # the owner is never locked out


def test_locked_reply_names_the_halls_phone_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALL_HUZHOU_PHONE", "0572-1234567")
    code = Chat().book()
    for i in range(CODE_FAILURE_LIMIT):
        chat_repo().verify_last4(code, f"{i:04d}", sender_id=f"x{i}", channel="rest")
    chat = Chat(sender="late")
    chat.say(f"查一下{code}", "lookup_booking")
    assert "0572-1234567" in chat.text and "12367" in chat.text


def test_unknown_and_existing_codes_get_the_same_replies_from_a_stranger() -> None:
    code = Chat().book()
    ghost = "HZ-" + ("Z" if code[3] != "Z" else "Y") + code[4:]
    replies = []
    for i, c in enumerate((code, ghost)):
        stranger = Chat(sender=f"prober-{i}")
        asked = stranger.say(f"查一下{c}", "lookup_booking")
        missed = stranger.say("0000")
        replies.append((asked, missed, [b["title"] for b in stranger.buttons]))
    assert replies[0] == replies[1]
    assert "后四位" in replies[0][0] and "不一致" in replies[0][1]


# --- personal data never in the tracker -----------------------------------------------------


def _pending_rows() -> List[Dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(select(PendingPersonal.__table__)).mappings()]


def test_no_sealed_or_clear_id_or_phone_in_the_events() -> None:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
        "139 5712 4321",
    ):
        chat.say(answer)
    rows = _pending_rows()
    assert {r["field"] for r in rows} == {"id_number", "phone"}
    assert all(r["sealed"].startswith("sealed:") and ADULT_ID not in r["sealed"] for r in rows)
    assert (
        chat.slots["booking_id_number"] == "330521********001X"
        and chat.slots["booking_phone"] == "139****4321"
    )
    chat.say("/affirm")
    assert "预约成功" in chat.text
    assert _pending_rows() == []  # deleted once the booking is written
    returned = json.dumps(chat.returned, ensure_ascii=False)
    history = json.dumps([e for e in chat.events if e.get("event") != "user"], ensure_ascii=False)
    for value in FORGED_SECRET_VALUES + ("13957124321",):
        assert value not in returned and value not in history, value
    with get_engine().connect() as conn:
        dump = json.dumps(
            [dict(r) for r in conn.execute(select(Booking.__table__)).mappings()], default=str
        )
    assert "sealed:" not in dump and ADULT_ID not in dump


def test_stopping_the_form_or_the_expiry_drops_the_pending_values() -> None:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
    ):
        chat.say(answer)
    assert len(_pending_rows()) == 1
    chat.say("算了", "deny")
    assert _pending_rows() == []

    store_ = PendingPersonalStore()
    store_.put("conv-x", "phone", PHONE)
    assert store_.get("conv-x", "phone") == PHONE
    assert store_.get("conv-x", "phone", at=_now() + PENDING_TTL + timedelta(seconds=1)) is None
    store_.put(
        "conv-y", "phone", PHONE, at=_now() + PENDING_TTL + timedelta(seconds=1)
    )  # purges expired rows
    assert [r["conversation_id"] for r in _pending_rows()] == ["conv-y"]


def test_expired_personal_values_are_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
        PHONE,
    ):
        chat.say(answer)
    PendingPersonalStore().drop(chat.sender)  # as if 30 minutes had passed
    chat.say("/affirm")
    assert "只保留30分钟" in chat.text and "预约成功" not in chat.text
    assert chat.slots["requested_slot"] == "booking_id_number"
    chat.say(ADULT_ID)
    chat.say(PHONE)
    chat.say("/affirm")
    assert "预约成功" in chat.text


# --- booking form edges ---------------------------------------------------------------------


def _at_name_step() -> Chat:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
    ):
        chat.say(answer)
    assert chat.slots["requested_slot"] == "booking_name"
    return chat


@pytest.mark.parametrize(
    "text, name", [("钱七", "钱七"), ("我叫钱七", "钱七"), ("欧阳娜娜", "欧阳娜娜")]
)
def test_a_name_is_taken_before_a_side_question(text: str, name: str) -> None:
    chat = _at_name_step()
    chat.say(text, "ask_fee")  # the NLU hears 钱 (money) as a fee question
    assert (
        chat.slots["booking_name"] == name and chat.slots["requested_slot"] == "booking_id_number"
    )


@pytest.mark.parametrize("word", ["确认", "好的", "是的", "取消"])
def test_yes_no_words_are_not_names(word: str) -> None:
    chat = _at_name_step()
    chat.say(word, "affirm" if word != "取消" else "deny")
    assert (
        chat.slots["booking_name"] is None
        and "姓名" in chat.text
        and chat.active_loop == "booking_form"
    )


@pytest.mark.parametrize("text, intent", [("上午10点", "ask_location"), ("下午两点", "greet")])
def test_a_time_is_taken_at_the_time_step_whatever_the_nlu_heard(text: str, intent: str) -> None:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in ('/inform{"service":"passport"}', '/inform{"booking_hall":"huzhou"}', "明天"):
        chat.say(answer)
    assert chat.slots["requested_slot"] == "booking_time"
    chat.say(text, intent)  # the trained model heard 上午10点 as a question about the hall
    assert chat.slots["booking_time"] is not None and chat.slots["requested_slot"] == "booking_name"


def test_a_date_is_taken_at_the_date_step_but_a_dated_question_is_answered() -> None:
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in ('/inform{"service":"passport"}', '/inform{"booking_hall":"huzhou"}'):
        chat.say(answer)
    chat.say("明天要带什么材料？", "ask_documents")
    assert chat.slots["booking_date"] is None and "身份证" in chat.text
    chat.say("明天", "ask_location")
    assert chat.slots["booking_date"] is not None and chat.slots["requested_slot"] == "booking_time"


def test_a_real_side_question_at_the_name_step_is_still_answered() -> None:
    chat = _at_name_step()
    chat.say("护照费用", "ask_fee", {"service": "passport"})
    assert chat.slots["booking_name"] is None and "接着预约" in chat.text


@pytest.mark.parametrize(
    "today",
    [datetime(2026, 12, 4, 10, 0), datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 28, 10, 0)],
)
def test_days_suggested_for_a_closed_day_are_inside_the_window_and_bookable(
    monkeypatch: pytest.MonkeyPatch, today: datetime
) -> None:
    monkeypatch.setattr(booking_common, "now", lambda: today)
    last = today.date() + timedelta(days=30)
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say("2027年1月1日")
    assert chat.slots["booking_date"] is None
    payloads = [b["payload"] for b in chat.buttons]
    assert payloads
    for payload in payloads:
        day = date.fromisoformat(json.loads(payload[len("/inform") :])["booking_date"])
        assert today.date() <= day <= last, (day, last)
        probe = Chat(sender=f"probe-{day}")
        probe.say("预约", "book_appointment")
        probe.say('/inform{"service":"passport"}')
        probe.say('/inform{"booking_hall":"huzhou"}')
        probe.say(payload)
        assert probe.slots["booking_date"] == day.isoformat(), probe.text


def test_pending_store_on_both_databases(repo: BookingRepository) -> None:
    pending = PendingPersonalStore(repo._engine)
    pending.put("conv-1", "id_number", ADULT_ID)
    pending.put("conv-1", "id_number", "330521202001010026")  # replaced, not duplicated
    pending.put("conv-1", "phone", PHONE)
    assert pending.get("conv-1", "id_number") == "330521202001010026"
    assert pending.get("conv-2", "phone") is None
    with repo._engine.connect() as conn:
        rows = conn.execute(select(PendingPersonal.__table__)).mappings().all()
    assert len(rows) == 2 and all(
        ADULT_ID not in r["sealed"] and PHONE not in r["sealed"] for r in rows
    )
    pending.drop("conv-1")
    assert pending.get("conv-1", "phone") is None
