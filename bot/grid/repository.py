"""Grid tickets: filing, status checks, stage changes, notices and the audit trail.

The only code that writes the grid tables. Like bot.booking.repository: one transaction per
change (BEGIN IMMEDIATE on SQLite through the shared engine, plus the in-process write
lock), codes and views out, no wording in (the actions and the console word everything).

Closed by default: a ticket's status is shown to the (sender_id, channel) that filed it, or
to someone who gives the last four digits of the contact phone the reporter left. A ticket
without a contact is shown to its reporter only. Failed checks (wrong digits, or a code no
ticket has: deliberately the same answer) are rows of grid_lookup_failures, counted per code
and per sender; at the limits the digits are not even compared.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ContextManager, Literal, Mapping, Optional

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.booking.repository import CODE_ALPHABET
from bot.grid.kb import GridKB, get_grid_kb
from bot.grid.models import LookupFailure, Notice, Ticket, TicketEvent
from bot.privacy import mask_phone, mask_text, seal, unseal
from bot.validation import check_phone

__all__ = [
    "GridRepository",
    "GridUnavailable",
    "TicketView",
    "NoticeView",
    "FileResult",
    "StatusResult",
    "AdvanceResult",
    "TICKET_PREFIX",
    "normalize_ticket_code",
    "find_ticket_code",
    "CODE_FAILURE_LIMIT",
    "SENDER_FAILURE_LIMIT",
]

log = logging.getLogger(__name__)

#: 网格: every ticket code is WG-XXXXXXXX (31^8 ≈ 8.5e11 codes, unguessable).
TICKET_PREFIX = "WG"
CODE_LENGTH = 8
CODE_FAILURE_LIMIT = 5
CODE_FAILURE_WINDOW = timedelta(days=1)
SENDER_FAILURE_LIMIT = 10
SENDER_FAILURE_WINDOW = timedelta(hours=1)
MAX_PLACE_CHARS = 200
MAX_DESCRIPTION_CHARS = 1000
MAX_NOTE_CHARS = 500
_MAX_ATTEMPTS = 4

_tickets = Ticket.__table__
_events = TicketEvent.__table__
_notices = Notice.__table__
#: Asked after every REST reply; built once, with bound parameters (see take_notices).
_NOTICE_WAITING = select(
    exists().where(
        _notices.c.delivered_at.is_(None),
        _notices.c.sender_id == bindparam("sender_id"),
        _notices.c.channel == bindparam("channel"),
    )
)
_failures = LookupFailure.__table__

_CODE_IN_TEXT = re.compile(
    rf"{TICKET_PREFIX}[\s_—–\-]*([{CODE_ALPHABET}0-9A-Z]{{{CODE_LENGTH}}})(?![0-9A-Z])"
)


class GridUnavailable(BookingUnavailable):
    """The grid tables cannot be reached; the chat says so with a domain response
    (utter_grid_unavailable), never with this exception's text."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def normalize_ticket_code(raw: str) -> Optional[str]:
    """'wg 7k3q9m2x', 'WG-7K3Q9M2X', 'ＷＧ７Ｋ３Ｑ９Ｍ２Ｘ' → 'WG-7K3Q9M2X'; None otherwise."""
    text = re.sub(r"[\s_—–\-]+", "", unicodedata.normalize("NFKC", raw or "")[:40].upper())
    m = re.fullmatch(rf"{TICKET_PREFIX}([0-9A-Z]{{{CODE_LENGTH}}})", text)
    return f"{TICKET_PREFIX}-{m.group(1)}" if m else None


def find_ticket_code(text: str) -> Optional[str]:
    """The first ticket code inside a message ("查一下WG-7K3Q9M2X的进度")."""
    folded = unicodedata.normalize("NFKC", text or "")[:400].upper()
    m = _CODE_IN_TEXT.search(folded)
    return f"{TICKET_PREFIX}-{m.group(1)}" if m else None


@dataclass(frozen=True)
class TicketView:
    """What may leave this module: masked text and contact only."""

    code: str
    category: str
    platform: str
    stage: str
    place: str
    description: str
    occurred_at: datetime
    urgent: Optional[str]
    contact_masked: Optional[str]
    language: str
    channel: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NoticeView:
    id: int
    code: str
    stage: str
    platform: str
    language: str
    channel: str
    sender_id: str


@dataclass(frozen=True)
class FileResult:
    """`ok` with the new ticket, or `error`: invalid_phone (hints: the PhoneCheck code),
    empty (no description or place), unavailable."""

    ok: bool
    ticket: Optional[TicketView] = None
    error: Optional[str] = None
    phone_problem: Optional[str] = None


StatusError = Literal[
    "invalid_code",  # not shaped like WG-XXXXXXXX
    "needs_digits",  # not the reporter: give the last four (also when no ticket has the code)
    "invalid_digits",  # not four digits
    "mismatch",  # wrong digits, no such ticket, or a ticket without a contact
    "locked",  # too many failures on this code today
    "rate_limited",  # too many failures from this sender this hour
    "unavailable",
]


@dataclass(frozen=True)
class StatusResult:
    ok: bool
    code: Optional[str] = None
    ticket: Optional[TicketView] = None
    #: "reporter" or "digits" when ok.
    level: Optional[str] = None
    error: Optional[StatusError] = None


@dataclass(frozen=True)
class AdvanceResult:
    """`ok` with the ticket after the change and the notice written for the citizen, or
    `error`: not_found, closed (already at the last stage), not_next (the stage asked for is
    not the next one), unknown_stage, unavailable."""

    ok: bool
    ticket: Optional[TicketView] = None
    from_stage: Optional[str] = None
    notice: Optional[NoticeView] = None
    error: Optional[str] = None


class GridRepository:
    """Grid ticket operations over one engine (default: the booking store's)."""

    def __init__(self, engine: Optional[Engine] = None, kb: Optional[GridKB] = None) -> None:
        self._engine = engine if engine is not None else get_engine()
        self.kb = kb or get_grid_kb()

    # --- connections ---

    @staticmethod
    def _fail(exc: SQLAlchemyError) -> GridUnavailable:
        log.warning("grid database unavailable: %s", exc.__class__.__name__)
        return GridUnavailable(exc.__class__.__name__)

    def _read(self) -> ContextManager[Connection]:
        return read_connection(self._engine, self._fail)

    def _write(self) -> ContextManager[Connection]:
        """IntegrityError passes unchanged: file() retries a code collision on it."""
        return write_transaction(self._engine, self._fail, keep=(IntegrityError,))

    # --- views ---

    @staticmethod
    def _view(row: Any) -> TicketView:
        return TicketView(
            code=row["code"],
            category=row["category"],
            platform=row["platform"],
            stage=row["stage"],
            place=row["place"],
            description=row["description"],
            occurred_at=_aware(row["occurred_at"]),
            urgent=row["urgent"],
            contact_masked=row["contact_masked"],
            language=row["language"],
            channel=row["channel"],
            created_at=_aware(row["created_at"]),
            updated_at=_aware(row["updated_at"]),
        )

    def _event(
        self,
        conn: Connection,
        ticket_id: int,
        action: str,
        actor: str,
        at: datetime,
        from_stage: Optional[str] = None,
        to_stage: Optional[str] = None,
        note: Optional[str] = None,
    ) -> None:
        conn.execute(
            _events.insert().values(
                ticket_id=ticket_id,
                action=action,
                from_stage=from_stage,
                to_stage=to_stage,
                actor=(actor or "unknown")[:128],
                note=mask_text(note)[:MAX_NOTE_CHARS] if note else None,
                at=at,
            )
        )

    def _notice(self, conn: Connection, row: Any, stage: str, at: datetime) -> NoticeView:
        result = conn.execute(
            _notices.insert().values(
                ticket_id=row["id"],
                stage=stage,
                channel=row["channel"],
                sender_id=row["sender_id"],
                created_at=at,
            )
        )
        return NoticeView(
            id=int(result.inserted_primary_key[0]),
            code=row["code"],
            stage=stage,
            platform=row["platform"],
            language=row["language"],
            channel=row["channel"],
            sender_id=row["sender_id"],
        )

    @staticmethod
    def _by_code(conn: Connection, code: str) -> Optional[Mapping[str, Any]]:
        """The ticket row with this (normalized) code, or None."""
        return conn.execute(select(_tickets).where(_tickets.c.code == code)).mappings().first()

    @staticmethod
    def _by_id(conn: Connection, ticket_id: int) -> Mapping[str, Any]:
        """The ticket row just written or changed in this transaction (it exists)."""
        return conn.execute(select(_tickets).where(_tickets.c.id == ticket_id)).mappings().one()

    @staticmethod
    def _new_code() -> str:
        return f"{TICKET_PREFIX}-" + "".join(
            secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)
        )

    # --- filing ---

    def file(
        self,
        *,
        category: str,
        place: str,
        description: str,
        occurred_at: datetime,
        channel: str,
        sender_id: str,
        contact_phone: Optional[str] = None,
        urgent: Optional[str] = None,
        language: str = "zh",
        at: Optional[datetime] = None,
    ) -> FileResult:
        """Write a new ticket at the first stage, with its 'filed' event. The category must
        be one of data/kb/grid.yml (the caller classified the text); the platform follows."""
        if category not in self.kb.categories:
            raise ValueError(f"unknown grid category {category!r}")
        place_text = mask_text((place or "").strip())[:MAX_PLACE_CHARS]
        text = mask_text((description or "").strip())[:MAX_DESCRIPTION_CHARS]
        if not place_text or not text:
            return FileResult(False, error="empty")
        sealed = masked = last4 = None
        if contact_phone:
            check = check_phone(contact_phone)
            if not check.ok or check.value is None:
                return FileResult(False, error="invalid_phone", phone_problem=check.code)
            sealed, masked, last4 = seal(check.value), mask_phone(check.value), check.value[-4:]
        stamp = at or _now()
        platform = self.kb.categories[category].platform
        first = self.kb.stage_ids[0]
        for _ in range(_MAX_ATTEMPTS):
            code = self._new_code()
            values = dict(
                code=code,
                category=category,
                platform=platform,
                stage=first,
                place=place_text,
                description=text,
                occurred_at=occurred_at,
                urgent=urgent,
                contact_sealed=sealed,
                contact_masked=masked,
                contact_last4=last4,
                language=(language or "zh")[:8],
                channel=(channel or "unknown")[:32],
                sender_id=(sender_id or "")[:128],
                created_at=stamp,
                updated_at=stamp,
            )
            try:
                with self._write() as conn:
                    ticket_id = int(
                        conn.execute(_tickets.insert().values(**values)).inserted_primary_key[0]
                    )
                    self._event(
                        conn, ticket_id, "filed", f"citizen:{values['channel']}", stamp, None, first
                    )
                    row = self._by_id(conn, ticket_id)
                    return FileResult(True, ticket=self._view(row))
            except IntegrityError:
                continue  # a code collision: draw another
            except GridUnavailable:
                return FileResult(False, error="unavailable")
        return FileResult(False, error="unavailable")

    # --- status for citizens ---

    def _failures_since(self, conn: Connection, where: Any) -> int:
        return int(
            conn.execute(select(func.count()).select_from(_failures).where(where)).scalar() or 0
        )

    def _locked(self, conn: Connection, code: str, at: datetime) -> bool:
        since = at - CODE_FAILURE_WINDOW
        return (
            self._failures_since(conn, and_(_failures.c.code == code, _failures.c.at > since))
            >= CODE_FAILURE_LIMIT
        )

    def _limited(self, conn: Connection, sender_id: str, at: datetime) -> bool:
        since = at - SENDER_FAILURE_WINDOW
        where = and_(_failures.c.sender_id == sender_id, _failures.c.at > since)
        return self._failures_since(conn, where) >= SENDER_FAILURE_LIMIT

    def status(
        self,
        code: str,
        *,
        sender_id: str,
        channel: str,
        last4: Optional[str] = None,
        at: Optional[datetime] = None,
    ) -> StatusResult:
        """The ticket for its reporter; for anyone else only with the right last four digits
        of the contact phone. Never raises (an outage is error='unavailable')."""
        normalized = normalize_ticket_code(code or "")
        if normalized is None:
            return StatusResult(False, error="invalid_code")
        sender_id = (sender_id or "")[:128]
        channel = (channel or "unknown")[:32]
        stamp = at or _now()
        try:
            with self._write() as conn:
                row = self._by_code(conn, normalized)
                if (
                    row is not None
                    and sender_id
                    and row["sender_id"] == sender_id
                    and row["channel"] == channel
                ):
                    return StatusResult(True, normalized, self._view(row), level="reporter")
                if self._locked(conn, normalized, stamp):
                    return StatusResult(False, normalized, error="locked")
                if not sender_id or self._limited(conn, sender_id, stamp):
                    return StatusResult(False, normalized, error="rate_limited")
                if last4 is None:
                    return StatusResult(False, normalized, error="needs_digits")
                digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", last4))
                if len(digits) != 4:
                    return StatusResult(False, normalized, error="invalid_digits")
                stored = (row["contact_last4"] if row is not None else None) or "\0\0\0\0"
                if hmac.compare_digest(stored, digits) and row is not None:
                    self._event(conn, row["id"], "status_checked", sender_id, stamp, note=channel)
                    return StatusResult(True, normalized, self._view(row), level="digits")
                conn.execute(
                    _failures.insert().values(code=normalized, sender_id=sender_id, at=stamp)
                )
                if self._locked(conn, normalized, stamp):
                    return StatusResult(False, normalized, error="locked")
                if self._limited(conn, sender_id, stamp):
                    return StatusResult(False, normalized, error="rate_limited")
                return StatusResult(False, normalized, error="mismatch")
        except (GridUnavailable, IntegrityError):
            return StatusResult(False, normalized, error="unavailable")

    # --- staff ---

    def get(self, code: str) -> Optional[TicketView]:
        """A ticket for staff (masked); raises GridUnavailable when the store is down."""
        normalized = normalize_ticket_code(code or "")
        if normalized is None:
            return None
        with self._read() as conn:
            row = self._by_code(conn, normalized)
        return self._view(row) if row is not None else None

    def tickets(self, stage: Optional[str] = None, limit: int = 100) -> list[TicketView]:
        """Tickets, newest first, optionally at one stage (staff)."""
        query = select(_tickets).order_by(_tickets.c.created_at.desc(), _tickets.c.id.desc())
        if stage:
            query = query.where(_tickets.c.stage == stage)
        with self._read() as conn:
            rows = conn.execute(query.limit(max(1, min(limit, 500)))).mappings().all()
        return [self._view(r) for r in rows]

    def advance(
        self,
        code: str,
        *,
        actor: str,
        to_stage: Optional[str] = None,
        note: Optional[str] = None,
        at: Optional[datetime] = None,
    ) -> AdvanceResult:
        """Move a ticket to its next stage (受理 → 分流交办 → 处置 → 核实反馈), write the audit
        event and a notice for the citizen, in one transaction. `to_stage`, when given, must
        be that next stage: two staff members clicking at once cannot skip a stage."""
        normalized = normalize_ticket_code(code or "")
        if normalized is None:
            return AdvanceResult(False, error="not_found")
        if to_stage is not None and to_stage not in self.kb.stage_ids:
            return AdvanceResult(False, error="unknown_stage")
        stamp = at or _now()
        try:
            with self._write() as conn:
                row = self._by_code(conn, normalized)
                if row is None:
                    return AdvanceResult(False, error="not_found")
                current = row["stage"]
                following = self.kb.next_stage(current)
                if following is None:
                    return AdvanceResult(
                        False, ticket=self._view(row), from_stage=current, error="closed"
                    )
                if to_stage is not None and to_stage != following:
                    return AdvanceResult(
                        False, ticket=self._view(row), from_stage=current, error="not_next"
                    )
                changed = conn.execute(
                    update(_tickets)
                    .where(and_(_tickets.c.id == row["id"], _tickets.c.stage == current))
                    .values(stage=following, updated_at=stamp)
                ).rowcount
                if changed != 1:
                    return AdvanceResult(
                        False, ticket=self._view(row), from_stage=current, error="not_next"
                    )
                self._event(conn, row["id"], "advanced", actor, stamp, current, following, note)
                after = self._by_id(conn, row["id"])
                notice = self._notice(conn, after, following, stamp)
                return AdvanceResult(
                    True, ticket=self._view(after), from_stage=current, notice=notice
                )
        except (GridUnavailable, IntegrityError):
            return AdvanceResult(False, error="unavailable")

    def trail(self, code: str) -> list[dict[str, Any]]:
        """The audit events of one ticket, oldest first (staff, tests)."""
        normalized = normalize_ticket_code(code or "") or ""
        with self._read() as conn:
            rows = (
                conn.execute(
                    select(
                        _events.c.action,
                        _events.c.from_stage,
                        _events.c.to_stage,
                        _events.c.actor,
                        _events.c.note,
                        _events.c.at,
                    )
                    .select_from(_events.join(_tickets, _events.c.ticket_id == _tickets.c.id))
                    .where(_tickets.c.code == normalized)
                    .order_by(_events.c.id)
                )
                .mappings()
                .all()
            )
        return [{**dict(r), "at": _aware(r["at"])} for r in rows]

    def reveal_contact(
        self, code: str, *, actor: str, at: Optional[datetime] = None
    ) -> Optional[str]:
        """The reporter's phone in clear, for a call-back; every reveal is an audit event."""
        normalized = normalize_ticket_code(code or "")
        if normalized is None:
            return None
        with self._write() as conn:
            row = self._by_code(conn, normalized)
            if row is None or not row["contact_sealed"]:
                return None
            self._event(conn, row["id"], "contact_revealed", actor, at or _now())
            return unseal(row["contact_sealed"])

    # --- notices ---

    def _notice_query(self) -> Any:
        return select(
            _notices.c.id,
            _tickets.c.code,
            _notices.c.stage,
            _tickets.c.platform,
            _tickets.c.language,
            _notices.c.channel,
            _notices.c.sender_id,
        ).select_from(_notices.join(_tickets, _notices.c.ticket_id == _tickets.c.id))

    def undelivered(
        self, *, sender_id: Optional[str] = None, channel: Optional[str] = None
    ) -> list[NoticeView]:
        """Notices not yet delivered, oldest first; for one recipient when named."""
        query = self._notice_query().where(_notices.c.delivered_at.is_(None))
        if sender_id is not None:
            query = query.where(_notices.c.sender_id == sender_id[:128])
        if channel is not None:
            query = query.where(_notices.c.channel == channel[:32])
        with self._read() as conn:
            rows = conn.execute(query.order_by(_notices.c.id).limit(50)).mappings().all()
        return [NoticeView(**dict(r)) for r in rows]

    def take_notices(
        self, sender_id: str, channel: str, at: Optional[datetime] = None
    ) -> list[NoticeView]:
        """The recipient's undelivered notices, marked delivered (via next_message) in the
        same transaction, so two replies never show one notice twice. Asked on every REST
        message, so the common case (nothing waiting) is one read, without the write lock."""
        stamp = at or _now()
        with self._read() as conn:
            waiting = conn.execute(
                _NOTICE_WAITING,
                {"sender_id": (sender_id or "")[:128], "channel": (channel or "")[:32]},
            ).scalar()
        if not waiting:
            return []
        with self._write() as conn:
            rows = (
                conn.execute(
                    self._notice_query()
                    .where(
                        and_(
                            _notices.c.delivered_at.is_(None),
                            _notices.c.sender_id == (sender_id or "")[:128],
                            _notices.c.channel == (channel or "")[:32],
                        )
                    )
                    .order_by(_notices.c.id)
                    .limit(20)
                )
                .mappings()
                .all()
            )
            ids = [r["id"] for r in rows]
            if ids:
                conn.execute(
                    update(_notices)
                    .where(_notices.c.id.in_(ids))
                    .values(delivered_at=stamp, via="next_message")
                )
        return [NoticeView(**dict(r)) for r in rows]

    def mark_delivered(self, notice_id: int, via: str, at: Optional[datetime] = None) -> bool:
        """Record that a notice was sent (True when it had not been delivered before)."""
        with self._write() as conn:
            changed = conn.execute(
                update(_notices)
                .where(and_(_notices.c.id == notice_id, _notices.c.delivered_at.is_(None)))
                .values(delivered_at=at or _now(), via=via[:16])
            ).rowcount
            if changed:
                ticket_id = conn.execute(
                    select(_notices.c.ticket_id).where(_notices.c.id == notice_id)
                ).scalar()
                self._event(conn, int(ticket_id), "notified", via, at or _now())
        return bool(changed)
