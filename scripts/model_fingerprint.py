"""The fingerprint of a trained model's inputs: retraining follows the code.

A model must be retrained exactly when something it was built from changes: config.yml,
the domain, the training data and knowledge files under data/, and the Python code of every
custom component in the pipeline or policies — including what that code imports, however
deep (the emergency component reads bot/kb/emergency.py through bot.emergency). A
hand-typed list of files misses such imports, so the list is derived here: each custom
component's module is found from config.yml, and its imports are walked with `ast`
(without importing Rasa, so the fingerprint costs well under a second and `make` can ask
for it on every run). Only modules inside this repository (bot.*, actions.*) are followed;
the pinned third-party packages are covered by requirements.txt, not by this hash.

    python -m scripts.model_fingerprint            # 16 hex digits
    python -m scripts.model_fingerprint --files    # the files it covers
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path
from typing import Iterable

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Top-level packages whose modules belong to this repository.
LOCAL_PACKAGES = ("bot", "actions")
#: Training data and knowledge files (data/dict/*.txt is jieba's user dictionary).
DATA_SUFFIXES = (".yml", ".yaml", ".txt")


def _module_file(root: Path, module: str) -> Path | None:
    """bot.kb.emergency → bot/kb/emergency.py (or a package's __init__.py)."""
    if module.split(".")[0] not in LOCAL_PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_packages(module: str) -> list[str]:
    """bot.kb.emergency imports bot and bot.kb too (their __init__ runs first)."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imports(root: Path, path: Path, module: str) -> set[str]:
    """Every module `path` imports, at any depth of the file (lazy imports run too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from bot.kb import loader` may name a module as well as an attribute.
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {m for m in found if m}


def component_modules(config: dict) -> list[str]:
    """The modules of config.yml's custom components (`bot.nlu.emergency.EmergencyDetector`)."""
    names = [
        str(entry.get("name", ""))
        for section in ("pipeline", "policies")
        for entry in (config.get(section) or [])
        if isinstance(entry, dict)
    ]
    return sorted({name.rsplit(".", 1)[0] for name in names if "." in name})


def code_files(root: Path = ROOT, config_path: Path | None = None) -> list[Path]:
    """Every repository module the custom components import, transitively."""
    config = yaml.safe_load((config_path or root / "config.yml").read_text(encoding="utf-8")) or {}
    pending = [m for name in component_modules(config) for m in _with_packages(name)]
    seen: dict[str, Path] = {}
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = _module_file(root, module)
        if path is None:
            continue
        seen[module] = path
        for imported in _imports(root, path, module):
            pending.extend(m for m in _with_packages(imported) if m not in seen)
    return sorted(set(seen.values()))


def data_files(root: Path = ROOT) -> list[Path]:
    """config.yml, domain/*.yml and every yml/txt file under data/."""
    files = [root / "config.yml", *sorted((root / "domain").glob("*.yml"))]
    data = (root / "data").rglob("*")
    files += sorted(p for p in data if p.is_file() and p.suffix in DATA_SUFFIXES)
    return files


def training_inputs(root: Path = ROOT) -> list[Path]:
    return sorted(set(data_files(root)) | set(code_files(root)))


def fingerprint(root: Path = ROOT, files: Iterable[Path] | None = None) -> str:
    """16 hex digits over the inputs' paths and contents (a rename counts as a change)."""
    digest = hashlib.sha256()
    for path in sorted(files if files is not None else training_inputs(root)):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="list the files instead of the hash")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    if args.files:
        for path in training_inputs(args.root):
            print(path.relative_to(args.root).as_posix())
    else:
        print(fingerprint(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
