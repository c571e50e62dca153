"""A tracker store outage fails the turn (busy reply) instead of starting a new conversation.

Stock Rasa wraps the tracker store in `FailSafeTrackerStore`: when PostgreSQL is down,
`retrieve` answers None and `save` writes to a process-local in-memory store. The turn then
runs on an empty conversation: a citizen in the middle of a booking form who sent the next
answer got the answer to a new conversation (seen in tests/test_replicas.py), and a save
that reached the database again would have stored a new session over the form. With
several replicas the in-memory copy is also invisible to the others.

Here both raise instead, so the turn stops before anything is predicted or stored. The
channels answer a failed turn with `utter_system_busy` (bot.channels), nothing of the turn
is stored, and the next message after the database is back goes on where the conversation
was. Installed by bot.rasa_patches.install().
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store cannot be read or written; the turn is answered busy."""


def install() -> None:
    """Make FailSafeTrackerStore's retrieve and save propagate the primary store's errors."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    original_retrieve = FailSafeTrackerStore.retrieve
    original_full = FailSafeTrackerStore.retrieve_full_tracker
    original_save = FailSafeTrackerStore.save

    async def retrieve(self: Any, sender_id: str) -> Any:
        try:
            return await self._tracker_store.retrieve(sender_id)
        except Exception as exc:
            logger.error("tracker store unavailable on retrieve: %s", type(exc).__name__)
            raise TrackerStoreUnavailable("tracker store unavailable") from exc

    async def retrieve_full_tracker(self: Any, sender_id: str) -> Any:
        try:
            return await self._tracker_store.retrieve_full_tracker(sender_id)
        except Exception as exc:
            logger.error("tracker store unavailable on retrieve: %s", type(exc).__name__)
            raise TrackerStoreUnavailable("tracker store unavailable") from exc

    async def save(self: Any, tracker: Any) -> None:
        try:
            await self._tracker_store.save(tracker)
        except Exception as exc:
            logger.error("tracker store unavailable on save: %s", type(exc).__name__)
            raise TrackerStoreUnavailable("tracker store unavailable") from exc

    retrieve.__wrapped__ = original_retrieve  # type: ignore[attr-defined]
    retrieve_full_tracker.__wrapped__ = original_full  # type: ignore[attr-defined]
    save.__wrapped__ = original_save  # type: ignore[attr-defined]
    FailSafeTrackerStore.retrieve = retrieve
    FailSafeTrackerStore.retrieve_full_tracker = retrieve_full_tracker
    FailSafeTrackerStore.save = save
