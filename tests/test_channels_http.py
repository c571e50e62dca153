"""The web chat page and the hall-guide console, over HTTP on a real (loopback) server.

The channels are mounted with Rasa's own `register()`; the agent is a fake whose
`parse_message` returns what the NLU would, so these tests need no trained model.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, List

import pytest
import requests
from rasa.core.channels.channel import register
from sanic import Sanic

from bot.channels.guide import GuideInput
from bot.channels.guide_auth import GuideAuth, Mode
from bot.channels.webchat import WEB_ROOT, WebChatInput
from tests.test_wechat import ServerThread

Sanic.test_mode = True

MOTHER = "我妈妈是四川户口，想在湖州办护照"
BEREAVEMENT = "我爸爸在澳大利亚去世了，我要马上过去奔丧，护照过期了"


def _ent(entity: str, value: str, text: str, phrase: str) -> Dict[str, Any]:
    start = max(text.find(phrase), 0)
    return {
        "entity": entity,
        "value": value,
        "start": start,
        "end": start + len(phrase),
        "extractor": "fake",
    }


class FakeNluAgent:
    """What rasa's Agent.parse_message returns for the two situations the tests use."""

    def __init__(self, ready: bool = True) -> None:
        self.ready = ready
        self.parsed: List[str] = []

    def is_ready(self) -> bool:
        return self.ready

    async def parse_message(self, text: str) -> Dict[str, Any]:
        self.parsed.append(text)
        result: Dict[str, Any] = {
            "text": text,
            "intent": {"name": "ask_documents", "confidence": 0.91},
            "entities": [],
        }
        if "护照" in text:
            result["entities"].append(_ent("service", "passport", text, "护照"))
        if "四川" in text:
            result["entities"].append(_ent("place", "out_of_province", text, "四川"))
        if "湖州" in text:
            result["entities"].append(_ent("place", "huzhou", text, "湖州"))
        if "奔丧" in text:
            result["intent"] = {"name": "report_emergency", "confidence": 0.97}
            result["entities"].append(_ent("emergency_type", "bereavement", text, "奔丧"))
            result["emergency"] = {
                "category": "bereavement",
                "confidence": 0.95,
                "blocked_by": [],
                "cues": [
                    {"cue": "我爸爸", "kind": "relative", "start": 0, "end": 3},
                    {"cue": "爸爸", "kind": "relative", "start": 1, "end": 3},
                    {"cue": "去世", "kind": "event", "start": 9, "end": 11},
                    {"cue": "奔丧", "kind": "event", "start": 20, "end": 22},
                ],
            }
        elif "护照" in text:
            result["emergency"] = None  # the component ran and found nothing
        return result


def no_booking() -> Any:
    raise RuntimeError("booking is not set up in this test")


@pytest.fixture()
def repository() -> Dict[str, Any]:
    """Which booking repository the console sees; tests swap the factory."""
    return {"factory": no_booking}


@pytest.fixture()
def server(repository):
    app = Sanic(f"channels_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = FakeNluAgent()
    # loopback mode whatever this machine's environment says; tests/test_guide_auth.py covers logins
    guide = GuideInput(
        repository_factory=lambda: repository["factory"](), auth=GuideAuth(Mode.LOOPBACK)
    )
    register([WebChatInput(), guide], app, route="/webhooks/")
    srv = ServerThread(app).start()
    yield srv, app.ctx.agent
    srv.stop()


def analyze(
    srv: ServerThread, body: Any, content_type: str = "application/json"
) -> requests.Response:
    import json

    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return requests.post(
        f"{srv.base}/guide/api/analyze",
        data=data,
        headers={"Content-Type": content_type},
        timeout=90,
    )


# ------------------------------------------------------------------------------ pages
@pytest.mark.parametrize("page", ["webchat", "guide"])
def test_pages_are_served_outside_webhooks_with_a_strict_csp(server, page):
    srv, _ = server
    bare = requests.get(f"{srv.base}/{page}", allow_redirects=False, timeout=5)
    assert bare.status_code == 301 and bare.headers["Location"] == f"/{page}/"
    resp = requests.get(f"{srv.base}/{page}/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '<html lang="zh-CN">' in resp.text
    for asset in re.findall(r'(?:src|href)="(static/[^"]+)"', resp.text):
        r = requests.get(f"{srv.base}/{page}/{asset}", timeout=5)
        assert r.status_code == 200, asset
    assert requests.get(f"{srv.base}/webhooks/{page}/", timeout=5).status_code == 404


def test_static_files_cannot_escape_their_directory(server):
    srv, _ = server
    for path in [
        "/webchat/static/..%2F..%2Fcredentials.yml",
        "/webchat/static/%2e%2e%2fguide.js",
        "/webchat/static/missing.js",
        "/webchat/static/chat.py",
        "/guide/static/..%2Fwebchat%2Fchat.js",
    ]:
        assert requests.get(srv.base + path, timeout=5).status_code == 404, path


def test_web_files_make_no_external_requests_and_hold_no_facts():
    """Offline and one-fact-one-place: no URL to another host, no KB fact in web/."""
    from bot.kb import get_kb

    files = [p for p in WEB_ROOT.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "chat.js", "chat.css", "guide.js", "guide.css"}
    facts = ["120元", "160元", "7个工作日", "20日", "死亡证明", "监护证明", "12367", "市民服务中心"]
    for hall in get_kb().halls.values():
        facts.append(hall.name)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert (
            not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I)
            or path.suffix == ".svg"
        ), path
        assert "@import" not in text and "url(http" not in text, path
        for fact in facts:
            assert fact not in text, (path, fact)


# ------------------------------------------------------------------------------ guide API
def test_guide_options_come_from_the_kb(server):
    srv, _ = server
    opts = requests.get(f"{srv.base}/guide/api/options", timeout=5).json()
    names = {s["id"]: s["name"] for s in opts["services"]}
    assert names["passport"] == "普通护照"
    assert {"passport", "hk_macau_permit", "taiwan_permit", "residence_permit"} <= set(names)
    assert any(a["id"] == "minor" for a in opts["applicant_types"])


def test_guide_checklist_for_an_out_of_province_mother_in_huzhou(server):
    srv, agent = server
    resp = analyze(srv, {"text": MOTHER})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert agent.parsed == [MOTHER]  # the bot's NLU was asked
    assert data["service"] == {"id": "passport", "name": "普通护照"}
    sections = {s["id"]: s for s in data["sections"]}
    docs = sections["documents"]
    assert "居民身份证" in docs["items"] and len(docs["items"]) >= 3
    assert "全国通办" in docs["text"]  # the out-of-province entry, not the default one
    assert "120" in sections["fee"]["text"]
    assert "20日" in sections["time"]["text"]
    assert [h["id"] for h in data["halls"]] == ["huzhou"]
    assert any(s["scope"] == "湖州" and "承诺" in s["text"] for s in data["sections"])
    assert data["green_channel"]["eligible"] is False
    assert all(s["sources"] and s["as_of"] for s in data["sections"])
    assert "居民身份证" in data["summary"] and "湖州市市民服务中心" in data["summary"]


def test_guide_green_channel_for_a_bereavement(server):
    srv, _ = server
    data = analyze(srv, {"text": BEREAVEMENT}).json()
    green = data["green_channel"]
    assert green["eligible"] is True and green["category"] == "bereavement"
    assert green["name"] == "奔丧"
    assert green["cues"] == [
        "我爸爸（亲人）",
        "去世（事件）",
        "奔丧（事件）",
    ]  # 爸爸 is inside 我爸爸
    assert any("死亡证明" in p for p in green["proofs"])
    assert green["speed"] and green["sources"]
    assert "绿色通道" in data["summary"] and "死亡证明" in data["summary"]


def test_guide_green_channel_follows_the_nlu_contract(server):
    """No `emergency_type` entity means no emergency: the console never second-guesses the NLU."""
    srv, agent = server

    async def plain_parse(text: str) -> Dict[str, Any]:
        return {
            "text": text,
            "intent": {"name": "report_emergency", "confidence": 0.9},
            "entities": [],
        }

    agent.parse_message = plain_parse
    green = analyze(srv, {"text": BEREAVEMENT}).json()["green_channel"]
    assert green["eligible"] is False and green["category"] is None and green["cues"] == []
    assert "bereavement" in {c["id"] for c in green["categories"]}


def test_guide_shows_the_ask_band_as_a_question_for_staff(server):
    """A lowered finding (no entity): not eligible, but staff see the guess and the context."""
    srv, agent = server

    async def lowered(text: str) -> Dict[str, Any]:
        return {
            "text": text,
            "intent": {"name": "emergency_unsure", "confidence": 0.6},
            "entities": [],
            "emergency_ask": {
                "category": "bereavement",
                "confidence": 0.6,
                "blocked_by": [{"rule": "hypothetical", "cue": "假如", "start": 0, "end": 2}],
                "cues": [{"cue": "去世", "kind": "event", "start": 5, "end": 7}],
            },
        }

    agent.parse_message = lowered
    green = analyze(srv, {"text": "假如我爸去世了，我明天就得走"}).json()["green_channel"]
    assert green["eligible"] is False and green["category"] is None
    assert green["ask"] == {
        "category": "bereavement",
        "name": "奔丧",
        "cues": ["去世（事件）"],
        "context": ["假如"],
    }


def test_guide_picked_service_without_text(server):
    srv, agent = server
    data = analyze(srv, {"service": "hk_macau_permit", "applicant_type": "minor"}).json()
    assert data["service"]["name"] == "往来港澳通行证及签注"
    assert agent.parsed == []  # nothing to parse
    docs = next(s for s in data["sections"] if s["id"] == "documents")
    assert "监护" in docs["text"]
    # an unknown pick is ignored, not trusted
    data = analyze(srv, {"text": MOTHER, "service": "<script>"}).json()
    assert data["service"]["id"] == "passport"


def test_guide_without_a_model_falls_back_to_the_vocabulary(server):
    srv, agent = server
    agent.ready = False
    data = analyze(srv, {"text": MOTHER}).json()
    assert data["service"]["id"] == "passport"
    assert data["warnings"] and "NLU" in data["warnings"][0]
    assert [h["id"] for h in data["halls"]] == ["huzhou"]


def test_guide_shows_todays_free_slots_when_booking_exists(server, repository):
    import datetime as dt
    from dataclasses import dataclass

    @dataclass
    class SlotView:
        start: dt.time
        end: dt.time
        free: int

    class Repo:
        def available_slots(self, hall_id: str, day: dt.date, now: Any = None) -> List[SlotView]:
            assert hall_id == "huzhou" and isinstance(day, dt.date) and now.date() == day
            return [
                SlotView(dt.time(9), dt.time(9, 30), 3),
                SlotView(dt.time(9, 30), dt.time(10), 0),
                SlotView(dt.time(14), dt.time(14, 30), 1),
            ]

    srv, _ = server
    assert analyze(srv, {"text": MOTHER}).json()["slots_today"] is None  # no booking: nothing
    repository["factory"] = Repo
    today = analyze(srv, {"text": MOTHER}).json()["slots_today"]
    assert today["halls"][0]["slots"] == [
        {"start": "09:00", "end": "09:30", "free": 3},
        {"start": "14:00", "end": "14:30", "free": 1},
    ]


def test_guide_reads_slots_from_the_real_booking_store(server, repository, tmp_path):
    """bot.booking's repository on a fresh SQLite database: the console lists its halls."""
    import datetime as dt

    from bot.booking import BookingRepository, get_engine, migrate
    from bot.booking.db import dispose_engines

    url = f"sqlite:///{tmp_path / 'booking.db'}"
    migrate(url)
    repository["factory"] = lambda: BookingRepository(get_engine(url))
    try:
        srv, _ = server
        data = analyze(srv, {"text": MOTHER}).json()
        today = data["slots_today"]
        assert today is not None and [h["hall_id"] for h in today["halls"]] == ["huzhou"]
        repo = BookingRepository(get_engine(url))
        tomorrow = dt.date.fromisoformat(today["day"]) + dt.timedelta(days=1)
        assert repo.available_slots("huzhou", tomorrow) is not None
        for slot in today["halls"][0]["slots"]:
            assert re.match(r"^\d\d:\d\d$", slot["start"]) and slot["free"] > 0
    finally:
        dispose_engines()


def test_guide_bad_input_gets_clean_json_errors(server):
    srv, _ = server
    cases = [
        (analyze(srv, {"text": ""}), 400),
        (analyze(srv, {"text": "   "}), 400),
        (analyze(srv, {"text": 123}), 400),
        (analyze(srv, ["not", "an", "object"]), 400),
        (analyze(srv, b"{not json"), 400),
        (analyze(srv, b"\xff\xfe{}"), 400),
        (analyze(srv, b"", content_type="application/json"), 400),
        (analyze(srv, {"text": "护照"}, content_type="text/plain"), 415),
        (analyze(srv, {"text": "护" * 20000}), 413),
    ]
    for resp, status in cases:
        assert resp.status_code == status, (status, resp.text)
        assert "error" in resp.json() and "Traceback" not in resp.text
    # over-long but under the byte limit: cut, still answered
    assert analyze(srv, {"text": "护照" * 1000}).status_code == 200


def test_guide_lists_and_opens_the_topics(server):
    """Every KB topic (口岸签证, 出入境记录 …) can be picked; its sections show the source URL."""
    srv, _ = server
    names = {
        s["id"]: s["name"]
        for s in requests.get(f"{srv.base}/guide/api/options", timeout=5).json()["services"]
    }
    assert {"port_visa", "entry_exit_record", "one_way_permit", "hmt_resident_permit"} <= set(names)
    data = analyze(srv, {"service": "entry_exit_record"}).json()
    assert data["topic"]["id"] == "entry_exit_record" and not data["warnings"]
    sections = {s["id"]: s for s in data["sections"]}
    assert {"overview", "documents"} <= set(sections)
    assert (
        sections["documents"]["sources"][0].startswith("https://")
        and sections["documents"]["items"]
    )
    assert "出入境记录" in sections["overview"]["title"]


def test_guide_finds_a_topic_in_the_citizens_words(server):
    srv, _ = server
    data = analyze(srv, {"text": "外国朋友签证过期了还在杭州，会怎么罚"}).json()
    assert data["topic"]["id"] == "overstay"
    text = "\n".join(s["text"] for s in data["sections"])
    assert "第七十八条" in text and "{hotline}" not in text
