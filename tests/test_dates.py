"""Natural Chinese date expressions against a fixed "today" (no clock dependence)."""

from __future__ import annotations

from datetime import date, time
from typing import Optional

import pytest

from actions.booking.format import words
from actions.booking.refusals import DATE_PROBLEM_RESPONSES
from bot.calendar import is_working_day
from bot.dates import cn_to_int, parse_date

FRI = date(2026, 11, 27)  # a Friday
BEFORE_SEP_TIAOXIU = date(2026, 9, 18)  # Friday before the working Sunday 2026-09-20
BEFORE_OCT_TIAOXIU = date(2026, 10, 9)  # Friday before the working Saturday 2026-10-10
YEAR_END = date(2026, 12, 28)  # Monday, days before 2027
WED = date(2026, 12, 2)

CASES: list[tuple[str, date, Optional[date], Optional[str], Optional[time]]] = [
    # text, today, expected day, part of day, time
    ("今天", FRI, date(2026, 11, 27), None, None),
    ("明天", FRI, date(2026, 11, 28), None, None),
    ("后天", FRI, date(2026, 11, 29), None, None),
    ("大后天", FRI, date(2026, 11, 30), None, None),
    ("下周三", FRI, date(2026, 12, 2), None, None),
    ("这周五", FRI, date(2026, 11, 27), None, None),
    ("本周五", FRI, date(2026, 11, 27), None, None),
    ("周五下午", FRI, date(2026, 11, 27), "afternoon", None),
    ("下下周一", FRI, date(2026, 12, 7), None, None),
    ("12月3号", FRI, date(2026, 12, 3), None, None),
    ("12月3日", FRI, date(2026, 12, 3), None, None),
    ("12.3", FRI, date(2026, 12, 3), None, None),
    ("12/3", FRI, date(2026, 12, 3), None, None),
    ("2026-12-03", FRI, date(2026, 12, 3), None, None),
    ("2026年12月3日", FRI, date(2026, 12, 3), None, None),
    ("3号", FRI, date(2026, 12, 3), None, None),
    ("28号", FRI, date(2026, 11, 28), None, None),
    ("十二月三号", FRI, date(2026, 12, 3), None, None),
    ("三号", FRI, date(2026, 12, 3), None, None),
    ("１２月３号", FRI, date(2026, 12, 3), None, None),
    ("２０２６－１２－０３", FRI, date(2026, 12, 3), None, None),
    ("下個禮拜五下午", FRI, date(2026, 12, 4), "afternoon", None),
    ("星期天", FRI, date(2026, 11, 29), None, None),
    ("周3", FRI, date(2026, 12, 2), None, None),
    ("下个月3号", FRI, date(2026, 12, 3), None, None),
    ("5天后", FRI, date(2026, 12, 2), None, None),
    ("明早九点", FRI, date(2026, 11, 28), "morning", time(9, 0)),
    ("12月3号下午两点半", FRI, date(2026, 12, 3), "afternoon", time(14, 30)),
    ("下周一上午十点半", FRI, date(2026, 11, 30), "morning", time(10, 30)),
    ("我想约 下周二 14:30 可以吗", FRI, date(2026, 12, 1), "afternoon", time(14, 30)),
    ("12/3 14:30", FRI, date(2026, 12, 3), "afternoon", time(14, 30)),
    ("2026-12-03 09:30", FRI, date(2026, 12, 3), "morning", time(9, 30)),
    ("下 周 三 上 午", FRI, date(2026, 12, 2), "morning", None),
    ("周五", WED, date(2026, 12, 4), None, None),
    ("周一", WED, date(2026, 12, 7), None, None),
    ("这周一", WED, date(2026, 11, 30), None, None),
    # around the 2026 调休 working days
    ("后天", BEFORE_SEP_TIAOXIU, date(2026, 9, 20), None, None),
    ("这周日", BEFORE_SEP_TIAOXIU, date(2026, 9, 20), None, None),
    ("9月20号上午", BEFORE_SEP_TIAOXIU, date(2026, 9, 20), "morning", None),
    ("明天", BEFORE_OCT_TIAOXIU, date(2026, 10, 10), None, None),
    ("10.10", BEFORE_OCT_TIAOXIU, date(2026, 10, 10), None, None),
    ("下周一", BEFORE_OCT_TIAOXIU, date(2026, 10, 12), None, None),
    ("大后天", BEFORE_OCT_TIAOXIU, date(2026, 10, 12), None, None),
    # dates in 2027
    ("下周一", YEAR_END, date(2027, 1, 4), None, None),
    ("1月5号", YEAR_END, date(2027, 1, 5), None, None),
    ("3号", YEAR_END, date(2027, 1, 3), None, None),
    ("元旦", YEAR_END, date(2027, 1, 1), None, None),
    ("元旦后第一天", YEAR_END, date(2027, 1, 4), None, None),
    ("2027年1月8日", YEAR_END, date(2027, 1, 8), None, None),
    ("2027-01-08", YEAR_END, date(2027, 1, 8), None, None),
    ("1/8", YEAR_END, date(2027, 1, 8), None, None),
    ("下下周五下午3点", YEAR_END, date(2027, 1, 15), "afternoon", time(15, 0)),
    ("大后天", YEAR_END, date(2026, 12, 31), None, None),
    ("后天", date(2026, 12, 30), date(2027, 1, 1), None, None),
    # a month-day already passed this year resolves to the nearest occurrence
    ("12.3", date(2026, 12, 10), date(2026, 12, 3), None, None),
    ("1月5号", date(2026, 12, 10), date(2027, 1, 5), None, None),
]


@pytest.mark.parametrize("text,today,day,part,clock", CASES)
def test_expression(
    text: str, today: date, day: Optional[date], part: Optional[str], clock: Optional[time]
) -> None:
    parsed = parse_date(text, today)
    assert parsed.reason is None, parsed
    assert parsed.day == day
    assert parsed.part_of_day == part
    assert parsed.time == clock


def test_at_least_forty_expressions() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "text,part,clock",
    [
        ("下午两点", "afternoon", time(14, 0)),
        ("14:30", "afternoon", time(14, 30)),
        ("１４：３０", "afternoon", time(14, 30)),
        ("上午十点半", "morning", time(10, 30)),
        ("两点一刻", "afternoon", time(14, 15)),
        ("9点", "morning", time(9, 0)),
        ("中午十二点半", "afternoon", time(12, 30)),
        ("下午", "afternoon", None),
        ("上午", "morning", None),
    ],
)
def test_time_only(text: str, part: str, clock: Optional[time]) -> None:
    parsed = parse_date(text, FRI)
    assert parsed.day is None
    assert parsed.reason is None
    assert parsed.part_of_day == part
    assert parsed.time == clock


@pytest.mark.parametrize(
    "text,needle",
    [
        ("2月30号", "2月没有30日"),
        ("2026-02-30", "2月没有30日"),
        ("13月5号", "没有13月"),
        ("25:00", "时间不存在"),
        ("asdf", "没看懂"),
        ("", "没看懂"),
        ("下周", "星期几"),
        ("周末", "哪一天"),
    ],
)
def test_invalid_gives_reason(text: str, needle: str) -> None:
    parsed = parse_date(text, FRI)
    assert parsed.reason is not None
    said = words(DATE_PROBLEM_RESPONSES[parsed.reason.code], False, **parsed.reason.params)
    assert needle in said
    assert parsed.day is None


def test_huge_and_garbled_input_never_crashes() -> None:
    assert parse_date("号" * 10_000, FRI).reason is not None
    assert parse_date("\x00\ufffd😀 drop table;", FRI).reason is not None


def test_past_day_is_returned_without_reason() -> None:
    parsed = parse_date("昨天", FRI)
    assert parsed.day == date(2026, 11, 26) and parsed.reason is None


def test_tiaoxiu_days_are_working_days() -> None:
    assert is_working_day(parse_date("后天", BEFORE_SEP_TIAOXIU).day)  # type: ignore[arg-type]
    assert is_working_day(parse_date("明天", BEFORE_OCT_TIAOXIU).day)  # type: ignore[arg-type]
    assert not is_working_day(parse_date("明天", BEFORE_SEP_TIAOXIU).day)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text,value",
    [("十", 10), ("十二", 12), ("二十一", 21), ("三十", 30), ("两", 2), ("二〇二七", 2027)],
)
def test_cn_to_int(text: str, value: int) -> None:
    assert cn_to_int(text) == value


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CHUNKS = st.sampled_from(
    [
        "下",
        "周",
        "三",
        "月",
        "号",
        "日",
        "点",
        "半",
        "上午",
        "下午",
        "明天",
        "后天",
        "十",
        "两",
        "12",
        "3",
        ".",
        "/",
        ":",
        "-",
        " ",
        "年",
        "2027",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_CHUNKS, max_size=12).map("".join)))
def test_never_crashes(text: str) -> None:
    parsed = parse_date(text, FRI)
    assert (
        parsed.day is not None
        or parsed.reason is not None
        or parsed.time is not None
        or parsed.part_of_day
    )


# English forms, for foreigners booking in English: rewritten into the Chinese rules above.
ENGLISH_CASES: list[tuple[str, date, Optional[date], Optional[str], Optional[time]]] = [
    ("tomorrow", FRI, date(2026, 11, 28), None, None),
    ("Today", FRI, date(2026, 11, 27), None, None),
    ("the day after tomorrow", FRI, date(2026, 11, 29), None, None),
    ("next Monday", FRI, date(2026, 11, 30), None, None),
    ("next Wednesday", FRI, date(2026, 12, 2), None, None),
    ("this Friday", FRI, date(2026, 11, 27), None, None),
    ("Tuesday", WED, date(2026, 12, 8), None, None),
    ("on Thu", WED, date(2026, 12, 3), None, None),
    ("2026-12-15", WED, date(2026, 12, 15), None, None),
    ("Dec 15", WED, date(2026, 12, 15), None, None),
    ("December 15th", WED, date(2026, 12, 15), None, None),
    ("15 December", WED, date(2026, 12, 15), None, None),
    ("the 4th of January", YEAR_END, date(2027, 1, 4), None, None),
    ("Jan 5, 2027", WED, date(2027, 1, 5), None, None),
    ("in 3 days", FRI, date(2026, 11, 30), None, None),
    ("tomorrow at 10am", FRI, date(2026, 11, 28), "morning", time(10, 0)),
    ("Friday afternoon", WED, date(2026, 12, 4), "afternoon", None),
    ("2:30 pm", WED, None, "afternoon", time(14, 30)),
    ("9.30 a.m.", WED, None, "morning", time(9, 30)),
    ("10 o'clock", WED, None, "morning", time(10, 0)),
    ("3pm on Dec 9", WED, date(2026, 12, 9), "afternoon", time(15, 0)),
]


@pytest.mark.parametrize("text,today,day,part,clock", ENGLISH_CASES)
def test_english_dates(text, today, day, part, clock):
    parsed = parse_date(text, today)
    assert parsed.day == day, text
    assert parsed.part_of_day == part, text
    if clock is not None:
        assert parsed.time == clock, text


@pytest.mark.parametrize("text", ["I may come", "sunny weather", "a wedding", "hello"])
def test_english_words_that_are_not_dates_stay_unparsed(text):
    parsed = parse_date(text, WED)
    assert parsed.day is None and parsed.time is None
