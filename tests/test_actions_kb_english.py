"""The knowledge-base action in English (language slot `en`), driven with rasa_sdk trackers."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.kb import KB_ANSWER, ActionAnswerKb


def _run(intent: str, slots: dict[str, Any], text: str = "x") -> tuple[str, list[str], list[dict]]:
    tracker = Tracker(
        sender_id="t",
        slots={"language": "en", **slots},
        latest_message={
            "intent": {"name": intent, "confidence": 0.99},
            "entities": [],
            "text": text,
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerKb().run(dispatcher, tracker, {}))
    # A knowledge-base answer is sent as utter_kb_answer ("{answer}"): its text is `answer`.
    text = "\n".join(
        m.get("text") or (m.get("answer") if m.get("response") == KB_ANSWER else "") or ""
        for m in dispatcher.messages
    )
    responses = [
        m["response"] for m in dispatcher.messages if m.get("response") not in (None, KB_ANSWER)
    ]
    buttons = [b for m in dispatcher.messages for b in m.get("buttons") or []]
    return text, responses, buttons


def test_a_foreigner_topic_is_answered_in_english():
    text, responses, _ = _run("ask_documents", {"service": "visa_extension"})
    assert "7 days" in text and "Source: " in text
    assert "来源" not in text and not responses


def test_a_topic_without_english_gets_the_english_line_then_the_chinese_answer():
    text, responses, _ = _run("ask_fee", {"service": "passport"})
    assert responses == ["utter_english_scope"]
    assert "120" in text and "来源" in text


def test_the_halls_are_described_in_english():
    text, _, _ = _run("ask_location", {"place": "huzhou"}, "where is the hall in Huzhou")
    assert "Huzhou Citizen Service Centre" in text and "Address: " in text
    assert "地址：" not in text


def test_no_topic_named_asks_which_one_with_the_english_topics():
    _, responses, buttons = _run("ask_documents", {}, "what documents do I need")
    assert responses == ["utter_ask_which_topic"]
    payloads = {b["payload"] for b in buttons}
    assert '/inform{"service":"visa_free_transit"}' in payloads
    assert '/inform{"service":"residence_permit"}' in payloads
    assert all(
        b["title"] and not any("\u4e00" <= ch <= "\u9fff" for ch in b["title"]) for b in buttons
    )
