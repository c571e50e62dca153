"""The satisfaction report (issue 14 item 2): figures by topic and week, unanswered questions
from the stored conversations (masked), PNG charts, and the guide console's staff-only view.

The conversations are written by the project's own tracker store (bot.stores, which masks
them) into a temporary SQLite file; the ratings by bot.care.satisfaction.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.booking import dispose_engines, get_engine, migrate
from bot.booking.db import make_engine
from bot.care.report import draw_charts, figures, main
from bot.care.satisfaction import SatisfactionStore
from bot.channels.guide_auth import GuideAuth
from tests.test_guide_auth import client, env, login, serve  # noqa: F401  (serve: fixture)

PHONE = "13957124321"
WEEK_48 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # Wednesday of 2026-W48
WEEK_49 = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)  # Wednesday of 2026-W49


def rated(store: SatisfactionStore, sender: str, topic: str, rating: str, at: datetime) -> None:
    assert store.claim_ask(sender, "rest", topic, at=at)
    assert store.rate(sender, rating, at=at)


def fallback(text: str, at: datetime) -> UserUttered:
    parse = {"intent": {"name": "nlu_fallback", "confidence": 0.3}, "entities": [], "text": text}
    return UserUttered(text, parse["intent"], [], parse, timestamp=at.timestamp())


def seed_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Ratings and stored conversations in two SQLite files, named by DATABASE_URL and
    TRACKER_STORE_URL. Saving runs an event loop: call it where none is running."""
    from bot.settings import get_settings
    from bot.stores import EnvTrackerStore

    booking_url = f"sqlite:///{tmp_path / 'booking.db'}"
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    monkeypatch.setenv("DATABASE_URL", booking_url)
    monkeypatch.setenv("TRACKER_STORE_URL", tracker_url)
    get_settings.cache_clear()
    migrate(booking_url, sync=False)
    satisfaction = SatisfactionStore(get_engine(booking_url))
    rated(satisfaction, "a", "passport", "satisfied", WEEK_48)
    rated(satisfaction, "b", "passport", "dissatisfied", WEEK_48)
    rated(satisfaction, "c", "booking", "satisfied", WEEK_49)
    rated(satisfaction, "d", "passport", "satisfied", WEEK_49)
    assert satisfaction.claim_ask("e", "rest", "booking", at=WEEK_49)  # asked, never rated

    tracker_store = EnvTrackerStore(domain=Domain.empty())
    for sender, events in {
        "web-1": [
            fallback("护照加急能找谁", WEEK_48),
            fallback(f"我手机 {PHONE} 收不到短信", WEEK_49),
        ],
        "web-2": [fallback("护照加急能找谁", WEEK_48), fallback("/affirm", WEEK_48)],
    }.items():
        tracker = DialogueStateTracker.from_events(sender, events)
        asyncio.run(tracker_store.save(tracker))
    return booking_url, tracker_url


@pytest.fixture()
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    from bot.settings import get_settings

    yield seed_stores(tmp_path, monkeypatch)
    dispose_engines()
    get_settings.cache_clear()


def test_figures_by_topic_week_and_unanswered_questions(stores: tuple[str, str]) -> None:
    booking_url, tracker_url = stores
    tracker = make_engine(tracker_url)
    data = figures(get_engine(booking_url), tracker)
    tracker.dispose()
    by_topic = {t["topic"]: t for t in data["by_topic"]}
    assert by_topic["passport"]["satisfied"] == 2 and by_topic["passport"]["dissatisfied"] == 1
    assert by_topic["passport"]["rate"] == pytest.approx(2 / 3, abs=0.001)
    assert by_topic["booking"]["label"] == "预约" and by_topic["booking"]["total"] == 1
    assert [(w["week"], w["total"], w["rate"]) for w in data["by_week"]] == [
        ("2026-W48", 2, 0.5),
        ("2026-W49", 2, 1.0),
    ]
    weeks = {w["week"]: w for w in data["fallbacks_by_week"]}
    assert weeks["2026-W48"]["top"] == [{"text": "护照加急能找谁", "count": 2}]  # no payloads
    (late,) = weeks["2026-W49"]["top"]
    assert PHONE not in late["text"] and "139****4321" in late["text"]
    assert data["total"] == 4 and data["unavailable"] == []


def test_report_prints_and_draws_three_pngs(
    stores: tuple[str, str], tmp_path: Path, capsys: Any
) -> None:
    assert main(["--out", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "2026-W48" in out and "护照加急能找谁" in out and PHONE not in out
    for name in ("ratings_by_topic.png", "satisfaction_by_week.png", "fallbacks_by_week.png"):
        png = (tmp_path / "results" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, name


def test_empty_and_unreadable_stores_still_give_a_report(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(empty, sync=False)
    data = figures(get_engine(empty), make_engine(f"sqlite:///{tmp_path / 'no-tracker.db'}"))
    assert data["by_topic"] == [] and data["fallbacks_by_week"] == [] and data["total"] == 0
    broken = figures(make_engine(f"sqlite:///{tmp_path / 'nothing.db'}"), get_engine(empty))
    assert broken["unavailable"] == ["satisfaction"]
    assert len(draw_charts(data, tmp_path / "charts")) == 3
    dispose_engines()


def test_the_console_serves_the_figures_to_staff_only(stores: tuple[str, str], serve: Any) -> None:  # noqa: F811
    srv = serve(GuideAuth.from_env(env()))
    http = client()
    refused = http.get(f"{srv.base}/guide/api/care", timeout=10)
    assert refused.status_code == 401 and "passport" not in refused.text
    assert login(http, srv.base).status_code == 303
    served = http.get(f"{srv.base}/guide/api/care", timeout=30)
    assert served.status_code == 200 and served.headers["Cache-Control"] == "no-store"
    data = served.json()
    assert {t["topic"] for t in data["by_topic"]} == {"passport", "booking"}
    assert PHONE not in served.text
    page = http.get(f"{srv.base}/guide/", timeout=10).text
    assert 'id="care"' in page and "guide_care.js" in page
    assert http.get(f"{srv.base}/guide/static/guide_care.js", timeout=10).status_code == 200
    locked = serve(GuideAuth.from_env({"APP_ENV": "production"}))
    assert client().get(f"{locked.base}/guide/api/care", timeout=10).status_code == 403
