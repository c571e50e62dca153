"""Per-staff accounts of the guide console: the CLI, the v2 session cookie, and over HTTP
(real loopback servers, the console's real access rule) that the account, not a typed
name, is what the grid trail and the handoff record; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, Iterator

import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.booking import dispose_engines, get_engine, migrate
from bot.channels import guide_auth
from bot.channels.guide import GuideInput
from bot.channels.guide_auth import (
    COOKIE_NAME,
    FailedLogins,
    GuideAuth,
    Mode,
    SessionSigner,
    hash_password,
    token_staff_id,
)
from bot.channels.guide_grid import GridConsoleInput
from bot.grid.repository import GridRepository
from bot.handoff.queue import HandoffQueue
from bot.settings import PROJECT_ROOT, get_settings
from bot.staff.directory import StaffDirectory
from tests.test_guide_auth import FAST, PASSWORD, SECRET, client, env
from tests.test_wechat import ServerThread

Sanic.test_mode = True

LI_PASSWORD = "li-desk-password-1"
WANG_PASSWORD = "wang-desk-password-2"


@pytest.fixture(params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = (
        f"sqlite:///{tmp_path / 'staff.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url, sync=False)
    try:
        yield url
    finally:
        dispose_engines()
        get_settings.cache_clear()


def cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.channels.guide_auth", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        env={**os.environ, "DATABASE_URL": url},
    )


def add(directory: StaffDirectory, login: str, name: str, password: str) -> int:
    return directory.add(login, name, hash_password(password, iterations=FAST)).id


# ------------------------------------------------------------------------------ CLI
def test_cli_adds_lists_and_disables_staff(db: str) -> None:
    done = cli(db, "add-staff", "Li.Na", "--name", "李娜", stdin=LI_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert LI_PASSWORD not in done.stdout + done.stderr
    account = StaffDirectory(get_engine(db)).by_login("li.na")  # stored lower-case
    assert account is not None and account.display_name == "李娜" and account.active
    assert account.password_hash.startswith("pbkdf2_sha256$600000$")
    assert guide_auth.PasswordHash.parse(account.password_hash).verify(LI_PASSWORD)

    again = cli(db, "add-staff", "li.na", "--name", "别人", stdin=WANG_PASSWORD + "\n")
    assert again.returncode == 1 and "exists" in again.stderr
    assert cli(db, "add-staff", "wang", "--name", "王", stdin="short\n").returncode == 1
    assert cli(db, "add-staff", "有 空格", "--name", "王", stdin=WANG_PASSWORD).returncode == 1
    assert cli(db, "add-staff", "wang").returncode == 2  # --name is required

    listed = cli(db, "list-staff")
    assert listed.returncode == 0 and listed.stdout.split("\t")[:3] == ["li.na", "李娜", "active"]
    assert "pbkdf2" not in listed.stdout  # hashes never shown
    assert cli(db, "disable-staff", "li.na").returncode == 0
    assert "\tdisabled\t" in cli(db, "list-staff").stdout
    assert not StaffDirectory(get_engine(db)).by_login("li.na").active  # type: ignore[union-attr]
    assert cli(db, "disable-staff", "nobody").returncode == 1
    assert cli(db, "enable-staff", "li.na").returncode == 0


def test_cli_without_the_staff_table_says_to_migrate(tmp_path: Any) -> None:
    done = cli(f"sqlite:///{tmp_path / 'empty.db'}", "list-staff")
    assert done.returncode == 1 and "migrate" in done.stderr


# ------------------------------------------------------------------------------ tokens
def test_v2_tokens_carry_the_staff_id_inside_the_mac() -> None:
    signer = SessionSigner(SECRET.encode(), "staff\x007\x00hash")
    token = signer.issue(7)
    assert token.startswith("v2.") and token_staff_id(token) == 7
    assert signer.expires_at(token) is not None
    version, expires, staff_id, nonce, mac = token.split(".")
    assert signer.expires_at(f"{version}.{expires}.8.{nonce}.{mac}") is None
    assert token_staff_id("v1.1.a.b") is None and token_staff_id(None) is None
    # the shared-password signer does not accept it, nor another account's
    assert SessionSigner(SECRET.encode(), "hash").expires_at(token) is None
    assert SessionSigner(SECRET.encode(), "staff\x008\x00hash").expires_at(token) is None


# ------------------------------------------------------------------------------ over HTTP
def start(url: str, auth: GuideAuth) -> ServerThread:
    app = Sanic(f"guide_staff_{uuid.uuid4().hex[:8]}")
    repo = GridRepository(get_engine(url))
    register(
        [
            GuideInput(auth=auth, repository_factory=lambda: None),  # type: ignore[arg-type,return-value]
            GridConsoleInput(
                repository_factory=lambda: repo, auth=auth, sender_factory=lambda: None
            ),
        ],
        app,
        route="/webhooks/",
    )
    return ServerThread(app).start()


@pytest.fixture()
def desk(db: str) -> Iterator[Dict[str, Any]]:
    """Two accounts (李娜, 王强), the console with the shared password still configured too."""
    directory = StaffDirectory(get_engine(db))
    ids = {
        "li": add(directory, "li", "李娜", LI_PASSWORD),
        "wang": add(directory, "wang", "王强", WANG_PASSWORD),
    }
    auth = GuideAuth.from_env(env(), staff=directory)
    auth.cache_seconds = 0  # every request reads the row again
    srv = start(db, auth)
    try:
        yield {"base": srv.base, "auth": auth, "ids": ids, "url": db, "directory": directory}
    finally:
        srv.stop()


def login(base: str, name: str, password: str) -> Any:
    http = client()
    resp = http.post(
        f"{base}/guide/login",
        data={"login": name, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    return http, resp


def test_staff_login_wrong_password_and_the_shared_password_no_longer_work(desk) -> None:
    base = desk["base"]
    desk["auth"].failures = FailedLogins(limit=100)  # six wrong tries from one address below
    form = client().get(f"{base}/guide/login", timeout=5)
    assert 'name="login"' in form.text and 'name="password"' in form.text
    assert "<!--staff-->" not in form.text
    for name, password in [
        ("li", WANG_PASSWORD),
        ("li", ""),
        ("nobody", LI_PASSWORD),
        ("", PASSWORD),
    ]:
        http, resp = login(base, name, password)
        assert resp.status_code == 401 and "密码不正确" in resp.text and not http.cookies
    shared = client()
    assert (
        shared.post(
            f"{base}/guide/login", data={"password": PASSWORD}, allow_redirects=False, timeout=30
        ).status_code
        == 401
    )
    # a v1 cookie of the shared password is not a session once accounts exist
    shared.cookies.set(COOKIE_NAME, desk["auth"].signer.issue(), domain="127.0.0.1", path="/guide")
    assert shared.get(f"{base}/guide/api/options", timeout=5).status_code == 401

    http, resp = login(base, "LI", LI_PASSWORD)  # login names are case-insensitive
    assert resp.status_code == 303 and resp.headers["Location"] == "/guide/"
    assert http.cookies[COOKIE_NAME].startswith("v2.")
    session = http.get(f"{base}/guide/api/session", timeout=5).json()
    assert session["mode"] == "staff" and session["staff"] == "李娜"
    assert http.get(f"{base}/guide/api/options", timeout=5).status_code == 200
    assert http.get(f"{base}/guide/grid/api/tickets", timeout=5).json()["staff"] == "李娜"


def test_a_forged_cookie_with_another_staff_id_is_refused(desk) -> None:
    base, ids = desk["base"], desk["ids"]
    http, _ = login(base, "li", LI_PASSWORD)
    token = http.cookies[COOKIE_NAME]
    version, expires, staff_id, nonce, mac = token.split(".")
    assert int(staff_id) == ids["li"]
    for forged in [
        f"{version}.{expires}.{ids['wang']}.{nonce}.{mac}",
        f"{version}.{int(expires) + 3600}.{staff_id}.{nonce}.{mac}",
        f"{version}.{expires}.99999.{nonce}.{mac}",
        # signed with the right secret but bound to li's row, claiming wang
        SessionSigner(SECRET.encode(), "x").issue(ids["wang"]),
    ]:
        other = client()
        other.cookies.set(COOKIE_NAME, forged, domain="127.0.0.1", path="/guide")
        assert other.get(f"{base}/guide/api/queue", timeout=5).status_code == 401, forged
        assert other.get(f"{base}/guide/grid/api/tickets", timeout=5).status_code == 401


def test_a_disabled_accounts_cookie_stops_working(desk) -> None:
    base = desk["base"]
    http, _ = login(base, "li", LI_PASSWORD)
    assert http.get(f"{base}/guide/api/queue", timeout=10).status_code == 200
    assert cli(desk["url"], "disable-staff", "li").returncode == 0  # another process
    assert http.get(f"{base}/guide/api/queue", timeout=10).status_code == 401
    assert http.get(f"{base}/guide/grid/api/tickets", timeout=10).status_code == 401
    page = http.get(f"{base}/guide/", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"] == "/guide/login"
    assert login(base, "li", LI_PASSWORD)[1].status_code == 401  # nor can it log in again
    assert login(base, "wang", WANG_PASSWORD)[1].status_code == 303


def test_a_changed_password_ends_the_accounts_sessions(desk) -> None:
    base, url = desk["base"], desk["url"]
    http, _ = login(base, "li", LI_PASSWORD)
    assert http.get(f"{base}/guide/api/queue", timeout=10).status_code == 200
    new_password = "li-new-desk-password-3"
    assert cli(url, "set-password", "li", stdin="short\n").returncode == 1
    assert cli(url, "set-password", "nobody", stdin=new_password + "\n").returncode == 1
    assert cli(url, "set-password", "li", stdin=new_password + "\n").returncode == 0
    assert http.get(f"{base}/guide/api/queue", timeout=10).status_code == 401
    assert login(base, "li", LI_PASSWORD)[1].status_code == 401
    again, answer = login(base, "li", new_password)
    assert answer.status_code == 303
    assert again.get(f"{base}/guide/api/queue", timeout=10).status_code == 200


def test_the_trail_and_the_handoff_name_the_sessions_staff_not_the_posted_name(desk) -> None:
    base, url = desk["base"], desk["url"]
    repo = GridRepository(get_engine(url))
    filed = repo.file(
        category="water_source",
        place="银河村饮水水库",
        description="水库边堆满油漆桶",
        occurred_at=datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc),
        contact_phone="13812345678",
        channel="rest",
        sender_id="citizen",
    )
    assert filed.ticket is not None
    code = filed.ticket.code
    li, _ = login(base, "li", LI_PASSWORD)
    moved = li.post(
        f"{base}/guide/grid/api/tickets/{code}/advance",
        json={"actor": "王强", "to_stage": "assigned"},
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    # no name posted at all is fine too: the session names the account
    assert li.post(
        f"{base}/guide/grid/api/tickets/{code}/advance", json={"to_stage": "handling"}, timeout=10
    ).ok
    actors = [
        e["actor"]
        for e in li.get(f"{base}/guide/grid/api/tickets/{code}", timeout=10).json()["trail"]
    ]
    assert actors.count("console:李娜") == 2
    assert "console:王强" not in actors

    case = HandoffQueue().open_case(sender_id="c1", channel="rest", reason="request", summary={})
    wang, _ = login(base, "wang", WANG_PASSWORD)
    q = f"{base}/guide/api/queue/{case.case_id}"
    assert li.post(f"{q}/take", json={"staff": "王强"}, timeout=10).status_code == 200
    assert wang.post(f"{q}/reply", json={"text": "插话"}, timeout=10).status_code == 409
    li2, _ = login(base, "li", LI_PASSWORD)  # the same account at another desk may answer
    assert li2.post(f"{q}/reply", json={"text": "请稍等", "staff": "王强"}, timeout=10).ok
    assert li.post(f"{q}/close", json={}, timeout=10).ok
    messages = li.get(q, timeout=10).json()["messages"]
    assert [(m["kind"], m["staff_name"]) for m in messages] == [
        ("taken", "李娜"),
        ("text", "李娜"),
        ("closed", "李娜"),
    ]


def test_failed_logins_are_limited_per_login_name_too(desk) -> None:
    base, auth = desk["base"], desk["auth"]
    auth.failures = FailedLogins(limit=100)  # only the per-login limit can block here
    for i in range(guide_auth.MAX_FAILURES):
        assert login(base, "li", f"wrong-{i}")[1].status_code == 401
    blocked = login(base, "li", LI_PASSWORD)[1]
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert login(base, "wang", WANG_PASSWORD)[1].status_code == 303  # another login is not


def test_accounts_need_a_login_even_from_loopback_and_none_means_the_old_modes(db: str) -> None:
    directory = StaffDirectory(get_engine(db))
    loopback = GuideAuth.from_env({guide_auth.SECRET_ENV: SECRET}, staff=directory)
    loopback.cache_seconds = 0
    assert loopback.mode is Mode.LOOPBACK
    srv = start(db, loopback)
    try:
        assert client().get(f"{srv.base}/guide/api/options", timeout=5).status_code == 200
        add(directory, "li", "李娜", LI_PASSWORD)
        assert client().get(f"{srv.base}/guide/api/options", timeout=5).status_code == 401
        http, resp = login(srv.base, "li", LI_PASSWORD)
        assert resp.status_code == 303
        assert http.get(f"{srv.base}/guide/api/options", timeout=5).status_code == 200
    finally:
        srv.stop()
    # production without a hash: closed until an account exists, then staff logins
    prod = GuideAuth.from_env(
        {guide_auth.SECRET_ENV: SECRET, guide_auth.APP_ENV: "production"}, staff=directory
    )
    assert prod.mode is Mode.LOCKED
    srv = start(db, prod)
    try:
        assert login(srv.base, "li", LI_PASSWORD)[1].status_code == 303
    finally:
        srv.stop()
    # without a usable secret no account can sign in, and the configured mode stays
    assert GuideAuth.from_env({guide_auth.APP_ENV: "production"}, staff=directory).staff is None


def test_an_unreadable_staff_table_closes_the_console(tmp_path: Any) -> None:
    import sqlalchemy as sa

    broken = StaffDirectory(sa.create_engine(f"sqlite:///{tmp_path}/missing-dir/x.db"))
    auth = GuideAuth.from_env(env(), staff=broken)
    srv = ServerThread(_guide_only(auth)).start()
    try:
        http = client()
        assert http.get(f"{srv.base}/guide/api/options", timeout=5).status_code == 403
        assert (
            http.post(f"{srv.base}/guide/login", data={"password": PASSWORD}, timeout=5).status_code
            == 403
        )
    finally:
        srv.stop()


def _guide_only(auth: GuideAuth) -> Sanic:
    app = Sanic(f"guide_staff_only_{uuid.uuid4().hex[:8]}")
    register([GuideInput(auth=auth, repository_factory=lambda: None)], app, route="/webhooks/")  # type: ignore[arg-type,return-value]
    return app
