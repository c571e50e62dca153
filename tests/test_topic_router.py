"""bot.nlu.topic_router.TopicRouter as Rasa runs it, after FallbackClassifier.

No DIET here: messages carry the intent the classifiers would leave; the model-level effect
is in scripts/eval.py and the end-to-end questions of tests/test_e2e_rest.py.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.topic_router import TopicRouter


def _message(intent: str, entities: List[Dict[str, Any]]) -> Message:
    message = Message({TEXT: "x"})
    message.set(INTENT, {"name": intent, "confidence": 0.5})
    message.set(
        INTENT_RANKING_KEY,
        [{"name": intent, "confidence": 0.5}, {"name": "ask_topic", "confidence": 0.4}],
    )
    message.set(ENTITIES, entities)
    return message


@pytest.fixture()
def router(tmp_path) -> TopicRouter:
    return TopicRouter.create(
        {},
        LocalModelStorage(tmp_path),
        Resource("topic_router"),
        ExecutionContext(GraphSchema({}), "test"),
    )


@pytest.mark.parametrize("intent", ["nlu_fallback", "out_of_scope"])
def test_a_topic_word_that_was_not_understood_asks_the_topic(router, intent):
    message = router.process([_message(intent, [{"entity": "topic", "value": "foreign_visa"}])])[0]
    assert message.get(INTENT)["name"] == "ask_topic"
    ranking = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    assert ranking[0] == "ask_topic" and ranking.count("ask_topic") == 1


def test_other_intents_and_messages_without_a_topic_stay_as_they_are(router):
    fee = router.process([_message("ask_fee", [{"entity": "topic", "value": "port_visa"}])])[0]
    assert fee.get(INTENT)["name"] == "ask_fee"
    weather = router.process(
        [_message("out_of_scope", [{"entity": "place", "value": "hangzhou"}])]
    )[0]
    assert weather.get(INTENT)["name"] == "out_of_scope"
