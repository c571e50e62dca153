"""Limits and cleaning for everything a channel accepts from outside, in one place.

Why here and not in each channel: REST, the web chat, WeChat and the guide console must cap a
sender id at the same length (bookings are keyed by sender, so two different caps lose a
citizen's bookings) and must strip the same characters before NLU. The reply a citizen gets
when the assistant produced nothing is the domain response `utter_system_busy`, so the
wording stays in data.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

#: Longest sender id kept; a longer one is cut here, the same way on every channel.
MAX_SENDER_CHARS = 128
#: Longest message text handed to NLU; the rest is dropped (a citizen's question is short).
MAX_MESSAGE_CHARS = 2000
#: Largest request body a chat channel reads (a message of 2,000 CJK characters is 6 KB).
MAX_BODY_BYTES = 16 * 1024
#: The domain response sent when a turn produced no reply at all (action server down …).
BUSY_RESPONSE = "utter_system_busy"
#: Used only if the running model has no `utter_system_busy` (an old model): never silence.
_LAST_RESORT = "系统繁忙，请稍后再试。"

# Lone surrogates (invalid in UTF-8) and C0/C1 control characters except tab and newline.
_UNSAFE = re.compile(r"[\ud800-\udfff\u0000-\u0008\u000b-\u001f\u007f-\u009f]")


def clean_text(text: str) -> str:
    """The message without lone surrogates or control characters, at most MAX_MESSAGE_CHARS."""
    return _UNSAFE.sub("", text)[:MAX_MESSAGE_CHARS].strip()


def cap_sender(sender: Any) -> Optional[str]:
    """A cleaned sender id of at most MAX_SENDER_CHARS characters; None when it is unusable."""
    if not isinstance(sender, str):
        return None
    value = _UNSAFE.sub("", sender).strip()[:MAX_SENDER_CHARS]
    return value or None


def busy_messages(agent: Any, recipient_id: str = "") -> List[Dict[str, Any]]:
    """The `utter_system_busy` reply as channel messages, from the running model's domain."""
    responses = getattr(getattr(agent, "domain", None), "responses", None) or {}
    variants = responses.get(BUSY_RESPONSE) or [{"text": _LAST_RESORT}]
    text = variants[0].get("text") or _LAST_RESORT
    return [{"recipient_id": recipient_id, "text": text}]
