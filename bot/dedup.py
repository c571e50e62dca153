"""Remember which WeChat messages were already taken, so a retry is never processed twice.

WeChat waits 5 s for an answer and then re-sends the same message (same MsgId) up to three
times. Processing a retry again would, for example, book a slot twice. The first request
*claims* the message id; later requests see the claim and reuse the first result.

Two back ends behind one small interface:
- in memory, with a TTL (one process, the default for `make run` and tests);
- Redis `SET NX EX` when `REDIS_URL` is set, so replicas behind a load balancer agree.

Both also keep small per-user values with a TTL (the last numbered buttons of a WeChat user),
so a replica that did not send the buttons can still map "1" back to a payload, and the request
nonces already seen (`first_use`): a signed request replayed within its timestamp window is
refused by whichever replica it reaches.

Keys are the caller's business: WeChat message keys include the openid, because a MsgId is
only unique per user, and a reply cached under a bare MsgId would go to whoever reuses it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Optional, Protocol

from bot.settings import get_settings

logger = logging.getLogger(__name__)

# WeChat retries within ~15 s; keep claims much longer so a slow retry is still caught.
DEFAULT_TTL_SECONDS = 300
KEY_PREFIX = "crj:"


class TTLStore(Protocol):
    """A tiny key-value store with expiry; all the connector needs from Redis."""

    async def set_nx(self, key: str, value: str, ttl: int) -> bool: ...

    async def set(self, key: str, value: str, ttl: int) -> None: ...

    async def get(self, key: str) -> Optional[str]: ...

    async def delete(self, key: str) -> None: ...


class MemoryTTLStore:
    """Process-local store; bounded so a flood of message ids cannot exhaust memory.

    No lock is needed: the methods never await, so on one event loop each call is atomic.
    """

    def __init__(
        self, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._data: "OrderedDict[str, tuple[float, str]]" = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._next_sweep = 0.0

    def _purge(self, now: float) -> None:
        if now >= self._next_sweep:  # a full sweep at most every 10 s keeps calls cheap
            self._next_sweep = now + 10
            for k in [k for k, (exp, _) in self._data.items() if exp <= now]:
                del self._data[k]
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def _live(self, key: str, now: float) -> Optional[str]:
        item = self._data.get(key)
        if item is None or item[0] <= now:
            return None
        return item[1]

    async def set_nx(self, key: str, value: str, ttl: int) -> bool:
        now = self._clock()
        self._purge(now)
        if self._live(key, now) is not None:
            return False
        self._data[key] = (now + ttl, value)
        return True

    async def set(self, key: str, value: str, ttl: int) -> None:
        now = self._clock()
        self._data.pop(key, None)
        self._data[key] = (now + ttl, value)
        self._purge(now)

    async def get(self, key: str) -> Optional[str]:
        return self._live(key, self._clock())

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)


class RedisTTLStore:
    """Shared store for several replicas; the client is created on first use, never at import."""

    def __init__(self, url: str) -> None:
        self._url = url
        # redis-py 4.6 ships no type information; the client is Any to mypy.
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis  # only a deployment with REDIS_URL needs it

            self._client = aioredis.Redis.from_url(self._url, decode_responses=True)
        return self._client

    async def set_nx(self, key: str, value: str, ttl: int) -> bool:
        return bool(await self._redis().set(KEY_PREFIX + key, value, nx=True, ex=ttl))

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self._redis().set(KEY_PREFIX + key, value, ex=ttl)

    async def get(self, key: str) -> Optional[str]:
        return await self._redis().get(KEY_PREFIX + key)

    async def delete(self, key: str) -> None:
        await self._redis().delete(KEY_PREFIX + key)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class Deduplicator:
    """Claims message ids and shares the first result with retries."""

    def __init__(self, store: TTLStore, ttl: int = DEFAULT_TTL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl

    async def claim(self, msg_key: str) -> bool:
        """True for the first request with this key; False for every retry within the TTL."""
        return await self.store.set_nx(f"dedup:{msg_key}", "claimed", self.ttl)

    async def put_result(self, msg_key: str, value: str) -> None:
        await self.store.set(f"dedup-result:{msg_key}", value, self.ttl)

    async def get_result(self, msg_key: str) -> Optional[str]:
        return await self.store.get(f"dedup-result:{msg_key}")

    async def first_use(self, key: str, ttl: int, fingerprint: Optional[str] = None) -> bool:
        """True the first time `key` (e.g. a request nonce) is seen within `ttl` s, and for an
        exact re-send of that first request (same `fingerprint`); False for anything else.

        Separate from `claim`: a nonce belongs to one HTTP request, a claim to one message.
        An identical re-send is let through so that a transport retry reaches the claim, which
        answers it with the first result; a different body under a used nonce is a replay.
        """
        if await self.store.set_nx(f"once:{key}", fingerprint or "used", ttl):
            return True
        return fingerprint is not None and await self.store.get(f"once:{key}") == fingerprint


def make_store(redis_url: Optional[str]) -> TTLStore:
    """Redis when a URL is configured, else memory."""
    if redis_url:
        return RedisTTLStore(redis_url)
    return MemoryTTLStore()


def get_deduplicator() -> Deduplicator:
    """A deduplicator following the settings (REDIS_URL); callers keep the instance."""
    return Deduplicator(make_store(get_settings().redis_url))
