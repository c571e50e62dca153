"""WeChat Official Account connector: truly signed requests against a real HTTP server.

The unit-level tests mount the channel with Rasa's own `register()` on a Sanic app whose
`ctx.agent` is a scripted fake, served on 127.0.0.1 in a background thread; a second local
server fakes the WeChat API (access token + customer-service messages). The live test talks
to the project's running Rasa server through the `live_bot` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import xmltodict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.wechat import (
    DEFAULT_REPLY_TIMEOUT,
    EMPTY_TEXT_RESPONSE,
    NON_TEXT_RESPONSE,
    WECHAT_TEXT_LIMIT,
    HttpProblem,
    WeChatApiSender,
    WeChatInput,
    channel_text,
    map_numeric_reply,
    parse_xml_safely,
    render_bot_messages,
    split_text,
)
from bot.dedup import Deduplicator, MemoryTTLStore
from bot.domain_files import load_domain
from bot.inputs import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    busy_messages,
    cap_sender,
    clean_text,
)
from tests.people import fresh_person

TOKEN = "test-token-123"
NON_TEXT_REPLY = channel_text(NON_TEXT_RESPONSE)
EMPTY_TEXT_REPLY = channel_text(EMPTY_TEXT_RESPONSE)
APPID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars → 32-byte key
OA_ID = "gh_test_oa"
Sanic.test_mode = True  # several apps per process


# ------------------------------------------------------------------------------ servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Serve a Sanic app on 127.0.0.1 from a background thread with its own event loop."""

    def __init__(self, app: Sanic, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.port = free_port()
        self.base = f"http://{host}:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def boot() -> Any:
            server = await self.app.create_server(
                host=self.host,
                port=self.port,
                return_asyncio_server=True,
                access_log=False,
            )
            await server.startup()
            await server.before_start()
            await server.after_start()
            await server.start_serving()
            return server

        self.server = self.loop.run_until_complete(boot())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> "ServerThread":
        self._thread.start()
        assert self._ready.wait(15), "test server did not start"
        return self

    def call(self, coro: Any, timeout: float = 15) -> Any:
        """Run a coroutine on the server's loop (e.g. to drain background deliveries)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.server.before_stop()
            self.server.close()
            await self.server.wait_closed()
            await self.server.after_stop()

        try:
            self.call(shutdown(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


#: Customer-service texts and template messages (appointment reminders, bot.reminders).
FAKE_SEND_PATHS = ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send")


class FakeWeChatApi:
    """The WeChat API calls the connector and the reminders make, on loopback."""

    def __init__(self) -> None:
        self.sent: List[Dict[str, Any]] = []
        self.token_calls = 0
        #: "custom" or "template", per sent message.
        self.apis: List[str] = []
        #: An errcode every send answers with while set (the account's refusals).
        self.refuse_with = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, data: Dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/cgi-bin/token":
                    outer.token_calls += 1
                    q = parse_qs(url.query)
                    assert q["appid"] == [APPID] and q["secret"] == ["s3cret"]
                    self._json({"access_token": "FAKE-TOKEN", "expires_in": 7200})
                else:
                    self._json({"errcode": 404, "errmsg": "no such api"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length).decode("utf-8"))
                q = parse_qs(url.query)
                if url.path in FAKE_SEND_PATHS and q.get("access_token") == ["FAKE-TOKEN"]:
                    if outer.refuse_with:  # e.g. 45015: outside the 48-hour window
                        self._json({"errcode": outer.refuse_with, "errmsg": "refused"})
                        return
                    outer.apis.append(url.path.rsplit("/", 2)[-2])
                    outer.sent.append(data)
                    self._json({"errcode": 0, "errmsg": "ok"})
                else:
                    self._json({"errcode": 40001, "errmsg": "invalid credential"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/cgi-bin/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.sent

    def close(self) -> None:
        self.httpd.shutdown()


ROOT = Path(__file__).resolve().parent.parent


def domain_text(name: str) -> str:
    """A response's first text in the project's domain files, the wording citizens read."""

    domain = load_domain()
    return domain["responses"][name][0]["text"]


BUSY_TEXT = domain_text("utter_system_busy")
#: WeChat drops a passive reply that takes longer than this (seconds) and retries the push.
WECHAT_REPLY_DEADLINE = 5.0


class FakeDomain:
    responses = {
        "utter_bot_capabilities": [{"text": "我可以帮您：查询办证材料（测试能力列表）"}],
        "utter_system_busy": [{"text": BUSY_TEXT}],
    }


class FakeAgent:
    """Stands in for rasa's Agent: `handle_message` runs a scripted reply function."""

    def __init__(self) -> None:
        self.domain = FakeDomain()
        self.received: List[UserMessage] = []
        self.script: Callable[[UserMessage], Any] = lambda m: {"text": f"收到：{m.text}"}
        self.delay = 0.0
        self.finished: List[UserMessage] = []  # messages whose reply the bot has worked out

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.finished.append(message)
        replies = self.script(message)
        for reply in replies if isinstance(replies, list) else [replies]:
            await message.output_channel.send_response(message.sender_id, dict(reply))


@pytest.fixture()
def fake_api():
    api = FakeWeChatApi()
    yield api
    api.close()


def make_server(channel: WeChatInput) -> tuple[ServerThread, FakeAgent]:
    app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
    agent = FakeAgent()
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")  # exactly how `rasa run` mounts it
    return ServerThread(app).start(), agent


@pytest.fixture()
def plain(fake_api):
    channel = WeChatInput(
        token=TOKEN,
        appid=APPID,
        reply_timeout=1.0,
        tail_delay=0.05,
        sender=WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base),
        dedup=Deduplicator(MemoryTTLStore()),
    )
    server, agent = make_server(channel)
    yield server, agent, channel
    server.stop()


@pytest.fixture()
def safe(fake_api):
    channel = WeChatInput(
        token=TOKEN,
        aes_key=AES_KEY,
        appid=APPID,
        reply_timeout=1.0,
        sender=WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base),
        dedup=Deduplicator(MemoryTTLStore()),
    )
    server, agent = make_server(channel)
    yield server, agent, channel
    server.stop()


# ------------------------------------------------------------------------------ signing
def signature(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """WeChat's rule, computed independently of the code under test."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *extra])).encode()).hexdigest()


def signed_params(
    token: str = TOKEN,
    openid: str = "oUser1",
    timestamp: Optional[str] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex[:10]
    return {
        "signature": signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }


def aes_params(
    encrypt: str,
    openid: str = "oUser1",
    timestamp: Optional[str] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """Fresh safe-mode query parameters: `signature` plus `msg_signature` over `encrypt`."""
    params = signed_params(openid=openid, timestamp=timestamp, nonce=nonce)
    params.update(
        encrypt_type="aes",
        msg_signature=signature(TOKEN, params["timestamp"], params["nonce"], encrypt),
    )
    return params


def text_xml(content: str, openid: str = "oUser1", msg_id: Optional[int] = None) -> str:
    msg_id = msg_id if msg_id is not None else int(uuid.uuid4().int % 10**15)
    return (
        f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def other_xml(msg_type: str, extra: str = "", openid: str = "oUser1") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{extra}<MsgId>{uuid.uuid4().int % 10**15}</MsgId></xml>"
    )


def post(
    server: ServerThread,
    body: Any,
    params: Optional[Dict[str, str]] = None,
    content_type: str = "text/xml",
    timeout: float = 15,
) -> requests.Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return requests.post(
        f"{server.base}/webhooks/wechat/webhook",
        params=params if params is not None else signed_params(),
        data=data,
        headers={"Content-Type": content_type},
        timeout=timeout,
    )


def reply_content(resp: requests.Response) -> str:
    assert resp.status_code == 200, resp.text
    xml = xmltodict.parse(resp.text)["xml"]
    return xml["Content"]


def assert_clean(resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    assert len(resp.text) < 200


# ------------------------------------------------------------------------------ pure helpers
def test_split_text_respects_byte_limit_and_keeps_everything():
    text = "\n".join(f"第{i}行：" + "出入境材料说明" * 20 for i in range(40))
    parts = split_text(text)
    assert len(parts) > 1
    assert all(len(p.encode("utf-8")) <= WECHAT_TEXT_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    one_long_line = "护" * 3000
    parts = split_text(one_long_line)
    assert all(len(p.encode("utf-8")) <= WECHAT_TEXT_LIMIT for p in parts)
    assert "".join(parts) == one_long_line


def test_buttons_become_numbers_and_numbers_map_back():
    text, buttons = render_bot_messages(
        [
            {
                "text": "您要办哪种证件？",
                "buttons": [
                    {"title": "护照", "payload": '/inform{"service":"passport"}'},
                    {"title": "港澳通行证", "payload": '/inform{"service":"hk_macau_permit"}'},
                ],
            },
        ]
    )
    assert text == "您要办哪种证件？\n回复 1 护照\n回复 2 港澳通行证"
    assert map_numeric_reply("2", buttons) == '/inform{"service":"hk_macau_permit"}'
    assert map_numeric_reply("１", buttons) == '/inform{"service":"passport"}'  # full-width
    assert map_numeric_reply("回复1", buttons) == '/inform{"service":"passport"}'
    assert map_numeric_reply("港澳通行证", buttons) == '/inform{"service":"hk_macau_permit"}'
    assert map_numeric_reply("3", buttons) is None
    assert map_numeric_reply("1", []) is None
    assert map_numeric_reply("我想办 1 本护照", buttons) is None


# ------------------------------------------------------------------------------ verification
def test_get_echostr_verification(plain):
    server, _, _ = plain
    url = f"{server.base}/webhooks/wechat/webhook"
    params = signed_params()
    ok = requests.get(url, params={**params, "echostr": "hello123"}, timeout=5)
    assert ok.status_code == 200 and ok.text == "hello123"
    forged = requests.get(url, params={**params, "signature": "0" * 40, "echostr": "x"}, timeout=5)
    assert_clean(forged, 403)
    missing = requests.get(url, params={"echostr": "x"}, timeout=5)
    assert_clean(missing, 403)
    assert requests.get(f"{server.base}/webhooks/wechat/", timeout=5).json() == {"status": "ok"}


def test_forged_or_missing_signature_is_403_and_never_reaches_the_bot(plain):
    server, agent, _ = plain
    params = signed_params()
    assert_clean(post(server, text_xml("你好"), {**params, "signature": "f" * 40}), 403)
    assert_clean(
        post(
            server,
            text_xml("你好"),
            {**params, "signature": signature("wrong", params["timestamp"], params["nonce"])},
        ),
        403,
    )
    assert_clean(post(server, text_xml("你好"), {}), 403)
    assert_clean(
        post(
            server, text_xml("你好"), {"timestamp": params["timestamp"], "nonce": params["nonce"]}
        ),
        403,
    )
    assert agent.received == []


# ------------------------------------------------------------------------------ plain text
def test_text_gets_a_passive_xml_reply_with_openid_as_sender(plain):
    server, agent, _ = plain
    resp = post(server, text_xml("办护照要带什么", openid="oAlice"))
    xml = xmltodict.parse(resp.text)["xml"]
    assert xml["ToUserName"] == "oAlice" and xml["FromUserName"] == OA_ID
    assert xml["MsgType"] == "text"
    assert xml["Content"] == "收到：办护照要带什么"
    assert [m.sender_id for m in agent.received] == ["oAlice"]
    assert agent.received[0].input_channel == "wechat"


def test_replayed_msgid_is_processed_once(plain):
    server, agent, _ = plain
    body = text_xml("帮我预约明天上午", openid="oBob", msg_id=998877)
    first = reply_content(post(server, body))
    again = reply_content(post(server, body, signed_params(openid="oBob")))
    assert first == again == "收到：帮我预约明天上午"
    assert len(agent.received) == 1


def test_concurrent_retries_wait_for_the_first_result(plain):
    server, agent, _ = plain
    agent.delay = 0.6  # within the 1.0 s budget of this channel
    body = text_xml("预约", openid="oCarol", msg_id=112233)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: reply_content(post(server, body)), range(4)))
    assert replies == ["收到：预约"] * 4
    assert len(agent.received) == 1


# ------------------------------------------------------------------------------ safe mode (AES)
def test_safe_mode_round_trip(safe):
    from wechatpy.crypto import WeChatCrypto

    server, agent, _ = safe
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    params = signed_params(openid="oSafe")
    encrypted = crypto.encrypt_message(
        text_xml("港澳签注多少钱", openid="oSafe"), params["nonce"], params["timestamp"]
    )
    outer = xmltodict.parse(encrypted)["xml"]
    params.update(encrypt_type="aes", msg_signature=outer["MsgSignature"])
    # WeChat posts only ToUserName + Encrypt in safe mode
    body = f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><Encrypt><![CDATA[{outer['Encrypt']}]]></Encrypt></xml>"
    resp = post(server, body, params)
    assert resp.status_code == 200, resp.text
    reply_outer = xmltodict.parse(resp.text)["xml"]
    assert (
        signature(TOKEN, reply_outer["TimeStamp"], reply_outer["Nonce"], reply_outer["Encrypt"])
        == reply_outer["MsgSignature"]
    )
    plain_reply = crypto.decrypt_message(
        resp.text, reply_outer["MsgSignature"], reply_outer["TimeStamp"], reply_outer["Nonce"]
    )
    inner = xmltodict.parse(plain_reply)["xml"]
    assert inner["Content"] == "收到：港澳签注多少钱" and inner["ToUserName"] == "oSafe"
    assert agent.received[0].sender_id == "oSafe"


def test_safe_mode_rejects_bad_msg_signature_and_garbage(safe):
    from wechatpy.crypto import WeChatCrypto

    server, agent, _ = safe
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    # every request gets its own (timestamp, nonce), as WeChat's do: a reused one is a replay
    params = signed_params()
    encrypted = crypto.encrypt_message(text_xml("你好"), params["nonce"], params["timestamp"])
    outer = xmltodict.parse(encrypted)["xml"]
    body = f"<xml><ToUserName>{OA_ID}</ToUserName><Encrypt>{outer['Encrypt']}</Encrypt></xml>"
    assert_clean(
        post(server, body, {**params, "encrypt_type": "aes", "msg_signature": "0" * 40}), 403
    )
    assert_clean(post(server, body, {**signed_params(), "encrypt_type": "aes"}), 403)
    garbage = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0"
    bad = f"<xml><ToUserName>{OA_ID}</ToUserName><Encrypt>{garbage}</Encrypt></xml>"
    assert_clean(post(server, bad, aes_params(garbage)), 400)
    # a message encrypted for another app id
    other = WeChatCrypto(TOKEN, AES_KEY, "wxOTHERAPP0000000")
    enc2 = xmltodict.parse(
        other.encrypt_message(text_xml("你好"), params["nonce"], params["timestamp"])
    )["xml"]
    body2 = f"<xml><ToUserName>{OA_ID}</ToUserName><Encrypt>{enc2['Encrypt']}</Encrypt></xml>"
    resp = post(server, body2, aes_params(enc2["Encrypt"]))
    assert resp.status_code in (400, 403)
    assert agent.received == []


# ------------------------------------------------------------------------------ hostile input
XML_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_test_oa</ToUserName><FromUserName>oEvil</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>oEvil</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&e;</Content><MsgId>2</MsgId></xml>"""


def test_xml_bomb_and_external_entities_are_rejected(plain):
    server, agent, _ = plain
    # Refused for its DTD, before any entity is expanded (a parser that expanded &lol9;
    # would build a billion-character string).
    with pytest.raises(HttpProblem, match="DTD"):
        parse_xml_safely(XML_BOMB)
    assert_clean(post(server, XML_BOMB), 400)
    assert_clean(post(server, XXE), 400)
    assert agent.received == []


def test_bad_bodies_get_clean_answers(plain):
    server, agent, _ = plain
    assert_clean(post(server, b""), 400)
    assert_clean(post(server, b"   \n"), 400)
    assert_clean(post(server, '{"text": "你好"}', content_type="application/json"), 415)
    assert_clean(post(server, b"<xml>" + b"a" * (1024 * 1024) + b"</xml>"), 413)
    assert_clean(post(server, b"<xml><Content>\xff\xfe\xfa</Content></xml>"), 400)
    assert_clean(post(server, "<xml><ToUserName>gh</ToUserName"), 400)  # malformed
    assert_clean(post(server, "<notxml/>"), 400)
    assert_clean(
        post(server, "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName></xml>"), 400
    )
    assert agent.received == []


def test_non_text_messages_get_a_polite_text(plain):
    server, agent, _ = plain
    cases = {
        "image": "<PicUrl><![CDATA[http://example.invalid/a.jpg]]></PicUrl><MediaId>m1</MediaId>",
        "voice": "<MediaId>m2</MediaId><Format>amr</Format>",
        "location": "<Location_X>30.87</Location_X><Location_Y>120.09</Location_Y><Scale>15</Scale><Label>湖州</Label>",
        "link": "<Title>t</Title><Description>d</Description><Url>http://example.invalid</Url>",
        "video": "<MediaId>m3</MediaId><ThumbMediaId>m4</ThumbMediaId>",
        "miniprogrampage": "<Title>x</Title>",
        "totally_unknown_type": "",
    }
    for msg_type, extra in cases.items():
        assert reply_content(post(server, other_xml(msg_type, extra))) == NON_TEXT_REPLY, msg_type
    assert agent.received == []


def test_voice_with_recognition_is_treated_as_text(plain):
    server, agent, _ = plain
    body = other_xml(
        "voice",
        "<MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[护照多少钱]]></Recognition>",
    )
    assert reply_content(post(server, body)) == "收到：护照多少钱"


def test_subscribe_gets_welcome_from_the_domain_and_unsubscribe_gets_success(plain):
    server, agent, _ = plain
    sub = (
        other_xml("event", "<Event><![CDATA[subscribe]]></Event>")
        .replace("<MsgId>", "<X>")
        .replace("</MsgId>", "</X>")
    )
    content = reply_content(post(server, sub))
    assert "欢迎" in content and "测试能力列表" in content  # FakeAgent's utter_bot_capabilities
    unsub = other_xml("event", "<Event><![CDATA[unsubscribe]]></Event>")
    resp = post(server, unsub)
    assert resp.status_code == 200 and resp.text == "success"
    assert agent.received == []


# ------------------------------------------------------------------------------ buttons
def test_button_numbering_round_trip(plain):
    server, agent, _ = plain
    buttons = [
        {"title": "护照", "payload": '/inform{"service":"passport"}'},
        {"title": "港澳通行证", "payload": '/inform{"service":"hk_macau_permit"}'},
    ]

    def script(m: UserMessage) -> Any:
        if m.text == "我要办证":
            return {"text": "您要办哪种证件？", "buttons": buttons}
        return {"text": f"收到：{m.text}"}

    agent.script = script
    first = reply_content(post(server, text_xml("我要办证", openid="oDan")))
    assert "回复 1 护照" in first and "回复 2 港澳通行证" in first
    assert (
        reply_content(post(server, text_xml("2", openid="oDan")))
        == '收到：/inform{"service":"hk_macau_permit"}'
    )
    # the buttons are gone after a reply without buttons: "1" is just "1" now
    assert reply_content(post(server, text_xml("1", openid="oDan"))) == "收到：1"
    # another user's numbers are not mixed up with Dan's
    post(server, text_xml("我要办证", openid="oDan"))
    assert reply_content(post(server, text_xml("1", openid="oEve"))) == "收到：1"
    assert (
        reply_content(post(server, text_xml("１", openid="oDan")))
        == '收到：/inform{"service":"passport"}'
    )


# ------------------------------------------------------------------------------ 5-second rule
def test_slow_answer_says_success_then_arrives_via_customer_service_api(fake_api):
    channel = WeChatInput(
        token=TOKEN,
        appid=APPID,  # default reply_timeout: the real 4.5 s
        sender=WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base),
        dedup=Deduplicator(MemoryTTLStore()),
    )
    server, agent = make_server(channel)
    try:
        # The channel answers within its reply_timeout, which is inside WeChat's 5 s deadline.
        assert channel.reply_timeout == DEFAULT_REPLY_TIMEOUT < WECHAT_REPLY_DEADLINE
        agent.delay = 5.5
        body = text_xml("查一下我的预约", openid="oSlow", msg_id=5550001)
        resp = post(server, body)
        assert resp.status_code == 200 and resp.text == "success"
        # "success" came while the bot was still working: the passive reply did not wait.
        assert len(agent.received) == 1 and agent.finished == [] and fake_api.sent == []
        # WeChat's retry (same MsgId) must not run the bot again
        retry = post(server, body)
        assert retry.text == "success"
        sent = fake_api.wait_for(1, timeout=5)
        assert sent == [
            {"touser": "oSlow", "msgtype": "text", "text": {"content": "收到：查一下我的预约"}}
        ]
        assert len(agent.received) == 1
    finally:
        server.stop()


def test_long_reply_is_split_passive_first_then_customer_service(plain, fake_api):
    server, agent, channel = plain
    long_text = "\n".join(f"{i}. " + "请携带居民身份证原件和申请表" * 12 for i in range(1, 21))
    agent.script = lambda m: {"text": long_text}
    first = reply_content(post(server, text_xml("材料清单", openid="oLong")))
    assert len(first.encode("utf-8")) <= WECHAT_TEXT_LIMIT
    expected_parts = split_text(long_text)
    sent = fake_api.wait_for(len(expected_parts) - 1)
    server.call(channel.drain())
    rest = [s["text"]["content"] for s in sent]
    assert all(s["touser"] == "oLong" for s in sent)
    assert [first, *rest] == expected_parts
    assert all(len(p.encode("utf-8")) <= WECHAT_TEXT_LIMIT for p in rest)


def test_without_customer_service_api_a_long_reply_is_truncated_politely():
    channel = WeChatInput(token=TOKEN, reply_timeout=1.0, dedup=Deduplicator(MemoryTTLStore()))
    server, agent = make_server(channel)
    try:
        agent.script = lambda m: {"text": "很长的说明。" * 800}
        content = reply_content(post(server, text_xml("说明")))
        assert len(content.encode("utf-8")) <= WECHAT_TEXT_LIMIT
        assert content.endswith("请分开询问）")
    finally:
        server.stop()


def test_without_customer_service_api_a_slow_answer_waits_for_the_retry():
    """No app secret: never "success" + silence; the open request (or WeChat's retry) gets it."""
    channel = WeChatInput(
        token=TOKEN, reply_timeout=0.5, retry_window=5.0, dedup=Deduplicator(MemoryTTLStore())
    )
    server, agent = make_server(channel)
    try:
        agent.delay = 1.5
        body = text_xml("慢一点的问题", openid="oNoApi", msg_id=4440001)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(lambda: reply_content(post(server, body)))
            time.sleep(0.8)  # WeChat's retry while the first attempt is still open
            retry = pool.submit(lambda: reply_content(post(server, body)))
            assert first.result() == retry.result() == "收到：慢一点的问题"
        assert len(agent.received) == 1
    finally:
        server.stop()


def test_bot_crash_gives_a_polite_reply_not_a_trace(plain):
    server, agent, _ = plain

    def boom(m: UserMessage) -> Any:
        raise RuntimeError("model exploded")

    agent.script = boom
    content = reply_content(post(server, text_xml("你好")))
    assert "稍后" in content and "exploded" not in content


def test_from_credentials_falls_back_to_settings(monkeypatch):
    from bot.settings import get_settings

    monkeypatch.setenv("WECHAT_TOKEN", "tok-from-env")
    monkeypatch.delenv("WECHAT_AES_KEY", raising=False)
    get_settings.cache_clear()
    try:
        channel = WeChatInput.from_credentials(None)
        assert channel.token == "tok-from-env" and channel.sender is None
        channel = WeChatInput.from_credentials({"token": "tok-from-file"})
        assert channel.token == "tok-from-file"
    finally:
        get_settings.cache_clear()


def test_rasa_reads_the_credentials_file_with_our_channels(tmp_path):
    """credentials.yml entries build the channels exactly as `rasa run` would."""
    from rasa.core.run import create_http_input_channels

    creds = tmp_path / "credentials.yml"
    creds.write_text(
        "rest:\n"
        "bot.channels.wechat.WeChatInput:\n"
        "bot.channels.webchat.WebChatInput:\n"
        "bot.channels.guide.GuideInput:\n",
        encoding="utf-8",
    )
    channels = create_http_input_channels(None, str(creds))
    names = sorted(c.name() for c in channels)
    assert names == ["guide", "rest", "webchat", "wechat"]


# ------------------------------------------------------------------------------ Redis (replicas)
def test_memory_store_expires_claims():
    now = [1000.0]
    store = MemoryTTLStore(clock=lambda: now[0])
    dedup = Deduplicator(store, ttl=10)
    assert asyncio.run(dedup.claim("m1")) is True
    assert asyncio.run(dedup.claim("m1")) is False
    now[0] += 11
    assert asyncio.run(dedup.claim("m1")) is True


def test_two_replicas_sharing_redis_process_a_msgid_once(redis_url, fake_api):
    from bot.dedup import RedisTTLStore

    def replica() -> tuple[ServerThread, FakeAgent]:
        channel = WeChatInput(
            token=TOKEN,
            appid=APPID,
            reply_timeout=2.0,
            sender=WeChatApiSender(APPID, "s3cret", api_base_url=fake_api.base),
            dedup=Deduplicator(RedisTTLStore(redis_url)),
        )
        return make_server(channel)

    (a, agent_a), (b, agent_b) = replica(), replica()
    try:
        agent_a.delay = agent_b.delay = 0.5
        body = text_xml("预约明天上午", openid="oRedis", msg_id=777000111)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(lambda: reply_content(post(a, body)))
            time.sleep(0.1)  # the retry reaches the other replica while A is still working
            second = pool.submit(lambda: reply_content(post(b, body)))
            replies = [first.result(), second.result()]
        assert replies == ["收到：预约明天上午"] * 2
        assert len(agent_a.received) + len(agent_b.received) == 1
        # buttons remembered by one replica are understood by the other
        agent_a.script = lambda m: {
            "text": "选大厅",
            "buttons": [{"title": "湖州", "payload": "/choose_hall"}],
        }
        reply_content(post(a, text_xml("预约", openid="oRedis")))
        assert reply_content(post(b, text_xml("1", openid="oRedis"))) == "收到：/choose_hall"
    finally:
        a.stop()
        b.stop()


# ------------------------------------------------------------------------------ replay
def wechat_channel(**kwargs: Any) -> WeChatInput:
    """A plain-mode channel without customer-service API; keyword arguments override."""
    options: Dict[str, Any] = dict(
        token=TOKEN, appid=APPID, reply_timeout=1.0, dedup=Deduplicator(MemoryTTLStore())
    )
    options.update(kwargs)
    return WeChatInput(**options)


def test_replayed_timestamp_and_nonce_is_403_on_post_and_get(plain):
    server, agent, _ = plain
    params = signed_params(openid="oVictim")
    assert (
        reply_content(post(server, text_xml("查我的预约", openid="oVictim"), params))
        == "收到：查我的预约"
    )
    # the captured URL with another body (another openid, another MsgId): refused
    assert_clean(post(server, text_xml("取消我的预约", openid="oVictim"), params), 403)
    assert_clean(post(server, text_xml("取消我的预约", openid="oAttacker"), params), 403)
    assert [m.text for m in agent.received] == ["查我的预约"]
    # the identical request again (WeChat's retry of the same push) is no new message
    retry_body = text_xml("重试", openid="oRetry")
    retry_params = signed_params(openid="oRetry")
    answer = post(server, retry_body, retry_params)
    assert reply_content(post(server, retry_body, retry_params)) == reply_content(answer)
    assert [m.text for m in agent.received] == ["查我的预约", "重试"]
    url = f"{server.base}/webhooks/wechat/webhook"
    get_params = {**signed_params(), "echostr": "e1"}
    assert requests.get(url, params=get_params, timeout=5).text == "e1"
    assert_clean(requests.get(url, params=get_params, timeout=5), 403)


def test_old_or_future_timestamp_is_403_with_an_injected_clock_and_window():
    now = [1_800_000_000.0]
    channel = wechat_channel(clock=lambda: now[0], timestamp_window=60)
    server, agent = make_server(channel)
    try:

        def at(offset: int, text: str) -> requests.Response:
            return post(server, text_xml(text), signed_params(timestamp=str(int(now[0]) + offset)))

        assert reply_content(at(-60, "一分钟前")) == "收到：一分钟前"
        assert reply_content(at(60, "一分钟后")) == "收到：一分钟后"
        assert_clean(at(-61, "太旧"), 403)
        assert_clean(at(61, "太新"), 403)
        assert_clean(at(-(10**9), "很久以前"), 403)
        url = f"{server.base}/webhooks/wechat/webhook"
        old = {**signed_params(timestamp=str(int(now[0]) - 3600)), "echostr": "x"}
        assert_clean(requests.get(url, params=old, timeout=5), 403)
        assert [m.text for m in agent.received] == ["一分钟前", "一分钟后"]
        # the default window is WeChat's ±300 s, and a nonce outlives the window on both sides
        default = wechat_channel()
        assert default.timestamp_window == 300 and default.nonce_ttl > 2 * 300
        assert channel.nonce_ttl > 2 * 60
    finally:
        server.stop()


def test_real_clock_rejects_a_timestamp_301_seconds_old(plain):
    server, agent, _ = plain
    stale = signed_params(timestamp=str(int(time.time()) - 301))
    assert_clean(post(server, text_xml("你好"), stale), 403)
    assert agent.received == []


def test_nonce_is_remembered_until_its_timestamp_is_out_of_the_window():
    """The memory store's TTL covers the window: a replay is refused at every moment."""
    now = [1_800_000_000.0]
    store = MemoryTTLStore(clock=lambda: now[0])
    channel = wechat_channel(clock=lambda: now[0], dedup=Deduplicator(store))
    server, _ = make_server(channel)
    try:
        params = signed_params(timestamp=str(int(now[0]) + 300))  # the latest acceptable
        assert reply_content(post(server, text_xml("一"), params)) == "收到：一"
        for step in (1, 299, 300):  # until the timestamp itself is too old
            now[0] = 1_800_000_000.0 + step + 300
            assert_clean(post(server, text_xml("二"), params), 403)
    finally:
        server.stop()


def test_safe_mode_replay_and_stale_timestamp_are_403(safe):
    from wechatpy.crypto import WeChatCrypto

    server, agent, _ = safe
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    encrypt = xmltodict.parse(crypto.encrypt_message(text_xml("签注", openid="oSafe2"), "n", "1"))[
        "xml"
    ]["Encrypt"]
    body = f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    params = aes_params(encrypt, openid="oSafe2")
    first = post(server, body, params)
    assert first.status_code == 200
    # a byte-identical re-send (a transport retry) is answered, and not processed again
    assert post(server, body, params).status_code == 200
    other = crypto.encrypt_message(text_xml("取消预约", openid="oSafe2"), "n", "1")
    other_encrypt = xmltodict.parse(other)["xml"]["Encrypt"]
    other_body = body.replace(encrypt, other_encrypt)
    assert_clean(post(server, other_body, params), 403)  # another body under a used nonce
    assert_clean(
        post(server, body, aes_params(encrypt, timestamp=str(int(time.time()) - 400))), 403
    )
    assert len(agent.received) == 1


def test_a_replay_reaching_another_replica_is_403(redis_url):
    from bot.dedup import RedisTTLStore

    a, agent_a = make_server(wechat_channel(dedup=Deduplicator(RedisTTLStore(redis_url))))
    b, agent_b = make_server(wechat_channel(dedup=Deduplicator(RedisTTLStore(redis_url))))
    try:
        params = signed_params(openid="oRep")
        assert reply_content(post(a, text_xml("你好", openid="oRep"), params)) == "收到：你好"
        assert_clean(post(b, text_xml("取消预约", openid="oRep"), params), 403)
        assert agent_b.received == []
    finally:
        a.stop()
        b.stop()


# ------------------------------------------------------------------------------ dedup key
def test_two_openids_with_the_same_msgid_each_get_their_own_answer(plain):
    server, agent, _ = plain
    alice = reply_content(post(server, text_xml("护照多少钱", openid="oAlice", msg_id=424242)))
    bob = reply_content(post(server, text_xml("港澳签注要什么材料", openid="oBob", msg_id=424242)))
    assert alice == "收到：护照多少钱" and bob == "收到：港澳签注要什么材料"
    # a real retry (same openid, same MsgId) is still answered from the first result
    again = reply_content(post(server, text_xml("护照多少钱", openid="oAlice", msg_id=424242)))
    assert again == alice
    assert [(m.sender_id, m.text) for m in agent.received] == [
        ("oAlice", "护照多少钱"),
        ("oBob", "港澳签注要什么材料"),
    ]


def test_message_key_is_openid_plus_msgid_or_openid_createtime_and_type():
    from bot.channels.wechat import message_key, read_inbound

    def key(**fields: str) -> str:
        base = {"ToUserName": OA_ID, "FromUserName": "oA", "MsgType": "text"}
        return message_key("ns", read_inbound({**base, **fields}))

    assert key(MsgId="1") == key(MsgId="1", CreateTime="99")  # a retry
    assert key(MsgId="1") != key(MsgId="1", FromUserName="oB")
    assert key(MsgId="1") != key(MsgId="2")
    event = dict(MsgType="event", Event="CLICK", CreateTime="1700000000")
    assert key(**event) == key(**event)
    assert key(**event) != key(**{**event, "FromUserName": "oB"})
    assert key(**event) != key(**{**event, "CreateTime": "1700000001"})
    assert key(**event) != key(**{**event, "Event": "VIEW"})
    assert message_key(
        "ns", read_inbound({"ToUserName": "g", "FromUserName": "o", "MsgType": "t"})
    ) != message_key(
        "other", read_inbound({"ToUserName": "g", "FromUserName": "o", "MsgType": "t"})
    )


# ------------------------------------------------------------------------------ bad XML
def _refusals(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.channels.wechat"]


@pytest.mark.parametrize(
    "content",
    [
        "]]></Content><Foo>",
        "]]></Content><Content><![CDATA[取消预约",
        "]]></Content><FromUserName><![CDATA[oOther",
        "]]></Content><MsgType>event</MsgType><Content><![CDATA[x",
        "]]></Content><Content><a>b</a></Content><X><![CDATA[",
    ],
)
def test_cdata_breakout_is_400_with_one_warning_and_no_traceback(plain, caplog, content):
    server, agent, _ = plain
    caplog.set_level(logging.INFO)
    resp = post(server, text_xml(content))
    assert_clean(resp, 400)
    records = _refusals(caplog)
    assert len(records) == 1 and records[0].levelno == logging.WARNING, records
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert agent.received == []


def test_malformed_bodies_are_400_with_one_warning_each(plain, caplog):
    server, agent, _ = plain
    caplog.set_level(logging.INFO)
    ok_fields = (
        f"<ToUserName>{OA_ID}</ToUserName><FromUserName>o</FromUserName>"
        "<MsgType>text</MsgType><Content>x</Content>"
    )
    bodies: List[Any] = [
        "<xml><ToUserName>gh</ToUserName>",  # unclosed
        "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType><Content>x</Content></xml>",
        f"<xml><ToUserName>{OA_ID}</ToUserName><FromUserName>o</FromUserName><Content>x</Content></xml>",
        f"<xml><ToUserName>{OA_ID}</ToUserName><FromUserName> </FromUserName><MsgType>text</MsgType></xml>",
        f"<xml><ToUserName>{OA_ID}</ToUserName><FromUserName><a>1</a></FromUserName><MsgType>text</MsgType></xml>",
        f"<xml>{ok_fields}<MsgType>text</MsgType></xml>",  # repeated
        f"<xml>{ok_fields}<CreateTime>abc</CreateTime></xml>",
        f"<xml>{ok_fields}<MsgId>12ab</MsgId></xml>",
        "<xml><ToUserName>g</ToUserName><FromUserName>o</FromUserName><MsgType>event</MsgType><Event><b/></Event></xml>",
        b"<xml><Content>\xff\xfe\xfa</Content></xml>",
        b"<xml><ToUserName>\xed\xa0\x80</ToUserName></xml>",  # an encoded lone surrogate
        "<xml><ToUserName>gh</ToUserName>\x01</xml>",
        "",
    ]
    for body in bodies:
        caplog.clear()
        assert_clean(post(server, body), 400)
        assert len(_refusals(caplog)) == 1, (body, caplog.text)
        assert "Traceback" not in caplog.text and all(r.exc_info is None for r in caplog.records)
    caplog.clear()
    assert_clean(post(server, b"<xml>" + b"a" * (MAX_BODY_BYTES + 1) + b"</xml>"), 413)
    assert len(_refusals(caplog)) == 1
    assert agent.received == []


def test_body_cap_is_the_shared_channel_limit(plain):
    server, agent, _ = plain
    filler = "护" * 100
    body = text_xml(filler)
    body = body.replace(
        "</xml>", "<Pad>" + "p" * (MAX_BODY_BYTES - len(body.encode()) - 11) + "</Pad></xml>"
    )
    assert len(body.encode()) == MAX_BODY_BYTES
    assert reply_content(post(server, body)) == f"收到：{filler}"
    assert_clean(post(server, body.replace("<Pad>", "<Pad>p")), 413)


def test_reply_escapes_cdata_end_in_the_echoed_text(plain):
    server, agent, _ = plain
    body = text_xml("a]]]]><![CDATA[>b")  # how WeChat sends "a]]>b"
    assert reply_content(post(server, body)) == "收到：a]]>b"
    assert agent.received[0].text == "a]]>b"


# ------------------------------------------------------------------------------ inputs
def test_openid_is_capped_and_text_cleaned_before_the_bot(plain):
    server, agent, _ = plain
    long_openid = "o" + "x" * 300
    resp = post(server, text_xml("护照\u0085多少钱\u009f", openid=long_openid))
    xml = xmltodict.parse(resp.text)["xml"]
    assert agent.received[0].sender_id == cap_sender(long_openid) == long_openid[:MAX_SENDER_CHARS]
    assert xml["ToUserName"] == long_openid[:MAX_SENDER_CHARS]
    assert agent.received[0].text == clean_text("护照\u0085多少钱\u009f") == "护照多少钱"
    post(server, text_xml("问" * (MAX_MESSAGE_CHARS + 500), openid="oLongText"))
    assert agent.received[-1].text == "问" * MAX_MESSAGE_CHARS
    count = len(agent.received)
    assert reply_content(post(server, text_xml("\u0085\u0086 \u009f"))) == EMPTY_TEXT_REPLY
    assert len(agent.received) == count  # nothing left to understand: not sent to the bot


# ------------------------------------------------------------------------------ never silence
@pytest.fixture(scope="module")
def agent_without_action_server():
    """The trained model in-process, its action endpoint a port nobody listens on."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    from tests.conftest import need_service
    from tests.live import MODEL

    if not MODEL.exists():
        need_service("no trained model: run `make train` (or /work/get_model.sh) first")
    dead = EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook")
    return asyncio.run(load_agent(model_path=str(MODEL), endpoints=AvailableEndpoints(action=dead)))


def test_action_server_down_gives_the_busy_text_in_the_passive_reply(agent_without_action_server):
    """The real model and Rasa processor; the custom action's server is down."""
    agent = agent_without_action_server
    assert BUSY_TEXT == agent.domain.responses["utter_system_busy"][0]["text"]
    app = Sanic(f"wechat_real_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register([wechat_channel()], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        resp = post(server, text_xml("办护照要带什么材料", openid="oDown"))
        assert resp.status_code == 200 and resp.text != "success"
        assert reply_content(resp) == BUSY_TEXT
        # a turn without custom action still gets the model's own answer
        assert reply_content(post(server, text_xml("你好", openid="oDown2"))) == domain_text(
            "utter_greet"
        )
    finally:
        server.stop()


def test_empty_bot_output_gives_the_busy_text(plain):
    server, agent, _ = plain
    agent.script = lambda m: []
    resp = post(server, text_xml("办护照要带什么"))
    assert reply_content(resp) == BUSY_TEXT


def test_processor_crash_gives_exactly_the_busy_text(plain):
    server, agent, _ = plain

    def boom(m: UserMessage) -> Any:
        raise RuntimeError("processor exploded")

    agent.script = boom
    assert reply_content(post(server, text_xml("你好"))) == BUSY_TEXT


def test_without_a_reachable_agent_the_last_resort_text_applies():
    app = Sanic(f"wechat_noagent_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = None  # e.g. `rasa run` before a model is loaded
    register([wechat_channel()], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        content = reply_content(post(server, text_xml("你好")))
        assert content == busy_messages(None)[0]["text"] and content
    finally:
        server.stop()


def test_late_empty_answer_sends_the_busy_text_via_customer_service(plain, fake_api):
    server, agent, channel = plain  # reply_timeout 1.0 s
    agent.delay = 1.4
    agent.script = lambda m: []
    resp = post(server, text_xml("查一下", openid="oLateEmpty"))
    assert resp.status_code == 200 and resp.text == "success"
    sent = fake_api.wait_for(1, timeout=5)
    assert sent == [{"touser": "oLateEmpty", "msgtype": "text", "text": {"content": BUSY_TEXT}}]


def test_late_crash_sends_the_busy_text_via_customer_service(plain, fake_api):
    server, agent, channel = plain
    agent.delay = 1.4

    def boom(m: UserMessage) -> Any:
        raise RuntimeError("late failure")

    agent.script = boom
    assert post(server, text_xml("查一下", openid="oLateCrash")).text == "success"
    assert [s["text"]["content"] for s in fake_api.wait_for(1, timeout=5)] == [BUSY_TEXT]


def test_without_customer_service_api_a_too_slow_answer_gets_the_busy_text():
    """No way to deliver later: the still open request says so instead of "success"."""
    channel = WeChatInput(
        token=TOKEN, reply_timeout=0.3, retry_window=0.8, dedup=Deduplicator(MemoryTTLStore())
    )
    server, agent = make_server(channel)
    try:
        agent.delay = 2.0
        assert reply_content(post(server, text_xml("很慢的问题", openid="oTooSlow"))) == BUSY_TEXT
        assert len(agent.received) == 1 and agent.finished == []  # said while the bot still worked
    finally:
        server.stop()


# ------------------------------------------------------------------------------ fuzz
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_SAFE_CHARS = st.characters(blacklist_categories=("Cs",))
_XML_FRAGMENTS = [
    "<xml>",
    "</xml>",
    f"<ToUserName>{OA_ID}</ToUserName>",
    "<FromUserName>oFuzz</FromUserName>",
    "<FromUserName>",
    "</FromUserName>",
    "<MsgType>text</MsgType>",
    "<MsgType>event</MsgType>",
    "<MsgType>image</MsgType>",
    "<Event>subscribe</Event>",
    "<Event>CLICK</Event>",
    "<Content>",
    "</Content>",
    "<![CDATA[",
    "]]>",
    "]]></Content><Foo>",
    "<MsgId>123</MsgId>",
    "<MsgId>x</MsgId>",
    "<CreateTime>1</CreateTime>",
    "<Recognition>护照</Recognition>",
    "<a><b/></a>",
    "&amp;",
    "&e;",
    "<!DOCTYPE x [<!ENTITY e 'x'>]>",
    "<?xml version='1.0'?>",
    "<Encrypt>YWJj</Encrypt>",
    "\x00",
    "护照多少钱",
    "<",
    ">",
    "&#0;",
    "&#x85;",
    "<!-- c -->",
]


def _xml_text(value: str) -> str:
    """Content WeChat-style: in CDATA with `]]>` split, or escaped, chosen by the value."""
    from xml.sax.saxutils import escape

    if len(value) % 2:
        return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return escape(value)


@st.composite
def wechat_requests(draw: Any) -> Dict[str, Any]:
    """One request to the webhook, described; signing happens at send time (fresh nonces)."""
    kind = draw(
        st.sampled_from(["text", "text", "aes_text", "xmlish", "bytes", "params", "stale", "get"])
    )
    content_type = draw(
        st.sampled_from(
            [
                "text/xml",
                "application/xml",
                "text/plain",
                "text/xml; charset=utf-8",
                "",
                "application/json",
                "x/" + "y" * 5,
            ]
        )
    )
    req: Dict[str, Any] = {
        "kind": kind,
        "method": "POST",
        "content_type": content_type,
        "sign": "valid" if draw(st.booleans()) else "forged",
    }
    if kind in ("text", "aes_text"):
        req["content_type"] = draw(st.sampled_from(["text/xml", "application/xml", "text/plain"]))
        openid = draw(st.text(st.sampled_from("oABCxyz0123456789-_"), min_size=1, max_size=40))
        content = draw(
            st.text(_SAFE_CHARS, max_size=300).map(lambda t: _XML_ILLEGAL_IN_TEST.sub("", t))
        )
        msg_id = draw(st.one_of(st.none(), st.integers(0, 2**63)))
        body = (
            f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_xml_text(content)}</Content>"
            + (f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else "")
            + "</xml>"
        )
        req.update(
            body=body,
            openid=openid,
            sign="valid",
            expect_reply=True,
            replay=draw(st.booleans()) and draw(st.booleans()),
        )
        return req
    if kind == "xmlish":
        pieces = draw(
            st.lists(
                st.one_of(st.sampled_from(_XML_FRAGMENTS), st.text(_SAFE_CHARS, max_size=12)),
                max_size=25,
            )
        )
        req["body"] = "".join(pieces)
    elif kind == "bytes":
        size = draw(st.sampled_from([0, 10, 300, MAX_BODY_BYTES + 1]))
        req["body"] = draw(st.binary(min_size=size, max_size=size + 40))
    else:
        req["body"] = text_xml(draw(st.text(_SAFE_CHARS, max_size=30)).replace("]]>", ""))
    if kind == "stale":
        req.update(
            sign="stale",
            expect_status=403,
            offset=draw(st.one_of(st.integers(301, 10**9), st.integers(-(10**9), -301))),
        )
    elif kind == "params":
        keys = st.sampled_from(
            [
                "signature",
                "timestamp",
                "nonce",
                "encrypt_type",
                "msg_signature",
                "openid",
                "echostr",
                "x",
            ]
        )
        req.update(
            sign="raw",
            raw=draw(st.dictionaries(keys, st.text(_SAFE_CHARS, max_size=50), max_size=8)),
        )
    if kind == "get":
        req.update(method="GET", echostr=draw(st.text(_SAFE_CHARS, max_size=20)))
    return req


def _sent_form(req: Dict[str, Any]) -> tuple[Dict[str, str], Any]:
    """Query parameters (signed now, with a fresh nonce) and body bytes for a described request."""
    body = req["body"]
    if req["kind"] == "aes_text":
        from wechatpy.crypto import WeChatCrypto

        encrypt = xmltodict.parse(
            WeChatCrypto(TOKEN, AES_KEY, APPID).encrypt_message(body, "n", "1")
        )["xml"]["Encrypt"]
        body = f"<xml><ToUserName>{OA_ID}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
        params = aes_params(encrypt, openid=req["openid"])
    elif req["sign"] == "valid":
        params = signed_params(openid=req.get("openid", "oUser1"))
    elif req["sign"] == "forged":
        params = {**signed_params(), "signature": "0" * 40}
    elif req["sign"] == "stale":
        params = signed_params(timestamp=str(max(0, int(time.time()) + req["offset"])))
    else:
        params = dict(req["raw"])
    if req["method"] == "GET":
        params["echostr"] = req["echostr"]
    return params, body.encode("utf-8") if isinstance(body, str) else body


_XML_ILLEGAL_IN_TEST = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def test_fuzz_webhook_never_5xx_never_silent_never_a_traceback():
    channel = WeChatInput(
        token=TOKEN,
        aes_key=AES_KEY,
        appid=APPID,
        reply_timeout=1.0,
        dedup=Deduplicator(MemoryTTLStore()),
    )
    server, agent = make_server(channel)
    # A stub bot (the NLU is not under test): echoes, says nothing at all, or sends buttons.
    agent.script = lambda m: (
        []
        if len(m.text) % 3 == 0
        else {"text": f"收到：{m.text}", "buttons": [{"title": "是", "payload": "/affirm"}]}
        if len(m.text) % 3 == 1
        else {"text": f"收到：{m.text}"}
    )
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    seen: List[str] = []
    url = f"{server.base}/webhooks/wechat/webhook"
    session = requests.Session()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(req=wechat_requests())
    def one(req: Dict[str, Any]) -> None:
        seen.append(req["kind"])
        params, body = _sent_form(req)
        headers = {"Content-Type": req["content_type"]} if req["content_type"] else {}
        resp = session.request(
            req["method"], url, params=params, data=body, headers=headers, timeout=10
        )
        assert resp.status_code < 500, (req, resp.status_code, resp.text)
        assert "Traceback" not in resp.text
        if resp.status_code != 200:
            assert len(resp.text) < 200
        if "expect_status" in req:
            assert resp.status_code == req["expect_status"], (req, resp.text)
        if req.get("expect_reply"):
            assert resp.status_code == 200 and resp.text.strip() not in ("", "success"), (
                req,
                resp.text,
            )
            xml = xmltodict.parse(resp.text)["xml"]
            if req["kind"] == "aes_text":
                from wechatpy.crypto import WeChatCrypto

                xml = xmltodict.parse(
                    WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(
                        resp.text, xml["MsgSignature"], xml["TimeStamp"], xml["Nonce"]
                    )
                )["xml"]
            assert (xml.get("Content") or "").strip(), (req, resp.text)
        if req.get("replay"):  # the used (timestamp, nonce) with another body
            other = (body if isinstance(body, bytes) else str(body or "").encode()) + b" "
            again = session.request(
                req["method"], url, params=params, data=other, headers=headers, timeout=10
            )
            assert again.status_code == 403, (req, again.text)
        elif resp.status_code == 200 and resp.text != "success" and req["method"] == "POST":
            xml = xmltodict.parse(resp.text)["xml"]  # whatever is answered is readable XML
            assert xml.get("Content") or xml.get("Encrypt")

    try:
        one()
        server.call(channel.drain())
    finally:
        root.removeHandler(records)
        session.close()
        server.stop()
    assert len(seen) >= 300
    assert {"text", "aes_text", "xmlish", "bytes", "params", "stale", "get"} <= set(seen)
    assert not [r for r in records.records if r.exc_info], [
        r.getMessage() for r in records.records if r.exc_info
    ][:3]
    assert not [r for r in records.records if "Traceback" in r.getMessage()]
    assert any(m.text for m in agent.received)


# ------------------------------------------------------------------------------ live server
@pytest.fixture()
def live_base(live_bot) -> str:
    """The running rasa server + actions of tests/conftest.py's `live_bot`."""
    return str(live_bot.url).rstrip("/")


def _live_say(base: str, openid: str, text: str, msg_id: Optional[int] = None) -> str:
    from bot.settings import get_settings

    token = get_settings().wechat_token
    resp = requests.post(
        f"{base}/webhooks/wechat/webhook",
        params=signed_params(token=token, openid=openid),
        data=text_xml(text, openid=openid, msg_id=msg_id).encode("utf-8"),
        headers={"Content-Type": "text/xml"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    if resp.text == "success":
        return ""
    return xmltodict.parse(resp.text)["xml"]["Content"]


def test_live_multi_turn_conversation_over_wechat(live_base):
    openid = f"oLive{uuid.uuid4().hex[:8]}"
    first = _live_say(live_base, openid, "办护照要带什么材料")
    assert "身份证" in first, first
    # The follow-up has no service in it: only the same conversation (openid) knows it.
    second = _live_say(live_base, openid, "小孩呢")
    assert "监护" in second, second
    fee = _live_say(live_base, openid, "多少钱")
    assert "120" in fee, fee


def _options(reply: str) -> Dict[int, str]:
    """ "回复 2 德清县…" lines → {2: "德清县…"}."""
    import re

    return {int(n): title.strip() for n, title in re.findall(r"^回复 (\d+) (.+)$", reply, re.M)}


def test_live_booking_over_wechat_with_numbered_replies_and_a_replayed_confirmation(live_base):
    """A whole booking by numbers and text; WeChat re-sending the confirmation books nothing new."""
    import re

    openid = f"oBook{uuid.uuid4().hex[:8]}"
    person = fresh_person()
    reply = _live_say(live_base, openid, "我想预约办护照")
    transcript = [reply]
    confirm_id = None
    for _ in range(14):
        if "预约成功" in reply:
            break
        options = _options(reply)
        if options:
            wanted = (
                [n for n, t in options.items() if "确认" in t]
                or [n for n, t in options.items() if "湖州" in t]
                or [min(options)]
            )
            answer = str(wanted[0])
        elif "姓名" in reply:
            answer = "张三"
        elif "身份证" in reply:
            answer = person.id_number
        elif "手机" in reply or "电话" in reply:
            answer = person.phone
        else:
            pytest.fail(f"stuck in the booking dialogue: {transcript}")
        msg_id = int(uuid.uuid4().int % 10**15)
        if options and "确认" in options.get(int(answer), ""):
            confirm_id = msg_id
        reply = _live_say(live_base, openid, answer, msg_id=msg_id)
        transcript.append(f"> {answer}\n{reply}")
    results = Path(__file__).resolve().parent.parent / "results"
    results.mkdir(exist_ok=True)
    (results / "wechat_booking_transcript.txt").write_text(
        "\n\n".join(transcript), encoding="utf-8"
    )
    assert "预约成功" in reply, "\n".join(transcript)
    code = re.search(r"预约号：([A-Z]{2}-[A-Z0-9]{5,})", reply)
    assert code, reply
    assert person.id_number not in reply and person.phone not in reply  # masked
    assert confirm_id is not None
    # WeChat re-sends the confirmation (same MsgId): same answer, same code, no second booking
    again = _live_say(live_base, openid, "1", msg_id=confirm_id)
    assert again in ("", reply)
