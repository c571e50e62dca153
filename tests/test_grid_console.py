"""Grid notices on WeChat (the local fake WeChat API) and the console's grid page over HTTP
(a real loopback server, the console's real access rules, a SQLite store)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.booking.db import dispose_engines, get_engine, upgrade_schema
from bot.channels.guide_auth import COOKIE_NAME, GuideAuth, Mode
from bot.channels.guide_grid import GridConsoleInput
from bot.channels.wechat import WeChatApiSender
from bot.grid.notify import deliver, deliver_pending, notice_text
from bot.grid.repository import GridRepository
from tests.test_guide_auth import env as auth_env
from tests.test_wechat import APPID, FakeWeChatApi, ServerThread

Sanic.test_mode = True
SEEN = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)


@pytest.fixture()
def repo(tmp_path: Path) -> Iterator[GridRepository]:
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    upgrade_schema(url)
    yield GridRepository(get_engine(url))
    dispose_engines()


@pytest.fixture()
def fake_api() -> Iterator[FakeWeChatApi]:
    api = FakeWeChatApi()
    yield api
    api.close()


def file(
    repo: GridRepository, channel: str = "rest", sender: str = "citizen", language: str = "zh"
):
    result = repo.file(
        category="water_source",
        place="银河村饮水水库",
        description="水库边堆满油漆桶、泡沫和塑料垃圾",
        occurred_at=SEEN,
        contact_phone="13812345678",
        channel=channel,
        sender_id=sender,
        language=language,
    )
    assert result.ok and result.ticket is not None
    return result.ticket


# --- WeChat ------------------------------------------------------------------------------------


def test_a_wechat_reporter_is_told_each_step_through_the_customer_service_api(repo, fake_api):
    ticket = file(repo, channel="wechat", sender="oCitizen1")
    sender = WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base)
    outcomes = []
    for _ in range(3):
        moved = repo.advance(ticket.code, actor="staff")
        outcomes.append(asyncio.run(deliver(repo, moved.notice, sender)))
    assert outcomes == ["sent", "sent", "sent"]
    sent = fake_api.wait_for(3)
    assert [m["touser"] for m in sent] == ["oCitizen1"] * 3
    texts = [m["text"]["content"] for m in sent]
    assert all(ticket.code in t for t in texts)
    assert ["分流交办" in texts[0], "处置" in texts[1], "核实反馈" in texts[2]] == [True] * 3
    assert "综合执法" in texts[0]
    assert repo.undelivered(channel="wechat") == []
    assert [e["action"] for e in repo.trail(ticket.code)].count("notified") == 3


def test_a_refused_wechat_send_is_kept_and_retried(repo, fake_api):
    ticket = file(repo, channel="wechat", sender="oCitizen2")
    moved = repo.advance(ticket.code, actor="staff")
    wrong = WeChatApiSender(APPID, "wrong-secret", api_base_url=fake_api.base)
    assert asyncio.run(deliver(repo, moved.notice, wrong)) == "failed"
    assert asyncio.run(deliver(repo, moved.notice, None)) == "kept"  # no credentials configured
    assert len(repo.undelivered(channel="wechat")) == 1 and fake_api.sent == []
    right = WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base)
    assert asyncio.run(deliver_pending(repo, right)) == {"sent": 1, "kept": 0, "failed": 0}
    assert repo.undelivered(channel="wechat") == [] and len(fake_api.sent) == 1


def test_rest_notices_are_kept_and_english_reports_get_english_notices(repo, fake_api):
    ticket = file(repo, channel="rest", sender="web-1", language="en")
    moved = repo.advance(ticket.code, actor="staff")
    sender = WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base)
    assert asyncio.run(deliver(repo, moved.notice, sender)) == "kept"
    assert fake_api.sent == []
    text = notice_text(moved.notice)
    assert ticket.code in text and "assigned" in text and "分流交办" not in text


# --- the console page ------------------------------------------------------------------------


def start(repo: GridRepository, auth: GuideAuth, sent: list) -> ServerThread:
    class Sender:
        async def send_text(self, openid: str, content: str) -> None:
            sent.append((openid, content))

    app = Sanic(f"grid_console_{uuid.uuid4().hex[:8]}")
    page = GridConsoleInput(repository_factory=lambda: repo, auth=auth, sender_factory=Sender)
    register([page], app, route="/webhooks/")
    return ServerThread(app).start()


def test_staff_move_a_ticket_from_the_console_page(repo):
    ticket = file(repo, channel="wechat", sender="oCitizen3")
    sent: list[Any] = []
    srv = start(repo, GuideAuth(Mode.LOOPBACK), sent)
    try:
        base = f"{srv.base}/guide/grid"
        page = requests.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "static/grid.js" in page.text
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert requests.get(f"{base}/static/grid.js", timeout=5).status_code == 200
        listing = requests.get(f"{base}/api/tickets", timeout=5).json()
        assert [t["code"] for t in listing["tickets"]] == [ticket.code]
        assert listing["tickets"][0]["contact_masked"] == "138****5678"
        assert "13812345678" not in str(listing)
        assert [s["name"] for s in listing["stages"]] == ["受理", "分流交办", "处置", "核实反馈"]

        def advance(body: Any, **kw: Any) -> requests.Response:
            return requests.post(
                f"{base}/api/tickets/{ticket.code}/advance", json=body, timeout=5, **kw
            )

        done = advance({"actor": "李主任", "to_stage": "assigned", "note": "交综合执法中队"})
        assert done.status_code == 200 and done.json()["ticket"]["stage"] == "assigned"
        assert done.json()["notice"] == "sent" and sent[0][0] == "oCitizen3"
        # a stale page (the ticket moved on meanwhile) cannot move it again
        assert advance({"actor": "李主任", "to_stage": "assigned"}).status_code == 409
        assert advance({"to_stage": "handling"}).status_code == 400  # who did it is required
        form = requests.post(
            f"{base}/api/tickets/{ticket.code}/advance",
            data={"actor": "x", "to_stage": "handling"},
            timeout=5,
        )
        assert form.status_code == 400  # a cross-site form post is no JSON
        assert (
            requests.post(
                f"{base}/api/tickets/WG-22222222/advance",
                json={"actor": "x", "to_stage": "assigned"},
                timeout=5,
            ).status_code
            == 404
        )
        detail = requests.get(f"{base}/api/tickets/{ticket.code}", timeout=5).json()
        assert [e["actor"] for e in detail["trail"]][1] == "console:李主任"
        assert requests.get(f"{base}/api/tickets?stage=nonsense", timeout=5).status_code == 400
        # a client behind a proxy is not the counter PC
        proxied = requests.get(
            f"{base}/api/tickets", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=5
        )
        assert proxied.status_code == 403
    finally:
        srv.stop()


def test_with_a_staff_password_the_page_needs_the_consoles_session(repo):
    file(repo)
    auth = GuideAuth.from_env(auth_env())
    assert auth.mode is Mode.PASSWORD and auth.signer is not None
    srv = start(repo, auth, [])
    try:
        base = f"{srv.base}/guide/grid"
        http = requests.Session()
        http.trust_env = False
        page = http.get(f"{base}/", allow_redirects=False, timeout=5)
        assert page.status_code == 303 and page.headers["Location"] == "/guide/login"
        assert http.get(f"{base}/api/tickets", timeout=5).status_code == 401
        assert (
            http.get(f"{base}/static/grid.js", allow_redirects=False, timeout=5).status_code == 303
        )
        http.cookies.set(COOKIE_NAME, "v1.9999999999.forged.mac")
        assert http.get(f"{base}/api/tickets", timeout=5).status_code == 401
        http.cookies.set(COOKIE_NAME, auth.signer.issue())
        assert http.get(f"{base}/api/tickets", timeout=5).json()["tickets"]
    finally:
        srv.stop()


def test_production_without_a_password_refuses_everyone(repo):
    srv = start(
        repo, GuideAuth.from_env(auth_env(password=None, secret=None, app_env="production")), []
    )
    try:
        assert requests.get(f"{srv.base}/guide/grid/api/tickets", timeout=5).status_code == 403
    finally:
        srv.stop()
