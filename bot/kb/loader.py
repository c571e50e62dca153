"""Load and validate data/kb/*.yml.

A schema error fails fast and names the file and the key, because a silently wrong fee or
document list is worse than a bot that refuses to start.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from bot.language import ENGLISH
from bot.understand import Understanding, parse_understanding

ASPECTS = (
    "documents",
    "fee",
    "time",
    "validity",
    "place",
    "attendance",
    "photo",
    "delivery",
    "endorsement",
    "yidi",
    "green_channel",
    # What a `topic` (data/kb/topics/…: 口岸签证, 出入境记录 …) is and how it works; a question
    # about an aspect a topic does not have gets this.
    "overview",
)
WHEN_KEYS = ("applicant_type", "apply_kind", "endorsement_type", "place", "individual_visit_city")
# `individual_visit_city` is not a slot: it is derived from `place` and the city list in
# individual_visit_cities.yml, so the list lives in one data file, not in every answer.
DERIVED_KEYS = ("individual_visit_city",)
SCOPES = ("全国", "浙江", "湖州", "德清", "杭州", "宁波")
NOT_CONFIGURED = "待配置"
#: Lines notices.yml must hold: the hotline, the closing check line, the words of a citation, a
#: fact's scope and a hall detail not configured yet.
NOTICE_NAMES = (
    "hotline",
    "check_line",
    "source_line",
    "citation_format",
    "repost_mark",
    "undated",
    "about_year",
    "about_date",
    "estimated_date",
    "scope_line",
    "not_configured",
)
#: Where a fact's `as_of` comes from: a cited source's own date (the default), the day the fact
#: was checked against its sources, or an estimate because no source shows a date.
AS_OF_BASES = ("source", "verified", "estimated")
#: Topics for foreigners (`audience: foreigners`) answer in English too: every fact there
#: needs `text_en` beside `text`, and the topic a `name_en` (and `hint_en` with its `hint`).
FOREIGNERS = "foreigners"
AUDIENCES = (FOREIGNERS,)
#: notices.yml lines the English answers need (`<name>_en` beside each Chinese line).
NOTICE_NAMES_EN = (
    "check_line_en",
    "source_line_en",
    "citation_format_en",
    "repost_mark_en",
    "undated_en",
    "about_year_en",
    "about_date_en",
    "scope_line_en",
    "not_configured_en",
    "hall_details_en",
)


class KBError(ValueError):
    """A knowledge-base file breaks the schema; the message names file and key."""


@dataclass(frozen=True)
class Fact:
    text: str
    sources: tuple[str, ...]
    as_of: dt.date
    scope: str
    when: Mapping[str, str]
    # A rule that may have changed since the source ends with the KB's check line.
    volatile: bool = True
    # The slot this answer asks the citizen for (e.g. `place`), so the action can offer it.
    asks: str | None = None
    # One line for the overview of a service ("how do I apply"); the first line by default.
    summary: str | None = None
    as_of_basis: str = "source"
    # The same fact in English, from the same sources (required in topics for foreigners).
    text_en: str | None = None

    def brief(self) -> str:
        return (self.summary or self.text.strip().splitlines()[0]).strip()

    def cited_source(self, registry: Mapping[str, "SourceInfo"]) -> str:
        """The source a reply names: the one whose date the `as_of` is, else the first."""
        if self.as_of_basis == "source":
            for source in self.sources:
                info = registry.get(source)
                if info is not None and info.date and self.as_of.isoformat().startswith(info.date):
                    return source
        return self.sources[0]


@dataclass(frozen=True)
class SourceInfo:
    """Who published a cited page and when, so a reply can name them instead of a URL."""

    publisher: str
    date: str | None
    repost: bool
    approximate: bool = False
    # The publisher's name in English, for English answers (the Chinese name otherwise).
    publisher_en: str | None = None

    def display(self, wording: Mapping[str, str], language: str | None = None) -> str:
        """ "国家移民管理局，2024-05" in the words of notices.yml (repost mark, undated, about)."""
        publisher = (self.publisher_en or self.publisher) if language == ENGLISH else self.publisher
        if not self.date:
            when = wording["undated"]
        elif self.approximate:
            when = wording["about_year" if len(self.date) == 4 else "about_date"].replace(
                "{date}", self.date
            )
        else:
            when = self.date
        mark = wording["repost_mark"] if self.repost else ""
        return (
            wording["citation_format"]
            .replace("{publisher}", publisher + mark)
            .replace("{when}", when)
        )


@dataclass(frozen=True)
class IndividualVisitCities:
    """Which `place` values are designated 个人游 cities (港澳个人旅游签注 G) and which are not."""

    listed: frozenset[str]
    not_listed: frozenset[str]

    def status(self, place: Any) -> str | None:
        if place in self.listed:
            return "yes"
        if place in self.not_listed:
            return "no"
        return None


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    hint: str | None
    answers: Mapping[str, tuple[Fact, ...]]
    file: str
    name_en: str | None = None
    hint_en: str | None = None
    audience: str | None = None
    # The aspect that answers a question about an aspect this topic does not have
    # ("visa extension fee?" when only the procedure is known), instead of a general fact.
    main_aspect: str | None = None


@dataclass(frozen=True)
class ConfigValue:
    """A hall detail that may be unknown: never invented, filled from the environment."""

    config: str | None
    value: str | None

    def resolved(self) -> str | None:
        if self.config and os.environ.get(self.config):
            return os.environ[self.config]
        return self.value

    def display(self, unset: str | None = None) -> str:
        """The value, or what to say while it is not configured: `unset` (notices.yml
        `not_configured`, or its `_en` line), else the bare mark 待配置."""
        return self.resolved() or unset or NOT_CONFIGURED


@dataclass(frozen=True)
class Hall:
    """A bookable-hall entry of halls.yml. `sessions` are the booking system's own appointment
    hours ((start, end) "HH:MM" pairs, cut into `slot_minutes` slots), from the hall's
    `booking.sessions` or the file's `booking_defaults`; none means online booking is not
    offered there (yet). `code_prefix` is the hall's `booking.code_prefix` when set."""

    id: str
    name: str
    city: str
    address: ConfigValue
    hours: ConfigValue
    phone: ConfigValue
    green_channel_phone: ConfigValue
    services: tuple[str, ...]
    slot_capacity: int
    green_capacity: int
    sources: tuple[str, ...]
    name_en: str | None = None
    sessions: tuple[tuple[str, str], ...] = ()
    slot_minutes: int = 30
    code_prefix: str | None = None

    @property
    def bookable(self) -> bool:
        """True when the booking system has appointment sessions for this hall."""
        return bool(self.sessions)


@dataclass(frozen=True)
class DirectoryHall:
    """An exit-entry hall in another Zhejiang city: shown when asked, not bookable here.

    Only values a cited source gives are filled in; the rest stay configuration."""

    place: str
    name: str
    address: ConfigValue
    hours: ConfigValue
    phone: ConfigValue
    sources: tuple[str, ...]
    as_of: dt.date | None


@dataclass(frozen=True)
class Answer:
    """One fact chosen for a question, plus what the user did not specify."""

    topic: Topic
    aspect: str
    fact: Fact
    hint: str | None
    citation: str = ""
    check_line: str | None = None
    notices: Mapping[str, str] = field(default_factory=dict)
    # True when the fact is rendered in English (asked in English and the fact has `text_en`).
    in_english: bool = False
    scope_names_en: Mapping[str, str] = field(default_factory=dict)

    def render(
        self, extra: tuple[str, ...] = (), more_citations: tuple[str, ...] = (), check: bool = True
    ) -> str:
        """The fact, then `extra` lines (the overview's fee and time), scope, hint, sources and,
        unless `check` is off (a reply of several answers says it once), the check line. In
        English from `text_en` and the `_en` lines of notices.yml (put in place by
        `wording_for`)."""
        text = self.fact.text_en if self.in_english and self.fact.text_en else self.fact.text
        parts = [fill(text.strip(), self.notices), *(fill(e, self.notices) for e in extra)]
        if self.fact.scope != "全国":
            scope = (
                self.scope_names_en.get(self.fact.scope, self.fact.scope)
                if self.in_english
                else self.fact.scope
            )
            parts.append(self.notices["scope_line"].replace("{scope}", scope))
        if self.hint:
            parts.append(fill(self.hint.strip(), self.notices))
        citations = list(dict.fromkeys(c for c in (self.citation, *more_citations) if c))
        if citations:
            parts.append(self.notices["source_line"].replace("{citation}", "；".join(citations)))
        if check and self.fact.volatile and self.check_line:
            parts.append(fill(self.check_line, self.notices))
        return "\n".join(parts)


def fill(text: str, notices: Mapping[str, str]) -> str:
    """Replace `{hotline}`-style names with the one value kept in notices.yml."""
    for name, value in notices.items():
        text = text.replace("{" + name + "}", value)
    return text


def cite(
    source: str,
    sources: Mapping[str, SourceInfo],
    wording: Mapping[str, str],
    estimated_year: int | None = None,
    language: str | None = None,
) -> str:
    """A source as a reader sees it: publisher and date from sources.yml, never a raw URL.

    An undated source behind an estimated `as_of` reads "约2019年（估计）", not "日期不详"."""
    info = sources.get(source)
    if info is not None:
        if not info.date and estimated_year is not None:
            publisher = (
                (info.publisher_en or info.publisher) if language == ENGLISH else info.publisher
            )
            when = wording["estimated_date"].replace("{date}", str(estimated_year))
            mark = wording["repost_mark"] if info.repost else ""
            return (
                wording["citation_format"]
                .replace("{publisher}", publisher + mark)
                .replace("{when}", when)
            )
        return info.display(wording, language)
    return source  # every cited source is in sources.yml (checked at load), the article too


def wording_for(notices: Mapping[str, str], language: str | None) -> dict[str, str]:
    """notices.yml with each `<name>_en` line standing in for `<name>` in English."""
    wording = dict(notices)
    if language == ENGLISH:
        for name, text in notices.items():
            if name.endswith("_en"):
                wording[name[:-3]] = text
    return wording


@dataclass(frozen=True)
class TripStep:
    """One answer added to a trip plan, with the details a holiday trip implies."""

    aspect: str
    assume: Mapping[str, str]


@dataclass(frozen=True)
class TripPlan:
    """What a trip needs for one document (trip_plans.yml)."""

    document: str
    then: tuple[TripStep, ...]
    note: Fact | None
    places: tuple[str, ...] = ()


@dataclass
class KnowledgeBase:
    topics: dict[str, Topic] = field(default_factory=dict)
    halls: dict[str, Hall] = field(default_factory=dict)
    vocabulary: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    #: vocabulary.yml `precedence`: entity -> value -> the values it overrides (bot.vocabulary)
    vocabulary_precedence: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    domain_words: tuple[str, ...] = ()
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    notices: dict[str, str] = field(default_factory=dict)
    #: English names of the `scope` values (notices.yml `scope_names_en`).
    scope_names_en: dict[str, str] = field(default_factory=dict)
    individual_visit: IndividualVisitCities = field(
        default_factory=lambda: IndividualVisitCities(frozenset(), frozenset())
    )
    understanding: Understanding | None = None
    trip_plans: dict[str, TripPlan] = field(default_factory=dict)
    #: destination entity value → the service it needs (abroad → passport)
    trip_destinations: dict[str, str] = field(default_factory=dict)
    #: Words of going (去, 前往 …) that make a plan's place the trip's destination.
    trip_travel_words: tuple[str, ...] = ()
    #: Halls of other cities by `place` value (city_halls.yml), for "杭州的出入境大厅在哪".
    directory: dict[str, tuple[DirectoryHall, ...]] = field(default_factory=dict)

    def context(self, slots: Mapping[str, Any]) -> dict[str, Any]:
        """The slots plus the keys derived from data (whether `place` is a 个人游 city)."""
        context = dict(slots)
        context["individual_visit_city"] = self.individual_visit.status(slots.get("place"))
        return context

    def notice(self, name: str) -> str | None:
        """A citizen-facing line kept once in notices.yml, with `{hotline}` filled in."""
        text = self.notices.get(name)
        return fill(text, self.notices) if text else None

    def answer(
        self, aspect: str, slots: Mapping[str, Any], language: str | None = None
    ) -> Answer | None:
        """Pick the most specific fact for `aspect` given the conversation's slots.

        A named `topic` (口岸签证, 出入境记录 …) answers first: the aspect asked when it has
        one, else its overview. Then the service topic, then the general topic named after
        the aspect (photo, yidi, delivery, green_channel), then `general`. In English
        (`language="en"`) a fact with `text_en` is rendered in English; one without stays
        Chinese, and `Answer.in_english` tells the caller so.
        """
        if aspect not in ASPECTS:
            return None
        named = self.topics.get(slots.get("topic") or "")
        if named is not None and aspect not in named.answers:
            aspect = (
                "overview" if "overview" in named.answers else (named.main_aspect or "overview")
            )
        service = slots.get("service")
        context = self.context(slots)
        for topic_id in (slots.get("topic"), service, aspect, "general"):
            topic = self.topics.get(topic_id) if topic_id else None
            if (
                topic is not None
                and aspect not in topic.answers
                and topic_id == service
                and topic.main_aspect
            ):
                aspect = topic.main_aspect
            if topic is None or aspect not in topic.answers:
                continue
            fact, specific = _best_fact(topic.answers[aspect], context)
            english = language == ENGLISH and fact.text_en is not None
            wording = wording_for(self.notices, ENGLISH if english else None)
            hint = None if specific else (topic.hint_en if english else topic.hint)
            return Answer(
                topic=topic,
                aspect=aspect,
                fact=fact,
                hint=hint,
                citation=cite(
                    fact.cited_source(self.sources),
                    self.sources,
                    wording,
                    fact.as_of.year if fact.as_of_basis == "estimated" else None,
                    ENGLISH if english else None,
                ),
                check_line=wording.get("check_line"),
                notices=wording,
                in_english=english,
                scope_names_en=self.scope_names_en,
            )
        return None

    def render_fact(self, fact: Fact, check: bool = True) -> str:
        """A fact that belongs to no topic (a trip plan's note), cited like any answer."""
        parts = [fill(fact.text.strip(), self.notices)]
        if fact.sources:
            parts.append(
                self.notices["source_line"].replace(
                    "{citation}",
                    "；".join(
                        dict.fromkeys(cite(s, self.sources, self.notices) for s in fact.sources)
                    ),
                )
            )
        if check and fact.volatile and self.notices.get("check_line"):
            parts.append(fill(self.notices["check_line"], self.notices))
        return "\n".join(parts)

    def hall(self, hall_id: str) -> Hall | None:
        return self.halls.get(hall_id)


def _best_fact(facts: tuple[Fact, ...], slots: Mapping[str, Any]) -> tuple[Fact, bool]:
    best: Fact | None = None
    best_score = -1
    for fact in facts:
        if all(slots.get(k) == v for k, v in fact.when.items()):
            if len(fact.when) > best_score:
                best, best_score = fact, len(fact.when)
    assert best is not None  # every aspect has a `when: {}` default (validated)
    return best, best_score > 0


def require(cond: object, file: str, key: str, why: str) -> None:
    """Raise KBError naming the file and key when `cond` is falsy: the KB refuses to load."""
    if not cond:
        raise KBError(f"{file}: {key}: {why}")


def as_date(value: Any, file: str, key: str, today: dt.date | None = None) -> dt.date:
    """`as_of` is the source's own date or the day it was verified: a real, past date.

    A future date (or the import date stamped on everything) would make an old rule look current.
    """
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        date = value
    else:
        try:
            date = dt.date.fromisoformat(str(value))
        except ValueError:
            raise KBError(f"{file}: {key}: as_of must be a date like 2024-05-27, got {value!r}")
    if date > (today or dt.date.today()):
        raise KBError(f"{file}: {key}: as_of {date.isoformat()} is in the future")
    return date


def _as_of(
    entry: Mapping[str, Any],
    sources: tuple[str, ...],
    registry: Mapping[str, SourceInfo] | None,
    file: str,
    key: str,
) -> tuple[dt.date, str]:
    """`as_of` and where it comes from; by default it must be one of the sources' own dates."""
    as_of = as_date(entry["as_of"], file, f"{key}.as_of")
    basis = entry.get("as_of_basis", "source")
    require(basis in AS_OF_BASES, file, f"{key}.as_of_basis", f"must be one of {AS_OF_BASES}")
    if basis == "source" and registry:
        dates = [registry[s].date for s in sources if s in registry and registry[s].date]
        require(
            any(as_of.isoformat().startswith(str(d)) for d in dates),
            file,
            f"{key}.as_of",
            f"{as_of.isoformat()} is no cited source's date "
            f"({', '.join(map(str, dates)) or 'none dated'}); "
            "use a source's date, or say `as_of_basis: verified` (the day it was checked) "
            "or `as_of_basis: estimated` (no source shows a date)",
        )
    return as_of, basis


def _sources(value: Any, file: str, key: str) -> tuple[str, ...]:
    require(
        isinstance(value, list) and value and all(isinstance(s, str) and s for s in value),
        file,
        key,
        "sources must be a non-empty list of URLs (or 'article')",
    )
    return tuple(value)


def _parse_fact(
    entry: Any,
    file: str,
    key: str,
    registry: Mapping[str, SourceInfo] | None = None,
    english_required: bool = False,
) -> Fact:
    require(isinstance(entry, dict), file, key, "each answer must be a mapping")
    for name in ("text", "sources", "as_of", "scope"):
        require(name in entry, file, f"{key}.{name}", "missing")
    require(
        isinstance(entry["text"], str) and entry["text"].strip() != "", file, f"{key}.text", "empty"
    )
    text_en = entry.get("text_en")
    if english_required:
        require(
            text_en is not None,
            file,
            f"{key}.text_en",
            "missing: a topic for foreigners needs the English text beside the Chinese",
        )
    require(
        text_en is None or (isinstance(text_en, str) and text_en.strip() != ""),
        file,
        f"{key}.text_en",
        "empty",
    )
    when = entry.get("when") or {}
    require(isinstance(when, dict), file, f"{key}.when", "must be a mapping")
    for wkey in when:
        require(
            wkey in WHEN_KEYS, file, f"{key}.when.{wkey}", f"unknown key; use one of {WHEN_KEYS}"
        )
    require(entry["scope"] in SCOPES, file, f"{key}.scope", f"must be one of {SCOPES}")
    sources = _sources(entry["sources"], file, f"{key}.sources")
    if registry:
        for i, source in enumerate(sources):
            require(
                source in registry,
                file,
                f"{key}.sources[{i}]",
                f"{source!r} is not in sources.yml (publisher and date)",
            )
    volatile = entry.get("volatile", True)
    require(isinstance(volatile, bool), file, f"{key}.volatile", "must be true or false")
    asks = entry.get("asks")
    require(asks is None or asks in WHEN_KEYS, file, f"{key}.asks", f"must be one of {WHEN_KEYS}")
    summary = entry.get("summary")
    require(
        summary is None or (isinstance(summary, str) and summary.strip() != ""),
        file,
        f"{key}.summary",
        "must be one line of text",
    )
    as_of, basis = _as_of(entry, sources, registry, file, key)
    return Fact(
        text=entry["text"],
        sources=sources,
        as_of=as_of,
        as_of_basis=basis,
        scope=entry["scope"],
        when={k: str(v) for k, v in when.items()},
        volatile=volatile,
        asks=asks,
        summary=summary,
        text_en=text_en,
    )


def _parse_topic(
    doc: dict[str, Any], file: str, registry: Mapping[str, SourceInfo] | None = None
) -> Topic:
    for name in ("id", "name", "answers"):
        require(name in doc, file, name, "missing")
    answers_raw: Any = doc["answers"]
    require(
        isinstance(answers_raw, dict) and answers_raw,
        file,
        "answers",
        "must be a non-empty mapping",
    )
    audience = doc.get("audience")
    require(
        audience is None or audience in AUDIENCES, file, "audience", f"must be one of {AUDIENCES}"
    )
    english = audience == FOREIGNERS
    for name in ("name_en", "hint_en"):
        value = doc.get(name)
        require(
            value is None or (isinstance(value, str) and value.strip() != ""), file, name, "empty"
        )
    if english:
        require(
            doc.get("name_en") is not None,
            file,
            "name_en",
            "missing: a topic for foreigners needs it",
        )
        require(
            doc.get("hint") is None or doc.get("hint_en") is not None,
            file,
            "hint_en",
            "missing: a topic for foreigners needs the English hint beside `hint`",
        )
    answers: dict[str, tuple[Fact, ...]] = {}
    for aspect, entries in answers_raw.items():
        require(
            aspect in ASPECTS, file, f"answers.{aspect}", f"unknown aspect; use one of {ASPECTS}"
        )
        require(
            isinstance(entries, list) and entries,
            file,
            f"answers.{aspect}",
            "must be a non-empty list",
        )
        facts = tuple(
            _parse_fact(e, file, f"answers.{aspect}[{i}]", registry, english)
            for i, e in enumerate(entries)
        )
        require(
            any(not f.when for f in facts),
            file,
            f"answers.{aspect}",
            "needs a default entry with `when: {}`",
        )
        answers[aspect] = facts
    main_aspect = doc.get("main_aspect")
    require(
        main_aspect is None or main_aspect in answers,
        file,
        "main_aspect",
        "must be one of the topic's aspects",
    )
    return Topic(
        id=str(doc["id"]),
        name=str(doc["name"]),
        hint=doc.get("hint"),
        answers=answers,
        file=file,
        name_en=doc.get("name_en"),
        hint_en=doc.get("hint_en"),
        audience=audience,
        main_aspect=main_aspect,
    )


def _config_value(value: Any, file: str, key: str) -> ConfigValue:
    if isinstance(value, str):
        return ConfigValue(config=None, value=value)
    require(
        isinstance(value, dict) and ("config" in value or "value" in value),
        file,
        key,
        "must be a string or {config: ENV_NAME, value: ... or null}",
    )
    return ConfigValue(config=value.get("config"), value=value.get("value"))


_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _parse_sessions(value: Any, file: str, key: str) -> tuple[tuple[str, str], ...]:
    """[["09:00", "12:00"], ...]: each a start before its end, in order, not overlapping."""
    require(isinstance(value, list), file, key, 'must be a list of ["HH:MM", "HH:MM"] pairs')
    sessions: list[tuple[str, str]] = []
    for pair in value:
        ok = (
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(t, str) and _HHMM.fullmatch(t) for t in pair)
            and pair[0] < pair[1]
        )
        require(
            bool(ok), file, key, f'{pair!r}: each session is ["HH:MM", "HH:MM"], start before end'
        )
        require(
            not sessions or sessions[-1][1] <= pair[0],
            file,
            key,
            "sessions must be in order, not overlapping",
        )
        sessions.append((pair[0], pair[1]))
    return tuple(sessions)


def _parse_booking_defaults(doc: dict[str, Any], file: str) -> dict[str, Any]:
    """The file-level `booking_defaults` the halls inherit: sessions and slot_minutes, stated
    as the booking system's configuration (`basis: booking_configuration`, `as_of`)."""
    raw = doc.get("booking_defaults")
    if raw is None:
        return {}
    require(isinstance(raw, dict), file, "booking_defaults", "must be a mapping")
    require(
        raw.get("basis") == "booking_configuration",
        file,
        "booking_defaults.basis",
        "must be booking_configuration (this system's setting, not a sourced fact)",
    )
    as_date(raw.get("as_of"), file, "booking_defaults.as_of")
    defaults: dict[str, Any] = {}
    if "sessions" in raw:
        defaults["sessions"] = _parse_sessions(raw["sessions"], file, "booking_defaults.sessions")
    if "slot_minutes" in raw:
        defaults["slot_minutes"] = raw["slot_minutes"]
    return defaults


def _parse_halls(doc: dict[str, Any], file: str) -> dict[str, Hall]:
    halls_raw: Any = doc.get("halls")
    require(isinstance(halls_raw, list) and halls_raw, file, "halls", "must be a non-empty list")
    defaults = _parse_booking_defaults(doc, file)
    halls: dict[str, Hall] = {}
    for i, h in enumerate(halls_raw):
        key = f"halls[{i}]"
        require(isinstance(h, dict), file, key, "must be a mapping")
        for name in ("id", "name", "services", "booking", "sources"):
            require(name in h, file, f"{key}.{name}", "missing")
        require(
            isinstance(h["id"], str) and bool(h["id"]) and h["id"] not in halls,
            file,
            f"{key}.id",
            "must be a unique non-empty string",
        )
        booking = h["booking"]
        require(
            isinstance(booking, dict)
            and isinstance(booking.get("slot_capacity"), int)
            and isinstance(booking.get("green_capacity"), int)
            and booking["slot_capacity"] >= 0
            and booking["green_capacity"] >= 0,
            file,
            f"{key}.booking",
            "needs integer slot_capacity and green_capacity (>= 0)",
        )
        prefix = booking.get("code_prefix")
        prefix_ok = prefix is None or (
            isinstance(prefix, str) and bool(re.fullmatch(r"[A-Z]{2,4}", prefix))
        )
        require(prefix_ok, file, f"{key}.booking.code_prefix", "must be 2-4 capital letters")
        sessions = (
            _parse_sessions(booking["sessions"], file, f"{key}.booking.sessions")
            if "sessions" in booking
            else defaults.get("sessions", ())
        )
        minutes = booking.get("slot_minutes", defaults.get("slot_minutes", 30))
        require(
            isinstance(minutes, int) and 5 <= minutes <= 240,
            file,
            f"{key}.booking.slot_minutes",
            "must be an integer number of minutes (5-240)",
        )
        halls[h["id"]] = Hall(
            id=h["id"],
            name=h["name"],
            city=h.get("city", ""),
            address=_config_value(h.get("address"), file, f"{key}.address"),
            hours=_config_value(h.get("hours"), file, f"{key}.hours"),
            phone=_config_value(h.get("phone"), file, f"{key}.phone"),
            green_channel_phone=_config_value(
                h.get("green_channel_phone"), file, f"{key}.green_channel_phone"
            ),
            services=tuple(h["services"]),
            slot_capacity=booking["slot_capacity"],
            green_capacity=booking["green_capacity"],
            sources=_sources(h["sources"], file, f"{key}.sources"),
            name_en=h.get("name_en"),
            sessions=sessions,
            slot_minutes=minutes,
            code_prefix=prefix,
        )
    return halls


def load_halls(path: Path | str) -> dict[str, Hall]:
    """The halls of one `kind: halls` file (the booking store syncs from it; tests and the
    bench pass their own file). The same parser as load_kb's, so one reading of halls.yml."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KBError(f"{path.name}: not valid YAML: {exc}") from exc
    require(
        isinstance(doc, dict) and doc.get("kind") == "halls", path.name, "kind", "must be halls"
    )
    return _parse_halls(doc, path.name)


def _parse_directory(
    doc: dict[str, Any], file: str, registry: Mapping[str, SourceInfo]
) -> dict[str, tuple[DirectoryHall, ...]]:
    entries: Any = doc.get("halls")
    require(isinstance(entries, list) and entries, file, "halls", "must be a non-empty list")
    by_place: dict[str, list[DirectoryHall]] = {}
    for i, h in enumerate(entries):
        key = f"halls[{i}]"
        require(isinstance(h, dict), file, key, "must be a mapping")
        for name in ("place", "name"):
            require(name in h, file, f"{key}.{name}", "missing")
        values = {
            name: _config_value(h.get(name), file, f"{key}.{name}")
            for name in ("address", "hours", "phone")
        }
        sources: tuple[str, ...] = ()
        as_of = None
        if any(v.value for v in values.values()) or "sources" in h:
            # A value written in the file is a fact: it needs its source and date.
            for name in ("sources", "as_of"):
                require(name in h, file, f"{key}.{name}", "missing (a hall detail is given)")
            sources = _sources(h["sources"], file, f"{key}.sources")
            for j, source in enumerate(sources):
                require(
                    source in registry,
                    file,
                    f"{key}.sources[{j}]",
                    f"{source!r} is not in sources.yml (publisher and date)",
                )
            as_of, _ = _as_of(h, sources, registry, file, key)
        hall = DirectoryHall(
            place=str(h["place"]),
            name=str(h["name"]),
            address=values["address"],
            hours=values["hours"],
            phone=values["phone"],
            sources=sources,
            as_of=as_of,
        )
        by_place.setdefault(hall.place, []).append(hall)
    return {place: tuple(halls) for place, halls in by_place.items()}


def _parse_vocabulary(doc: dict[str, Any], file: str) -> dict[str, dict[str, tuple[str, ...]]]:
    entities: Any = doc.get("entities")
    require(
        isinstance(entities, dict) and entities, file, "entities", "must be a non-empty mapping"
    )
    vocab: dict[str, dict[str, tuple[str, ...]]] = {}
    for entity, values in entities.items():
        require(
            isinstance(values, dict), file, f"entities.{entity}", "must map values to alias lists"
        )
        vocab[entity] = {}
        for value, aliases in values.items():
            require(
                isinstance(aliases, list) and all(isinstance(a, str) and a for a in aliases),
                file,
                f"entities.{entity}.{value}",
                "must be a list of non-empty strings",
            )
            vocab[entity][str(value)] = tuple(aliases)
    return vocab


def _parse_precedence(
    doc: dict[str, Any], vocab: dict[str, dict[str, tuple[str, ...]]], file: str
) -> dict[str, dict[str, tuple[str, ...]]]:
    """vocabulary.yml `precedence`: every value named must be one of the entity's values."""
    raw: Any = doc.get("precedence") or {}
    require(isinstance(raw, dict), file, "precedence", "must map entities to rules")
    rules: dict[str, dict[str, tuple[str, ...]]] = {}
    for entity, by_value in raw.items():
        key = f"precedence.{entity}"
        require(entity in vocab and isinstance(by_value, dict), file, key, "unknown entity")
        for winner, losers in by_value.items():
            require(
                isinstance(losers, list) and {str(winner), *map(str, losers)} <= set(vocab[entity]),
                file,
                f"{key}.{winner}",
                "must list values of the entity",
            )
            rules.setdefault(entity, {})[str(winner)] = tuple(map(str, losers))
    return rules


def _parse_sources(doc: dict[str, Any], file: str) -> dict[str, SourceInfo]:
    entries: Any = doc.get("sources")
    require(
        isinstance(entries, dict) and entries,
        file,
        "sources",
        "must map each URL to publisher and date",
    )
    registry: dict[str, SourceInfo] = {}
    for url, info in entries.items():
        key = f"sources[{url}]"
        require(isinstance(info, dict), file, key, "must be a mapping")
        publisher = info.get("publisher")
        require(
            isinstance(publisher, str) and publisher.strip() != "",
            file,
            f"{key}.publisher",
            "missing",
        )
        date = info.get("date")
        if isinstance(date, dt.date):
            date = date.isoformat()
        require(
            date is None or (isinstance(date, (str, int)) and len(str(date)) in (4, 7, 10)),
            file,
            f"{key}.date",
            "must be YYYY, YYYY-MM, YYYY-MM-DD or null (unknown)",
        )
        registry[str(url)] = SourceInfo(
            publisher=publisher.strip(),
            date=None if date is None else str(date),
            repost=bool(info.get("repost", False)),
            approximate=bool(info.get("approximate", False)),
            publisher_en=info.get("publisher_en"),
        )
    return registry


def _parse_notices(doc: dict[str, Any], file: str) -> dict[str, str]:
    notices: Any = doc.get("notices")
    require(
        isinstance(notices, dict) and all(isinstance(v, str) and v for v in notices.values()),
        file,
        "notices",
        "must map names to non-empty text",
    )
    missing = [name for name in (*NOTICE_NAMES, *NOTICE_NAMES_EN) if name not in notices]
    require(not missing, file, "notices", f"needs {', '.join(missing)}")
    return {str(k): v for k, v in notices.items()}


def _parse_scope_names_en(doc: dict[str, Any], file: str) -> dict[str, str]:
    names: Any = doc.get("scope_names_en")
    require(
        isinstance(names, dict) and all(isinstance(v, str) and v for v in names.values()),
        file,
        "scope_names_en",
        "must map each scope to its English name",
    )
    missing = [scope for scope in SCOPES if scope not in names]
    require(not missing, file, "scope_names_en", f"needs {', '.join(missing)}")
    return {str(k): v for k, v in names.items()}


def _parse_individual_visit(doc: dict[str, Any], file: str) -> IndividualVisitCities:
    for name in ("listed_places", "not_listed_places", "sources", "as_of"):
        require(name in doc, file, name, "missing")
    _sources(doc["sources"], file, "sources")
    as_date(doc["as_of"], file, "as_of")
    listed, not_listed = doc["listed_places"], doc["not_listed_places"]
    require(
        isinstance(listed, dict) and listed,
        file,
        "listed_places",
        "must map place values to city names",
    )
    require(
        isinstance(not_listed, list), file, "not_listed_places", "must be a list of place values"
    )
    require(not set(listed) & set(not_listed), file, "not_listed_places", "overlaps listed_places")
    return IndividualVisitCities(
        listed=frozenset(map(str, listed)), not_listed=frozenset(map(str, not_listed))
    )


def _parse_trip_plans(
    doc: dict[str, Any], file: str, registry: Mapping[str, SourceInfo]
) -> tuple[dict[str, TripPlan], dict[str, str]]:
    plans_raw: Any = doc.get("plans")
    require(isinstance(plans_raw, dict) and plans_raw, file, "plans", "must map services to plans")
    plans: dict[str, TripPlan] = {}
    for service, plan in plans_raw.items():
        key = f"plans.{service}"
        require(
            isinstance(plan, dict) and isinstance(plan.get("document"), str),
            file,
            key,
            "needs `document`",
        )
        steps = []
        for i, step in enumerate(plan.get("then") or []):
            require(
                isinstance(step, dict) and step.get("aspect") in ASPECTS,
                file,
                f"{key}.then[{i}]",
                f"needs an aspect, one of {ASPECTS}",
            )
            assume = step.get("assume") or {}
            require(
                isinstance(assume, dict) and all(k in WHEN_KEYS for k in assume),
                file,
                f"{key}.then[{i}].assume",
                f"keys must be among {WHEN_KEYS}",
            )
            steps.append(
                TripStep(aspect=step["aspect"], assume={k: str(v) for k, v in assume.items()})
            )
        note = (
            _parse_fact(plan["note"], file, f"{key}.note", registry) if plan.get("note") else None
        )
        places = plan.get("places") or []
        require(
            isinstance(places, list) and all(isinstance(p, str) and p for p in places),
            file,
            f"{key}.places",
            "must be a list of place names",
        )
        plans[str(service)] = TripPlan(
            document=plan["document"], then=tuple(steps), note=note, places=tuple(places)
        )
    destinations = doc.get("destinations") or {}
    require(
        isinstance(destinations, dict) and all(v in plans for v in destinations.values()),
        file,
        "destinations",
        "must map destination values to a service with a plan",
    )
    return plans, {str(k): str(v) for k, v in destinations.items()}


def load_kb(kb_dir: Path | str) -> KnowledgeBase:
    """Read every *.yml in kb_dir; files are dispatched on their top-level `kind`.

    sources.yml is read first, so every fact's citations can be checked against it.
    """
    kb = KnowledgeBase()
    kb_dir = Path(kb_dir)
    files = sorted(kb_dir.glob("*.yml"))
    if not files:
        raise KBError(f"{kb_dir}: no knowledge-base files found")
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        file = path.name
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise KBError(f"{file}: not valid YAML: {exc}") from exc
        require(isinstance(doc, dict) and "kind" in doc, file, "kind", "missing top-level `kind`")
        kb.raw[file] = doc
        docs.append((file, doc))
        if doc["kind"] == "sources":
            kb.sources.update(_parse_sources(doc, file))
    for file, doc in docs:
        kind = doc["kind"]
        if kind == "notices":
            kb.notices = _parse_notices(doc, file)
            kb.scope_names_en = _parse_scope_names_en(doc, file)
        elif kind == "individual_visit_cities":
            kb.individual_visit = _parse_individual_visit(doc, file)
        elif kind in ("topic", "topics"):
            entries: Any = [doc] if kind == "topic" else doc.get("topics")
            require(
                isinstance(entries, list) and entries and all(isinstance(t, dict) for t in entries),
                file,
                "topics",
                "must be a non-empty list of topics",
            )
            for i, entry in enumerate(entries):
                where = file if kind == "topic" else f"{file}: topics[{i}]"
                topic = _parse_topic(entry, where, kb.sources)
                require(topic.id not in kb.topics, where, "id", f"duplicate topic id {topic.id!r}")
                kb.topics[topic.id] = topic
        elif kind == "halls":
            kb.halls.update(_parse_halls(doc, file))
        elif kind == "understanding":
            try:
                kb.understanding = parse_understanding(doc, file)
            except ValueError as exc:
                raise KBError(str(exc)) from exc
        elif kind == "trip_plans":
            kb.trip_plans, kb.trip_destinations = _parse_trip_plans(doc, file, kb.sources)
            travel = doc.get("travel_words") or []
            require(
                isinstance(travel, list) and all(isinstance(w, str) and w for w in travel),
                file,
                "travel_words",
                "must be a list of words",
            )
            kb.trip_travel_words = tuple(travel)
        elif kind == "hall_directory":
            kb.directory = _parse_directory(doc, file, kb.sources)
        elif kind == "vocabulary":
            kb.vocabulary = _parse_vocabulary(doc, file)
            kb.vocabulary_precedence = _parse_precedence(doc, kb.vocabulary, file)
            words = doc.get("domain_words") or []
            require(
                isinstance(words, list) and all(isinstance(w, (str, int)) for w in words),
                file,
                "domain_words",
                "must be a list of words",
            )
            kb.domain_words = tuple(str(w) for w in words)
        # Other kinds (emergency, holidays) are validated by their own modules.
    return kb


@lru_cache(maxsize=1)
def get_kb() -> KnowledgeBase:
    """The process-wide knowledge base, loaded once."""
    from bot.settings import get_settings

    return load_kb(get_settings().kb_dir)
