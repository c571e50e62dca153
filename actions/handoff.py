"""Hand-over to staff: where a person can take over, said plainly."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.kb import get_kb
from bot.kb.hotline import hotline_number
from bot.wording import label


class ActionHandoff(Action):
    """Gives the hall numbers and the hotline and marks the conversation for staff follow-up."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        kb = get_kb()
        line, unset = label("handoff_hall"), kb.notice("not_configured")
        halls = "".join(
            line.replace("{name}", hall.name).replace("{phone}", hall.phone.display(unset)) + "\n"
            for hall in kb.halls.values()
        )
        dispatcher.utter_message(response="utter_handoff", hotline=hotline_number(), halls=halls)
        return [SlotSet("handoff_requested", True)]
