"""Who may see or change a booking, decided from the database on every call.

Why not from the tracker: Rasa's HTTP API (and anyone who can reach the action server) can
set any slot, so a slot saying "verified" or "owner" proves nothing. The only grounds are:

- the owner: the (sender_id, channel) that made the booking;
- a grant this module wrote after a correct last-four check: booking, sender, channel and an
  expiry (GRANT_TTL).

Failed last-four tries are rows of `verification_failures`, for any code typed, whether a
booking has it or not, so a miss tells nobody whether the code exists. A code with
CODE_FAILURE_LIMIT failures within CODE_FAILURE_WINDOW is locked for everyone but its owner;
a sender with SENDER_FAILURE_LIMIT failures within SENDER_FAILURE_WINDOW must wait.

The functions here work inside the caller's connection/transaction; BookingRepository
composes them (see `check_access`, `verify_last4`, `cancel`, `reschedule`).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional

from sqlalchemy import and_, func, select, text
from sqlalchemy.engine import Connection

from bot.booking.models import AccessGrant, VerificationFailure

__all__ = [
    "OWNER",
    "GRANT",
    "GRANT_TTL",
    "CODE_FAILURE_LIMIT",
    "CODE_FAILURE_WINDOW",
    "SENDER_FAILURE_LIMIT",
    "SENDER_FAILURE_WINDOW",
    "is_owner",
    "access_level",
    "code_locked",
    "sender_limited",
    "record_failure",
    "add_grant",
    "serialise",
]

OWNER = "owner"
GRANT = "grant"
GRANT_TTL = timedelta(minutes=15)
CODE_FAILURE_LIMIT = 5
CODE_FAILURE_WINDOW = timedelta(days=1)
SENDER_FAILURE_LIMIT = 10
SENDER_FAILURE_WINDOW = timedelta(hours=1)
#: pg_advisory_xact_lock(namespace, key) namespaces, apart from the migration lock.
_LOCK_CODE, _LOCK_SENDER = 4202, 4203

_grants = AccessGrant.__table__
_failures = VerificationFailure.__table__


def _key(value: str) -> int:
    """A stable signed 32-bit key for pg_advisory_xact_lock."""
    n = zlib.crc32(value.encode("utf-8"))
    return n - (1 << 32) if n >= (1 << 31) else n


def serialise(conn: Connection, code: str, sender_id: str) -> None:
    """On PostgreSQL, one verification per code and per sender at a time, so two parallel
    guesses cannot both pass the failure count. (SQLite: BEGIN IMMEDIATE already does it.)
    Always code first, then sender: no transaction waits for a code lock while holding a
    sender lock, so this cannot deadlock."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": _LOCK_CODE, "k": _key(code)})
    conn.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": _LOCK_SENDER, "k": _key(sender_id)}
    )


def is_owner(row: Mapping[str, Any], sender_id: str, channel: str) -> bool:
    """The booking was made by this sender on this channel (both must match)."""
    return bool(sender_id) and row["sender_id"] == sender_id and row["channel"] == channel


def _count(conn: Connection, where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(_failures).where(where)).scalar() or 0)


def code_locked(conn: Connection, code: str, at: datetime) -> bool:
    """Too many failed last-four tries on this code today (existing or not)."""
    since = at - CODE_FAILURE_WINDOW
    return (
        _count(conn, and_(_failures.c.code == code, _failures.c.at > since)) >= CODE_FAILURE_LIMIT
    )


def sender_limited(conn: Connection, sender_id: str, at: datetime) -> bool:
    """Too many failed last-four tries from this sender in the last hour, on any code."""
    since = at - SENDER_FAILURE_WINDOW
    return (
        _count(conn, and_(_failures.c.sender_id == sender_id, _failures.c.at > since))
        >= SENDER_FAILURE_LIMIT
    )


def _has_grant(
    conn: Connection, booking_id: int, sender_id: str, channel: str, at: datetime
) -> bool:
    found = conn.execute(
        select(_grants.c.id)
        .where(
            and_(
                _grants.c.booking_id == booking_id,
                _grants.c.sender_id == sender_id,
                _grants.c.channel == channel,
                _grants.c.expires_at > at,
            )
        )
        .limit(1)
    ).first()
    return found is not None


def access_level(
    conn: Connection, row: Optional[Mapping[str, Any]], sender_id: str, channel: str, at: datetime
) -> Optional[str]:
    """OWNER, GRANT or None. A locked code admits its owner only."""
    if row is None or not sender_id:
        return None
    if is_owner(row, sender_id, channel):
        return OWNER
    if code_locked(conn, row["code"], at):
        return None
    return GRANT if _has_grant(conn, row["id"], sender_id, channel, at) else None


def record_failure(conn: Connection, code: str, sender_id: str, channel: str, at: datetime) -> None:
    """Count one wrong last-four try against the code typed and against the sender."""
    conn.execute(
        _failures.insert().values(
            code=code[:16], sender_id=sender_id[:128], channel=channel[:32], at=at
        )
    )


def add_grant(
    conn: Connection, booking_id: int, sender_id: str, channel: str, at: datetime
) -> datetime:
    """Record that this sender/channel passed the last-four check; returns the expiry."""
    expires = at + GRANT_TTL
    conn.execute(_grants.delete().where(_grants.c.expires_at <= at))  # keep the table small
    conn.execute(
        _grants.insert().values(
            booking_id=booking_id,
            sender_id=sender_id[:128],
            channel=channel[:32],
            created_at=at,
            expires_at=expires,
        )
    )
    return expires
