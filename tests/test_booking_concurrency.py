"""Never oversold: many concurrent attempts on few seats, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy import func, select

from bot.booking import BookingRepository, BookingResult, dispose_engines
from bot.booking.models import Booking, SlotCounter
from tests.test_booking_repo import MONDAY, TODAY, make_id, make_phone, prepare

SLOT = time(10, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BookingRepository]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'concurrency.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    yield BookingRepository(prepare(url, tmp_path))
    dispose_engines()


def run_concurrently(
    n: int, attempt: Callable[[int], BookingResult], workers: int = 50
) -> list[BookingResult]:
    """Start n attempts as close together as possible: the first batch (one per worker)
    waits at a barrier, the rest follow as workers free up."""
    parties = min(n, workers)
    barrier = threading.Barrier(parties)

    def go(i: int) -> BookingResult:
        if i < parties:
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
        return attempt(i)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(go, range(n)))


def counts(repo: BookingRepository) -> tuple[int, int, int]:
    with repo._engine.connect() as conn:
        bookings = conn.execute(
            select(func.count())
            .select_from(Booking.__table__)
            .where(Booking.__table__.c.status == "active")
        ).scalar()
        counter = conn.execute(
            select(SlotCounter.__table__.c.booked, SlotCounter.__table__.c.priority_booked).where(
                SlotCounter.__table__.c.start_time == SLOT
            )
        ).one()
    return int(bookings or 0), int(counter[0]), int(counter[1])


def test_200_people_on_10_seats_give_exactly_10_bookings(repo: BookingRepository) -> None:
    def attempt(i: int) -> BookingResult:
        return repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=SLOT,
            name="并发测试",
            id_number=make_id(1000 + i),
            phone=make_phone(1000 + i),
            channel="test",
            sender_id=f"c-{i}",
            today=TODAY,
        )

    results = run_concurrently(200, attempt, workers=200)  # 200 threads at once
    ok = [r for r in results if r.ok]
    assert len(ok) == 10
    assert len({r.code for r in ok}) == 10
    assert {r.error for r in results if not r.ok} == {"slot_full"}
    assert counts(repo) == (10, 10, 0)
    assert repo.count_active("bulk", MONDAY, SLOT) == 10


def test_priority_attempts_use_green_then_normal_seats(repo: BookingRepository) -> None:
    def attempt(i: int) -> BookingResult:
        return repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=SLOT,
            name="绿色通道",
            id_number=make_id(3000 + i),
            phone=make_phone(3000 + i),
            channel="test",
            sender_id=f"p-{i}",
            priority=i % 2 == 0,
            today=TODAY,
        )

    results = run_concurrently(60, attempt)
    assert sum(r.ok for r in results) == 12  # 10 normal + 2 green seats
    assert counts(repo) == (12, 10, 2)


def test_retry_storm_from_one_sender_gives_one_booking(repo: BookingRepository) -> None:
    def attempt(_: int) -> BookingResult:
        return repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=SLOT,
            name="张三",
            id_number="33052119900315001X",
            phone="13812345678",
            channel="wechat",
            sender_id="openid-1",
            today=TODAY,
        )

    results = run_concurrently(40, attempt, workers=20)
    assert all(r.ok for r in results), {r.error for r in results}
    assert len({r.code for r in results}) == 1
    assert counts(repo) == (1, 1, 0)


def test_one_person_from_many_senders_gets_one_booking(repo: BookingRepository) -> None:
    def attempt(i: int) -> BookingResult:
        return repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=time(9, 0) if i % 2 else SLOT,
            name="张三",
            id_number="33052119900315001X",
            phone="13812345678",
            channel="web",
            sender_id=f"tab-{i}",
            today=TODAY,
        )

    results = run_concurrently(30, attempt, workers=15)
    assert sum(r.ok for r in results) == 1
    assert {r.error for r in results if not r.ok} == {"duplicate"}
    assert len({r.code for r in results}) == 1


def test_concurrent_cancel_and_book_never_oversell(repo: BookingRepository) -> None:
    first = [
        repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=SLOT,
            name="先约",
            id_number=make_id(5000 + i),
            phone=make_phone(5000 + i),
            channel="t",
            sender_id=f"f-{i}",
            today=TODAY,
        )
        for i in range(10)
    ]
    codes = [r.code for r in first if r.ok]
    assert len(codes) == 10

    def attempt(i: int) -> BookingResult:
        if i < 5:
            return repo.cancel(codes[i], actor=f"f-{i}", channel="t")  # the owner  # type: ignore[arg-type]
        return repo.book(
            hall_id="bulk",
            service="passport",
            day=MONDAY,
            start=SLOT,
            name="后约",
            id_number=make_id(6000 + i),
            phone=make_phone(6000 + i),
            channel="t",
            sender_id=f"s-{i}",
            today=TODAY,
        )

    results = run_concurrently(60, attempt, workers=30)
    assert all(r.ok for r in results[:5])
    active, booked, _ = counts(repo)
    assert active == booked <= 10
    assert sum(r.ok for r in results[5:]) == active - 5
