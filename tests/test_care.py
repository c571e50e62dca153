"""The satisfaction follow-up (issue 14 item 2): asked once after a finished task, never in a
form or an emergency, stored with topic and channel, the comment masked.

The conversation is driven by tests.test_booking_actions' `Chat` (Rasa's form loop and the
booking rules in miniature) against a temporary SQLite store, plus the care rules of
data/dialogue/care.yml and data/rules.yml (thank → utter_thank → action_ask_satisfaction).
The store's once-only guarantees are also checked on PostgreSQL with racing threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from sqlalchemy import select

import actions.care as care
from actions.kb import ActionAnswerKb
from bot.booking import dispose_engines, get_engine, migrate
from bot.care.models import SatisfactionRating
from bot.care.satisfaction import SatisfactionStore, conversation_key
from tests.test_booking_actions import (  # noqa: F401  (store: the autouse SQLite store)
    ACTIONS,
    FORM_SUBMIT,
    PHONE,
    Chat,
    slot_event,
    store,
)
from tests.test_booking_repo import make_id

CARE_ACTIONS = {
    a.name(): a
    for a in (
        care.ActionAskSatisfaction(),
        care.ActionRecordSatisfaction(),
        care.ValidateSatisfactionCommentForm(),
        care.ActionSubmitSatisfactionComment(),
        ActionAnswerKb(),
    )
}


@pytest.fixture(autouse=True)
def care_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, action in CARE_ACTIONS.items():
        monkeypatch.setitem(ACTIONS, name, action)
    monkeypatch.setitem(FORM_SUBMIT, care.COMMENT_FORM, "action_submit_satisfaction_comment")


class CareChat(Chat):
    """Chat plus the care rules (data/dialogue/care.yml, the thank/goodbye rules)."""

    def say(
        self, text: str, intent: str = "inform", entities: Optional[Dict[str, Any]] = None
    ) -> str:
        in_form = self.active_loop is not None
        super().say(text, intent, entities)
        intent = self.latest["intent"]["name"]
        if in_form:
            return self.text
        if intent == "rate_satisfaction":
            self.run_action("action_record_satisfaction")
        elif intent in ("thank", "goodbye"):
            self._dispatch_response("utter_thank" if intent == "thank" else "utter_goodbye")
            self.events.append({"event": "action", "name": f"utter_{intent}"})
            self.run_action("action_ask_satisfaction")
        elif intent.startswith("ask_"):
            self.run_action("action_answer_kb")
        return self.text


def rows() -> List[Any]:
    with get_engine().connect() as conn:
        return conn.execute(select(SatisfactionRating.__table__)).all()


ASK = "这次的服务您满意吗"


def test_a_booking_is_followed_by_one_ask_and_the_rating_and_masked_comment_are_kept() -> None:
    chat = CareChat(sender="web-care-1", channel="rest")
    chat.book()
    assert "预约成功" in chat.text and ASK in chat.text
    assert [b["title"] for b in chat.buttons] == ["满意", "一般", "不满意"]
    chat.say('/rate_satisfaction{"satisfaction":"dissatisfied"}')
    assert "意见或建议" in chat.text and chat.active_loop == care.COMMENT_FORM
    chat.say(f"排队太久了，有事打我电话 {PHONE}")
    assert "收到" in chat.text and chat.active_loop is None
    (row,) = rows()
    assert (row.topic, row.channel, row.rating) == ("booking", "rest", "dissatisfied")
    assert PHONE not in row.comment and "139****4321" in row.comment and "排队太久" in row.comment
    chat.say("谢谢", "thank")  # a finished task again, but this conversation was asked
    assert ASK not in chat.text
    chat.say('/rate_satisfaction{"satisfaction":"satisfied"}')  # replayed payload
    assert "已经评价过" in chat.text
    assert [r.rating for r in rows()] == ["dissatisfied"]


def test_thanks_after_an_answer_asks_with_the_answer_s_topic() -> None:
    chat = CareChat(sender="web-care-2")
    chat.say("办护照要什么材料", "ask_documents", {"service": "passport"})
    chat.say("谢谢", "thank")
    assert ASK in chat.text
    chat.say("很满意", "rate_satisfaction")  # typed, no entity: read from the words
    chat.say("/deny")
    assert "谢谢您的评价" in chat.text
    (row,) = rows()
    assert (row.topic, row.rating, row.comment) == ("passport", "satisfied", None)


def test_thanks_or_goodbye_without_a_finished_task_does_not_ask() -> None:
    chat = CareChat(sender="web-care-3")
    chat.say("谢谢", "thank")
    chat.say("再见", "goodbye")
    assert ASK not in "\n".join(m.get("text") or "" for m in chat.transcript)
    assert rows() == []


def test_never_during_a_form_or_an_emergency() -> None:
    chat = CareChat(sender="web-care-4")
    chat.say("我想预约", "book_appointment")
    chat.events.append({"event": "action", "name": "action_answer_kb"})
    chat.run_action("action_ask_satisfaction")  # the booking form is active
    assert ASK not in chat.text
    other = CareChat(sender="web-care-5")
    other.say("办护照要什么材料", "ask_documents", {"service": "passport"})
    other._apply(
        [slot_event("interrupted_form", "booking_form")]
    )  # the green channel paused a form
    other.say("谢谢", "thank")
    assert ASK not in other.text
    third = CareChat(sender="web-care-6")
    third.say("办护照要什么材料", "ask_documents", {"service": "passport"})
    third.say("谢谢，我爸爸去世了要奔丧", "thank", {"emergency_type": "bereavement"})
    assert ASK not in third.text
    assert rows() == []


def test_a_rating_nobody_asked_for_is_not_recorded() -> None:
    chat = CareChat(sender="web-care-7")
    chat.say('/rate_satisfaction{"satisfaction":"dissatisfied"}')
    assert "没解决的问题" in chat.text and chat.active_loop is None
    assert rows() == []


def test_an_emergency_or_a_hand_over_instead_of_a_comment_is_answered_not_kept() -> None:
    chat = CareChat(sender="web-care-8")
    chat.book()
    chat.say('/rate_satisfaction{"satisfaction":"neutral"}')
    chat.say("我父亲去世了，要马上回国奔丧", "report_emergency", {"emergency_type": "bereavement"})
    assert chat.active_loop is None and "绿色通道" in chat.text and "收到" not in chat.text
    other = CareChat(sender="web-care-9")
    other.book(id_number=make_id(9), phone="13912345679")  # another person: not a duplicate
    other.say('/rate_satisfaction{"satisfaction":"dissatisfied"}')
    other.say("转人工", "request_human")
    # the handoff queue takes over (its place in the queue, or 12367 outside office hours)
    assert other.active_loop is None and "收到" not in other.text
    assert "转人工" in other.text or "12367" in other.text, other.text
    assert [(r.rating, r.comment) for r in rows()] == [("neutral", None), ("dissatisfied", None)]


def test_a_suggestion_that_reads_like_a_question_is_kept_as_the_comment() -> None:
    chat = CareChat(sender="web-care-10")
    chat.book()
    chat.say('/rate_satisfaction{"satisfaction":"neutral"}')
    chat.say("希望周末也能办证", "ask_yidi")
    assert "收到" in chat.text and chat.active_loop is None
    (row,) = rows()
    assert row.comment == "希望周末也能办证"


@pytest.mark.parametrize(
    ("text", "rating"),
    [("不满意", "dissatisfied"), ("很满意", "satisfied"), ("一般般吧", "neutral"), ("嗯", None)],
)
def test_typed_ratings_are_read_from_the_wording(text: str, rating: Optional[str]) -> None:
    chat = Chat(sender="web-care-words")
    chat.latest = {"text": text, "intent": {"name": "rate_satisfaction"}, "entities": []}
    assert care.rating_from(chat._tracker()) == rating


# --- the store on SQLite and PostgreSQL --------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'care.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    migrate(url, sync=False)
    yield get_engine(url)
    dispose_engines()


def test_racing_turns_ask_once_and_rate_once(engine: Any) -> None:
    satisfaction = SatisfactionStore(engine)
    at = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)
    barrier = threading.Barrier(8)

    def ask(_: int) -> bool:
        barrier.wait()
        return satisfaction.claim_ask("oOpenid1", "wechat", "passport", at=at)

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(ask, range(8))) == [False] * 7 + [True]

    def rate(i: int) -> bool:
        barrier.wait()
        return satisfaction.rate("oOpenid1", ("satisfied", "neutral")[i % 2], at=at)

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(rate, range(8))) == 1
    assert not satisfaction.rate("oOpenid1", "satisfied", at=at)
    assert not satisfaction.rate("someone-else", "satisfied", at=at)  # never asked
    assert not satisfaction.rate("oOpenid1", "excellent", at=at)  # not a rating
    assert satisfaction.comment("oOpenid1", "身份证 33052119900315001X 拍照太慢", at=at)
    assert not satisfaction.comment("oOpenid1", "second comment", at=at)
    with engine.connect() as conn:
        row = conn.execute(select(SatisfactionRating.__table__)).one()
    assert row.conversation_id == conversation_key("oOpenid1", at)
    assert "33052119900315001X" not in row.comment and "拍照太慢" in row.comment
    # the next day is another conversation: asked again
    assert satisfaction.claim_ask("oOpenid1", "wechat", "passport", at=at.replace(day=3))


def test_a_down_store_never_breaks_the_answer(tmp_path: Path) -> None:
    broken = get_engine(f"sqlite:///{tmp_path / 'missing' / 'no-tables.db'}")
    satisfaction = SatisfactionStore(broken)  # no tables: every call fails inside
    assert satisfaction.claim_ask("s", "rest", "booking") is False
    assert satisfaction.rate("s", "satisfied") is False
    dispose_engines()


def test_the_rating_that_starts_the_comment_form_is_not_taken_for_the_comment() -> None:
    """Rasa validates every slot set since the user spoke, including a comment slot set to
    None before the form started: the form must still ask (seen live)."""
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from bot.domain_files import load_domain

    payload = '/rate_satisfaction{"satisfaction":"satisfied"}'
    latest = {"text": payload, "intent": {"name": "rate_satisfaction", "confidence": 1.0}}
    tracker = Tracker(
        "web-activation",
        {care.COMMENT_SLOT: None, "requested_slot": None},
        {**latest, "entities": []},
        [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": payload, "parse_data": latest},
            {"event": "action", "name": "action_record_satisfaction"},
            {"event": "active_loop", "name": care.COMMENT_FORM},
            # Rasa's FormAction hands every slot set since the user spoke to the validator
            # as a candidate, appended last (a cleared comment slot is one of them)
            slot_event(care.COMMENT_SLOT, None),
        ],
        False,
        None,
        {"name": care.COMMENT_FORM},
        "action_record_satisfaction",
    )
    action = care.ValidateSatisfactionCommentForm()
    events = asyncio.run(action.run(CollectingDispatcher(), tracker, load_domain()))
    assert [e.get("value") for e in events if e.get("name") == care.COMMENT_SLOT] in ([], [None])
