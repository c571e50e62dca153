"""Dates, times and bookings as the citizen reads them, and the documents list to bring."""
from __future__ import annotations

import logging
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
from bot.kb import get_kb

logger = logging.getLogger(__name__)


def fmt_day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


def short_day(d: date, today: Optional[date] = None) -> str:
    label = f"{d.month}月{d.day}日 周{WEEKDAYS[d.weekday()]}"
    if today is not None and d == today:
        return label + "（今天）"
    if today is not None and d == today + timedelta(days=1):
        return label + "（明天）"
    return label


def hhmm(t: time) -> str:
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


def booking_lines(view: BookingView) -> List[str]:
    """A booking as shown to its owner: masked name, ID and phone only."""
    status = "有效" if view.status == STATUS_ACTIVE else "已取消"
    if view.status == STATUS_ACTIVE and view.day < common.now().date():
        status = "已过期"
    lines = [
        f"预约号：{view.code}（{status}）",
        f"业务：{service_label(view.service)}",
        f"大厅：{view.hall_name}",
        f"时间：{fmt_day(view.day)} {hhmm(view.start)}–{hhmm(view.end)}",
        f"办理人：{view.name_masked}，身份证号 {view.id_masked}",
        f"手机号：{view.phone_masked}",
    ]
    if view.priority:
        lines.append("类型：绿色通道优先时段")
    return lines


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
        text = "本人居民身份证原件；其他材料请以大厅公告为准，可拨打 12367 咨询。"
    if is_minor and "监护" not in text:
        guardian = guardian_documents(service)
        if guardian:
            text += "\n" + guardian
    if priority:
        text += "\n" + green_channel_proofs()
    return text
