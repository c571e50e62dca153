"""Working days at the halls: weekends, public holidays and 调休 working weekends.

chinesecalendar knows 2004–2026 and raises NotImplementedError for 2027, while citizens in
late 2026 already book into January 2027. For those years we fall back to weekends plus the
configured list in data/kb/holidays.yml, and `calendar_note` tells the user so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import chinese_calendar
import yaml

__all__ = [
    "is_working_day",
    "calendar_note",
    "next_working_days",
    "covered_by_chinesecalendar",
    "HolidayYear",
    "load_holidays",
]

#: Upper bound on how far `next_working_days` walks; even a 春节 week is far shorter.
_MAX_SCAN_DAYS = 400


@dataclass(frozen=True)
class HolidayYear:
    """One year's configured days off and 调休 working days."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    status: str = "未公布"


def _holidays_path() -> Path:
    from bot.settings import get_settings

    return get_settings().kb_dir / "holidays.yml"


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{where}: not a date: {value!r}") from exc


@lru_cache(maxsize=4)
def load_holidays(path: Optional[Path] = None) -> dict[int, HolidayYear]:
    """Parse holidays.yml once; a schema error names the file and the key."""
    file = path or _holidays_path()
    if not file.exists():
        return {}
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if data.get("kind") != "holidays":
        raise ValueError(f"{file}: kind must be 'holidays'")
    years: dict[int, HolidayYear] = {}
    for key, entry in (data.get("years") or {}).items():
        year = int(key)
        entry = entry or {}
        holidays = frozenset(
            _as_date(d, f"{file}: years.{year}.holidays") for d in entry.get("holidays") or []
        )
        workdays = frozenset(
            _as_date(d, f"{file}: years.{year}.workdays") for d in entry.get("workdays") or []
        )
        for d in holidays | workdays:
            if d.year != year:
                raise ValueError(f"{file}: years.{year}: {d} is not in {year}")
        years[year] = HolidayYear(year, holidays, workdays, str(entry.get("status", "未公布")))
    return years


def covered_by_chinesecalendar(d: date) -> bool:
    """True when chinesecalendar has official data for d's year."""
    try:
        chinese_calendar.is_workday(d)
    except NotImplementedError:
        return False
    return True


def is_working_day(d: date) -> bool:
    """Official data when the package has it, else weekends plus the configured list."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        pass
    year = load_holidays().get(d.year)
    if year is not None:
        if d in year.workdays:
            return True
        if d in year.holidays:
            return False
    return d.weekday() < 5


def calendar_note(d: date) -> Optional[str]:
    """A short caveat for dates whose official holiday schedule we do not have yet."""
    if covered_by_chinesecalendar(d):
        return None
    year = load_holidays().get(d.year)
    if year is not None and year.status == "已公布":
        return None
    return f"{d.year}年节假日安排尚未公布，暂按周末和已知节日计算，以大厅公告为准"


def next_working_days(start: date, n: int) -> list[date]:
    """The first n working days on or after `start` (start itself counts if it is one)."""
    days: list[date] = []
    if n <= 0:
        return days
    day = start
    for _ in range(_MAX_SCAN_DAYS):
        if is_working_day(day):
            days.append(day)
            if len(days) >= n:
                break
        day += timedelta(days=1)
    return days
