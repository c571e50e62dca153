"""The training data stays honest: the held-out set is not in it, and no text has two intents."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from rasa.shared.nlu.training_data.loading import load_data

from bot.text import normalize

ROOT = Path(__file__).resolve().parent.parent


def _key(text: str) -> str:
    return re.sub(r"[^\w]", "", normalize(text)).lower()


def test_holdout_examples_are_not_in_training():
    training = {_key(e.get("text")) for e in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    holdout = [
        e.get("text")
        for e in load_data(str(ROOT / "tests" / "nlu" / "test_holdout.yml")).intent_examples
    ]
    leaked = [t for t in holdout if _key(t) in training]
    assert not leaked, leaked


def test_no_example_has_two_intents():
    intents = defaultdict(set)
    for example in load_data(str(ROOT / "data" / "nlu")).intent_examples:
        intents[_key(example.get("text"))].add(example.get("intent"))
    clashes = {text: sorted(names) for text, names in intents.items() if len(names) > 1}
    assert not clashes, clashes


def test_every_intent_has_enough_varied_examples():
    counts = defaultdict(int)
    for example in load_data(str(ROOT / "data" / "nlu")).intent_examples:
        counts[example.get("intent")] += 1
    thin = {intent: n for intent, n in counts.items() if n < 30}
    assert not thin, thin
