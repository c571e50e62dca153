"""Copy the halls from data/kb/halls.yml into the booking store.

Why a copy: bookings need a foreign key and the capacities inside a transaction, while the
knowledge base stays the one place where a hall's facts are edited. Unknown facts are
`{config: ENV_NAME, value: null}` in the KB; the environment variable wins, else NULL is
stored, never an invented value.
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.booking.models import Hall

__all__ = ["sync_halls", "load_halls_file", "derive_code_prefix", "DEFAULT_SLOT_CAPACITY", "DEFAULT_GREEN_CAPACITY"]

log = logging.getLogger(__name__)

#: Used only when halls.yml gives no capacity; deliberately small and logged.
DEFAULT_SLOT_CAPACITY = 4
DEFAULT_GREEN_CAPACITY = 1
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
    if word[i:i + 2] == "ng" and i + 2 < len(word) and word[i + 2] not in _VOWELS:
        i += 2
    elif word[i:i + 1] == "n" and i + 1 < len(word) and word[i + 1] not in _VOWELS:
        i += 1
    second = word[i] if i < len(word) else (word[1] if len(word) > 1 else "X")
    return (word[0] + second).upper()


def _value(raw: Any) -> Optional[str]:
    """A plain value, or `{config, value}` where the environment variable overrides `value`."""
    if isinstance(raw, dict):
        env_name = raw.get("config")
        if env_name and os.environ.get(str(env_name)):
            return os.environ[str(env_name)]
        raw = raw.get("value")
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False, default=str)


def _int(raw: Any, default: int, where: str) -> int:
    value = _value(raw)
    if value is None:
        log.warning("%s not set in halls.yml; using %s", where, default)
        return default
    number = int(value)
    if number < 0:
        raise ValueError(f"halls.yml: {where} must be >= 0")
    return number


def load_halls_file(path: Optional[Path] = None) -> list[dict[str, Any]]:
    """Read and check halls.yml; an error names the file and the key."""
    if path is None:
        from bot.settings import get_settings

        path = get_settings().kb_dir / "halls.yml"
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    halls = data.get("halls")
    if not isinstance(halls, list) or not halls:
        raise ValueError(f"{path}: halls must be a non-empty list")
    rows: list[dict[str, Any]] = []
    for i, hall in enumerate(halls):
        where = f"halls[{i}]"
        if not isinstance(hall, dict) or not hall.get("id") or not hall.get("name"):
            raise ValueError(f"{path}: {where} needs id and name")
        booking = hall.get("booking") or {}
        prefix = str(booking.get("code_prefix") or hall.get("code_prefix") or derive_code_prefix(str(hall["id"])))
        if not re.fullmatch(r"[A-Z]{2,4}", prefix):
            raise ValueError(f"{path}: {where}.booking.code_prefix must be 2–4 capital letters")
        sessions = booking.get("sessions")
        if sessions is not None:
            ok = isinstance(sessions, list) and all(
                isinstance(s, (list, tuple)) and len(s) == 2 for s in sessions
            )
            if not ok:
                raise ValueError(f"{path}: {where}.booking.sessions must be [[start, end], ...]")
            sessions = [[str(a), str(b)] for a, b in sessions]
        rows.append(
            {
                "id": str(hall["id"]),
                "name": _value(hall["name"]) or str(hall["id"]),
                "code_prefix": prefix,
                "address": _value(hall.get("address")),
                "phone": _value(hall.get("phone")),
                "hours": _value(hall.get("hours")),
                "services": [str(s) for s in hall.get("services") or []],
                "slot_capacity": _int(booking.get("slot_capacity"), DEFAULT_SLOT_CAPACITY, f"{where}.booking.slot_capacity"),
                "green_capacity": _int(booking.get("green_capacity"), DEFAULT_GREEN_CAPACITY, f"{where}.booking.green_capacity"),
                "slot_minutes": _int(booking.get("slot_minutes"), 30, f"{where}.booking.slot_minutes")
                if booking.get("slot_minutes") is not None
                else 30,
                "sessions": sessions,
            }
        )
    return rows


def sync_halls(engine: Optional[Engine] = None, path: Optional[Path] = None) -> int:
    """Upsert every hall of the file; halls no longer listed are deactivated, not deleted
    (their bookings keep their foreign key). Returns the number of halls in the file."""
    from bot.booking.db import get_engine

    engine = engine or get_engine()
    rows = load_halls_file(path)
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
            conn.execute(update(table).where(table.c.id.in_(gone)).values(active=False, updated_at=now))
    return len(rows)
