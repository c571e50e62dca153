"""Booking throughput and oversell check on SQLite and PostgreSQL, with 20 concurrent clients.

Why: "never oversold" must hold under load, not only in a unit test, and the figures tell how
many bookings per second one database sustains on these (shared, 2-core) machines.

Four scenarios per database, each bounded by an attempt count and a deadline. The clients
are threads spread over `--processes` processes (default 2 on two cores), as bookings come from
several action-server workers; a single CPython process is bound by its GIL to about one core.
- throughput (and throughput_1_process, all 20 clients in one process): every attempt finds a
  free seat, so the rate is bookings per second, the figure the issue's target is about;
- spread: every client books distinct people into slots over the next working days, with
  fewer seats than attempts, so some attempts are refused as full;
- hot: every client aims at one slot (10 + 2 green seats) at the same time.
Oversold seats are counted from the bookings themselves (active bookings per slot beyond the
capacity), and the seat counters are cross-checked against the bookings; both must be 0.

Usage: python -m scripts.bench_booking [--out results/bench_booking.json] [--attempts 600]
PostgreSQL comes from TEST_PG_ADMIN_URL (default the local trust login); a throw-away
database is created and dropped. Only localhost is accepted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time as clock
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # allow `python scripts/bench_booking.py` as well as `-m`
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from bot.booking import (  # noqa: E402
    BookingRepository,
    dispose_engines,
    get_engine,
    migrate,
    slot_starts,
    sync_halls,
)
from bot.booking.models import Booking, SlotCounter  # noqa: E402
from bot.calendar import next_working_days  # noqa: E402

CLIENTS = 20
SLOT_CAPACITY = 10
GREEN_CAPACITY = 2
DEADLINE_S = 240.0  # per scenario
FREE_DAYS_MAX = 7  # working days per throughput scenario (both fit in the booking window)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
SESSIONS = [["09:00", "12:00"], ["13:30", "17:00"]]
HALLS_YML = f"""
kind: halls
halls:
  - id: bench
    name: 压测大厅
    address: {{config: null, value: null}}
    hours: {{config: null, value: null}}
    phone: {{config: null, value: null}}
    green_channel_phone: {{config: null, value: null}}
    services: [passport]
    booking: {{slot_capacity: {SLOT_CAPACITY}, green_capacity: {GREEN_CAPACITY}, code_prefix: BN, sessions: {SESSIONS}}}
    sources: [bench]
"""


def person(n: int) -> tuple[str, str]:
    """A distinct valid ID number and mobile for attempt n."""
    birth = date(1950, 1, 1).toordinal() + n % 25000
    body = f"330521{date.fromordinal(birth):%Y%m%d}{n // 25000 % 1000:03d}"
    return body + ric.calc_check_digit(body + "0"), f"139{n:08d}"


def _client_process(
    url: str,
    plan: list[tuple[int, tuple[date, time]]],
    threads: int,
    today: date,
    seed: int,
    priority_every: int,
    ready: Any,
    results: Any,
) -> None:
    """One client process: `threads` clients share `plan`; puts (outcomes, latencies, end)."""
    repo = BookingRepository(get_engine(url))
    lock = threading.Lock()
    latencies: list[float] = []
    outcome: dict[str, int] = {}
    cursor = iter(plan)
    ready.wait(timeout=60)  # every process is up: the parent's clock starts now
    deadline = clock.monotonic() + DEADLINE_S

    def client(worker: int) -> None:
        while clock.monotonic() < deadline:
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            i, (day, start) = item
            id_number, phone = person(seed * 100_000 + i)
            began = clock.perf_counter()
            result = repo.book(
                hall_id="bench",
                service="passport",
                day=day,
                start=start,
                name="压测",
                id_number=id_number,
                phone=phone,
                channel="bench",
                sender_id=f"bench-{worker}-{i}",
                priority=priority_every > 0 and i % priority_every == 0,
                today=today,
            )
            took = clock.perf_counter() - began
            key = "booked" if result.ok else (result.error or "error")
            with lock:
                latencies.append(took)
                outcome[key] = outcome.get(key, 0) + 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(client, w) for w in range(threads)]:
            future.result()
    dispose_engines()
    results.put((outcome, latencies, clock.monotonic()))


def run_scenario(
    url: str,
    targets: list[tuple[date, time]],
    attempts: int,
    today: date,
    seed: int,
    priority_every: int,
    processes: int,
    one_per_target: bool = False,
) -> dict[str, Any]:
    """`attempts` bookings by CLIENTS clients, as threads spread over `processes` processes
    (like action-server workers: one CPython process is bound by its GIL at about one core);
    returns counts, rate and latency. With `one_per_target`, each target (a seat) is tried
    once, in random order; otherwise the attempts pick targets at random."""
    rng = random.Random(seed)
    if one_per_target:
        order = rng.sample(targets, min(attempts, len(targets)))
        plan = list(enumerate(order))
    else:
        plan = [(i, targets[rng.randrange(len(targets))]) for i in range(attempts)]
    dispose_engines()  # a forked child must not share the parent's pooled connections
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=_client_process,
            args=(
                url,
                plan[p::processes],
                CLIENTS // processes + (1 if p < CLIENTS % processes else 0),
                today,
                seed,
                priority_every,
                ready,
                results,
            ),
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=60)
    started = clock.monotonic()
    outcome: dict[str, int] = {}
    latencies: list[float] = []
    finished = started
    for _ in workers:
        part, times, end = results.get(timeout=DEADLINE_S + 60)
        for key, count in part.items():
            outcome[key] = outcome.get(key, 0) + count
        latencies.extend(times)
        finished = max(finished, end)
    for worker in workers:
        worker.join(timeout=30)
    elapsed = finished - started
    done = sum(outcome.values())
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return (
            round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)
            if ordered
            else 0.0
        )

    return {
        "attempts": done,
        "processes": processes,
        "outcomes": outcome,
        "seconds": round(elapsed, 3),
        "bookings_per_second": round(outcome.get("booked", 0) / elapsed, 1) if elapsed else 0.0,
        "attempts_per_second": round(done / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {
            "p50": pct(0.50),
            "p95": pct(0.95),
            "max": pct(1.0),
            "mean": round(1000 * statistics.fmean(ordered), 2) if ordered else 0.0,
        },
        "hit_deadline": done < attempts,
    }


def oversold(engine: sa.engine.Engine) -> dict[str, int]:
    """Seats sold beyond capacity, and counter rows that disagree with the bookings."""
    b, c = Booking.__table__, SlotCounter.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(b.c.day, b.c.start_time, b.c.green_seat, sa.func.count())
            .where(b.c.status == "active")
            .group_by(b.c.day, b.c.start_time, b.c.green_seat)
        ).all()
        counters = {
            (r[0], r[1]): (int(r[2]), int(r[3]))
            for r in conn.execute(
                sa.select(c.c.day, c.c.start_time, c.c.booked, c.c.priority_booked)
            ).all()
        }
    per_slot: dict[tuple[date, time], list[int]] = {}
    for day, start, green, count in rows:
        per_slot.setdefault((day, start), [0, 0])[1 if green else 0] += int(count)
    over = sum(max(0, n - SLOT_CAPACITY) + max(0, g - GREEN_CAPACITY) for n, g in per_slot.values())
    mismatch = sum(
        1
        for key in set(per_slot) | set(counters)
        if tuple(per_slot.get(key, [0, 0])) != counters.get(key, (0, 0))
    )
    return {
        "oversold_seats": over,
        "counter_mismatches": mismatch,
        "active_bookings": sum(n + g for n, g in per_slot.values()),
    }


def bench_database(
    url: str, label: str, attempts: int, halls_file: Path, processes: int
) -> dict[str, Any]:
    migrate(url, sync=False)
    engine = get_engine(url)
    sync_halls(engine, halls_file)
    today = datetime.now(timezone.utc).date()
    starts = [s for s, _ in slot_starts(SESSIONS)]
    seats_per_day = len(starts) * SLOT_CAPACITY
    free_days = max(1, min(FREE_DAYS_MAX, -(-attempts // seats_per_day)))
    days = next_working_days(date.fromordinal(today.toordinal() + 1), 3 + 2 * free_days)
    scenarios: dict[str, Any] = {}
    # Throughput: every attempt finds a free seat, once with all clients in one process and
    # once spread over `processes` processes; the second is the bookings/s figure.
    for key, days_of, procs in (
        ("throughput_1_process", days[3 : 3 + free_days], 1),
        ("throughput", days[3 + free_days :], processes),
    ):
        seats = [(d, s) for d in days_of for s in starts for _ in range(SLOT_CAPACITY)]
        tries = min(attempts, len(seats))
        print(
            f"[{label}] {key}: {tries} attempts by {CLIENTS} clients in {procs} process(es), "
            "each on a seat of its own …",
            flush=True,
        )
        scenarios[key] = run_scenario(
            url, seats, tries, today, seed=3, priority_every=0, processes=procs, one_per_target=True
        )
    spread_targets = [(d, s) for d in days[:3] for s in starts]
    print(
        f"[{label}] spread: {attempts} attempts by {CLIENTS} clients on {len(spread_targets)} slots "
        f"({len(spread_targets) * SLOT_CAPACITY} normal seats, so some are refused as full) …",
        flush=True,
    )
    scenarios["spread"] = run_scenario(
        url, spread_targets, attempts, today, seed=1, priority_every=0, processes=processes
    )
    hot_day = days[0]
    hot_slot = time(16, 30)
    hot_attempts = max(CLIENTS * 5, 100)
    print(
        f"[{label}] hot: {hot_attempts} attempts on one slot "
        f"({SLOT_CAPACITY} + {GREEN_CAPACITY} green seats, every 3rd attempt priority) …",
        flush=True,
    )
    scenarios["hot"] = run_scenario(
        url,
        [(hot_day, hot_slot)],
        hot_attempts,
        today,
        seed=2,
        priority_every=3,
        processes=processes,
    )
    engine = get_engine(url)
    check = oversold(engine)
    hot_booked = BookingRepository(engine).count_active("bench", hot_day, hot_slot)
    scenarios["hot"].update(booked_in_slot=hot_booked, capacity=SLOT_CAPACITY + GREEN_CAPACITY)
    result = {
        "url": sa.engine.make_url(url).render_as_string(hide_password=True),
        "clients": CLIENTS,
        "processes": processes,
        **scenarios,
        **check,
    }
    dispose_engines()
    return result


def local_only(url: str) -> None:
    host = sa.engine.make_url(url).host
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"refusing to bench a non-local database host: {host!r}")


def with_postgres(
    admin_url: str, attempts: int, halls_file: Path, processes: int
) -> dict[str, Any]:
    local_only(admin_url)
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", future=True, connect_args={"connect_timeout": 3}
    )
    name = f"crj_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        return {"skipped": f"PostgreSQL not available: {exc.__class__.__name__}"}
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        return bench_database(url, "postgresql", attempts, halls_file, processes)
    finally:
        dispose_engines()
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


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_booking.json"))
    parser.add_argument(
        "--attempts", type=int, default=600, help="spread-scenario attempts (max 5000)"
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="client processes the 20 clients are spread over (default: 2, or 1 on one core)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    processes = max(1, min(args.processes, CLIENTS))
    attempts = max(CLIENTS, min(args.attempts, 5000))

    report: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clients": CLIENTS,
        "slot_capacity": SLOT_CAPACITY,
        "green_capacity": GREEN_CAPACITY,
        "cpu_count": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="crj-bench-") as tmp:
        halls_file = Path(tmp) / "halls.yml"
        halls_file.write_text(HALLS_YML, encoding="utf-8")
        report["sqlite"] = bench_database(
            f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite", attempts, halls_file, processes
        )
        report["postgresql"] = (
            {"skipped": "--skip-postgres"}
            if args.skip_postgres
            else with_postgres(args.pg_admin_url, attempts, halls_file, processes)
        )
    report["oversold_seats_total"] = sum(
        int(report[db].get("oversold_seats", 0)) for db in ("sqlite", "postgresql")
    )

    print(
        "\nbackend     scenario              procs  bookings/s  attempts/s  p50 ms  p95 ms"
        "  oversold  mismatches"
    )
    for db in ("sqlite", "postgresql"):
        part = report[db]
        if "skipped" in part:
            print(f"{db:<11} skipped: {part['skipped']}")
            continue
        for scenario in ("throughput_1_process", "throughput", "spread", "hot"):
            s = part[scenario]
            print(
                f"{db:<11} {scenario:<21} {s['processes']:>5} "
                f"{s['bookings_per_second']:>10} {s['attempts_per_second']:>11} "
                f"{s['latency_ms']['p50']:>7} {s['latency_ms']['p95']:>7} {part['oversold_seats']:>9} "
                f"{part['counter_mismatches']:>11}"
            )
        print(
            f"{'':<11} hot slot: {part['hot']['booked_in_slot']} booked of {part['hot']['capacity']} seats"
        )
    print(f"oversold seats in total: {report['oversold_seats_total']} (must be 0)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(f"wrote {out}")
    return 1 if report["oversold_seats_total"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
