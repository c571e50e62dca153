"""The guide console's queue: staff see waiting cases, take one, read it, reply, close it.

Routes (on the console's blueprint, so bot.channels.guide_auth's middleware checks every one
of them first; nothing here is reachable without a staff session, or loopback where no
password is configured):
- GET  /guide/queue                     the page (web/guide/queue.html)
- GET  /guide/api/queue                 waiting cases (emergencies first), then open, closed
- GET  /guide/api/queue/<id>            one case: summary and messages
- POST /guide/api/queue/<id>/take       a waiting case becomes this session's
- POST /guide/api/queue/<id>/reply      {"text": "..."} to the citizen
- POST /guide/api/queue/<id>/close      the conversation goes back to the bot

Who may reply or close is decided by bot.handoff.queue from the database: the staff session
that took the case (its id is derived from the session cookie, which the server signed).
POSTs must be JSON, which a cross-site form cannot send; the cookie is SameSite=Strict.
On WeChat a reply goes out at once through the customer-service API when the 48-hour window
and the quota allow (bot.handoff.queue decides); otherwise it waits for the citizen's next
message, and the console says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Optional

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guide_auth import GuideAuth, staff_name, staff_session_id
from bot.handoff.queue import CaseView, HandoffQueue, HandoffUnavailable, StaffResult
from bot.handoff.replies import render_kind
from bot.wording import wording

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024

WeChatSenderFactory = Callable[[], Optional[Any]]


def default_wechat_sender() -> Optional[Any]:
    """WeChat's customer-service API with the account's app id and secret; None without."""
    from bot.channels.wechat import customer_service_sender

    return customer_service_sender()


def _words() -> Mapping[str, Any]:
    return wording("handoff")


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def case_json(view: CaseView, now: Optional[datetime] = None) -> Dict[str, Any]:
    """A case as the page shows it; labels from data/wording/handoff.yml."""
    words = _words()
    now = now or datetime.now(timezone.utc)
    summary = view.summary or {}
    return {
        "id": view.id,
        "status": view.status,
        "status_label": (words.get("statuses") or {}).get(view.status, view.status),
        "priority": view.priority,
        "emergency": view.emergency,
        "emergency_name": summary.get("emergency_name"),
        "reason": view.reason,
        "reason_label": (words.get("reasons") or {}).get(view.reason, view.reason),
        "topic": summary.get("topic_name"),
        "channel": view.channel,
        "channel_label": (words.get("channels") or {}).get(view.channel, view.channel),
        "created_at": _iso(view.created_at),
        "waited_minutes": max(0, int((now - view.created_at).total_seconds() // 60)),
        "position": view.position,
        "taken_by_me": view.taken_by_me,
        "slots": summary.get("slots") or [],
        "turns": [
            {
                "from": t.get("from"),
                "from_label": (words.get("turn_from") or {}).get(t.get("from"), t.get("from")),
                "text": t.get("text"),
            }
            for t in summary.get("turns") or []
        ],
        "messages": [
            {
                **m,
                "from_label": (words.get("turn_from") or {}).get(m["author"], m["author"]),
                "text": m["text"] or (words.get("notices") or {}).get(m["kind"], ""),
            }
            for m in view.messages
        ],
    }


def add_queue_routes(
    bp: Blueprint,
    auth: GuideAuth,
    pages_dir: Any,
    headers: Mapping[str, str],
    wechat_sender: WeChatSenderFactory = default_wechat_sender,
    queue_factory: Callable[[], HandoffQueue] = HandoffQueue,
) -> None:
    """Add the queue page and its API to the console's blueprint."""
    base: Dict[str, str] = {**headers, "Cache-Control": "no-store"}
    errors = _words().get("errors") or {}

    def fail(status: int, code: str) -> HTTPResponse:
        return response.json(
            {"error": code, "message": errors.get(code, code)},
            status=status,
            headers=base,
            ensure_ascii=False,
        )

    def ok(data: Any) -> HTTPResponse:
        return response.json(data, headers=base, ensure_ascii=False)

    def staff(request: Request) -> str:
        return staff_session_id(request, auth) or ""

    def read_json(request: Request) -> Dict[str, Any]:
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _Refused(415, "not_json")
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(413, "too_long")
        try:
            data = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "not_json") from None
        if not isinstance(data, dict):
            raise _Refused(400, "not_json")
        return data

    async def push_wechat(result: StaffResult, queue: HandoffQueue) -> str:
        """Send a just-written message over WeChat's API when allowed; else it waits."""
        if result.channel != "wechat":
            return "pending"
        if not result.wechat_allowed or result.message_id is None:
            return "wechat_window"
        sender = wechat_sender()
        message = await asyncio.to_thread(queue.message, result.message_id)
        if sender is None or message is None or result.sender_id is None:
            await asyncio.to_thread(queue.undeliver, result.message_id)
            return "pending"
        try:
            await sender.send_text(
                result.sender_id, render_kind(message.kind, message.text, result.language)
            )
        except Exception:
            logger.warning("WeChat customer-service message failed; kept for the next turn")
            await asyncio.to_thread(queue.undeliver, result.message_id)
            return "pending"
        return "sent"

    async def staff_change(
        request: Request, case_id: int, change: str, text: str = ""
    ) -> HTTPResponse:
        queue = queue_factory()
        who = staff(request)
        if not who:
            return fail(403, "not_yours")
        name = staff_name(request)  # from the session, never from the request body
        try:
            if change == "take":
                result = await asyncio.to_thread(queue.take, case_id, who, None, name)
            elif change == "reply":
                result = await asyncio.to_thread(queue.reply, case_id, who, text, None, name)
            else:
                result = await asyncio.to_thread(queue.close_by_staff, case_id, who, None, name)
            if result.code != "ok":
                status = {"not_found": 404, "empty": 400}.get(result.code, 409)
                return fail(status, result.code)
            delivery = await push_wechat(result, queue)
        except HandoffUnavailable:
            return fail(503, "unavailable")
        return ok(
            {
                "ok": True,
                "delivery": delivery,
                "delivery_label": (_words().get("delivery") or {}).get(delivery, delivery),
            }
        )

    @bp.route("/queue", methods=["GET"], name="guide_queue_page")
    async def page(_: Request) -> HTTPResponse:
        body = (pages_dir / "queue.html").read_bytes()
        return response.raw(body, content_type="text/html; charset=utf-8", headers=base)

    @bp.route("/api/queue", methods=["GET"], name="guide_queue_list")
    async def list_cases(request: Request) -> HTTPResponse:
        try:
            views = await asyncio.to_thread(queue_factory().cases, staff(request))
        except HandoffUnavailable:
            return fail(503, "unavailable")
        return ok({"cases": [case_json(v) for v in views]})

    @bp.route("/api/queue/<case_id:int>", methods=["GET"], name="guide_queue_case")
    async def one_case(request: Request, case_id: int) -> HTTPResponse:
        try:
            view = await asyncio.to_thread(queue_factory().case, case_id, staff(request))
        except HandoffUnavailable:
            return fail(503, "unavailable")
        if view is None:
            return fail(404, "not_found")
        return ok(case_json(view))

    def change_route(change: str) -> None:
        async def change_case(request: Request, case_id: int) -> HTTPResponse:
            try:
                data = read_json(request)
            except _Refused as refused:
                return fail(refused.status, refused.code)
            text = data.get("text") if change == "reply" else ""
            if not isinstance(text, str):
                return fail(400, "empty")
            return await staff_change(request, case_id, change, text)

        bp.add_route(
            change_case,
            f"/api/queue/<case_id:int>/{change}",
            methods=["POST"],
            name=f"guide_queue_{change}",
        )

    for change in ("take", "reply", "close"):
        change_route(change)


class _Refused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
