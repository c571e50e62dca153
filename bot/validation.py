"""Validation of what a citizen types into the booking form: ID number, mobile, name.

Why here and not in the actions: the repository validates again before writing, so a forged
request that skips the form still cannot store garbage. Every refusal carries a code and its
parameters (`IdCheck(ok=False, code="id_wrong_length", params={"length": 17})`); the booking
form says it with the domain response `utter_invalid_<code>` (domain/booking.yml).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Dict, Optional

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
    #: Why the input was refused (None when ok), and the values its reply needs.
    code: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhoneCheck:
    ok: bool
    value: Optional[str] = None
    #: Why the input was refused (None when ok), and the values its reply needs.
    code: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NameCheck:
    ok: bool
    value: Optional[str] = None
    #: Why the input was refused (None when ok), and the values its reply needs.
    code: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)


def normalize_id(raw: str) -> str:
    """Full-width to half-width, drop spaces and dashes, upper-case x (stdnum's compact
    keeps them)."""
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
        return IdCheck(False, code="id_missing")
    if len(raw) > _MAX_RAW:
        return IdCheck(False, code="id_too_long")
    number = ric.compact(normalize_id(raw))
    if len(number) == 15 and number.isdigit():
        return IdCheck(False, code="id_old_15_digits")
    if len(number) != 18:
        return IdCheck(False, code="id_wrong_length", params={"length": len(number)})
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return IdCheck(False, code="id_bad_format")
    if number[17] != ric.calc_check_digit(number):
        return IdCheck(False, code="id_bad_checksum")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        return IdCheck(False, code="id_no_such_birth_date")
    if birth > today:
        return IdCheck(False, code="id_born_after_today")
    age = _age(birth, today)
    if age > MAX_AGE:
        return IdCheck(False, code="id_implausible_birth_date")
    return IdCheck(True, value=number, birth_date=birth, age=age, is_minor=age < MINOR_AGE)


def check_phone(raw: str) -> PhoneCheck:
    """A mainland mobile (region CN, type MOBILE) so the hall can send an SMS or call back."""
    if raw is None or not str(raw).strip():
        return PhoneCheck(False, code="phone_missing")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    compact = _PHONE_SEPARATOR.sub("", text)
    if not re.fullmatch(r"\+?\d+", compact):
        return PhoneCheck(False, code="phone_not_digits")
    if len(text) > 24:
        return PhoneCheck(False, code="phone_too_long", params={"length": len(text)})
    try:
        parsed = phonenumbers.parse(compact, "CN")
    except phonenumbers.NumberParseException:
        return PhoneCheck(False, code="phone_unreadable")
    national = str(parsed.national_number)
    if parsed.country_code != 86:
        return PhoneCheck(False, code="phone_not_mainland")
    if not phonenumbers.is_valid_number(parsed):
        return PhoneCheck(False, code="phone_invalid")
    number_type = phonenumbers.number_type(parsed)
    if (
        number_type
        not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        or len(national) != 11
    ):
        return PhoneCheck(False, code="phone_not_mobile")
    return PhoneCheck(True, value=national)


# Chinese characters, Latin letters (with accents, for foreigners' names), · and spaces.
_NAME_ALLOWED = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f·\s]+"
)
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
        return NameCheck(False, code="name_missing")
    text = unicodedata.normalize("NFKC", str(raw))
    text = re.sub(r"[•・‧∙．.]", "·", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > 20:
        return NameCheck(False, code="name_too_long")
    if _SQL_LIKE.search(text):
        return NameCheck(False, code="name_not_a_name")
    if not _NAME_ALLOWED.fullmatch(text) or text.startswith("·") or text.endswith("·"):
        return NameCheck(False, code="name_bad_characters")
    if len(text.replace(" ", "")) < 2:
        return NameCheck(False, code="name_too_short")
    return NameCheck(True, value=text)
