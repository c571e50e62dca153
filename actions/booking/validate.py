"""The form validators: the date and time checks shared by the booking and reschedule forms,
validate_booking_form, and the lookup, cancel and reschedule forms' code and last-four steps.

`free_slots` is the one free-seat query; tests replace it here, so actions.booking.ask calls
it as `validate.free_slots`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from abc import abstractmethod
from datetime import date, datetime, time, timedelta
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple, Union

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.booking import common
from actions.booking.common import (
    _CANCEL_NO,
    _CANCEL_YES,
    _CHANGE_DATE,
    _NAME_PREFIX,
    _NO,
    _NOT_NAMES,
    _QUESTION,
    _YES,
    BOOKING_SLOTS,
    DETAIL_STEPS,
    OWNER,
    SERVICES,
    STATUS_ACTIVE,
    VERIFIED,
    _channel,
    _halls,
    check_access,
    guardian_documents,
    service_label,
    utter_access_refusal,
)
from actions.booking.format import (
    _as_date,
    _as_time,
    _day_buttons,
    _in_part,
    hhmm,
    short_day,
    words,
)
from actions.booking.parse import (
    _PERSONAL_FIELDS,
    _change_request,
    _entities,
    _id_candidate,
    _masked,
    _phone_candidate,
    _ran_this_turn,
    _unsealed,
    code_from_message,
    looks_like_name,
    parse_hall,
    parse_service,
)
from actions.booking.refusals import DATE_PROBLEM_RESPONSES, Reply, refusal_reply, utter_invalid
from actions.forms_base import (
    FAILURES_SLOT,
    SIDE_QUESTION_CONFIDENCE,
    BookingFormValidationAction,
    keep_failures,
    latest_intent,
    latest_text,
    normalize_text,
    passes_through,
)
from bot.booking import (
    BOOKING_WINDOW_DAYS,
    AccessResult,
    BookingRepository,
    BookingUnavailable,
    BookingView,
    Refusal,
    RefusalHints,
    SlotView,
    normalize_code,
)
from bot.booking.pending import PENDING_TTL
from bot.calendar import calendar_note
from bot.dates import DateParse, parse_date
from bot.language import is_english
from bot.patterns import MASKED_ID, MASKED_PHONE
from bot.privacy import mask_id, mask_phone
from bot.validation import check_id_number, check_name, check_phone

logger = logging.getLogger(__name__)
#: Why a day cannot be taken: the repository's rule as a domain response, or (for the free-seat
#: and green-channel checks made here) a sentence.
DayProblem = Union[str, Reply]


def free_slots(hall_id: str, day: date, priority: bool, current: datetime) -> List[SlotView]:
    """Bookable slots of one day; green channel: only the reserved seats (today or the next
    working day)."""
    repo = common._repo()
    if priority:
        return [s for d, s in repo.priority_slots(hall_id, current) if d == day]
    return repo.available_slots(hall_id, day, now=current)


def reschedule_context(tracker: Tracker) -> Tuple[Optional[str], bool]:
    """The hall of the booking being moved, once the repository says the caller may see it."""
    code = tracker.get_slot("booking_code")
    if not code or tracker.get_slot("booking_phone_last4") not in (OWNER, VERIFIED):
        return None, False
    seen = check_access(tracker, code)
    # A moved green-channel booking competes for ordinary seats like everyone else.
    return (seen.booking.hall_id if seen.ok and seen.booking is not None else None), False


def form_context(tracker: Tracker) -> Tuple[Optional[str], bool]:
    """(hall id, priority) that dates and times are checked against in the active form."""
    if tracker.active_loop_name == "booking_reschedule_form":
        return reschedule_context(tracker)
    return tracker.get_slot("booking_hall"), bool(tracker.get_slot("booking_priority"))


class DateTimeValidation:
    """validate_booking_date / validate_booking_time for the booking and reschedule forms."""

    def booking_context(self, tracker: Tracker) -> Tuple[Optional[str], bool]:
        """(hall id, priority) the date and time are checked against."""
        return form_context(tracker)

    def takes_answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """At the date and time steps a plain date or time is the answer, even when the NLU
        heard a question in it ("上午10点" as a question about the hall); a date with a
        question mark or a question word stays a side question."""
        text = latest_text(tracker)
        if requested not in ("booking_date", "booking_time") or _QUESTION.search(text):
            return super().takes_answer_first(tracker, requested)  # type: ignore[misc]
        parsed = parse_date(text, common.now().date())
        if requested == "booking_date":
            return parsed.day is not None
        return _as_time(text) is not None or parsed.time is not None

    def offer_days(
        self,
        dispatcher: CollectingDispatcher,
        hall_id: str,
        start: date,
        priority: bool,
        current: datetime,
        reason: DayProblem,
    ) -> None:
        today = current.date()
        last = today + timedelta(days=BOOKING_WINDOW_DAYS)  # never suggest what would be refused
        repo = common._repo()
        if priority:
            days = sorted({d for d, _ in repo.priority_slots(hall_id, current)})
        else:
            days = repo.free_days(hall_id, start, 3, now=current, until=last)
            if not days and start != today:
                days = repo.free_days(hall_id, today, 3, now=current, until=last)
        if isinstance(reason, Reply):  # the repository's rule: its response, then the days
            reason.utter(dispatcher)
            reason = ""
        if days:
            dispatcher.utter_message(
                response="utter_booking_offer_days",
                reason=reason,
                buttons=_day_buttons(days, today),
            )
        else:
            dispatcher.utter_message(response="utter_booking_no_days_soon", reason=reason)

    @staticmethod
    def _said(refusal: Optional[Refusal]) -> Optional[Reply]:
        """The repository's refusal as the date step words it (days as short_day shows them)."""
        if refusal is None:
            return None
        return refusal_reply(refusal.code, refusal.hints, day=short_day)

    @classmethod
    def calendar_problem(cls, day: date, current: datetime) -> Optional[Reply]:
        """Why no hall could take this day (the repository's calendar rule); None if open.
        Needs no hall, so a date named before the hall is chosen is checked at once."""
        return cls._said(BookingRepository.calendar_refusal(day, current.date()))

    def day_problem(
        self, hall_id: str, day: date, priority: bool, current: datetime
    ) -> Optional[DayProblem]:
        today = current.date()
        problem = self._said(common._repo().day_refusal(hall_id, day, today=today, now=current))
        if problem:
            return problem
        if priority:
            allowed = sorted({d for d, _ in common._repo().priority_slots(hall_id, current)})
            if day not in allowed:
                if not allowed:
                    return words("utter_booking_priority_full")
                return words("utter_booking_priority_days_only")
        if not free_slots(hall_id, day, priority, current):
            if day == today:
                return words("utter_booking_today_full")
            return words("utter_booking_day_full", day=short_day(day))
        return None

    def validate_booking_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        hall_id, priority = self.booking_context(tracker)
        if value is None:
            return {"booking_date": None}
        current = common.now()
        today = current.date()
        parsed = parse_date(str(value), today)
        if not hall_id:
            return self.date_before_hall(parsed, dispatcher, current)
        if parsed.day is None:
            switched = self.switch_instead_of_date(value, dispatcher, tracker)
            if switched:
                return switched
            reason = (
                words(DATE_PROBLEM_RESPONSES[parsed.reason.code], False, **parsed.reason.params)
                if parsed.reason is not None
                else words("utter_booking_date_unclear")
            )
            self.offer_days(dispatcher, hall_id, today, priority, current, reason)
            return {"booking_date": None}
        return self.check_day(
            dispatcher,
            tracker,
            hall_id,
            priority,
            parsed.day,
            parsed.part_of_day,
            parsed.time,
            current,
        )

    def date_before_hall(
        self, parsed: DateParse, dispatcher: CollectingDispatcher, current: datetime
    ) -> Dict[Text, Any]:
        """A date named before the hall is known ("我想预约明天去办港澳通行证"). The reschedule
        form has no such case (its hall is the booking's), so by default nothing is kept."""
        return {"booking_date": None}

    def check_day(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        hall_id: str,
        priority: bool,
        day: date,
        part_of_day: Optional[str],
        clock: Optional[time],
        current: datetime,
    ) -> Dict[Text, Any]:
        """A parsed day (and maybe a time) against the hall: the date step's checks, also used
        again for a date that was named before the hall was chosen."""
        today = current.date()
        problem = self.day_problem(hall_id, day, priority, current)
        if problem:
            start = (
                day + timedelta(days=1)
                if today <= day <= today + timedelta(days=BOOKING_WINDOW_DAYS)
                else today
            )
            self.offer_days(dispatcher, hall_id, start, priority, current, problem)
            return {"booking_date": None, "booking_time": None}
        result: Dict[Text, Any] = {
            "booking_date": day.isoformat(),
            "booking_part_of_day": part_of_day,
        }
        note = calendar_note(day)
        if note and tracker.get_slot(REQUESTED_SLOT) == "booking_date":
            dispatcher.utter_message(response="utter_booking_calendar_note", note=note)
        if clock is not None:
            slots = free_slots(hall_id, day, priority, current)
            chosen = next((s for s in slots if s.start <= clock < s.end), None)
            if chosen is not None:
                result["booking_time"] = hhmm(chosen.start)
            else:
                result["booking_time"] = None
                dispatcher.utter_message(
                    response="utter_booking_time_not_free", day=short_day(day), time=hhmm(clock)
                )
        return result

    def switch_instead_of_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Optional[Dict[Text, Any]]:
        """A hall or service named where a date was expected (booking form only)."""
        return None

    def validate_booking_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        hall_id, priority = self.booking_context(tracker)
        day = _as_date(tracker.get_slot("booking_date"))
        if value is None or not hall_id or day is None:
            return {"booking_time": None}
        text = str(value)
        current = common.now()
        if _CHANGE_DATE.search(normalize_text(text)):
            return {"booking_date": None, "booking_time": None, **keep_failures(tracker)}
        clock = _as_time(text)
        part: Optional[str] = None
        if clock is None:
            parsed = parse_date(text, current.date())
            if parsed.day is not None and parsed.day != day:
                # "明天下午两点" at the time question: the user moved the day.
                return {
                    "booking_time": None,
                    **self.validate_booking_date(text, dispatcher, tracker, domain),
                }
            clock, part = parsed.time, parsed.part_of_day
        slots = free_slots(hall_id, day, priority, current)
        if not slots:
            dispatcher.utter_message(response="utter_booking_day_just_full", day=short_day(day))
            return {"booking_date": None, "booking_time": None, **keep_failures(tracker)}
        if clock is not None:
            chosen = next((s for s in slots if s.start <= clock < s.end), None)
            if chosen is not None:
                return {"booking_time": hhmm(chosen.start)}
            dispatcher.utter_message(response="utter_booking_time_unavailable", time=hhmm(clock))
            return {"booking_time": None, "booking_part_of_day": None}
        if part in ("morning", "afternoon"):
            if any(_in_part(s, part) for s in slots):
                return {"booking_time": None, "booking_part_of_day": part, **keep_failures(tracker)}
            full = {
                "morning": "utter_booking_morning_full",
                "afternoon": "utter_booking_afternoon_full",
            }
            dispatcher.utter_message(response=full[part], day=short_day(day))
            return {"booking_time": None, "booking_part_of_day": None, **keep_failures(tracker)}
        dispatcher.utter_message(response="utter_booking_time_unclear")
        return {"booking_time": None}

    def confirm_answer(
        self, tracker: Tracker, value: Any, allowed_changes: Sequence[str]
    ) -> Dict[Text, Any]:
        """True for yes; for "改日期" etc. clear those slots; for no, ask what to change."""
        if tracker.get_slot(REQUESTED_SLOT) != "booking_confirm":
            return {"booking_confirm": None}  # never accept a confirmation that was not asked
        intent = latest_intent(tracker)
        text = normalize_text(latest_text(tracker) or str(value or ""))
        change = _change_request(text, allowed_changes)
        if change:
            return {"booking_confirm": None, **{s: None for s in change}, **keep_failures(tracker)}
        if intent == "affirm" or text in _YES:
            return {"booking_confirm": True}
        if intent == "deny" or text in _NO:
            return {
                "booking_confirm": None,
                **keep_failures(tracker),
            }  # the ask shows what to change
        return {"booking_confirm": None}


#: The reply when the booking database fails mid-form: what was typed is kept.
UNAVAILABLE_KEPT = "utter_booking_unavailable_kept"


# --- the booking form ----------------------------------------------------------------------


class ValidateBookingForm(DateTimeValidation, BookingFormValidationAction):
    """Service → hall → date → time → name → ID → phone → confirmation."""

    extra_slots_cleared_on_stop = ("booking_priority", "booking_part_of_day")

    def name(self) -> Text:
        return "validate_booking_form"

    def error_reply(self, exc: Exception) -> Optional[str]:
        if isinstance(exc, BookingUnavailable):
            return UNAVAILABLE_KEPT
        return super().error_reply(exc)

    def booking_context(self, tracker: Tracker) -> Tuple[Optional[str], bool]:
        return tracker.get_slot("booking_hall"), bool(tracker.get_slot("booking_priority"))

    def takes_answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """At the name step a name is a name, even when the NLU heard a fee question (钱七);
        at the hall step a hall's name is the choice, not a question about where it is
        ("德清县公安局出入境管理大队", which the NLU reads as ask_location)."""
        if requested == "booking_name":
            return looks_like_name(latest_text(tracker))
        if requested == "booking_hall":
            text = latest_text(tracker)
            return not _QUESTION.search(text) and parse_hall(text, tracker) is not None
        return super().takes_answer_first(tracker, requested)

    def answer_side_question(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        """ "要带什么证明" in a booking right after the green channel: that category's proofs."""
        from actions.after_green_channel import green_channel_category, proof_lines
        from bot.kb.emergency import get_emergency_kb

        intent = (tracker.latest_message or {}).get("intent") or {}
        if (
            intent.get("name") == "ask_documents"
            and float(intent.get("confidence") or 0) >= SIDE_QUESTION_CONFIDENCE
        ):
            kb = get_emergency_kb()
            category = green_channel_category(tracker, kb)
            if category is not None:
                dispatcher.utter_message(
                    response="utter_green_channel_proofs_in_booking",
                    category=kb.categories[category].name,
                    proofs=proof_lines(kb, category),
                )
                return True
        return super().answer_side_question(dispatcher, tracker)

    def forget(self, tracker: Tracker) -> None:
        """The form stopped: the ID and phone it collected go too."""
        try:
            common._pending().drop(tracker.sender_id)
        except BookingUnavailable:
            logger.warning("could not drop pending personal data now; it expires by itself")

    def switch_instead_of_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Optional[Dict[Text, Any]]:
        """ "德清" at the date question: the user wants another hall (or service), not a failure."""
        hall_id = parse_hall(value, tracker)
        if hall_id and hall_id != tracker.get_slot("booking_hall"):
            service = tracker.get_slot("booking_service")
            hall = _halls()[hall_id]
            if service and service not in hall.services:
                dispatcher.utter_message(
                    response="utter_booking_hall_lacks_service",
                    hall=hall.name,
                    service=service_label(service),
                )
                return None
            dispatcher.utter_message(response="utter_booking_hall_switched", hall=hall.name)
            return {"booking_hall": hall_id, "booking_date": None, **keep_failures(tracker)}
        service = parse_service(value, tracker)
        if service and service != tracker.get_slot("booking_service"):
            return {
                **self.validate_booking_service(value, dispatcher, tracker, {}),
                "booking_date": None,
                **keep_failures(tracker),
            }
        if hall_id or service:  # named what is already chosen: just ask the date again
            return {"booking_date": None, **keep_failures(tracker)}
        return None

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        prefix: List[EventType] = []
        if (
            tracker.get_slot(REQUESTED_SLOT) is None
            and latest_intent(tracker) == "book_appointment"
            and tracker.get_slot("booking_priority")
            and not _ran_this_turn(tracker, "action_start_priority_booking")
        ):
            # An ordinary booking after an unfinished green-channel one (right after the green
            # channel, data/dialogue/after_green_channel.yml makes "帮我预约" the priority one).
            tracker.slots["booking_priority"] = False
            prefix.append(SlotSet("booking_priority", False))
        return prefix + await super().run(dispatcher, tracker, domain)

    # Details in any message: "我想预约明天去办港澳通行证" fills the service and the date, and a
    # message at the service or hall step may also name the other details. Only details that
    # are still empty are taken, and only from the message that started the form or answers
    # one of the detail steps; the name, ID and phone come only from the answer to their own
    # step (the ID and phone go through the sealing in validate_booking_id_number/_phone).
    def takes_details(self, tracker: Tracker, slot: Text) -> bool:
        """True when `slot` is empty and this message may fill it (see above)."""
        if passes_through(tracker) or tracker.get_slot(slot) is not None:
            return False
        requested = tracker.get_slot(REQUESTED_SLOT)
        return requested in DETAIL_STEPS and requested != slot

    async def extract_booking_service(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not self.takes_details(tracker, "booking_service"):
            return {}
        found = [v for v in _entities(tracker, "service") if v in SERVICES]
        return {"booking_service": found[0]} if found else {}

    async def extract_booking_hall(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A hall named in the message; a place that is no hall ("杭州市民中心") is handed to
        validate_booking_hall, which says which halls can be booked, once the hall is the
        next question (the service is known)."""
        if not self.takes_details(tracker, "booking_hall"):
            return {}
        halls = _halls()
        named = _entities(tracker, "booking_hall", "place")
        found = [v for v in named if v in halls]
        if found:
            return {"booking_hall": found[0]}
        if named and tracker.get_slot("booking_service"):
            return {"booking_hall": str(named[0])}
        return {}

    async def extract_booking_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not self.takes_details(tracker, "booking_date"):
            return {}
        text = latest_text(tracker)
        if text.startswith("/") or parse_date(text, common.now().date()).day is None:
            return {}
        return {"booking_date": text}

    def date_before_hall(
        self, parsed: DateParse, dispatcher: CollectingDispatcher, current: datetime
    ) -> Dict[Text, Any]:
        """Keep a date that some hall could take (with its time); the hall's own checks (full
        days, the green channel's two days, the time) run once the hall is chosen."""
        if parsed.day is None:
            return {"booking_date": None}
        problem = self.calendar_problem(parsed.day, current)
        if problem:
            problem.utter(dispatcher)
            return {"booking_date": None, "booking_time": None}
        return {
            "booking_date": parsed.day.isoformat(),
            "booking_part_of_day": parsed.part_of_day,
            "booking_time": hhmm(parsed.time) if parsed.time is not None else None,
        }

    def validate_booking_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:
            return {"booking_service": None}
        service = parse_service(value, tracker)
        if service is None:
            dispatcher.utter_message(response="utter_booking_service_unclear")
            return {"booking_service": None}
        result: Dict[Text, Any] = {"booking_service": service}
        hall = _halls().get(tracker.get_slot("booking_hall") or "")
        if "booking_hall" in tracker.slots_to_validate():
            return result  # a hall named in the same message: validate_booking_hall checks it
        if hall is not None and service not in hall.services:
            dispatcher.utter_message(
                response="utter_booking_hall_lacks_service_rechoose",
                hall=hall.name,
                service=service_label(service),
            )
            # The date and time stay: they are checked again against the hall chosen next.
            result.update({"booking_hall": None})
        return result

    def validate_booking_hall(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:
            return {"booking_hall": None}
        hall_id = parse_hall(value, tracker)
        if hall_id is None:
            dispatcher.utter_message(response="utter_booking_hall_unknown")
            return {"booking_hall": None}
        hall = _halls()[hall_id]
        service = tracker.get_slot("booking_service")
        if service and service not in hall.services:
            dispatcher.utter_message(
                response="utter_booking_hall_lacks_service_other",
                hall=hall.name,
                service=service_label(service),
            )
            return {"booking_hall": None}
        if not hall.bookable:  # halls.yml gives it no appointment sessions (yet)
            refusal_reply(
                "hall_not_bookable", RefusalHints(hall_id=hall_id), english=is_english(tracker)
            ).utter(dispatcher)
            return {"booking_hall": None}
        result: Dict[Text, Any] = {"booking_hall": hall_id}
        day = _as_date(tracker.get_slot("booking_date"))
        if day is not None:
            # A date named before the hall (kept by date_before_hall): now the hall's checks.
            tracker.slots["booking_hall"] = hall_id
            result.update(
                self.check_day(
                    dispatcher,
                    tracker,
                    hall_id,
                    bool(tracker.get_slot("booking_priority")),
                    day,
                    tracker.get_slot("booking_part_of_day"),
                    _as_time(tracker.get_slot("booking_time")),
                    common.now(),
                )
            )
        return result

    def validate_booking_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if value is None:
            return {"booking_name": None}
        text = _NAME_PREFIX.sub("", str(value).strip(" \t，。,.!！"))
        if normalize_text(text) in _NOT_NAMES:
            dispatcher.utter_message(response="utter_booking_name_not_a_name")
            return {"booking_name": None}
        if _QUESTION.search(text):
            dispatcher.utter_message(response="utter_booking_name_first")
            return {"booking_name": None}
        check = check_name(text)
        if not check.ok:
            utter_invalid(dispatcher, check)
            return {"booking_name": None}
        return {"booking_name": check.value}

    def validate_booking_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if isinstance(value, str) and MASKED_ID.fullmatch(value):
            return {"booking_id_number": self.kept(dispatcher, tracker, "booking_id_number", value)}
        value = _unsealed(value)
        if value is None:
            return {"booking_id_number": None}
        check = check_id_number(_id_candidate(value), common.now().date())
        if not check.ok:
            utter_invalid(dispatcher, check)
            return {"booking_id_number": None}
        if check.is_minor and tracker.get_slot(REQUESTED_SLOT) == "booking_id_number":
            documents = guardian_documents(tracker.get_slot("booking_service"))
            if documents:
                dispatcher.utter_message(
                    response="utter_booking_guardian_reminder", documents=documents
                )
        common._pending().put(tracker.sender_id, "id_number", check.value or "")
        return {"booking_id_number": mask_id(check.value or "")}

    def validate_booking_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if isinstance(value, str) and MASKED_PHONE.fullmatch(value):
            return {"booking_phone": self.kept(dispatcher, tracker, "booking_phone", value)}
        value = _unsealed(value)
        if value is None:
            return {"booking_phone": None}
        check = check_phone(_phone_candidate(value))
        if not check.ok:
            utter_invalid(dispatcher, check)
            return {"booking_phone": None}
        common._pending().put(tracker.sender_id, "phone", check.value or "")
        return {"booking_phone": mask_phone(check.value or "")}

    def kept(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, shown: str
    ) -> Optional[str]:
        """A masked slot validated again (the form resumed): keep it only while the store
        still holds the matching value; else say why it is asked again (once per turn)."""
        clear = common._pending().get(tracker.sender_id, _PERSONAL_FIELDS[slot])
        if clear is not None and _masked(slot, clear) == shown:
            return shown
        id_already_said = slot == "booking_phone" and tracker.slots.get("booking_id_number") is None
        if not id_already_said:
            minutes = int(PENDING_TTL.total_seconds() // 60)
            dispatcher.utter_message(response="utter_booking_personal_expired", minutes=minutes)
        return None

    def validate_booking_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        result = self.confirm_answer(tracker, value, BOOKING_SLOTS)
        if result.get("booking_confirm") is None and FAILURES_SLOT not in result:
            if tracker.get_slot(REQUESTED_SLOT) == "booking_confirm":
                dispatcher.utter_message(response="utter_booking_confirm_please")
        return result


# --- managing a booking --------------------------------------------------------------------


class ManageFormValidation(BookingFormValidationAction):
    """The code, then the last four phone digits unless the booking was made in this chat."""

    #: Only an active booking of a day to come can be cancelled or moved; the responses say
    #: why not (the lookup form shows any booking, so it has none).
    needs_active: bool = False
    not_active_response: str = ""
    day_passed_response: str = ""

    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

    def error_reply(self, exc: Exception) -> Optional[str]:
        if isinstance(exc, BookingUnavailable):
            return "utter_booking_unavailable"
        return super().error_reply(exc)

    #: The hand-over offers after three failed tries: at the last-four step, and elsewhere.
    handoff_last4_response: str = "utter_booking_lookup_handoff_last4"
    handoff_code_response: str = "utter_booking_lookup_handoff_code"

    def handoff_response(self, slot: Text) -> str:
        if slot == "booking_phone_last4":
            return self.handoff_last4_response
        return self.handoff_code_response

    async def extract_booking_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested not in (None, "booking_code") or passes_through(tracker):
            return {}
        code = code_from_message(tracker)
        if code:
            return {"booking_code": code}
        if requested == "booking_code":
            return {"booking_code": None}  # an answer without a code: a failed try
        if tracker.get_slot("booking_code"):
            return {}  # back after a failed change (FollowupAction) or a retry: same booking
        # Activation without a code: the sender's only active booking, else ask.
        mine = common._repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))
        if len(mine) == 1:
            return {"booking_code": mine[0].code}
        return {"booking_code": None, "booking_phone_last4": None}

    def validate_booking_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        asked = tracker.get_slot(REQUESTED_SLOT) == "booking_code"
        code = normalize_code(str(value)) if value is not None else None
        if code is None:
            if asked:
                dispatcher.utter_message(response="utter_booking_code_missing")
            return {"booking_code": None}
        seen = check_access(tracker, code)
        if seen.error == "unavailable":
            raise BookingUnavailable("access check")
        if seen.ok and seen.booking is not None:
            if self.status_problem(dispatcher, seen.booking):
                return {"booking_code": None}
            return {
                "booking_code": code,
                "booking_phone_last4": OWNER if seen.level == "owner" else VERIFIED,
            }
        if seen.error in ("locked", "rate_limited"):
            return self.refuse_and_end(dispatcher, seen)
        # Not the owner: ask the last four whether or not the code exists, so the answer to a
        # guessed code tells nothing.
        return {"booking_code": code, "booking_phone_last4": None}

    def status_problem(self, dispatcher: CollectingDispatcher, view: BookingView) -> bool:
        """Say why a booking the caller may see cannot be cancelled/moved; True if so."""
        if self.needs_active and view.status != STATUS_ACTIVE:
            dispatcher.utter_message(response=self.not_active_response, code=view.code)
            return True
        if self.needs_active and view.day < common.now().date():
            dispatcher.utter_message(response=self.day_passed_response, code=view.code)
            return True
        return False

    @staticmethod
    def refuse_and_end(dispatcher: CollectingDispatcher, result: AccessResult) -> Dict[Text, Any]:
        """Locked code or rate-limited sender: say how to reach the hall and end the form."""
        utter_access_refusal(dispatcher, result)
        return {
            "booking_code": None,
            "booking_phone_last4": None,
            FAILURES_SLOT: None,
            REQUESTED_SLOT: None,
        }

    def validate_booking_phone_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        asked = tracker.get_slot(REQUESTED_SLOT) == "booking_phone_last4"
        code = tracker.get_slot("booking_code")
        if not asked:
            # Set without being asked (a prefilled or forged slot): keep the step only while
            # the repository says this sender may see the booking.
            current = tracker.get_slot("booking_phone_last4")
            if current in (OWNER, VERIFIED) and value == current and code:
                seen = check_access(tracker, code)
                if seen.ok:
                    return {"booking_phone_last4": OWNER if seen.level == "owner" else VERIFIED}
            return {"booking_phone_last4": None}
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(value or "")))
        if len(digits) == 11:
            digits = digits[-4:]
        if len(digits) != 4:
            dispatcher.utter_message(response="utter_booking_last4_invalid")
            return {"booking_phone_last4": None}
        if not code:
            return {"booking_phone_last4": None, "booking_code": None}
        result = common._repo().verify_last4(
            str(code), digits, sender_id=tracker.sender_id, channel=_channel(tracker)
        )
        if result.ok and result.booking is not None:
            if self.status_problem(dispatcher, result.booking):
                return {"booking_phone_last4": None, "booking_code": None}
            return {"booking_phone_last4": OWNER if result.level == "owner" else VERIFIED}
        if result.error == "unavailable":
            raise BookingUnavailable("verification")
        if result.error in ("locked", "rate_limited"):
            return self.refuse_and_end(dispatcher, result)
        utter_access_refusal(
            dispatcher, result
        )  # the same words for a wrong digit and no such code
        return {"booking_phone_last4": None}


class ValidateBookingLookupForm(ManageFormValidation):
    stop_response = "utter_booking_lookup_stopped"

    def name(self) -> Text:
        return "validate_booking_lookup_form"


class ValidateBookingCancelForm(ManageFormValidation):
    needs_active = True
    not_active_response = "utter_booking_cancel_not_active"
    day_passed_response = "utter_booking_cancel_day_passed"
    stop_response = "utter_booking_cancel_stopped"
    handoff_last4_response = "utter_booking_cancel_handoff_last4"
    handoff_code_response = "utter_booking_cancel_handoff_code"

    def name(self) -> Text:
        return "validate_booking_cancel_form"

    def validate_booking_cancel_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot(REQUESTED_SLOT) != "booking_cancel_confirm":
            return {"booking_cancel_confirm": None}
        intent = latest_intent(tracker)
        text = normalize_text(latest_text(tracker) or str(value or ""))
        if text in _CANCEL_NO or intent == "deny":
            return {"booking_cancel_confirm": False}
        if text in _CANCEL_YES or intent == "affirm":
            return {"booking_cancel_confirm": True}
        dispatcher.utter_message(response="utter_booking_cancel_confirm_please")
        return {"booking_cancel_confirm": None}


class ValidateBookingRescheduleForm(DateTimeValidation, ManageFormValidation):
    needs_active = True
    not_active_response = "utter_booking_reschedule_not_active"
    day_passed_response = "utter_booking_reschedule_day_passed"
    stop_response = "utter_booking_reschedule_stopped"
    handoff_last4_response = "utter_booking_reschedule_handoff_last4"
    handoff_code_response = "utter_booking_reschedule_handoff_code"
    extra_slots_cleared_on_stop = ("booking_part_of_day",)

    def name(self) -> Text:
        return "validate_booking_reschedule_form"

    def booking_context(self, tracker: Tracker) -> Tuple[Optional[str], bool]:
        return reschedule_context(tracker)

    async def extract_booking_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """At activation, take a new date from "把HZ-7K3Q9改到明天", and drop any date left
        over from an unfinished booking form (the two forms share the slot)."""
        if tracker.get_slot(REQUESTED_SLOT) is not None or passes_through(tracker):
            return {}
        text = latest_text(tracker)
        has_day = not text.startswith("/") and parse_date(text, common.now().date()).day is not None
        return {
            "booking_date": text if has_day else None,
            "booking_time": None,
            "booking_confirm": None,
        }

    def validate_booking_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        result = self.confirm_answer(tracker, value, ("booking_date", "booking_time"))
        if result.get("booking_confirm") is None and FAILURES_SLOT not in result:
            if tracker.get_slot(REQUESTED_SLOT) == "booking_confirm":
                dispatcher.utter_message(response="utter_booking_reschedule_confirm_please")
        return result
