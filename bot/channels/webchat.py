"""The web chat page, served by the Rasa server itself at /webchat/.

It is an InputChannel only so that `rasa run` mounts it from credentials.yml: the page talks
to the REST channel (POST /webhooks/rest/webhook, bot/channels/rest.py), so there is one
conversation API.
Rasa mounts blueprints at urljoin("/webhooks/", url_prefix()); an absolute prefix such as
"/webchat" therefore escapes /webhooks and gives a short, memorable address.

Static files come only from a fixed directory, by whitelisted name, with a strict
Content-Security-Policy: the page cannot load anything from another host, so it works
offline and a CDN can never sneak back in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import PROJECT_ROOT

WEB_ROOT = PROJECT_ROOT / "web"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(html|css|js|svg|png|ico)$")
SECURITY_HEADERS = {
    # 'self' only: no CDN, no fonts or analytics from elsewhere; fetch() only to this server.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_page_routes(bp: Blueprint, directory: Path, page_name: str) -> None:
    """Add `/` (the page) and `/static/<file>` for files in `directory` to a blueprint."""

    def serve(name: str) -> HTTPResponse:
        path = directory / name
        if not _SAFE_NAME.match(name) or not path.is_file():
            return response.text("not found", status=404, headers=SECURITY_HEADERS)
        body = path.read_bytes()
        return response.raw(body, content_type=CONTENT_TYPES[path.suffix], headers=SECURITY_HEADERS)

    @bp.route("/", methods=["GET"], name=f"{page_name}_index")
    async def index(request: Request) -> HTTPResponse:
        if not request.path.endswith("/"):  # relative asset URLs need the trailing slash
            target = (
                request.path + "/" + (f"?{request.query_string}" if request.query_string else "")
            )
            return response.redirect(target, status=301)
        return serve("index.html")

    @bp.route("/static/<name>", methods=["GET"], name=f"{page_name}_static")
    async def static(_: Request, name: str) -> HTTPResponse:
        return serve(name)


class WebChatInput(InputChannel):
    """Serves web/webchat/ at /webchat/; messages go through the REST channel."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> "WebChatInput":
        return cls()

    def url_prefix(self) -> str:
        return "/webchat"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"webchat_{id(self)}", __name__)
        static_page_routes(bp, WEB_ROOT / "webchat", "webchat")
        from bot.channels.handoff_web import add_citizen_routes

        add_citizen_routes(bp, SECURITY_HEADERS)  # GET /webchat/handoff: staff replies
        return bp
