"""The submit actions: writing the booking, my bookings, looking up, cancelling and
rescheduling a booking, and starting a green-channel (priority) booking."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.booking import common
from actions.booking.common import (
    BOOKING_SLOTS,
    MANAGE_SLOTS,
    OWNER,
    SERVICES,
    VERIFIED,
    _channel,
    _halls,
    check_access,
    hall_name,
    utter_access_refusal,
)
from actions.booking.format import (
    _as_date,
    _as_time,
    booking_details,
    booking_lines,
    booking_status,
    fmt_day,
    hhmm,
    what_to_bring,
    words,
)
from actions.booking.parse import personal
from actions.booking.refusals import utter_refusal
from actions.care import offer_follow_up
from actions.forms_base import FAILURES_SLOT
from bot.booking import AccessResult, BookingResult, BookingUnavailable
from bot.booking.pending import PENDING_TTL
from bot.language import CHINESE, ENGLISH, is_english

logger = logging.getLogger(__name__)


def _clear(*slots: str) -> List[EventType]:
    return [SlotSet(s, None) for s in slots]


class ActionSubmitBooking(Action):
    """Writes the booking once the form is confirmed; a stopped form does nothing here."""

    def name(self) -> Text:
        return "action_submit_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if tracker.get_slot("booking_confirm") is not True:
            return []
        day = _as_date(tracker.get_slot("booking_date"))
        start = _as_time(tracker.get_slot("booking_time"))
        values = {s: tracker.get_slot(s) for s in BOOKING_SLOTS}
        try:
            values["booking_id_number"] = personal(tracker, "booking_id_number")
            values["booking_phone"] = personal(tracker, "booking_phone")
        except BookingUnavailable:
            dispatcher.utter_message(response="utter_booking_unavailable_kept")
            return [SlotSet("booking_confirm", None)]
        missing = [s for s, v in values.items() if v is None]
        if day is None or start is None or missing:
            if {"booking_id_number", "booking_phone"} & set(missing) and tracker.get_slot(
                "booking_id_number"
            ):
                minutes = int(PENDING_TTL.total_seconds() // 60)
                dispatcher.utter_message(response="utter_booking_personal_expired", minutes=minutes)
            else:
                dispatcher.utter_message(response="utter_booking_incomplete")
            return _clear("booking_confirm", *missing) + [FollowupAction("booking_form")]
        priority = bool(tracker.get_slot("booking_priority"))
        current = common.now()
        try:
            result = common._repo().book(
                hall_id=values["booking_hall"],
                service=values["booking_service"],
                day=day,
                start=start,
                name=values["booking_name"],
                id_number=values["booking_id_number"],
                phone=values["booking_phone"],
                channel=_channel(tracker),
                sender_id=tracker.sender_id,
                priority=priority,
                today=current.date(),
                now=current,
                language=ENGLISH if is_english(tracker) else CHINESE,
            )
        except Exception:  # the repository reports outages itself; anything else is a bug
            logger.exception("booking failed")
            result = None
        if result is None or result.error == "unavailable":
            dispatcher.utter_message(response="utter_booking_refused_unavailable")
            return [SlotSet("booking_confirm", None)]
        if result.ok and result.booking is not None:
            if is_english(tracker):
                view = result.booking
                dispatcher.utter_message(
                    response="utter_booking_booked",
                    code=result.code or view.code,
                    hall=hall_name(view.hall_id, True),
                    day=view.day.isoformat(),
                    time=hhmm(view.start),
                )
            else:
                utter_confirmation(dispatcher, result, values["booking_service"], priority)
            _forget_personal(tracker)
            offer_follow_up(dispatcher, tracker, "booking")  # once per conversation (issue 14)
            # The green channel's offer is taken: "帮我预约" means an ordinary booking again.
            done = ("green_channel_context",) if priority else ()
            return _clear(
                *BOOKING_SLOTS, "booking_priority", "booking_part_of_day", FAILURES_SLOT, *done
            )
        return self._refused(dispatcher, tracker, result)

    @staticmethod
    def _refused(
        dispatcher: CollectingDispatcher, tracker: Tracker, result: BookingResult
    ) -> List[EventType]:
        """Nothing was written: say why and ask again only what has to change."""
        error = result.error or ""
        if error == "duplicate":
            utter_refusal(dispatcher, result)
            _forget_personal(tracker)
            return _clear(*BOOKING_SLOTS, "booking_priority", "booking_part_of_day", FAILURES_SLOT)
        redo = {
            "slot_full": ("booking_time",),
            "slot_passed": ("booking_time",),
            "invalid_slot": ("booking_time",),
            "invalid_id": ("booking_id_number",),
            "invalid_phone": ("booking_phone",),
            "invalid_name": ("booking_name",),
            "invalid_service": ("booking_service",),
            "unknown_hall": ("booking_hall", "booking_date", "booking_time"),
            "hall_not_bookable": ("booking_hall", "booking_date", "booking_time"),
        }.get(error, ("booking_date", "booking_time"))
        utter_refusal(dispatcher, result)
        return _clear(*redo, "booking_confirm") + [FollowupAction("booking_form")]


def _forget_personal(tracker: Tracker) -> None:
    """The booking is written (or the form is over): its ID and phone leave the store."""
    try:
        common._pending().drop(tracker.sender_id)
    except BookingUnavailable:
        logger.warning("could not drop pending personal data now; it expires by itself")


def utter_confirmation(
    dispatcher: CollectingDispatcher, result: BookingResult, service: Optional[str], priority: bool
) -> None:
    """预约成功 with the code, the booking, the hall's address and phone, and what to bring."""
    view = result.booking
    assert view is not None, "a confirmation needs a written booking"
    hall = _halls().get(view.hall_id)
    lines = booking_details(view)
    if hall is not None:
        if hall.address.resolved():
            lines.append(words("utter_booking_address_line", address=hall.address.resolved()))
        if hall.phone.resolved():
            lines.append(words("utter_booking_hall_phone_line", phone=hall.phone.resolved()))
    values = {
        "code": result.code or view.code,
        "details": "\n".join(lines),
        "bring": what_to_bring(service, result.is_minor, priority),
    }
    note = result.note
    if note:
        dispatcher.utter_message(response="utter_booking_confirmed_note", note=note, **values)
    else:
        dispatcher.utter_message(response="utter_booking_confirmed", **values)


class ActionMyBookings(Action):
    """我的预约: the active bookings made in this chat."""

    def name(self) -> Text:
        return "action_my_bookings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            mine = common._repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))
        except BookingUnavailable:
            dispatcher.utter_message(response="utter_booking_unavailable")
            return []
        if not mine:
            dispatcher.utter_message(response="utter_my_bookings_none")
            return []
        blocks = [f"{i}. " + "\n   ".join(booking_lines(view)) for i, view in enumerate(mine, 1)]
        buttons: List[Dict[str, str]] = []
        for view in mine[:3]:
            buttons.append(
                {
                    "title": words("utter_booking_button_reschedule", code=view.code),
                    "payload": f'/reschedule_booking{{"booking_code":"{view.code}"}}',
                }
            )
            buttons.append(
                {
                    "title": words("utter_booking_button_cancel", code=view.code),
                    "payload": f'/cancel_booking{{"booking_code":"{view.code}"}}',
                }
            )
        dispatcher.utter_message(
            response="utter_my_bookings",
            count=len(mine),
            bookings="\n".join(blocks),
            buttons=buttons,
        )
        return []


def _form_done(tracker: Tracker) -> Optional[str]:
    """The form's booking code when its access step was completed (a flag only: whoever
    holds the code is asked again from the database by `_allowed`)."""
    code = tracker.get_slot("booking_code")
    if code and tracker.get_slot("booking_phone_last4") in (OWNER, VERIFIED):
        return str(code)
    return None


def _allowed(
    dispatcher: CollectingDispatcher, tracker: Tracker, code: str
) -> Optional[AccessResult]:
    """The repository's yes (with the booking), or None after the refusal was said."""
    seen = check_access(tracker, code)
    if seen.ok and seen.booking is not None:
        return seen
    utter_access_refusal(dispatcher, seen)
    return None


class ActionLookupBooking(Action):
    def name(self) -> Text:
        return "action_lookup_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        code = _form_done(tracker)
        if code is None:  # stopped, or ended with the hand-over offer
            return _clear(*MANAGE_SLOTS)
        seen = _allowed(dispatcher, tracker, code)
        if seen is not None and seen.booking is not None:
            view = seen.booking
            dispatcher.utter_message(
                response="utter_booking_found",
                code=view.code,
                status=booking_status(view),
                details="\n".join(booking_details(view)),
            )
        return _clear(*MANAGE_SLOTS, FAILURES_SLOT)


class ActionCancelBooking(Action):
    """Cancels after the form's "确认取消吗" was answered yes."""

    def name(self) -> Text:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        code = _form_done(tracker)
        confirmed = tracker.get_slot("booking_cancel_confirm")
        if code is None or confirmed is None:
            return _clear(*MANAGE_SLOTS, "booking_cancel_confirm")
        done = _clear(*MANAGE_SLOTS, "booking_cancel_confirm", FAILURES_SLOT)
        if _allowed(dispatcher, tracker, code) is None:
            return done
        if confirmed is not True:
            dispatcher.utter_message(response="utter_booking_cancel_kept", code=code)
            return done
        result = common._repo().cancel(code, actor=tracker.sender_id, channel=_channel(tracker))
        if result.ok:
            view = result.booking
            if view is not None:
                dispatcher.utter_message(
                    response="utter_booking_cancelled",
                    code=code,
                    day=fmt_day(view.day),
                    time=hhmm(view.start),
                )
            else:
                dispatcher.utter_message(response="utter_booking_cancelled_no_time", code=code)
            return done
        utter_refusal(dispatcher, result, "cancel")
        if result.error == "unavailable":
            return [SlotSet("booking_cancel_confirm", None)]
        return done


class ActionRescheduleBooking(Action):
    """Moves the booking to the confirmed date and time; the code does not change."""

    def name(self) -> Text:
        return "action_reschedule_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        code = _form_done(tracker)
        day = _as_date(tracker.get_slot("booking_date"))
        start = _as_time(tracker.get_slot("booking_time"))
        if (
            code is None
            or tracker.get_slot("booking_confirm") is not True
            or day is None
            or start is None
        ):
            return _clear(
                *MANAGE_SLOTS,
                "booking_date",
                "booking_time",
                "booking_confirm",
                "booking_part_of_day",
            )
        done = _clear(
            *MANAGE_SLOTS,
            "booking_date",
            "booking_time",
            "booking_confirm",
            "booking_part_of_day",
            FAILURES_SLOT,
        )
        if _allowed(dispatcher, tracker, code) is None:
            return done
        current = common.now()
        result = common._repo().reschedule(
            code,
            day=day,
            start=start,
            actor=tracker.sender_id,
            channel=_channel(tracker),
            today=current.date(),
            now=current,
        )
        if result.ok and result.booking is not None:
            dispatcher.utter_message(
                response="utter_booking_rescheduled",
                code=result.code or code,
                details="\n".join(booking_details(result.booking)),
            )
            return done
        utter_refusal(dispatcher, result, "reschedule")
        if result.error == "unavailable":
            return [SlotSet("booking_confirm", None)]
        if result.error in (
            "slot_full",
            "slot_passed",
            "invalid_slot",
            "past",
            "too_far",
            "not_working_day",
            "duplicate",
            "booking_passed",
        ):
            return _clear("booking_date", "booking_time", "booking_confirm") + [
                FollowupAction("booking_reschedule_form")
            ]
        return done


class ActionStartPriorityBooking(Action):
    """Green channel: book from the reserved seats of today or the next working day."""

    def name(self) -> Text:
        return "action_start_priority_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events: List[EventType] = [SlotSet("booking_priority", True)]
        events += _clear(
            "booking_date", "booking_time", "booking_confirm", "booking_part_of_day", FAILURES_SLOT
        )
        # A form the green channel interrupted goes on as this booking (its answers stay), so
        # the "要继续刚才的预约吗？" it left open is answered.
        events.append(SlotSet("interrupted_form", None))
        service = tracker.get_slot("service")
        if service in SERVICES and not tracker.get_slot("booking_service"):
            events.append(SlotSet("booking_service", service))
        place = tracker.get_slot("place")
        if place in _halls() and not tracker.get_slot("booking_hall"):
            events.append(SlotSet("booking_hall", place))
        dispatcher.utter_message(response="utter_booking_priority_start")
        return events + [FollowupAction("booking_form")]
