"""JiebaTokenizer without whitespace tokens, and with one token for any booking code.

Stock JiebaTokenizer emits " " as a token between Chinese and Latin text, which breaks
entity alignment (Rasa issues #7910, #8722) and wastes features.

A booking code (HZ-RPZBFTER) is random letters: as raw tokens its characters feed the
char n-gram features, so "帮我查一下预约 <code>" was read as a lookup for one code and as a
new booking for another (seen in CI). The random part of every code-shaped span therefore
becomes the same token, CODE_TOKEN, in training and at run time, after a token for its
prefix, which is not random and says what the code is for (HZ: a hall's booking, WG: a grid
hazard ticket). The message text itself is unchanged, so the actions still read the real
code from it.
"""

from __future__ import annotations

from typing import List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.patterns import booking_code_spans

#: What every booking code is featurised as (a word no citizen types).
CODE_TOKEN = "bookingcode"


def _with_code_tokens(text: str, tokens: List[Token]) -> List[Token]:
    """Tokens inside a code-shaped span replaced by its prefix (in capitals) and CODE_TOKEN."""
    kept = list(tokens)
    for start, body, end in booking_code_spans(text):
        kept = [t for t in kept if not (t.start >= start and t.end <= end)]
        prefix = text[start:body].strip(" -_—–").upper()
        kept.append(Token(prefix, start, start + len(prefix)))
        kept.append(Token(CODE_TOKEN, body, end))
    return sorted(kept, key=lambda t: t.start)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class CleanJiebaTokenizer(JiebaTokenizer):
    """Jieba segmentation with the domain dictionary, minus whitespace-only tokens."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute) or ""
        tokens = [
            Token(word, start) for (word, start, _end) in jieba.tokenize(text) if word.strip()
        ]
        if attribute == TEXT:  # not intent or response names (ask_photo is code-shaped)
            tokens = _with_code_tokens(text, tokens)
        if not tokens:
            # Rasa needs at least one token; an empty or all-space message gets a blank one.
            tokens = [Token(text or " ", 0)]
        return self._apply_token_pattern(tokens)
