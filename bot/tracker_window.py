"""A bounded view of a conversation, so a turn costs the same at turn 500 as at turn 5.

Rasa's policies rebuild the dialogue state of every past turn (`past_states` replays the
whole event history for each policy, twice for the RulePolicy), and every call to the
action server serialises the whole tracker. Both grow with the conversation, while what
they use does not: Memoization and TED look at the last `max_history` turns, the rules
at a few turns, and the actions at the slots and the latest message.

`recent_view(tracker)` is a new tracker holding the state at the start of the window
(the slots, the active form and a paused flag, as events, so Rasa's own replays see
them) followed by the events of the last `WINDOW_USER_TURNS` user turns. The state at the
window's start comes from a shadow tracker that follows the real one `WINDOW_USER_TURNS`
turns behind, advanced by the events that left the window since the last call, so the
cost is bounded by the window, not by the history. The real tracker, and the stored
history, stay complete: only what the policies and the action server read is bounded.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Callable, Dict, Generic, List, Optional, Tuple, TypeVar

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    Event,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

# Far above what any policy or action here reads (max_history 4, rules of a few turns), so
# the view predicts exactly what the whole history predicts (tests/test_tracker_window.py).
WINDOW_USER_TURNS = 12


K = TypeVar("K")
V = TypeVar("V")


class IdentityMap(Generic[K, V]):
    """A weak map keyed by object identity: Rasa's trackers define __eq__ and so have no hash,
    which rules out weakref.WeakKeyDictionary. An entry goes when its tracker is collected."""

    def __init__(self) -> None:
        self._entries: Dict[int, Tuple["weakref.ref[K]", V]] = {}

    def get(self, key: K) -> Optional[V]:
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0]() is key else None

    def set(self, key: K, value: V) -> None:
        ident = id(key)
        self._entries[ident] = (
            weakref.ref(key, lambda _ref: self._entries.pop(ident, None)),
            value,
        )


@dataclass
class _Shadow:
    """The conversation replayed up to `position` events (the start of the window)."""

    tracker: DialogueStateTracker
    position: int


_shadows: "IdentityMap[DialogueStateTracker, _Shadow]" = IdentityMap()


def window_start(events: List[Event], user_turns: int = WINDOW_USER_TURNS) -> int:
    """Index of the `action_listen` before the `user_turns`-th last user message (0 if the
    conversation is shorter), so the view starts at a turn boundary, as a conversation does."""
    seen = 0
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            seen += 1
            if seen == user_turns:
                before = events[index - 1] if index > 0 else None
                if isinstance(before, ActionExecuted) and before.action_name == ACTION_LISTEN_NAME:
                    return index - 1
                return index
    return 0


def _state_events(shadow: DialogueStateTracker) -> List[Event]:
    """Events that rebuild the shadow's state on a fresh tracker (what a replay needs)."""
    events: List[Event] = [
        SlotSet(name, slot.value)
        for name, slot in shadow.slots.items()
        if slot.value != slot.initial_value
    ]
    if shadow.active_loop_name:
        events.append(ActiveLoop(shadow.active_loop_name))
    if shadow.is_paused():
        events.append(ConversationPaused())
    return events


def _shadow_at(
    tracker: DialogueStateTracker, events: List[Event], start: int
) -> DialogueStateTracker:
    """The tracker's state after `events[:start]`, advanced from the last call's shadow."""
    shadow = _shadows.get(tracker)
    if shadow is None or shadow.position > start:
        shadow = _Shadow(tracker.init_copy(), 0)
        _shadows.set(tracker, shadow)
    for event in itertools.islice(events, shadow.position, start):
        shadow.tracker.update(event)
    shadow.position = start
    return shadow.tracker


def hand_shadow_over(
    original: DialogueStateTracker,
    copy: DialogueStateTracker,
    copier: Callable[[DialogueStateTracker], DialogueStateTracker],
) -> None:
    """Give `copy` (a copy of `original`, sharing its events) its own copy of the original's
    shadow. Rasa copies the tracker before every action (MessageProcessor._run_action), and
    without this the action server's view of each copy replayed the whole conversation up to
    the window: 18 ms per action call at turn 400 (profiled 2026-12-02)."""
    shadow = _shadows.get(original)
    if shadow is not None:
        _shadows.set(copy, _Shadow(copier(shadow.tracker), shadow.position))


def recent_view(
    tracker: DialogueStateTracker, user_turns: int = WINDOW_USER_TURNS
) -> DialogueStateTracker:
    """The tracker itself when it is short, else its state plus its last `user_turns` turns."""
    events = list(tracker.events)
    start = window_start(events, user_turns)
    if start == 0:
        return tracker
    shadow = _shadow_at(tracker, events, start)
    view = tracker.init_copy()
    for event in _state_events(shadow) + events[start:]:
        view.update(event)
    return view
