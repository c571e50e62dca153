"""Send a message that names a knowledge-base topic to `ask_topic` instead of the fallback.

Topic words (口岸签证, 回乡证, 出入境记录 … in data/kb/vocabulary.yml) are specific to this
domain, but DIET has seen few sentences around each, so "日本签证是你们这里办吗" can come out
as nlu_fallback or out_of_scope and the citizen is told the assistant cannot help, although
the knowledge base holds the answer. Placed after FallbackClassifier: only those two outcomes
change, and only when the vocabulary extractor found a `topic` entity; every other intent
stays DIET's (the answer action routes by the topic anyway).
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

TOPIC_ENTITY = "topic"
TOPIC_INTENT = "ask_topic"
#: What DIET and the fallback say when they do not know; the only outcomes overridden.
NOT_UNDERSTOOD = frozenset({"nlu_fallback", "out_of_scope"})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class TopicRouter(GraphComponent):
    """nlu_fallback / out_of_scope + a `topic` entity → ask_topic."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TopicRouter":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get("name")
            named = any(e.get("entity") == TOPIC_ENTITY for e in message.get(ENTITIES) or [])
            if intent in NOT_UNDERSTOOD and named:
                routed = {"name": TOPIC_INTENT, "confidence": 1.0}
                ranking = [
                    r
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get("name") != TOPIC_INTENT
                ]
                message.set(INTENT, routed, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [routed, *ranking], add_to_output=True)
        return messages
