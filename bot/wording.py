"""Words the replies are built from that are not whole sentences, kept in data/wording/.

Domain responses hold every sentence; these files hold the names put into them as
variables (an aspect, a form, a service button's title) and the hall-guide console's
wording, so that changing a word is a YAML edit too. Read once per process, on first use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping

import yaml

WORDING_DIR = Path(__file__).resolve().parent.parent / "data" / "wording"


@lru_cache(maxsize=8)
def wording(name: str) -> Mapping[str, Any]:
    """The mapping in data/wording/<name>.yml."""
    data = yaml.safe_load((WORDING_DIR / f"{name}.yml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"data/wording/{name}.yml: not a mapping")
    return data


def labels(kind: str) -> Dict[str, str]:
    """One table of data/wording/labels.yml (`aspects`, `forms`, …), id → name."""
    return {str(k): str(v) for k, v in (wording("labels").get(kind) or {}).items()}


def label(kind: str) -> str:
    """A single word of data/wording/labels.yml (`default_hall`, `handoff_hall`)."""
    return str(wording("labels")[kind])
