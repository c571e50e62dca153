"""English end to end over REST: foreigners' questions are answered in English, booking works.

Each question is checked for the fact a correct answer must hold, for being in English, and
for naming its source. The expired-passport question (Chinese citizens ask in English too)
must get the renewal documents, not the validity period.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest

from bot.calendar import is_working_day
from tests.live import LiveBot
from tests.people import fresh_person

PERSON = fresh_person()
ID = PERSON.id_number
PHONE = PERSON.phone
CODE = re.compile(r"预约号[:：]\s*([A-Z]{2}-[A-Z0-9]{5,8})")
_CJK = re.compile(r"[\u4e00-\u9fff]")

QUESTIONS = [
    ("What documents do I need to extend my work residence permit?", ["passport", "Work Permit"]),
    ("How can I extend my tourist visa? It runs out next week", ["7 days"]),
    ("Can I visit Hangzhou on the 240-hour visa-free transit?", ["240 hours", "onward ticket"]),
    ("I am staying at a friend's apartment, do I need to register with the police?", ["24 hours"]),
    ("Where is the exit-entry hall in Huzhou?", ["Huzhou Citizen Service Centre"]),
]


def _english(text: str) -> bool:
    """Chinese may appear in brackets (names of forms, offices); the prose is English."""
    return len(_CJK.findall(text)) * 6 < len(re.findall(r"[A-Za-z]", text))


@pytest.mark.parametrize("question,facts", QUESTIONS)
def test_a_foreigner_asking_in_english_is_answered_in_english(live_bot: LiveBot, question, facts):
    reply = live_bot.text(question)
    for fact in facts:
        assert fact in reply, f"{question!r} → {reply!r}"
    assert _english(reply), reply
    assert "Source: " in reply and "12367" in reply


def test_an_expired_passport_in_english_gets_the_renewal_documents(live_bot: LiveBot):
    reply = live_bot.text("my passport expired, how to renew")
    assert "原护照" in reply, reply  # the renewal list (the old passport), from the KB
    assert "10年" not in reply, reply  # not the validity period
    assert "only available in Chinese" in reply  # one English line says what English covers


def test_a_topic_without_english_says_so_in_english(live_bot: LiveBot):
    reply = live_bot.text("how much is a HK Macau permit")
    assert "only available in Chinese" in reply and "60" in reply, reply


def test_the_conversation_follows_the_language_of_each_message(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    assert live_bot.text("hello", sender).startswith("Hello")
    assert "您好" in live_bot.text("你好", sender)


def _next_working_day() -> date:
    day = date.today() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


ANSWERS = (  # the first cue found in the reply wins: the summary also names "ID number"
    ("Please check the booking:", "yes"),
    ("Which service", "residence permit"),
    ("Which hall", "Huzhou"),
    ("Which day", None),  # the next working day, typed in English
    ("What time", "10am"),
    ("name", "John Smith"),
    ("ID number", ID),
    ("mobile number", PHONE),
)


def test_booking_in_english(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    day = _next_working_day()
    reply = live_bot.text("I'd like to book an appointment to extend my residence permit", sender)
    for _ in range(len(ANSWERS) + 2):
        if "预约成功" in reply:
            break
        assert _english(reply), reply
        answer = next((a for cue, a in ANSWERS if cue in reply), "")
        assert answer != "", f"unexpected step: {reply!r}"
        if answer is None:
            answer = day.strftime("%b %d").replace(" 0", " ")
        if answer == PHONE:
            reply = live_bot.text(answer, sender)
            assert PERSON.masked_id in reply and PERSON.masked_phone in reply, reply
            assert ID not in reply and PHONE not in reply
            continue
        reply = live_bot.text(answer, sender)
    assert "预约成功" in reply and "Booked" in reply, reply
    code = CODE.search(reply)
    assert code, reply
    assert day.isoformat() in reply and "10:00" in reply
    mine = live_bot.text("show all my reservations", sender)
    assert code.group(1) in mine
