"""The reply language reaches the replies: the Rasa server sets the `language` slot from each
user message (bot.rasa_patches), and the domain's conditional variations follow it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_patches

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = Domain.load(str(ROOT / "domain"))


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    rasa_patches.install()


class _Processor:
    """What MessageProcessor.run_action_extract_slots reads from its processor."""

    domain = DOMAIN
    action_endpoint = None
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)

    async def _send_bot_messages(self, *_: Any) -> None:
        return None


def _say(tracker: DialogueStateTracker, text: str) -> DialogueStateTracker:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}), DOMAIN)
    return asyncio.run(
        MessageProcessor.run_action_extract_slots(_Processor(), CollectingOutputChannel(), tracker)
    )


def _reply(tracker: DialogueStateTracker, response: str, **kwargs: Any) -> str:
    generated = asyncio.run(_Processor.nlg.generate(response, tracker, "rest", **kwargs))
    return generated["text"]


def test_an_english_message_switches_the_replies_to_english_and_back() -> None:
    tracker = DialogueStateTracker("s", DOMAIN.slots)
    assert "您好" in _reply(_say(tracker, "你好"), "utter_greet")
    tracker = _say(tracker, "Hello, can you help me in English?")
    assert tracker.get_slot("language") == "en"
    assert _reply(tracker, "utter_greet").startswith("Hello")
    # a booking code, a number or a button decide nothing: the conversation stays English
    for text in ("HZ-7K3Q9M2X", "13812345678", '/inform{"service":"passport"}', "ok"):
        assert _say(tracker, text).get_slot("language") == "en", text
    assert "Which day" in _reply(tracker, "utter_ask_booking_date")
    tracker = _say(tracker, "我还是用中文吧")
    assert tracker.get_slot("language") == "zh"
    assert "哪天" in _reply(tracker, "utter_ask_booking_date")


def test_the_english_booking_confirmation_keeps_the_contract_words() -> None:
    tracker = _say(DialogueStateTracker("s", DOMAIN.slots), "book an appointment please")
    text = _reply(
        tracker,
        "utter_booking_booked",
        code="HZ-7K3Q9M2X",
        hall="Huzhou",
        day="2026-12-15",
        time="10:00",
    )
    assert "预约成功" in text and "预约号：HZ-7K3Q9M2X" in text and "Booked" in text


def test_every_english_variation_has_a_chinese_default() -> None:
    """Rasa picks the unconditional variation when the slot is not `en`; none may be missing."""
    for name, variations in DOMAIN.responses.items():
        conditional = [v for v in variations if v.get("condition")]
        plain = [v for v in variations if not v.get("condition")]
        if conditional:
            assert plain, name
            assert all(
                c == [{"type": "slot", "name": "language", "value": "en"}]
                for c in (v["condition"] for v in conditional)
            ), name
