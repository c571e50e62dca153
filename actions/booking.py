"""Hall appointments in the chat: the booking form, and looking up, rescheduling and
cancelling a booking.

Thin on purpose: bot.booking decides what may be booked and writes it atomically, bot.dates
reads Chinese dates, bot.validation checks ID, phone and name, bot.kb holds the halls and
what to bring. This module words the replies. The ID number and the phone are only ever
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
"""
from __future__ import annotations

import logging
import re
import unicodedata
from abc import ABC, abstractmethod
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

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
    UNAVAILABLE,
    AccessResult,
    BookingRepository,
    PendingPersonalStore,
    BookingUnavailable,
    BookingView,
    SlotView,
    normalize_code,
)
from bot.calendar import calendar_note, day_off_label, is_working_day
from bot.dates import DateParse, parse_date
from bot.language import is_english
from bot.kb import get_kb
from bot.booking.pending import PENDING_TTL
from bot.privacy import SEALED_PREFIX, mask_id, mask_phone, unseal
from bot.validation import check_id_number, check_name, check_phone

logger = logging.getLogger(__name__)

SERVICES = ("passport", "hk_macau_permit", "taiwan_permit", "residence_permit")
SERVICE_FALLBACK_LABELS = {
    "passport": "普通护照",
    "hk_macau_permit": "往来港澳通行证及签注",
    "taiwan_permit": "往来台湾通行证及签注",
    "residence_permit": "外国人工作类居留许可",
}
BOOKING_SLOTS = (
    "booking_service",
    "booking_hall",
    "booking_date",
    "booking_time",
    "booking_name",
    "booking_id_number",
    "booking_phone",
    "booking_confirm",
)
#: The steps whose answer may also name other details (service, hall, date); None is the
#: message that starts the form.
DETAIL_STEPS = (None, "booking_service", "booking_hall")
MANAGE_SLOTS = ("booking_code", "booking_phone_last4")
#: booking_phone_last4 holds one of these once the form's access step is done. They grant
#: nothing: every action asks the repository again (a slot can be set by anyone).
OWNER = "owner"
VERIFIED = "verified"
STATUS_ACTIVE = "active"
WEEKDAYS = "一二三四五六日"
TZ = ZoneInfo("Asia/Shanghai")

GUARDIAN_REMINDER = (
    "提示：办理人未满16周岁，须由监护人陪同办理，请带上户口簿或出生证明（监护证明），"
    "以及监护人的居民身份证或护照。监护人不能陪同的，可由他人持监护人委托书和本人身份证陪同。"
)
GREEN_PROOF = "走绿色通道请同时带上紧急事由的证明材料（如死亡证明、病危通知书或诊断证明、入学通知书、邀请函等）。"
CONFIRM_BUTTONS = [
    {"title": "确认", "payload": "/affirm"},
    {"title": "修改/取消", "payload": "/deny"},
]

_YES = {
    "确认", "确定", "是", "是的", "对", "对的", "好", "好的", "可以", "没问题", "没错", "嗯", "行",
    "ok", "okay", "yes", "y", "提交", "确认预约", "确认提交", "确认改约", "/affirm",
}
_NO = {
    "修改", "取消", "修改取消", "不对", "不", "不是", "否", "no", "n", "要改", "改一下", "改", "有错",
    "不确认", "/deny",
}
_CANCEL_YES = _YES | {"取消", "确认取消", "取消吧", "对取消", "取消预约", "是的取消", "要取消"}
_CANCEL_NO = {"不取消", "不", "不要", "不用", "保留", "不了", "先不", "否", "no", "n", "不取消了", "/deny"}
_CHANGE_VERB = re.compile(r"改|换|修改|重新|错了|不对|填错")
#: (keywords, slots cleared, label); the first match wins, so 日期 comes before 时间.
_CHANGE_FIELDS: Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...] = (
    (("日期", "日子", "哪天", "换一天", "改天", "一天"), ("booking_date", "booking_time")),
    (("时间", "时段", "几点", "点钟"), ("booking_time",)),
    (("大厅", "地点", "地方"), ("booking_hall", "booking_date", "booking_time")),
    (("业务", "证件类型", "办什么"), ("booking_service",)),
    (("姓名", "名字"), ("booking_name",)),
    (("身份证", "证件号"), ("booking_id_number",)),
    (("手机", "电话"), ("booking_phone",)),
)
_CHANGE_DATE = re.compile(r"(改|换)(个|一)?(日期|日子|天)|换一天|改天")
_QUESTION = re.compile(r"[?？吗呢么]|什么|怎么|多少|哪里|哪儿|为什么|能不能|可不可以|要不要")
_ID_IN_TEXT = re.compile(r"(?<![0-9])\d{6}\s?\d{8}\s?\d{3}[0-9Xx](?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[\s\-]?)?1\d{2}[\s\-]?\d{4}[\s\-]?\d{4}(?![0-9])")
_NAME_PREFIX = re.compile(r"^(?:我叫|我是|本人|姓名(?:是|叫)?[:：]?|名字(?:是|叫)?[:：]?|叫)\s*")
_CLOCK = re.compile(r"^\s*(\d{1,2})[:：](\d{2})\s*$")
_MASKED_ID = re.compile(r"^\d{6}\*{8}\d{3}[\dX]$")
_MASKED_PHONE = re.compile(r"^1\d{2}\*{4}\d{4}$")
#: Answers that are never a name, at the name step (确认, 好的, 取消 …).
_NOT_NAMES = frozenset(
    _YES | _NO | _CANCEL_YES | _CANCEL_NO
    | {"好吧", "嗯嗯", "算了", "继续", "继续预约", "预约", "你好", "您好", "谢谢", "不知道", "随便", "没有",
       "hello", "hi"}
)
#: Topic words that make a short text a question rather than a name (护照费用, 签注材料).
_TOPIC_WORDS = re.compile(r"护照|通行证|签注|居留|材料|费用|收费|价格|照片|证件|大厅|地址|电话|时间|多久|办理|预约|加急")


# --- clock, stores -------------------------------------------------------------------------


def now() -> datetime:
    """Local time at the halls (naive). Tests replace this function."""
    return datetime.now(TZ).replace(tzinfo=None)


def _repo() -> BookingRepository:
    """A repository on the process-wide engine for DATABASE_URL (created lazily)."""
    return BookingRepository()


def _pending() -> PendingPersonalStore:
    """Where the form keeps the sealed ID and phone until the booking is written."""
    return PendingPersonalStore()


def _channel(tracker: Tracker) -> str:
    """The input channel of the latest message: with the sender, who owns a booking."""
    return tracker.get_latest_input_channel() or "unknown"


def _hotline() -> str:
    """The 12367 line as the knowledge base words it (data/kb/emergency.yml)."""
    try:
        from bot.kb.emergency import get_emergency_kb

        return get_emergency_kb().hotline.text
    except Exception:  # the KB is validated at start-up; a reply is not worth a crash
        logger.exception("hotline text unavailable")
        return "12367"


def check_access(tracker: Tracker, code: Optional[str]) -> AccessResult:
    """Ask the repository whether this sender/channel may see the booking, every time."""
    if not code:
        return AccessResult(False, error="invalid_code")
    return _repo().check_access(str(code), sender_id=tracker.sender_id, channel=_channel(tracker))


def utter_access_refusal(dispatcher: CollectingDispatcher, result: AccessResult) -> None:
    """The reply for a refused look-up; the same whether or not the code exists."""
    error = result.error
    if error == "locked":
        hall = _halls().get(result.hall_id or "")
        phone = hall.phone.resolved() if hall is not None else None
        if hall is not None and phone:
            dispatcher.utter_message(
                response="utter_booking_access_locked",
                code=result.code, hall_name=hall.name, hall_phone=phone, hotline=_hotline(),
            )
        else:
            dispatcher.utter_message(response="utter_booking_access_locked_hotline", code=result.code, hotline=_hotline())
    elif error == "rate_limited":
        dispatcher.utter_message(response="utter_booking_rate_limited", hotline=_hotline())
    elif error == "mismatch":
        dispatcher.utter_message(response="utter_booking_verify_failed")
    elif error == "unavailable":
        dispatcher.utter_message(response="utter_booking_unavailable")
    else:
        dispatcher.utter_message(response="utter_booking_access_needed")


def _halls() -> Dict[str, Any]:
    """id → bot.kb Hall (name, city, address, phone, services) from data/kb/halls.yml."""
    return dict(get_kb().halls)


def service_label(service: Optional[str], english: bool = False) -> str:
    try:
        topic = get_kb().topics.get(service or "")
    except Exception:  # the KB is validated at start-up; a label is not worth a crash
        topic = None
    if topic is not None:
        return (topic.name_en or topic.name) if english else topic.name
    return SERVICE_FALLBACK_LABELS.get(service or "", service or "未选择")


def hall_name(hall_id: Optional[str], english: bool = False) -> str:
    hall = _halls().get(hall_id or "")
    if hall is not None and english:
        return hall.name_en or hall.name
    return hall.name if hall is not None else (hall_id or "未选择")


# --- formatting ----------------------------------------------------------------------------


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
    if view.status == STATUS_ACTIVE and view.day < now().date():
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
        text += "\n" + GUARDIAN_REMINDER
    if priority:
        text += "\n" + GREEN_PROOF
    return text


# --- reading the user's answer -------------------------------------------------------------


def _entities(tracker: Tracker, *names: str) -> List[Any]:
    return [
        e.get("value")
        for e in (tracker.latest_message or {}).get("entities") or []
        if e.get("entity") in names and e.get("value") is not None
    ]


def _longest_alias(text: str, aliases_by_value: Dict[str, Sequence[str]], allowed: Sequence[str]) -> Optional[str]:
    best: Optional[Tuple[int, str]] = None
    for value, aliases in aliases_by_value.items():
        if value not in allowed:
            continue
        for alias in aliases:
            a = normalize_text(alias)
            if len(a) >= 2 and a in text and (best is None or len(a) > best[0]):
                best = (len(a), value)
    return best[1] if best else None


def parse_service(value: Any, tracker: Tracker) -> Optional[str]:
    """A service id from the `service` entity, a button payload, a number or the vocabulary."""
    for v in _entities(tracker, "service"):
        if v in SERVICES:
            return str(v)
    text = normalize_text(str(value or ""))
    if text in SERVICES:
        return text
    if text.isdigit() and 1 <= int(text) <= len(SERVICES):
        return SERVICES[int(text) - 1]
    vocabulary = {s: list(a) for s, a in get_kb().vocabulary.get("service", {}).items()}
    for sid in SERVICES:
        vocabulary.setdefault(sid, []).append(service_label(sid))
    return _longest_alias(text, vocabulary, SERVICES)


def parse_hall(value: Any, tracker: Tracker) -> Optional[str]:
    """A hall id from a button, the `place` entity, a number, the hall's name or city."""
    halls = _halls()
    ids = list(halls)
    for v in _entities(tracker, "booking_hall", "place"):
        if v in halls:
            return str(v)
    text = normalize_text(str(value or ""))
    if text in halls:
        return text
    if text.isdigit() and 1 <= int(text) <= len(ids):
        return ids[int(text) - 1]
    aliases: Dict[str, List[str]] = {
        hid: [h.name, h.city] + list(get_kb().vocabulary.get("place", {}).get(hid, ()))
        for hid, h in halls.items()
    }
    return _longest_alias(text, aliases, ids)


@lru_cache(maxsize=1)
def _code_prefixes() -> Tuple[str, ...]:
    try:
        from bot.booking.halls import load_halls_file

        return tuple(sorted({row["code_prefix"] for row in load_halls_file()}, key=len, reverse=True))
    except Exception:
        logger.exception("cannot read the halls' code prefixes")
        return ()


def find_booking_code(text: str) -> Optional[str]:
    """The first booking code in free text: HZ-7K3Q9M2X, hz 7k3q9m2x, ＨＺ７Ｋ３Ｑ９Ｍ２Ｘ, and
    the older 5-character HZ-7K3Q9."""
    upper = unicodedata.normalize("NFKC", text or "")[:500].upper()
    prefixes = _code_prefixes() or ("[A-Z]{2,4}",)
    for prefix in prefixes:
        pattern = rf"(?<![A-Z0-9]){prefix}\s*[-_—–]?\s*(?:[0-9A-Z]{{8}}|[0-9A-Z]{{5}})(?![0-9A-Z])"
        m = re.search(pattern, upper)
        if m:
            code = normalize_code(m.group(0))
            if code:
                return code
    return None


def code_from_message(tracker: Tracker) -> Optional[str]:
    for v in _entities(tracker, "booking_code"):
        code = normalize_code(str(v))
        if code:
            return code
    return find_booking_code(latest_text(tracker))


_PERSONAL_FIELDS = {"booking_id_number": "id_number", "booking_phone": "phone"}


def _masked(slot: str, clear: str) -> str:
    return mask_id(clear) if slot == "booking_id_number" else mask_phone(clear)


def personal(tracker: Tracker, slot: str) -> Optional[str]:
    """The clear ID number or phone for this conversation from the server-side store, when
    the slot still shows its masked form; None if missing, expired or not matching."""
    shown = tracker.get_slot(slot)
    if not isinstance(shown, str):
        return None
    clear = _pending().get(tracker.sender_id, _PERSONAL_FIELDS[slot])
    return clear if clear is not None and _masked(slot, clear) == shown else None


def _unsealed(value: Any) -> Optional[str]:
    """A form answer in clear: typed this turn, or sealed by a tracker from before the
    values moved server-side (read once, then kept in the store)."""
    if isinstance(value, str) and value.startswith(SEALED_PREFIX):
        return unseal(value)
    return None if value is None else str(value)


def _shown(slot: str, value: Any) -> str:
    """The slot's masked value for the summary (masking again only what is not masked)."""
    text = str(value or "")
    pattern = _MASKED_ID if slot == "booking_id_number" else _MASKED_PHONE
    return text if pattern.fullmatch(text) else _masked(slot, text)


def looks_like_name(text: str) -> bool:
    """A short Chinese name (钱七, 我叫钱七, 欧阳娜娜, 阿依古丽·买买提), not a yes/no or a
    question. Used to take the answer at the name step before any side-question check."""
    name = _NAME_PREFIX.sub("", unicodedata.normalize("NFKC", text or "").strip(" \t，。,.!！"))
    if not name or _QUESTION.search(name) or normalize_text(name) in _NOT_NAMES or _TOPIC_WORDS.search(name):
        return False
    if not re.fullmatch(r"[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff]{1,10}(?:·[\u4e00-\u9fff]{1,10})+", name):
        return False
    return check_name(name).ok


def _id_candidate(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or ""))
    m = _ID_IN_TEXT.search(text)
    return m.group(0) if m else text


def _phone_candidate(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or ""))
    m = _PHONE_IN_TEXT.search(text)
    return m.group(0) if m else text


def _change_request(text: str, allowed: Sequence[str]) -> Optional[Tuple[str, ...]]:
    """Slots to clear for "改日期", "手机号填错了" …; None when the text asks no change."""
    if not _CHANGE_VERB.search(text):
        return None
    for keywords, slots in _CHANGE_FIELDS:
        if slots[0] in allowed and any(k in text for k in keywords):
            return tuple(s for s in slots if s in allowed)
    return None


# --- shared date and time validation -------------------------------------------------------


def free_slots(hall_id: str, day: date, priority: bool, current: datetime) -> List[SlotView]:
    """Bookable slots of one day; green channel: only the reserved seats (today or the next
    working day)."""
    repo = _repo()
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
        parsed = parse_date(text, now().date())
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
        reason: str,
    ) -> None:
        today = current.date()
        last = today + timedelta(days=BOOKING_WINDOW_DAYS)  # never suggest what would be refused
        repo = _repo()
        if priority:
            days = sorted({d for d, _ in repo.priority_slots(hall_id, current)})
        else:
            days = repo.free_days(hall_id, start, 3, now=current, until=last)
            if not days and start != today:
                days = repo.free_days(hall_id, today, 3, now=current, until=last)
        if days:
            dispatcher.utter_message(
                text=f"{reason}\n最近可以预约的日期：", buttons=_day_buttons(days, today)
            )
        else:
            dispatcher.utter_message(
                text=f"{reason}\n近期暂时没有可约的时段，可以过几天再看，或者说“转人工”。"
            )

    @staticmethod
    def calendar_problem(day: date, current: datetime) -> Optional[str]:
        """Why no hall could take this day (past, beyond the window, closed); None if open.
        Needs no hall, so a date named before the hall is chosen is checked at once."""
        today = current.date()
        last = today + timedelta(days=BOOKING_WINDOW_DAYS)
        if day < today:
            return f"{short_day(day)}已经过去了，请选择今天或以后的日期。"
        if day > last:
            return f"只能预约{BOOKING_WINDOW_DAYS}天以内的日期（最晚到{short_day(last)}）。"
        if not is_working_day(day):
            note = calendar_note(day)
            kind = day_off_label(day)
            return f"{short_day(day)}是{kind}，大厅不对外办公" + (f"（{note}）。" if note else "。")
        return None

    def day_problem(
        self, hall_id: str, day: date, priority: bool, current: datetime
    ) -> Optional[str]:
        today = current.date()
        problem = self.calendar_problem(day, current)
        if problem:
            return problem
        if priority:
            allowed = sorted({d for d, _ in _repo().priority_slots(hall_id, current)})
            if day not in allowed:
                if not allowed:
                    return "绿色通道预留的优先时段今天和下一个工作日都已约满，请直接联系大厅或说“转人工”。"
                return "绿色通道优先时段只能约今天或下一个工作日。"
        if not free_slots(hall_id, day, priority, current):
            if day == today:
                return "今天剩下的时段都已约满或已经开始了。"
            return f"{short_day(day)}已经约满了。"
        return None

    def validate_booking_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        hall_id, priority = self.booking_context(tracker)
        if value is None:
            return {"booking_date": None}
        current = now()
        today = current.date()
        parsed = parse_date(str(value), today)
        if not hall_id:
            return self.date_before_hall(parsed, dispatcher, current)
        if parsed.day is None:
            switched = self.switch_instead_of_date(value, dispatcher, tracker)
            if switched:
                return switched
            reason = parsed.reason or "请告诉我具体哪一天，比如“明天”“下周三”或“12月3日”。"
            self.offer_days(dispatcher, hall_id, today, priority, current, reason)
            return {"booking_date": None}
        return self.check_day(
            dispatcher, tracker, hall_id, priority, parsed.day, parsed.part_of_day, parsed.time, current
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
            start = day + timedelta(days=1) if today <= day <= today + timedelta(days=BOOKING_WINDOW_DAYS) else today
            self.offer_days(dispatcher, hall_id, start, priority, current, problem)
            return {"booking_date": None, "booking_time": None}
        result: Dict[Text, Any] = {"booking_date": day.isoformat(), "booking_part_of_day": part_of_day}
        note = calendar_note(day)
        if note and tracker.get_slot(REQUESTED_SLOT) == "booking_date":
            dispatcher.utter_message(text=f"提示：{note}。")
        if clock is not None:
            slots = free_slots(hall_id, day, priority, current)
            chosen = next((s for s in slots if s.start <= clock < s.end), None)
            if chosen is not None:
                result["booking_time"] = hhmm(chosen.start)
            else:
                result["booking_time"] = None
                dispatcher.utter_message(response="utter_booking_time_not_free", day=short_day(day), time=hhmm(clock))
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
        current = now()
        if _CHANGE_DATE.search(normalize_text(text)):
            return {"booking_date": None, "booking_time": None, **keep_failures(tracker)}
        clock = _as_time(text)
        part: Optional[str] = None
        if clock is None:
            parsed = parse_date(text, current.date())
            if parsed.day is not None and parsed.day != day:
                # "明天下午两点" at the time question: the user moved the day.
                return {"booking_time": None, **self.validate_booking_date(text, dispatcher, tracker, domain)}
            clock, part = parsed.time, parsed.part_of_day
        slots = free_slots(hall_id, day, priority, current)
        if not slots:
            dispatcher.utter_message(text=f"{short_day(day)}的时段刚刚约满了，请换一天。")
            return {"booking_date": None, "booking_time": None, **keep_failures(tracker)}
        if clock is not None:
            chosen = next((s for s in slots if s.start <= clock < s.end), None)
            if chosen is not None:
                return {"booking_time": hhmm(chosen.start)}
            dispatcher.utter_message(
                text=f"{hhmm(clock)} 没有可约的空位（不在办理时间或已约满），请从下面的时段中选择。"
            )
            return {"booking_time": None, "booking_part_of_day": None}
        if part in ("morning", "afternoon"):
            label = "上午" if part == "morning" else "下午"
            if any(_in_part(s, part) for s in slots):
                return {"booking_time": None, "booking_part_of_day": part, **keep_failures(tracker)}
            dispatcher.utter_message(text=f"{short_day(day)}{label}已经约满了，可以选其他时段。")
            return {"booking_time": None, "booking_part_of_day": None, **keep_failures(tracker)}
        dispatcher.utter_message(text="没看懂这个时间，请点选下面的时段，或者说“上午9点半”“下午两点”。")
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
            return {"booking_confirm": None, **keep_failures(tracker)}  # the ask shows what to change
        return {"booking_confirm": None}


def _unavailable_reply(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or UNAVAILABLE
    return f"抱歉，{reason}。您已经填写的内容会保留，稍后再试即可。"


# --- the booking form ----------------------------------------------------------------------


class ValidateBookingForm(DateTimeValidation, BookingFormValidationAction):
    """Service → hall → date → time → name → ID → phone → confirmation."""

    extra_slots_cleared_on_stop = ("booking_priority", "booking_part_of_day")

    def name(self) -> Text:
        return "validate_booking_form"

    def error_reply(self, exc: Exception) -> str:
        if isinstance(exc, BookingUnavailable):
            return _unavailable_reply(exc)
        return super().error_reply(exc)

    def booking_context(self, tracker: Tracker) -> Tuple[Optional[str], bool]:
        return tracker.get_slot("booking_hall"), bool(tracker.get_slot("booking_priority"))

    def takes_answer_first(self, tracker: Tracker, requested: Text) -> bool:
        """At the name step a name is a name, even when the NLU heard a fee question (钱七)."""
        if requested == "booking_name":
            return looks_like_name(latest_text(tracker))
        return super().takes_answer_first(tracker, requested)

    def answer_side_question(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        """"要带什么证明" in a booking right after the green channel: that category's proofs."""
        from actions.after_green_channel import green_channel_category, proof_lines
        from bot.kb.emergency import get_emergency_kb

        intent = (tracker.latest_message or {}).get("intent") or {}
        if intent.get("name") == "ask_documents" and float(intent.get("confidence") or 0) >= SIDE_QUESTION_CONFIDENCE:
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
            _pending().drop(tracker.sender_id)
        except BookingUnavailable:
            logger.warning("could not drop pending personal data now; it expires by itself")

    def switch_instead_of_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Optional[Dict[Text, Any]]:
        """"德清" at the date question: the user wants another hall (or service), not a failure."""
        hall_id = parse_hall(value, tracker)
        if hall_id and hall_id != tracker.get_slot("booking_hall"):
            service = tracker.get_slot("booking_service")
            hall = _halls()[hall_id]
            if service and service not in hall.services:
                dispatcher.utter_message(text=f"{hall.name}暂不办理{service_label(service)}。")
                return None
            dispatcher.utter_message(text=f"好的，改为{hall.name}。")
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
        if text.startswith("/") or parse_date(text, now().date()).day is None:
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
            dispatcher.utter_message(text=problem)
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
            dispatcher.utter_message(text="没听清要办理哪项业务，请从下面选一项。")
            return {"booking_service": None}
        result: Dict[Text, Any] = {"booking_service": service}
        hall = _halls().get(tracker.get_slot("booking_hall") or "")
        if "booking_hall" in tracker.slots_to_validate():
            return result  # a hall named in the same message: validate_booking_hall checks it
        if hall is not None and service not in hall.services:
            dispatcher.utter_message(text=f"{hall.name}暂不办理{service_label(service)}，请重新选择大厅。")
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
            dispatcher.utter_message(text="目前可以预约的是下面这些大厅，请选择一个。")
            return {"booking_hall": None}
        hall = _halls()[hall_id]
        service = tracker.get_slot("booking_service")
        if service and service not in hall.services:
            dispatcher.utter_message(text=f"{hall.name}暂不办理{service_label(service)}，请选择其他大厅。")
            return {"booking_hall": None}
        result: Dict[Text, Any] = {"booking_hall": hall_id}
        day = _as_date(tracker.get_slot("booking_date"))
        if day is not None:
            # A date named before the hall (kept by date_before_hall): now the hall's checks.
            tracker.slots["booking_hall"] = hall_id
            result.update(self.check_day(
                dispatcher, tracker, hall_id, bool(tracker.get_slot("booking_priority")), day,
                tracker.get_slot("booking_part_of_day"), _as_time(tracker.get_slot("booking_time")), now(),
            ))
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
            dispatcher.utter_message(
                text="请先告诉我办理人的姓名（与证件一致）。想先问别的，可以说“不约了”，问完再预约。"
            )
            return {"booking_name": None}
        check = check_name(text)
        if not check.ok:
            dispatcher.utter_message(text=check.reason or "请输入证件上的姓名。")
            return {"booking_name": None}
        return {"booking_name": check.value}

    def validate_booking_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if isinstance(value, str) and _MASKED_ID.fullmatch(value):
            return {"booking_id_number": self.kept(dispatcher, tracker, "booking_id_number", value)}
        value = _unsealed(value)
        if value is None:
            return {"booking_id_number": None}
        check = check_id_number(_id_candidate(value), now().date())
        if not check.ok:
            dispatcher.utter_message(text=check.reason or "身份证号码不正确，请核对后重新输入。")
            return {"booking_id_number": None}
        if check.is_minor and tracker.get_slot(REQUESTED_SLOT) == "booking_id_number":
            dispatcher.utter_message(text=GUARDIAN_REMINDER)
        _pending().put(tracker.sender_id, "id_number", check.value or "")
        return {"booking_id_number": mask_id(check.value or "")}

    def validate_booking_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if isinstance(value, str) and _MASKED_PHONE.fullmatch(value):
            return {"booking_phone": self.kept(dispatcher, tracker, "booking_phone", value)}
        value = _unsealed(value)
        if value is None:
            return {"booking_phone": None}
        check = check_phone(_phone_candidate(value))
        if not check.ok:
            dispatcher.utter_message(text=check.reason or "请输入11位手机号码。")
            return {"booking_phone": None}
        _pending().put(tracker.sender_id, "phone", check.value or "")
        return {"booking_phone": mask_phone(check.value or "")}

    def kept(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, shown: str) -> Optional[str]:
        """A masked slot validated again (the form resumed): keep it only while the store
        still holds the matching value; else say why it is asked again (once per turn)."""
        clear = _pending().get(tracker.sender_id, _PERSONAL_FIELDS[slot])
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
                dispatcher.utter_message(text="请点“确认”提交预约，或者点“修改/取消”。")
        return result


# --- managing a booking --------------------------------------------------------------------


class ManageFormValidation(BookingFormValidationAction):
    """The code, then the last four phone digits unless the booking was made in this chat."""

    verb: str = "查询"
    needs_active: bool = False

    @abstractmethod
    def name(self) -> Text:
        """validate_<form name>"""

    def error_reply(self, exc: Exception) -> str:
        if isinstance(exc, BookingUnavailable):
            return f"抱歉，{getattr(exc, 'reason', None) or UNAVAILABLE}。请稍后再试。"
        return super().error_reply(exc)

    def handoff_text(self, slot: Text) -> str:
        if slot == "booking_phone_last4":
            return "已经试了三次都没有对上。为保护预约人的信息，先不再试了；可以转人工，或者请预约人本人来查。"
        return "已经试了三次还没找到这个预约。要不要转人工帮您查？"

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
        mine = _repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))
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
            return {"booking_code": code, "booking_phone_last4": OWNER if seen.level == "owner" else VERIFIED}
        if seen.error in ("locked", "rate_limited"):
            return self.refuse_and_end(dispatcher, seen)
        # Not the owner: ask the last four whether or not the code exists, so the answer to a
        # guessed code tells nothing.
        return {"booking_code": code, "booking_phone_last4": None}

    def status_problem(self, dispatcher: CollectingDispatcher, view: BookingView) -> bool:
        """Say why a booking the caller may see cannot be cancelled/moved; True if so."""
        if self.needs_active and view.status != STATUS_ACTIVE:
            dispatcher.utter_message(response="utter_booking_not_active", code=view.code, verb=self.verb)
            return True
        if self.needs_active and view.day < now().date():
            dispatcher.utter_message(response="utter_booking_day_passed", code=view.code, verb=self.verb)
            return True
        return False

    @staticmethod
    def refuse_and_end(dispatcher: CollectingDispatcher, result: AccessResult) -> Dict[Text, Any]:
        """Locked code or rate-limited sender: say how to reach the hall and end the form."""
        utter_access_refusal(dispatcher, result)
        return {"booking_code": None, "booking_phone_last4": None, FAILURES_SLOT: None, REQUESTED_SLOT: None}

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
            dispatcher.utter_message(text="请输入预约时所留手机号的后四位数字。")
            return {"booking_phone_last4": None}
        if not code:
            return {"booking_phone_last4": None, "booking_code": None}
        result = _repo().verify_last4(str(code), digits, sender_id=tracker.sender_id, channel=_channel(tracker))
        if result.ok and result.booking is not None:
            if self.status_problem(dispatcher, result.booking):
                return {"booking_phone_last4": None, "booking_code": None}
            return {"booking_phone_last4": OWNER if result.level == "owner" else VERIFIED}
        if result.error == "unavailable":
            raise BookingUnavailable("verification")
        if result.error in ("locked", "rate_limited"):
            return self.refuse_and_end(dispatcher, result)
        utter_access_refusal(dispatcher, result)  # the same words for a wrong digit and no such code
        return {"booking_phone_last4": None}


class ValidateBookingLookupForm(ManageFormValidation):
    stop_message = "好的，不查了。需要时告诉我预约号就行。"
    resume_title = "重新查询"
    resume_payload = "/lookup_booking"

    def name(self) -> Text:
        return "validate_booking_lookup_form"


class ValidateBookingCancelForm(ManageFormValidation):
    verb = "取消"
    needs_active = True
    stop_message = "好的，不取消了，预约保持不变。"
    resume_title = "重新取消预约"
    resume_payload = "/cancel_booking"

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
        dispatcher.utter_message(text="请点“确认取消”或“不取消”。")
        return {"booking_cancel_confirm": None}


class ValidateBookingRescheduleForm(DateTimeValidation, ManageFormValidation):
    verb = "改约"
    needs_active = True
    stop_message = "好的，不改了，原预约保持不变。"
    resume_title = "重新改约"
    resume_payload = "/reschedule_booking"
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
        has_day = not text.startswith("/") and parse_date(text, now().date()).day is not None
        return {"booking_date": text if has_day else None, "booking_time": None, "booking_confirm": None}

    def validate_booking_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        result = self.confirm_answer(tracker, value, ("booking_date", "booking_time"))
        if result.get("booking_confirm") is None and FAILURES_SLOT not in result:
            if tracker.get_slot(REQUESTED_SLOT) == "booking_confirm":
                dispatcher.utter_message(text="请点“确认”完成改约，或者点“修改/取消”。")
        return result


# --- asking for each slot ------------------------------------------------------------------


def _ran_this_turn(tracker: Tracker, action: str) -> bool:
    """True when `action` ran after the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == action:
            return True
    return False


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

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if _options_already_offered(tracker):
            return []  # the validator's reason came with the choices (e.g. free days)
        if self.english_by_response and is_english(tracker):
            # The English variation of the step's domain response; the answer is typed.
            dispatcher.utter_message(response=self.fallback_response)
            return []
        try:
            self.ask(dispatcher, tracker)
        except BookingUnavailable:
            dispatcher.utter_message(response=self.fallback_response)
            dispatcher.utter_message(response="utter_booking_options_unavailable")
        except Exception:
            logger.exception("%s failed", self.name())
            dispatcher.utter_message(response=self.fallback_response)
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

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        service = tracker.get_slot("booking_service")
        halls = [h for h in _halls().values() if not service or service in h.services]
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
        current = now()
        today = current.date()
        repo = _repo()
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
        current = now()
        slots = free_slots(hall_id, day, priority, current)
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
        mine = _repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))[:5]
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


# --- submitting ----------------------------------------------------------------------------


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
        except BookingUnavailable as exc:
            dispatcher.utter_message(text=_unavailable_reply(exc))
            return [SlotSet("booking_confirm", None)]
        missing = [s for s, v in values.items() if v is None]
        if day is None or start is None or missing:
            if {"booking_id_number", "booking_phone"} & set(missing) and tracker.get_slot("booking_id_number"):
                minutes = int(PENDING_TTL.total_seconds() // 60)
                dispatcher.utter_message(response="utter_booking_personal_expired", minutes=minutes)
            else:
                dispatcher.utter_message(response="utter_booking_incomplete")
            return _clear("booking_confirm", *missing) + [FollowupAction("booking_form")]
        priority = bool(tracker.get_slot("booking_priority"))
        current = now()
        try:
            result = _repo().book(
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
            )
        except Exception:  # the repository reports outages itself; anything else is a bug
            logger.exception("booking failed")
            result = None
        if result is None or result.error == "unavailable":
            reason = (result.reason if result is not None else None) or UNAVAILABLE
            dispatcher.utter_message(
                text=f"抱歉，{reason}。这次预约没有提交，您填写的信息已保留，稍后说“继续预约”即可重新提交。"
            )
            return [SlotSet("booking_confirm", None)]
        if result.ok and result.booking is not None:
            if is_english(tracker):
                view = result.booking
                dispatcher.utter_message(
                    response="utter_booking_booked", code=result.code or view.code,
                    hall=hall_name(view.hall_id, True), day=view.day.isoformat(), time=hhmm(view.start),
                )
            else:
                dispatcher.utter_message(text=confirmation_text(result, values["booking_service"], priority))
            _forget_personal(tracker)
            # The green channel's offer is taken: "帮我预约" means an ordinary booking again.
            done = ("green_channel_context",) if priority else ()
            return _clear(*BOOKING_SLOTS, "booking_priority", "booking_part_of_day", FAILURES_SLOT, *done)
        return self._refused(dispatcher, tracker, result)

    @staticmethod
    def _refused(dispatcher: CollectingDispatcher, tracker: Tracker, result: Any) -> List[EventType]:
        """Nothing was written: say why and ask again only what has to change."""
        reason = result.reason or "这个时段暂时无法预约。"
        error = result.error or ""
        if error == "duplicate":
            dispatcher.utter_message(text=reason)
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
        }.get(error, ("booking_date", "booking_time"))
        dispatcher.utter_message(text=reason)
        return _clear(*redo, "booking_confirm") + [FollowupAction("booking_form")]


def _forget_personal(tracker: Tracker) -> None:
    """The booking is written (or the form is over): its ID and phone leave the store."""
    try:
        _pending().drop(tracker.sender_id)
    except BookingUnavailable:
        logger.warning("could not drop pending personal data now; it expires by itself")


def confirmation_text(result: Any, service: Optional[str], priority: bool) -> str:
    view: BookingView = result.booking
    hall = _halls().get(view.hall_id)
    lines = ["预约成功！", f"预约号：{result.code or view.code}"]
    lines += [line for line in booking_lines(view) if not line.startswith("预约号")]
    if hall is not None:
        if hall.address.resolved():
            lines.append(f"地址：{hall.address.resolved()}")
        if hall.phone.resolved():
            lines.append(f"大厅电话：{hall.phone.resolved()}")
    lines.append("请携带：")
    lines.append(what_to_bring(service, bool(getattr(result, "is_minor", False)), priority))
    note = getattr(result, "note", None)
    if note:
        lines.append(f"提示：{note}。")
    lines.append("查询、改约或取消时，告诉我预约号即可。")
    return "\n".join(lines)


class ActionMyBookings(Action):
    """我的预约: the active bookings made in this chat."""

    def name(self) -> Text:
        return "action_my_bookings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            mine = _repo().list_for_sender(tracker.sender_id, channel=_channel(tracker))
        except BookingUnavailable as exc:
            dispatcher.utter_message(text=f"抱歉，{exc.reason}。")
            return []
        if not mine:
            dispatcher.utter_message(
                text="您在这个对话里还没有有效的预约。说“预约”就可以开始；在别处约的，告诉我预约号也能查。"
            )
            return []
        blocks = [f"您有 {len(mine)} 个有效预约："]
        for i, view in enumerate(mine, 1):
            blocks.append(f"{i}. " + "\n   ".join(booking_lines(view)))
        buttons: List[Dict[str, str]] = []
        for view in mine[:3]:
            buttons.append({"title": f"改约 {view.code}", "payload": f'/reschedule_booking{{"booking_code":"{view.code}"}}'})
            buttons.append({"title": f"取消 {view.code}", "payload": f'/cancel_booking{{"booking_code":"{view.code}"}}'})
        dispatcher.utter_message(text="\n".join(blocks), buttons=buttons)
        return []


def _form_done(tracker: Tracker) -> Optional[str]:
    """The form's booking code when its access step was completed (a flag only: whoever
    holds the code is asked again from the database by `_allowed`)."""
    code = tracker.get_slot("booking_code")
    if code and tracker.get_slot("booking_phone_last4") in (OWNER, VERIFIED):
        return str(code)
    return None


def _allowed(dispatcher: CollectingDispatcher, tracker: Tracker, code: str) -> Optional[AccessResult]:
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
            dispatcher.utter_message(text="\n".join(booking_lines(seen.booking)))
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
            dispatcher.utter_message(text=f"好的，预约 {code} 保持不变。")
            return done
        result = _repo().cancel(code, actor=tracker.sender_id, channel=_channel(tracker))
        if result.ok:
            view = result.booking
            when = f"{fmt_day(view.day)} {hhmm(view.start)} " if view is not None else ""
            dispatcher.utter_message(text=f"预约 {code} 已取消，{when}的名额已经释放。需要时可以重新预约。")
            return done
        if result.error == "unavailable":
            dispatcher.utter_message(text=f"抱歉，{result.reason}。预约还没有取消，请稍后再说一次“取消预约”。")
            return [SlotSet("booking_cancel_confirm", None)]
        dispatcher.utter_message(text=result.reason or "这个预约现在不能取消。")
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
        if code is None or tracker.get_slot("booking_confirm") is not True or day is None or start is None:
            return _clear(*MANAGE_SLOTS, "booking_date", "booking_time", "booking_confirm", "booking_part_of_day")
        done = _clear(*MANAGE_SLOTS, "booking_date", "booking_time", "booking_confirm", "booking_part_of_day", FAILURES_SLOT)
        if _allowed(dispatcher, tracker, code) is None:
            return done
        current = now()
        result = _repo().reschedule(
            code, day=day, start=start, actor=tracker.sender_id, channel=_channel(tracker), today=current.date(), now=current
        )
        if result.ok and result.booking is not None:
            lines = [f"改约成功！预约号不变：{result.code or code}"]
            lines += [line for line in booking_lines(result.booking) if not line.startswith("预约号")]
            dispatcher.utter_message(text="\n".join(lines))
            return done
        if result.error == "unavailable":
            dispatcher.utter_message(text=f"抱歉，{result.reason}。原预约保持不变，请稍后再说一次“改约”。")
            return [SlotSet("booking_confirm", None)]
        dispatcher.utter_message(text=result.reason or "没能改约，原预约保持不变。")
        if result.error in ("slot_full", "slot_passed", "invalid_slot", "past", "too_far", "not_working_day", "duplicate"):
            return _clear("booking_date", "booking_time", "booking_confirm") + [FollowupAction("booking_reschedule_form")]
        return done


class ActionStartPriorityBooking(Action):
    """Green channel: book from the reserved seats of today or the next working day."""

    def name(self) -> Text:
        return "action_start_priority_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events: List[EventType] = [SlotSet("booking_priority", True)]
        events += _clear("booking_date", "booking_time", "booking_confirm", "booking_part_of_day", FAILURES_SLOT)
        # A form the green channel interrupted goes on as this booking (its answers stay), so
        # the "要继续刚才的预约吗？" it left open is answered.
        events.append(SlotSet("interrupted_form", None))
        service = tracker.get_slot("service")
        if service in SERVICES and not tracker.get_slot("booking_service"):
            events.append(SlotSet("booking_service", service))
        place = tracker.get_slot("place")
        if place in _halls() and not tracker.get_slot("booking_hall"):
            events.append(SlotSet("booking_hall", place))
        dispatcher.utter_message(
            text="好的，为您预约绿色通道优先时段：使用大厅为急事预留的名额，只能约今天或下一个工作日。"
        )
        return events + [FollowupAction("booking_form")]
