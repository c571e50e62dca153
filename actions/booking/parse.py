"""Reading the user's answer: a service, a hall, a booking code, a name, an ID number or a
phone in free text; the clear ID and phone from the server-side store; what "改…" asks to
change.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from rasa_sdk import Tracker

from actions.booking import common
from actions.booking.common import (
    _CHANGE_FIELDS,
    _CHANGE_VERB,
    _NAME_PREFIX,
    _NOT_NAMES,
    _QUESTION,
    _TOPIC_WORDS,
    SERVICES,
    _halls,
    service_label,
)
from actions.forms_base import latest_text, normalize_text
from bot.booking import normalize_code
from bot.booking.halls import code_prefix
from bot.kb import get_kb
from bot.patterns import ID_IN_TEXT, MASKED_ID, MASKED_PHONE, PHONE_IN_TEXT
from bot.privacy import SEALED_PREFIX, mask_id, mask_phone, unseal
from bot.validation import check_name
from bot.vocabulary import VocabularyMatcher

logger = logging.getLogger(__name__)


def _entities(tracker: Tracker, *names: str) -> List[Any]:
    return [
        e.get("value")
        for e in (tracker.latest_message or {}).get("entities") or []
        if e.get("entity") in names and e.get("value") is not None
    ]


def _longest_alias(
    text: str, aliases_by_value: Mapping[str, Sequence[str]], allowed: Sequence[str]
) -> Optional[str]:
    """The value whose alias (two characters or more) is the longest found in `text`, folded
    as the form folds answers (normalize_text)."""
    vocabulary = {"value": {v: list(a) for v, a in aliases_by_value.items() if v in allowed}}
    match = VocabularyMatcher(vocabulary, normalizer=normalize_text).longest(text, min_length=2)
    return match.value if match else None


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
    """The halls' booking-code prefixes (from the KB's halls), longest first."""
    try:
        return tuple(
            sorted({code_prefix(h) for h in get_kb().halls.values()}, key=len, reverse=True)
        )
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
    """The booking code of the latest message: a button's entity first, else typed text."""
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
    clear = common._pending().get(tracker.sender_id, _PERSONAL_FIELDS[slot])
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
    pattern = MASKED_ID if slot == "booking_id_number" else MASKED_PHONE
    return text if pattern.fullmatch(text) else _masked(slot, text)


def looks_like_name(text: str) -> bool:
    """A short Chinese name (钱七, 我叫钱七, 欧阳娜娜, 阿依古丽·买买提), not a yes/no or a
    question. Used to take the answer at the name step before any side-question check."""
    name = _NAME_PREFIX.sub("", unicodedata.normalize("NFKC", text or "").strip(" \t，。,.!！"))
    if (
        not name
        or _QUESTION.search(name)
        or normalize_text(name) in _NOT_NAMES
        or _TOPIC_WORDS.search(name)
    ):
        return False
    if not re.fullmatch(
        r"[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff]{1,10}(?:·[\u4e00-\u9fff]{1,10})+", name
    ):
        return False
    return check_name(name).ok


def _id_candidate(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or ""))
    m = ID_IN_TEXT.search(text)
    return m.group(0) if m else text


def _phone_candidate(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or ""))
    m = PHONE_IN_TEXT.search(text)
    return m.group(0) if m else text


def _change_request(text: str, allowed: Sequence[str]) -> Optional[Tuple[str, ...]]:
    """Slots to clear for "改日期", "手机号填错了" …; None when the text asks no change."""
    if not _CHANGE_VERB.search(text):
        return None
    for keywords, slots in _CHANGE_FIELDS:
        if slots[0] in allowed and any(k in text for k in keywords):
            return tuple(s for s in slots if s in allowed)
    return None


def _ran_this_turn(tracker: Tracker, action: str) -> bool:
    """True when `action` ran after the latest user message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == action:
            return True
    return False
