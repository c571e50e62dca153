"""Load and validate data/kb/emergency.yml: detector cues and the green-channel reply.

The detector (bot.emergency), the Rasa component (bot.nlu.emergency) and the action
(actions.emergency) all read this one file, so a cue or a proof document is changed in one
place. A schema error names the file and the key, like bot.kb.loader does for topics.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from bot.kb import loader
from bot.kb.loader import SCOPES, KBError

CATEGORIES = (
    "bereavement",
    "medical_treatment",
    "critical_illness_visit",
    "overseas_incident",
    "urgent_business",
    "contract_signing",
    "study_deadline",
    "document_lost",
    "visa_expiring",
)
# Cue kinds the detector's rules refer to; the file must define every one of them.
CUE_KINDS = (
    "expired_since",
    "relative",
    "relative_generic",
    "person",
    "self",
    "org",
    "death",
    "death_weak",
    "funeral",
    "critical",
    "illness_weak",
    "illness",
    "treatment",
    "incident",
    "business",
    "business_weak",
    "contract",
    "study",
    "document",
    "doc_loss",
    "visa",
    "expiring",
    "abroad",
    "travel",
    "visit",
    "urgency",
    "urgency_request",
    "far",
    "idiom",
    "urgency_negation",
    "negation",
    "contrast",
    "past",
    "past_after",
    "recency",
    "hypothetical",
    "worry",
    "fiction",
    "others",
    "pet",
    "question",
    "gc_term",
    "stay_in_china",
)
CONTEXT_RULES = (
    "negation",
    "urgency_negation",
    "past",
    "past_after",
    "hypothetical",
    "worry",
    "fiction",
    "others",
    "pet",
)
# The confidence of each rule's finding, by what stands beside its event cue
# (`detector.confidence` in the file; bot.emergency's rules read these names).
CONFIDENCE_KEYS: Mapping[str, tuple[str, ...]] = {
    "bereavement": (
        "death_with_person",
        "death_with_family",
        "death_with_context",
        "death_alone",
        "weak_death_with_context",
        "weak_death",
        "funeral_with_person",
        "funeral",
    ),
    "medical_treatment": ("with_illness", "with_person_pressed", "alone"),
    "critical_illness_visit": (
        "critical_with_person",
        "critical_with_family",
        "critical_abroad_going",
        "critical_alone",
        "weak_with_person_abroad_going",
        "weak",
    ),
    "overseas_incident": (
        "abroad_with_person",
        "abroad",
        "person_travelling_pressed",
        "named_person",
        "alone",
    ),
    "purpose": (
        "near_date_with_need",
        "pressed_with_need",
        "urgent_without_need",
        "alone",
        "weak_pressed",
        "weak_cap",
    ),
    "visa_expiring": (
        "far_date",
        "near_date_or_document_pressed",
        "document_or_pressed",
        "alone",
        "stay_in_china",
    ),
    "document_lost": ("near_date", "pressed", "alone"),
}
# Characters single rules reach (`detector.reach`), shorter than the window.
REACH_KEYS = (
    "weak_death_person",
    "visa_expiring",
    "visa_far_date",
    "lost_document",
    "purpose_destination",
)
FILE = "emergency.yml"


@dataclass(frozen=True)
class CueSpec:
    """The phrases of one cue kind. See the header of data/kb/emergency.yml."""

    phrases: tuple[str, ...] = ()
    token_phrases: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    chars: int
    side: str  # before | after | both


@dataclass(frozen=True)
class DetectorSettings:
    min_confidence: float
    ask_confidence: float  # a finding in [ask_confidence, min_confidence) is asked about
    window: int
    intent_boost: float
    intent_penalty: float
    context_scope: Mapping[str, Scope]
    confidence: Mapping[str, Mapping[str, float]]  # rule group → finding → confidence
    reach: Mapping[str, int]
    urgency_reach_factor: float  # × window: how far urgency reaches for some rules


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    name: str
    condolence: str
    who: str
    proofs: tuple[str, ...]
    sources: tuple[str, ...]
    as_of: dt.date
    scope: str


@dataclass(frozen=True)
class Sourced:
    text: str
    sources: tuple[str, ...]
    as_of: dt.date
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmergencyKB:
    settings: DetectorSettings
    cues: Mapping[str, CueSpec]
    categories: Mapping[str, CategoryInfo]
    speed: Sourced
    hotline: Sourced
    application_form: str
    raw_patterns: Mapping[str, Any]

    def patterns_document(self) -> dict[str, Any]:
        """`detector` and `cues` as plain data: what a trained model stores."""
        return dict(self.raw_patterns)


def _require(cond: bool, key: str, why: str) -> None:
    loader.require(cond, FILE, key, why)


def _date(value: Any, key: str) -> dt.date:
    return loader.as_date(value, FILE, key)


def _strings(value: Any, key: str, allow_empty: bool = True) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    _require(
        isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value),
        key,
        "must be a list of non-empty strings",
    )
    _require(allow_empty or bool(value), key, "must not be empty")
    return tuple(str(v) for v in value)


def _positive(value: Any, key: str) -> float:
    _require(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
        key,
        "must be a positive number",
    )
    return float(value)


def _confidences(raw: Any) -> dict[str, dict[str, float]]:
    """`detector.confidence`: exactly the names of CONFIDENCE_KEYS, each in (0, 1]."""
    _require(isinstance(raw, dict), "detector.confidence", "missing or not a mapping")
    unknown = set(raw) - set(CONFIDENCE_KEYS)
    _require(not unknown, "detector.confidence", f"unknown rules {sorted(unknown)}")
    out: dict[str, dict[str, float]] = {}
    for group, names in CONFIDENCE_KEYS.items():
        entry = raw.get(group)
        key = f"detector.confidence.{group}"
        _require(isinstance(entry, dict), key, "missing or not a mapping")
        unknown = set(entry) - set(names)
        why = f"unknown findings {sorted(unknown)}; the rules would ignore them"
        _require(not unknown, key, why)
        values: dict[str, float] = {}
        for name in names:
            value = entry.get(name)
            _require(
                isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1,
                f"{key}.{name}",
                "missing or not in (0, 1]",
            )
            values[name] = float(value)
        out[group] = values
    return out


def _reaches(raw: Any) -> dict[str, int]:
    """`detector.reach`: exactly REACH_KEYS, each a positive number of characters."""
    _require(isinstance(raw, dict), "detector.reach", "missing or not a mapping")
    unknown = set(raw) - set(REACH_KEYS)
    _require(not unknown, "detector.reach", f"unknown reaches {sorted(unknown)}")
    out: dict[str, int] = {}
    for name in REACH_KEYS:
        value = raw.get(name)
        _require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"detector.reach.{name}",
            "missing or not a positive int",
        )
        out[name] = value
    return out


def parse_patterns(doc: Mapping[str, Any]) -> tuple[DetectorSettings, dict[str, CueSpec]]:
    """Validate the `detector` and `cues` sections (also used on a model's stored copy)."""
    det: Any = doc.get("detector")
    _require(isinstance(det, dict), "detector", "missing or not a mapping")
    required = (
        "min_confidence",
        "ask_confidence",
        "window",
        "intent_boost",
        "intent_penalty",
        "context_scope",
    )
    for name in required:
        _require(name in det, f"detector.{name}", "missing")
    _require(0 < float(det["min_confidence"]) <= 1, "detector.min_confidence", "must be in (0, 1]")
    _require(
        0 < float(det["ask_confidence"]) <= float(det["min_confidence"]),
        "detector.ask_confidence",
        "must be in (0, min_confidence]",
    )
    learned = det.get("learned")
    _require(isinstance(learned, dict), "detector.learned", "missing or not a mapping")
    for name in ("lift", "detect", "ask", "veto"):
        value = learned.get(name)
        _require(
            isinstance(value, (int, float)) and 0 < value <= 1,
            f"detector.learned.{name}",
            "must be in (0, 1]",
        )
    _require(int(det["window"]) > 0, "detector.window", "must be positive")
    scopes: dict[str, Scope] = {}
    raw_scopes = det["context_scope"]
    _require(isinstance(raw_scopes, dict), "detector.context_scope", "must be a mapping")
    for rule in CONTEXT_RULES:
        entry = raw_scopes.get(rule)
        key = f"detector.context_scope.{rule}"
        _require(isinstance(entry, dict), key, "missing or not a mapping")
        chars_ok = isinstance(entry.get("chars"), int) and entry["chars"] > 0
        _require(chars_ok, key, "chars must be a positive int")
        side_ok = entry.get("side") in ("before", "after", "both")
        _require(side_ok, key, "side must be before|after|both")
        scopes[rule] = Scope(chars=entry["chars"], side=entry["side"])
    settings = DetectorSettings(
        min_confidence=float(det["min_confidence"]),
        ask_confidence=float(det["ask_confidence"]),
        window=int(det["window"]),
        intent_boost=float(det["intent_boost"]),
        intent_penalty=float(det["intent_penalty"]),
        context_scope=scopes,
        confidence=_confidences(det.get("confidence")),
        reach=_reaches(det.get("reach")),
        urgency_reach_factor=_positive(
            det.get("urgency_reach_factor"), "detector.urgency_reach_factor"
        ),
    )

    raw_cues: Any = doc.get("cues")
    _require(isinstance(raw_cues, dict), "cues", "missing or not a mapping")
    cues: dict[str, CueSpec] = {}
    for kind in CUE_KINDS:
        entry = raw_cues.get(kind)
        _require(isinstance(entry, dict), f"cues.{kind}", "missing (the detector's rules use it)")
        spec = CueSpec(
            phrases=_strings(entry.get("phrases"), f"cues.{kind}.phrases"),
            token_phrases=_strings(entry.get("token_phrases"), f"cues.{kind}.token_phrases"),
            regex=_strings(entry.get("regex"), f"cues.{kind}.regex"),
        )
        has_patterns = bool(spec.phrases or spec.token_phrases or spec.regex)
        _require(has_patterns, f"cues.{kind}", "has no patterns")
        for i, pattern in enumerate(spec.regex):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise KBError(f"{FILE}: cues.{kind}.regex[{i}]: invalid regular expression: {exc}")
        cues[kind] = spec
    unknown = set(raw_cues) - set(CUE_KINDS)
    _require(
        not unknown, "cues", f"unknown kinds {sorted(unknown)}; the detector would ignore them"
    )
    return settings, cues


def _sourced(value: Any, key: str, extra_keys: tuple[str, ...] = ()) -> Sourced:
    _require(isinstance(value, dict), key, "missing or not a mapping")
    text = value.get("text")
    _require(isinstance(text, str) and text.strip() != "", f"{key}.text", "missing or empty")
    return Sourced(
        text=text.strip(),
        sources=_strings(value.get("sources"), f"{key}.sources", allow_empty=False),
        as_of=_date(value.get("as_of"), f"{key}.as_of"),
        extra={k: str(value[k]).strip() for k in extra_keys if value.get(k)},
    )


def parse_emergency(doc: Any) -> EmergencyKB:
    """Validate a whole emergency.yml document."""
    _require(isinstance(doc, dict), "(top)", "not a mapping")
    _require(doc.get("kind") == "emergency", "kind", "must be `emergency`")
    settings, cues = parse_patterns(doc)

    raw_categories = doc.get("categories")
    _require(isinstance(raw_categories, dict), "categories", "missing or not a mapping")
    _require(
        set(raw_categories) == set(CATEGORIES),
        "categories",
        f"must be exactly {list(CATEGORIES)}, got {sorted(raw_categories)}",
    )
    categories: dict[str, CategoryInfo] = {}
    for cid in CATEGORIES:
        entry = raw_categories[cid]
        key = f"categories.{cid}"
        _require(isinstance(entry, dict), key, "not a mapping")
        for name in ("name", "condolence", "who", "proofs", "sources", "as_of", "scope"):
            _require(name in entry, f"{key}.{name}", "missing")
        _require(entry["scope"] in SCOPES, f"{key}.scope", f"must be one of {SCOPES}")
        categories[cid] = CategoryInfo(
            id=cid,
            name=str(entry["name"]),
            condolence=str(entry["condolence"]).strip(),
            who=str(entry["who"]).strip(),
            proofs=_strings(entry["proofs"], f"{key}.proofs", allow_empty=False),
            sources=_strings(entry["sources"], f"{key}.sources", allow_empty=False),
            as_of=_date(entry["as_of"], f"{key}.as_of"),
            scope=str(entry["scope"]),
        )
    form = doc.get("application_form")
    _require(isinstance(form, str) and form.strip() != "", "application_form", "missing or empty")
    return EmergencyKB(
        settings=settings,
        cues=cues,
        categories=categories,
        speed=_sourced(doc.get("speed"), "speed", extra_keys=("example", "note")),
        hotline=_sourced(doc.get("hotline"), "hotline", extra_keys=("number",)),
        application_form=form.strip(),
        raw_patterns={"detector": doc["detector"], "cues": doc["cues"]},
    )


def load_emergency(path: Path | str) -> EmergencyKB:
    """Read and validate data/kb/emergency.yml (or another file of the same shape)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KBError(f"{FILE}: cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KBError(f"{FILE}: not valid YAML: {exc}") from exc
    return parse_emergency(doc)


def default_path() -> Path:
    """data/kb/emergency.yml in the configured KB directory (KB_DIR)."""
    from bot.settings import get_settings

    return get_settings().kb_dir / FILE


@lru_cache(maxsize=1)
def get_emergency_kb() -> EmergencyKB:
    """The process-wide emergency KB, loaded once from the configured KB directory."""
    return load_emergency(default_path())
