"""One base class for the behaviour every booking form shares.

In the spirit of RasaHQ/financial-demo's custom_forms.py, but for this assistant:

- "算了" / "不约了" (intent `stop_form`, or the same words classified as something else)
  stops the form at any step: a polite message (the form's `stop_response`), the form's
  slots are cleared, the form ends.
- Failed tries are counted per slot in the slot `form_failures` ({slot: count}). After
  three failures on one slot the form offers a hand-over (`handoff_response`: its text and
  the buttons 转人工 /request_human and "continue" are in the domain) and ends
  instead of asking the same question a fourth time. The slots filled so far are kept, so
  "继续预约" picks up where the user left off.
- A question asked mid-form ("要带什么材料？") is answered and the form asks again, unless
  the subclass says the message is plainly the answer to the requested slot
  (`takes_answer_first`): "钱七" at the name step is a name, not a fee question.
- `forget(tracker)` runs when the form stops, for data kept outside the slots.
- An exception inside a validator (a database that went away, a bug) becomes a polite
  reply and counts as a failed try; it never reaches Rasa as a failed action.

How Rasa 3.6 uses this (rasa/core/actions/forms.py): the form calls `validate_<form>` after
every user message, even when nothing was extracted. If the answer contains no SlotSet for a
slot other than `requested_slot`, the form is rejected and the policies answer instead: that
is what happens for 转人工 and emergencies, which the from_text mappings exclude. Returning
`requested_slot: None` together with another SlotSet ends the form; the form's submit rule
then runs, so submit actions must do nothing unless the form was really completed.
"""

from __future__ import annotations

import logging
import re
from abc import abstractmethod
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.kb import INTENT_ASPECT, answer_context, answer_text
from bot.text import compact
from bot.wording import wording

logger = logging.getLogger(__name__)

FAILURES_SLOT = "form_failures"
MAX_FAILURES = 3
STOP_INTENT = "stop_form"
#: Excluded from the from_text mappings: the form must be rejected so their rules answer.
PASS_INTENTS = ("report_emergency", "request_human")
#: A knowledge-base question asked this confidently in the middle of a form is answered,
#: then the form asks its question again; below it, the text is taken as the slot's answer.
SIDE_QUESTION_CONFIDENCE = 0.85


def _any_of(words: Any) -> str:
    """An alternation of the words, longest first, so 上报 is tried before 报."""
    return "|".join(re.escape(str(w)) for w in sorted(words or [], key=len, reverse=True))


@lru_cache(maxsize=1)
def _stop_text() -> re.Pattern[str]:
    """data/wording/forms.yml's stop phrases as one pattern (built once per process)."""
    w = wording("forms")["stop_phrase"]
    refusal = f"(?:{_any_of(w['not_prefix'])})?(?:{_any_of(w['not'])})(?:{_any_of(w['verbs'])})"
    tails = _any_of(w["tails"])
    stop = f"(?:{_any_of(w['stops'])}|{refusal})(?:{tails})*"
    return re.compile(f"^(?:{_any_of(w['lead'])})?(?:{stop})+$")


def normalize_text(text: Optional[str]) -> str:
    """Simplified, half-width, lower case, no spaces or punctuation (bot.text.compact)."""
    return compact(text)


def latest_intent(tracker: Tracker) -> Optional[str]:
    """The intent name of the latest user message, if any."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name")


def latest_text(tracker: Tracker) -> str:
    """The text of the latest user message ('' if none)."""
    return str((tracker.latest_message or {}).get("text") or "")


def passes_through(tracker: Tracker) -> bool:
    """True for messages a form must not consume (an emergency, 转人工)."""
    return latest_intent(tracker) in PASS_INTENTS


def is_stop_request(tracker: Tracker) -> bool:
    """`stop_form`, or a short stop phrase that the NLU filed under deny (算了 is in deny,
    and so is 算了不报了)."""
    if latest_intent(tracker) == STOP_INTENT:
        return True
    text = normalize_text(latest_text(tracker))
    return bool(text) and len(text) <= 12 and bool(_stop_text().match(text))


def keep_failures(tracker: Tracker) -> Dict[Text, Any]:
    """Merge into a validator's result when an empty slot is NOT a failed try (e.g. the user
    asked to change something): a validator that sets `form_failures` has decided itself."""
    return {FAILURES_SLOT: tracker.get_slot(FAILURES_SLOT)}


class BookingFormValidationAction(FormValidationAction):
    """Base of every `validate_<form>` action in this project; see the module docstring."""

    max_failures: int = MAX_FAILURES
    #: The domain responses for a stopped form and for the hand-over offer.
    stop_response: str = "utter_booking_form_stopped"
    handoff_offer_response: str = "utter_booking_form_handoff"
    #: Slots that are not required by the form but belong to it and go on stop.
    extra_slots_cleared_on_stop: tuple[str, ...] = ()

    # abstract, so rasa_sdk's executor does not register this base class as an action
    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if is_stop_request(tracker):
            self.forget(tracker)
            return self.stop(dispatcher, domain)
        requested = tracker.get_slot(REQUESTED_SLOT)
        if (
            requested
            and not self._answer_first(tracker, requested)
            and self.answer_side_question(dispatcher, tracker)
        ):
            # Clearing the requested slot keeps the form running; it asks the same question.
            return [
                SlotSet(requested, None),
                SlotSet(FAILURES_SLOT, tracker.get_slot(FAILURES_SLOT)),
            ]
        try:
            events = await super().run(dispatcher, tracker, domain)
        except Exception as exc:  # a validator must never crash the conversation
            logger.exception("%s failed on slot %s", self.name(), requested)
            dispatcher.utter_message(response=self.error_reply(exc) or "utter_form_error")
            if not requested:
                return []
            events = [SlotSet(requested, None)]
        return events + self.count_failures(dispatcher, tracker, requested, events)

    # -- a question in the middle of the form ---------------------------------------------
    def _answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """`takes_answer_first`, where a bug counts as "no": the validator then decides."""
        try:
            return self.takes_answer_first(tracker, requested)
        except Exception:
            logger.exception("%s: takes_answer_first failed on %s", self.name(), requested)
            return False

    def takes_answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """True when the message is plainly the answer to `requested` and must not be taken
        for a side question, whatever the NLU thought; subclasses decide per slot."""
        return False

    def answer_side_question(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        """Answer "要带什么材料？" asked while the form waits for, say, a date."""
        intent = (tracker.latest_message or {}).get("intent") or {}
        aspect = INTENT_ASPECT.get(intent.get("name") or "")
        if not aspect or float(intent.get("confidence") or 0) < SIDE_QUESTION_CONFIDENCE:
            return False
        text = answer_text(aspect, answer_context(tracker))
        if not text:
            return False
        dispatcher.utter_message(response="utter_form_side_answer", answer=text)
        return True

    # -- stop -----------------------------------------------------------------------------
    def forget(self, tracker: Tracker) -> None:
        """Drop what the form keeps outside the slots (subclasses); must not raise."""

    def slots_cleared_on_stop(self, domain: DomainDict) -> List[Text]:
        return list(self.domain_slots(domain)) + list(self.extra_slots_cleared_on_stop)

    def stop(self, dispatcher: CollectingDispatcher, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response=self.stop_response)
        events: List[EventType] = [
            SlotSet(slot, None) for slot in self.slots_cleared_on_stop(domain)
        ]
        # The SlotSets above also keep Rasa from rejecting the form (see module docstring).
        return events + [SlotSet(FAILURES_SLOT, None), SlotSet(REQUESTED_SLOT, None)]

    # -- failures -------------------------------------------------------------------------
    def error_reply(self, exc: Exception) -> Optional[str]:
        """The response for a validator that raised, for failures a subclass knows; None
        says the general apology (utter_form_error)."""
        return None

    def handoff_response(self, slot: Text) -> str:
        """The hand-over offer after three failed tries on `slot` (text and buttons)."""
        return self.handoff_offer_response

    def count_failures(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        requested: Optional[Text],
        events: List[EventType],
    ) -> List[EventType]:
        """Count an empty requested slot as a failed try; at the limit, offer a hand-over."""
        if not requested:
            return []
        slot_events = [e for e in events if e.get("event") == "slot"]
        if any(e.get("name") == FAILURES_SLOT for e in slot_events):
            return []  # the validator decided itself (keep_failures)
        tried = [e for e in slot_events if e.get("name") == requested]
        if not tried:
            return []  # nothing extracted: the form is rejected and the rules answer
        failures: Dict[str, int] = dict(tracker.get_slot(FAILURES_SLOT) or {})
        if tried[-1].get("value") is not None:
            if failures.pop(requested, None) is None:
                return []
            return [SlotSet(FAILURES_SLOT, failures or None)]
        failures[requested] = int(failures.get(requested, 0)) + 1
        if failures[requested] < self.max_failures:
            return [SlotSet(FAILURES_SLOT, failures)]
        failures.pop(requested)
        dispatcher.utter_message(response=self.handoff_response(requested))
        # requested_slot None ends the form instead of asking a fourth time.
        return [SlotSet(FAILURES_SLOT, failures or None), SlotSet(REQUESTED_SLOT, None)]
