"""The emergency detection core (bot.emergency) on its own, without DIET.

Figures asserted here are the detector's targets: recall ≥ 0.98, category accuracy ≥ 0.90,
near-miss false alarms ≤ 0.05 on tests/data/emergency_labelled.yml, and at most 11 false
alarms over the 3,784 CrossWOZ user turns (never read line by line, only counted).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emergency import Detection, Detector
from bot.kb.emergency import CATEGORIES, KBError, load_emergency, parse_emergency
from bot.text import normalize_with_map

ROOT = Path(__file__).resolve().parents[1]
KB_FILE = ROOT / "data" / "kb" / "emergency.yml"
LABELLED = ROOT / "tests" / "data" / "emergency_labelled.yml"
HELDOUT = [
    ROOT / "tests" / "data" / "emergency_heldout.yml",
    ROOT / "tests" / "data" / "emergency_heldout2.yml",
]
CROSSWOZ = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "ood" / "crosswoz_test_user.txt"
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_kb(load_emergency(KB_FILE))


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _score(detector: Detector, data: dict[str, Any]) -> dict[str, Any]:
    total = detected = correct = 0
    misses: list[str] = []
    for category, texts in data["emergencies"].items():
        for text in texts:
            total += 1
            found = detector.detect(text)
            detected += found is not None
            correct += found is not None and found.category == category
            if found is None or found.category != category:
                misses.append(f"{category} -> {found.category if found else None}: {text}")
    alarms = [n["text"] for n in data["near_misses"] if detector.detect(n["text"]) is not None]
    return {
        "recall": detected / total,
        "accuracy": correct / total,
        "false_alarm_rate": len(alarms) / len(data["near_misses"]),
        "misses": misses,
        "alarms": alarms,
    }


# --------------------------------------------------------------------------- the labelled set


def test_labelled_set_has_the_required_shape() -> None:
    data = _load(LABELLED)
    assert set(data["emergencies"]) == set(CATEGORIES)
    for category, texts in data["emergencies"].items():
        assert len(texts) >= 20, category
    assert len(data["near_misses"]) >= 60
    kinds = Counter(n["why"] for n in data["near_misses"])
    for why in ("past", "trip", "pet", "fiction", "negation", "gc_question", "hypothetical"):
        assert kinds[why] >= 5, why


def test_labelled_set_is_not_training_data() -> None:
    """The evaluation sentences must not appear among the NLU training examples."""
    training = set()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for block in (_load(path) or {}).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                training.add(line.strip().lstrip("- ").strip())
    data = _load(LABELLED)
    texts = [t for ts in data["emergencies"].values() for t in ts] + [
        n["text"] for n in data["near_misses"]
    ]
    overlap = [t for t in texts if t in training]
    assert overlap == []


def test_recall_category_accuracy_and_near_misses(detector: Detector) -> None:
    score = _score(detector, _load(LABELLED))
    print(
        f"\nemergency labelled set: recall={score['recall']:.3f} "
        f"category_accuracy={score['accuracy']:.3f} near_miss_false_alarms={score['false_alarm_rate']:.3f}"
    )
    assert score["recall"] >= 0.98, score["misses"]
    assert score["accuracy"] >= 0.90, score["misses"]
    assert score["false_alarm_rate"] <= 0.05, score["alarms"]


@pytest.mark.parametrize("path", HELDOUT, ids=lambda p: p.stem)
def test_held_out_sets_stay_close(detector: Detector, path: Path) -> None:
    """Sets written after tuning; looser bounds, they exist to catch over-fitting."""
    score = _score(detector, _load(path))
    print(
        f"\n{path.stem}: recall={score['recall']:.3f} accuracy={score['accuracy']:.3f} fa={score['false_alarm_rate']:.3f}"
    )
    assert score["recall"] >= 0.90, score["misses"]
    assert score["accuracy"] >= 0.85, score["misses"]
    assert score["false_alarm_rate"] <= 0.10, score["alarms"]


def test_crosswoz_false_alarms(detector: Detector) -> None:
    if not CROSSWOZ.exists():
        pytest.skip(f"{CROSSWOZ} is absent")
    lines = [
        line.strip() for line in CROSSWOZ.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    alarms = sum(detector.detect(line) is not None for line in lines)
    print(f"\ncrosswoz: {alarms} false alarms over {len(lines)} turns")
    assert len(lines) >= 3700
    assert alarms <= 11


# --------------------------------------------------------------------------- bad input


def test_robustness_cases(detector: Detector) -> None:
    for case in _load(LABELLED)["robustness"]:
        found = detector.detect(case["text"])
        assert found is not None and found.category == case["category"], case


def test_traditional_script(detector: Detector) -> None:
    found = detector.detect("外婆在澳門過世了，要趕過去")
    assert found is not None and found.category == "bereavement"
    cues = {c["cue"] for c in found.cues}
    assert {"外婆", "過世"} <= cues  # offsets point into the caller's (traditional) text


def test_five_thousand_characters_with_the_cue_at_the_end(detector: Detector) -> None:
    filler = ("今天天气不错，我们去公园散步，顺便在湖边吃了午饭。" * 300)[:4985]
    text = filler + "我爸在美国去世了，要赶过去"
    assert len(text) >= 4990
    found = detector.detect(text)
    assert found is not None and found.category == "bereavement"
    assert all(c["start"] >= 4985 for c in found.cues)
    assert text[found.start : found.end] == "去世"
    assert detector.detect(filler) is None


def test_cue_inside_garbage_and_mixed_scripts(detector: Detector) -> None:
    for text, category in [
        ("zzzz####我妈在加拿大病危了####zzzz", "critical_illness_visit"),
        ("<script>alert(1)</script>护照被偷了，明天的飞机", "document_lost"),
        ("ＩＣＵ里是我爸爸，人在日本，我要马上过去", "critical_illness_visit"),
        ("哈哈哈" * 1000 + "儿子在泰国失联了", "overseas_incident"),
    ]:
        found = detector.detect(text)
        assert found is not None and found.category == category, text


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\x00\x01\x02", "🙂" * 500, "？？？", "a" * 10_000, "急" * 30_000, "如果" * 3000],
    ids=["empty", "spaces", "control", "emoji", "punct", "latin", "huge", "hypothetical"],
)
def test_bad_input_never_crashes(detector: Detector, text: str) -> None:
    found = detector.detect(text)
    assert found is None or found.category in CATEGORIES


def test_none_is_no_emergency(detector: Detector) -> None:
    assert detector.detect(None) is None  # type: ignore[arg-type]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prefix=st.text(max_size=200), suffix=st.text(max_size=200))
def test_property_offsets_point_into_the_text(detector: Detector, prefix: str, suffix: str) -> None:
    text = prefix + "。我外公在澳洲去世了。" + suffix
    found = detector.detect(text)
    if found is None:  # the prefix may legitimately say 如果 / 去年 / 电视剧
        return
    assert found.category in CATEGORIES
    for cue in found.cues:
        assert 0 <= cue["start"] < cue["end"] <= len(text)
        assert normalize_with_map(text[cue["start"] : cue["end"]])[0] != ""


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=400))
def test_property_random_text_never_raises(detector: Detector, text: str) -> None:
    found = detector.detect(text)
    assert found is None or isinstance(found, Detection)


# --------------------------------------------------------------------------- explanations


def test_cues_and_kinds_explain_the_decision(detector: Detector) -> None:
    found = detector.detect("明天要去德国和客户谈判，护照还没办下来，能加急吗")
    assert found is not None and found.category == "urgent_business"
    kinds = {c["kind"] for c in found.cues}
    assert "purpose" in kinds and kinds & {"urgency", "document"}
    assert 0.6 <= found.confidence <= 0.99
    as_dict = found.as_dict()
    assert set(as_dict) == {"category", "confidence", "cues", "blocked_by"}


@pytest.mark.parametrize(
    "text,rule",
    [
        ("我爷爷去年在美国去世了", "past"),
        ("如果家里有人在国外去世，能加急办护照吗", "hypothetical"),
        ("电视剧里女主的爸爸在国外去世了", "fiction"),
        ("我家的猫去世了", "pet"),
        ("奔丧可以走绿色通道吗", "gc_question"),
        ("我爸在美国住院，医生说已经脱离危险了", "negation"),
    ],
)
def test_context_rules_block_with_a_reason(detector: Detector, text: str, rule: str) -> None:
    analysis = detector.analyse(text)
    assert analysis.detection is None
    reasons = {b["rule"] for c in analysis.candidates for b in c.blocked}
    assert rule in reasons


def test_blocked_reading_is_reported_next_to_a_live_one(detector: Detector) -> None:
    found = detector.detect("去年我爷爷在香港去世了。今天我爸在美国病危，我要马上过去")
    assert found is not None and found.category == "critical_illness_visit"
    assert any(b["rule"] == "past" for b in found.blocked_by)


def test_recent_death_is_not_past(detector: Detector) -> None:
    assert detector.detect("我爸去年就病了，昨天在美国去世了").category == "bereavement"
    assert detector.detect("我妈刚刚在新加坡去世").category == "bereavement"


def test_months_away_is_not_urgent_but_next_week_is(detector: Detector) -> None:
    assert detector.detect("下个月去德国签合同，护照过期了") is None
    assert detector.detect("下周去德国签合同，护照过期了").category == "contract_signing"
    assert detector.detect("护照丢了，下个月去泰国玩") is None
    assert detector.detect("护照丢了，明天去泰国").category == "document_lost"


def test_not_urgent_cancels_urgency(detector: Detector) -> None:
    assert detector.detect("下周去香港开会，不着急，签注慢慢办") is None


def test_short_cues_respect_word_boundaries(detector: Detector) -> None:
    """The spaCy/jieba token phrases: 要是 inside 主要是 is not a hypothetical."""
    assert detector.detect("主要是我爸在美国去世了，我得赶过去").category == "bereavement"
    assert detector.detect("要是我爸在美国去世了，我得赶过去") is None
    assert detector.detect("我爸走了，人在澳洲").category == "bereavement"
    assert detector.detect("我爸走了过去看看") is None


@pytest.mark.parametrize(
    "text,category",
    [
        ("出国之前护照丢了，后天就走", "document_lost"),  # 之前 is not the past here
        ("临行前通行证弄掉了怎么办", "document_lost"),  # a trip about to start is near
        (
            "年前要去香港签合同，签注过期了，下周就得去",
            "contract_signing",
        ),  # 年前 = before New Year
        ("出发之前我妈在日本病危了，我要马上过去", "critical_illness_visit"),
        ("平安夜那天我爸在美国出了车祸，我要赶过去", "overseas_incident"),
        ("我以为没事，结果我爸在日本病危了", "critical_illness_visit"),
    ],
)
def test_context_words_inside_other_phrases_do_not_block(
    detector: Detector, text: str, category: str
) -> None:
    found = detector.detect(text)
    assert found is not None and found.category == category


def test_a_document_in_order_or_a_plain_business_trip_is_not_urgent(detector: Detector) -> None:
    assert detector.detect("下周去日本开会，护照还有效") is None
    assert detector.detect("下周去日本开会，护照已经办好了，还要准备什么") is None
    assert detector.detect("我下周要去香港出差，签注怎么办") is None
    assert detector.detect("明天公司派我去越南出差，护照还没办，急").category == "urgent_business"


def test_pet_damaging_a_document_is_still_a_document_case(detector: Detector) -> None:
    assert detector.detect("护照被狗咬坏了，后天要出国").category == "document_lost"


# --------------------------------------------------------------------------- the DIET intent


def test_diet_intent_moves_a_borderline_finding(detector: Detector) -> None:
    text = "日本地震了，要赶过去"  # an incident abroad, nobody named: 0.55 on its own
    assert detector.detect(text) is None
    boosted = detector.detect(text, "report_emergency", 0.95)
    assert boosted is not None and boosted.category == "overseas_incident"
    assert detector.detect("我爸在美国病危", "travel_plan", 1.0) is not None  # strong stays
    assert (
        detector.detect("女儿在美国出了车祸，受伤住院，我要赶过去", "travel_plan", 1.0) is not None
    )


def test_travel_plan_intent_lowers_confidence(detector: Detector) -> None:
    plain = detector.detect("公司临时派我后天去香港开会，签注没有了")
    lowered = detector.detect("公司临时派我后天去香港开会，签注没有了", "travel_plan", 1.0)
    assert plain is not None
    assert lowered is None or lowered.confidence < plain.confidence


# --------------------------------------------------------------------------- the KB file


def test_kb_file_is_valid_and_complete() -> None:
    kb = load_emergency(KB_FILE)
    assert tuple(kb.categories) == CATEGORIES
    for info in kb.categories.values():
        assert info.proofs and info.sources and info.who
    assert "5个工作日" in kb.speed.text
    assert kb.hotline.extra["number"] == "12367"
    assert set(kb.patterns_document()) == {"detector", "cues"}


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda d: d["categories"].pop("bereavement"), "categories"),
        (lambda d: d["cues"].pop("death"), "cues.death"),
        (lambda d: d["cues"]["urgency"].__setitem__("regex", ["(unclosed"]), "cues.urgency.regex"),
        (lambda d: d["cues"].__setitem__("typo_kind", {"phrases": ["x"]}), "cues"),
        (lambda d: d["categories"]["bereavement"].__setitem__("scope", "火星"), "scope"),
        (lambda d: d["detector"].__setitem__("min_confidence", 0), "min_confidence"),
        (lambda d: d["speed"].pop("sources"), "speed.sources"),
        (
            lambda d: d["detector"]["confidence"]["bereavement"].pop("death_alone"),
            "detector.confidence.bereavement.death_alone",
        ),
        (
            lambda d: d["detector"]["confidence"]["document_lost"].__setitem__("near_date", 1.5),
            "detector.confidence.document_lost.near_date",
        ),
        (
            lambda d: d["detector"]["confidence"]["purpose"].__setitem__("typo", 0.5),
            "detector.confidence.purpose",
        ),
        (lambda d: d["detector"]["reach"].pop("visa_expiring"), "detector.reach.visa_expiring"),
        (lambda d: d["detector"].pop("urgency_reach_factor"), "detector.urgency_reach_factor"),
    ],
)
def test_kb_errors_name_the_key(mutate: Any, key: str) -> None:
    doc = copy.deepcopy(_load(KB_FILE))
    mutate(doc)
    with pytest.raises(KBError, match=key.replace(".", r"\.")):
        parse_emergency(doc)


def test_the_rules_confidences_come_from_the_kb_file() -> None:
    doc = copy.deepcopy(_load(KB_FILE))
    text = "我爸爸在美国去世了"
    found = Detector.from_patterns(doc).detect(text)
    rule = doc["detector"]["confidence"]["bereavement"]
    assert found and found.confidence == rule["death_with_person"]
    doc["detector"]["confidence"]["bereavement"]["death_with_person"] = 0.77
    found = Detector.from_patterns(doc).detect(text)
    assert found and found.confidence == 0.77


def test_missing_kb_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KBError, match="cannot read"):
        load_emergency(tmp_path / "nope.yml")


@pytest.mark.parametrize(
    "text",
    [
        "外国人在华签证快到期了，怎么延期",
        "外籍同事的签证下周到期，还没离境，来不及续怎么办",
        "My L visa in China is expiring next week, can I get an extension?",
    ],
)
def test_a_foreigners_own_stay_in_china_is_not_a_destination_visa(
    detector: Detector, text: str
) -> None:
    """visa_expiring is the destination's visa: a foreigner's extension or overstay in China
    is another service, neither detected nor asked about by the rules."""
    analysis = detector.analyse(text)
    assert analysis.detection is None and analysis.ask is None


def test_the_destinations_visa_about_to_run_out_is_still_found(detector: Detector) -> None:
    assert detector.detect("日本签证下周到期，护照还没换，很急").category == "visa_expiring"
    assert detector.detect("my visa for Canada expires next week, passport lost").category in {
        "visa_expiring",
        "document_lost",
    }


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # a death said as a failed rescue: 抢救过来 inside it is no recovery
        ("我妈在泰国突发脑溢血，没救过来，我要马上过去", "bereavement"),
        ("叔叔在日本工地出了意外没有抢救过来，家里让我赶过去", "bereavement"),
        # going somewhere to be treated, said with a bare 治
        ("我老婆这个病国内治不了，要到新加坡治，越快越好", "medical_treatment"),
        # a cardiac arrest is critical; a recovery before 但 does not cancel what follows
        ("我哥在迪拜心跳骤停送医了", "critical_illness_visit"),
        ("我爸在法国抢救过来了但还在昏迷，我得过去", "critical_illness_visit"),
        # how long the passport has been expired says nothing about when the trip is
        ("老板让我后天去新加坡谈判，我的护照过期两年了", "urgent_business"),
    ],
)
def test_wordings_of_strong_cues(detector: Detector, text: str, category: str) -> None:
    found = detector.detect(text)
    assert found is not None and found.category == category


@pytest.mark.parametrize(
    "text",
    [
        "我爸前几天住院，抢救过来了，现在没事了",  # a recovery still negates
        "护照过期三年了，想明年去日本玩",  # an old expiry and a holiday
        "去北京治安怎么样",  # 治安 is no treatment
    ],
)
def test_near_misses_of_the_new_cues_stay_quiet(detector: Detector, text: str) -> None:
    assert detector.detect(text) is None
