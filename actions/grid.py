"""Grid hazard reports in the chat: the report form, and a ticket's status.

Thin: bot.grid classifies, files and checks; these actions pick the domain responses.
- Something happening now (fire, gas, flood, crime: data/kb/grid.yml `urgent`) is answered
  first with the 119 / 110 advice, before any question, once per report.
- The ticket is written as soon as the last answer (the optional contact) is in, so the
  phone never waits in a slot: the slot keeps the masked form, the ticket the sealed one.
- Who may see a ticket is bot.grid.repository's decision from the database on every look;
  the form's slots only carry what the citizen typed.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.booking import common
from actions.forms_base import (
    FAILURES_SLOT,
    BookingFormValidationAction,
    latest_text,
    passes_through,
)
from bot.domain_files import render
from bot.grid.answers import read_contact, read_time, words
from bot.grid.classify import classify
from bot.grid.kb import get_grid_kb
from bot.grid.repository import GridRepository, GridUnavailable, TicketView, find_ticket_code
from bot.language import ENGLISH, detect_language
from bot.privacy import mask_phone, mask_text
from bot.text import compact
from bot.validation import check_phone

logger = logging.getLogger(__name__)

NO_CONTACT = "none"
REPORTER = "reporter"
TIME_FORMAT = "%Y-%m-%d %H:%M"
#: The advice said first for each urgent kind of data/kb/grid.yml (filled with its number).
URGENT_RESPONSES = {
    "fire": "utter_grid_urgent_fire",
    "gas_leak": "utter_grid_urgent_gas_leak",
    "flood": "utter_grid_urgent_flood",
    "crime": "utter_grid_urgent_crime",
}
REPORT_SLOTS = (
    "grid_description",
    "grid_place",
    "grid_time",
    "grid_contact",
    "grid_urgent",
    "grid_filed",
)


def _repo() -> GridRepository:
    """A repository on the process-wide engine for DATABASE_URL (created lazily)."""
    return GridRepository()


def _channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def _english(tracker: Tracker) -> bool:
    return tracker.get_slot("language") == ENGLISH


def _names(category: str, english: bool) -> tuple[str, str]:
    kb = get_grid_kb()
    cat, platform = kb.categories[category], kb.platform_of(category)
    return (cat.name_en, platform.name_en) if english else (cat.name, platform.name)


def _local(at: datetime) -> str:
    return at.astimezone(common.TZ).strftime(TIME_FORMAT)


class _GridFormValidation(BookingFormValidationAction):
    """What the report and the status forms share: their answers come first, and a grid
    store outage has its own response."""

    # abstract, so rasa_sdk's executor does not register this base class as an action
    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

    def error_reply(self, exc: Exception) -> Optional[str]:
        if isinstance(exc, GridUnavailable):
            return "utter_grid_unavailable"
        return super().error_reply(exc)

    def takes_answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """A report's or a status check's answers are never knowledge-base questions
        ("水库边的垃圾" is a place, "WG-…" a ticket number)."""
        return True


class ValidateGridReportForm(_GridFormValidation):
    """Description, place, time, contact; files the ticket when the contact is in."""

    stop_response = "utter_grid_stopped"
    handoff_offer_response = "utter_grid_form_handoff"
    extra_slots_cleared_on_stop = ("grid_urgent", "grid_filed")

    def name(self) -> Text:
        return "validate_grid_report_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        urgent: List[EventType] = []
        if not tracker.get_slot("grid_urgent") and not passes_through(tracker):
            kind = get_grid_kb().urgent_in(latest_text(tracker))
            if kind is not None:
                response = URGENT_RESPONSES.get(kind.id, "utter_grid_urgent_fire")
                dispatcher.utter_message(response=response, number=kind.number)
                urgent = [SlotSet("grid_urgent", kind.id)]
        if tracker.get_slot(REQUESTED_SLOT) == "grid_contact" and not passes_through(tracker):
            text = latest_text(tracker)
            if read_contact(text).none:
                # "不留" / "no" answer the optional question; the NLU may file them under
                # stop_form or deny, which must not end the report or skip the mapping.
                return urgent + self._contact_events(dispatcher, tracker, domain, text)
        return urgent + await super().run(dispatcher, tracker, domain)

    def _contact_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, text: str
    ) -> List[EventType]:
        try:
            result = self.validate_grid_contact(text, dispatcher, tracker, domain)
        except GridUnavailable:
            logger.warning("grid report not filed: store unavailable")
            dispatcher.utter_message(response="utter_grid_unavailable")
            return [SlotSet("grid_contact", None)]
        return [SlotSet(name, value) for name, value in result.items()]

    async def extract_grid_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The first message when it already describes the hazard; the answer when asked."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        if passes_through(tracker) or tracker.get_slot("grid_description"):
            return {}
        text = latest_text(tracker).strip()
        if requested == "grid_description":
            return {"grid_description": text}
        if requested is None and self._describes(text):
            return {"grid_description": text}
        return {}

    @staticmethod
    def _describes(text: str) -> bool:
        kb = get_grid_kb()
        folded = compact(text)
        if detect_language(text) == ENGLISH:
            # "I want to report a hazard" is long in letters but says nothing yet.
            if len(text.split()) >= int(words().get("description_min_words_en", 8)):
                return True
        elif len(folded) >= int(words().get("description_min_chars", 12)):
            return True
        if kb.urgent_in(text) is not None:
            return True
        return any(cue in folded for c in kb.categories.values() for cue in c.cues)

    def validate_grid_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if len(compact(text)) < int(words().get("description_short_chars", 4)) and not (
            get_grid_kb().urgent_in(text)
        ):
            dispatcher.utter_message(response="utter_grid_description_short")
            return {"grid_description": None}
        return {"grid_description": mask_text(text)[:1000]}

    def validate_grid_place(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = str(value or "").strip()
        if len(compact(text)) < 2:
            dispatcher.utter_message(response="utter_grid_place_invalid")
            return {"grid_place": None}
        return {"grid_place": mask_text(text)[:200]}

    def validate_grid_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        answer = read_time(str(value or ""), common.now())
        if answer.at is None:
            dispatcher.utter_message(
                response="utter_grid_time_future"
                if answer.problem == "future"
                else "utter_grid_time_unclear"
            )
            return {"grid_time": None}
        return {
            "grid_time": answer.at.replace(second=0, microsecond=0).isoformat(timespec="minutes")
        }

    def validate_grid_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        answer = read_contact(str(value or ""))
        phone: Optional[str] = None
        if not answer.none:
            check = check_phone(answer.phone or "")
            if not check.ok or check.value is None:
                dispatcher.utter_message(response="utter_grid_contact_invalid")
                return {"grid_contact": None}
            phone = check.value
        missing = [
            s for s in ("grid_description", "grid_place", "grid_time") if not tracker.get_slot(s)
        ]
        if missing:  # a forged or cleared slot: ask it again rather than file half a report
            dispatcher.utter_message(response="utter_grid_incomplete")
            return {"grid_contact": None, **{s: None for s in missing}}
        filed = self._file(tracker, phone)
        return {
            "grid_contact": mask_phone(phone) if phone else NO_CONTACT,
            "grid_filed": filed,
            FAILURES_SLOT: None,
        }

    @staticmethod
    def _file(tracker: Tracker, phone: Optional[str]) -> Dict[str, Any]:
        description = str(tracker.get_slot("grid_description"))
        seen = datetime.fromisoformat(str(tracker.get_slot("grid_time"))).replace(tzinfo=common.TZ)
        found = classify(description)
        result = _repo().file(
            category=found.category,
            place=str(tracker.get_slot("grid_place")),
            description=description,
            occurred_at=seen.astimezone(timezone.utc),
            contact_phone=phone,
            urgent=tracker.get_slot("grid_urgent"),
            channel=_channel(tracker),
            sender_id=tracker.sender_id,
            language=tracker.get_slot("language") or "zh",
        )
        if not result.ok or result.ticket is None:
            raise GridUnavailable(result.error or "file")
        ticket = result.ticket
        return {
            "code": ticket.code,
            "category": ticket.category,
            "place": ticket.place,
            "time": _local(ticket.occurred_at),
            "contact": ticket.contact_masked,
        }


class ActionSubmitGridReport(Action):
    """Confirms the ticket the form filed; nothing when the form ended otherwise."""

    def name(self) -> Text:
        return "action_submit_grid_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        filed = tracker.get_slot("grid_filed")
        if not isinstance(filed, dict) or not filed.get("code"):
            return []
        english = _english(tracker)
        try:
            category, platform = _names(str(filed.get("category")), english)
        except KeyError:
            return [SlotSet(s, None) for s in REPORT_SLOTS]
        no_contact = render("utter_grid_no_contact", "en" if english else "zh")
        dispatcher.utter_message(
            response="utter_grid_filed",
            code=filed["code"],
            category=category,
            platform=platform,
            place=filed.get("place") or "",
            time=filed.get("time") or "",
            contact=filed.get("contact") or no_contact,
        )
        return [SlotSet(s, None) for s in REPORT_SLOTS]


class ValidateGridStatusForm(_GridFormValidation):
    """The ticket number, then the last four digits unless it was reported in this chat."""

    stop_response = "utter_grid_status_stopped"
    handoff_offer_response = "utter_grid_status_handoff"

    def name(self) -> Text:
        return "validate_grid_status_form"

    async def extract_grid_ticket_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested not in (None, "grid_ticket_code") or passes_through(tracker):
            return {}
        code = find_ticket_code(latest_text(tracker))
        if code:
            return {"grid_ticket_code": code}
        if requested == "grid_ticket_code":
            return {"grid_ticket_code": None}  # an answer without a number: a failed try
        return {}

    def validate_grid_ticket_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        code = find_ticket_code(str(value or ""))
        if code is None:
            if tracker.get_slot(REQUESTED_SLOT) == "grid_ticket_code":
                dispatcher.utter_message(response="utter_grid_code_missing")
            return {"grid_ticket_code": None}
        seen = _repo().status(code, sender_id=tracker.sender_id, channel=_channel(tracker))
        if seen.ok:
            return {"grid_ticket_code": code, "grid_ticket_last4": REPORTER}
        if seen.error == "unavailable":
            raise GridUnavailable("status")
        if seen.error in ("locked", "rate_limited"):
            _say_refusal(dispatcher, seen.error, code)
            return {"grid_ticket_code": None, "grid_ticket_last4": None, REQUESTED_SLOT: None}
        # Not the reporter: ask the digits whether or not the ticket exists.
        return {"grid_ticket_code": code, "grid_ticket_last4": None}

    def validate_grid_ticket_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot(REQUESTED_SLOT) != "grid_ticket_last4":
            # Not asked: only the marker the code step set; the status action re-checks it.
            return {"grid_ticket_last4": REPORTER if value == REPORTER else None}
        digits = "".join(ch for ch in str(value or "") if ch.isdigit())
        if len(digits) == 11:
            digits = digits[-4:]
        if len(digits) != 4:
            dispatcher.utter_message(response="utter_grid_last4_invalid")
            return {"grid_ticket_last4": None}
        return {"grid_ticket_last4": digits}


def _say_refusal(dispatcher: CollectingDispatcher, error: Optional[str], code: str) -> None:
    if error == "locked":
        dispatcher.utter_message(response="utter_grid_status_locked", code=code)
    elif error == "rate_limited":
        dispatcher.utter_message(response="utter_grid_status_rate_limited")
    elif error == "unavailable":
        dispatcher.utter_message(response="utter_grid_unavailable")
    elif error == "invalid_code":
        dispatcher.utter_message(response="utter_grid_code_missing")
    else:  # needs_digits (a forged marker), invalid_digits, mismatch: the same words
        dispatcher.utter_message(response="utter_grid_status_mismatch")


def _say_status(dispatcher: CollectingDispatcher, ticket: TicketView, english: bool) -> None:
    kb = get_grid_kb()
    category, platform = _names(ticket.category, english)
    stage = kb.stage(ticket.stage)
    names = [s.name_en if english else s.name for s in kb.stages]
    dispatcher.utter_message(
        response="utter_grid_status",
        code=ticket.code,
        category=category,
        platform=platform,
        stage=stage.name_en if english else stage.name,
        stages=" → ".join(names),
        updated=_local(ticket.updated_at),
    )


class ActionGridStatus(Action):
    """Shows the ticket when the repository allows it (reporter, or the right digits)."""

    def name(self) -> Text:
        return "action_grid_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        code = tracker.get_slot("grid_ticket_code")
        last4 = tracker.get_slot("grid_ticket_last4")
        clear: List[EventType] = [
            SlotSet("grid_ticket_code", None),
            SlotSet("grid_ticket_last4", None),
        ]
        if not code or not last4:
            return clear  # the form stopped or gave up: it has said why
        result = _repo().status(
            str(code),
            sender_id=tracker.sender_id,
            channel=_channel(tracker),
            last4=None if last4 == REPORTER else str(last4),
        )
        if result.ok and result.ticket is not None:
            _say_status(dispatcher, result.ticket, _english(tracker))
        else:
            _say_refusal(dispatcher, result.error, str(code))
        return clear
