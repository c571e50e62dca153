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

The ask band (recall first): a strong finding that context lowered (如果, 去年, 电视剧, a
question about the channel) or that stays just below the threshold is not dropped. Then
- there is NO `emergency_type` entity (the contract holds: no entity, no emergency),
- the intent becomes `emergency_unsure` (routed to action_ask_emergency: "请问是否有急事需要
  加急办理？…" with 是 / 不是), DIET's own guess kept in `emergency_ask.original_intent` so
  that 不是 goes back to answering the original question,
- `emergency_ask: {category, confidence, cues, blocked_by, original_intent}` is in the parse
  output: `category` is the best guess for 是 (None when only the classifier hesitates).
DIET's own `emergency_unsure` without a finding is demoted the same way as report_emergency.

The learned detector (bot.emergency_learned): train() fits a character n-gram classifier
with the rules' findings as features on data/emergency/labelled.yml plus the NLU data's
non-emergency examples (label `none`), in seconds, and stores it in the model next to the cue
patterns; `decide` then combines rules and classifier into detect / ask / none. A model
without the classifier (or a component never trained) decides on the rules alone.

The cue patterns are read from data/kb/emergency.yml at train time and stored in the model,
so a trained model is self-contained; `fingerprint_addon` hashes that file and the labelled
set so `rasa train` retrains this component when either changes even if the NLU data did not.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.emergency import REPORT_INTENT, Detector
from bot.emergency_learned import (
    LearnedDetector,
    Outcome,
    Thresholds,
    decide,
    load_labelled,
    ordinary_examples,
)
from bot.kb.emergency import load_emergency
from bot.nlu.stored import StoredStateComponent

logger = logging.getLogger(__name__)

ENTITY = "emergency_type"
OUTPUT_KEY = "emergency"
ASK_INTENT = "emergency_unsure"
ASK_KEY = "emergency_ask"
FULL_TEXT = "full_text"  # set by bot.nlu.normalizer.TextNormalizer: untruncated, normalised


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EmergencyDetector(StoredStateComponent, EntityExtractorMixin):
    """Emergency category as an entity, and the turn routed to the green channel."""

    source_config_key = "patterns_path"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "patterns_path": "data/kb/emergency.yml",
            "training_path": "data/emergency/labelled.yml",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._detector: Optional[Detector] = None
        self._learned: Optional[LearnedDetector] = None

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Both files: the cue patterns (None when unreadable) and the labelled sentences."""
        digest = hashlib.sha256()
        for key in ("patterns_path", "training_path"):
            path = Path(config.get(key) or cls.get_default_config()[key])
            try:
                digest.update(path.read_bytes())
            except OSError:
                if key == "patterns_path":
                    return None
                digest.update(b"-")
        return digest.hexdigest()

    # ------------------------------------------------------------------ training

    def train(self, training_data: TrainingData) -> Resource:
        kb = load_emergency(self._config["patterns_path"])  # validates; raises KBError
        self._detector = None
        resource = self.store(kb.patterns_document())
        texts, labels = load_labelled(self._config["training_path"])
        ordinary = ordinary_examples(
            ((m.get(TEXT), m.get(INTENT)) for m in training_data.intent_examples),
            (REPORT_INTENT, ASK_INTENT),
        )
        self._learned = LearnedDetector.fit(
            self._get_detector(), texts + ordinary, labels + ["none"] * len(ordinary)
        )
        with self._storage.write_to(self._resource) as directory:
            self._learned.save(Path(directory))
        return resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> "EmergencyDetector":
        component = super().load(*args, **kwargs)
        with component._storage.read_from(component._resource) as directory:
            component._learned = LearnedDetector.load(Path(directory))
        component._get_detector()  # build spaCy/jieba now, not on the first user's message
        return component

    # ------------------------------------------------------------------ inference

    def _thresholds(self) -> Thresholds:
        return Thresholds.from_mapping(((self.state or {}).get("detector") or {})["learned"])

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
        proba = self._learned.proba(text, analysis) if self._learned is not None else None
        outcome: Outcome = decide(analysis, proba, self._thresholds())
        found = outcome.detection
        if found is None:
            if outcome.ask is not None:
                finding = {**outcome.ask.as_dict(), "p_emergency": round(outcome.p_emergency, 3)}
                self._route_ask(message, finding, original, ranking)
            elif original.get("name") in (REPORT_INTENT, ASK_INTENT):
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

        intent: Dict[str, Any] = {"name": REPORT_INTENT, "confidence": confidence}
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
            {
                **found.as_dict(),
                "p_emergency": round(outcome.p_emergency, 3),
                "original_intent": original or None,
            },
            add_to_output=True,
        )

    @staticmethod
    def _route_ask(
        message: Message,
        finding: Dict[str, Any],
        original: Dict[str, Any],
        ranking: List[Dict[str, Any]],
    ) -> None:
        """The ask band: intent emergency_unsure, the finding under `emergency_ask`, no entity."""
        # At least 0.6, so that FallbackClassifier (threshold, ambiguity) lets the ask through.
        confidence = max(float(finding.get("confidence") or 0.0), 0.6)
        intent = {"name": ASK_INTENT, "confidence": confidence}
        rest = [
            {**r, "confidence": float(r.get("confidence") or 0.0) * (1.0 - confidence)}
            for r in ranking
            if r.get("name") not in (ASK_INTENT, REPORT_INTENT)
        ]
        kept = (
            original
            if original.get("name") not in (ASK_INTENT, REPORT_INTENT)
            else (rest[0] if rest else None)
        )
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [intent, *rest], add_to_output=True)
        message.set(ASK_KEY, {**finding, "original_intent": kept or None}, add_to_output=True)

    @staticmethod
    def _demote(message: Message, original: Dict[str, Any], ranking: List[Dict[str, Any]]) -> None:
        """DIET said report_emergency (or emergency_unsure) but nothing qualifies: use DIET's
        next guess."""
        rest = [r for r in ranking if r.get("name") not in (REPORT_INTENT, ASK_INTENT)]
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
