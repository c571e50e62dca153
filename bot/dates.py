"""Natural Chinese dates and times for the booking form: 明天, 下周三, 12月3号, 周五下午, 两点半.

Why a hand-written parser: Duckling is not available here, and the booking form needs only a
closed set of expressions, parsed against an explicit `today` so the tests are reproducible
and the answer never depends on the server's clock.

Rules (documented because users rely on them):
- 周X with no prefix is the next such day, today included; 这周/本周X is that day of the
  current Monday–Sunday week (may be past); 下周X is in the next week; 下下周X the week after.
- A month-day without a year (12月3号, 12.3, 12/3) is the occurrence nearest to today among
  last, this and next year: on 2026-12-10, 1月5号 is 2027-01-05 (26 days ahead) and 12.3 is
  2026-12-03 (7 days ago, so the form says it has passed) rather than a date a year away.
- N号 alone is this month if that day has not passed, else next month.
- A clock hour 1–6 without 上午/下午 means the afternoon (两点 at a hall is 14:00).
- A past day is returned as parsed, with no reason: the booking rules decide what is allowed.
- Common English forms (for foreigners) are rewritten into the Chinese ones first, so one set
  of rules applies: tomorrow → 明天, next Monday → 下周1, Monday → 周1, Dec 15 / 15 December
  → 12月15日, in 3 days → 3天后, 10am → 上午10点, 2:30 pm → 下午2:30. ISO dates
  (2026-12-15) need no rewriting.
  `reason` is set only when the text cannot be a date at all (2月30号, nothing recognisable).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Dict, Literal, Optional

from bot.calendar import next_working_days
from bot.text import simplified

__all__ = ["DateParse", "parse_date", "cn_to_int"]

PartOfDay = Literal["morning", "afternoon"]
_MAX_TEXT = 200

# NFKC folds full-width －／．： already; the ideographic full stop ends a date like a dot.
_FULL_STOP = str.maketrans({"。": "."})

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
#: A run of Chinese numerals (cn_to_int reads it); bot.grid.answers builds on it too.
CN_NUMERALS = re.compile(r"[零〇一二两三四五六七八九十]+")
_WEEKDAY_RE = re.compile(
    r"(?P<prefix>下下个?|下个?|这个?|本|上个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
)
_WD_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "7": 6}
_RELATIVE = {
    "大大后天": 4,
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明日": 1,
    "明早": 1,
    "明晚": 1,
    "明儿": 1,
    "今天": 0,
    "今日": 0,
    "今早": 0,
    "今晚": 0,
    "今儿": 0,
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
}
_RELATIVE_RE = re.compile("|".join(sorted(_RELATIVE, key=len, reverse=True)))
_FULL_RE = re.compile(
    r"(?<!\d)(?P<y>\d{4})\s*(?:年|-|/|\.)\s*(?P<m>\d{1,2})\s*(?:月|-|/|\.)\s*(?P<d>\d{1,2})(?:日|号)?"
)
_MONTH_REL_RE = re.compile(r"(?P<rel>下个?月|这个?月|本月)(?P<d>\d{1,2})(?:日|号)?")
_MONTH_DAY_RE = re.compile(r"(?<!\d)(?P<m>\d{1,2})月(?P<d>\d{1,2})(?:日|号)?")
_DOTTED_RE = re.compile(r"(?<![\d:.])(?P<m>\d{1,2})[./](?P<d>\d{1,2})(?![\d:./])")
_DAY_ONLY_RE = re.compile(r"(?<![\d月])(?P<d>\d{1,2})(?:号|日)")
_IN_DAYS_RE = re.compile(r"(?P<n>\d{1,3})(?:天|日)(?:后|以后|之后)")
# Numerals are already converted when this runs: 第一天 arrives as 第1天.
_NEW_YEAR_RE = re.compile(
    r"元旦(?P<after>(?:以后|之后|后)(?:的)?(?:第1天|第1个工作日|上班第1天|头1天|上班))?"
)
_CLOCK_RE = re.compile(r"(?<!\d)(?P<h>\d{1,2}):(?P<mi>\d{2})(?!\d)")
_HOUR_RE = re.compile(
    r"(?<!\d)(?P<h>\d{1,2})(?:点|时)(?:钟)?(?:(?P<half>半)|(?P<q>[13])刻|(?P<mi>\d{1,2})(?:分)?)?"
)
_MORNING = ("上午", "早上", "早晨", "上半天", "明早", "今早")
_AFTERNOON = ("下午", "下半天", "午后")
_NOON = ("中午",)
_EVENING = ("晚上", "傍晚", "明晚", "今晚")


@dataclass(frozen=True)
class DateProblem:
    """Why a text is no valid date: a code, said by the domain response `utter_date_<code>`,
    and the values that reply names (the month and day that do not exist)."""

    code: str
    params: Dict[str, int] = field(default_factory=dict)


_NO_DATE = DateProblem("unclear")

_EN_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_EN_MONTH = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_EN_ORD = r"(?:st|nd|rd|th)?"
_EN_MONTH_DAY_RE = re.compile(
    rf"\b{_EN_MONTH}\s*(?P<d>\d{{1,2}}){_EN_ORD}\b(?:,?\s*(?P<y>\d{{4}}))?"
)
_EN_DAY_MONTH_RE = re.compile(
    rf"\b(?P<d>\d{{1,2}}){_EN_ORD}\s*(?:of\s+)?{_EN_MONTH}\b(?:,?\s*(?P<y>\d{{4}}))?"
)
_EN_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_EN_WEEKDAY_RE = re.compile(
    r"\b(?:(?P<prefix>next|this|coming)\s+)?(?P<wd>mon|tue|wed|thu|fri|sat|sun)"
    r"(?:day|s|sday|nesday|rsday|urday|r|rs)?\b\.?"
)
_EN_CLOCK_RE = re.compile(
    r"\b(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])"
)
_EN_OCLOCK_RE = re.compile(r"\b(?P<h>\d{1,2})\s*o'?clock\b")
_EN_IN_DAYS_RE = re.compile(r"\bin\s+(?P<n>\d{1,3})\s+days?\b")
_EN_WORDS = (
    (re.compile(r"\b(?:the\s+)?day\s+after\s+tomorrow\b"), "后天"),
    (re.compile(r"\btomorrow\b"), "明天"),
    (re.compile(r"\btoday\b"), "今天"),
    (re.compile(r"\bmorning\b"), "上午"),
    (re.compile(r"\bafternoon\b"), "下午"),
    (re.compile(r"\bnoon\b"), "中午"),
    (re.compile(r"\bevening\b"), "晚上"),
)


def _english_to_chinese(text: str) -> str:
    """Rewrite the English date and time forms (lower-cased text) into the Chinese ones."""
    if not re.search(r"[a-z]", text):
        return text

    def month_day(m: re.Match[str]) -> str:
        month = _EN_MONTHS[m["mon"][:4] if m["mon"].startswith("sept") else m["mon"][:3]]
        year = f"{m['y']}年" if m["y"] else ""
        return f" {year}{month}月{int(m['d'])}日 "

    def weekday(m: re.Match[str]) -> str:
        prefix = "下" if m["prefix"] == "next" else ("这" if m["prefix"] == "this" else "")
        return f" {prefix}周{_EN_WEEKDAYS[m['wd']]} "

    def clock(m: re.Match[str]) -> str:
        part = "上午" if m["ap"].startswith("a") else "下午"
        return f" {part}{m['h']}:{m['mi']} " if m["mi"] else f" {part}{m['h']}点 "

    text = _EN_MONTH_DAY_RE.sub(month_day, text)
    text = _EN_DAY_MONTH_RE.sub(month_day, text)
    text = _EN_WEEKDAY_RE.sub(weekday, text)
    text = _EN_CLOCK_RE.sub(clock, text)
    text = _EN_OCLOCK_RE.sub(lambda m: f" {m['h']}点 ", text)
    text = _EN_IN_DAYS_RE.sub(lambda m: f" {m['n']}天后 ", text)
    for pattern, chinese in _EN_WORDS:
        text = pattern.sub(f" {chinese} ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class DateParse:
    """What was understood; `reason` only when the text cannot be a valid date."""

    day: Optional[date] = None
    part_of_day: Optional[PartOfDay] = None
    time: Optional[time] = None
    reason: Optional[DateProblem] = None


def cn_to_int(text: str) -> Optional[int]:
    """十二 → 12, 二十一 → 21, 三十 → 30, 两 → 2, 二〇二七 → 2027 (digit by digit)."""
    if not text:
        return None
    if "十" in text:
        left, _, right = text.partition("十")
        if "十" in right or len(left) > 1 or len(right) > 1:
            return None
        tens = _CN_DIGITS.get(left, None) if left else 1
        ones = _CN_DIGITS.get(right, None) if right else 0
        if tens is None or ones is None:
            return None
        return tens * 10 + ones
    digits = [_CN_DIGITS.get(ch) for ch in text]
    if any(d is None for d in digits):
        return None
    return int("".join(str(d) for d in digits))


def _normalize(text: str) -> str:
    t = simplified(unicodedata.normalize("NFKC", text or "")[:_MAX_TEXT]).translate(_FULL_STOP)
    t = re.sub(r"\s+", " ", t).strip().lower()
    # Drop spaces next to Chinese characters (下 周 三), keep those between numbers
    # (12/3 14:30), or the date and the time would run together.
    return re.sub(r"(?<=[\u3400-\u9fff])\s+|\s+(?=[\u3400-\u9fff])", "", t)


def _convert_numerals(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        value = cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)

    return CN_NUMERALS.sub(repl, text)


def _month_name_error(month: int, day: int) -> DateProblem:
    if not 1 <= month <= 12:
        return DateProblem("no_such_month", {"month": month})
    return DateProblem("no_such_day", {"month": month, "day": day})


def _valid(year: int, month: int, day: int) -> Optional[date]:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest_month_day(month: int, day: int, today: date) -> Optional[date]:
    """The occurrence nearest to today (ties go to the future); see the module docstring."""
    candidates = [
        d
        for d in (_valid(today.year + k, month, day) for k in (-1, 0, 1, 2, 3, 4))
        if d is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d < today))


def _add_months(today: date, months: int) -> tuple[int, int]:
    index = today.year * 12 + (today.month - 1) + months
    return index // 12, index % 12 + 1


def _weekday_day(prefix: Optional[str], wd: int, today: date) -> date:
    monday = today - timedelta(days=today.weekday())
    if not prefix:
        day = monday + timedelta(days=wd)
        return day if day >= today else day + timedelta(days=7)
    if prefix.startswith("下下"):
        return monday + timedelta(days=14 + wd)
    if prefix.startswith("下"):
        return monday + timedelta(days=7 + wd)
    if prefix.startswith("上"):
        return monday + timedelta(days=wd - 7)
    return monday + timedelta(days=wd)


def _parse_day(text: str, today: date) -> tuple[Optional[date], Optional[DateProblem], str]:
    """Returns (day, reason, text with the date expression removed)."""

    def cut(m: re.Match[str]) -> str:
        return text[: m.start()] + " " + text[m.end() :]

    m = _FULL_RE.search(text)
    if m:
        y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
        found = _valid(y, mo, d)
        return found, None if found else _month_name_error(mo, d), cut(m)
    m = _MONTH_REL_RE.search(text)
    if m:
        y, mo = _add_months(today, 1 if m["rel"].startswith("下") else 0)
        d = int(m["d"])
        found = _valid(y, mo, d)
        return found, None if found else _month_name_error(mo, d), cut(m)
    m = _MONTH_DAY_RE.search(text) or _DOTTED_RE.search(text)
    if m:
        mo, d = int(m["m"]), int(m["d"])
        if not 1 <= mo <= 12 or not 1 <= d <= 31:
            return None, _month_name_error(mo, d), cut(m)
        found = _nearest_month_day(mo, d, today)
        return found, None if found else _month_name_error(mo, d), cut(m)
    m = _NEW_YEAR_RE.search(text)
    if m:
        jan1 = (
            date(today.year + 1, 1, 1) if today > date(today.year, 1, 1) else date(today.year, 1, 1)
        )
        if m["after"]:
            days = next_working_days(jan1 + timedelta(days=1), 1)
            return (days[0] if days else None), None, cut(m)
        return jan1, None, cut(m)
    m = _WEEKDAY_RE.search(text)
    if m:
        wd = _WD_INDEX.get(m["wd"])
        if wd is None:
            wd = int(m["wd"]) - 1
        return _weekday_day(m["prefix"], wd, today), None, cut(m)
    m = _RELATIVE_RE.search(text)
    if m:
        return today + timedelta(days=_RELATIVE[m.group(0)]), None, text
    m = _IN_DAYS_RE.search(text)
    if m:
        return today + timedelta(days=int(m["n"])), None, cut(m)
    m = _DAY_ONLY_RE.search(text)
    if m:
        d = int(m["d"])
        this_month = _valid(today.year, today.month, d)
        if this_month and this_month >= today:
            return this_month, None, cut(m)
        y, mo = _add_months(today, 1)
        nxt = _valid(y, mo, d)
        if nxt:
            return nxt, None, cut(m)
        return None, DateProblem("no_such_day_of_month", {"month": mo, "day": d}), cut(m)
    if re.search(r"(下下|下|这|本|上)个?(周|星期|礼拜)(?![一二三四五六日天1-7])", text):
        return None, DateProblem("which_weekday"), text
    if "周末" in text:
        return None, DateProblem("which_day"), text
    return None, None, text


def _part_of_day_word(text: str) -> Optional[str]:
    for words, label in (
        (_AFTERNOON, "afternoon"),
        (_NOON, "noon"),
        (_EVENING, "evening"),
        (_MORNING, "morning"),
    ):
        if any(w in text for w in words):
            return label
    return None


def _parse_time(text: str, word: Optional[str]) -> tuple[Optional[time], Optional[DateProblem]]:
    m = _CLOCK_RE.search(text)
    hour: Optional[int] = None
    minute = 0
    if m:
        hour, minute = int(m["h"]), int(m["mi"])
    else:
        m = _HOUR_RE.search(text)
        if m:
            hour = int(m["h"])
            if m["half"]:
                minute = 30
            elif m["q"]:
                minute = 15 * int(m["q"])
            elif m["mi"]:
                minute = int(m["mi"])
    if hour is None:
        return None, None
    if word in ("afternoon", "evening") and hour < 12:
        hour += 12
    elif word == "noon" and hour <= 2:
        hour += 12
    elif word is None and 1 <= hour <= 6:
        hour += 12
    if not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None, DateProblem("no_such_time")
    return time(hour, minute), None


def parse_date(text: str, today: date) -> DateParse:
    """Parse a day, a part of the day and a clock time out of one user message."""
    t = _normalize(_english_to_chinese(_normalize(text)))
    if not t:
        return DateParse(reason=_NO_DATE)
    word = _part_of_day_word(t)
    # Weekdays use Chinese numerals (周三), so they are read before numerals are converted.
    weekday = _WEEKDAY_RE.search(t)
    converted = (
        _convert_numerals(t)
        if weekday is None
        else (
            _convert_numerals(t[: weekday.start()])
            + weekday.group(0)
            + _convert_numerals(t[weekday.end() :])
        )
    )
    day, reason, rest = _parse_day(converted, today)
    clock, time_reason = _parse_time(rest, word)
    part: Optional[PartOfDay] = None
    if word == "morning":
        part = "morning"
    elif word == "afternoon":
        part = "afternoon"
    elif clock is not None:
        if clock < time(12, 0):
            part = "morning"
        elif clock < time(18, 0):
            part = "afternoon"
    if reason is None and time_reason is not None:
        reason = time_reason
    if day is None and reason is None and clock is None and part is None:
        reason = _NO_DATE
    return DateParse(day=day, part_of_day=part, time=clock, reason=reason)
