"""Rasa component that normalises the message text before tokenising (see bot.text)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.text import normalize

FULL_TEXT = "full_text"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Normalises TEXT in place; keeps the whole normalised text under `full_text`.

    DIET's attention cost grows with the square of the token count, so TEXT is cut to the
    head and tail of very long messages; detectors that must see everything (the emergency
    detector) read `full_text` instead.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_chars": 400}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max_chars = int(config.get("max_chars", 400))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TextNormalizer":
        return cls(config)

    def _normalize(self, message: Message) -> None:
        raw = message.get(TEXT)
        if raw is None:
            return
        full = normalize(raw)
        message.set(FULL_TEXT, full)
        if len(full) > self._max_chars:
            half = self._max_chars // 2
            full = f"{full[:half]} {full[-half:]}"
        message.set(TEXT, full)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return None
