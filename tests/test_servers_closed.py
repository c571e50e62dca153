"""Both servers start closed: loopback, no open HTTP API, no CORS, no development secret in
production, an action server that only the Rasa server may call, and a busy reply (never
silence, never raw text in a slot) when the action server fails.

Server behaviour is tested on the real servers (tests/live.py); the argument and settings
rules also directly, because they decide what the servers are started with.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
from sanic import Sanic

from bot.settings import get_settings, production_problems
from tests.live import ROOT, LiveBot, free_port, start_live_bot, stop

Sanic.test_mode = True

FEE_QUESTION = "办护照要多少钱"


@pytest.fixture()
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh from a test's environment, and forgotten afterwards."""
    for name in (
        "APP_ENV",
        "ID_HASH_SECRET",
        "SEAL_SECRET",
        "WECHAT_TOKEN",
        "ACTION_SERVER_TOKEN",
        "RASA_AUTH_TOKEN",
        "BIND_HOST",
        "CORS_ORIGINS",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


# ------------------------------------------------------------------ settings and arguments
def test_development_runs_with_built_in_secrets(clean_settings: pytest.MonkeyPatch) -> None:
    assert production_problems(get_settings()) == []


def test_production_refuses_every_development_secret(clean_settings: pytest.MonkeyPatch) -> None:
    clean_settings.setenv("APP_ENV", "production")
    problems = " ".join(production_problems(get_settings()))
    for name in ("ID_HASH_SECRET", "SEAL_SECRET", "WECHAT_TOKEN", "ACTION_SERVER_TOKEN"):
        assert name in problems


def test_production_accepts_real_secrets_and_refuses_a_short_api_token(
    clean_settings: pytest.MonkeyPatch,
) -> None:
    for name in ("ID_HASH_SECRET", "SEAL_SECRET", "ACTION_SERVER_TOKEN"):
        clean_settings.setenv(name, uuid.uuid4().hex)
    clean_settings.setenv("WECHAT_TOKEN", "a-real-wechat-token")
    clean_settings.setenv("APP_ENV", "production")
    assert production_problems(get_settings()) == []
    clean_settings.setenv("RASA_AUTH_TOKEN", "short")
    get_settings.cache_clear()
    assert "RASA_AUTH_TOKEN" in " ".join(production_problems(get_settings()))


@pytest.mark.parametrize("command", ["run", "actions"])
def test_a_production_start_with_development_secrets_stops_with_the_reason(command: str) -> None:
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if k not in ("ID_HASH_SECRET", "SEAL_SECRET", "WECHAT_TOKEN", "ACTION_SERVER_TOKEN")
    }
    env["APP_ENV"] = "production"
    done = subprocess.run(
        [sys.executable, "-m", "bot.serve", command, "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ID_HASH_SECRET" in done.stderr and "ACTION_SERVER_TOKEN" in done.stderr


def test_rasa_is_started_on_loopback_without_api_or_cors(
    clean_settings: pytest.MonkeyPatch,
) -> None:
    from bot.serve import rasa_run_args

    args = rasa_run_args(["--port", "5005"])
    assert args[args.index("--interface") + 1] == "127.0.0.1"
    assert "--enable-api" not in args and "--cors" not in args and "--auth-token" not in args


def test_the_api_comes_only_with_a_token(clean_settings: pytest.MonkeyPatch) -> None:
    from bot.serve import rasa_run_args

    clean_settings.setenv("RASA_AUTH_TOKEN", "a-long-enough-api-token")
    args = rasa_run_args([])
    assert "--enable-api" in args
    assert args[args.index("--auth-token") + 1] == "a-long-enough-api-token"
    with pytest.raises(SystemExit):
        rasa_run_args(["--enable-api"])
    with pytest.raises(SystemExit):
        rasa_run_args(["--cors", "*"])


# ------------------------------------------------------------------ the action server guard
def _action_call(action: str = "action_fixture_fast", sender: str = "citizen") -> Dict[str, Any]:
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": "hi"},
            "events": [],
            "paused": False,
            "latest_event_time": 0,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": None,
        },
    }


@pytest.fixture()
def action_server(clean_settings: pytest.MonkeyPatch) -> Iterator[Any]:
    from bot.action_server import create_app
    from tests.test_wechat import ServerThread

    clean_settings.setenv("ACTION_SERVER_TOKEN", "the-shared-action-secret")
    app = create_app("tests.action_fixtures", get_settings())
    app.name = f"actions_{uuid.uuid4().hex[:8]}"
    srv = ServerThread(app).start()
    yield srv
    srv.stop()


def _post(
    srv: Any, body: Any, token: str | None = "the-shared-action-secret", **headers: str
) -> requests.Response:
    if token is not None:
        headers["X-Action-Token"] = token
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{srv.base}/webhook", data=data, headers=headers, timeout=30)


def test_action_server_runs_actions_only_for_the_shared_secret(action_server: Any) -> None:
    assert _post(action_server, _action_call(), token=None).status_code == 403
    assert _post(action_server, _action_call(), token="guessed").status_code == 403
    ok = _post(action_server, _action_call())
    assert ok.status_code == 200
    assert ok.json()["responses"][0]["text"] == "fast"
    assert requests.get(f"{action_server.base}/actions", timeout=10).status_code == 403


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b"not json", b"{}", json.dumps({"next_action": "x"}).encode()]
)
def test_action_server_rejects_malformed_calls(action_server: Any, body: bytes) -> None:
    assert _post(action_server, body).status_code == 400


def test_a_blocked_action_does_not_stall_other_conversations(action_server: Any) -> None:
    from tests import action_fixtures

    action_fixtures.RELEASE.clear()
    slow: Dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: slow.update(
            r=_post(action_server, _action_call("action_fixture_blocked", "a"))
        )
    )
    thread.start()
    assert action_fixtures.ENTERED.wait(20), "the blocking action never started"
    fast = _post(action_server, _action_call("action_fixture_fast", "b"))  # while "a" is blocked
    assert fast.status_code == 200 and "r" not in slow
    action_fixtures.RELEASE.set()
    thread.join(30)
    assert slow["r"].status_code == 200


def test_without_a_secret_only_loopback_may_call(clean_settings: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from sanic.compat import Header

    from bot.action_server import caller_allowed

    settings = get_settings()
    local = SimpleNamespace(ip="127.0.0.1", headers=Header())
    proxied = SimpleNamespace(ip="127.0.0.1", headers=Header({"x-forwarded-for": "203.0.113.9"}))
    remote = SimpleNamespace(ip="203.0.113.9", headers=Header())
    assert caller_allowed(local, settings)  # type: ignore[arg-type]
    assert not caller_allowed(proxied, settings)  # type: ignore[arg-type]
    assert not caller_allowed(remote, settings)  # type: ignore[arg-type]
    clean_settings.setenv("APP_ENV", "production")
    get_settings.cache_clear()
    assert not caller_allowed(local, get_settings())  # type: ignore[arg-type]


# ------------------------------------------------------------------ the real servers
def _listening_addresses(port: int) -> List[str]:
    """Local addresses with a listening socket on `port`, from /proc (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_both_servers_listen_on_loopback_only(live_bot: LiveBot) -> None:
    for url in (live_bot.url, live_bot.actions_url):
        addresses = _listening_addresses(int(url.rsplit(":", 1)[1]))
        assert addresses, f"nothing listens for {url}"
        assert set(addresses) <= {"0100007F", "00000000000000000000000001000000"}, addresses


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/model/parse"),
        ("get", "/conversations/{sender}/tracker"),
        ("post", "/conversations/{sender}/tracker/events"),
        ("post", "/conversations/{sender}/execute"),
        ("delete", "/model"),
        ("put", "/model"),
        ("post", "/model/train"),
        ("get", "/status"),
    ],
)
def test_every_api_call_needs_the_token(live_bot: LiveBot, method: str, path: str) -> None:
    sender = uuid.uuid4().hex
    url = live_bot.url + path.format(sender=sender)
    body = {"text": "你好", "name": "action_cancel_booking", "event": "slot", "value": "x"}
    for params in ({}, {"token": "guessed-token"}):
        answer = requests.request(method, url, params=params, json=body, timeout=30)
        assert answer.status_code == 401, (path, params, answer.status_code)
    assert live_bot.text(FEE_QUESTION), "the bot stopped answering after the refused calls"


def test_the_api_works_with_the_token(live_bot: LiveBot) -> None:
    parsed = live_bot.parse("我爸爸在美国去世了，要马上过去奔丧")
    assert [e["value"] for e in parsed["entities"] if e["entity"] == "emergency_type"] == [
        "bereavement"
    ]


def test_cors_echoes_no_foreign_origin(live_bot: LiveBot) -> None:
    origin = "https://attacker.example"
    preflight = requests.options(
        f"{live_bot.url}/webhooks/rest/webhook",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    simple = requests.post(
        f"{live_bot.url}/webhooks/rest/webhook",
        headers={"Origin": origin},
        json={"sender": uuid.uuid4().hex, "message": "你好"},
        timeout=60,
    )
    for answer in (preflight, simple):
        assert answer.headers.get("Access-Control-Allow-Origin") not in (origin, "*")
        assert answer.headers.get("Access-Control-Allow-Credentials") != "true"


def test_the_action_server_refuses_a_forged_tracker(live_bot: LiveBot) -> None:
    forged = _action_call("action_lookup_booking", "attacker")
    forged["tracker"]["slots"] = {"booking_code": "HZ-7K3Q9", "booking_phone_last4": "verified"}
    answer = requests.post(f"{live_bot.actions_url}/webhook", json=forged, timeout=30)
    assert answer.status_code == 403


# ------------------------------------------------------------------ API off; action server down
@pytest.fixture(scope="module")
def own_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveBot, list]]:
    """A bot of this module's own (without API token), whose action server the tests stop."""
    bot, procs = start_live_bot(
        tmp_path_factory.mktemp("closed"), extra_env={"RASA_AUTH_TOKEN": ""}
    )
    try:
        yield bot, procs
    finally:
        stop(procs)


def test_without_a_token_the_api_does_not_exist(own_bot: tuple[LiveBot, list]) -> None:
    bot, _ = own_bot
    sender = uuid.uuid4().hex
    assert bot.text(FEE_QUESTION, sender)
    assert (
        requests.post(f"{bot.url}/model/parse", json={"text": "你好"}, timeout=30).status_code
        == 404
    )
    tracker = requests.get(f"{bot.url}/conversations/{sender}/tracker", timeout=30)
    assert tracker.status_code == 404 and "events" not in tracker.text
    assert requests.delete(f"{bot.url}/model", timeout=30).status_code in (404, 405)
    assert bot.text(FEE_QUESTION, sender)


def _slot_values(bot: LiveBot, sender: str, slot: str) -> List[Any]:
    """Every value the stored conversation ever gave `slot`, read from the tracker DB."""
    with sqlite3.connect(bot.log_dir / "tracker.db") as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    events = [json.loads(r[0]) for r in rows]
    return [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == slot]


def _start_actions(bot: LiveBot, port: int) -> subprocess.Popen:
    log = (bot.log_dir / "actions-restarted.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.serve", "actions", "--port", str(port)],
        cwd=ROOT,
        env=bot.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from tests.live import _wait

    _wait(f"{bot.actions_url}/health", proc, bot.log_dir / "actions-restarted.log", 120)
    return proc


def test_action_server_down_gives_busy_keeps_no_raw_text_and_resumes(
    own_bot: tuple[LiveBot, list],
) -> None:
    bot, procs = own_bot
    busy = "系统繁忙"
    sender = uuid.uuid4().hex
    first = bot.text("我要预约", sender)
    assert "业务" in first or "护照" in first, first  # the form asks which service
    actions = procs[0]
    actions.terminate()
    actions.wait(30)
    down = bot.text("随便写的一段话 xyz", sender)
    assert busy in down
    assert _slot_values(bot, sender, "booking_service")[-1] is None  # the raw text was taken back
    assert busy in bot.text(FEE_QUESTION)  # an unrelated citizen: busy, not silence
    procs[0] = _start_actions(bot, int(bot.actions_url.rsplit(":", 1)[1]))
    after = bot.text("护照", sender)
    assert busy not in after
    assert "passport" in _slot_values(bot, sender, "booking_service")
    assert "大厅" in after or "地点" in after, after  # the form goes on with the next question
