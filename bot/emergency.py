"""Emergency detection core: is this message an urgent exit-entry case, and which one?

Pure Python plus spaCy; no Rasa. The Rasa component (bot.nlu.emergency) and the hall-guide
console call the same `Detector`, so both explain a decision with the same cues.

How a decision is made (why it is rule-based): an emergency is a *combination* — a relative
plus a death, a document plus a loss plus a near date — and the harm of a false alarm on a
holiday question is as real as a miss. Cues come from data/kb/emergency.yml:

1. The text is normalised (traditional → simplified, full-width → half-width, no spaces
   between Chinese characters) keeping a map back to the caller's offsets, so cue spans
   point into the text the caller passed (Rasa's `full_text`, untruncated).
2. Cues are found two ways: `phrases` as substrings (an odd jieba segmentation inside
   garbage cannot hide 去世), and ambiguous short `token_phrases` with a spaCy
   PhraseMatcher over a blank "zh" pipeline whose jieba segmenter is a private
   `jieba.Tokenizer` (so 要是 inside 主要是 is not a hypothetical, and the NLU's user
   dictionary loaded into the global jieba cannot shift these boundaries).
3. Each category rule looks for its cue combination within `window` characters and gives a
   confidence. Context rules then block a finding: negation (没事, 脱离危险), urgency
   negation (不急), the past (去年, 三年前 — unless a recency cue such as 昨天 sits between),
   hypotheticals (如果, 万一), worry (怕), fiction (电视剧, 梦见, 纪录片 — before or after the
   event), other people's stories and news (听说, 新闻, 朋友圈), a pet as the subject, and a
   generic question about the green channel with nothing personal in it. Explicit dates
   (12月8日) count as near when they fall within a month of today.
4. The DIET intent nudges the confidence (report_emergency up, travel_plan down). The
   surviving finding with the highest priority wins if it reaches `min_confidence`.
5. Recall first: a strong finding never vanishes silently. One that context blocked, or that
   stays between `ask_confidence` and `min_confidence`, becomes an *ask* (`Analysis.ask`):
   the assistant asks once whether there is an urgent matter. A block is final (no ask) only
   when the context is unambiguous: a pet or a negated event always, and fiction, the past,
   hypotheticals, other people's stories and questions about the channel when nothing in the
   message says the user is pressed now (a near date, 马上, 刚接到电话…).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from bot.kb.emergency import CATEGORIES, CueSpec, DetectorSettings, EmergencyKB, parse_patterns
from bot.text import normalize_with_map

REPORT_INTENT = "report_emergency"
TRAVEL_INTENT = "travel_plan"
# Higher first. A death outranks an illness, a trip for treatment outranks a visit, and a
# stated purpose (meeting, contract, school) outranks a lost document; a vague 出差 comes last.
PRIORITY = (
    "bereavement",
    "medical_treatment",
    "critical_illness_visit",
    "overseas_incident",
    "critical_illness_visit_weak",
    "contract_signing",
    "study_deadline",
    "urgent_business",
    "document_lost",
    "visa_expiring",
    "urgent_business_weak",
)
# Blocks that are final whatever else the message says: a pet is not a relative, and an
# event the user negates (没事, 脱离危险) did not happen.
HARD_BLOCKS = frozenset({"negation", "pet"})
# An explicit date (12月8日, 12月20号): near when it falls within NEAR_DAYS from today.
_DATE = re.compile(r"(?<![0-9])([0-9]{1,2})月([0-9]{1,2})[日号]")
NEAR_DAYS = 31
PERSON_KINDS = ("relative", "relative_generic", "person")
SPECIFIC_PERSON_KINDS = ("relative", "person")
_SENTENCE_END = set("。！？!?；;\n…")
_CLAUSE_END = _SENTENCE_END | set("，,、：:")
# Longer texts are read as their head and tail: a chat message of 20,000 characters is
# already pasted material, and the cue that matters sits at the start or the end.
MAX_CHARS = 20_000
HEAD_CHARS = 5_000


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Cue:
    """One matched cue, with offsets in the normalised text."""

    text: str
    kind: str
    start: int
    end: int


@dataclass
class Detection:
    """The answer: one category, how sure, and why (cues) — plus what was ruled out."""

    category: str
    confidence: float
    cues: list[dict[str, Any]]
    blocked_by: list[dict[str, Any]] = field(default_factory=list)
    start: int = 0
    end: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "confidence": round(self.confidence, 3),
            "cues": self.cues,
            "blocked_by": self.blocked_by,
        }


@dataclass
class Candidate:
    rule: str  # a PRIORITY entry
    confidence: float
    anchor: Cue
    support: list[Cue]
    blocked: list[dict[str, Any]] = field(default_factory=list)
    rule_confidence: float = 0.0  # before DIET's nudge: what the ask band is judged on

    @property
    def category(self) -> str:
        return self.rule[: -len("_weak")] if self.rule.endswith("_weak") else self.rule


@dataclass
class Analysis:
    """Everything the detector saw; `detection` is None when nothing qualified.

    `ask` is set (and `detection` None) when a strong finding was lowered, not dropped:
    its `category` is the best guess, `blocked_by` says why it was not enough.
    """

    text: str
    normalized: str
    cues: list[Cue]
    candidates: list[Candidate]
    detection: Detection | None
    ask: Detection | None = None
    index: list[int] = field(default_factory=list)  # normalised offset → caller's offset

    def span(self, cue: Cue) -> tuple[int, int]:
        """A cue's offsets in the caller's text."""
        return _span(self.index, cue.start, cue.end)


# --------------------------------------------------------------------------- normalising


def _normalize_clipped(text: str) -> tuple[str, list[int]]:
    if len(text) <= MAX_CHARS:
        return normalize_with_map(text)
    tail_start = len(text) - (MAX_CHARS - HEAD_CHARS)
    head, head_index = normalize_with_map(text[:HEAD_CHARS])
    tail, tail_index = normalize_with_map(text[tail_start:])
    return head + "\n" + tail, head_index + [HEAD_CHARS - 1] + [tail_start + i for i in tail_index]


# --------------------------------------------------------------------------- cue finding


def _norm_phrase(phrase: str) -> str:
    return normalize_with_map(phrase)[0]


class CueFinder:
    """Finds cues: substring phrases and regexes directly, token phrases with spaCy."""

    def __init__(self, cues: Mapping[str, CueSpec]) -> None:
        self._regexes: list[tuple[str, re.Pattern[str]]] = []
        token_phrases: dict[str, list[str]] = {}
        for kind, spec in cues.items():
            phrases = sorted(
                {_norm_phrase(p) for p in spec.phrases} - {""}, key=lambda p: (-len(p), p)
            )
            alternatives = [re.escape(p) for p in phrases] + [f"(?:{r})" for r in spec.regex]
            if alternatives:
                self._regexes.append((kind, re.compile("|".join(alternatives))))
            toks = sorted({_norm_phrase(p) for p in spec.token_phrases} - {""})
            if toks:
                token_phrases[kind] = toks
        self._nlp, self._matcher = self._build_spacy(token_phrases)

    @staticmethod
    def _build_spacy(token_phrases: Mapping[str, Sequence[str]]) -> tuple[Any, Any]:
        import jieba
        import spacy
        from spacy.matcher import PhraseMatcher

        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        # A private segmenter: the global jieba carries the NLU user dictionary, which
        # would otherwise change where these cue words begin and end.
        segmenter = jieba.Tokenizer()
        segmenter.initialize()
        for phrases in token_phrases.values():
            for phrase in phrases:
                if len(phrase) > 1 and phrase not in segmenter.FREQ:
                    segmenter.add_word(phrase)
        nlp.tokenizer.jieba_seg = segmenter  # type: ignore[union-attr]  # spaCy's zh tokenizer
        matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        for kind, phrases in token_phrases.items():
            matcher.add(kind, [nlp.make_doc(p) for p in phrases])
        return nlp, matcher

    def find(self, text: str) -> list[Cue]:
        found: list[Cue] = []
        for kind, regex in self._regexes:
            for m in regex.finditer(text):
                found.append(Cue(m.group(0), kind, m.start(), m.end()))
        if text.strip():
            doc = self._nlp.make_doc(text)
            for match_id, start, end in self._matcher(doc):
                span = doc[start:end]
                kind = self._nlp.vocab.strings[match_id]
                found.append(Cue(span.text, kind, span.start_char, span.end_char))
        found.sort(key=lambda c: (c.start, -c.end, c.kind))
        return found


# --------------------------------------------------------------------------- the detector


class _Text:
    """Cue lookups over one normalised message."""

    def __init__(self, text: str, cues: list[Cue]) -> None:
        self.text = text
        self.cues = cues
        self.by_kind: dict[str, list[Cue]] = {}
        for cue in cues:
            self.by_kind.setdefault(cue.kind, []).append(cue)
        # Sorted starts per kind, so `near` is a bisect, not a scan: a 100k-character
        # message full of cue words must stay linear-ish.
        self._starts = {k: [c.start for c in v] for k, v in self.by_kind.items()}
        self._longest = {k: max(c.end - c.start for c in v) for k, v in self.by_kind.items()}
        self.sentence_of = self._segments(_SENTENCE_END)
        self.clause_of = self._segments(_CLAUSE_END)

    def _segments(self, ends: set[str]) -> list[int]:
        ids, current = [], 0
        for ch in self.text:
            ids.append(current)
            if ch in ends:
                current += 1
        ids.append(current)
        return ids

    def of(self, *kinds: str) -> list[Cue]:
        out: list[Cue] = []
        for kind in kinds:
            out.extend(self.by_kind.get(kind, ()))
        return out

    @staticmethod
    def gap(a: Cue, b: Cue) -> int:
        if a.end <= b.start:
            return b.start - a.end
        if b.end <= a.start:
            return a.start - b.end
        return 0

    def near(self, anchor: Cue, kinds: Iterable[str], chars: int, side: str = "both") -> list[Cue]:
        out = []
        for kind in kinds:
            found = self.by_kind.get(kind)
            if not found:
                continue
            starts = self._starts[kind]
            lo = bisect.bisect_left(starts, anchor.start - chars - self._longest[kind])
            hi = bisect.bisect_right(starts, anchor.end + chars)
            out.extend(self._filter(anchor, found[lo:hi], chars, side))
        return out

    def _filter(self, anchor: Cue, cues: Iterable[Cue], chars: int, side: str) -> list[Cue]:
        out = []
        for cue in cues:
            if cue is anchor:
                continue
            if side == "before" and cue.start >= anchor.start:
                continue
            if side == "after" and cue.end <= anchor.end:
                continue
            if self.gap(anchor, cue) <= chars:
                out.append(cue)
        return out

    def same_sentence(self, a: Cue, b: Cue) -> bool:
        return self.sentence_of[a.start] == self.sentence_of[b.start]

    def clause_span(self, cue: Cue) -> tuple[int, int]:
        return self._span_of(self.clause_of, cue)

    def sentence_span(self, cue: Cue) -> tuple[int, int]:
        return self._span_of(self.sentence_of, cue)

    def _span_of(self, ids: list[int], cue: Cue) -> tuple[int, int]:
        cid = ids[cue.start]
        lo = bisect.bisect_left(ids, cid)
        hi = bisect.bisect_right(ids, cid)
        return lo, min(hi, len(self.text))


class Detector:
    """Rules over cue combinations; see the module docstring."""

    def __init__(
        self,
        settings: DetectorSettings,
        cues: Mapping[str, CueSpec],
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.settings = settings
        self.finder = CueFinder(cues)
        # Explicit dates (12月8日) are read against today's date; tests pass a fixed day.
        self._today = today or _today_in_china

    @classmethod
    def from_kb(cls, kb: EmergencyKB, today: Callable[[], dt.date] | None = None) -> "Detector":
        return cls(kb.settings, kb.cues, today)

    @classmethod
    def from_patterns(cls, document: Mapping[str, Any]) -> "Detector":
        """Build from the `detector` + `cues` mapping a trained model stores."""
        settings, cues = parse_patterns(document)
        return cls(settings, cues)

    # ----------------------------------------------------------------- public API

    def detect(
        self, text: str | None, intent: str | None = None, intent_confidence: float = 0.0
    ) -> Detection | None:
        return self.analyse(text, intent, intent_confidence).detection

    def analyse(
        self, text: str | None, intent: str | None = None, intent_confidence: float = 0.0
    ) -> Analysis:
        text = text if isinstance(text, str) else ""
        normalized, index = _normalize_clipped(text)
        # One sorted list: _Text.near bisects on start offsets.
        found = sorted(
            self.finder.find(normalized) + self._dates(normalized),
            key=lambda c: (c.start, -c.end, c.kind),
        )
        cues = self._clean(found)
        t = _Text(normalized, cues)
        candidates = self._candidates(t)
        for cand in candidates:
            self._apply_context(t, cand)
            cand.rule_confidence = cand.confidence
            cand.confidence = self._with_intent(cand.confidence, intent, intent_confidence)
        detection = self._decide(candidates, index, text)
        ask = None if detection else self._ask(t, candidates, index, text)
        return Analysis(text, normalized, cues, candidates, detection, ask, index)

    def _dates(self, text: str) -> list[Cue]:
        """12月8日 is `urgency` when it is at most NEAR_DAYS ahead, `far` when later."""
        today = self._today()
        out = []
        for m in _DATE.finditer(text):
            month, day = int(m.group(1)), int(m.group(2))
            try:
                when = dt.date(today.year, month, day)
            except ValueError:
                continue
            if when < today - dt.timedelta(days=NEAR_DAYS):
                when = when.replace(year=today.year + 1) if not (month == 2 and day == 29) else when
            ahead = (when - today).days
            if 0 <= ahead <= NEAR_DAYS:
                out.append(Cue(m.group(0), "urgency", m.start(), m.end()))
            elif ahead > NEAR_DAYS:
                out.append(Cue(m.group(0), "far", m.start(), m.end()))
        return out

    # ----------------------------------------------------------------- cues

    @staticmethod
    def _clean(cues: list[Cue]) -> list[Cue]:
        """Drop cues swallowed by a negating cue (着急 inside 不着急, 去世 inside 没去世) or
        overlapping a figure of speech (死了 in 急死了)."""
        covering = {
            "urgency": ("urgency_negation",),
            "urgency_request": ("urgency_negation",),
            "death": ("negation",),
            "critical": ("negation",),
            "illness_weak": ("negation",),
            "incident": ("negation",),
            # 抢救过来 inside 没抢救过来 is no recovery; 半年了 in 过期半年了 is no past event
            # and no far date (the document expired long ago; the trip may still be near)
            "negation": ("death",),
            "past_after": ("expired_since",),
            "far": ("expired_since",),
        }
        index = _Text("", cues)
        out = []
        for cue in cues:
            if (
                cue.kind != "idiom"
                and index.near(cue, ("idiom",), 0)
                and any(
                    i.start < cue.end and cue.start < i.end for i in index.near(cue, ("idiom",), 0)
                )
            ):
                continue
            kinds = covering.get(cue.kind, ())
            if any(o.start <= cue.start and cue.end <= o.end for o in index.near(cue, kinds, 0)):
                continue
            out.append(cue)
        return out

    # ----------------------------------------------------------------- rules

    def _candidates(self, t: _Text) -> list[Candidate]:
        w = self.settings.window
        reach = self.settings.reach
        conf_of = self.settings.confidence
        out: list[Candidate] = []

        # bereavement: a death near a person; a funeral word on its own.
        cb = conf_of["bereavement"]
        for d in t.of("death"):
            specific = t.near(d, SPECIFIC_PERSON_KINDS, w)
            generic = t.near(d, ("relative_generic",), w)
            if specific:
                out.append(Candidate("bereavement", cb["death_with_person"], d, specific[:2]))
            elif generic:
                out.append(Candidate("bereavement", cb["death_with_family"], d, generic[:2]))
            else:
                ctx = t.near(d, ("abroad", "travel", "funeral", "self"), w)
                # a death with nobody named: asked about, never dropped
                conf = cb["death_with_context"] if ctx else cb["death_alone"]
                out.append(Candidate("bereavement", conf, d, ctx[:2]))
        for d in t.of("death_weak"):
            who = [
                p
                for p in t.near(d, PERSON_KINDS, reach["weak_death_person"], side="before")
                if not any(p.end <= x.start and x.end <= d.start for x in t.of("document"))
            ]
            if who:
                ctx = t.near(d, ("abroad", "funeral", "travel", "visit"), w)
                conf = cb["weak_death_with_context"] if ctx else cb["weak_death"]
                out.append(Candidate("bereavement", conf, d, who[:1] + ctx[:1]))
        for f in t.of("funeral"):
            who = t.near(f, PERSON_KINDS + ("self",), w)
            conf = cb["funeral_with_person"] if who else cb["funeral"]
            out.append(Candidate("bereavement", conf, f, who[:1]))

        # medical treatment: the patient travels abroad (去/赴/出国…) for care.
        cm = conf_of["medical_treatment"]
        for tr in t.of("treatment"):
            dest = [a for a in t.near(tr, ("abroad",), w) if not self._located(t, a)]
            if not dest:
                continue
            serious = t.near(tr, ("illness", "critical"), w)
            who = t.near(tr, PERSON_KINDS + ("self",), w)
            urgent = self._urgent(t, tr)
            if serious:
                conf = cm["with_illness"]
            elif who and urgent:
                conf = cm["with_person_pressed"]
            else:
                conf = cm["alone"]
            out.append(Candidate("medical_treatment", conf, tr, dest[:1] + serious[:1] + who[:1]))

        # critical illness visit: a person critically ill (the user goes to them).
        cc = conf_of["critical_illness_visit"]
        for c in t.of("critical"):
            specific = t.near(c, SPECIFIC_PERSON_KINDS, w)
            generic = t.near(c, ("relative_generic",), w)
            if specific:
                conf = cc["critical_with_person"]
                out.append(Candidate("critical_illness_visit", conf, c, specific[:2]))
            elif generic:
                conf = cc["critical_with_family"]
                out.append(Candidate("critical_illness_visit", conf, c, generic[:2]))
            else:
                going = ("travel", "visit", "urgency", "urgency_request")
                ctx = t.near(c, ("abroad",), w) and t.near(c, going, w)
                conf = cc["critical_abroad_going"] if ctx else cc["critical_alone"]
                out.append(Candidate("critical_illness_visit", conf, c, []))
        for s in t.of("illness_weak"):
            who = t.near(s, PERSON_KINDS, w)
            where = t.near(s, ("abroad",), w)
            go = t.near(s, ("visit", "travel", "urgency", "urgency_request"), w)
            conf = cc["weak_with_person_abroad_going"] if who and where and go else cc["weak"]
            support = who[:1] + where[:1] + go[:1]
            out.append(Candidate("critical_illness_visit_weak", conf, s, support))

        # overseas incident: something happened abroad to someone (or a company's people/goods).
        co = conf_of["overseas_incident"]
        for i in t.of("incident"):
            where = t.near(i, ("abroad",), w)
            who = t.near(i, PERSON_KINDS + ("org", "self"), w)
            if where and who:
                conf = co["abroad_with_person"]
            elif where:
                conf = co["abroad"]
            elif who and t.near(i, ("travel",), w) and self._urgent(t, i):
                conf = co["person_travelling_pressed"]
            elif t.near(i, SPECIFIC_PERSON_KINDS, w):
                conf = co["named_person"]  # 我儿子联系不上了, with no place: asked about
            else:
                conf = co["alone"]
            out.append(Candidate("overseas_incident", conf, i, where[:1] + who[:1]))

        # purposes that need a near date: contract, study, meeting.
        for kind, rule in (
            ("contract", "contract_signing"),
            ("study", "study_deadline"),
            ("business", "urgent_business"),
            ("business_weak", "urgent_business_weak"),
        ):
            for p in t.of(kind):
                out.append(self._purpose(t, p, rule))

        # a visa or entry permit for the destination about to run out (or a last day to enter).
        cv = conf_of["visa_expiring"]
        for v in t.of("visa"):
            ending = t.near(v, ("expiring",), reach["visa_expiring"])
            if not ending:
                continue
            when = self._urgency_level(t, v, reach=w)
            docs = [d for d in t.near(v, ("document",), w) if not _overlaps(d, v)]
            if t.near(v, ("stay_in_china",), w):
                conf = cv["stay_in_china"]  # a foreigner's stay in China: not this case
            elif t.near(v, ("far",), reach["visa_far_date"]) and when < 2:
                conf = cv["far_date"]  # 下个月到期: still asked about, a visa does not wait
            elif when == 2 or (docs and when == 1):
                conf = cv["near_date_or_document_pressed"]
            elif docs or when:
                conf = cv["document_or_pressed"]
            else:
                conf = cv["alone"]
            support = ending[:1] + docs[:1] + self._urgency_cues(t, v)[:1]
            out.append(Candidate("visa_expiring", conf, v, support))

        # document lost or damaged before a trip.
        cd = conf_of["document_lost"]
        for loss in t.of("doc_loss"):
            docs = t.near(loss, ("document",), reach["lost_document"])
            if not docs:
                continue
            when = self._urgency_level(t, loss, reach=self._urgency_reach())
            conf = {2: cd["near_date"], 1: cd["pressed"]}.get(when, cd["alone"])
            support = docs[:1] + self._urgency_cues(t, loss)[:1]
            out.append(Candidate("document_lost", conf, loss, support))
        return out

    def _purpose(self, t: _Text, p: Cue, rule: str) -> Candidate:
        w = self.settings.window
        level = self._urgency_level(t, p, reach=w)
        docs = t.near(p, ("document",), w)
        abroad = t.near(p, ("abroad",), w)
        pressure = [
            c for c in t.near(p, ("urgency_request",), w) if not self._negated_urgency(t, c)
        ]
        # Someone must be going somewhere: a document to get, or a destination abroad that
        # is pressing (赶紧, 来不及) or right next to the purpose (到迪拜签合同, 在新加坡有个会议),
        # not a topic (明天开会讨论出国考察的事).
        near_place = self.settings.reach["purpose_destination"]
        destination = [a for a in abroad if self._directed(t, a) and t.gap(a, p) <= near_place]
        need = bool(docs) or bool(abroad and pressure) or bool(destination)
        cp = self.settings.confidence["purpose"]
        if level == 2 and need:
            conf = cp["near_date_with_need"]
        elif level == 1 and need:
            conf = cp["pressed_with_need"]
        elif level:
            # A near date but nowhere to go and no document: not an exit-entry case, and
            # kept below what DIET's boost could lift over the threshold.
            conf = cp["urgent_without_need"]
        else:
            conf = cp["alone"]
        if rule == "urgent_business_weak":
            # A plain 出差 is a trip, not a case: it needs said pressure (急, 来得及吗) too.
            conf = cp["weak_pressed"] if level and need and pressure else min(conf, cp["weak_cap"])
        return Candidate(rule, conf, p, (docs or abroad)[:1] + self._urgency_cues(t, p)[:1])

    def _located(self, t: _Text, place: Cue) -> bool:
        """True for 在美国 / 人在澳洲: the patient is already there, not travelling."""
        before = t.text[max(0, place.start - 2) : place.start]
        return "在" in before

    @staticmethod
    def _directed(t: _Text, place: Cue) -> bool:
        """去日本 / 到迪拜 / 在新加坡: the place is where the user goes or the event is."""
        before = t.text[max(0, place.start - 2) : place.start]
        return any(v in before for v in ("去", "到", "赴", "飞", "在", "往", "回"))

    def _negated_urgency(self, t: _Text, cue: Cue) -> bool:
        scope = self.settings.context_scope["urgency_negation"]
        return bool(t.near(cue, ("urgency_negation",), scope.chars)) and any(
            t.same_sentence(cue, n) for n in t.near(cue, ("urgency_negation",), scope.chars)
        )

    def _urgency_cues(self, t: _Text, anchor: Cue) -> list[Cue]:
        return [
            c
            for c in t.near(anchor, ("urgency", "urgency_request"), self._urgency_reach())
            if not self._negated_urgency(t, c)
        ]

    def _urgency_reach(self) -> int:
        return int(self.settings.window * self.settings.urgency_reach_factor)

    def _urgent(self, t: _Text, anchor: Cue) -> bool:
        return self._urgency_level(t, anchor, reach=self.settings.window) > 0

    def _urgency_level(self, t: _Text, anchor: Cue, reach: int) -> int:
        """2: a near date; 1: pressure (赶紧, 加急) with no far date around; 0: not urgent."""
        near = [c for c in t.near(anchor, ("urgency",), reach) if not self._negated_urgency(t, c)]
        if near:
            return 2
        pressure = [
            c
            for c in t.near(anchor, ("urgency_request",), reach)
            if not self._negated_urgency(t, c)
        ]
        if pressure and not t.near(anchor, ("far",), reach):
            return 1
        return 0

    # ----------------------------------------------------------------- context

    def _block(self, cand: Candidate, rule: str, cue: Cue) -> None:
        cand.blocked.append({"rule": rule, "cue": cue.text, "start": cue.start, "end": cue.end})

    def _apply_context(self, t: _Text, cand: Candidate) -> None:
        a = cand.anchor
        scopes = self.settings.context_scope
        living = cand.rule in (
            "bereavement",
            "critical_illness_visit",
            "critical_illness_visit_weak",
            "medical_treatment",
            "overseas_incident",
        )

        def within(kind: str, rule: str | None = None) -> list[Cue]:
            scope = scopes[rule or kind]
            return [c for c in t.near(a, (kind,), scope.chars, scope.side) if t.same_sentence(a, c)]

        if living:
            for c in within("negation"):
                # 我以为没事，结果我爸病危了: a contrast between a negation and the event
                # leaves the event standing (after the event, 不过没事 still negates it).
                turns = t.near(c, ("contrast",), scopes["negation"].chars)
                if c.end <= a.start and any(c.end <= k.start and k.end <= a.start for k in turns):
                    continue
                self._block(cand, "negation", c)
                break
        for c in within("past"):
            recency = t.near(c, ("recency",), scopes["past"].chars + len(a.text))
            if not any(c.end <= r.start and r.end <= a.end for r in recency):
                self._block(cand, "past", c)
                break
        for c in within("past_after"):
            self._block(cand, "past", c)
            break
        for c in within("hypothetical"):
            self._block(cand, "hypothetical", c)
            break
        for c in within("worry"):
            self._block(cand, "hypothetical", c)
            break
        for c in within("fiction"):
            self._block(cand, "fiction", c)
            break
        for c in within("others"):
            self._block(cand, "others", c)
            break
        if living:
            for c in within("pet"):
                persons = t.near(c, PERSON_KINDS, scopes["pet"].chars)
                if not any(c.end <= p.start and p.end <= a.start for p in persons):
                    self._block(cand, "pet", c)
                    break
        self._generic_question(t, cand)

    def _generic_question(self, t: _Text, cand: Candidate) -> None:
        """奔丧可以走绿色通道吗 asks about the rule, not about the user's own case."""
        a = cand.anchor
        lo, hi = t.clause_span(a)
        questions = [q for q in t.near(a, ("question",), hi - lo) if lo <= q.start < hi]
        if not questions:
            return
        slo, shi = t.sentence_span(a)
        personal = [
            c
            for c in t.near(a, ("relative", "person", "self", "recency", "urgency"), shi - slo)
            if slo <= c.start < shi
        ]
        if not personal:
            self._block(cand, "gc_question", questions[0])

    # ----------------------------------------------------------------- decision

    def _pressed(self, t: _Text, context: Mapping[str, Any]) -> bool:
        """Does the user say they are pressed (a near date, 马上, 赶紧) outside the clause
        of the context cue? Words of a question about the channel (加急, 最快, 来得及 are
        `gc_term` too) do not count, nor pressure inside the story (剧里…急得团团转)."""
        terms = t.of("gc_term")
        clause = t.clause_of[context["start"]]
        return any(
            t.clause_of[c.start] != clause
            and not self._negated_urgency(t, c)
            and not any(_overlaps(c, g) for g in terms)
            for c in t.of("urgency", "urgency_request")
        )

    def _ask(
        self, t: _Text, candidates: list[Candidate], index: list[int], text: str
    ) -> Detection | None:
        """The best lowered finding worth one question, or None (see the module docstring)."""
        floor = self.settings.ask_confidence
        askable = []
        for c in candidates:
            # DIET may lift a finding over min_confidence, but not into a question: a near
            # date with nowhere to go (purpose.urgent_without_need) stays silent whatever
            # the intent.
            if c.rule_confidence < floor:
                continue
            if c.blocked:
                rules = {b["rule"] for b in c.blocked}
                if rules & HARD_BLOCKS or not all(self._pressed(t, b) for b in c.blocked):
                    continue
            askable.append(c)
        if not askable:
            return None
        best = min(askable, key=lambda c: (PRIORITY.index(c.rule), -c.confidence, c.anchor.start))
        start, end = _span(index, best.anchor.start, best.anchor.end)
        blocked = [
            {
                "category": best.category,
                "anchor": best.anchor.text,
                **b,
                "start": _span(index, b["start"], b["end"])[0],
                "end": _span(index, b["start"], b["end"])[1],
            }
            for b in best.blocked[:1]
        ]
        return Detection(
            category=best.category,
            confidence=round(best.confidence, 3),
            cues=[
                _cue_dict(c, index, text)
                for c in sorted([best.anchor, *best.support], key=lambda c: c.start)
            ],
            blocked_by=blocked,
            start=start,
            end=end,
        )

    def _with_intent(
        self, confidence: float, intent: str | None, intent_confidence: float
    ) -> float:
        ic = max(0.0, min(1.0, float(intent_confidence or 0.0)))
        if intent == REPORT_INTENT:
            confidence += self.settings.intent_boost * ic
        elif intent == TRAVEL_INTENT:
            confidence -= self.settings.intent_penalty * ic
        return max(0.0, min(0.99, confidence))

    def _decide(self, candidates: list[Candidate], index: list[int], text: str) -> Detection | None:
        live = [
            c for c in candidates if not c.blocked and c.confidence >= self.settings.min_confidence
        ]
        blocked = [
            {"category": c.category, "anchor": c.anchor.text, **b}
            for c in candidates
            if c.blocked and c.confidence >= self.settings.min_confidence
            for b in c.blocked[:1]
        ]
        if not live:
            return None
        best = min(live, key=lambda c: (PRIORITY.index(c.rule), -c.confidence, c.anchor.start))
        # Report the strongest reading of the winning category, and every cue behind it.
        same = [c for c in live if c.category == best.category]
        confidence = max(c.confidence for c in same)
        cues: list[Cue] = []
        for c in sorted(same, key=lambda c: -c.confidence)[:3]:
            for cue in [c.anchor, *c.support]:
                if cue not in cues:
                    cues.append(cue)
        for b in blocked:
            b["start"], b["end"] = _span(index, b["start"], b["end"])
        start, end = _span(index, best.anchor.start, best.anchor.end)
        return Detection(
            category=best.category,
            confidence=round(confidence, 3),
            cues=[_cue_dict(c, index, text) for c in sorted(cues, key=lambda c: c.start)],
            blocked_by=blocked,
            start=start,
            end=end,
        )


_KIND_NAMES = {
    "relative_generic": "relative",
    "death_weak": "event",
    "death": "event",
    "funeral": "event",
    "critical": "event",
    "illness_weak": "event",
    "incident": "event",
    "doc_loss": "event",
    "urgency_request": "urgency",
    "business_weak": "purpose",
    "business": "purpose",
    "contract": "purpose",
    "study": "purpose",
    "visa": "document",
    "expiring": "urgency",
    "abroad": "place",
}


def _overlaps(a: Cue, b: Cue) -> bool:
    return a.start < b.end and b.start < a.end


def _today_in_china() -> dt.date:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)).date()


def _span(index: list[int], start: int, end: int) -> tuple[int, int]:
    if not index:
        return 0, 0
    return index[start], index[max(start, end - 1)] + 1


def _cue_dict(cue: Cue, index: list[int], text: str) -> dict[str, Any]:
    start, end = _span(index, cue.start, cue.end)
    return {
        "cue": text[start:end] or cue.text,
        "kind": _KIND_NAMES.get(cue.kind, cue.kind),
        "start": start,
        "end": end,
    }


@lru_cache(maxsize=1)
def default_detector() -> Detector:
    """The detector built from the configured data/kb/emergency.yml."""
    from bot.kb.emergency import get_emergency_kb

    return Detector.from_kb(get_emergency_kb())


def detect(
    text: str, intent: str | None = None, intent_confidence: float = 0.0
) -> Detection | None:
    """Detect an emergency in `text` (any length; traditional script is fine).

    Returns None when there is none. `intent`/`intent_confidence` are DIET's guess, if any.
    """
    return default_detector().detect(text, intent, intent_confidence)


__all__ = ["CATEGORIES", "Analysis", "Cue", "Detection", "Detector", "default_detector", "detect"]
