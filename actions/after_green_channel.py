"""Follow-ups right after the green channel was offered: "要带什么证明", "最快什么时候能办".

The emergency's category is kept in the slot `green_channel_context` (filled from the
detector's `emergency_type` entity, see domain/), and the rules in
data/dialogue/after_green_channel.yml send these questions here while it is set, instead of
to the general knowledge-base answer. "帮我预约" / "约最快的" there go to the priority booking
(action_start_priority_booking). The facts come from data/kb/emergency.yml (proofs, speed,
hotline) and the booking repository (the earliest reserved seat); the wording is the domain
responses `utter_green_channel_*`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import date
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

import actions.booking as booking
import actions.booking.common as booking_common  # its clock (`now`) is the one tests fix
from actions.kb import KB_ANSWER, ActionAnswerKb, answer_context, answer_text
from bot.booking import BookingRepository, BookingUnavailable, SlotView
from bot.kb import get_kb
from bot.kb.emergency import EmergencyKB, get_emergency_kb
from bot.kb.hotline import hotline_text

logger = logging.getLogger(__name__)

CONTEXT_SLOT = "green_channel_context"


def green_channel_category(tracker: Tracker, kb: EmergencyKB) -> Optional[str]:
    """The category the green channel was just offered for, if it is one the KB knows. Only
    the context slot counts: `emergency_type` stays set for the whole conversation, long
    after the offer was taken."""
    value = tracker.get_slot(CONTEXT_SLOT)
    return str(value) if value in kb.categories else None


def proof_lines(kb: EmergencyKB, category: str) -> str:
    """The category's proofs and the application form, numbered as in the green channel."""
    proofs = list(kb.categories[category].proofs) + [kb.application_form]
    return "\n".join(f"{i}. {p}" for i, p in enumerate(proofs, start=1))


def _halls_for(tracker: Tracker) -> List[Any]:
    """The halls the citizen means (chosen or named), else every hall that offers the
    service asked about."""
    halls = get_kb().halls
    for slot in ("booking_hall", "place"):
        hall = halls.get(tracker.get_slot(slot) or "")
        if hall is not None:
            return [hall]
    service = tracker.get_slot("booking_service") or tracker.get_slot("service")
    return [h for h in halls.values() if not service or service in h.services]


def earliest_priority_slot(
    halls: Sequence[Any], repo: BookingRepository
) -> Optional[Tuple[Any, date, SlotView]]:
    """(hall, day, slot) of the first free green-channel seat among `halls`."""
    current = booking_common.now()
    best: Optional[Tuple[Any, date, SlotView]] = None
    for hall in halls:
        for day, slot in repo.priority_slots(hall.id, current):
            if best is None or (day, slot.start) < (best[1], best[2].start):
                best = (hall, day, slot)
    return best


class AfterGreenChannelAction(Action, ABC):
    """A follow-up that only means something while the green channel's context is set;
    without it (or for a category the KB does not know) the question is an ordinary one."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        kb = get_emergency_kb()
        category = green_channel_category(tracker, kb)
        if category is None:
            return await ActionAnswerKb().run(dispatcher, tracker, domain)
        return self.answer(dispatcher, tracker, kb, category)

    @abstractmethod
    def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, kb: EmergencyKB, category: str
    ) -> List[EventType]:
        """The reply for `category`; the events to add."""


class ActionGreenChannelProofs(AfterGreenChannelAction):
    """ "要带什么证明" after the green channel: that category's proofs (and, when a service is
    named in the message, its ordinary documents too)."""

    def name(self) -> Text:
        return "action_green_channel_proofs"

    def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, kb: EmergencyKB, category: str
    ) -> List[EventType]:
        named = {e.get("entity") for e in (tracker.latest_message or {}).get("entities") or []}
        if "service" in named:
            documents = answer_text("documents", answer_context(tracker))
            if documents:
                dispatcher.utter_message(response=KB_ANSWER, answer=documents)
        dispatcher.utter_message(
            response="utter_green_channel_proofs",
            category=kb.categories[category].name,
            proofs=proof_lines(kb, category),
        )
        return []


class ActionGreenChannelSpeed(AfterGreenChannelAction):
    """ "最快什么时候能办" / "能不能今天办" after the green channel: how fast an urgent case is
    handled, and the earliest reserved seat that can be booked now."""

    def name(self) -> Text:
        return "action_green_channel_speed"

    def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, kb: EmergencyKB, category: str
    ) -> List[EventType]:
        dispatcher.utter_message(
            response="utter_green_channel_speed",
            category=kb.categories[category].name,
            speed=kb.speed.text,
        )
        halls = _halls_for(tracker)
        try:
            found = earliest_priority_slot(halls, BookingRepository())
        except BookingUnavailable:
            logger.warning("booking store unavailable: no earliest green-channel seat to offer")
            return []
        if found is None:
            dispatcher.utter_message(
                response="utter_green_channel_no_priority_seat", hotline=hotline_text()
            )
            return []
        hall, day, slot = found
        dispatcher.utter_message(
            response="utter_green_channel_earliest_seat",
            hall=hall.name,
            day=booking.short_day(day, booking_common.now().date()),
            time=booking.hhmm(slot.start),
        )
        return []
