"""The patches of bot.rasa_patches, on Rasa's own classes (no servers needed)."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_patches

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
slots:
  booking_service:
    type: text
    mappings: [{type: from_text}]
  booking_hall:
    type: text
    mappings: [{type: from_text}]
forms:
  booking_form:
    required_slots: [booking_service, booking_hall]
responses:
  utter_system_busy:
    - text: "系统繁忙，请稍后再试。"
"""
)


def _tracker(events: List[Any]) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("s", events, slots=DOMAIN.slots)


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    rasa_patches.install()


def test_action_results_are_validated_without_rechecking_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jsonschema.validators import Draft7Validator, Draft202012Validator

    def no_schema_check(*_: Any, **__: Any) -> None:
        raise AssertionError("the schema was checked again")

    for cls in (Draft7Validator, Draft202012Validator):
        monkeypatch.setattr(cls, "check_schema", classmethod(no_schema_check))
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "hi"}]})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})


def test_a_failed_form_takes_back_the_slots_set_since_the_user_spoke() -> None:
    tracker = _tracker(
        [
            ActiveLoop("booking_form"),
            SlotSet("booking_service", "passport"),
            UserUttered("随便一段话"),
            SlotSet("booking_hall", "随便一段话"),
            SlotSet("requested_slot", "booking_hall"),
        ]
    )
    undo = rasa_patches.revert_unvalidated_slots(tracker, "booking_form")
    assert undo == [SlotSet("booking_hall", None)]


def test_a_failed_ordinary_action_keeps_the_slots() -> None:
    tracker = _tracker([UserUttered("办护照"), SlotSet("booking_service", "passport")])
    assert rasa_patches.revert_unvalidated_slots(tracker, "action_answer_kb") == []


def test_the_busy_reply_comes_from_the_domain() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    event = asyncio.run(rasa_patches.busy_utterance(nlg, _tracker([]), CollectingOutputChannel()))
    assert isinstance(event, BotUttered) and event.text == "系统繁忙，请稍后再试。"
