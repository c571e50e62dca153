"""The one text toolkit: how citizens' text is folded before anything matches on it.

Citizens type in traditional script, full-width digits and letters, mixed case, with stray
spaces, punctuation and control characters. Every matcher folds text with the same
character conversion from here, so a word written 護照, ＰＡＳＳＰＯＲＴ or Passport is the
same word to the NLU pipeline, the emergency detector and the forms:

- `simplified`: traditional → simplified with OpenCC's t2s (phrase-aware), the only
  script conversion in the code base (plus one variant OpenCC leaves, 塡);
  `simplified_aligned` is the same conversion with the text's length kept, for matchers
  that map offsets back to the caller's text.
- `fold_char`: one character to half width and lower case, the length-preserving step.
- `strip_punctuation`: the punctuation (and spacing) policy of short answers in forms.
- `fold_aligned`: NFKC and ASCII digits with the length kept, for masking numbers as
  validation reads them.

Three entry points use them: `normalize` (the NLU pipeline: spacing tidied, case kept
because the tokeniser and featurizers were trained on it), `normalize_with_map` (the
emergency detector: lower case, an index map back to the original offsets) and `compact`
(forms: lower case, no spaces or punctuation, for matching short answers such as 算了).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Dict

CJK_RANGES = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK = re.compile(rf"[{CJK_RANGES}]")
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{CJK_RANGES}])\s+(?=[{CJK_RANGES}])")
_CJK_THEN_LATIN = re.compile(rf"(?<=[{CJK_RANGES}])(?=[A-Za-z0-9])")
_LATIN_THEN_CJK = re.compile(rf"(?<=[A-Za-z0-9])(?=[{CJK_RANGES}])")
_MANY_SPACES = re.compile(r"\s+")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of another script (١, १, ６)
# Keep letters, digits, CJK, common punctuation; drop control and format characters.
_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)
# What a short answer may be wrapped in without changing what it says (好的！, “算了”).
_PUNCTUATION = re.compile(r"[\s,.!?;:，。！？；：、~～…\"'“”‘’()（）]+")


# Variant forms OpenCC's t2s leaves as they are (塡 is an old variant of 填, typed by
# Japanese and some Taiwanese input methods); folded with it so 塡表 reads as 填表.
_VARIANTS = str.maketrans({"塡": "填"})


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional → simplified (OpenCC t2s, which also converts whole phrases, then the
    few `_VARIANTS` it leaves)."""
    return str(_t2s().convert(text)).translate(_VARIANTS) if text else ""


def simplified_aligned(text: str) -> str:
    """`simplified`, keeping one output character per input character.

    A phrase conversion that would change the length falls back to converting character by
    character, keeping a character whose own conversion is longer than one.
    """
    converted = simplified(text)
    if len(converted) == len(text):
        return converted
    return "".join(c if len(c) == 1 else o for o, c in ((o, simplified(o)) for o in text))


def fold_char(ch: str) -> str:
    """One character to half width (ｐ → p, the ideographic space → space) and lower case.

    A character whose lower case is longer than one (İ) is kept as it is, so the step
    never changes a text's length.
    """
    code = ord(ch)
    if code == 0x3000:
        return " "
    if 0xFF01 <= code <= 0xFF5E:
        ch = chr(code - 0xFEE0)
    low = ch.lower()
    return low if len(low) == 1 else ch


def fold_aligned(text: str) -> str:
    """NFKC per character, and any script's decimal digit (١, १) as its ASCII digit,
    keeping one output character per input character.

    Validation reads a typed number after NFKC (full-width digits, Ｘ, －, ¹) and through
    phonenumbers and stdnum, which take any script's digits; masking matches on this fold
    so it sees what validation sees, while its offsets still fit the original text. A
    character whose NFKC form is longer than one (⑴) is kept as it is.
    """
    if text.isascii():
        return text
    if unicodedata.is_normalized("NFKC", text) and not _OTHER_DIGIT.search(text):
        return text
    unseen = set(text).difference(_SEEN)
    if unseen and len(_SEEN) < _MAX_SEEN:  # a client chooses the characters: bounded
        # The folds first: another thread that finds a character seen finds its fold too.
        _FOLDS.update((ord(ch), f) for ch in unseen if (f := _fold_one(ch)) != ch)
        _SEEN.update(unseen)
    elif unseen:  # the table is full: fold the new characters without keeping them
        new = {ord(ch): f for ch in unseen if (f := _fold_one(ch)) != ch}
        return text.translate(_FOLDS).translate(new)  # a fold's result folds to itself
    return text.translate(_FOLDS)


def _fold_one(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) != 1:
        folded = ch
    if _OTHER_DIGIT.match(folded):
        folded = str(unicodedata.decimal(folded))
    return folded


# fold_aligned's characters seen so far, and those of them that fold to another one, for
# str.translate: most Chinese text has full-width punctuation, so is not NFKC-normalised,
# and a Python loop over every character of every reply was most of the cost of masking a
# saved turn (py-spy, 2026-12-02).
_MAX_SEEN = 50_000
_SEEN: set[str] = set()
_FOLDS: Dict[int, str] = {}


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


def strip_punctuation(text: str) -> str:
    """Drop spaces and the punctuation of `_PUNCTUATION` (the forms' policy)."""
    return _PUNCTUATION.sub("", text)


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
    text = simplified(text)
    text = _MANY_SPACES.sub(" ", text).strip()
    text = _SPACE_BETWEEN_CJK.sub("", text)
    text = _CJK_THEN_LATIN.sub(" ", text)
    text = _LATIN_THEN_CJK.sub(" ", text)
    return text


def compact(text: str | None) -> str:
    """Simplified, half width (NFKC), lower case, no spaces or punctuation: a short answer
    folded so that 算了！, 算 了 and 筭了 (traditional) compare equal to one pattern."""
    value = simplified(unicodedata.normalize("NFKC", text or "")).lower()
    return strip_punctuation(value)


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Normalise for matching and return, per output character, its index in `text`.

    Length-preserving steps only (`fold_char`, `simplified_aligned`), plus dropping spaces
    between Chinese characters ("外 婆 在 澳 門") and control/format characters, which the
    map accounts for. Runs of other spaces become one; newlines are kept (they end a
    sentence for the emergency detector).
    """
    chars: list[str] = []
    index: list[int] = []
    n = len(text)
    for i, raw in enumerate(text):
        ch = fold_char(raw)
        if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\n":
            continue
        if ch.isspace() and ch != "\n":
            prev = chars[-1] if chars else ""
            j = i + 1
            while j < n and text[j].isspace() and text[j] != "\n":
                j += 1
            nxt = fold_char(text[j]) if j < n else ""
            if not prev or not nxt or (CJK.match(prev) and CJK.match(nxt)) or prev == " ":
                continue
            ch = " "
        chars.append(ch)
        index.append(i)
    compacted = "".join(chars)
    if not compacted:
        return "", []
    return simplified_aligned(compacted), index
