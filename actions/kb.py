"""Knowledge-base answers: documents, fee, time, place, attendance, photo, …"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.kb import get_kb
from bot.kb.loader import FOREIGNERS
from bot.language import ENGLISH
from bot.vocabulary import domain_cues

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
}
ASPECT_LABEL = {
    "documents": "所需材料",
    "fee": "费用",
    "time": "办理时间",
    "validity": "有效期",
    "place": "办理地点",
    "attendance": "是否本人到场",
    "photo": "照片要求",
    "delivery": "邮寄和网上办理",
    "endorsement": "签注",
    "yidi": "异地办证",
    "green_channel": "绿色通道",
}
CONTEXT_SLOTS = ("service", "applicant_type", "apply_kind", "endorsement_type", "place")
SERVICE_BUTTONS = [
    ("普通护照", "passport"),
    ("往来港澳通行证/签注", "hk_macau_permit"),
    ("往来台湾通行证/签注", "taiwan_permit"),
    ("外国人工作类居留许可", "residence_permit"),
]


def _service_buttons(aspect: str) -> List[Dict[str, str]]:
    return [
        {"title": title, "payload": f'/inform{{"service":"{value}"}}'}
        for title, value in SERVICE_BUTTONS
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


def answer_context(tracker: Tracker) -> Dict[str, Any]:
    """Slots that shape the answer. A question about a different service starts afresh."""
    context = {name: tracker.get_slot(name) for name in CONTEXT_SLOTS}
    named_now = {e.get("entity") for e in tracker.latest_message.get("entities", [])}
    previous_service = _service_before_latest_message(tracker)
    if "service" in named_now and previous_service and previous_service != context["service"]:
        for name in ("applicant_type", "apply_kind", "endorsement_type"):
            if name not in named_now:
                context[name] = None
    return context


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


def answer_text(aspect: str, context: Dict[str, Any], language: Optional[str] = None) -> Optional[str]:
    """The KB answer for `aspect`, with the halls added to a question about place."""
    kb = get_kb()
    answer = kb.answer(aspect, context, language)
    parts: List[str] = []
    if answer is not None:
        parts.append(answer.render())
    if aspect == "place" and (answer is None or answer.aspect == "place"):
        english = language == ENGLISH
        template = kb.notice("hall_details_en" if english else "hall_details") or ""
        unset = kb.notice("not_configured_en") if english else None
        for hall in kb.halls.values():
            values = {
                "name": (hall.name_en and f"{hall.name_en} ({hall.name})") if english else hall.name,
                "address": hall.address.display(unset), "hours": hall.hours.display(unset),
                "phone": hall.phone.display(unset),
            }
            text = template
            for name, value in values.items():
                text = text.replace("{" + name + "}", value or hall.name)
            parts.append(text)
    return "\n\n".join(parts) if parts else None


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
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        aspect = INTENT_ASPECT.get(intent or "") or tracker.get_slot("last_aspect")
        if not aspect:
            dispatcher.utter_message(
                text="您想了解哪方面呢？比如：要带什么材料、多少钱、多久能拿、在哪里办、照片要求。"
            )
            return []
        context = answer_context(tracker)
        language = tracker.get_slot("language")
        # In English the check below would ask in Chinese; the topic question further on asks instead.
        if language != ENGLISH and self._is_off_topic_opening(tracker, intent, context):
            dispatcher.utter_message(
                text=f"请问您是想了解出入境证件的{ASPECT_LABEL[aspect]}吗？我只能解答出入境相关的问题，"
                "请选择证件，或直接说“办护照多少钱”这样的问题。",
                buttons=_service_buttons(aspect),
            )
            return [SlotSet("last_aspect", aspect)]

        needs_service = aspect in ("documents", "fee", "time", "validity", "attendance", "endorsement")
        kb = get_kb()
        general = kb.topics.get("general")
        if language == ENGLISH and needs_service and not context.get("service"):
            dispatcher.utter_message(response="utter_ask_which_topic", buttons=english_service_buttons())
            return [SlotSet("last_aspect", aspect)]
        if needs_service and not context.get("service") and not (general and aspect in general.answers):
            dispatcher.utter_message(
                text=f"请问您想了解哪种证件的{ASPECT_LABEL[aspect]}？", buttons=_service_buttons(aspect)
            )
            return [SlotSet("last_aspect", aspect)]
        text = answer_text(aspect, context, language)
        if text is None:
            dispatcher.utter_message(text=kb.notice("no_answer") or "")
        else:
            answer = kb.answer(aspect, context, language)
            if language == ENGLISH and (answer is None or not answer.in_english):
                dispatcher.utter_message(response="utter_english_scope")
            buttons = _place_buttons(answer.fact.asks if answer else None)
            dispatcher.utter_message(text=text, buttons=buttons) if buttons else dispatcher.utter_message(text=text)
        return [SlotSet("last_aspect", aspect)]

    @staticmethod
    def _is_off_topic_opening(tracker: Tracker, intent: Optional[str], context: Dict[str, Any]) -> bool:
        """"地址在哪？" with no exit-entry word, in a conversation not yet about any service:
        likely about something else, so ask rather than answer from the knowledge base."""
        if intent not in INTENT_ASPECT or context.get("service") or tracker.get_slot("last_aspect"):
            return False
        return not domain_cues(str(tracker.latest_message.get("text") or ""))
