"""Rasa component: an unsure message takes the intent of the labelled question it nearly repeats.

Placed last, after FallbackClassifier, the topic router and the ReadingResolver: only a
message that is still nlu_fallback (or out_of_scope, when it names a service or a
destination) is looked up, so DIET's confident answers, an emergency (report_emergency,
emergency_unsure, an `emergency_type` entity or the ask band) and every intent outside the
configured knowledge intents (form answers, bookings, chit-chat) stay as they are. The look-up
(bot.retrieval) is over the NLU training examples, which include the real citizens' questions
of data/nlu/real_questions.yml; it abstains unless one example is close and no example of
another intent is nearly as close, and then the two-stage fallback asks as before.

When the neighbour names a service the message does not ("宝宝几个月可以办" ~ "婴儿几个月可以办
护照"), the service entity comes with it, so the answer is about that service rather than a
question back. `neighbour: {intent, example, similarity, margin, from_intent}` goes into the
parse output, as the ReadingResolver's `understood` does, so a looked-up reading can be told
from DIET's own.

State stored in the model: the labelled examples (text, intent, service), read from the
training data at train time; the index is rebuilt from them on the first message.
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
from bot.retrieval import Example, NeighbourIndex, Settings, examples_from
from bot.vocabulary import VocabularyMatcher

OUTPUT_KEY = "neighbour"
FULL_TEXT = "full_text"  # set by bot.nlu.normalizer.TextNormalizer: untruncated, normalised
#: The outcomes a look-up may replace: "not understood".
UNSURE = ("nlu_fallback",)
#: out_of_scope is replaced only when the message names one of these (an exit-entry subject).
ANCHORED_OUT_OF_SCOPE = "out_of_scope"
ANCHOR_ENTITIES = ("service", "destination")
#: A message naming one of these has a subject: a slightly lower similarity is enough.
SUBJECT_ENTITIES = ("service", "destination", "applicant_type", "apply_kind", "endorsement_type")
#: Never touched: an emergency found or asked about wins over any look-up.
EMERGENCY_ENTITY = "emergency_type"
EMERGENCY_ASK_KEY = "emergency_ask"
SERVICE_ENTITY = "service"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NeighbourResolver(StoredStateComponent):
    """nlu_fallback + a close labelled neighbour of a knowledge intent → that intent."""

    #: The vocabulary names each example's service; a change to it retrains this component.
    source_config_key = "vocabulary_path"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "min_similarity": 0.5,
            "subject_similarity": None,
            "min_margin": 0.05,
            "max_ngram": 3,
            "intents": [],
            "vocabulary_path": "data/kb/vocabulary.yml",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings = Settings.from_config(self._config)
        self._index: Optional[NeighbourIndex] = None
        self._services: Dict[str, str] = {}

    # ------------------------------------------------------------------ training

    def train(self, training_data: TrainingData) -> Resource:
        doc = yaml.safe_load(Path(self._config["vocabulary_path"]).read_text(encoding="utf-8"))
        matcher = VocabularyMatcher(doc["entities"])
        examples = examples_from(
            (m.get(TEXT), m.get(INTENT)) for m in training_data.intent_examples
        )
        state = {
            "examples": [
                {
                    "text": e.text,
                    "intent": e.intent,
                    "service": matcher.slots(e.text).get(SERVICE_ENTITY),
                }
                for e in examples
            ]
        }
        self._index = None
        return self.store(state)

    # ------------------------------------------------------------------ inference

    def _get(self) -> NeighbourIndex:
        if self._index is None:
            rows = (self.state or {}).get("examples") or []
            self._services = {r["text"]: r["service"] for r in rows if r.get("service")}
            self._index = NeighbourIndex(
                [Example(r["text"], r["intent"]) for r in rows], self._settings
            )
        return self._index

    @staticmethod
    def _eligible(message: Message) -> bool:
        intent = (message.get(INTENT) or {}).get("name")
        entities = message.get(ENTITIES) or []
        if message.get(EMERGENCY_ASK_KEY) or any(
            e.get("entity") == EMERGENCY_ENTITY for e in entities
        ):
            return False
        if intent in UNSURE:
            return True
        return intent == ANCHORED_OUT_OF_SCOPE and any(
            e.get("entity") in ANCHOR_ENTITIES for e in entities
        )

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if not self._eligible(message):
                continue
            text = message.get(FULL_TEXT) or message.get(TEXT) or ""
            named = any(e.get("entity") in SUBJECT_ENTITIES for e in message.get(ENTITIES) or [])
            match = self._get().best(text, has_subject=named)
            if match is None:
                continue
            before = (message.get(INTENT) or {}).get("name")
            chosen = {"name": match.intent, "confidence": max(match.similarity, 0.6)}
            ranking = [
                r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != match.intent
            ]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)
            self._add_service(message, match.example)
            message.set(
                OUTPUT_KEY,
                {
                    "intent": match.intent,
                    "example": match.example,
                    "similarity": match.similarity,
                    "margin": match.margin,
                    "from_intent": before,
                },
                add_to_output=True,
            )
        return messages

    def _add_service(self, message: Message, example: str) -> None:
        """The neighbour's service, when the message names none (no span: it was implied)."""
        entities = message.get(ENTITIES) or []
        service = self._services.get(example)
        if not service or any(e.get("entity") == SERVICE_ENTITY for e in entities):
            return
        implied = {
            "entity": SERVICE_ENTITY,
            "value": service,
            "start": 0,
            "end": 0,
            "confidence_entity": 1.0,
            "extractor": self.__class__.__name__,
        }
        message.set(ENTITIES, [*entities, implied], add_to_output=True)
