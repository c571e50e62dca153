"""Booking rules and atomic writes: the only code that changes bookings or seat counters.

Why one transaction per change, and counters: a seat is taken by
`UPDATE slot_counters SET booked = booked + 1 WHERE ... AND booked < capacity`, and the
booking row is written in the same transaction, so a seat is never sold twice and a booking
is never half-written. PostgreSQL serialises the UPDATE on the counter row (READ COMMITTED
re-checks the WHERE after the lock); SQLite runs every write transaction as BEGIN IMMEDIATE
(see db.py). The counter row is created first with INSERT ... ON CONFLICT DO NOTHING.

Every view that leaves this module carries masked personal data only.

Access (who may see, move or cancel a booking) is decided here from the database, never from
what a tracker says: see bot/booking/access.py.

Nothing here is worded for a citizen: a refusal is a stable code (`RefusalCode`) with its
facts as data (`RefusalHints`: days, times, counts, codes, hall), and the actions pick the
domain response for it (actions/booking/refusals.py). The same day rule answers the form's
date step (`day_refusal`, `calendar_refusal`) and the booking itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, ContextManager, Literal, Optional, Sequence

from sqlalchemy import and_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.elements import TextClause

from bot.booking import access
from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.booking.models import STATUS_ACTIVE, STATUS_CANCELLED, AuditLog, Booking, Hall, SlotCounter
from bot.calendar import calendar_note, is_working_day
from bot.privacy import mask_id, mask_name, mask_phone
from bot.settings import get_settings
from bot.validation import (
    IdCheck,
    NameCheck,
    PhoneCheck,
    check_id_number,
    check_name,
    check_phone,
)

__all__ = [
    "BookingRepository",
    "SlotView",
    "BookingView",
    "BookingResult",
    "RefusalCode",
    "RefusalHints",
    "Refusal",
    "REFUSAL_CODES",
    "AccessResult",
    "HallView",
    "BOOKING_WINDOW_DAYS",
    "CODE_ALPHABET",
    "hash_id",
    "normalize_code",
    "slot_starts",
]

log = logging.getLogger(__name__)

#: Bookings are accepted from today up to this many days ahead.
BOOKING_WINDOW_DAYS = 30
#: No 0/O, 1/I/L: codes are read aloud and typed from SMS.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: New codes: 31^8 ≈ 8.5e11 per hall, so guessing one is hopeless even before the rate limits.
CODE_LENGTH = 8
#: Codes issued before 2026-12 have 5 characters; they stay valid.
LEGACY_CODE_LENGTH = 5
_MAX_ATTEMPTS = 4

_halls = Hall.__table__
_counters = SlotCounter.__table__
_bookings = Booking.__table__
_audit = AuditLog.__table__


@lru_cache(maxsize=4)
def _seat_upsert(column: str) -> TextClause:
    """One seat from `column` (booked or priority_booked) as one upsert, in SQL text.

    SQLAlchemy 1.4 does not cache the compiled form of its dialects' ON CONFLICT
    constructs, so the same upsert built with postgresql.insert() was compiled again on
    every booking (1.4 ms of a 7.5 ms booking on PostgreSQL, measured with cProfile). A
    text() statement is compiled once. PostgreSQL and SQLite (3.24+) share this syntax; the
    WHERE of the conflict update is what keeps concurrent bookings from overselling.
    """
    if column not in ("booked", "priority_booked"):
        raise ValueError(column)
    table = _counters.name
    return text(
        f"INSERT INTO {table} (hall_id, day, start_time, booked, priority_booked) "
        "VALUES (:hall_id, :day, :start_time, :booked, :priority_booked) "
        "ON CONFLICT (hall_id, day, start_time) "
        f"DO UPDATE SET {column} = {table}.{column} + 1 WHERE {table}.{column} < :capacity"
    ).bindparams(
        bindparam("day", type_=_counters.c.day.type),
        bindparam("start_time", type_=_counters.c.start_time.type),
    )


#: The booking path's statements, built once with bind parameters: SQLAlchemy 1.4 builds and
#: hashes a new statement object on every call otherwise (about a third of a booking's Python
#: time on the 20-client bench, cProfile 2026-12-03), while a prebuilt one is compiled once.
_HALL_BY_ID = select(_halls).where(
    and_(_halls.c.id == bindparam("hall_id"), _halls.c.active.is_(True))
)
_ACTIVE_SAME_DAY = select(_bookings).where(
    and_(
        _bookings.c.id_hash == bindparam("id_hash"),
        _bookings.c.service == bindparam("service"),
        _bookings.c.day == bindparam("day"),
        _bookings.c.status == STATUS_ACTIVE,
    )
)
_COUNTS = select(
    _counters.c.day, _counters.c.start_time, _counters.c.booked, _counters.c.priority_booked
).where(
    and_(
        _counters.c.hall_id == bindparam("hall_id"),
        _counters.c.day >= bindparam("first"),
        _counters.c.day <= bindparam("last"),
    )
)
_INSERT_BOOKING = _bookings.insert()
_INSERT_AUDIT = _audit.insert()


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotView:
    start: time
    end: time
    free: int


@dataclass(frozen=True)
class HallView:
    id: str
    name: str
    code_prefix: str
    address: Optional[str]
    phone: Optional[str]
    hours: Optional[str]
    services: tuple[str, ...]
    slot_capacity: int
    green_capacity: int


@dataclass(frozen=True)
class BookingView:
    """What may be shown to a user: masked ID, phone and name only."""

    code: str
    hall_id: str
    hall_name: str
    service: str
    day: date
    start: time
    end: time
    status: str
    priority: bool
    name_masked: str
    id_masked: str
    phone_masked: str
    channel: str


#: Why a booking, move or cancellation was refused. The chat words each one from a domain
#: response (domain/booking_rules.yml), so callers compare these, never a sentence.
RefusalCode = Literal[
    "unknown_hall",  # no such (active) hall
    "hall_not_bookable",  # the hall has no appointment sessions in halls.yml (yet)
    "hall_withdrawn",  # the booking's hall no longer takes bookings (reschedule)
    "invalid_id",  # hints.check: bot.validation's IdCheck
    "invalid_phone",  # hints.check: PhoneCheck
    "invalid_name",  # hints.check: NameCheck
    "invalid_service",
    "past",  # hints.day
    "too_far",  # hints.day, last_day, window_days
    "not_working_day",  # hints.day (bot.calendar names the day off and its caveat)
    "invalid_slot",  # hints.start, sessions
    "slot_passed",  # hints.day, start
    "slot_full",  # hints.day, start, free_times (other free starts that day)
    "duplicate",  # hints.day, booking_code (the booking that already exists)
    "not_found",  # hints.booking_code (as asked)
    "not_active",  # hints.booking_code
    "booking_passed",  # hints.booking_code, day (the booking's own day is over)
    "unavailable",  # the database cannot be reached
]
REFUSAL_CODES: tuple[str, ...] = RefusalCode.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RefusalHints:
    """The facts a refusal's reply is filled from (never wording)."""

    day: Optional[date] = None
    start: Optional[time] = None
    last_day: Optional[date] = None
    window_days: Optional[int] = None
    #: The hall's appointment sessions (merged slots), for invalid_slot.
    sessions: tuple[tuple[time, time], ...] = ()
    #: Starts of other slots that day with a free seat (at most four), for slot_full.
    free_times: tuple[time, ...] = ()
    booking_code: Optional[str] = None
    hall_id: Optional[str] = None
    #: bot.validation's check result (IdCheck, PhoneCheck, NameCheck) for invalid_*.
    check: Any = None


@dataclass(frozen=True)
class Refusal:
    """A refusal code and its hints: what the day rule returns."""

    code: RefusalCode
    hints: RefusalHints = field(default_factory=RefusalHints)


@dataclass(frozen=True)
class BookingResult:
    """`ok` with the booking, or `error` (a RefusalCode) with `hints`. `free_days` suggests
    other days when the chosen day cannot be booked; `note` carries bot.calendar's caveat for
    years without an official holiday schedule."""

    ok: bool
    code: Optional[str] = None
    booking: Optional[BookingView] = None
    error: Optional[RefusalCode] = None
    hints: RefusalHints = field(default_factory=RefusalHints)
    free_days: tuple[date, ...] = field(default_factory=tuple)
    note: Optional[str] = None
    is_minor: bool = False


@dataclass(frozen=True)
class AccessResult:
    """Whether a sender may see/change a booking, decided from the database.

    `level` is "owner" or "grant" when ok. `error` is a stable code: denied (no access; for a
    non-owner the chat asks for the last four, whether or not the code exists), mismatch (wrong
    digits or no such code: deliberately the same), locked (too many failures on this code
    today; the owner still gets in), rate_limited (too many failures from this sender this
    hour), invalid_code, invalid_digits, unavailable. `hall_id` is the hall the code's prefix
    belongs to (also when no booking has the code), for the "call the hall" line; `booking`
    is set only when ok."""

    ok: bool
    code: Optional[str] = None
    level: Optional[str] = None
    error: Optional[str] = None
    hall_id: Optional[str] = None
    booking: Optional[BookingView] = None


class _Abort(Exception):
    """Rolls the current transaction back and hands a result to the caller: `result`, or
    what `later` reads once the transaction has ended (and released its row locks)."""

    def __init__(
        self,
        result: Optional[BookingResult] = None,
        later: Optional[Callable[[Connection], BookingResult]] = None,
    ) -> None:
        super().__init__(str(result.error) if result is not None else "deferred")
        self.result = result
        self.later = later


# --- helpers --------------------------------------------------------------------------------


def hash_id(id_number: str, secret: Optional[str] = None) -> str:
    """HMAC-SHA256 of the normalised ID with the deployment secret (not reversible without it)."""
    if secret is None:
        secret = get_settings().id_hash_secret
    return hmac.new(secret.encode("utf-8"), id_number.encode("utf-8"), hashlib.sha256).hexdigest()


def normalize_code(raw: str) -> Optional[str]:
    """'hz 7k3q9m2x', 'HZ-7K3Q9M2X', 'ＨＺ７Ｋ３Ｑ９Ｍ２Ｘ' → 'HZ-7K3Q9M2X'; the older
    5-character codes ('hz 7k3q9' → 'HZ-7K3Q9') too; None when it cannot be a code."""
    text = unicodedata.normalize("NFKC", raw or "")[:40].upper()
    text = re.sub(r"[\s_—–\-]+", "", text)
    m = re.fullmatch(
        rf"([A-Z]{{2,4}}?)([0-9A-Z]{{{CODE_LENGTH}}}|[0-9A-Z]{{{LEGACY_CODE_LENGTH}}})", text
    )
    if not m:
        return None
    return f"{m.group(1)}-{m.group(2)}"


def _parse_hhmm(value: str) -> time:
    hour, minute = value.strip().split(":")[:2]
    return time(int(hour), int(minute))


def slot_starts(
    sessions: Optional[Sequence[Sequence[str]]], minutes: int = 30
) -> list[tuple[time, time]]:
    """(start, end) of every slot of the hall's sessions, in order; no sessions, no slots (the
    hall is not bookable)."""
    result: list[tuple[time, time]] = []
    step = timedelta(minutes=max(5, minutes))
    for start_s, end_s in sessions or ():
        cursor = datetime.combine(date(2000, 1, 1), _parse_hhmm(start_s))
        end = datetime.combine(date(2000, 1, 1), _parse_hhmm(end_s))
        while cursor + step <= end:
            result.append((cursor.time(), (cursor + step).time()))
            cursor += step
    return result


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M")


def _counted(result: BookingResult, event: str) -> BookingResult:
    """Count the committed booking change, or the refusal's code (bot.metrics)."""
    from bot import metrics

    if result.ok:
        metrics.record_booking(event)
    else:
        metrics.record_booking_refusal(result.error)
    return result


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _HallRow:
    id: str
    name: str
    code_prefix: str
    slot_capacity: int
    green_capacity: int
    slots: tuple[tuple[time, time], ...]
    phone: Optional[str]

    def end_of(self, start: time) -> time:
        for s, e in self.slots:
            if s == start:
                return e
        return start


# --- repository -----------------------------------------------------------------------------


def _person_refusal(
    id_check: IdCheck, phone_check: PhoneCheck, name_check: NameCheck
) -> Optional[BookingResult]:
    """The refusal for the first of ID, phone and name that bot.validation did not accept."""
    checks: tuple[tuple[RefusalCode, "IdCheck | PhoneCheck | NameCheck"], ...] = (
        ("invalid_id", id_check),
        ("invalid_phone", phone_check),
        ("invalid_name", name_check),
    )
    for error, check in checks:
        if not check.ok or check.value is None:
            return BookingResult(False, error=error, hints=RefusalHints(check=check))
    return None


class BookingRepository:
    """Booking operations over one engine. Methods that return BookingResult never raise for
    a database outage (they return error='unavailable'); the read methods raise
    BookingUnavailable."""

    def __init__(self, engine: Optional[Engine] = None) -> None:
        self._engine = engine if engine is not None else get_engine()
        self._dialect = self._engine.dialect.name

    # --- connections ---

    @staticmethod
    def _fail(exc: SQLAlchemyError) -> BookingUnavailable:
        log.warning("booking database unavailable: %s", exc.__class__.__name__)
        return BookingUnavailable(exc.__class__.__name__)

    def _read(self) -> ContextManager[Connection]:
        return read_connection(self._engine, self._fail)

    def _unavailable(self, exc: BaseException) -> BookingResult:
        log.warning("booking database unavailable: %s", exc.__class__.__name__)
        return BookingResult(False, error="unavailable")

    # --- halls and slots ---

    def _hall(self, conn: Connection, hall_id: str) -> Optional[_HallRow]:
        row = conn.execute(_HALL_BY_ID, {"hall_id": hall_id}).mappings().first()
        if row is None:
            return None
        return _HallRow(
            id=row["id"],
            name=row["name"],
            code_prefix=row["code_prefix"],
            slot_capacity=int(row["slot_capacity"]),
            green_capacity=int(row["green_capacity"]),
            slots=tuple(slot_starts(row["sessions"], int(row["slot_minutes"] or 30))),
            phone=row["phone"],
        )

    def halls(self) -> list[HallView]:
        """Active halls, for the form's buttons."""
        with self._read() as conn:
            rows = (
                conn.execute(select(_halls).where(_halls.c.active.is_(True)).order_by(_halls.c.id))
                .mappings()
                .all()
            )
        return [
            HallView(
                id=r["id"],
                name=r["name"],
                code_prefix=r["code_prefix"],
                address=r["address"],
                phone=r["phone"],
                hours=r["hours"],
                services=tuple(r["services"] or ()),
                slot_capacity=int(r["slot_capacity"]),
                green_capacity=int(r["green_capacity"]),
            )
            for r in rows
        ]

    def _counts(
        self, conn: Connection, hall_id: str, first: date, last: date
    ) -> dict[tuple[date, time], tuple[int, int]]:
        rows = conn.execute(_COUNTS, {"hall_id": hall_id, "first": first, "last": last}).all()
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    @staticmethod
    def _free(
        hall: _HallRow, counts: tuple[int, int], *, priority: bool, green_only: bool = False
    ) -> int:
        booked, priority_booked = counts
        normal = max(0, hall.slot_capacity - booked)
        green = max(0, hall.green_capacity - priority_booked)
        if green_only:
            return green
        return normal + green if priority else normal

    def _slots_for(
        self,
        hall: _HallRow,
        day: date,
        counts: dict[tuple[date, time], tuple[int, int]],
        *,
        priority: bool,
        green_only: bool = False,
        after: Optional[time] = None,
    ) -> list[SlotView]:
        if not is_working_day(day):
            return []
        views = []
        for start, end in hall.slots:
            if after is not None and start <= after:
                continue
            free = self._free(
                hall, counts.get((day, start), (0, 0)), priority=priority, green_only=green_only
            )
            if free > 0:
                views.append(SlotView(start=start, end=end, free=free))
        return views

    def available_slots(
        self, hall_id: str, day: date, *, priority: bool = False, now: Optional[datetime] = None
    ) -> list[SlotView]:
        """Slots of `day` with at least one free seat (priority also counts green seats).
        With `now`, slots of today that have already started are left out."""
        with self._read() as conn:
            hall = self._hall(conn, hall_id)
            if hall is None:
                return []
            counts = self._counts(conn, hall_id, day, day)
        after = now.time() if now is not None and now.date() == day else None
        return self._slots_for(hall, day, counts, priority=priority, after=after)

    def free_days(
        self,
        hall_id: str,
        start: date,
        n: int,
        *,
        priority: bool = False,
        now: Optional[datetime] = None,
        until: Optional[date] = None,
    ) -> list[date]:
        """Up to n working days from `start` (inclusive) that still have a free slot, for the
        "pick another day" buttons. They end at `until`, else at the booking window counted
        from `now` (today), else 30 days after `start`: a suggestion must be bookable, so it
        never lies beyond the window the booking itself is checked against. With `now`, today
        counts only if a slot that has not started yet is free."""
        if n <= 0:
            return []
        if until is None and now is not None:
            until = now.date() + timedelta(days=BOOKING_WINDOW_DAYS)
        with self._read() as conn:
            hall = self._hall(conn, hall_id)
            if hall is None:
                return []
            return self._free_days_in(conn, hall, start, n, priority=priority, now=now, until=until)

    def priority_slots(self, hall_id: str, now: datetime) -> list[tuple[date, SlotView]]:
        """Green-channel seats: today's remaining slots, else the next working day's."""
        today = now.date()
        with self._read() as conn:
            hall = self._hall(conn, hall_id)
            if hall is None or hall.green_capacity <= 0:
                return []
            counts = self._counts(conn, hall_id, today, today + timedelta(days=BOOKING_WINDOW_DAYS))
        slots = self._slots_for(
            hall, today, counts, priority=True, green_only=True, after=now.time()
        )
        if slots:
            return [(today, s) for s in slots]
        day = today + timedelta(days=1)
        for _ in range(BOOKING_WINDOW_DAYS):
            if is_working_day(day):
                return [
                    (day, s)
                    for s in self._slots_for(hall, day, counts, priority=True, green_only=True)
                ]
            day += timedelta(days=1)
        return []

    # --- rules ---

    @staticmethod
    def calendar_refusal(day: date, today: date) -> Optional[Refusal]:
        """Why no hall could take `day` (past, beyond the booking window, closed); None if
        open. Needs no hall, so a date named before the hall is chosen is checked at once."""
        last = today + timedelta(days=BOOKING_WINDOW_DAYS)
        if day < today:
            return Refusal("past", RefusalHints(day=day))
        if day > last:
            return Refusal(
                "too_far", RefusalHints(day=day, last_day=last, window_days=BOOKING_WINDOW_DAYS)
            )
        if not is_working_day(day):
            return Refusal("not_working_day", RefusalHints(day=day))
        return None

    def day_refusal(
        self,
        hall_id: str,
        day: date,
        *,
        today: date,
        start: Optional[time] = None,
        now: Optional[datetime] = None,
    ) -> Optional[Refusal]:
        """Can `day` (and `start`, when given) be booked at this hall: the one day rule, for the
        form's date step as for `book` and `reschedule`. Free seats are not checked here."""
        with self._read() as conn:
            hall = self._hall(conn, hall_id)
        if hall is None:
            return Refusal("unknown_hall", RefusalHints(hall_id=hall_id))
        return self._rule(hall, day, start, today=today, now=now)

    def _rule(
        self,
        hall: _HallRow,
        day: date,
        start: Optional[time],
        *,
        today: date,
        now: Optional[datetime],
    ) -> Optional[Refusal]:
        if not hall.slots:
            return Refusal("hall_not_bookable", RefusalHints(hall_id=hall.id))
        problem = self.calendar_refusal(day, today)
        if problem is not None or start is None:
            return problem
        if start not in [s for s, _ in hall.slots]:
            return Refusal(
                "invalid_slot",
                RefusalHints(start=start, sessions=tuple(_sessions_of(hall)), hall_id=hall.id),
            )
        if now is not None and day == now.date() and start <= now.time():
            return Refusal("slot_passed", RefusalHints(day=day, start=start))
        return None

    def _day_problem(
        self,
        conn: Connection,
        hall: _HallRow,
        day: date,
        start: time,
        *,
        today: date,
        now: Optional[datetime],
        priority: bool,
    ) -> Optional[BookingResult]:
        problem = self._rule(hall, day, start, today=today, now=now)
        if problem is None:
            return None
        if problem.code in ("invalid_slot", "hall_not_bookable"):
            return BookingResult(False, error=problem.code, hints=problem.hints)
        alternatives = self._free_days_in(conn, hall, today, 3, priority=priority, now=now)
        return BookingResult(
            False,
            error=problem.code,
            hints=problem.hints,
            free_days=tuple(alternatives),
            note=calendar_note(day),
        )

    def _free_days_in(
        self,
        conn: Connection,
        hall: _HallRow,
        start: date,
        n: int,
        *,
        priority: bool,
        now: Optional[datetime] = None,
        until: Optional[date] = None,
    ) -> list[date]:
        last = start + timedelta(days=BOOKING_WINDOW_DAYS)
        if until is not None:
            last = min(last, until)
        counts = self._counts(conn, hall.id, start, last)
        days: list[date] = []
        day = start
        while day <= last and len(days) < n:
            after = now.time() if now is not None and now.date() == day else None
            if self._slots_for(hall, day, counts, priority=priority, after=after):
                days.append(day)
            day += timedelta(days=1)
        return days

    # --- seats ---

    def _ensure_counter(self, conn: Connection, hall_id: str, day: date, start: time) -> None:
        values = {
            "hall_id": hall_id,
            "day": day,
            "start_time": start,
            "booked": 0,
            "priority_booked": 0,
        }
        if self._dialect == "postgresql":
            conn.execute(postgresql.insert(_counters).values(**values).on_conflict_do_nothing())
        elif self._dialect == "sqlite":
            conn.execute(sqlite.insert(_counters).values(**values).on_conflict_do_nothing())
        else:  # pragma: no cover - other databases: a savepoint absorbs the duplicate
            try:
                with conn.begin_nested():
                    conn.execute(_counters.insert().values(**values))
            except IntegrityError:
                pass

    def _slot_where(self, hall_id: str, day: date, start: time) -> Any:
        return and_(
            _counters.c.hall_id == hall_id, _counters.c.day == day, _counters.c.start_time == start
        )

    def _take_seat(
        self, conn: Connection, hall: _HallRow, day: date, start: time, *, priority: bool
    ) -> Optional[bool]:
        """Take one seat; returns green_seat (True/False), or None when the slot is full.
        A priority booking uses the reserved green capacity first, then a normal seat."""
        if priority and self._take_one(
            conn, hall.id, day, start, _counters.c.priority_booked, hall.green_capacity
        ):
            return True
        return (
            False
            if self._take_one(conn, hall.id, day, start, _counters.c.booked, hall.slot_capacity)
            else None
        )

    def _take_one(
        self, conn: Connection, hall_id: str, day: date, start: time, column: Any, capacity: int
    ) -> bool:
        """One seat from `column` while it is below `capacity`, as one atomic statement.

        On PostgreSQL and SQLite an upsert creates the slot's counter with this seat or adds
        the seat to it (one round trip instead of an insert-if-missing plus an update; the
        booking bench is bound by round trips). The WHERE of the conditional update is what
        keeps concurrent bookings from overselling.
        """
        if capacity <= 0:
            return False
        if self._dialect in ("postgresql", "sqlite"):
            taken = conn.execute(
                _seat_upsert(str(column.name)),
                {
                    "hall_id": hall_id,
                    "day": day,
                    "start_time": start,
                    "booked": 1 if column.name == "booked" else 0,
                    "priority_booked": 1 if column.name == "priority_booked" else 0,
                    "capacity": capacity,
                },
            )
            return taken.rowcount == 1
        self._ensure_counter(conn, hall_id, day, start)  # pragma: no cover - other databases
        taken = conn.execute(  # pragma: no cover
            update(_counters)
            .where(and_(self._slot_where(hall_id, day, start), column < capacity))
            .values({column.name: column + 1})
        )
        return taken.rowcount == 1  # pragma: no cover

    def _release_seat(
        self, conn: Connection, hall_id: str, day: date, start: time, *, green_seat: bool
    ) -> None:
        where = self._slot_where(hall_id, day, start)
        column = _counters.c.priority_booked if green_seat else _counters.c.booked
        conn.execute(
            update(_counters).where(and_(where, column > 0)).values({column.name: column - 1})
        )

    # --- bookings ---

    @staticmethod
    def _new_code(prefix: str) -> str:
        """A random code (CODE_LENGTH characters after the hall prefix); a collision hits the
        unique constraint and the whole booking is retried with a new code."""
        return f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))

    def _view(self, row: Any, hall_name: str, end: time) -> BookingView:
        return BookingView(
            code=row["code"],
            hall_id=row["hall_id"],
            hall_name=hall_name,
            service=row["service"],
            day=row["day"],
            start=row["start_time"],
            end=end,
            status=row["status"],
            priority=bool(row["priority"]),
            name_masked=mask_name(row["name"]),
            id_masked=row["id_masked"],
            phone_masked=mask_phone(row["phone"]),
            channel=row["channel"],
        )

    def _audit(
        self,
        conn: Connection,
        *,
        booking_id: Optional[int],
        code: Optional[str],
        action: str,
        actor: str,
        details: dict[str, Any],
    ) -> None:
        conn.execute(
            _INSERT_AUDIT,
            {
                "booking_id": booking_id,
                "code": code,
                "action": action,
                "actor": (actor or "unknown")[:128],
                "at": _now_utc(),
                "details": details,
            },
        )

    def _with_retries(self, work: Any) -> BookingResult:
        """Run `work(conn)` in a write transaction; retry when a concurrent request won a
        unique constraint (then the next attempt sees its committed row)."""
        last_exc: Optional[BaseException] = None
        for _ in range(_MAX_ATTEMPTS):
            try:
                with write_transaction(self._engine, self._fail, keep=(IntegrityError,)) as conn:
                    return work(conn)
            except _Abort as abort:
                if abort.later is None:
                    return abort.result or self._unavailable(RuntimeError("no result"))
                try:
                    with self._read() as conn:
                        return abort.later(conn)
                except BookingUnavailable:  # logged by _fail
                    return BookingResult(False, error="unavailable")
            except IntegrityError as exc:
                last_exc = exc
                continue
            except BookingUnavailable:  # logged by _fail
                return BookingResult(False, error="unavailable")
        log.error("booking gave up after %d conflicting attempts", _MAX_ATTEMPTS)
        return self._unavailable(last_exc or RuntimeError("conflict"))

    def book(
        self,
        *,
        hall_id: str,
        service: str,
        day: date,
        start: time,
        name: str,
        id_number: str,
        phone: str,
        channel: str,
        sender_id: str,
        priority: bool = False,
        today: date,
        now: Optional[datetime] = None,
        language: str = "zh",
    ) -> BookingResult:
        """Book one seat. Idempotent: the same sender, hall, service, slot and person get the
        same code back (ok=True). One active booking per person, service and day. `language`
        is the conversation's ("zh", "en"), kept for the reminder the day before."""
        id_check = check_id_number(id_number, today)
        phone_check = check_phone(phone)
        name_check = check_name(name)
        refused = _person_refusal(id_check, phone_check, name_check)
        if refused is not None:
            return refused
        service = (service or "").strip()[:64]
        if not service:
            return BookingResult(False, error="invalid_service")
        id_value, phone_value, name_value = (
            str(id_check.value),
            str(phone_check.value),
            str(name_check.value),
        )
        id_digest = hash_id(id_value)
        channel = (channel or "unknown")[:32]
        sender_id = (sender_id or "unknown")[:128]

        def work(conn: Connection) -> BookingResult:
            hall = self._hall(conn, hall_id)
            if hall is None:
                return BookingResult(
                    False, error="unknown_hall", hints=RefusalHints(hall_id=hall_id)
                )
            same = self._active_same_day(conn, id_digest, service, day)
            if same is not None:
                view = self._view(
                    same,
                    hall.name
                    if same["hall_id"] == hall.id
                    else self._hall_name(conn, same["hall_id"]),
                    self._end(conn, same),
                )
                if (
                    same["sender_id"] == sender_id
                    and same["hall_id"] == hall.id
                    and same["start_time"] == start
                ):
                    return BookingResult(
                        True,
                        code=same["code"],
                        booking=view,
                        note=calendar_note(day),
                        is_minor=id_check.is_minor,
                    )
                return BookingResult(
                    False,
                    code=same["code"],
                    booking=view,
                    error="duplicate",
                    hints=RefusalHints(day=day, booking_code=same["code"]),
                )
            problem = self._day_problem(
                conn, hall, day, start, today=today, now=now, priority=priority
            )
            if problem is not None:
                return problem
            green_seat = self._take_seat(conn, hall, day, start, priority=priority)
            if green_seat is None:
                after = now.time() if now is not None and now.date() == day else None
                raise self._slot_full(
                    hall,
                    day,
                    start,
                    today=today,
                    now=now,
                    priority=priority,
                    after=after,
                    note=calendar_note(day),
                )
            code = self._new_code(hall.code_prefix)
            stamp = _now_utc()
            values = dict(
                code=code,
                hall_id=hall.id,
                service=service,
                day=day,
                start_time=start,
                name=name_value,
                id_hash=id_digest,
                id_masked=mask_id(id_value),
                phone=phone_value,
                phone_last4=phone_value[-4:],
                status=STATUS_ACTIVE,
                priority=priority,
                green_seat=green_seat,
                channel=channel,
                sender_id=sender_id,
                language=(language or "zh")[:8],
                created_at=stamp,
                updated_at=stamp,
            )
            inserted = conn.execute(_INSERT_BOOKING, values)
            booking_id = inserted.inserted_primary_key[0]
            self._audit(
                conn,
                booking_id=booking_id,
                code=code,
                action="book",
                actor=sender_id,
                details={
                    "hall_id": hall.id,
                    "service": service,
                    "day": day.isoformat(),
                    "start": _hhmm(start),
                    "priority": priority,
                    "green_seat": green_seat,
                    "channel": channel,
                    "id_masked": mask_id(id_value),
                    "phone_masked": mask_phone(phone_value),
                },
            )
            return BookingResult(
                True,
                code=code,
                booking=self._view(values, hall.name, hall.end_of(start)),
                note=calendar_note(day),
                is_minor=id_check.is_minor,
            )

        return _counted(self._with_retries(work), "made")

    def _active_same_day(
        self,
        conn: Connection,
        id_hash: str,
        service: str,
        day: date,
        *,
        besides: Optional[int] = None,
    ) -> Optional[Any]:
        """The person's active booking of this service on `day` (one per person, service and
        day), other than the booking `besides`; None if there is none."""
        query = _ACTIVE_SAME_DAY
        if besides is not None:
            query = query.where(_bookings.c.id != besides)  # a reschedule: rare, built anew
        return (
            conn.execute(query, {"id_hash": id_hash, "service": service, "day": day})
            .mappings()
            .first()
        )

    def _slot_full(
        self,
        hall: _HallRow,
        day: date,
        start: time,
        *,
        today: date,
        now: Optional[datetime],
        priority: bool,
        code: Optional[str] = None,
        after: Optional[time] = None,
        note: Optional[str] = None,
    ) -> "_Abort":
        """The refusal for a slot whose seats are gone, with up to four other times that day
        and three free days, as an _Abort that rolls back what the transaction took.

        The other times are read after the rollback: the failed conditional upsert still
        locks the slot's counter row, and reading a week of counts under that lock made
        every other booking of the slot wait (py-spy on the booking bench, 2026-12-02)."""

        def refusal(read: Connection) -> BookingResult:
            alternatives = self._slots_for(
                hall, day, self._counts(read, hall.id, day, day), priority=priority, after=after
            )
            free_days = self._free_days_in(read, hall, today, 3, priority=priority, now=now)
            hints = RefusalHints(
                day=day, start=start, free_times=tuple(s.start for s in alternatives[:4])
            )
            return BookingResult(
                False,
                code=code,
                error="slot_full",
                hints=hints,
                free_days=tuple(free_days),
                note=note,
            )

        return _Abort(later=refusal)

    def _hall_name(self, conn: Connection, hall_id: str) -> str:
        name = conn.execute(select(_halls.c.name).where(_halls.c.id == hall_id)).scalar()
        return str(name or hall_id)

    def _end(self, conn: Connection, row: Any) -> time:
        minutes = (
            conn.execute(
                select(_halls.c.slot_minutes).where(_halls.c.id == row["hall_id"])
            ).scalar()
            or 30
        )
        end = datetime.combine(date(2000, 1, 1), row["start_time"]) + timedelta(
            minutes=int(minutes)
        )
        return end.time()

    def _locked_booking(self, conn: Connection, code: str) -> Optional[Any]:
        query = select(_bookings).where(_bookings.c.code == code)
        if self._dialect == "postgresql":
            query = query.with_for_update()
        return conn.execute(query).mappings().first()

    def get(self, code: str) -> Optional[BookingView]:
        """The booking with this code (any spelling normalize_code accepts), or None.
        No access check: for staff tools and tests. The chat uses `check_access`."""
        normalized = normalize_code(code)
        if normalized is None:
            return None
        with self._read() as conn:
            row = (
                conn.execute(select(_bookings).where(_bookings.c.code == normalized))
                .mappings()
                .first()
            )
            if row is None:
                return None
            return self._view(row, self._hall_name(conn, row["hall_id"]), self._end(conn, row))

    def list_for_sender(
        self, sender_id: str, *, channel: Optional[str] = None, active_only: bool = True
    ) -> list[BookingView]:
        """The sender's bookings ("我的预约"), by date and time; with `channel`, only those made
        on that channel (what the chat shows: the owner is sender AND channel)."""
        with self._read() as conn:
            query = select(_bookings).where(_bookings.c.sender_id == sender_id)
            if channel is not None:
                query = query.where(_bookings.c.channel == channel)
            if active_only:
                query = query.where(_bookings.c.status == STATUS_ACTIVE)
            rows = (
                conn.execute(
                    query.order_by(_bookings.c.day, _bookings.c.start_time, _bookings.c.id)
                )
                .mappings()
                .all()
            )
            return [
                self._view(r, self._hall_name(conn, r["hall_id"]), self._end(conn, r)) for r in rows
            ]

    def owner_sender(self, code: str) -> Optional[str]:
        """The sender that made the booking (staff tools, tests; access uses `check_access`)."""
        normalized = normalize_code(code)
        if normalized is None:
            return None
        with self._read() as conn:
            return conn.execute(
                select(_bookings.c.sender_id).where(_bookings.c.code == normalized)
            ).scalar()

    def verify_phone_last4(self, code: str, last4: str) -> bool:
        """True when `last4` matches the booking's phone (constant-time compare).
        Records nothing and grants nothing: the chat uses `verify_last4`."""
        normalized = normalize_code(code)
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", last4 or ""))
        if normalized is None or len(digits) != 4:
            return False
        with self._read() as conn:
            stored = conn.execute(
                select(_bookings.c.phone_last4).where(_bookings.c.code == normalized)
            ).scalar()
        return stored is not None and hmac.compare_digest(str(stored), digits)

    def reschedule(
        self,
        code: str,
        *,
        day: date,
        start: time,
        actor: str,
        channel: str,
        today: date,
        now: Optional[datetime] = None,
        staff: bool = False,
    ) -> BookingResult:
        """Move an active booking to another slot, keeping its code; the old seat is freed in
        the same transaction. Only for the owner (`actor` + `channel`) or a current grant, or
        `staff=True` (hall tools; never set from a chat): anyone else gets not_found, exactly
        like a code that does not exist."""
        normalized = normalize_code(code)
        if normalized is None:
            return BookingResult(False, error="not_found")  # an unreadable code is no booking

        def work(conn: Connection) -> BookingResult:
            row = self._locked_booking(conn, normalized)
            if row is None or not (staff or self._allowed(conn, row, actor, channel)):
                return BookingResult(
                    False, error="not_found", hints=RefusalHints(booking_code=normalized)
                )
            asked = RefusalHints(booking_code=normalized, hall_id=row["hall_id"])
            if row["status"] != STATUS_ACTIVE:
                return BookingResult(False, code=normalized, error="not_active", hints=asked)
            hall = self._hall(conn, row["hall_id"])
            if hall is None:
                return BookingResult(False, code=normalized, error="hall_withdrawn", hints=asked)
            if row["day"] < today:
                return BookingResult(
                    False,
                    code=normalized,
                    error="booking_passed",
                    hints=RefusalHints(booking_code=normalized, day=row["day"], hall_id=hall.id),
                )
            if row["day"] == day and row["start_time"] == start:
                return BookingResult(
                    True,
                    code=normalized,
                    booking=self._view(row, hall.name, hall.end_of(start)),
                    note=calendar_note(day),
                )
            problem = self._day_problem(
                conn, hall, day, start, today=today, now=now, priority=bool(row["priority"])
            )
            if problem is not None:
                return BookingResult(
                    False,
                    code=normalized,
                    error=problem.error,
                    hints=problem.hints,
                    free_days=problem.free_days,
                    note=problem.note,
                )
            if day != row["day"]:
                other = self._active_same_day(
                    conn, row["id_hash"], row["service"], day, besides=row["id"]
                )
                if other is not None:
                    return BookingResult(
                        False,
                        code=normalized,
                        error="duplicate",
                        hints=RefusalHints(day=day, booking_code=str(other["code"])),
                    )
            # Lock counter rows in (day, start) order, so two opposite moves cannot deadlock.
            old_key, new_key = (row["day"], row["start_time"]), (day, start)
            green_seat: Optional[bool] = None
            for key in sorted([old_key, new_key]):
                if key == new_key:
                    green_seat = self._take_seat(
                        conn, hall, day, start, priority=bool(row["priority"])
                    )
                    if green_seat is None:
                        raise self._slot_full(
                            hall,
                            day,
                            start,
                            today=today,
                            now=now,
                            priority=bool(row["priority"]),
                            code=normalized,
                        )
                else:
                    self._release_seat(
                        conn,
                        hall.id,
                        row["day"],
                        row["start_time"],
                        green_seat=bool(row["green_seat"]),
                    )
            conn.execute(
                update(_bookings)
                .where(_bookings.c.id == row["id"])
                .values(
                    day=day, start_time=start, green_seat=bool(green_seat), updated_at=_now_utc()
                )
            )
            self._audit(
                conn,
                booking_id=row["id"],
                code=normalized,
                action="reschedule",
                actor=actor,
                details={
                    "from": {"day": row["day"].isoformat(), "start": _hhmm(row["start_time"])},
                    "to": {"day": day.isoformat(), "start": _hhmm(start)},
                },
            )
            fresh = (
                conn.execute(select(_bookings).where(_bookings.c.id == row["id"])).mappings().one()
            )
            return BookingResult(
                True,
                code=normalized,
                booking=self._view(fresh, hall.name, hall.end_of(start)),
                note=calendar_note(day),
            )

        return _counted(self._with_retries(work), "rescheduled")

    def cancel(self, code: str, *, actor: str, channel: str, staff: bool = False) -> BookingResult:
        """Cancel an active booking and free its seat, in one transaction. Same access rule as
        `reschedule`: owner, current grant, or staff; anyone else gets not_found."""
        normalized = normalize_code(code)
        if normalized is None:
            return BookingResult(False, error="not_found")  # an unreadable code is no booking

        def work(conn: Connection) -> BookingResult:
            row = self._locked_booking(conn, normalized)
            if row is None or not (staff or self._allowed(conn, row, actor, channel)):
                return BookingResult(
                    False, error="not_found", hints=RefusalHints(booking_code=normalized)
                )
            hall_name = self._hall_name(conn, row["hall_id"])
            if row["status"] != STATUS_ACTIVE:
                return BookingResult(
                    False,
                    code=normalized,
                    booking=self._view(row, hall_name, self._end(conn, row)),
                    error="not_active",
                    hints=RefusalHints(booking_code=normalized, hall_id=row["hall_id"]),
                )
            self._release_seat(
                conn,
                row["hall_id"],
                row["day"],
                row["start_time"],
                green_seat=bool(row["green_seat"]),
            )
            conn.execute(
                update(_bookings)
                .where(_bookings.c.id == row["id"])
                .values(status=STATUS_CANCELLED, updated_at=_now_utc())
            )
            self._audit(
                conn,
                booking_id=row["id"],
                code=normalized,
                action="cancel",
                actor=actor,
                details={"day": row["day"].isoformat(), "start": _hhmm(row["start_time"])},
            )
            fresh = (
                conn.execute(select(_bookings).where(_bookings.c.id == row["id"])).mappings().one()
            )
            return BookingResult(
                True, code=normalized, booking=self._view(fresh, hall_name, self._end(conn, fresh))
            )

        return _counted(self._with_retries(work), "cancelled")

    # --- access ---

    def _allowed(self, conn: Connection, row: Any, sender_id: str, channel: str) -> bool:
        allowed = (
            access.access_level(conn, row, sender_id or "", channel or "", _now_utc()) is not None
        )
        if not allowed:
            log.warning("booking change refused: no access for this sender")
        return allowed

    def _hall_for_code(self, conn: Connection, code: str) -> Optional[str]:
        prefix = code.split("-", 1)[0]
        return conn.execute(
            select(_halls.c.id).where(_halls.c.code_prefix == prefix).order_by(_halls.c.id)
        ).scalar()

    def check_access(
        self, code: str, *, sender_id: str, channel: str, at: Optional[datetime] = None
    ) -> AccessResult:
        """May this sender see and change the booking? Asked on every look-up, cancellation
        and reschedule; never raises (an outage is error='unavailable')."""
        normalized = normalize_code(code or "")
        if normalized is None:
            return AccessResult(False, error="invalid_code")
        stamp = at or _now_utc()
        try:
            with self._read() as conn:
                hall_id = self._hall_for_code(conn, normalized)
                row = (
                    conn.execute(select(_bookings).where(_bookings.c.code == normalized))
                    .mappings()
                    .first()
                )
                level = access.access_level(conn, row, sender_id or "", channel or "", stamp)
                if level is not None and row is not None:
                    view = self._view(
                        row, self._hall_name(conn, row["hall_id"]), self._end(conn, row)
                    )
                    return AccessResult(
                        True, code=normalized, level=level, hall_id=row["hall_id"], booking=view
                    )
                if access.code_locked(conn, normalized, stamp):
                    error = "locked"
                elif access.sender_limited(conn, sender_id or "", stamp):
                    error = "rate_limited"
                else:
                    error = "denied"
                return AccessResult(False, code=normalized, error=error, hall_id=hall_id)
        except BookingUnavailable:
            return AccessResult(False, code=normalized, error="unavailable")

    def may_access(self, code: str, sender_id: str, channel: str) -> bool:
        """True for the owner or a current grant; False otherwise, also when the database is
        down (closed by default)."""
        return self.check_access(code, sender_id=sender_id, channel=channel).ok

    def verify_last4(
        self, code: str, last4: str, *, sender_id: str, channel: str, at: Optional[datetime] = None
    ) -> AccessResult:
        """Check the last four phone digits for a non-owner and, when right, record a grant
        (GRANT_TTL). A wrong answer and a code that does not exist are the same `mismatch`,
        and both count against the code and the sender; at the limits the answer is
        `locked` / `rate_limited` and the digits are not even compared."""
        normalized = normalize_code(code or "")
        if normalized is None:
            return AccessResult(False, error="invalid_code")
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", last4 or ""))
        if len(digits) != 4:
            return AccessResult(False, code=normalized, error="invalid_digits")
        sender_id = (sender_id or "")[:128]
        channel = (channel or "unknown")[:32]
        if not sender_id:
            return AccessResult(False, code=normalized, error="denied")
        stamp = at or _now_utc()

        def work(conn: Connection) -> AccessResult:
            access.serialise(conn, normalized, sender_id)
            hall_id = self._hall_for_code(conn, normalized)
            row = (
                conn.execute(select(_bookings).where(_bookings.c.code == normalized))
                .mappings()
                .first()
            )
            if row is not None and access.is_owner(row, sender_id, channel):
                view = self._view(row, self._hall_name(conn, row["hall_id"]), self._end(conn, row))
                return AccessResult(
                    True, code=normalized, level=access.OWNER, hall_id=row["hall_id"], booking=view
                )
            if access.code_locked(conn, normalized, stamp):
                return AccessResult(False, code=normalized, error="locked", hall_id=hall_id)
            if access.sender_limited(conn, sender_id, stamp):
                return AccessResult(False, code=normalized, error="rate_limited", hall_id=hall_id)
            stored = str(row["phone_last4"]) if row is not None else "\0\0\0\0"
            if hmac.compare_digest(stored, digits) and row is not None:
                access.add_grant(conn, row["id"], sender_id, channel, stamp)
                self._audit(
                    conn,
                    booking_id=row["id"],
                    code=normalized,
                    action="verify",
                    actor=sender_id,
                    details={"channel": channel},
                )
                view = self._view(row, self._hall_name(conn, row["hall_id"]), self._end(conn, row))
                return AccessResult(
                    True, code=normalized, level=access.GRANT, hall_id=row["hall_id"], booking=view
                )
            access.record_failure(conn, normalized, sender_id, channel, stamp)
            if access.code_locked(conn, normalized, stamp):
                return AccessResult(False, code=normalized, error="locked", hall_id=hall_id)
            if access.sender_limited(conn, sender_id, stamp):
                return AccessResult(False, code=normalized, error="rate_limited", hall_id=hall_id)
            return AccessResult(False, code=normalized, error="mismatch", hall_id=hall_id)

        try:
            with write_transaction(self._engine, self._fail) as conn:
                return work(conn)
        except BookingUnavailable:  # logged by _fail
            return AccessResult(False, code=normalized, error="unavailable")

    def audit_trail(self, code: str) -> list[dict[str, Any]]:
        """The audit entries of one booking, oldest first (for staff and tests)."""
        normalized = normalize_code(code) or code
        with self._read() as conn:
            rows = (
                conn.execute(
                    select(_audit.c.action, _audit.c.actor, _audit.c.at, _audit.c.details)
                    .where(_audit.c.code == normalized)
                    .order_by(_audit.c.id)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def count_active(self, hall_id: str, day: date, start: time) -> int:
        """Active bookings in one slot (bench and tests check it against the capacity)."""
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_bookings)
                    .where(
                        and_(
                            _bookings.c.hall_id == hall_id,
                            _bookings.c.day == day,
                            _bookings.c.start_time == start,
                            _bookings.c.status == STATUS_ACTIVE,
                        )
                    )
                ).scalar()
                or 0
            )


def _sessions_of(hall: _HallRow) -> list[tuple[time, time]]:
    """Merge consecutive slots back into the hall's sessions, for the invalid_slot hints."""
    spans: list[tuple[time, time]] = []
    for start, end in hall.slots:
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
