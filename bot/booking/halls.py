"""Copy the halls of the knowledge base (bot.kb, from data/kb/halls.yml) into the booking store.

Why a copy: bookings need a foreign key and the capacities inside a transaction, while the
knowledge base stays the one place where a hall's facts are edited and the one reader of
halls.yml (bot.kb parses it, with its `{config: ENV_NAME, value: null}` values resolved from
the environment there). Unknown facts stay NULL here, never an invented value.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.booking.db import get_engine, upgrade_schema
from bot.booking.models import Hall
from bot.kb import Hall as KBHall
from bot.kb import get_kb, load_halls

__all__ = ["sync_halls", "migrate", "code_prefix", "derive_code_prefix", "hall_row"]

_VOWELS = set("aeiouv")


def derive_code_prefix(hall_id: str) -> str:
    """Two letters from a pinyin id: the initials of its first two syllables (huzhou → HZ).

    A hall may set `booking.code_prefix` in halls.yml instead; this is only the fallback.
    """
    parts = [p for p in re.split(r"[^a-z0-9]+", hall_id.lower()) if p]
    if len(parts) >= 2:
        return (parts[0][0] + parts[1][0]).upper()
    word = parts[0] if parts else "x"
    i = 0 if word[0] in _VOWELS else 1  # a syllable may have no initial (anji)
    while i < len(word) and word[i] not in _VOWELS:
        i += 1  # rest of the first initial (zh, ch, sh)
    while i < len(word) and word[i] in _VOWELS:
        i += 1  # the vowels of the first final
    # A final n/ng belongs to the first syllable when a consonant follows it (hang|zhou).
    if word[i : i + 2] == "ng" and i + 2 < len(word) and word[i + 2] not in _VOWELS:
        i += 2
    elif word[i : i + 1] == "n" and i + 1 < len(word) and word[i + 1] not in _VOWELS:
        i += 1
    second = word[i] if i < len(word) else (word[1] if len(word) > 1 else "X")
    return (word[0] + second).upper()


def code_prefix(hall: KBHall) -> str:
    """The hall's booking-code prefix: `booking.code_prefix` in halls.yml, else derived."""
    return hall.code_prefix or derive_code_prefix(hall.id)


def hall_row(hall: KBHall) -> dict[str, Any]:
    """The halls-table values of one KB hall (environment overrides already resolved)."""
    return {
        "id": hall.id,
        "name": hall.name,
        "code_prefix": code_prefix(hall),
        "address": hall.address.resolved(),
        "phone": hall.phone.resolved(),
        "hours": hall.hours.resolved(),
        "services": list(hall.services),
        "slot_capacity": hall.slot_capacity,
        "green_capacity": hall.green_capacity,
        "slot_minutes": hall.slot_minutes,
        "sessions": [list(pair) for pair in hall.sessions],
    }


def sync_halls(
    engine: Optional[Engine] = None,
    path: Optional[Path] = None,
    halls: Optional[Mapping[str, KBHall]] = None,
) -> int:
    """Upsert every hall (the KB's, or those of the halls file at `path`, or `halls`); halls
    no longer listed are deactivated, not deleted (their bookings keep their foreign key).
    Returns the number of halls synced."""
    engine = engine or get_engine()
    if halls is None:
        halls = load_halls(path) if path is not None else get_kb().halls
    rows = [hall_row(h) for h in halls.values()]
    prefixes = [r["code_prefix"] for r in rows]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"halls: booking code prefixes must be unique, got {sorted(prefixes)}")
    now = datetime.now(timezone.utc)
    table = Hall.__table__
    with engine.begin() as conn:
        existing = set(conn.execute(select(table.c.id)).scalars())
        for row in rows:
            values = {**row, "active": True, "updated_at": now}
            if row["id"] in existing:
                conn.execute(update(table).where(table.c.id == row["id"]).values(**values))
            else:
                conn.execute(table.insert().values(**values))
        gone = existing - {r["id"] for r in rows}
        if gone:
            gone_rows = update(table).where(table.c.id.in_(gone))
            conn.execute(gone_rows.values(active=False, updated_at=now))
    return len(rows)


def migrate(url: Optional[str] = None, *, sync: bool = True) -> None:
    """Upgrade the schema to head (bot.booking.db.upgrade_schema), then by default sync the
    halls from the knowledge base. Raises BookingUnavailable when the database cannot be
    reached."""
    upgrade_schema(url)
    if sync:
        sync_halls(get_engine(url))
