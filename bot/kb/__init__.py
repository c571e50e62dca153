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
    load_kb,
)

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
    "load_kb",
]
