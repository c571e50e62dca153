"""Dates, times and bookings as the citizen reads them, and the documents list to bring.

A reply that is put together from parts (a booking's details, the reason a day cannot be
booked) takes each part's words from a domain response with `words`, and passes the result as
a variable of the response it sends.
"""

from __future__ import annotations

import logging
import re
from datetime import date, time, timedelta
from typing import Any, Dict, List, Optional, Sequence

from actions.booking import common
from actions.booking.common import (
    _CLOCK,
    STATUS_ACTIVE,
    WEEKDAYS,
    green_channel_proofs,
    guardian_documents,
    service_label,
)
from bot.booking import BookingView, SlotView
from bot.domain_files import responses
from bot.kb import get_kb

logger = logging.getLogger(__name__)


def _english(variation: Dict[str, Any]) -> bool:
    return any(
        c.get("type") == "slot" and c.get("name") == "language" and c.get("value") == "en"
        for c in variation.get("condition") or []
    )


def words(response: str, /, english: bool = False, **values: Any) -> str:
    """The text of the domain response `response` (its English variation when asked and there
    is one), filled with `values` as Rasa fills a response: for a part of a longer reply."""
    variations = responses()[response]
    chosen = next((v for v in variations if english and _english(v)), None)
    if chosen is None:
        chosen = next(v for v in variations if not v.get("condition"))
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), str(chosen["text"]))


def fmt_day(d: date) -> str:
    """2026年12月3日（周四）: a booking's day in full, as confirmations show it."""
    return f"{d.year}年{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


def short_day(d: date, today: Optional[date] = None) -> str:
    """12月3日 周四, marked （今天）/（明天） near `today`: a day on a button."""
    label = f"{d.month}月{d.day}日 周{WEEKDAYS[d.weekday()]}"
    if today is not None and d == today:
        return label + "（今天）"
    if today is not None and d == today + timedelta(days=1):
        return label + "（明天）"
    return label


def hhmm(t: time) -> str:
    """09:30: a slot's start."""
    return t.strftime("%H:%M")


def _as_date(value: Any) -> Optional[date]:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def _as_time(value: Any) -> Optional[time]:
    m = _CLOCK.match(str(value or ""))
    if not m:
        return None
    try:
        return time(int(m.group(1)), int(m.group(2)))
    except ValueError:
        return None


def _day_buttons(days: Sequence[date], today: date) -> List[Dict[str, str]]:
    return [
        {"title": short_day(d, today), "payload": f'/inform{{"booking_date":"{d.isoformat()}"}}'}
        for d in days
    ]


def _in_part(slot: SlotView, part: Optional[str]) -> bool:
    if part == "morning":
        return slot.start < time(12, 0)
    if part == "afternoon":
        return slot.start >= time(12, 0)
    return True


def booking_status(view: BookingView) -> str:
    """有效, 已取消 or 已过期 (an active booking whose day has passed)."""
    if view.status != STATUS_ACTIVE:
        return words("utter_booking_status_cancelled")
    if view.day < common.now().date():
        return words("utter_booking_status_expired")
    return words("utter_booking_status_active")


def booking_details(view: BookingView) -> List[str]:
    """A booking as shown to its owner, without its code line: masked name, ID and phone only."""
    text = words(
        "utter_booking_details_priority" if view.priority else "utter_booking_details",
        service=service_label(view.service),
        hall=view.hall_name,
        day=fmt_day(view.day),
        start=hhmm(view.start),
        end=hhmm(view.end),
        name=view.name_masked,
        id_number=view.id_masked,
        phone=view.phone_masked,
    )
    return text.split("\n")


def booking_lines(view: BookingView) -> List[str]:
    """A booking as shown to its owner: its code and status, then `booking_details`."""
    code_line = words("utter_booking_code_line", code=view.code, status=booking_status(view))
    return [code_line] + booking_details(view)


def what_to_bring(service: Optional[str], is_minor: bool, priority: bool) -> str:
    """The documents list from the knowledge base (one fact, one place)."""
    text = ""
    try:
        slots = {"service": service}
        if is_minor:
            slots["applicant_type"] = "minor"
        answer = get_kb().answer("documents", slots)
        if answer is not None:
            text = answer.fact.text.strip()
    except Exception:
        logger.exception("documents answer failed for %s", service)
    if not text:
        text = words("utter_booking_bring_fallback")
    if is_minor and "监护" not in text:
        guardian = guardian_documents(service)
        if guardian:
            text += "\n" + guardian
    if priority:
        text += "\n" + green_channel_proofs()
    return text
