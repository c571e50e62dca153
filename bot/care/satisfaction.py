"""The satisfaction follow-up's store: ask once per conversation, rate once, comment once.

Why the database decides and not a slot: a slot is a tracker event any HTTP-API client can
set, and two turns of one conversation can race. Here the ask is an INSERT on a unique
conversation key, so only one turn wins it; a rating is accepted only for a conversation that
was asked and not yet rated (one conditional UPDATE), so a citizen cannot stuff the figures
by sending the rating payload again, and nobody can rate a conversation nobody asked.

A conversation is one sender on one local day (Asia/Shanghai): WeChat's openid never changes,
so "the sender" alone would mean one question per citizen forever, and the action server sees
only a window of the events, so a session start cannot be relied on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.care.models import RATINGS, SatisfactionRating
from bot.privacy import mask_text

__all__ = ["SatisfactionStore", "conversation_key", "MAX_COMMENT_CHARS", "LOCAL_TZ"]

log = logging.getLogger(__name__)

#: The halls' time zone: a day and a week are counted as the citizens live them.
LOCAL_TZ = timezone(timedelta(hours=8))
#: A comment is a sentence or two; the rest is cut.
MAX_COMMENT_CHARS = 500
_TOPIC_CHARS = 64
_CHANNEL_CHARS = 32

_ratings = SatisfactionRating.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(at: Optional[datetime]) -> datetime:
    """In UTC (SQLite keeps a datetime's digits without its offset)."""
    at = at or _now()
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def conversation_key(sender_id: str, at: datetime) -> str:
    """ "2026-12-02:<sender>": the conversation one follow-up belongs to."""
    return f"{at.astimezone(LOCAL_TZ).date().isoformat()}:{sender_id[:128]}"


class SatisfactionStore:
    """claim_ask / rate / comment; each returns False (never raises) when the database fails,
    so a follow-up problem never costs the citizen the answer they came for."""

    def __init__(self, engine: Optional[Engine] = None) -> None:
        self._engine = engine if engine is not None else get_engine()

    @staticmethod
    def _fail(exc: SQLAlchemyError) -> BookingUnavailable:
        """Logs the outage; the methods turn it into False."""
        log.warning("satisfaction store unavailable: %s", exc.__class__.__name__)
        return BookingUnavailable(exc.__class__.__name__)

    def claim_ask(
        self, sender_id: str, channel: str, topic: str, *, at: Optional[datetime] = None
    ) -> bool:
        """True when this turn may ask (the first in this conversation); False otherwise."""
        stamp = _utc(at)
        row = {
            "conversation_id": conversation_key(sender_id, stamp),
            "channel": (channel or "unknown")[:_CHANNEL_CHARS],
            "topic": (topic or "general")[:_TOPIC_CHARS],
            "asked_at": stamp,
        }
        try:
            with write_transaction(self._engine, self._fail, keep=(IntegrityError,)) as conn:
                conn.execute(insert(_ratings).values(**row))
            return True
        except IntegrityError:
            return False  # asked before in this conversation (or a racing turn just did)
        except BookingUnavailable:
            return False

    def rate(self, sender_id: str, rating: str, *, at: Optional[datetime] = None) -> bool:
        """Record `rating` for today's asked and not yet rated conversation; False otherwise."""
        if rating not in RATINGS:
            return False
        stamp = _utc(at)
        where = and_(
            _ratings.c.conversation_id == conversation_key(sender_id, stamp),
            _ratings.c.rating.is_(None),
        )
        return self._update(where, {"rating": rating, "rated_at": stamp})

    def was_rated(self, sender_id: str, *, at: Optional[datetime] = None) -> bool:
        """True when today's conversation of this sender already has a rating."""
        key = conversation_key(sender_id, at or _now())
        query = select(_ratings.c.rating).where(_ratings.c.conversation_id == key)
        try:
            with read_connection(self._engine, self._fail) as conn:
                return conn.execute(query).scalar() is not None
        except BookingUnavailable:
            return False

    def comment(self, sender_id: str, text: str, *, at: Optional[datetime] = None) -> bool:
        """Keep a masked comment on today's rated conversation, once; False otherwise."""
        clean = mask_text((text or "").strip())[:MAX_COMMENT_CHARS]
        if not clean:
            return False
        stamp = _utc(at)
        where = and_(
            _ratings.c.conversation_id == conversation_key(sender_id, stamp),
            _ratings.c.rating.is_not(None),
            _ratings.c.comment.is_(None),
        )
        return self._update(where, {"comment": clean})

    def _update(self, where: object, values: dict) -> bool:
        try:
            with write_transaction(self._engine, self._fail) as conn:
                return bool(conn.execute(update(_ratings).where(where).values(**values)).rowcount)
        except BookingUnavailable:
            return False
