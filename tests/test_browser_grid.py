"""The console's grid ticket page in headless Chromium (Playwright, as tests/test_browser.py):
list, open, move a ticket a step, and see the audit trail; nothing from another host."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.booking.db import dispose_engines, get_engine, upgrade_schema
from bot.channels.guide_auth import GuideAuth, Mode
from bot.channels.guide_grid import GridConsoleInput
from bot.grid.repository import GridRepository
from tests.test_browser import DESK, Context, browser, shot  # noqa: F401 - fixture
from tests.test_wechat import ServerThread

Sanic.test_mode = True


@pytest.fixture()
def grid_site(tmp_path: Path) -> Iterator[tuple[str, GridRepository, str]]:
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    upgrade_schema(url)
    repo = GridRepository(get_engine(url))
    filed = repo.file(
        category="pollution",
        place="下洋张村金边河",
        description="华董工地的泥浆泄漏，直排到河道里，河水颜色不正常",
        occurred_at=datetime(2026, 12, 2, 3, 2, tzinfo=timezone.utc),
        contact_phone="13812345678",
        channel="rest",
        sender_id="citizen-b",
    )
    assert filed.ok and filed.ticket is not None
    app = Sanic(f"grid_browser_{uuid.uuid4().hex[:8]}")
    page = GridConsoleInput(repository_factory=lambda: repo, auth=GuideAuth(Mode.LOOPBACK))
    register([page], app, route="/webhooks/")
    server = ServerThread(app).start()
    try:
        yield server.base, repo, filed.ticket.code
    finally:
        server.stop()
        dispose_engines()


def test_staff_open_a_ticket_move_it_on_and_see_the_trail(browser: Any, grid_site) -> None:  # noqa: F811
    base, repo, code = grid_site
    ctx = Context(browser, base, **DESK)
    try:
        page = ctx.page
        page.goto(f"{base}/guide/grid/")
        page.wait_for_selector(f"#tickets tbody tr >> text={code}")
        assert page.title() == "网格隐患工单"
        row = page.locator("#tickets tbody tr").first.inner_text()
        assert "环境污染" in row and "综合执法" in row and "受理" in row
        page.click(f"#tickets tbody tr >> text={code}")
        page.wait_for_selector("#detail:not([hidden])")
        detail = page.inner_text("#detail")
        assert "138****5678" in detail and "13812345678" not in detail
        assert "分流交办" in page.inner_text("#advance-button")
        page.fill("#actor", "卢主任")
        page.fill("#note", "已联系施工方抢修")
        page.click("#advance-button")
        page.wait_for_selector("#trail li:nth-child(2)")
        assert "群众下次发消息时会看到通知" in page.inner_text("#advance-status")
        trail = page.inner_text("#trail")
        assert "推进 → 分流交办" in trail and "console:卢主任" in trail
        assert "处置" in page.inner_text("#advance-button")
        shot(page, "guide_grid")
    finally:
        ctx.close()
    assert repo.get(code).stage == "assigned"


def test_a_staff_account_logs_in_and_the_trail_names_it(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """With staff accounts: the login form asks for the login name; the grid page shows the
    account's name (read-only) and the trail records it, not a typed one."""
    from bot.channels import guide_auth
    from bot.channels.guide import GuideInput
    from bot.staff.directory import StaffDirectory

    url = f"sqlite:///{tmp_path / 'staff.db'}"
    upgrade_schema(url)
    repo = GridRepository(get_engine(url))
    filed = repo.file(
        category="pollution",
        place="下洋张村金边河",
        description="泥浆直排到河道里",
        occurred_at=datetime(2026, 12, 2, 3, 2, tzinfo=timezone.utc),
        contact_phone="13812345678",
        channel="rest",
        sender_id="citizen-c",
    )
    assert filed.ticket is not None
    directory = StaffDirectory(get_engine(url))
    directory.add("lu", "卢主任", guide_auth.hash_password("lu-browser-pass-1", iterations=1000))
    auth = GuideAuth.from_env({guide_auth.SECRET_ENV: "b" * 40}, staff=directory)
    app = Sanic(f"grid_staff_browser_{uuid.uuid4().hex[:8]}")
    register(
        [
            GuideInput(auth=auth, repository_factory=lambda: None),  # type: ignore[arg-type,return-value]
            GridConsoleInput(repository_factory=lambda: repo, auth=auth),
        ],
        app,
        route="/webhooks/",
    )
    server = ServerThread(app).start()
    ctx = Context(browser, server.base, **DESK)
    try:
        page = ctx.page
        page.goto(f"{server.base}/guide/grid/")
        assert page.url == f"{server.base}/guide/login"
        page.fill("#login-name", "lu")
        page.fill("#password", "lu-browser-pass-1")
        page.click("#login")
        page.wait_for_url(f"{server.base}/guide/")
        page.goto(f"{server.base}/guide/grid/")
        page.click(f"#tickets tbody tr >> text={filed.ticket.code}")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.input_value("#actor") == "卢主任"
        assert page.get_attribute("#actor", "readonly") is not None
        page.click("#advance-button")
        page.wait_for_selector("#trail li:nth-child(2)")
        assert "console:卢主任" in page.inner_text("#trail")
    finally:
        ctx.close()
        server.stop()
        dispose_engines()
