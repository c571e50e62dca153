"""WeChat Official Account (公众号) connector for Rasa, built on wechatpy.

Why it looks the way it does:
- Every request is signed with the shared token; anything unsigned or forged gets 403
  before its body is even looked at. Safe mode (AES) also checks `msg_signature`.
- XML is parsed with defusedxml first (no DTDs, so no entity bombs) and only then handed to
  wechatpy, whose own parser (xmltodict) has no such guard.
- The openid is the Rasa sender id, so forms (booking) span several messages.
- WeChat gives up after 5 s and re-sends the same MsgId three times. The first request owns
  the message (see bot.dedup); a retry waits for, and reuses, that first result, so a retry
  never books twice. If the answer is not ready after ~4.5 s we answer "success" and deliver
  it later through the customer-service message API. Accounts without that API (no app
  secret) instead keep the request open so that WeChat's own retry collects the answer.
- Passive replies are plain text (max 2048 bytes), so buttons become "回复 1 …" lines and a
  numeric reply is mapped back to the button payload; long replies are split.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Tuple

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)

from bot.dedup import Deduplicator, get_deduplicator

logger = logging.getLogger(__name__)

WECHAT_TEXT_LIMIT = 2048  # bytes of UTF-8, for passive replies and customer-service texts
MAX_BODY_BYTES = 64 * 1024  # real WeChat pushes are a few hundred bytes
DEFAULT_REPLY_TIMEOUT = 4.5
# WeChat tries a message 3 times, 5 s each. Without the customer-service API (unverified
# accounts have none) a slow answer is held for a retry to pick up instead of being dropped.
RETRY_WINDOW_SECONDS = 14.5
BUTTON_TTL_SECONDS = 24 * 3600
ACCEPTED_CONTENT_TYPES = ("text/xml", "application/xml", "text/plain")
OFFICIAL_API_BASE = "https://api.weixin.qq.com/cgi-bin/"

# Wording of the channel itself (not domain facts; those come from the bot and data/kb).
NON_TEXT_REPLY = (
    "抱歉，我目前只能看懂文字消息，暂时无法识别图片、语音、位置或文件。"
    "请用文字描述您的问题，比如“办护照要带什么”“港澳签注多少钱”。"
)
EMPTY_TEXT_REPLY = "您好，请用文字告诉我您想办理什么业务，比如“办护照要带什么”。"
BUSY_REPLY = "抱歉，系统暂时有点忙，请稍后再发一次。"
TRUNCATED_NOTE = "……（内容较长，未能全部显示，请分开询问）"
WELCOME_PREFIX = "欢迎关注！"
FALLBACK_CAPABILITIES = (
    "我是出入境服务助手，可以解答办证材料、费用、时限和地点，"
    "紧急出境的绿色通道，以及预约大厅办理时间。请直接用文字提问。"
)
_NUMERIC_REPLY = re.compile(r"^\s*(?:回复)?\s*(\d{1,2})\s*[.。、)）]?\s*$")

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class HttpProblem(Exception):
    """A bad request: answered with a short plain-text body, never a stack trace."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------
# Customer-service API (客服消息): used for late answers and the tail of long answers.
# --------------------------------------------------------------------------------------
class CustomerServiceSender(Protocol):
    async def send_text(self, openid: str, content: str) -> None: ...


class WeChatApiSender:
    """Sends customer-service texts with wechatpy's WeChatClient.

    `api_base_url` points the client (including the access-token call, which wechatpy
    hard-codes) at another host: tests run a fake WeChat API on 127.0.0.1.
    """

    def __init__(self, appid: str, secret: str, api_base_url: str = OFFICIAL_API_BASE,
                 timeout: float = 5.0) -> None:
        from wechatpy.client import WeChatClient

        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"

        class _Client(WeChatClient):
            API_BASE_URL = base

            def fetch_access_token(self):  # noqa: D401 - wechatpy naming
                return self._fetch_access_token(
                    url=base + "token",
                    params={"grant_type": "client_credential", "appid": self.appid,
                            "secret": self.secret},
                )

        self.client = _Client(appid, secret, timeout=timeout)

    async def send_text(self, openid: str, content: str) -> None:
        # wechatpy is synchronous (requests); keep the event loop free.
        await asyncio.to_thread(self.client.message.send_text, openid, content)


class WeChatOutput(OutputChannel):
    """Proactive messages to a WeChat user (e.g. from a reminder), via the customer-service API."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    def __init__(self, sender: CustomerServiceSender) -> None:
        self.sender = sender

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in split_text(text):
            await self.sender.send_text(recipient_id, part)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        rendered, _ = render_bot_messages([{"text": text, "buttons": buttons}])
        await self.send_text_message(recipient_id, rendered)


# --------------------------------------------------------------------------------------
# Pure helpers (unit-tested directly).
# --------------------------------------------------------------------------------------
def split_text(text: str, limit: int = WECHAT_TEXT_LIMIT) -> List[str]:
    """Split into parts of at most `limit` UTF-8 bytes, preferring line boundaries."""
    text = text.strip()
    if len(text.encode("utf-8")) <= limit:
        return [text] if text else []
    parts: List[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > limit:  # a single over-long line: cut by characters
            cut = _prefix_within(line, limit)
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = line
    if current.strip():
        parts.append(current)
    return [p.strip("\n") for p in parts if p.strip()]


def _prefix_within(line: str, limit: int) -> int:
    size = 0
    for i, ch in enumerate(line):
        size += len(ch.encode("utf-8"))
        if size > limit:
            return max(i, 1)
    return len(line)


def render_bot_messages(messages: List[Dict[str, Any]]) -> Tuple[str, List[Dict[str, str]]]:
    """Collected Rasa messages → one text, plus the numbered buttons in display order."""
    blocks: List[str] = []
    buttons: List[Dict[str, str]] = []
    for message in messages:
        lines: List[str] = []
        text = message.get("text")
        if text:
            lines.append(str(text).strip())
        for button in message.get("buttons") or message.get("quick_replies") or []:
            title = str(button.get("title") or button.get("payload") or "").strip()
            payload = str(button.get("payload") or title)
            if not title:
                continue
            buttons.append({"title": title, "payload": payload})
            lines.append(f"回复 {len(buttons)} {title}")
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("text"), str):
            lines.append(custom["text"].strip())
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks), buttons


def map_numeric_reply(text: str, buttons: List[Dict[str, str]]) -> Optional[str]:
    """"1" / "１" / "回复2" / a button's exact title → that button's payload, else None."""
    if not buttons:
        return None
    plain = unicodedata.normalize("NFKC", text).strip()
    match = _NUMERIC_REPLY.match(plain)
    if match:
        index = int(match.group(1))
        if 1 <= index <= len(buttons):
            return buttons[index - 1]["payload"]
        return None
    for button in buttons:
        if plain == button["title"]:
            return button["payload"]
    return None


def capabilities_text(agent: Any) -> str:
    """The bot's own `utter_bot_capabilities`, so the welcome never drifts from the domain."""
    try:
        responses = agent.domain.responses  # type: ignore[union-attr]
        text = responses["utter_bot_capabilities"][0]["text"]
        if text:
            return str(text)
    except Exception:  # no agent, no model yet, or the response was renamed
        pass
    try:
        import yaml

        from bot.settings import PROJECT_ROOT

        domain = yaml.safe_load(Path(PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
        return str(domain["responses"]["utter_bot_capabilities"][0]["text"])
    except Exception:
        return FALLBACK_CAPABILITIES


def parse_xml_safely(text: str) -> Dict[str, Any]:
    """The flat children of WeChat's <xml> root; DTDs (and so entity bombs) are refused."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise HttpProblem(400, "XML with DTD or entities is not accepted") from exc
    except (ParseError, ValueError) as exc:
        raise HttpProblem(400, "malformed XML") from exc
    if root.tag != "xml":
        raise HttpProblem(400, "unexpected XML root")
    return {child.tag: (child.text or "") for child in root}


# --------------------------------------------------------------------------------------
# The input channel.
# --------------------------------------------------------------------------------------
@dataclass
class _Inflight:
    """One WeChat message being answered; shared by its retries within this process."""

    task: "asyncio.Task[List[str]]"
    deferred: bool = False  # someone already answered "success": deliver via the API
    tail_sent: bool = False  # parts after the first were sent via the API
    created: float = field(default_factory=time.monotonic)


class WeChatInput(InputChannel):
    """Rasa input channel at /webhooks/wechat/webhook."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "WeChatInput":
        """Credentials override bot.settings; absent values come from the environment."""
        from bot.settings import get_settings

        creds = credentials or {}
        settings = get_settings()
        return cls(
            token=creds.get("token") or settings.wechat_token,
            aes_key=creds.get("aes_key") or settings.wechat_aes_key,
            appid=creds.get("appid") or settings.wechat_appid,
            appsecret=creds.get("appsecret") or settings.wechat_appsecret,
            api_base_url=creds.get("api_base_url") or OFFICIAL_API_BASE,
            reply_timeout=float(creds.get("reply_timeout") or DEFAULT_REPLY_TIMEOUT),
        )

    def __init__(
        self,
        token: str,
        aes_key: Optional[str] = None,
        appid: Optional[str] = None,
        appsecret: Optional[str] = None,
        api_base_url: str = OFFICIAL_API_BASE,
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        sender: Optional[CustomerServiceSender] = None,
        dedup: Optional[Deduplicator] = None,
        tail_delay: float = 0.5,
        welcome_agent: Any = None,
        retry_window: float = RETRY_WINDOW_SECONDS,
    ) -> None:
        if not token:
            raise ValueError("WeChat token is required (WECHAT_TOKEN)")
        self.token = token
        self.aes_key = aes_key
        self.appid = appid
        self.reply_timeout = reply_timeout
        self.tail_delay = tail_delay
        self.retry_window = retry_window
        self.welcome_agent = welcome_agent
        if sender is None and appid and appsecret:
            sender = WeChatApiSender(appid, appsecret, api_base_url)
        self.sender = sender
        self._dedup = dedup
        self._crypto = None
        if aes_key:
            from wechatpy.crypto import WeChatCrypto

            if not appid:
                raise ValueError("safe mode (WECHAT_AES_KEY) also needs WECHAT_APPID")
            try:
                self._crypto = WeChatCrypto(token, aes_key, appid)
            except Exception as exc:  # wechatpy asserts on the key length
                raise ValueError("WECHAT_AES_KEY must be the 43-character EncodingAESKey") from exc
        self._inflight: Dict[str, _Inflight] = {}
        self._background: set = set()

    @property
    def dedup(self) -> Deduplicator:
        if self._dedup is None:  # lazily: REDIS_URL is read when the first message arrives
            self._dedup = get_deduplicator()
        return self._dedup

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WeChatOutput(self.sender) if self.sender else None

    # ---------------------------------------------------------------- HTTP layer
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint(f"wechat_webhook_{id(self)}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                self._check_signature(request)
                echostr = request.args.get("echostr")
                if not echostr:
                    raise HttpProblem(400, "missing echostr")
                return response.text(echostr)
            except HttpProblem as problem:
                return response.text(problem.message, status=problem.status)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except HttpProblem as problem:
                return response.text(problem.message, status=problem.status)
            except Exception:  # never leak a stack trace to the caller
                logger.exception("WeChat webhook failed")
                return response.text("internal error", status=500)

        return bp

    def _check_signature(self, request: Request) -> None:
        from wechatpy.exceptions import InvalidSignatureException
        from wechatpy.utils import check_signature

        args = request.args
        signature, timestamp, nonce = (args.get("signature"), args.get("timestamp"),
                                       args.get("nonce"))
        if not (signature and timestamp and nonce):
            raise HttpProblem(403, "missing signature")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise HttpProblem(403, "invalid signature")

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise HttpProblem(413, "request body too large")
        self._check_signature(request)
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type and content_type not in ACCEPTED_CONTENT_TYPES:
            raise HttpProblem(415, "expected text/xml")
        if not body.strip():
            raise HttpProblem(400, "empty body")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpProblem(400, "body is not valid UTF-8")

        args = request.args
        encrypted = args.get("encrypt_type", "raw").lower() == "aes"
        outer = parse_xml_safely(text)
        if encrypted:
            text = self._decrypt(outer, args)
            outer = parse_xml_safely(text)

        for required in ("ToUserName", "FromUserName", "MsgType"):
            if not outer.get(required):
                raise HttpProblem(400, f"missing {required}")

        from wechatpy import parse_message

        message = parse_message(text)  # safe: parse_xml_safely has refused any DTD
        agent = getattr(request.app.ctx, "agent", None) or self.welcome_agent
        reply = await self._reply_for(message, outer, on_new_message, agent)
        if reply is None:
            return response.text("success")

        from wechatpy.replies import TextReply

        xml = TextReply(message=message, content=reply).render()
        if encrypted:
            xml = self._crypto.encrypt_message(xml, args.get("nonce"), args.get("timestamp"))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    def _decrypt(self, outer: Dict[str, Any], args: Any) -> str:
        from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

        if self._crypto is None:
            raise HttpProblem(400, "safe mode is not configured (WECHAT_AES_KEY)")
        msg_signature = args.get("msg_signature")
        if not msg_signature or not outer.get("Encrypt"):
            raise HttpProblem(403, "missing msg_signature")
        try:
            plain = self._crypto.decrypt_message(
                {"Encrypt": outer["Encrypt"]}, msg_signature, args.get("timestamp"),
                args.get("nonce"),
            )
        except InvalidSignatureException:
            raise HttpProblem(403, "invalid msg_signature")
        except InvalidAppIdException:
            raise HttpProblem(403, "message for another app id")
        except Exception:  # bad base64, bad padding, garbage after decryption
            raise HttpProblem(400, "cannot decrypt message")
        return plain if isinstance(plain, str) else plain.decode("utf-8")

    # ---------------------------------------------------------------- message layer
    async def _reply_for(self, message: Any, raw: Dict[str, Any],
                         on_new_message: OnNewMessage, agent: Any = None) -> Optional[str]:
        """The passive reply text, or None to answer "success"."""
        openid = str(message.source)
        kind = message.type
        if kind == "event":
            event = getattr(message, "event", "")
            if event.startswith("subscribe"):
                return WELCOME_PREFIX + capabilities_text(agent)
            return None  # unsubscribe, menu views, location reports: nothing to say
        text: Optional[str] = None
        if kind == "text":
            text = message.content or ""
        elif kind == "voice" and getattr(message, "recognition", None):
            text = message.recognition  # WeChat's speech recognition, when enabled
        if text is None:
            return NON_TEXT_REPLY
        if not text.strip():
            return EMPTY_TEXT_REPLY
        msg_key = raw.get("MsgId") or f"{openid}:{raw.get('CreateTime', '')}"
        return await self._answer(f"{self.appid or 'oa'}:{msg_key}", openid, text,
                                  str(raw.get("MsgId") or ""), on_new_message)

    async def _answer(self, key: str, openid: str, text: str, msg_id: str,
                      on_new_message: OnNewMessage) -> Optional[str]:
        started = time.monotonic()
        inflight = self._inflight.get(key)
        if inflight is None:
            # No await between get and set: concurrent retries in this process share it.
            task = asyncio.create_task(self._first_time(key, openid, text, msg_id, on_new_message))
            inflight = _Inflight(task=task)
            self._inflight[key] = inflight
            task.add_done_callback(lambda _t, k=key: self._forget_later(k))
        elif inflight.deferred:
            return None
        if self.sender is not None:
            budget = max(0.0, self.reply_timeout - (time.monotonic() - started))
        else:  # keep the connection; WeChat's retry of this MsgId shares the same task
            budget = max(0.0, self.retry_window - (time.monotonic() - inflight.created))
        try:
            parts = await asyncio.wait_for(asyncio.shield(inflight.task), timeout=budget)
        except asyncio.TimeoutError:
            if not inflight.deferred:
                inflight.deferred = True
                inflight.task.add_done_callback(lambda t, o=openid: self._deliver_late(t, o))
                try:
                    await self.dedup.put_result(key, json.dumps({"status": "deferred"}))
                except Exception:
                    logger.exception("could not mark a WeChat message as deferred")
            return None
        if inflight.deferred or not parts:
            return None
        if len(parts) > 1 and not inflight.tail_sent:
            inflight.tail_sent = True
            self._spawn(self._send_parts(openid, parts[1:], delay=self.tail_delay))
        return parts[0]

    async def _first_time(self, key: str, openid: str, text: str, msg_id: str,
                          on_new_message: OnNewMessage) -> List[str]:
        try:
            first = await self.dedup.claim(key)
        except Exception:  # Redis down: answering once too often beats not answering
            logger.exception("dedup store unavailable; processing without a claim")
            first = True
        if not first:
            return await self._result_of_other_replica(key)
        parts = await self._run_bot(openid, text, msg_id, on_new_message)
        inflight = self._inflight.get(key)
        if inflight is None or not inflight.deferred:
            try:
                await self.dedup.put_result(
                    key, json.dumps({"status": "done", "parts": parts}, ensure_ascii=False))
            except Exception:
                logger.exception("could not store a WeChat result for retries")
        return parts

    async def _result_of_other_replica(self, key: str) -> List[str]:
        """Another process owns this MsgId: wait for its stored result, never re-run it."""
        deadline = time.monotonic() + self.reply_timeout + 1
        while time.monotonic() < deadline:
            stored = await self.dedup.get_result(key)
            if stored:
                data = json.loads(stored)
                return data.get("parts", []) if data.get("status") == "done" else []
            await asyncio.sleep(0.2)
        return []

    async def _run_bot(self, openid: str, text: str, msg_id: str,
                       on_new_message: OnNewMessage) -> List[str]:
        buttons_key = f"wechat-buttons:{openid}"
        try:
            stored = await self.dedup.store.get(buttons_key)
            buttons = json.loads(stored) if stored else []
        except Exception:
            logger.exception("could not read the last WeChat buttons")
            buttons = []
        payload = map_numeric_reply(text, buttons)
        collector = CollectingOutputChannel()
        try:
            await on_new_message(UserMessage(
                payload or text, collector, openid, input_channel=self.name(),
                message_id=msg_id or None,
                metadata={"channel": "wechat", "msg_id": msg_id, "button_payload": bool(payload)},
            ))
        except Exception:
            logger.exception("bot failed on a WeChat message")
            return [BUSY_REPLY]
        rendered, new_buttons = render_bot_messages(collector.messages)
        try:
            if new_buttons:
                await self.dedup.store.set(
                    buttons_key, json.dumps(new_buttons, ensure_ascii=False), BUTTON_TTL_SECONDS)
            elif buttons:
                await self.dedup.store.delete(buttons_key)  # old numbers mean nothing now
        except Exception:
            logger.exception("could not remember the WeChat buttons")
        parts = split_text(rendered)
        if len(parts) > 1 and self.sender is None:
            # Without the customer-service API only one passive text can reach the user.
            first = split_text(parts[0], WECHAT_TEXT_LIMIT - len(TRUNCATED_NOTE.encode()) - 1)[0]
            parts = [f"{first}\n{TRUNCATED_NOTE}"]
        return parts

    # ---------------------------------------------------------------- background delivery
    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _forget_later(self, key: str) -> None:
        loop = asyncio.get_event_loop()
        loop.call_later(self.dedup.ttl, self._inflight.pop, key, None)

    def _deliver_late(self, task: "asyncio.Task[List[str]]", openid: str) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        self._spawn(self._send_parts(openid, task.result(), delay=0))

    async def _send_parts(self, openid: str, parts: List[str], delay: float) -> None:
        if not parts:
            return
        if self.sender is None:
            logger.warning("no customer-service sender (WECHAT_APPID/WECHAT_APPSECRET unset); "
                           "%d late reply part(s) for a WeChat user were dropped", len(parts))
            return
        if delay:
            await asyncio.sleep(delay)  # let the passive reply reach the user first
        for part in parts:
            try:
                await self.sender.send_text(openid, part)
            except Exception:
                logger.exception("customer-service message failed")
                return

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background deliveries (used by tests and graceful shutdown)."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
