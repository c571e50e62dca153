"""The domain as one mapping, read from the per-feature files under `domain/`.

Rasa reads the folder itself (`rasa train --domain domain`); this module is for the places
that need the wording without a trained model: the busy reply when no agent is loaded, the
WeChat capabilities text, tests and evaluation scripts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

#: The domain's entry point: one file per feature (core, emergency, booking, …).
DOMAIN_DIR = Path(__file__).resolve().parent.parent / "domain"


def _merge(into: Dict[str, Any], part: Dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, list):
            into.setdefault(key, []).extend(value)
        elif isinstance(value, dict):
            into.setdefault(key, {}).update(value)
        else:
            into[key] = value


@lru_cache(maxsize=4)
def load_domain(directory: Path = DOMAIN_DIR) -> Dict[str, Any]:
    """Every file of the domain folder merged, in file-name order, as Rasa merges them."""
    merged: Dict[str, Any] = {}
    for path in sorted(directory.glob("*.yml")):
        _merge(merged, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def responses() -> Dict[str, Any]:
    """The domain's responses, `utter_*` name to its variations."""
    return dict(load_domain().get("responses") or {})


def _for_language(variation: Dict[str, Any], language: str) -> bool:
    return any(
        c.get("type") == "slot" and c.get("name") == "language" and c.get("value") == language
        for c in variation.get("condition") or []
    )


def render(response: str, language: str = "zh", **values: Any) -> str:
    """A response's text outside a Rasa turn (no NLG there): the variation whose condition is
    `language` on the language slot, else the unconditioned one, with its {names} filled
    from `values` (a name without a value stays as written).

    Why one function: reminders, grid notices and the handoff queue's messages reach the
    citizen without a turn, and must pick the language the way the domain's conditions do.
    """
    variations = responses().get(response) or []
    chosen: Optional[Dict[str, Any]] = next(
        (v for v in variations if _for_language(v, language)), None
    ) or next((v for v in variations if not v.get("condition")), None)
    text = str((chosen or {}).get("text") or "")
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)
