"""Knowledge-base answers: documents, fee, time, place, attendance, photo, …

The answers are data/kb text, sent as `utter_kb_answer`; the questions this action asks back
are domain responses (domain/core.yml), with names from data/wording/labels.yml.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Set, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.kb import get_kb, service_label
from bot.kb.loader import FOREIGNERS, KnowledgeBase, fill
from bot.language import ENGLISH
from bot.understand import Reading, subjects
from bot.vocabulary import domain_cues
from bot.wording import labels

INTENT_ASPECT = {
    "ask_documents": "documents",
    "ask_fee": "fee",
    "ask_processing_time": "time",
    "ask_validity": "validity",
    "ask_location": "place",
    "ask_attendance": "attendance",
    "ask_photo": "photo",
    "ask_delivery": "delivery",
    "ask_endorsement": "endorsement",
    "ask_yidi": "yidi",
    "ask_green_channel": "green_channel",
    # "暑假带孩子去香港玩": an ordinary trip plan is answered with what to prepare.
    "travel_plan": "documents",
    # "口岸签证是什么", "怎么查出入境记录": a topic of its own (data/kb/topic_*.yml).
    "ask_topic": "overview",
}
#: The aspects a question can be about; their names are data/wording/labels.yml `aspects`.
ASPECTS = frozenset(INTENT_ASPECT.values())
CONTEXT_SLOTS = (
    "service",
    "applicant_type",
    "apply_kind",
    "endorsement_type",
    "place",
    "destination",
    "topic",
)
TRIP_INTENT = "travel_plan"
#: The response that carries a knowledge-base answer as it is (`{answer}`): the KB text is
#: the data, the response only says how it is sent.
KB_ANSWER = "utter_kb_answer"
#: The NLU's note that the intent was read from the wording (bot.nlu.reading).
UNDERSTOOD_KEY = "understood"
#: The services offered as buttons; their titles are the KB's names (bot.kb.service_label).
SERVICE_BUTTONS = ("passport", "hk_macau_permit", "taiwan_permit", "residence_permit")


def aspect_label(aspect: str) -> str:
    """What the question was about, as a reply names it ("所需材料")."""
    return labels("aspects")[aspect]


def _service_buttons(aspect: str) -> List[Dict[str, str]]:
    """The services to choose from (titles are the KB's names); endorsements exist only for
    the two permits."""
    return [
        {"title": service_label(value), "payload": f'/inform{{"service":"{value}"}}'}
        for value in SERVICE_BUTTONS
        if aspect != "endorsement" or value in ("hk_macau_permit", "taiwan_permit")
    ]


def _service_before_latest_message(tracker: Tracker) -> Optional[str]:
    """The `service` slot as it was before the latest user message set it again."""
    seen_latest_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_latest_user:
                break
            seen_latest_user = True
            continue
        if seen_latest_user and event.get("event") == "slot" and event.get("name") == "service":
            return event.get("value")
    return None


def travelled_to_service(message: Dict[str, Any], kb: KnowledgeBase) -> Optional[str]:
    """The service of a trip plan's place named as where the citizen goes ("去香港需要护照吗":
    hk_macau_permit), when the message names another service too; else None. The slot
    takes the last service named, which would answer about the passport."""
    text = str(message.get("text") or "")
    services = [e for e in message.get("entities") or [] if e.get("entity") == "service"]
    if len({e.get("value") for e in services}) < 2:
        return None
    for entity in services:
        plan = kb.trip_plans.get(str(entity.get("value")))
        start = int(entity.get("start") or 0)
        said = text[max(0, start - 2) : int(entity.get("end") or start)]  # aliases hold 去香港
        if plan is not None and any(
            word + place in said for word in kb.trip_travel_words for place in plan.places
        ):
            return str(entity["value"])
    return None


def answer_context(tracker: Tracker) -> Dict[str, Any]:
    """Slots that shape the answer. A question about a different service starts afresh."""
    context = {name: tracker.get_slot(name) for name in CONTEXT_SLOTS}
    named_now = {e.get("entity") for e in tracker.latest_message.get("entities", [])}
    context["service"] = (
        travelled_to_service(tracker.latest_message, get_kb()) or context["service"]
    )
    previous_service = _service_before_latest_message(tracker)
    if "service" in named_now and previous_service and previous_service != context["service"]:
        for name in ("applicant_type", "apply_kind", "endorsement_type"):
            if name not in named_now:
                context[name] = None
    if "destination" in named_now and "service" not in named_now:
        # "下个月去日本玩": the destination says which document, whatever was discussed before.
        context["service"] = get_kb().trip_destinations.get(
            str(context.get("destination")), context["service"]
        )
    elif not context.get("service") and context.get("destination"):
        context["service"] = get_kb().trip_destinations.get(str(context["destination"]))
    # A topic (口岸签证 …) carries over to "多少钱?", not to a question naming a service.
    if "service" in named_now and "topic" not in named_now:
        context["topic"] = None
    return context


def more_buttons(kb: KnowledgeBase, context: Dict[str, Any]) -> List[Dict[str, str]]:
    """Buttons such as 还想了解：费用 / 办理时间 / 预约办理, each asking that question about
    this service."""
    understanding = kb.understanding
    if understanding is None:
        return []
    carried = {
        k: str(v)
        for k, v in context.items()
        if k in ("service", "applicant_type", "apply_kind") and v
    }
    return [
        {"title": understanding.labels[intent], "payload": Reading(intent, carried).payload()}
        for intent in understanding.overview_more
    ]


def overview_text(kb: KnowledgeBase, context: Dict[str, Any]) -> Optional[str]:
    """The documents, then the fee and the time in one line each, one source line for all."""
    understanding = kb.understanding
    documents = kb.answer("documents", context)
    if documents is None or understanding is None:
        return None
    extra: List[str] = []
    citations: List[str] = []
    for aspect in ("fee", "time"):
        answer = kb.answer(aspect, context)
        # only the topic's own fee and time: a one-answer topic gives its main text for any
        # aspect, and that is already shown
        if answer is not None and answer.topic.id == documents.topic.id and answer.aspect == aspect:
            extra.append(
                understanding.overview_lines[aspect].replace("{brief}", answer.fact.brief())
            )
            citations.append(answer.citation)
    return documents.render(extra=tuple(extra), more_citations=tuple(citations))


def destination_text(tracker: Tracker, places: tuple[str, ...]) -> Optional[str]:
    """Where the trip goes as the citizen wrote it: the destination ("日本"), else the first
    of the plan's place names in the message ("香港"; never "港澳通行证")."""
    text = str(tracker.latest_message.get("text") or "")
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "destination":
            start, end = entity.get("start"), entity.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
                return text[start:end]
    return next((place for place in places if place in text), None)


def _place_buttons(asks: Optional[str]) -> List[Dict[str, str]]:
    """When the answer depends on the citizen's city, offer the cities the NLU knows.

    Titles are the first alias in data/kb/vocabulary.yml, so no city name is typed here.
    """
    if asks != "place":
        return []
    places = get_kb().vocabulary.get("place", {})
    return [
        {"title": aliases[0], "payload": f'/inform{{"place":"{value}"}}'}
        for value, aliases in places.items()
        if aliases
    ]


def hints_given(tracker: Tracker) -> Set[str]:
    """Topic hints ("未满16岁、换发……有所不同") this conversation has already shown.

    The hint says once how other cases differ; repeated under every answer it is noise."""
    kb = get_kb()
    hints = {fill(t.hint.strip(), kb.notices) for t in kb.topics.values() if t.hint}
    said = "\n".join(str(e.get("text") or "") for e in tracker.events if e.get("event") == "bot")
    return {h for h in hints if h in said}


def answer_text(
    aspect: str,
    context: Dict[str, Any],
    seen_hints: Optional[Set[str]] = None,
    language: Optional[str] = None,
) -> Optional[str]:
    """The KB answer for `aspect`, with the halls added to a question about place."""
    kb = get_kb()
    answer = kb.answer(aspect, context, language)
    parts: List[str] = []
    if answer is not None:
        if answer.hint and seen_hints and fill(answer.hint.strip(), kb.notices) in seen_hints:
            answer = dataclasses.replace(answer, hint=None)
        parts.append(answer.render())
    english = language == ENGLISH
    template = kb.notice("hall_details_en" if english else "hall_details") or ""
    unset = kb.notice("not_configured_en" if english else "not_configured")
    if aspect == "place" and context.get("place") in kb.directory and not context.get("topic"):
        for other in kb.directory[context["place"]]:
            parts.append(
                _hall_details(
                    template,
                    other.name,
                    other.address.display(unset),
                    other.hours.display(unset),
                    other.phone.display(unset),
                )
            )
    elif (
        aspect == "place"
        and not context.get("topic")
        and (answer is None or answer.aspect == "place")
    ):
        for hall in kb.halls.values():
            name = (hall.name_en and f"{hall.name_en} ({hall.name})") if english else hall.name
            parts.append(
                _hall_details(
                    template,
                    name or hall.name,
                    hall.address.display(unset),
                    hall.hours.display(unset),
                    hall.phone.display(unset),
                )
            )
    return "\n\n".join(parts) if parts else None


def _hall_details(template: str, name: str, address: str, hours: str, phone: str) -> str:
    """A hall's lines in the words of notices.yml (`hall_details`, or `_en` in English)."""
    values = {"name": name, "address": address, "hours": hours, "phone": phone}
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value or name)
    return text


def english_service_buttons() -> List[Dict[str, str]]:
    """The topics that answer in English (`audience: foreigners`), titled with `name_en`."""
    return [
        {"title": topic.name_en, "payload": f'/inform{{"service":"{topic.id}"}}'}
        for topic in get_kb().topics.values()
        if topic.audience == FOREIGNERS and topic.name_en
    ]


class ActionAnswerKb(Action):
    """Answers the part of the question asked about, from data/kb, keeping context."""

    def name(self) -> Text:
        return "action_answer_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        events = await self._answer(dispatcher, tracker)
        travelled = travelled_to_service(tracker.latest_message, get_kb())
        if travelled and travelled != tracker.get_slot("service"):
            # "去香港需要护照吗" then "多少钱": the follow-up is about the permit, too
            events = [e for e in events if e.get("name") != "service"]
            events.append(SlotSet("service", travelled))
        return events

    async def _answer(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        understanding = get_kb().understanding
        if understanding is not None:
            intent = understanding.narrowed(intent, tracker.latest_message.get("entities") or [])
        aspect = (
            INTENT_ASPECT.get(intent or "")
            or tracker.get_slot("last_aspect")
            or self._worded_aspect(tracker)
        )
        if not aspect:
            dispatcher.utter_message(response="utter_ask_aspect")
            return []
        context = answer_context(tracker)
        remembered = get_kb().topics.get(context.get("topic") or "")
        named_now = {e.get("entity") for e in tracker.latest_message.get("entities", [])}
        if remembered is not None and "topic" not in named_now and aspect not in remembered.answers:
            context["topic"] = (
                None  # "照片要求" after "口岸签证是什么" is about photos, not the topic
            )
        if aspect == "overview" and not context.get("topic"):
            aspect = "documents"  # "这个怎么办" with no topic named: what to bring
        language = tracker.get_slot("language")
        # In English the check below would ask in Chinese; the topic question further on
        # asks instead.
        if language != ENGLISH and self._is_off_topic_opening(tracker, intent, context):
            dispatcher.utter_message(
                response="utter_ask_off_topic",
                aspect=aspect_label(aspect),
                buttons=_service_buttons(aspect),
            )
            return [SlotSet("last_aspect", aspect)]

        needs_service = aspect in (
            "documents",
            "fee",
            "time",
            "validity",
            "attendance",
            "endorsement",
        ) and not context.get("topic")
        kb = get_kb()
        general = kb.topics.get("general")
        if language == ENGLISH and needs_service and not context.get("service"):
            dispatcher.utter_message(
                response="utter_ask_which_topic", buttons=english_service_buttons()
            )
            return [SlotSet("last_aspect", aspect)]
        if (
            needs_service
            and not context.get("service")
            and not (general and aspect in general.answers)
        ):
            dispatcher.utter_message(
                response="utter_ask_which_service",
                aspect=aspect_label(aspect),
                buttons=_service_buttons(aspect),
            )
            return [SlotSet("last_aspect", aspect)]
        if aspect == "documents" and context.get("service") and self._is_trip(tracker, intent):
            pending = self._answer_trip(dispatcher, tracker, kb, context)
            if pending is not None:
                return pending or [SlotSet("last_aspect", aspect)]
        # The overview's lines and buttons are Chinese; in English the answer comes alone.
        if (
            aspect == "documents"
            and context.get("service")
            and language != ENGLISH
            and self._is_how_to(tracker, kb)
        ):
            overview = overview_text(kb, context)
            if overview is not None:
                dispatcher.utter_message(
                    response="utter_overview", answer=overview, buttons=more_buttons(kb, context)
                )
                return [SlotSet("last_aspect", aspect)]
        text = answer_text(aspect, context, hints_given(tracker), language)
        if text is None:
            dispatcher.utter_message(response=KB_ANSWER, answer=kb.notice("no_answer") or "")
        else:
            answer = kb.answer(aspect, context, language)
            if language == ENGLISH and (answer is None or not answer.in_english):
                dispatcher.utter_message(response="utter_english_scope")
            buttons = _place_buttons(answer.fact.asks if answer else None)
            dispatcher.utter_message(response=KB_ANSWER, answer=text, buttons=buttons)
        events: List[EventType] = [SlotSet("last_aspect", aspect)]
        if tracker.get_slot("topic") and not context.get("topic"):
            events.append(SlotSet("topic", None))
        return events

    @staticmethod
    def _worded_aspect(tracker: Tracker) -> Optional[str]:
        """ "外国人居留许可怎么办" heard as a bare detail (inform): the wording names the aspect."""
        understanding = get_kb().understanding
        if understanding is None:
            return None
        message = tracker.latest_message
        worded = understanding.wording_intent(
            str(message.get("text") or ""), message.get("entities") or []
        )
        return INTENT_ASPECT.get(worded or "")

    @staticmethod
    def _is_trip(tracker: Tracker, intent: Optional[str]) -> bool:
        """A trip plan, or any documents question that names a destination abroad."""
        named = subjects(tracker.latest_message.get("entities") or [])
        return intent == TRIP_INTENT or "destination" in named

    @staticmethod
    def _is_how_to(tracker: Tracker, kb: KnowledgeBase) -> bool:
        """ "护照怎么办理 / 要准备什么 / 流程", or a reading the NLU took from such wording."""
        if tracker.latest_message.get(UNDERSTOOD_KEY):
            return True
        return bool(
            kb.understanding
            and kb.understanding.is_how_to(str(tracker.latest_message.get("text") or ""))
        )

    @staticmethod
    def _answer_trip(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        kb: KnowledgeBase,
        context: Dict[str, Any],
    ) -> Optional[List[EventType]]:
        """What to prepare for the destination: the documents, then the plan's further answers
        (the tourism endorsement by the citizen's city, Taiwan's current status), then its note.

        None when there is no plan for the service. When an answer asks for the citizen's city,
        the events make the city's answer the one about that question (the endorsement, with
        the assumed tourism type), not the documents again; otherwise no events are needed.
        """
        plan = kb.trip_plans.get(str(context["service"]))
        documents = kb.answer("documents", context)
        if plan is None or documents is None:
            return None
        destination = destination_text(tracker, plan.places)
        intro = {"document": plan.document, "answer": documents.render(check=False)}
        if destination:
            dispatcher.utter_message(response="utter_trip_plan", destination=destination, **intro)
        else:
            dispatcher.utter_message(response="utter_trip_plan_document", **intro)
        asks: Optional[str] = None
        pending: List[EventType] = []
        texts: List[str] = []
        for step in plan.then:
            assumed = {k: v for k, v in step.assume.items() if not context.get(k)}
            answer = kb.answer(step.aspect, {**context, **assumed})
            if answer is not None:
                texts.append(answer.render(check=False))
                if answer.fact.asks and not asks:
                    asks = answer.fact.asks
                    pending = [
                        SlotSet("last_aspect", step.aspect),
                        *(SlotSet(k, v) for k, v in assumed.items()),
                    ]
        if plan.note is not None:
            texts.append(kb.render_fact(plan.note, check=False))
        text = "\n\n".join(texts)
        if kb.notices.get("check_line"):
            text = "\n".join(t for t in (text, fill(kb.notices["check_line"], kb.notices)) if t)
        buttons = _place_buttons(asks) or more_buttons(kb, context)
        dispatcher.utter_message(response=KB_ANSWER, answer=text, buttons=buttons)
        return pending

    @staticmethod
    def _is_off_topic_opening(
        tracker: Tracker, intent: Optional[str], context: Dict[str, Any]
    ) -> bool:
        """ "地址在哪？" with no exit-entry word, in a conversation not yet about any service:
        likely about something else, so ask rather than answer from the knowledge base."""
        if (
            intent not in INTENT_ASPECT
            or context.get("service")
            or context.get("topic")
            or tracker.get_slot("last_aspect")
        ):
            return False
        return not domain_cues(str(tracker.latest_message.get("text") or ""))
