"""A Redis ticket lock that holds when one citizen's messages reach several Rasa replicas.

Rasa OSS's `RedisLockStore` keeps each conversation's ticket queue as one JSON value and
changes it by GET, change in Python, SET (RasaHQ/rasa#9213; the fix upstream is Rasa Pro
only). Two replicas that do that at the same moment overwrite each other: both draw the same
ticket number and run the same conversation at once, or one removes the other's ticket and
then deletes the lock under it, and the waiting message fails with "Could not acquire lock".

Here every change of the queue is one optimistic Redis transaction (WATCH, read, MULTI,
write, EXEC, retried when another replica wrote in between), so the queue is exactly what
Rasa's `TicketLock` would be in one process: first come, first served, one at a time, a
ticket of a dead replica expiring after its lifetime. The key itself expires with its last
ticket, so a replica killed while holding it leaves nothing behind for long.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

T = TypeVar("T")

#: Extra time the Redis key lives after its last ticket expires (milliseconds).
KEY_MARGIN_MS = 5_000


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose ticket queue changes only inside Redis transactions."""

    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Apply `change` to the stored lock (a new one if none) atomically; save or delete it."""
        key = self.key_prefix + conversation_id
        outcome: list[T] = []

        def apply(pipe: Any) -> None:
            outcome.clear()
            raw = pipe.get(key)
            lock = (
                TicketLock.from_dict(json.loads(raw)) if raw else self.create_lock(conversation_id)
            )
            outcome.append(change(lock))
            lock.remove_expired_tickets()
            pipe.multi()
            if lock.tickets:
                ttl_ms = int((max(t.expires for t in lock.tickets) - time.time()) * 1000)
                pipe.set(key, lock.dumps(), px=max(ttl_ms, 1) + KEY_MARGIN_MS)
            else:
                pipe.delete(key)

        self.red.transaction(apply, key)
        return outcome[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """A new ticket at the end of the queue; no other replica can draw the same number."""
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets (a replica that died while serving) without losing new ones."""
        if self.get_lock(conversation_id) is not None:
            self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove this ticket only; tickets drawn meanwhile by other replicas stay."""
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish this ticket; the key goes only with the queue's last ticket, in the same step."""
        self.finish_serving(conversation_id, ticket_number)

    def save_lock(self, lock: TicketLock) -> None:
        """Stock callers outside the queue changes above: keep the key's expiry too."""
        key = self.key_prefix + lock.conversation_id
        lock.remove_expired_tickets()
        if not lock.tickets:
            self.red.delete(key)
            return
        ttl_ms = int((max(t.expires for t in lock.tickets) - time.time()) * 1000)
        self.red.set(key, lock.dumps(), px=max(ttl_ms, 1) + KEY_MARGIN_MS)
