"""Rasa component: an unsure message that names its subject is read from its wording.

Placed after FallbackClassifier. "台胞证要怎么弄" gets nlu_fallback (or out_of_scope) from
DIET, yet the vocabulary found the service and "怎么弄" says how-to-apply: the documents.
When bot.understand.resolve finds exactly one such reading, it becomes the intent
(confidence 1.0: a decision, like the unknown-words guard's), DIET's ranking stays below it,
and `understood: {intent, from_intent}` goes into the parse output so /model/parse, the
tracker and the evaluation can tell a resolved reading from DIET's own.

The cue words are read from data/kb/understanding.yml at train time and stored in the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.stored import StoredStateComponent
from bot.understand import Understanding, parse_understanding, resolve

OUTPUT_KEY = "understood"
FULL_TEXT = "full_text"  # set by bot.nlu.normalizer.TextNormalizer: untruncated, normalised


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ReadingResolver(StoredStateComponent):
    """Replaces an unsure intent with the one reading the subject and wording leave."""

    source_config_key = "understanding_path"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"understanding_path": "data/kb/understanding.yml"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._understanding: Optional[Understanding] = None

    def _read(self) -> Dict[str, Any]:
        path = Path(self._config["understanding_path"])
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    def train(self, training_data: TrainingData) -> Resource:
        doc = self._read()
        parse_understanding(doc, self._config["understanding_path"])  # fail at train time
        self._understanding = None
        return self.store(doc)

    def _get(self) -> Understanding:
        if self._understanding is None:
            if self.state is None:  # untrained graph (e.g. `rasa test` without training)
                self.state = self._read()
            self._understanding = parse_understanding(
                self.state, self._config["understanding_path"]
            )
        return self._understanding

    def process(self, messages: List[Message]) -> List[Message]:
        understanding = self._get()
        for message in messages:
            intent = (message.get(INTENT) or {}).get("name")
            text = message.get(FULL_TEXT) or message.get(TEXT) or ""
            reading = resolve(intent, message.get(ENTITIES) or [], text, understanding)
            if reading is None:
                continue
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != reading]
            message.set(INTENT, {"name": reading, "confidence": 1.0}, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY,
                [{"name": reading, "confidence": 1.0}, *ranking],
                add_to_output=True,
            )
            message.set(OUTPUT_KEY, {"intent": reading, "from_intent": intent}, add_to_output=True)
        return messages
