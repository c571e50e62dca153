"""WeChat Official Account (公众号) connector for Rasa, built on wechatpy.

Why it looks the way it does:
- Every request is signed with the shared token; anything unsigned or forged gets 403
  before its body is even looked at. Safe mode (AES) also checks `msg_signature`.
- In plain mode the signature covers only (token, timestamp, nonce), not the body. So a
  signature alone proves nothing once it has been seen: the timestamp must be within ±300 s
  of our clock and a (timestamp, nonce) is accepted once (bot.dedup, Redis when REDIS_URL is
  set, so every replica agrees). Otherwise one captured URL would let anyone post as any
  openid, forever, and so act on that citizen's bookings.
- XML is parsed with defusedxml (no DTDs, so no entity bombs) into flat string fields; a
  repeated or nested field (what a CDATA breakout produces) is a 400. wechatpy's own parser
  (xmltodict) is not used for input: it turns such fields into lists or dicts, which crashed
  the handler. Anything wrong with a request is a 400/403/413 with a short body and one
  warning line in the log, never a 500 or a traceback.
- The openid is the Rasa sender id (capped by bot.inputs like every channel's sender), so
  forms (booking) span several messages. The text is cleaned by bot.inputs before NLU.
- WeChat gives up after 5 s and re-sends the same MsgId three times. The first request owns
  the message (see bot.dedup); a retry waits for, and reuses, that first result, so a retry
  never books twice. A MsgId is unique per user only, so the key is openid + MsgId (events:
  openid + CreateTime + type, as WeChat's documentation advises). If the answer is not ready
  after ~4.5 s we answer "success" and deliver it later through the customer-service message
  API. Accounts without that API (no app secret) instead keep the request open so that
  WeChat's own retry collects the answer.
- Never silence: a turn that produced no message (action server down, the processor raised)
  is answered with the domain response `utter_system_busy` (bot.inputs.busy_messages), on the
  passive reply and on the late customer-service path alike.
- Passive replies are plain text (max 2048 bytes), so buttons become "回复 1 …" lines and a
  numeric reply is mapped back to the button payload; long replies are split.
- A hand-over with WECHAT_HANDOFF=transfer (bot/handoff/config.py): the bot's custom
  message `{"wechat_transfer": true}` becomes WeChat's own transfer_customer_service reply
  (wechatpy's TransferCustomerServiceReply), so the account's customer-service agents answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.dedup import Deduplicator, get_deduplicator
from bot.inputs import MAX_BODY_BYTES, busy_messages, cap_sender, clean_text

logger = logging.getLogger(__name__)

WECHAT_TEXT_LIMIT = 2048  # bytes of UTF-8, for passive replies and customer-service texts
DEFAULT_REPLY_TIMEOUT = 4.5
# WeChat's own advice for signed callbacks: refuse a timestamp more than 5 minutes off.
DEFAULT_TIMESTAMP_WINDOW = 300
# WeChat tries a message 3 times, 5 s each. Without the customer-service API (unverified
# accounts have none) a slow answer is held for a retry to pick up instead of being dropped.
RETRY_WINDOW_SECONDS = 14.5
BUTTON_TTL_SECONDS = 24 * 3600
ACCEPTED_CONTENT_TYPES = ("text/xml", "application/xml", "text/plain")
OFFICIAL_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
#: Where WeChat API calls go instead of OFFICIAL_API_BASE (a proxy; the tests' local fake).
API_BASE_ENV = "WECHAT_API_BASE_URL"

# Wording of the channel itself: domain responses (domain/wechat.yml) the channel fills in.
NON_TEXT_RESPONSE = "utter_wechat_non_text"
EMPTY_TEXT_RESPONSE = "utter_wechat_empty_text"
WELCOME_RESPONSE = "utter_wechat_welcome"
TRUNCATED_RESPONSE = "utter_wechat_truncated"
BUTTON_RESPONSE = "utter_wechat_button"
IMAGE_RESPONSE = "utter_wechat_image"
#: The reply part that stands for WeChat's transfer reply (a hand-over, WECHAT_HANDOFF=transfer).
#: A control character, so no text a citizen or the domain produces can ever equal it.
TRANSFER_PART = "\x00transfer_customer_service"
_NUMERIC_REPLY = re.compile(r"^\s*(?:回复)?\s*(\d{1,2})\s*[.。、)）]?\s*$")
# Query parameters as WeChat sends them; anything else cannot be signed by WeChat.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[!-~]{1,64}")  # printable ASCII; WeChat's are digits
_SIGNATURE = re.compile(r"[0-9a-fA-F]{40}")
_INTEGER_FIELD = re.compile(r"[0-9]{1,20}")  # MsgId (64-bit) and CreateTime
# Characters XML 1.0 cannot carry at all, even in CDATA.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

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

    def __init__(
        self, appid: str, secret: str, api_base_url: str = OFFICIAL_API_BASE, timeout: float = 5.0
    ) -> None:
        from wechatpy.client import WeChatClient

        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"

        class _Client(WeChatClient):
            API_BASE_URL = base

            def fetch_access_token(self):  # noqa: D401 - wechatpy naming
                return self._fetch_access_token(
                    url=base + "token",
                    params={
                        "grant_type": "client_credential",
                        "appid": self.appid,
                        "secret": self.secret,
                    },
                )

        self.client = _Client(appid, secret, timeout=timeout)

    async def send_text(self, openid: str, content: str) -> None:
        # wechatpy is synchronous (requests); keep the event loop free.
        await asyncio.to_thread(self.client.message.send_text, openid, content)


def wechat_api_base(environ: Mapping[str, str] = os.environ) -> str:
    """The WeChat API's base URL: WECHAT_API_BASE_URL, else WeChat's own API.

    Read here only: the channel's late answers, the handoff console's replies, grid notices
    and reminders all send through WeChatApiSender, and must reach the same host.
    """
    return (environ.get(API_BASE_ENV) or "").strip() or OFFICIAL_API_BASE


def customer_service_sender() -> Optional[WeChatApiSender]:
    """The account's customer-service sender (WECHAT_APPID and WECHAT_APPSECRET through
    bot.settings, wechat_api_base()); None when the app id or secret is not configured."""
    from bot.settings import get_settings

    settings = get_settings()
    if not (settings.wechat_appid and settings.wechat_appsecret):
        return None
    return WeChatApiSender(settings.wechat_appid, settings.wechat_appsecret, wechat_api_base())


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

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
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
            lines.append(channel_text(BUTTON_RESPONSE, number=len(buttons), title=title))
        if message.get("image"):
            lines.append(channel_text(IMAGE_RESPONSE, image=message["image"]))
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("text"), str):
            lines.append(custom["text"].strip())
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks), buttons


def map_numeric_reply(text: str, buttons: List[Dict[str, str]]) -> Optional[str]:
    """ "1" / "１" / "回复2" / a button's exact title → that button's payload, else None."""
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


def channel_text(name: str, **values: Any) -> str:
    """A domain response the channel sends itself, its `{name}`s filled in (domain/wechat.yml)."""
    from bot.domain_files import responses

    text = str(responses()[name][0]["text"])
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def capabilities_text(agent: Any) -> str:
    """The bot's own `utter_bot_capabilities`, so the welcome never drifts from the domain."""
    try:
        responses = agent.domain.responses
        text = responses["utter_bot_capabilities"][0]["text"]
        if text:
            return str(text)
    except Exception:  # no agent, no model yet, or the response was renamed
        pass
    return channel_text("utter_bot_capabilities")


def parse_xml_safely(text: str) -> Dict[str, str]:
    """The flat children of WeChat's <xml> root, each a plain string.

    DTDs (and so entity bombs) are refused. So is what WeChat never sends but a forged body
    can: a repeated field (a CDATA breakout such as `]]></Content><Content><![CDATA[…` makes a
    second Content) or a field with child elements. Downstream code may then rely on every
    value being one string.
    """
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
    fields: Dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or len(child):
            raise HttpProblem(400, "nested XML element")
        if child.tag in fields:
            raise HttpProblem(400, "repeated XML element")
        fields[child.tag] = child.text or ""
    return fields


@dataclass(frozen=True)
class Inbound:
    """One WeChat push after validation: the capped openid and the raw string fields."""

    openid: str
    account: str  # ToUserName: our account's id, the sender of the reply
    msg_type: str  # lower case
    fields: Dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


def read_inbound(fields: Dict[str, str]) -> Inbound:
    """Check the fields every push has; 400 for a body WeChat would never send."""
    account = cap_sender(fields.get("ToUserName"))
    if account is None:
        raise HttpProblem(400, "missing ToUserName")
    openid = cap_sender(fields.get("FromUserName"))
    if openid is None:
        raise HttpProblem(400, "missing FromUserName")
    msg_type = fields.get("MsgType", "").strip().lower()
    if not msg_type:
        raise HttpProblem(400, "missing MsgType")
    for name in ("MsgId", "CreateTime"):  # integers in every WeChat push; used in keys
        value = fields.get(name, "").strip()
        if value and not _INTEGER_FIELD.fullmatch(value):
            raise HttpProblem(400, f"invalid {name}")
    return Inbound(openid=openid, account=account, msg_type=msg_type, fields=fields)


def message_key(namespace: str, inbound: Inbound) -> str:
    """The de-duplication key: openid + MsgId, or openid + CreateTime + type without a MsgId.

    A MsgId is unique per user only; keyed by MsgId alone, a second user reusing it got the
    first user's cached reply. Hashed so that free-text parts stay unambiguous and short.
    """
    msg_id = inbound.get("MsgId")
    if msg_id:
        parts = [inbound.openid, "msg", msg_id]
    else:
        parts = [
            inbound.openid,
            "at",
            inbound.get("CreateTime"),
            inbound.msg_type,
            inbound.get("Event").lower(),
        ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"{namespace}:{digest[:40]}"


def _cdata(value: str) -> str:
    """`value` as CDATA that stays CDATA: `]]>` is split, characters XML cannot hold dropped."""
    return "<![CDATA[" + _XML_ILLEGAL.sub("", value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, content: str, now: float) -> str:
    """A passive text reply. Not wechatpy's TextReply: it pastes values into CDATA unescaped,
    so a reply echoing `]]>` (or an odd openid) produced XML that WeChat cannot read."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


def wants_transfer(messages: List[Dict[str, Any]]) -> bool:
    """The bot asked for WeChat's transfer reply (actions/handoff.py, WECHAT_HANDOFF=transfer)."""
    return any(
        isinstance(m.get("custom"), dict) and m["custom"].get("wechat_transfer") is True
        for m in messages
    )


def render_transfer_reply(to_user: str, from_user: str, now: float) -> str:
    """wechatpy's TransferCustomerServiceReply, with values that cannot break its CDATA."""
    from wechatpy.replies import TransferCustomerServiceReply

    def safe(value: str) -> str:
        return _XML_ILLEGAL.sub("", value).replace("]]>", "")

    return TransferCustomerServiceReply(
        source=safe(from_user), target=safe(to_user), time=int(now)
    ).render()


def busy_parts(agent: Any) -> List[str]:
    """`utter_system_busy` from the running model (bot.inputs), as WeChat text parts."""
    return split_text("\n".join(str(m.get("text") or "") for m in busy_messages(agent)))


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
            api_base_url=creds.get("api_base_url") or wechat_api_base(),
            reply_timeout=float(creds.get("reply_timeout") or DEFAULT_REPLY_TIMEOUT),
            timestamp_window=int(creds.get("timestamp_window") or DEFAULT_TIMESTAMP_WINDOW),
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
        timestamp_window: int = DEFAULT_TIMESTAMP_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("WeChat token is required (WECHAT_TOKEN)")
        self.token = token
        self.timestamp_window = timestamp_window
        # A (timestamp, nonce) is acceptable from timestamp - window to timestamp + window, so
        # it must be remembered for at least twice the window (plus some clock slack).
        self.nonce_ttl = 2 * timestamp_window + 60
        self.clock = clock  # wall clock (WeChat's timestamps are Unix seconds); tests inject
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
                await self._authenticate(request.args)
                echostr = request.args.get("echostr")
                if not echostr:
                    raise HttpProblem(400, "missing echostr")
                return response.text(echostr)
            except HttpProblem as problem:
                return self._refuse(problem)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except HttpProblem as problem:
                return self._refuse(problem)
            except Exception:  # a bug of ours: never leak a stack trace to the caller
                logger.exception("WeChat webhook failed")
                return response.text("internal error", status=500)

        return bp

    @staticmethod
    def _refuse(problem: HttpProblem) -> HTTPResponse:
        """A short plain-text answer and one warning line; the cause is the caller's input."""
        logger.warning("WeChat request refused (%d): %s", problem.status, problem.message)
        return response.text(problem.message, status=problem.status)

    async def _authenticate(self, args: Any, body: Optional[bytes] = None) -> None:
        """403 unless the request is signed with our token, fresh, and its nonce is new (or
        the request is a byte-identical re-send of the one that used it: a retry, which the
        message claim then answers with the first result).

        The nonce is recorded only for authentic, fresh requests, so forged requests cannot
        fill the store. If the store is unreachable the request is let through (with a
        warning): the ±window check still bounds a replay, and a Redis outage must not
        silence every citizen; the dedup claim makes the same choice.
        """
        signature, timestamp, nonce = (
            args.get("signature") or "",
            args.get("timestamp") or "",
            args.get("nonce") or "",
        )
        if not (signature and timestamp and nonce):
            raise HttpProblem(403, "missing signature")
        if not (
            _SIGNATURE.fullmatch(signature)
            and _TIMESTAMP.fullmatch(timestamp)
            and _NONCE.fullmatch(nonce)
        ):
            raise HttpProblem(403, "invalid signature")
        expected = hashlib.sha1(
            "".join(sorted([self.token, timestamp, nonce])).encode("utf-8")
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise HttpProblem(403, "invalid signature")
        if abs(self.clock() - int(timestamp)) > self.timestamp_window:
            raise HttpProblem(403, "timestamp out of range")
        try:
            first = await self.dedup.first_use(
                f"wechat-nonce:{self.appid or 'oa'}:{timestamp}:{nonce}",
                self.nonce_ttl,
                hashlib.sha256(body).hexdigest() if body is not None else None,
            )
        except Exception as exc:
            logger.warning(
                "nonce store unavailable (%s); accepting a signed, fresh request",
                type(exc).__name__,
            )
            first = True
        if not first:
            raise HttpProblem(403, "replayed request")

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise HttpProblem(413, "request body too large")
        args = request.args
        await self._authenticate(args, body)
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type and content_type not in ACCEPTED_CONTENT_TYPES:
            raise HttpProblem(415, "expected text/xml")
        if not body.strip():
            raise HttpProblem(400, "empty body")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpProblem(400, "body is not valid UTF-8")

        encrypted = (args.get("encrypt_type") or "raw").lower() == "aes"
        fields = parse_xml_safely(text)
        if encrypted:
            fields = parse_xml_safely(self._decrypt(fields, args))
        inbound = read_inbound(fields)

        agent = getattr(request.app.ctx, "agent", None) or self.welcome_agent
        try:
            reply = await self._reply_for(inbound, on_new_message, agent)
        except Exception:  # a bug of ours after the message was accepted: still answer
            logger.exception("WeChat message handling failed")
            reply = busy_parts(agent)[0]
        if reply is None:
            return response.text("success")

        if reply == TRANSFER_PART:
            xml = render_transfer_reply(inbound.openid, inbound.account, self.clock())
        else:
            xml = render_text_reply(inbound.openid, inbound.account, reply, self.clock())
        if encrypted and self._crypto is not None:
            xml = self._crypto.encrypt_message(xml, args.get("nonce"), args.get("timestamp"))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    def _decrypt(self, outer: Dict[str, str], args: Any) -> str:
        from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

        if self._crypto is None:
            raise HttpProblem(400, "safe mode is not configured (WECHAT_AES_KEY)")
        msg_signature = args.get("msg_signature")
        if not msg_signature or not outer.get("Encrypt"):
            raise HttpProblem(403, "missing msg_signature")
        try:
            plain = self._crypto.decrypt_message(
                {"Encrypt": outer["Encrypt"]},
                msg_signature,
                args.get("timestamp"),
                args.get("nonce"),
            )
        except InvalidSignatureException:
            raise HttpProblem(403, "invalid msg_signature")
        except InvalidAppIdException:
            raise HttpProblem(403, "message for another app id")
        except Exception:  # bad base64, bad padding, garbage after decryption
            raise HttpProblem(400, "cannot decrypt message")
        if isinstance(plain, str):
            return plain
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpProblem(400, "decrypted message is not valid UTF-8")

    # ---------------------------------------------------------------- message layer
    async def _reply_for(
        self, inbound: Inbound, on_new_message: OnNewMessage, agent: Any = None
    ) -> Optional[str]:
        """The passive reply text, or None to answer "success"."""
        kind = inbound.msg_type
        if kind == "event":
            if inbound.get("Event").lower().startswith("subscribe"):
                return channel_text(WELCOME_RESPONSE, capabilities=capabilities_text(agent))
            return None  # unsubscribe, menu views, location reports: nothing to say
        if kind == "text":
            raw = inbound.fields.get("Content", "")
        elif kind == "voice" and inbound.get("Recognition"):
            raw = inbound.fields["Recognition"]  # WeChat's speech recognition, when enabled
        else:
            return channel_text(NON_TEXT_RESPONSE)
        text = clean_text(raw)
        if not text:
            return channel_text(EMPTY_TEXT_RESPONSE)
        key = message_key(self.appid or "oa", inbound)
        return await self._answer(
            key, inbound.openid, text, inbound.get("MsgId"), on_new_message, agent
        )

    async def _answer(
        self,
        key: str,
        openid: str,
        text: str,
        msg_id: str,
        on_new_message: OnNewMessage,
        agent: Any = None,
    ) -> Optional[str]:
        started = time.monotonic()
        inflight = self._inflight.get(key)
        if inflight is None:
            # No await between get and set: concurrent retries in this process share it.
            task = asyncio.create_task(
                self._first_time(key, openid, text, msg_id, on_new_message, agent)
            )
            inflight = _Inflight(task=task)
            self._inflight[key] = inflight
            task.add_done_callback(lambda _done: self._forget_later(key))
        elif inflight.deferred:
            return None
        if self.sender is not None:
            budget = max(0.0, self.reply_timeout - (time.monotonic() - started))
        else:  # keep the connection; WeChat's retry of this MsgId shares the same task
            budget = max(0.0, self.retry_window - (time.monotonic() - inflight.created))
        try:
            parts = await asyncio.wait_for(asyncio.shield(inflight.task), timeout=budget)
        except asyncio.TimeoutError:
            if self.sender is None:
                # No customer-service API: this open request is the last chance to say anything.
                logger.warning(
                    "WeChat answer not ready within the retry window; sending utter_system_busy"
                )
                return busy_parts(agent)[0]
            if not inflight.deferred:
                inflight.deferred = True
                late_task = inflight.task
                inflight.task.add_done_callback(
                    lambda _done: self._deliver_late(late_task, openid, agent)
                )
                try:
                    await self.dedup.put_result(key, json.dumps({"status": "deferred"}))
                except Exception:
                    logger.exception("could not mark a WeChat message as deferred")
            return None
        if inflight.deferred:
            return None
        if not parts:  # another replica owns it and deferred it (or never answered)
            return None if self.sender is not None else busy_parts(agent)[0]
        if len(parts) > 1 and not inflight.tail_sent:
            inflight.tail_sent = True
            self._spawn(self._send_parts(openid, parts[1:], delay=self.tail_delay))
        return parts[0]

    async def _first_time(
        self,
        key: str,
        openid: str,
        text: str,
        msg_id: str,
        on_new_message: OnNewMessage,
        agent: Any = None,
    ) -> List[str]:
        try:
            first = await self.dedup.claim(key)
        except Exception:  # Redis down: answering once too often beats not answering
            logger.exception("dedup store unavailable; processing without a claim")
            first = True
        if not first:
            return await self._result_of_other_replica(key)
        parts = await self._run_bot(openid, text, msg_id, on_new_message, agent)
        inflight = self._inflight.get(key)
        if inflight is None or not inflight.deferred:
            try:
                await self.dedup.put_result(
                    key, json.dumps({"status": "done", "parts": parts}, ensure_ascii=False)
                )
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

    async def _run_bot(
        self, openid: str, text: str, msg_id: str, on_new_message: OnNewMessage, agent: Any = None
    ) -> List[str]:
        """The reply parts for one message; never empty (see `busy_parts`)."""
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
            await on_new_message(
                UserMessage(
                    payload or text,
                    collector,
                    openid,
                    input_channel=self.name(),
                    message_id=msg_id or None,
                    metadata={
                        "channel": "wechat",
                        "msg_id": msg_id,
                        "button_payload": bool(payload),
                    },
                )
            )
        except Exception:
            logger.exception("bot failed on a WeChat message")
            return busy_parts(agent)  # the last buttons stay valid for the citizen's retry
        if wants_transfer(collector.messages):
            return [TRANSFER_PART]
        rendered, new_buttons = render_bot_messages(collector.messages)
        if not rendered.strip():
            # Rasa swallows a failed custom action (action server down) and replies nothing.
            logger.warning(
                "the bot produced no reply to a WeChat message; sending utter_system_busy"
            )
            return busy_parts(agent)
        try:
            if new_buttons:
                await self.dedup.store.set(
                    buttons_key, json.dumps(new_buttons, ensure_ascii=False), BUTTON_TTL_SECONDS
                )
            elif buttons:
                await self.dedup.store.delete(buttons_key)  # old numbers mean nothing now
        except Exception:
            logger.exception("could not remember the WeChat buttons")
        parts = split_text(rendered)
        if len(parts) > 1 and self.sender is None:
            # Without the customer-service API only one passive text can reach the user.
            note = channel_text(TRUNCATED_RESPONSE)
            first = split_text(parts[0], WECHAT_TEXT_LIMIT - len(note.encode()) - 1)[0]
            parts = [f"{first}\n{note}"]
        return parts

    # ---------------------------------------------------------------- background delivery
    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _forget_later(self, key: str) -> None:
        loop = asyncio.get_event_loop()
        loop.call_later(self.dedup.ttl, self._inflight.pop, key, None)

    def _deliver_late(
        self, task: "asyncio.Task[List[str]]", openid: str, agent: Any = None
    ) -> None:
        if task.cancelled() or task.exception() is not None:
            parts = busy_parts(agent)  # the citizen was told "success": never leave silence
        else:
            # Empty only when another replica owns the message (and so its delivery); our
            # own runs always have parts (busy_parts when the bot said nothing).
            parts = task.result()
        self._spawn(self._send_parts(openid, parts, delay=0))

    async def _send_parts(self, openid: str, parts: List[str], delay: float) -> None:
        if not parts:
            return
        if self.sender is None:
            logger.warning(
                "no customer-service sender (WECHAT_APPID/WECHAT_APPSECRET unset); "
                "%d late reply part(s) for a WeChat user were dropped",
                len(parts),
            )
            return
        if delay:
            await asyncio.sleep(delay)  # let the passive reply reach the user first
        for part in parts:
            if part == TRANSFER_PART:  # only a passive reply can transfer; nothing to send
                continue
            try:
                await self.sender.send_text(openid, part)
            except Exception:
                logger.exception("customer-service message failed")
                return

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for background deliveries (used by tests and graceful shutdown)."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
