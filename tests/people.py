"""A fresh applicant for each live test.

The live servers share one booking database for the whole test session, and a person may
hold one booking per service and day. Tests that all booked 33052119900315001X therefore
depended on each other: when one failed before cancelling, the next was refused as a
duplicate (seen in CI). Each live booking test now books its own person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from stdnum.cn import ric

from bot.privacy import mask_id, mask_phone

_rng = random.SystemRandom()


@dataclass(frozen=True)
class Person:
    """A valid ID number (Deqing, born 1990-03-15) and mobile, and how replies show them."""

    id_number: str
    phone: str

    @property
    def masked_id(self) -> str:
        return mask_id(self.id_number)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def last4(self) -> str:
        return self.phone[-4:]


def fresh_person() -> Person:
    """Someone no other test books: a random serial and a random mobile number."""
    body = f"33052119900315{_rng.randrange(1000):03d}"
    phone = f"139{_rng.randrange(10**8):08d}"
    id_number = body + ric.calc_check_digit(body + "?")  # it reads the number with its check digit
    assert ric.is_valid(id_number), id_number
    return Person(id_number, phone)
