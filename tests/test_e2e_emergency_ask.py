"""The ask band end to end over REST (real Rasa + action servers): ask → 是 → green channel."""

from __future__ import annotations

import uuid

from bot.kb.emergency import get_emergency_kb

# A strong cue (病危) that context lowers (假如) while the user is pressed (明天就得走).
LOWERED = "假如我爸在美国病危了，我明天就得走"


def test_lowered_emergency_is_asked_and_yes_gives_the_green_channel(live_bot):
    sender = uuid.uuid4().hex
    parse = live_bot.parse(LOWERED)
    assert not any(e["entity"] == "emergency_type" for e in parse["entities"])  # the contract
    assert parse["intent"]["name"] == "emergency_unsure"
    guess = parse["emergency_ask"]["category"]

    replies = live_bot.say(LOWERED, sender)
    asked = " ".join(r.get("text", "") for r in replies)
    assert "急事" in asked and "加急" in asked
    buttons = [b["title"] for r in replies for b in r.get("buttons") or []]
    assert buttons == ["是", "不是"]

    answer = live_bot.text("是", sender)
    assert "绿色通道" in answer
    proofs = get_emergency_kb().categories[guess].proofs
    assert proofs[0] in answer


def test_no_goes_back_to_the_question(live_bot):
    sender = uuid.uuid4().hex
    live_bot.say("假设下周要去香港签合同，港澳签注多少钱，我明天就出发", sender)
    answer = live_bot.text("不是", sender)
    assert "绿色通道" not in answer
    assert "15" in answer  # the endorsement fee the message asked about
