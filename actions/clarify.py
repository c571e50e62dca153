"""The first stage of Rasa's two-stage fallback: "您是想问：…？" with the likely readings.

Rasa's `action_two_stage_fallback` loop calls this action when the NLU is unsure (as
RasaHQ/rasa-demo overrides it). It offers the top readings, from DIET's ranking, the wording
cues and the recognised entities (bot.understand.readings), as buttons whose payloads are
the intent with those entities (/ask_fee{"service":"passport"}); the loop replays the chosen
one as if the citizen had typed it. "都不是" (/out_of_scope) makes the loop ask for a
rephrasing. Only when nothing at all was recognised is the help text (utter_default) given.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.kb import get_kb
from bot.language import ENGLISH
from bot.understand import OUT_OF_SCOPE_INTENT, Reading, readings, subjects

#: Rasa's own action_default_ask_rephrase (the loop's step after "都不是") utters this response.
REPHRASE_RESPONSE = "utter_ask_rephrase"


def reading_buttons(
    tracker: Tracker, english: bool = False
) -> tuple[List[Dict[str, str]], List[str], str | None]:
    """(buttons, labels for the question, service) for the latest message.

    The service is returned only when every label reads well after "您是想问护照的："; no
    buttons means nothing was recognised. In English the labels are the readings'
    `label_en` (a reading without one is not offered) and no service is returned.
    """
    understanding = get_kb().understanding
    if understanding is None:
        return [], [], None
    message = tracker.latest_message
    entities = message.get("entities") or []
    service = subjects(entities).get("service") or tracker.get_slot("service")
    found = readings(
        message.get("intent_ranking") or [],
        entities,
        str(message.get("text") or ""),
        understanding,
        known_service=service,
    )
    if english:
        found = [r for r in found if r.intent in understanding.labels_en]
    if not found:
        return [], [], service
    if english:
        buttons = [
            {"title": understanding.labels_en[r.intent], "payload": r.payload()} for r in found
        ]
        labels, service, none_of_these = (
            [b["title"] for b in buttons],
            None,
            understanding.none_of_these_en,
        )
    else:
        buttons = [
            {"title": understanding.label(r.intent, service), "payload": r.payload()} for r in found
        ]
        if (
            all(r.intent in understanding.service_labels for r in found)
            and service in understanding.service_names
        ):
            labels = [understanding.labels[r.intent] for r in found]  # "港澳通行证的：材料 / 费用"
        else:
            labels, service = [b["title"] for b in buttons], None
        none_of_these = understanding.none_of_these
    if none_of_these:
        buttons.append(
            {"title": none_of_these, "payload": Reading(OUT_OF_SCOPE_INTENT, {}).payload()}
        )
    return buttons, labels, service


class ActionAskAffirmation(Action):
    """Asks which of the likely readings was meant; the help text when there is none."""

    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        english = tracker.get_slot("language") == ENGLISH
        buttons, labels, service = reading_buttons(tracker, english=english)
        if not buttons:
            dispatcher.utter_message(response="utter_default")
            return []
        understanding = get_kb().understanding
        name = understanding.service_names.get(service or "") if understanding else None
        options = " / ".join(labels)
        if name:
            dispatcher.utter_message(
                response="utter_ask_affirmation_service",
                service=name,
                options=options,
                buttons=buttons,
            )
        else:
            dispatcher.utter_message(
                response="utter_ask_affirmation", options=options, buttons=buttons
            )
        return []
