"""The grid ticket store on SQLite and the real PostgreSQL: schema, lifecycle, access,
rate limits, notices, masking."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select, text

from bot.booking.db import dispose_engines, get_engine, make_engine, upgrade_schema
from bot.booking.models import metadata
from bot.grid.models import Ticket
from bot.grid.repository import (
    CODE_FAILURE_LIMIT,
    SENDER_FAILURE_LIMIT,
    GridRepository,
    find_ticket_code,
    normalize_ticket_code,
)
from bot.privacy import unseal

SEEN = datetime(2026, 12, 2, 1, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'grid.db'}"
    else:
        yield request.getfixturevalue("pg_url")
    dispose_engines()


@pytest.fixture()
def repo(db_url: str) -> GridRepository:
    upgrade_schema(db_url)
    return GridRepository(get_engine(db_url))


def file(repo: GridRepository, sender: str = "citizen-1", phone: str | None = "13812345678", **kw):
    args = dict(
        category="dangerous_goods",
        place="宜桥新村62号",
        description="民房二楼阳台堆放了很多装松香水的油漆桶，房主电话13900001111",
        occurred_at=SEEN,
        contact_phone=phone,
        channel="rest",
        sender_id=sender,
    )
    args.update(kw)
    result = repo.file(**args)  # type: ignore[arg-type]
    assert result.ok, result
    assert result.ticket is not None
    return result.ticket


def test_migration_matches_models_and_is_idempotent(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade_schema(db_url)
    upgrade_schema(db_url)
    engine = get_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda o, n, t, r, c: t != "table" or str(n).startswith("grid_")
            },
        )
        diff = compare_metadata(context, metadata)
        versions = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert diff == []
    assert "0005_staff" in versions  # the grid tables are below the head


def test_the_booking_migration_creates_the_grid_tables_in_its_one_chain(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from bot.booking import migrate

    url = f"sqlite:///{tmp_path / 'both.db'}"
    migrate(url, sync=False)  # what `python -m bot.serve migrate` runs
    tables = set(inspect(get_engine(url)).get_table_names())
    dispose_engines()
    assert {"grid_tickets", "grid_ticket_events", "grid_notices", "grid_lookup_failures"} <= tables
    assert "alembic_version_grid" not in tables  # no second history any more


def test_a_ticket_is_filed_at_the_first_stage_with_masked_text_and_a_sealed_phone(
    repo: GridRepository,
) -> None:
    ticket = file(repo)
    assert normalize_ticket_code(ticket.code) == ticket.code and ticket.code.startswith("WG-")
    assert ticket.stage == "accepted" and ticket.platform == "zongzhi"
    assert ticket.contact_masked == "138****5678"
    assert "13900001111" not in ticket.description and "139****1111" in ticket.description
    with repo._engine.connect() as conn:
        row = conn.execute(select(Ticket.__table__)).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert "13812345678" not in stored and "13900001111" not in stored
    assert unseal(row["contact_sealed"]) == "13812345678" and row["contact_last4"] == "5678"
    assert [e["action"] for e in repo.trail(ticket.code)] == ["filed"]


def test_codes_are_unguessable_and_read_in_any_spelling(repo: GridRepository) -> None:
    codes = {file(repo, sender=f"s{i}", phone=None).code for i in range(20)}
    assert len(codes) == 20
    code = next(iter(codes))
    assert normalize_ticket_code(code.lower().replace("-", " ")) == code
    assert find_ticket_code(f"帮我查一下{code.lower()}的进度") == code
    assert normalize_ticket_code("HZ-7K3Q9M2X") is None  # a booking code is not a ticket


def test_bad_input_is_refused_not_stored(repo: GridRepository) -> None:
    bad = repo.file(
        category="pollution",
        place="河边",
        description="污水",
        occurred_at=SEEN,
        contact_phone="12345",
        channel="rest",
        sender_id="x",
    )
    assert not bad.ok and bad.error == "invalid_phone"
    empty = repo.file(
        category="pollution",
        place=" ",
        description="污水",
        occurred_at=SEEN,
        channel="rest",
        sender_id="x",
    )
    assert not empty.ok and empty.error == "empty"
    with pytest.raises(ValueError):
        repo.file(
            category="nope",
            place="a",
            description="b",
            occurred_at=SEEN,
            channel="rest",
            sender_id="x",
        )
    assert repo.tickets() == []


def test_status_is_closed_by_default(repo: GridRepository) -> None:
    ticket = file(repo)
    mine = repo.status(ticket.code, sender_id="citizen-1", channel="rest")
    assert mine.ok and mine.level == "reporter" and mine.ticket.stage == "accepted"
    # the same sender on another channel is someone else
    assert repo.status(ticket.code, sender_id="citizen-1", channel="wechat").error == "needs_digits"
    other = repo.status(ticket.code, sender_id="other", channel="rest")
    assert not other.ok and other.error == "needs_digits" and other.ticket is None
    # an unknown code asks the same, and a wrong answer for it reads the same as a wrong digit
    assert repo.status("WG-22222222", sender_id="other", channel="rest").error == "needs_digits"
    assert (
        repo.status("WG-22222222", sender_id="other", channel="rest", last4="5678").error
        == "mismatch"
    )
    assert (
        repo.status(ticket.code, sender_id="other", channel="rest", last4="0000").error
        == "mismatch"
    )
    assert (
        repo.status(ticket.code, sender_id="other", channel="rest", last4="12").error
        == "invalid_digits"
    )
    right = repo.status(ticket.code, sender_id="other", channel="rest", last4="5678")
    assert right.ok and right.level == "digits"
    assert repo.status("not a code", sender_id="other", channel="rest").error == "invalid_code"
    # no contact left: only the reporter can look
    silent = file(repo, sender="citizen-2", phone=None)
    assert repo.status(silent.code, sender_id="citizen-2", channel="rest").ok
    assert (
        repo.status(silent.code, sender_id="other2", channel="rest", last4="0000").error
        == "mismatch"
    )


def test_failed_checks_lock_the_code_and_limit_the_sender(repo: GridRepository) -> None:
    ticket = file(repo)
    for i in range(CODE_FAILURE_LIMIT - 1):
        assert (
            repo.status(ticket.code, sender_id=f"guesser-{i}", channel="rest", last4="0000").error
            == "mismatch"
        )
    last = repo.status(ticket.code, sender_id="guesser-x", channel="rest", last4="0001")
    assert last.error == "locked"
    # locked: even the right digits are not compared, but the reporter still sees it
    assert (
        repo.status(ticket.code, sender_id="late", channel="rest", last4="5678").error == "locked"
    )
    assert repo.status(ticket.code, sender_id="citizen-1", channel="rest").ok

    codes = [file(repo, sender=f"r{i}").code for i in range(SENDER_FAILURE_LIMIT)]
    errors = [
        repo.status(c, sender_id="scanner", channel="rest", last4="0000").error for c in codes
    ]
    assert errors[:-1] == ["mismatch"] * (SENDER_FAILURE_LIMIT - 1) and errors[-1] == "rate_limited"
    fresh = file(repo, sender="r-new")
    assert (
        repo.status(fresh.code, sender_id="scanner", channel="rest", last4="5678").error
        == "rate_limited"
    )
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert repo.status(fresh.code, sender_id="scanner", channel="rest", last4="5678", at=later).ok


def test_the_lifecycle_writes_an_audit_trail_and_one_notice_per_step(repo: GridRepository) -> None:
    ticket = file(repo)
    assert (
        repo.advance(ticket.code, actor="a", to_stage="handling").error == "not_next"
    )  # no skipping
    assert repo.advance(ticket.code, actor="a", to_stage="nonsense").error == "unknown_stage"
    stages = []
    for _ in range(3):
        result = repo.advance(ticket.code, actor="staff:王", note="联系电话13900001111")
        assert result.ok and result.notice is not None
        stages.append((result.from_stage, result.ticket.stage, result.notice.stage))
    assert stages == [
        ("accepted", "assigned", "assigned"),
        ("assigned", "handling", "handling"),
        ("handling", "verified", "verified"),
    ]
    assert repo.advance(ticket.code, actor="a").error == "closed"
    assert repo.advance("WG-33333333", actor="a").error == "not_found"
    trail = repo.trail(ticket.code)
    assert [(e["action"], e["to_stage"]) for e in trail] == [
        ("filed", "accepted"),
        ("advanced", "assigned"),
        ("advanced", "handling"),
        ("advanced", "verified"),
    ]
    assert all("13900001111" not in (e["note"] or "") for e in trail)
    assert [t.stage for t in repo.tickets(stage="verified")] == ["verified"]

    # REST: the notices wait for the next message and are handed out exactly once
    waiting = repo.take_notices("citizen-1", "rest")
    assert [n.stage for n in waiting] == ["assigned", "handling", "verified"]
    assert repo.take_notices("citizen-1", "rest") == []
    assert repo.take_notices("someone-else", "rest") == []


def test_two_staff_clicking_at_once_move_the_ticket_one_step(repo: GridRepository) -> None:
    ticket = file(repo)
    results = []
    barrier = threading.Barrier(4)

    def click() -> None:
        barrier.wait()
        results.append(repo.advance(ticket.code, actor="staff", to_stage="assigned"))

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.ok for r in results) == 1
    assert {r.error for r in results if not r.ok} <= {"not_next", "unavailable"}
    assert repo.get(ticket.code).stage == "assigned"
    assert [e["action"] for e in repo.trail(ticket.code)].count("advanced") == 1


def test_an_unreachable_database_is_an_answer_not_a_crash() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    repo = GridRepository(engine)
    assert repo.status("WG-22222222", sender_id="x", channel="rest").error == "unavailable"
    assert repo.advance("WG-22222222", actor="x").error == "unavailable"
    failed = repo.file(
        category="pollution",
        place="a",
        description="b",
        occurred_at=SEEN,
        channel="rest",
        sender_id="x",
    )
    assert not failed.ok and failed.error == "unavailable"
    from bot.grid.notify import notices_for_reply

    assert notices_for_reply("x", "rest", repo) == []
    engine.dispose()
