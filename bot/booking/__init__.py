"""Hall appointments: halls, slot counters, bookings and their audit trail.

Importing this package opens no database; `get_engine()` creates the engine on first use.
Typical use from an action:

    from bot.booking import BookingRepository
    repo = BookingRepository()            # engine from DATABASE_URL
    result = repo.book(hall_id="huzhou", service="passport", day=..., start=..., name=...,
                       id_number=..., phone=..., channel="rest", sender_id=..., today=...)
    if result.ok: ...  # result.code, result.booking (masked view)
    else: ...          # result.error (a RefusalCode), result.hints, result.free_days
    seen = repo.check_access(code, sender_id=..., channel=...)   # owner or DB grant, never a slot
    tried = repo.verify_last4(code, "5678", sender_id=..., channel=...)  # counts failures
"""

from __future__ import annotations

from bot.booking.db import BookingUnavailable, dispose_engines, get_engine
from bot.booking.halls import migrate, sync_halls
from bot.booking.pending import PendingPersonalStore
from bot.booking.repository import (
    BOOKING_WINDOW_DAYS,
    AccessResult,
    BookingRepository,
    BookingResult,
    BookingView,
    HallView,
    Refusal,
    RefusalCode,
    RefusalHints,
    SlotView,
    hash_id,
    normalize_code,
    slot_starts,
)

__all__ = [
    "AccessResult",
    "BOOKING_WINDOW_DAYS",
    "PendingPersonalStore",
    "BookingRepository",
    "BookingResult",
    "BookingUnavailable",
    "BookingView",
    "HallView",
    "Refusal",
    "RefusalCode",
    "RefusalHints",
    "SlotView",
    "dispose_engines",
    "get_engine",
    "hash_id",
    "migrate",
    "normalize_code",
    "slot_starts",
    "sync_halls",
]
