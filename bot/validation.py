"""Validation of what a citizen types into the booking form: ID number, mobile, name.

Why here and not in the actions: the repository validates again before writing, so a forged
request that skips the form still cannot store garbage. Every refusal carries a polite Chinese
reason that the form can show as is.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Optional

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from bot.patterns import ID_SEPARATORS, PHONE_SEPARATORS

__all__ = [
    "IdCheck",
    "PhoneCheck",
    "NameCheck",
    "check_id_number",
    "check_phone",
    "check_name",
    "normalize_id",
    "MINOR_AGE",
]

#: Under 16 a guardian must come along (passport rules for minors).
MINOR_AGE = 16
MAX_AGE = 120
#: Longer input is not even parsed: nothing legitimate is that long.
_MAX_RAW = 64
#: Separators a citizen may type inside a number; bot.privacy masks with the same sets.
_ID_SEPARATOR = re.compile(f"[{ID_SEPARATORS}]")
_PHONE_SEPARATOR = re.compile(f"[{PHONE_SEPARATORS}]")


@dataclass(frozen=True)
class IdCheck:
    ok: bool
    value: Optional[str] = None
    birth_date: Optional[date] = None
    age: Optional[int] = None
    is_minor: bool = False
    reason: Optional[str] = None


@dataclass(frozen=True)
class PhoneCheck:
    ok: bool
    value: Optional[str] = None
    reason: Optional[str] = None


@dataclass(frozen=True)
class NameCheck:
    ok: bool
    value: Optional[str] = None
    reason: Optional[str] = None


def normalize_id(raw: str) -> str:
    """Full-width to half-width, drop spaces and dashes, upper-case x (stdnum's compact keeps them)."""
    text = unicodedata.normalize("NFKC", raw or "")
    return _ID_SEPARATOR.sub("", text).upper()


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_id_number(raw: str, today: date) -> IdCheck:
    """Length, format, checksum and a plausible birth date; an unknown birthplace is accepted.

    stdnum's `ric.validate` also rejects a birthplace code that did not exist in the birth
    year (330502 吴兴区 exists only since 2003), which refuses real people who registered
    later, so we run its steps ourselves and skip the birthplace lookup.
    """
    if raw is None or not str(raw).strip():
        return IdCheck(False, reason="请输入18位居民身份证号码。")
    if len(raw) > _MAX_RAW:
        return IdCheck(False, reason="输入的内容太长了，请只输入18位居民身份证号码。")
    number = ric.compact(normalize_id(raw))
    if len(number) == 15 and number.isdigit():
        return IdCheck(False, reason="这是15位的旧身份证号码，请输入现行的18位居民身份证号码。")
    if len(number) != 18:
        return IdCheck(
            False, reason=f"身份证号码应为18位，您输入的是{len(number)}位，请核对后重新输入。"
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return IdCheck(False, reason="身份证号码格式不对：前17位应为数字，最后一位是数字或X。")
    if number[17] != ric.calc_check_digit(number):
        return IdCheck(False, reason="身份证号码校验位不正确，可能有数字输错了，请核对后重新输入。")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        return IdCheck(False, reason="身份证号码中的出生日期不存在，请核对后重新输入。")
    if birth > today:
        return IdCheck(False, reason="身份证号码中的出生日期晚于今天，请核对后重新输入。")
    age = _age(birth, today)
    if age > MAX_AGE:
        return IdCheck(False, reason="身份证号码中的出生日期不合理，请核对后重新输入。")
    return IdCheck(True, value=number, birth_date=birth, age=age, is_minor=age < MINOR_AGE)


def check_phone(raw: str) -> PhoneCheck:
    """A mainland mobile (region CN, type MOBILE) so the hall can send an SMS or call back."""
    if raw is None or not str(raw).strip():
        return PhoneCheck(False, reason="请输入11位手机号码。")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    compact = _PHONE_SEPARATOR.sub("", text)
    if not re.fullmatch(r"\+?\d+", compact):
        return PhoneCheck(False, reason="手机号码只能包含数字，请输入11位手机号码。")
    if len(text) > 24:
        return PhoneCheck(
            False, reason=f"手机号码太长了（{len(text)}个字符），请只输入11位手机号码，如 138 1234 5678。"
        )
    try:
        parsed = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException:
        return PhoneCheck(False, reason="没能识别这个手机号码，请输入11位手机号码。")
    national = str(parsed.national_number)
    if parsed.country_code != 86:
        return PhoneCheck(False, reason="目前只支持中国大陆手机号码（+86），请输入11位手机号码。")
    if not phonenumbers.is_valid_number(parsed):
        return PhoneCheck(False, reason="这个手机号码无效，请核对后输入11位手机号码。")
    number_type = phonenumbers.number_type(parsed)
    if number_type not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ) or len(national) != 11:
        return PhoneCheck(False, reason="请填写手机号码（11位，以1开头），不要填写座机号码。")
    return PhoneCheck(True, value=national)


# Chinese characters, Latin letters (with accents, for foreigners' names), · and spaces.
_NAME_ALLOWED = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f·\s]+")
_SQL_LIKE = re.compile(
    r"(\b(select|insert|update|delete|drop|union|alter|truncate|exec|create)\b.*\b"
    r"(from|into|table|set|select|database|where)\b)|(\bor\b\s+\S+\s*=)|(--)|(;)|(/\*)",
    re.IGNORECASE,
)


def check_name(raw: str) -> NameCheck:
    """2–20 Chinese or Latin letters, with · between parts (少数民族/外国人姓名) and spaces.

    SQL-looking text is refused as "not a name" for the user's sake; storage is parameterised
    anyway, so it could do no harm.
    """
    if raw is None or not str(raw).strip():
        return NameCheck(False, reason="请输入办理人的姓名。")
    text = unicodedata.normalize("NFKC", str(raw))
    text = re.sub(r"[•・‧∙．.]", "·", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > 20:
        return NameCheck(False, reason="姓名最多20个字，请输入证件上的姓名。")
    if _SQL_LIKE.search(text):
        return NameCheck(False, reason="这看起来不像姓名，请输入证件上的姓名（中文或英文字母）。")
    if not _NAME_ALLOWED.fullmatch(text) or text.startswith("·") or text.endswith("·"):
        return NameCheck(
            False, reason="姓名只能包含中文、英文字母、间隔号“·”和空格，请输入证件上的姓名。"
        )
    if len(text.replace(" ", "")) < 2:
        return NameCheck(False, reason="姓名至少2个字，请输入证件上的完整姓名。")
    return NameCheck(True, value=text)
