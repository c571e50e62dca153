"""The handoff over HTTP: the console's queue API (staff sessions), the web chat's poll,
WeChat (the transfer reply; staff replies through the customer-service API of the local fake),
and the per-client cap on new cases through the REST channel (the client address as the
server saw it, stamped into the metadata over whatever the client sent).

Real Sanic servers on 127.0.0.1 (tests.test_wechat.ServerThread), a real SQLite queue.
"""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

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


# ------------------------------------------------------------------------------ per-client cap
class HandoffActionAgent:
    """Stands in for the Rasa server: every message runs the real action_handoff on the user
    event Rasa records for it (text, channel, and the metadata as the channel passed it)."""

    def is_ready(self) -> bool:
        return True

    async def parse_message(self, text: str) -> dict:
        return {"text": text, "intent": {"name": "request_human", "confidence": 1.0}}

    async def handle_message(self, message: Any) -> None:
        from rasa_sdk import Tracker
        from rasa_sdk.executor import CollectingDispatcher

        from actions.handoff import ActionHandoff
        from tests.test_booking_actions import DOMAIN, render

        parse = await self.parse_message(message.text)
        event = {
            "event": "user",
            "text": message.text,
            "parse_data": parse,
            "input_channel": message.input_channel,
            "metadata": message.metadata or {},
        }
        tracker = Tracker(message.sender_id, {}, parse, [event], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        await ActionHandoff().run(dispatcher, tracker, DOMAIN)
        for sent in dispatcher.messages:
            if sent.get("response"):
                text = render(sent, {})["text"]
                await message.output_channel.send_text_message(message.sender_id, text)


def _lan_address() -> Optional[str]:
    """This machine's own non-loopback IPv4 address, if it has one (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.fixture()
def rest_handoff(db: str) -> Iterator[Callable[[str], str]]:
    """start(host) → the base URL of the REST channel with the stand-in agent on `host`."""
    from bot.channels.rest import RestChannel

    servers: List[ServerThread] = []

    def start(host: str = "127.0.0.1") -> str:
        app = Sanic(f"handoff_cap_{uuid.uuid4().hex[:8]}")
        app.ctx.agent = HandoffActionAgent()
        register([RestChannel()], app, route="/webhooks/")
        servers.append(ServerThread(app, host).start())
        return servers[-1].base

    yield start
    for server in servers:
        server.stop()


def ask_human(base: str, sender: str, **extra: Any) -> str:
    headers = extra.pop("headers", None)
    body = {"sender": sender, "message": "转人工", **extra}
    http = client()
    resp = http.post(f"{base}/webhooks/rest/webhook", json=body, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return "\n".join(m.get("text", "") for m in resp.json())


QUEUED = "已为您转人工服务"


def refused(reply: str) -> bool:
    return "一小时内已多次申请人工服务" in reply and "12367" in reply and QUEUED not in reply


def test_a_fourth_case_from_one_address_is_refused_whatever_sender_or_metadata(
    rest_handoff: Callable[[str], str],
) -> None:
    from bot.inputs import CLIENT_KEY_FIELD, client_key

    base = rest_handoff("127.0.0.1")
    for i in range(3):
        assert QUEUED in ask_human(base, f"web-{i}")
    assert refused(ask_human(base, "web-3"))
    # a client-sent key is overwritten: neither another address's key nor junk gets through
    for forged in (client_key("203.0.113.50"), "x", None):
        reply = ask_human(base, f"web-forged-{forged}", metadata={CLIENT_KEY_FIELD: forged})
        assert refused(reply), forged
    # the conversation's own case is found again, not refused
    assert QUEUED in ask_human(base, "web-0")
    # another citizen behind the local proxy (loopback is a trusted proxy) is served; what
    # the client itself wrote left of the proxy's hop does not count
    for i in range(3):
        claimed = {"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.7"}
        assert QUEUED in ask_human(base, f"proxied-{i}", headers=claimed)
    assert refused(ask_human(base, "proxied-3", headers={"X-Forwarded-For": "203.0.113.7"}))
    assert QUEUED in ask_human(base, "proxied-4", headers={"X-Forwarded-For": "203.0.113.8"})
    rows = HandoffQueue().cases("desk")
    assert len(rows) == 7  # 3 from loopback, 3 + 1 from the two proxied addresses


def test_a_client_that_is_not_a_proxy_cannot_name_another_address(
    rest_handoff: Callable[[str], str],
) -> None:
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    base = rest_handoff(lan)
    for i in range(3):
        forged = {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"}
        assert QUEUED in ask_human(base, f"lan-{i}", headers=forged)
    assert refused(ask_human(base, "lan-3", headers={"X-Forwarded-For": "198.51.100.9"}))


def test_client_address_trusts_forwarding_only_from_trusted_proxies() -> None:
    from types import SimpleNamespace

    from sanic.compat import Header

    from bot.inputs import client_address

    def req(ip: str, **headers: str) -> Any:
        return SimpleNamespace(
            ip=ip, headers=Header({k.replace("_", "-"): v for k, v in headers.items()})
        )

    assert client_address(req("203.0.113.9", x_forwarded_for="198.51.100.1"), ()) == "203.0.113.9"
    assert client_address(req("127.0.0.1"), ()) == "127.0.0.1"
    assert client_address(req("127.0.0.1", x_forwarded_for="1.2.3.4, 198.51.100.1"), ()) == (
        "198.51.100.1"
    )
    assert client_address(req("127.0.0.1", x_real_ip="198.51.100.2"), ()) == "198.51.100.2"
    # a proxy in another container: trusted only when TRUSTED_PROXIES names its network
    docker = req("172.18.0.5", x_forwarded_for="1.2.3.4, 198.51.100.1")
    assert client_address(docker, ()) == "172.18.0.5"
    assert client_address(docker, ("172.16.0.0/12",)) == "198.51.100.1"
    chain = req("172.18.0.5", x_forwarded_for="198.51.100.1, 172.18.0.9")
    assert client_address(chain, ("172.16.0.0/12", "junk")) == "198.51.100.1"
    # a kiosk on the hall's own network, through that proxy: itself, not the proxy
    kiosk = req("172.18.0.5", x_forwarded_for="172.20.1.7")
    assert client_address(kiosk, ("172.16.0.0/12",)) == "172.20.1.7"


def test_client_keys_hide_the_address_and_group_an_ipv6_line() -> None:
    from bot.inputs import CLIENT_KEY_FIELD, client_key, client_key_of, stamp_client

    key = client_key("203.0.113.9")
    assert len(key) == 32 and "203" not in key and key != client_key("203.0.113.10")
    assert client_key("::ffff:203.0.113.9") == key
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    from types import SimpleNamespace

    from sanic.compat import Header

    request = SimpleNamespace(ip="203.0.113.9", headers=Header())
    stamped = stamp_client({CLIENT_KEY_FIELD: "forged", "kiosk": 7}, request)
    assert stamped == {CLIENT_KEY_FIELD: key, "kiosk": 7}
    events = [
        {"event": "user", "metadata": {CLIENT_KEY_FIELD: "old"}},
        {"event": "bot", "metadata": {CLIENT_KEY_FIELD: "bot"}},
        {"event": "user", "metadata": stamped},
        {"event": "action", "name": "action_listen"},
    ]
    assert client_key_of(events) == key
    assert client_key_of([{"event": "user", "metadata": {}}]) is None
