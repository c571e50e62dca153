"""Grid hazard reports end to end over REST against the real servers (tests/live.py):
report → 119 first → ticket → status (reporter, stranger with the last four) → a staff step
→ the notice arrives with the citizen's next reply. A hazard never opens the green channel."""

from __future__ import annotations

import re
import uuid

from tests.live import LiveBot

TICKET = re.compile(r"工单号[:：]\s*(WG-[A-Z0-9]{8})")


def test_a_fire_is_told_119_first_then_the_report_is_filed_and_followed(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    first = "邻居家一楼的加工坊着火了，里面有很多装松香水的油漆桶"
    parsed = live_bot.parse(first)
    assert parsed["intent"]["name"] == "report_hazard", parsed["intent"]
    assert not [e for e in parsed["entities"] if e["entity"] == "emergency_type"]

    opened = live_bot.say(first, sender)
    assert "119" in (opened[0].get("text") or ""), opened  # before anything else
    assert "绿色通道" not in str(opened)
    assert "什么地方" in (opened[-1].get("text") or "")
    assert "什么时候" in live_bot.text("宜桥新村62号二楼", sender)
    assert "手机号" in live_bot.text("刚刚", sender)
    done = live_bot.text("13812345678", sender)
    code = TICKET.search(done).group(1)
    assert "已受理" in done and "综治工作" in done and "138****5678" in done
    assert "13812345678" not in done

    mine = live_bot.text(f"查询工单 {code}", sender)
    assert code in mine and "受理" in mine and "后四位" not in mine, mine

    stranger = uuid.uuid4().hex
    asked = live_bot.text(f"帮我查一下工单{code}的进度", stranger)
    assert "后四位" in asked, asked
    wrong = live_bot.text("0000", stranger)
    assert "对不上" in wrong and "受理" not in wrong
    live_bot.text(f"查询工单 {code}", stranger)
    right = live_bot.text("5678", stranger)
    assert code in right and "当前环节：受理" in right, right

    # a staff step (the CLI's and console's repository, on the live server's database)
    from bot.booking.db import get_engine
    from bot.grid.repository import GridRepository

    repo = GridRepository(get_engine(live_bot.env["DATABASE_URL"]))
    assert repo.advance(code, actor="test-staff").ok
    after = live_bot.say("你好", sender)
    notice = [r["text"] for r in after if code in (r.get("text") or "")]
    assert notice and "分流交办" in notice[0], after
    again = live_bot.say("你好", sender)
    assert not [r for r in again if code in (r.get("text") or "")]  # told once
    assert "13812345678" not in live_bot.logs()


def test_rubbish_at_a_reservoir_without_a_contact(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    live_bot.say("我要反映一个隐患", sender)
    asked = live_bot.text("山上饮水水库边堆满了油漆桶、泡沫和塑料垃圾", sender)
    assert "什么地方" in asked, asked
    live_bot.text("银河村", sender)
    future = live_bot.text("明天", sender)
    assert "不能晚于现在" in future
    live_bot.text("昨天下午", sender)
    done = live_bot.text("不留", sender)
    assert TICKET.search(done) and "综合执法" in done and "未留" in done, done
    assert "119" not in done


def test_an_english_report_is_asked_and_confirmed_in_english(live_bot: LiveBot):
    sender = uuid.uuid4().hex
    first = live_bot.text("I want to report a hazard", sender)
    assert "what you found" in first, first
    assert "Where" in live_bot.text("someone is dumping rubbish at the reservoir", sender)
    assert "When" in live_bot.text("the reservoir above Yinhe village", sender)
    assert "mobile" in live_bot.text("yesterday", sender)
    done = live_bot.text("no", sender)
    assert "Ticket: WG-" in done and "accepted" in done and "rubbish at a water source" in done, (
        done
    )
