"""The domain as one mapping, read from the per-feature files under `domain/`.

Rasa reads the folder itself (`rasa train --domain domain`); this module is for the places
that need the wording without a trained model: the busy reply when no agent is loaded, the
WeChat capabilities text, tests and evaluation scripts.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

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
