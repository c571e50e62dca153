"""The learned emergency detector, and how it is combined with the rules (bot.emergency).

Why a classifier next to the rules: the rules read cue *combinations* and explain themselves,
but every wording they were not written for is a miss (English, a typo, a cue word nobody
listed). A linear model over character n-grams generalises over such wordings, and it is
given the rules' own findings as features (cue kinds, the rules' candidates, what blocked
them), so it learns when a rule's reading holds rather than starting from nothing.

- Features: TF-IDF of character 1–3-grams of the normalised text (simplified script,
  half-width), plus one-hot rule features (`kind=death`, `cand=bereavement`,
  `blocked=fiction`, `rules=detect:bereavement` …).
- Model: multinomial logistic regression over the nine categories and `none`, trained on
  data/emergency/labelled.yml plus the NLU data's ordinary examples (label `none`). It
  trains in about a second inside the Rasa component's train() and is stored in the model.
- `decide` combines rules and classifier into detect / ask / none (thresholds in
  data/kb/emergency.yml `detector.learned`). Recall first: the classifier may lift a weak
  rules' ask into a detection (not one that context lowered), add an ask, or detect what
  the rules saw too weakly; a detection by the rules only ever turns into an ask, never into
  silence, and a reading the rules blocked for good can at most be asked about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from bot.emergency import Analysis, Detection, Detector
from bot.kb.emergency import CATEGORIES
from bot.text import normalize_with_map

NONE = "none"
LABELS = (*CATEGORIES, NONE)


@dataclass(frozen=True)
class Thresholds:
    """When the classifier may change the rules' outcome (probabilities of `none` or not)."""

    lift: float  # P(emergency) at which a rules' ask becomes a detection
    detect: float  # P(emergency) at which a message the rules found nothing in is detected
    ask: float  # P(emergency) at which such a message is asked about
    veto: float  # P(none) at which a rules' detection is lowered to an ask

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "Thresholds":
        return cls(*(float(raw[k]) for k in ("lift", "detect", "ask", "veto")))


@dataclass(frozen=True)
class Outcome:
    """detect (with `detection`), ask (with `ask`, category may be None), or none."""

    band: str  # detect | ask | none
    detection: Detection | None
    ask: Detection | None
    p_emergency: float
    learned_category: str | None


def rule_features(analysis: Analysis) -> dict[str, float]:
    """The rules' view of a message as sparse features for the classifier."""
    feats: dict[str, float] = {}
    for cue in analysis.cues:
        feats[f"kind={cue.kind}"] = 1.0
    for cand in analysis.candidates:
        feats[f"cand={cand.category}"] = max(
            feats.get(f"cand={cand.category}", 0.0), cand.confidence
        )
        for b in cand.blocked:
            feats[f"blocked={b['rule']}"] = 1.0
    if analysis.detection is not None:
        feats[f"rules=detect:{analysis.detection.category}"] = 1.0
    elif analysis.ask is not None:
        feats[f"rules=ask:{analysis.ask.category}"] = 1.0
    else:
        feats["rules=none"] = 1.0
    return feats


class LearnedDetector:
    """Character n-grams + rule features → one of LABELS. Build with `fit`."""

    def __init__(self, text_vectorizer: Any, feature_vectorizer: Any, model: Any) -> None:
        self._text = text_vectorizer
        self._feats = feature_vectorizer
        self._model = model
        self._scorer: _LinearScorer | None = None

    @staticmethod
    def _norm(text: str) -> str:
        return normalize_with_map(text)[0]

    @classmethod
    def fit(
        cls, detector: Detector, texts: Sequence[str], labels: Sequence[str]
    ) -> "LearnedDetector":
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        text_vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        feat_vec = DictVectorizer()
        x = cls._stack(
            text_vec.fit_transform([cls._norm(t) for t in texts]),
            feat_vec.fit_transform([rule_features(detector.analyse(t)) for t in texts]),
        )
        model = LogisticRegression(C=8.0, max_iter=3000, class_weight="balanced", random_state=0)
        model.fit(x, list(labels))
        return cls(text_vec, feat_vec, model)

    @staticmethod
    def _stack(a: Any, b: Any) -> Any:
        from scipy.sparse import hstack

        return hstack([a, b]).tocsr()

    def proba(self, text: str, analysis: Analysis) -> dict[str, float]:
        """P(label) for one message, by _LinearScorer: the same numbers as sklearn's
        transform and predict_proba (tests/test_emergency_learned.py), without their
        per-call checks, which made this a tenth of a turn's CPU (py-spy, 2026-12-02)."""
        if self._scorer is None:
            self._scorer = _LinearScorer(self._text, self._feats, self._model)
        return self._scorer.proba(self._norm(text), rule_features(analysis))

    def sklearn_proba(self, text: str, analysis: Analysis) -> dict[str, float]:
        """`proba` through sklearn itself: the reference the scorer is tested against."""
        x = self._stack(
            self._text.transform([self._norm(text)]),
            self._feats.transform([rule_features(analysis)]),
        )
        return {
            str(label): float(p)
            for label, p in zip(self._model.classes_, self._model.predict_proba(x)[0])
        }

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        import joblib

        joblib.dump((self._text, self._feats, self._model), directory / "learned.joblib")

    @classmethod
    def load(cls, directory: Path) -> "LearnedDetector | None":
        import joblib

        path = directory / "learned.joblib"
        return cls(*joblib.load(path)) if path.exists() else None


class _LinearScorer:
    """The fitted TfidfVectorizer (sublinear tf, l2 norm), DictVectorizer and multinomial
    LogisticRegression as plain arrays: n-gram counts → tf-idf → one dot product → softmax."""

    def __init__(self, text_vectorizer: Any, feature_vectorizer: Any, model: Any) -> None:
        import numpy as np

        if not (
            text_vectorizer.sublinear_tf
            and text_vectorizer.norm == "l2"
            and text_vectorizer.use_idf
            and len(model.classes_) > 2
            and model.multi_class in ("auto", "multinomial")
            and model.solver != "liblinear"
        ):
            raise ValueError("the learned detector is not the model _LinearScorer computes")
        self._np = np
        self._analyse = text_vectorizer.build_analyzer()
        self._grams: dict[str, int] = dict(text_vectorizer.vocabulary_)
        self._idf = np.asarray(text_vectorizer.idf_, dtype=float)
        self._offset = len(self._idf)
        self._feature_index: dict[str, int] = dict(feature_vectorizer.vocabulary_)
        self._coef = np.asarray(model.coef_, dtype=float)
        self._intercept = np.asarray(model.intercept_, dtype=float)
        self._labels = [str(label) for label in model.classes_]

    def proba(self, text: str, features: Mapping[str, float]) -> dict[str, float]:
        np = self._np
        counts: dict[int, int] = {}
        for gram in self._analyse(text):
            j = self._grams.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        scores = self._intercept.copy()
        if counts:
            columns = np.fromiter(counts, dtype=np.intp, count=len(counts))
            weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=float))) * self._idf[columns]
            weights /= np.sqrt(np.dot(weights, weights))
            scores += self._coef[:, columns] @ weights
        for name, value in features.items():
            j = self._feature_index.get(name)
            if j is not None and value:
                scores += self._coef[:, self._offset + j] * float(value)
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        return dict(zip(self._labels, (float(p) for p in scores)))


def decide(
    analysis: Analysis, proba: Mapping[str, float] | None, thresholds: Thresholds
) -> Outcome:
    """Rules + classifier → detect / ask / none (see the module docstring)."""
    if proba is None:  # no classifier in this model: the rules alone
        band = "detect" if analysis.detection else "ask" if analysis.ask else "none"
        return Outcome(band, analysis.detection, analysis.ask, 0.0, None)
    p_none = float(proba.get(NONE, 0.0))
    p_em = 1.0 - p_none
    learned = max((c for c in CATEGORIES), key=lambda c: proba.get(c, 0.0))
    if analysis.detection is not None:
        if p_none >= thresholds.veto:
            return Outcome("ask", None, analysis.detection, p_em, learned)
        return Outcome("detect", analysis.detection, None, p_em, learned)
    if analysis.ask is not None:
        # Only a weak reading may be lifted; one that context lowered stays a question.
        if p_em >= thresholds.lift and not analysis.ask.blocked_by:
            return Outcome("detect", _as_detection(analysis.ask, p_em), None, p_em, learned)
        return Outcome("ask", None, analysis.ask, p_em, learned)
    supported = [c for c in analysis.candidates if c.category == learned]
    if any(c.blocked for c in supported) and not any(not c.blocked for c in supported):
        # The rules saw the event and an unambiguous context around it (如果, 电视剧里, 去年
        # with nothing pressing): the classifier may ask, never detect.
        if p_em >= thresholds.lift:
            return Outcome(
                "ask", None, Detection(learned, round(p_em, 3), [], [], 0, 0), p_em, learned
            )
        return Outcome("none", None, None, p_em, learned)
    if p_em >= thresholds.detect and supported:
        best = max(supported, key=lambda c: c.confidence)
        found = Detection(learned, round(p_em, 3), [_cue(best.anchor, analysis)], [], 0, 0)
        start, end = _offsets(best.anchor, analysis)
        found.start, found.end = start, end
        return Outcome("detect", found, None, p_em, learned)
    if p_em >= thresholds.ask:
        guess = learned if supported else None
        return Outcome("ask", None, Detection(guess, round(p_em, 3), [], [], 0, 0), p_em, guess)  # type: ignore[arg-type]
    return Outcome("none", None, None, p_em, learned)


def _as_detection(found: Detection, p_em: float) -> Detection:
    return Detection(
        found.category,
        round(max(found.confidence, p_em), 3),
        found.cues,
        found.blocked_by,
        found.start,
        found.end,
    )


def _offsets(cue: Any, analysis: Analysis) -> tuple[int, int]:
    return analysis.span(cue)


def _cue(cue: Any, analysis: Analysis) -> dict[str, Any]:
    start, end = _offsets(cue, analysis)
    return {
        "cue": analysis.text[start:end] or cue.text,
        "kind": cue.kind,
        "start": start,
        "end": end,
    }


def load_labelled(path: Path | str) -> tuple[list[str], list[str]]:
    """(texts, labels) from data/emergency/labelled.yml."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    texts, labels = [], []
    for row in doc.get("examples") or []:
        label = str(row.get("label"))
        if label not in LABELS:
            raise ValueError(f"{path}: unknown label {label!r} for {row.get('text')!r}")
        texts.append(str(row["text"]))
        labels.append(label)
    return texts, labels


def ordinary_examples(
    examples: Iterable[tuple[str, str]], excluded_intents: Iterable[str]
) -> list[str]:
    """NLU training texts of intents that are not emergencies: more `none` for the classifier."""
    skip = set(excluded_intents)
    return [text for text, intent in examples if intent and intent not in skip and text]
