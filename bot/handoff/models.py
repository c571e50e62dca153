"""Tables of the human-handoff queue: one case per hand-over, and its messages.

Why in the booking store's schema (same `metadata`, same Alembic migrations in
bot/booking/migrations): one database, one engine convention (bot.booking.db) and one
`python -m bot.serve migrate` for everything the assistant keeps.

Nothing here holds a clear ID number or phone: the summary and every message text are
masked (bot.privacy.mask_text) before they are written. The citizen's web-chat token is
stored as a SHA-256 hash only, so reading the table does not let anyone poll a case.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)

from bot.booking.models import Base

__all__ = [
    "HandoffCase",
    "HandoffMessage",
    "CASE_WAITING",
    "CASE_TAKEN",
    "CASE_CLOSED",
]

CASE_WAITING = "waiting"
CASE_TAKEN = "taken"
CASE_CLOSED = "closed"


class HandoffCase(Base):
    """A citizen waiting for, or talking to, a staff member. Open = waiting or taken."""

    __tablename__ = "handoff_cases"

    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(128), nullable=False)
    channel = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False, server_default=text(f"'{CASE_WAITING}'"))
    #: Emergency cases are served first (bot.handoff.queue orders by it).
    priority = Column(Boolean, nullable=False, server_default=false())
    #: The emergency_type category, when one was detected.
    emergency = Column(String(32), nullable=True)
    #: Why the hand-over happened: request, fallbacks, form_failures, emergency.
    reason = Column(String(32), nullable=False)
    topic = Column(String(64), nullable=True)
    language = Column(String(8), nullable=False, server_default=text("'zh'"))
    #: Masked: topic, emergency, filled slots and the last turns (bot.handoff.summary).
    summary = Column(JSON, nullable=False)
    token_hash = Column(String(64), nullable=False, unique=True)
    #: The staff session that took the case; only it may reply or close.
    taken_by = Column(String(64), nullable=True)
    closed_by = Column(String(16), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False)
    taken_at = Column(DateTime(timezone=True), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)
    #: The citizen's latest message: WeChat's customer-service window runs 48 h from it.
    last_citizen_at = Column(DateTime(timezone=True), nullable=False)
    #: Who opened it, as bot.inputs.client_key (a keyed hash of the client address, never the
    #: address); None for channels that vouch for their senders (WeChat). Counted per hour.
    client_key = Column(String(32), nullable=True)

    __table_args__ = (
        Index("ix_handoff_cases_sender", "sender_id", "channel", "status"),
        Index("ix_handoff_cases_status", "status", "priority", "created_at"),
        Index("ix_handoff_cases_client", "client_key", "created_at"),
    )


class HandoffMessage(Base):
    """One line of a case: the citizen's, a staff reply, or a notice (taken, closed).

    Messages to the citizen stay pending until `delivered_at` is set by whichever path
    reached them first: the citizen's next turn, the web chat's poll, or WeChat's API.
    """

    __tablename__ = "handoff_messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    case_id = Column(Integer, ForeignKey("handoff_cases.id"), nullable=False)
    #: citizen, staff or system
    author = Column(String(16), nullable=False)
    #: text, taken or closed
    kind = Column(String(16), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    delivered_at = Column(DateTime(timezone=True), nullable=True)
    #: turn, poll or wechat_api
    delivered_via = Column(String(16), nullable=True)
    #: The display name of the staff account that took, answered or closed (guide_staff).
    staff_name = Column(String(64), nullable=True)

    __table_args__ = (Index("ix_handoff_messages_case", "case_id", "delivered_at"),)
