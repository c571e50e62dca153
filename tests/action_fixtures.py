"""Actions for testing the action server itself (tests/test_servers_closed.py).

`action_fixture_blocked` waits on a threading.Event, as an action stuck on a locked database
would; `action_fixture_fast` answers at once. The test proves the fast one is served while
the blocked one still waits.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

ENTERED = threading.Event()
RELEASE = threading.Event()


class ActionFixtureFast(Action):
    def name(self) -> Text:
        return "action_fixture_fast"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(text="fast")
        return []


class ActionFixtureBlocked(Action):
    def name(self) -> Text:
        return "action_fixture_blocked"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        ENTERED.set()
        RELEASE.wait(60)  # blocking on purpose, like a synchronous database call
        dispatcher.utter_message(text="blocked")
        return []
