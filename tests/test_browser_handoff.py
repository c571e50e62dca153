"""Browser tests of the human handoff: the console's queue page, and the web chat receiving a
staff reply by polling. Playwright with Debian's chromium (tests/test_browser.py's fixtures),
a stand-in server with the real channels and a real SQLite queue.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.booking import dispose_engines, migrate
from bot.handoff.queue import HandoffQueue
from bot.settings import get_settings
from tests.test_browser import DESK, PHONE, Context, bot_bubbles, browser, shot  # noqa: F401

Sanic.test_mode = True


class HandoffAgent:
    """Stands in for the bot: "转人工" opens a real case and hands the chat its token."""

    def __init__(self) -> None:
        self.tokens: List[str] = []

    def is_ready(self) -> bool:
        return True

    async def parse_message(self, text: str) -> dict:
        return {"text": text, "intent": {"name": None, "confidence": 0.0}, "entities": []}

    async def handle_message(self, message: Any) -> None:
        opened = HandoffQueue().open_case(
            sender_id=message.sender_id,
            channel="rest",
            reason="request",
            summary={"turns": [{"from": "citizen", "text": message.text}]},
        )
        if opened.token:
            self.tokens.append(opened.token)
        out = message.output_channel
        await out.send_text_message(message.sender_id, "已为您转人工服务。")
        await out.send_custom_json(message.sender_id, {"handoff": {"token": opened.token}})


@pytest.fixture()
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    from bot.channels.guide import GuideInput
    from bot.channels.guide_auth import GuideAuth, Mode
    from bot.channels.rest import RestChannel
    from bot.channels.webchat import WebChatInput
    from tests.test_wechat import ServerThread

    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url, sync=False)
    app = Sanic(f"handoff_browser_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = HandoffAgent()
    guide = GuideInput(auth=GuideAuth(Mode.LOOPBACK), repository_factory=lambda: None)  # type: ignore[arg-type,return-value]
    register([RestChannel(), WebChatInput(), guide], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        yield server.base, app.ctx.agent
    finally:
        server.stop()
        dispose_engines()
        get_settings.cache_clear()


def test_queue_page_emergency_first_take_reply_close(browser: Any, standin: tuple) -> None:  # noqa: F811
    base, _agent = standin
    queue = HandoffQueue()
    ordinary = queue.open_case(
        sender_id="web-1",
        channel="rest",
        reason="request",
        summary={"topic_name": "普通护照", "turns": [{"from": "citizen", "text": "护照要多久"}]},
    )
    urgent = queue.open_case(
        sender_id="web-2",
        channel="webchat",
        reason="emergency",
        emergency="bereavement",
        summary={
            "topic_name": "普通护照",
            "emergency_name": "奔丧",
            "slots": [{"slot": "booking_phone", "label": "手机号", "value": "138****5678"}],
            "turns": [{"from": "citizen", "text": "我爸在国外去世了 电话13812345678"}],
        },
    )
    c = Context(browser, base, **DESK)
    page = c.page
    try:
        page.goto(f"{base}/guide/queue")
        page.wait_for_function(
            "() => document.querySelectorAll('#cases li[data-case]').length === 2"
        )
        first = page.locator("#cases li[data-case]").first
        assert first.get_attribute("data-case") == str(urgent.case_id)
        assert "emergency" in (first.get_attribute("class") or "") and "紧急" in first.inner_text()
        shot(page, "handoff_queue")
        first.click()
        page.wait_for_selector("#take")
        summary = page.locator("#case").inner_text()
        assert "138****5678" in summary and "13812345678" not in summary
        page.click("#take")
        page.wait_for_selector("#reply-text")
        page.fill("#reply-text", "请带上死亡证明和户口簿")
        page.click("#send-reply")
        page.wait_for_function(
            "t => document.querySelector('#case .messages').innerText.includes(t)",
            arg="请带上死亡证明和户口簿",
        )
        # the citizen writes meanwhile: it shows up without re-opening the case
        queue.add_citizen_message(urgent.case_id, "好的，明天上午去")
        page.wait_for_function(
            "t => document.querySelector('#case .messages').innerText.includes(t)",
            arg="好的，明天上午去",
        )
        shot(page, "handoff_case")
        page.click("#close")
        page.wait_for_function("() => !document.querySelector('#close')")
        # a colleague's case: the messages say which member of staff took it
        queue.take(ordinary.case_id, "colleague", staff_name="王敏")
        page.locator(f"#cases li[data-case='{ordinary.case_id}']").click()
        page.wait_for_function(
            "() => document.querySelector('#case .messages')?.innerText.includes('王敏')"
        )
    finally:
        c.close()
    state = queue.take_pending("web-2", "webchat")
    assert [m.kind for m in state.pending] == ["taken", "text", "closed"] and not state.open
    assert queue.take_pending("web-1", "rest").open  # the other citizen still waits
    assert ordinary.position == 1


def test_the_web_chat_shows_a_staff_reply_without_sending_anything(
    browser: Any,
    standin: tuple,  # noqa: F811
) -> None:
    base, agent = standin
    c = Context(browser, base, **PHONE)
    page = c.page
    try:
        page.goto(f"{base}/webchat/")
        page.fill("#input", "转人工")
        page.press("#input", "Enter")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.msg.bot .bubble')]"
            ".some(b => b.innerText.includes('已为您转人工服务'))"
        )
        queue = HandoffQueue()
        case = queue.cases("desk")[0]
        queue.take(case.id, "desk")
        queue.reply(case.id, "desk", "您好，请问要办什么证件？")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.msg.bot .bubble')]"
            ".some(b => b.innerText.includes('【工作人员】您好，请问要办什么证件？'))",
            timeout=20_000,
        )
        shot(page, "handoff_webchat_reply")
        assert any("工作人员已接入" in b for b in bot_bubbles(page))
    finally:
        c.close()
    polled = HandoffQueue().poll(agent.tokens[0])
    assert polled is not None and polled[2] == []  # the page's poll delivered both, once
