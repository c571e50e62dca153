"""The grid store's schema upgrade; the engine is the booking store's (bot.booking.db).

Why the same engine: one DATABASE_URL, one pool, the same SQLite write serialisation and
short lock timeouts, created lazily on first use. Why a separate Alembic history: see
bot/grid/models.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine

__all__ = ["GridUnavailable", "upgrade_schema", "alembic_config"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
_MIGRATION_LOCK_KEY = 4_202_614  # pg_advisory_xact_lock key, apart from the booking one


class GridUnavailable(BookingUnavailable):
    """The grid database cannot be reached; the chat says so with a domain response."""


def alembic_config(url: Optional[str] = None) -> Any:
    """An Alembic Config for the grid history, without an ini file or working directory."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_schema(url: Optional[str] = None) -> None:
    """Create or upgrade the grid tables (one transaction; advisory lock on PostgreSQL)."""
    from alembic import command

    engine = get_engine(url)
    cfg = alembic_config(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        log.error("grid migration failed: %s", exc.__class__.__name__)
        raise GridUnavailable(f"migration failed: {exc.__class__.__name__}") from exc
