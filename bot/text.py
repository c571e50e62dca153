"""Text normalisation shared by the NLU pipeline, the emergency detector and the console.

Citizens type in traditional script, full-width digits, with stray spaces and control
characters; normalising once, before tokenising, lets one vocabulary match all of them.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_CJK_THEN_LATIN = re.compile(rf"(?<=[{_CJK}])(?=[A-Za-z0-9])")
_LATIN_THEN_CJK = re.compile(rf"(?<=[A-Za-z0-9])(?=[{_CJK}])")
_MANY_SPACES = re.compile(r"\s+")
# Keep letters, digits, CJK, common punctuation; drop control and format characters.
_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_half_width(text: str) -> str:
    """Full-width ASCII (ｐａｓｓｐｏｒｔ１２３) to half-width; the ideographic space too."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def normalize(text: str | None) -> str:
    """Traditional → simplified, full-width → half-width, tidy spacing, no control chars.

    Chinese runs lose inner spaces ("护 照" → "护照"); a single space separates Chinese
    from Latin text ("办passport" → "办 passport") so both tokenise cleanly.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = to_half_width(text)
    text = _CONTROL.sub(" ", text)
    text = _t2s().convert(text)
    text = _MANY_SPACES.sub(" ", text).strip()
    text = _SPACE_BETWEEN_CJK.sub("", text)
    text = _CJK_THEN_LATIN.sub(" ", text)
    text = _LATIN_THEN_CJK.sub(" ", text)
    return text


def has_meaning(text: str) -> bool:
    """True when the text holds at least one letter, digit or CJK character."""
    return any(ch.isalnum() for ch in text)
