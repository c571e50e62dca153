"""Tracker and lock stores: conversations survive restarts and keep no clear IDs or phones."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.privacy import seal, unseal
from bot.settings import get_settings
from bot.stores import EnvLockStore, EnvTrackerStore

ID = "33052119900315001X"
PHONE = "13812345678"


@pytest.fixture()
def settings_env(monkeypatch):
    def apply(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def _save_and_reload(url: str) -> tuple[DialogueStateTracker, str]:
    store = EnvTrackerStore(domain=Domain.empty())
    tracker = DialogueStateTracker("citizen-1", slots=[])
    tracker.update(
        UserUttered(f"我的身份证{ID}，电话 {PHONE}", intent={"name": "inform", "confidence": 1.0})
    )
    tracker.update(SlotSet("note", f"{ID} {PHONE}"))
    asyncio.run(store.save(tracker))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        raw = " ".join(row[0] for row in conn.execute(sa.text("SELECT data FROM events")))
    engine.dispose()
    again = EnvTrackerStore(domain=Domain.empty())
    return asyncio.run(again.retrieve("citizen-1")), raw


def _assert_masked(tracker: DialogueStateTracker, raw: str) -> None:
    assert ID not in raw and PHONE not in raw
    assert "330521********001X" in raw and "138****5678" in raw
    assert tracker is not None and "330521********001X" in tracker.latest_message.text


def test_sqlite_tracker_store_masks_personal_data(tmp_path, settings_env):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    settings_env(TRACKER_STORE_URL=url)
    _assert_masked(*_save_and_reload(url))


def test_sqlite_tracker_store_commits_without_waiting_twice_for_the_disk(tmp_path, settings_env):
    """Write-ahead log with synchronous=NORMAL: every connection of the store uses it."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    settings_env(TRACKER_STORE_URL=url)
    store = EnvTrackerStore(domain=Domain.empty())
    tracker = DialogueStateTracker("citizen-2", slots=[])
    tracker.update(UserUttered("你好", intent={"name": "greet", "confidence": 1.0}))
    asyncio.run(store.save(tracker))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    again = EnvTrackerStore(domain=Domain.empty())
    assert asyncio.run(again.retrieve("citizen-2")).latest_message.text == "你好"


def test_sqlite_tracker_store_keeps_its_connections_between_turns(tmp_path, settings_env):
    """SQLAlchemy 1.4's NullPool opened the file for every retrieve and save; a second store
    (another process, say) still sees each saved turn at once."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    settings_env(TRACKER_STORE_URL=url)
    store = EnvTrackerStore(domain=Domain.empty())
    opened: list[object] = []
    sa.event.listen(store.engine, "connect", lambda conn, _record: opened.append(conn))
    reader = EnvTrackerStore(domain=Domain.empty())

    async def turns() -> list[str]:
        seen = []
        tracker = await store.retrieve("citizen-3") or DialogueStateTracker("citizen-3", [])
        for n in range(10):
            tracker.update(UserUttered(f"第{n}句", intent={"name": "greet", "confidence": 1.0}))
            await store.save(tracker)
            tracker = await store.retrieve("citizen-3")
            other = await reader.retrieve("citizen-3")
            seen.append(other.latest_message.text)
        return seen

    assert asyncio.run(turns()) == [f"第{n}句" for n in range(10)]
    assert len(opened) <= 2


def test_postgres_tracker_store_masks_personal_data(pg_url, settings_env):
    settings_env(TRACKER_STORE_URL=pg_url)
    _assert_masked(*_save_and_reload(pg_url))


def test_lock_store_is_redis_only_when_configured(redis_url, settings_env, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    assert isinstance(EnvLockStore(), InMemoryLockStore)
    settings_env(REDIS_URL=redis_url)
    store = EnvLockStore()
    assert isinstance(store, RedisLockStore)

    import redis

    client = redis.Redis.from_url(redis_url)

    async def lock_twice() -> None:
        async with store.lock("citizen-2"):
            assert client.keys("crj*"), "the lock lives in Redis, shared by every replica"
        async with store.lock("citizen-2"):
            pass

    asyncio.run(lock_twice())
    assert not client.keys("crj*"), "released locks leave nothing behind"


def test_sealed_values_round_trip_and_reject_tampering():
    token = seal(ID)
    assert ID not in token and unseal(token) == ID
    assert unseal(token[:-3] + "abc") is None
    assert unseal(ID) is None and unseal(None) is None


def test_postgres_tracker_store_survives_its_connections_being_cut(pg_url, settings_env):
    """A PostgreSQL restart kills every pooled connection; the next turn still reads."""
    settings_env(TRACKER_STORE_URL=pg_url)
    store = EnvTrackerStore(domain=Domain.empty())
    tracker = DialogueStateTracker("citizen-cut", slots=[])
    tracker.update(UserUttered("你好", intent={"name": "greet", "confidence": 1.0}))
    asyncio.run(store.save(tracker))
    admin = sa.create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        cut = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": pg_url.rsplit("/", 1)[1]},
        ).scalar()
    admin.dispose()
    assert cut >= 1  # the store's pooled connection was among them
    again = asyncio.run(store.retrieve("citizen-cut"))
    assert again is not None and again.latest_message.text == "你好"
