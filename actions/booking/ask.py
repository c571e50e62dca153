"""action_ask_<slot>: the form steps whose question lists choices (buttons) or shows data, and
the summaries the confirmation steps show. A step whose question is a fixed text (name, ID,
phone, last four digits) has no action: Rasa asks it with the response utter_ask_<slot>."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.booking import common, validate
from actions.booking.common import (
    _NO,
    SERVICES,
    _channel,
    _halls,
    check_access,
    hall_name,
    service_label,
)
from actions.booking.format import (
    _as_date,
    _as_time,
    _day_buttons,
    _in_part,
    booking_details,
    booking_status,
    fmt_day,
    hhmm,
    short_day,
    words,
)
from actions.booking.parse import _shown
from actions.booking.validate import form_context
from actions.forms_base import latest_intent, latest_text, normalize_text
from bot.booking import BOOKING_WINDOW_DAYS, BookingUnavailable
from bot.language import is_english
from bot.wording import label

logger = logging.getLogger(__name__)


def _options_already_offered(tracker: Tracker) -> bool:
    """True when a reply with buttons was sent after the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot" and ((event.get("data") or {}).get("buttons")):
            return True
    return False


class AskAction(Action, ABC):
    """action_ask_<slot>: dynamic questions with buttons; a store outage never breaks them."""

    @abstractmethod
    def name(self) -> Text:
        """action_ask_<slot>"""

    @abstractmethod
    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        """Utter the question."""

    #: The domain response that asks for the slot when no choices can be offered.
    fallback_response: str = "utter_ask_booking_continue"
    #: In English the step asks with that response's English variation (typed answer);
    #: steps whose ask() is already a domain response (the summary) keep their ask().
    english_by_response: bool = True

    def fallback_values(self, tracker: Tracker) -> Dict[str, Any]:
        """The variables of `fallback_response` (none by default)."""
        return {}

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if _options_already_offered(tracker):
            return []  # the validator's reason came with the choices (e.g. free days)
        if self.english_by_response and is_english(tracker):
            # The English variation of the step's domain response; the answer is typed.
            dispatcher.utter_message(
                response=self.fallback_response, **self.fallback_values(tracker)
            )
            return []
        try:
            self.ask(dispatcher, tracker)
        except BookingUnavailable:
            dispatcher.utter_message(
                response=self.fallback_response, **self.fallback_values(tracker)
            )
            dispatcher.utter_message(response="utter_booking_options_unavailable")
        except Exception:
            logger.exception("%s failed", self.name())
            dispatcher.utter_message(
                response=self.fallback_response, **self.fallback_values(tracker)
            )
        return []


class ActionAskBookingService(AskAction):
    fallback_response = "utter_ask_booking_service"

    def name(self) -> Text:
        return "action_ask_booking_service"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        priority = bool(tracker.get_slot("booking_priority"))
        response = (
            "utter_ask_booking_service_pick_priority"
            if priority
            else "utter_ask_booking_service_pick"
        )
        dispatcher.utter_message(
            response=response,
            buttons=[
                {"title": service_label(s), "payload": f'/inform{{"service":"{s}"}}'}
                for s in SERVICES
            ],
        )


class ActionAskBookingHall(AskAction):
    fallback_response = "utter_ask_booking_hall"

    def name(self) -> Text:
        return "action_ask_booking_hall"

    @staticmethod
    def offered(tracker: Tracker) -> List[Any]:
        """The KB halls that can be booked online for the chosen service."""
        service = tracker.get_slot("booking_service")
        return [
            h for h in _halls().values() if h.bookable and (not service or service in h.services)
        ]

    def fallback_values(self, tracker: Tracker) -> Dict[str, Any]:
        english = is_english(tracker)
        names = [hall_name(h.id, english) for h in self.offered(tracker)]
        return {"halls": label("or_en" if english else "or").join(names)}

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        halls = self.offered(tracker)
        dispatcher.utter_message(
            response="utter_ask_booking_hall_pick",
            buttons=[
                {"title": h.name, "payload": f'/inform{{"booking_hall":"{h.id}"}}'} for h in halls
            ],
        )


class ActionAskBookingDate(AskAction):
    fallback_response = "utter_ask_booking_date"

    def name(self) -> Text:
        return "action_ask_booking_date"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        hall_id, priority = form_context(tracker)
        if not hall_id:
            dispatcher.utter_message(response=self.fallback_response)
            return
        current = common.now()
        today = current.date()
        repo = common._repo()
        values: Dict[str, Any] = {"hall": hall_name(hall_id)}
        if priority:
            days = sorted({d for d, _ in repo.priority_slots(hall_id, current)})
            response = "utter_ask_booking_date_priority"
            if not days:
                response = "utter_booking_priority_days_full"
        else:
            days = repo.free_days(hall_id, today, 5, now=current)
            response = "utter_ask_booking_date_pick"
            if tracker.active_loop_name == "booking_reschedule_form":
                seen = check_access(tracker, tracker.get_slot("booking_code"))
                view = seen.booking if seen.ok else None
                if view is not None:
                    response = "utter_ask_reschedule_date_pick"
                    values.update(code=view.code, day=fmt_day(view.day), time=hhmm(view.start))
            if not days:
                response = "utter_booking_no_days_in_window"
                values = {"window": BOOKING_WINDOW_DAYS}
        dispatcher.utter_message(response=response, buttons=_day_buttons(days, today), **values)


_PARTS = ("morning", "afternoon")
#: The time question by (green channel, part of day asked for).
_TIME_QUESTIONS = {
    (False, None): "utter_ask_booking_time_pick",
    (False, "morning"): "utter_ask_booking_time_pick_morning",
    (False, "afternoon"): "utter_ask_booking_time_pick_afternoon",
    (True, None): "utter_ask_booking_time_pick_priority",
    (True, "morning"): "utter_ask_booking_time_pick_priority_morning",
    (True, "afternoon"): "utter_ask_booking_time_pick_priority_afternoon",
}


class ActionAskBookingTime(AskAction):
    fallback_response = "utter_ask_booking_time"

    def name(self) -> Text:
        return "action_ask_booking_time"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        hall_id, priority = form_context(tracker)
        day = _as_date(tracker.get_slot("booking_date"))
        if not hall_id or day is None:
            dispatcher.utter_message(response=self.fallback_response)
            return
        current = common.now()
        slots = validate.free_slots(hall_id, day, priority, current)
        part = tracker.get_slot("booking_part_of_day")
        shown = [s for s in slots if _in_part(s, part)]
        part = part if shown else None
        shown = shown or slots
        if not shown:
            dispatcher.utter_message(response="utter_booking_no_times_left", day=short_day(day))
            return
        dispatcher.utter_message(
            response=_TIME_QUESTIONS[(priority, part if part in _PARTS else None)],
            day=fmt_day(day),
            buttons=[
                {"title": hhmm(s.start), "payload": f'/inform{{"booking_time":"{hhmm(s.start)}"}}'}
                for s in shown
            ],
        )


class ActionAskBookingConfirm(AskAction):
    fallback_response = "utter_ask_booking_confirm"
    english_by_response = False

    def name(self) -> Text:
        return "action_ask_booking_confirm"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        reschedule = tracker.active_loop_name == "booking_reschedule_form"
        text = normalize_text(latest_text(tracker))
        if latest_intent(tracker) == "deny" or text in _NO:
            # The buttons (改日期, 改时间 …, 不约了) are in the responses.
            dispatcher.utter_message(
                response="utter_ask_reschedule_what_to_change"
                if reschedule
                else "utter_ask_booking_what_to_change"
            )
            return
        if reschedule:
            reschedule_summary(dispatcher, tracker)
        else:
            booking_summary(dispatcher, tracker)


class ActionAskBookingCode(AskAction):
    fallback_response = "utter_ask_booking_code"

    def name(self) -> Text:
        return "action_ask_booking_code"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        mine = common._repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))[:5]
        buttons = [
            {
                "title": words(
                    "utter_booking_button_pick",
                    code=v.code,
                    month=v.day.month,
                    day=v.day.day,
                    time=hhmm(v.start),
                ),
                "payload": f'/inform{{"booking_code":"{v.code}"}}',
            }
            for v in mine
        ]
        if buttons:
            dispatcher.utter_message(response="utter_ask_booking_code_or_pick", buttons=buttons)
        else:
            dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingCancelConfirm(AskAction):
    fallback_response = "utter_ask_booking_cancel_confirm"

    def name(self) -> Text:
        return "action_ask_booking_cancel_confirm"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        seen = check_access(tracker, tracker.get_slot("booking_code"))
        view = seen.booking if seen.ok else None
        if view is None:
            dispatcher.utter_message(response="utter_ask_booking_cancel_confirm_unseen")
            return
        # The buttons (确认取消 /affirm, 不取消 /deny) are in the response.
        dispatcher.utter_message(
            response="utter_ask_booking_cancel_confirm_details",
            code=view.code,
            status=booking_status(view),
            details="\n".join(booking_details(view)),
        )


def booking_summary(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The confirmation question (domain response utter_booking_summary): ID and phone masked."""
    day = _as_date(tracker.get_slot("booking_date"))
    start = _as_time(tracker.get_slot("booking_time"))
    end = (
        (datetime.combine(date(2000, 1, 1), start) + timedelta(minutes=30)).time()
        if start
        else None
    )
    english = is_english(tracker)
    dispatcher.utter_message(
        # The buttons (确认 /affirm, 修改/取消 /deny) are in the responses.
        response="utter_booking_summary_priority"
        if tracker.get_slot("booking_priority")
        else "utter_booking_summary",
        service=service_label(tracker.get_slot("booking_service"), english),
        hall=hall_name(tracker.get_slot("booking_hall"), english),
        day=(day.isoformat() if english else fmt_day(day)) if day else "",
        time=f"{hhmm(start)}–{hhmm(end)}" if start and end else "",
        name=tracker.get_slot("booking_name") or "",
        id_number=_shown("booking_id_number", tracker.get_slot("booking_id_number")),
        phone=_shown("booking_phone", tracker.get_slot("booking_phone")),
    )


#: The reschedule summary by (booking seen, new time chosen); the buttons are in the responses.
_RESCHEDULE_SUMMARIES = {
    (True, True): "utter_ask_reschedule_confirm",
    (True, False): "utter_ask_reschedule_confirm_no_new_time",
    (False, True): "utter_ask_reschedule_confirm_unseen",
    (False, False): "utter_ask_reschedule_confirm_bare",
}


def reschedule_summary(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The reschedule form's confirmation question: the booking's hall and old time (when the
    repository lets this sender see it) and the new time."""
    code = tracker.get_slot("booking_code") or ""
    seen = check_access(tracker, code)
    view = seen.booking if seen.ok else None
    day = _as_date(tracker.get_slot("booking_date"))
    start = _as_time(tracker.get_slot("booking_time"))
    values: Dict[str, Any] = {"code": code}
    if view is not None:
        values.update(hall=view.hall_name, old_time=f"{fmt_day(view.day)} {hhmm(view.start)}")
    if day and start:
        values["new_time"] = f"{fmt_day(day)} {hhmm(start)}"
    response = _RESCHEDULE_SUMMARIES[(view is not None, bool(day and start))]
    dispatcher.utter_message(response=response, **values)
