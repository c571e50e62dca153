"""Appointment reminders, the day before (issue 14 item 4): `python -m bot.reminders`.

Cron-able: run it once a day (e.g. `0 18 * * * make -C /srv/crj remind`). Each active
booking of tomorrow gets one reminder on the channel it was made on:

- WeChat (`channel == "wechat"`, the sender is the openid): a template message when
  WECHAT_REMINDER_TEMPLATE_ID is set (it reaches the citizen at any time), otherwise a
  customer-service text (only within 48 hours of the citizen's last message; outside it
  WeChat refuses with errcode 45015 and the reminder is marked failed, to be tried again).
- Any other channel (web chat, REST): the text is kept for that same sender and handed out on
  their next visit (bot.channels.inbox, bot.care.kept), until the end of the booking's day.

Why a claim row: the reminder is sent once even when the command runs twice, or twice at the
same time on two machines. A run first claims the booking with `INSERT … ON CONFLICT DO
NOTHING` on `booking_reminders` (primary key = booking id) and only the run whose row went in
sends. A failed send may be claimed again by a later run (at most MAX_ATTEMPTS in all) with a
conditional UPDATE, which again only one run wins. A run that dies between claim and send
leaves the claim "claimed": that reminder is not sent twice, it may be missed (at most once).

The text is the domain response utter_reminder (domain/care.yml), filled with the time, the
hall and its address and phone (data/kb/halls.yml), what to bring (the KB's documents fact
for the service) and how to cancel. It is in the language the booking was made in
(bookings.language, from the conversation's language slot): the response's English variation,
the hall's English name, and the KB's English documents fact where the KB has one (a fact
without `text_en` stays Chinese, as in the chat's answers).

Environment: DATABASE_URL (the booking store), WECHAT_APPID, WECHAT_APPSECRET (bot.settings),
WECHAT_API_BASE_URL (bot.channels.wechat.wechat_api_base: default the official API; tests
point it at a local fake), WECHAT_REMINDER_TEMPLATE_ID (optional).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, List, Optional, Protocol, Sequence

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import BookingUnavailable, get_engine, read_connection, write_transaction
from bot.booking.models import STATUS_ACTIVE, Booking
from bot.care.kept import KeptMessageStore
from bot.care.models import (
    REMINDER_CLAIMED,
    REMINDER_FAILED,
    REMINDER_KEPT,
    REMINDER_SENT,
    BookingReminder,
)
from bot.care.satisfaction import LOCAL_TZ
from bot.domain_files import render
from bot.language import CHINESE, ENGLISH

__all__ = [
    "Reminder",
    "RunResult",
    "ReminderSender",
    "WeChatReminderSender",
    "run_reminders",
    "reminder_text",
    "main",
    "MAX_ATTEMPTS",
]

log = logging.getLogger(__name__)

WECHAT = "wechat"
#: A reminder whose channel refused it is tried again by later runs, this many times in all.
MAX_ATTEMPTS = 3

_bookings = Booking.__table__
_reminders = BookingReminder.__table__


@dataclass(frozen=True)
class Reminder:
    """What one reminder says, as data (the wording is the domain's)."""

    booking_id: int
    code: str
    channel: str
    sender_id: str
    day: date
    start: time
    hall: str
    address: str
    phone: str
    bring: str
    language: str = CHINESE


@dataclass
class RunResult:
    """What one run did, by booking code."""

    sent: List[str] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    failed: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)  # another run has it, or had it


class ReminderSender(Protocol):
    """Delivers one reminder over WeChat; raises ReminderRefused with the channel's code."""

    def send(self, reminder: Reminder) -> None: ...


class ReminderRefused(Exception):
    """The channel did not take the reminder; `code` is its error code (never a message)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _now() -> datetime:
    return datetime.now(timezone.utc)


def reminder_text(reminder: Reminder) -> str:
    """The whole reminder as the citizen reads it (utter_reminder, in the booking's language)."""
    return render(
        "utter_reminder",
        reminder.language,
        hall=reminder.hall,
        month=reminder.day.month,
        day=reminder.day.day,
        time=reminder.start.strftime("%H:%M"),
        code=reminder.code,
        address=reminder.address,
        bring=reminder.bring,
        phone=reminder.phone,
    )


def _bring(service: str, priority: bool, language: str) -> str:
    """What to bring: the KB's documents fact for the service (one fact, one place), in
    English when the KB has it in English."""
    from bot.kb import get_kb
    from bot.kb.loader import fill

    kb = get_kb()
    lines: List[str] = []
    answer = kb.answer("documents", {"service": service}, language)
    if answer is not None:
        text = answer.fact.text_en if answer.in_english else None
        lines.append(fill((text or answer.fact.text).strip(), answer.notices))
    if priority:
        green = kb.answer("green_channel", {"topic": "green_channel"}, language)
        if green is not None:
            english = green.fact.text_en if green.in_english else None
            lines.append(english.strip().splitlines()[0] if english else green.fact.brief())
    return "\n".join(lines) or (kb.notice(_unset_notice(language)) or "")


def _unset_notice(language: str) -> str:
    """notices.yml's line for a hall detail or fact not configured yet, in `language`."""
    return "not_configured_en" if language == ENGLISH else "not_configured"


def _describe(row: Any) -> Reminder:
    from bot.kb import get_kb

    kb = get_kb()
    language = ENGLISH if row.language == ENGLISH else CHINESE
    hall = kb.halls.get(row.hall_id)
    unset = kb.notice(_unset_notice(language))
    name = (hall.name_en or hall.name if language == ENGLISH else hall.name) if hall else None
    return Reminder(
        booking_id=int(row.id),
        code=str(row.code),
        channel=str(row.channel),
        sender_id=str(row.sender_id),
        day=row.day,
        start=row.start_time,
        hall=name or str(row.hall_id),
        address=hall.address.display(unset) if hall else (unset or ""),
        phone=hall.phone.display(unset) if hall else (unset or ""),
        bring=_bring(str(row.service), bool(row.priority), language),
        language=language,
    )


class WeChatReminderSender:
    """Template message when a template id is configured, else a customer-service text."""

    def __init__(
        self,
        appid: str,
        secret: str,
        api_base_url: Optional[str] = None,
        template_id: Optional[str] = None,
    ) -> None:
        from bot.channels.wechat import WeChatApiSender, wechat_api_base

        self.client = WeChatApiSender(appid, secret, api_base_url or wechat_api_base()).client
        self.template_id = template_id

    @classmethod
    def from_env(cls) -> Optional["WeChatReminderSender"]:
        """None when the account's app id or secret is not configured (bot.settings)."""
        from bot.settings import get_settings

        settings = get_settings()
        if not settings.wechat_appid or not settings.wechat_appsecret:
            return None
        return cls(
            settings.wechat_appid,
            settings.wechat_appsecret,
            template_id=os.environ.get("WECHAT_REMINDER_TEMPLATE_ID") or None,
        )

    def send(self, reminder: Reminder) -> None:
        from wechatpy.exceptions import WeChatClientException

        from bot.channels.wechat import split_text

        try:
            if self.template_id:
                self.client.message.send_template(
                    reminder.sender_id, self.template_id, _template_data(reminder)
                )
                return
            for part in split_text(reminder_text(reminder)):
                self.client.message.send_text(reminder.sender_id, part)
        except WeChatClientException as exc:
            raise ReminderRefused(str(exc.errcode)) from exc
        except Exception as exc:  # network: requests' errors
            raise ReminderRefused(exc.__class__.__name__) from exc


def _template_data(reminder: Reminder) -> Dict[str, Dict[str, str]]:
    """The template's fields: first, keyword1 (time), keyword2 (hall), keyword3 (code), remark."""
    when = f"{reminder.day.isoformat()} {reminder.start.strftime('%H:%M')}"
    return {
        "first": {
            "value": render("utter_reminder_template_first", reminder.language, hall=reminder.hall)
        },
        "keyword1": {"value": when},
        "keyword2": {"value": reminder.hall},
        "keyword3": {"value": reminder.code},
        "remark": {
            "value": render(
                "utter_reminder_template_remark",
                reminder.language,
                bring=reminder.bring,
                code=reminder.code,
                phone=reminder.phone,
            )
        },
    }


def _fail(exc: SQLAlchemyError) -> BookingUnavailable:
    """The store's outage, named by the database error's class (never its message)."""
    return BookingUnavailable(exc.__class__.__name__)


def _insert_ignore(engine: Engine, row: Dict[str, Any]) -> Any:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(_reminders).values(**row).on_conflict_do_nothing()
    return sqlite.insert(_reminders).values(**row).on_conflict_do_nothing()


def _claim(engine: Engine, booking_id: int, channel: str, now: datetime) -> bool:
    """True when this run may send this booking's reminder (and no other run may)."""
    row = {
        "booking_id": booking_id,
        "status": REMINDER_CLAIMED,
        "channel": channel[:32],
        "attempts": 1,
        "claimed_at": now,
    }
    retry = (
        update(_reminders)
        .where(
            and_(
                _reminders.c.booking_id == booking_id,
                _reminders.c.status == REMINDER_FAILED,
                _reminders.c.attempts < MAX_ATTEMPTS,
            )
        )
        .values(status=REMINDER_CLAIMED, attempts=_reminders.c.attempts + 1, claimed_at=now)
    )
    with write_transaction(engine, _fail) as conn:
        if conn.execute(_insert_ignore(engine, row)).rowcount == 1:
            return True
        return conn.execute(retry).rowcount == 1


def _settle(
    engine: Engine, booking_id: int, status: str, now: datetime, error: Optional[str] = None
) -> None:
    done = update(_reminders).where(_reminders.c.booking_id == booking_id)
    values: Dict[str, Any] = {"status": status, "error": error}
    if status != REMINDER_FAILED:
        values["sent_at"] = now
    # A database error leaves unchanged (`keep`) and ends the run: the claim stays "claimed",
    # so this reminder is never sent twice.
    with write_transaction(engine, _fail, keep=(SQLAlchemyError,)) as conn:
        conn.execute(done.values(**values))


def _due(engine: Engine, day: date) -> Sequence[Any]:
    query = (
        select(_bookings)
        .where(and_(_bookings.c.day == day, _bookings.c.status == STATUS_ACTIVE))
        .order_by(_bookings.c.start_time, _bookings.c.id)
    )
    with read_connection(engine, _fail) as conn:
        return conn.execute(query).all()


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=LOCAL_TZ)


def run_reminders(
    engine: Optional[Engine] = None,
    *,
    day: Optional[date] = None,
    now: Optional[datetime] = None,
    wechat: Optional[ReminderSender] = None,
) -> RunResult:
    """Remind every active booking of `day` (default: tomorrow, local time) once.

    Raises BookingUnavailable when the store cannot be read at all; a database problem on
    one booking leaves it for the next run.
    """
    engine = engine if engine is not None else get_engine()
    stamp = (now or _now()).astimezone(timezone.utc)  # SQLite keeps no offsets: UTC only
    target = day or (stamp.astimezone(LOCAL_TZ).date() + timedelta(days=1))
    result = RunResult()
    rows = _due(engine, target)
    kept = KeptMessageStore(engine)
    for row in rows:
        code = str(row.code)
        if row.channel == WECHAT and wechat is None:
            log.warning("reminder %s: WeChat is not configured (WECHAT_APPID/APPSECRET)", code)
            result.failed.append(code)
            continue
        try:
            if not _claim(engine, int(row.id), str(row.channel), stamp):
                result.skipped.append(code)
                continue
        except BookingUnavailable as exc:  # detail: the database error's class
            log.warning("reminder %s: claim failed: %s", code, exc)
            result.failed.append(code)
            continue
        try:
            reminder = _describe(row)
            if row.channel == WECHAT:
                assert wechat is not None
                wechat.send(reminder)
                status = REMINDER_SENT
            else:
                kept.keep(
                    reminder.sender_id,
                    reminder.channel,
                    "reminder",
                    reminder_text(reminder),
                    _end_of_day(reminder.day),
                    at=stamp,
                )
                status = REMINDER_KEPT
        except ReminderRefused as refused:
            log.warning("reminder %s refused by %s: %s", code, row.channel, refused.code)
            _settle(engine, int(row.id), REMINDER_FAILED, stamp, refused.code[:64])
            result.failed.append(code)
            continue
        except BookingUnavailable:
            _settle(engine, int(row.id), REMINDER_FAILED, stamp, "store")
            result.failed.append(code)
            continue
        _settle(engine, int(row.id), status, stamp)
        (result.sent if status == REMINDER_SENT else result.kept).append(code)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m bot.reminders [--day YYYY-MM-DD]`: prints what it did; 1 when some failed."""
    parser = argparse.ArgumentParser(description="Send tomorrow's appointment reminders once.")
    parser.add_argument(
        "--day", type=date.fromisoformat, help="the bookings' day (default: tomorrow)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_reminders(day=args.day, wechat=WeChatReminderSender.from_env())
    except BookingUnavailable as exc:
        print(f"booking store unavailable: {exc}")
        return 2
    print(
        f"sent {len(result.sent)}, kept for the web chat {len(result.kept)}, "
        f"failed {len(result.failed)}, already done {len(result.skipped)}"
    )
    return 1 if result.failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
