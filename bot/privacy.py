"""Masking of ID numbers and mobile phones, for replies and for logs.

Why a separate module: every layer (actions, channels, repository, logs) must show the same
masked form (330521********001X, 138****5678), and the log filter must catch numbers that
users type into free text, which Rasa and Sanic log at DEBUG level verbatim.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any, Callable, Optional

from bot.patterns import ID_IN_TEXT, ID_SEPARATORS, PHONE_IN_TEXT
from bot.text import fold_aligned

__all__ = [
    "mask_id",
    "mask_phone",
    "mask_name",
    "mask_text",
    "MaskingFilter",
    "install_log_masking",
]

#: Loggers that receive user text in stock Rasa / rasa_sdk / Sanic / SQLAlchemy.
LOGGER_NAMES: tuple[str, ...] = (
    "",
    "rasa",
    "rasa_sdk",
    "sanic",
    "sanic.root",
    "sanic.error",
    "sanic.access",
    "sqlalchemy",
    "bot",
    "actions",
)


def mask_id(s: str) -> str:
    """330521********001X: keep the region (6) and the last 4, so staff can still match it."""
    value = re.sub(rf"[{ID_SEPARATORS}]", "", unicodedata.normalize("NFKC", s or "")).upper()
    if len(value) <= 4:
        return "*" * len(value)
    if len(value) < 11:
        return "*" * (len(value) - 4) + value[-4:]
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(s: str) -> str:
    """138****5678: keep the operator prefix and the last 4 that the user is asked to confirm."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", s or ""))
    if len(digits) > 11 and digits.startswith("86"):
        digits = digits[-11:]
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(s: str) -> str:
    """张*三 / 张*: the family name stays so a confirmation is recognisable."""
    name = (s or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_text(text: str) -> str:
    """Mask every ID (any run of 15+ digits) and mainland mobile inside free text (idempotent).

    The patterns (bot.patterns) match on the text folded as validation folds it, so a
    full-width or oddly separated number that the form would accept is masked too; what is
    not a number stays exactly as it was.
    """
    if not text:
        return text
    masked = _replace(ID_IN_TEXT, text, lambda m: mask_id(m.group(0)))
    return _replace(PHONE_IN_TEXT, masked, lambda m: mask_phone(m.group("national")))


def _replace(pattern: re.Pattern[str], text: str, mask: Callable[[re.Match[str]], str]) -> str:
    """`pattern.sub` matched on `fold_aligned(text)`, replacing the spans in `text` itself."""
    folded = fold_aligned(text)
    out, last = [], 0
    for m in pattern.finditer(folded):
        out.append(text[last : m.start()])
        out.append(mask(m))
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _mask_obj(value: Any) -> Any:
    """Mask strings; leave numbers alone so %d still works; stringify containers."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask_text(repr(value) if not isinstance(value, (bytes, bytearray)) else str(value))


class MaskingFilter(logging.Filter):
    """Rewrites a record so the final message and the traceback carry no clear ID or phone.

    The message is formatted once here (msg % args) and then masked, because an ID can be
    split across the template and its arguments, or be hidden inside a dict argument.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API name
        if getattr(record, "_crj_masked", False):
            return True
        try:
            message = record.getMessage()
            record.msg = mask_text(message)
            record.args = None
        except Exception:  # a broken format string: mask the parts instead
            record.msg = _mask_obj(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_mask_obj(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: _mask_obj(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        record._crj_masked = True
        return True


_FILTER = MaskingFilter()
_ORIGINAL_FACTORY: Optional[Callable[..., logging.LogRecord]] = None


def install_log_masking() -> MaskingFilter:
    """Attach the masking filter everywhere a record can pass; safe to call many times.

    A filter on a logger only sees records logged on that very logger, not those propagated
    from child loggers, so the filter also goes on the existing handlers of these loggers, and
    the log-record factory is wrapped so handlers that Rasa configures later are covered too.
    """
    global _ORIGINAL_FACTORY
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    if _ORIGINAL_FACTORY is None:
        original = logging.getLogRecordFactory()
        _ORIGINAL_FACTORY = original

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = original(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
    return _FILTER


def _fernet():
    """Symmetric key derived from SEAL_SECRET, for personal values kept between turns."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    from bot.settings import get_settings

    key = hashlib.sha256(("seal:" + get_settings().seal_secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


SEALED_PREFIX = "sealed:"


def seal(value: str) -> str:
    """Encrypt a personal value (ID, phone) so a tracker slot never holds it in clear."""
    return SEALED_PREFIX + _fernet().encrypt(value.encode()).decode()


def unseal(token: str | None) -> str | None:
    """The clear value of `seal(...)`, or None for a missing, foreign or tampered token."""
    if not token or not token.startswith(SEALED_PREFIX):
        return None
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token[len(SEALED_PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError):
        return None
