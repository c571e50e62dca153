"""The guide console's satisfaction section in headless Chromium (Playwright, as
tests/test_browser.py): a staff member logs in with the password and reads the figures
bot.care.report computes from seeded ratings and stored unanswered questions (masked).

The stores are tests/test_care_report.py's: ratings 2026-W48 passport 满意 + 不满意,
2026-W49 passport 满意 and booking 满意 (one more asked, never rated); fallbacks 护照加急能找谁
twice in W48, and one with a phone number in W49.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from sanic import Sanic

from bot.booking import dispose_engines
from bot.channels.guide_auth import GuideAuth
from bot.settings import get_settings
from tests.test_browser import DESK, RESULTS, Context, browser, shot  # noqa: F401 - fixture
from tests.test_care_report import PHONE, seed_stores
from tests.test_guide_auth import PASSWORD, env, serve  # noqa: F401 - fixture

Sanic.test_mode = True


@pytest.fixture()
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """tests/test_care_report.py's stores, seeded in a worker thread: Playwright's sync API
    keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(seed_stores, tmp_path, monkeypatch).result()
    dispose_engines()
    get_settings.cache_clear()


def _rows(page: Any, table: int) -> List[List[str]]:
    """The cells of the care section's n-th table, header row first."""
    return page.evaluate(
        """n => [...document.querySelectorAll('#care-body table')[n].rows]
               .map(r => [...r.cells].map(c => c.innerText.trim()))""",
        table,
    )


def test_staff_log_in_and_read_the_figures_by_topic_and_week(
    browser: Any,  # noqa: F811
    stores: tuple,
    serve: Any,  # noqa: F811
) -> None:
    srv = serve(GuideAuth.from_env(env()))
    base = srv.base
    ctx = Context(browser, base, **DESK)
    page = ctx.page
    try:
        page.goto(f"{base}/guide/")
        page.wait_for_selector("#password")  # the session check sent us to the login form
        assert page.locator("#care").count() == 0  # no figures before logging in
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector("#care:not([hidden]) #care-body table")
        assert page.inner_text("#care-title") == "满意度与未答问题"
        assert "共 4 条评价" in page.inner_text("#care-total")

        heads = page.locator("#care-body h3").all_inner_texts()
        assert heads == ["各主题评价", "每周满意率", "每周未答问题（兜底）"]
        by_topic = _rows(page, 0)
        assert by_topic[0][1:5] == ["满意", "一般", "不满意", "满意率"]
        passport, booking = by_topic[1], by_topic[2]  # most rated first
        assert passport[1:5] == ["2", "0", "1", "67%"]
        assert booking[0] == "预约" and booking[1:5] == ["1", "0", "0", "100%"]
        assert _rows(page, 1)[1:] == [
            ["2026-W48", "2", "50%", ""],
            ["2026-W49", "2", "100%", ""],
        ]
        # one bar per topic and per week, as long as its rate
        bars = page.eval_on_selector_all("#care-body meter", "ms => ms.map(m => m.value)")
        assert [round(v, 2) for v in bars] == [0.67, 1.0, 0.5, 1.0]
        weak = page.eval_on_selector_all("#care-body meter", "ms => ms.map(m => m.value < m.low)")
        assert weak == [False, False, True, False]  # the 50 % week is drawn red
        assert page.locator("#care-unavailable").count() == 0

        w48, w49 = _rows(page, 2), _rows(page, 3)
        assert w48[0][0] == "2026-W48 (2)" and w48[1] == ["护照加急能找谁", "2"]
        assert w49[0][0] == "2026-W49 (1)"
        section = page.inner_text("#care")
        assert "139****4321" in w49[1][0] and PHONE not in section
        assert "/affirm" not in section  # a button payload is not a question

        # rendered glyphs, not boxes: the CJK font is installed and used
        assert page.evaluate("() => document.fonts.check('16px sans-serif', '满意率')")
        page.locator("#care").scroll_into_view_if_needed()
        page.locator("#care").screenshot(path=str(RESULTS / "browser_guide_care.png"))
        shot(page, "guide_care_page", full_page=True)
    finally:
        ctx.close()


def test_a_store_that_cannot_be_read_is_said_and_the_rest_is_shown(
    browser: Any,  # noqa: F811
    stores: tuple,
    serve: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_STORE_URL", "postgresql://care@127.0.0.1:1/tracker")  # refused
    get_settings.cache_clear()
    srv = serve(GuideAuth.from_env(env()))
    ctx = Context(browser, srv.base, **DESK)
    page = ctx.page
    try:
        page.goto(f"{srv.base}/guide/login")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector("#care:not([hidden]) #care-unavailable")
        assert page.inner_text("#care-unavailable") == "暂时读不到统计数据"
        assert "共 4 条评价" in page.inner_text("#care-total")
        assert _rows(page, 1)[1][0] == "2026-W48"  # the ratings are still there
        assert "暂无数据" in page.inner_text("#care-body")  # no unanswered questions read
    finally:
        ctx.close()
