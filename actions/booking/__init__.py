"""Hall appointments in the chat: the booking form, and looking up, rescheduling and
cancelling a booking.

Thin on purpose: bot.booking decides what may be booked and writes it atomically, bot.dates
reads Chinese dates, bot.validation checks ID, phone and name, bot.kb holds the halls and
what to bring. This package words the replies. The ID number and the phone are only ever
shown masked (330521********001X, 138****5678). The slots hold only that masked form: the
values themselves wait server-side in the booking database (bot.booking.pending, sealed),
because every slot value stays in the tracker's event history and a sealed value there can be
opened by anyone holding the secret. They are deleted once the booking is written, when the
form stops, or after 30 minutes.

Access: whether this sender may see, cancel or move a booking is asked from the repository
(`check_access`: the owner's sender+channel, or a grant the repository recorded after a correct
last four) on every step. The slot booking_phone_last4 ("owner"/"verified") only tells the
form that a step is done; it grants nothing. New replies are domain responses (`# access`).

Four forms (domain/booking.yml):
- booking_form: service, hall, date, time, name, ID, phone, confirmation → action_submit_booking
- booking_lookup_form: code (+ last four phone digits when asked from another chat)
  → action_lookup_booking
- booking_cancel_form: code (+ last four) + "确认取消吗" → action_cancel_booking
- booking_reschedule_form: code (+ last four) + date, time, confirmation
  → action_reschedule_booking (the code stays the same)
A form that was stopped also ends in its submit action (see actions/forms_base.py), so each
submit action does nothing unless its form was really completed.

The package, one module per section (each imports only the ones before it):
- common: constants, the clock and the stores, the access check, service and hall labels
- format: dates, times and bookings as shown; the documents to bring
- refusals: the repository's refusal codes → domain responses (domain/booking_rules.yml)
- parse: reading the user's answer (service, hall, code, name, ID, phone, "改…")
- validate: the shared date and time checks, validate_booking_form, the manage forms' validators
- ask: action_ask_<slot> for the steps that list choices or show data, and the confirmation
  summaries (fixed questions are the domain's utter_ask_<slot>)
- submit: the submit actions, my bookings, and starting a green-channel booking
The names below are re-exported, so `from actions.booking import X` keeps working. Tests
replace the clock and the stores in actions.booking.common (`now`, `_repo`, `_pending`) and
the free-seat query in actions.booking.validate (`free_slots`), where they are looked up; those
are deliberately not re-exported, so patching them here fails loudly instead of doing nothing.
"""

from __future__ import annotations

from actions.booking.ask import (
    ActionAskBookingCancelConfirm,
    ActionAskBookingCode,
    ActionAskBookingConfirm,
    ActionAskBookingDate,
    ActionAskBookingHall,
    ActionAskBookingService,
    ActionAskBookingTime,
    AskAction,
    booking_summary,
    reschedule_summary,
)
from actions.booking.common import (
    BOOKING_SLOTS,
    DETAIL_STEPS,
    MANAGE_SLOTS,
    OWNER,
    SERVICES,
    STATUS_ACTIVE,
    TZ,
    VERIFIED,
    WEEKDAYS,
    check_access,
    hall_name,
    service_label,
    utter_access_refusal,
)
from actions.booking.format import booking_lines, fmt_day, hhmm, short_day, what_to_bring
from actions.booking.parse import (
    code_from_message,
    find_booking_code,
    looks_like_name,
    parse_hall,
    parse_service,
    personal,
)
from actions.booking.refusals import Reply, refusal_reply, utter_refusal
from actions.booking.submit import (
    ActionCancelBooking,
    ActionLookupBooking,
    ActionMyBookings,
    ActionRescheduleBooking,
    ActionStartPriorityBooking,
    ActionSubmitBooking,
    utter_confirmation,
)
from actions.booking.validate import (
    DateTimeValidation,
    ManageFormValidation,
    ValidateBookingCancelForm,
    ValidateBookingForm,
    ValidateBookingLookupForm,
    ValidateBookingRescheduleForm,
    form_context,
    reschedule_context,
)

__all__ = [
    "BOOKING_SLOTS",
    "DETAIL_STEPS",
    "MANAGE_SLOTS",
    "OWNER",
    "Reply",
    "SERVICES",
    "STATUS_ACTIVE",
    "TZ",
    "VERIFIED",
    "WEEKDAYS",
    "ActionAskBookingCancelConfirm",
    "ActionAskBookingCode",
    "ActionAskBookingConfirm",
    "ActionAskBookingDate",
    "ActionAskBookingHall",
    "ActionAskBookingService",
    "ActionAskBookingTime",
    "ActionCancelBooking",
    "ActionLookupBooking",
    "ActionMyBookings",
    "ActionRescheduleBooking",
    "ActionStartPriorityBooking",
    "ActionSubmitBooking",
    "AskAction",
    "DateTimeValidation",
    "ManageFormValidation",
    "ValidateBookingCancelForm",
    "ValidateBookingForm",
    "ValidateBookingLookupForm",
    "ValidateBookingRescheduleForm",
    "booking_lines",
    "booking_summary",
    "check_access",
    "code_from_message",
    "utter_confirmation",
    "find_booking_code",
    "fmt_day",
    "form_context",
    "hall_name",
    "hhmm",
    "looks_like_name",
    "parse_hall",
    "parse_service",
    "personal",
    "reschedule_context",
    "refusal_reply",
    "reschedule_summary",
    "service_label",
    "short_day",
    "utter_access_refusal",
    "utter_refusal",
    "what_to_bring",
]
