"""Working days: chinesecalendar for 2004–2026; from 2027 the statutory festivals computed
from the lunar calendar, plus the configured notice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import chinese_calendar
import pytest
import yaml

from bot.calendar import (
    calendar_note,
    day_off_label,
    holiday_name,
    is_working_day,
    load_holidays,
    load_rules,
    next_working_days,
    statutory_holidays,
)
from bot.settings import KB_DIR


@pytest.mark.parametrize(
    "day,working",
    [
        (date(2026, 9, 20), True),  # Sunday, 调休 working day
        (date(2026, 10, 10), True),  # Saturday, 调休 working day
        (date(2026, 9, 19), False),  # ordinary Saturday
        (date(2026, 10, 1), False),  # 国庆
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 9, 25), False),  # 中秋 (Friday)
        (date(2026, 11, 27), True),
        (date(2026, 11, 28), False),
        (date(2027, 1, 1), False),  # 元旦, statutory
        (date(2027, 1, 2), False),  # Saturday, weekend fallback
        (date(2027, 1, 4), True),
        (date(2027, 5, 3), True),  # 劳动节 调休 not published: treated as an ordinary Monday
        (date(2027, 10, 1), False),
        (date(2028, 3, 1), True),  # no data at all: weekdays work
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_2027_lunar_festivals_are_computed_holidays() -> None:
    """除夕 to 初三 (2027-02-05…08), 清明 (04-05), 端午 (06-09), 中秋 (09-15): none is typed in
    holidays.yml, they come from the lunar calendar and the solar terms."""
    days = statutory_holidays(2027)
    spring = [d for d, name in days.items() if name == "春节"]
    assert sorted(spring) == [date(2027, 2, d) for d in (5, 6, 7, 8)]
    assert {name: d for d, name in days.items() if name in ("清明节", "端午节", "中秋节")} == {
        "清明节": date(2027, 4, 5),
        "端午节": date(2027, 6, 9),
        "中秋节": date(2027, 9, 15),
    }
    for d in [*spring, date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15)]:
        assert not is_working_day(d), d
    assert is_working_day(date(2027, 2, 4)) and is_working_day(date(2027, 2, 9))
    raw = (KB_DIR / "holidays.yml").read_text(encoding="utf-8")
    assert "2027-02-05" not in raw and "2027-09-15" not in raw


@pytest.mark.parametrize("year", [2025, 2026])
def test_computed_festivals_agree_with_the_published_schedules(year: int) -> None:
    """Under the 2024 revision every computed festival day is off in the State Council's own
    schedule (which chinesecalendar carries for 2025 and 2026)."""
    days = statutory_holidays(year)
    assert len(days) == 13
    for d, name in days.items():
        assert chinese_calendar.is_holiday(d), (d, name)
        assert holiday_name(d) == name, d


def test_refusals_name_the_festival_before_the_weekend() -> None:
    assert day_off_label(date(2027, 2, 6)) == "春节假期"  # Saturday and 正月初一
    assert day_off_label(date(2027, 9, 15)) == "中秋节假期"
    assert day_off_label(date(2027, 1, 2)) == "周六"
    assert day_off_label(date(2026, 10, 5)) == "国庆节假期"


def test_a_published_notice_adds_tiaoxiu_days(tmp_path: Path) -> None:
    text = (KB_DIR / "holidays.yml").read_text(encoding="utf-8")
    text = text.replace(
        "    holidays: []\n    workdays: []",
        "    holidays: [2027-02-09]\n    workdays: [2027-02-20]",
    )
    text = text.replace("status: 未公布", "status: 已公布")
    (tmp_path / "holidays.yml").write_text(text, encoding="utf-8")
    rules = load_rules(tmp_path / "holidays.yml")
    assert (
        date(2027, 2, 9) in rules.years[2027].holidays
        and date(2027, 2, 20) in rules.years[2027].workdays
    )


def test_calendar_note_only_for_uncovered_years() -> None:
    assert calendar_note(date(2026, 12, 31)) is None
    note = calendar_note(date(2027, 1, 4))
    assert note is not None and "2027年节假日安排尚未公布" in note and "以大厅公告为准" in note
    assert "调休" in note and "农历" in note


def test_next_working_days_crosses_into_2027() -> None:
    assert next_working_days(date(2026, 12, 30), 4) == [
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
        date(2027, 1, 5),
    ]


def test_next_working_days_over_national_day() -> None:
    assert next_working_days(date(2026, 9, 30), 2) == [date(2026, 9, 30), date(2026, 10, 8)]
    assert next_working_days(date(2026, 10, 9), 2) == [date(2026, 10, 9), date(2026, 10, 10)]
    assert next_working_days(date(2026, 10, 9), 0) == []


def test_holidays_file_is_sourced_and_sane() -> None:
    data = yaml.safe_load((KB_DIR / "holidays.yml").read_text(encoding="utf-8"))
    assert data["kind"] == "holidays"
    assert data["as_of"] and data["sources"]
    assert data["years"][2027]["status"] == "未公布"
    assert {f["name"] for f in data["festivals"]} >= {"春节", "清明节", "端午节", "中秋节"}


def test_bad_holidays_file_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "holidays.yml"
    bad.write_text("kind: holidays\nyears:\n  2027:\n    holidays: [notadate]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holidays.yml: years.2027.holidays"):
        load_holidays(bad)
