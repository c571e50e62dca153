"""Real citizens' questions, answered as full turns: the share the assistant gets right.

A question counts as answered when the reply is not the fallback ("抱歉，我没太明白", or its English
variant) and contains every word of its `must_contain` label or, for an English question that has
one, every word of its `must_contain_en` label (tests/data/real_questions_heldout.yml). Each question is
the first message of a fresh conversation, so no earlier turn helps it.

Full turns run custom actions (the knowledge-base answers), so the scorer starts the project's
own action server as a subprocess on a free loopback port and sends the agent's action calls
there; the model itself stays in-process, as in scripts/eval.py. `python -m scripts.eval_real`
scores the held-out file alone; `make eval` includes it as the "real_questions" section.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import yaml

from bot.domain_files import load_domain

ROOT = Path(__file__).resolve().parent.parent
REAL_HELDOUT = ROOT / "tests" / "data" / "real_questions_heldout.yml"
#: Every held-out set by its name in results/eval.json. Each was collected after the one
#: before it had directed fixes, so the newest is the fresh measure (see each file's header).
REAL_HELDOUT_SETS = {
    "real_questions": REAL_HELDOUT,
    "real_questions_2": ROOT / "tests" / "data" / "real_questions_heldout2.yml",
    "real_questions_3": ROOT / "tests" / "data" / "real_questions_heldout3.yml",
}
DEFAULT_MODEL = ROOT / "models" / "current.tar.gz"
#: Responses that mean "not understood"; a reply containing one of them is a miss. The
#: two-stage fallback ("您是想问：…？") is a question back, not an answer, so it counts too.
FALLBACK_RESPONSES = (
    "utter_default",
    "utter_ask_affirmation",
    "utter_ask_affirmation_service",
    "utter_ask_rephrase",
)
TARGET = 0.95
MAX_MISSES = 200


# ----- pure helpers (tested in tests/test_eval_scripts.py) -----------------------------------


def load_real_questions(data: Any) -> list[dict[str, Any]]:
    """The scored items of a real-questions file: text, must_contain (and must_contain_en where
    the entry has one) and the labels kept."""
    if not isinstance(data, list):
        raise ValueError("real questions: expected a list of entries")
    items = []
    for entry in data:
        if not isinstance(entry, Mapping) or not str(entry.get("text") or "").strip():
            continue
        items.append(
            {
                "text": str(entry["text"]),
                "must_contain": [str(w) for w in entry.get("must_contain") or []],
                "must_contain_en": (
                    [str(w) for w in entry["must_contain_en"] or []]
                    if entry.get("must_contain_en") is not None
                    else None
                ),
                "service": entry.get("service"),
                "aspect": entry.get("aspect"),
                "source": entry.get("source"),
            }
        )
    return items


def fallback_texts(
    domain: Mapping[str, Any], names: Iterable[str] = FALLBACK_RESPONSES
) -> list[str]:
    """Every text variant of the fallback responses in a domain, so the check follows the domain files:
    the conditional ones too (the English variant has `condition:` on the language slot)."""
    responses = domain.get("responses") or {}
    texts: list[str] = []
    for name in names:
        for variant in responses.get(name) or []:
            text = variant.get("text") if isinstance(variant, Mapping) else None
            if text and str(text) not in texts:
                texts.append(str(text))
    return texts


def _fold(text: str) -> str:
    """Compare as a citizen reads: full-width forms and letter case do not matter."""
    return unicodedata.normalize("NFKC", text).casefold()


def missing_words(reply: str, must_contain: Sequence[str]) -> list[str]:
    """The label words the reply lacks."""
    folded = _fold(reply)
    return [word for word in must_contain if _fold(word) not in folded]


def label_missing(reply: str, item: Mapping[str, Any]) -> list[str]:
    """The words that keep a reply from counting: none when it has every `must_contain` word or,
    for an item with `must_contain_en`, every English word; else the Chinese words it lacks
    (and the English ones, after them, when the item has an English label)."""
    lacking = missing_words(reply, item.get("must_contain") or [])
    english = item.get("must_contain_en")
    if not lacking or english is None:
        return lacking
    lacking_en = missing_words(reply, english)
    return [] if not lacking_en else lacking + [w for w in lacking_en if w not in lacking]


def _template_pattern(text: str) -> re.Pattern[str]:
    """A response text as a pattern: its `{variables}` match any filling."""
    parts = re.split(r"\{[a-z_]+\}", _fold(text))
    return re.compile(".+?".join(re.escape(part) for part in parts), re.DOTALL)


def is_fallback(reply: str, fallbacks: Sequence[str]) -> bool:
    """True when the reply is (or contains) a fallback response, whatever fills its variables."""
    folded = _fold(reply)
    return any(_template_pattern(text).search(folded) for text in fallbacks if text.strip())


def score_real(
    items: Sequence[Mapping[str, Any]],
    replies: Sequence[str],
    fallbacks: Sequence[str],
    target: float = TARGET,
) -> dict[str, Any]:
    """Answered / total and the misses (why each one failed), from replies aligned with items."""
    if len(items) != len(replies):
        raise ValueError("real questions: one reply per item is needed")
    misses = []
    for item, reply in zip(items, replies):
        fallback = is_fallback(reply, fallbacks)
        lacking = label_missing(reply, item)
        if fallback or lacking or not reply.strip():
            misses.append(
                {
                    "text": item["text"],
                    "service": item.get("service"),
                    "aspect": item.get("aspect"),
                    "fallback": fallback,
                    "missing": lacking,
                    "reply": reply[:300],
                }
            )
    total = len(items)
    answered = total - len(misses)
    rate = answered / total if total else None
    return {
        "answered": answered,
        "total": total,
        "rate": rate,
        "target": target,
        "pass": rate is not None and rate >= target,
        "misses": misses[:MAX_MISSES],
    }


def reply_text(messages: Iterable[Mapping[str, Any]] | None) -> str:
    """The texts the citizen reads, joined (buttons are choices, not an answer)."""
    return "\n".join(str(m.get("text")) for m in messages or [] if m.get("text"))


# ----- the action server and the turns --------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"action server exited early:\n{log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"action server not ready after {seconds:.0f} s")


@contextlib.contextmanager
def action_server() -> Iterator[str]:
    """The project's action server (bot.serve actions) on loopback with a throw-away database;
    yields its webhook URL and stops it afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="eval-real-"))
    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'booking.db'}",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONWARNINGS="ignore",
    )
    env.pop("REDIS_URL", None)
    py = sys.executable
    subprocess.run(
        [py, "-m", "bot.serve", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = workdir / "actions.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [py, "-m", "bot.serve", "actions", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def load_turn_agent(model: Path, action_url: str) -> Any:
    """The model in-process, with the action endpoint and the project's Rasa patches (the
    action-server secret header, the busy reply on a failed action)."""
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_patches import install

    install()
    return await load_agent(
        model_path=str(model), endpoints=AvailableEndpoints(action=EndpointConfig(url=action_url))
    )


async def answer_all(agent: Any, texts: Sequence[str]) -> list[str]:
    """One full turn per text, each from a new sender (sequential: turns share the CPU anyway)."""
    replies = []
    for text in texts:
        messages = await agent.handle_text(text, sender_id=f"eval-real-{uuid.uuid4().hex}")
        replies.append(reply_text(messages))
    return replies


async def eval_real(agent: Any, path: Path = REAL_HELDOUT) -> dict[str, Any] | None:
    """Score a real-questions file with an agent that can run custom actions."""
    if not path.exists():
        print(f"\n[skip] real questions file {path} not found")
        return None
    items = load_real_questions(yaml.safe_load(path.read_text(encoding="utf-8")))
    fallbacks = fallback_texts(load_domain())
    started = time.perf_counter()
    replies = await answer_all(agent, [item["text"] for item in items])
    report = score_real(items, replies, fallbacks)
    report["file"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    report["seconds"] = round(time.perf_counter() - started, 1)
    rate = "n/a" if report["rate"] is None else f"{report['rate']:.3f}"
    mark = "PASS" if report["pass"] else "FAIL"
    print(
        f"\nReal questions ({report['file']}, {report['total']} questions, {report['seconds']:.0f} s)"
    )
    print(f"  answered {report['answered']}/{report['total']} = {rate}   target ≥ {TARGET}  {mark}")
    fallback_count = sum(m["fallback"] for m in report["misses"])
    print(f"  misses: {len(report['misses'])} ({fallback_count} fallback)")
    for miss in report["misses"][:20]:
        why = "fallback" if miss["fallback"] else "lacks " + "/".join(miss["missing"])
        print(f"    {why:<22}{miss['text'][:56]}")
    return report


async def run(model: Path, path: Path) -> dict[str, Any] | None:
    with action_server() as url:
        agent = await load_turn_agent(model, url)
        return await eval_real(agent, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--file", type=Path, default=REAL_HELDOUT)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model}: run `make train` first")
        return 1
    from scripts.eval import quiet_logging

    quiet_logging()
    report = asyncio.run(run(args.model, args.file))
    if args.out and report is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
