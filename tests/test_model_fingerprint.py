"""The model's fingerprint follows the code: a change to any module a custom component
imports, however indirectly, asks for a new model; an unrelated module does not."""

from __future__ import annotations

import shutil
from pathlib import Path

from scripts.model_fingerprint import ROOT, code_files, fingerprint, training_inputs


def _copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("bot", "actions", "data", "domain"):
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    shutil.copy(ROOT / "config.yml", root / "config.yml")
    return root


def test_transitive_imports_are_covered() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in code_files(ROOT)}
    # config.yml names bot.nlu.emergency; bot.kb.emergency comes in through bot.emergency.
    expected = {"bot/nlu/emergency.py", "bot/emergency.py", "bot/kb/emergency.py", "bot/text.py"}
    assert expected <= files
    assert "bot/kb/__init__.py" in files  # a package's __init__ runs on import
    assert "bot/privacy.py" not in files  # not imported by any component
    inputs = {p.relative_to(ROOT).as_posix() for p in training_inputs(ROOT)}
    data = {"config.yml", "domain/core.yml", "data/kb/emergency.yml", "data/dict/userdict.txt"}
    assert data <= inputs


def test_the_fingerprint_changes_with_a_transitively_imported_module(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before  # deterministic
    assert before == fingerprint(ROOT)  # the copy has every input

    unrelated = root / "bot" / "privacy.py"
    unrelated.write_text(unrelated.read_text(encoding="utf-8") + "\n# other\n", encoding="utf-8")
    assert fingerprint(root) == before

    deep = root / "bot" / "kb" / "emergency.py"
    deep.write_text(deep.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    after = fingerprint(root)
    assert after != before and len(after) == 16


def test_the_fingerprint_changes_with_data_and_config(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    before = fingerprint(root)
    (root / "data" / "nlu" / "extra.yml").write_text("version: '3.1'\n", encoding="utf-8")
    with_data = fingerprint(root)
    assert with_data != before
    config = root / "config.yml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# tuned\n", encoding="utf-8")
    assert fingerprint(root) != with_data
