"""Knowledge base: sourced facts from data/kb, validated at start-up.

Every answer the assistant gives about documents, fees, times and halls comes from here,
so the chat, the action server and the hall-guide console say the same thing.
"""

from bot.kb.loader import (
    ASPECTS,
    Answer,
    DirectoryHall,
    Fact,
    Hall,
    KBError,
    KnowledgeBase,
    Topic,
    get_kb,
    load_halls,
    load_kb,
)


def service_label(service: str, english: bool = False) -> str:
    """A service's name as replies and buttons show it: its KB topic's `name` (`name_en` in
    English). The one place the labels come from; an unknown id is shown as it is."""
    topic = get_kb().topics.get(service)
    if topic is None:
        return service
    return (topic.name_en or topic.name) if english else topic.name


__all__ = [
    "ASPECTS",
    "Answer",
    "DirectoryHall",
    "Fact",
    "Hall",
    "KBError",
    "KnowledgeBase",
    "Topic",
    "get_kb",
    "load_halls",
    "load_kb",
    "service_label",
]
