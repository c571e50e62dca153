"""Retention (bot.retention) on SQLite and on the real PostgreSQL, checked in the tables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.booking import BookingRepository, PendingPersonalStore, dispose_engines
from bot.retention import ERASED_PREFIX, prune_personal_rows, run
from bot.settings import get_settings
from bot.stores import EnvTrackerStore
from tests.test_booking_repo import make_id, make_phone, prepare

ROOT = Path(__file__).resolve().parent.parent
#: The run's clock; every stored time below is relative to it.
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
OLD_TODAY = date(2026, 6, 1)  # a Monday 184 days earlier: its bookings are long past
OLD_DAY = date(2026, 6, 3)
RECENT_TODAY = date(2026, 11, 27)
RECENT_DAY = date(2026, 11, 30)  # two days before NOW: still within 90 days


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """(tracker store URL, booking URL): two SQLite files, or one PostgreSQL database."""
    if request.param == "sqlite":
        tracker, booking = (f"sqlite:///{tmp_path / n}" for n in ("tracker.db", "booking.db"))
    else:
        tracker = booking = request.getfixturevalue("pg_url")
    monkeypatch.setenv("TRACKER_STORE_URL", tracker)
    monkeypatch.setenv("DATABASE_URL", booking)
    get_settings.cache_clear()
    yield tracker, booking
    dispose_engines()
    get_settings.cache_clear()


def _save_conversation(sender: str, ages_in_days: list[float]) -> None:
    """A conversation with one user turn per age, saved through the project's tracker store."""
    store = EnvTrackerStore(domain=Domain.empty())
    tracker = DialogueStateTracker(sender, slots=[])
    for age in ages_in_days:
        stamp = (NOW - timedelta(days=age)).timestamp()
        tracker.update(
            UserUttered(
                "办护照要带什么", intent={"name": "ask", "confidence": 1.0}, timestamp=stamp
            )
        )
        tracker.update(ActionExecuted("action_listen", timestamp=stamp))
    asyncio.run(store.save(tracker))
    store.engine.dispose()


def _events_per_sender(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sender_id, COUNT(*) FROM events GROUP BY sender_id"))
        counts = {str(sender): int(n) for sender, n in rows}
    engine.dispose()
    return counts


def _book(repo: BookingRepository, n: int, day: date, today: date) -> str:
    result = repo.book(
        hall_id="huzhou",
        service="passport",
        day=day,
        start=time(9, 0),
        name="张三丰",
        id_number=make_id(n),
        phone=make_phone(n),
        channel="wechat",
        sender_id=f"openid-{n}",
        today=today,
    )
    assert result.ok, result.error
    assert result.code is not None
    return result.code


def _table(engine: sa.engine.Engine, query: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(query)).mappings()]


def test_old_conversations_go_and_active_ones_stay_whole(urls: tuple[str, str]) -> None:
    tracker_url, booking_url = urls
    _save_conversation("idle-40-days", [45, 40])
    _save_conversation("started-long-ago-still-active", [60, 31, 2])
    _save_conversation("today", [0.01])
    before = _events_per_sender(tracker_url)

    report = run(days=30, now=NOW)

    after = _events_per_sender(tracker_url)
    assert "idle-40-days" not in after
    assert after["started-long-ago-still-active"] == before["started-long-ago-still-active"]
    assert after["today"] == before["today"]
    assert report.conversations_deleted == 1
    assert report.events_deleted == before["idle-40-days"]
    again = run(days=30, now=NOW)
    assert (again.conversations_deleted, again.events_deleted) == (0, 0)
    assert _events_per_sender(tracker_url) == after
    # A shorter retention reaches the next one; its whole history goes at once.
    assert run(days=1, now=NOW).conversations_deleted == 1
    assert set(_events_per_sender(tracker_url)) == {"today"}


def test_bookings_past_90_days_keep_their_counts_but_no_person(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    _tracker_url, booking_url = urls
    engine = prepare(booking_url, tmp_path)
    repo = BookingRepository(engine)
    old = [_book(repo, n, OLD_DAY, OLD_TODAY) for n in (1, 2)]
    recent = _book(repo, 3, RECENT_DAY, RECENT_TODAY)
    assert repo.cancel(old[1], actor="openid-2", channel="wechat").ok
    stats = "SELECT hall_id, service, day, status, COUNT(*) AS n FROM bookings GROUP BY 1, 2, 3, 4"
    counts_before = sorted(_table(engine, stats), key=str)

    report = run(days=30, booking_days=90, now=NOW)

    assert report.bookings_erased == 2
    assert sorted(_table(engine, stats), key=str) == counts_before
    rows = {r["code"]: r for r in _table(engine, "SELECT * FROM bookings")}
    for code, n in zip(old, (1, 2)):
        row = rows[code]
        assert (row["name"], row["phone"], row["phone_last4"], row["id_masked"]) == ("", "", "", "")
        assert row["sender_id"] == ""
        assert str(row["id_hash"]).startswith(ERASED_PREFIX)
        assert (row["service"], row["hall_id"]) == ("passport", "huzhou")
    assert rows[old[1]]["status"] == "cancelled" and rows[old[0]]["status"] == "active"
    kept = rows[recent]
    assert (kept["name"], kept["phone"], kept["sender_id"]) == ("张三丰", make_phone(3), "openid-3")
    trail = _table(engine, "SELECT booking_id, actor, details FROM audit_log")
    old_ids = {rows[c]["id"] for c in old}
    dump = json.dumps([r for r in trail if r["booking_id"] in old_ids], default=str)
    for n in (1, 2):
        assert make_phone(n)[-4:] not in dump and f"openid-{n}" not in dump
    assert "phone_masked" in json.dumps([r for r in trail if r["booking_id"] == kept["id"]])
    # Nobody but staff reaches an erased booking now: no owner, no phone to check.
    assert not repo.check_access(old[0], sender_id="openid-1", channel="wechat").ok
    assert not repo.verify_phone_last4(old[0], make_phone(1)[-4:])

    again = run(days=30, booking_days=90, now=NOW)
    assert (again.bookings_erased, again.audit_rows_cleaned) == (0, 0)
    assert {r["code"]: r for r in _table(engine, "SELECT * FROM bookings")} == rows


def test_expired_personal_rows_are_pruned(urls: tuple[str, str], tmp_path: Path) -> None:
    _tracker_url, booking_url = urls
    engine = prepare(booking_url, tmp_path)
    repo = BookingRepository(engine)
    code = _book(repo, 4, RECENT_DAY, RECENT_TODAY)
    pending_store = PendingPersonalStore(engine)
    pending_store.put("conv-2", "phone", make_phone(6), at=NOW - timedelta(minutes=1))
    pending_store.put("conv-1", "phone", make_phone(5), at=NOW - timedelta(hours=2))
    wrong = repo.verify_last4(code, "0000", sender_id="stranger", channel="rest", at=NOW)
    assert not wrong.ok
    right = repo.verify_last4(
        code, make_phone(4)[-4:], sender_id="friend", channel="rest", at=NOW - timedelta(hours=1)
    )
    assert right.ok

    grants, failures, pending = prune_personal_rows(engine, 30, now=NOW)

    assert (grants, failures, pending) == (1, 0, 1)  # the failure is recent: rate limits need it
    left = _table(engine, "SELECT conversation_id FROM pending_personal")
    assert [r["conversation_id"] for r in left] == ["conv-2"]
    assert _table(engine, "SELECT * FROM access_grants") == []
    later = NOW + timedelta(days=31)
    assert prune_personal_rows(engine, 30, now=later)[1] == 1
    assert prune_personal_rows(engine, 30, now=later) == (0, 0, 0)


def test_command_prints_counts_and_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bot.retention` as cron runs it: settings from the environment, one JSON line."""
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    booking_url = f"sqlite:///{tmp_path / 'booking.db'}"
    monkeypatch.setenv("TRACKER_STORE_URL", tracker_url)
    monkeypatch.setenv("DATABASE_URL", booking_url)
    monkeypatch.setenv("RETENTION_DAYS", "7")
    get_settings.cache_clear()
    real_now = datetime.now(timezone.utc)
    store = EnvTrackerStore(domain=Domain.empty())
    for sender, age in (("eight-days", 8), ("six-days", 6)):
        tracker = DialogueStateTracker(sender, slots=[])
        stamp = (real_now - timedelta(days=age)).timestamp()
        tracker.update(UserUttered("你好", intent={"name": "greet"}, timestamp=stamp))
        asyncio.run(store.save(tracker))
    store.engine.dispose()
    get_settings.cache_clear()
    env = dict(os.environ)
    subprocess.run([sys.executable, "-m", "bot.serve", "migrate"], cwd=ROOT, env=env, check=True)

    done = subprocess.run(
        [sys.executable, "-m", "bot.retention"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["conversations_deleted"] == 1 and report["bookings_erased"] == 0
    assert set(_events_per_sender(tracker_url)) == {"six-days"}
    refused = subprocess.run(
        [sys.executable, "-m", "bot.retention", "--days", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "at least 1 day" in refused.stderr


def test_care_grid_and_handoff_rows_lose_the_person(urls: tuple[str, str], tmp_path: Path) -> None:
    """Ratings, kept messages, grid tickets and handoff cases: what statistics need stays,
    the sender and the contact go once they are old; a second run finds nothing."""
    from bot.care.models import KeptMessage, SatisfactionRating
    from bot.grid.models import LookupFailure, Notice, Ticket
    from bot.handoff.models import HandoffCase, HandoffMessage
    from bot.retention import prune_feature_rows

    _tracker_url, booking_url = urls
    engine = prepare(booking_url, tmp_path)  # the grid tables are in the same chain
    old, recent = NOW - timedelta(days=120), NOW - timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(
            SatisfactionRating.__table__.insert(),
            [
                dict(
                    conversation_id=f"2026-08-04:{s}",
                    channel="rest",
                    topic="passport",
                    asked_at=at,
                    rating="satisfied",
                    rated_at=at,
                    comment="很好",
                )
                for s, at in (("old-sender", old), ("new-sender", recent))
            ],
        )
        conn.execute(
            KeptMessage.__table__.insert(),
            [
                dict(
                    sender_id="s1",
                    channel="rest",
                    kind="reminder",
                    body="x",
                    created_at=recent,
                    expires_at=NOW + timedelta(days=1),
                    delivered_at=delivered,
                )
                for delivered in (None, recent)
            ],
        )
        for code, at in (("WG-OLD00000", old), ("WG-NEW00000", recent)):
            conn.execute(
                Ticket.__table__.insert().values(
                    code=code,
                    category="pollution",
                    platform="综合执法",
                    stage="核实反馈",
                    place="河边",
                    description="泥浆",
                    occurred_at=at,
                    contact_sealed="sealed",
                    contact_masked="139****0001",
                    contact_last4="0001",
                    language="zh",
                    channel="rest",
                    sender_id=f"reporter-{code}",
                    created_at=at,
                    updated_at=at,
                )
            )
        ticket_id = conn.execute(
            sa.text("SELECT id FROM grid_tickets WHERE code='WG-OLD00000'")
        ).scalar_one()
        conn.execute(
            Notice.__table__.insert().values(
                ticket_id=ticket_id,
                stage="处置",
                channel="rest",
                sender_id="reporter",
                created_at=old,
                delivered_at=old,
                via="next_reply",
            )
        )
        conn.execute(LookupFailure.__table__.insert().values(code="WG-X", sender_id="g", at=old))
        for sender, closed in (("citizen-old", old), ("citizen-open", None)):
            case_id = conn.execute(
                HandoffCase.__table__.insert().values(
                    sender_id=sender,
                    channel="rest",
                    status="closed" if closed else "waiting",
                    reason="request",
                    topic="passport",
                    summary={"turns": ["手机 138****5678"]},
                    token_hash=f"hash-{sender}",
                    created_at=old,
                    closed_at=closed,
                    last_citizen_at=old,
                )
            ).inserted_primary_key[0]
            conn.execute(
                HandoffMessage.__table__.insert().values(
                    case_id=case_id, author="citizen", kind="text", text="你好", created_at=old
                )
            )

    assert prune_feature_rows(engine, 30, 90, now=NOW, dry_run=True) == (1, 1, 1, 2, 1)
    assert prune_feature_rows(engine, 30, 90, now=NOW) == (1, 1, 1, 2, 1)

    ratings = _table(
        engine, "SELECT conversation_id, topic, rating FROM satisfaction_ratings ORDER BY id"
    )
    assert (
        ratings[0]["conversation_id"].startswith(ERASED_PREFIX)
        and ratings[0]["rating"] == "satisfied"
    )
    assert ratings[1]["conversation_id"] == "2026-08-04:new-sender"
    assert [
        r["delivered_at"] for r in _table(engine, "SELECT delivered_at FROM kept_messages")
    ] == [None]
    tickets = {r["code"]: r for r in _table(engine, "SELECT * FROM grid_tickets")}
    gone = tickets["WG-OLD00000"]
    assert gone["sender_id"].startswith(ERASED_PREFIX) and gone["category"] == "pollution"
    assert (gone["contact_sealed"], gone["contact_masked"], gone["contact_last4"]) == (
        None,
        None,
        None,
    )
    assert tickets["WG-NEW00000"]["contact_last4"] == "0001"
    assert _table(engine, "SELECT * FROM grid_notices") == []
    assert _table(engine, "SELECT * FROM grid_lookup_failures") == []
    cases = {r["status"]: r for r in _table(engine, "SELECT * FROM handoff_cases")}
    assert cases["closed"]["sender_id"].startswith(ERASED_PREFIX)
    assert "138" not in json.dumps(cases["closed"]["summary"], ensure_ascii=False)
    assert cases["waiting"]["sender_id"] == "citizen-open", "an open case keeps its citizen"
    texts = _table(engine, "SELECT case_id FROM handoff_messages")
    assert len(texts) == 1

    assert prune_feature_rows(engine, 30, 90, now=NOW) == (0, 0, 0, 0, 0)
