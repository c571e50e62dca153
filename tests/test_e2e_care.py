"""Care end to end over REST against the real servers (issue 14): the satisfaction follow-up
after an answer and after a booking, and the booking's reminder kept for the web chat and
handed out by the inbox channel of the running Rasa server."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from sqlalchemy import select

from bot.booking import BookingRepository
from bot.booking.db import make_engine
from bot.care.models import SatisfactionRating
from bot.reminders import run_reminders
from tests.live import LiveBot
from tests.people import fresh_person
from tests.test_e2e_booking import _book

ASK = "满意吗"


def _payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


def _text(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def _ratings(bot: LiveBot, sender: str) -> list[Any]:
    engine = make_engine(bot.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            table = SatisfactionRating.__table__
            query = select(table).where(table.c.conversation_id.like(f"%:{sender}"))
            return conn.execute(query).all()
    finally:
        engine.dispose()


def test_thanks_after_an_answer_asks_once_and_keeps_the_rating_and_comment(live_bot: LiveBot):
    sender = f"web-{uuid.uuid4().hex}"
    assert "身份证" in live_bot.text("办护照要带什么材料", sender)
    thanked = live_bot.say("谢谢", sender)
    assert "不客气" in _text(thanked) and ASK in _text(thanked)
    satisfied = next(p for p in _payloads(thanked) if '"satisfied"' in p)
    assert "意见或建议" in live_bot.text(satisfied, sender)
    assert "收到" in live_bot.text("希望周末也能办证", sender)
    again = live_bot.text("谢谢", sender)
    assert "不客气" in again and ASK not in again
    (row,) = _ratings(live_bot, sender)
    assert (row.topic, row.channel, row.rating) == ("passport", "rest", "satisfied")
    assert row.comment == "希望周末也能办证"


def test_a_booking_asks_a_typed_rating_counts_and_the_reminder_reaches_the_web_chat(
    live_bot: LiveBot,
):
    sender = f"web-{uuid.uuid4().hex}"
    code = _book(live_bot, sender, fresh_person())
    assert "意见或建议" in live_bot.text("不满意", sender)  # typed, not tapped
    assert "谢谢您的评价" in live_bot.text("不用了", sender)
    (row,) = _ratings(live_bot, sender)
    assert (row.topic, row.rating, row.comment) == ("booking", "dissatisfied", None)

    engine = make_engine(live_bot.env["DATABASE_URL"])
    try:
        view = BookingRepository(engine).get(code)
        assert view is not None
        done = run_reminders(engine, day=view.day)
        assert code in done.kept
    finally:
        engine.dispose()
    poll = f"{live_bot.url}/webhooks/inbox/poll"
    stranger = requests.post(poll, json={"sender": f"web-{uuid.uuid4().hex}"}, timeout=30)
    assert stranger.status_code == 200 and stranger.json() == []
    mine = requests.post(poll, json={"sender": sender}, timeout=30).json()
    assert len(mine) == 1 and code in mine[0]["text"] and "取消预约" in mine[0]["text"]
    assert requests.post(poll, json={"sender": sender}, timeout=30).json() == []
