"""Working days: chinesecalendar for 2004–2026, the configured list for 2027 onwards."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.calendar import calendar_note, is_working_day, load_holidays, next_working_days
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
        (date(2027, 1, 1), False),  # 元旦, from holidays.yml
        (date(2027, 1, 2), False),  # Saturday, weekend fallback
        (date(2027, 1, 4), True),
        (date(2027, 5, 3), True),  # 劳动节 调休 not published: treated as an ordinary Monday
        (date(2027, 10, 1), False),
        (date(2028, 3, 1), True),  # no data at all: weekdays work
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_calendar_note_only_for_uncovered_years() -> None:
    assert calendar_note(date(2026, 12, 31)) is None
    note = calendar_note(date(2027, 1, 4))
    assert note is not None and "2027年节假日安排尚未公布" in note and "以大厅公告为准" in note


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
    year = data["years"][2027]
    assert date(2027, 1, 1) in year["holidays"]
    assert all(item["note"] == "未公布，按周末计算" for item in year["unpublished"])
    for d in year["holidays"]:
        assert d.year == 2027


def test_bad_holidays_file_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "holidays.yml"
    bad.write_text("kind: holidays\nyears:\n  2027:\n    holidays: [notadate]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holidays.yml: years.2027.holidays"):
        load_holidays(bad)
