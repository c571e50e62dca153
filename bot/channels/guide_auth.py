"""Staff credentials for the hall-guide console (/guide/).

The console shows what a citizen tells the guide and calls the bot's NLU, so it must not be
open to whoever reaches the Rasa server. Three modes, chosen once at start from the
environment (read here, not in bot.settings, so the console owns its access rule):

- `GUIDE_PASSWORD_HASH` set: every route except the login page and the static layout files
  needs a session cookie, issued after the staff password was checked.
- no hash: only loopback clients (the counter PC running the server itself); a request that
  came through a proxy is not loopback, whatever the proxy's own address.
- `APP_ENV=production` without a hash, or a hash/secret that cannot be used: closed (403).

Staff accounts (table guide_staff, bot.staff; `add-staff`, `disable-staff`, `list-staff`
below) take over as soon as one row exists and GUIDE_SESSION_SECRET is usable: login name
and password, whatever the mode above would be (loopback clients log in too). Every request
re-reads its account (cached CACHE_SECONDS at most), so a disabled account's cookie stops
working; an unreadable staff table closes the console instead of falling back.

Hash format (one line, documented in the README):
    pbkdf2_sha256$<iterations>$<salt>$<key>
salt and key are base64url without padding; key is PBKDF2-HMAC-SHA256(password, salt).
Make one with `python -m bot.channels.guide_auth hash`, a session secret with
`python -m bot.channels.guide_auth secret`.

Session cookie: `v1.<expires>.<nonce>.<mac>`, mac = HMAC-SHA256 over the rest, keyed with
GUIDE_SESSION_SECRET *and* the password hash, so changing the password ends every session.
A staff account's cookie is `v2.<expires>.<staff id>.<nonce>.<mac>`, keyed with the secret
and that account's id and password hash: another id, or a changed password, breaks the mac.
Stdlib only: itsdangerous is in the venv only as a Flask dependency.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import enum
import getpass
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, TypeVar

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.inputs import is_loopback
from bot.staff.directory import Staff, StaffDirectory, StaffExists, StaffUnavailable

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
#: How long a staff row (and "are there any accounts") is trusted before it is read again.
CACHE_SECONDS = 5.0
LOGIN_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_DISPLAY_CHARS = 32
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

    def issue(self, staff_id: Optional[int] = None) -> str:
        """A v1 token (shared password) or, for a staff account, v2 with its id inside."""
        expires = int(self._clock()) + self.lifetime
        nonce = secrets.token_urlsafe(12)
        payload = (
            f"v1.{expires}.{nonce}" if staff_id is None else f"v2.{expires}.{staff_id}.{nonce}"
        )
        return f"{payload}.{self._mac(payload)}"

    def expires_at(self, token: Optional[str]) -> Optional[int]:
        """The token's expiry (unix seconds) if it is ours, untampered and not yet expired."""
        if not token or len(token) > 256 or not token.isascii():
            return None
        payload, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac.encode("ascii"), self._mac(payload).encode("ascii")):
            return None
        parts = payload.split(".")
        shape = {"v1": 3, "v2": 4}.get(parts[0])
        if shape != len(parts) or not parts[1].isdigit():
            return None
        expires = int(parts[1])
        return expires if self._clock() < expires else None


def token_staff_id(token: Optional[str]) -> Optional[int]:
    """The staff id a v2 token *claims* (unverified: only picks the row whose key checks it)."""
    parts = (token or "").split(".")
    if len(parts) == 5 and parts[0] == "v2" and parts[2].isdigit() and len(parts[2]) < 10:
        return int(parts[2])
    return None


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
    STAFF = "staff"


@dataclass(frozen=True)
class Session:
    """A signed session the server still accepts; `staff` is None for the shared password."""

    expires_at: int
    token: str
    staff: Optional[Staff] = None


@dataclass(frozen=True)
class Access:
    """What the access check decided for one request (kept on request.ctx.guide_access)."""

    mode: Mode
    session: Optional[Session] = None


T = TypeVar("T")


@dataclass
class GuideAuth:
    #: The mode while no staff account exists (from the environment).
    mode: Mode
    password: Optional[PasswordHash] = None
    signer: Optional[SessionSigner] = None
    failures: FailedLogins = field(default_factory=FailedLogins)
    #: Failed logins per login name (staff accounts), beside those per address.
    login_failures: FailedLogins = field(default_factory=FailedLogins)
    #: GUIDE_SESSION_SECRET when usable; None: staff accounts are off.
    secret: Optional[bytes] = None
    staff: Optional[StaffDirectory] = None
    cache_seconds: float = CACHE_SECONDS
    _cache: Dict[Any, Tuple[float, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, staff: Optional[StaffDirectory] = None
    ) -> "GuideAuth":
        """The mode for this process; logs once why the console is closed, if it is."""
        encoded = (environ.get(PASSWORD_ENV) or "").strip()
        production = (environ.get(APP_ENV) or "").strip().lower() == "production"
        secret_text = (environ.get(SECRET_ENV) or "").strip()
        secret = secret_text.encode("utf-8") if len(secret_text) >= MIN_SECRET_CHARS else None
        accounts = (staff or StaffDirectory()) if secret is not None else None
        if not encoded:
            if production:
                logger.warning(
                    "guide console: %s=production and no %s: /guide/ refuses every request "
                    "unless staff accounts exist",
                    APP_ENV,
                    PASSWORD_ENV,
                )
                return cls(Mode.LOCKED, secret=secret, staff=accounts)
            logger.info("guide console: no %s, serving loopback clients only", PASSWORD_ENV)
            return cls(Mode.LOOPBACK, secret=secret, staff=accounts)
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
        if secret is None:
            logger.error(
                "guide console: %s is missing or shorter than %d characters (make one "
                "with `python -m bot.channels.guide_auth secret`): /guide/ refuses "
                "every request",
                SECRET_ENV,
                MIN_SECRET_CHARS,
            )
            return cls(Mode.LOCKED)
        signer = SessionSigner(secret, encoded)
        return cls(Mode.PASSWORD, password, signer, secret=secret, staff=accounts)

    async def _cached(self, key: Any, read: Callable[[], T]) -> T:
        """`read()` in a thread, remembered for cache_seconds (the event loop never waits
        on the database)."""
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        value = await asyncio.to_thread(read)
        self._cache[key] = (time.monotonic(), value)
        if len(self._cache) > MAX_TRACKED_CLIENTS:
            self._cache.clear()
        return value

    async def current_mode(self) -> Mode:
        """STAFF once an account exists (and a secret can sign), else the configured mode;
        LOCKED while the staff table cannot be read (never a silent fallback)."""
        if self.staff is None:
            return self.mode
        try:
            if await self._cached("any", self.staff.any):
                return Mode.STAFF
        except StaffUnavailable as exc:
            logger.warning("guide console: staff accounts unreadable (%s): closed", exc)
            return Mode.LOCKED
        return self.mode

    def staff_signer(self, account: Staff) -> SessionSigner:
        """The signer of one account's sessions: its id and password hash are in the key."""
        assert self.secret is not None
        bound = f"staff\x00{account.id}\x00{account.password_hash}"
        return SessionSigner(self.secret, bound)

    async def access(self, request: Request) -> Access:
        """The mode now and the request's session, if it carries one the server accepts."""
        mode = await self.current_mode()
        token = request.cookies.get(COOKIE_NAME)
        if mode is Mode.PASSWORD and self.signer is not None and token:
            expires = self.signer.expires_at(token)
            return Access(mode, Session(expires, token) if expires else None)
        if mode is not Mode.STAFF or self.staff is None or not token:
            return Access(mode)
        staff_id = token_staff_id(token)
        if staff_id is None:
            return Access(mode)
        directory = self.staff
        try:
            account = await self._cached(("id", staff_id), lambda: directory.get(staff_id))
        except StaffUnavailable:
            return Access(Mode.LOCKED)
        if account is None or not account.active:
            return Access(mode)
        expires = self.staff_signer(account).expires_at(token)
        return Access(mode, Session(expires, token, account) if expires else None)

    def forget(self) -> None:
        """Drop the cached staff rows (after a change made by this process)."""
        self._cache.clear()


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
        mode: Mode, message: str = "", status: int = 200, extra: Optional[Mapping[str, str]] = None
    ) -> HTTPResponse:
        body = login_template.replace("<!--message-->", message)
        head, _, rest = body.partition("<!--staff-->")
        field, _, tail = rest.partition("<!--/staff-->")
        # the shared password has no login name: its field only where accounts exist
        body = head + (field if mode is Mode.STAFF else "") + tail if rest else body
        return response.html(body, status=status, headers={**base_headers, **(extra or {})})

    @bp.middleware("request")
    async def check(request: Request) -> Optional[HTTPResponse]:
        route = request.route.name.rsplit(".", 1)[-1] if request.route else ""
        return await admit(request, auth, route in OPEN_ROUTES, prefix, f"{prefix}/login")

    @bp.route("/login", methods=["GET"], name="guide_login_form")
    async def login_form(_: Request) -> HTTPResponse:
        mode = await auth.current_mode()
        if mode not in (Mode.PASSWORD, Mode.STAFF):  # loopback: nothing to log in to
            return redirect(f"{prefix}/")
        return login_page(mode)

    @bp.route("/login", methods=["POST"], name="guide_login")
    async def login(request: Request) -> HTTPResponse:
        mode = await auth.current_mode()
        if mode not in (Mode.PASSWORD, Mode.STAFF):
            return redirect(f"{prefix}/")
        form: Mapping[str, Any] = {}
        if len(request.body or b"") <= MAX_LOGIN_BODY_BYTES:
            form = request.form or {}
        password = str(form.get("password") or "")
        name = str(form.get("login") or "").strip().lower()[:64] if mode is Mode.STAFF else ""
        client = client_key(request)
        limits = [(auth.failures, client)]
        if mode is Mode.STAFF:
            limits.append((auth.login_failures, name))
        blocked = [lim.retry_after(key) for lim, key in limits if lim.blocked(key)]
        if blocked:
            return login_page(
                mode, staff_message("too_many"), 429, {"Retry-After": str(max(blocked))}
            )
        # Counted before the check and forgiven on success: parallel guesses cannot all slip
        # past `blocked` while the first ones are still being verified.
        for lim, key in limits:
            lim.record(key)
        # PBKDF2 takes ~0.2 s of CPU: in a thread, so the bot keeps answering meanwhile.
        if mode is Mode.STAFF:
            try:
                account = await asyncio.to_thread(_check_staff, auth, name, password)
            except StaffUnavailable:
                return refuse(request)
            token = auth.staff_signer(account).issue(account.id) if account else None
        else:
            ok = bool(password) and auth.password is not None and auth.signer is not None
            ok = ok and await asyncio.to_thread(auth.password.verify, password)  # type: ignore[union-attr]
            token = auth.signer.issue() if ok and auth.signer is not None else None
        if token is None:
            logger.warning("guide console: failed login from %s", client)
            return login_page(mode, staff_message("wrong_password"), 401)
        for lim, key in limits:
            lim.reset(key)
        logger.info("guide console: login from %s", client)
        resp = redirect(f"{prefix}/")
        _set_cookie(resp, request, token, SESSION_SECONDS, prefix)
        return resp

    @bp.route("/logout", methods=["POST"], name="guide_logout")
    async def logout(request: Request) -> HTTPResponse:
        mode = guide_access(request).mode
        target = f"{prefix}/login" if mode in (Mode.PASSWORD, Mode.STAFF) else f"{prefix}/"
        resp = redirect(target)
        _set_cookie(resp, request, "", 0, prefix)
        return resp

    @bp.route("/api/session", methods=["GET"], name="guide_session")
    async def session(request: Request) -> HTTPResponse:
        """Lets the page show the logout button only where there is a login, and whose."""
        access = guide_access(request)
        found = access.session
        return response.json(
            {
                "mode": access.mode.value,
                "expires_at": found.expires_at if found else None,
                "staff": found.staff.display_name if found and found.staff else None,
            },
            headers=base_headers,
            ensure_ascii=False,
        )


_DUMMY_HASH: List[PasswordHash] = []


def _check_staff(auth: GuideAuth, login: str, password: str) -> Optional[Staff]:
    """The active account whose password this is; an unknown login costs the same PBKDF2
    run as a known one, so the answer's timing does not tell which logins exist."""
    assert auth.staff is not None
    account = auth.staff.by_login(login) if LOGIN_NAME.match(login) else None
    try:
        stored = PasswordHash.parse(account.password_hash) if account else None
    except ValueError:
        stored = None
    if stored is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(PasswordHash.parse(hash_password(secrets.token_urlsafe(16))))
        _DUMMY_HASH[0].verify(password)
        return None
    if not stored.verify(password) or account is None or not account.active or not password:
        return None
    return account


async def admit(
    request: Request, auth: GuideAuth, open_route: bool, prefix: str, login_url: str
) -> Optional[HTTPResponse]:
    """The console's one access rule (its pages, the queue, the grid page): None lets the
    request through; else the refusal. The decision stays on request.ctx.guide_access."""
    headers: Dict[str, str] = {"Cache-Control": "no-store"}
    from bot.channels.webchat import SECURITY_HEADERS

    headers = {**SECURITY_HEADERS, **headers}
    access = await auth.access(request)
    request.ctx.guide_access = access
    api = _needs_auth_json(request, prefix)
    if access.mode is Mode.LOOPBACK and is_loopback(request):
        return None
    if access.mode in (Mode.PASSWORD, Mode.STAFF):
        if open_route or access.session is not None:
            return None
        if not api:
            return response.redirect(login_url, status=303, headers=dict(headers))
        return response.json(
            {"error": staff_message("login_required")},
            status=401,
            headers=headers,
            ensure_ascii=False,
        )
    if api:
        return response.json(
            {"error": staff_message("needs_credentials")},
            status=403,
            headers=headers,
            ensure_ascii=False,
        )
    return response.raw(
        _refusal_page(), status=403, content_type="text/html; charset=utf-8", headers=headers
    )


@lru_cache(maxsize=1)
def _refusal_page() -> bytes:
    return (MESSAGES_FILE.parent / "forbidden.html").read_bytes()


def guide_access(request: Request) -> Access:
    """The access decision `admit` made for this request (LOCKED if it never ran)."""
    return getattr(request.ctx, "guide_access", None) or Access(Mode.LOCKED)


def staff_session_id(request: Request, auth: Optional[GuideAuth] = None) -> Optional[str]:
    """Which staff made this request, for "only who took a case answers it".

    Staff accounts: the account (`staff:<id>`, the same person at two desks); shared
    password: a hash of the session cookie the server signed and still accepts (no
    per-person accounts, so the session is the identity); loopback mode: the counter PC
    itself; locked: nobody.
    """
    access = guide_access(request)
    found = access.session
    if access.mode is Mode.LOOPBACK:
        return "loopback" if is_loopback(request) else None
    if found is None:
        return None
    if found.staff is not None:
        return f"staff:{found.staff.id}"
    return hashlib.sha256(found.token.encode("ascii")).hexdigest()[:32]


def staff_name(request: Request) -> Optional[str]:
    """The logged-in account's display name (server side), or None without an account."""
    found = guide_access(request).session
    return found.staff.display_name if found and found.staff else None


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


def _new_password() -> Optional[str]:
    """A password read as `_read_password` does, or None (reported) when it is too short."""
    password = _read_password()
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"password must have at least {MIN_PASSWORD_CHARS} characters", file=sys.stderr)
        return None
    return password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.channels.guide_auth")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("hash", help="password (getpass or one stdin line) -> GUIDE_PASSWORD_HASH")
    sub.add_parser("secret", help="a new GUIDE_SESSION_SECRET")
    add = sub.add_parser("add-staff", help="a staff account (password: getpass or stdin)")
    add.add_argument("login")
    add.add_argument("--name", required=True, help="display name, shown in the audit trail")
    sub.add_parser(
        "set-password", help="a staff account's new password (getpass or stdin); ends its sessions"
    ).add_argument("login")
    sub.add_parser("disable-staff").add_argument("login")
    sub.add_parser("enable-staff").add_argument("login")
    sub.add_parser("list-staff")
    return parser


def _staff_command(args: argparse.Namespace, directory: StaffDirectory) -> int:
    """add-staff, set-password, disable-, enable-, list-staff against DATABASE_URL (migrated
    beforehand)."""
    if args.command == "list-staff":
        for one in directory.all():
            state = "active" if one.active else "disabled"
            print(f"{one.login}\t{one.display_name}\t{state}\t{one.created_at:%Y-%m-%d %H:%M}")
        return 0
    login = str(args.login).strip().lower()
    if not LOGIN_NAME.match(login):
        print("login: lower-case letters, digits, . _ - (at most 64)", file=sys.stderr)
        return 1
    if args.command in ("disable-staff", "enable-staff"):
        if not directory.set_active(login, args.command == "enable-staff"):
            print(f"no staff account {login!r}", file=sys.stderr)
            return 1
        print(f"{login}: {'enabled' if args.command == 'enable-staff' else 'disabled'}")
        return 0
    if args.command == "set-password":
        password = _new_password()
        if password is None:
            return 1
        if not directory.set_password(login, hash_password(password)):
            print(f"no staff account {login!r}", file=sys.stderr)
            return 1
        print(f"{login}: password changed; its sessions have ended")
        return 0
    name = str(args.name).strip()
    if not name or len(name) > MAX_DISPLAY_CHARS or not name.isprintable():
        print(f"--name: 1 to {MAX_DISPLAY_CHARS} printable characters", file=sys.stderr)
        return 1
    password = _new_password()
    if password is None:
        return 1
    try:
        added = directory.add(login, name, hash_password(password))
    except StaffExists:
        print(f"staff account {login!r} exists already", file=sys.stderr)
        return 1
    print(f"{added.login}: added (id {added.id})")
    if len((os.environ.get(SECRET_ENV) or "").strip()) < MIN_SECRET_CHARS:
        print(f"note: staff logins need {SECRET_ENV} on the server", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None, directory: Optional[StaffDirectory] = None) -> int:
    """`hash`: password (getpass, or one stdin line) → GUIDE_PASSWORD_HASH; `secret`: a new
    GUIDE_SESSION_SECRET; `add-staff`, `set-password`, `disable-staff`, `enable-staff`,
    `list-staff`: the accounts in DATABASE_URL. Only the result goes to stdout, so it can be
    redirected."""
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "secret":
        print(secrets.token_urlsafe(32))
        return 0
    if args.command != "hash":
        try:
            return _staff_command(args, directory or StaffDirectory())
        except StaffUnavailable as exc:
            print(
                f"staff table unreadable ({exc}): run `python -m bot.serve migrate`",
                file=sys.stderr,
            )
            return 1
    password = _new_password()
    if password is None:
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
