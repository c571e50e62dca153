"""The case summary staff read before answering: topic, emergency, filled slots, last turns.

Why built from the tracker's events (as rasa_sdk gives them to an action): that is what
the citizen said and what the bot answered, so staff need not ask again. Every text is masked
(bot.privacy.mask_text) here, and the queue masks the whole summary again before storing
it, so a clear ID number or phone never reaches the table or the console.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from bot.privacy import mask_text
from bot.wording import wording

__all__ = ["build_summary", "detect_emergency", "detect_reason", "topic_of"]

FALLBACK_INTENT = "nlu_fallback"


def _words() -> Mapping[str, Any]:
    return wording("handoff")


def _label_of(slot: str, value: Any) -> str:
    """How the guide console names a slot value (data/wording/guide.yml), else the value."""
    guide = wording("guide")
    if slot in ("service", "booking_service"):
        try:
            from bot.kb import get_kb

            topics = get_kb().topics
            if isinstance(value, str) and value in topics:
                return str(topics[value].name)
        except Exception:
            pass
    if slot == "last_aspect":
        from bot.wording import labels

        return labels("aspects").get(str(value), str(value))
    named = (guide.get("value_labels") or {}).get(slot) or {}
    return str(named.get(value, value))


def _user_events(events: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    return [e for e in events if e.get("event") == "user"]


def detect_emergency(
    slots: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
) -> Optional[str]:
    """The emergency category: the slot, else an `emergency_type` entity of a recent message."""
    value = slots.get("emergency_type")
    if isinstance(value, str) and value:
        return value
    for event in reversed(_user_events(events)):
        for entity in (event.get("parse_data") or {}).get("entities") or []:
            if entity.get("entity") == "emergency_type" and isinstance(entity.get("value"), str):
                return str(entity["value"])
    return None


def detect_reason(events: Iterable[Mapping[str, Any]], emergency: Optional[str]) -> str:
    """Why the hand-over: the form's offer after three failures, an emergency, or a request."""
    for event in reversed(list(events)):
        if event.get("event") == "user":
            continue
        if event.get("event") == "bot":
            action = str((event.get("metadata") or {}).get("utter_action") or "")
            if action.endswith("_handoff") or "_handoff_" in action:
                if action.startswith("utter_booking"):
                    return "form_failures"
            break
    return "emergency" if emergency else "request"


def topic_of(slots: Mapping[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(id, name) of what the conversation was about: a KB topic, else the service."""
    try:
        from bot.kb import get_kb

        topics = get_kb().topics
    except Exception:
        topics = {}
    for slot in ("topic", "service", "booking_service"):
        value = slots.get(slot)
        if isinstance(value, str) and value:
            topic = topics.get(value)
            return value, (str(topic.name) if topic is not None else value)
    aspect = slots.get("last_aspect")
    if isinstance(aspect, str) and aspect:
        from bot.wording import labels

        return None, labels("aspects").get(aspect, aspect)
    return None, None


def build_summary(
    *,
    slots: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    reason: str,
    emergency: Optional[str],
    channel: str,
    language: str = "zh",
) -> Dict[str, Any]:
    """The masked summary of one conversation (JSON-ready)."""
    words = _words()
    hidden = set(words.get("hidden_slots") or [])
    slot_labels = {
        **(words.get("slot_labels") or {}),
        **(wording("guide").get("slot_labels") or {}),
    }
    filled = []
    for name, value in slots.items():
        if name in hidden or value in (None, "", [], {}) or isinstance(value, (dict, list)):
            continue
        filled.append(
            {
                "slot": name,
                "label": str(slot_labels.get(name, name)),
                "value": mask_text(_label_of(name, value)),
            }
        )
    turns: List[Dict[str, str]] = []
    for event in events:
        kind = event.get("event")
        text = event.get("text")
        if kind not in ("user", "bot") or not isinstance(text, str) or not text.strip():
            continue
        turns.append({"from": "citizen" if kind == "user" else "bot", "text": mask_text(text)})
    keep = int(words.get("summary_turns") or 10)
    emergency_name = None
    if emergency:
        try:
            from bot.kb.emergency import get_emergency_kb

            info = get_emergency_kb().categories.get(emergency)
            emergency_name = info.name if info is not None else None
        except Exception:
            emergency_name = None
    topic_id, topic_name = topic_of(slots)
    return {
        "reason": reason,
        "topic": topic_id,
        "topic_name": topic_name,
        "emergency": emergency,
        "emergency_name": emergency_name,
        "channel": channel,
        "language": language,
        "slots": filled,
        "turns": turns[-keep:],
    }
