"""Pure statistics shared by scripts.eval and scripts.bench.

Kept free of Rasa imports so tests/test_eval_scripts.py can check them on hand-made data fast.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence, TypedDict


class LabelScore(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def per_label_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, LabelScore]:
    """Precision, recall and F1 for every gold label (an undefined ratio counts as 0).

    Predictions of labels absent from the gold set (e.g. nlu_fallback) are not scored as
    labels of their own; they still cost the gold label its recall.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    scores: dict[str, LabelScore] = {}
    for label in sorted(set(gold)):
        precision = _ratio(tp[label], tp[label] + fp[label])
        recall = _ratio(tp[label], tp[label] + fn[label])
        f1 = _ratio(2 * precision * recall, precision + recall)
        scores[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp[label] + fn[label],
        }
    return scores


def macro_f1(scores: dict[str, LabelScore]) -> float:
    """Unweighted mean of the per-label F1 scores."""
    return _ratio(sum(s["f1"] for s in scores.values()), len(scores))


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return _ratio(sum(g == p for g, p in zip(gold, predicted)), len(gold))


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    rank = (len(data) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds, plus the sample count."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else math.nan,
    }


def ratio(ours: float | None, stock: float | None) -> float | None:
    """ours / stock, or None when either side is missing or stock is zero."""
    if ours is None or stock is None or not stock or math.isnan(ours) or math.isnan(stock):
        return None
    return round(ours / stock, 3)
