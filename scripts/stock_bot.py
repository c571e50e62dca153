"""The stock Rasa 3.6 bot that `make bench` measures this assistant against.

What a team gets from `rasa init` plus this project's NLU data, and nothing of its own:
JiebaTokenizer, CountVectorsFeaturizer and DIET; Memoization, Rule and TED policies; one
static response per intent, chosen by a rule; no forms, no custom actions, no action
server; the in-memory tracker store; started with plain `rasa run`. The project is written
under var/bench/stock/ from data/nlu/ at bench time, so it can never drift from the data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv" / "bin" / "rasa"

CONFIG = {
    "recipe": "default.v1",
    "language": "zh",
    "assistant_id": "stock-baseline",
    "pipeline": [
        {"name": "JiebaTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "DIETClassifier", "epochs": 60, "random_seed": 42},
    ],
    "policies": [
        {"name": "MemoizationPolicy"},
        {"name": "RulePolicy"},
        {"name": "TEDPolicy", "max_history": 5, "epochs": 40, "random_seed": 42},
    ],
}


def intents_of(nlu_dir: Path) -> list[str]:
    """Every intent with examples in the project's NLU files, in first-seen order."""
    seen: dict[str, None] = {}
    for path in sorted(nlu_dir.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in block:
                seen.setdefault(block["intent"], None)
    return list(seen)


def write_project(target: Path, nlu_dir: Path = ROOT / "data" / "nlu") -> Path:
    """config.yml, domain.yml, data/nlu (copied) and data/rules.yml under `target`."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "data").mkdir(parents=True)
    shutil.copytree(nlu_dir, target / "data" / "nlu")
    intents = intents_of(nlu_dir)
    domain: dict[str, Any] = {
        "version": "3.1",
        "intents": intents,
        "responses": {f"utter_{name}": [{"text": f"stock reply to {name}"}] for name in intents},
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }
    rules = {
        "version": "3.1",
        "rules": [
            {"rule": f"answer {name}", "steps": [{"intent": name}, {"action": f"utter_{name}"}]}
            for name in intents
        ],
    }
    dump = {"allow_unicode": True, "sort_keys": False}
    (target / "config.yml").write_text(yaml.safe_dump(CONFIG, **dump), encoding="utf-8")
    (target / "domain.yml").write_text(yaml.safe_dump(domain, **dump), encoding="utf-8")
    (target / "data" / "rules.yml").write_text(yaml.safe_dump(rules, **dump), encoding="utf-8")
    return target


def train_command(project: Path, out: Path, name: str) -> list[str]:
    return [
        str(RASA),
        "train",
        "--config",
        str(project / "config.yml"),
        "--domain",
        str(project / "domain.yml"),
        "--data",
        str(project / "data"),
        "--out",
        str(out),
        "--fixed-model-name",
        name,
        "--quiet",
    ]


def start(project: Path, model: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    """Plain `rasa run` on loopback: the API behind a token, no endpoints, no patches."""
    env = dict(
        os.environ,
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONWARNINGS="ignore",
    )
    cmd = [
        str(RASA),
        "run",
        "--model",
        str(model),
        "--port",
        str(port),
        "--interface",
        "127.0.0.1",
        "--enable-api",
        "--auth-token",
        token,
    ]
    return subprocess.Popen(
        cmd, cwd=project, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
