"""The knowledge-base action, driven with rasa_sdk trackers (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.kb import ActionAnswerKb
from bot.domain_files import load_domain
from bot.kb import get_kb


def _tracker(
    intent: str,
    slots: dict[str, Any],
    entities: list[dict] | None = None,
    events: list[dict] | None = None,
) -> Tracker:
    return Tracker(
        sender_id="t",
        slots=slots,
        latest_message={
            "intent": {"name": intent, "confidence": 0.99},
            "entities": entities or [],
            "text": "x",
        },
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


_RESPONSES = load_domain()["responses"]


def _shown(message: dict) -> str:
    """What the citizen reads: the text, or the domain response filled with its variables."""
    if message.get("text") or not message.get("response"):
        return message.get("text") or ""
    text = _RESPONSES[message["response"]][0]["text"]
    for key, value in message.items():
        if isinstance(value, str):
            text = text.replace("{" + key + "}", value)
    return text


def _run(tracker: Tracker) -> tuple[str, list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswerKb().run(dispatcher, tracker, {}))
    text = "\n".join(_shown(m) for m in dispatcher.messages)
    buttons = [b for m in dispatcher.messages for b in m.get("buttons") or []]
    return text, buttons, events


def test_adult_first_passport_answered_at_once_with_a_hint():
    text, buttons, events = _run(_tracker("ask_documents", {"service": "passport"}))
    assert "身份证" in text and "来源" in text
    assert "小孩" in text or "未满16" in text
    assert not buttons
    assert {
        "event": "slot",
        "timestamp": None,
        "name": "last_aspect",
        "value": "documents",
    } in events


def test_follow_up_about_a_child_uses_the_last_aspect():
    text, _, _ = _run(
        _tracker(
            "inform",
            {"service": "passport", "applicant_type": "minor", "last_aspect": "documents"},
            entities=[{"entity": "applicant_type", "value": "minor"}],
        )
    )
    assert "监护" in text


def test_fee_follow_up_keeps_the_service():
    text, _, _ = _run(
        _tracker("ask_fee", {"service": "hk_macau_permit", "last_aspect": "documents"})
    )
    assert "60" in text


def test_service_missing_asks_which_document_only_when_needed():
    tracker = _tracker("ask_endorsement", {})
    tracker.latest_message["text"] = "签注怎么办"
    text, buttons, _ = _run(tracker)
    assert "哪种证件" in text
    assert {b["payload"] for b in buttons} == {
        '/inform{"service":"hk_macau_permit"}',
        '/inform{"service":"taiwan_permit"}',
    }


def test_place_lists_halls_without_inventing_values():
    text, _, _ = _run(_tracker("ask_location", {"service": "passport"}))
    assert "湖州市市民服务中心" in text and "德清" in text
    assert "待配置" in text or "0572" in text


def test_new_service_drops_details_of_the_old_one():
    events = [
        {"event": "slot", "name": "service", "value": "passport"},
        {"event": "user", "text": "那台湾通行证呢"},
        {"event": "slot", "name": "service", "value": "taiwan_permit"},
    ]
    text, _, _ = _run(
        _tracker(
            "ask_documents",
            {"service": "taiwan_permit", "applicant_type": "minor"},
            entities=[{"entity": "service", "value": "taiwan_permit"}],
            events=events,
        )
    )
    assert "台湾" in text


def test_a_trip_plan_gets_the_documents_for_that_service():
    text, _, _ = _run(
        _tracker("travel_plan", {"service": "hk_macau_permit", "applicant_type": "minor"})
    )
    assert "监护" in text or "16" in text


def test_an_opening_question_without_any_exit_entry_word_is_clarified_not_answered():
    tracker = _tracker("ask_location", {})
    tracker.latest_message["text"] = "地址在哪，电话是多少？"
    text, buttons, events = _run(tracker)
    assert "出入境" in text and "来源" not in text
    assert buttons and any(e.get("name") == "last_aspect" for e in events)


def test_the_same_question_inside_a_conversation_is_answered():
    tracker = _tracker("ask_location", {"last_aspect": "documents"})
    tracker.latest_message["text"] = "地址在哪，电话是多少？"
    text, _, _ = _run(tracker)
    assert "湖州市市民服务中心" in text


def test_g_endorsement_for_a_huzhou_resident_is_group_tour_only():
    text, _, _ = _run(
        _tracker(
            "ask_endorsement",
            {"service": "hk_macau_permit", "endorsement_type": "G", "place": "huzhou"},
        )
    )
    assert "不能办个人旅游签注" in text and "团队旅游签注（L）" in text and "12367" in text


def test_g_endorsement_for_a_hangzhou_resident_is_available():
    text, buttons, _ = _run(
        _tracker(
            "ask_endorsement",
            {"service": "hk_macau_permit", "endorsement_type": "G", "place": "hangzhou"},
        )
    )
    assert "可以办个人旅游签注（G）" in text and not buttons


def test_g_endorsement_with_unknown_city_asks_for_it():
    text, buttons, _ = _run(
        _tracker("ask_endorsement", {"service": "hk_macau_permit", "endorsement_type": "G"})
    )
    assert "请告诉我您的户籍所在城市" in text
    payloads = {b["payload"] for b in buttons}
    assert '/inform{"place":"huzhou"}' in payloads and '/inform{"place":"taizhou"}' in payloads


def test_taiwan_individual_tour_status():
    text, _, _ = _run(
        _tracker("ask_endorsement", {"service": "taiwan_permit", "endorsement_type": "G"})
    )
    assert "暂停" in text and "福建、上海" in text and "来源：" in text and "http" not in text


def test_an_expired_passport_is_not_sent_online():
    text, _, _ = _run(_tracker("ask_delivery", {"service": "passport", "apply_kind": "renewal"}))
    assert "过期" in text and "不能网上办" in text and "窗口" in text


def test_photo_background_per_the_standard():
    text, _, _ = _run(_tracker("ask_photo", {"service": "passport"}))
    assert "白色、浅灰色或淡蓝色" in text and "各地做法不同" in text


def _said(intent: str, text: str, slots: dict[str, Any], **extra: Any) -> Tracker:
    """A tracker whose latest message is `text`, with the entities the vocabulary finds in it."""
    from bot.kb import get_kb
    from bot.vocabulary import VocabularyMatcher

    kb = get_kb()
    matches = VocabularyMatcher(kb.vocabulary, precedence=kb.vocabulary_precedence).find(text)
    entities = [
        {"entity": m.entity, "value": m.value, "start": m.start, "end": m.end} for m in matches
    ]
    tracker = _tracker(intent, {**{m.entity: m.value for m in matches}, **slots}, entities=entities)
    tracker.latest_message.update({"text": text, **extra})
    return tracker


def test_how_to_apply_gets_the_documents_with_fee_time_and_more_buttons():
    text, buttons, events = _run(_said("ask_documents", "护照怎么办理", {}))
    assert "身份证" in text and "120元" in text and "7个工作日" in text
    assert text.count("来源：") == 1 and "还想了解" in text
    payloads = [b["payload"] for b in buttons]
    assert payloads == [
        '/ask_fee{"service":"passport"}',
        '/ask_processing_time{"service":"passport"}',
        '/book_appointment{"service":"passport"}',
    ]
    assert {
        "event": "slot",
        "timestamp": None,
        "name": "last_aspect",
        "value": "documents",
    } in events


def test_a_reading_resolved_by_the_nlu_gets_the_overview_for_that_applicant():
    tracker = _said(
        "ask_documents",
        "小孩子台湾通行证搞一下",
        {},
        understood={"intent": "ask_documents", "from_intent": "nlu_fallback"},
    )
    text, buttons, _ = _run(tracker)
    assert "监护" in text and "60元" in text
    assert all('"applicant_type":"minor"' in b["payload"] for b in buttons)


def test_a_one_answer_topic_asked_how_to_shows_its_text_once():
    """Fee and time of a topic with one answer are that answer again: no second copy."""
    text, _, _ = _run(_said("ask_documents", "外籍配偶怎么办团聚居留", {}))
    assert "Q1" in text and text.count("中国公民的外籍配偶") == 1
    assert "费用：" not in text and "办理时间：" not in text


def test_an_english_how_to_is_answered_in_english_without_the_chinese_overview():
    tracker = _said("ask_documents", "How do I get a family reunion permit?", {"language": "en"})
    text, buttons, _ = _run(tracker)
    assert "Q1" in text and "marriage certificate" in text
    assert "还想了解" not in text and not buttons


def test_a_plain_documents_question_stays_the_plain_answer():
    text, buttons, _ = _run(_said("ask_documents", "办护照要带什么材料", {}))
    assert "身份证" in text and "还想了解" not in text and not buttons


def test_trip_to_japan_is_the_passport_and_a_word_on_visas():
    tracker = _said("travel_plan", "下个月去日本玩要怎么准备", {})
    text, buttons, _ = _run(tracker)
    assert "日本" in text and "身份证" in text and "签证" in text and "使领馆" in text
    assert "港澳" not in text
    assert buttons and all('"service":"passport"' in b["payload"] for b in buttons)


def test_trip_to_hong_kong_with_a_child_names_the_permit_the_guardian_and_asks_the_city():
    text, buttons, _ = _run(_said("travel_plan", "暑假带孩子去香港要办什么", {}))
    assert "香港" in text and "监护" in text and "个人旅游签注" in text
    assert '/inform{"place":"huzhou"}' in {b["payload"] for b in buttons}


@pytest.mark.parametrize(
    "text, document",
    [("去香港需要护照吗", "港澳通行证"), ("前往台湾用护照可以吗", "台湾通行证")],
)
def test_a_passport_named_for_a_trip_to_hong_kong_or_taiwan_gets_the_permit_it_needs(
    text: str, document: str
) -> None:
    """The slot takes the last service named (护照); the place gone to says the document."""
    answer, _, events = _run(_said("travel_plan", text, {}))
    assert document in answer and "普通护照" not in answer
    service = [e["value"] for e in events if e.get("name") == "service"]
    assert service and service[-1] in ("hk_macau_permit", "taiwan_permit")  # for "多少钱" next


def test_a_passport_named_beside_a_place_not_gone_to_stays_the_passport():
    answer, _, _ = _run(_said("ask_documents", "香港出生的孩子办护照要带什么", {}))
    assert "护照" in answer and "往来港澳通行证和签注" not in answer


def test_trip_to_hong_kong_from_huzhou_is_a_group_tour_endorsement():
    text, _, _ = _run(_said("travel_plan", "下个月去香港玩", {"place": "huzhou"}))
    assert "不能办个人旅游签注" in text and "团队旅游签注（L）" in text


def test_trip_to_taiwan_says_tourism_is_suspended():
    text, _, _ = _run(_said("travel_plan", "明年想去台湾旅游", {}))
    assert "台湾通行证" in text and "暂停" in text and "福建、上海" in text
    assert text.count("规定可能已有调整") == 1


def test_a_destination_overrides_the_service_talked_about_before():
    tracker = _said("travel_plan", "那去日本呢", {"service": "hk_macau_permit"})
    text, _, _ = _run(tracker)
    assert "护照" in text and "使领馆" in text and "港澳通行证" not in text


def test_a_bare_detail_asked_as_how_to_gets_the_overview():
    text, buttons, _ = _run(_said("inform", "外国人居留许可怎么办", {}))
    assert "工作许可" in text and "400元" in text and buttons


def test_the_city_given_after_a_hong_kong_trip_answers_the_tourism_endorsement():
    _, _, events = _run(_said("travel_plan", "暑假带孩子去香港要办什么", {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots["last_aspect"] == "endorsement"
    follow_up = {
        "service": "hk_macau_permit",
        "applicant_type": "minor",
        **slots,
        "place": "huzhou",
    }
    text, _, _ = _run(
        _tracker("inform", follow_up, entities=[{"entity": "place", "value": "huzhou"}])
    )
    assert "不能办个人旅游签注" in text and "团队旅游签注（L）" in text


def test_the_hint_on_other_cases_is_given_once_per_conversation():
    first, _, _ = _run(_tracker("ask_documents", {"service": "passport"}))
    hint_line = next(line for line in first.splitlines() if "小孩呢" in line)
    said = [{"event": "user", "text": "办护照要带什么"}, {"event": "bot", "text": first}]
    again, _, _ = _run(
        _tracker("ask_fee", {"service": "passport", "last_aspect": "documents"}, events=said)
    )
    assert "120" in again and hint_line not in again
    other, _, _ = _run(_tracker("ask_documents", {"service": "hk_macau_permit"}, events=said))
    hk_hint = get_kb().topics["hk_macau_permit"].hint
    assert hk_hint and hk_hint.strip()[:10] in other  # another topic's hint is still new here


def test_a_topic_question_is_answered_from_its_topic():
    text, buttons, events = _run(
        _tracker(
            "ask_topic",
            {"topic": "port_visa"},
            entities=[{"entity": "topic", "value": "port_visa"}],
        )
    )
    assert "口岸签证" in text and "第二十条" in text and not buttons
    assert {
        "event": "slot",
        "timestamp": None,
        "name": "last_aspect",
        "value": "overview",
    } in events


def test_a_follow_up_stays_on_the_topic_until_a_service_is_named():
    fee, _, _ = _run(_tracker("ask_fee", {"topic": "one_way_permit", "last_aspect": "overview"}))
    assert "40元" in fee and "哪种证件" not in fee
    passport, _, events = _run(
        _tracker(
            "ask_documents",
            {"topic": "one_way_permit", "service": "passport"},
            entities=[{"entity": "service", "value": "passport"}],
        )
    )
    assert "身份证" in passport and "单程证" not in passport
    assert {"event": "slot", "timestamp": None, "name": "topic", "value": None} in events


def test_where_is_the_hall_in_another_city_shows_that_citys_hall():
    tracker = _tracker(
        "ask_location", {"place": "hangzhou"}, entities=[{"entity": "place", "value": "hangzhou"}]
    )
    tracker.latest_message["text"] = "杭州的出入境大厅在哪里"
    text, _, _ = _run(tracker)
    assert "杭州市公安局出入境接待大厅" in text and "婺江路" in text and "待配置" in text
    assert "湖州市市民服务中心出入境接待大厅\n地址" not in text


def test_a_remembered_topic_answers_only_what_it_covers():
    text, _, _ = _run(_tracker("ask_photo", {"topic": "port_visa", "last_aspect": "overview"}))
    assert "48mm" in text or "照相指引" in text
    assert "口岸签证" not in text


def test_documents_for_a_named_endorsement_type_are_that_endorsements_proofs():
    """ "香港探亲签注要什么材料": the proofs of the visit, not the first-application list."""
    tracker = _tracker(
        "ask_documents",
        {"service": "hk_macau_permit", "endorsement_type": "T"},
        entities=[
            {"entity": "service", "value": "hk_macau_permit"},
            {"entity": "endorsement_type", "value": "T"},
        ],
    )
    text, _, events = _run(tracker)
    assert "探亲签注（T）" in text and "亲属关系" in text
    assert {"event": "slot", "name": "last_aspect", "value": "endorsement"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
