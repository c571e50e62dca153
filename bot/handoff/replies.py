"""Which domain response says each queue message to the citizen, and its text outside Rasa.

Why here: the Rasa server (during a turn, through its NLG) and the web chat's poll (no
turn, no NLG) must word a staff reply, a "taken" and a "closed" notice the same way, from
domain/handoff.yml.
"""

from __future__ import annotations

from typing import Dict

from bot.domain_files import render

#: queue message kind → domain response ({text} is the staff reply, masked).
KIND_RESPONSES: Dict[str, str] = {
    "text": "utter_handoff_staff_reply",
    "taken": "utter_handoff_taken",
    "closed": "utter_handoff_closed_by_staff",
}


def render_kind(kind: str, text: str, language: str = "zh") -> str:
    """A queue message as the citizen reads it."""
    return render(KIND_RESPONSES.get(kind, KIND_RESPONSES["text"]), language, text=text)
