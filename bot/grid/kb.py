"""The grid knowledge (data/kb/grid.yml): platforms, stages, categories and urgent cues.

Why a module of its own: the general KB loader (bot.kb) reads topics, halls and sources and
skips other kinds; the grid file has its own shape, checked here once, so a typo in a
platform or stage id stops the servers at start-up instead of misrouting a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from bot.settings import PROJECT_ROOT
from bot.text import compact

__all__ = [
    "GRID_FILE",
    "REPORTS_FILE",
    "Platform",
    "Stage",
    "Category",
    "Urgent",
    "GridKB",
    "GridKBError",
    "load_grid_kb",
    "get_grid_kb",
    "load_reports",
]

GRID_FILE = PROJECT_ROOT / "data" / "kb" / "grid.yml"
#: Labelled reports the classifier is trained on (the held-out part lives under tests/).
REPORTS_FILE = PROJECT_ROOT / "data" / "grid" / "reports.yml"


class GridKBError(ValueError):
    """data/kb/grid.yml or a reports file is malformed; the message names the key."""


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Stage:
    id: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    name_en: str
    platform: str
    #: Cue words, folded with bot.text.compact (as the report text is).
    cues: tuple[str, ...]


@dataclass(frozen=True)
class Urgent:
    """Something happening now: the number to call before anything else."""

    id: str
    number: str
    cues: tuple[str, ...]


@dataclass(frozen=True)
class GridKB:
    platforms: Mapping[str, Platform]
    stages: tuple[Stage, ...]
    categories: Mapping[str, Category]
    urgent: tuple[Urgent, ...]

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stages)

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def next_stage(self, stage_id: str) -> Optional[str]:
        """The stage after `stage_id`, None at the last one."""
        ids = self.stage_ids
        i = ids.index(stage_id)
        return ids[i + 1] if i + 1 < len(ids) else None

    def platform_of(self, category_id: str) -> Platform:
        return self.platforms[self.categories[category_id].platform]

    def urgent_in(self, text: str) -> Optional[Urgent]:
        """The first urgent kind whose cue is in `text` (fire before gas before flood …)."""
        folded = compact(text)
        for kind in self.urgent:
            if any(cue in folded for cue in kind.cues):
                return kind
        return None


def _need(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise GridKBError(f"grid.yml: {where}: {problem}")


def _names(raw: Any, where: str) -> tuple[str, str]:
    _need(isinstance(raw, dict), where, "must be a mapping")
    name, name_en = raw.get("name"), raw.get("name_en")
    _need(isinstance(name, str) and bool(name), where, "`name` missing")
    _need(isinstance(name_en, str) and bool(name_en), where, "`name_en` missing")
    return str(name), str(name_en)


def _cues(raw: Any, where: str) -> tuple[str, ...]:
    _need(isinstance(raw, list) and bool(raw), where, "`cues` must be a non-empty list")
    folded = tuple(compact(str(c)) for c in raw)
    _need(all(folded), where, "empty cue")
    return folded


def load_grid_kb(path: Path = GRID_FILE) -> GridKB:
    """Read and check the grid file."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    _need(doc.get("kind") == "grid", "kind", "must be `grid`")
    platforms = {}
    for pid, raw in (doc.get("platforms") or {}).items():
        platforms[str(pid)] = Platform(str(pid), *_names(raw, f"platforms.{pid}"))
    _need(len(platforms) >= 1, "platforms", "none defined")
    stages = []
    for i, raw in enumerate(doc.get("stages") or []):
        _need(isinstance(raw, dict) and bool(raw.get("id")), f"stages[{i}]", "`id` missing")
        stages.append(Stage(str(raw["id"]), *_names(raw, f"stages[{i}]")))
    _need(len(stages) >= 2, "stages", "needs at least two stages")
    categories = {}
    for cid, raw in (doc.get("categories") or {}).items():
        where = f"categories.{cid}"
        name, name_en = _names(raw, where)
        platform = str(raw.get("platform") or "")
        _need(platform in platforms, where, f"unknown platform {platform!r}")
        categories[str(cid)] = Category(
            str(cid), name, name_en, platform, _cues(raw.get("cues"), where)
        )
    _need(len(categories) >= 2, "categories", "needs at least two categories")
    urgent = []
    for i, raw in enumerate(doc.get("urgent") or []):
        where = f"urgent[{i}]"
        _need(isinstance(raw, dict) and bool(raw.get("id")), where, "`id` missing")
        number = str(raw.get("number") or "")
        _need(number in ("119", "110"), where, "`number` must be 119 or 110")
        urgent.append(Urgent(str(raw["id"]), number, _cues(raw.get("cues"), where)))
    return GridKB(platforms, tuple(stages), categories, tuple(urgent))


@lru_cache(maxsize=1)
def get_grid_kb() -> GridKB:
    """The process-wide grid knowledge, read once."""
    return load_grid_kb()


def load_reports(path: Path, kb: Optional[GridKB] = None) -> list[tuple[str, str]]:
    """(text, category) pairs of a labelled reports file; unknown categories are an error."""
    known = (kb or get_grid_kb()).categories
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pairs = []
    for i, raw in enumerate(doc.get("reports") or []):
        text, category = str(raw.get("text") or ""), str(raw.get("category") or "")
        if not text or category not in known:
            raise GridKBError(f"{path.name}: reports[{i}]: needs text and a known category")
        pairs.append((text, category))
    return pairs
