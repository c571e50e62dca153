"""The guide console's satisfaction figures: GET /guide/api/care (staff only).

The route joins the console's blueprint, so bot.channels.guide_auth's middleware decides
access on the server (staff session, or loopback without a password hash, nobody when
locked) before it runs. The figures are bot.care.report's, the same as `make report`
prints: ratings by topic and week, and the unanswered questions by week (masked).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, Mapping

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

__all__ = ["add_care_routes"]

logger = logging.getLogger(__name__)


def _figures() -> Dict[str, Any]:
    from bot.care.report import figures

    return figures()


def add_care_routes(
    bp: Blueprint,
    headers: Mapping[str, str],
    figures: Callable[[], Dict[str, Any]] = _figures,
) -> None:
    """Add /api/care to the (already protected) console blueprint."""

    @bp.route("/api/care", methods=["GET"], name="guide_care_figures")
    async def care(_: Request) -> HTTPResponse:
        try:
            data = await asyncio.to_thread(figures)  # synchronous database reads
        except Exception:
            logger.exception("guide console: satisfaction figures failed")
            return response.json({"error": "unavailable"}, status=503, headers=dict(headers))
        return response.json(
            data, headers={**headers, "Cache-Control": "no-store"}, ensure_ascii=False
        )
