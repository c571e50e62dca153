"""ID-number and mobile-phone patterns, shared by validation (bot.validation), masking
(bot.privacy) and the booking form's reading of free text.

Why one module: masking must be at least as broad as validation. A number the form accepts
is stored and shown masked, so the same number typed into free text (and logged by Rasa at
DEBUG level, or kept in a stored conversation) must be masked too, whatever separators or
character widths the citizen used. Both therefore read the same separator sets here, and
masking runs on text folded the way validation folds it (NFKC, see bot.text.fold_aligned).
tests/test_patterns.py checks that every number the validators accept is masked.

Masking errs on the broad side: a run of 15 or more digits is masked as an ID even when it
is not one (an order number), because a miss leaks a person's identity and a false hit only
hides a number in a log.
"""

from __future__ import annotations

import re

#: What check_id_number drops inside an ID after NFKC (3305 2119-9003.1500_1X, 330521·…).
ID_SEPARATORS = r"\s\-_.·"
#: What check_phone drops inside a mobile after NFKC (138 1234 5678, (138)1234-5678, 138.1234.5678).
#: （） are NFKC-folded to () already; they stay for callers that skip NFKC.
PHONE_SEPARATORS = r"\s\-().（）"

#: Any run of 15 or more digits, which may end in X: an 18-character ID, an old 15-digit ID,
#: or an ID glued to other digits ("0" + ID), which must not leak either. Digits may be
#: separated by any of ID_SEPARATORS, as check_id_number accepts them. Match on NFKC-folded
#: text (full-width digits and Ｘ become ASCII there).
ID_IN_TEXT = re.compile(rf"(?<![0-9])(?:[0-9][{ID_SEPARATORS}]*){{14,}}[0-9Xx](?![0-9])")

#: A mainland mobile in free text: optional +86 / 0086 / 86 and a national prefix 0 (which
#: phonenumbers accepts: 0138…, +86 (0) 138…), then 1[3-9] and nine more digits, with any of
#: PHONE_SEPARATORS between any two digits (1 3 8 1 2 3 4 5 6 7 8 passes check_phone). Every
#: mobile phonenumbers deems valid for CN starts with 13–19. Group `national` is the 11
#: digits with their separators. Match on NFKC-folded text.
PHONE_IN_TEXT = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)?86[{PHONE_SEPARATORS}]*)?(?:0[{PHONE_SEPARATORS}]*)?"
    rf"(?P<national>1[{PHONE_SEPARATORS}]*[3-9](?:[{PHONE_SEPARATORS}]*[0-9]){{9}})(?![0-9])"
)

#: The masked forms bot.privacy writes (330521********001X, 138****5678): a slot that
#: already holds one is kept as it is, not validated again.
MASKED_ID = re.compile(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]")
MASKED_PHONE = re.compile(r"1[3-9][0-9]\*{4}[0-9]{4}")

#: Something shaped like a booking code in free text: a hall prefix of 2–4 letters, a
#: separator (or spaces), then 8 (or the older 5) letters and digits (HZ-7K3Q9M2X, dq_3x7n5), or the
#: prefix glued to 8 characters (HZ7K3Q9M2X). Broader than the actions' reading
#: (actions.booking.parse.find_booking_code, which knows the halls' prefixes): the NLU only
#: needs to see "a code is here", never which one. See booking_code_spans for the filter
#: that keeps English words (re-entry, ask_photo) out.
BOOKING_CODE_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])(?P<prefix>[A-Za-z]{2,4})(?:\s*[-_—–]\s*|\s+)?"
    r"(?P<body>[0-9A-Za-z]{5}(?:[0-9A-Za-z]{3})?)(?![0-9A-Za-z])"
)


def booking_code_spans(text: str) -> list[tuple[int, int, int]]:
    """(start, body start, end) of each code-shaped run: one with a digit, or all in capitals
    (codes are issued in capitals; "re-entry" and "passport" are not codes, "HZ-RPZBFTER"
    is). The prefix (start to body start) says what the code is for: a hall's bookings
    (HZ, DQ …) or a grid hazard ticket (WG)."""
    spans = []
    for m in BOOKING_CODE_SHAPE.finditer(text):
        run = m.group(0)
        glued = run.isalnum()
        if any(c.isdigit() for c in run) or (run.isupper() and not glued):
            spans.append((m.start(), m.start("body"), m.end()))
    return spans


__all__ = [
    "ID_SEPARATORS",
    "PHONE_SEPARATORS",
    "ID_IN_TEXT",
    "PHONE_IN_TEXT",
    "MASKED_ID",
    "MASKED_PHONE",
    "BOOKING_CODE_SHAPE",
    "booking_code_spans",
]
