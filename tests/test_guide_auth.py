"""Staff credentials for the hall-guide console: hashes, session cookies, the failure limit,
the modes from the environment, and all of it over HTTP on a real Sanic server.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from http.cookies import SimpleCookie
from typing import Any, Dict, Iterator, Optional

import pytest
import requests
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.channels import guide_auth
from bot.channels.guide import GuideInput
from bot.channels.guide_auth import (
    COOKIE_NAME,
    FailedLogins,
    GuideAuth,
    Mode,
    PasswordHash,
    SessionSigner,
    hash_password,
)
from bot.settings import PROJECT_ROOT
from tests.test_channels_http import MOTHER, FakeNluAgent, no_booking
from tests.test_wechat import ServerThread

Sanic.test_mode = True

PASSWORD = "导办台-correct-horse-42"
SECRET = "s" * 40
FAST = 1000  # PBKDF2 iterations for tests; production hashes use guide_auth.PBKDF2_ITERATIONS


def env(
    password: Optional[str] = PASSWORD,
    secret: Optional[str] = SECRET,
    app_env: Optional[str] = None,
) -> Dict[str, str]:
    out: Dict[str, str] = {}
    if password is not None:
        out[guide_auth.PASSWORD_ENV] = hash_password(password, iterations=FAST)
    if secret is not None:
        out[guide_auth.SECRET_ENV] = secret
    if app_env is not None:
        out[guide_auth.APP_ENV] = app_env
    return out


# ------------------------------------------------------------------------------ hashes
def test_password_hash_round_trip_and_format():
    encoded = hash_password(PASSWORD, iterations=FAST)
    scheme, iterations, salt, key = encoded.split("$")
    assert scheme == "pbkdf2_sha256" and iterations == str(FAST) and "=" not in salt + key
    parsed = PasswordHash.parse(encoded)
    assert parsed.encode() == encoded
    assert parsed.verify(PASSWORD)
    assert (
        not parsed.verify(PASSWORD + " ") and not parsed.verify("") and not parsed.verify("导办台")
    )
    assert hash_password(PASSWORD, iterations=FAST) != encoded  # a fresh salt every time


def test_default_hash_uses_the_documented_iterations():
    assert PasswordHash.parse(hash_password("x" * 12)).iterations == guide_auth.PBKDF2_ITERATIONS


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain-password",
        "md5$1000$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "pbkdf2_sha256$many$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "pbkdf2_sha256$0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "pbkdf2_sha256$1000$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5",  # salt too short
        "pbkdf2_sha256$1000$c2FsdHNhbHQ$a2V5",  # key too short
        "pbkdf2_sha256$1000$!!!$a2V5a2V5a2V5a2V5a2V5a2V5",
        "pbkdf2_sha256$1000$c2FsdHNhbHQ",
    ],
)
def test_malformed_hashes_are_refused(bad):
    with pytest.raises(ValueError):
        PasswordHash.parse(bad)


# ------------------------------------------------------------------------------ sessions
class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_session_token_signing_expiry_and_tampering():
    clock = Clock()
    signer = SessionSigner(SECRET.encode(), "hash-a", lifetime=3600, clock=clock)
    token = signer.issue()
    assert signer.expires_at(token) == int(clock.now) + 3600
    assert signer.issue() != token  # each login its own nonce

    version, expires, nonce, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    longer = f"{version}.{int(expires) + 86400}.{nonce}.{mac}"
    for bad in [
        f"{version}.{expires}.{nonce}.{flipped}",
        longer,
        token + "x",
        token[:-1],
        "",
        "v1",
        "...",
        "v1.abc.def.ghi",
        "令牌" + token,
        "v1." + "9" * 300 + ".n.m",
    ]:
        assert signer.expires_at(bad) is None, bad
    assert signer.expires_at(None) is None
    # another secret, or another password hash (password changed): not ours
    assert SessionSigner(b"t" * 40, "hash-a", clock=clock).expires_at(token) is None
    assert SessionSigner(SECRET.encode(), "hash-b", clock=clock).expires_at(token) is None

    clock.now += 3599
    assert signer.expires_at(token) is not None
    clock.now += 1
    assert signer.expires_at(token) is None


# ------------------------------------------------------------------------------ failed logins
def test_failed_logins_slide_reset_and_stay_bounded():
    clock = Clock(0.0)
    limiter = FailedLogins(limit=5, window=600, max_clients=3, clock=clock)
    for _ in range(4):
        limiter.record("10.0.0.1")
    assert not limiter.blocked("10.0.0.1")
    limiter.record("10.0.0.1")
    assert limiter.blocked("10.0.0.1") and not limiter.blocked("10.0.0.2")
    assert 1 <= limiter.retry_after("10.0.0.1") <= 601
    clock.now = 601
    assert not limiter.blocked("10.0.0.1")  # the window slid past all five

    limiter.record("10.0.0.1")
    limiter.reset("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 0
    for i in range(10):
        limiter.record(f"10.0.1.{i}")
    assert len(limiter) == 3  # the oldest clients were forgotten


# ------------------------------------------------------------------------------ modes
def test_modes_from_the_environment(caplog):
    assert GuideAuth.from_env({}).mode is Mode.LOOPBACK
    assert GuideAuth.from_env({guide_auth.SECRET_ENV: SECRET}).mode is Mode.LOOPBACK
    configured = GuideAuth.from_env(env())
    assert configured.mode is Mode.PASSWORD and configured.password.verify(PASSWORD)
    assert GuideAuth.from_env(env(app_env="production")).mode is Mode.PASSWORD

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.channels.guide_auth"):
        locked = GuideAuth.from_env(env(password=None, app_env="production"))
    assert locked.mode is Mode.LOCKED
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "production" in caplog.records[0].getMessage()

    assert GuideAuth.from_env({guide_auth.PASSWORD_ENV: "letmein"}).mode is Mode.LOCKED
    assert GuideAuth.from_env(env(secret=None)).mode is Mode.LOCKED
    assert GuideAuth.from_env(env(secret="short")).mode is Mode.LOCKED


# ------------------------------------------------------------------------------ CLI
def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.channels.guide_auth", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )


def test_cli_hash_reads_stdin_and_prints_only_the_hash():
    done = cli("hash", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    encoded = done.stdout.strip()
    assert "\n" not in encoded and PASSWORD not in done.stdout + done.stderr
    assert PasswordHash.parse(encoded).verify(PASSWORD)
    assert cli("hash", stdin="short\n").returncode == 1
    assert cli().returncode == 2
    secret = cli("secret").stdout.strip()
    assert len(secret) >= guide_auth.MIN_SECRET_CHARS
    assert GuideAuth.from_env({**env(), guide_auth.SECRET_ENV: secret}).mode is Mode.PASSWORD


# ------------------------------------------------------------------------------ over HTTP
def build_app(auth: GuideAuth) -> Sanic:
    app = Sanic(f"guide_auth_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = FakeNluAgent()
    register([GuideInput(repository_factory=no_booking, auth=auth)], app, route="/webhooks/")
    return app


@pytest.fixture()
def serve() -> Iterator[Any]:
    started = []

    def start(auth: GuideAuth, host: str = "127.0.0.1") -> ServerThread:
        srv = ServerThread(build_app(auth), host).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def client() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never through an HTTP proxy from the environment
    return session


def analyze(http: requests.Session, base: str) -> requests.Response:
    return http.post(f"{base}/guide/api/analyze", json={"text": MOTHER}, timeout=30)


def login(
    http: requests.Session, base: str, password: str = PASSWORD, **kw: Any
) -> requests.Response:
    return http.post(
        f"{base}/guide/login", data={"password": password}, allow_redirects=False, timeout=30, **kw
    )


PROXIED = {"X-Forwarded-For": "203.0.113.9"}


def test_without_credentials_loopback_works_and_a_proxied_client_is_refused(serve):
    srv = serve(GuideAuth.from_env({}))
    http = client()
    assert http.get(f"{srv.base}/guide/", timeout=5).status_code == 200
    assert analyze(http, srv.base).json()["service"]["id"] == "passport"
    assert (
        http.get(f"{srv.base}/guide/login", allow_redirects=False, timeout=5).headers["Location"]
        == "/guide/"
    )
    assert http.get(f"{srv.base}/guide/api/session", timeout=5).json()["mode"] == "loopback"
    # a local proxy forwarding a local client is still loopback
    assert http.get(f"{srv.base}/guide/", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=5).ok

    for headers in [
        PROXIED,
        {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
        {"X-Real-IP": "192.0.2.77"},
        {"Forwarded": "for=127.0.0.1"},
    ]:
        page = http.get(f"{srv.base}/guide/", headers=headers, timeout=5)
        assert page.status_code == 403 and "工作人员凭据" in page.text, headers
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        api = http.post(
            f"{srv.base}/guide/api/analyze", json={"text": MOTHER}, headers=headers, timeout=5
        )
        assert api.status_code == 403 and "error" in api.json()
        assert (
            http.get(f"{srv.base}/guide/static/guide.js", headers=headers, timeout=5).status_code
            == 403
        )


def test_without_credentials_a_remote_client_is_refused():
    """Decided on the request's own address (the tests send traffic to loopback only)."""
    from types import SimpleNamespace

    from sanic.compat import Header

    from bot.inputs import is_loopback

    remote = SimpleNamespace(ip="203.0.113.9", headers=Header())
    local = SimpleNamespace(ip="127.0.0.1", headers=Header())
    assert not is_loopback(remote)  # type: ignore[arg-type]
    assert is_loopback(local)  # type: ignore[arg-type]


def test_production_without_a_hash_refuses_everyone(serve):
    srv = serve(GuideAuth.from_env({guide_auth.APP_ENV: "production"}))
    http = client()
    for path in ["/guide/", "/guide/login", "/guide/static/guide.css", "/guide/api/options"]:
        assert http.get(srv.base + path, allow_redirects=False, timeout=5).status_code == 403, path
    assert analyze(http, srv.base).status_code == 403
    assert login(http, srv.base).status_code == 403


def test_with_credentials_a_session_is_needed_and_the_password_gives_one(serve):
    auth = GuideAuth.from_env(env())
    srv = serve(auth)
    http = client()
    base = srv.base

    page = http.get(f"{base}/guide/", allow_redirects=False, timeout=5)
    assert page.status_code == 303 and page.headers["Location"] == "/guide/login"
    api = http.get(f"{base}/guide/api/options", timeout=5)
    assert api.status_code == 401 and api.headers["Content-Type"].startswith("application/json")
    assert "error" in api.json()
    assert analyze(http, base).status_code == 401
    # the login form and its stylesheet are open, under the same CSP as the other pages
    form = http.get(f"{base}/guide/login", timeout=5)
    assert (
        form.status_code == 200
        and '<form class="panel login" method="post" action="login">' in form.text
    )
    assert 'name="password"' in form.text and "<!--message-->" not in form.text
    assert "Location" not in form.headers  # no header left over from the redirect before
    assert "default-src 'self'" in form.headers["Content-Security-Policy"]
    assert http.get(f"{base}/guide/static/guide.css", timeout=5).status_code == 200

    wrong = login(http, base, "not-the-password")
    assert wrong.status_code == 401 and "密码不正确" in wrong.text
    assert "Set-Cookie" not in wrong.headers and not http.cookies
    assert login(http, base, "").status_code == 401

    right = login(http, base)
    assert right.status_code == 303 and right.headers["Location"] == "/guide/"
    raw = right.headers["Set-Cookie"]
    cookie = SimpleCookie()
    cookie.load(raw)
    morsel = cookie[COOKIE_NAME]
    assert morsel["path"] == "/guide" and morsel["max-age"] == str(guide_auth.SESSION_SECONDS)
    assert "httponly" in raw.lower() and "samesite=strict" in raw.lower()
    assert "secure" not in raw.lower()  # plain http here: a Secure cookie would be dropped
    assert auth.signer.expires_at(morsel.value) is not None

    assert http.get(f"{base}/guide/", timeout=5).status_code == 200
    assert http.get(f"{base}/guide/api/options", timeout=5).json()["services"]
    assert analyze(http, base).json()["service"]["id"] == "passport"
    session = http.get(f"{base}/guide/api/session", timeout=5).json()
    assert session["mode"] == "password" and session["expires_at"] > time.time()

    out = http.post(f"{base}/guide/logout", allow_redirects=False, timeout=5)
    assert out.status_code == 303 and out.headers["Location"] == "/guide/login"
    assert "max-age=0" in out.headers["Set-Cookie"].lower()
    assert analyze(http, base).status_code == 401


def test_tampered_and_expired_cookies_are_rejected(serve):
    auth = GuideAuth.from_env(env())
    srv = serve(auth)
    token = auth.signer.issue()
    assert analyze(client_with(srv, token), srv.base).status_code == 200

    version, expires, nonce, mac = token.split(".")
    forged = [
        f"{version}.{int(expires) + 3600}.{nonce}.{mac}",
        token[:-2] + "xx",
        "v1.1.a.b",
        "x" * 300,
    ]
    for bad in forged:
        assert analyze(client_with(srv, bad), srv.base).status_code == 401, bad
        page = client_with(srv, bad).get(f"{srv.base}/guide/", allow_redirects=False, timeout=5)
        assert page.status_code == 303

    past = SessionSigner(
        SECRET.encode(), env_hash(auth), clock=lambda: time.time() - guide_auth.SESSION_SECONDS - 5
    ).issue()
    assert auth.signer.expires_at(past) is None
    assert analyze(client_with(srv, past), srv.base).status_code == 401
    other_secret = SessionSigner(b"o" * 40, env_hash(auth)).issue()
    assert analyze(client_with(srv, other_secret), srv.base).status_code == 401


def env_hash(auth: GuideAuth) -> str:
    assert auth.password is not None
    return auth.password.encode()


def client_with(srv: ServerThread, token: str) -> requests.Session:
    http = client()
    http.cookies.set(COOKIE_NAME, token, domain="127.0.0.1", path="/guide")
    return http


def test_the_sixth_failed_login_gets_429_even_with_the_right_password(serve):
    srv = serve(GuideAuth.from_env(env()))
    http = client()
    for i in range(guide_auth.MAX_FAILURES):
        assert login(http, srv.base, f"wrong-{i}").status_code == 401, i
    blocked = login(http, srv.base, "wrong-again")
    assert blocked.status_code == 429 and "失败次数过多" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= guide_auth.FAILURE_WINDOW_SECONDS + 1
    assert login(http, srv.base).status_code == 429 and not http.cookies
    assert http.get(f"{srv.base}/guide/login", timeout=5).status_code == 200  # the form still loads


def test_parallel_guesses_cannot_outrun_the_limit(serve):
    """Ten guesses at once, each slow to verify: only five are checked, the rest get 429."""
    from concurrent.futures import ThreadPoolExecutor

    srv = serve(
        GuideAuth.from_env(
            {
                guide_auth.PASSWORD_ENV: hash_password(PASSWORD, iterations=200_000),
                guide_auth.SECRET_ENV: SECRET,
            }
        )
    )
    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(
            pool.map(lambda i: login(client(), srv.base, f"wrong-{i}").status_code, range(10))
        )
    assert statuses == [401] * guide_auth.MAX_FAILURES + [429] * (10 - guide_auth.MAX_FAILURES)
