"""The one place a refusal code of bot.booking becomes a reply: code → domain response
(domain/booking_rules.yml), with the variables filled from the refusal's hints.

Why here and not in the repository: the repository decides, the chat words. The same code can
read differently per operation (a full slot keeps the old booking when moving it), so an
operation's own response (`utter_reschedule_refused_<code>`) wins over the booking one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Callable, Dict, Literal, Optional, Tuple

from rasa_sdk.executor import CollectingDispatcher

from actions.booking import common
from actions.booking.format import hhmm
from bot.booking import BookingResult, RefusalHints
from bot.calendar import calendar_note, day_off_label

Operation = Literal["booking", "reschedule", "cancel"]
#: Joins the listed times and sessions inside a sentence (“09:00、09:30”).
LIST_SEPARATOR = "、"


def month_day(d: date) -> str:
    """12月3日: how a booking refusal names a day."""
    return f"{d.month}月{d.day}日"


@dataclass(frozen=True)
class Reply:
    """A domain response and its variables."""

    response: str
    values: Dict[str, Any] = field(default_factory=dict)

    def utter(self, dispatcher: CollectingDispatcher, **extra: Any) -> None:
        """Say the response with its variables (and any `extra`, such as buttons)."""
        dispatcher.utter_message(response=self.response, **self.values, **extra)


#: (operation, variant) → domain response (domain/booking_rules.yml). A variant is the refusal
#: code, or the code's form for its hints (slot_full_day: no other time free that day). An
#: operation without its own response uses the booking one.
RESPONSES: Dict[Tuple[str, str], str] = {
    ("booking", "past"): "utter_booking_refused_past",
    ("booking", "too_far"): "utter_booking_refused_too_far",
    ("booking", "not_working_day"): "utter_booking_refused_not_working_day",
    ("booking", "not_working_day_noted"): "utter_booking_refused_not_working_day_noted",
    ("booking", "invalid_slot"): "utter_booking_refused_invalid_slot",
    ("booking", "slot_passed"): "utter_booking_refused_slot_passed",
    ("booking", "hall_not_bookable"): "utter_booking_refused_hall_not_bookable",
    ("booking", "slot_full"): "utter_booking_refused_slot_full",
    ("booking", "slot_full_day"): "utter_booking_refused_slot_full_day",
    ("reschedule", "slot_full"): "utter_reschedule_refused_slot_full",
    ("reschedule", "slot_full_day"): "utter_reschedule_refused_slot_full_day",
    ("booking", "duplicate"): "utter_booking_refused_duplicate",
    ("reschedule", "duplicate"): "utter_reschedule_refused_duplicate",
    ("booking", "unknown_hall"): "utter_booking_refused_unknown_hall",
    ("booking", "hall_withdrawn"): "utter_booking_refused_hall_withdrawn",
    ("booking", "invalid_service"): "utter_booking_refused_invalid_service",
    ("booking", "not_found"): "utter_booking_refused_not_found",
    ("reschedule", "not_active"): "utter_reschedule_refused_not_active",
    ("cancel", "not_active"): "utter_cancel_refused_not_active",
    ("reschedule", "booking_passed"): "utter_reschedule_refused_booking_passed",
    ("booking", "unavailable"): "utter_booking_refused_unavailable",
    ("cancel", "unavailable"): "utter_cancel_refused_unavailable",
    ("reschedule", "unavailable"): "utter_reschedule_refused_unavailable",
    ("booking", ""): "utter_booking_refused",
    ("cancel", ""): "utter_cancel_refused",
    ("reschedule", ""): "utter_reschedule_refused",
}


#: bot.validation's refusal codes and the responses that say them (the one place they meet).
INVALID_RESPONSES = {
    "id_missing": "utter_invalid_id_missing",
    "id_too_long": "utter_invalid_id_too_long",
    "id_old_15_digits": "utter_invalid_id_old_15_digits",
    "id_wrong_length": "utter_invalid_id_wrong_length",
    "id_bad_format": "utter_invalid_id_bad_format",
    "id_bad_checksum": "utter_invalid_id_bad_checksum",
    "id_no_such_birth_date": "utter_invalid_id_no_such_birth_date",
    "id_born_after_today": "utter_invalid_id_born_after_today",
    "id_implausible_birth_date": "utter_invalid_id_implausible_birth_date",
    "phone_missing": "utter_invalid_phone_missing",
    "phone_not_digits": "utter_invalid_phone_not_digits",
    "phone_too_long": "utter_invalid_phone_too_long",
    "phone_unreadable": "utter_invalid_phone_unreadable",
    "phone_not_mainland": "utter_invalid_phone_not_mainland",
    "phone_invalid": "utter_invalid_phone_invalid",
    "phone_not_mobile": "utter_invalid_phone_not_mobile",
    "name_missing": "utter_invalid_name_missing",
    "name_too_long": "utter_invalid_name_too_long",
    "name_not_a_name": "utter_invalid_name_not_a_name",
    "name_bad_characters": "utter_invalid_name_bad_characters",
    "name_too_short": "utter_invalid_name_too_short",
}


#: bot.dates' DateProblem codes and the responses that say why a text is no date.
DATE_PROBLEM_RESPONSES = {
    "unclear": "utter_date_unclear",
    "no_such_month": "utter_date_no_such_month",
    "no_such_day": "utter_date_no_such_day",
    "no_such_day_of_month": "utter_date_no_such_day_of_month",
    "which_weekday": "utter_date_which_weekday",
    "which_day": "utter_date_which_day",
    "no_such_time": "utter_date_no_such_time",
}


def invalid_reply(check: Optional[Any]) -> Optional[Reply]:
    """Why bot.validation refused an input, as its response; None for an unknown code."""
    response = INVALID_RESPONSES.get(getattr(check, "code", None) or "")
    return Reply(response, dict(check.params)) if response and check is not None else None


def utter_invalid(dispatcher: CollectingDispatcher, check: Any) -> None:
    """Say why bot.validation refused the input; an unknown code is a bug (the form's error
    reply answers it)."""
    reply = invalid_reply(check)
    if reply is None:
        raise KeyError(f"no response for validation code {getattr(check, 'code', None)!r}")
    reply.utter(dispatcher)


def _response(operation: Operation, variant: str) -> str:
    """The operation's own response for `variant`, else the booking one, else the operation's
    plain refusal."""
    return (
        RESPONSES.get((operation, variant))
        or RESPONSES.get(("booking", variant))
        or RESPONSES[(operation, "")]
    )


def refusal_reply(
    code: Optional[str],
    hints: RefusalHints,
    *,
    operation: Operation = "booking",
    day: Callable[[date], str] = month_day,
    english: bool = False,
) -> Reply:
    """The reply for a refusal; `day` formats the dates as the asking step shows them."""

    def when(d: Optional[date]) -> str:
        return day(d) if d is not None else ""

    def clock(t: Optional[time]) -> str:
        return hhmm(t) if t is not None else ""

    if code in ("invalid_id", "invalid_phone", "invalid_name"):
        return invalid_reply(hints.check) or Reply(_response(operation, ""))
    if code == "past":
        return Reply(_response(operation, "past"), {"day": when(hints.day)})
    if code == "too_far":
        values = {"window_days": hints.window_days, "last_day": when(hints.last_day)}
        return Reply(_response(operation, "too_far"), values)
    if code == "not_working_day" and hints.day is not None:
        note = calendar_note(hints.day)
        values = {"day": when(hints.day), "day_off": day_off_label(hints.day)}
        if note:
            return Reply(_response(operation, "not_working_day_noted"), {**values, "note": note})
        return Reply(_response(operation, "not_working_day"), values)
    if code == "invalid_slot":
        spans = LIST_SEPARATOR.join(f"{hhmm(a)}–{hhmm(b)}" for a, b in hints.sessions)
        values = {"time": clock(hints.start), "sessions": spans}
        return Reply(_response(operation, "invalid_slot"), values)
    if code == "slot_passed":
        return Reply(_response(operation, "slot_passed"), {"time": clock(hints.start)})
    if code == "slot_full":
        values = {"day": when(hints.day), "time": clock(hints.start)}
        if hints.free_times:
            free = LIST_SEPARATOR.join(hhmm(t) for t in hints.free_times)
            return Reply(_response(operation, "slot_full"), {**values, "free_times": free})
        return Reply(_response(operation, "slot_full_day"), values)
    if code == "duplicate":
        values = {"day": when(hints.day), "code": hints.booking_code}
        return Reply(_response(operation, "duplicate"), values)
    if code == "hall_not_bookable":
        return Reply(
            _response(operation, "hall_not_bookable"),
            {"hall": common.hall_name(hints.hall_id, english), "hotline": common._hotline()},
        )
    if code in ("not_found", "not_active", "booking_passed") and hints.booking_code:
        return Reply(_response(operation, code), {"code": hints.booking_code})
    if code in ("unknown_hall", "hall_withdrawn", "invalid_service", "unavailable"):
        return Reply(_response(operation, code))
    return Reply(_response(operation, ""))


def utter_refusal(
    dispatcher: CollectingDispatcher,
    result: BookingResult,
    operation: Operation = "booking",
    *,
    english: bool = False,
) -> None:
    """Say why the repository refused `result`."""
    reply = refusal_reply(result.error, result.hints, operation=operation, english=english)
    reply.utter(dispatcher)
