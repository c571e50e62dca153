"""Reading the grid form's answers: when it happened, and whether a contact was left.

Why not only bot.dates: that parser reads booking dates, which lie ahead; a hazard was seen
now or in the past ("刚刚", "昨天晚上", "3天前", "yesterday"), and a month-day it places in
next year ("11月20日" read on 2 December) means this year's. The words are in
data/wording/grid.yml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional

from bot.dates import CN_NUMERALS, cn_to_int, parse_date
from bot.patterns import PHONE_IN_TEXT
from bot.text import compact, fold_aligned
from bot.wording import wording

__all__ = ["TimeAnswer", "read_time", "read_contact", "ContactAnswer", "words"]

#: A month-day more than this far ahead was meant in the past year.
_AHEAD_MEANS_LAST_YEAR = timedelta(days=31)


def _days_ago(w: dict) -> "re.Pattern[str]":
    """'3天前', '三天以前': a number (digits or Chinese numerals) and one of `days_ago_words`."""
    after = "|".join(re.escape(word) for word in w.get("days_ago_words") or [])
    return re.compile(rf"([0-9]+|{CN_NUMERALS.pattern})\s*(?:{after})")


def words() -> dict:
    """data/wording/grid.yml (read once)."""
    return dict(wording("grid"))


@dataclass(frozen=True)
class TimeAnswer:
    """`at` (local, naive) or `problem`: "unclear" or "future"."""

    at: Optional[datetime] = None
    problem: Optional[str] = None


def _has_any(folded: str, candidates: list) -> bool:
    return any(compact(str(w)) and compact(str(w)) in folded for w in candidates)


def read_time(text: str, now: datetime) -> TimeAnswer:
    """When the hazard was seen, as local time; `now` is the hall's local time (naive)."""
    w = words()
    raw = (text or "").strip().lower()
    for alias, chinese in (w.get("time_aliases") or {}).items():
        raw = raw.replace(str(alias).lower(), str(chinese))
    folded = compact(raw)
    if not folded:
        return TimeAnswer(problem="unclear")
    ago = _days_ago(w).search(fold_aligned(raw))
    if ago:
        n = int(ago.group(1)) if ago.group(1).isdigit() else cn_to_int(ago.group(1))
        if n is not None and 0 <= n <= 3650:
            day = now.date() - timedelta(days=n)
            return TimeAnswer(at=datetime.combine(day, now.time() if n == 0 else time(12, 0)))
    parsed = parse_date(raw, now.date())
    hours = w.get("part_of_day_hours") or {}
    evening = _has_any(folded, list(w.get("evening_words") or []))
    if parsed.reason is not None or (
        parsed.day is None and parsed.time is None and parsed.part_of_day is None
    ):
        if evening and parsed.day is None:
            return _not_future(
                datetime.combine(now.date(), time(int(hours.get("evening", 20)))), now
            )
        if folded in {compact(str(x)) for x in w.get("now_words") or []} or _has_any(
            folded, [x for x in (w.get("now_words") or []) if len(compact(str(x))) >= 2]
        ):
            return TimeAnswer(at=now)
        return TimeAnswer(problem="unclear")
    day = parsed.day or now.date()
    if day > now.date() and day - now.date() > _AHEAD_MEANS_LAST_YEAR:
        try:
            day = day.replace(year=day.year - 1)
        except ValueError:  # 29 February
            day = day - timedelta(days=365)
    if parsed.time is not None:
        clock = parsed.time
    elif evening:
        clock = time(int(hours.get("evening", 20)))
    elif parsed.part_of_day in ("morning", "afternoon"):
        clock = time(int(hours.get(parsed.part_of_day, 12)))
    elif day == now.date():
        return TimeAnswer(at=now)
    else:
        clock = time(12, 0)
    return _not_future(datetime.combine(day, clock), now)


def _not_future(at: datetime, now: datetime) -> TimeAnswer:
    """A time later today than now (下午3点 said at 10:00) or a day ahead is refused."""
    if at.date() > now.date():
        return TimeAnswer(problem="future")
    if at > now:
        # Later today: the citizen means a time already passed only if it is the same hour.
        return TimeAnswer(at=now) if at - now < timedelta(hours=1) else TimeAnswer(problem="future")
    return TimeAnswer(at=at)


@dataclass(frozen=True)
class ContactAnswer:
    """`none` (no contact wanted), `phone` (the digits found, not yet validated) or neither."""

    none: bool = False
    phone: Optional[str] = None


def read_contact(text: str) -> ContactAnswer:
    """ "不留" → none; a mobile inside the text → phone; anything else → neither."""
    folded = compact(text)
    match = PHONE_IN_TEXT.search(fold_aligned(text or ""))
    if match:
        return ContactAnswer(phone=re.sub(r"\D", "", match.group("national")))
    no_words = {compact(str(x)) for x in words().get("no_contact_words") or []}
    if folded in no_words or any(len(x) >= 2 and folded.startswith(x) for x in no_words):
        return ContactAnswer(none=True)
    digits = re.sub(r"\D", "", fold_aligned(text or ""))
    return ContactAnswer(phone=digits) if len(digits) >= 5 else ContactAnswer()
