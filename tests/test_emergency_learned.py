"""The learned emergency detector (bot.emergency_learned): its data, and how it joins the rules."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bot.emergency import Detector
from bot.emergency_learned import LABELS, NONE, LearnedDetector, Thresholds, decide, load_labelled
from bot.kb.emergency import CATEGORIES, load_emergency
from bot.text import normalize_with_map

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "data" / "emergency" / "labelled.yml"
HELD_OUT = sorted((ROOT / "tests" / "data").glob("emergency_*.yml"))
KB_FILE = ROOT / "data" / "kb" / "emergency.yml"
THRESHOLDS = Thresholds(lift=0.8, detect=0.85, ask=0.6, veto=0.97)


def _key(text: str) -> str:
    """Compare sentences the way the detector reads them: simplified, no punctuation or space."""
    return re.sub(r"[\s，。！？,.!?、：:；;]", "", normalize_with_map(text)[0])


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_kb(load_emergency(KB_FILE))


@pytest.fixture(scope="module")
def learned(detector: Detector) -> LearnedDetector:
    texts, labels = load_labelled(LABELLED)
    return LearnedDetector.fit(detector, texts, labels)


def test_training_set_is_large_and_covers_every_category_and_near_miss_kind() -> None:
    import yaml

    rows = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["examples"]
    assert len(rows) >= 1500
    labels = Counter(r["label"] for r in rows)
    assert set(labels) == set(LABELS)
    assert all(labels[c] >= 100 for c in CATEGORIES)
    kinds = Counter(r.get("why") for r in rows if r["label"] == NONE)
    for kind in (
        "fiction",
        "others",
        "past",
        "hypothetical",
        "negation",
        "pet",
        "gc_question",
        "trip",
        "ordinary",
    ):
        assert kinds[kind] >= 30, kind
    styles = [r["text"] for r in rows if r["label"] != NONE]
    assert sum(bool(re.search(r"[a-zA-Z]{3,}", t)) for t in styles) >= 100  # English mixed in
    assert (
        sum(normalize_with_map(t)[0] != t for t in styles) >= 100
    )  # traditional script, full width


def test_training_set_never_overlaps_a_held_out_set() -> None:
    import yaml

    from scripts.eval import parse_emergency_set

    held: set[str] = set()
    for path in HELD_OUT:
        positives, near = parse_emergency_set(yaml.safe_load(path.read_text(encoding="utf-8")))
        held |= {_key(t) for t, _ in positives} | {_key(t) for t in near}
    texts, _ = load_labelled(LABELLED)
    assert held and not ({_key(t) for t in texts} & held)


def test_generator_reproduces_the_committed_file() -> None:
    from scripts.make_emergency_data import build

    texts, labels = load_labelled(LABELLED)
    rebuilt = build()
    assert [r["text"] for r in rebuilt] == texts
    assert [r["label"] for r in rebuilt] == labels


def test_classifier_reads_wordings_the_rules_do_not_list(
    detector: Detector, learned: LearnedDetector
) -> None:
    for text, category in [
        ("my mom is in ICU in Tokyo 我要马上过去", "critical_illness_visit"),
        ("签证下周就失效了 新护照还没拿到", "visa_expiring"),
    ]:
        proba = learned.proba(text, detector.analyse(text))
        assert max(proba, key=proba.get) == category, (text, proba)


def test_rules_detection_is_never_silenced(detector: Detector) -> None:
    analysis = detector.analyse("我爸在美国去世了，要马上过去")
    sure_not = {NONE: 0.99, **{c: 0.01 / len(CATEGORIES) for c in CATEGORIES}}
    outcome = decide(analysis, sure_not, THRESHOLDS)
    assert (
        outcome.band == "ask" and outcome.ask is not None and outcome.ask.category == "bereavement"
    )


def test_a_lowered_reading_stays_a_question_however_sure_the_classifier(detector: Detector) -> None:
    analysis = detector.analyse("假如下周要去香港签合同，签注还没办，明天就要出发")
    assert analysis.ask is not None and analysis.ask.blocked_by
    sure = {NONE: 0.01, "contract_signing": 0.99}
    assert decide(analysis, sure, THRESHOLDS).band == "ask"


def test_a_reading_blocked_for_good_is_at_most_asked(detector: Detector) -> None:
    analysis = detector.analyse("在看一部出国奔丧的纪录片")
    assert analysis.detection is None and analysis.ask is None
    assert decide(analysis, {NONE: 0.05, "bereavement": 0.95}, THRESHOLDS).band == "ask"
    assert decide(analysis, {NONE: 0.5, "bereavement": 0.5}, THRESHOLDS).band == "none"


def test_without_a_classifier_the_rules_decide(detector: Detector) -> None:
    analysis = detector.analyse("护照丢了，后天就要出国")
    outcome = decide(analysis, None, THRESHOLDS)
    assert outcome.band == "detect" and outcome.detection is not None
    assert outcome.detection.category == "document_lost"


def test_third_held_out_set_is_not_nlu_training_data() -> None:
    """(emergency_heldout.yml shares 绿色通道怎么申请 with the NLU data; it predates this check.)"""
    import yaml
    from rasa.shared.nlu.training_data.loading import load_data

    from scripts.eval import parse_emergency_set

    training = {_key(m.get("text")) for m in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    for path in HELD_OUT:
        if path.name != "emergency_heldout3.yml":
            continue
        positives, near = parse_emergency_set(yaml.safe_load(path.read_text(encoding="utf-8")))
        overlap = [t for t in [t for t, _ in positives] + near if _key(t) in training]
        assert overlap == [], path.name


def test_scorer_gives_sklearns_probabilities(detector: Detector, learned: LearnedDetector) -> None:
    """The per-turn scorer computes what sklearn's transform and predict_proba compute."""
    texts, _ = load_labelled(LABELLED)
    odd = [
        "",
        "   ",
        "？？？",
        "ｍｙ ｄａｄ ｐａｓｓｅｄ ａｗａｙ",
        "😀" * 50,
        "护照" * 500,
        "x\x00y",
    ]
    for text in [*texts[::5], *odd]:
        analysis = detector.analyse(text)
        fast, reference = learned.proba(text, analysis), learned.sklearn_proba(text, analysis)
        assert fast.keys() == reference.keys()
        assert all(abs(fast[k] - reference[k]) < 1e-9 for k in fast), text
