"""The trained model reads unsure messages from what they name (bot.nlu.reading).

These are the NLU halves of tests/stories/test_understanding.yml: `rasa test core` takes the
stories' intents as given, so what the pipeline makes of the words is checked here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


def _parse(agent: Any, text: str) -> dict[str, Any]:
    return asyncio.run(agent.parse_message(text))


def _entities(parse: dict[str, Any]) -> dict[str, str]:
    return {e["entity"]: e["value"] for e in parse["entities"]}


@pytest.mark.parametrize(
    "text, service",
    [
        (
            "台湾通行证要怎么弄",
            "taiwan_permit",
        ),  # 台胞证 itself is the topic of the Taiwan residents' permit
        ("港澳通行证怎么办", "hk_macau_permit"),
        ("居留许可过了期怎么处理", "residence_permit"),
    ],
)
def test_a_named_service_asked_how_to_is_the_documents_question(agent, text, service):
    """ask_documents, or ask_topic with no topic named, which action_answer_kb answers with
    the documents (its overview of a service)."""
    parse = _parse(agent, text)
    entities = _entities(parse)
    assert parse["intent"]["name"] == "ask_documents" or (
        parse["intent"]["name"] == "ask_topic" and "topic" not in entities
    ), parse["intent_ranking"][:3]
    assert entities["service"] == service


@pytest.mark.parametrize(
    "text, entities",
    [
        ("下个月去日本玩", {"destination": "abroad"}),
        ("暑假带孩子去香港要办什么", {"service": "hk_macau_permit", "applicant_type": "minor"}),
        ("明年想去台湾旅游要办什么证", {"service": "taiwan_permit"}),
    ],
)
def test_trip_plans_name_their_destination(agent, text, entities):
    parse = _parse(agent, text)
    assert parse["intent"]["name"] == "travel_plan"
    assert entities.items() <= _entities(parse).items()


@pytest.mark.parametrize("text", ["asdkjh qwe zzz", "呜啦啦 叭叭叭"])  # 啦 alone is no known word
def test_gibberish_has_no_reading_to_offer(agent, text):
    parse = _parse(agent, text)
    assert parse["intent"]["name"] == "nlu_fallback"
    assert [r["name"] for r in parse["intent_ranking"]] == ["nlu_fallback"]


def test_a_known_word_with_a_particle_is_still_read(agent):
    assert _parse(agent, "好的呀")["intent"]["name"] == "affirm"


def test_an_emergency_is_never_read_as_a_documents_question(agent):
    parse = _parse(agent, "我爸在日本去世了要去奔丧护照怎么办")
    assert parse["intent"]["name"] == "report_emergency"
    assert _entities(parse)["emergency_type"] == "bereavement"


def _story_turns(name: str) -> list[tuple[str, str]]:
    """(text, intent) of every `user:` turn of a story test file under tests/stories/."""
    from pathlib import Path

    import yaml

    path = Path(__file__).parent / "stories" / name
    stories = yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]
    return [
        (step["user"].strip(), step["intent"])
        for story in stories
        for step in story["steps"]
        if "user" in step
    ]


@pytest.mark.parametrize("text, intent", _story_turns("test_grid.yml"))
def test_the_grid_stories_words_read_as_their_intents(agent, text, intent):
    """The NLU half of tests/stories/test_grid.yml: a hazard, even a fire or a gas leak, is a
    report_hazard without an emergency_type entity (so never the green channel)."""
    parse = _parse(agent, text)
    assert parse["intent"]["name"] == intent, parse["intent_ranking"][:3]
    assert "emergency_type" not in _entities(parse)
