"""Alembic environment for the booking store.

Why it reuses a connection: `bot.booking.db.upgrade_schema()` passes its own connection (inside a
transaction, under an advisory lock on PostgreSQL) through `config.attributes`, so the
SQLite BEGIN IMMEDIATE listener and the pool settings apply to migrations as well. Logging
is left alone so Rasa's log configuration and the masking filter stay in place.
"""

from __future__ import annotations

from alembic import context

import bot.care.models  # noqa: F401  (its tables join the same metadata)
import bot.grid.models  # noqa: F401  (likewise)
from bot.booking.models import metadata

config = context.config


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copes
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from bot.booking.db import get_engine

    engine = get_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.begin() as conn:
        _configure_and_run(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
