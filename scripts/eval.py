"""`make eval`: NLU and emergency figures for the trained model → results/eval.json.

The model is loaded in-process so the 3,784 unrelated CrossWOZ turns parse in
about a minute; the real citizens' questions are full turns, so the project's action server runs
as a subprocess on loopback while the script runs (scripts/eval_real.py). Targets are printed as PASS/FAIL for people; the script always exits 0 when it
could measure, because figures are information, not a gate (pytest holds the gates).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from bot.kb.emergency import CATEGORIES
from scripts.eval_real import TARGET as REAL_QUESTIONS_TARGET
from scripts.stats import LabelScore, accuracy, macro_f1, per_label_scores

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "current.tar.gz"
HOLDOUT = ROOT / "tests" / "nlu" / "test_holdout.yml"
EMERGENCY_SET = ROOT / "tests" / "data" / "emergency_labelled.yml"
# Held-out emergency splits, never trained on (the ask band's figures are measured on these).
EMERGENCY_HELDOUT = [ROOT / "tests" / "data" / f"emergency_heldout{n}.yml" for n in ("", "2", "3")]
OOD = ROOT.parent / "shared" / "data" / "ood" / "crosswoz_test_user.txt"
RESULTS = ROOT / "results" / "eval.json"

EMERGENCY_ENTITY = "emergency_type"
EMERGENCY_CATEGORIES = CATEGORIES  # the nine values of the emergency_type contract
NEAR_MISS_KEYS = ("near_misses", "near_miss", "negatives")
BOOKING_INTENTS = frozenset(
    {
        "book_appointment",
        "book_priority",
        "my_bookings",
        "lookup_booking",
        "cancel_booking",
        "reschedule_booking",
    }
)
TARGETS = {
    "macro_f1": 0.95,
    "ood_in_domain_rate": 0.02,
    "ood_emergency_max": 11,
    "emergency_recall": 0.98,
    "emergency_category_accuracy": 0.90,
    "near_miss_false_alarm_rate": 0.05,
    "real_questions_rate": REAL_QUESTIONS_TARGET,
}
MAX_EXAMPLES = 20
# The ask band ("请问是否有急事…"): recall first, asks kept rare on ordinary text.
BAND_TARGETS = {
    "category_accuracy": 0.98,
    "detected_or_asked": 0.995,
    "near_miss_false_alarm_rate": 0.03,
    "near_miss_ask_rate": 0.15,
    "ordinary_ask_rate": 0.02,
    "ood_false_alarm_rate": 0.001,
    "ood_ask_rate": 0.01,
}
EMERGENCY_INTENTS = frozenset({"report_emergency", "emergency_unsure"})

Parse = dict[str, Any]


# ----- pure helpers (tested in tests/test_eval_scripts.py) -----------------------------------


def fallback_threshold(config: dict[str, Any]) -> float:
    """The FallbackClassifier threshold of a Rasa config (0 when there is none)."""
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))  # Rasa's default
    return 0.0


def model_fallback_threshold(agent: Any) -> float | None:
    """The threshold the loaded model was trained with (config.yml may have moved on since)."""
    metadata = getattr(agent.processor, "model_metadata", None)
    for node in metadata.predict_schema.nodes.values() if metadata else []:
        if node.uses.__name__ == "FallbackClassifier":
            return float(node.config.get("threshold", 0.3))
    return None


def emergency_of(parse: Parse) -> str | None:
    """The emergency category the model reported, or None (the contract: no entity, no emergency)."""
    for entity in parse.get("entities") or []:
        if entity.get("entity") == EMERGENCY_ENTITY:
            return str(entity.get("value"))
    return None


def ood_outcomes(parse: Parse, threshold: float) -> list[str]:
    """What an unrelated turn, sent as a conversation's first message, would wrongly get:
    'document', 'booking' and/or 'emergency'.

    A document answer is what action_answer_kb gives on a first turn: a knowledge-base intent
    and an exit-entry word in the text (without one it asks what the question is about, and a
    bare follow-up like "那小孩呢" has nothing to follow).
    """
    from actions.kb import INTENT_ASPECT
    from bot.vocabulary import domain_cues

    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "")
    confident = float(intent.get("confidence") or 0.0) > threshold
    outcomes = []
    if confident and name in INTENT_ASPECT and domain_cues(str(parse.get("text") or "")):
        outcomes.append("document")
    if confident and name in BOOKING_INTENTS:
        outcomes.append("booking")
    if emergency_of(parse):
        outcomes.append("emergency")
    return outcomes


def _texts(items: Iterable[Any]) -> list[str]:
    out = []
    for item in items or []:
        text = item.get("text") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            out.append(text)
    return out


def parse_emergency_set(data: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(text, category) positives and near-miss texts from the labelled emergency file.

    Accepts the shapes a YAML author reaches for: categories at top level or under
    `categories`/`emergencies`, items as strings or {text: …}, near misses under `near_misses`;
    or a flat list of {text, category} where a null category is a near miss.
    """
    positives: list[tuple[str, str]] = []
    near: list[str] = []
    if isinstance(data, list):
        for item in data:
            if not isinstance(item, dict) or not item.get("text"):
                continue
            category = item.get("category") or item.get("emergency_type")
            if category:
                positives.append((str(item["text"]), str(category)))
            else:
                near.append(str(item["text"]))
        return positives, near
    if not isinstance(data, dict):
        raise ValueError("emergency set: expected a mapping or a list")
    groups: dict[str, Any] = {}
    for key in ("categories", "emergencies", "positives"):
        if isinstance(data.get(key), dict):
            groups.update(data[key])
    groups.update({k: v for k, v in data.items() if k in EMERGENCY_CATEGORIES})
    for category, items in groups.items():
        positives.extend((text, str(category)) for text in _texts(items))
    for key in NEAR_MISS_KEYS:
        value = data.get(key)
        if isinstance(value, dict):  # near misses grouped by reason
            for items in value.values():
                near.extend(_texts(items))
        else:
            near.extend(_texts(value))
    return positives, near


def emergency_figures(
    positives: Sequence[tuple[str, str]],
    positive_found: Sequence[str | None],
    near_found: Sequence[str | None],
) -> dict[str, Any]:
    """Recall, category accuracy (over all positives) and the near-miss false-alarm rate."""
    detected = [f is not None for f in positive_found]
    correct = [f == cat for (_, cat), f in zip(positives, positive_found)]
    alarms = sum(f is not None for f in near_found)
    n_pos, n_near = len(positives), len(near_found)
    return {
        "positives": n_pos,
        "near_misses": n_near,
        "recall": sum(detected) / n_pos if n_pos else None,
        "category_accuracy": sum(correct) / n_pos if n_pos else None,
        "category_accuracy_when_detected": sum(correct) / sum(detected) if any(detected) else None,
        "near_miss_false_alarms": alarms,
        "near_miss_false_alarm_rate": alarms / n_near if n_near else None,
    }


# ----- I/O ------------------------------------------------------------------------------------


def load_holdout(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs; entity annotations are stripped by Rasa's own loader."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def _slim(parse: Parse) -> Parse:
    intent = parse.get("intent") or {}
    return {
        "text": parse.get("text"),
        "intent": {
            "name": intent.get("name"),
            "confidence": round(float(intent.get("confidence") or 0), 4),
        },
        "entities": [
            {"entity": e.get("entity"), "value": e.get("value")}
            for e in parse.get("entities") or []
            if e.get("entity") == EMERGENCY_ENTITY
        ],
        "emergency_ask": bool(parse.get("emergency_ask")),
    }


async def parse_all(agent: Any, texts: Sequence[str], batch: int = 64) -> list[Parse]:
    """Parse texts in gathered batches (inference is CPU-bound; batching bounds pending tasks)."""
    out: list[Parse] = []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        parsed = await asyncio.gather(*(agent.parse_message(t) for t in chunk))
        out.extend(_slim(p) for p in parsed)
    return out


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# ----- the three evaluations ------------------------------------------------------------------


async def eval_holdout(agent: Any, path: Path) -> dict[str, Any] | None:
    if not path.exists():
        print(f"[skip] held-out NLU file {path.relative_to(ROOT)} not found")
        return None
    pairs = load_holdout(path)
    parses = await parse_all(agent, [t for t, _ in pairs])
    gold = [g for _, g in pairs]
    predicted = [str(p["intent"]["name"]) for p in parses]
    scores: dict[str, LabelScore] = per_label_scores(gold, predicted)
    macro = macro_f1(scores)
    errors = [
        {"text": t, "gold": g, "predicted": p, "confidence": q["intent"]["confidence"]}
        for (t, g), p, q in zip(pairs, predicted, parses)
        if g != p
    ]
    print(f"\nHeld-out intents ({path.relative_to(ROOT)}, {len(pairs)} examples)")
    print(f"{'intent':<24}{'prec':>7}{'rec':>7}{'F1':>7}{'n':>6}")
    for label, s in scores.items():
        print(
            f"{label:<24}{s['precision']:>7.3f}{s['recall']:>7.3f}{s['f1']:>7.3f}{s['support']:>6}"
        )
    print(
        f"{'macro-F1':<24}{macro:>21.3f}   target ≥ {TARGETS['macro_f1']}  "
        f"{_mark(macro >= TARGETS['macro_f1'])}"
    )
    print(
        f"accuracy {accuracy(gold, predicted):.3f}; "
        f"nlu_fallback {predicted.count('nlu_fallback')} of {len(predicted)}"
    )
    return {
        "file": str(path.relative_to(ROOT)),
        "examples": len(pairs),
        "per_intent": scores,
        "macro_f1": macro,
        "accuracy": accuracy(gold, predicted),
        "fallbacks": predicted.count("nlu_fallback"),
        "errors": errors[:50],
        "target_macro_f1": TARGETS["macro_f1"],
        "pass": macro >= TARGETS["macro_f1"],
    }


async def eval_ood(
    agent: Any, path: Path, threshold: float, limit: int | None
) -> dict[str, Any] | None:
    if not path.exists():
        print(f"\n[skip] unrelated turns file {path} not found")
        return None
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = lines[:limit] if limit else lines
    started = time.perf_counter()
    parses = await parse_all(agent, lines)
    elapsed = time.perf_counter() - started
    counts = {"document": 0, "booking": 0, "emergency": 0, "in_domain": 0, "emergency_ask": 0}
    offenders: list[dict[str, Any]] = []
    asked: list[str] = []
    for text, parse in zip(lines, parses):
        if parse.get("emergency_ask"):
            counts["emergency_ask"] += 1
            asked.append(text)
        outcomes = ood_outcomes(parse, threshold)
        for outcome in outcomes:
            counts[outcome] += 1
        if outcomes:
            counts["in_domain"] += 1
            offenders.append(
                {
                    "text": text,
                    "intent": parse["intent"]["name"],
                    "confidence": parse["intent"]["confidence"],
                    "emergency_type": emergency_of(parse),
                    "as": outcomes,
                }
            )
    n = len(lines)
    rates = {k: v / n for k, v in counts.items()}
    offenders.sort(key=lambda o: o["emergency_type"] is None)  # emergencies first
    in_ok = rates["in_domain"] <= TARGETS["ood_in_domain_rate"]
    em_ok = counts["emergency"] <= TARGETS["ood_emergency_max"]
    print(
        f"\nUnrelated turns ({path.name}, {n} lines, {elapsed:.0f} s, fallback threshold {threshold})"
    )
    for key in ("document", "booking", "emergency"):
        print(f"  {key:<12}{counts[key]:>6}  {rates[key]:7.2%}")
    print(
        f"  {'any (in domain)':<12}{counts['in_domain']:>6}  {rates['in_domain']:7.2%}   "
        f"target ≤ {TARGETS['ood_in_domain_rate']:.0%}  {_mark(in_ok)}"
    )
    print(
        f"  emergency false alarms {counts['emergency']}   target ≤ {TARGETS['ood_emergency_max']}  "
        f"{_mark(em_ok)}"
    )
    for o in offenders[:MAX_EXAMPLES]:
        print(
            f"    {'/'.join(o['as']):<20}{o['intent']:<22}{o['confidence']:.2f}  {o['text'][:60]}"
        )
    print(f"  emergency asks {counts['emergency_ask']}")
    for text in asked[:MAX_EXAMPLES]:
        print(f"    ask  {text[:60]}")
    return {
        "file": str(path),
        "lines": n,
        "seconds": round(elapsed, 1),
        "fallback_threshold": threshold,
        "counts": counts,
        "rates": rates,
        "examples": offenders[:MAX_EXAMPLES],
        "asked": asked[:MAX_EXAMPLES],
        "pass_in_domain": in_ok,
        "pass_emergency": em_ok,
    }


async def eval_emergency(agent: Any, path: Path) -> dict[str, Any] | None:
    if not path.exists():
        print(f"\n[skip] emergency test set {path.relative_to(ROOT)} not found")
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    positives, near = parse_emergency_set(data)
    robust, _ = (
        parse_emergency_set(data.get("robustness") or []) if isinstance(data, dict) else ([], [])
    )
    pos_parses = await parse_all(agent, [t for t, _ in positives])
    near_parses = await parse_all(agent, near)
    pos_found = [emergency_of(p) for p in pos_parses]
    near_found = [emergency_of(p) for p in near_parses]
    figures = emergency_figures(positives, pos_found, near_found)
    figures["misses"] = [
        {"text": t, "expected": c, "got": f} for (t, c), f in zip(positives, pos_found) if f != c
    ][:MAX_EXAMPLES]
    figures["false_alarms"] = [{"text": t, "got": f} for t, f in zip(near, near_found) if f][
        :MAX_EXAMPLES
    ]
    if robust:  # garbage, spacing, traditional script: each must keep its category
        robust_found = [emergency_of(p) for p in await parse_all(agent, [t for t, _ in robust])]
        figures["robustness"] = {
            "total": len(robust),
            "correct": sum(f == c for (_, c), f in zip(robust, robust_found)),
            "failures": [
                {"text": t, "expected": c, "got": f}
                for (t, c), f in zip(robust, robust_found)
                if f != c
            ],
        }
    checks = [
        ("recall", "emergency_recall", True),
        ("category_accuracy", "emergency_category_accuracy", True),
        ("near_miss_false_alarm_rate", "near_miss_false_alarm_rate", False),
    ]
    print(
        f"\nEmergency set ({path.relative_to(ROOT)}: {len(positives)} emergencies, {len(near)} near misses)"
    )
    for key, target_key, at_least in checks:
        value, target = figures[key], TARGETS[target_key]
        ok = value is not None and (value >= target if at_least else value <= target)
        figures[f"pass_{key}"] = ok
        print(
            f"  {key:<28}{_fmt(value):>7}   target {'≥' if at_least else '≤'} {target}  {_mark(ok)}"
        )
    if robust:
        print(
            f"  {'robustness (correct/total)':<28}{figures['robustness']['correct']:>4}/{len(robust)}"
        )
    for m in figures["misses"]:
        print(f"    miss   {m['expected']:<24}→ {str(m['got']):<24}{m['text'][:50]}")
    for m in figures["false_alarms"]:
        print(f"    alarm  {str(m['got']):<24}{m['text'][:50]}")
    return figures


# ----- emergencies: detect / ask / none (the ask band) -----------------------------------------


def band_of(parse: Parse) -> str:
    """detect (an emergency_type entity), ask (the ask band) or none."""
    if emergency_of(parse):
        return "detect"
    return "ask" if parse.get("emergency_ask") else "none"


def band_figures(
    positives: Sequence[tuple[str, str]],
    positive_parses: Sequence[Parse],
    near_parses: Sequence[Parse],
) -> dict[str, Any]:
    """Category accuracy, detected-or-asked, near-miss false alarms and asks of one split."""
    bands = [band_of(p) for p in positive_parses]
    correct = sum(emergency_of(p) == c for (_, c), p in zip(positives, positive_parses))
    near = [band_of(p) for p in near_parses]
    n_pos, n_near = len(positives), len(near)
    return {
        "positives": n_pos,
        "near_misses": n_near,
        "recall": bands.count("detect") / n_pos if n_pos else None,
        "category_accuracy": correct / n_pos if n_pos else None,
        "asked": bands.count("ask"),
        "detected_or_asked": (n_pos - bands.count("none")) / n_pos if n_pos else None,
        "near_miss_false_alarm_rate": near.count("detect") / n_near if n_near else None,
        "near_miss_ask_rate": near.count("ask") / n_near if n_near else None,
        "misses": [
            {"text": t, "expected": c, "got": emergency_of(p), "band": band_of(p)}
            for (t, c), p in zip(positives, positive_parses)
            if emergency_of(p) != c
        ][:MAX_EXAMPLES],
        "near_miss_flagged": [
            {"text": t, "band": b}
            for t, b in zip([p["text"] for p in near_parses], near)
            if b != "none"
        ][:MAX_EXAMPLES],
    }


def _band_line(name: str, value: float | None, target: float, at_least: bool) -> bool:
    ok = value is not None and (value >= target if at_least else value <= target)
    print(f"  {name:<30}{_fmt(value):>7}   target {'≥' if at_least else '≤'} {target}  {_mark(ok)}")
    return ok


async def eval_emergency_bands(
    agent: Any, splits: Sequence[Path], holdout: Path, ood: dict[str, Any] | None
) -> dict[str, Any]:
    """The ask band on the held-out emergency splits, ordinary held-out questions and the OOD file."""
    report: dict[str, Any] = {"splits": {}}
    for path in splits:
        if not path.exists():
            continue
        positives, near = parse_emergency_set(yaml.safe_load(path.read_text(encoding="utf-8")))
        figures = band_figures(
            positives,
            await parse_all(agent, [t for t, _ in positives]),
            await parse_all(agent, near),
        )
        report["splits"][path.name] = figures
        print(
            f"\nEmergency bands ({path.relative_to(ROOT)}: {len(positives)} emergencies, {len(near)} near misses)"
        )
        for key, at_least in (
            ("category_accuracy", True),
            ("detected_or_asked", True),
            ("near_miss_false_alarm_rate", False),
            ("near_miss_ask_rate", False),
        ):
            figures[f"pass_{key}"] = _band_line(key, figures[key], BAND_TARGETS[key], at_least)
        print(f"  recall (detected) {_fmt(figures['recall'])}; asked {figures['asked']}")
        for m in figures["misses"]:
            print(
                f"    miss   {m['expected']:<24}→ {str(m['got']):<24}{m['band']:<7}{m['text'][:50]}"
            )
        for m in figures["near_miss_flagged"]:
            print(f"    {m['band']:<7}{m['text'][:60]}")
    if holdout.exists():
        ordinary = [t for t, intent in load_holdout(holdout) if intent not in EMERGENCY_INTENTS]
        bands = [band_of(p) for p in await parse_all(agent, ordinary)]
        report["ordinary"] = {
            "file": str(holdout.relative_to(ROOT)),
            "questions": len(ordinary),
            "asks": bands.count("ask"),
            "detections": bands.count("detect"),
            "ask_rate": bands.count("ask") / len(ordinary) if ordinary else None,
        }
        print(
            f"\nOrdinary held-out questions ({len(ordinary)}): asks {bands.count('ask')}, "
            f"detections {bands.count('detect')}"
        )
        report["ordinary"]["pass"] = _band_line(
            "ordinary_ask_rate",
            report["ordinary"]["ask_rate"],
            BAND_TARGETS["ordinary_ask_rate"],
            False,
        )
    if ood:
        n = ood["lines"]
        fa, asks = ood["counts"]["emergency"], ood["counts"].get("emergency_ask", 0)
        report["ood"] = {"lines": n, "false_alarms": fa, "asks": asks}
        print(f"\nUnrelated turns ({n}): emergency false alarms {fa}, asks {asks}")
        report["ood"]["pass_false_alarms"] = _band_line(
            "ood_false_alarm_rate", fa / n, BAND_TARGETS["ood_false_alarm_rate"], False
        )
        report["ood"]["pass_asks"] = _band_line(
            "ood_ask_rate", asks / n, BAND_TARGETS["ood_ask_rate"], False
        )
    return report


async def run(model: Path, out: Path, ood_limit: int | None) -> dict[str, Any]:
    from scripts.eval_real import action_server

    # The real questions are full turns and need custom actions; parsing ignores the endpoint.
    with action_server() as action_url:
        return await _run(model, out, ood_limit, action_url)


async def _run(model: Path, out: Path, ood_limit: int | None, action_url: str) -> dict[str, Any]:
    from scripts.eval_real import REAL_HELDOUT_SETS, eval_real, load_turn_agent

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    print(f"Loading {model} …")
    started = time.perf_counter()
    agent = await load_turn_agent(model, action_url)
    print(f"Loaded in {time.perf_counter() - started:.0f} s")
    threshold = model_fallback_threshold(agent)
    threshold = fallback_threshold(config) if threshold is None else threshold
    report = {
        "model": str(model.resolve().name),
        "holdout": await eval_holdout(agent, HOLDOUT),
        "ood": await eval_ood(agent, OOD, threshold, ood_limit),
        "emergency": await eval_emergency(agent, EMERGENCY_SET),
        **{name: await eval_real(agent, path) for name, path in REAL_HELDOUT_SETS.items()},
        "targets": TARGETS,
    }
    report["emergency_bands"] = await eval_emergency_bands(
        agent, EMERGENCY_HELDOUT, HOLDOUT, report["ood"]
    )
    report["band_targets"] = BAND_TARGETS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nWrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return report


def quiet_logging() -> None:
    """Warnings only: Rasa logs one debug line per parse otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    for name in ("tensorflow", "absl", "jieba"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="only the first 300 unrelated turns")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model}: run `make train` first")
        return 1
    quiet_logging()
    asyncio.run(run(args.model, args.out, 300 if args.quick else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
