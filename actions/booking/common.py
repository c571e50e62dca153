"""What every part of the booking actions shares: the constants and the answer words, the
clock and the stores, the access check, the labels of services and halls, and the KB facts
the booking reminds of (the guardian of a minor, the green channel's proofs, the hotline).

Tests replace the clock and the stores here (`now`, `_repo`, `_pending`), so the other modules
call them through this module (`common.now()`), never through a copy of the name.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Dict, Optional, Tuple
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.booking import AccessResult, BookingRepository, PendingPersonalStore
from bot.kb import get_kb
from bot.kb import service_label as kb_service_label
from bot.kb.hotline import hotline_text
from bot.wording import label, wording

logger = logging.getLogger(__name__)

SERVICES = ("passport", "hk_macau_permit", "taiwan_permit", "residence_permit")
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


#: The short answers the forms recognise: data/wording/answers.yml.
_ANSWERS = wording("answers")
_YES = frozenset(_ANSWERS["yes"])
_NO = frozenset(_ANSWERS["no"])
_CANCEL_YES = _YES | frozenset(_ANSWERS["cancel_yes"])
_CANCEL_NO = frozenset(_ANSWERS["cancel_no"])
_CHANGE_VERB = re.compile(r"改|换|修改|重新|错了|不对|填错")
#: (keywords, slots cleared); the first match wins, so 日期 comes before 时间.
_CHANGE_FIELDS: Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...] = tuple(
    (tuple(field["words"]), tuple(field["slots"])) for field in _ANSWERS["change_fields"]
)
_CHANGE_DATE = re.compile(r"(改|换)(个|一)?(日期|日子|天)|换一天|改天")
_QUESTION = re.compile(r"[?？吗呢么]|什么|怎么|多少|哪里|哪儿|为什么|能不能|可不可以|要不要")
_NAME_PREFIX = re.compile(r"^(?:我叫|我是|本人|姓名(?:是|叫)?[:：]?|名字(?:是|叫)?[:：]?|叫)\s*")
_CLOCK = re.compile(r"^\s*(\d{1,2})[:：](\d{2})\s*$")
#: Answers that are never a name, at the name step (确认, 好的, 取消 …).
_NOT_NAMES = _YES | _NO | _CANCEL_YES | _CANCEL_NO | frozenset(_ANSWERS["not_names"])
#: Topic words that make a short text a question rather than a name (护照费用, 签注材料).
_TOPIC_WORDS = re.compile(
    r"护照|通行证|签注|居留|材料|费用|收费|价格|照片|证件|大厅|地址|电话|时间|多久|办理|预约|加急"
)


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
    """The hotline as the knowledge base words it (bot.kb.hotline, the one reader)."""
    return hotline_text()


def guardian_documents(service: Optional[str]) -> Optional[str]:
    """What a minor's guardian brings for `service`: the KB's documents fact for minors
    (data/kb/<service>.yml, `when: {applicant_type: minor}`), or None when it has none."""
    answer = get_kb().answer("documents", {"service": service, "applicant_type": "minor"})
    if answer is None or answer.fact.when.get("applicant_type") != "minor":
        logger.warning("no documents fact for minors for %s", service)
        return None
    return answer.fact.text.strip()


def green_channel_proofs() -> str:
    """The green channel's proof line (data/kb/green_channel.yml, the default fact's summary)."""
    answer = get_kb().answer("green_channel", {"topic": "green_channel"})
    if answer is None:
        raise LookupError("data/kb/green_channel.yml: no default green_channel fact")
    return answer.fact.brief()


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
                code=result.code,
                hall_name=hall.name,
                hall_phone=phone,
                hotline=_hotline(),
            )
        else:
            dispatcher.utter_message(
                response="utter_booking_access_locked_hotline", code=result.code, hotline=_hotline()
            )
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
    """The service's name from the KB (bot.kb.service_label); 未选择 while none is chosen."""
    return kb_service_label(service, english) if service else label("not_chosen")


def hall_name(hall_id: Optional[str], english: bool = False) -> str:
    """The hall's name as the KB gives it (in English when asked); the id if unknown."""
    hall = _halls().get(hall_id or "")
    if hall is not None and english:
        return hall.name_en or hall.name
    return hall.name if hall is not None else (hall_id or label("not_chosen"))
