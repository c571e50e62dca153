"""Recall first: the ninth category, and the ask band of the rules (bot.emergency).

A strong cue never vanishes: context (如果, 去年, 电视剧, 听说, a question about the channel)
either blocks it for good, when nothing says the user is pressed now, or lowers it into an
ask ("请问是否有急事…"). A pet or a negated event blocks for good.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.emergency import Analysis, Detector
from bot.kb.emergency import CATEGORIES, load_emergency

ROOT = Path(__file__).resolve().parents[1]
KB_FILE = ROOT / "data" / "kb" / "emergency.yml"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_kb(load_emergency(KB_FILE), today=lambda: TODAY)


def _band(analysis: Analysis) -> tuple[str, str | None]:
    if analysis.detection is not None:
        return "detect", analysis.detection.category
    if analysis.ask is not None:
        return "ask", analysis.ask.category
    return "none", None


def test_nine_categories_with_visa_expiring_last_on_the_national_list() -> None:
    kb = load_emergency(KB_FILE)
    assert len(CATEGORIES) == 9 and "visa_expiring" in CATEGORIES
    info = kb.categories["visa_expiring"]
    assert "签证" in info.name and "到期" in info.name
    assert any("有效期" in p or "入境日期" in p for p in info.proofs)
    assert any("机票" in p or "行程" in p for p in info.proofs)


@pytest.mark.parametrize(
    "text, category",
    [
        ("我爸在美国去世了要去奔丧，护照最快多久能办好", "bereavement"),
        ("姑父在悉尼病危，我得赶紧过去", "critical_illness_visit"),
        ("我妈淋巴瘤复发，要去新加坡做靶向治疗，很急", "medical_treatment"),
        ("我弟在迪拜被拘留了，我要过去处理", "overseas_incident"),
        ("后天去首尔谈判，护照过期了", "urgent_business"),
        ("大后天要去曼谷签合同，护照还没办", "contract_signing"),
        ("下周一去伦敦的学校报到，护照过期了", "study_deadline"),
        ("护照被偷了，后天的航班去东京", "document_lost"),
        ("意大利签证下周就到期了，护照还在换发，急", "visa_expiring"),
        ("入台证快过期了，台湾通行证能加急吗", "visa_expiring"),
        ("my father passed away in Canada 护照过期了", "bereavement"),
    ],
)
def test_each_category_is_detected(detector: Detector, text: str, category: str) -> None:
    assert _band(detector.analyse(text)) == ("detect", category)


def test_an_explicit_date_counts_as_near_only_when_it_is(detector: Detector) -> None:
    soon = detector.analyse("学校通知12月9日报到，我的护照过期了")
    later = detector.analyse("学校通知6月9日报到，我的护照过期了")
    assert _band(soon) == ("detect", "study_deadline")
    assert _band(later)[0] != "detect"
    # a date found after other cues still sits in order among them
    assert _band(detector.analyse("录取通知上写着12月10号报到，护照过期了")) == (
        "detect",
        "study_deadline",
    )


@pytest.mark.parametrize(
    "text, kind",
    [
        ("昨晚看的电视剧里，女主的爸爸在美国去世了", "fiction"),
        ("在看一部出国奔丧的纪录片", "fiction"),
        ("听说邻居家的儿子在澳洲出车祸了", "others"),
        ("新闻说有游客在泰国被绑架了", "others"),
        ("我爷爷三年前在日本去世了，想去扫墓", "past"),
        ("如果家里人在国外去世，能加急办护照吗", "hypothetical"),
        ("我的猫在医院抢救", "pet"),
        ("我爸在美国住院，医生说没大碍", "negation"),
        ("奔丧可以走绿色通道吗", "gc_question"),
    ],
)
def test_unambiguous_context_blocks_for_good(detector: Detector, text: str, kind: str) -> None:
    analysis = detector.analyse(text)
    assert _band(analysis) == ("none", None)
    assert any(b["rule"] == kind for c in analysis.candidates for b in c.blocked)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("如果签证快到期了还没拿到护照会怎样，我下周就要走", "hypothetical"),
        ("去年我爸在美国去世了，这次我妈又在那边病危，我明天就得走", None),
        ("刚看完纪录片，结果接到电话说我哥在日本出车祸了，我明天要过去", None),
        ("听说我哥在泰国被扣了，我得马上过去", "others"),
    ],
)
def test_context_with_a_pressing_date_is_asked_or_detected(
    detector: Detector, text: str, kind: str | None
) -> None:
    band, category = _band(detector.analyse(text))
    assert band in ("ask", "detect")
    assert category in CATEGORIES


def test_a_lowered_finding_says_what_lowered_it(detector: Detector) -> None:
    analysis = detector.analyse("假如下周要去香港签合同，签注还没办，明天就要出发")
    assert analysis.detection is None and analysis.ask is not None
    assert analysis.ask.category == "contract_signing"
    assert analysis.ask.blocked_by[0]["rule"] == "hypothetical"


def test_a_weak_finding_is_asked_not_dropped(detector: Detector) -> None:
    """A death with nobody named and nothing else: below the threshold, above the ask."""
    band, category = _band(detector.analyse("唉，刚去世了"))
    assert (band, category) == ("ask", "bereavement")


def test_pets_and_negated_events_are_never_asked(detector: Detector) -> None:
    for text in (
        "狗狗在宠物医院抢救，我明天要去看它",
        "我妈在日本病危的消息是假消息，明天照常上班",
    ):
        assert _band(detector.analyse(text)) == ("none", None), text


def test_english_relatives_are_whole_words(detector: Detector) -> None:
    assert all(c.kind != "relative" for c in detector.analyse("a person is missing").cues)
    assert any(c.kind == "relative" for c in detector.analyse("my son联系不上了").cues)


def test_ordinary_questions_are_neither_detected_nor_asked(detector: Detector) -> None:
    for text in (
        "护照过期了怎么换",
        "签证快到期了要怎么续签",
        "我的护照明年到期，现在可以换吗",
        "下个月想去日本玩，护照怎么办",
        "急！护照照片可以自己拍吗",
    ):
        assert _band(detector.analyse(text)) == ("none", None), text
