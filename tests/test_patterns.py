"""Masking is at least as broad as validation: a number the form accepts never leaks.

bot.patterns holds the one set of ID and phone patterns; these tests type accepted numbers
the ways citizens do (groups, dots, dashes, brackets, +86 / 0086 / a national 0, full width,
another script's digits) inside free text and check bot.privacy masks every one.
"""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from bot.patterns import ID_SEPARATORS, MASKED_ID, MASKED_PHONE, PHONE_SEPARATORS
from bot.privacy import mask_id, mask_phone, mask_text
from bot.text import fold_aligned
from bot.validation import check_id_number, check_phone

TODAY = date(2026, 11, 27)
_PHONE_SEPS = ["", " ", "  ", "-", ".", "(", ")", "（", "）", "－", "．", "\u3000", "\t"]
_ID_SEPS = ["", " ", "  ", "-", "_", ".", "·", "－", "\u3000"]
_PREFIXES = ["", "+86", "+86 ", "0086", "86", "86-", "0", "+86(0)", "+86 (0) ", "＋８６"]
_DIGIT_SCRIPTS = ["0123456789", "０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"]


def _digits_of(text: str) -> str:
    return re.sub(r"[^0-9X]", "", fold_aligned(text).upper())


def _spelled(number: str, seps: list[str], script: str) -> str:
    out = []
    for i, ch in enumerate(number):
        out.append(script[int(ch)] if ch.isdigit() else ch)
        if i < len(number) - 1:
            out.append(seps[i % len(seps)])
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(
    national=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(_PREFIXES),
    seps=st.lists(st.sampled_from(_PHONE_SEPS), min_size=1, max_size=4),
    script=st.sampled_from(_DIGIT_SCRIPTS),
    around=st.sampled_from([("", ""), ("电话", "谢谢"), ("我的手机是 ", "。"), ("tel:", " ok")]),
)
def test_every_phone_the_validator_accepts_is_masked(
    national, prefix, seps, script, around
) -> None:
    typed = prefix + _spelled(national, seps, script)
    check = check_phone(typed)
    if not check.ok:
        return
    masked = mask_text(around[0] + typed + around[1])
    assert check.value not in _digits_of(masked), (typed, masked)
    assert masked.count("*") >= 4, (typed, masked)


def _valid_id(body: str, birth: date) -> str:
    head = body[:6] + birth.strftime("%Y%m%d") + body[6:9]
    return head + ric.calc_check_digit(head + "0")  # it reads the first 17 of 18


@settings(max_examples=400, deadline=None)
@given(
    body=st.from_regex(r"[1-8][0-9]{8}", fullmatch=True),
    birth=st.dates(min_value=date(1910, 1, 1), max_value=TODAY),
    seps=st.lists(st.sampled_from(_ID_SEPS), min_size=1, max_size=4),
    script=st.sampled_from(_DIGIT_SCRIPTS[:2]),
    lower=st.booleans(),
    around=st.sampled_from([("", ""), ("身份证", "谢谢"), ("号码：", "。"), ("id ", " ok")]),
)
def test_every_id_the_validator_accepts_is_masked(body, birth, seps, script, lower, around) -> None:
    number = _valid_id(body, birth)
    typed = _spelled(number.lower() if lower else number, seps, script)
    typed = typed.replace("X", "Ｘ") if script != "0123456789" else typed
    check = check_id_number(typed, TODAY)
    assert check.ok, (typed, check.reason)
    masked = mask_text(around[0] + typed + around[1])
    assert number not in _digits_of(masked), (typed, masked)
    assert masked.count("*") >= 8, (typed, masked)


def test_the_masked_forms_are_what_privacy_writes() -> None:
    assert MASKED_ID.fullmatch(mask_id("33052119900315001X"))
    assert MASKED_PHONE.fullmatch(mask_phone("13812345678"))
    assert mask_text("330521********001X 138****5678") == "330521********001X 138****5678"


def test_validation_and_masking_share_the_separators() -> None:
    for sep in " -_.·":
        assert re.fullmatch(f"[{ID_SEPARATORS}]", sep)
    for sep in " -().（）":
        assert re.fullmatch(f"[{PHONE_SEPARATORS}]", sep)
    assert check_phone("138.1234.5678").ok and mask_text("138.1234.5678") == "138****5678"
    assert check_id_number("330521.19900315.001X", TODAY).ok
    assert mask_text("330521.19900315.001X") == "330521********001X"
