"""Rasa entity extractor backed by data/kb/vocabulary.yml (see bot.vocabulary)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Text

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.vocabulary import VocabularyMatcher

VOCAB_FILE = "vocabulary.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class VocabularyEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Reads the vocabulary at train time and stores it in the model, so a trained model
    answers the same way whatever later happens to the data directory."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"vocabulary_path": "data/kb/vocabulary.yml"}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: Dict[str, Dict[str, List[str]]] | None = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary or {}
        self._matcher = VocabularyMatcher(self._vocabulary)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "VocabularyEntityExtractor":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        doc = yaml.safe_load(Path(self._config["vocabulary_path"]).read_text(encoding="utf-8"))
        self._vocabulary = doc["entities"]
        self._matcher = VocabularyMatcher(self._vocabulary)
        with self._storage.write_to(self._resource) as directory:
            (directory / VOCAB_FILE).write_text(json.dumps(self._vocabulary, ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "VocabularyEntityExtractor":
        with model_storage.read_from(resource) as directory:
            vocabulary = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, vocabulary)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = [
                {
                    "entity": m.entity,
                    "value": m.value,
                    "start": m.start,
                    "end": m.end,
                    "confidence_entity": 1.0,
                    "extractor": self.__class__.__name__,
                }
                for m in self._matcher.find(text)
            ]
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
