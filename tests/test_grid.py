"""Grid hazard reports: the knowledge file, the classifier's routing on held-out reports,
the form's time and contact answers, and the staff CLI (SQLite, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from bot.grid.__main__ import HELD_OUT, evaluate
from bot.grid.answers import read_contact, read_time
from bot.grid.classify import classify
from bot.grid.kb import REPORTS_FILE, get_grid_kb, load_reports
from bot.settings import PROJECT_ROOT

NOW = datetime(2026, 12, 2, 10, 30)


# --- data -------------------------------------------------------------------------------------


def test_grid_kb_routes_every_category_to_one_of_the_four_platforms():
    kb = get_grid_kb()
    assert {p.name for p in kb.platforms.values()} == {
        "综治工作",
        "市场监管",
        "综合执法",
        "便民服务",
    }
    assert [s.name for s in kb.stages] == ["受理", "分流交办", "处置", "核实反馈"]
    used = {c.platform for c in kb.categories.values()}
    assert used == set(kb.platforms)  # every platform gets some reports
    assert {u.id: u.number for u in kb.urgent} == {
        "fire": "119",
        "gas_leak": "119",
        "flood": "119",
        "crime": "110",
    }


def test_at_least_80_labelled_reports_and_the_held_out_part_is_never_trained_on():
    train = load_reports(REPORTS_FILE)
    held_out = load_reports(HELD_OUT)
    assert len(train) + len(held_out) >= 80
    assert len(held_out) >= 30
    assert not {t for t, _ in train} & {t for t, _ in held_out}
    # nor taught to the NLU as report_hazard examples
    nlu = (PROJECT_ROOT / "data" / "nlu" / "grid.yml").read_text(encoding="utf-8")
    assert not [t for t, _ in held_out if t in nlu]
    # every category has held-out reports
    assert {c for _, c in held_out} == set(get_grid_kb().categories)


def test_routing_accuracy_on_the_held_out_reports_is_at_least_0_9():
    result = evaluate(HELD_OUT)
    print(
        f"\ngrid routing on {result['reports']} held-out reports: "
        f"routing (platform) accuracy {result['routing_accuracy']:.3f}, "
        f"category accuracy {result['category_accuracy']:.3f}"
    )
    for miss in result["misses"]:
        print("  miss:", miss)
    assert result["routing_accuracy"] >= 0.9
    assert result["category_accuracy"] >= 0.8


@pytest.mark.parametrize(
    "text, category, platform",
    [
        ("银河村水库边堆满了油漆桶和泡沫", "water_source", "zhifa"),
        ("宜桥新村62号二楼阳台堆着装松香水的油漆桶", "dangerous_goods", "zongzhi"),
        ("路边刚打过除草剂，有人在割野菜", "food_safety", "shichang"),
        ("工地泥浆泄漏直排到河里", "pollution", "zhifa"),
        ("楼下的消防通道被堵住了", "fire_lane", "zongzhi"),
        ("路灯坏了", "public_facility", "bianmin"),
    ],
)
def test_the_articles_examples_are_routed_as_daxi_did(text, category, platform):
    found = classify(text)
    assert (found.category, found.platform) == (category, platform)


def test_odd_text_still_gets_a_category():
    for text in ["", "？？？", "asdf qwer", "🙂" * 50, "x" * 5000]:
        assert classify(text).category in get_grid_kb().categories


def test_urgent_cues_are_happening_now_not_risks():
    kb = get_grid_kb()
    assert kb.urgent_in("楼下着火了！").number == "119"
    assert kb.urgent_in("厨房燃气泄漏了").id == "gas_leak"
    assert kb.urgent_in("村里被洪水淹了").id == "flood"
    assert kb.urgent_in("有人正在打架").number == "110"
    assert kb.urgent_in("小区有火灾隐患，消防通道被堵") is None
    assert kb.urgent_in("水库边有垃圾") is None


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("刚刚", NOW),
        ("不知道", NOW),
        ("just now", NOW),
        ("今天上午", datetime(2026, 12, 2, 9, 0)),
        ("昨天", datetime(2026, 12, 1, 12, 0)),
        ("昨天下午3点", datetime(2026, 12, 1, 15, 0)),
        ("昨晚", datetime(2026, 12, 1, 20, 0)),
        ("yesterday", datetime(2026, 12, 1, 12, 0)),
        ("三天前", datetime(2026, 11, 29, 12, 0)),
        ("11月20日", datetime(2026, 11, 20, 12, 0)),  # not next year's 20 November
    ],
)
def test_when_it_was_seen(text, expected):
    assert read_time(text, NOW).at == expected


@pytest.mark.parametrize(
    "text, problem", [("明天", "future"), ("下午5点", "future"), ("蓝色", "unclear")]
)
def test_times_that_cannot_be_right(text, problem):
    answer = read_time(text, NOW)
    assert answer.at is None and answer.problem == problem


def test_contact_answers():
    assert read_contact("不留").none and read_contact("No").none and read_contact("不方便留").none
    assert read_contact("我的电话是138 1234 5678").phone == "13812345678"
    assert read_contact("好的").phone is None and not read_contact("好的").none


# --- CLI --------------------------------------------------------------------------------------


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "WECHAT_APPID": "",
        "WECHAT_APPSECRET": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.grid", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_staff_cli_moves_a_ticket_through_the_four_stages_with_an_audit_trail(tmp_path):
    from bot.booking.db import dispose_engines, get_engine, upgrade_schema
    from bot.grid.repository import GridRepository

    db = tmp_path / "grid.db"
    assert run_cli(db, "migrate").returncode == 0
    url = f"sqlite:///{db}"
    upgrade_schema(url)  # a second run is a no-op
    repo = GridRepository(get_engine(url))
    filed = repo.file(
        category="water_source",
        place="银河村饮水水库",
        description="水库边堆满了油漆桶、泡沫、塑料",
        occurred_at=datetime(2026, 12, 2, 2, 0).astimezone(),
        contact_phone="13812345678",
        channel="rest",
        sender_id="citizen-1",
    )
    assert filed.ok and filed.ticket is not None
    code = filed.ticket.code
    dispose_engines()

    moved = []
    for _ in range(3):
        done = run_cli(
            db, "advance", code, "--actor", "张网格员", "--note", "已联系村干部 13912345678"
        )
        assert done.returncode == 0, done.stderr
        moved.append(json.loads(done.stdout)["to"])
    assert moved == ["assigned", "handling", "verified"]
    closed = run_cli(db, "advance", code, "--actor", "张网格员")
    assert closed.returncode == 1 and "closed" in closed.stderr
    assert run_cli(db, "advance", "WG-NOSUCH22", "--actor", "x").returncode == 1

    shown = run_cli(db, "show", code)
    assert shown.returncode == 0
    view = json.loads(shown.stdout)
    assert view["ticket"]["stage"] == "verified"
    assert view["ticket"]["contact_masked"] == "138****5678"
    assert "13812345678" not in shown.stdout and "13912345678" not in shown.stdout
    trail = view["trail"]
    assert [e["action"] for e in trail] == ["filed", "advanced", "advanced", "advanced"]
    assert [e["to_stage"] for e in trail] == ["accepted", "assigned", "handling", "verified"]
    assert all(e["actor"] == "cli:张网格员" for e in trail[1:])
    assert "139****5678" in trail[1]["note"]

    listed = json.loads(run_cli(db, "list", "--stage", "verified").stdout)
    assert [t["code"] for t in listed] == [code]
    revealed = run_cli(db, "contact", code, "--actor", "张网格员")
    assert revealed.stdout.strip() == "13812345678"
    trail_after = json.loads(run_cli(db, "show", code).stdout)["trail"]
    assert trail_after[-1]["action"] == "contact_revealed"
    # REST notices wait for the citizen's next message (three steps, three notices)
    assert (
        len(GridRepository(get_engine(url)).undelivered(sender_id="citizen-1", channel="rest")) == 3
    )
    dispose_engines()


def test_cli_migrate_says_unreachable_with_status_2(tmp_path):
    """`migrate` runs the booking store's chain; its failure is the CLI's "unavailable"."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    done = run_cli(blocker / "grid.db", "migrate")
    assert done.returncode == 2, done.stderr
    assert "grid database unavailable" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("form", ["ValidateGridReportForm", "ValidateGridStatusForm"])
def test_both_grid_forms_word_a_store_outage_with_the_grid_response(form):
    import actions.grid
    from bot.grid.repository import GridUnavailable

    action = getattr(actions.grid, form)()
    assert action.error_reply(GridUnavailable("down")) == "utter_grid_unavailable"
    assert action.error_reply(ValueError("a bug")) is None  # the general apology


def test_cli_eval_prints_the_figures():
    done = subprocess.run(
        [sys.executable, "-m", "bot.grid", "eval"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["routing_accuracy"] >= 0.9


def test_the_reports_file_is_plain_labelled_yaml():
    doc = yaml.safe_load(REPORTS_FILE.read_text(encoding="utf-8"))
    assert all(set(r) == {"text", "category"} for r in doc["reports"])


def test_every_urgent_kind_has_its_advice_in_the_domain():
    from actions.grid import URGENT_RESPONSES
    from bot.domain_files import responses

    kinds = {u.id for u in get_grid_kb().urgent}
    assert set(URGENT_RESPONSES) == kinds
    for name in URGENT_RESPONSES.values():
        variants = responses()[name]
        assert "{number}" in variants[0]["text"]
        assert any(v.get("condition") for v in variants)  # and its English variant


@pytest.mark.parametrize(
    "form, requested, text, response",
    [
        ("ValidateGridReportForm", "grid_place", "算了不报了", "utter_grid_stopped"),
        ("ValidateGridReportForm", "grid_time", "不上报了", "utter_grid_stopped"),
        ("ValidateGridStatusForm", "grid_ticket_last4", "算了不查了", "utter_grid_status_stopped"),
    ],
)
def test_a_stop_phrase_the_nlu_reads_as_deny_ends_the_grid_forms(form, requested, text, response):
    """The model reads 算了不报了 as deny (tests/stories/test_grid.yml): the form must stop,
    not take it as the place or the digits."""
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    import actions.grid
    from bot.domain_files import load_domain

    latest = {"text": text, "intent": {"name": "deny", "confidence": 0.91}, "entities": []}
    slots = {"requested_slot": requested, "grid_description": "水库边堆满了垃圾"}
    tracker = Tracker("s", slots, latest, [], False, None, {"name": "grid"}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(getattr(actions.grid, form)().run(dispatcher, tracker, load_domain()))
    assert [m["response"] for m in dispatcher.messages] == [response]
    assert {"event": "slot", "timestamp": None, "name": "requested_slot", "value": None} in events
    assert not [e for e in events if e.get("value") == text]  # not taken as an answer
