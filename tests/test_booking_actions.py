"""The booking actions, driven turn by turn with rasa_sdk Trackers against a temporary SQLite.

`Chat` below plays Rasa's part with the same contract as rasa/core/actions/forms.py in
3.6: slot mappings (conditions, not_intent) fill candidates, `validate_<form>` runs after
every user message, a form that extracts nothing for the requested slot is rejected, the
next slot is asked with `action_ask_<slot>` (seeing the validator's messages as bot events),
or with the response `utter_ask_<form>_<slot>` / `utter_ask_<slot>` when there is no such action,
and a finished form runs its submit action (the rules in data/dialogue/booking.yml).
Between turns the conversation goes through the same masking as bot.stores'
MaskingSQLTrackerStore (every ID and phone masked), so slots must survive that.
No model and no network are involved.

The clock is fixed at Tuesday 2026-12-01 10:05 (Asia/Shanghai).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.after_green_channel as after_green_channel
import actions.booking as booking
import actions.booking.common as booking_common
import actions.booking.validate as booking_validate
import actions.emergency as emergency
from actions.booking import find_booking_code
from actions.forms_base import is_stop_request
from actions.handoff import ActionHandoff
from bot.domain_files import load_domain
from bot.privacy import mask_text

ROOT = Path(__file__).resolve().parent.parent
DOMAIN: Dict[str, Any] = load_domain()
NOW = datetime(2026, 12, 1, 10, 5)
ADULT_ID = "33052119900315001X"
MINOR_ID = "330521201503150016"
PHONE = "13957124321"
OTHER_PHONE = "13912345670"
CODE_RE = re.compile(r"预约号：([A-Z]{2}-(?:[0-9A-Z]{8}|[0-9A-Z]{5}))(?![0-9A-Z])")

FORM_TRIGGERS = {
    "book_appointment": "booking_form",
    "lookup_booking": "booking_lookup_form",
    "cancel_booking": "booking_cancel_form",
    "reschedule_booking": "booking_reschedule_form",
}
FORM_SUBMIT = {
    "booking_form": "action_submit_booking",
    "booking_lookup_form": "action_lookup_booking",
    "booking_cancel_form": "action_cancel_booking",
    "booking_reschedule_form": "action_reschedule_booking",
}


def _registry() -> Dict[str, Action]:
    found: Dict[str, Action] = {"action_handoff": ActionHandoff()}
    booking_modules = (
        booking.validate,
        booking.ask,
        booking.submit,
    )  # the modules that define actions
    for module in (*booking_modules, after_green_channel, emergency):
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Action)
                and obj.__module__ == module.__name__
            ):
                try:
                    instance = obj()
                except TypeError:  # abstract bases
                    continue
                found[instance.name()] = instance
    return found


ACTIONS = _registry()
ALL_CHATS: List["Chat"] = []


def slot_event(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


def _fill(template: str, values: Dict[str, Any], name: str) -> str:
    missing = [v for v in re.findall(r"\{(\w+)\}", template) if values.get(v) is None]
    assert not missing, f"{name}: no value for {missing}"
    filled = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)
    return filled.replace("{{", "{").replace("}}", "}")  # Rasa's interpolation unescapes these


def render(message: Dict[str, Any], slots: Dict[str, Any]) -> Dict[str, Any]:
    """What Rasa's TemplatedNaturalLanguageGenerator sends for `utter_message(response=...)`:
    the domain response's text and buttons filled from the message's variables and the slots,
    then the message's own buttons (rasa RemoteAction adds them after the response's). A
    missing response or an unfilled variable fails the test."""
    name = message.get("response")
    if not name:
        return message
    assert name in DOMAIN["responses"], f"no domain response {name}"
    values = {**slots, **{k: v for k, v in message.items() if v is not None}}
    variation = DOMAIN["responses"][name][0]
    text = _fill(variation["text"], values, name)
    buttons = [
        {"title": _fill(b["title"], values, name), "payload": _fill(b["payload"], values, name)}
        for b in variation.get("buttons") or []
    ] + list(message.get("buttons") or [])
    return {**message, "text": text, "buttons": buttons}


def stored(value: Any) -> Any:
    """What bot.stores.MaskingSQLTrackerStore writes: IDs and phones masked everywhere."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stored(v) for v in value]
    return value


class Chat:
    """One conversation: Rasa's form loop, rules and slot mappings, in miniature."""

    def __init__(self, sender: str = "wx-openid-A", channel: str = "rest") -> None:
        self.sender = sender
        self.channel = channel
        self.slots: Dict[str, Any] = {name: None for name in DOMAIN["slots"]}
        self.slots["requested_slot"] = None
        self.active_loop: Optional[str] = None
        self.events: List[Dict[str, Any]] = []
        self.latest: Dict[str, Any] = {}
        self.out: List[Dict[str, Any]] = []
        self.transcript: List[Dict[str, Any]] = []
        self.rejected = False
        self.returned: List[Dict[str, Any]] = []  # every event an action returned
        ALL_CHATS.append(self)

    # --- plumbing -----------------------------------------------------------------------
    def _tracker(
        self, extra: Optional[List[Dict[str, Any]]] = None, slots: Optional[Dict[str, Any]] = None
    ) -> Tracker:
        return Tracker(
            self.sender,
            dict(slots if slots is not None else self.slots),
            self.latest,
            list(self.events) + list(extra or []),
            False,
            None,
            {"name": self.active_loop} if self.active_loop else {},
            "action_listen",
        )

    def _apply(self, events: List[Dict[str, Any]]) -> Optional[str]:
        followup = None
        for e in events:
            self.events.append(e)
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]
            elif e.get("event") == "followup":
                followup = e["name"]
            elif e.get("event") == "active_loop":
                self.active_loop = e.get("name")
        return followup

    def _dispatch(self, name: str, tracker: Tracker) -> List[Dict[str, Any]]:
        dispatcher = CollectingDispatcher()
        events = asyncio.run(ACTIONS[name].run(dispatcher, tracker, DOMAIN))
        messages = [render(m, tracker.slots) for m in dispatcher.messages]
        self.out.extend(messages)
        self.transcript.extend(messages)
        self.returned.extend(events)
        for m in messages:  # Rasa records each reply as a BotUttered event (with its variables)
            data = {k: v for k, v in m.items() if k != "text" and v}
            self.events.append(
                {
                    "event": "bot",
                    "text": m.get("text"),
                    "data": {"buttons": m.get("buttons"), **data},
                }
            )
        return events

    def _dispatch_response(self, name: str) -> List[Dict[str, Any]]:
        """A response Rasa utters itself (a form's utter_ask_<slot>), recorded like a reply."""
        message = render({"response": name}, self._tracker().slots)
        self.out.append(message)
        self.transcript.append(message)
        data = {k: v for k, v in message.items() if k != "text" and v}
        data = {"buttons": message.get("buttons"), **data}
        self.events.append({"event": "bot", "text": message.get("text"), "data": data})
        return []

    def _reload(self) -> None:
        """The tracker as the next turn loads it from the (masking) tracker store."""
        self.events = [stored(e) for e in self.events]
        self.slots = {name: None for name in self.slots}
        for e in self.events:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]

    def run_action(self, name: str) -> None:
        followup = self._apply(self._dispatch(name, self._tracker()))
        self.events.append({"event": "action", "name": name})
        if followup:
            self._followup(followup)

    def _followup(self, name: str) -> None:
        if name in FORM_SUBMIT:
            self._activate(name)
        else:
            self.run_action(name)

    # --- slot mappings (rasa ActionExtractSlots) -----------------------------------------
    def _extract_global(self) -> None:
        """Mappings without conditions fill on every message (emergency_type,
        green_channel_context, service …), as Rasa's action_extract_slots does."""
        entities = {e["entity"]: e["value"] for e in self.latest.get("entities", [])}
        for slot, spec in DOMAIN["slots"].items():
            for mapping in spec.get("mappings") or []:
                if (
                    mapping["type"] == "from_entity"
                    and not mapping.get("conditions")
                    and mapping["entity"] in entities
                ):
                    self._apply([slot_event(slot, entities[mapping["entity"]])])
                    break

    def _extract(self) -> Dict[str, Any]:
        intent = self.latest["intent"]["name"]
        entities = {e["entity"]: e["value"] for e in self.latest.get("entities", [])}
        found: Dict[str, Any] = {}
        for slot, spec in DOMAIN["slots"].items():
            for mapping in spec.get("mappings") or []:
                if intent in (mapping.get("not_intent") or []):
                    continue
                conditions = mapping.get("conditions")
                if conditions and not any(
                    c.get("active_loop") == self.active_loop
                    and c.get("requested_slot") in (None, self.slots["requested_slot"])
                    for c in conditions
                ):
                    continue
                if mapping["type"] == "from_entity" and mapping["entity"] in entities:
                    found[slot] = entities[mapping["entity"]]
                    break
                if mapping["type"] == "from_text" and self.active_loop:
                    found[slot] = self.latest["text"]
                    break
        return found

    # --- the form loop (rasa FormAction) --------------------------------------------------
    def _required(self, form: str) -> List[str]:
        return DOMAIN["forms"][form]["required_slots"]

    def _validate(self, form: str, candidates: Dict[str, Any]) -> List[Dict[str, Any]]:
        extra = [
            slot_event("requested_slot", self.slots["requested_slot"]),
            {"event": "action", "name": form},
        ]
        extra += [slot_event(k, v) for k, v in candidates.items()]
        slots = dict(self.slots)
        slots.update(candidates)
        return self._dispatch(f"validate_{form}", self._tracker(extra, slots))

    def _continue(self, form: str, events: List[Dict[str, Any]]) -> None:
        requested_events = [
            e for e in events if e.get("event") == "slot" and e["name"] == "requested_slot"
        ]
        if requested_events and requested_events[-1]["value"] is None:
            return self._deactivate(form)
        if requested_events:
            next_slot = requested_events[-1]["value"]
        else:
            next_slot = next((s for s in self._required(form) if self.slots.get(s) is None), None)
        if next_slot is None:
            return self._deactivate(form)
        self._apply([slot_event("requested_slot", next_slot)])
        if f"action_ask_{next_slot}" in ACTIONS:
            self._apply(self._dispatch(f"action_ask_{next_slot}", self._tracker()))
        else:  # rasa FormAction: utter_ask_<form>_<slot>, else utter_ask_<slot>
            names = (f"utter_ask_{form}_{next_slot}", f"utter_ask_{next_slot}")
            name = next(n for n in names if n in DOMAIN["responses"])
            self._apply(self._dispatch_response(name))

    def _deactivate(self, form: str) -> None:
        self.active_loop = None
        self._apply([slot_event("requested_slot", None)])
        self.run_action(FORM_SUBMIT[form])

    def _activate(self, form: str) -> None:
        self.active_loop = form
        self._apply([slot_event(k, v) for k, v in self._extract().items()])
        prefilled = {
            s: self.slots[s] for s in self._required(form) if self.slots.get(s) is not None
        }
        events = self._validate(form, prefilled)
        self._apply(events)
        self._continue(form, events)

    def _form_turn(self) -> bool:
        form = self.active_loop
        assert form is not None
        candidates = {k: v for k, v in self._extract().items() if k in self._required(form)}
        events = self._validate(form, candidates)
        others = [e for e in events if e.get("event") == "slot" and e["name"] != "requested_slot"]
        if self.slots["requested_slot"] and not candidates and not others:
            return False  # ActionExecutionRejection: the rules answer instead
        self._apply([slot_event(k, v) for k, v in candidates.items()])
        self._apply(events)
        self._continue(form, events)
        return True

    # --- a user turn (rules in data/dialogue/booking.yml) ---------------------------------
    def say(
        self, text: str, intent: str = "inform", entities: Optional[Dict[str, Any]] = None
    ) -> str:
        m = re.fullmatch(r"/(\w+)(\{.*\})?", text)
        if m:  # a button payload, like RegexMessageHandler
            intent = m.group(1)
            entities = json.loads(m.group(2)) if m.group(2) else {}
        self._reload()
        self.latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "intent_ranking": [{"name": intent, "confidence": 1.0}],
            "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
        }
        self.events.append(
            {
                "event": "user",
                "text": text,
                "parse_data": self.latest,
                "input_channel": self.channel,
            }
        )
        self.out = []
        self.rejected = False
        self._extract_global()
        if self.active_loop:
            if self._form_turn():
                return self.text
            self.rejected = True
            if intent == "request_human":
                self.run_action("action_handoff")
                self.active_loop = None  # action_deactivate_loop
                self._apply([slot_event("requested_slot", None)])
            elif intent == "report_emergency":
                self.run_action("action_green_channel")
            return self.text
        # data/dialogue/after_green_channel.yml, data/dialogue/emergency.yml
        context = self.slots.get("green_channel_context")
        if intent == "report_emergency":
            self.run_action("action_green_channel")
        elif context and intent == "book_appointment":
            self.run_action("action_start_priority_booking")
        elif context and intent == "ask_documents":
            self.run_action("action_green_channel_proofs")
        elif context and intent == "ask_processing_time":
            self.run_action("action_green_channel_speed")
        elif intent == "affirm" and self.slots.get("interrupted_form"):
            self.run_action("action_resume_task")
        elif intent in FORM_TRIGGERS:
            self._activate(FORM_TRIGGERS[intent])
        elif intent == "book_priority":
            self.run_action("action_start_priority_booking")
        elif intent == "my_bookings":
            self.run_action("action_my_bookings")
        elif intent == "request_human":
            self.run_action("action_handoff")
        return self.text

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.out)

    @property
    def buttons(self) -> List[Dict[str, str]]:
        return [b for m in self.out for b in m.get("buttons") or []]

    def book(
        self,
        *,
        service: str = "passport",
        hall: str = "huzhou",
        day: str = "明天",
        at: str = "09:00",
        name: str = "张三",
        id_number: str = ADULT_ID,
        phone: str = PHONE,
    ) -> str:
        self.say("我想预约", "book_appointment")
        self.say(f'/inform{{"service":"{service}"}}')
        self.say(f'/inform{{"booking_hall":"{hall}"}}')
        self.say(day)
        self.say(f'/inform{{"booking_time":"{at}"}}')
        self.say(name)
        self.say(id_number)
        self.say(phone)
        assert "确认预约吗" in self.text, self.text
        self.say("/affirm")
        m = CODE_RE.search(self.text)
        assert m, self.text
        return m.group(1)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh SQLite booking store per test, migrated, with the halls from data/kb."""
    from bot.booking import dispose_engines, migrate
    from bot.settings import get_settings

    url = f"sqlite:///{tmp_path / 'booking.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    migrate(url)
    monkeypatch.setattr(booking_common, "now", lambda: NOW)
    ALL_CHATS.clear()
    yield url
    # Personal data never leaves unmasked, in any reply of any test.
    for chat in ALL_CHATS:
        blob = json.dumps([chat.transcript, chat.slots], ensure_ascii=False)
        for raw in (ADULT_ID, MINOR_ID, PHONE, OTHER_PHONE, "139 5712 4321"):
            assert raw not in blob, f"unmasked {raw} in a reply"
    dispose_engines()
    get_settings.cache_clear()


def repo():
    from bot.booking import BookingRepository

    return BookingRepository()


def pending(chat: "Chat", field: str) -> Optional[str]:
    """The clear value the booking form keeps server-side (bot.booking.pending) for a chat."""
    from bot.booking import PendingPersonalStore

    return PendingPersonalStore().get(chat.sender, field)


# --- booking ------------------------------------------------------------------------------------


def test_full_booking_confirms_with_code_and_masked_values_and_forgets_id_and_phone():
    chat = Chat()
    chat.say("我想预约", "book_appointment")
    assert "哪项业务" in chat.text
    assert '/inform{"service":"passport"}' in {b["payload"] for b in chat.buttons}
    chat.say('/inform{"service":"passport"}')
    assert {b["title"] for b in chat.buttons} >= {"湖州市市民服务中心出入境接待大厅"}
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert "哪天" in chat.text and '/inform{"booking_date":"2026-12-01"}' in {
        b["payload"] for b in chat.buttons
    }
    chat.say("明天")
    assert "2026年12月2日" in chat.text
    assert "09:00" in {b["title"] for b in chat.buttons}
    chat.say('/inform{"booking_time":"09:00"}')
    assert "姓名" in chat.text
    chat.say("张三")
    assert "身份证" in chat.text
    chat.say(ADULT_ID)
    assert "手机" in chat.text
    chat.say("139 5712 4321")
    assert (
        "330521********001X" in chat.text
        and "139****4321" in chat.text
        and "确认预约吗" in chat.text
    )
    assert [b["payload"] for b in chat.buttons] == ["/affirm", "/deny"]
    chat.say("/affirm")
    text = chat.text
    assert "预约成功" in text
    code = CODE_RE.search(text).group(1)
    assert code.startswith("HZ-")
    for part in (
        "湖州市市民服务中心出入境接待大厅",
        "2026年12月2日",
        "09:00",
        "请携带",
        "居民身份证",
        "330521********001X",
        "139****4321",
    ):
        assert part in text, part
    assert chat.active_loop is None
    assert chat.slots["booking_id_number"] is None and chat.slots["booking_phone"] is None
    assert all(chat.slots[s] is None for s in booking.BOOKING_SLOTS)
    view = repo().get(code)
    assert view.status == "active" and view.day == date(2026, 12, 2) and view.start == time(9, 0)


def test_the_booking_keeps_the_conversations_language_for_the_reminder():
    """bot.reminders writes the day-before reminder in bookings.language."""
    from sqlalchemy import select

    from bot.booking.models import Booking

    chinese = Chat(sender="wx-zh").book()
    english = Chat(sender="wx-en")
    english.say("我想预约", "book_appointment")
    english.say('/inform{"service":"passport"}')
    english.say('/inform{"booking_hall":"huzhou"}')
    english.say("明天")
    english.say('/inform{"booking_time":"10:00"}')
    english.say("李四")
    english.say(MINOR_ID)
    english.say(OTHER_PHONE)
    # The Rasa server sets the slot from each message (bot.rasa_patches); here, as an event.
    english._apply([slot_event("language", "en")])
    english.say("/affirm")
    assert CODE_RE.search(english.text), english.text
    table = Booking.__table__
    with repo()._engine.connect() as conn:
        rows = dict(conn.execute(select(table.c.sender_id, table.c.language)).all())
    assert rows == {"wx-zh": "zh", "wx-en": "en"}
    assert repo().get(chinese).status == "active"


def test_one_message_can_carry_service_hall_and_date():
    chat = Chat()
    chat.say(
        "想预约明天去德清办护照", "book_appointment", {"service": "passport", "place": "deqing"}
    )
    assert chat.slots["booking_service"] == "passport"
    assert chat.slots["booking_hall"] == "deqing"
    assert chat.slots["booking_date"] == "2026-12-02"
    assert chat.slots["requested_slot"] == "booking_time"


# --- details in any message -------------------------------------------------------------------


def _asked(chat: "Chat") -> str:
    """Everything the bot said so far in this chat (to check what it never asked)."""
    return "\n".join(m.get("text") or "" for m in chat.transcript)


def test_first_message_with_service_and_date_asks_only_what_is_missing():
    chat = Chat()
    chat.say("我想预约明天去办港澳通行证", "book_appointment", {"service": "hk_macau_permit"})
    assert chat.slots["booking_service"] == "hk_macau_permit"
    assert chat.slots["booking_date"] == "2026-12-02"
    assert chat.slots["requested_slot"] == "booking_hall" and "大厅" in chat.text
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert chat.slots["booking_date"] == "2026-12-02", "the date is kept once the hall is chosen"
    assert chat.slots["requested_slot"] == "booking_time" and "2026年12月2日" in chat.text
    for answer in ('/inform{"booking_time":"09:00"}', "张三", ADULT_ID, PHONE):
        chat.say(answer)
    assert "确认预约吗" in chat.text
    chat.say("/affirm")
    assert "预约成功" in chat.text
    asked = _asked(chat)
    assert "哪项业务" not in asked and "哪天" not in asked, asked
    view = repo().get(CODE_RE.search(chat.text).group(1))
    assert view.service == "hk_macau_permit" and view.day == date(2026, 12, 2)


def test_unknown_hall_in_the_first_message_gets_the_hall_steps_reply_and_keeps_the_rest():
    chat = Chat()
    chat.say(
        "帮我约下周三上午杭州市民中心办护照",
        "book_appointment",
        {"service": "passport", "place": "hangzhou"},
    )
    assert "目前可以预约的是下面这些大厅" in chat.text
    assert {b["payload"] for b in chat.buttons} == {
        '/inform{"booking_hall":"huzhou"}',
        '/inform{"booking_hall":"deqing"}',
    }
    assert chat.slots["booking_service"] == "passport" and chat.slots["booking_hall"] is None
    assert (
        chat.slots["booking_date"] == "2026-12-09"
        and chat.slots["booking_part_of_day"] == "morning"
    )
    chat.say("德清")
    titles = [b["title"] for b in chat.buttons]
    assert chat.slots["requested_slot"] == "booking_time" and "上午" in chat.text
    assert titles and all(t < "12:00" for t in titles), titles
    chat.say(titles[0])
    assert chat.slots["requested_slot"] == "booking_name"
    assert "哪项业务" not in _asked(chat) and "哪天" not in _asked(chat)


def test_a_time_in_the_first_message_waits_for_the_hall_and_is_then_checked():
    chat = Chat()
    chat.say("我想约明天上午10点办护照", "book_appointment", {"service": "passport"})
    assert (
        chat.slots["booking_date"] == "2026-12-02"
        and chat.slots["requested_slot"] == "booking_hall"
    )
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert chat.slots["booking_time"] == "10:00"
    assert chat.slots["requested_slot"] == "booking_name", chat.text


def test_a_day_full_at_the_hall_chosen_later_gets_the_date_steps_reply(
    monkeypatch: pytest.MonkeyPatch,
):
    real = booking_validate.free_slots

    def full_on_wednesday(hall_id: str, day: date, priority: bool, current: datetime) -> list:
        return [] if day == date(2026, 12, 2) else real(hall_id, day, priority, current)

    monkeypatch.setattr(booking_validate, "free_slots", full_on_wednesday)
    chat = Chat()
    chat.say("我想预约明天去办港澳通行证", "book_appointment", {"service": "hk_macau_permit"})
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert "约满" in chat.text and chat.slots["booking_date"] is None
    payloads = [b["payload"] for b in chat.buttons]
    assert payloads and '/inform{"booking_date":"2026-12-02"}' not in payloads
    assert chat.slots["requested_slot"] == "booking_date"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("我想预约昨天去办护照", "已经过去了"),
        ("预约这周六去办护照", "周六"),
        ("预约2027年3月1日办护照", "30天以内"),
    ],
)
def test_an_invalid_date_in_the_first_message_gets_the_polite_reason_then_the_date_step(
    text: str, reason: str
):
    chat = Chat()
    chat.say(text, "book_appointment", {"service": "passport"})
    assert reason in chat.text, chat.text
    assert chat.slots["booking_date"] is None and chat.slots["booking_service"] == "passport"
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert chat.slots["requested_slot"] == "booking_date" and "哪天" in chat.text


def test_an_invalid_date_with_a_known_hall_is_answered_with_free_days():
    chat = Chat()
    chat.say(
        "预约这周六去德清办护照", "book_appointment", {"service": "passport", "place": "deqing"}
    )
    assert (
        "周六" in chat.text
        and chat.slots["booking_hall"] == "deqing"
        and chat.slots["booking_date"] is None
    )
    payloads = [b["payload"] for b in chat.buttons]
    assert payloads and all(p.startswith('/inform{"booking_date":"2026-12') for p in payloads)


def test_an_answer_at_the_service_step_can_also_name_the_hall_and_the_date():
    chat = Chat()
    chat.say("我想预约", "book_appointment")
    chat.say("护照，后天去德清", "inform", {"service": "passport", "place": "deqing"})
    assert chat.slots["booking_service"] == "passport"
    assert chat.slots["booking_hall"] == "deqing"
    assert chat.slots["booking_date"] == "2026-12-03"
    assert chat.slots["requested_slot"] == "booking_time"


def test_id_and_phone_in_the_first_message_are_not_taken_outside_their_steps():
    chat = Chat()
    chat.say(
        f"我想预约明天办护照 {ADULT_ID} {PHONE}",
        "book_appointment",
        {"service": "passport", "place": "huzhou"},
    )
    assert chat.slots["booking_id_number"] is None and chat.slots["booking_phone"] is None
    assert pending(chat, "id_number") is None and pending(chat, "phone") is None
    assert chat.slots["booking_date"] == "2026-12-02"


def test_text_answers_and_afternoon_pick_afternoon_slots():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say("港澳通行证")
    assert chat.slots["booking_service"] == "hk_macau_permit"
    chat.say("去湖州")
    assert chat.slots["booking_hall"] == "huzhou"
    chat.say("周五下午")
    assert chat.slots["booking_date"] == "2026-12-04"
    titles = [b["title"] for b in chat.buttons]
    assert titles and all(t >= "13:30" for t in titles) and "下午" in chat.text
    chat.say("两点半")
    assert chat.slots["booking_time"] == "14:30"


def test_residence_permit_is_not_offered_at_deqing():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"residence_permit"}')
    assert [b["payload"] for b in chat.buttons] == ['/inform{"booking_hall":"huzhou"}']
    chat.say("德清")
    assert "暂不办理" in chat.text and chat.slots["booking_hall"] is None


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("11月20号", "已经过去了"),
        ("周六", "周六"),
        ("2027-03-01", "30天以内"),
        ("火星上的某一天", "没看懂"),
        ("", "没看懂"),
    ],
)
def test_bad_dates_get_the_reason_and_next_free_days(answer: str, reason: str):
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say(answer)
    assert reason in chat.text, chat.text
    assert chat.slots["booking_date"] is None and chat.active_loop == "booking_form"
    payloads = [b["payload"] for b in chat.buttons]
    assert payloads and all(p.startswith('/inform{"booking_date":"2026-12') for p in payloads)


def test_full_day_offers_the_next_free_days():
    from bot.booking import SlotView

    real = booking_validate.free_slots

    def full_on_wednesday(
        hall_id: str, day: date, priority: bool, current: datetime
    ) -> list[SlotView]:
        return [] if day == date(2026, 12, 2) else real(hall_id, day, priority, current)

    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    booking_validate.free_slots = full_on_wednesday
    try:
        chat.say("明天")
    finally:
        booking_validate.free_slots = real
    assert "约满" in chat.text
    assert [b["payload"] for b in chat.buttons][0] == '/inform{"booking_date":"2026-12-03"}'


def test_a_2027_date_carries_the_calendar_note(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(booking_common, "now", lambda: datetime(2026, 12, 20, 10, 0))
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say("2027年1月4日")
    assert chat.slots["booking_date"] == "2027-01-04"
    assert "2027年节假日安排尚未公布" in chat.text


def test_a_2027_spring_festival_date_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(booking_common, "now", lambda: datetime(2027, 1, 20, 10, 0))
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say("2027年2月5日")
    assert chat.slots["booking_date"] is None
    assert "春节假期" in chat.text and "不对外办公" in chat.text
    offered = [b["payload"] for b in chat.buttons]
    assert offered and not any(f"2027-02-0{d}" in p for d in (5, 6, 7, 8) for p in offered)


def test_invalid_id_and_phone_get_polite_reasons_and_are_never_echoed():
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9点",
        "李四",
    ):
        chat.say(answer)
    chat.say("123456")
    assert "18位" in chat.text and chat.slots["booking_id_number"] is None
    chat.say("330521199003150011")  # wrong check digit
    assert "校验位" in chat.text
    chat.say("身份证号是 " + ADULT_ID)
    # The slot shows the masked form; the value itself waits server-side (no tracker history).
    assert (
        chat.slots["booking_id_number"] == "330521********001X"
        and pending(chat, "id_number") == ADULT_ID
    )
    chat.say("12345")
    assert chat.slots["booking_phone"] is None and "手机" in chat.text
    chat.say("1" * 100)
    assert "太长" in chat.text and chat.active_loop == "booking_form"
    chat.say("我的手机是" + PHONE)
    assert chat.slots["booking_phone"] == "139****4321" and pending(chat, "phone") == PHONE


def test_sql_looking_and_question_like_names_are_refused():
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9点",
    ):
        chat.say(answer)
    chat.say("Robert'); DROP TABLE bookings;--")
    assert chat.slots["booking_name"] is None and "姓名" in chat.text
    chat.say("护照要带什么")
    assert chat.slots["booking_name"] is None and "不约了" in chat.text
    chat.say("我叫王小明")
    assert chat.slots["booking_name"] == "王小明"


def test_minor_gets_the_guardian_reminder_in_the_form_and_the_confirmation():
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "10:00",
        "张小宝",
    ):
        chat.say(answer)
    chat.say(MINOR_ID)
    assert "监护人" in chat.text and "户口簿" in chat.text and "出生证明" in chat.text
    chat.say(PHONE)
    chat.say("/affirm")
    assert "预约成功" in chat.text and "监护人" in chat.text


def test_stop_phrases_end_the_form_politely_and_forget_the_answers():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say("算了", "deny")  # the core NLU files 算了 under deny
    assert "不约了" in chat.text
    assert chat.active_loop is None and chat.slots["booking_service"] is None
    assert repo().list_for_sender(chat.sender) == []

    chat2 = Chat(sender="wx-openid-B")
    chat2.say("预约", "book_appointment")
    chat2.say('/inform{"service":"taiwan_permit"}')
    chat2.say('/inform{"booking_hall":"huzhou"}')
    chat2.say("不约了", "stop_form")
    assert chat2.active_loop is None and chat2.slots["booking_hall"] is None


@pytest.mark.parametrize(
    "text, stop",
    [
        ("算了", True),
        ("算了吧", True),
        ("不约了", True),
        ("先不预约了", True),
        ("不約了", True),
        ("Never mind", True),
        ("算了不报了", True),  # the grid forms' verbs (data/wording/forms.yml)
        ("算了，不上报了", True),
        ("我不想举报了", True),
        ("不查了谢谢", True),
        ("不取消", False),
        ("算了算了我还是约明天吧", False),
        ("不对", False),
        ("张三", False),
    ],
)
def test_stop_phrases(text: str, stop: bool):
    tracker = Tracker(
        "s", {}, {"text": text, "intent": {"name": "inform"}}, [], False, None, {}, None
    )
    assert is_stop_request(tracker) is stop


def test_three_failed_tries_offer_a_hand_over_instead_of_looping():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say("啦啦啦")
    chat.say("随便")
    assert chat.active_loop == "booking_form" and chat.slots["form_failures"] == {"booking_date": 2}
    chat.say("不知道")
    assert "转人工" in chat.text
    assert {"title": "转人工", "payload": "/request_human"} in chat.buttons
    assert chat.active_loop is None
    assert chat.slots["booking_service"] == "passport" and chat.slots["booking_hall"] == "huzhou"
    assert "哪天" not in chat.text  # not asked a fourth time
    chat.say("/book_appointment")  # 继续预约
    assert chat.active_loop == "booking_form" and chat.slots["requested_slot"] == "booking_date"


def test_request_human_during_the_form_is_handed_over_and_keeps_the_answers():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say("转人工", "request_human")
    # a case in the handoff queue (actions/handoff.py): the place and wait, or 12367 off hours
    assert chat.rejected and "转人工服务" in chat.text
    assert chat.active_loop is None and chat.slots["booking_service"] == "passport"


def test_modify_at_confirmation_reasks_only_that_field():
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
        PHONE,
    ):
        chat.say(answer)
    chat.say("/deny")
    assert "修改哪一项" in chat.text and "改手机号" in {b["title"] for b in chat.buttons}
    chat.say("改手机号", "reschedule_booking")
    assert chat.slots["booking_phone"] is None and chat.slots["requested_slot"] == "booking_phone"
    chat.say(OTHER_PHONE)
    assert "139****5670" in chat.text and "确认预约吗" in chat.text


def test_dead_database_keeps_the_form_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from bot.booking import BookingRepository
    from bot.booking.db import make_engine

    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in (
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
        PHONE,
    ):
        chat.say(answer)
    (tmp_path / "file").write_text("x")
    dead = BookingRepository(make_engine(f"sqlite:///{tmp_path / 'file' / 'no.db'}"))
    monkeypatch.setattr(booking_common, "_repo", lambda: dead)
    chat.say("/affirm")
    assert "暂时不可用" in chat.text and "保留" in chat.text
    assert chat.slots["booking_confirm"] is None
    assert (
        chat.slots["booking_id_number"] == "330521********001X"
        and chat.slots["booking_time"] == "09:00"
    )
    assert pending(chat, "id_number") == ADULT_ID  # kept server-side for the retry
    monkeypatch.undo()
    monkeypatch.setattr(booking_common, "now", lambda: NOW)
    assert repo().list_for_sender(chat.sender) == []
    chat.say("继续预约", "book_appointment")
    assert "确认预约吗" in chat.text
    chat.say("/affirm")
    assert "预约成功" in chat.text


def test_green_channel_books_today_or_next_working_day_from_reserved_seats():
    chat = Chat()
    chat.say("帮我约绿色通道", "book_priority")
    assert "绿色通道" in chat.text and chat.slots["booking_priority"] is True
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    days = [b["payload"] for b in chat.buttons]
    assert days == ['/inform{"booking_date":"2026-12-01"}']
    chat.say("下周三")
    assert "今天或下一个工作日" in chat.text
    chat.say("今天")
    titles = [b["title"] for b in chat.buttons]
    assert titles and titles[0] == "10:30" and "绿色通道" in chat.text
    for answer in (titles[0], "张三", ADULT_ID, PHONE):
        chat.say(answer)
    assert "绿色通道" in chat.text
    chat.say("/affirm")
    assert "预约成功" in chat.text and "绿色通道" in chat.text
    code = CODE_RE.search(chat.text).group(1)
    assert repo().get(code).priority is True
    assert chat.slots["booking_priority"] is None


# --- after the green channel -------------------------------------------------------------------


def test_emergency_mid_booking_then_book_the_fastest_continues_as_the_priority_booking():
    chat = Chat()
    chat.say("我想预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say(
        "我爸在美国去世了，要马上赶过去", "report_emergency", {"emergency_type": "bereavement"}
    )
    assert "绿色通道" in chat.text and chat.active_loop is None
    assert chat.slots["interrupted_form"] == "booking_form"
    assert chat.slots["green_channel_context"] == "bereavement"
    chat.say("好的，帮我约最快的", "book_appointment")
    assert chat.active_loop == "booking_form" and chat.slots["booking_priority"] is True
    assert chat.slots["interrupted_form"] is None, "the open 要继续吗 is answered"
    assert chat.slots["booking_service"] == "passport", "the answers given before go on"
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert [b["payload"] for b in chat.buttons] == ['/inform{"booking_date":"2026-12-01"}']
    chat.say("今天")
    titles = [b["title"] for b in chat.buttons]
    for answer in (titles[0], "张三", ADULT_ID, PHONE):
        chat.say(answer)
    assert "绿色通道优先时段" in chat.text
    chat.say("/affirm")
    assert "预约成功" in chat.text
    assert repo().get(CODE_RE.search(chat.text).group(1)).priority is True
    assert chat.slots["emergency_type"] == "bereavement", "the category is kept"
    assert chat.slots["green_channel_context"] is None, "the offer is taken"
    chat.say("帮我预约", "book_appointment")
    assert chat.slots["booking_priority"] is not True, "a later booking is an ordinary one"


def test_proofs_asked_inside_the_priority_booking_are_the_categorys_and_the_form_goes_on():
    from bot.kb.emergency import get_emergency_kb

    info = get_emergency_kb().categories["bereavement"]
    chat = Chat()
    chat.say("我爸在美国去世了", "report_emergency", {"emergency_type": "bereavement"})
    chat.say("帮我约最快的", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    assert chat.slots["requested_slot"] == "booking_hall"
    chat.say("要带什么证明", "ask_documents")
    assert all(proof in chat.text for proof in info.proofs), chat.text
    assert chat.active_loop == "booking_form" and chat.slots["requested_slot"] == "booking_hall"
    assert not chat.slots.get("form_failures")


def test_after_the_green_channel_a_plain_booking_request_is_the_priority_booking():
    chat = Chat()
    chat.say(
        "我儿子在泰国失联了，我得去找他",
        "report_emergency",
        {"emergency_type": "overseas_incident"},
    )
    chat.say("帮我预约", "book_appointment")
    assert chat.active_loop == "booking_form" and chat.slots["booking_priority"] is True
    assert "哪项业务" in chat.text


@pytest.mark.parametrize("category", ["critical_illness_visit", "study_deadline"])
def test_proofs_after_the_green_channel_are_that_categorys(category: str):
    from bot.kb.emergency import get_emergency_kb

    info = get_emergency_kb().categories[category]
    chat = Chat()
    chat.say("很急", "report_emergency", {"emergency_type": category})
    chat.say("要带什么证明", "ask_documents")
    assert info.name in chat.text
    assert all(proof in chat.text for proof in info.proofs), chat.text


def test_a_service_named_with_the_proofs_question_also_gets_its_documents():
    from actions.kb import answer_text
    from bot.kb.emergency import get_emergency_kb

    info = get_emergency_kb().categories["bereavement"]
    chat = Chat()
    chat.say("我爸在美国去世了", "report_emergency", {"emergency_type": "bereavement"})
    chat.say("办护照要带什么", "ask_documents", {"service": "passport"})
    assert answer_text("documents", {"service": "passport"}) in chat.text
    assert info.proofs[0] in chat.text


@pytest.mark.parametrize("question", ["最快什么时候能办", "能不能今天办"])
def test_speed_after_the_green_channel_gives_the_speed_and_the_earliest_seat(question: str):
    from bot.kb.emergency import get_emergency_kb

    kb = get_emergency_kb()
    chat = Chat()
    chat.say(
        "我妈在日本病危，我要马上过去",
        "report_emergency",
        {"emergency_type": "critical_illness_visit"},
    )
    chat.say(question, "ask_processing_time")
    assert kb.categories["critical_illness_visit"].name in chat.text and kb.speed.text in chat.text
    first = repo().priority_slots("huzhou", NOW)[0]
    assert (
        first[0] == NOW.date() and "今天" in chat.text and booking.hhmm(first[1].start) in chat.text
    ), chat.text


def test_speed_when_every_reserved_seat_is_taken_says_so(monkeypatch: pytest.MonkeyPatch):
    from bot.booking import BookingRepository

    monkeypatch.setattr(BookingRepository, "priority_slots", lambda self, hall_id, now: [])
    chat = Chat()
    chat.say(
        "我妈在日本病危，我要马上过去",
        "report_emergency",
        {"emergency_type": "critical_illness_visit"},
    )
    chat.say("最快什么时候能办", "ask_processing_time")
    assert "都已约满" in chat.text and "12367" in chat.text


# --- managing bookings --------------------------------------------------------------------------


def test_my_bookings_lists_the_senders_bookings_masked():
    chat = Chat()
    assert "还没有有效的预约" in chat.say("我的预约", "my_bookings")
    code = chat.book()
    chat.say("我的预约", "my_bookings")
    assert code in chat.text and "139****4321" in chat.text and "330521********001X" in chat.text
    assert f'/cancel_booking{{"booking_code":"{code}"}}' in {b["payload"] for b in chat.buttons}
    other = Chat(sender="wx-openid-B")
    assert code not in other.say("我的预约", "my_bookings")


def test_lookup_from_another_chat_asks_for_the_last_four_digits():
    owner = Chat()
    code = owner.book()
    owner.say(f"查一下{code}", "lookup_booking")
    assert "2026年12月2日" in owner.text and "后四位" not in owner.text

    stranger = Chat(sender="wx-openid-B")
    stranger.say(f"帮我查下预约号{code.lower().replace('-', ' ')}", "lookup_booking")
    assert "后四位" in stranger.text and "2026年12月2日" not in stranger.text
    stranger.say("0000")
    assert "不一致" in stranger.text and stranger.active_loop == "booking_lookup_form"
    stranger.say("后四位是4321")
    assert (
        code in stranger.text
        and "2026年12月2日" in stranger.text
        and "139****4321" in stranger.text
    )
    assert stranger.active_loop is None and stranger.slots["booking_code"] is None


def test_lookup_of_an_unknown_code_and_text_without_code():
    # Since the access review an unknown code is not named as such: like any code from
    # another chat it needs the last four, and the miss reads like a wrong digit.
    chat = Chat()
    chat.say("查一下HZ-ZZZZZ", "lookup_booking")
    assert "后四位" in chat.text and "没有找到" not in chat.text
    chat.say("1234")
    assert "不一致" in chat.text and chat.active_loop == "booking_lookup_form"
    other = Chat(sender="wx-openid-C")
    other.say("查一下预约", "lookup_booking")
    other.say("我忘了")
    assert "没有看到预约号" in other.text


def test_reschedule_keeps_the_code():
    chat = Chat()
    code = chat.book()
    chat.say(f"把{code}改到后天", "reschedule_booking")
    assert (
        chat.slots["booking_date"] == "2026-12-03"
        and chat.slots["requested_slot"] == "booking_time"
    )
    chat.say("下午两点")
    assert "请确认改约" in chat.text and code in chat.text and "2026年12月3日" in chat.text
    chat.say("/affirm")
    assert "改约成功" in chat.text and code in chat.text
    view = repo().get(code)
    assert (view.day, view.start, view.status) == (date(2026, 12, 3), time(14, 0), "active")
    assert chat.slots["booking_code"] is None and chat.slots["booking_date"] is None


def test_reschedule_from_another_chat_needs_the_phone_check_first():
    code = Chat().book()
    stranger = Chat(sender="wx-openid-B")
    stranger.say(f"改约 {code}", "reschedule_booking")
    assert "后四位" in stranger.text
    stranger.say("4321")
    assert "哪天" in stranger.text


def test_cancel_only_after_confirmation():
    chat = Chat()
    code = chat.book()
    chat.say(f"取消预约{code}", "cancel_booking")
    assert "确认取消" in chat.text and "330521********001X" in chat.text
    chat.say("/deny")
    assert "保持不变" in chat.text and repo().get(code).status == "active"
    chat.say("取消预约", "cancel_booking")  # the only booking of this chat is picked
    assert "确认取消" in chat.text and code in chat.text
    chat.say("/affirm")
    assert "已取消" in chat.text and repo().get(code).status == "cancelled"
    chat.say(f"取消{code}", "cancel_booking")
    assert "已经取消了" in chat.text


def test_stop_during_cancel_keeps_the_booking():
    chat = Chat()
    code = chat.book()
    chat.say(f"取消 {code}", "cancel_booking")
    chat.say("算了", "deny")
    assert "预约保持不变" in chat.text and repo().get(code).status == "active"


@pytest.mark.parametrize(
    "text, code",
    [
        ("查一下HZ-7K3Q9", "HZ-7K3Q9"),
        ("hz 7k3q9 取消", "HZ-7K3Q9"),
        ("ＨＺ－７Ｋ３Ｑ９", "HZ-7K3Q9"),
        ("预约号DQ7K3Q9是哪天", "DQ-7K3Q9"),
        ('/lookup_booking{"booking_code":"HZ-7K3Q9"}', "HZ-7K3Q9"),
        ("check booking please", None),
        ("13812345678", None),
    ],
)
def test_booking_codes_are_found_in_free_text(text: str, code: Optional[str]):
    assert find_booking_code(text) == code


def test_naming_a_hall_at_the_date_question_switches_hall_without_a_failure():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    chat.say("还是去德清吧")
    assert chat.slots["booking_hall"] == "deqing" and chat.slots["requested_slot"] == "booking_date"
    assert "德清县公安局出入境管理大队" in chat.text and not chat.slots["form_failures"]


def test_green_channel_on_a_saturday_says_the_hall_is_closed_today(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(booking_common, "now", lambda: datetime(2026, 11, 28, 9, 0))  # Saturday
    chat = Chat()
    chat.say("/book_priority")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"deqing"}')
    assert [b["payload"] for b in chat.buttons] == ['/inform{"booking_date":"2026-11-30"}']
    chat.say("今天")
    assert "周六" in chat.text and "不对外办公" in chat.text


def test_three_wrong_last_digits_end_the_lookup_with_a_hand_over():
    code = Chat().book()
    stranger = Chat(sender="wx-openid-B")
    stranger.say(f"查一下{code}", "lookup_booking")
    for guess in ("1111", "2222", "3333"):
        stranger.say(guess)
    assert (
        "转人工" in stranger.text
        and {"title": "转人工", "payload": "/request_human"} in stranger.buttons
    )
    assert stranger.active_loop is None and stranger.slots["booking_code"] is None
    assert "2026年12月2日" not in json.dumps(stranger.transcript, ensure_ascii=False)


@pytest.mark.parametrize("step", range(8))
def test_huge_or_garbled_input_at_any_step_gets_a_polite_reply(step: int):
    answers = [
        '/inform{"service":"passport"}',
        '/inform{"booking_hall":"huzhou"}',
        "明天",
        "9:00",
        "张三",
        ADULT_ID,
        PHONE,
    ]
    chat = Chat()
    chat.say("预约", "book_appointment")
    for answer in answers[:step]:
        chat.say(answer)
    asked = chat.slots["requested_slot"]
    chat.say("锟斤拷\x00<script>😀" * 1000)
    assert chat.text.strip() and chat.active_loop == "booking_form"
    assert chat.slots[asked] is None or asked == "booking_confirm"


def test_a_validator_exception_becomes_a_polite_reply_and_a_failed_try(
    monkeypatch: pytest.MonkeyPatch,
):
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(booking_validate, "parse_date", boom)
    chat.say("明天")
    assert "出了点问题" in chat.text and chat.active_loop == "booking_form"
    assert chat.slots["form_failures"] == {"booking_date": 1}


def test_a_document_question_mid_form_is_answered_and_the_form_goes_on():
    chat = Chat()
    chat.say("我想预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say('/inform{"booking_hall":"huzhou"}')
    assert "哪天" in chat.text
    chat.say("办护照要带什么材料", "ask_documents", {"service": "passport"})
    assert "身份证" in chat.text and "接着预约" in chat.text
    assert "哪天" in chat.text, "the form asks for the date again"
    assert chat.active_loop == "booking_form" and not chat.slots.get("form_failures")
    chat.say("明天")
    assert "2026年12月2日" in chat.text


# --- halls and facts from the knowledge base ------------------------------------------------------


def test_a_hall_without_booking_sessions_is_not_offered_and_says_so_with_the_hotline(
    monkeypatch: pytest.MonkeyPatch,
):
    from dataclasses import replace

    from bot.kb import get_kb
    from bot.kb.emergency import get_emergency_kb

    halls = get_kb().halls
    monkeypatch.setitem(halls, "deqing", replace(halls["deqing"], sessions=()))
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    assert [b["payload"] for b in chat.buttons] == ['/inform{"booking_hall":"huzhou"}']
    chat.say('/inform{"booking_hall":"deqing"}')
    assert chat.slots["booking_hall"] is None
    assert "暂时还不能在线预约" in chat.text and halls["deqing"].name in chat.text
    assert get_emergency_kb().hotline.text in chat.text


def test_the_hall_question_names_the_halls_from_the_knowledge_base():
    from bot.kb import get_kb

    ask = booking.ActionAskBookingHall()
    tracker = Chat()._tracker(slots={**Chat().slots, "booking_service": "passport"})
    names = ask.fallback_values(tracker)["halls"]
    assert all(h.name in names for h in get_kb().halls.values())
    assert "{halls}" in DOMAIN["responses"]["utter_ask_booking_hall"][0]["text"]


def test_the_hotline_comes_from_the_knowledge_base_and_never_a_typed_number(
    monkeypatch: pytest.MonkeyPatch,
):
    import bot.kb.emergency as emergency_kb
    from bot.kb import get_kb

    assert booking_common._hotline() == emergency_kb.get_emergency_kb().hotline.text

    def unreadable() -> None:
        raise OSError("emergency.yml unreadable")

    monkeypatch.setattr(emergency_kb, "get_emergency_kb", unreadable)
    assert booking_common._hotline() == get_kb().notices["hotline"]  # notices.yml, still data


def test_what_to_bring_takes_the_guardian_and_green_channel_facts_from_the_knowledge_base():
    from bot.kb import get_kb

    minor = get_kb().answer("documents", {"service": "passport", "applicant_type": "minor"})
    assert (
        minor is not None
        and booking_common.guardian_documents("passport") == minor.fact.text.strip()
    )
    proofs = get_kb().answer("green_channel", {"topic": "green_channel"})
    assert proofs is not None and proofs.fact.summary
    assert proofs.fact.summary in booking.what_to_bring("passport", False, True)
    assert booking.service_label("passport") == get_kb().topics["passport"].name


def test_a_halls_full_name_at_the_hall_step_is_the_choice_not_a_location_question():
    """The NLU reads "德清县公安局出入境管理大队" as ask_location (a place named, confidently);
    at the hall question it is the answer, and the form goes on to the date."""
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    assert chat.slots["requested_slot"] == "booking_hall"
    chat.say("德清县公安局出入境管理大队", "ask_location", {"place": "deqing"})
    assert chat.slots["booking_hall"] == "deqing" and chat.slots["requested_slot"] == "booking_date"
    assert not chat.slots["form_failures"]


def test_where_a_hall_is_stays_a_side_question_at_the_hall_step():
    chat = Chat()
    chat.say("预约", "book_appointment")
    chat.say('/inform{"service":"passport"}')
    chat.say("德清的大厅在哪里", "ask_location", {"place": "deqing"})
    assert chat.slots["booking_hall"] is None and chat.slots["requested_slot"] == "booking_hall"
