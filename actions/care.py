"""The satisfaction follow-up (issue 14): ask once after a finished task, record the answer.

Thin: whether this conversation was already asked, and whether a rating is accepted, is
bot.care.satisfaction's decision from the database; this module only decides whether the
moment is right (a task just finished, no form running, no emergency open) and words the
replies with domain responses (domain/care.yml).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.care.models import RATINGS
from bot.care.satisfaction import SatisfactionStore
from bot.text import compact
from bot.wording import wording

__all__ = [
    "ActionAskSatisfaction",
    "ActionRecordSatisfaction",
    "ValidateSatisfactionCommentForm",
    "ActionSubmitSatisfactionComment",
    "offer_follow_up",
    "finished_topic",
    "rating_from",
]

logger = logging.getLogger(__name__)

COMMENT_SLOT = "satisfaction_comment"
COMMENT_FORM = "satisfaction_comment_form"
#: Actions that end a task, and the topic each one's task is filed under (None: the KB
#: topic or service the conversation is about).
TASK_ACTIONS: Dict[str, Optional[str]] = {
    "action_answer_kb": None,
    "action_submit_booking": "booking",
    "action_lookup_booking": "booking",
    "action_cancel_booking": "booking",
    "action_reschedule_booking": "booking",
    "action_my_bookings": "booking",
    "action_green_channel": "green_channel",
    "action_green_channel_proofs": "green_channel",
    "action_green_channel_speed": "green_channel",
    "action_emergency_answer": "green_channel",
}
#: While the comment is asked for, every message is the comment, with two exceptions the
#: citizen must not lose: an emergency (the green channel) and 转人工 (the hand-over). Those
#: are answered right after the form, by the same actions that answer them anywhere else.
#: (A question is kept as a comment too: "希望周末也能办证" reads like a question to the NLU,
#: and the thanks for the comment invites asking again.)
DIVERT = frozenset({"report_emergency", "request_human"})
#: How sure the NLU must be before a short message is taken for "no comment".
SKIP_CONFIDENCE = 0.8
SKIP_INTENTS = frozenset({"deny", "stop_form", "thank", "goodbye", "affirm"})


def _store() -> SatisfactionStore:
    return SatisfactionStore()


def _channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def _intent(tracker: Tracker) -> tuple[Optional[str], float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def _emergency_open(tracker: Tracker) -> bool:
    """An emergency is being handled: detected in this message, or a form it paused waits."""
    entities = (tracker.latest_message or {}).get("entities") or []
    if any(e.get("entity") == "emergency_type" for e in entities):
        return True
    return bool(tracker.get_slot("interrupted_form"))


def finished_topic(tracker: Tracker) -> Optional[str]:
    """The topic of the latest task this conversation finished (in the events the action
    server sees), or None when no task was finished: then there is nothing to rate."""
    for event in reversed(tracker.events):
        if event.get("event") != "action":
            continue
        name = event.get("name") or ""
        if name == "action_ask_satisfaction" or name == "action_record_satisfaction":
            return None  # the last task was already followed up
        if name in TASK_ACTIONS:
            topic = TASK_ACTIONS[name]
            if topic is not None:
                return topic
            return str(tracker.get_slot("topic") or tracker.get_slot("service") or "general")
    return None


def offer_follow_up(dispatcher: CollectingDispatcher, tracker: Tracker, topic: str) -> bool:
    """Ask for a rating when the moment is right and this conversation was never asked.

    Never inside a form or while an emergency is open; the database (one row per
    conversation, unique) makes sure it is asked once, even when two turns race.
    """
    if tracker.active_loop.get("name") or _emergency_open(tracker):
        return False
    if not _store().claim_ask(tracker.sender_id, _channel(tracker), topic):
        return False
    dispatcher.utter_message(response="utter_ask_satisfaction")
    return True


@lru_cache(maxsize=1)
def _rating_words() -> List[tuple[str, str]]:
    """(folded word, rating), longest first, so 不满意 is found before 满意."""
    table = wording("care").get("rating_words") or {}
    pairs = [(compact(str(w)), str(r)) for r, words in table.items() for w in words or []]
    return sorted((p for p in pairs if p[0]), key=lambda p: -len(p[0]))


def rating_from(tracker: Tracker) -> Optional[str]:
    """The rating of the latest message: the button's entity, else a rating word in the text."""
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == "satisfaction" and entity.get("value") in RATINGS:
            return str(entity["value"])
    text = compact(str((tracker.latest_message or {}).get("text") or ""))
    for word, rating in _rating_words():
        if word in text:
            return rating
    return None


def _diverted(tracker: Tracker) -> bool:
    """The message after the rating is an emergency or 转人工, not a comment."""
    intent, _ = _intent(tracker)
    entities = (tracker.latest_message or {}).get("entities") or []
    return intent in DIVERT or any(e.get("entity") == "emergency_type" for e in entities)


class ActionAskSatisfaction(Action):
    """After 谢谢 / 再见: the follow-up question, when a task was finished just before."""

    def name(self) -> Text:
        return "action_ask_satisfaction"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        topic = finished_topic(tracker)
        if topic is not None:
            offer_follow_up(dispatcher, tracker, topic)
        return []


class ActionRecordSatisfaction(Action):
    """Records 满意 / 一般 / 不满意 for an asked conversation, then asks for a comment."""

    def name(self) -> Text:
        return "action_record_satisfaction"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        rating = rating_from(tracker)
        if rating is None:
            dispatcher.utter_message(response="utter_satisfaction_unprompted")
            return []
        if _store().rate(tracker.sender_id, rating):
            return [FollowupAction(COMMENT_FORM)]
        if _store().was_rated(tracker.sender_id):
            dispatcher.utter_message(response="utter_satisfaction_already_rated")
        else:  # nobody asked (a typed "不满意" out of the blue): listen to what is wrong
            dispatcher.utter_message(response="utter_satisfaction_unprompted")
        return []


class ValidateSatisfactionCommentForm(FormValidationAction):
    """Keeps the one message after the rating as the comment, unless it is plainly a skip
    (不用了) or something else (a question, 转人工, an emergency: answered afterwards)."""

    def name(self) -> Text:
        return "validate_satisfaction_comment_form"

    def validate_satisfaction_comment(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if value is None or tracker.get_slot("requested_slot") != COMMENT_SLOT:
            # rasa_sdk also validates a slot just cleared (None), and the form's activation
            # turn is the rating itself: neither is the comment, so the form asks for it.
            return {COMMENT_SLOT: None}
        intent, confidence = _intent(tracker)
        if intent in SKIP_INTENTS and confidence >= SKIP_CONFIDENCE or intent == "deny":
            return {COMMENT_SLOT: False}
        if _diverted(tracker):
            return {COMMENT_SLOT: False}
        if not isinstance(value, str) or not value.strip():
            return {COMMENT_SLOT: False}
        return {COMMENT_SLOT: _store().comment(tracker.sender_id, value)}


class ActionSubmitSatisfactionComment(Action):
    """Thanks for the comment, or answers what the message really was."""

    def name(self) -> Text:
        return "action_submit_satisfaction_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        kept = tracker.get_slot(COMMENT_SLOT) is True
        events: List[EventType] = [SlotSet(COMMENT_SLOT, None)]
        if kept:
            dispatcher.utter_message(response="utter_satisfaction_comment_thanks")
            return events
        if _diverted(tracker):
            # Answered here, not by a FollowupAction: the policies have no rule for what
            # follows such a chain and answered it with the fallback as well (seen live).
            from actions.emergency import ActionGreenChannel
            from actions.handoff import ActionHandoff

            intent, _ = _intent(tracker)
            other = ActionHandoff() if intent == "request_human" else ActionGreenChannel()
            return events + list(await other.run(dispatcher, tracker, domain))
        dispatcher.utter_message(response="utter_satisfaction_comment_skipped")
        return events
