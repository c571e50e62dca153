"""The trained model (models/current.tar.gz) meets the NLU and emergency targets.

Same measurements as `make eval` (scripts/eval.py), asserted: held-out macro-F1, emergency
recall / category accuracy / near-miss false alarms, and false alarms on 3,784 unrelated real
user turns (CrossWOZ; ../shared/data/ood, a test set never trained on).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scripts import eval as nlu_eval
from tests.conftest import need_service
from tests.live import MODEL


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first (make test does)")

    async def run() -> dict[str, Any]:
        from rasa.core.agent import load_agent

        agent = await load_agent(model_path=str(MODEL))
        threshold = nlu_eval.model_fallback_threshold(agent) or 0.0
        ood = await nlu_eval.eval_ood(agent, nlu_eval.OOD, threshold, None)
        return {
            "holdout": await nlu_eval.eval_holdout(agent, nlu_eval.HOLDOUT),
            "emergency": await nlu_eval.eval_emergency(agent, nlu_eval.EMERGENCY_SET),
            "ood": ood,
        }

    return asyncio.run(run())


def test_held_out_intents(report):
    assert report["holdout"]["macro_f1"] >= 0.95, report["holdout"]["errors"]


def test_emergencies_through_the_whole_model(report):
    figures = report["emergency"]
    assert figures["positives"] >= 160 and figures["near_misses"] >= 60
    assert figures["recall"] >= 0.98, figures["misses"]
    assert figures["category_accuracy"] >= 0.90, figures["misses"]
    assert figures["near_miss_false_alarm_rate"] <= 0.05, figures["false_alarms"]


def test_unrelated_real_turns(report):
    ood = report["ood"]
    if ood is None:
        need_service("../shared/data/ood/crosswoz_test_user.txt is not beside the repository")
    assert ood["lines"] == 3784
    assert ood["counts"]["emergency"] <= 11, ood["examples"]
    assert ood["rates"]["in_domain"] <= 0.02, ood["examples"]
