"""The satisfaction report (`make report`, and the guide console's figures).

Three figures, so the knowledge base grows where citizens need it:
- ratings by topic (满意 / 一般 / 不满意 per finished task's topic);
- satisfaction by week (ISO weeks in local time; rate = 满意 / rated);
- the most frequent unanswered questions (fallbacks) by week, read from the tracker store's
  stored conversations. The store keeps them masked (bot.stores); they are masked again here,
  so a number that slipped through never reaches a report.

`figures()` is the one computation; `main()` prints it and draws PNG charts into results/
with matplotlib (Agg, no display), and the console serves the same dictionary as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.booking.db import READ_ONLY, get_engine, make_engine
from bot.care.models import RATINGS, SatisfactionRating
from bot.care.satisfaction import LOCAL_TZ
from bot.privacy import mask_text
from bot.settings import PROJECT_ROOT, get_settings
from bot.wording import wording

__all__ = ["figures", "satisfaction_rows", "fallback_rows", "draw_charts", "main", "TOP_FALLBACKS"]

log = logging.getLogger(__name__)

#: Unanswered questions listed per week.
TOP_FALLBACKS = 5
FALLBACK_INTENT = "nlu_fallback"
#: The report reads at most this many recent fallback events (a bounded query).
MAX_FALLBACK_EVENTS = 20_000
_MAX_QUESTION_CHARS = 80

_ratings = SatisfactionRating.__table__


def _week(at: datetime) -> str:
    """ "2026-W49": the ISO week of `at` in local time."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    year, week, _ = at.astimezone(LOCAL_TZ).isocalendar()
    return f"{year}-W{week:02d}"


def _topic_label(topic: str) -> str:
    names = wording("care").get("topics") or {}
    if topic in names:
        return str(names[topic])
    try:
        from bot.kb import get_kb

        known = get_kb().topics.get(topic)
        if known is not None:
            return str(known.name)
    except Exception:  # a label is cosmetic: never fail the report for it
        log.debug("no KB name for topic %s", topic)
    return topic


def satisfaction_rows(engine: Engine) -> List[Dict[str, Any]]:
    """Every rated follow-up: topic, channel, rating, week (no conversation ids)."""
    query = sa.select(
        _ratings.c.topic, _ratings.c.channel, _ratings.c.rating, _ratings.c.rated_at
    ).where(_ratings.c.rating.is_not(None))
    with engine.connect() as conn:
        conn.execution_options(**READ_ONLY)
        rows = conn.execute(query).all()
    return [
        {"topic": r.topic, "channel": r.channel, "rating": r.rating, "week": _week(r.rated_at)}
        for r in rows
        if r.rating in RATINGS and r.rated_at is not None
    ]


def fallback_rows(tracker_engine: Engine) -> List[Dict[str, str]]:
    """Unanswered questions in the stored conversations: masked text and week."""
    inspector = sa.inspect(tracker_engine)
    if not inspector.has_table("events"):
        return []
    events = sa.table(
        "events",
        sa.column("id"),
        sa.column("type_name"),
        sa.column("intent_name"),
        sa.column("timestamp"),
        sa.column("data"),
    )
    query = (
        sa.select(events.c.timestamp, events.c.data)
        .where(sa.and_(events.c.type_name == "user", events.c.intent_name == FALLBACK_INTENT))
        .order_by(events.c.id.desc())
        .limit(MAX_FALLBACK_EVENTS)
    )
    out: List[Dict[str, str]] = []
    with tracker_engine.connect() as conn:
        for stamp, data in conn.execute(query):
            try:
                text = str((json.loads(data) or {}).get("text") or "").strip()
            except (TypeError, ValueError):
                continue
            if not text or text.startswith("/"):  # a button payload is not a question
                continue
            at = datetime.fromtimestamp(float(stamp), tz=timezone.utc)
            out.append({"text": mask_text(text)[:_MAX_QUESTION_CHARS], "week": _week(at)})
    return out


def _rate(counts: Mapping[str, int]) -> Optional[float]:
    total = sum(counts.get(r, 0) for r in RATINGS)
    return round(counts.get("satisfied", 0) / total, 3) if total else None


def figures(
    engine: Optional[Engine] = None, tracker_engine: Optional[Engine] = None
) -> Dict[str, Any]:
    """The report as data: by_topic, by_week, fallbacks_by_week, labels.

    A store that cannot be read gives an empty part and `unavailable` names it, so the
    console shows what it has instead of an error.
    """
    unavailable: List[str] = []
    try:
        rated = satisfaction_rows(engine if engine is not None else get_engine())
    except SQLAlchemyError as exc:
        log.warning("satisfaction report: store unavailable: %s", exc.__class__.__name__)
        rated, unavailable = [], ["satisfaction"]
    try:
        tracker = (
            tracker_engine
            if tracker_engine is not None
            else make_engine(get_settings().tracker_store_url)
        )
        asked = fallback_rows(tracker)
    except SQLAlchemyError as exc:
        log.warning("satisfaction report: tracker store unavailable: %s", exc.__class__.__name__)
        asked, unavailable = [], unavailable + ["fallbacks"]

    topics: Dict[str, Counter] = defaultdict(Counter)
    weeks: Dict[str, Counter] = defaultdict(Counter)
    for row in rated:
        topics[row["topic"]][row["rating"]] += 1
        weeks[row["week"]][row["rating"]] += 1
    questions: Dict[str, Counter] = defaultdict(Counter)
    for row in asked:
        questions[row["week"]][row["text"]] += 1

    def counts(c: Counter) -> Dict[str, Any]:
        return {**{r: c.get(r, 0) for r in RATINGS}, "total": sum(c.values()), "rate": _rate(c)}

    care = wording("care")
    return {
        "by_topic": [
            {"topic": t, "label": _topic_label(t), **counts(c)}
            for t, c in sorted(topics.items(), key=lambda kv: -sum(kv[1].values()))
        ],
        "by_week": [{"week": w, **counts(c)} for w, c in sorted(weeks.items())],
        "fallbacks_by_week": [
            {
                "week": w,
                "total": sum(c.values()),
                "top": [{"text": q, "count": n} for q, n in c.most_common(TOP_FALLBACKS)],
            }
            for w, c in sorted(questions.items())
        ],
        "total": len(rated),
        "labels": {
            "ratings": dict(care.get("ratings") or {}),
            **dict(care.get("report") or {}),
            **dict(care.get("console") or {}),
        },
        "unavailable": unavailable,
    }


def _font() -> None:
    """A CJK font when one is installed (WenQuanYi on Debian), so labels are not boxes."""
    from matplotlib import font_manager, rcParams

    for name in ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "SimHei"):
        try:
            font_manager.findfont(name, fallback_to_default=False)
        except ValueError:
            continue
        rcParams["font.sans-serif"] = [name, *rcParams["font.sans-serif"]]
        break
    rcParams["axes.unicode_minus"] = False


def draw_charts(data: Mapping[str, Any], out_dir: Path) -> List[Path]:
    """ratings_by_topic.png, satisfaction_by_week.png, fallbacks_by_week.png in `out_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _font()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = data["labels"]
    names = [labels["ratings"].get(r, r) for r in RATINGS]
    colours = ["#2e7d32", "#f9a825", "#c62828"]
    written: List[Path] = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    topics = data["by_topic"]
    if topics:
        left = [0] * len(topics)
        ys = [t["label"] for t in topics]
        for rating, name, colour in zip(RATINGS, names, colours):
            values = [t[rating] for t in topics]
            ax.barh(ys, values, left=left, color=colour, label=name)
            left = [a + b for a, b in zip(left, values)]
        ax.legend()
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, labels["none"], ha="center", va="center", transform=ax.transAxes)
    ax.set_title(labels["by_topic"])
    ax.set_xlabel(labels["count"])
    written.append(_save(fig, out_dir / "ratings_by_topic.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    weeks = [w for w in data["by_week"] if w["rate"] is not None]
    if weeks:
        ax.plot([w["week"] for w in weeks], [w["rate"] * 100 for w in weeks], marker="o")
        ax.set_ylim(0, 100)
    else:
        ax.text(0.5, 0.5, labels["none"], ha="center", va="center", transform=ax.transAxes)
    ax.set_title(labels["by_week"])
    ax.set_xlabel(labels["week"])
    ax.set_ylabel(f"{labels['rate']} (%)")
    written.append(_save(fig, out_dir / "satisfaction_by_week.png"))

    fallbacks = data["fallbacks_by_week"][-4:]  # the last four weeks, one panel each
    fig, axes = plt.subplots(max(1, len(fallbacks)), 1, figsize=(8, 2.6 * max(1, len(fallbacks))))
    axes_list = list(axes) if hasattr(axes, "__iter__") else [axes]
    if not fallbacks:
        axes_list[0].text(0.5, 0.5, labels["none"], ha="center", va="center")
        axes_list[0].set_axis_off()
    for panel, week in zip(axes_list, fallbacks):
        top = week["top"]
        panel.barh([q["text"][:24] for q in top], [q["count"] for q in top], color="#1565c0")
        panel.invert_yaxis()
        panel.set_title(f"{week['week']}（{week['total']}）", fontsize=10)
    fig.suptitle(labels["fallbacks"])
    written.append(_save(fig, out_dir / "fallbacks_by_week.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _print(data: Mapping[str, Any]) -> None:
    labels = data["labels"]
    names = [labels["ratings"].get(r, r) for r in RATINGS]
    rate_of = lambda v: "-" if v is None else f"{v * 100:.0f}%"  # noqa: E731
    print(f"== {labels['title']}: {data['total']}")
    print(f"-- {labels['by_topic']}")
    for t in data["by_topic"]:
        parts = " ".join(f"{n} {t[r]}" for r, n in zip(RATINGS, names))
        print(f"  {t['label']:<12} {parts}  {labels['rate']} {rate_of(t['rate'])}")
    print(f"-- {labels['by_week']}")
    for w in data["by_week"]:
        print(f"  {w['week']}  {w['total']:>4}  {labels['rate']} {rate_of(w['rate'])}")
    print(f"-- {labels['fallbacks']}")
    for w in data["fallbacks_by_week"]:
        print(f"  {w['week']} ({w['total']})")
        for q in w["top"]:
            print(f"    {q['count']:>4}  {q['text']}")
    for part in data["unavailable"]:
        print(f"!! {part}: store unavailable")


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m bot.care.report [--out results]`: prints the figures, writes the charts."""
    parser = argparse.ArgumentParser(description="Satisfaction and unanswered-question report.")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results")
    args = parser.parse_args(argv)
    data = figures()
    _print(data)
    for path in draw_charts(data, args.out):
        print(f"chart: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
