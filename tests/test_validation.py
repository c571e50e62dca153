"""ID number, mobile and name validation, plus masking in replies and logs."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot.domain_files import responses
from bot.privacy import install_log_masking, mask_id, mask_name, mask_phone, mask_text
from bot.validation import check_id_number, check_name, check_phone

TODAY = date(2026, 11, 27)
VALID_ID = "33052119900315001X"


def reply(result) -> str:
    """The sentence the booking form shows for a refusal: its domain response, filled."""
    assert result.code, result
    return responses()[f"utter_invalid_{result.code}"][0]["text"].format(**result.params)


# --- ID numbers -----------------------------------------------------------------------------


def test_valid_id() -> None:
    result = check_id_number(VALID_ID, TODAY)
    assert result.ok and result.code is None
    assert result.value == VALID_ID
    assert result.birth_date == date(1990, 3, 15)
    assert result.age == 36
    assert result.is_minor is False


@pytest.mark.parametrize(
    "raw",
    [
        "33052119900315001x",
        " 3305 2119 9003 1500 1X ",
        "330521-19900315-001X",
        "３３０５２１１９９００３１５００１Ｘ",
    ],
)
def test_id_is_normalised(raw: str) -> None:
    result = check_id_number(raw, TODAY)
    assert result.ok, result.code
    assert result.value == VALID_ID


def test_unknown_birthplace_is_no_reason_to_refuse() -> None:
    # 330502 吴兴区 exists only since 2003; stdnum's validate() refuses someone born in 1990.
    result = check_id_number("330502199003150010", TODAY)
    assert result.ok, result.code


def test_minor_is_flagged() -> None:
    result = check_id_number("330521202001010026", TODAY)
    assert result.ok and result.is_minor and result.age == 6


@pytest.mark.parametrize(
    "raw,needle",
    [
        ("330521199003150011", "校验位"),  # checksum error
        ("330521199002300012", "出生日期不存在"),  # 1990-02-30
        ("330521203001010012", "晚于今天"),  # born 2030
        ("33052118800101001X", "不合理"),  # 146 years old
        ("3305211990031500", "18位"),
        ("330521900315001", "15位"),
        ("33052119900315001Y", "格式"),
        ("33052119900315A01X", "格式"),
        ("", "请输入"),
        ("1" * 100, "太长"),
    ],
)
def test_invalid_id(raw: str, needle: str) -> None:
    result = check_id_number(raw, TODAY)
    assert not result.ok
    assert needle in reply(result)


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_valid_phone(raw: str) -> None:
    result = check_phone(raw)
    assert result.ok, result.code
    assert result.value == "13812345678"


@pytest.mark.parametrize(
    "raw,needle",
    [
        ("1" * 100, "太长"),
        ("12345678901", "无效"),
        ("0571 8888 6666", "手机"),
        ("1381234567", "无效"),
        ("138abc45678", "只能包含数字"),
        ("+1 650 253 0000", "中国大陆"),
        ("", "请输入"),
        ("'; DROP TABLE bookings; --", "只能包含数字"),
    ],
)
def test_invalid_phone(raw: str, needle: str) -> None:
    result = check_phone(raw)
    assert not result.ok
    assert needle in reply(result)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,value",
    [
        ("张三", "张三"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("买买提•艾力", "买买提·艾力"),
        ("John Smith", "John Smith"),
        ("José Núñez", "José Núñez"),
    ],
)
def test_valid_name(raw: str, value: str) -> None:
    result = check_name(raw)
    assert result.ok, result.code
    assert result.value == value


@pytest.mark.parametrize(
    "raw",
    [
        "'; DROP TABLE bookings; --",
        "Robert DROP TABLE students",
        "x' OR 1=1",
        "张",
        "张三123",
        "",
        "名" * 21,
        "·张三",
    ],
)
def test_invalid_name(raw: str) -> None:
    result = check_name(raw)
    assert not result.ok
    assert "姓名" in reply(result)


# --- masking --------------------------------------------------------------------------------


def test_masks() -> None:
    assert mask_id(VALID_ID) == "330521********001X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"


def test_mask_text_finds_numbers_in_free_text() -> None:
    text = f"我叫张三，身份证{VALID_ID.lower()}，电话138 1234 5678，另一个13912345678。"
    masked = mask_text(text)
    assert "330521********001X" in masked
    assert "138****5678" in masked and "139****5678" in masked
    assert "19900315" not in masked and "12345678" not in masked
    assert mask_text(masked) == masked
    assert mask_text("+8613812345678") == "138****5678"
    assert mask_text("编号0" + VALID_ID) == "编号033052*********001X"
    assert mask_text("330521900315001") == "330521*****5001"  # old 15-digit ID
    assert mask_text("身份证 3305 2119 9003 1500 1x 谢谢") == "身份证 330521********001X 谢谢"
    assert mask_text("2026-11-27 10:00 138-1234-5678") == "2026-11-27 10:00 138****5678"
    assert mask_text("预约于14:30，费用120元，共3人") == "预约于14:30，费用120元，共3人"


def test_log_masking(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    install_log_masking()  # idempotent
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("rasa.core.processor").debug(
            "Received user message '%s'", f"我的身份证 {VALID_ID}"
        )
        logging.getLogger("sanic.access").info("phone=%s data=%r", "13812345678", {"id": VALID_ID})
        logging.getLogger("anything.else").warning(f"id {VALID_ID} and %d", 5)
    text = caplog.text
    assert VALID_ID not in text and "13812345678" not in text
    assert "330521********001X" in text and "138****5678" in text and "and 5" in text


def test_log_masking_covers_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError(f"bad id {VALID_ID}")
        except ValueError:
            logging.getLogger("rasa").exception("failed")
    assert VALID_ID not in caplog.text
    assert VALID_ID not in "".join(r.exc_text or "" for r in caplog.records)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_validators_never_crash_and_always_explain(text: str) -> None:
    for result in (check_id_number(text, TODAY), check_phone(text), check_name(text)):
        assert result.ok or reply(result)
    assert VALID_ID not in mask_text(text + VALID_ID)
