"""The handoff queue: the only code that reads or changes handoff cases and their messages.

Why a repository like bot.booking's (same engine, same write lock, one transaction per
change): the action server opens cases, the Rasa server relays the citizen's messages and
the guide console changes cases, in different processes, and they must agree on the order
of the queue and on which staff reply was delivered by which path, exactly once.

Access rules, all decided here from the tables:
- a citizen's case is found by (sender_id, channel) of the conversation, which only the
  channel sets; the web chat's poll needs the case token given when the case was opened
  (stored hashed), so a guessed sender id reads nothing;
- staff may take a waiting case; only the staff session that took it may reply or close;
- a new case is refused when its client (bot.inputs.client_key, stamped by the channel on
  the server) opened HANDOFF_CASES_PER_CLIENT cases in the last hour, or when
  HANDOFF_MAX_WAITING cases already wait: checked in the write transaction that inserts, so
  parallel requests cannot outrun it. The conversation's own open case is always found.

Every text is masked (bot.privacy.mask_text) before it is stored. Nothing here is worded for
a citizen: messages carry a kind (text, taken, closed) and the callers pick the response.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ContextManager, Dict, List, Literal, Mapping, Optional, Sequence

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy import text as sql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import get_engine, read_connection, write_transaction
from bot.handoff import config
from bot.handoff.models import (
    CASE_CLOSED,
    CASE_TAKEN,
    CASE_WAITING,
    HandoffCase,
    HandoffMessage,
)
from bot.privacy import mask_text

__all__ = [
    "HandoffQueue",
    "HandoffUnavailable",
    "OpenedCase",
    "Refusal",
    "CaseState",
    "Outgoing",
    "CaseView",
    "StaffResult",
    "hash_token",
    "MAX_STAFF_TEXT",
    "WECHAT_WINDOW",
    "WECHAT_QUOTA",
]

log = logging.getLogger(__name__)

_cases = HandoffCase.__table__
_messages = HandoffMessage.__table__

OPEN_STATUSES = (CASE_WAITING, CASE_TAKEN)

_conversation = and_(
    _cases.c.sender_id == bindparam("sender_id"), _cases.c.channel == bindparam("channel")
)
#: Asked on every turn of every channel: an open case, or a staff message not yet delivered
#: (also of a case closed since)? Built once, with bound parameters: most turns have
#: neither, and building the statements anew was most of the cost of asking (py-spy on the
#: live server, 2026-12-02).
_ANYTHING_PENDING = select(
    or_(
        exists().where(_conversation, _cases.c.status.in_(OPEN_STATUSES)),
        exists().where(
            _messages.c.case_id.in_(select(_cases.c.id).where(_conversation)),
            _messages.c.author != "citizen",
            _messages.c.delivered_at.is_(None),
        ),
    )
)
#: Longest staff reply kept (WeChat's customer-service text is 2048 bytes, CJK 3 bytes each).
MAX_STAFF_TEXT = 600
#: Longest citizen message added to a case.
MAX_CITIZEN_TEXT = 2000
#: WeChat's customer-service window after the citizen's last message, and its quota.
WECHAT_WINDOW = timedelta(hours=48)
WECHAT_QUOTA = 5

StaffCode = Literal["ok", "not_found", "not_waiting", "not_yours", "closed", "empty"]
#: pg_advisory_xact_lock key taken while a case is opened (bot.booking.access uses 4202-3).
_OPEN_LOCK_KEY = 4_204_001
#: Why no case was opened: the client's hourly cap, or the queue's.
Refusal = Literal["client_limit", "queue_full"]


class HandoffUnavailable(RuntimeError):
    """The queue's database cannot be reached; the chat falls back to the phone numbers."""


def hash_token(token: str) -> str:
    """The stored form of a case token (SHA-256 hex): a 256-bit random token needs no salt."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(value: Optional[datetime]) -> Optional[datetime]:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _now(now: Optional[datetime]) -> datetime:
    return _utc(now) or datetime.now(timezone.utc)


@dataclass(frozen=True)
class OpenedCase:
    case_id: int
    #: 1 = next to be served
    position: int
    #: The new case's token for the web chat's poll; None when a case was already open.
    token: Optional[str]
    created: bool
    priority: bool
    #: Set when no case was opened (case_id 0): the caller words the refusal.
    refused: Optional[Refusal] = None


@dataclass(frozen=True)
class Outgoing:
    """A message for the citizen: kind text (a staff reply), taken or closed."""

    id: int
    kind: str
    text: str


@dataclass(frozen=True)
class CaseState:
    """The citizen's open case, if any, and the messages waiting for them."""

    case_id: Optional[int]
    status: Optional[str]
    position: int
    language: str
    pending: List[Outgoing] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.case_id is not None


@dataclass(frozen=True)
class CaseView:
    """A case as the staff console shows it (everything masked)."""

    id: int
    status: str
    priority: bool
    emergency: Optional[str]
    reason: str
    topic: Optional[str]
    channel: str
    language: str
    summary: Dict[str, Any]
    created_at: datetime
    taken_at: Optional[datetime]
    closed_at: Optional[datetime]
    taken_by_me: bool
    position: int
    messages: List[Dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StaffResult:
    code: StaffCode
    message_id: Optional[int] = None
    #: For WeChat cases: the channel's sender id (openid) and whether the API may be used.
    channel: Optional[str] = None
    sender_id: Optional[str] = None
    wechat_allowed: bool = False
    language: str = "zh"


class HandoffQueue:
    """Cases and messages; engine from DATABASE_URL unless one is given."""

    def __init__(
        self,
        engine: Optional[Engine] = None,
        *,
        cases_per_client: Optional[int] = None,
        max_waiting: Optional[int] = None,
    ) -> None:
        self._engine = engine if engine is not None else get_engine()
        self._per_client = cases_per_client or config.cases_per_client()
        self._max_waiting = max_waiting or config.max_waiting()

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _fail(exc: SQLAlchemyError) -> HandoffUnavailable:
        log.warning("handoff queue unavailable: %s", exc.__class__.__name__)
        return HandoffUnavailable(exc.__class__.__name__)

    def _read(self) -> ContextManager[Connection]:
        return read_connection(self._engine, self._fail)

    def _write(self) -> ContextManager[Connection]:
        return write_transaction(self._engine, self._fail)

    @staticmethod
    def _open_case(conn: Connection, sender_id: str, channel: str) -> Optional[Mapping[str, Any]]:
        return (
            conn.execute(
                select(_cases)
                .where(
                    and_(
                        _cases.c.sender_id == sender_id,
                        _cases.c.channel == channel,
                        _cases.c.status.in_(OPEN_STATUSES),
                    )
                )
                .order_by(_cases.c.id.desc())
            )
            .mappings()
            .first()
        )

    @staticmethod
    def _position(conn: Connection, case: Mapping[str, Any]) -> int:
        """1 + waiting cases served before this one (emergencies first, then by age)."""
        if case["status"] != CASE_WAITING:
            return 0
        older = or_(
            _cases.c.created_at < case["created_at"],
            and_(_cases.c.created_at == case["created_at"], _cases.c.id < case["id"]),
        )
        if case["priority"]:
            ahead = and_(_cases.c.priority.is_(True), older)
        else:
            ahead = or_(_cases.c.priority.is_(True), older)
        count = conn.execute(
            select(func.count())
            .select_from(_cases)
            .where(and_(_cases.c.status == CASE_WAITING, ahead))
        ).scalar_one()
        return int(count) + 1

    def _add_message(
        self,
        conn: Connection,
        case_id: int,
        author: str,
        kind: str,
        text: str,
        now: datetime,
        staff_name: Optional[str] = None,
    ) -> int:
        result = conn.execute(
            _messages.insert().values(
                case_id=case_id,
                author=author,
                kind=kind,
                text=mask_text(text),
                created_at=now,
                staff_name=staff_name,
            )
        )
        return int(result.inserted_primary_key[0])

    # ------------------------------------------------------------------ citizen side
    def open_case(
        self,
        *,
        sender_id: str,
        channel: str,
        reason: str,
        summary: Mapping[str, Any],
        emergency: Optional[str] = None,
        topic: Optional[str] = None,
        language: str = "zh",
        client_key: Optional[str] = None,
        now: Optional[datetime] = None,
    ) -> OpenedCase:
        """A new waiting case, or the one already open for this conversation (its position),
        or a refusal (`refused`) when the client's or the queue's cap is reached.

        The summary is masked again here, whatever the caller did: no clear number is stored.
        """
        at = _now(now)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE already does it
                # One opening at a time across processes, so the caps' counts hold.
                conn.execute(sql("SELECT pg_advisory_xact_lock(:k)"), {"k": _OPEN_LOCK_KEY})
            existing = self._open_case(conn, sender_id, channel)
            if existing is not None:
                if emergency and not existing["priority"]:
                    conn.execute(
                        update(_cases)
                        .where(_cases.c.id == existing["id"])
                        .values(priority=True, emergency=emergency)
                    )
                    existing = {**existing, "priority": True, "emergency": emergency}
                return OpenedCase(
                    int(existing["id"]),
                    self._position(conn, existing),
                    None,
                    False,
                    bool(existing["priority"]),
                )
            refused = self._refusal(conn, client_key, at)
            if refused is not None:
                log.warning("handoff case refused: %s", refused)
                return OpenedCase(0, 0, None, False, bool(emergency), refused)
            token = secrets.token_urlsafe(32)
            result = conn.execute(
                _cases.insert().values(
                    sender_id=sender_id,
                    channel=channel,
                    status=CASE_WAITING,
                    priority=bool(emergency),
                    emergency=emergency,
                    reason=reason,
                    topic=topic,
                    language=language or "zh",
                    summary=mask_summary(summary),
                    token_hash=hash_token(token),
                    created_at=at,
                    last_citizen_at=at,
                    client_key=client_key,
                )
            )
            case_id = int(result.inserted_primary_key[0])
            row = conn.execute(select(_cases).where(_cases.c.id == case_id)).mappings().one()
            return OpenedCase(case_id, self._position(conn, row), token, True, bool(emergency))

    def _refusal(
        self, conn: Connection, client_key: Optional[str], at: datetime
    ) -> Optional[Refusal]:
        """Why a new case may not be opened now, if it may not (inside the insert's lock)."""
        if client_key:
            recent = conn.execute(
                select(func.count())
                .select_from(_cases)
                .where(
                    and_(
                        _cases.c.client_key == client_key,
                        _cases.c.created_at > at - config.CLIENT_WINDOW,
                    )
                )
            ).scalar_one()
            if int(recent) >= self._per_client:
                return "client_limit"
        waiting = conn.execute(
            select(func.count()).select_from(_cases).where(_cases.c.status == CASE_WAITING)
        ).scalar_one()
        return "queue_full" if int(waiting) >= self._max_waiting else None

    def take_pending(
        self, sender_id: str, channel: str, *, via: str = "turn", now: Optional[datetime] = None
    ) -> CaseState:
        """The conversation's open case and every message not yet delivered to it (also
        those of cases closed since), marked delivered by `via` in the same transaction."""
        at = _now(now)
        case_ids = select(_cases.c.id).where(
            and_(_cases.c.sender_id == sender_id, _cases.c.channel == channel)
        )
        # Most turns have no case at all: a read, so they never queue for SQLite's write lock.
        with self._read() as conn:
            asked = {"sender_id": sender_id, "channel": channel}
            if not conn.execute(_ANYTHING_PENDING, asked).scalar():
                return CaseState(None, None, 0, "zh", [])
        with self._write() as conn:
            case = self._open_case(conn, sender_id, channel)
            pending = self._claim(conn, _messages.c.case_id.in_(case_ids), at, via)
            if case is None:
                return CaseState(None, None, 0, "zh", pending)
            return CaseState(
                int(case["id"]),
                str(case["status"]),
                self._position(conn, case),
                str(case["language"] or "zh"),
                pending,
            )

    @staticmethod
    def _claim(conn: Connection, where: Any, at: datetime, via: str) -> List[Outgoing]:
        """Undelivered messages to the citizen matching `where`, now marked delivered."""
        rows = (
            conn.execute(
                select(_messages.c.id, _messages.c.kind, _messages.c.text)
                .where(
                    and_(
                        where,
                        _messages.c.author != "citizen",
                        _messages.c.delivered_at.is_(None),
                    )
                )
                .order_by(_messages.c.id)
                .with_for_update()
            )
            .mappings()
            .all()
        )
        if not rows:
            return []
        ids = [int(r["id"]) for r in rows]
        conn.execute(
            update(_messages)
            .where(and_(_messages.c.id.in_(ids), _messages.c.delivered_at.is_(None)))
            .values(delivered_at=at, delivered_via=via)
        )
        return [Outgoing(int(r["id"]), str(r["kind"]), str(r["text"])) for r in rows]

    def add_citizen_message(self, case_id: int, text: str, now: Optional[datetime] = None) -> None:
        """The citizen's message, masked, on their case; it also re-opens WeChat's window."""
        at = _now(now)
        with self._write() as conn:
            self._add_message(conn, case_id, "citizen", "text", text[:MAX_CITIZEN_TEXT], at)
            conn.execute(update(_cases).where(_cases.c.id == case_id).values(last_citizen_at=at))

    def close_by_citizen(
        self, sender_id: str, channel: str, now: Optional[datetime] = None
    ) -> bool:
        """ "结束人工": closes the conversation's open case; False when none was open."""
        at = _now(now)
        with self._write() as conn:
            case = self._open_case(conn, sender_id, channel)
            if case is None:
                return False
            conn.execute(
                update(_cases)
                .where(_cases.c.id == case["id"])
                .values(status=CASE_CLOSED, closed_at=at, closed_by="citizen")
            )
            # whatever staff wrote meanwhile is no longer news to deliver
            conn.execute(
                update(_messages)
                .where(and_(_messages.c.case_id == case["id"], _messages.c.delivered_at.is_(None)))
                .values(delivered_at=at, delivered_via="dropped")
            )
            return True

    def poll(
        self, token: str, now: Optional[datetime] = None
    ) -> Optional[tuple[bool, str, List[Outgoing]]]:
        """The web chat's poll: (open, language, new messages) for the case of `token`, or
        None for a token that is not one of ours (the caller answers 404, nothing else)."""
        if not token or len(token) > 128 or not token.isascii():
            return None
        at = _now(now)
        with self._write() as conn:
            case = (
                conn.execute(select(_cases).where(_cases.c.token_hash == hash_token(token)))
                .mappings()
                .first()
            )
            if case is None:
                return None
            pending = self._claim(conn, _messages.c.case_id == case["id"], at, "poll")
            return case["status"] in OPEN_STATUSES, str(case["language"] or "zh"), pending

    # ------------------------------------------------------------------ staff side
    def cases(self, staff_id: str, *, include_closed: int = 10) -> List[CaseView]:
        """Waiting cases (emergencies first, then oldest), then open cases taken, then the
        latest closed ones; each with its summary but without its messages."""
        with self._read() as conn:
            rows = (
                conn.execute(
                    select(_cases)
                    .where(_cases.c.status.in_(OPEN_STATUSES))
                    .order_by(
                        (_cases.c.status == CASE_WAITING).desc(),
                        _cases.c.priority.desc(),
                        _cases.c.created_at,
                        _cases.c.id,
                    )
                )
                .mappings()
                .all()
            )
            closed = (
                conn.execute(
                    select(_cases)
                    .where(_cases.c.status == CASE_CLOSED)
                    .order_by(_cases.c.closed_at.desc(), _cases.c.id.desc())
                    .limit(include_closed)
                )
                .mappings()
                .all()
            )
            waiting = 0
            views = []
            for row in list(rows) + list(closed):
                if row["status"] == CASE_WAITING:
                    waiting += 1
                views.append(
                    self._view(row, staff_id, waiting if row["status"] == CASE_WAITING else 0)
                )
            return views

    def case(self, case_id: int, staff_id: str) -> Optional[CaseView]:
        with self._read() as conn:
            row = conn.execute(select(_cases).where(_cases.c.id == case_id)).mappings().first()
            if row is None:
                return None
            messages = (
                conn.execute(
                    select(_messages).where(_messages.c.case_id == case_id).order_by(_messages.c.id)
                )
                .mappings()
                .all()
            )
            view = self._view(row, staff_id, self._position(conn, row))
            view.messages.extend(
                {
                    "id": int(m["id"]),
                    "author": m["author"],
                    "kind": m["kind"],
                    "text": m["text"],
                    "at": _utc(m["created_at"]).isoformat(),  # type: ignore[union-attr]
                    "delivered": m["delivered_at"] is not None,
                    "delivered_via": m["delivered_via"],
                    "staff_name": m["staff_name"],
                }
                for m in messages
            )
            return view

    @staticmethod
    def _view(row: Mapping[str, Any], staff_id: str, position: int) -> CaseView:
        return CaseView(
            id=int(row["id"]),
            status=str(row["status"]),
            priority=bool(row["priority"]),
            emergency=row["emergency"],
            reason=str(row["reason"]),
            topic=row["topic"],
            channel=str(row["channel"]),
            language=str(row["language"] or "zh"),
            summary=dict(row["summary"] or {}),
            created_at=_utc(row["created_at"]),  # type: ignore[arg-type]
            taken_at=_utc(row["taken_at"]),
            closed_at=_utc(row["closed_at"]),
            taken_by_me=bool(row["taken_by"]) and row["taken_by"] == staff_id,
            position=position,
        )

    def take(
        self,
        case_id: int,
        staff_id: str,
        now: Optional[datetime] = None,
        staff_name: Optional[str] = None,
    ) -> StaffResult:
        """A waiting case becomes this staff session's; the citizen is told (kind taken).

        `staff_name` (take, reply, close): the logged-in account's display name, kept on the
        message for the case's record; None where the console has no accounts."""
        at = _now(now)
        with self._write() as conn:
            result = conn.execute(
                update(_cases)
                .where(and_(_cases.c.id == case_id, _cases.c.status == CASE_WAITING))
                .values(status=CASE_TAKEN, taken_by=staff_id, taken_at=at)
            )
            if result.rowcount != 1:
                exists = conn.execute(select(_cases.c.id).where(_cases.c.id == case_id)).first()
                return StaffResult("not_waiting" if exists else "not_found")
            message_id = self._add_message(conn, case_id, "system", "taken", "", at, staff_name)
            return self._delivery(conn, case_id, message_id, at)

    def reply(
        self,
        case_id: int,
        staff_id: str,
        text: str,
        now: Optional[datetime] = None,
        staff_name: Optional[str] = None,
    ) -> StaffResult:
        """A staff reply (masked, at most MAX_STAFF_TEXT characters) for the citizen."""
        at = _now(now)
        text = (text or "").strip()[:MAX_STAFF_TEXT]
        if not text:
            return StaffResult("empty")
        with self._write() as conn:
            code = self._mine(conn, case_id, staff_id)
            if code != "ok":
                return StaffResult(code)
            message_id = self._add_message(conn, case_id, "staff", "text", text, at, staff_name)
            return self._delivery(conn, case_id, message_id, at)

    def close_by_staff(
        self,
        case_id: int,
        staff_id: str,
        now: Optional[datetime] = None,
        staff_name: Optional[str] = None,
    ) -> StaffResult:
        """Staff close: the conversation goes back to the bot; the citizen is told."""
        at = _now(now)
        with self._write() as conn:
            code = self._mine(conn, case_id, staff_id)
            if code != "ok":
                return StaffResult(code)
            conn.execute(
                update(_cases)
                .where(_cases.c.id == case_id)
                .values(status=CASE_CLOSED, closed_at=at, closed_by="staff")
            )
            message_id = self._add_message(conn, case_id, "system", "closed", "", at, staff_name)
            return self._delivery(conn, case_id, message_id, at)

    @staticmethod
    def _mine(conn: Connection, case_id: int, staff_id: str) -> StaffCode:
        row = conn.execute(
            select(_cases.c.status, _cases.c.taken_by).where(_cases.c.id == case_id)
        ).first()
        if row is None:
            return "not_found"
        if row.status == CASE_CLOSED:
            return "closed"
        if row.status != CASE_TAKEN or row.taken_by != staff_id:
            return "not_yours"
        return "ok"

    @staticmethod
    def _delivery(conn: Connection, case_id: int, message_id: int, at: datetime) -> StaffResult:
        """Who the message goes to, and whether WeChat's API may carry it now: within 48 h
        of the citizen's last message and under the quota of messages sent since."""
        case = conn.execute(select(_cases).where(_cases.c.id == case_id)).mappings().one()
        allowed = False
        if case["channel"] == "wechat":
            last = _utc(case["last_citizen_at"]) or at
            sent = conn.execute(
                select(func.count())
                .select_from(_messages)
                .where(
                    and_(
                        _messages.c.case_id == case_id,
                        _messages.c.delivered_via == "wechat_api",
                        _messages.c.delivered_at >= last,
                    )
                )
            ).scalar_one()
            allowed = at - last < WECHAT_WINDOW and int(sent) < WECHAT_QUOTA
            if allowed:  # claimed for the API now, so a turn or poll cannot send it twice
                conn.execute(
                    update(_messages)
                    .where(_messages.c.id == message_id)
                    .values(delivered_at=at, delivered_via="wechat_api")
                )
        return StaffResult(
            "ok",
            message_id,
            str(case["channel"]),
            str(case["sender_id"]),
            allowed,
            str(case["language"] or "zh"),
        )

    def mark_delivered(
        self, message_ids: Sequence[int], via: str, now: Optional[datetime] = None
    ) -> int:
        """Marks messages delivered by `via` unless another path already did; how many."""
        if not message_ids:
            return 0
        at = _now(now)
        with self._write() as conn:
            result = conn.execute(
                update(_messages)
                .where(
                    and_(_messages.c.id.in_(list(message_ids)), _messages.c.delivered_at.is_(None))
                )
                .values(delivered_at=at, delivered_via=via)
            )
            return int(result.rowcount or 0)

    def undeliver(self, message_id: int) -> None:
        """A WeChat API send failed: the message waits for the citizen's next turn instead."""
        with self._write() as conn:
            conn.execute(
                update(_messages)
                .where(_messages.c.id == message_id)
                .values(delivered_at=None, delivered_via=None)
            )

    def message(self, message_id: int) -> Optional[Outgoing]:
        with self._read() as conn:
            row = (
                conn.execute(
                    select(_messages.c.id, _messages.c.kind, _messages.c.text).where(
                        _messages.c.id == message_id
                    )
                )
                .mappings()
                .first()
            )
            return Outgoing(int(row["id"]), str(row["kind"]), str(row["text"])) if row else None


def mask_summary(value: Any) -> Any:
    """Every string inside the summary masked (bot.privacy), numbers and structure kept."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): mask_summary(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_summary(v) for v in value]
    return value
