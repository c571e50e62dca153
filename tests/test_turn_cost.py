"""What keeps a turn cheap, and that it changes no decision: the bounded history that the
policies and the action server see, the tracker cache, the domain sent only to the actions
that read it, and Sanic workers only with the Redis lock store."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import requests
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_window import WINDOW_USER_TURNS, recent_view, window_start
from tests.live import LiveBot

# A person of this test only: other live tests book 33052119900315001X on the same days.
ID = "330521198807080024"
PHONE = "13912340024"
DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, inform, book_appointment]
slots:
  service: {type: text, mappings: [{type: custom}]}
  booking_name: {type: text, mappings: [{type: custom}]}
forms:
  booking_form: {required_slots: [booking_name]}
"""
)


def _turn(tracker: DialogueStateTracker, text: str, intent: str = "greet") -> None:
    tracker.update(UserUttered(text, intent={"name": intent, "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"re: {text}"))
    tracker.update(ActionExecuted("action_listen"))


def _long_tracker(turns: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker("long", DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("办护照", intent={"name": "inform", "confidence": 1.0}))
    tracker.update(SlotSet("service", "passport"))
    tracker.update(ActiveLoop("booking_form"))
    tracker.update(ActionExecuted("action_listen"))
    for n in range(turns):
        _turn(tracker, f"问题 {n}")
    return tracker


def test_a_short_conversation_is_its_own_view():
    tracker = _long_tracker(3)
    assert recent_view(tracker) is tracker
    assert window_start(list(tracker.events)) == 0


def test_the_view_keeps_state_from_before_the_window_and_bounds_the_events():
    tracker = _long_tracker(200)
    view = recent_view(tracker)
    assert len(view.events) < 5 * WINDOW_USER_TURNS + 10 < len(tracker.events)
    assert view.get_slot("service") == "passport", "a slot set 200 turns ago is still set"
    assert view.active_loop_name == "booking_form", "so is the form"
    assert view.latest_message.text == tracker.latest_message.text
    assert [e.text for e in view.events if isinstance(e, UserUttered)][-WINDOW_USER_TURNS:] == [
        e.text for e in tracker.events if isinstance(e, UserUttered)
    ][-WINDOW_USER_TURNS:]

    # The shadow moves on with the conversation: later changes reach the next view.
    tracker.update(SlotSet("service", "hk_macau_permit"))
    tracker.update(ActiveLoop(None))
    for n in range(2 * WINDOW_USER_TURNS):
        _turn(tracker, f"后来 {n}")
    later = recent_view(tracker)
    assert later.get_slot("service") == "hk_macau_permit" and later.active_loop_name is None
    assert len(later.events) < 5 * WINDOW_USER_TURNS + 10


def test_a_copy_keeps_the_shadow_and_its_view_stays_its_own(monkeypatch):
    """Rasa copies the tracker before every action; the copy's view must not replay the
    conversation from its first event, and must not change the original's view."""
    from bot.tracker_state import structural_copy

    tracker = _long_tracker(300)
    recent_view(tracker)  # the shadow now follows this tracker
    copied = structural_copy(tracker)

    replayed: list[Any] = []
    original_update = DialogueStateTracker.update

    def counting_update(self: DialogueStateTracker, event: Any, *args: Any) -> None:
        replayed.append(event)
        original_update(self, event, *args)

    monkeypatch.setattr(DialogueStateTracker, "update", counting_update)
    view = recent_view(copied)
    assert len(replayed) < 10 * WINDOW_USER_TURNS, "the copy's view is built from the window"
    monkeypatch.undo()

    assert view.get_slot("service") == "passport" and view.active_loop_name == "booking_form"
    copied.update(SlotSet("service", "hk_macau_permit"))
    for n in range(2 * WINDOW_USER_TURNS):
        _turn(copied, f"副本 {n}")
    assert recent_view(copied).get_slot("service") == "hk_macau_permit"
    assert recent_view(tracker).get_slot("service") == "passport", "the original is untouched"


def test_the_view_predicts_what_the_whole_history_predicts(live_bot: LiveBot, agent: Any):
    """Every decision of a real 40-turn conversation, replayed with and without the window."""
    sender = f"window-{uuid.uuid4().hex[:8]}"
    messages = [
        "办护照要带什么材料",
        "多少钱",
        "要多久",
        "谢谢",
        "你好",
        "港澳通行证呢",
        "在哪里办",
    ]
    for n in range(40):
        live_bot.say(messages[n % len(messages)], sender)
    events = requests.get(
        f"{live_bot.url}/conversations/{sender}/tracker",
        params={"token": live_bot.env["RASA_AUTH_TOKEN"]},
        timeout=30,
    ).json()["events"]
    processor = agent.processor
    predict = getattr(
        MessageProcessor._predict_next_with_tracker,
        "__wrapped__",
        MessageProcessor._predict_next_with_tracker,
    )
    compared = 0
    for cut in range(len(events)):
        if events[cut]["event"] != "action":
            continue
        full = DialogueStateTracker.from_dict(sender, events[:cut], processor.domain.slots)
        view = recent_view(full)
        if view is full or full.followup_action:
            continue
        expected, got = predict(processor, full), predict(processor, view)
        assert got.max_confidence_index == expected.max_confidence_index, events[cut]
        assert got.policy_name == expected.policy_name
        compared += 1
    assert compared > 50, "the conversation was long enough to be windowed"


def test_a_form_started_long_ago_completes_and_old_slots_still_answer(live_bot: LiveBot):
    """A slot from turn 1 answers turn 30; a booking form interrupted by more turns than the
    window holds still ends in a confirmed booking."""
    sender = f"window-{uuid.uuid4().hex[:8]}"
    live_bot.say("港澳通行证要带什么材料", sender)
    for _ in range(WINDOW_USER_TURNS + 3):
        live_bot.say("谢谢", sender)
    assert "港澳" in live_bot.text("多少钱", sender)

    def payloads(replies: list[dict[str, Any]], marker: str) -> list[str]:
        return [
            b["payload"] for r in replies for b in r.get("buttons") or [] if marker in b["payload"]
        ]

    replies = live_bot.say("我想预约办护照", sender)
    halls = payloads(replies, "booking_hall")
    for _ in range(WINDOW_USER_TURNS + 2):
        replies = live_bot.say("要带什么材料", sender)  # side questions inside the form
    assert payloads(replies, "booking_hall") == halls, "the form asks for the hall again"
    replies = live_bot.say(halls[0], sender)
    replies = live_bot.say(payloads(replies, "booking_date")[0], sender)
    replies = live_bot.say(payloads(replies, "booking_time")[0], sender)
    live_bot.say("王小明", sender)
    live_bot.say(ID, sender)
    live_bot.say(PHONE, sender)
    done = live_bot.text("确认", sender)
    assert "预约成功" in done and re.search(r"预约号[:：]", done), done
    code = re.search(r"预约号[:：]\s*([A-Z]{2}-[A-Z0-9]+)", done).group(1)
    live_bot.say(f"取消预约 {code}", sender)
    assert "取消" in live_bot.text("确认", sender)  # leave the shared test hall as it was


def test_the_tracker_store_reads_only_new_rows_and_keeps_no_clear_id(tmp_path):
    """The kept tracker follows rows written by another replica, and holds masked events."""
    from bot.stores import MaskingSQLTrackerStore

    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    mine = MaskingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", host=url)
    other = MaskingSQLTrackerStore(domain=DOMAIN, dialect="sqlite", host=url, cache_events=0)

    async def scenario() -> None:
        tracker = DialogueStateTracker("c1", DOMAIN.slots)
        tracker.update(UserUttered(f"身份证 {ID}", intent={"name": "inform", "confidence": 1.0}))
        await mine.save(tracker)
        kept = await mine.retrieve("c1")
        assert kept is tracker and ID not in kept.latest_message.text
        assert all(ID not in str(e.as_dict()) for e in kept.events)

        elsewhere = await other.retrieve("c1")
        assert elsewhere is not tracker
        elsewhere.update(SlotSet("service", "passport"))
        _turn(elsewhere, "另一个副本")
        await other.save(elsewhere)

        again = await mine.retrieve("c1")
        assert again.get_slot("service") == "passport"
        assert [e.as_dict() for e in again.events] == [
            e.as_dict() for e in (await other.retrieve("c1")).events
        ]

        again.update(UserUttered("没保存的一轮"))  # a failed turn changed it without saving
        reread = await mine.retrieve("c1")
        assert reread is not again and reread.latest_message.text == "另一个副本"

    asyncio.run(scenario())


def test_the_domain_goes_only_to_the_actions_that_read_it(monkeypatch):
    """Form validators read the form's slots from the domain, action_resume_task its forms;
    every other action gets the tracker alone (enable_selective_domain in endpoints.yml)."""
    import importlib
    import inspect
    import pkgutil

    from rasa.core.actions.action import RemoteAction
    from rasa.core.utils import AvailableEndpoints
    from rasa_sdk.forms import FormValidationAction

    import actions
    from tests.live import ROOT

    for module in pkgutil.iter_modules(actions.__path__):
        importlib.import_module(f"actions.{module.name}")
    monkeypatch.setenv("ACTION_ENDPOINT", "http://127.0.0.1:1/webhook")
    domain = Domain.load(str(ROOT / "domain"))
    endpoint = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")).action
    tracker = DialogueStateTracker("domain-check", domain.slots)

    def sent_domain(name: str) -> bool:
        return "domain" in RemoteAction(name, endpoint)._action_call_format(tracker, domain)

    def all_subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]

    validators = {
        c().name() for c in all_subclasses(FormValidationAction) if not inspect.isabstract(c)
    }
    validators &= set(domain.user_actions)  # the shared base class names no form
    assert len(validators) >= 4 and all(sent_domain(name) for name in validators), validators
    assert sent_domain("action_resume_task")
    assert not sent_domain("action_answer_kb") and not sent_domain("action_submit_booking")


def test_several_sanic_workers_need_the_redis_lock_store():
    import os
    import subprocess
    import sys

    from tests.live import ROOT

    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["SANIC_WORKERS"] = "2"
    done = subprocess.run(
        [sys.executable, "-m", "bot.serve", "run", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "REDIS_URL" in done.stderr
