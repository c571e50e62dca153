"""Rasa component: the emergency detector (bot.emergency) inside the NLU pipeline.

Placed after DIET and the vocabulary extractor, before FallbackClassifier. For a confident
finding it
- adds the entity `emergency_type` (value = category; the contract: no entity, no emergency),
- makes `report_emergency` the intent, keeping DIET's own guess in `emergency.original_intent`
  so the green-channel action can also answer a document question in the same message,
- puts `emergency: {category, confidence, cues, blocked_by, original_intent}` in the parse
  output (an output property, so /model/parse and the tracker's parse_data carry it).
When DIET says `report_emergency` but the detector finds no emergency, the intent is
demoted to DIET's next guess, so dialogue and entity never disagree.

The cue patterns are read from data/kb/emergency.yml at train time and stored in the model,
so a trained model is self-contained; `fingerprint_addon` hashes that file so `rasa train`
retrains this component when the patterns change even if the NLU data did not.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.emergency import REPORT_INTENT, Detector
from bot.kb.emergency import load_emergency
from bot.nlu.stored import StoredStateComponent

logger = logging.getLogger(__name__)

ENTITY = "emergency_type"
OUTPUT_KEY = "emergency"
FULL_TEXT = "full_text"  # set by bot.nlu.normalizer.TextNormalizer: untruncated, normalised


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EmergencyDetector(StoredStateComponent, EntityExtractorMixin):
    """Emergency category as an entity, and the turn routed to the green channel."""

    source_config_key = "patterns_path"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"patterns_path": "data/kb/emergency.yml"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._detector: Optional[Detector] = None

    # ------------------------------------------------------------------ training

    def train(self, training_data: TrainingData) -> Resource:
        kb = load_emergency(self._config["patterns_path"])  # validates; raises KBError
        self._detector = None
        return self.store(kb.patterns_document())

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> "EmergencyDetector":
        component = super().load(*args, **kwargs)
        component._get_detector()  # build spaCy/jieba now, not on the first user's message
        return component

    # ------------------------------------------------------------------ inference

    def _get_detector(self) -> Detector:
        if self._detector is None:
            if self.state is None:
                # Untrained (e.g. `rasa test` on a graph built without training): read the file.
                self.state = load_emergency(self._config["patterns_path"]).patterns_document()
            self._detector = Detector.from_patterns(self.state)
        return self._detector

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            try:
                self._process_one(message)
            except Exception:  # never let one odd message break the whole parse
                logger.exception("emergency detection failed; treating the message as ordinary")
        return messages

    def _process_one(self, message: Message) -> None:
        text = message.get(FULL_TEXT) or message.get(TEXT) or ""
        original = dict(message.get(INTENT) or {})
        ranking = [dict(r) for r in (message.get(INTENT_RANKING_KEY) or [])]
        analysis = self._get_detector().analyse(
            text, original.get("name"), float(original.get("confidence") or 0.0)
        )
        found = analysis.detection
        if found is None:
            if original.get("name") == REPORT_INTENT:
                self._demote(message, original, ranking)
            return

        confidence = float(found.confidence)
        entity = {
            "entity": ENTITY,
            "value": found.category,
            "start": found.start,
            "end": found.end,
            "confidence_entity": confidence,
            "confidence": confidence,
            "extractor": self.__class__.__name__,
        }
        message.set(ENTITIES, (message.get(ENTITIES) or []) + [entity], add_to_output=True)

        intent = {"name": REPORT_INTENT, "confidence": confidence}
        if original.get("name") == REPORT_INTENT:
            intent["confidence"] = max(confidence, float(original.get("confidence") or 0.0))
        # Rescale the others below the emergency so FallbackClassifier's ambiguity check
        # (top-1 minus top-2) cannot turn a detected emergency into nlu_fallback.
        rest = [
            {**r, "confidence": float(r.get("confidence") or 0.0) * (1.0 - intent["confidence"])}
            for r in ranking
            if r.get("name") != REPORT_INTENT
        ]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [intent, *rest], add_to_output=True)
        message.set(
            OUTPUT_KEY,
            {**found.as_dict(), "original_intent": original or None},
            add_to_output=True,
        )

    @staticmethod
    def _demote(message: Message, original: Dict[str, Any], ranking: List[Dict[str, Any]]) -> None:
        """DIET said report_emergency but nothing qualifies: use DIET's next guess."""
        rest = [r for r in ranking if r.get("name") != REPORT_INTENT]
        if not rest:
            return
        message.set(INTENT, rest[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, rest + [original], add_to_output=True)
        message.set(
            OUTPUT_KEY + "_rejected",
            {"demoted_intent": original},
            add_to_output=True,
        )

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]
