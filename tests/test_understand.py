"""Readings of an unsure message (bot.understand) with the real data/kb/understanding.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.domain_files import load_domain
from bot.kb import load_kb
from bot.understand import Reading, parse_understanding, readings, resolve

ROOT = Path(__file__).resolve().parent.parent
KB = load_kb(ROOT / "data" / "kb")
U = KB.understanding
SERVICE_PASSPORT = [{"entity": "service", "value": "passport"}]


def _ranking(*pairs: tuple[str, float]) -> list[dict]:
    return [{"name": name, "confidence": conf} for name, conf in pairs]


@pytest.mark.parametrize(
    "text, entities, expected",
    [
        ("台胞证要怎么弄", [{"entity": "service", "value": "taiwan_permit"}], "ask_documents"),
        (
            "居留许可过了期怎么处理",
            [{"entity": "service", "value": "residence_permit"}],
            "ask_documents",
        ),
        (
            "港澳通行证办理流程",
            [{"entity": "service", "value": "hk_macau_permit"}],
            "ask_documents",
        ),
        ("那个护照大概得花多少钱", SERVICE_PASSPORT, "ask_fee"),
        (
            "港澳通行证预约怎么弄",
            [{"entity": "service", "value": "hk_macau_permit"}],
            "book_appointment",
        ),
        # a named endorsement type, with no cue in the wording, is the endorsement question
        (
            "台湾取消自由行了没有",
            [
                {"entity": "service", "value": "taiwan_permit"},
                {"entity": "endorsement_type", "value": "G"},
            ],
            "ask_endorsement",
        ),
        # a kind of application alone: that kind's documents (换发 → the renewal's)
        (
            "护照换发以后会怎样",
            SERVICE_PASSPORT + [{"entity": "apply_kind", "value": "renewal"}],
            "ask_documents",
        ),
        (
            "港澳通行证续签的事",
            [
                {"entity": "service", "value": "hk_macau_permit"},
                {"entity": "apply_kind", "value": "endorsement"},
            ],
            "ask_endorsement",
        ),
        # a cue in the wording still says more than the detail
        (
            "护照换发多少钱",
            SERVICE_PASSPORT + [{"entity": "apply_kind", "value": "renewal"}],
            "ask_fee",
        ),
        # a topic with one answer: asked anything, it gives that answer
        (
            "居留许可和签证有啥不一样",
            [{"entity": "service", "value": "visa_vs_residence_permit"}],
            "ask_documents",
        ),
        # an applicant named with a service: what that applicant needs
        (
            "十五岁能不能办港澳通行证",
            [
                {"entity": "service", "value": "hk_macau_permit"},
                {"entity": "applicant_type", "value": "minor"},
            ],
            "ask_documents",
        ),
        # the conditions to apply are the documents; a local office, or a parcel, say more
        ("申请护照有哪些条件", SERVICE_PASSPORT, "ask_documents"),
        ("护照照片有什么要求", SERVICE_PASSPORT, "ask_photo"),
        ("护照能不能在本地办", SERVICE_PASSPORT, "ask_yidi"),
        ("办好的护照能快递吗", SERVICE_PASSPORT, "ask_delivery"),
        ("去迪拜要不要签证", [{"entity": "destination", "value": "abroad"}], "travel_plan"),
        (
            "a layover in Beijing, is that possible",
            [{"entity": "service", "value": "visa_free_transit"}],
            "ask_documents",
        ),
        # English wording cues and how-to words
        (
            "How do I apply for a residence permit",
            [{"entity": "service", "value": "residence_permit"}],
            "ask_documents",
        ),
        (
            "does the residence permit allow multiple entries",
            [{"entity": "service", "value": "residence_permit"}],
            "ask_validity",
        ),
    ],
)
def test_an_unsure_message_with_a_subject_is_read_from_its_wording(text, entities, expected):
    assert resolve("nlu_fallback", entities, text, U) == expected


def test_without_a_subject_or_with_two_cues_nothing_is_resolved():
    assert resolve("nlu_fallback", [], "这个怎么弄", U) is None
    assert (
        resolve("nlu_fallback", SERVICE_PASSPORT, "护照多少钱要多久", U) is None
    )  # two readings: ask
    assert resolve("nlu_fallback", SERVICE_PASSPORT, "护照呢", U) is None  # no wording cue


def test_confident_intents_and_emergencies_are_left_alone():
    assert resolve("ask_fee", SERVICE_PASSPORT, "护照怎么办理", U) is None
    emergency = SERVICE_PASSPORT + [{"entity": "emergency_type", "value": "bereavement"}]
    assert resolve("nlu_fallback", emergency, "父亲去世了护照怎么办", U) is None


def test_only_a_named_service_or_destination_makes_an_answer():
    assert (
        resolve(
            "out_of_scope", [{"entity": "service", "value": "taiwan_permit"}], "台胞证要怎么弄", U
        )
        == "ask_documents"
    )
    assert (
        resolve("nlu_fallback", [{"entity": "destination", "value": "abroad"}], "去日本旅游", U)
        == "travel_plan"
    )
    assert (
        resolve("out_of_scope", [{"entity": "applicant_type", "value": "minor"}], "孩子怎么弄", U)
        is None
    )
    assert (
        resolve("nlu_fallback", [{"entity": "applicant_type", "value": "minor"}], "带孩子出去玩", U)
        is None
    )
    assert (
        resolve(
            "nlu_fallback", [{"entity": "apply_kind", "value": "replacement"}], "钱包丢了怎么办", U
        )
        is None
    )


def test_a_named_detail_never_outvotes_two_cues_or_needs_a_subject():
    renewal = [{"entity": "apply_kind", "value": "renewal"}]
    assert resolve("nlu_fallback", SERVICE_PASSPORT + renewal, "护照换发多少钱要多久", U) is None
    assert resolve("nlu_fallback", renewal, "过期了会怎样", U) is None  # no service named


def test_a_subject_rule_must_name_a_labelled_intent():
    doc = yaml.safe_load((ROOT / "data" / "kb" / "understanding.yml").read_text(encoding="utf-8"))
    doc["subject_intents"] = [{"entity": "apply_kind", "intent": "greet"}]
    with pytest.raises(ValueError, match="subject_intents"):
        parse_understanding(doc, "understanding.yml")


def test_an_applicant_alone_is_still_offered_the_documents_reading():
    found = readings(
        _ranking(("nlu_fallback", 0.5), ("greet", 0.3)),
        [{"entity": "applicant_type", "value": "minor"}],
        "小孩怎么办理",
        U,
    )
    assert [r.intent for r in found] == ["ask_documents"]


def test_readings_follow_the_wording_then_diet_then_the_service_defaults():
    found = readings(
        _ranking(
            ("nlu_fallback", 0.5),
            ("ask_processing_time", 0.41),
            ("out_of_scope", 0.3),
            ("greet", 0.2),
        ),
        SERVICE_PASSPORT,
        "护照多少钱要多久",
        U,
    )
    assert [r.intent for r in found] == ["ask_processing_time", "ask_fee", "ask_documents"]
    assert len(found) == U.max_readings
    assert all(r.entities == {"service": "passport"} for r in found)


def test_a_bare_service_is_offered_documents_fee_and_booking():
    found = readings(
        _ranking(("nlu_fallback", 0.5), ("inform", 0.45), ("out_of_scope", 0.4)),
        [{"entity": "service", "value": "hk_macau_permit"}],
        "港澳通行证那个",
        U,
    )
    assert [r.intent for r in found] == list(U.service_defaults)
    titles = [U.label(r.intent, "hk_macau_permit") for r in found]
    assert all(U.service_names["hk_macau_permit"] in t for t in titles)


def test_nothing_recognised_means_no_readings():
    assert readings(_ranking(("nlu_fallback", 1.0)), [], "asdkjh qwe", U) == []
    weak = _ranking(("nlu_fallback", 0.5), ("ask_fee", U.min_confidence / 2), ("greet", 0.4))
    assert readings(weak, [], "嗯嗯那个", U) == []


def test_a_reading_replays_as_an_intent_with_its_entities():
    reading = Reading("ask_fee", {"service": "passport", "applicant_type": "minor"})
    payload = reading.payload()
    assert payload.startswith("/ask_fee{")
    assert json.loads(payload[len("/ask_fee") :]) == {
        "service": "passport",
        "applicant_type": "minor",
    }
    assert Reading("out_of_scope", {}).payload() == "/out_of_scope"


def test_every_offered_intent_exists_in_the_domain():
    domain = load_domain()
    intents = set(domain["intents"])
    assert set(U.labels) <= intents
    assert set(U.service_names) <= set(domain["slots"]["service"]["values"])


def test_a_cue_for_an_unlabelled_intent_is_refused():
    doc = yaml.safe_load((ROOT / "data" / "kb" / "understanding.yml").read_text(encoding="utf-8"))
    doc["cues"]["greet"] = ["你好"]
    with pytest.raises(ValueError, match="cues"):
        parse_understanding(doc, "understanding.yml")


def test_every_overview_line_has_a_one_line_brief():
    """The overview's fee and time lines must read as sentences, not as the head of a list."""
    for service in U.service_names:
        for aspect in ("fee", "time"):
            for fact in KB.topics[service].answers[aspect]:
                brief = fact.brief()
                assert brief and not brief.endswith(("：", ":")), (service, aspect, fact.when)


def test_the_pipeline_component_replaces_only_an_unsure_intent_and_says_so():
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.reading import ReadingResolver

    doc = yaml.safe_load((ROOT / "data" / "kb" / "understanding.yml").read_text(encoding="utf-8"))
    resolver = ReadingResolver({}, None, None, doc)
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "out_of_scope", "confidence": 0.45},
    ]
    unsure = Message(
        data={
            "text": "台胞证要怎么弄",
            "intent": {"name": "nlu_fallback", "confidence": 0.5},
            "intent_ranking": ranking,
            "entities": [{"entity": "service", "value": "taiwan_permit"}],
        }
    )
    sure = Message(
        data={
            "text": "台胞证要怎么弄",
            "intent": {"name": "ask_fee", "confidence": 0.9},
            "intent_ranking": [{"name": "ask_fee", "confidence": 0.9}],
            "entities": [{"entity": "service", "value": "taiwan_permit"}],
        }
    )
    resolver.process([unsure, sure])
    assert unsure.get("intent")["name"] == "ask_documents"
    assert [r["name"] for r in unsure.get("intent_ranking")] == [
        "ask_documents",
        "nlu_fallback",
        "out_of_scope",
    ]
    assert unsure.get("understood") == {"intent": "ask_documents", "from_intent": "nlu_fallback"}
    assert sure.get("intent")["name"] == "ask_fee" and sure.get("understood") is None


def test_a_named_endorsement_type_narrows_a_documents_question_to_its_proofs():
    visit = [{"entity": "endorsement_type", "value": "T"}]
    assert U.narrowed("ask_documents", visit) == "ask_endorsement"
    assert U.narrowed("ask_fee", visit) == "ask_fee"  # the fee is asked, not the proofs
    assert U.narrowed("ask_documents", SERVICE_PASSPORT) == "ask_documents"
    assert U.narrowed(None, visit) is None


def test_a_narrowing_rule_must_name_labelled_intents():
    doc = yaml.safe_load((ROOT / "data" / "kb" / "understanding.yml").read_text(encoding="utf-8"))
    doc["narrowing"] = [{"entity": "endorsement_type", "asked": "ask_documents", "intent": "greet"}]
    with pytest.raises(ValueError, match="narrowing"):
        parse_understanding(doc, "understanding.yml")
