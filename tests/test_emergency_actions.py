"""actions/emergency.py with rasa_sdk Trackers: the green-channel reply and resuming a form."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.emergency import ActionGreenChannel, ActionResumeTask
from bot.domain_files import load_domain
from bot.kb.emergency import CATEGORIES, load_emergency
from tests.test_emergency_detector import KB_FILE

DOMAIN: Dict[str, Any] = load_domain()
KB = load_emergency(KB_FILE)


def _tracker(
    category: Optional[str],
    text: str = "",
    original_intent: Optional[str] = None,
    active_loop: Optional[str] = None,
    slots: Optional[Dict[str, Any]] = None,
    intent: str = "report_emergency",
) -> Tracker:
    latest: Dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
    }
    if category:
        latest["entities"].append(
            {"entity": "emergency_type", "value": category, "start": 0, "end": 2}
        )
        latest["emergency"] = {
            "category": category,
            "confidence": 0.9,
            "cues": [],
            "original_intent": {"name": original_intent or "report_emergency", "confidence": 0.7},
        }
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    return Tracker(
        "test-user",
        all_slots,
        latest,
        [],
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def _shown(message: Dict[str, Any]) -> Dict[str, Any]:
    """A `response=` message as the citizen sees it: the domain response's text and button
    titles filled from the message's variables."""
    name = message.get("response")
    if not name:
        return message
    template = DOMAIN["responses"][name][0]
    values = {k: v for k, v in message.items() if v is not None}

    def fill(text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)

    shown = {**message, "text": fill(template.get("text", ""))}
    if template.get("buttons"):
        shown["buttons"] = [{**b, "title": fill(b["title"])} for b in template["buttons"]]
    return shown


def _run(action: Any, tracker: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, DOMAIN))
    return [_shown(m) for m in dispatcher.messages], events


@pytest.fixture(autouse=True)
def _no_configured_phone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HALL_HUZHOU_GREEN_PHONE", "HALL_DEQING_GREEN_PHONE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("category", CATEGORIES)
def test_reply_has_channel_proofs_speed_phones_and_buttons(category: str) -> None:
    messages, events = _run(ActionGreenChannel(), _tracker(category))
    reply = messages[0]
    text = reply["text"]
    assert "绿色通道" in text
    for proof in KB.categories[category].proofs:
        assert proof in text
    assert "5个工作日" in text
    assert "12367" in text
    assert "待配置" in text  # halls.yml has no green-channel number yet: never invented
    assert [b["payload"] for b in reply["buttons"]] == ["/book_priority", "/request_human"]
    assert len(text.splitlines()) <= 12  # calm and short, no wall of rules
    assert {"event": "slot", "name": "emergency_type", "value": category} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


def test_condolence_only_for_a_bereavement() -> None:
    assert "节哀" in _run(ActionGreenChannel(), _tracker("bereavement"))[0][0]["text"]
    for other in set(CATEGORIES) - {"bereavement"}:
        assert "节哀" not in _run(ActionGreenChannel(), _tracker(other))[0][0]["text"]


def test_configured_hall_phone_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALL_HUZHOU_GREEN_PHONE", "0572-1234567")
    text = _run(ActionGreenChannel(), _tracker("bereavement", slots={"place": "huzhou"}))[0][0][
        "text"
    ]
    assert "0572-1234567" in text and "待配置" not in text and "12367" in text


def test_an_active_form_is_interrupted_and_remembered() -> None:
    messages, events = _run(
        ActionGreenChannel(), _tracker("critical_illness_visit", active_loop="booking_form")
    )
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events if e["event"] == "active_loop"
    ]
    assert any(
        e["event"] == "slot" and e["name"] == "interrupted_form" and e["value"] == "booking_form"
        for e in events
    )
    question = messages[-1]
    assert question["text"] == "要继续刚才的预约吗？"
    assert [(b["title"], b["payload"]) for b in question["buttons"]] == [
        ("继续预约", "/affirm"),
        ("不用了", "/deny"),
    ]


def test_a_document_question_in_the_same_message_is_answered_too() -> None:
    tracker = _tracker(
        "bereavement",
        text="我爸在美国去世了，护照要带什么材料",
        original_intent="ask_documents",
        slots={"service": "passport"},
    )
    messages, _ = _run(ActionGreenChannel(), tracker)
    assert len(messages) == 2
    assert messages[1]["text"].startswith("另外，关于您问的所需材料")
    assert "身份证" in messages[1]["text"]


def test_lost_document_question_gets_the_replacement_answer() -> None:
    tracker = _tracker(
        "document_lost",
        text="护照丢了后天出国，补办要带什么",
        original_intent="report_emergency",
        slots={"service": "passport"},
    )
    messages, _ = _run(ActionGreenChannel(), tracker)
    assert "补发" in messages[1]["text"] or "报失" in messages[1]["text"]


def test_a_lost_passport_beside_another_emergency_gets_the_replacement_too() -> None:
    """The category is the study deadline, yet the passport is lost (丢了 names a replacement):
    the reply adds what a replacement needs, even when the wording names no single question."""
    tracker = _tracker(
        "study_deadline",
        text="孩子这几天回国度假，护照丢了，国外学校马上开学",  # 几天, 度假: no question read
        slots={"service": "passport", "apply_kind": "replacement"},
    )
    tracker.latest_message["entities"] += [
        {"entity": "service", "value": "passport", "start": 3, "end": 5},
        {"entity": "apply_kind", "value": "replacement", "start": 5, "end": 7},
    ]
    messages, _ = _run(ActionGreenChannel(), tracker)
    assert len(messages) == 2 and "补发" in messages[1]["text"]


def test_an_emergency_with_no_document_named_gets_no_general_answer() -> None:
    tracker = _tracker("bereavement", text="我爸在美国去世了，我该怎么办")
    messages, _ = _run(ActionGreenChannel(), tracker)
    assert len(messages) == 1  # the green channel alone: no service, nothing else to answer


def test_without_a_category_it_asks_instead_of_guessing() -> None:
    messages, events = _run(ActionGreenChannel(), _tracker(None))
    assert len(messages[0]["buttons"]) == len(CATEGORIES)
    assert all(b["payload"].startswith("/report_emergency{") for b in messages[0]["buttons"])
    assert not any(e["event"] == "slot" and e["name"] == "emergency_type" for e in events)


def test_resume_goes_back_to_the_form() -> None:
    tracker = _tracker(None, intent="affirm", slots={"interrupted_form": "booking_form"})
    messages, events = _run(ActionResumeTask(), tracker)
    assert "接着预约" in messages[0]["text"]
    assert {"event": "slot", "name": "interrupted_form", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
    assert any(e["event"] == "followup" and e["name"] == "booking_form" for e in events)


def test_deny_drops_the_form() -> None:
    tracker = _tracker(None, intent="deny", slots={"interrupted_form": "booking_form"})
    messages, events = _run(ActionResumeTask(), tracker)
    assert "先不继续" in messages[0]["text"]
    assert not any(e["event"] == "followup" for e in events)
    assert any(
        e["event"] == "slot" and e["name"] == "interrupted_form" and e["value"] is None
        for e in events
    )


def test_resume_with_nothing_interrupted_is_polite() -> None:
    messages, events = _run(ActionResumeTask(), _tracker(None, intent="affirm"))
    assert messages and events == []


def test_domain_declares_the_emergency_pieces() -> None:
    assert {"report_emergency", "travel_plan"} <= set(DOMAIN["intents"])
    assert "emergency_type" in DOMAIN["entities"]
    assert DOMAIN["slots"]["emergency_type"]["influence_conversation"] is False
    assert DOMAIN["slots"]["interrupted_form"]["type"] == "text"
    assert DOMAIN["slots"]["interrupted_form"]["influence_conversation"] is True
    declared = {
        a if isinstance(a, str) else next(iter(a)) for a in DOMAIN["actions"]
    }  # or {name: {send_domain}}
    assert {"action_green_channel", "action_resume_task"} <= declared
    assert set(DOMAIN["slots"]["emergency_type"]["values"]) == set(CATEGORIES)
    # A custom mapping that names an action makes Rasa run it on EVERY turn to fill the slot:
    # action_green_channel would then stop any form it sees running.
    for mapping in DOMAIN["slots"]["interrupted_form"]["mappings"]:
        assert mapping["type"] == "custom" and "action" not in mapping


# --------------------------------------------------------------------------- the ask band


def _ask_tracker(
    guess: Optional[str], original: Optional[str], active_loop: Optional[str] = None
) -> Tracker:
    tracker = _tracker(None, text="假如…", active_loop=active_loop, intent="emergency_unsure")
    tracker.latest_message["emergency_ask"] = {
        "category": guess,
        "confidence": 0.6,
        "cues": [],
        "blocked_by": [],
        "original_intent": {"name": original, "confidence": 0.8} if original else None,
    }
    return tracker


def test_ask_stops_the_form_and_keeps_the_guess_and_the_question() -> None:
    from actions.emergency import ActionAskEmergency

    messages, events = _run(
        ActionAskEmergency(), _ask_tracker("bereavement", "ask_fee", "booking_form")
    )
    assert [m["response"] for m in messages] == ["utter_ask_emergency"]
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["emergency_pending"] == "bereavement"
    assert slots["emergency_question"] == "fee"
    assert slots["interrupted_form"] == "booking_form"
    assert {"event": "active_loop", "name": None} in [
        {"event": e["event"], "name": e.get("name")} for e in events if e["event"] == "active_loop"
    ]


def test_ask_without_a_guess_waits_for_an_unknown_category() -> None:
    from actions.emergency import ActionAskEmergency

    _, events = _run(ActionAskEmergency(), _ask_tracker(None, None))
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}[
        "emergency_pending"
    ] == "unknown"


def test_ask_reads_the_question_from_the_words_when_diet_kept_none() -> None:
    from actions.emergency import ActionAskEmergency

    tracker = _ask_tracker("contract_signing", "report_emergency")
    tracker.latest_message["text"] = "假设下周要去香港签合同，港澳签注多少钱，我明天就出发"
    _, events = _run(ActionAskEmergency(), tracker)
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}[
        "emergency_question"
    ] == "fee"


def test_yes_gives_the_guessed_category_green_channel() -> None:
    from actions.emergency import ActionEmergencyAnswer

    tracker = _tracker(
        None, text="是", intent="affirm", slots={"emergency_pending": "visa_expiring"}
    )
    messages, events = _run(ActionEmergencyAnswer(), tracker)
    text = "\n".join(m.get("text") or "" for m in messages)
    assert "绿色通道" in text and KB.categories["visa_expiring"].proofs[0] in text
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["emergency_pending"] is None and slots["emergency_type"] == "visa_expiring"


def test_yes_without_a_category_offers_the_list_of_all_nine() -> None:
    from actions.emergency import ActionEmergencyAnswer

    tracker = _tracker(None, text="是", intent="affirm", slots={"emergency_pending": "unknown"})
    messages, _ = _run(ActionEmergencyAnswer(), tracker)
    assert messages[0]["response"] == "utter_ask_emergency_category"
    assert len(messages[0]["buttons"]) == len(CATEGORIES) == 9


def test_no_answers_the_original_question_and_offers_the_waiting_form() -> None:
    from actions.emergency import ActionEmergencyAnswer

    tracker = _tracker(
        None,
        text="不是",
        intent="deny",
        slots={
            "emergency_pending": "contract_signing",
            "emergency_question": "fee",
            "service": "passport",
            "interrupted_form": "booking_form",
        },
    )
    messages, events = _run(ActionEmergencyAnswer(), tracker)
    text = "\n".join(m.get("text") or "" for m in messages)
    assert "绿色通道" not in text and "120" in text  # the passport fee
    assert "预约" in messages[-1]["text"] and [b["payload"] for b in messages[-1]["buttons"]] == [
        "/affirm",
        "/deny",
    ]
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}[
        "emergency_pending"
    ] is None


def test_no_without_a_question_says_so_from_the_domain() -> None:
    from actions.emergency import ActionEmergencyAnswer

    tracker = _tracker(None, text="不是", intent="deny", slots={"emergency_pending": "bereavement"})
    messages, _ = _run(ActionEmergencyAnswer(), tracker)
    assert [m["response"] for m in messages] == ["utter_emergency_declined"]
