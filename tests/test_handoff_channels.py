"""The handoff over HTTP: the console's queue API (staff sessions), the web chat's poll, and
WeChat (the transfer reply; staff replies through the customer-service API of the local fake).

Real Sanic servers on 127.0.0.1 (tests.test_wechat.ServerThread), a real SQLite queue.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import xmltodict
from rasa.core.channels.channel import register
from sanic import Sanic
from sqlalchemy import update

from bot.booking import dispose_engines, migrate
from bot.channels.guide import GuideInput
from bot.channels.guide_auth import GuideAuth
from bot.channels.webchat import WebChatInput
from bot.channels.wechat import WeChatApiSender
from bot.handoff.models import HandoffCase
from bot.handoff.queue import HandoffQueue
from bot.settings import get_settings
from tests.test_guide_auth import PASSWORD, client, env, login
from tests.test_wechat import (  # noqa: F401  (fixtures)
    APPID,
    ServerThread,
    fake_api,
    plain,
    post,
    text_xml,
)

CLEAR_PHONE = "13812345678"


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url, sync=False)
    try:
        yield url
    finally:
        dispose_engines()
        get_settings.cache_clear()


@pytest.fixture()
def console(db: str, fake_api: Any) -> Iterator[str]:  # noqa: F811
    """The console in password mode and the web chat, with WeChat's API faked locally."""
    app = Sanic(f"handoff_console_{uuid.uuid4().hex[:8]}")
    auth = GuideAuth.from_env(env())
    guide = GuideInput(
        auth=auth,
        repository_factory=lambda: None,  # type: ignore[arg-type,return-value]
        wechat_sender=lambda: WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base),
    )
    register([guide, WebChatInput()], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        yield server.base
    finally:
        server.stop()


def staff(base: str) -> requests.Session:
    http = client()
    assert login(http, base, PASSWORD).status_code == 303
    return http


def test_the_queue_needs_a_staff_session(console: str) -> None:
    case = HandoffQueue().open_case(
        sender_id="c1", channel="rest", reason="request", summary={"turns": []}
    )
    stranger = client()
    assert stranger.get(f"{console}/guide/api/queue", timeout=10).status_code == 401
    page = stranger.get(f"{console}/guide/queue", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["Location"] == "/guide/login"
    for change in ("take", "reply", "close"):
        r = stranger.post(
            f"{console}/guide/api/queue/{case.case_id}/{change}", json={"text": "x"}, timeout=10
        )
        assert r.status_code == 401
    assert stranger.get(f"{console}/guide/api/queue/{case.case_id}", timeout=10).status_code == 401
    assert HandoffQueue().case(case.case_id, "x").status == "waiting"  # type: ignore[union-attr]
    http = staff(console)
    assert http.get(f"{console}/guide/queue", timeout=10).status_code == 200


def test_staff_take_reply_and_close_a_wechat_case_through_the_api(
    console: str,
    fake_api: Any,  # noqa: F811
) -> None:
    queue = HandoffQueue()
    queue.open_case(sender_id="c-rest", channel="rest", reason="request", summary={"turns": []})
    wechat = queue.open_case(
        sender_id="oUser1",
        channel="wechat",
        reason="emergency",
        emergency="bereavement",
        summary={
            "topic_name": "普通护照",
            "turns": [{"from": "citizen", "text": f"我爸去世了 电话{CLEAR_PHONE}"}],
            "slots": [],
        },
    )
    desk_a, desk_b = staff(console), staff(console)
    listed = desk_a.get(f"{console}/guide/api/queue", timeout=10).json()["cases"]
    assert listed[0]["id"] == wechat.case_id and listed[0]["priority"]  # emergency first
    assert listed[0]["position"] == 1 and listed[1]["position"] == 2
    detail = desk_a.get(f"{console}/guide/api/queue/{wechat.case_id}", timeout=10).json()
    assert "138****5678" in detail["turns"][0]["text"] and CLEAR_PHONE not in str(detail)

    url = f"{console}/guide/api/queue/{wechat.case_id}"
    assert desk_a.post(f"{url}/take", json={}, timeout=10).json()["delivery"] == "sent"
    assert desk_b.post(f"{url}/take", json={}, timeout=10).status_code == 409
    refused = desk_b.post(f"{url}/reply", json={"text": "我来插话"}, timeout=10)
    assert refused.status_code == 409 and refused.json()["error"] == "not_yours"
    as_form = desk_a.post(f"{url}/reply", data={"text": "表单"}, timeout=10)
    assert as_form.status_code == 415  # a cross-site form cannot post here
    sent = desk_a.post(f"{url}/reply", json={"text": "请带上死亡证明原件"}, timeout=10)
    assert sent.status_code == 200 and sent.json()["delivery"] == "sent"
    texts = [m["text"]["content"] for m in fake_api.wait_for(2)]
    assert texts[0] == "工作人员已接入，正在查看您的问题。"
    assert texts[1] == "【工作人员】请带上死亡证明原件"
    assert {m["touser"] for m in fake_api.sent} == {"oUser1"}

    # 48 hours after the citizen's last message the API is closed: the reply waits
    table = HandoffCase.__table__
    with queue._engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == wechat.case_id)
            .values(last_citizen_at=datetime.now(timezone.utc) - timedelta(hours=49))
        )
    late = desk_a.post(f"{url}/reply", json={"text": "还需要帮忙吗"}, timeout=10).json()
    assert late["delivery"] == "wechat_window" and len(fake_api.sent) == 2
    assert desk_b.post(f"{url}/close", json={}, timeout=10).status_code == 409
    assert desk_a.post(f"{url}/close", json={}, timeout=10).status_code == 200
    state = queue.take_pending("oUser1", "wechat")
    assert not state.open and [m.kind for m in state.pending] == ["text", "closed"]


def test_the_web_chat_poll_needs_the_case_token(console: str) -> None:
    queue = HandoffQueue()
    opened = queue.open_case(
        sender_id="web-abc", channel="rest", reason="request", summary={}, language="en"
    )
    queue.take(opened.case_id, "desk")
    queue.reply(opened.case_id, "desk", "Please bring your passport")
    http = client()
    poll = f"{console}/webchat/handoff"
    assert http.get(poll, timeout=10).status_code == 404
    wrong = http.get(poll, headers={"X-Handoff-Token": "web-abc"}, timeout=10)
    assert wrong.status_code == 404 and "Please" not in wrong.text
    right = http.get(poll, headers={"X-Handoff-Token": opened.token or ""}, timeout=10)
    assert right.status_code == 200 and right.headers["Cache-Control"] == "no-store"
    assert right.json() == {
        "open": True,
        "messages": [
            {"text": "A staff member has joined and is reading your question."},
            {"text": "[Staff] Please bring your passport"},
        ],
    }
    again = http.get(poll, headers={"X-Handoff-Token": opened.token or ""}, timeout=10).json()
    assert again["messages"] == []


def test_wechat_transfer_reply(plain: Any) -> None:  # noqa: F811
    server, agent, _channel = plain
    agent.script = lambda m: {"custom": {"wechat_transfer": True}}
    resp = post(server, text_xml("转人工"))
    assert resp.status_code == 200
    xml = xmltodict.parse(resp.text)["xml"]
    assert xml["MsgType"] == "transfer_customer_service"
    assert xml["ToUserName"] == "oUser1" and xml["FromUserName"] == "gh_test_oa"
    # an ordinary answer is still a text reply
    agent.script = lambda m: {"text": "您好"}
    assert xmltodict.parse(post(server, text_xml("你好")).text)["xml"]["MsgType"] == "text"
