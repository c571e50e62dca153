"""Tracker and lock stores chosen by environment variables.

`endpoints.yml` names these classes so one file serves every deployment: SQLite under var/
by default (a conversation survives a restart), PostgreSQL when TRACKER_STORE_URL says so,
and a Redis lock store when REDIS_URL is set so several Rasa replicas can share trackers.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine import make_url

from bot.privacy import mask_text
from bot.settings import get_settings


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
        self._data: Dict[str, Any] = _mask(event.as_dict())

    def as_dict(self) -> Dict[str, Any]:
        return self._data


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Stores conversations with ID numbers and mobile phones masked in every event.

    Citizens type their ID and phone into the chat for a booking; the conversation log does
    not need them (the booking table keeps a keyed hash and the phone it needs), so they are
    masked on the way into the database. The running turn still sees the clear values.
    """

    def _additional_events(self, session: Any, tracker: Any) -> Iterator[Any]:  # type: ignore[override]
        for event in super()._additional_events(session, tracker):
            yield _MaskedEvent(event)


class EnvTrackerStore:
    """Factory: `EnvTrackerStore(...)` returns a masking SQL tracker store for TRACKER_STORE_URL."""

    def __new__(  # type: ignore[misc]
        cls,
        host: Optional[str] = None,
        domain: Optional[Domain] = None,
        event_broker: Any = None,
        **kwargs: Any,
    ) -> SQLTrackerStore:
        url = get_settings().tracker_store_url
        dialect = make_url(url).get_backend_name()
        return MaskingSQLTrackerStore(domain=domain, dialect=dialect, host=url, event_broker=event_broker)


class EnvLockStore:
    """Factory: a Redis lock store when REDIS_URL is set, else an in-memory one."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:  # type: ignore[misc]
        redis_url = get_settings().redis_url
        if not redis_url:
            return InMemoryLockStore()
        url = make_url(redis_url)
        return RedisLockStore(
            host=url.host or "localhost",
            port=url.port or 6379,
            db=int(url.database or 1),
            password=url.password,
            key_prefix="crj",
        )
