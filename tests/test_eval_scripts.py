"""The pure parts of `make eval` and `make bench`, on hand-made data (no model, no servers)."""

from __future__ import annotations

import math

import pytest

from scripts.bench import comparison, window_median
from scripts.eval import (
    emergency_figures,
    emergency_of,
    fallback_threshold,
    ood_outcomes,
    parse_emergency_set,
)
from scripts.stats import accuracy, latency_summary, macro_f1, per_label_scores, percentile, ratio


def test_precision_recall_f1_by_hand() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "nlu_fallback", "c"]
    scores = per_label_scores(gold, pred)
    # a: tp 2, fp 0, fn 1 → P 1, R 2/3, F1 0.8
    assert scores["a"]["precision"] == 1.0
    assert scores["a"]["recall"] == pytest.approx(2 / 3)
    assert scores["a"]["f1"] == pytest.approx(0.8)
    # b: tp 1, fp 1 (a→b), fn 1 (b→fallback) → P R F1 all 0.5
    assert (scores["b"]["precision"], scores["b"]["recall"], scores["b"]["f1"]) == (0.5, 0.5, 0.5)
    assert scores["c"]["f1"] == 1.0
    assert "nlu_fallback" not in scores  # only gold labels are scored
    assert scores["a"]["support"] == 3 and scores["b"]["support"] == 2
    assert macro_f1(scores) == pytest.approx((0.8 + 0.5 + 1.0) / 3)
    assert accuracy(gold, pred) == pytest.approx(4 / 6)


def test_a_label_never_predicted_scores_zero() -> None:
    scores = per_label_scores(["x", "y"], ["y", "y"])
    assert scores["x"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["y"]["precision"] == 0.5 and scores["y"]["recall"] == 1.0
    with pytest.raises(ValueError):
        per_label_scores(["x"], [])


def test_percentiles_interpolate_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 50) == 30.0
    assert percentile(values, 95) == pytest.approx(48.0)  # rank 3.8 between 40 and 50
    assert percentile(reversed(values), 0) == 10.0 and percentile(values, 100) == 50.0
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))
    summary = latency_summary([0.010, 0.020, 0.030, 0.040, 0.050])
    assert summary == {"n": 5, "p50_ms": 30.0, "p95_ms": 48.0, "p99_ms": 49.6, "mean_ms": 30.0}
    assert window_median([1.0, 2.0, 9.0, 3.0, 4.0, 100.0], 3) == 3.0  # turns 1..5
    # a window of one whole cycle: turn 5 of a 4-message cycle is turns 3..6
    assert window_median([50.0, 50.0, 1.0, 2.0, 3.0, 4.0, 50.0], 5, 4) == 2.5
    assert window_median([1.0, 2.0, 3.0], 1, 4) == 2.0  # clipped at the start


def test_the_long_conversation_cycle_spreads_over_the_sorted_messages() -> None:
    from scripts.bench import cycle_of

    messages = [f"m{i}" for i in range(100)]
    assert cycle_of(messages, 10) == [f"m{i}" for i in range(0, 100, 10)]
    assert cycle_of(["a", "b"], 10) == ["a", "b"]


def test_ratio_and_comparison_rows() -> None:
    assert ratio(30.0, 20.0) == 1.5
    assert ratio(1.0, 0.0) is None and ratio(None, 2.0) is None
    rows = comparison(
        {"parse": {"p95_ms": 12.0}, "model_mb": 20.0}, {"parse": {"p95_ms": 10.0}, "model_mb": 40.0}
    )
    assert rows["parse p95 ms"] == {"ours": 12.0, "stock": 10.0, "ratio": 1.2}
    assert rows["model MB"]["ratio"] == 0.5
    assert rows["one user: turn p50 ms"] == {"ours": None, "stock": None, "ratio": None}


def test_ood_outcomes_follow_intent_threshold_and_entity() -> None:
    config = {
        "pipeline": [{"name": "DIETClassifier"}, {"name": "FallbackClassifier", "threshold": 0.55}]
    }
    threshold = fallback_threshold(config)
    assert threshold == 0.55 and fallback_threshold({"pipeline": []}) == 0.0

    def parse(
        intent: str, confidence: float, emergency: str | None = None, text: str = "护照多少钱"
    ) -> dict:
        entities = [{"entity": "place", "value": "湖州"}]
        if emergency:
            entities.append({"entity": "emergency_type", "value": emergency})
        return {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities,
        }

    assert ood_outcomes(parse("ask_fee", 0.9), threshold) == ["document"]
    assert ood_outcomes(parse("ask_fee", 0.9, text="这家店的价格是多少"), threshold) == []
    assert ood_outcomes(parse("inform", 0.9), threshold) == []
    assert ood_outcomes(parse("ask_fee", 0.5), threshold) == []
    assert ood_outcomes(parse("book_appointment", 0.8), threshold) == ["booking"]
    assert ood_outcomes(parse("greet", 0.99), threshold) == []
    assert ood_outcomes(parse("nlu_fallback", 0.55, "bereavement"), threshold) == ["emergency"]
    assert emergency_of(parse("greet", 1.0)) is None


def test_emergency_set_shapes_and_figures() -> None:
    nested = {
        "categories": {"bereavement": ["父亲在国外去世了", {"text": "外婆过世要赶过去"}]},
        "near_misses": {"past": ["去年奶奶去世了"], "pets": ["我家狗死了"]},
    }
    positives, near = parse_emergency_set(nested)
    assert positives == [("父亲在国外去世了", "bereavement"), ("外婆过世要赶过去", "bereavement")]
    assert near == ["去年奶奶去世了", "我家狗死了"]
    flat = parse_emergency_set(
        {"document_lost": ["护照丢了后天出发"], "near_misses": ["护照丢了不急"]}
    )
    assert flat == ([("护照丢了后天出发", "document_lost")], ["护照丢了不急"])
    listed = parse_emergency_set(
        [{"text": "a", "category": "study_deadline"}, {"text": "b", "category": None}]
    )
    assert listed == ([("a", "study_deadline")], ["b"])

    pos = [
        ("t1", "bereavement"),
        ("t2", "bereavement"),
        ("t3", "document_lost"),
        ("t4", "study_deadline"),
    ]
    figures = emergency_figures(
        pos,
        ["bereavement", "medical_treatment", "document_lost", None],
        [None, "bereavement", None, None],
    )
    assert figures["recall"] == 0.75
    assert figures["category_accuracy"] == 0.5
    assert figures["category_accuracy_when_detected"] == pytest.approx(2 / 3)
    assert figures["near_miss_false_alarms"] == 1 and figures["near_miss_false_alarm_rate"] == 0.25


def test_real_questions_count_a_reply_only_with_every_label_word_and_no_fallback() -> None:
    from scripts.eval_real import (
        fallback_texts,
        is_fallback,
        load_real_questions,
        missing_words,
        reply_text,
        score_real,
    )

    domain = {
        "responses": {
            "utter_default": [{"text": "抱歉，我没太明白您的意思。"}],
            "utter_greet": [{"text": "您好"}],
        }
    }
    fallbacks = fallback_texts(domain)
    assert fallbacks == ["抱歉，我没太明白您的意思。"]
    items = load_real_questions(
        [
            {"text": "护照多少钱", "must_contain": ["120"], "service": "passport", "aspect": "fee"},
            {"text": "Passport photo size?", "must_contain": ["48", "照片"]},
            {"text": "港澳通行证怎么办", "must_contain": ["身份证"]},
            {"text": "  "},  # no text: not an item
            {"text": "签注多少钱", "must_contain": ["15"]},
        ]
    )
    assert [i["text"] for i in items] == [
        "护照多少钱",
        "Passport photo size?",
        "港澳通行证怎么办",
        "签注多少钱",
    ]
    replies = ["普通护照每本１２０元。", "48mm×33mm", "抱歉，我没太明白您的意思。可以说身份证", ""]
    report = score_real(items, replies, fallbacks, target=0.5)
    assert (report["answered"], report["total"], report["rate"], report["pass"]) == (
        1,
        4,
        0.25,
        False,
    )
    why = {m["text"]: (m["fallback"], m["missing"]) for m in report["misses"]}
    assert why["Passport photo size?"] == (False, ["照片"])  # one label word is not enough
    assert why["港澳通行证怎么办"] == (True, [])  # the fallback fails even with the word in it
    assert why["签注多少钱"] == (False, ["15"])  # silence is a miss
    assert missing_words("ＥＭＳ邮寄", ["ems"]) == [] and is_fallback("您好", fallbacks) is False
    assert reply_text([{"text": "a"}, {"buttons": []}, {"text": "b"}]) == "a\nb"
    with pytest.raises(ValueError):
        score_real(items, replies[:2], fallbacks)
    with pytest.raises(ValueError):
        load_real_questions({"text": "not a list"})


def test_real_questions_count_an_english_reply_with_every_english_label_word() -> None:
    from scripts.eval_real import label_missing, load_real_questions, score_real

    items = load_real_questions(
        [
            {
                "text": "How long is a residence permit valid?",
                "must_contain": ["居留许可", "年"],
                "must_contain_en": ["residence permit", "year"],
                "lang": "en",
            },
            {
                "text": "Can I extend my visa?",
                "must_contain": ["届满"],
                "must_contain_en": ["expir"],
            },
            {"text": "Lost my passport", "must_contain": ["12367"], "must_contain_en": ["12367"]},
            {
                "text": "Work permit?",
                "must_contain": ["工作许可"],
                "must_contain_en": ["work permit"],
            },
            {"text": "护照多少钱", "must_contain": ["120"]},
        ]
    )
    assert items[0]["must_contain_en"] == ["residence permit", "year"]
    assert items[4]["must_contain_en"] is None  # no English label: only the Chinese words count
    replies = [
        "A work-type Residence Permit is valid for at most 5 YEARS.",  # English words, any case
        "工作类居留许可届满前申请。",  # the Chinese label still counts for an English question
        "Please call the 12367 hotline.",
        "You need a residence permit.",  # neither label is complete
        "passport fee 120 yuan",
    ]
    report = score_real(items, replies, ["Sorry, I did not quite understand."], target=0.5)
    assert (report["answered"], report["total"]) == (4, 5)
    (miss,) = report["misses"]
    assert miss["text"] == "Work permit?" and miss["missing"] == ["工作许可", "work permit"]
    # a label is all-or-nothing: half the Chinese words and half the English ones is a miss
    item = {
        "must_contain": ["居留许可", "多次"],
        "must_contain_en": ["residence permit", "multiple"],
    }
    assert label_missing("居留许可 ... multiple entries", item) == ["多次", "residence permit"]
    assert label_missing("Residence permits allow MULTIPLE entries", item) == []
    assert label_missing("居留许可可以多次出入境", item) == []
    assert label_missing("只有居留许可", {"must_contain": ["居留许可", "多次"]}) == ["多次"]


def test_real_questions_count_the_two_stage_fallback_as_a_miss() -> None:
    """ "您是想问：护照的办理材料 / …？" names the label words on its buttons, yet answers nothing."""
    from scripts.eval_real import fallback_texts, is_fallback, score_real

    domain = {
        "responses": {
            "utter_default": [{"text": "抱歉，我没太明白您的意思。"}],
            "utter_ask_affirmation_service": [{"text": "您是想问{service}的：{options}？请点选。"}],
        }
    }
    fallbacks = fallback_texts(domain)
    asked = "您是想问护照的：办理材料 / 费用？请点选。"
    assert is_fallback(asked, fallbacks)
    assert not is_fallback("您是想问护照的费用吗", fallbacks)
    items = [{"text": "护照咋弄", "must_contain": ["护照"]}]
    assert score_real(items, [asked], fallbacks)["answered"] == 0


def test_real_questions_fallback_includes_the_conditional_english_variant() -> None:
    from scripts.eval_real import fallback_texts, is_fallback, score_real

    english = "Sorry, I did not quite understand. You can ask me about your residence permit."
    domain = {
        "responses": {
            "utter_default": [
                {"text": "抱歉，我没太明白您的意思。"},
                {
                    "condition": [{"type": "slot", "name": "language", "value": "en"}],
                    "text": english,
                },
                {
                    "condition": [{"type": "slot", "name": "language", "value": "en"}],
                    "text": english,
                },
                {"condition": [{"type": "slot", "name": "language", "value": "zh"}]},  # no text
            ],
            "utter_greet": [{"text": "Hello"}],
        }
    }
    fallbacks = fallback_texts(domain)
    assert fallbacks == ["抱歉，我没太明白您的意思。", english]  # every variant once, greet not
    assert is_fallback(english.upper(), fallbacks) and not is_fallback("Hello", fallbacks)
    items = [
        {
            "text": "residence permit?",
            "must_contain": ["居留许可"],
            "must_contain_en": ["residence permit"],
        }
    ]
    report = score_real(items, [english], fallbacks)
    assert report["answered"] == 0 and report["misses"][0]["fallback"] is True
    assert (
        report["misses"][0]["missing"] == []
    )  # the English words are there; the fallback fails it
