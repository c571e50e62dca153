"""Which category (and so which platform) a hazard report belongs to.

Two steps, both from data: the cue words of data/kb/grid.yml decide when one category has
more cue hits than any other (水库, 松香水, 消防通道 are unambiguous); otherwise a small
character n-gram model (TF-IDF 1–3 grams + logistic regression, scikit-learn, which Rasa
brings) trained on data/grid/reports.yml and the cue words chooses among the tied
categories, or among all of them when no cue matched. Chinese reports are short and
unsegmented, so character n-grams need no tokenizer and cope with wording the cues lack.
Training takes milliseconds on ~100 sentences, so the model is fitted on first use in each
process rather than stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from bot.grid.kb import REPORTS_FILE, GridKB, get_grid_kb, load_reports
from bot.text import compact

__all__ = ["Classification", "GridClassifier", "get_classifier", "classify"]

#: How often each cue word is repeated as its own training sentence (cues are strong hints).
CUE_REPEAT = 2
_SEED = 42


@dataclass(frozen=True)
class Classification:
    category: str
    platform: str
    #: "cue" when the cue words decided, "model" otherwise.
    by: str
    #: The cue words found, folded.
    cues: tuple[str, ...] = ()


class GridClassifier:
    """Cue words first, then the n-gram model (see the module docstring)."""

    def __init__(self, kb: GridKB, examples: Sequence[tuple[str, str]]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.kb = kb
        texts = [compact(t) for t, _ in examples]
        labels = [c for _, c in examples]
        for category in kb.categories.values():
            for cue in category.cues:
                texts += [cue] * CUE_REPEAT
                labels += [category.id] * CUE_REPEAT
        self._vectorizer: Any = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True
        )
        features = self._vectorizer.fit_transform(texts)
        self._model: Any = LogisticRegression(C=10.0, max_iter=2000, random_state=_SEED)
        self._model.fit(features, labels)

    def cue_hits(self, text: str) -> dict[str, list[str]]:
        folded = compact(text)
        hits: dict[str, list[str]] = {}
        for category in self.kb.categories.values():
            found = [cue for cue in category.cues if cue in folded]
            if found:
                hits[category.id] = found
        return hits

    def classify(self, text: str) -> Classification:
        hits = self.cue_hits(text)
        ranked = sorted(hits, key=lambda c: len(hits[c]), reverse=True)
        if ranked and (len(ranked) == 1 or len(hits[ranked[0]]) > len(hits[ranked[1]])):
            return self._result(ranked[0], "cue", tuple(hits[ranked[0]]))
        best = max(len(v) for v in hits.values()) if hits else 0
        candidates = [c for c in ranked if len(hits[c]) == best] or list(self.kb.categories)
        probabilities = self._model.predict_proba(self._vectorizer.transform([compact(text)]))[0]
        scores = dict(zip(self._model.classes_, probabilities))
        category = max(candidates, key=lambda c: float(scores.get(c, 0.0)))
        return self._result(category, "model", tuple(hits.get(category, ())))

    def _result(self, category: str, by: str, cues: tuple[str, ...]) -> Classification:
        return Classification(category, self.kb.categories[category].platform, by, cues)


_lock = threading.Lock()
_classifier: Optional[GridClassifier] = None


def get_classifier() -> GridClassifier:
    """The process-wide classifier, trained on first use from data/kb and data/grid."""
    global _classifier
    with _lock:
        if _classifier is None:
            kb = get_grid_kb()
            _classifier = GridClassifier(kb, load_reports(REPORTS_FILE, kb))
        return _classifier


def classify(text: str) -> Classification:
    """Category and platform of a report text (never raises for odd text)."""
    return get_classifier().classify(text or "")
