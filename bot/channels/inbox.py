"""Messages kept for a web-chat or REST citizen: POST /webhooks/inbox/poll.

Why a poll: the web page and a REST client have no address the server could push to, so a
reminder (bot.reminders) waits in the database (bot.care.kept) until the citizen's client
asks. The body is the REST channel's own: `{"sender": "...", "input_channel"?: "rest"}`,
and the answer is a list in the REST channel's reply format (`recipient_id`, `text`), so a
client shows it like any bot message.

Closed by default: only the (sender, channel) a message was kept for receives it, once; the
sender id is what identifies a web-chat or REST conversation everywhere, so this reveals
nothing a message from that sender could not ask for. Polls are limited per client address
(POLLS_PER_MINUTE) so that trying sender ids does not pay. Nothing here is a sentence: the
kept texts were worded from domain responses when they were kept.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any, Awaitable, Callable, Deque, Dict, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.booking.db import BookingUnavailable
from bot.care.kept import KeptMessageStore
from bot.channels.rest import MAX_CHANNEL_CHARS, error_response, read_body
from bot.inputs import cap_sender, clean_text, client_address

__all__ = ["InboxInput", "PollLimiter", "POLLS_PER_MINUTE"]

logger = logging.getLogger(__name__)

POLLS_PER_MINUTE = 30
MAX_POLL_BYTES = 2048
_TRACKED_CLIENTS = 10_000


class PollLimiter:
    """A sliding one-minute window of polls per client address, in memory."""

    def __init__(
        self, per_minute: int = POLLS_PER_MINUTE, clock: Callable[[], float] = time.monotonic
    ):
        self.per_minute = per_minute
        self.clock = clock
        self._seen: "OrderedDict[str, Deque[float]]" = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            window = self._seen.pop(client, None) or deque()
            while window and now - window[0] >= 60:
                window.popleft()
            allowed = len(window) < self.per_minute
            if allowed:
                window.append(now)
            self._seen[client] = window
            while len(self._seen) > _TRACKED_CLIENTS:
                self._seen.popitem(last=False)
            return allowed


class InboxInput(InputChannel):
    """POST /webhooks/inbox/poll: the sender's kept messages, each handed out once."""

    @classmethod
    def name(cls) -> str:
        return "inbox"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "InboxInput":
        return cls()

    def __init__(
        self,
        store_factory: Optional[Callable[[], KeptMessageStore]] = None,
        limiter: Optional[PollLimiter] = None,
        clock: Optional[Callable[[], datetime]] = None,
    ) -> None:
        self.store_factory = store_factory or KeptMessageStore
        self.limiter = limiter or PollLimiter()
        self.clock = clock  # None: the store's own clock (tests fix the day)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"inbox_{id(self)}", __name__)

        @bp.route("/poll", methods=["POST"], stream=True)  # read under MAX_POLL_BYTES
        async def poll(request: Request) -> HTTPResponse:
            if not self.limiter.allow(client_address(request)):
                return error_response(429, "too_many_polls", "Please poll less often.")
            body = await read_body(request, MAX_POLL_BYTES)
            if body is None:
                return error_response(413, "payload_too_large", "The body is too large.")
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):
                payload = None
            if not isinstance(payload, dict):
                return error_response(400, "invalid_body", "The body must be a JSON object.")
            sender = cap_sender(payload.get("sender"))
            if sender is None:
                return error_response(400, "invalid_sender", "`sender` is required.")
            channel = payload.get("input_channel")
            if channel is not None and not isinstance(channel, str):
                return error_response(
                    400, "invalid_input_channel", "`input_channel` must be a string."
                )
            channel = clean_text(channel or "")[:MAX_CHANNEL_CHARS] or "rest"
            if channel == "wechat":  # WeChat reminders go through WeChat, never through here
                return response.json([])
            try:
                at = self.clock() if self.clock else None
                texts = self.store_factory().take(sender, channel, at=at)
            except BookingUnavailable:
                return error_response(503, "unavailable", "Try again later.")
            return response.json([{"recipient_id": sender, "text": t} for t in texts])

        return bp
