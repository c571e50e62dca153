"""Rasa's own checks: data validation without warnings and test stories without errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA = str(Path(sys.executable).parent / "rasa")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [RASA, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


_UNUSED = re.compile(r"UserWarning: The utterance '(utter_\w+)' is not used in any story or rule\.")


def _asked_by_forms() -> set[str]:
    """The responses Rasa's forms ask with: utter_ask_<form>_<slot> or utter_ask_<slot> for
    a required slot that has no action_ask_<slot> (rasa/core/actions/forms.py)."""
    from bot.domain_files import load_domain

    domain = load_domain()
    actions = {a if isinstance(a, str) else next(iter(a)) for a in domain.get("actions") or []}
    asked = set()
    for form, spec in (domain.get("forms") or {}).items():
        for slot in spec.get("required_slots") or []:
            if f"action_ask_{slot}" not in actions:
                asked |= {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"}
    return asked


def _uttered_by_code(name: str) -> bool:
    """A response that actions or channels send by name is used, even if no story names it,
    and so is a form's question that Rasa asks itself."""
    if name in _asked_by_forms():
        return True
    quoted = (f'"{name}"', f"'{name}'")
    for folder in ("actions", "bot"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if any(q in text for q in quoted):
                return True
    return False


def test_data_validates_without_warnings(tmp_path):
    result = _run(["data", "validate", "--domain", "domain", "--fail-on-warnings"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    unused = [name for name in _UNUSED.findall(output) if not _uttered_by_code(name)]
    assert unused == [], f"responses nobody sends: {unused}"
    assert "UserWarning" not in _UNUSED.sub("", output), output[-4000:]


def test_story_tests_pass(tmp_path):
    result = _run(
        [
            "test",
            "core",
            "--model",
            "models/current.tar.gz",
            "--stories",
            "tests/stories",
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path / "results"),
        ],
        tmp_path,
    )
    failed = tmp_path / "results" / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:] + details[-3000:]
