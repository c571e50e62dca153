"""A tracker's copy and its applied events without replaying the whole conversation.

Stock Rasa 3.6 rebuilds state from the full event list in two places that run on every
turn, so a turn gets slower as the conversation grows:

- `DialogueStateTracker.copy()` replays every event into a new tracker. The processor
  copies the tracker before each action (`MessageProcessor._run_action`), and every
  `UserUtteranceReverted` in the history (a fallback) replays the history again inside
  that replay, so the copy grows with turns × fallbacks.
- `DialogueStateTracker.applied_events()` folds over every event; the processor calls it
  to check the session, and `get_last_event_for` calls it per lookup.

`structural_copy` copies the state the replay would produce (slots, form, latest
messages and action, follow-up action, paused flag) and shares the event objects, as the
replay does. `cached_applied_events` keeps the fold's result per tracker and folds only
the events appended since, which is exact because the fold reads each event once, left to
right; the one input that looks ahead, the set of form names in the whole history, is
checked, and a new form name starts the fold again from the first event. Both are
compared with stock Rasa on generated conversations in tests/test_tracker_state.py.
"""

from __future__ import annotations

import copy as copy_module
from collections import deque
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional

from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_window import IdentityMap, hand_shadow_over


def structural_copy(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """The tracker `tracker.copy()` returns, built from its state instead of a replay.

    Like the replay, the copy starts from `init_copy()` (so it has no model or assistant
    id), shares the event and message objects, and owns its slots and form state, so
    updating the copy never changes the original.
    """
    new = tracker.init_copy()
    new.events = deque(tracker.events, maxlen=tracker.events.maxlen)
    for name, slot in tracker.slots.items():
        target = new.slots.get(name)
        if target is not None:
            target._value = slot._value
            target._has_been_set = slot._has_been_set
    new._paused = tracker._paused
    new.followup_action = tracker.followup_action
    new.latest_action = dict(tracker.latest_action) if tracker.latest_action else {}
    new.latest_message = tracker.latest_message
    new.latest_bot_utterance = tracker.latest_bot_utterance
    new.active_loop = copy_module.copy(tracker.active_loop)
    state = _cache.get(tracker)
    if state is not None:
        _cache.set(new, state.clone())
    hand_shadow_over(tracker, new, structural_copy)
    return new


@dataclass
class _Fold:
    """The applied events of the first `count` events, and the form names they contain."""

    count: int
    first: Optional[Event]
    last: Optional[Event]
    loop_names: FrozenSet[str]
    applied: List[Event] = field(default_factory=list)

    def clone(self) -> "_Fold":
        return _Fold(self.count, self.first, self.last, self.loop_names, list(self.applied))


_cache: IdentityMap[DialogueStateTracker, _Fold] = IdentityMap()


def _loop_names(events: List[Event]) -> FrozenSet[str]:
    return frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)


def cached_applied_events(tracker: DialogueStateTracker) -> List[Event]:
    """`tracker.applied_events()`, folding only the events added since the last call.

    The cache is dropped when the events are not the cached ones plus new ones at the end
    (a tracker whose history was rebuilt, or one capped by `max_event_history`), or when
    a new event names a form that the earlier events did not.
    """
    events = tracker.events
    count = len(events)
    state = _cache.get(tracker)
    if state is not None and not (
        state.count <= count
        and (
            state.count == 0 or (events[0] is state.first and events[state.count - 1] is state.last)
        )
    ):
        state = None
    if state is not None and state.count == count:
        return list(state.applied)
    new_events = list(events)[state.count :] if state is not None else list(events)
    if state is None or not _loop_names(new_events) <= state.loop_names:
        state = _Fold(0, None, None, _loop_names(list(events)))
        new_events = list(events)
    applied = state.applied
    for event in new_events:
        applied = _fold_step(tracker, applied, event, state.loop_names)
    _cache.set(
        tracker,
        _Fold(
            count,
            events[0] if count else None,
            events[-1] if count else None,
            state.loop_names,
            applied,
        ),
    )
    return list(applied)


def _fold_step(
    tracker: DialogueStateTracker, applied: List[Event], event: Event, loop_names: FrozenSet[str]
) -> List[Event]:
    """One step of stock `DialogueStateTracker.applied_events` (Rasa 3.6.21), in its order.

    It uses Rasa's own helpers for each case, so only the dispatch is written here; the
    equality with stock Rasa is tested on generated conversations.
    """
    if isinstance(event, (Restarted, SessionStarted)):
        return []
    if isinstance(event, ActionReverted):
        tracker._undo_till_previous(ActionExecuted, applied)
    elif isinstance(event, UserUtteranceReverted):
        tracker._undo_till_previous(UserUttered, applied)
        tracker._undo_till_previous(ActionExecuted, applied)
    elif (
        isinstance(event, ActionExecuted)
        and event.action_name in loop_names
        and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
    ):
        tracker._undo_till_previous_loop_execution(event.action_name, applied)
    else:
        applied.append(event)
    return applied
