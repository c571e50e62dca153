"""The booking repository on SQLite (a temp file) and on the real PostgreSQL (`pg_url`)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from stdnum.cn import ric

from bot.booking import (
    BookingRepository,
    BookingUnavailable,
    dispose_engines,
    get_engine,
    migrate,
    normalize_code,
    sync_halls,
)
from bot.booking.models import AuditLog, Booking, SlotCounter, metadata
from bot.booking.repository import CODE_ALPHABET
from bot.domain_files import responses
from bot.settings import KB_DIR, get_settings

TODAY = date(2026, 11, 27)  # Friday
MONDAY = date(2026, 11, 30)
VALID_ID = "33052119900315001X"
CODE_RE = re.compile(rf"^HZ-[{CODE_ALPHABET}]{{8}}$")  # 8 characters since the access review

# The KB's halls format (bot.kb.load_halls): the halls inherit booking_defaults' sessions.
HALLS_YML = """
kind: halls
booking_defaults:
  basis: booking_configuration
  as_of: 2026-11-27
  sessions: [["09:00", "12:00"], ["13:30", "17:00"]]
halls:
  - id: huzhou
    name: 湖州测试大厅
    address: {config: TEST_HALL_ADDRESS, value: null}
    hours: {config: TEST_HALL_HOURS, value: "工作日 9:00-17:00"}
    phone: {config: TEST_HALL_PHONE, value: null}
    green_channel_phone: {config: null, value: null}
    services: [passport, hk_macau_permit]
    booking: {slot_capacity: 2, green_capacity: 1}
    sources: [test]
  - id: tiny
    name: 只有一个时段的大厅
    address: {config: null, value: null}
    hours: {config: null, value: null}
    phone: {config: null, value: null}
    green_channel_phone: {config: null, value: null}
    services: [passport]
    booking: {slot_capacity: 1, green_capacity: 1, code_prefix: TY, sessions: [["09:00", "09:30"]]}
    sources: [test]
  - id: bulk
    name: 并发测试大厅
    address: {config: null, value: null}
    hours: {config: null, value: null}
    phone: {config: null, value: null}
    green_channel_phone: {config: null, value: null}
    services: [passport]
    booking: {slot_capacity: 10, green_capacity: 2, code_prefix: BK}
    sources: [test]
"""


# --- helpers shared with test_booking_concurrency.py ------------------------------------------


def said(result: object, operation: str = "booking") -> str:
    """The reply the chat gives for a refusal: the domain response actions.booking.refusals
    picks for its code, filled from its hints (an unfilled variable fails the test)."""
    from actions.booking.refusals import refusal_reply

    reply = refusal_reply(result.error, result.hints, operation=operation)  # type: ignore[attr-defined, arg-type]
    if reply.response is None:
        return reply.text or ""
    template = responses()[reply.response][0]["text"]
    missing = [v for v in re.findall(r"\{(\w+)\}", template) if reply.values.get(v) is None]
    assert not missing, f"{reply.response}: no value for {missing}"
    return re.sub(r"\{(\w+)\}", lambda m: str(reply.values[m.group(1)]), template)


def make_id(n: int) -> str:
    """The n-th distinct valid ID number (born 1960-01-01 + n days; checksum computed)."""
    birth = date(1960, 1, 1) + timedelta(days=n % 20000)
    body = f"330521{birth:%Y%m%d}{n // 20000 % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_phone(n: int) -> str:
    return f"138{n:08d}"


def prepare(url: str, tmp_path: Path) -> Engine:
    """Migrate a fresh database and load the test halls."""
    migrate(url, sync=False)
    halls = tmp_path / "halls.yml"
    halls.write_text(HALLS_YML, encoding="utf-8")
    engine = get_engine(url)
    sync_halls(engine, halls)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'booking.db'}"
    else:
        yield request.getfixturevalue("pg_url")
    dispose_engines()


@pytest.fixture()
def repo(db_url: str, tmp_path: Path) -> BookingRepository:
    return BookingRepository(prepare(db_url, tmp_path))


def book(repo: BookingRepository, n: int = 0, **overrides: object) -> object:
    args: dict[str, object] = dict(
        hall_id="huzhou",
        service="passport",
        day=MONDAY,
        start=time(9, 0),
        name="张三",
        id_number=make_id(n) if n else VALID_ID,
        phone=make_phone(n) if n else "13812345678",
        channel="rest",
        sender_id=f"sender-{n}",
        today=TODAY,
    )
    args.update(overrides)
    return repo.book(**args)  # type: ignore[arg-type]


# --- schema -----------------------------------------------------------------------------------


def test_migration_matches_models_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    import bot.care.models  # noqa: F401  (the care tables share the booking metadata)
    import bot.grid.models  # noqa: F401  (so do the grid tables)
    from bot.booking.db import alembic_config

    engine = prepare(db_url, tmp_path)
    migrate(db_url, sync=False)  # second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert diff == []
    assert versions == set(ScriptDirectory.from_config(alembic_config()).get_heads())
    # one chain: 0003 (handoff) → 0003_care → 0004_grid → 0005_booking_language
    # → 0005_handoff_client → 0005_staff
    assert versions == {"0005_staff"}


def test_sync_real_halls_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_HUZHOU_PHONE", "0572-0000000")
    url = f"sqlite:///{tmp_path / 'real.db'}"
    migrate(url)  # syncs data/kb/halls.yml
    halls = {h.id: h for h in BookingRepository(get_engine(url)).halls()}
    dispose_engines()
    assert set(halls) >= {"huzhou", "deqing"}
    assert halls["huzhou"].code_prefix == "HZ" and halls["deqing"].code_prefix == "DQ"
    assert halls["huzhou"].phone == "0572-0000000"  # from the configured environment variable
    assert halls["deqing"].address is None  # unknown stays unknown, never invented
    assert (KB_DIR / "halls.yml").exists()


def test_sync_deactivates_removed_halls(repo: BookingRepository, tmp_path: Path) -> None:
    smaller = tmp_path / "smaller.yml"
    smaller.write_text(HALLS_YML.split("  - id: tiny")[0], encoding="utf-8")
    sync_halls(repo._engine, smaller)
    assert [h.id for h in repo.halls()] == ["huzhou"]
    assert book(repo, hall_id="tiny", start=time(9, 0)).error == "unknown_hall"  # type: ignore[attr-defined]


# --- booking ----------------------------------------------------------------------------------


def test_book_stores_no_clear_id(repo: BookingRepository) -> None:
    result = book(repo)
    assert result.ok, result.error  # type: ignore[attr-defined]
    code = result.code  # type: ignore[attr-defined]
    assert CODE_RE.match(code)
    view = result.booking  # type: ignore[attr-defined]
    assert view.id_masked == "330521********001X"
    assert view.phone_masked == "138****5678"
    assert view.name_masked == "张*"
    assert (view.day, view.start, view.end, view.status) == (
        MONDAY,
        time(9, 0),
        time(9, 30),
        "active",
    )
    assert view.hall_name == "湖州测试大厅"
    with repo._engine.connect() as conn:
        row = conn.execute(select(Booking.__table__)).mappings().one()
        dump = str(dict(row)) + str(conn.execute(select(AuditLog.__table__)).all())
    expected = hmac.new(
        get_settings().id_hash_secret.encode(), VALID_ID.encode(), hashlib.sha256
    ).hexdigest()
    assert row["id_hash"] == expected
    assert VALID_ID not in dump and "19900315" not in dump
    assert row["phone"] == "13812345678" and row["phone_last4"] == "5678"
    assert "13812345678" not in str(repo.audit_trail(code))


def test_idempotent_retry_returns_same_code(repo: BookingRepository) -> None:
    first = book(repo)
    again = book(repo)
    assert first.ok and again.ok  # type: ignore[attr-defined]
    assert again.code == first.code  # type: ignore[attr-defined]
    assert len(repo.list_for_sender("sender-0")) == 1
    assert repo.count_active("huzhou", MONDAY, time(9, 0)) == 1
    assert repo.available_slots("huzhou", MONDAY)[0].free == 1


def test_one_active_booking_per_person_service_day(repo: BookingRepository) -> None:
    first = book(repo)
    other_sender = book(repo, sender_id="someone-else", start=time(10, 0))
    assert not other_sender.ok and other_sender.error == "duplicate"  # type: ignore[attr-defined]
    assert other_sender.code == first.code  # type: ignore[attr-defined]
    assert other_sender.hints.booking_code == first.code  # type: ignore[attr-defined]
    assert first.code in said(other_sender)
    assert book(repo, service="hk_macau_permit").ok  # type: ignore[attr-defined]
    assert book(repo, day=MONDAY + timedelta(days=1)).ok  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "overrides,error,needle",
    [
        ({"day": date(2026, 11, 26)}, "past", "已经过去"),
        ({"day": TODAY + timedelta(days=31)}, "too_far", "30天以内"),
        ({"day": date(2026, 11, 28)}, "not_working_day", "周六"),
        ({"day": date(2026, 12, 31), "today": date(2026, 12, 28)}, None, None),
        (
            {"day": date(2027, 1, 1), "today": date(2026, 12, 28)},
            "not_working_day",
            "2027年节假日安排尚未公布",
        ),
        ({"start": time(12, 0)}, "invalid_slot", "09:00–12:00、13:30–17:00"),
        ({"start": time(8, 30)}, "invalid_slot", "不是可预约的时段"),
        (
            {"day": TODAY, "start": time(9, 0), "now": datetime(2026, 11, 27, 10, 0)},
            "slot_passed",
            "已经开始",
        ),
        ({"id_number": "330521199003150011"}, "invalid_id", "校验位"),
        ({"phone": "1" * 100}, "invalid_phone", "太长"),
        ({"name": "'; DROP TABLE bookings; --"}, "invalid_name", "姓名"),
        ({"hall_id": "nowhere"}, "unknown_hall", "办理地点"),
        ({"service": ""}, "invalid_service", "业务"),
    ],
)
def test_refusals_have_reasons(
    repo: BookingRepository, overrides: dict, error: str, needle: str
) -> None:
    result = book(repo, **overrides)
    if error is None:
        assert result.ok, result.error  # type: ignore[attr-defined]
        return
    assert not result.ok  # type: ignore[attr-defined]
    assert result.error == error, result.error  # type: ignore[attr-defined]
    assert needle in said(result), said(result)
    assert repo.list_for_sender("sender-0") == []


def test_date_refusals_offer_free_days(repo: BookingRepository) -> None:
    result = book(repo, day=date(2026, 11, 28))
    assert result.free_days == (TODAY, MONDAY, MONDAY + timedelta(days=1))  # type: ignore[attr-defined]
    late = book(repo, day=date(2026, 11, 28), now=datetime(2026, 11, 27, 17, 5))
    assert late.free_days[0] == MONDAY  # type: ignore[attr-defined]


def test_tiaoxiu_working_sunday_is_bookable(repo: BookingRepository) -> None:
    result = book(repo, day=date(2026, 9, 20), today=date(2026, 9, 18))
    assert result.ok, result.error  # type: ignore[attr-defined]
    saturday = book(repo, 1, day=date(2026, 10, 10), today=date(2026, 10, 9))
    assert saturday.ok, saturday.error  # type: ignore[attr-defined]
    holiday = book(repo, 2, day=date(2026, 10, 8) - timedelta(days=2), today=date(2026, 9, 30))
    assert holiday.error == "not_working_day"  # type: ignore[attr-defined]


def test_booking_in_2027_carries_calendar_note(repo: BookingRepository) -> None:
    result = book(repo, day=date(2027, 1, 4), today=date(2026, 12, 20))
    assert result.ok, result.error  # type: ignore[attr-defined]
    assert result.note and "2027年" in result.note  # type: ignore[attr-defined]


def test_a_2027_spring_festival_booking_is_refused_with_the_reason(repo: BookingRepository) -> None:
    """2027-02-05…08 (除夕 to 初三) are statutory holidays although 2027's notice is unpublished."""
    for day in (date(2027, 2, 5), date(2027, 2, 8)):
        result = book(repo, day=day, today=date(2027, 1, 20))
        assert not result.ok and result.error == "not_working_day"  # type: ignore[attr-defined]
        assert "春节" in said(result) and "2027年节假日安排尚未公布" in said(result)
        assert not {date(2027, 2, d) for d in (5, 6, 7, 8)} & set(result.free_days)  # type: ignore[attr-defined]
    assert book(repo, day=date(2027, 2, 9), today=date(2027, 1, 20)).ok  # type: ignore[attr-defined]


def test_minor_is_flagged(repo: BookingRepository) -> None:
    result = book(repo, id_number="330521202001010026")
    assert result.ok and result.is_minor  # type: ignore[attr-defined]


def test_slot_full_and_green_capacity(repo: BookingRepository) -> None:
    assert book(repo, 1).ok and book(repo, 2).ok  # type: ignore[attr-defined]
    full = book(repo, 3)
    assert not full.ok and full.error == "slot_full"  # type: ignore[attr-defined]
    assert full.hints.free_times[0] == time(9, 30)  # type: ignore[attr-defined]
    assert "约满" in said(full) and "09:30" in said(full)
    assert full.free_days  # type: ignore[attr-defined]
    assert [s.start for s in repo.available_slots("huzhou", MONDAY)][0] == time(9, 30)
    assert (
        repo.available_slots("huzhou", MONDAY, priority=True)[0]
        == repo.available_slots("huzhou", MONDAY, priority=True)[0]
    )
    assert repo.available_slots("huzhou", MONDAY, priority=True)[0].start == time(9, 0)
    green = book(repo, 4, priority=True)
    assert green.ok and green.booking.priority  # type: ignore[attr-defined]
    assert not book(repo, 5, priority=True).ok  # type: ignore[attr-defined]
    with repo._engine.connect() as conn:
        counter = conn.execute(select(SlotCounter.__table__)).mappings().one()
    assert (counter["booked"], counter["priority_booked"]) == (2, 1)
    assert repo.count_active("huzhou", MONDAY, time(9, 0)) == 3


def test_free_days_skip_full_days(repo: BookingRepository) -> None:
    assert repo.free_days("tiny", TODAY, 3) == [TODAY, MONDAY, MONDAY + timedelta(days=1)]
    assert book(repo, 1, hall_id="tiny", day=MONDAY).ok  # type: ignore[attr-defined]
    assert repo.free_days("tiny", TODAY, 3) == [
        TODAY,
        MONDAY + timedelta(days=1),
        MONDAY + timedelta(days=2),
    ]
    assert repo.free_days("tiny", TODAY, 2, now=datetime(2026, 11, 27, 12, 0)) == [
        MONDAY + timedelta(days=1),
        MONDAY + timedelta(days=2),
    ]
    assert repo.free_days("tiny", TODAY, 2, priority=True)[1] == MONDAY  # green seat left
    full = book(repo, 2, hall_id="tiny", day=MONDAY)
    assert full.error == "slot_full" and "当天已经约满" in said(full)  # type: ignore[attr-defined]
    assert full.free_days[0] == TODAY  # type: ignore[attr-defined]
    assert repo.available_slots("tiny", date(2026, 11, 28)) == []  # Saturday
    assert repo.available_slots("nowhere", MONDAY) == []


def test_priority_slots(repo: BookingRepository) -> None:
    afternoon = repo.priority_slots("huzhou", datetime(2026, 11, 27, 16, 10))
    assert [(d, s.start, s.free) for d, s in afternoon] == [(TODAY, time(16, 30), 1)]
    evening = repo.priority_slots("huzhou", datetime(2026, 11, 27, 18, 0))
    assert {d for d, _ in evening} == {MONDAY} and len(evening) == 13
    weekend = repo.priority_slots("huzhou", datetime(2026, 11, 28, 9, 0))
    assert {d for d, _ in weekend} == {MONDAY}
    assert book(repo, 1, day=MONDAY, start=time(9, 0), priority=True).ok  # type: ignore[attr-defined]
    after = repo.priority_slots("huzhou", datetime(2026, 11, 28, 9, 0))
    assert time(9, 0) not in [s.start for _, s in after]
    into_2027 = repo.priority_slots("huzhou", datetime(2026, 12, 31, 17, 30))
    assert {d for d, _ in into_2027} == {date(2027, 1, 4)}


def test_reschedule_keeps_code_and_frees_old_seat(repo: BookingRepository) -> None:
    first = book(repo)
    code = first.code  # type: ignore[attr-defined]
    moved = repo.reschedule(
        code.lower(),
        day=MONDAY + timedelta(days=1),
        start=time(14, 0),
        actor="sender-0",
        channel="rest",
        today=TODAY,
    )
    assert moved.ok, moved.error
    assert moved.code == code and moved.booking and moved.booking.start == time(14, 0)
    assert repo.get(code).day == MONDAY + timedelta(days=1)  # type: ignore[union-attr]
    assert repo.available_slots("huzhou", MONDAY)[0].free == 2  # old seat freed
    same = repo.reschedule(
        code,
        day=MONDAY + timedelta(days=1),
        start=time(14, 0),
        actor="sender-0",
        channel="rest",
        today=TODAY,
    )
    assert same.ok
    trail = repo.audit_trail(code)
    assert [t["action"] for t in trail] == ["book", "reschedule"]
    assert trail[1]["details"] == {
        "from": {"day": "2026-11-30", "start": "09:00"},
        "to": {"day": "2026-12-01", "start": "14:00"},
    }
    assert trail[1]["actor"] == "sender-0"


def test_reschedule_refusals_keep_the_booking(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    assert book(repo, 1, start=time(10, 0)).ok and book(repo, 2, start=time(10, 0)).ok  # type: ignore[attr-defined]
    full = repo.reschedule(
        code, day=MONDAY, start=time(10, 0), actor="sender-0", channel="rest", today=TODAY
    )
    assert full.error == "slot_full" and "原预约保持不变" in said(full, "reschedule")
    assert repo.get(code).start == time(9, 0)  # type: ignore[union-attr]
    assert repo.available_slots("huzhou", MONDAY)[0].free == 1  # still holding its seat
    assert (
        repo.reschedule(
            code,
            day=date(2026, 11, 28),
            start=time(9, 0),
            actor="sender-0",
            channel="rest",
            today=TODAY,
        ).error
        == "not_working_day"
    )
    other = book(
        repo,
        service="passport",
        day=MONDAY + timedelta(days=2),
        sender_id="sender-0b",
        start=time(9, 0),
    )
    assert other.ok  # type: ignore[attr-defined]
    clash = repo.reschedule(
        code,
        day=MONDAY + timedelta(days=2),
        start=time(10, 0),
        actor="sender-0",
        channel="rest",
        today=TODAY,
    )
    assert clash.error == "duplicate"
    assert (
        repo.reschedule(
            "HZ-ZZZZZ", day=MONDAY, start=time(9, 0), actor="sender-0", channel="rest", today=TODAY
        ).error
        == "not_found"
    )
    assert (
        repo.reschedule(
            "garbage!!", day=MONDAY, start=time(9, 0), actor="sender-0", channel="rest", today=TODAY
        ).error
        == "not_found"
    )
    assert [t["action"] for t in repo.audit_trail(code)] == ["book"]


def test_cancel_frees_seat_and_is_audited(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    cancelled = repo.cancel(code, actor="sender-0", channel="rest")
    assert cancelled.ok and cancelled.booking and cancelled.booking.status == "cancelled"
    assert repo.available_slots("huzhou", MONDAY)[0].free == 2
    again = repo.cancel(code, actor="sender-0", channel="rest")
    assert not again.ok and again.error == "not_active"
    assert (
        repo.reschedule(
            code, day=MONDAY, start=time(10, 0), actor="sender-0", channel="rest", today=TODAY
        ).error
        == "not_active"
    )
    assert repo.cancel("HZ-ZZZZZ", actor="sender-0", channel="rest").error == "not_found"
    assert [t["action"] for t in repo.audit_trail(code)] == ["book", "cancel"]
    assert repo.list_for_sender("sender-0") == []
    assert len(repo.list_for_sender("sender-0", active_only=False)) == 1
    rebooked = book(repo)  # the person may book the same day again
    assert rebooked.ok and rebooked.code != code  # type: ignore[attr-defined]


def test_green_seat_is_returned_to_green_capacity(repo: BookingRepository) -> None:
    code = book(repo, 1, priority=True).code  # type: ignore[attr-defined]
    assert repo.priority_slots("huzhou", datetime(2026, 11, 27, 18, 0))[0][1].start == time(9, 30)
    assert repo.cancel(code, actor="staff", channel="hall-tool", staff=True).ok
    assert repo.priority_slots("huzhou", datetime(2026, 11, 27, 18, 0))[0][1].start == time(9, 0)


def test_lookup(repo: BookingRepository) -> None:
    code = book(repo).code  # type: ignore[attr-defined]
    book(repo, service="hk_macau_permit", day=MONDAY + timedelta(days=1))
    for spelling in (code, code.lower(), code.replace("-", ""), " " + code.replace("-", " ") + " "):
        view = repo.get(spelling)
        assert view is not None and view.code == code
    assert repo.get("HZ-ZZZZZ") is None
    assert repo.get("'; select * from bookings") is None
    assert repo.get("x" * 10_000) is None
    mine = repo.list_for_sender("sender-0")
    assert [v.service for v in mine] == ["passport", "hk_macau_permit"]
    assert repo.list_for_sender("nobody") == []
    assert repo.owner_sender(code) == "sender-0"
    assert repo.verify_phone_last4(code, "5678")
    assert repo.verify_phone_last4(code.lower(), "５６７８")
    assert not repo.verify_phone_last4(code, "1234")
    assert not repo.verify_phone_last4(code, "56789")
    assert not repo.verify_phone_last4("HZ-ZZZZZ", "5678")


def test_normalize_code() -> None:
    assert normalize_code("hz-7k3q9") == "HZ-7K3Q9"
    assert normalize_code("ＨＺ７Ｋ３Ｑ９") == "HZ-7K3Q9"
    assert normalize_code("TY 7K3Q9") == "TY-7K3Q9"
    assert normalize_code("7K3Q9") is None
    assert normalize_code("") is None


def test_no_half_written_booking(repo: BookingRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO audit_log", {}, Exception("disk I/O error"))

    monkeypatch.setattr(repo, "_audit", broken_audit)
    result = book(repo)
    assert not result.ok and result.error == "unavailable"  # type: ignore[attr-defined]
    assert "预约系统暂时不可用" in said(result)
    assert repo.list_for_sender("sender-0", active_only=False) == []
    assert repo.available_slots("huzhou", MONDAY)[0].free == 2


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/nothing", "sqlite:////proc/no-such-dir/booking.db"],
    ids=["pg-closed-port", "sqlite-unopenable"],
)
def test_dead_database_gives_clear_reason(url: str) -> None:
    repo = BookingRepository(get_engine(url))
    try:
        result = book(repo)
        assert not result.ok and result.error == "unavailable"  # type: ignore[attr-defined]
        assert "预约系统暂时不可用，请稍后再试或拨打大厅电话" in said(result)
        assert repo.cancel("HZ-7K3Q9", actor="a", channel="rest").error == "unavailable"
        assert (
            repo.reschedule(
                "HZ-7K3Q9",
                day=MONDAY,
                start=time(9, 0),
                actor="sender-0",
                channel="rest",
                today=TODAY,
            ).error
            == "unavailable"
        )
        with pytest.raises(BookingUnavailable):
            repo.available_slots("huzhou", MONDAY)
        with pytest.raises(BookingUnavailable):
            repo.get("HZ-7K3Q9")
        with pytest.raises(BookingUnavailable):
            migrate(url)
    finally:
        dispose_engines()


def test_engine_is_lazy_and_sqlite_uses_wal(tmp_path: Path) -> None:
    import bot.booking.db as db

    url = f"sqlite:///{tmp_path / 'sub' / 'lazy.db'}"
    assert url not in db._engines
    engine = get_engine(url)
    assert not (tmp_path / "sub" / "lazy.db").exists()  # nothing opened yet
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (
            conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3000
        )  # a locked write gives up within WeChat's 5 s
    assert get_engine(url) is engine
    dispose_engines()


# --- the day rule and the refusal codes ---------------------------------------------------------


CLOSED_HALL = """
  - id: closed
    name: 尚未开放预约的大厅
    address: {config: null, value: null}
    hours: {config: null, value: null}
    phone: {config: null, value: null}
    green_channel_phone: {config: null, value: null}
    services: [passport]
    booking: {slot_capacity: 2, green_capacity: 1, code_prefix: CL, sessions: []}
    sources: [test]
"""


def test_a_hall_without_sessions_is_not_bookable(repo: BookingRepository, tmp_path: Path) -> None:
    path = tmp_path / "with_closed.yml"
    path.write_text(HALLS_YML + CLOSED_HALL, encoding="utf-8")
    sync_halls(repo._engine, path)
    result = book(repo, hall_id="closed")
    assert result.error == "hall_not_bookable" and result.hints.hall_id == "closed"  # type: ignore[attr-defined]
    assert repo.available_slots("closed", MONDAY) == [] and repo.free_days("closed", TODAY, 3) == []
    assert repo.priority_slots("closed", datetime(2026, 11, 27, 9, 0)) == []
    refusal = repo.day_refusal("closed", MONDAY, today=TODAY)
    assert refusal is not None and refusal.code == "hall_not_bookable"
    assert repo.list_for_sender("sender-0") == []


def test_the_day_rule_returns_codes_and_hints(repo: BookingRepository) -> None:
    calendar = BookingRepository.calendar_refusal
    assert calendar(MONDAY, TODAY) is None
    past = calendar(date(2026, 11, 26), TODAY)
    assert past is not None and past.code == "past" and past.hints.day == date(2026, 11, 26)
    far = calendar(TODAY + timedelta(days=31), TODAY)
    assert far is not None and far.code == "too_far"
    assert (far.hints.last_day, far.hints.window_days) == (TODAY + timedelta(days=30), 30)
    saturday = calendar(date(2026, 11, 28), TODAY)
    assert saturday is not None and saturday.code == "not_working_day"
    assert repo.day_refusal("huzhou", MONDAY, today=TODAY) is None
    slot = repo.day_refusal("huzhou", MONDAY, today=TODAY, start=time(12, 0))
    assert slot is not None and slot.code == "invalid_slot"
    assert slot.hints.sessions == ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 0)))
    started = repo.day_refusal(
        "huzhou", TODAY, today=TODAY, start=time(9, 0), now=datetime(2026, 11, 27, 10, 0)
    )
    assert started is not None and started.code == "slot_passed"
    unknown = repo.day_refusal("nowhere", MONDAY, today=TODAY)
    assert unknown is not None and unknown.code == "unknown_hall"


def test_refusals_are_codes_and_data_never_sentences(repo: BookingRepository) -> None:
    from bot.booking import BookingResult
    from bot.booking.repository import REFUSAL_CODES

    assert "reason" not in BookingResult.__dataclass_fields__
    first = book(repo)
    refused = [
        book(repo, day=date(2026, 11, 28)),
        book(repo, start=time(12, 0)),
        book(repo, sender_id="someone-else", start=time(10, 0)),
        book(repo, hall_id="nowhere"),
        repo.cancel("HZ-ZZZZZZZZ", actor="sender-0", channel="rest"),
        repo.reschedule(
            first.code,
            day=date(2026, 11, 28),
            start=time(9, 0),
            actor="sender-0",
            channel="rest",
            today=TODAY,
        ),  # type: ignore[attr-defined]
    ]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for result in refused:
        assert not result.ok and result.error in REFUSAL_CODES  # type: ignore[attr-defined]
        hints = result.hints  # type: ignore[attr-defined]
        assert hints.check is None and not cjk.search(repr(hints)), hints
        assert said(result)  # every code has its reply
