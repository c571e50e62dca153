"""Staff credentials for the hall-guide console (/guide/).

The console shows what a citizen tells the guide and calls the bot's NLU, so it must not be
open to whoever reaches the Rasa server. Three modes, chosen once at start from the
environment (read here, not in bot.settings, so the console owns its access rule):

- `GUIDE_PASSWORD_HASH` set: every route except the login page and the static layout files
  needs a session cookie, issued after the staff password was checked.
- no hash: only loopback clients (the counter PC running the server itself); a request that
  came through a proxy is not loopback, whatever the proxy's own address.
- `APP_ENV=production` without a hash, or a hash/secret that cannot be used: closed (403).

Hash format (one line, documented in the README):
    pbkdf2_sha256$<iterations>$<salt>$<key>
salt and key are base64url without padding; key is PBKDF2-HMAC-SHA256(password, salt).
Make one with `python -m bot.channels.guide_auth hash`, a session secret with
`python -m bot.channels.guide_auth secret`.

Session cookie: `v1.<expires>.<nonce>.<mac>`, mac = HMAC-SHA256 over the rest, keyed with
GUIDE_SESSION_SECRET *and* the password hash, so changing the password ends every session.
Stdlib only: itsdangerous is in the venv only as a Flask dependency.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import getpass
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Deque, Dict, List, Mapping, Optional

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.inputs import is_loopback

logger = logging.getLogger(__name__)

PASSWORD_ENV = "GUIDE_PASSWORD_HASH"
SECRET_ENV = "GUIDE_SESSION_SECRET"
APP_ENV = "APP_ENV"
SCHEME = "pbkdf2_sha256"
PBKDF2_ITERATIONS = 600_000  # OWASP 2023 for PBKDF2-HMAC-SHA256
MIN_PASSWORD_CHARS = 12
MIN_SECRET_CHARS = 32
COOKIE_NAME = "guide_session"
SESSION_SECONDS = 8 * 3600  # one working day at the counter
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 600
MAX_TRACKED_CLIENTS = 10_000
MAX_LOGIN_BODY_BYTES = 4096
# Routes reachable without a session: the login form and the layout files it needs (web/ holds
# no facts, tests/test_channels_http.py checks that). By route name, not by path, so an odd
# path such as /guide/static/../api/x can never count as static.
OPEN_ROUTES = frozenset({"guide_login_form", "guide_login", "guide_static"})
#: Staff-facing wording of the login and refusal answers, kept beside the console's pages.
MESSAGES_FILE = Path(__file__).resolve().parents[2] / "web" / "guide" / "messages.json"


def staff_message(name: str) -> str:
    """One line of web/guide/messages.json (wrong_password, too_many, needs_credentials …)."""
    return str(_staff_messages()[name])


@lru_cache(maxsize=1)
def _staff_messages() -> Dict[str, str]:
    return json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ----------------------------------------------------------------------------- passwords
@dataclass(frozen=True)
class PasswordHash:
    iterations: int
    salt: bytes
    key: bytes

    @classmethod
    def parse(cls, encoded: str) -> "PasswordHash":
        """Read `pbkdf2_sha256$<iterations>$<salt>$<key>`; ValueError says what is wrong."""
        parts = encoded.strip().split("$")
        if len(parts) != 4 or parts[0] != SCHEME:
            raise ValueError(f"expected {SCHEME}$<iterations>$<salt>$<key>")
        try:
            iterations = int(parts[1])
            salt, key = _unb64(parts[2]), _unb64(parts[3])
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError(f"unreadable iterations, salt or key: {exc}") from None
        if iterations < 1 or len(salt) < 8 or len(key) < 16:
            raise ValueError("iterations must be positive, salt >= 8 bytes, key >= 16 bytes")
        return cls(iterations, salt, key)

    def encode(self) -> str:
        return f"{SCHEME}${self.iterations}${_b64(self.salt)}${_b64(self.key)}"

    def verify(self, password: str) -> bool:
        """Derive and compare in constant time (the derivation itself is password-independent)."""
        candidate = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), self.salt, self.iterations, dklen=len(self.key)
        )
        return hmac.compare_digest(candidate, self.key)


def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A new hash with a random 16-byte salt; the iterations travel with it, so they can grow."""
    salt = secrets.token_bytes(16)
    key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return PasswordHash(iterations, salt, key).encode()


# ----------------------------------------------------------------------------- sessions
class SessionSigner:
    """Stateless session tokens: the server keeps nothing, so restarts and replicas agree."""

    def __init__(
        self,
        secret: bytes,
        password_hash: str,
        lifetime: int = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hmac.new(
            secret, b"guide-session\x00" + password_hash.encode("utf-8"), hashlib.sha256
        ).digest()
        self.lifetime = lifetime
        self._clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self) -> str:
        payload = f"v1.{int(self._clock()) + self.lifetime}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._mac(payload)}"

    def expires_at(self, token: Optional[str]) -> Optional[int]:
        """The token's expiry (unix seconds) if it is ours, untampered and not yet expired."""
        if not token or len(token) > 256 or not token.isascii():
            return None
        payload, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac.encode("ascii"), self._mac(payload).encode("ascii")):
            return None
        version, _, rest = payload.partition(".")
        expires_text = rest.partition(".")[0]
        if version != "v1" or not expires_text.isdigit():
            return None
        expires = int(expires_text)
        return expires if self._clock() < expires else None


# ----------------------------------------------------------------------------- failed logins
class FailedLogins:
    """Failed logins per client in a sliding window; in memory, at most `max_clients` kept.

    When full, the client seen longest ago is forgotten: a flood of addresses can only make
    the limiter forget, never make it grow.
    """

    def __init__(
        self,
        limit: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW_SECONDS,
        max_clients: int = MAX_TRACKED_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._seen: "OrderedDict[str, Deque[float]]" = OrderedDict()

    def _recent(self, client: str) -> Deque[float]:
        times = self._seen.get(client) or deque()
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.limit

    def retry_after(self, client: str) -> int:
        times = self._recent(client)
        return max(1, int(times[0] + self.window - self._clock()) + 1) if times else 0

    def record(self, client: str) -> None:
        times = self._recent(client)
        times.append(self._clock())
        self._seen[client] = times
        self._seen.move_to_end(client)
        while len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)

    def reset(self, client: str) -> None:
        self._seen.pop(client, None)

    def __len__(self) -> int:
        return len(self._seen)


# ----------------------------------------------------------------------------- configuration
class Mode(enum.Enum):
    PASSWORD = "password"
    LOOPBACK = "loopback"
    LOCKED = "locked"


@dataclass
class GuideAuth:
    mode: Mode
    password: Optional[PasswordHash] = None
    signer: Optional[SessionSigner] = None
    failures: FailedLogins = field(default_factory=FailedLogins)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "GuideAuth":
        """The mode for this process; logs once why the console is closed, if it is."""
        encoded = (environ.get(PASSWORD_ENV) or "").strip()
        production = (environ.get(APP_ENV) or "").strip().lower() == "production"
        if not encoded:
            if production:
                logger.warning(
                    "guide console: %s=production and no %s: /guide/ refuses every request",
                    APP_ENV,
                    PASSWORD_ENV,
                )
                return cls(Mode.LOCKED)
            logger.info("guide console: no %s, serving loopback clients only", PASSWORD_ENV)
            return cls(Mode.LOOPBACK)
        try:
            password = PasswordHash.parse(encoded)
        except ValueError as exc:
            logger.error(
                "guide console: %s is unusable (%s): /guide/ refuses every request",
                PASSWORD_ENV,
                exc,
            )
            return cls(Mode.LOCKED)
        if password.iterations < PBKDF2_ITERATIONS:
            logger.warning(
                "guide console: %s has %d PBKDF2 iterations (< %d); make a new one",
                PASSWORD_ENV,
                password.iterations,
                PBKDF2_ITERATIONS,
            )
        secret = (environ.get(SECRET_ENV) or "").strip()
        if len(secret) < MIN_SECRET_CHARS:
            logger.error(
                "guide console: %s is missing or shorter than %d characters (make one "
                "with `python -m bot.channels.guide_auth secret`): /guide/ refuses "
                "every request",
                SECRET_ENV,
                MIN_SECRET_CHARS,
            )
            return cls(Mode.LOCKED)
        return cls(Mode.PASSWORD, password, SessionSigner(secret.encode("utf-8"), encoded))


# ----------------------------------------------------------------------------- requests
def client_key(request: Request) -> str:
    """Who to count failures against: Sanic's proxy-aware address when configured, else the peer."""
    return str(request.remote_addr or request.ip or "unknown")


def _needs_auth_json(request: Request, prefix: str) -> bool:
    return request.path.startswith(f"{prefix}/api/")


def protect(
    bp: Blueprint, auth: GuideAuth, pages: Path, prefix: str, headers: Mapping[str, str]
) -> None:
    """Add the access check (blueprint middleware) and /login, /logout, /api/session to `bp`.

    Blueprint middleware runs for every route of this blueprint only, including the page and
    static routes that bot.channels.webchat adds, so no console route can be forgotten.
    """
    base_headers: Dict[str, str] = {**headers, "Cache-Control": "no-store"}
    login_template = (pages / "login.html").read_text(encoding="utf-8")
    refusal_page = (pages / "forbidden.html").read_bytes()

    def redirect(location: str) -> HTTPResponse:
        # a copy: sanic's redirect() writes Location into the dict it is given
        return response.redirect(location, status=303, headers=dict(base_headers))

    def refuse(request: Request) -> HTTPResponse:
        if _needs_auth_json(request, prefix):
            return response.json(
                {"error": staff_message("needs_credentials")},
                status=403,
                headers=base_headers,
                ensure_ascii=False,
            )
        return response.raw(
            refusal_page, status=403, content_type="text/html; charset=utf-8", headers=base_headers
        )

    def login_page(
        message: str = "", status: int = 200, extra: Optional[Mapping[str, str]] = None
    ) -> HTTPResponse:
        body = login_template.replace("<!--message-->", message)
        return response.html(body, status=status, headers={**base_headers, **(extra or {})})

    def session_expiry(request: Request) -> Optional[int]:
        if auth.signer is None:
            return None
        return auth.signer.expires_at(request.cookies.get(COOKIE_NAME))

    @bp.middleware("request")
    async def check(request: Request) -> Optional[HTTPResponse]:
        if auth.mode is Mode.LOCKED:
            return refuse(request)
        if auth.mode is Mode.LOOPBACK:
            return None if is_loopback(request) else refuse(request)
        route = request.route.name.rsplit(".", 1)[-1] if request.route else ""
        if route in OPEN_ROUTES or session_expiry(request):
            return None
        if _needs_auth_json(request, prefix):
            return response.json(
                {"error": staff_message("login_required")},
                status=401,
                headers=base_headers,
                ensure_ascii=False,
            )
        return redirect(f"{prefix}/login")

    @bp.route("/login", methods=["GET"], name="guide_login_form")
    async def login_form(_: Request) -> HTTPResponse:
        if auth.mode is not Mode.PASSWORD:  # loopback: nothing to log in to
            return redirect(f"{prefix}/")
        return login_page()

    @bp.route("/login", methods=["POST"], name="guide_login")
    async def login(request: Request) -> HTTPResponse:
        if auth.mode is not Mode.PASSWORD or auth.password is None or auth.signer is None:
            return redirect(f"{prefix}/")
        client = client_key(request)
        if auth.failures.blocked(client):
            return login_page(
                staff_message("too_many"),
                429,
                {"Retry-After": str(auth.failures.retry_after(client))},
            )
        # Counted before the check and forgiven on success: parallel guesses cannot all slip
        # past `blocked` while the first ones are still being verified.
        auth.failures.record(client)
        password = ""
        if len(request.body or b"") <= MAX_LOGIN_BODY_BYTES:
            password = str((request.form or {}).get("password") or "")
        # PBKDF2 takes ~0.2 s of CPU: in a thread, so the bot keeps answering meanwhile.
        if not password or not await asyncio.to_thread(auth.password.verify, password):
            logger.warning("guide console: failed login from %s", client)
            return login_page(staff_message("wrong_password"), 401)
        auth.failures.reset(client)
        logger.info("guide console: login from %s", client)
        resp = redirect(f"{prefix}/")
        _set_cookie(resp, request, auth.signer.issue(), auth.signer.lifetime, prefix)
        return resp

    @bp.route("/logout", methods=["POST"], name="guide_logout")
    async def logout(request: Request) -> HTTPResponse:
        target = f"{prefix}/login" if auth.mode is Mode.PASSWORD else f"{prefix}/"
        resp = redirect(target)
        _set_cookie(resp, request, "", 0, prefix)
        return resp

    @bp.route("/api/session", methods=["GET"], name="guide_session")
    async def session(request: Request) -> HTTPResponse:
        """Lets the page show the logout button only where there is a login."""
        return response.json(
            {"mode": auth.mode.value, "expires_at": session_expiry(request)}, headers=base_headers
        )


def staff_session_id(request: Request, auth: GuideAuth) -> Optional[str]:
    """Which staff session made this request, for "only who took a case answers it".

    Password mode: a hash of the session cookie the server signed and still accepts (the
    shared password has no per-person accounts, so the session is the identity); loopback
    mode: the counter PC itself; locked: nobody.
    """
    if auth.mode is Mode.LOOPBACK:
        return "loopback" if is_loopback(request) else None
    if auth.mode is not Mode.PASSWORD or auth.signer is None:
        return None
    token = request.cookies.get(COOKIE_NAME)
    if not token or auth.signer.expires_at(token) is None:
        return None
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:32]


def _set_cookie(resp: HTTPResponse, request: Request, value: str, max_age: int, path: str) -> None:
    resp.cookies[COOKIE_NAME] = value
    cookie = resp.cookies[COOKIE_NAME]
    cookie["path"] = path
    cookie["max-age"] = max_age
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    if request.scheme == "https":  # plain http on the hall LAN would drop a Secure cookie
        cookie["secure"] = True


# ----------------------------------------------------------------------------- CLI
def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Guide console password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: Optional[List[str]] = None) -> int:
    """`hash`: password (getpass, or one stdin line) → GUIDE_PASSWORD_HASH; `secret`: a new
    GUIDE_SESSION_SECRET. Only the result goes to stdout, so it can be redirected."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["secret"]:
        print(secrets.token_urlsafe(32))
        return 0
    if args != ["hash"]:
        print("usage: python -m bot.channels.guide_auth hash|secret", file=sys.stderr)
        return 2
    password = _read_password()
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"password must have at least {MIN_PASSWORD_CHARS} characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
