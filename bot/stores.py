"""Tracker and lock stores chosen by environment variables.

`endpoints.yml` names these classes so one file serves every deployment: SQLite under var/
by default (a conversation survives a restart), PostgreSQL when TRACKER_STORE_URL says so,
and a Redis lock store when REDIS_URL is set so several Rasa replicas can share trackers.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import sqlalchemy as sa
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from bot.privacy import mask_text
from bot.redis_lock import AtomicRedisLockStore
from bot.settings import get_settings
from bot.tracker_window import IdentityMap


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


class _MaskedEvent:
    """What SQLTrackerStore.save needs of an event (type_name, as_dict), with no clear IDs."""

    def __init__(self, event: Any) -> None:
        self.type_name = event.type_name
        clear = event.as_dict()
        self._data: Dict[str, Any] = _mask(clear)
        self.masked_something = self._data != clear

    def as_dict(self) -> Dict[str, Any]:
        return self._data


@dataclass
class _Stored:
    """How much of one tracker object the database holds: its first `events`, up to `row_id`."""

    events: int
    row_id: int


def _write_ahead_log(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Stores conversations with ID numbers and mobile phones masked in every event, and
    keeps the latest trackers in memory so a turn does not re-read the whole conversation.

    Citizens type their ID and phone into the chat for a booking; the conversation log does
    not need them (the booking table keeps a keyed hash and the phone it needs), so they are
    masked on the way into the database. The running turn still sees the clear values; once
    saved, the kept tracker holds the masked events too, as a reload would.

    Stock SQLTrackerStore deserialises every event of the session on every turn, which made
    turn 300 cost ten times turn 5. Here a tracker saved by this process stays in a cache
    bounded by `cache_events` events in all. The next retrieve asks the database only for
    rows newer than the last one this process saw (another replica may have added turns)
    and applies them; a new session from elsewhere, or a tracker changed and not saved (a
    failed turn), is read again in full. The stored history is always complete.

    On SQLite (the embedded default) the file is in write-ahead-log mode with
    `synchronous=NORMAL`: a commit no longer waits for the disk twice (20 ms per turn on
    this machine), a crash of the process loses nothing committed, and readers in other
    processes do not block the writer. Only a power cut can lose the last turns, which is
    why deployments use PostgreSQL.
    """

    engine: sa.engine.Engine

    def __init__(self, *args: Any, cache_events: int = 50_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite_connections()
        else:
            self._ping_before_use()
        self._cache_events = cache_events
        self._cached: "OrderedDict[str, DialogueStateTracker]" = OrderedDict()
        self._cached_events = 0
        self._stored: "IdentityMap[DialogueStateTracker, _Stored]" = IdentityMap()

    def _pool_sqlite_connections(self) -> None:
        """Keep SQLite connections open between turns, in write-ahead-log mode.

        SQLAlchemy 1.4 gives a file database a NullPool: every retrieve and save opened the
        file, set the pragmas and closed it again, which was a third of a turn's save time
        (py-spy on the live server, 2026-12-02). Rasa's store runs its sessions on the
        event loop, and `check_same_thread=False` lets the pool hand a connection to
        whichever thread checks it out next, one at a time, as the booking store does.
        """
        url = self.engine.url
        self.engine.dispose()  # connections opened while creating the tables are closed
        self.engine = sa.create_engine(
            url,
            poolclass=QueuePool,
            pool_size=2,
            max_overflow=8,
            connect_args={"check_same_thread": False},
        )
        sqlalchemy_event.listen(self.engine, "connect", _write_ahead_log)
        self.sessionmaker = sessionmaker(bind=self.engine)

    def _ping_before_use(self) -> None:
        """Check a pooled connection before each use (a server restart left them all dead).

        Without it, the first turn after PostgreSQL came back failed once more on a stale
        connection (tests/test_replicas.py); the ping costs one round trip per checkout.
        """
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sessionmaker(bind=self.engine)

    def _additional_events(self, session: Any, tracker: Any) -> Iterator[Any]:
        for event in super()._additional_events(session, tracker):
            yield _MaskedEvent(event)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        tracker = self._cached.get(sender_id)
        stored = self._stored.get(tracker) if tracker is not None else None
        if tracker is not None and stored is not None and len(tracker.events) == stored.events:
            with self.session_scope() as session:
                rows = (
                    session.query(self.SQLEvent.id, self.SQLEvent.type_name, self.SQLEvent.data)
                    .filter(self.SQLEvent.sender_id == sender_id, self.SQLEvent.id > stored.row_id)
                    .order_by(self.SQLEvent.id)
                    .all()
                )
            if not any(row.type_name == SessionStarted.type_name for row in rows):
                for row in rows:
                    tracker.update(Event.from_parameters(json.loads(row.data)), self.domain)
                self._remember(tracker, rows[-1].id if rows else stored.row_id)
                return tracker
        return self._load(sender_id)

    def _load(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The latest session from the database, as stock SQLTrackerStore reads it."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            events = [json.loads(row.data) for row in rows]
            last_row_id = rows[-1].id if rows else 0
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        self._remember(tracker, last_row_id)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        stored = self._stored.get(tracker)
        with self.session_scope() as session:
            if stored is None:  # not read through this store: count what the database has
                masked = list(self._additional_events(session, tracker))
                first_new = len(tracker.events) - len(masked)
            else:
                first_new = stored.events
                masked = [
                    _MaskedEvent(e) for e in itertools.islice(tracker.events, first_new, None)
                ]
            rows = [self._row(tracker.sender_id, event) for event in masked]
            session.add_all(rows)
            session.flush()
            row_id = (
                rows[-1].id
                if rows
                else (stored.row_id if stored else self._last_row_id(session, tracker.sender_id))
            )
            session.commit()
        if self.event_broker is not None:
            await self._stream_new_events(
                self.event_broker,
                list(itertools.islice(tracker.events, first_new, None)),
                tracker.sender_id,
            )
        self._keep_masked(tracker, first_new, masked)
        self._remember(tracker, row_id)

    def _row(self, sender_id: str, event: "_MaskedEvent") -> Any:
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    def _last_row_id(self, session: Any, sender_id: str) -> int:
        found = (
            session.query(sa.func.max(self.SQLEvent.id))
            .filter(self.SQLEvent.sender_id == sender_id)
            .scalar()
        )
        return int(found or 0)

    @staticmethod
    def _keep_masked(
        tracker: DialogueStateTracker, first_new: int, masked: List["_MaskedEvent"]
    ) -> None:
        """Replace the saved events that held an ID or a phone by their masked form."""
        for offset, event in enumerate(masked):
            if not event.masked_something:
                continue
            index = first_new + offset
            replacement = Event.from_parameters(event.as_dict())
            if tracker.latest_message is tracker.events[index]:
                tracker.latest_message = replacement
            tracker.events[index] = replacement

    def _remember(self, tracker: DialogueStateTracker, row_id: int) -> None:
        """Keep the tracker as the database now holds it; forget the oldest beyond the bound."""
        previous = self._cached.pop(tracker.sender_id, None)
        if previous is not None:
            self._cached_events -= len(previous.events)
        self._stored.set(tracker, _Stored(len(tracker.events), row_id))
        if self._cache_events <= 0:
            return
        self._cached[tracker.sender_id] = tracker
        self._cached_events += len(tracker.events)
        while self._cached_events > self._cache_events and len(self._cached) > 1:
            _, oldest = self._cached.popitem(last=False)
            self._cached_events -= len(oldest.events)


class EnvTrackerStore:
    """Factory: `EnvTrackerStore(...)` returns a masking SQL tracker store for TRACKER_STORE_URL."""

    def __new__(
        cls,
        host: Optional[str] = None,
        domain: Optional[Domain] = None,
        event_broker: Any = None,
        **kwargs: Any,
    ) -> SQLTrackerStore:
        url = get_settings().tracker_store_url
        dialect = make_url(url).get_backend_name()
        return MaskingSQLTrackerStore(
            domain=domain,
            dialect=dialect,
            host=url,
            event_broker=event_broker,
            cache_events=get_settings().tracker_cache_events,
        )


class EnvLockStore:
    """Factory: a Redis lock store when REDIS_URL is set, else an in-memory one.

    The Redis one is bot.redis_lock.AtomicRedisLockStore: stock RedisLockStore loses or
    shares tickets when two replicas change one conversation's queue at once (#9213).
    """

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        redis_url = get_settings().redis_url
        if not redis_url:
            return InMemoryLockStore()
        url = make_url(redis_url)
        return AtomicRedisLockStore(
            host=url.host or "localhost",
            port=url.port or 6379,
            db=int(url.database or 1),
            password=url.password,
            key_prefix="crj",
        )
