"""The Redis ticket lock holds across replicas: one conversation, one turn at a time.

Each thread below has its own lock store and Redis connection, as each Rasa replica has.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Type

import pytest
import redis
from rasa.core.lock_store import RedisLockStore

from bot.redis_lock import AtomicRedisLockStore

REPLICAS = 4
TURNS_EACH = 6


def _store(url: str, cls: Type[RedisLockStore] = AtomicRedisLockStore) -> RedisLockStore:
    client = redis.Redis.from_url(url)
    kwargs = client.connection_pool.connection_kwargs
    client.close()
    return cls(host=kwargs["host"], port=kwargs["port"], db=kwargs["db"], key_prefix="crjtest")


def _hammer(url: str, conversation: str) -> tuple[list[tuple[str, float, float]], list[str]]:
    """REPLICAS threads each take the lock TURNS_EACH times; returns (held spans, errors)."""
    spans: list[tuple[str, float, float]] = []
    errors: list[str] = []
    start = threading.Barrier(REPLICAS)

    def replica(name: str) -> None:
        store = _store(url)

        async def turns() -> None:
            for turn in range(TURNS_EACH):
                try:
                    async with store.lock(conversation, wait_time_in_seconds=0.005):
                        entered = time.monotonic()
                        await asyncio.sleep(0.005)
                        spans.append((f"{name}-{turn}", entered, time.monotonic()))
                except Exception as exc:  # noqa: BLE001 - every failure is a finding here
                    errors.append(f"{name}-{turn}: {exc}")

        start.wait(timeout=30)
        asyncio.run(turns())

    threads = [threading.Thread(target=replica, args=(f"r{i}",)) for i in range(REPLICAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return spans, errors


def test_concurrent_replicas_never_hold_one_conversation_at_once(redis_url: str) -> None:
    spans, errors = _hammer(redis_url, "citizen-shared")
    assert errors == []
    assert len(spans) == REPLICAS * TURNS_EACH
    ordered = sorted(spans, key=lambda span: span[1])
    overlaps = [(a[0], b[0]) for a, b in zip(ordered, ordered[1:]) if b[1] < a[2]]
    assert overlaps == [], f"two replicas held the lock at once: {overlaps[:5]}"


def test_the_lock_key_goes_with_the_last_ticket_and_expires_with_a_dead_holder(
    redis_url: str,
) -> None:
    store = _store(redis_url)
    client = redis.Redis.from_url(redis_url)
    key = store.key_prefix + "citizen-gone"

    async def one_turn() -> None:
        async with store.lock("citizen-gone", lock_lifetime=30):
            assert 0 < client.pttl(key) <= 35_000

    asyncio.run(one_turn())
    assert client.exists(key) == 0

    # A replica killed while serving never cleans up: its ticket expires, and the next
    # message gets the lock instead of waiting for ever.
    store.issue_ticket("citizen-gone", lock_lifetime=0.2)
    assert client.exists(key) == 1

    async def next_turn() -> bool:
        async with store.lock("citizen-gone", wait_time_in_seconds=0.05):
            return True

    assert asyncio.run(next_turn())
    assert client.exists(key) == 0
    client.close()


def test_a_missing_redis_is_a_lock_error_not_a_hang() -> None:
    from rasa.core.lock_store import LockError

    store = AtomicRedisLockStore(host="127.0.0.1", port=1, socket_timeout=2)
    with pytest.raises(LockError):
        store.issue_ticket("anyone")
