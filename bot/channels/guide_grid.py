"""The grid ticket page of the hall-guide console, at /guide/grid/ (staff only).

Staff see the hazard tickets (masked), open one with its audit trail, and move it to the
next stage (受理 → 分流交办 → 处置 → 核实反馈); the citizen is notified on their channel
(bot.grid.notify). Access is the console's (bot.channels.guide_auth), checked on the server
for every route: with GUIDE_PASSWORD_HASH a session cookie from /guide/login (its path
/guide covers this page), else loopback clients only, and nobody in production without a
hash; with staff accounts (bot.staff) their login. A stage change must be a JSON POST (a
cross-site form cannot send one); the audit trail names the logged-in account's display name
from the session, and only without accounts the name typed on the page.

A channel of its own (credentials.yml) rather than routes in bot/channels/guide.py, so the
console's analysis code and this page change independently.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guide_auth import GuideAuth, admit, staff_name
from bot.channels.webchat import SECURITY_HEADERS, WEB_ROOT, static_page_routes
from bot.wording import wording

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
MAX_ACTOR_CHARS = 32
GUIDE_LOGIN = "/guide/login"
_HEADERS: Dict[str, str] = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
_ACTOR = re.compile(r"^[\w\u3400-\u9fff·. -]{1,32}$")


def _labels() -> Dict[str, Any]:
    return dict(wording("grid").get("console") or {})


def _json(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, headers=_HEADERS, ensure_ascii=False, default=str)


def _refused(name: str, status: int) -> HTTPResponse:
    return _json({"error": str(_labels()["refused"][name]), "code": name}, status)


def default_repository() -> Any:
    """The grid store on DATABASE_URL (tests pass their own factory)."""
    from bot.grid.repository import GridRepository

    return GridRepository()


class GridConsoleInput(InputChannel):
    """Serves web/guide_grid/ at /guide/grid/ and its JSON API at /guide/grid/api/."""

    @classmethod
    def name(cls) -> str:
        return "guide_grid"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "GridConsoleInput":
        return cls()

    def __init__(
        self,
        repository_factory: Optional[Callable[[], Any]] = None,
        auth: Optional[GuideAuth] = None,
        sender_factory: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.repository_factory = repository_factory or default_repository
        self.auth = auth  # None: read from the environment when the server starts
        self.sender_factory = sender_factory

    def url_prefix(self) -> str:
        return "/guide/grid"

    def _sender(self) -> Any:
        if self.sender_factory is not None:
            return self.sender_factory()
        from bot.grid.notify import wechat_sender

        return wechat_sender()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"guide_grid_{id(self)}", __name__)
        static_page_routes(bp, WEB_ROOT / "guide_grid", "guide_grid")
        auth = self.auth or GuideAuth.from_env()
        prefix = self.url_prefix()

        @bp.middleware("request")
        async def check(request: Request) -> Optional[HTTPResponse]:
            return await admit(request, auth, False, prefix, GUIDE_LOGIN)

        @bp.route("/api/tickets", methods=["GET"])
        async def tickets(request: Request) -> HTTPResponse:
            from bot.grid.kb import get_grid_kb
            from bot.grid.repository import GridUnavailable

            kb = get_grid_kb()
            stage = request.args.get("stage") or None
            if stage is not None and stage not in kb.stage_ids:
                return _refused("unknown_stage", 400)
            try:
                rows = self.repository_factory().tickets(stage=stage)
            except GridUnavailable:
                return _refused("unavailable", 503)
            return _json(
                {
                    "labels": _labels(),
                    "stages": [{"id": s.id, "name": s.name} for s in kb.stages],
                    "platforms": {p.id: p.name for p in kb.platforms.values()},
                    "categories": {c.id: c.name for c in kb.categories.values()},
                    "tickets": [asdict(t) for t in rows],
                    "staff": staff_name(request),
                }
            )

        @bp.route("/api/tickets/<code>", methods=["GET"])
        async def ticket(_: Request, code: str) -> HTTPResponse:
            from bot.grid.repository import GridUnavailable

            try:
                repo = self.repository_factory()
                found = repo.get(code)
                if found is None:
                    return _refused("not_found", 404)
                trail = repo.trail(found.code)
            except GridUnavailable:
                return _refused("unavailable", 503)
            return _json({"ticket": asdict(found), "trail": trail})

        @bp.route("/api/tickets/<code>/advance", methods=["POST"])
        async def advance(request: Request, code: str) -> HTTPResponse:
            from bot.grid.notify import deliver

            body = request.body or b""
            ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
            if len(body) > MAX_BODY_BYTES or ctype != "application/json":
                return _refused("bad_request", 400)
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return _refused("bad_request", 400)
            if not isinstance(data, dict):
                return _refused("bad_request", 400)
            typed, to_stage, note = data.get("actor"), data.get("to_stage"), data.get("note")
            # A staff account's own name from its session (a posted one is ignored); the
            # typed name only where there are no accounts.
            actor = staff_name(request)
            if actor is None:
                if not isinstance(typed, str) or not _ACTOR.match(typed.strip()):
                    return _refused("bad_request", 400)
                actor = typed
            if not isinstance(to_stage, str) or (note is not None and not isinstance(note, str)):
                return _refused("bad_request", 400)
            repo = self.repository_factory()
            result = repo.advance(
                code,
                actor=f"console:{actor.strip()[:MAX_ACTOR_CHARS]}",
                to_stage=to_stage,
                note=(note or "").strip()[:500] or None,
            )
            if not result.ok:
                status = {"not_found": 404, "unavailable": 503, "unknown_stage": 400}.get(
                    str(result.error), 409
                )
                return _refused(str(result.error), status)
            outcome = await deliver(repo, result.notice, self._sender())
            return _json(
                {
                    "ticket": asdict(result.ticket),
                    "from_stage": result.from_stage,
                    "notice": outcome,
                    "notice_text": str(_labels()["notice"][outcome]),
                }
            )

        return bp
