"""Which domain response says each queue message to the citizen, and its text outside Rasa.

Why here: the Rasa server (during a turn, through its NLG) and the web chat's poll (no
turn, no NLG) must word a staff reply, a "taken" and a "closed" notice the same way, from
domain/handoff.yml.
"""

from __future__ import annotations

import re
from typing import Any, Dict

from bot.domain_files import responses

#: queue message kind → domain response ({text} is the staff reply, masked).
KIND_RESPONSES: Dict[str, str] = {
    "text": "utter_handoff_staff_reply",
    "taken": "utter_handoff_taken",
    "closed": "utter_handoff_closed_by_staff",
}


def _is_english(variation: Dict[str, Any]) -> bool:
    return any(
        c.get("type") == "slot" and c.get("name") == "language" and c.get("value") == "en"
        for c in variation.get("condition") or []
    )


def render(response: str, language: str = "zh", **values: Any) -> str:
    """The response's text in `language` (its English variation for "en"), filled in."""
    variations = responses()[response]
    chosen = None
    if language == "en":
        chosen = next((v for v in variations if _is_english(v)), None)
    if chosen is None:
        chosen = next(v for v in variations if not v.get("condition"))
    return re.sub(
        r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), str(chosen["text"])
    )


def render_kind(kind: str, text: str, language: str = "zh") -> str:
    """A queue message as the citizen reads it."""
    return render(KIND_RESPONSES.get(kind, KIND_RESPONSES["text"]), language, text=text)
