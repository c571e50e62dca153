"""Rasa entity extractor backed by data/kb/vocabulary.yml (see bot.vocabulary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Text

import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.stored import StoredStateComponent
from bot.vocabulary import VocabularyMatcher


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class VocabularyEntityExtractor(StoredStateComponent, EntityExtractorMixin):
    """Reads the vocabulary at train time and stores it in the model, so a trained model
    answers the same way whatever later happens to the data directory."""

    source_config_key = "vocabulary_path"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"vocabulary_path": "data/kb/vocabulary.yml"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._matcher = self._build(self.state or {})

    @staticmethod
    def _build(state: Dict[str, Any]) -> VocabularyMatcher:
        return VocabularyMatcher(
            state.get("entities") or {}, precedence=state.get("precedence") or {}
        )

    def train(self, training_data: TrainingData) -> Resource:
        doc = yaml.safe_load(Path(self._config["vocabulary_path"]).read_text(encoding="utf-8"))
        resource = self.store(
            {"entities": doc["entities"], "precedence": doc.get("precedence") or {}}
        )
        self._matcher = self._build(self.state)
        return resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            found = [
                {
                    "entity": m.entity,
                    "value": m.value,
                    "start": m.start,
                    "end": m.end,
                    "confidence_entity": 1.0,
                    "extractor": self.__class__.__name__,
                }
                for m in self._matcher.find(message.get(TEXT) or "")
            ]
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
