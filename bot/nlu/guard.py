"""Send messages with no known word to the fallback.

DIET always picks some intent, and for "asdkjh qwe 123" or a row of emoji it can pick one
with confidence: the citizen then gets a fee table for gibberish. A message none of whose
words (digits and punctuation aside) ever occurred in training cannot be understood, so it is
marked `nlu_fallback` and gets the polite "what I can do" reply instead. Modal particles
(啦, 呀, 吧 …) end sentences of every kind, so they say nothing: "呜啦啦 叭叭叭" knows only 啦,
and is gibberish all the same. A message of particles alone ("嗯嗯", "好啦") is left to DIET.
"""

from __future__ import annotations

from typing import Any, Dict, List, Set, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.stored import StoredStateComponent

FALLBACK = "nlu_fallback"
#: Sentence-final and filler particles: known from training, but no sign of understanding.
PARTICLES = frozenset(
    {"啦", "啊", "呀", "吧", "呢", "嘛", "哦", "喔", "噢", "哈", "呃", "咯", "哇", "嘞"}
)


def _words(message: Message) -> Set[str]:
    """Lower-cased tokens that carry meaning: not digits, not punctuation."""
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    return {t.text.lower() for t in tokens if any(ch.isalpha() for ch in t.text)}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class UnknownWordsGuard(StoredStateComponent):
    """Remembers the training vocabulary; a message with none of it becomes nlu_fallback."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: Set[str] = set(self.state or [])

    def train(self, training_data: TrainingData) -> Resource:
        known: Set[str] = set()
        for example in training_data.intent_examples:
            known |= _words(example)
        resource = self.store(sorted(known))
        self._known = known
        return resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if any(e.get("entity") == "emergency_type" for e in message.get(ENTITIES) or []):
                continue  # an emergency inside gibberish still counts
            words = _words(message)
            meaningful = words - PARTICLES or words
            if meaningful & self._known:
                continue
            # DIET's ranking of words it never saw is noise: nothing to offer as a reading.
            message.set(INTENT, {"name": FALLBACK, "confidence": 1.0}, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY, [{"name": FALLBACK, "confidence": 1.0}], add_to_output=True
            )
        return messages
