"""Which language to answer in: English for a message written mainly in Latin script.

Foreigners ask in English; citizens write Chinese, often with a Latin word or two ("办passport",
"EMS 邮寄", "HK签注"). The decision is a ratio, not a word list, so it needs no vocabulary:

- booking codes, ID and phone numbers, URLs and e-mail addresses are removed first (any
  token holding a digit, "@" or "://"), because "HZ-7K3Q9M2X" says nothing about the
  writer's language;
- a CJK character carries about as much as a short English word, so Latin letters must
  outnumber CJK characters `CJK_WEIGHT` times over for the message to count as English;
- a message too short to tell ("ok", "3", "HK") decides nothing, and the conversation keeps
  the language it had.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, Optional

Language = Literal["en", "zh"]

ENGLISH: Language = "en"
CHINESE: Language = "zh"
#: Latin letters needed per CJK character before a message counts as English.
CJK_WEIGHT = 3
#: Fewer Latin letters than this (and no CJK) is too little to decide on.
MIN_LATIN_LETTERS = 4

_NOT_WORDS = re.compile(r"\S*(?:\d|@|://)\S*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
# ASCII letters only: mojibake ("ÃÂ¤Ã¦") is accented Latin-1 letters and says nothing of English.
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: Optional[str]) -> Optional[Language]:
    """`en`, `zh`, or None when the message is too short or holds no words at all."""
    if not text:
        return None
    words = _NOT_WORDS.sub(" ", unicodedata.normalize("NFKC", text))
    cjk = len(_CJK.findall(words))
    latin = len(_LATIN.findall(words))
    if latin >= MIN_LATIN_LETTERS and latin > CJK_WEIGHT * cjk:
        return ENGLISH
    if cjk and CJK_WEIGHT * cjk >= latin:
        return CHINESE
    return None


#: The slot (domain/language.yml) that keeps the reply language between turns.
LANGUAGE_SLOT = "language"


def is_english(tracker: object) -> bool:
    """True when the conversation's `language` slot says English (any rasa_sdk Tracker)."""
    get_slot = getattr(tracker, "get_slot", None)
    if get_slot is None:
        return False
    return bool(get_slot(LANGUAGE_SLOT) == ENGLISH)
