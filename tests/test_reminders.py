"""Appointment reminders (issue 14 item 4): the day before, on the booking's channel, once.

WeChat goes to the local fake WeChat API of tests/test_wechat.py (token + customer-service
and template messages over real HTTP, through wechatpy); web chat / REST reminders are kept
in the store and handed out by the inbox channel, served by a real Sanic server. Every test
runs on SQLite and on the local PostgreSQL; the concurrent runs race real threads, each with
its own engine (as two cron jobs on two machines would).
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import requests
import sqlalchemy as sa
from rasa.core.channels.channel import register
from sanic import Sanic
from sqlalchemy import select

from bot.booking import BookingRepository
from bot.booking.db import make_engine
from bot.booking.models import Booking as BookingTable
from bot.care.kept import KeptMessageStore
from bot.care.models import BookingReminder
from bot.channels.inbox import InboxInput, PollLimiter
from bot.reminders import MAX_ATTEMPTS, WeChatReminderSender, main, run_reminders
from tests.test_booking_repo import MONDAY, TODAY, book, db_url, prepare, repo  # noqa: F401 (fixtures)
from tests.test_wechat import APPID, FakeWeChatApi, ServerThread

#: The Sunday evening before MONDAY, when the daily run reminds Monday's bookings.
SUNDAY_EVENING = datetime.combine(MONDAY, time(10, 0), tzinfo=timezone.utc).replace(
    day=MONDAY.day - 1
)


@pytest.fixture()
def fake_api() -> Iterator[FakeWeChatApi]:
    api = FakeWeChatApi()
    yield api
    api.close()


def wechat(api: FakeWeChatApi, template_id: str | None = None) -> WeChatReminderSender:
    return WeChatReminderSender(APPID, "s3cret", api.base, template_id)


def claims(repo: BookingRepository) -> List[Any]:
    with repo._engine.connect() as conn:
        return conn.execute(select(BookingReminder.__table__)).all()


def test_wechat_reminder_carries_time_hall_documents_and_cancel_and_goes_once(
    repo: BookingRepository, fake_api: FakeWeChatApi
) -> None:
    made = book(repo, n=1, channel="wechat", sender_id="oCitizen1", start=time(9, 30))
    assert made.ok, made
    done = run_reminders(repo._engine, now=SUNDAY_EVENING, wechat=wechat(fake_api))
    assert done.sent == [made.code] and not done.failed
    (message,) = fake_api.sent
    assert message["touser"] == "oCitizen1" and fake_api.apis == ["custom"]
    text = message["text"]["content"]
    for part in ("预约提醒", "09:30", "湖州市市民服务中心出入境接待大厅", made.code, "居民身份证"):
        assert part in text, part
    assert f"取消预约 {made.code}" in text
    again = run_reminders(repo._engine, now=SUNDAY_EVENING, wechat=wechat(fake_api))
    assert again.skipped == [made.code] and again.sent == []
    assert len(fake_api.sent) == 1
    (claim,) = claims(repo)
    assert claim.status == "sent" and claim.sent_at is not None


def test_template_message_when_a_template_is_configured(
    repo: BookingRepository, fake_api: FakeWeChatApi
) -> None:
    made = book(repo, n=2, channel="wechat", sender_id="oCitizen2")
    run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api, "TPL-REMIND"))
    (message,) = fake_api.sent
    assert fake_api.apis == ["template"] and message["template_id"] == "TPL-REMIND"
    fields = message["data"]
    assert fields["keyword1"]["value"] == f"{MONDAY.isoformat()} 09:00"
    assert fields["keyword3"]["value"] == made.code
    assert f"取消预约 {made.code}" in fields["remark"]["value"]


def test_a_refused_reminder_is_tried_again_a_bounded_number_of_times(
    repo: BookingRepository, fake_api: FakeWeChatApi
) -> None:
    made = book(repo, n=3, channel="wechat", sender_id="oQuiet")
    fake_api.refuse_with = 45015  # the citizen wrote nothing for 48 hours
    first = run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api))
    assert first.failed == [made.code] and fake_api.sent == []
    assert claims(repo)[0].error == "45015"
    for _ in range(MAX_ATTEMPTS + 2):
        run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api))
    assert claims(repo)[0].attempts == MAX_ATTEMPTS
    fake_api.refuse_with = 0
    late = run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api))
    assert late.skipped == [made.code] and fake_api.sent == []  # the attempts are used up


def test_web_reminder_is_kept_for_the_same_sender_only_and_handed_out_once(
    repo: BookingRepository,
) -> None:
    made = book(repo, n=4, channel="rest", sender_id="web-owner")
    cancelled = book(repo, n=5, channel="rest", sender_id="web-other")
    assert repo.cancel(cancelled.code, actor="web-other", channel="rest").ok
    done = run_reminders(repo._engine, now=SUNDAY_EVENING, wechat=None)
    assert done.kept == [made.code]  # a cancelled booking is not reminded
    kept = KeptMessageStore(repo._engine)
    at = SUNDAY_EVENING
    assert kept.take("web-intruder", "rest", at=at) == []
    assert kept.take("web-owner", "wechat", at=at) == []  # same id, another channel: not theirs
    (text,) = kept.take("web-owner", "rest", at=at)
    assert made.code in text and "09:00" in text and "取消预约" in text
    assert kept.take("web-owner", "rest", at=at) == []
    run_reminders(repo._engine, now=SUNDAY_EVENING)
    assert kept.take("web-owner", "rest", at=at) == []
    unread = book(repo, n=7, channel="rest", sender_id="web-late", start=time(10, 0))
    run_reminders(repo._engine, now=SUNDAY_EVENING)
    after_the_day = datetime.combine(MONDAY, time(23, 59), tzinfo=timezone.utc)
    assert kept.take("web-late", "rest", at=after_the_day) == []  # kept until the day ends
    assert unread.ok


def test_wechat_bookings_wait_when_wechat_is_not_configured(repo: BookingRepository) -> None:
    made = book(repo, n=6, channel="wechat", sender_id="oNoConfig")
    assert run_reminders(repo._engine, day=MONDAY, wechat=None).failed == [made.code]
    assert claims(repo) == []  # not claimed: a configured run later still sends it


def test_two_runs_at_once_send_each_reminder_once(
    db_url: str, repo: BookingRepository, fake_api: FakeWeChatApi
) -> None:
    codes = {
        book(
            repo,
            n=10 + i,
            channel=("wechat", "rest")[i % 2],
            sender_id=f"o-race-{i}",
            start=time(9 + i // 2, 30 * (i % 2)),
        ).code
        for i in range(6)
    }
    barrier = threading.Barrier(4)

    def one_run(_: int) -> Any:
        engine = make_engine(db_url)  # each run its own pool, like another machine
        try:
            barrier.wait()
            return run_reminders(engine, day=MONDAY, wechat=wechat(fake_api))
        finally:
            engine.dispose()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one_run, range(4)))
    delivered = [c for r in results for c in r.sent + r.kept]
    assert sorted(delivered) == sorted(codes) and not any(r.failed for r in results)
    assert sorted(m["touser"] for m in fake_api.sent) == ["o-race-0", "o-race-2", "o-race-4"]
    kept = KeptMessageStore(repo._engine)
    taken = [kept.take(f"o-race-{i}", "rest", at=SUNDAY_EVENING) for i in (1, 3, 5)]
    assert [len(t) for t in taken] == [1, 1, 1]


def test_the_command_prints_what_it_did(
    db_url: str, repo: BookingRepository, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from bot.settings import get_settings

    book(repo, n=20, channel="rest", sender_id="web-cli")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("WECHAT_APPID", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["--day", MONDAY.isoformat()]) == 0
        assert "kept for the web chat 1" in capsys.readouterr().out
        assert main(["--day", MONDAY.isoformat()]) == 0
        assert "already done 1" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


def test_every_wechat_sender_reaches_the_host_of_wechat_api_base_url(
    repo: BookingRepository, fake_api: FakeWeChatApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One setting (bot.channels.wechat.wechat_api_base) for the reminders, the grid notices,
    the handoff console and the channel's own late answers."""
    from bot.channels.guide_queue import default_wechat_sender
    from bot.channels.wechat import WeChatInput, customer_service_sender
    from bot.grid.notify import wechat_sender
    from bot.settings import get_settings

    monkeypatch.setenv("WECHAT_APPID", APPID)
    monkeypatch.setenv("WECHAT_APPSECRET", "s3cret")
    monkeypatch.setenv("WECHAT_API_BASE_URL", fake_api.base)
    get_settings.cache_clear()
    try:
        made = book(repo, n=50, channel="wechat", sender_id="oFromEnv")
        reminders = WeChatReminderSender.from_env()
        assert reminders is not None
        assert run_reminders(repo._engine, day=MONDAY, wechat=reminders).sent == [made.code]
        senders = [
            customer_service_sender(),
            wechat_sender(),
            default_wechat_sender(),
            WeChatInput.from_credentials({}).sender,
        ]
        for i, sender in enumerate(senders):
            assert sender is not None
            asyncio.run(sender.send_text(f"o-sender-{i}", "hello"))
    finally:
        get_settings.cache_clear()
    assert [m["touser"] for m in fake_api.sent] == ["oFromEnv"] + [
        f"o-sender-{i}" for i in range(4)
    ]


# --- in the language the booking was made in ------------------------------------------------

HUZHOU_EN = "Exit-entry hall, Huzhou Citizen Service Centre"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def english_only(text: str) -> bool:
    """No Chinese outside brackets (the KB's English facts name forms in Chinese, in brackets)."""
    return not _CJK.search(re.sub(r"\([^)]*\)", "", text))


def test_an_english_booking_is_reminded_in_english_over_wechat(
    repo: BookingRepository, fake_api: FakeWeChatApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALL_HUZHOU_ADDRESS", "1 Huzhou Road")
    monkeypatch.setenv("HALL_HUZHOU_PHONE", "0572-1234567")
    made = book(
        repo,
        n=40,
        channel="wechat",
        sender_id="oForeigner",
        service="residence_permit",
        start=time(10, 30),
        language="en",
    )
    chinese = book(repo, n=41, channel="wechat", sender_id="oCitizen41")
    assert made.ok and chinese.ok
    run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api))
    by_openid = {m["touser"]: m["text"]["content"] for m in fake_api.sent}
    english = by_openid["oForeigner"]
    for part in (
        "[Reminder]",
        "10:30",
        HUZHOU_EN,
        made.code,
        "1 Huzhou Road",
        "0572-1234567",
        "your passport",  # the KB's English documents fact for residence permits
        f'"cancel booking {made.code}"',
    ):
        assert part in english, part
    assert english_only(english), english
    assert "预约提醒" in by_openid["oCitizen41"] and "居民身份证" in by_openid["oCitizen41"]


def test_an_english_template_message_is_english(
    repo: BookingRepository, fake_api: FakeWeChatApi
) -> None:
    made = book(
        repo,
        n=42,
        channel="wechat",
        sender_id="oForeigner42",
        service="residence_permit",
        language="en",
    )
    run_reminders(repo._engine, day=MONDAY, wechat=wechat(fake_api, "TPL-REMIND"))
    (message,) = fake_api.sent
    fields = message["data"]
    assert fields["first"]["value"] == f"You have an appointment tomorrow at {HUZHOU_EN}."
    assert fields["keyword2"]["value"] == HUZHOU_EN
    remark = fields["remark"]["value"]
    assert f'"cancel booking {made.code}"' in remark and "your passport" in remark
    assert "not configured yet" in remark  # no hall phone configured: said in English
    assert english_only(str(fields)), fields


def test_an_english_web_booking_keeps_an_english_reminder_with_chinese_only_facts_as_they_are(
    repo: BookingRepository,
) -> None:
    made = book(repo, n=43, channel="rest", sender_id="web-en", language="en", priority=False)
    run_reminders(repo._engine, now=SUNDAY_EVENING)
    (text,) = KeptMessageStore(repo._engine).take("web-en", "rest", at=SUNDAY_EVENING)
    assert text.startswith("[Reminder]") and HUZHOU_EN in text and made.code in text
    assert "Please bring:" in text and "not configured yet" in text
    # The KB has the passport's documents in Chinese only; the reminder gives them unchanged.
    assert "居民身份证" in text


def test_bookings_made_before_the_language_column_are_reminded_in_chinese(
    db_url: str, tmp_path: Path
) -> None:
    from alembic import command

    from bot.booking import get_engine, sync_halls
    from bot.booking.db import alembic_config, upgrade_schema
    from tests.test_booking_repo import HALLS_YML

    engine = get_engine(db_url)
    cfg = alembic_config(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_grid")  # the schema before 0005_booking_language
    halls = tmp_path / "halls.yml"
    halls.write_text(HALLS_YML, encoding="utf-8")
    sync_halls(engine, halls)
    typed = BookingTable.__table__.c
    old = sa.table("bookings", *(sa.column(c, typed[c].type) for c in OLD_BOOKING_COLUMNS))
    stamp = SUNDAY_EVENING
    with engine.begin() as conn:
        conn.execute(
            old.insert().values(
                code="HZ-OLD00001",
                hall_id="huzhou",
                service="passport",
                day=MONDAY,
                start_time=time(9, 0),
                name="张三",
                id_hash="h" * 64,
                id_masked="3305**********001X",
                phone="13812345678",
                phone_last4="5678",
                status="active",
                priority=False,
                green_seat=False,
                channel="rest",
                sender_id="web-old",
                created_at=stamp,
                updated_at=stamp,
            )
        )
    upgrade_schema(db_url)
    with engine.connect() as conn:
        (language,) = conn.execute(sa.text("SELECT language FROM bookings")).scalars().all()
    assert language == "zh"
    assert run_reminders(engine, now=SUNDAY_EVENING).kept == ["HZ-OLD00001"]
    (text,) = KeptMessageStore(engine).take("web-old", "rest", at=SUNDAY_EVENING)
    assert "预约提醒" in text and "取消预约 HZ-OLD00001" in text


#: The columns bookings had at 0004_grid.
OLD_BOOKING_COLUMNS = (
    "code",
    "hall_id",
    "service",
    "day",
    "start_time",
    "name",
    "id_hash",
    "id_masked",
    "phone",
    "phone_last4",
    "status",
    "priority",
    "green_seat",
    "channel",
    "sender_id",
    "created_at",
    "updated_at",
)


# --- the stores' outages and the SQLite write lock (bot.booking.db's helpers) ---------------


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/nothing", "sqlite:////proc/no-such-dir/booking.db"],
    ids=["pg-closed-port", "sqlite-unopenable"],
)
def test_a_dead_database_is_each_care_stores_own_outage(url: str) -> None:
    from bot.booking import BookingUnavailable, PendingPersonalStore, dispose_engines, get_engine
    from bot.care.satisfaction import SatisfactionStore

    engine = get_engine(url)
    try:
        satisfaction = SatisfactionStore(engine)  # never raises: the answer comes first
        assert satisfaction.claim_ask("s", "rest", "booking") is False
        assert satisfaction.rate("s", "satisfied") is False
        assert satisfaction.was_rated("s") is False
        assert satisfaction.comment("s", "太慢了") is False
        kept, pending = KeptMessageStore(engine), PendingPersonalStore(engine)
        for call in (
            lambda: kept.keep("s", "rest", "reminder", "x", SUNDAY_EVENING),
            lambda: kept.take("s", "rest"),
            lambda: pending.put("s", "phone", "13812345678"),
            lambda: pending.get("s", "phone"),
            lambda: pending.drop("s"),
            lambda: run_reminders(engine, day=MONDAY),
        ):
            with pytest.raises(BookingUnavailable):
                call()
    finally:
        dispose_engines()


def test_care_writes_wait_for_the_sqlite_write_lock_and_give_up_as_an_outage(
    tmp_path: Path,
) -> None:
    from bot.booking import BookingUnavailable, PendingPersonalStore, dispose_engines
    from bot.booking.db import LOCK_TIMEOUT_S, write_lock
    from bot.care.satisfaction import SatisfactionStore
    from tests.test_booking_repo import prepare

    engine = prepare(f"sqlite:///{tmp_path / 'locked.db'}", tmp_path)
    kept, pending = KeptMessageStore(engine), PendingPersonalStore(engine)
    try:
        with write_lock(engine):  # another thread of this process is writing

            def blocked() -> List[Any]:
                outcomes: List[Any] = [SatisfactionStore(engine).claim_ask("s", "rest", "x")]
                for write in (
                    lambda: kept.keep("s", "rest", "reminder", "x", SUNDAY_EVENING),
                    lambda: pending.put("s", "phone", "13812345678"),
                ):
                    try:
                        write()
                        outcomes.append("written")
                    except BookingUnavailable:
                        outcomes.append("unavailable")
                return outcomes

            started = datetime.now(timezone.utc)
            with ThreadPoolExecutor(1) as pool:
                outcomes = pool.submit(blocked).result()
            waited = (datetime.now(timezone.utc) - started).total_seconds()
            # Reads never queue behind the lock (READ_ONLY, no write lock).
            assert kept.take("nobody", "rest") == [] and pending.get("s", "phone") is None
            assert SatisfactionStore(engine).was_rated("s") is False
        assert outcomes == [False, "unavailable", "unavailable"]
        assert waited >= 3 * LOCK_TIMEOUT_S * 0.9
        # Once the lock is free the writes go through.
        assert SatisfactionStore(engine).claim_ask("s", "rest", "x") is True
        kept.keep("s", "rest", "reminder", "x", SUNDAY_EVENING.replace(year=2099))
        assert kept.take("s", "rest", at=SUNDAY_EVENING) == ["x"]
    finally:
        dispose_engines()


# --- the inbox channel over HTTP ---------------------------------------------------------------


def test_the_inbox_hands_kept_messages_to_their_sender_once(repo: BookingRepository) -> None:
    made = book(repo, n=30, channel="rest", sender_id="web-inbox")
    run_reminders(repo._engine, day=MONDAY, now=SUNDAY_EVENING)
    app = Sanic(f"inbox_test_{uuid.uuid4().hex[:8]}")
    channel = InboxInput(
        lambda: KeptMessageStore(repo._engine),
        PollLimiter(per_minute=5),
        clock=lambda: SUNDAY_EVENING,
    )
    register([channel], app, route="/webhooks/")
    server = ServerThread(app).start()
    url = f"{server.base}/webhooks/inbox/poll"
    try:
        other = requests.post(url, json={"sender": "web-guess"}, timeout=10)
        assert other.status_code == 200 and other.json() == []
        mine = requests.post(url, json={"sender": "web-inbox"}, timeout=10)
        assert mine.status_code == 200
        (message,) = mine.json()
        assert message["recipient_id"] == "web-inbox" and made.code in message["text"]
        assert requests.post(url, json={"sender": "web-inbox"}, timeout=10).json() == []
        assert requests.post(url, data=b"[1]", timeout=10).status_code == 400
        assert requests.post(url, json={"message": "no sender"}, timeout=10).status_code == 400
        limited = requests.post(url, json={"sender": "web-inbox"}, timeout=10)
        assert limited.status_code == 429  # the sixth poll this minute from this address
        proxied = {"X-Forwarded-For": "203.0.113.5"}  # another citizen behind the local nginx
        behind = requests.post(url, json={"sender": "web-inbox"}, headers=proxied, timeout=10)
        assert behind.status_code == 200 and behind.json() == []
    finally:
        server.stop()


def test_today_and_monday_are_what_the_booking_helpers_assume() -> None:
    assert TODAY < MONDAY and MONDAY.weekday() == 0 and isinstance(MONDAY, date)
