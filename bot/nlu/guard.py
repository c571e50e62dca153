"""Send messages with no known word to the fallback.

DIET always picks some intent, and for "asdkjh qwe 123" or a row of emoji it can pick one
with confidence: the citizen then gets a fee table for gibberish. A message none of whose
words (digits and punctuation aside) ever occurred in training cannot be understood, so it is
marked `nlu_fallback` and gets the polite "what I can do" reply instead.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

WORDS_FILE = "known_words.json"
FALLBACK = "nlu_fallback"


def _words(message: Message) -> Set[str]:
    """Lower-cased tokens that carry meaning: not digits, not punctuation."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    return {t.text.lower() for t in tokens if any(ch.isalpha() for ch in t.text)}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class UnknownWordsGuard(GraphComponent):
    """Remembers the training vocabulary; a message with none of it becomes nlu_fallback."""

    def __init__(self, storage: ModelStorage, resource: Resource, known: Optional[Set[str]] = None) -> None:
        self._storage = storage
        self._resource = resource
        self._known: Set[str] = known or set()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "UnknownWordsGuard":
        return cls(model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        for example in training_data.intent_examples:
            self._known |= _words(example)
        with self._storage.write_to(self._resource) as directory:
            (directory / WORDS_FILE).write_text(json.dumps(sorted(self._known), ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "UnknownWordsGuard":
        with model_storage.read_from(resource) as directory:
            known = set(json.loads((directory / WORDS_FILE).read_text(encoding="utf-8")))
        return cls(model_storage, resource, known)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if any(e.get("entity") == "emergency_type" for e in message.get(ENTITIES) or []):
                continue  # an emergency inside gibberish still counts
            if _words(message) & self._known:
                continue
            message.set(INTENT, {"name": FALLBACK, "confidence": 1.0}, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY, [{"name": FALLBACK, "confidence": 1.0}, *ranking], add_to_output=True)
        return messages
