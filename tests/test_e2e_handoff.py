"""Human handoff end to end: the real Rasa server and action server (tests/live.py), over REST,
with staff using the guide console's queue API (loopback mode: no staff password is set for
the live servers) and the web chat's poll.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, List, Set

import requests

from bot.domain_files import responses

CLEAR_NUMBER = re.compile(r"\d{15,17}[\dXx]|1[3-9]\d{9}")


def first_text(name: str) -> str:
    return str(responses()[name][0]["text"])


GREETING = first_text("utter_greet")
ENDED = first_text("utter_handoff_ended")
TAKEN = first_text("utter_handoff_taken")
CLOSED_BY_STAFF = first_text("utter_handoff_closed_by_staff")


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text") or "") for r in replies)


def token_of(replies: List[Dict[str, Any]]) -> str:
    return next(
        r["custom"]["handoff"]["token"]
        for r in replies
        if isinstance(r.get("custom"), dict) and "handoff" in r["custom"]
    )


def queue_ids(base: str) -> Set[int]:
    cases = http().get(f"{base}/guide/api/queue", timeout=30).json()["cases"]
    return {int(c["id"]) for c in cases}


def new_case(base: str, before: Set[int]) -> Dict[str, Any]:
    """The one case opened since `before` was read. Cases are found by id, not by a random
    marker in the citizen's text: random letters are words to the NLU and change what it reads
    the message as ("台湾通行证怎么办 bde5e324" is read as a booking look-up)."""
    cases = http().get(f"{base}/guide/api/queue", timeout=30).json()["cases"]
    opened = [c for c in cases if int(c["id"]) not in before]
    assert len(opened) == 1, opened
    return opened[0]


def staff(base: str, case_id: int, change: str, text: str = "") -> Dict[str, Any]:
    resp = http().post(
        f"{base}/guide/api/queue/{case_id}/{change}", json={"text": text}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_rest_citizen_queue_staff_reply_poll_and_end(live_bot: Any) -> None:
    base = live_bot.url
    sender = f"handoff-{uuid.uuid4().hex}"
    before = queue_ids(base)
    # a question the KB answers (so the case has a topic), with a phone that must stay masked
    live_bot.say("办护照要带什么材料？我的电话是13812345678", sender)
    queued = live_bot.say("转人工", sender)
    assert "转人工服务" in texts(queued)
    assert "排第" in texts(queued) or "12367" in texts(queued)  # in or out of office hours
    token = token_of(queued)

    # while the case is open the bot does not answer: the message goes to the case
    held = texts(live_bot.say("办护照要带什么材料", sender))
    assert held.startswith("已收到") and "居民身份证" not in held

    case = new_case(base, before)
    assert case["status"] == "waiting" and case["topic"]
    assert not CLEAR_NUMBER.search(str(case)) and "138****5678" in str(case["turns"])
    staff(base, case["id"], "take")
    staff(base, case["id"], "reply", "请带身份证原件，电话13812345678")
    detail = http().get(f"{base}/guide/api/queue/{case['id']}", timeout=30).json()
    assert "办护照要带什么材料" in [m["text"] for m in detail["messages"]]

    # the web chat's poll, with the case's token only
    poll = f"{base}/webchat/handoff"
    assert http().get(poll, headers={"X-Handoff-Token": sender}, timeout=30).status_code == 404
    got = http().get(poll, headers={"X-Handoff-Token": token}, timeout=30).json()
    assert [m["text"] for m in got["messages"]] == [
        TAKEN,
        "【工作人员】请带身份证原件，电话138****5678",
    ]

    # a reply not yet polled arrives with the citizen's next message, instead of a bot answer
    staff(base, case["id"], "reply", "还有别的问题吗？")
    assert texts(live_bot.say("好的", sender)) == "【工作人员】还有别的问题吗？"

    assert texts(live_bot.say("结束人工", sender)) == ENDED
    assert texts(live_bot.say("你好", sender)) == GREETING
    assert http().get(poll, headers={"X-Handoff-Token": token}, timeout=30).json()["open"] is False


def test_staff_close_gives_the_conversation_back(live_bot: Any) -> None:
    base = live_bot.url
    sender = f"handoff-{uuid.uuid4().hex}"
    before = queue_ids(base)
    assert "元" in texts(live_bot.say("港澳通行证多少钱", sender))
    assert "转人工服务" in texts(live_bot.say("找工作人员", sender))
    case = new_case(base, before)
    staff(base, case["id"], "take")
    staff(base, case["id"], "close")
    back = texts(live_bot.say("你好", sender))
    assert back.startswith(TAKEN) and CLOSED_BY_STAFF in back and back.endswith(GREETING)


def test_an_emergency_that_asks_for_a_person_is_queued_first(live_bot: Any) -> None:
    ordinary = f"handoff-{uuid.uuid4().hex}"
    live_bot.say("转人工", ordinary)
    urgent = f"handoff-{uuid.uuid4().hex}"
    replies = texts(live_bot.say("我爸爸在澳大利亚病危了，要马上出国探望，帮我转人工", urgent))
    assert "绿色通道" in replies and "转人工服务" in replies
    assert first_text("utter_default") not in replies
    cases = http().get(f"{live_bot.url}/guide/api/queue", timeout=30).json()["cases"]
    assert cases[0]["priority"] and cases[0]["emergency"] == "critical_illness_visit"


def test_two_misunderstood_messages_in_a_row_hand_over(live_bot: Any) -> None:
    sender = f"handoff-{uuid.uuid4().hex}"
    live_bot.say("咕噜咕噜 嘀嗒嘀嗒", sender)
    replies = live_bot.say("呜啦啦 叭叭叭", sender)
    assert texts(replies).startswith(first_text("utter_handoff_after_fallbacks"))
    assert token_of(replies)


def test_wechat_citizen_gets_the_staff_reply_with_the_next_passive_reply(live_bot: Any) -> None:
    """The live servers have no WeChat app secret, so the console cannot use the
    customer-service API: the reply waits and comes with the citizen's next message."""
    from tests.test_wechat import _live_say

    base = live_bot.url
    openid = f"oHandoff{uuid.uuid4().hex[:8]}"
    before = queue_ids(base)
    assert "居民身份证" in _live_say(base, openid, "台湾通行证怎么办")
    assert "转人工服务" in _live_say(base, openid, "转人工")
    case = new_case(base, before)
    assert case["channel"] == "wechat"
    staff(base, case["id"], "take")
    answer = staff(base, case["id"], "reply", "您好，请问是首次申请吗？")
    assert answer["delivery"] == "pending"
    reply = _live_say(base, openid, "在吗")
    assert reply == f"{TAKEN}\n\n【工作人员】您好，请问是首次申请吗？"
    assert _live_say(base, openid, "结束人工") == ENDED


def test_one_address_opens_three_cases_an_hour_whatever_its_senders(live_bot: Any) -> None:
    """The per-client cap through the real servers: the REST channel stamps the client key,
    the Rasa server passes it in the tracker to the action server, the queue counts it."""
    from bot.inputs import CLIENT_KEY_FIELD, client_key

    refused = first_text("utter_handoff_limited").split("{hotline}")[0]
    address = f"203.0.113.{uuid.uuid4().int % 200 + 1}"
    for _ in range(3):
        assert token_of(live_bot.say("转人工", f"cap-{uuid.uuid4().hex}", client=address))
    fourth = live_bot.say("转人工", f"cap-{uuid.uuid4().hex}", client=address)
    assert refused in texts(fourth) and "12367" in texts(fourth), fourth
    assert not [r for r in fourth if isinstance(r.get("custom"), dict)]  # no case, no token
    forged = {CLIENT_KEY_FIELD: client_key("198.51.100.77")}  # another address's key
    again = live_bot.say("转人工", f"cap-{uuid.uuid4().hex}", client=address, metadata=forged)
    assert refused in texts(again), again
    # the refused citizen is not stuck: the assistant answers, and another address is served
    assert GREETING in texts(live_bot.say("你好", f"cap-{uuid.uuid4().hex}", client=address))
    assert token_of(live_bot.say("转人工", f"cap-{uuid.uuid4().hex}", client="203.0.113.250"))
