"""What an unsure message still says: the readings a citizen may have meant.

DIET is unsure about wordings it never saw ("台胞证要怎么弄"), yet the vocabulary recognises
the service and the wording says what is asked ("怎么弄": how to apply, i.e. the documents).
This module turns DIET's intent ranking, the recognised entities and the wording cues of
data/kb/understanding.yml into readings (an intent plus the entities that go with it):
- `resolve` is the one reading the wording (or, failing that, a named detail such as 换发)
  picks out (used in the NLU pipeline, so every channel and the hall-guide console get it);
- `readings` ranks the few the two-stage fallback offers as buttons;
- `is_how_to` tells the documents answer to give the overview.
All text a citizen reads (labels, lines) is data; this module only chooses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from bot.text import normalize

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
#: Entities that say what a message is about; one of them makes an unsure message readable.
SUBJECT_ENTITIES = ("service", "applicant_type", "apply_kind", "endorsement_type", "destination")
#: Entities a reading's button carries along, so the answer keeps the details given.
CARRIED_ENTITIES = SUBJECT_ENTITIES + ("place",)
#: Entities that make a message an exit-entry question on their own, so it may be answered.
ANCHOR_ENTITIES = ("service", "destination")
DOCUMENTS_INTENT = "ask_documents"


@dataclass(frozen=True)
class SubjectIntent:
    """understanding.yml `subject_intents`: a named detail that says which question is meant."""

    entity: str
    intent: str
    value: Optional[str] = None

    def matches(self, found: Mapping[str, Sequence[str]]) -> bool:
        values = found.get(self.entity) or ()
        return bool(values) and (self.value is None or self.value in values)


@dataclass(frozen=True)
class Narrowing:
    """understanding.yml `narrowing`: a named detail that narrows the question asked to another."""

    entity: str
    asked: str
    intent: str


@dataclass(frozen=True)
class Understanding:
    """data/kb/understanding.yml, parsed (see that file for what each part means)."""

    min_confidence: float
    max_readings: int
    service_names: Mapping[str, str]
    labels: Mapping[str, str]
    service_labels: Mapping[str, str]
    service_defaults: tuple[str, ...]
    how_to: tuple[str, ...]
    cues: Mapping[str, tuple[str, ...]]
    overview_more: tuple[str, ...]
    overview_lines: Mapping[str, str]
    none_of_these: str
    labels_en: Mapping[str, str] = field(default_factory=dict)
    none_of_these_en: str = ""
    subject_intents: tuple[SubjectIntent, ...] = ()
    narrowing: tuple[Narrowing, ...] = ()

    # ------------------------------------------------------------------ wording

    def cue_intents(self, text: str) -> list[str]:
        """Intents whose strong cues occur in `text`, in file order."""
        norm = normalize(text).lower()
        return [intent for intent, words in self.cues.items() if any(w in norm for w in words)]

    def is_how_to(self, text: str) -> bool:
        """ "怎么办理 / 要准备什么 / 流程": the citizen asks how to apply."""
        norm = normalize(text).lower()
        return any(w in norm for w in self.how_to)

    def wording_intent(
        self, text: str, entities: Sequence[Mapping[str, Any]] = ()
    ) -> Optional[str]:
        """The single intent the wording names: one strong cue, else a how-to, else what a
        named detail implies (`subject_intents`); None if unclear."""
        strong = self.cue_intents(text)
        if len(strong) == 1:
            return strong[0]
        if strong:
            return None
        if self.is_how_to(text):
            return DOCUMENTS_INTENT
        return self.subject_intent(entities)

    def subject_intent(self, entities: Sequence[Mapping[str, Any]]) -> Optional[str]:
        """The intent the first matching `subject_intents` rule gives the named entities."""
        found: dict[str, list[str]] = {}
        for entity in entities or []:
            found.setdefault(str(entity.get("entity")), []).append(str(entity.get("value")))
        return next((rule.intent for rule in self.subject_intents if rule.matches(found)), None)

    def narrowed(
        self, intent: Optional[str], entities: Sequence[Mapping[str, Any]]
    ) -> Optional[str]:
        """The question `intent` becomes once a detail is named (`narrowing`), else `intent`."""
        named = {str(entity.get("entity")) for entity in entities or []}
        return next(
            (
                rule.intent
                for rule in self.narrowing
                if rule.asked == intent and rule.entity in named
            ),
            intent,
        )

    # ------------------------------------------------------------------ labels

    def label(self, intent: str, service: Optional[str]) -> str:
        """A button title: "港澳通行证的费用" when the service is known, else "费用"."""
        name = self.service_names.get(service or "")
        template = self.service_labels.get(intent) if name else None
        return template.replace("{service}", name) if template and name else self.labels[intent]


def subjects(entities: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The first value of each carried entity (service, applicant, …) in a parse."""
    found: dict[str, str] = {}
    for entity in entities or []:
        name = entity.get("entity")
        if name in CARRIED_ENTITIES and entity.get("value") is not None:
            found.setdefault(str(name), str(entity["value"]))
    return found


def has_subject(found: Mapping[str, str]) -> bool:
    """True when a service, destination or topic was named (a question has a subject)."""
    return any(name in found for name in SUBJECT_ENTITIES)


def resolve(
    intent: Optional[str],
    entities: Sequence[Mapping[str, Any]],
    text: str,
    understanding: Understanding,
) -> Optional[str]:
    """The intent an unsure message means, when what it names and its wording leave one reading.

    Only nlu_fallback is resolved, or out_of_scope (DIET learnt "要怎么弄" from chit-chat),
    and only when a service or a destination is named: an applicant or a kind of application
    alone ("带孩子出去玩", "钱包丢了怎么办") is no exit-entry question yet, so those get the
    two-stage fallback's question instead of an answer. An emergency is never touched.
    """
    found = subjects(entities)
    if any(e.get("entity") == "emergency_type" for e in entities):
        return None
    if intent not in (FALLBACK_INTENT, OUT_OF_SCOPE_INTENT):
        return None
    if not any(name in found for name in ANCHOR_ENTITIES):
        return None
    return understanding.wording_intent(text, entities)


@dataclass(frozen=True)
class Reading:
    intent: str
    entities: Mapping[str, str]

    def payload(self) -> str:
        """ "/ask_fee{"service":"passport"}": the button replays the reading as a message."""
        if not self.entities:
            return f"/{self.intent}"
        return f"/{self.intent}" + json.dumps(
            dict(self.entities), ensure_ascii=False, separators=(",", ":")
        )


def readings(
    ranking: Sequence[Mapping[str, Any]],
    entities: Sequence[Mapping[str, Any]],
    text: str,
    understanding: Understanding,
    known_service: Optional[str] = None,
) -> list[Reading]:
    """The top readings of an unsure message, best first; empty when nothing is recognised.

    Order: what the wording names (in DIET's order), then DIET's own ranking above
    `min_confidence`, then, when a service is named or already known, the defaults for a
    service (documents, fee, booking), as rasa-demo's affirmation offers the top intents.
    """
    found = subjects(entities)
    rank = {str(r.get("name")): i for i, r in enumerate(ranking)}
    offered = [r for r in understanding.cue_intents(text) if r in understanding.labels]
    offered.sort(key=lambda name: rank.get(name, len(rank)))
    if understanding.is_how_to(text) and (has_subject(found) or known_service):
        offered.append(DOCUMENTS_INTENT)
    implied = understanding.subject_intent(entities)
    if implied is not None and implied in understanding.labels:
        offered.append(implied)
    for entry in ranking:
        name = str(entry.get("name"))
        if (
            name in understanding.labels
            and float(entry.get("confidence") or 0.0) >= understanding.min_confidence
        ):
            offered.append(name)
    if "service" in found or known_service:
        offered.extend(understanding.service_defaults)
    unique = list(dict.fromkeys(offered))[: understanding.max_readings]
    return [Reading(intent, found) for intent in unique]


def parse_understanding(doc: Mapping[str, Any], file: str) -> Understanding:
    """Validate understanding.yml; a broken file fails at start-up, naming the key."""

    def need(cond: bool, key: str, why: str) -> None:
        if not cond:
            raise ValueError(f"{file}: {key}: {why}")

    def words(value: Any, key: str) -> tuple[str, ...]:
        need(
            isinstance(value, list) and all(isinstance(w, str) and w for w in value),
            key,
            "must be a list of non-empty strings",
        )
        return tuple(value)

    readings_raw = doc.get("readings")
    need(
        isinstance(readings_raw, dict) and bool(readings_raw),
        "readings",
        "must map intents to labels",
    )
    assert isinstance(readings_raw, dict)
    labels: dict[str, str] = {}
    labels_en: dict[str, str] = {}
    service_labels: dict[str, str] = {}
    for intent, entry in readings_raw.items():
        need(
            isinstance(entry, dict) and isinstance(entry.get("label"), str),
            f"readings.{intent}",
            "needs a label",
        )
        labels[str(intent)] = entry["label"]
        if entry.get("label_en"):
            labels_en[str(intent)] = str(entry["label_en"])
        if entry.get("with_service"):
            need(
                "{service}" in entry["with_service"],
                f"readings.{intent}.with_service",
                "must contain {service}",
            )
            service_labels[str(intent)] = entry["with_service"]
    cues_raw = doc.get("cues") or {}
    need(isinstance(cues_raw, dict), "cues", "must map intents to words")
    cues = {str(k): words(v, f"cues.{k}") for k, v in cues_raw.items()}
    lines = doc.get("overview_lines") or {}
    need(
        isinstance(lines, dict) and {"fee", "time"} <= set(lines),
        "overview_lines",
        "needs fee and time",
    )
    defaults = words(doc.get("service_defaults"), "service_defaults")
    more = words(doc.get("overview_more"), "overview_more")
    for key, names in (
        ("service_defaults", defaults),
        ("overview_more", more),
        ("cues", tuple(cues)),
    ):
        unknown = [n for n in names if n not in labels]
        need(not unknown, key, f"intents without a label under readings: {unknown}")
    subject_raw = doc.get("subject_intents") or []
    need(isinstance(subject_raw, list), "subject_intents", "must be a list of rules")
    subject_intents = []
    for index, rule in enumerate(subject_raw):
        key = f"subject_intents[{index}]"
        need(
            isinstance(rule, dict) and bool(rule.get("entity")) and rule.get("intent") in labels,
            key,
            "needs an entity and an intent with a label under readings",
        )
        value = None if rule.get("value") is None else str(rule["value"])
        subject_intents.append(SubjectIntent(str(rule["entity"]), str(rule["intent"]), value))
    narrowing_raw = doc.get("narrowing") or []
    need(isinstance(narrowing_raw, list), "narrowing", "must be a list of rules")
    narrowing = []
    for index, rule in enumerate(narrowing_raw):
        need(
            isinstance(rule, dict)
            and bool(rule.get("entity"))
            and rule.get("asked") in labels
            and rule.get("intent") in labels,
            f"narrowing[{index}]",
            "needs an entity, and an asked intent and an intent with labels under readings",
        )
        narrowing.append(Narrowing(str(rule["entity"]), str(rule["asked"]), str(rule["intent"])))
    service_names = doc.get("service_names")
    need(
        isinstance(service_names, dict) and bool(service_names),
        "service_names",
        "must map services to short names",
    )
    assert isinstance(service_names, dict)
    return Understanding(
        min_confidence=float(doc.get("min_confidence", 0.15)),
        max_readings=int(doc.get("max_readings", 3)),
        service_names={str(k): str(v) for k, v in service_names.items()},
        labels=labels,
        service_labels=service_labels,
        service_defaults=defaults,
        how_to=words(doc.get("how_to"), "how_to"),
        cues=cues,
        overview_more=more,
        overview_lines={str(k): str(v) for k, v in lines.items()},
        none_of_these=str(doc.get("none_of_these") or ""),
        labels_en=labels_en,
        none_of_these_en=str(doc.get("none_of_these_en") or ""),
        subject_intents=tuple(subject_intents),
        narrowing=tuple(narrowing),
    )
