"""The first stage of the two-stage fallback (actions/clarify.py), with rasa_sdk trackers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.clarify import REPHRASE_RESPONSE, ActionAskAffirmation
from bot.domain_files import load_domain


def _tracker(
    text: str,
    ranking: list[tuple[str, float]],
    entities: list[dict] | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    return Tracker(
        sender_id="t",
        slots=slots or {},
        latest_message={
            "text": text,
            "intent": {"name": "nlu_fallback", "confidence": 0.5},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": entities or [],
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "action_two_stage_fallback"},
        latest_action_name="action_listen",
    )


def _run(tracker: Tracker) -> list[dict]:
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskAffirmation().run(dispatcher, tracker, {}))
    return dispatcher.messages


def test_a_named_service_gets_its_readings_as_buttons():
    messages = _run(
        _tracker(
            "港澳通行证那个事",
            [("nlu_fallback", 0.5), ("inform", 0.4), ("out_of_scope", 0.3)],
            [{"entity": "service", "value": "hk_macau_permit"}],
        )
    )
    (message,) = messages
    assert message["response"] == "utter_ask_affirmation_service"
    assert message["service"] == "港澳通行证" and "办理材料" in message["options"]
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads[:3] == [
        '/ask_documents{"service":"hk_macau_permit"}',
        '/ask_fee{"service":"hk_macau_permit"}',
        '/book_appointment{"service":"hk_macau_permit"}',
    ]
    assert payloads[-1] == "/out_of_scope"
    assert all("港澳通行证" in b["title"] for b in message["buttons"][:3])


def test_close_readings_without_an_entity_are_offered_in_diets_order():
    (message,) = _run(
        _tracker(
            "这个要多久能好，在哪弄",
            [
                ("nlu_fallback", 0.5),
                ("ask_location", 0.35),
                ("ask_processing_time", 0.33),
                ("greet", 0.1),
            ],
        )
    )
    intents = [b["payload"].split("{")[0] for b in message["buttons"]]
    assert intents[:2] == ["/ask_processing_time", "/ask_location"] or intents[:2] == [
        "/ask_location",
        "/ask_processing_time",
    ]
    assert message["response"] == "utter_ask_affirmation"


def test_the_service_of_the_conversation_names_the_readings():
    (message,) = _run(
        _tracker(
            "那个呢",
            [("nlu_fallback", 0.5), ("ask_fee", 0.3), ("inform", 0.3)],
            slots={"service": "passport"},
        )
    )
    assert message["buttons"][0]["payload"] == "/ask_fee"
    assert message["buttons"][0]["title"] == "护照的费用"


def test_entities_of_the_message_travel_with_every_reading():
    (message,) = _run(
        _tracker(
            "小孩护照",
            [("nlu_fallback", 0.5), ("ask_documents", 0.4)],
            [
                {"entity": "service", "value": "passport"},
                {"entity": "applicant_type", "value": "minor"},
            ],
        )
    )
    for button in message["buttons"][:-1]:
        body = json.loads(button["payload"][button["payload"].index("{") :])
        assert body == {"service": "passport", "applicant_type": "minor"}


def test_nothing_recognised_gets_the_help_text():
    (message,) = _run(_tracker("asdkjh qwe", [("nlu_fallback", 1.0)]))
    assert message["response"] == "utter_default" and not message["buttons"]


def test_the_rephrase_request_is_a_domain_response():

    domain = load_domain()
    assert REPHRASE_RESPONSE in domain["responses"]
    assert "action_default_ask_affirmation" in domain["actions"]


def test_in_english_the_readings_are_offered_with_english_labels():
    tracker = _tracker(
        "something about my residence permit and the company",
        [("nlu_fallback", 0.5), ("ask_documents", 0.4), ("reschedule_booking", 0.3)],
        [{"entity": "service", "value": "residence_permit"}],
        slots={"language": "en"},
    )
    (message,) = _run(tracker)
    assert message["response"] == "utter_ask_affirmation" and "service" not in message
    titles = [b["title"] for b in message["buttons"]]
    assert "Documents" in titles and titles[-1] == "None of these"
    assert all(ord(c) < 128 for c in message["options"])  # no Chinese label in English
    assert message["buttons"][titles.index("Documents")]["payload"].startswith("/ask_documents")
