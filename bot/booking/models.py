"""Tables of the booking store: halls, per-slot counters, bookings and the audit trail.

Why counters instead of counting bookings: a single row per (hall, day, slot) can be
incremented with a conditional UPDATE (`... WHERE booked < capacity`), which the database
serialises on the row, so concurrent requests can never oversell, on PostgreSQL and SQLite.
Rows are created on demand, so a slot without bookings costs nothing.

ID numbers are never stored in clear: an HMAC (keyed hash) identifies the person for the
"one active booking per person, service and day" rule, and a masked copy is shown back.
Access to a booking is decided from these tables, never from a tracker slot: the owner is
the (sender_id, channel) that made it; anyone else needs an `AccessGrant` that the repository
wrote after a correct last-four check, and failed checks are rows of `VerificationFailure`
(counted per code and per sender). `PendingPersonal` keeps the sealed ID and phone a booking
form collects, so they never enter the tracker's event history.
The migrations in migrations/versions must stay in step with these definitions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    false,
    text,
    true,
)
from sqlalchemy.orm import declarative_base

__all__ = [
    "metadata",
    "Base",
    "Hall",
    "SlotCounter",
    "Booking",
    "AuditLog",
    "AccessGrant",
    "VerificationFailure",
    "PendingPersonal",
    "STATUS_ACTIVE",
    "STATUS_CANCELLED",
]

STATUS_ACTIVE = "active"
STATUS_CANCELLED = "cancelled"

#: Stable constraint names, so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
#: SQLAlchemy 1.4 ships no types, so mypy sees the declarative base as Any; the annotation
#: says so, which lets the tables subclass it.
Base: Any = declarative_base(metadata=metadata)


class Hall(Base):
    """A hall as synced from data/kb/halls.yml (the KB stays the single source of the facts)."""

    __tablename__ = "halls"

    id = Column(String(32), primary_key=True)
    name = Column(String(200), nullable=False)
    code_prefix = Column(String(4), nullable=False)
    address = Column(Text, nullable=True)
    phone = Column(String(64), nullable=True)
    hours = Column(Text, nullable=True)
    services = Column(JSON, nullable=False)
    slot_capacity = Column(Integer, nullable=False)
    green_capacity = Column(Integer, nullable=False)
    slot_minutes = Column(Integer, nullable=False, server_default=text("30"))
    #: [["09:00", "12:00"], ["13:30", "17:00"]]; NULL means the default template.
    sessions = Column(JSON, nullable=True)
    active = Column(Boolean, nullable=False, server_default=true())
    updated_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        CheckConstraint("slot_capacity >= 0", name="slot_capacity_nonneg"),
        CheckConstraint("green_capacity >= 0", name="green_capacity_nonneg"),
    )


class SlotCounter(Base):
    """Seats taken in one slot: `booked` from the normal capacity, `priority_booked` from green."""

    __tablename__ = "slot_counters"

    hall_id = Column(String(32), ForeignKey("halls.id"), primary_key=True)
    day = Column(Date, primary_key=True)
    start_time = Column(Time, primary_key=True)
    booked = Column(Integer, nullable=False, server_default=text("0"))
    priority_booked = Column(Integer, nullable=False, server_default=text("0"))

    __table_args__ = (
        CheckConstraint("booked >= 0", name="booked_nonneg"),
        CheckConstraint("priority_booked >= 0", name="priority_booked_nonneg"),
    )


class Booking(Base):
    """One appointment; personal data only as HMAC, masked copy, and the phone for call-backs."""

    __tablename__ = "bookings"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(16), nullable=False, unique=True)
    hall_id = Column(String(32), ForeignKey("halls.id"), nullable=False)
    service = Column(String(64), nullable=False)
    day = Column(Date, nullable=False)
    start_time = Column(Time, nullable=False)
    name = Column(String(64), nullable=False)
    id_hash = Column(String(64), nullable=False)
    id_masked = Column(String(32), nullable=False)
    phone = Column(String(20), nullable=False)
    phone_last4 = Column(String(4), nullable=False)
    status = Column(String(16), nullable=False, server_default=text(f"'{STATUS_ACTIVE}'"))
    priority = Column(Boolean, nullable=False, server_default=false())
    #: True when the seat came from the reserved green capacity (decides which counter to free).
    green_seat = Column(Boolean, nullable=False, server_default=false())
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    #: The conversation's language when it was booked ("zh", "en"): the reminder the day
    #: before (bot.reminders) is written in it.
    language = Column(String(8), nullable=False, server_default=text("'zh'"))
    created_at = Column(DateTime(timezone=True), nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_bookings_sender_id", "sender_id"),
        Index("ix_bookings_slot", "hall_id", "day", "start_time"),
        # The database itself refuses a second active booking for one person, service and day,
        # even when two requests race past the application check.
        Index(
            "uq_bookings_active_person_service_day",
            "id_hash",
            "service",
            "day",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )


class AuditLog(Base):
    """Who changed what and when; details never hold a clear ID number or phone."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True, autoincrement=True)
    booking_id = Column(Integer, ForeignKey("bookings.id"), nullable=True)
    code = Column(String(16), nullable=True)
    action = Column(String(32), nullable=False)
    actor = Column(String(128), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)
    details = Column(JSON, nullable=False)

    __table_args__ = (Index("ix_audit_log_code", "code"),)


class AccessGrant(Base):
    """A non-owner may see and change one booking for a short time after a correct last four."""

    __tablename__ = "access_grants"

    id = Column(Integer, primary_key=True, autoincrement=True)
    booking_id = Column(Integer, ForeignKey("bookings.id"), nullable=False)
    sender_id = Column(String(128), nullable=False)
    channel = Column(String(32), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_access_grants_booking_sender", "booking_id", "sender_id", "channel"),
    )


class VerificationFailure(Base):
    """One wrong last-four try, for any code typed (existing or not), with who and when."""

    __tablename__ = "verification_failures"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(16), nullable=False)
    sender_id = Column(String(128), nullable=False)
    channel = Column(String(32), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_verification_failures_code_at", "code", "at"),
        Index("ix_verification_failures_sender_at", "sender_id", "at"),
    )


class PendingPersonal(Base):
    """A sealed ID number or phone a booking form holds for one conversation until it expires."""

    __tablename__ = "pending_personal"

    conversation_id = Column(String(128), primary_key=True)
    field = Column(String(32), primary_key=True)
    sealed = Column(Text, nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_pending_personal_expires_at", "expires_at"),)


# The handoff queue's tables live in this schema too (same metadata, same migrations).
from bot.handoff import models as _handoff_models  # noqa: E402,F401
from bot.staff import models as _staff_models  # noqa: E402,F401
