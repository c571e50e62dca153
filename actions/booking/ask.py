"""action_ask_<slot>: each form step's question, with buttons where choices can be listed,
and the summaries the confirmation steps show."""
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
    CONFIRM_BUTTONS,
    _NO,
    SERVICES,
    _channel,
    check_access,
    hall_name,
    _halls,
    service_label,
)
from actions.booking.format import (
    _as_date,
    _as_time,
    booking_lines,
    _day_buttons,
    fmt_day,
    hhmm,
    _in_part,
    short_day,
)
from actions.booking.parse import _shown
from actions.booking.validate import form_context
from actions.forms_base import latest_intent, latest_text, normalize_text
from bot.booking import BOOKING_WINDOW_DAYS, BookingUnavailable
from bot.language import is_english

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
            dispatcher.utter_message(response=self.fallback_response, **self.fallback_values(tracker))
            return []
        try:
            self.ask(dispatcher, tracker)
        except BookingUnavailable:
            dispatcher.utter_message(response=self.fallback_response, **self.fallback_values(tracker))
            dispatcher.utter_message(response="utter_booking_options_unavailable")
        except Exception:
            logger.exception("%s failed", self.name())
            dispatcher.utter_message(response=self.fallback_response, **self.fallback_values(tracker))
        return []


class ActionAskBookingService(AskAction):
    fallback_response = "utter_ask_booking_service"

    def name(self) -> Text:
        return "action_ask_booking_service"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        prefix = "好的，为您预约绿色通道优先时段。" if tracker.get_slot("booking_priority") else ""
        dispatcher.utter_message(
            text=f"{prefix}请问要办理哪项业务？",
            buttons=[
                {"title": service_label(s), "payload": f'/inform{{"service":"{s}"}}'} for s in SERVICES
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
        return [h for h in _halls().values() if h.bookable and (not service or service in h.services)]

    def fallback_values(self, tracker: Tracker) -> Dict[str, Any]:
        english = is_english(tracker)
        names = [hall_name(h.id, english) for h in self.offered(tracker)]
        return {"halls": (", or " if english else " 或 ").join(names)}

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        halls = self.offered(tracker)
        dispatcher.utter_message(
            text="请选择办理大厅：",
            buttons=[{"title": h.name, "payload": f'/inform{{"booking_hall":"{h.id}"}}'} for h in halls],
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
        if priority:
            days = sorted({d for d, _ in repo.priority_slots(hall_id, current)})
            text = f"{hall_name(hall_id)}的绿色通道优先时段可以约今天或下一个工作日，请选择日期："
            if not days:
                text = "抱歉，绿色通道预留的优先时段今天和下一个工作日都已约满。请直接联系大厅，或者说“转人工”。"
        else:
            days = repo.free_days(hall_id, today, 5, now=current)
            text = f"请问哪天去{hall_name(hall_id)}办理？可以直接说“明天”“下周三”“12月3日”，或点选最近可约的日期："
            if tracker.active_loop_name == "booking_reschedule_form":
                seen = check_access(tracker, tracker.get_slot("booking_code"))
                view = seen.booking if seen.ok else None
                if view is not None:
                    text = (
                        f"预约 {view.code} 现在是{fmt_day(view.day)} {hhmm(view.start)}。"
                        "请问改到哪天？可以直接说“明天”“下周三”“12月3日”，或点选最近可约的日期："
                    )
            if not days:
                text = f"抱歉，{BOOKING_WINDOW_DAYS}天内暂时没有可约的时段，可以过几天再看，或者说“转人工”。"
        dispatcher.utter_message(text=text, buttons=_day_buttons(days, today))


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
        label = {"morning": "上午", "afternoon": "下午"}.get(part or "", "") if shown else ""
        shown = shown or slots
        kind = "绿色通道优先时段" if priority else "可约时段"
        if not shown:
            dispatcher.utter_message(text=f"{short_day(day)}已经没有可约时段了，请说“换一天”。")
            return
        dispatcher.utter_message(
            text=f"{fmt_day(day)}{label}的{kind}（每段30分钟），请选择：",
            buttons=[
                {"title": hhmm(s.start), "payload": f'/inform{{"booking_time":"{hhmm(s.start)}"}}'}
                for s in shown
            ],
        )


class ActionAskBookingName(AskAction):
    fallback_response = "utter_ask_booking_name"

    def name(self) -> Text:
        return "action_ask_booking_name"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingIdNumber(AskAction):
    fallback_response = "utter_ask_booking_id_number"

    def name(self) -> Text:
        return "action_ask_booking_id_number"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingPhone(AskAction):
    fallback_response = "utter_ask_booking_phone"

    def name(self) -> Text:
        return "action_ask_booking_phone"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingConfirm(AskAction):
    fallback_response = "utter_ask_booking_confirm"
    english_by_response = False

    def name(self) -> Text:
        return "action_ask_booking_confirm"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        reschedule = tracker.active_loop_name == "booking_reschedule_form"
        text = normalize_text(latest_text(tracker))
        if latest_intent(tracker) == "deny" or text in _NO:
            options = ["改日期", "改时间"]
            if not reschedule:
                options += ["改大厅", "改业务", "改姓名", "改身份证号", "改手机号"]
            buttons = [{"title": o, "payload": o} for o in options]
            buttons.append({"title": "不改了" if reschedule else "不约了", "payload": "/stop_form"})
            dispatcher.utter_message(text="请问要修改哪一项？", buttons=buttons)
            return
        if reschedule:
            dispatcher.utter_message(text=reschedule_summary(tracker), buttons=CONFIRM_BUTTONS)
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
                "title": f"{v.code} {v.day.month}月{v.day.day}日 {hhmm(v.start)}",
                "payload": f'/inform{{"booking_code":"{v.code}"}}',
            }
            for v in mine
        ]
        if buttons:
            dispatcher.utter_message(response="utter_ask_booking_code_or_pick", buttons=buttons)
        else:
            dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingPhoneLast4(AskAction):
    fallback_response = "utter_ask_booking_phone_last4"

    def name(self) -> Text:
        return "action_ask_booking_phone_last4"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        dispatcher.utter_message(response=self.fallback_response)


class ActionAskBookingCancelConfirm(AskAction):
    fallback_response = "utter_ask_booking_cancel_confirm"

    def name(self) -> Text:
        return "action_ask_booking_cancel_confirm"

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        seen = check_access(tracker, tracker.get_slot("booking_code"))
        lines = booking_lines(seen.booking) if seen.ok and seen.booking is not None else []
        dispatcher.utter_message(
            text="\n".join(["要取消的预约："] + lines + ["确认取消这个预约吗？取消后名额会释放给其他人。"]),
            buttons=[
                {"title": "确认取消", "payload": "/affirm"},
                {"title": "不取消", "payload": "/deny"},
            ],
        )


def booking_summary(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The confirmation question (domain response utter_booking_summary): ID and phone masked."""
    day = _as_date(tracker.get_slot("booking_date"))
    start = _as_time(tracker.get_slot("booking_time"))
    end = (datetime.combine(date(2000, 1, 1), start) + timedelta(minutes=30)).time() if start else None
    english = is_english(tracker)
    dispatcher.utter_message(
        response="utter_booking_summary_priority" if tracker.get_slot("booking_priority") else "utter_booking_summary",
        buttons=CONFIRM_BUTTONS,
        service=service_label(tracker.get_slot("booking_service"), english),
        hall=hall_name(tracker.get_slot("booking_hall"), english),
        day=(day.isoformat() if english else fmt_day(day)) if day else "",
        time=f"{hhmm(start)}–{hhmm(end)}" if start and end else "",
        name=tracker.get_slot("booking_name") or "",
        id_number=_shown("booking_id_number", tracker.get_slot("booking_id_number")),
        phone=_shown("booking_phone", tracker.get_slot("booking_phone")),
    )


def reschedule_summary(tracker: Tracker) -> str:
    code = tracker.get_slot("booking_code") or ""
    seen = check_access(tracker, code)
    view = seen.booking if seen.ok else None
    day = _as_date(tracker.get_slot("booking_date"))
    start = _as_time(tracker.get_slot("booking_time"))
    lines = ["请确认改约：", f"预约号：{code}（不变）"]
    if view is not None:
        lines += [f"大厅：{view.hall_name}", f"原时间：{fmt_day(view.day)} {hhmm(view.start)}"]
    if day and start:
        lines.append(f"新时间：{fmt_day(day)} {hhmm(start)}")
    lines.append("确认改约吗？")
    return "\n".join(lines)
