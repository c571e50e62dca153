"""Browser tests: Playwright (sync API) driving Debian's /usr/bin/chromium, headless.

Two sets:
- page behaviour against a stand-in server (Rasa's REST channel + our channels, with a
  scripted agent): bubbles, typing indicator, buttons, reload, phone layout, offline, print;
- the real assistant through the `live_bot` fixture (running rasa server with actions).

Screenshots go to results/. Without chromium the tests skip with a reason; under
REQUIRE_SERVICES=1 that is a failure (tests.conftest.need_service).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import urlparse

import pytest
from sanic import Sanic

from bot.settings import PROJECT_ROOT
from tests.conftest import need_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
RESULTS = PROJECT_ROOT / "results"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
DESK = {"viewport": {"width": 1366, "height": 900}, "locale": "zh-CN"}
MOTHER = "我妈妈是四川户口，想在湖州办护照"
BEREAVEMENT = "我爸爸在澳大利亚去世了，我要马上赶过去奔丧，可是护照过期了"
TIMEOUT_MS = 30_000

Sanic.test_mode = True


# ------------------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        need_service(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from playwright.sync_api import sync_playwright

    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Context:
    """A browser context that refuses (and records) every request to another host."""

    def __init__(self, browser: Any, base: str, **options: Any) -> None:
        self.ctx = browser.new_context(**options)
        self.ctx.set_default_timeout(TIMEOUT_MS)
        self.external: List[str] = []
        allowed = urlparse(base).netloc

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(("data:", "blob:")) or urlparse(url).netloc == allowed:
                route.continue_()
            else:
                self.external.append(url)
                route.abort()

        self.ctx.route("**/*", guard)
        self.page = self.ctx.new_page()
        self.errors: List[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def close(self) -> None:
        self.ctx.close()
        assert self.external == [], f"the page tried to reach other hosts: {self.external}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"


def shot(page: Any, name: str, full_page: bool = False) -> None:
    page.screenshot(path=str(RESULTS / f"browser_{name}.png"), full_page=full_page)


def bot_bubbles(page: Any) -> List[str]:
    return page.locator(".msg.bot:not(.intro):not(.typing) .bubble").all_inner_texts()


def ask(page: Any, text: str) -> str:
    """Type into the chat, press Enter, return the newest bot bubble after the answer."""
    before = len(bot_bubbles(page))
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('.msg.bot:not(.intro):not(.typing) .bubble').length > n",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    page.wait_for_selector(".msg.typing", state="detached")
    return bot_bubbles(page)[-1]


# ------------------------------------------------------------------------------ stand-in server
class ScriptedAgent:
    """Replies from the real knowledge base, with buttons, after a visible pause."""

    def __init__(self) -> None:
        from tests.test_channels_http import FakeNluAgent

        self.nlu = FakeNluAgent()
        self.senders: List[str] = []
        self.texts: List[str] = []

    def is_ready(self) -> bool:
        return True

    async def parse_message(self, text: str) -> Dict[str, Any]:
        return await self.nlu.parse_message(text)

    async def handle_message(self, message: Any) -> None:
        from bot.kb import get_kb

        self.senders.append(message.sender_id)
        self.texts.append(message.text)
        await asyncio.sleep(0.8)  # long enough to see the typing indicator
        kb = get_kb()
        out = message.output_channel
        if message.text.startswith("/inform"):
            answer = kb.answer("documents", {"service": "passport", "applicant_type": "minor"})
            await out.send_text_message(message.sender_id, answer.render())
        elif "护照" in message.text:
            answer = kb.answer("documents", {"service": "passport"})
            await out.send_text_with_buttons(
                message.sender_id,
                answer.render(),
                [
                    {"title": "小孩办护照呢", "payload": '/inform{"applicant_type":"minor"}'},
                    {"title": "多少钱", "payload": "护照多少钱"},
                ],
            )
        else:
            await out.send_text_message(message.sender_id, f"收到：{message.text}")


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple]:
    from rasa.core.channels.channel import register

    from bot.channels.guide import GuideInput
    from bot.channels.guide_auth import GuideAuth, Mode
    from bot.channels.rest import RestChannel
    from bot.channels.webchat import WebChatInput
    from tests.test_wechat import ServerThread

    app = Sanic(f"browser_standin_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = ScriptedAgent()
    # The console in loopback mode (no staff password): the browser runs on this machine.
    guide = GuideInput(auth=GuideAuth(Mode.LOOPBACK))
    register([RestChannel(), WebChatInput(), guide], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        yield server.base, app.ctx.agent
    finally:
        server.stop()


# ------------------------------------------------------------------------------ web chat (stand-in)
def test_webchat_bubbles_buttons_and_reload_on_a_phone(browser, standin):
    base, agent = standin
    c = Context(browser, base, **PHONE)
    page = c.page
    try:
        page.goto(f"{base}/webchat/")
        assert page.title() == "出入境服务助手"
        page.fill("#input", "办护照要带什么材料")
        page.press("#input", "Enter")
        page.wait_for_selector(".msg.typing", state="visible")  # the typing indicator
        shot(page, "webchat_typing")
        page.wait_for_selector(".msg.typing", state="detached")
        answer = bot_bubbles(page)[-1]
        assert "居民身份证" in answer
        assert page.locator(".msg.user .bubble").last.inner_text() == "办护照要带什么材料"
        shot(page, "webchat_answer")

        # Click a button: the title shows as the user's bubble, the payload goes to the bot.
        page.get_by_role("button", name="小孩办护照呢").click()
        page.wait_for_function(
            "() => document.querySelectorAll('.msg.bot:not(.intro):not(.typing) .bubble').length >= 2"
        )
        assert page.locator(".msg.user .bubble").last.inner_text() == "小孩办护照呢"
        assert agent.texts[-1] == '/inform{"applicant_type":"minor"}'
        assert "监护" in bot_bubbles(page)[-1]
        assert page.get_by_role(
            "button", name="多少钱", exact=True
        ).is_disabled()  # old buttons are spent

        # Layout: nothing wider than the phone, the composer stays on screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        box = page.locator("#composer").bounding_box()
        assert box and box["y"] + box["height"] <= 844 + 1

        # Reload: same sender id, same visible conversation, still talking to the same session.
        sender = page.evaluate("localStorage.getItem('crj.webchat.sender')")
        before = page.locator(".msg:not(.intro) .bubble").all_inner_texts()
        page.reload()
        page.wait_for_selector(".msg.bot:not(.intro) .bubble")
        assert page.locator(".msg:not(.intro) .bubble").all_inner_texts() == before
        assert page.evaluate("localStorage.getItem('crj.webchat.sender')") == sender
        ask(page, "谢谢")
        assert set(agent.senders) == {sender}
        shot(page, "webchat_after_reload", full_page=False)

        # "新对话" starts over with a new sender id.
        page.get_by_role("button", name="新对话").click()
        assert page.locator(".msg:not(.intro)").count() == 0
        assert page.evaluate("localStorage.getItem('crj.webchat.sender')") != sender
    finally:
        c.close()


def test_webchat_suggestion_chip_and_network_error(browser, standin):
    base, _ = standin
    c = Context(browser, base, **PHONE)
    page = c.page
    try:
        page.goto(f"{base}/webchat/")
        page.get_by_role("button", name="港澳签注多少钱").click()
        page.wait_for_selector(".msg.typing", state="detached")
        page.wait_for_function(
            "() => document.querySelectorAll('.msg.bot:not(.intro):not(.typing) .bubble').length >= 1"
        )
        assert bot_bubbles(page)[-1] == "收到：港澳签注多少钱"
        # the server goes away: a polite message, not a broken page
        page.route("**/webhooks/rest/webhook", lambda route: route.abort())
        page.fill("#input", "你好")
        page.press("#input", "Enter")
        page.wait_for_selector(".msg.error")
        assert "网络" in page.locator(".msg.error .bubble").inner_text()
    finally:
        c.close()


# ------------------------------------------------------------------------------ guide console (stand-in)
def analyze_in_console(page: Any, text: str) -> None:
    page.fill("#situation", text)
    page.click("#analyze")
    page.wait_for_selector(".card.summary")
    page.wait_for_function(
        "t => document.querySelector('.quote') && document.querySelector('.quote').textContent.includes(t)",
        arg=text,
    )


def test_guide_console_checklist_green_channel_copy_and_print(browser, standin):
    base, _ = standin
    c = Context(browser, base, **DESK)
    c.ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = c.page
    try:
        page.goto(f"{base}/guide/")
        page.wait_for_function("() => document.querySelectorAll('#service option').length > 1")
        analyze_in_console(page, MOTHER)
        checklist = page.locator(".section-documents .checklist li").all_inner_texts()
        assert any("居民身份证" in item for item in checklist), checklist
        assert "湖州市市民服务中心出入境接待大厅" in page.locator(".halls").inner_text()
        assert "未识别到紧急情况" in page.locator(".green").inner_text()
        assert "120" in page.locator(".section-fee").inner_text()
        shot(page, "guide_mother", full_page=True)

        page.click("#copy")
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('已复制')"
        )
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "居民身份证" in copied and MOTHER in copied

        page.emulate_media(media="print")
        assert not page.locator("#ask").is_visible()
        shot(page, "guide_mother_print", full_page=True)
        page.emulate_media(media="screen")

        analyze_in_console(page, BEREAVEMENT)
        green = page.locator(".green.yes")
        assert "奔丧" in green.inner_text()
        assert "死亡证明" in green.inner_text()
        assert "去世" in green.locator(".cues").inner_text()
        shot(page, "guide_bereavement", full_page=True)
    finally:
        c.close()


def test_guide_console_on_a_phone_and_picked_service(browser, standin):
    base, _ = standin
    c = Context(browser, base, **PHONE)
    page = c.page
    try:
        page.goto(f"{base}/guide/")
        page.wait_for_function("() => document.querySelectorAll('#service option').length > 1")
        page.select_option("#service", "taiwan_permit")
        page.click("#analyze")
        page.wait_for_selector(".section-documents")
        assert "往来台湾通行证" in page.locator(".card.summary h2").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "guide_phone")
        page.fill("#situation", "")
        page.select_option("#service", "")
        page.click("#analyze")
        assert "请输入" in page.locator("#status").inner_text()
    finally:
        c.close()


STAFF_PASSWORD = "导办台-browser-test-42"


@pytest.fixture(scope="module")
def staff_standin() -> Iterator[str]:
    """The console with a staff password configured, as in production."""
    from rasa.core.channels.channel import register

    from bot.channels import guide_auth
    from bot.channels.guide import GuideInput
    from bot.channels.guide_auth import GuideAuth
    from tests.test_wechat import ServerThread

    auth = GuideAuth.from_env(
        {
            guide_auth.PASSWORD_ENV: guide_auth.hash_password(STAFF_PASSWORD, iterations=1000),
            guide_auth.SECRET_ENV: "browser-test-secret-" + "x" * 32,
        }
    )
    app = Sanic(f"browser_staff_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = ScriptedAgent()
    register([GuideInput(auth=auth)], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        yield server.base
    finally:
        server.stop()


def test_guide_console_staff_login_form_then_console_then_logout(browser, staff_standin):
    base = staff_standin
    c = Context(browser, base, **DESK)
    page = c.page
    try:
        page.goto(f"{base}/guide/")
        assert page.url == f"{base}/guide/login"  # no session: the login page
        assert "登录" in page.title()
        assert page.locator("#password").get_attribute("type") == "password"
        page.screenshot(path="/tmp/guide_login.png")
        shot(page, "guide_login")

        page.fill("#password", "wrong-password")
        page.click("#login")
        page.wait_for_selector("#login-error:has-text('密码不正确')")
        shot(page, "guide_login_wrong_password")
        assert page.context.cookies() == []

        page.fill("#password", STAFF_PASSWORD)
        page.click("#login")
        page.wait_for_url(f"{base}/guide/")
        cookie = next(k for k in page.context.cookies() if k["name"] == "guide_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/guide"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
        page.wait_for_function("() => document.querySelectorAll('#service option').length > 1")
        page.wait_for_selector("#logout", state="visible")
        analyze_in_console(page, MOTHER)
        assert any(
            "居民身份证" in item
            for item in page.locator(".section-documents .checklist li").all_inner_texts()
        )
        shot(page, "guide_after_login")

        page.click("#logout button")
        page.wait_for_url(f"{base}/guide/login")
        page.goto(f"{base}/guide/")
        assert page.url == f"{base}/guide/login"
    finally:
        c.close()


# ------------------------------------------------------------------------------ the real assistant
@pytest.fixture()
def live(request) -> str:
    try:
        bot = request.getfixturevalue("live_bot")
        return str(getattr(bot, "url", bot)).rstrip("/")
    except pytest.FixtureLookupError:
        need_service("the live_bot fixture is not defined in tests/conftest.py yet")


def test_live_webchat_question_button_and_reload(browser, live):
    c = Context(browser, live, **PHONE)
    page = c.page
    try:
        page.goto(f"{live}/webchat/")
        answer = ask(page, "办护照要带什么材料")
        assert "身份证" in answer, answer
        shot(page, "live_webchat_answer")
        follow = ask(page, "小孩呢")  # needs the server-side conversation (sender id)
        assert "监护" in follow, follow

        # a button: a suggestion chip, then any button the bot itself offered
        before = len(bot_bubbles(page))
        page.get_by_role("button", name="港澳签注多少钱").click()
        page.wait_for_function(
            "n => document.querySelectorAll('.msg.bot:not(.intro):not(.typing) .bubble').length > n",
            arg=before,
        )
        page.wait_for_selector(".msg.typing", state="detached")
        assert page.locator(".msg.user .bubble").last.inner_text() == "港澳签注多少钱"
        assert "元" in bot_bubbles(page)[-1]
        offered = page.locator(".msg.bot:not(.intro) .buttons button:enabled")
        if offered.count():
            title = offered.first.inner_text()
            offered.first.click()
            page.wait_for_selector(".msg.typing", state="detached")
            assert page.locator(".msg.user .bubble").last.inner_text() == title

        before = page.locator(".msg:not(.intro) .bubble").all_inner_texts()
        page.reload()
        page.wait_for_selector(".msg.bot:not(.intro) .bubble")
        assert page.locator(".msg:not(.intro) .bubble").all_inner_texts() == before
        shot(page, "live_webchat_reloaded")
    finally:
        c.close()


def test_live_guide_console(browser, live):
    c = Context(browser, live, **DESK)
    page = c.page
    try:
        page.goto(f"{live}/guide/")
        analyze_in_console(page, MOTHER)
        checklist = page.locator(".section-documents .checklist li").all_inner_texts()
        assert any("身份证" in item for item in checklist), checklist
        assert page.locator(".halls").is_visible()
        shot(page, "live_guide_mother", full_page=True)
        analyze_in_console(page, BEREAVEMENT)
        green = page.locator(".green.yes")
        assert "奔丧" in green.inner_text() and "死亡证明" in green.inner_text()
        shot(page, "live_guide_bereavement", full_page=True)
    finally:
        c.close()


def test_live_guide_console_behind_the_staff_password(browser, tmp_path):
    """`rasa run` reads GUIDE_PASSWORD_HASH / GUIDE_SESSION_SECRET itself: login, then real NLU."""
    from bot.channels import guide_auth
    from tests.live import MODEL, start_live_bot, stop

    if not MODEL.exists():
        need_service("no trained model (models/current.tar.gz)")
    bot, procs = start_live_bot(
        tmp_path,
        extra_env={
            guide_auth.PASSWORD_ENV: guide_auth.hash_password(STAFF_PASSWORD),
            guide_auth.SECRET_ENV: secrets.token_urlsafe(32),
        },
    )
    try:
        c = Context(browser, bot.url, **DESK)
        page = c.page
        try:
            page.goto(f"{bot.url}/guide/")
            assert page.url == f"{bot.url}/guide/login"
            page.fill("#password", STAFF_PASSWORD)
            page.click("#login")
            page.wait_for_url(f"{bot.url}/guide/")
            analyze_in_console(page, MOTHER)
            checklist = page.locator(".section-documents .checklist li").all_inner_texts()
            assert any("身份证" in item for item in checklist), checklist
            shot(page, "live_guide_after_login", full_page=True)
        finally:
            c.close()
    finally:
        stop(procs)
