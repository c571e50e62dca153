"""`make bench`: this bot versus a stock Rasa pipeline on the same data → results/bench.json.

In one run it times training of both configs (into var/bench, never models/), then starts the
real servers (tests.live.start_live_bot) for each model in turn and measures parse and REST-turn
latency, saturation throughput with 20 closed-loop clients, turn 5 versus turn 200 of one long
conversation, model size and server memory. The booking bench (scripts/bench_booking.py) is
merged in when present. Figures are printed, never asserted: the cores are shared and noisy.
Every loop is bounded by a count and a deadline; clients talk to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import psutil
import requests

from scripts.stats import latency_summary, percentile, ratio

ROOT = Path(__file__).resolve().parent.parent
OURS_MODEL = ROOT / "models" / "current.tar.gz"
BENCH_DIR = ROOT / "var" / "bench"
HOLDOUT = ROOT / "tests" / "nlu" / "test_holdout.yml"
RESULTS = ROOT / "results" / "bench.json"
RASA = ROOT / ".venv" / "bin" / "rasa"
TIMEOUT = 60.0  # per request
TARGETS = {"parse_p95_ratio_max": 1.2, "training_s_max": 180.0, "model_mb_max": 30.0}
FALLBACK_MESSAGES = ["办护照要带什么材料", "港澳通行证多少钱", "你好", "要多久能拿到", "谢谢", "在哪里办"]


@dataclass(frozen=True)
class Sizes:
    parse_n: int
    conversations: int
    turns_per_conversation: int
    clients: int
    saturation_s: float
    long_turns: int
    early_turn: int = 5
    late_turn: int = 200


FULL = Sizes(parse_n=500, conversations=100, turns_per_conversation=5, clients=20,
             saturation_s=20.0, long_turns=205)
QUICK = Sizes(parse_n=40, conversations=8, turns_per_conversation=5, clients=20,
              saturation_s=5.0, long_turns=30, late_turn=27)


# ----- helpers --------------------------------------------------------------------------------

def holdout_messages() -> list[str]:
    """Citizen-like messages from the held-out NLU file (a fixed list when it is missing)."""
    if not HOLDOUT.exists():
        print(f"[warn] {HOLDOUT.relative_to(ROOT)} missing; using {len(FALLBACK_MESSAGES)} fixed messages")
        return list(FALLBACK_MESSAGES)
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(HOLDOUT)).intent_examples] or list(FALLBACK_MESSAGES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return round(total / 2**20, 1)


def model_mb(path: Path) -> float:
    return round(path.resolve().stat().st_size / 2**20, 2)


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def window_median(series: Sequence[float], turn: int, half: int = 2) -> float:
    """Median latency of turns turn-half..turn+half (1-based), to damp single-request noise."""
    lo, hi = max(turn - 1 - half, 0), min(turn + half, len(series))
    return percentile(series[lo:hi], 50)


def train(config: str, name: str) -> dict[str, Any]:
    """Time `rasa train` of one config into var/bench without the cache (a clean build)."""
    env = dict(os.environ, RASA_MAX_CACHE_SIZE="0", RASA_TELEMETRY_ENABLED="false")
    cmd = [str(RASA), "train", "--config", config, "--fixed-model-name", name,
           "--out", str(BENCH_DIR), "--quiet"]
    print(f"Training {config} → var/bench/{name}.tar.gz …", flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    seconds = round(time.perf_counter() - started, 1)
    model = BENCH_DIR / f"{name}.tar.gz"
    if done.returncode != 0 or not model.exists():
        print(done.stdout[-2000:], done.stderr[-2000:])
        return {"ok": False, "seconds": seconds, "error": (done.stderr or done.stdout)[-1000:]}
    print(f"  {seconds:.0f} s, {model_mb(model)} MB")
    return {"ok": True, "seconds": seconds, "model": str(model.relative_to(ROOT)), "model_mb": model_mb(model)}


# ----- measurements against a live server -----------------------------------------------------

def _post(session: requests.Session, url: str, payload: dict[str, Any],
          params: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = session.post(url, json=payload, params=params, timeout=TIMEOUT)
    response.raise_for_status()
    response.json()
    return time.perf_counter() - started


def parse_latency(base: str, messages: Sequence[str], n: int, token: str) -> dict[str, float]:
    """/model/parse latency; the HTTP API needs the server's token (it is off without one)."""
    params = {"token": token}
    with requests.Session() as s:
        samples = [_post(s, f"{base}/model/parse", {"text": messages[i % len(messages)]}, params)
                   for i in range(n)]
    return latency_summary(samples)


def turn_latency(base: str, messages: Sequence[str], conversations: int, turns: int) -> dict[str, float]:
    samples: list[float] = []
    url = f"{base}/webhooks/rest/webhook"
    with requests.Session() as s:
        for c in range(conversations):
            sender = f"bench-short-{uuid.uuid4().hex[:8]}"
            for t in range(turns):
                text = messages[(c * turns + t) % len(messages)]
                samples.append(_post(s, url, {"sender": sender, "message": text}))
    return latency_summary(samples)


def saturation(base: str, messages: Sequence[str], clients: int, seconds: float,
               turns: int) -> dict[str, Any]:
    """Closed loop: each client sends its next turn as soon as the last reply arrives."""
    url = f"{base}/webhooks/rest/webhook"
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    run = uuid.uuid4().hex[:6]
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        with requests.Session() as s:
            for count in range(100_000):  # the deadline ends it long before this bound
                if time.perf_counter() >= deadline:
                    return
                sender = f"bench-sat-{run}-{index}-{count // turns}"  # a new conversation every `turns`
                text = messages[(index * 7 + count) % len(messages)]
                try:
                    took = _post(s, url, {"sender": sender, "message": text})
                except requests.RequestException:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + TIMEOUT + 5)
    elapsed = time.perf_counter() - started  # includes the replies still in flight at the deadline
    return {"clients": clients, "seconds": round(elapsed, 1), "turns": len(latencies),
            "errors": errors[0], "turns_per_s": round(len(latencies) / elapsed, 2),
            **{f"latency_{k}": v for k, v in latency_summary(latencies).items() if k != "n"}}


def long_conversation(base: str, messages: Sequence[str], sizes: Sizes) -> dict[str, Any]:
    url = f"{base}/webhooks/rest/webhook"
    sender = f"bench-long-{uuid.uuid4().hex[:8]}"
    series: list[float] = []
    deadline = time.perf_counter() + 900
    with requests.Session() as s:
        for t in range(sizes.long_turns):
            if time.perf_counter() > deadline:
                break
            series.append(_post(s, url, {"sender": sender, "message": messages[t % len(messages)]}))
    ms = [round(x * 1000, 1) for x in series]
    early = window_median(ms, sizes.early_turn)
    late = window_median(ms, sizes.late_turn) if len(ms) >= sizes.late_turn else float("nan")
    return {"turns": len(ms), "early_turn": sizes.early_turn, "late_turn": sizes.late_turn,
            "early_ms": round(early, 1), "late_ms": round(late, 1), "late_over_early": ratio(late, early),
            "series_ms": ms}


def bench_server(label: str, model: Path, messages: Sequence[str], sizes: Sizes) -> dict[str, Any]:
    from tests.live import start_live_bot, stop

    workdir = BENCH_DIR / f"live-{label}"
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n[{label}] starting servers with {model.name} …", flush=True)
    started = time.perf_counter()
    bot, procs = start_live_bot(workdir, port=free_port(), actions_port=free_port(), model=model)
    result: dict[str, Any] = {"model": model.name, "model_mb": model_mb(model),
                              "startup_s": round(time.perf_counter() - started, 1)}
    try:
        pid = procs[1].pid
        result["rss_after_load_mb"] = rss_mb(pid)
        for i in range(10):  # warm-up: first requests build graph caches and open DB connections
            bot.parse(messages[i % len(messages)])
            bot.say(messages[i % len(messages)], sender="bench-warmup")
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("parse", lambda: parse_latency(bot.url, messages, sizes.parse_n, bot.env["RASA_AUTH_TOKEN"])),
            ("turn", lambda: turn_latency(bot.url, messages, sizes.conversations, sizes.turns_per_conversation)),
            ("saturation", lambda: saturation(bot.url, messages, sizes.clients, sizes.saturation_s,
                                              sizes.turns_per_conversation)),
            ("long_conversation", lambda: long_conversation(bot.url, messages, sizes)),
        ]
        for name, step in steps:
            t0 = time.perf_counter()
            result[name] = step()
            shown = {k: v for k, v in result[name].items() if k != "series_ms"}
            print(f"  {name:<18}{time.perf_counter() - t0:5.0f} s  {shown}", flush=True)
        result["rss_after_bench_mb"] = rss_mb(pid)
    finally:
        stop(procs)
    return result


def booking_bench(quick: bool) -> dict[str, Any] | None:
    """Run the booking helper's bench (bookings/s on SQLite and PostgreSQL, oversold seats)."""
    if not (ROOT / "scripts" / "bench_booking.py").exists():
        print("\n[skip] scripts/bench_booking.py not found")
        return None
    print("\nBooking bench (scripts.bench_booking) …", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "booking.json"
        try:
            cmd = [sys.executable, "-m", "scripts.bench_booking", "--out", str(out)]
            done = subprocess.run(cmd + (["--attempts", "100"] if quick else []),
                                  cwd=ROOT, capture_output=True, text=True, timeout=1200)
        except subprocess.TimeoutExpired:
            return {"error": "timed out after 1200 s"}
        print(done.stdout[-3000:])
        if done.returncode != 0 or not out.exists():
            return {"error": f"exit {done.returncode}: {(done.stderr or done.stdout)[-1000:]}"}
        return json.loads(out.read_text(encoding="utf-8"))


# ----- report ---------------------------------------------------------------------------------

ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("parse p50 ms", ("parse", "p50_ms")), ("parse p95 ms", ("parse", "p95_ms")),
    ("turn p50 ms", ("turn", "p50_ms")), ("turn p95 ms", ("turn", "p95_ms")),
    ("saturation turns/s", ("saturation", "turns_per_s")),
    ("saturation p95 ms", ("saturation", "latency_p95_ms")),
    ("long: early turn ms", ("long_conversation", "early_ms")),
    ("long: late turn ms", ("long_conversation", "late_ms")),
    ("long: late/early", ("long_conversation", "late_over_early")),
    ("training s", ("training", "seconds")), ("model MB", ("model_mb",)),
    ("RSS after load MB", ("rss_after_load_mb",)), ("RSS after bench MB", ("rss_after_bench_mb",)),
]


def dig(data: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def comparison(ours: dict[str, Any] | None, stock: dict[str, Any] | None) -> dict[str, Any]:
    """Every table row as {ours, stock, ratio}, ratio = ours / stock."""
    rows = {}
    for label, path in ROWS:
        a, b = dig(ours, path), dig(stock, path)
        rows[label] = {"ours": a, "stock": b,
                       "ratio": ratio(a, b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None}
    return rows


def print_table(rows: dict[str, Any]) -> None:
    def cell(v: Any) -> str:
        return "—" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    print(f"\n{'':<22}{'ours':>10}{'stock':>10}{'ours/stock':>12}")
    for label, row in rows.items():
        print(f"{label:<22}{cell(row['ours']):>10}{cell(row['stock']):>10}{cell(row['ratio']):>12}")


def check_targets(rows: dict[str, Any]) -> dict[str, Any]:
    p95_ratio = rows["parse p95 ms"]["ratio"]
    training = rows["training s"]["ours"]
    size = rows["model MB"]["ours"]
    checks = {
        "parse_p95_ratio": (p95_ratio, p95_ratio is not None and p95_ratio <= TARGETS["parse_p95_ratio_max"]),
        "training_s": (training, training is not None and training <= TARGETS["training_s_max"]),
        "model_mb": (size, size is not None and size <= TARGETS["model_mb_max"]),
    }
    print(f"\nTargets: parse p95 ≤ {TARGETS['parse_p95_ratio_max']}× stock, training ≤ "
          f"{TARGETS['training_s_max']:.0f} s, model ≤ {TARGETS['model_mb_max']:.0f} MB")
    for name, (value, ok) in checks.items():
        print(f"  {name:<18}{str(value):>10}  {'not measured' if value is None else 'PASS' if ok else 'FAIL'}")
    return {name: {"value": value, "pass": ok} for name, (value, ok) in checks.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, for developing this script")
    parser.add_argument("--no-train", action="store_true",
                        help="skip timing the trainings; reuse var/bench/stock.tar.gz if present")
    parser.add_argument("--no-stock", action="store_true", help="bench only this bot")
    parser.add_argument("--no-booking", action="store_true", help="skip scripts.bench_booking")
    parser.add_argument("--model", type=Path, default=OURS_MODEL, help="this bot's served model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model}: run `make train` first")
        return 1
    sizes = QUICK if args.quick else FULL
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    messages = holdout_messages()
    report: dict[str, Any] = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
                              "sizes": asdict(sizes), "cpu_count": os.cpu_count(), "messages": len(messages)}

    ours_training = None if args.no_train else train("config.yml", "ours")
    stock_training = None
    stock_model = BENCH_DIR / "stock.tar.gz"
    if not args.no_stock and not args.no_train:
        stock_training = train("config_stock.yml", "stock")

    ours = bench_server("ours", args.model, messages, sizes)
    ours["training"] = ours_training
    stock: dict[str, Any] | None = None
    if not args.no_stock and stock_model.exists() and (stock_training is None or stock_training["ok"]):
        stock = bench_server("stock", stock_model, messages, sizes)
        stock["training"] = stock_training
    elif not args.no_stock:
        print("\n[skip] no stock model (training failed or --no-train without var/bench/stock.tar.gz)")
    report.update({"ours": ours, "stock": stock})
    report["booking"] = None if args.no_booking else booking_bench(args.quick)

    rows = comparison(ours, stock)
    report["table"] = rows
    print_table(rows)
    report["targets"] = check_targets(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
