"""The web chat's side of the handoff: GET /webchat/handoff, the staff replies for one case.

Why a token and not the sender id: the sender id is whatever a client sends, so anyone who
learnt or guessed one could read that citizen's replies. The case token is 256 random bits,
given once to the conversation that opened the case (actions/handoff.py) and stored hashed
(bot.handoff.queue); without it, or with a wrong one, the answer is 404 and nothing else.
It travels in a header (X-Handoff-Token), so it never lands in access logs.
"""

from __future__ import annotations

import asyncio
import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.handoff.queue import HandoffQueue, HandoffUnavailable
from bot.handoff.replies import render_kind

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Handoff-Token"
NO_STORE = {"Cache-Control": "no-store"}


def add_citizen_routes(bp: Blueprint, headers: dict) -> None:
    """Add GET /handoff (the poll) to the web chat's blueprint."""
    base = {**headers, **NO_STORE}

    @bp.route("/handoff", methods=["GET"], name="webchat_handoff_poll")
    async def poll(request: Request) -> HTTPResponse:
        token = (request.headers.get(TOKEN_HEADER) or "").strip()
        try:
            found = await asyncio.to_thread(HandoffQueue().poll, token)
        except HandoffUnavailable:
            return response.json({"error": "unavailable"}, status=503, headers=base)
        if found is None:
            return response.json({"error": "unknown_case"}, status=404, headers=base)
        is_open, language, pending = found
        messages = [{"text": render_kind(m.kind, m.text, language)} for m in pending]
        return response.json(
            {"open": is_open, "messages": messages}, headers=base, ensure_ascii=False
        )
