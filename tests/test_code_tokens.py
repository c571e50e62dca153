"""Booking codes are one token to the NLU, whatever their random letters (bot.nlu.tokenizer).

CI once read "帮我查一下预约 HZ-RPZBFTER" as a new booking: the code's letters fed the char
n-gram features. Now every code-shaped span is the same token, so the intent cannot depend
on which code a citizen was given; the actions still read the real code from the text.
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.booking.parse import find_booking_code
from bot.nlu.tokenizer import CODE_TOKEN, CleanJiebaTokenizer
from bot.patterns import booking_code_spans

CODE_CHARS = string.ascii_uppercase + string.digits
codes = st.builds(
    lambda prefix, body, sep: f"{prefix}{sep}{body}",
    st.sampled_from(["HZ", "DQ", "AJ", "CX"]),
    st.text(CODE_CHARS, min_size=8, max_size=8),
    st.sampled_from(["-", "_", " - ", " ", "—", ""]),
).filter(  # glued and all letters ("HZABCDEFGH") could be a word; such codes need a separator
    lambda code: not code.isalpha()
)


def _tokens(text: str, attribute: str = TEXT) -> list[str]:
    # model storage and resource are only used to persist a dictionary, which this one has not
    tokenizer = CleanJiebaTokenizer(CleanJiebaTokenizer.get_default_config(), None, None)  # type: ignore[arg-type]
    return [t.text for t in tokenizer.tokenize(Message(data={attribute: text}), attribute)]


@settings(deadline=None)  # the first call loads jieba
@given(code=codes)
def test_every_code_is_the_same_single_token(code: str) -> None:
    tokens = _tokens(f"帮我查一下预约 {code}，谢谢")
    assert tokens.count(CODE_TOKEN) == 1, tokens
    at = tokens.index(CODE_TOKEN)
    assert tokens[at - 1] == code[:2] and tokens[at + 1] == "，", tokens  # prefix, then nothing


@pytest.mark.parametrize(
    "text",
    ["my re-entry permit", "I need a new passport ASAP", "ask_photo", "HKSAR visa", "USCIS"],
)
def test_english_words_are_not_codes(text: str) -> None:
    assert booking_code_spans(text) == []
    assert CODE_TOKEN not in _tokens(text)


def test_intent_names_are_never_replaced() -> None:
    assert _tokens("ask_photo", INTENT) != [CODE_TOKEN]


def test_the_prefix_stays_a_token_of_its_own() -> None:
    """HZ (a hall's booking) and WG (a grid ticket) must stay apart for the intent."""
    assert _tokens("查一下 hz-7k3q9m2x") == ["查", "一下", "HZ", CODE_TOKEN]
    assert _tokens("查一下 WG-7K3Q9M2X") == ["查", "一下", "WG", CODE_TOKEN]


def test_the_actions_still_read_the_real_code() -> None:
    assert find_booking_code("帮我查一下预约 HZ-RPZBFTER") == "HZ-RPZBFTER"


def _parse(agent: Any, text: str) -> dict[str, Any]:
    return asyncio.run(agent.parse_message(text))


@pytest.mark.parametrize(
    "template, intent",
    [
        ("帮我查一下预约 {code}", "lookup_booking"),
        ("查询预约{code}", "lookup_booking"),
        ("取消预约 {code}", "cancel_booking"),
        ("我要改约 {code}", "reschedule_booking"),
    ],
)
def test_the_intent_does_not_depend_on_the_code(agent: Any, template: str, intent: str) -> None:
    """Twenty random codes, one reading: the one the wording around them says."""
    rng = random.Random(template)
    read = {
        _parse(agent, template.format(code="HZ-" + "".join(rng.choices(CODE_CHARS, k=8))))[
            "intent"
        ]["name"]
        for _ in range(20)
    }
    assert read == {intent}
