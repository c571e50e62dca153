"""Hand-over to staff: where a person can take over, said plainly."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.kb import get_kb


class ActionHandoff(Action):
    """Gives the hall numbers and 12367 and marks the conversation for staff follow-up."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        lines = ["好的，为您转人工服务：", "· 12367 移民管理服务热线（7×24 小时，中英文）"]
        for hall in get_kb().halls.values():
            lines.append(f"· {hall.name}：{hall.phone.display()}")
        lines.append("工作时间也可以直接到大厅为民窗口找工作人员。")
        dispatcher.utter_message(text="\n".join(lines))
        return [SlotSet("handoff_requested", True)]
