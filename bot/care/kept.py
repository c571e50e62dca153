"""Messages kept for a web-chat or REST citizen until their next visit, handed out once.

Why kept and not pushed: a web page or a REST client has no address to push to; the message
waits in the database until the same sender asks for it (bot.channels.inbox). Closed by
default: a message is only ever handed to the (sender, channel) it was kept for, and taking
it is a conditional UPDATE (`delivered_at IS NULL`), so two polls at once cannot both get it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import List, Optional

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.care.models import KeptMessage

__all__ = ["KeptMessageStore", "MAX_TAKEN"]

log = logging.getLogger(__name__)

#: At most this many messages per poll; the rest come with the next one.
MAX_TAKEN = 10

_kept = KeptMessage.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(at: datetime) -> datetime:
    """In UTC: SQLite keeps a datetime's digits without its offset, so every stored and
    compared time must be in one zone for the comparisons to mean anything."""
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


class KeptMessageStore:
    """keep / take; both raise BookingUnavailable when the database cannot be reached."""

    def __init__(self, engine: Optional[Engine] = None) -> None:
        self._engine = engine if engine is not None else get_engine()

    @staticmethod
    def _fail(exc: SQLAlchemyError) -> BookingUnavailable:
        log.warning("kept messages unavailable: %s", exc.__class__.__name__)
        return BookingUnavailable(exc.__class__.__name__)

    def keep(
        self,
        sender_id: str,
        channel: str,
        kind: str,
        body: str,
        expires_at: datetime,
        *,
        at: Optional[datetime] = None,
    ) -> None:
        """Keep `body` (already worded and masked) for this sender on this channel."""
        row = {
            "sender_id": sender_id[:128],
            "channel": channel[:32],
            "kind": kind[:32],
            "body": body,
            "created_at": _utc(at or _now()),
            "expires_at": _utc(expires_at),
        }
        with write_transaction(self._engine, self._fail) as conn:
            conn.execute(insert(_kept).values(**row))

    def take(self, sender_id: str, channel: str, *, at: Optional[datetime] = None) -> List[str]:
        """The sender's undelivered, unexpired messages, oldest first; each is handed out once."""
        stamp = _utc(at or _now())
        mine = and_(
            _kept.c.sender_id == sender_id[:128],
            _kept.c.channel == channel[:32],
            _kept.c.delivered_at.is_(None),
            _kept.c.expires_at > stamp,
        )
        query = select(_kept.c.id, _kept.c.body).where(mine).order_by(_kept.c.id).limit(MAX_TAKEN)
        taken: List[str] = []
        with read_connection(self._engine, self._fail) as conn:
            waiting = conn.execute(query).all()
        if not waiting:
            return []
        with write_transaction(self._engine, self._fail) as conn:
            for row in waiting:
                claim = (
                    update(_kept)
                    .where(and_(_kept.c.id == row.id, _kept.c.delivered_at.is_(None)))
                    .values(delivered_at=stamp)
                )
                if conn.execute(claim).rowcount == 1:
                    taken.append(str(row.body))
        return taken
