"""Rasa's REST channel, hardened, at the same address: POST /webhooks/rest/webhook.

Why not the stock `rest:` channel: a JSON array body gave a 500; a `message` that was a
number, null, an object or a lone surrogate gave `[]` and a traceback; a 16 MB body was read
and stored in the tracker; a 100,000-character sender was stored as is while bookings cut
senders to 128 characters (so "我的预约" found nothing); and an outage answered `[]`.

This class keeps the stock contract (same name "rest", so the same URL; the collector's
messages as the reply; `metadata`, `input_channel` and `?stream=true`) and adds, using the
limits shared by every channel in bot.inputs:
- a body over MAX_BODY_BYTES is refused with 413 before it is read into memory;
- anything that is not a JSON object with a string `message` and a string `sender` is a 400
  with a JSON error (never a 500, never a traceback);
- the text goes through `clean_text`, the sender through `cap_sender`;
- a turn that produced nothing, or failed, is answered with `utter_system_busy`, never `[]`;
- the metadata's `client_key` is the server's (bot.inputs.stamp_client: a keyed hash of the
  address it saw), whatever the client sent, so per-client limits (handoff cases) hold
  however many sender ids one client makes up.

The JSON errors are for API clients; the web chat shows its own wording for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Union

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.inputs import MAX_BODY_BYTES, busy_messages, cap_sender, clean_text, stamp_client

logger = logging.getLogger(__name__)

#: Longest `input_channel` a client may name (the booking table keeps 32 characters).
MAX_CHANNEL_CHARS = 32
#: Channels whose senders another connector vouches for (WeChat signs its openids; the
#: console and the inbox have their own checks). Bookings, handoff cases and kept messages
#: belong to a (sender, channel) pair, so a REST client naming "wechat" and someone's openid
#: would act as that citizen. A REST client may label its own channel (a kiosk), not these.
RESERVED_CHANNELS = frozenset({"wechat", "webchat", "guide", "guide_grid", "inbox"})
#: Deepest `metadata` nesting accepted: Rasa deep-copies it into every event, and about 900
#: levels (5 KB of JSON) made that copy raise RecursionError (a traceback and no turn).
MAX_METADATA_DEPTH = 20

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class RestRequest:
    """One validated REST message: what the stock channel read from `request.json`."""

    text: str
    sender: str
    input_channel: str
    metadata: Optional[Dict[str, Any]]


class BadRequest(Exception):
    """The body is not a message this channel accepts; `code` and `detail` go to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def error_response(status: int, code: str, detail: str, **extra: Any) -> HTTPResponse:
    """A JSON error a client program can act on (`error` is stable, `detail` explains)."""
    return response.json({"error": code, "detail": detail, **extra}, status=status)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> Optional[bytes]:
    """The request body, or None as soon as it is known to exceed `limit` bytes.

    The route is a streaming route, so Sanic has not buffered the body: a declared
    Content-Length over the limit is refused unread, and a chunked body is counted as it
    arrives. (Sanic discards whatever is left after the 413 is sent.)
    """
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        return None
    if request.stream is None:
        return request.body or b""
    chunks: List[bytes] = []
    size = 0
    async for chunk in request.stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iterative: no recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def parse_message(body: bytes, default_channel: str) -> RestRequest:
    """Validate a body as `{"sender": str, "message": str, "metadata"?: {}, "input_channel"?: str}`.

    A missing sender is refused too: the stock channel then used the shared id "default",
    and bookings are looked up by sender, so anonymous clients would share one conversation.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("invalid_json", "The body must be a JSON object.") from None
    if not isinstance(payload, dict):
        raise BadRequest("invalid_body", "The body must be a JSON object, not an array or a value.")
    message = payload.get("message")
    if not isinstance(message, str):
        raise BadRequest("invalid_message", "`message` is required and must be a string.")
    sender = cap_sender(payload.get("sender"))
    if sender is None:
        raise BadRequest("invalid_sender", "`sender` is required and must be a non-empty string.")
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("invalid_metadata", "`metadata` must be a JSON object when given.")
    if metadata and nesting_depth(metadata) > MAX_METADATA_DEPTH:
        raise BadRequest(
            "invalid_metadata", f"`metadata` may nest at most {MAX_METADATA_DEPTH} levels deep."
        )
    channel = payload.get("input_channel")
    if channel is not None and not isinstance(channel, str):
        raise BadRequest("invalid_input_channel", "`input_channel` must be a string when given.")
    channel = clean_text(channel or "")[:MAX_CHANNEL_CHARS] or default_channel
    if channel.casefold() in RESERVED_CHANNELS:
        raise BadRequest(
            "reserved_input_channel", f"`input_channel` may not be {channel!r}: another channel's."
        )
    return RestRequest(clean_text(message), sender, channel, metadata)


async def handle_turn(
    on_new_message: OnNewMessage, message: RestRequest, output: OutputChannel
) -> None:
    """Run one turn; a failure is logged once and leaves the output empty (so: busy reply)."""
    try:
        await on_new_message(
            UserMessage(
                message.text,
                output,
                message.sender,
                input_channel=message.input_channel,
                metadata=message.metadata,
            )
        )
    except asyncio.CancelledError:
        logger.error("REST channel: the turn was cancelled (request timeout)")
    except Exception:
        logger.exception("REST channel: handling a message failed")


async def pending_notices(message: RestRequest) -> List[Dict[str, Any]]:
    """Notices kept for this citizen (a grid ticket moved on: bot.grid.notify), sent after
    the turn's own replies, since REST and the web chat cannot be pushed to. Never fails."""
    from bot.grid.notify import as_messages, notices_for_reply

    texts = await asyncio.to_thread(notices_for_reply, message.sender, message.input_channel)
    return as_messages(texts, message.sender)


class RestChannel(RestInput):
    """The REST channel at /webhooks/rest/webhook with input limits and no silent replies."""

    @classmethod
    def name(cls) -> str:
        """Named "rest", like the stock channel: the URL /webhooks/rest/webhook is a contract."""
        return "rest"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The stock routes (GET / health, POST /webhook), with the body read under a limit."""
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            body = await read_body(request)
            if body is None:
                return error_response(
                    413,
                    "payload_too_large",
                    f"The request body is larger than {MAX_BODY_BYTES} bytes; "
                    "please send a shorter message.",
                    max_bytes=MAX_BODY_BYTES,
                )
            try:
                message = parse_message(body, self.name())
            except BadRequest as exc:
                return error_response(400, exc.code, exc.detail)
            message = replace(message, metadata=stamp_client(message.metadata, request))
            agent = getattr(request.app.ctx, "agent", None)
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self._stream(on_new_message, message, agent), content_type="text/event-stream"
                )
            collector = CollectingOutputChannel()
            await handle_turn(on_new_message, message, collector)
            replies = collector.messages or busy_messages(agent, message.sender)
            return response.json(replies + await pending_notices(message))

        return bp

    @staticmethod
    def _stream(
        on_new_message: OnNewMessage, message: RestRequest, agent: Any
    ) -> Callable[[Any], Coroutine[Any, Any, None]]:
        """Stock streaming (one JSON line per bot message), ending with busy if none came."""

        async def stream(resp: Any) -> None:
            queue: asyncio.Queue = asyncio.Queue()
            done = object()

            async def run() -> None:
                try:
                    await handle_turn(on_new_message, message, QueueOutputChannel(queue))
                finally:  # the stock wrapper never said DONE after a failure: a hung stream
                    await queue.put(done)

            task = asyncio.ensure_future(run())
            sent = False
            while True:
                item = await queue.get()
                if item is done:
                    break
                await resp.write(json.dumps(item) + "\n")
                sent = True
            if not sent:
                for item in busy_messages(agent, message.sender):
                    await resp.write(json.dumps(item) + "\n")
            await task

        return stream
