"""The ID number and phone a booking form has collected, kept server-side until the booking.

Why not in a slot: every slot value is an event in the tracker's history, which outlives the
slot (clearing it only adds another event) and which the HTTP API hands to anyone with access.
A sealed value there opens with whatever secret the deployment runs with, including the
built-in development one. So the form keeps only the masked form (330521********001X,
138****5678) in its slots, and the value itself lives here, sealed with bot.privacy.seal,
keyed by conversation, until the booking is written, the form stops, or PENDING_TTL passes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.booking.models import PendingPersonal
from bot.privacy import seal, unseal

__all__ = ["PendingPersonalStore", "PENDING_TTL", "FIELDS"]

log = logging.getLogger(__name__)

#: How long a half-filled form keeps the ID and phone.
PENDING_TTL = timedelta(minutes=30)
FIELDS = ("id_number", "phone")

_pending = PendingPersonal.__table__


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


class PendingPersonalStore:
    """put/get/drop per conversation; raises BookingUnavailable when the database is down."""

    def __init__(self, engine: Optional[Engine] = None) -> None:
        self._engine = engine if engine is not None else get_engine()

    def _fail(self, exc: SQLAlchemyError) -> BookingUnavailable:
        log.warning("pending personal data unavailable: %s", exc.__class__.__name__)
        return BookingUnavailable(exc.__class__.__name__)

    def put(
        self, conversation_id: str, field: str, value: str, *, at: Optional[datetime] = None
    ) -> None:
        """Keep `value` sealed for this conversation (replacing an earlier one)."""
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}")
        stamp = at or _now_utc()
        key = (conversation_id or "unknown")[:128]
        with write_transaction(self._engine, self._fail) as conn:
            conn.execute(_pending.delete().where(_pending.c.expires_at <= stamp))
            conn.execute(
                _pending.delete().where(
                    and_(_pending.c.conversation_id == key, _pending.c.field == field)
                )
            )
            conn.execute(
                _pending.insert().values(
                    conversation_id=key,
                    field=field,
                    sealed=seal(value),
                    expires_at=stamp + PENDING_TTL,
                )
            )

    def get(
        self, conversation_id: str, field: str, *, at: Optional[datetime] = None
    ) -> Optional[str]:
        """The clear value, or None when missing, expired or not readable with this secret."""
        stamp = at or _now_utc()
        key = (conversation_id or "unknown")[:128]
        with read_connection(self._engine, self._fail) as conn:
            token = conn.execute(
                select(_pending.c.sealed).where(
                    and_(
                        _pending.c.conversation_id == key,
                        _pending.c.field == field,
                        _pending.c.expires_at > stamp,
                    )
                )
            ).scalar()
        return unseal(token) if token else None

    def drop(self, conversation_id: str) -> None:
        """Forget everything this conversation's form collected."""
        key = (conversation_id or "unknown")[:128]
        with write_transaction(self._engine, self._fail) as conn:
            conn.execute(_pending.delete().where(_pending.c.conversation_id == key))
