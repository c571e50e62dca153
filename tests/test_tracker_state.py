"""bot.tracker_state against stock Rasa on generated conversations.

The patched `copy()` and `applied_events()` must give exactly what stock Rasa gives for
any sequence of events a conversation can hold: forms that start, get rejected and end,
fallbacks that revert a user turn, undone actions, restarts and new sessions.
"""

from __future__ import annotations

from typing import Any, List

from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.tracker_state import cached_applied_events, structural_copy

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet", "inform"],
        "slots": {
            "city": {"type": "text", "mappings": [{"type": "custom"}]},
            "count": {"type": "float", "mappings": [{"type": "custom"}]},
            "items": {"type": "list", "mappings": [{"type": "custom"}]},
        },
        "forms": {
            "booking_form": {"required_slots": ["city"]},
            "other_form": {"required_slots": ["count"]},
        },
        "actions": ["action_x"],
        "responses": {"utter_hi": [{"text": "hi"}]},
    }
)

STOCK_COPY = DialogueStateTracker.copy
STOCK_APPLIED = DialogueStateTracker.applied_events

ACTIONS = ["action_listen", "utter_hi", "action_x", "booking_form", "other_form"]


def _event(kind: int, pick: int) -> Event:
    """One event of a conversation; `pick` chooses the names and values."""
    makers: List[Any] = [
        lambda: UserUttered("hallo", {"name": ["greet", "inform"][pick % 2], "confidence": 1.0}),
        lambda: ActionExecuted(ACTIONS[pick % len(ACTIONS)]),
        lambda: ActionExecuted(ACTIONS[pick % len(ACTIONS)]),
        lambda: ActiveLoop([None, "booking_form", "other_form"][pick % 3]),
        lambda: SlotSet(
            ["city", "count", "items", "requested_slot"][pick % 4],
            [None, "杭州", 2.0, ["a"]][pick % 4],
        ),
        lambda: ActionExecutionRejected(["booking_form", "other_form"][pick % 2]),
        lambda: UserUtteranceReverted(),
        lambda: ActionReverted(),
        lambda: BotUttered("hi"),
        lambda: FollowupAction("action_x"),
        lambda: [ConversationPaused(), ConversationResumed()][pick % 2],
        lambda: [SessionStarted(), Restarted()][pick % 2],
    ]
    return makers[kind % len(makers)]()


conversations = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 11)), max_size=120)


def _state(tracker: DialogueStateTracker) -> Any:
    slots = {name: (slot.value, slot.has_been_set) for name, slot in tracker.slots.items()}
    return (
        tracker.current_state(EventVerbosity.ALL),
        slots,
        tracker.followup_action,
        tracker.is_paused(),
        tracker.latest_message,
        tracker.latest_bot_utterance,
        tracker.active_loop,
    )


@settings(max_examples=150, deadline=None)
@given(conversations)
def test_applied_events_match_stock_after_every_event(steps):
    tracker = DialogueStateTracker.from_events("t", [], slots=DOMAIN.slots)
    for kind, pick in steps:
        tracker.update(_event(kind, pick), DOMAIN)
        cached = cached_applied_events(tracker)
        stock = STOCK_APPLIED(tracker)
        assert [id(e) for e in cached] == [id(e) for e in stock]


@settings(max_examples=150, deadline=None)
@given(conversations, st.integers(0, 120))
def test_copy_matches_stock_and_is_independent(steps, check_at):
    tracker = DialogueStateTracker.from_events("t", [], slots=DOMAIN.slots)
    for index, (kind, pick) in enumerate(steps):
        tracker.update(_event(kind, pick), DOMAIN)
        if index == check_at:
            cached_applied_events(tracker)  # the copy takes the cache along
    before = _state(tracker)
    copied, stock = structural_copy(tracker), STOCK_COPY(tracker)
    assert _state(copied) == _state(stock) == before
    assert [id(e) for e in cached_applied_events(copied)] == [id(e) for e in STOCK_APPLIED(stock)]

    for event in (
        SlotSet("city", "宁波"),
        ActionExecutionRejected("booking_form"),
        ActionExecuted("utter_hi"),
        ActiveLoop("other_form"),
        ActionExecuted("other_form"),
        UserUttered("x", {"name": "inform", "confidence": 1.0}),
        UserUtteranceReverted(),
    ):
        copied.update(event, DOMAIN)
        stock.update(event, DOMAIN)
        assert _state(copied) == _state(stock)
        assert [id(e) for e in cached_applied_events(copied)] == [
            id(e) for e in STOCK_APPLIED(stock)
        ]
    assert _state(tracker) == before
    assert [id(e) for e in cached_applied_events(tracker)] == [
        id(e) for e in STOCK_APPLIED(tracker)
    ]


def test_a_history_capped_at_the_front_starts_the_fold_again():
    tracker = DialogueStateTracker.from_events("t", [], slots=DOMAIN.slots, max_event_history=5)
    for index in range(12):
        tracker.update(ActionExecuted(ACTIONS[index % 3]), DOMAIN)
        assert [id(e) for e in cached_applied_events(tracker)] == [
            id(e) for e in STOCK_APPLIED(tracker)
        ]


def test_the_server_uses_both(monkeypatch):
    """Installed by bot.rasa_patches, so the Rasa server copies and folds without replays."""
    from bot import rasa_patches

    monkeypatch.setattr(DialogueStateTracker, "copy", STOCK_COPY)
    monkeypatch.setattr(DialogueStateTracker, "applied_events", STOCK_APPLIED)
    rasa_patches._tracker_without_replays()
    assert DialogueStateTracker.copy is structural_copy
    assert DialogueStateTracker.applied_events is cached_applied_events
