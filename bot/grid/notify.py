"""Telling the citizen that their ticket moved on, on the channel they reported from.

- WeChat: a customer-service message (客服消息) through wechatpy, as bot.channels.wechat
  sends late answers (bot.channels.wechat.customer_service_sender: WECHAT_APPID,
  WECHAT_APPSECRET and, for tests or a proxy, WECHAT_API_BASE_URL). WeChat accepts such a
  message only within 48 hours of the citizen's last message: a refused or failed send
  leaves the notice undelivered, to be tried again (`python -m bot.grid notify`), never lost.
- REST and the web chat have no push: the notice waits in grid_notices and goes out with
  the reply to the citizen's next message (bot.channels.rest calls `notices_for_reply`).

The sentence is the domain response `utter_grid_notice` (Chinese, or its English variant
when the report was made in English), filled with the ticket code, stage and platform.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Optional, Protocol

from bot.domain_files import render
from bot.grid.kb import GridKB, get_grid_kb
from bot.grid.repository import GridRepository, NoticeView

__all__ = [
    "NOTICE_RESPONSE",
    "notice_text",
    "wechat_sender",
    "deliver",
    "deliver_pending",
    "notices_for_reply",
]

log = logging.getLogger(__name__)

NOTICE_RESPONSE = "utter_grid_notice"
WECHAT_CHANNEL = "wechat"


class TextSender(Protocol):
    async def send_text(self, openid: str, content: str) -> None: ...


def notice_text(notice: NoticeView, kb: Optional[GridKB] = None) -> str:
    """utter_grid_notice for one notice, in the language the report was made in."""
    kb = kb or get_grid_kb()
    english = notice.language == "en"
    stage = kb.stage(notice.stage)
    platform = kb.platforms[notice.platform]
    return render(
        NOTICE_RESPONSE,
        notice.language,
        code=notice.code,
        stage=stage.name_en if english else stage.name,
        platform=platform.name_en if english else platform.name,
    )


def wechat_sender() -> Optional[TextSender]:
    """The customer-service sender for this deployment, None without app id and secret."""
    from bot.channels.wechat import customer_service_sender

    return customer_service_sender()


async def deliver(
    repo: GridRepository, notice: NoticeView, sender: Optional[TextSender] = None
) -> str:
    """Send a WeChat notice now; keep any other for the next message. Returns "sent",
    "kept" (REST/web chat, or no WeChat sender configured) or "failed" (kept for a retry)."""
    if notice.channel != WECHAT_CHANNEL:
        return "kept"
    if sender is None:
        log.warning("grid notice %s kept: no WeChat customer-service credentials", notice.id)
        return "kept"
    try:
        await sender.send_text(notice.sender_id, notice_text(notice, repo.kb))
    except Exception as exc:  # WeChat refused (48-hour window, quota) or is unreachable
        log.warning("grid notice %s not sent over WeChat: %s", notice.id, exc.__class__.__name__)
        return "failed"
    repo.mark_delivered(notice.id, "wechat")
    return "sent"


async def deliver_pending(
    repo: GridRepository, sender: Optional[TextSender] = None
) -> dict[str, int]:
    """Retry every undelivered WeChat notice (the CLI's `notify`); counts by outcome."""
    counts = {"sent": 0, "kept": 0, "failed": 0}
    for notice in repo.undelivered(channel=WECHAT_CHANNEL):
        counts[await deliver(repo, notice, sender)] += 1
    return counts


def notices_for_reply(
    sender_id: str, channel: str, repo: Optional[GridRepository] = None
) -> list[str]:
    """The texts of the notices waiting for this REST/web-chat citizen, now marked
    delivered. Never raises: an outage or a missing table only means no notice this turn."""
    try:
        repo = repo or GridRepository()
        return [notice_text(n, repo.kb) for n in repo.take_notices(sender_id, channel)]
    except Exception as exc:
        log.warning("grid notices not read: %s", exc.__class__.__name__)
        return []


def as_messages(texts: Iterable[str], recipient_id: str) -> list[dict[str, Any]]:
    """Channel messages (REST's {"recipient_id", "text"}) for notice texts."""
    return [{"recipient_id": recipient_id, "text": t} for t in texts if t]
