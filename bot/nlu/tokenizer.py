"""JiebaTokenizer without whitespace tokens.

Stock JiebaTokenizer emits " " as a token between Chinese and Latin text, which breaks
entity alignment (Rasa issues #7910, #8722) and wastes features.
"""

from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class CleanJiebaTokenizer(JiebaTokenizer):
    """Jieba segmentation with the domain dictionary, minus whitespace-only tokens."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute) or ""
        tokens = [
            Token(word, start) for (word, start, _end) in jieba.tokenize(text) if word.strip()
        ]
        if not tokens:
            # Rasa needs at least one token; an empty or all-space message gets a blank one.
            tokens = [Token(text or " ", 0)]
        return self._apply_token_pattern(tokens)
