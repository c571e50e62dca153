"""Green channel (绿色通道): the reply to an emergency, and going back to what was interrupted.

Thin: the category comes from the NLU (entity `emergency_type`, see bot.nlu.emergency), the
wording's facts from data/kb/emergency.yml (bot.kb.emergency) and the hall's phone from
data/kb/halls.yml (bot.kb). The reply is calm and short: condolence where it fits, what to
bring, how fast, whom to call, then two buttons. Its wording is the domain responses
`utter_green_channel*` and `utter_resume_*` (domain/emergency.yml); this module passes the facts.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.kb import ASPECTS, INTENT_ASPECT, KB_ANSWER, answer_context, answer_text, aspect_label
from bot.kb import get_kb
from bot.kb.emergency import CATEGORIES, EmergencyKB, get_emergency_kb
from bot.kb.hotline import hotline_number
from bot.kb.loader import NOT_CONFIGURED
from bot.wording import label, labels

logger = logging.getLogger(__name__)

ENTITY = "emergency_type"
INTERRUPTED_SLOT = "interrupted_form"
# The ask band (bot.nlu.emergency): the guessed category ("unknown" when there is none) while
# the assistant waits for 是 / 不是, and the KB aspect (documents, fee…) of the question the
# message also asked, answered after 不是.
PENDING_SLOT = "emergency_pending"
QUESTION_SLOT = "emergency_question"
ASK_KEY = "emergency_ask"
UNKNOWN = "unknown"
#: The kind of application of a lost, stolen or damaged document (data/kb/vocabulary.yml).
REPLACEMENT = "replacement"


def form_label(form: str) -> str:
    """What a form is called in "要继续刚才的预约吗？" (data/wording/labels.yml `forms`)."""
    names = labels("forms")
    return names.get(form, names["other"])


def _category(tracker: Tracker) -> Optional[str]:
    """The category from this message's entity, its parse metadata, or the slot."""
    latest = tracker.latest_message or {}
    for entity in latest.get("entities") or []:
        if entity.get("entity") == ENTITY and entity.get("value") in CATEGORIES:
            return str(entity["value"])
    meta = latest.get("emergency") or {}
    if isinstance(meta, dict) and meta.get("category") in CATEGORIES:
        return str(meta["category"])
    slot = tracker.get_slot(ENTITY)
    return slot if slot in CATEGORIES else None


def _original_intent(tracker: Tracker) -> Optional[str]:
    meta = (tracker.latest_message or {}).get("emergency") or {}
    original = meta.get("original_intent") if isinstance(meta, dict) else None
    if isinstance(original, dict):
        return original.get("name")
    return None


def _hall_phone(tracker: Tracker) -> tuple[str, Optional[str]]:
    """(hall name, green-channel phone or None when not configured)."""
    try:
        from bot.kb import get_kb

        halls = get_kb().halls
    except Exception:  # the KB is checked at start-up; here a reply must still go out
        logger.exception("halls unavailable")
        return label("default_hall"), None
    wanted = tracker.get_slot("booking_hall") or tracker.get_slot("place")
    hall = halls.get(wanted) if wanted else None
    if hall is None and halls:
        hall = next(iter(halls.values()))
    if hall is None:
        return label("default_hall"), None
    return hall.name, hall.green_channel_phone.resolved()


def green_channel_reply(
    kb: EmergencyKB, category: str, hall_name: str, phone: Optional[str]
) -> Dict[str, Any]:
    """The reply's response and variables: condolence, category, numbered proofs, speed and
    phones (utter_green_channel, or utter_green_channel_no_phone while the hall's green-channel
    phone is not configured)."""
    info = kb.categories[category]
    proofs = list(info.proofs) + [kb.application_form]
    values: Dict[str, Any] = {
        "condolence": info.condolence,
        "category": info.name,
        "proofs": "\n".join(f"{i}. {p}" for i, p in enumerate(proofs, start=1)),
        "speed": kb.speed.text,
        "hall": hall_name,
        "hotline": hotline_number(),
    }
    if phone:
        return {"response": "utter_green_channel", **values, "phone": phone}
    return {"response": "utter_green_channel_no_phone", **values, "not_configured": NOT_CONFIGURED}


def _document_answer(tracker: Tracker, category: str) -> Optional[Dict[str, Any]]:
    """Answer a document question asked in the same message as the emergency (the response
    utter_emergency_also_asked and its variables)."""
    latest = tracker.latest_message or {}
    aspect = _asked_aspect(
        _original_intent(tracker), str(latest.get("text") or ""), latest.get("entities") or []
    )
    context = answer_context(tracker)
    if category == "document_lost" and not context.get("apply_kind"):
        context["apply_kind"] = REPLACEMENT
    if aspect is None and context.get("apply_kind") == REPLACEMENT:
        # a lost document needs replacing whatever else the message says ("这几天", "度假"…)
        aspect = "documents"
    if aspect is None or not (context.get("service") or context.get("topic")):
        return None
    try:
        answer = answer_text(aspect, context)
    except Exception:
        logger.exception("KB answer failed for %s", aspect)
        return None
    if not answer:
        return None
    return {
        "response": "utter_emergency_also_asked",
        "aspect": aspect_label(aspect),
        "answer": answer,
    }


class ActionGreenChannel(Action):
    """Replies to an emergency, interrupting any active form (remembered for later)."""

    def name(self) -> Text:
        return "action_green_channel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        active = (tracker.active_loop or {}).get("name")
        # Always state both, as the rules in data/dialogue/emergency.yml do: no loop runs
        # afterwards, and `interrupted_form` is the form stopped now, else the one still
        # waiting for 要/不用了, else nothing.
        events: List[EventType] = [ActiveLoop(None)]
        if active:
            events.append(SlotSet("requested_slot", None))
        events.append(SlotSet(INTERRUPTED_SLOT, active or tracker.get_slot(INTERRUPTED_SLOT)))

        events += _green_channel_reply(dispatcher, tracker, _category(tracker))
        if active:
            _offer_resume(dispatcher, active)
        return events


def _green_channel_reply(
    dispatcher: CollectingDispatcher, tracker: Tracker, category: Optional[str]
) -> List[EventType]:
    """The category's green-channel reply, or (no category known) the list to choose from."""
    kb = get_emergency_kb()
    if category is None:
        # Reached without a detected category (a button, a 是 to the ask): ask, never guess.
        dispatcher.utter_message(
            response="utter_ask_emergency_category",
            buttons=[
                {"title": info.name, "payload": f'/report_emergency{{"{ENTITY}":"{cid}"}}'}
                for cid, info in kb.categories.items()
            ],
        )
        return []
    hall_name, phone = _hall_phone(tracker)
    dispatcher.utter_message(**green_channel_reply(kb, category, hall_name, phone))
    extra = _document_answer(tracker, category)
    if extra:
        dispatcher.utter_message(**extra)
    return [SlotSet(ENTITY, category)]


def _offer_resume(dispatcher: CollectingDispatcher, form: str) -> None:
    dispatcher.utter_message(response="utter_ask_resume_form", label=form_label(form))


class ActionAskEmergency(Action):
    """The ask band: one question (是 / 不是) before anything else, the guess kept for 是.

    Like the green channel it stops an active form (remembered in `interrupted_form`), so
    that neither 是 nor 不是 is taken as the form's answer.
    """

    def name(self) -> Text:
        return "action_ask_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        active = (tracker.active_loop or {}).get("name")
        latest = tracker.latest_message or {}
        finding = latest.get(ASK_KEY) or {}
        guess = finding.get("category") if isinstance(finding, dict) else None
        original = finding.get("original_intent") if isinstance(finding, dict) else None
        intent = original.get("name") if isinstance(original, dict) else None
        events: List[EventType] = [ActiveLoop(None)]
        if active:
            events.append(SlotSet("requested_slot", None))
        events += [
            SlotSet(INTERRUPTED_SLOT, active or tracker.get_slot(INTERRUPTED_SLOT)),
            SlotSet(PENDING_SLOT, guess if guess in CATEGORIES else UNKNOWN),
            SlotSet(
                QUESTION_SLOT,
                _asked_aspect(intent, str(latest.get("text") or ""), latest.get("entities") or []),
            ),
        ]
        dispatcher.utter_message(response="utter_ask_emergency")
        return events


class ActionEmergencyAnswer(Action):
    """是 → the green channel for the guessed category (or the list); 不是 → the question."""

    def name(self) -> Text:
        return "action_emergency_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        guess = tracker.get_slot(PENDING_SLOT)
        events: List[EventType] = [SlotSet(PENDING_SLOT, None), SlotSet(QUESTION_SLOT, None)]
        if intent == "affirm":
            events += _green_channel_reply(
                dispatcher, tracker, guess if guess in CATEGORIES else None
            )
        else:
            answer = _question_answer(tracker, tracker.get_slot(QUESTION_SLOT))
            if answer:
                dispatcher.utter_message(response=KB_ANSWER, answer=answer)
            else:
                dispatcher.utter_message(response="utter_emergency_declined")
        form = tracker.get_slot(INTERRUPTED_SLOT)
        if form:
            _offer_resume(dispatcher, form)
        return events


def _asked_aspect(
    intent: Optional[str], text: str, entities: List[Dict[str, Any]]
) -> Optional[str]:
    """What the message asked besides the emergency: DIET's intent, else what its wording and
    named details say (data/kb/understanding.yml: "带什么", "怎么办", a lost passport's
    补发), as DIET often reads the whole message as an emergency and drops the question."""
    aspect = INTENT_ASPECT.get(intent or "")
    understanding = get_kb().understanding
    if aspect is None and understanding is not None:
        aspect = INTENT_ASPECT.get(understanding.wording_intent(text, entities) or "")
    return None if aspect == "green_channel" else aspect


def _question_answer(tracker: Tracker, aspect: Optional[str]) -> Optional[str]:
    """The KB answer to the question the message asked before the emergency question."""
    if aspect not in ASPECTS:
        return None
    try:
        return answer_text(aspect, answer_context(tracker))
    except Exception:
        logger.exception("KB answer failed for %s", aspect)
        return None


class ActionResumeTask(Action):
    """After an emergency: go back to the interrupted form (affirm) or drop it (deny)."""

    def name(self) -> Text:
        return "action_resume_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        form = tracker.get_slot(INTERRUPTED_SLOT)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if not form:
            dispatcher.utter_message(response="utter_resume_nothing")
            return []
        name = form_label(form)
        if intent == "deny":
            dispatcher.utter_message(response="utter_resume_dropped", label=name)
            return [SlotSet(INTERRUPTED_SLOT, None)]
        known_forms = set((domain or {}).get("forms") or {})
        if known_forms and form not in known_forms:
            dispatcher.utter_message(response="utter_resume_unavailable", label=name)
            return [SlotSet(INTERRUPTED_SLOT, None)]
        dispatcher.utter_message(response="utter_resume_continue", label=name)
        return [SlotSet(INTERRUPTED_SLOT, None), FollowupAction(form)]
