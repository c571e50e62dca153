"""Alembic environment for the grid store (its own history and version table).

Like bot/booking/migrations/env.py: bot.grid.db.upgrade_schema() passes its own connection
through `config.attributes`, so the SQLite listeners and pool settings apply here too.
"""

from __future__ import annotations

from alembic import context

from bot.grid.models import metadata

VERSION_TABLE = "alembic_version_grid"
config = context.config


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Compare only the grid tables (the booking tables share the database)."""
    if type_ == "table":
        return bool(name) and str(name).startswith("grid_")
    return True


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """On the connection upgrade_schema() passes, else on a new one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    from bot.booking.db import get_engine

    engine = get_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.begin() as conn:
        _configure_and_run(conn)


if context.is_offline_mode():
    raise SystemExit("the grid store has no offline migrations")
run_migrations_online()
