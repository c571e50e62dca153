"""Reading and changing guide-console staff accounts (bot.staff.models.StaffAccount).

Why its own small repository: the console checks on every request that the session's
account is still active, and the CLI (python -m bot.channels.guide_auth add-staff …) adds
and disables accounts from another process; both go through these few statements.
Passwords are hashed by the caller (bot.channels.guide_auth), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ContextManager, List, Optional

from sqlalchemy import inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.booking.db import get_engine, read_connection, write_transaction
from bot.staff.models import StaffAccount

__all__ = ["Staff", "StaffDirectory", "StaffUnavailable", "StaffExists"]

_staff = StaffAccount.__table__


class StaffUnavailable(RuntimeError):
    """The staff table cannot be read: the console refuses (closed), never falls back."""


class StaffExists(ValueError):
    """add() of a login name that is already taken."""


@dataclass(frozen=True)
class Staff:
    id: int
    login: str
    display_name: str
    password_hash: str
    active: bool
    created_at: datetime


def _row(row: object) -> Staff:
    m = row._mapping  # type: ignore[attr-defined]
    created = m["created_at"]
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC
    return Staff(
        int(m["id"]),
        str(m["login"]),
        str(m["display_name"]),
        str(m["password_hash"]),
        bool(m["active"]),
        created,
    )


class StaffDirectory:
    """Staff accounts; the engine is resolved per call (DATABASE_URL may change in tests)."""

    def __init__(self, engine: Optional[Engine] = None) -> None:
        self._engine = engine

    def _db(self) -> Engine:
        return self._engine if self._engine is not None else get_engine()

    @staticmethod
    def _fail(exc: SQLAlchemyError) -> StaffUnavailable:
        return StaffUnavailable(exc.__class__.__name__)

    def _read(self) -> ContextManager[Connection]:
        return read_connection(self._db(), self._fail)

    def any(self) -> bool:
        """Whether any account exists (active or not); False while the table is not there
        yet (an unmigrated database has no accounts), StaffUnavailable on an outage."""
        with self._read() as conn:
            if not inspect(conn).has_table(_staff.name):
                return False
            return conn.execute(select(_staff.c.id).limit(1)).first() is not None

    def get(self, staff_id: int) -> Optional[Staff]:
        with self._read() as conn:
            row = conn.execute(select(_staff).where(_staff.c.id == staff_id)).first()
            return _row(row) if row is not None else None

    def by_login(self, login: str) -> Optional[Staff]:
        with self._read() as conn:
            row = conn.execute(select(_staff).where(_staff.c.login == login)).first()
            return _row(row) if row is not None else None

    def all(self) -> List[Staff]:
        with self._read() as conn:
            return [_row(r) for r in conn.execute(select(_staff).order_by(_staff.c.login))]

    def add(self, login: str, display_name: str, password_hash: str) -> Staff:
        try:
            with write_transaction(self._db(), self._fail, keep=(IntegrityError,)) as conn:
                new_id = conn.execute(
                    _staff.insert().values(
                        login=login,
                        display_name=display_name,
                        password_hash=password_hash,
                        active=True,
                        created_at=datetime.now(timezone.utc),
                    )
                ).inserted_primary_key[0]
        except IntegrityError:
            raise StaffExists(login) from None
        found = self.get(int(new_id))
        assert found is not None
        return found

    def set_password(self, login: str, password_hash: str) -> bool:
        """A new password; False when no such login. Sessions are bound to the stored hash
        (bot.channels.guide_auth), so every session of the account ends with the old one."""
        with write_transaction(self._db(), self._fail) as conn:
            done = conn.execute(
                update(_staff).where(_staff.c.login == login).values(password_hash=password_hash)
            )
            return bool(done.rowcount)

    def set_active(self, login: str, active: bool) -> bool:
        """Disable (or enable again) an account; False when no such login."""
        with write_transaction(self._db(), self._fail) as conn:
            done = conn.execute(update(_staff).where(_staff.c.login == login).values(active=active))
            return bool(done.rowcount)
