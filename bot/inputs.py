"""Limits and cleaning for everything a channel accepts from outside, in one place.

Why here and not in each channel: REST, the web chat, WeChat and the guide console must cap a
sender id at the same length (bookings are keyed by sender, so two different caps lose a
citizen's bookings) and must strip the same characters before NLU. The reply a citizen gets
when the assistant produced nothing is the domain response `utter_system_busy`, so the
wording stays in data.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, Dict, List, Optional

from bot.domain_files import responses

#: Longest sender id kept; a longer one is cut here, the same way on every channel.
MAX_SENDER_CHARS = 128
#: Longest message text handed to NLU; the rest is dropped (a citizen's question is short).
MAX_MESSAGE_CHARS = 2000
#: Largest request body a chat channel reads (a message of 2,000 CJK characters is 6 KB).
MAX_BODY_BYTES = 16 * 1024
#: The domain response sent when a turn produced no reply at all (action server down …).
BUSY_RESPONSE = "utter_system_busy"

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
    """The `utter_system_busy` reply as channel messages, from the running model's domain, or
    from the domain files when there is no model to ask: never silence."""
    responses = getattr(getattr(agent, "domain", None), "responses", None) or {}
    variants = responses.get(BUSY_RESPONSE) or []
    text = (variants[0].get("text") if variants else None) or _busy_text_from_domain_file()
    return [{"recipient_id": recipient_id, "text": text}]


@lru_cache(maxsize=1)
def _busy_text_from_domain_file() -> str:
    """The busy wording from domain/, for when the running model has none (no agent, an old
    model)."""
    return str(responses()[BUSY_RESPONSE][0]["text"])


def _is_loopback_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def is_loopback(request: Any) -> bool:
    """The peer is this machine and no proxy says it forwarded someone else.

    A proxy on the same host connects from 127.0.0.1; its X-Forwarded-For / X-Real-IP then
    name the real client, and a `Forwarded` header is taken as "proxied" outright.
    """
    if not _is_loopback_address(request.ip or ""):
        return False
    if request.headers.get("forwarded"):
        return False
    for header in ("x-forwarded-for", "x-real-ip"):
        for value in request.headers.getall(header, []):
            if not all(_is_loopback_address(part) for part in value.split(",")):
                return False
    return True
