"""Booking end to end over REST against the real servers: book → look up → reschedule → cancel."""
from __future__ import annotations

import re
import uuid
from typing import Any

from tests.live import LiveBot

ID = "33052119900315001X"
PHONE = "13812345678"
CODE = re.compile(r"预约号[:：]\s*([A-Z]{2}-(?:[A-Z0-9]{8}|[A-Z0-9]{5}))(?![A-Z0-9])")


def _payloads(replies: list[dict[str, Any]], marker: str) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or [] if marker in b["payload"]]


def _text(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def _book(bot: LiveBot, sender: str) -> str:
    replies = bot.say("我想预约办护照", sender)
    replies = bot.say(_payloads(replies, "booking_hall")[0], sender)
    replies = bot.say(_payloads(replies, "booking_date")[0], sender)
    replies = bot.say(_payloads(replies, "booking_time")[0], sender)
    assert "姓名" in _text(replies)
    assert "身份证" in bot.text("王小明", sender)
    assert "手机" in bot.text(ID, sender)
    summary = bot.text(PHONE, sender)
    assert "330521********001X" in summary and "138****5678" in summary
    assert ID not in summary and PHONE not in summary
    done = bot.text("确认", sender)
    assert "预约成功" in done, done
    return CODE.search(done).group(1)


def test_book_look_up_reschedule_and_cancel(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    code = _book(live_bot, sender)

    mine = live_bot.text("我的预约", sender)
    assert code in mine and "138****5678" in mine

    stranger = uuid.uuid4().hex
    asked = live_bot.text(f"帮我查一下预约 {code}", stranger)
    assert "后四位" in asked and PHONE not in asked
    found = live_bot.text("5678", stranger)
    assert code in found and "330521********001X" in found

    replies = live_bot.say(f"我要改约 {code}", sender)
    dates = _payloads(replies, "booking_date")
    assert dates, _text(replies)
    replies = live_bot.say(dates[-1], sender)
    times = _payloads(replies, "booking_time")
    assert times, _text(replies)
    replies = live_bot.say(times[-1], sender)
    text = _text(replies)
    if "确认" in text and code not in text.split("确认")[-1]:
        text = live_bot.text("确认", sender)
    assert code in text and ("改约成功" in text or "已改" in text), text

    asked = live_bot.text(f"取消预约 {code}", sender)
    assert "确认" in asked or "确定" in asked, asked
    cancelled = live_bot.text("确认", sender)
    assert "取消" in cancelled and code in cancelled, cancelled
    assert code not in live_bot.text("我的预约", sender) or "已取消" in live_bot.text("我的预约", sender)

    logs = live_bot.logs()
    assert ID not in logs and PHONE not in logs, "no clear ID or phone in any server log"
