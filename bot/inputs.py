"""Limits and cleaning for everything a channel accepts from outside, in one place.

Why here and not in each channel: REST, the web chat, WeChat and the guide console must cap a
sender id at the same length (bookings are keyed by sender, so two different caps lose a
citizen's bookings) and must strip the same characters before NLU. The reply a citizen gets
when the assistant produced nothing is the domain response `utter_system_busy`, so the
wording stays in data.

Who a request comes from is decided here too (`client_address`, `stamp_client`): a sender id
is the client's own choice, so limits that must hold per citizen (handoff cases per client,
polls per minute) count the address the server saw, and a forwarded header counts only when
it comes from a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from bot.domain_files import responses

#: Longest sender id kept; a longer one is cut here, the same way on every channel.
MAX_SENDER_CHARS = 128
#: Longest message text handed to NLU; the rest is dropped (a citizen's question is short).
MAX_MESSAGE_CHARS = 2000
#: Largest request body a chat channel reads (a message of 2,000 CJK characters is 6 KB).
MAX_BODY_BYTES = 16 * 1024
#: The domain response sent when a turn produced no reply at all (action server down …).
BUSY_RESPONSE = "utter_system_busy"
#: The message metadata field the REST channel sets on every message: a keyed hash of the
#: client address the server saw (`client_key`). A value the client sent is overwritten.
CLIENT_KEY_FIELD = "client_key"

_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

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
    address = _ip(text)
    return address is not None and address.is_loopback


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


def _ip(text: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """The address in `text` ("[::1]" too), an IPv4-mapped IPv6 address as IPv4; else None."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


@lru_cache(maxsize=8)
def _networks(proxies: Sequence[str]) -> tuple[_Network, ...]:
    """TRUSTED_PROXIES as networks; an entry that is not an address or network is skipped."""
    found: List[_Network] = []
    for entry in proxies:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return tuple(found)


def _trusted(text: str, networks: Iterable[_Network]) -> bool:
    address = _ip(text)
    if address is None:
        return False
    return address.is_loopback or any(address in net for net in networks)


def client_address(request: Any, trusted: Optional[Sequence[str]] = None) -> str:
    """The client as the server sees it: the peer, unless the peer is a trusted proxy
    (loopback, or TRUSTED_PROXIES); then the nearest untrusted hop of X-Forwarded-For, read
    from the right (a proxy appends the address it saw, so everything left of that is the
    client's own claim), else X-Real-IP. A client that is not a proxy names itself in vain.
    """
    from bot.settings import get_settings

    peer = str(request.ip or "unknown")
    networks = _networks(tuple(trusted if trusted is not None else get_settings().trusted_proxies))
    if not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getall("x-forwarded-for", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    if hops:  # every hop is a trusted network's: the first is where the request began
        return hops[0]
    real = [v.strip() for v in request.headers.getall("x-real-ip", []) if v.strip()]
    return real[-1] if real else peer


def client_key(address: str) -> str:
    """A keyed hash of a client address (HMAC with ID_HASH_SECRET, as bookings hash IDs), so
    no store keeps the address. An IPv6 client counts by its /64: one line holds them all."""
    from bot.booking.repository import hash_id

    ip = _ip(address)
    if ip is None:
        text = address.strip()[:64]
    elif ip.version == 6:
        text = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    else:
        text = str(ip)
    return hash_id(f"client:{text}")[:32]


def stamp_client(metadata: Optional[Mapping[str, Any]], request: Any) -> Dict[str, Any]:
    """The message's metadata with CLIENT_KEY_FIELD set by the server, over any client value."""
    return {**(metadata or {}), CLIENT_KEY_FIELD: client_key(client_address(request))}


def client_key_of(events: Iterable[Mapping[str, Any]]) -> Optional[str]:
    """The client key the channel stamped on the conversation's latest user message (None
    for channels that vouch for their senders themselves, such as WeChat)."""
    for event in reversed(list(events)):
        if event.get("event") == "user":
            value = (event.get("metadata") or {}).get(CLIENT_KEY_FIELD)
            return value if isinstance(value, str) and value else None
    return None
