"""Nearest labelled questions: what an unsure message most resembles, and whether to trust it.

DIET generalises from the team's phrasings; a citizen's own wording ("宝宝几个月可以办护照")
often leaves it unsure although a training example, or a real question of the pool
(data/nlu/real_questions.yml, from tests/data/real_questions_pool.yml), says nearly the
same. This module is that look-up: TF-IDF over character 1–3-grams of the folded text
(Chinese needs no word boundaries for it, and typos or traditional script cost one n-gram,
not the word), cosine similarity, and a decision that abstains unless

- the nearest example is close (`min_similarity`; `subject_similarity`, a little lower, when
  the message names an exit-entry subject such as a service or a destination, so the wording
  only has to say which aspect is meant), and
- it carries an intent the look-up may give (knowledge questions only: never an emergency,
  a form answer, a booking or chit-chat), and
- no example of another intent is nearly as close (`min_margin`): two readings that close
  are the two-stage fallback's question to ask, not this module's to pick.

Examples of every intent are indexed, out_of_scope included, so an unrelated sentence that
resembles chit-chat or an out-of-scope example finds that one first and is left alone.
The index is built lazily from the stored examples (a few thousand short texts: well under a
second), so the model stores only the examples, not a matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from bot.text import normalize

_NOT_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """The text as the index sees it: normalised, lower case, punctuation as single spaces."""
    return _NOT_WORD.sub(" ", normalize(text).lower()).strip()


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


@dataclass(frozen=True)
class Match:
    """The decision for one message: the intent given, the example that gave it, and how close."""

    intent: str
    example: str
    similarity: float
    margin: float


@dataclass(frozen=True)
class Settings:
    min_similarity: float
    min_margin: float
    intents: frozenset[str]
    max_ngram: int = 3
    subject_similarity: Optional[float] = None  # None: the same as min_similarity

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Settings":
        intents = config.get("intents") or []
        if not isinstance(intents, list) or not all(isinstance(i, str) for i in intents):
            raise ValueError("NeighbourResolver: `intents` must be a list of intent names")
        return cls(
            min_similarity=float(config.get("min_similarity", 0.6)),
            min_margin=float(config.get("min_margin", 0.05)),
            intents=frozenset(intents),
            max_ngram=int(config.get("max_ngram", 3)),
            subject_similarity=(
                float(config["subject_similarity"])
                if config.get("subject_similarity") is not None
                else None
            ),
        )

    def threshold(self, has_subject: bool) -> float:
        """The similarity a neighbour needs, for a message with or without a named subject."""
        if has_subject and self.subject_similarity is not None:
            return min(self.subject_similarity, self.min_similarity)
        return self.min_similarity


def examples_from(pairs: Iterable[tuple[Optional[str], Optional[str]]]) -> list[Example]:
    """Labelled examples, folded and de-duplicated (the first intent of a text wins)."""
    seen: dict[str, str] = {}
    for text, intent in pairs:
        if not text or not intent:
            continue
        folded = fold(text)
        if folded and folded not in seen:
            seen[folded] = intent
    return [Example(text, intent) for text, intent in seen.items()]


class NeighbourIndex:
    """Character n-gram TF-IDF over the examples; `best` decides for one text."""

    def __init__(self, examples: Sequence[Example], settings: Settings) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._examples = list(examples)
        self._settings = settings
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(1, settings.max_ngram),
            sublinear_tf=True,
            lowercase=False,
        )
        self._matrix = (
            self._vectorizer.fit_transform([e.text for e in self._examples])
            if self._examples
            else None
        )

    def nearest(self, text: str, k: int = 10) -> list[tuple[Example, float]]:
        """The k closest examples to `text`, closest first."""
        folded = fold(text)
        if self._matrix is None or not folded:
            return []
        scores = (self._matrix @ self._vectorizer.transform([folded]).T).toarray().ravel()
        order = scores.argsort()[::-1][:k]
        return [(self._examples[i], float(scores[i])) for i in order if scores[i] > 0]

    def best(self, text: str, has_subject: bool = False) -> Optional[Match]:
        """The intent the closest example gives, or None when the look-up should abstain."""
        near = self.nearest(text)
        if not near:
            return None
        top, similarity = near[0]
        needed = self._settings.threshold(has_subject)
        if similarity < needed or top.intent not in self._settings.intents:
            return None
        rival = next((s for e, s in near[1:] if e.intent != top.intent), 0.0)
        margin = similarity - rival
        if margin < self._settings.min_margin:
            return None
        return Match(top.intent, top.text, round(similarity, 4), round(margin, 4))
