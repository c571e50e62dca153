"""Find entity values (service, applicant type, …) from the KB vocabulary.

Aliases live once, in data/kb/vocabulary.yml; the NLU component and the hall-guide console
both match with this code so they always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Optional, Sequence

from bot.text import normalize


@dataclass(frozen=True)
class Match:
    entity: str
    value: str
    start: int
    end: int
    text: str


def _bounded(alias: str) -> str:
    """An alias as a pattern; a Latin word matches only whole ("hk" is not inside "kjhkjh",
    "son" not inside "person"), while Chinese has no spaces to bound it."""
    before = r"(?<![a-z])" if alias[:1].isascii() and alias[:1].isalpha() else ""
    after = r"(?![a-z])" if alias[-1:].isascii() and alias[-1:].isalpha() else ""
    return before + re.escape(alias) + after


#: entity -> value -> the values of that entity it overrides in the same message
Precedence = Mapping[str, Mapping[str, Sequence[str]]]


def prefer(matches: Sequence[Match], precedence: Precedence) -> list[Match]:
    """The matches left once the values named alongside a stronger one are dropped.

    A message may name two values of one entity, and a slot keeps only one: "港澳通行证过期了，
    换证还是续签" names a renewal (过期, 换证) and an endorsement (续签), and an expired permit is
    renewed; "resident permit (visa multiple entries)" is about the residence permit, not the
    bare "visa" of a stay extension. data/kb/vocabulary.yml `precedence` says which wins."""
    named = {(m.entity, m.value) for m in matches}
    dropped = {
        (entity, loser)
        for entity, rules in precedence.items()
        for winner, losers in rules.items()
        if (entity, winner) in named
        for loser in losers
    }
    return [m for m in matches if (m.entity, m.value) not in dropped]


class VocabularyMatcher:
    """Longest-alias-first, non-overlapping substring matching on normalised text.

    `normalizer` folds the aliases as the caller folds its text (default: bot.text.normalize,
    lower-cased); the booking form passes its own, which also drops spaces and punctuation.
    `precedence` (see `prefer`) drops the weaker of two values named together.
    """

    def __init__(
        self,
        vocabulary: Mapping[str, Mapping[str, Sequence[str]]],
        normalizer: Optional[Callable[[str], str]] = None,
        precedence: Optional[Precedence] = None,
    ) -> None:
        self._precedence: Precedence = precedence or {}
        fold = normalizer or (lambda alias: normalize(alias).lower())
        entries: list[tuple[str, str, str]] = []
        for entity, values in vocabulary.items():
            for value, aliases in values.items():
                for alias in aliases:
                    norm = fold(alias)
                    if norm:
                        entries.append((norm, entity, value))
        entries.sort(key=lambda e: -len(e[0]))
        self._entries = entries
        self._lookup = {alias: (entity, value) for alias, entity, value in reversed(entries)}
        pattern = "|".join(_bounded(alias) for alias, _, _ in entries) or r"(?!x)x"
        self._regex = re.compile(pattern)

    def find(self, text: str) -> list[Match]:
        """All non-overlapping matches in `text` (already normalised), longest first."""
        lowered = text.lower()
        matches = []
        for m in self._regex.finditer(lowered):
            entity, value = self._lookup[m.group(0)]
            matches.append(Match(entity, value, m.start(), m.end(), text[m.start() : m.end()]))
        return prefer(matches, self._precedence)

    def longest(self, text: str, min_length: int = 1) -> Optional[Match]:
        """The longest alias found anywhere in `text` (already normalised), even where it
        overlaps a shorter one that `find` would take first; on a tie, the alias listed
        first. Aliases shorter than `min_length` are ignored."""
        lowered = text.lower()
        for alias, entity, value in self._entries:
            if len(alias) < min_length:
                break  # entries are sorted longest first
            start = lowered.find(alias)
            if start >= 0:
                return Match(
                    entity, value, start, start + len(alias), text[start : start + len(alias)]
                )
        return None

    def slots(self, text: str) -> dict[str, str]:
        """First value per entity, for callers that want slot-like output."""
        found: dict[str, str] = {}
        for match in self.find(text):
            found.setdefault(match.entity, match.value)
        return found


#: Entities that show a message is about exit-entry. Places and applicants are left out:
#: "北京的酒店" and "带老妈去玩" name them without being about documents.
DOMAIN_ENTITIES = ("service", "endorsement_type")


@lru_cache(maxsize=1)
def _kb_matcher() -> tuple[VocabularyMatcher, tuple[str, ...]]:
    from bot.kb import get_kb

    kb = get_kb()
    matcher = VocabularyMatcher(kb.vocabulary, precedence=kb.vocabulary_precedence)
    return matcher, tuple(normalize(w).lower() for w in kb.domain_words)


def domain_cues(text: str) -> list[str]:
    """The words in `text` that make it an exit-entry question (service names, 签注, 出入境…)."""
    matcher, words = _kb_matcher()
    norm = normalize(text)
    cues = [m.text for m in matcher.find(norm) if m.entity in DOMAIN_ENTITIES]
    lowered = norm.lower()
    return cues + [w for w in words if w in lowered]
