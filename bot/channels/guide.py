"""The hall-guide console at /guide/: one screen the guide reads from at the counter.

The guide types the citizen's situation in their words (or picks a service). The backend
runs the *same* NLU as the bot (the running agent's parse_message) and answers from the
*same* knowledge base (bot.kb), so the console and the chat can never disagree: the page's
HTML/JS hold no facts, only layout. Emergency categories and proofs come from
data/kb/emergency.yml; today's free slots from bot.booking while its store is reachable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Tuple,
)

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.booking import BookingRepository, SlotView
from bot.channels.guide_auth import GuideAuth, protect
from bot.channels.guide_care import add_care_routes
from bot.channels.webchat import SECURITY_HEADERS, WEB_ROOT, static_page_routes
from bot.kb import Hall, KnowledgeBase
from bot.kb.emergency import EmergencyKB, get_emergency_kb
from bot.kb.loader import fill
from bot.vocabulary import VocabularyMatcher
from bot.wording import wording

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 500
MAX_BODY_BYTES = 16 * 1024
SLOT_KEYS = ("service", "applicant_type", "apply_kind", "endorsement_type", "place")
TIMEZONE = "Asia/Shanghai"


class NluAgent(Protocol):
    """What the console needs from rasa's Agent: its own NLU, nothing else."""

    def is_ready(self) -> bool: ...

    async def parse_message(self, message_data: str) -> Dict[str, Any]: ...


class SlotSource(Protocol):
    """What the console needs from bot.booking's repository: today's slots of one hall."""

    def available_slots(
        self, hall_id: str, day: dt.date, *, now: Optional[dt.datetime] = None
    ) -> List[SlotView]: ...


class GuideError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------- helpers
def _words() -> Mapping[str, Any]:
    """The console's wording (data/wording/guide.yml): headings, labels, warnings, errors."""
    return wording("guide")


def _say(template: str, **values: Any) -> str:
    """A template of data/wording/guide.yml with its `{name}`s filled in."""
    return template.format_map(values)


def _sections() -> List[Tuple[str, str]]:
    """Which KB aspects appear for a service, in which order, under which heading."""
    return [(str(aspect), str(title)) for aspect, title in _words()["sections"].items()]


def _value_label(slot: str, value: str) -> str:
    """How a slot value is shown ("minor" → 未满16周岁); the value itself when unnamed."""
    return str((_words()["value_labels"].get(slot) or {}).get(value, value))


def _now() -> dt.datetime:
    """Hall-local wall-clock time, naive (as the booking repository compares it)."""
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
    except Exception:
        return dt.datetime.now()


def _services(kb: KnowledgeBase) -> List[Dict[str, str]]:
    """What the console can pick: the `service` entity values that have a KB topic, then
    the other topics (口岸签证, 出入境记录 …), so a guide can open any KB entry directly."""
    ids = list(kb.vocabulary.get("service", {}).keys()) or list(kb.topics.keys())
    ids += [t for t in _topic_ids(kb) if t not in ids]
    return [{"id": i, "name": kb.topics[i].name} for i in ids if i in kb.topics]


def _topic_ids(kb: KnowledgeBase) -> List[str]:
    """The `topic` entity values (data/kb/topic_*.yml) that the knowledge base answers."""
    return [t for t in kb.vocabulary.get("topic", {}) if t in kb.topics]


def _label(slot: str, value: Optional[str], kb: KnowledgeBase) -> Optional[str]:
    if value is None:
        return None
    if slot == "service" and value in kb.topics:
        return kb.topics[value].name
    return _value_label(slot, value)


async def _parse(agent: Optional[NluAgent], text: str) -> Tuple[Dict[str, Any], List[str]]:
    """The bot's own NLU result, or an empty parse plus a warning when no model is loaded."""
    warnings: List[str] = []
    if agent is not None and text:
        try:
            if agent.is_ready():
                return await agent.parse_message(text), warnings
        except Exception:
            logger.exception("guide console: NLU parse failed")
    if text:
        warnings.append(str(_words()["warnings"]["no_model"]))
    return {"text": text, "intent": {"name": None, "confidence": 0.0}, "entities": []}, warnings


_MATCHERS: Dict[int, VocabularyMatcher] = {}


def _matcher(kb: KnowledgeBase) -> VocabularyMatcher:
    """One VocabularyMatcher per loaded KB (building its regex costs more than a lookup)."""
    if id(kb) not in _MATCHERS:
        _MATCHERS.clear()
        _MATCHERS[id(kb)] = VocabularyMatcher(kb.vocabulary, precedence=kb.vocabulary_precedence)
    return _MATCHERS[id(kb)]


def _entity_values(parse: Mapping[str, Any], text: str, kb: KnowledgeBase) -> Dict[str, List[str]]:
    """Entity values in order of appearance: the NLU's, then the shared vocabulary matcher's.

    The vocabulary matcher (bot.vocabulary) is the same code the NLU extractor uses; asking it
    too keeps the console useful when no model is loaded and catches a second place name
    ("四川户口，想在湖州办" has both the applicant's home and the hall's city).
    """
    found: Dict[str, List[str]] = {}
    for ent in parse.get("entities") or []:
        name, value = ent.get("entity"), ent.get("value")
        if isinstance(name, str) and isinstance(value, str):
            found.setdefault(name, [])
            if value not in found[name]:
                found[name].append(value)
    if text and kb.vocabulary:
        try:
            from bot.text import normalize

            for match in sorted(_matcher(kb).find(normalize(text)), key=lambda m: m.start):
                found.setdefault(match.entity, [])
                if match.value not in found[match.entity]:
                    found[match.entity].append(match.value)
        except Exception:
            logger.exception("guide console: vocabulary matching failed")
    return found


def _choose_hall(kb: KnowledgeBase, places: List[str], service: Optional[str]) -> List[Hall]:
    """The hall named in the text; else every hall offering the service."""
    halls = list(kb.halls.values())
    named = [kb.halls[p] for p in places if p in kb.halls]
    if named:
        return named[:1]
    return [h for h in halls if not service or service in h.services]


def _fact_section(
    kb: KnowledgeBase, aspect: str, title: str, slots: Mapping[str, Any]
) -> Optional[Dict[str, Any]]:
    answer = kb.answer(aspect, slots)
    if answer is None:
        return None
    fact = answer.fact
    text = fill(fact.text.strip(), kb.notices)  # {hotline} → the number, as in the chat
    return {
        "id": aspect,
        "title": title,
        "topic": answer.topic.name,
        "text": text,
        "items": _list_items(text) if aspect == "documents" else [],
        "scope": fact.scope,
        "sources": list(fact.sources),
        "as_of": fact.as_of.isoformat(),
        "as_of_basis": fact.as_of_basis,
    }


def _list_items(text: str) -> List[str]:
    """Numbered lines ("1. 居民身份证；") → checklist items; the rest stays as prose."""
    items = []
    for line in text.splitlines():
        m = re.match(r"^\s*(?:\d+[.、．)]|[-•·])\s*(.+)$", line)
        if m:
            items.append(m.group(1).strip().rstrip("；;。"))
    return items


def _hall_view(hall: Hall, unset: Optional[str]) -> Dict[str, Any]:
    """A hall's details; `unset` (notices.yml `not_configured`) stands for what is not
    configured."""
    return {
        "id": hall.id,
        "name": hall.name,
        "city": hall.city,
        "address": hall.address.display(unset),
        "hours": hall.hours.display(unset),
        "phone": hall.phone.display(unset),
        "green_channel_phone": hall.green_channel_phone.display(unset),
    }


# ----------------------------------------------------------------- emergency (green channel)
def _cue_texts(cues: Iterable[Mapping[str, Any]]) -> List[str]:
    """Cues (bot.emergency's `{cue, kind, start, end}`) as "我爸（亲人）".

    A cue inside another one (爸 in 我爸) is left out: it is the same evidence, only shorter.
    """
    items = [
        (str(c["cue"]), c.get("kind"), c.get("start"), c.get("end"))
        for c in cues
        if isinstance(c, Mapping) and c.get("cue")
    ]
    out: List[str] = []
    for text, kind, start, end in items:
        inside = (
            isinstance(start, int)
            and isinstance(end, int)
            and any(
                isinstance(s2, int)
                and isinstance(e2, int)
                and s2 <= start
                and end <= e2
                and (e2 - s2) > (end - start)
                for _, _, s2, e2 in items
            )
        )
        repeated = any(kind == k2 and text != t2 and text in t2 for t2, k2, _, _ in items)
        if inside or repeated:
            continue
        label = _words()["cue_kinds"].get(str(kind)) if kind else None
        shown = _say(_words()["cue"], cue=text, kind=label) if label and label != text else text
        if shown not in out:
            out.append(shown)
    return out


def _ask_view(parse: Mapping[str, Any], ekb: EmergencyKB) -> Optional[Dict[str, Any]]:
    """The ask band (bot.nlu.emergency `emergency_ask`): staff should ask whether it is urgent.

    `category`/`name` are the detector's guess (None when only the classifier hesitated);
    `context` names what lowered it (如果, 电视剧…), shown as the cue that blocked it.
    """
    raw = parse.get("emergency_ask")
    if not isinstance(raw, Mapping):
        return None
    category = raw.get("category")
    info = ekb.categories.get(category) if isinstance(category, str) else None
    blocked = [b for b in raw.get("blocked_by") or [] if isinstance(b, Mapping)]
    return {
        "category": category if info else None,
        "name": info.name if info else None,
        "cues": _cue_texts(raw.get("cues") or []),
        "context": [str(b.get("cue")) for b in blocked if b.get("cue")],
    }


def _green_channel(
    parse: Mapping[str, Any], hall: Optional[Hall], unset: Optional[str]
) -> Dict[str, Any]:
    """Eligibility exactly as the bot decides it: the parse's `emergency_type` entity.

    No entity means no emergency (the NLU contract in DESIGN.md); the component's `emergency`
    output only explains the decision (cues, confidence). Proofs come from data/kb/emergency.yml.
    """
    category = next(
        (
            e.get("value")
            for e in parse.get("entities") or []
            if e.get("entity") == "emergency_type"
        ),
        None,
    )
    raw = parse.get("emergency")
    emergency: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    ekb: EmergencyKB = get_emergency_kb()
    info = ekb.categories.get(category) if isinstance(category, str) else None
    view: Dict[str, Any] = {
        "eligible": info is not None,
        "category": category,
        "name": None,
        "who": None,
        "cues": _cue_texts(emergency.get("cues") or []),
        "confidence": emergency.get("confidence"),
        "proofs": [],
        "speed": None,
        "phone": hall.green_channel_phone.display(unset) if hall is not None else None,
        "sources": [],
        "as_of": None,
        "categories": [{"id": cid, "name": c.name} for cid, c in ekb.categories.items()],
        "ask": _ask_view(parse, ekb) if info is None else None,
    }
    if info is not None:
        view.update(
            name=info.name,
            who=info.who,
            proofs=[*info.proofs, *([ekb.application_form] if ekb.application_form else [])],
            sources=list(info.sources),
            as_of=info.as_of.isoformat(),
            speed=ekb.speed.text.strip() or None,
        )
    return view


# --------------------------------------------------------------------------- booking
def default_repository() -> BookingRepository:
    """bot.booking's repository, engine from DATABASE_URL."""
    return BookingRepository()


def _slots_today(
    halls: Iterable[Hall], repository_factory: Callable[[], SlotSource]
) -> Optional[Dict[str, Any]]:
    """Free slots per hall today; None (show nothing) while the booking store is unreachable."""
    now = _now()
    try:
        repo = repository_factory()
    except Exception:
        logger.debug("booking repository unavailable", exc_info=True)
        return None
    result: Dict[str, Any] = {"day": now.date().isoformat(), "halls": []}
    for hall in halls:
        try:
            slots = repo.available_slots(hall.id, now.date(), now=now)
        except Exception:
            logger.warning(
                "guide console: no slots for %s (booking unavailable)", hall.id, exc_info=True
            )
            return None
        result["halls"].append(
            {
                "hall_id": hall.id,
                "hall_name": hall.name,
                "slots": [
                    {"start": _hhmm(s.start), "end": _hhmm(s.end), "free": int(s.free)}
                    for s in slots
                    if s.free > 0
                ],
            }
        )
    return result


def _hhmm(value: dt.time) -> str:
    return value.strftime("%H:%M")


# --------------------------------------------------------------------------- the analysis
async def analyze(
    agent: Optional[NluAgent],
    text: str,
    picks: Mapping[str, Any],
    repository_factory: Callable[[], SlotSource] = default_repository,
) -> Dict[str, Any]:
    """Everything the console shows for one situation, as JSON-ready data."""
    from bot.kb import get_kb

    kb = get_kb()
    parse, warnings = await _parse(agent, text)
    values = _entity_values(parse, text, kb)

    slots: Dict[str, Optional[str]] = {k: next(iter(values.get(k) or []), None) for k in SLOT_KEYS}
    topic = next(
        reversed(values.get("topic") or []), None
    )  # the last one named, as the chat's slot
    if picks.get("service") in _topic_ids(kb):
        topic, picks = str(picks["service"]), {k: v for k, v in picks.items() if k != "service"}
    for key in ("service", "applicant_type", "apply_kind"):
        allowed = kb.topics if key == "service" else kb.vocabulary.get(key, {})
        if picks.get(key) in allowed:
            slots[key] = str(picks[key])
    places = values.get("place") or []
    halls = _choose_hall(kb, places, slots["service"])
    # The applicant's own place decides the rule (外省 → 异地); the hall's city says where.
    home = [p for p in places if p not in kb.halls]
    slots["place"] = home[0] if home else (places[0] if places else None)
    filled = {k: v for k, v in slots.items() if v}

    words = _words()
    sections: List[Dict[str, Any]] = []
    if topic in kb.topics:
        titles = dict(_sections())
        for aspect in kb.topics[topic].answers:
            title = _say(
                words["topic_section"],
                topic=kb.topics[topic].name,
                title=titles.get(aspect, words["topic_overview"]),
            )
            section = _fact_section(
                kb, aspect, title, {**{k: v for k, v in slots.items() if v}, "topic": topic}
            )
            if section:
                sections.append(section)
    if slots["service"]:
        for aspect, title in _sections():
            kb_slots = dict(filled)
            if aspect == "place" and halls and len(halls) == 1:
                kb_slots["place"] = halls[0].id  # where: the hall's own entry
            section = _fact_section(kb, aspect, title, kb_slots)
            if section:
                sections.append(section)
        if places:
            for place in dict.fromkeys([slots["place"]] + [h.id for h in halls[:1]]):
                if not place:
                    continue
                section = _fact_section(kb, "yidi", words["yidi"], {**filled, "place": place})
                if section and all(s["text"] != section["text"] for s in sections):
                    if section["scope"] != "全国":
                        section["title"] = _say(words["local_practice"], scope=section["scope"])
                    sections.append(section)
    elif topic not in kb.topics:
        warnings.append(str(words["warnings"]["no_service"]))

    hall = halls[0] if len(halls) == 1 else None
    unset = kb.notice("not_configured")
    green = _green_channel(parse, hall, unset)
    green["text"] = None
    if green["eligible"]:
        gc_slots = {**filled, "place": hall.id} if hall is not None else filled
        section = _fact_section(kb, "green_channel", words["green_channel"], gc_slots)
        if section:
            green["text"] = section["text"]
            green["text_scope"] = section["scope"]
    intent = parse.get("intent") or {}
    result = {
        "text": text,
        "nlu": {
            "intent": intent.get("name"),
            "confidence": round(float(intent.get("confidence") or 0.0), 3),
            "entities": [
                {"entity": e.get("entity"), "value": e.get("value")}
                for e in parse.get("entities") or []
            ],
        },
        "slots": [
            {"slot": k, "label": words["slot_labels"][k], "value": v, "display": _label(k, v, kb)}
            for k, v in slots.items()
            if v
        ],
        "service": {"id": slots["service"], "name": _label("service", slots["service"], kb)}
        if slots["service"]
        else None,
        "topic": {"id": topic, "name": kb.topics[topic].name} if topic in kb.topics else None,
        "sections": sections,
        "halls": [_hall_view(h, unset) for h in halls],
        "green_channel": green,
        "slots_today": _slots_today(halls, repository_factory),
        "warnings": warnings,
    }
    result["summary"] = summary_text(result)
    return result


def summary_text(result: Mapping[str, Any]) -> str:
    """The plain-text version behind the copy button (same facts, one place)."""
    say = _words()["summary"]
    lines: List[str] = []
    if result.get("text"):
        lines.append(_say(say["request"], text=result["text"]))
    for slot in result.get("slots") or []:
        lines.append(_say(say["slot"], label=slot["label"], display=slot["display"]))
    for section in result.get("sections") or []:
        lines += [
            "",
            _say(say["section_title"], title=section["title"]),
            section["text"],
            _say(
                say["section_source"],
                scope=section["scope"],
                source=section["sources"][0],
                as_of=section["as_of"],
            ),
        ]
    for hall in result.get("halls") or []:
        lines += [
            "",
            _say(say["hall"], name=hall["name"]),
            _say(say["hall_address"], address=hall["address"]),
            _say(say["hall_hours"], hours=hall["hours"]),
            _say(say["hall_phone"], phone=hall["phone"]),
        ]
    green = result.get("green_channel") or {}
    lines.append("")
    if green.get("eligible"):
        lines.append(_say(say["green_channel"], name=green["name"]))
        if green.get("cues"):
            lines.append(_say(say["green_channel_cues"], cues=say["separator"].join(green["cues"])))
        lines += [
            _say(say["proof"], number=i, proof=p)
            for i, p in enumerate(green.get("proofs") or [], 1)
        ]
        if green.get("speed"):
            lines.append(green["speed"])
        if green.get("phone"):
            lines.append(_say(say["green_channel_phone"], phone=green["phone"]))
    else:
        lines.append(say["no_green_channel"])
    today = result.get("slots_today")
    if today:
        for hall in today["halls"]:
            free = (
                say["separator"].join(_say(say["slot_free"], **s) for s in hall["slots"])
                or say["no_free_slot"]
            )
            lines.append(
                _say(say["slots_today"], day=today["day"], hall=hall["hall_name"], free=free)
            )
    return "\n".join(lines).strip()


# --------------------------------------------------------------------------- the channel
class GuideInput(InputChannel):
    """Serves web/guide/ at /guide/ and its JSON API at /guide/api/, for staff only.

    Who may use it is bot.channels.guide_auth's decision (GUIDE_PASSWORD_HASH, else loopback).
    """

    @classmethod
    def name(cls) -> str:
        return "guide"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "GuideInput":
        return cls()

    def __init__(
        self,
        repository_factory: Optional[Callable[[], SlotSource]] = None,
        auth: Optional[GuideAuth] = None,
        wechat_sender: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.repository_factory = repository_factory or default_repository
        self.auth = auth  # None: read from the environment when the server starts
        #: The handoff queue's WeChat customer-service sender (tests: a fake API's).
        self.wechat_sender = wechat_sender

    def url_prefix(self) -> str:
        return "/guide"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"guide_{id(self)}", __name__)
        static_page_routes(bp, WEB_ROOT / "guide", "guide")
        auth = self.auth or GuideAuth.from_env()
        protect(bp, auth, WEB_ROOT / "guide", self.url_prefix(), SECURITY_HEADERS)
        # The handoff queue (/guide/queue, /guide/api/queue…), behind the same check.
        from bot.channels.guide_queue import add_queue_routes, default_wechat_sender

        add_queue_routes(
            bp,
            auth,
            WEB_ROOT / "guide",
            SECURITY_HEADERS,
            wechat_sender=self.wechat_sender or default_wechat_sender,
        )

        add_care_routes(bp, SECURITY_HEADERS)  # satisfaction figures (issue 14)

        def refusal(name: str) -> str:
            return str(_words()["errors"][name])

        def error(status: int, message: str) -> HTTPResponse:
            return response.json(
                {"error": message}, status=status, headers=SECURITY_HEADERS, ensure_ascii=False
            )

        @bp.route("/api/options", methods=["GET"])
        async def options(_: Request) -> HTTPResponse:
            from bot.kb import get_kb

            kb = get_kb()
            applicant_types = [
                {"id": v, "name": _value_label("applicant_type", v)}
                for v in kb.vocabulary.get("applicant_type", {})
            ]
            apply_kinds = [
                {"id": v, "name": _value_label("apply_kind", v)}
                for v in kb.vocabulary.get("apply_kind", {})
            ]
            return response.json(
                {
                    "services": _services(kb),
                    "applicant_types": applicant_types,
                    "apply_kinds": apply_kinds,
                },
                headers=SECURITY_HEADERS,
                ensure_ascii=False,
            )

        @bp.route("/api/analyze", methods=["POST"])
        async def analyze_route(request: Request) -> HTTPResponse:
            try:
                body = request.body or b""
                if len(body) > MAX_BODY_BYTES:
                    raise GuideError(413, refusal("too_long"))
                ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    raise GuideError(415, refusal("not_json"))
                try:
                    data = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise GuideError(400, refusal("bad_json"))
                if not isinstance(data, dict):
                    raise GuideError(400, refusal("not_an_object"))
                text = data.get("text") or ""
                if not isinstance(text, str):
                    raise GuideError(400, refusal("text_not_string"))
                text = text.strip()[:MAX_TEXT_CHARS]
                picks = {
                    k: data.get(k)
                    for k in ("service", "applicant_type", "apply_kind")
                    if isinstance(data.get(k), str) and data.get(k)
                }
                if not text and not picks.get("service"):
                    raise GuideError(400, refusal("nothing_to_analyse"))
                agent = getattr(request.app.ctx, "agent", None)
                result = await analyze(agent, text, picks, self.repository_factory)
                return response.json(result, headers=SECURITY_HEADERS, ensure_ascii=False)
            except GuideError as problem:
                return error(problem.status, problem.message)
            except Exception:
                logger.exception("guide console analysis failed")
                return error(500, str(_words()["errors"]["failed"]))

        return bp
