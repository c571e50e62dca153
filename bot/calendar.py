"""Working days at the halls: weekends, public holidays and 调休 working weekends.

chinesecalendar has the State Council's published schedules for 2004–2026 and raises
NotImplementedError for 2027, while citizens in late 2026 already book into 2027. For those
years the statutory festivals of the 2024 revision of 全国年节及纪念日放假办法 are computed
(除夕 to 初三, 端午 and 中秋 from the lunar calendar, 清明 from the solar terms, with
lunar-python), so no booking lands on 2027-02-05…08. The 补假 and 调休 working weekends are
published late each year: data/kb/holidays.yml adds them, and `calendar_note` says they are
missing until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import chinese_calendar
import yaml

from bot.settings import get_settings

__all__ = [
    "is_working_day",
    "holiday_name",
    "day_off_label",
    "calendar_note",
    "next_working_days",
    "covered_by_chinesecalendar",
    "statutory_holidays",
    "HolidayYear",
    "Festival",
    "HolidayRules",
    "load_holidays",
    "load_rules",
]

#: Upper bound on how far `next_working_days` walks; even a 春节 week is far shorter.
_MAX_SCAN_DAYS = 400
#: The lunar-calendar word for the last day of the lunar year (the day before 正月初一).
_NEW_YEARS_EVE = "除夕"


@dataclass(frozen=True)
class HolidayYear:
    """One year's configured extra days off and 调休 working days (the State Council's notice)."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    status: str = "未公布"


@dataclass(frozen=True)
class Festival:
    """A statutory festival (第二条): fixed Gregorian days, lunar days or a solar term."""

    name: str
    en: str
    solar: tuple[str, ...] = ()
    lunar: tuple[str, ...] = ()
    solar_term: Optional[str] = None


@dataclass(frozen=True)
class HolidayRules:
    """Everything holidays.yml says: the festivals, the per-year notices and the wording."""

    festivals: tuple[Festival, ...]
    years: Mapping[int, HolidayYear]
    unpublished_note: str
    festival_day_off: str
    other_day_off: str
    weekend: tuple[str, str]


def _holidays_path() -> Path:
    return get_settings().kb_dir / "holidays.yml"


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{where}: not a date: {value!r}") from exc


def _month_days(values: Any, where: str, allow_eve: bool = False) -> tuple[str, ...]:
    """Days as "MM-DD" strings (and 除夕 for lunar days), checked so a typo fails at start-up."""
    out: list[str] = []
    for value in values or []:
        text = str(value)
        if allow_eve and text == _NEW_YEARS_EVE:
            out.append(text)
            continue
        month, _, day = text.partition("-")
        if not (
            month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 31
        ):
            raise ValueError(f"{where}: not a MM-DD day: {value!r}")
        out.append(text)
    return tuple(out)


def _parse_festivals(raw: Any, file: Path) -> tuple[Festival, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{file}: festivals: must be a non-empty list")
    festivals = []
    for i, entry in enumerate(raw):
        where = f"{file}: festivals[{i}]"
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("en"):
            raise ValueError(f"{where}: needs name and en")
        festival = Festival(
            name=str(entry["name"]),
            en=str(entry["en"]),
            solar=_month_days(entry.get("solar"), f"{where}.solar"),
            lunar=_month_days(entry.get("lunar"), f"{where}.lunar", allow_eve=True),
            solar_term=str(entry["solar_term"]) if entry.get("solar_term") else None,
        )
        if not (festival.solar or festival.lunar or festival.solar_term):
            raise ValueError(f"{where}: needs solar, lunar or solar_term")
        festivals.append(festival)
    return tuple(festivals)


@lru_cache(maxsize=4)
def load_rules(path: Optional[Path] = None) -> HolidayRules:
    """Parse holidays.yml once; a schema error names the file and the key."""
    file = path or _holidays_path()
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
    for name in ("unpublished_note", "festival_day_off", "other_day_off"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise ValueError(f"{file}: {name}: missing")
    weekend = data.get("weekend")
    if not (
        isinstance(weekend, list)
        and len(weekend) == 2
        and all(isinstance(w, str) and w for w in weekend)
    ):
        raise ValueError(f"{file}: weekend: must name Saturday and Sunday")
    return HolidayRules(
        festivals=_parse_festivals(data.get("festivals"), file),
        years=years,
        unpublished_note=data["unpublished_note"].strip(),
        festival_day_off=data["festival_day_off"].strip(),
        other_day_off=data["other_day_off"].strip(),
        weekend=(weekend[0], weekend[1]),
    )


def load_holidays(path: Optional[Path] = None) -> dict[int, HolidayYear]:
    """The per-year notices (extra days off, 调休 working days) from holidays.yml."""
    return dict(load_rules(path).years)


def _lunar_to_solar(year: int, month_day: str) -> date:
    """A day of lunar year `year` (or its 除夕) as a Gregorian date, by lunar-python."""
    from lunar_python import Lunar  # imported on first use: only years without data need it

    if month_day == _NEW_YEARS_EVE:
        solar = Lunar.fromYmd(year + 1, 1, 1).next(-1).getSolar()
    else:
        month, day = (int(p) for p in month_day.split("-"))
        solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _solar_term(year: int, name: str) -> date:
    from lunar_python import Lunar  # as in _lunar_to_solar

    # The lunar year starting in `year` holds that Gregorian year's spring–winter terms.
    solar = Lunar.fromYmd(year, 6, 1).getJieQiTable()[name]
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@lru_cache(maxsize=16)
def statutory_holidays(year: int, path: Optional[Path] = None) -> dict[date, str]:
    """Gregorian year `year`'s statutory festival days (第二条), each with its festival's name.

    除夕 belongs to the lunar year before 正月初一, so the 春节 falling in `year` is the one
    of lunar year `year`; its 除夕 is lunar year `year - 1`'s last day.
    """
    days: dict[date, str] = {}
    for festival in load_rules(path).festivals:
        found: list[date] = [date(year, *(int(p) for p in md.split("-"))) for md in festival.solar]
        for md in festival.lunar:
            found.append(
                _lunar_to_solar(year - 1, md) if md == _NEW_YEARS_EVE else _lunar_to_solar(year, md)
            )
        if festival.solar_term:
            found.append(_solar_term(year, festival.solar_term))
        for d in found:
            if d.year == year:
                days.setdefault(d, festival.name)
    return days


def covered_by_chinesecalendar(d: date) -> bool:
    """True when chinesecalendar has the published schedule for d's year."""
    try:
        chinese_calendar.is_workday(d)
    except NotImplementedError:
        return False
    return True


def is_working_day(d: date) -> bool:
    """The published schedule when the package has it, else computed festivals, weekends
    and the configured notice."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        pass
    year = load_rules().years.get(d.year)
    if year is not None:
        if d in year.workdays:
            return True
        if d in year.holidays:
            return False
    if d in statutory_holidays(d.year):
        return False
    return d.weekday() < 5


def holiday_name(d: date) -> Optional[str]:
    """Why a weekday-or-weekend `d` is off: the festival's name (春节, 清明节 …), or the
    word for another day off (补假, 调休); None when `d` is no holiday at all."""
    rules = load_rules()
    if covered_by_chinesecalendar(d):
        on_holiday, name = chinese_calendar.get_holiday_detail(d)
        if not on_holiday or name is None:
            return None
        by_en = {f.en: f.name for f in rules.festivals}
        return by_en.get(str(name), rules.other_day_off)
    statutory = statutory_holidays(d.year).get(d)
    if statutory:
        return statutory
    year = rules.years.get(d.year)
    if year is not None and d in year.holidays:
        return rules.other_day_off
    return None


def day_off_label(d: date) -> str:
    """How a refusal names a day the halls are closed: 春节假期, 节假日, 周六 or 周日.

    A festival wins over the weekend (2027-02-06 is a Saturday and 正月初一)."""
    rules = load_rules()
    name = holiday_name(d)
    if name == rules.other_day_off:
        return name
    if name:
        return rules.festival_day_off.replace("{name}", name)
    if d.weekday() >= 5:
        return rules.weekend[d.weekday() - 5]
    return rules.other_day_off


def calendar_note(d: date) -> Optional[str]:
    """A short caveat for dates whose year's 补假 and 调休 days are not published yet."""
    if covered_by_chinesecalendar(d):
        return None
    rules = load_rules()
    year = rules.years.get(d.year)
    if year is not None and year.status == "已公布":
        return None
    return rules.unpublished_note.replace("{year}", str(d.year))


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
