"""Tracker and lock stores chosen by environment variables.

`endpoints.yml` names these classes so one file serves every deployment: SQLite under var/
by default (a conversation survives a restart), PostgreSQL when TRACKER_STORE_URL says so,
and a Redis lock store when REDIS_URL is set so several Rasa replicas can share trackers.
"""
from __future__ import annotations

from typing import Any, Optional

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine import make_url

from bot.settings import get_settings


class EnvTrackerStore:
    """Factory: `EnvTrackerStore(...)` returns an SQLTrackerStore for TRACKER_STORE_URL."""

    def __new__(  # type: ignore[misc]
        cls,
        host: Optional[str] = None,
        domain: Optional[Domain] = None,
        event_broker: Any = None,
        **kwargs: Any,
    ) -> SQLTrackerStore:
        url = get_settings().tracker_store_url
        dialect = make_url(url).get_backend_name()
        return SQLTrackerStore(domain=domain, dialect=dialect, host=url, event_broker=event_broker)


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
