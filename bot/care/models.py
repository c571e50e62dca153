"""Tables of the care features, in the booking store's metadata (one database, one migration chain).

Why the booking metadata: reminders point at bookings (a foreign key) and every table of the
store is created by the same Alembic chain (bot/booking/migrations), so `python -m bot.serve
migrate` creates these too. The migration 0003_care must stay in step with these definitions
(checked by the autogenerate diff in tests/test_booking_repo.py).

- `SatisfactionRating`: one row per conversation, written when the bot asks; the unique
  conversation id is what makes "never ask twice in one conversation" hold even when two
  turns race. The rating and the (masked) comment are filled in later, once each.
- `BookingReminder`: one row per booking, the claim that makes a reminder go out once even
  when the reminder command runs twice at the same time.
- `KeptMessage`: a message kept for a web-chat / REST sender, handed out once to that same
  sender only.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text, text

from bot.booking.models import Base

__all__ = [
    "SatisfactionRating",
    "BookingReminder",
    "KeptMessage",
    "RATINGS",
    "REMINDER_CLAIMED",
    "REMINDER_SENT",
    "REMINDER_KEPT",
    "REMINDER_FAILED",
]

#: The three answers, best first (the buttons' payload values and the report's order).
RATINGS = ("satisfied", "neutral", "dissatisfied")

REMINDER_CLAIMED = "claimed"  # a run took it and is sending
REMINDER_SENT = "sent"  # WeChat accepted it
REMINDER_KEPT = "kept"  # stored for the web chat / REST sender's next visit
REMINDER_FAILED = "failed"  # the channel refused; a later run may try again (attempts)


class SatisfactionRating(Base):
    """The follow-up of one conversation: asked once, rated once, an optional masked comment."""

    __tablename__ = "satisfaction_ratings"

    id = Column(Integer, primary_key=True, autoincrement=True)
    #: The sender and the local day ("2026-12-02:<sender>"): one conversation of one day.
    conversation_id = Column(String(160), nullable=False, unique=True)
    channel = Column(String(32), nullable=False)
    #: What the finished task was about: a service or KB topic id, "booking", "green_channel".
    topic = Column(String(64), nullable=False)
    asked_at = Column(DateTime(timezone=True), nullable=False)
    rating = Column(String(16), nullable=True)
    rated_at = Column(DateTime(timezone=True), nullable=True)
    comment = Column(Text, nullable=True)

    __table_args__ = (Index("ix_satisfaction_ratings_asked_at", "asked_at"),)


class BookingReminder(Base):
    """The claim on one booking's reminder; the primary key makes a second claim fail."""

    __tablename__ = "booking_reminders"

    booking_id = Column(Integer, ForeignKey("bookings.id"), primary_key=True)
    status = Column(String(16), nullable=False)
    channel = Column(String(32), nullable=False)
    attempts = Column(Integer, nullable=False, server_default=text("1"))
    claimed_at = Column(DateTime(timezone=True), nullable=False)
    sent_at = Column(DateTime(timezone=True), nullable=True)
    #: The channel's error code (e.g. WeChat's errcode), never a message text.
    error = Column(String(64), nullable=True)


class KeptMessage(Base):
    """A message for one (sender, channel), delivered once on that sender's next poll."""

    __tablename__ = "kept_messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(128), nullable=False)
    channel = Column(String(32), nullable=False)
    kind = Column(String(32), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    delivered_at = Column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_kept_messages_sender", "sender_id", "channel"),)
