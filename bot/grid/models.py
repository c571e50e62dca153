"""Tables of the grid hazard reports: tickets, their audit trail, notices and failed checks.

Why the booking store's metadata (as bot/care/models.py and bot/handoff/models.py): one
database, one engine (DATABASE_URL, bot.booking.db) and one Alembic chain, so `python -m
bot.serve migrate` creates these too. The migration 0004_grid (bot/booking/migrations) must
stay in step with these definitions (checked by the autogenerate diff in the tests).

Personal data: the report text and place are stored masked (bot.privacy.mask_text), the
contact phone sealed (bot.privacy.seal) for a call-back, with its masked form and last four
digits, which a non-reporter must give to see a ticket's status. Access is decided from
these rows (the reporter is the (sender_id, channel) that filed it), never from a slot.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text

from bot.booking.models import Base

__all__ = ["Ticket", "TicketEvent", "Notice", "LookupFailure"]


class Ticket(Base):
    """One hazard report and where it stands (a stage id of data/kb/grid.yml)."""

    __tablename__ = "grid_tickets"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(16), nullable=False, unique=True)
    category = Column(String(32), nullable=False)
    platform = Column(String(32), nullable=False)
    stage = Column(String(16), nullable=False)
    place = Column(Text, nullable=False)
    description = Column(Text, nullable=False)
    occurred_at = Column(DateTime(timezone=True), nullable=False)
    #: "fire", "gas_leak", "flood", "crime" when the report said it was happening now.
    urgent = Column(String(16), nullable=True)
    contact_sealed = Column(Text, nullable=True)
    contact_masked = Column(String(20), nullable=True)
    contact_last4 = Column(String(4), nullable=True)
    language = Column(String(8), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_grid_tickets_sender_id", "sender_id"),
        Index("ix_grid_tickets_stage", "stage"),
    )


class TicketEvent(Base):
    """The audit trail: who filed, moved, viewed the contact of, or notified about a ticket."""

    __tablename__ = "grid_ticket_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, ForeignKey("grid_tickets.id"), nullable=False)
    action = Column(String(32), nullable=False)
    from_stage = Column(String(16), nullable=True)
    to_stage = Column(String(16), nullable=True)
    actor = Column(String(128), nullable=False)
    note = Column(Text, nullable=True)
    at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_grid_ticket_events_ticket_id", "ticket_id"),)


class Notice(Base):
    """A stage change the citizen is told about: sent (WeChat) or kept for their next message."""

    __tablename__ = "grid_notices"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, ForeignKey("grid_tickets.id"), nullable=False)
    stage = Column(String(16), nullable=False)
    channel = Column(String(32), nullable=False)
    sender_id = Column(String(128), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    #: Set when the notice reached the citizen (sent, or shown with a reply).
    delivered_at = Column(DateTime(timezone=True), nullable=True)
    #: "wechat" (customer-service API) or "next_message".
    via = Column(String(16), nullable=True)

    __table_args__ = (Index("ix_grid_notices_recipient", "sender_id", "channel", "delivered_at"),)


class LookupFailure(Base):
    """A failed status check (wrong last four or no such ticket), for the rate limits."""

    __tablename__ = "grid_lookup_failures"

    id = Column(Integer, primary_key=True, autoincrement=True)
    code = Column(String(16), nullable=False)
    sender_id = Column(String(128), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_grid_lookup_failures_code_at", "code", "at"),
        Index("ix_grid_lookup_failures_sender_at", "sender_id", "at"),
    )
