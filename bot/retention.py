"""Retention: old conversations are deleted, old bookings keep their counts but no person.

`python -m bot.retention [--days N] [--booking-days M] [--dry-run]` (also `make retention`),
meant to run once a day from cron. Why a command and not a task inside a server: with
several replicas behind a load balancer, one scheduled run is simpler to reason about than N
servers racing to delete the same rows, and a failed run is visible in cron's mail.

What it does, each step idempotent (a second run finds nothing left to do):

1. Conversations: every event of a sender whose *latest* event is older than N days
   (RETENTION_DAYS, default 30) is deleted from the tracker store (TRACKER_STORE_URL:
   SQLite by default, PostgreSQL in deployments; the table Rasa's SQLTrackerStore writes).
   A conversation still in use keeps its whole history, however old its first turn.
2. Bookings whose day is more than M days past (RETENTION_BOOKING_DAYS, default 90) lose
   the name, the phone, its last four, the masked ID, the keyed ID hash and the sender
   (WeChat openid) in the booking database (DATABASE_URL). The row stays, with hall,
   service, day, time, status, priority and channel, so statistics still count it. The audit
   trail of those bookings drops the masked ID and phone, and the actor when it was the
   citizen. The ID hash becomes `erased:<row id>`, which keeps it unique (the database's
   "one active booking per person and day" index) and marks the row as done.
3. Housekeeping of personal rows that have no use any more: expired access grants, expired
   sealed ID/phone values of unfinished booking forms, and failed last-four checks older
   than N days (the rate limits look back one day at most).

4. The care and grid tables (issue 14): messages kept for a web-chat sender go once
   delivered or expired; a satisfaction rating older than N days keeps its topic, channel,
   rating and masked comment but no longer names the sender (its conversation id becomes
   `erased:<row id>`); a grid hazard ticket untouched for M days loses the reporter (sender,
   sealed, masked and last-four contact) but keeps its category, platform, stage, place,
   description and trail; its delivered notices and failed status checks older than N
   days go; a human-handoff case closed more than N days ago keeps its reason, topic,
   emergency and times, but loses the sender, the summary and its messages.

A Rasa process that still holds an erased conversation in its in-memory tracker cache
(bot.stores) keeps it until it is evicted or the process restarts; nothing is written back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.booking.access import CODE_FAILURE_WINDOW
from bot.booking.models import AccessGrant, AuditLog, Booking, PendingPersonal, VerificationFailure
from bot.care.models import KeptMessage, SatisfactionRating
from bot.grid.models import LookupFailure, Notice, Ticket
from bot.handoff.models import HandoffCase, HandoffMessage
from bot.settings import get_settings

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_BOOKING_DAYS",
    "ERASED_PREFIX",
    "RetentionReport",
    "delete_old_conversations",
    "erase_old_bookings",
    "prune_personal_rows",
    "prune_feature_rows",
    "run",
    "main",
]

DEFAULT_DAYS = 30
DEFAULT_BOOKING_DAYS = 90
#: Prefix of `bookings.id_hash` once the person was removed (also the "already done" mark).
ERASED_PREFIX = "erased:"
#: Value of `audit_log.actor` once the citizen who acted was removed.
ERASED_ACTOR = "erased"
#: Audit detail keys that describe the person (masked, still personal).
PERSONAL_DETAIL_KEYS = ("id_masked", "phone_masked", "name_masked")
#: Rows handled per transaction, so a first run on a large table holds no lock for long.
BATCH = 500
#: China Standard Time: the day of a booking is a day in the hall's calendar.
_CHINA = dt.timezone(dt.timedelta(hours=8))

_bookings = Booking.__table__
_audit = AuditLog.__table__
_grants = AccessGrant.__table__
_failures = VerificationFailure.__table__
_pending = PendingPersonal.__table__


@dataclass
class RetentionReport:
    """What one run did (or would do, with --dry-run): counts only, never a person."""

    conversations_deleted: int = 0
    events_deleted: int = 0
    bookings_erased: int = 0
    audit_rows_cleaned: int = 0
    grants_deleted: int = 0
    failures_deleted: int = 0
    pending_deleted: int = 0
    kept_messages_deleted: int = 0
    ratings_anonymised: int = 0
    grid_tickets_erased: int = 0
    grid_rows_deleted: int = 0
    handoff_cases_erased: int = 0
    dry_run: bool = False


def _events_table(engine: Engine) -> sa.Table:
    """Rasa's `events` table as SQLTrackerStore creates it (only the columns used here)."""
    schema = os.environ.get("POSTGRESQL_SCHEMA") if engine.dialect.name == "postgresql" else None
    return sa.Table(
        "events",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255)),
        sa.Column("timestamp", sa.Float),
        schema=schema or None,
    )


def delete_old_conversations(
    engine: Engine, days: int, *, now: Optional[dt.datetime] = None, dry_run: bool = False
) -> tuple[int, int]:
    """Delete every event of the conversations whose latest event is older than `days`.

    Returns (conversations, events). One DELETE per batch of senders: a sender's events go
    in one statement, so no conversation is left half deleted.
    """
    if not sa.inspect(engine).has_table("events", schema=_events_table(engine).schema):
        return 0, 0  # no conversation was ever stored
    events = _events_table(engine)
    cutoff = ((now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=days)).timestamp()
    latest = sa.func.max(events.c.timestamp)
    old_senders = (
        sa.select(events.c.sender_id)
        .group_by(events.c.sender_id)
        .having(sa.or_(latest < cutoff, latest.is_(None)))
    )
    with engine.connect() as conn:
        senders = [row[0] for row in conn.execute(old_senders)]
        if dry_run:
            count = conn.execute(
                sa.select(sa.func.count()).where(
                    events.c.sender_id.in_(old_senders.scalar_subquery())
                )
            ).scalar_one()
            return len(senders), int(count)
    deleted = 0
    for start in range(0, len(senders), BATCH):
        chunk = senders[start : start + BATCH]
        with engine.begin() as conn:
            # Re-checked inside the DELETE: a citizen who wrote again meanwhile keeps it all.
            still_old = (
                sa.select(events.c.sender_id)
                .where(events.c.sender_id.in_(chunk))
                .group_by(events.c.sender_id)
                .having(sa.or_(latest < cutoff, latest.is_(None)))
            )
            deleted += conn.execute(
                events.delete().where(events.c.sender_id.in_(still_old.scalar_subquery()))
            ).rowcount
    return len(senders), deleted


def _clean_details(details: Any) -> Any:
    if isinstance(details, str):  # some drivers hand JSON back as text
        try:
            details = json.loads(details)
        except ValueError:
            return details
    if not isinstance(details, dict):
        return details
    return {k: v for k, v in details.items() if k not in PERSONAL_DETAIL_KEYS}


def erase_old_bookings(
    engine: Engine, days: int, *, today: Optional[dt.date] = None, dry_run: bool = False
) -> tuple[int, int]:
    """Remove the person from bookings whose day is more than `days` past; keep the rows.

    Returns (bookings, audit rows). Rows already erased are skipped, so a rerun does nothing.
    """
    today = today or dt.datetime.now(_CHINA).date()
    cutoff = today - dt.timedelta(days=days)
    todo = sa.select(_bookings.c.id, _bookings.c.sender_id).where(
        _bookings.c.day < cutoff, ~_bookings.c.id_hash.startswith(ERASED_PREFIX)
    )
    with engine.connect() as conn:
        rows = [(int(r.id), str(r.sender_id)) for r in conn.execute(todo)]
    if dry_run:
        return len(rows), 0
    erased = audited = 0
    stamp = dt.datetime.now(dt.timezone.utc)
    for start in range(0, len(rows), BATCH):
        chunk = dict(rows[start : start + BATCH])
        with engine.begin() as conn:
            for booking_id in chunk:
                erased += conn.execute(
                    _bookings.update()
                    .where(
                        _bookings.c.id == booking_id,
                        ~_bookings.c.id_hash.startswith(ERASED_PREFIX),
                    )
                    .values(
                        name="",
                        phone="",
                        phone_last4="",
                        id_masked="",
                        id_hash=f"{ERASED_PREFIX}{booking_id}",
                        sender_id="",
                        updated_at=stamp,
                    )
                ).rowcount
            trail = conn.execute(
                sa.select(_audit.c.id, _audit.c.booking_id, _audit.c.actor, _audit.c.details).where(
                    _audit.c.booking_id.in_(list(chunk))
                )
            ).all()
            for entry in trail:
                actor = ERASED_ACTOR if entry.actor == chunk[entry.booking_id] else entry.actor
                conn.execute(
                    _audit.update()
                    .where(_audit.c.id == entry.id)
                    .values(actor=actor, details=_clean_details(entry.details))
                )
                audited += 1
    return erased, audited


def prune_personal_rows(
    engine: Engine, days: int, *, now: Optional[dt.datetime] = None, dry_run: bool = False
) -> tuple[int, int, int]:
    """Delete expired grants, expired pending values and old failed checks: (g, f, p)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    failures_before = now - max(dt.timedelta(days=days), CODE_FAILURE_WINDOW)
    conditions = (
        (_grants, _grants.c.expires_at <= now),
        (_failures, _failures.c.at < failures_before),
        (_pending, _pending.c.expires_at <= now),
    )
    counts = []
    with engine.begin() as conn:
        for table, condition in conditions:
            if dry_run:
                found = conn.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
            else:
                found = conn.execute(table.delete().where(condition)).rowcount
            counts.append(int(found))
    return counts[0], counts[1], counts[2]


def _count_or_run(conn: Any, statement: Any, table: sa.Table, condition: Any, dry_run: bool) -> int:
    """Rows that `statement` (an update or delete of `table` where `condition`) changes; with
    dry_run only counted."""
    if dry_run:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(condition)
            ).scalar_one()
        )
    return int(conn.execute(statement.where(condition)).rowcount)


def prune_feature_rows(
    engine: Engine,
    days: int,
    booking_days: int,
    *,
    now: Optional[dt.datetime] = None,
    dry_run: bool = False,
) -> tuple[int, int, int, int, int]:
    """Step 4 of the module docstring: (kept messages deleted, ratings anonymised, grid
    tickets erased, grid notices and failed checks deleted, handoff cases erased). Tables
    not migrated are skipped."""
    now = now or dt.datetime.now(dt.timezone.utc)
    idle_before = now - dt.timedelta(days=days)
    kept, ratings, tickets, grid_rows = (
        KeptMessage.__table__,
        SatisfactionRating.__table__,
        Ticket.__table__,
        Notice.__table__,
    )
    failures = LookupFailure.__table__
    cases, case_messages = HandoffCase.__table__, HandoffMessage.__table__
    present = set(sa.inspect(engine).get_table_names())
    counts = [0, 0, 0, 0, 0]
    with engine.begin() as conn:
        if kept.name in present:
            gone = sa.or_(kept.c.delivered_at.isnot(None), kept.c.expires_at <= now)
            counts[0] = _count_or_run(conn, kept.delete(), kept, gone, dry_run)
        if ratings.name in present:
            old = sa.and_(
                ratings.c.asked_at < idle_before,
                sa.not_(ratings.c.conversation_id.startswith(ERASED_PREFIX)),
            )
            erased_id = sa.literal(ERASED_PREFIX) + sa.cast(ratings.c.id, sa.String)
            update = ratings.update().values(conversation_id=erased_id)
            counts[1] = _count_or_run(conn, update, ratings, old, dry_run)
        if tickets.name in present:
            old = sa.and_(
                tickets.c.updated_at < now - dt.timedelta(days=booking_days),
                sa.not_(tickets.c.sender_id.startswith(ERASED_PREFIX)),
            )
            update = tickets.update().values(
                sender_id=sa.literal(ERASED_PREFIX) + sa.cast(tickets.c.id, sa.String),
                contact_sealed=None,
                contact_masked=None,
                contact_last4=None,
            )
            counts[2] = _count_or_run(conn, update, tickets, old, dry_run)
        if grid_rows.name in present:
            delivered = sa.and_(
                grid_rows.c.delivered_at.isnot(None), grid_rows.c.delivered_at < idle_before
            )
            counts[3] = _count_or_run(conn, grid_rows.delete(), grid_rows, delivered, dry_run)
        if failures.name in present:
            counts[3] += _count_or_run(
                conn, failures.delete(), failures, failures.c.at < idle_before, dry_run
            )
        if cases.name in present:
            old = sa.and_(
                cases.c.closed_at.isnot(None),
                cases.c.closed_at < idle_before,
                sa.not_(cases.c.sender_id.startswith(ERASED_PREFIX)),
            )
            if not dry_run:
                closed = sa.select(cases.c.id).where(old).scalar_subquery()
                conn.execute(case_messages.delete().where(case_messages.c.case_id.in_(closed)))
            update = cases.update().values(
                sender_id=sa.literal(ERASED_PREFIX) + sa.cast(cases.c.id, sa.String), summary={}
            )
            counts[4] = _count_or_run(conn, update, cases, old, dry_run)
    return counts[0], counts[1], counts[2], counts[3], counts[4]


def run(
    *,
    days: int = DEFAULT_DAYS,
    booking_days: int = DEFAULT_BOOKING_DAYS,
    tracker_url: Optional[str] = None,
    booking_url: Optional[str] = None,
    dry_run: bool = False,
    now: Optional[dt.datetime] = None,
) -> RetentionReport:
    """One retention pass over the tracker store and the booking database."""
    from bot.booking.db import get_engine

    settings = get_settings()
    report = RetentionReport(dry_run=dry_run)
    tracker_engine = sa.create_engine(tracker_url or settings.tracker_store_url, future=True)
    try:
        report.conversations_deleted, report.events_deleted = delete_old_conversations(
            tracker_engine, days, now=now, dry_run=dry_run
        )
    finally:
        tracker_engine.dispose()
    booking_engine = get_engine(booking_url or settings.database_url)
    if sa.inspect(booking_engine).has_table(_bookings.name):
        today = (now.astimezone(_CHINA) if now else dt.datetime.now(_CHINA)).date()
        report.bookings_erased, report.audit_rows_cleaned = erase_old_bookings(
            booking_engine, booking_days, today=today, dry_run=dry_run
        )
        report.grants_deleted, report.failures_deleted, report.pending_deleted = (
            prune_personal_rows(booking_engine, days, now=now, dry_run=dry_run)
        )
    (
        report.kept_messages_deleted,
        report.ratings_anonymised,
        report.grid_tickets_erased,
        report.grid_rows_deleted,
        report.handoff_cases_erased,
    ) = prune_feature_rows(booking_engine, days, booking_days, now=now, dry_run=dry_run)
    return report


def _days(value: str) -> int:
    days = int(value)
    if days < 1:
        raise argparse.ArgumentTypeError("must be at least 1 day")
    return days


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: prints one JSON line of counts; exit 1 when a database cannot be reached."""
    parser = argparse.ArgumentParser(prog="python -m bot.retention", description=__doc__)
    parser.add_argument(
        "--days",
        type=_days,
        default=_days(os.environ.get("RETENTION_DAYS") or str(DEFAULT_DAYS)),
        help="delete conversations idle for more than this many days (RETENTION_DAYS, 30)",
    )
    parser.add_argument(
        "--booking-days",
        type=_days,
        default=_days(os.environ.get("RETENTION_BOOKING_DAYS") or str(DEFAULT_BOOKING_DAYS)),
        help="remove the person from bookings this many days past (RETENTION_BOOKING_DAYS, 90)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    options = parser.parse_args(argv)
    try:
        report = run(days=options.days, booking_days=options.booking_days, dry_run=options.dry_run)
    except sa.exc.SQLAlchemyError as exc:
        print(f"retention failed: database unavailable ({exc.__class__.__name__})", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
