"""`make bench`: this assistant versus a stock Rasa bot, in one run → results/bench.json.

The stock bot (scripts/stock_bot.py) is what `rasa init` gives on this project's NLU data:
Jieba, CountVectors and DIET; Memoization, Rule and TED; static responses; no action
server; the in-memory tracker store. In one run the bench times the training of both (into
var/bench, never models/), starts each bot's real servers in turn and measures: parse and
REST-turn latency for one user, closed-loop throughput and p50/p95/p99 with 20 users, turns
5, 200 and 500 of one conversation (each the median of one cycle of the same 10 messages),
model size and memory; then this assistant again with
2 Sanic workers on the Redis lock store, and the booking bench (scripts/bench_booking.py).
It prints the figures, the ratios and the targets, writes results/bench.json and puts the
table into README.md. Figures are printed, never asserted: the cores are shared and noisy.
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
FALLBACK_MESSAGES = [
    "办护照要带什么材料",
    "港澳通行证多少钱",
    "你好",
    "要多久能拿到",
    "谢谢",
    "在哪里办",
]


@dataclass(frozen=True)
class Sizes:
    parse_n: int
    conversations: int
    turns_per_conversation: int
    clients: int
    saturation_s: float
    long_turns: int
    early_turn: int = 5
    late_turns: tuple[int, ...] = (200, 500)
    #: The long conversation repeats this many messages, and each turn's figure is the median
    #: of one whole cycle around it, so turn 5 and turn 500 are the same messages.
    long_cycle: int = 10


FULL = Sizes(
    parse_n=500,
    conversations=100,
    turns_per_conversation=5,
    clients=20,
    saturation_s=20.0,
    long_turns=505,
)
QUICK = Sizes(
    parse_n=40,
    conversations=8,
    turns_per_conversation=5,
    clients=20,
    saturation_s=5.0,
    long_turns=62,
    late_turns=(30, 57),
)


# ----- helpers --------------------------------------------------------------------------------


def holdout_messages() -> list[str]:
    """Citizen-like messages from the held-out NLU file (a fixed list when it is missing)."""
    if not HOLDOUT.exists():
        print(
            f"[warn] {HOLDOUT.relative_to(ROOT)} missing; using {len(FALLBACK_MESSAGES)} fixed messages"
        )
        return list(FALLBACK_MESSAGES)
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(HOLDOUT)).intent_examples] or list(
        FALLBACK_MESSAGES
    )


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


def window_median(series: Sequence[float], turn: int, size: int = 5) -> float:
    """Median latency of `size` consecutive turns around `turn` (1-based), to damp
    single-request noise; at the start of the series the window starts at turn 1."""
    lo = max(turn - 1 - size // 2, 0)
    return percentile(series[lo : lo + size], 50)


def cycle_of(messages: Sequence[str], size: int) -> list[str]:
    """`size` messages spread over the whole list (every intent of the sorted held-out file
    has its turn), for a conversation that repeats them."""
    step = max(len(messages) // size, 1)
    return list(messages[::step][:size])


def train(cmd: list[str], name: str) -> dict[str, Any]:
    """Time one `rasa train` command into var/bench without the cache (a clean build)."""
    env = dict(os.environ, RASA_MAX_CACHE_SIZE="0", RASA_TELEMETRY_ENABLED="false")
    print(f"Training → var/bench/{name}.tar.gz …", flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    seconds = round(time.perf_counter() - started, 1)
    model = BENCH_DIR / f"{name}.tar.gz"
    if done.returncode != 0 or not model.exists():
        print(done.stdout[-2000:], done.stderr[-2000:])
        return {"ok": False, "seconds": seconds, "error": (done.stderr or done.stdout)[-1000:]}
    print(f"  {seconds:.0f} s, {model_mb(model)} MB")
    return {
        "ok": True,
        "seconds": seconds,
        "model": str(model.relative_to(ROOT)),
        "model_mb": model_mb(model),
    }


# ----- measurements against a live server -----------------------------------------------------


def _post(
    session: requests.Session,
    url: str,
    payload: dict[str, Any],
    params: dict[str, str] | None = None,
) -> float:
    started = time.perf_counter()
    response = session.post(url, json=payload, params=params, timeout=TIMEOUT)
    response.raise_for_status()
    response.json()
    return time.perf_counter() - started


def parse_latency(base: str, messages: Sequence[str], n: int, token: str) -> dict[str, float]:
    """/model/parse latency; the HTTP API needs the server's token (it is off without one)."""
    params = {"token": token}
    with requests.Session() as s:
        samples = [
            _post(s, f"{base}/model/parse", {"text": messages[i % len(messages)]}, params)
            for i in range(n)
        ]
    return latency_summary(samples)


def turn_latency(
    base: str, messages: Sequence[str], conversations: int, turns: int
) -> dict[str, float]:
    """One user, one turn after another: latency and the turns per second that makes."""
    samples: list[float] = []
    url = f"{base}/webhooks/rest/webhook"
    started = time.perf_counter()
    with requests.Session() as s:
        for c in range(conversations):
            sender = f"bench-short-{uuid.uuid4().hex[:8]}"
            for t in range(turns):
                text = messages[(c * turns + t) % len(messages)]
                samples.append(_post(s, url, {"sender": sender, "message": text}))
    elapsed = time.perf_counter() - started
    return {**latency_summary(samples), "turns_per_s": round(len(samples) / elapsed, 2)}


def saturation(
    base: str, messages: Sequence[str], clients: int, seconds: float, turns: int
) -> dict[str, Any]:
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
                sender = (
                    f"bench-sat-{run}-{index}-{count // turns}"  # a new conversation every `turns`
                )
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
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "turns": len(latencies),
        "errors": errors[0],
        "turns_per_s": round(len(latencies) / elapsed, 2),
        **{f"latency_{k}": v for k, v in latency_summary(latencies).items() if k != "n"},
    }


def long_conversation(base: str, messages: Sequence[str], sizes: Sizes) -> dict[str, Any]:
    """One conversation of `long_turns` turns repeating a cycle of messages: whether a turn
    costs more late in a conversation. Each figure is the median over one whole cycle, so the
    early and the late figure time the same messages; a window of different messages (the
    held-out file is sorted by intent, and its first are a cheap 好的 / 是的) would compare
    message kinds instead of conversation lengths."""
    url = f"{base}/webhooks/rest/webhook"
    sender = f"bench-long-{uuid.uuid4().hex[:8]}"
    cycle = cycle_of(messages, sizes.long_cycle)
    series: list[float] = []
    deadline = time.perf_counter() + 900
    with requests.Session() as s:
        for t in range(sizes.long_turns):
            if time.perf_counter() > deadline:
                break
            series.append(_post(s, url, {"sender": sender, "message": cycle[t % len(cycle)]}))
    ms = [round(x * 1000, 1) for x in series]
    window = len(cycle)
    early = window_median(ms, sizes.early_turn, window)
    result: dict[str, Any] = {
        "turns": len(ms),
        "early_turn": sizes.early_turn,
        "early_ms": round(early, 1),
    }
    for turn in sizes.late_turns:
        late = window_median(ms, turn, window) if len(ms) >= turn else float("nan")
        result[f"turn_{turn}_ms"] = round(late, 1)
        result[f"turn_{turn}_over_early"] = ratio(late, early)
    result["series_ms"] = ms
    return result


@dataclass
class Server:
    """A started bot: where to send turns, the API token, the processes to watch and stop."""

    url: str
    token: str
    rasa_pid: int
    stop: Callable[[], None]


def start_ours(workdir: Path, model: Path, workers: int = 1) -> Server:
    """This assistant as deployed: bot.serve with the action server, SQL tracker store and,
    for more than one Sanic worker, the Redis lock store that makes them safe."""
    from tests.live import start_live_bot, stop

    extra = {"SANIC_WORKERS": str(workers)}
    if workers > 1:
        extra["REDIS_URL"] = redis_url()
    bot, procs = start_live_bot(
        workdir, port=free_port(), actions_port=free_port(), model=model, extra_env=extra
    )
    return Server(bot.url, bot.env["RASA_AUTH_TOKEN"], procs[1].pid, lambda: stop(procs))


def start_stock(workdir: Path, model: Path) -> Server:
    from scripts.stock_bot import start
    from tests.live import stop

    port, token = free_port(), uuid.uuid4().hex
    proc = start(BENCH_DIR / "stock", model, port, token, workdir / "rasa.log")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "rasa.log").read_text(encoding="utf-8")[-2000:])
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(1)
    return Server(f"http://127.0.0.1:{port}", token, proc.pid, lambda: stop([proc]))


def redis_url() -> str:
    """REDIS_URL, or the local default on database 3 (the bench's own)."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/3"


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(redis_url(), socket_timeout=2).ping())
    except Exception:
        return False


def rss_per_process_mb(pid: int) -> float:
    """The largest resident memory of one Rasa process (the server or one of its workers)."""
    proc = psutil.Process(pid)
    sizes = [proc.memory_info().rss]
    for child in proc.children(recursive=True):
        try:
            sizes.append(child.memory_info().rss)
        except psutil.Error:
            pass
    return round(max(sizes) / 2**20, 1)


def bench_server(
    label: str,
    start: Callable[[Path], Server],
    messages: Sequence[str],
    sizes: Sizes,
    steps: Sequence[str] = ("parse", "turn", "saturation", "long_conversation"),
) -> dict[str, Any]:
    workdir = BENCH_DIR / f"live-{label}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    print(f"\n[{label}] starting …", flush=True)
    started = time.perf_counter()
    server = start(workdir)
    result: dict[str, Any] = {"startup_s": round(time.perf_counter() - started, 1)}
    try:
        result["rss_after_load_mb"] = rss_mb(server.rasa_pid)
        with (
            requests.Session() as s
        ):  # warm-up: first requests build graph caches and open DB connections
            for i in range(10):
                _post(
                    s,
                    f"{server.url}/webhooks/rest/webhook",
                    {"sender": "bench-warmup", "message": messages[i % len(messages)]},
                )
        available: dict[str, Callable[[], Any]] = {
            "parse": lambda: parse_latency(server.url, messages, sizes.parse_n, server.token),
            "turn": lambda: turn_latency(
                server.url, messages, sizes.conversations, sizes.turns_per_conversation
            ),
            "saturation": lambda: saturation(
                server.url,
                messages,
                sizes.clients,
                sizes.saturation_s,
                sizes.turns_per_conversation,
            ),
            "long_conversation": lambda: long_conversation(server.url, messages, sizes),
        }
        for name in steps:
            t0 = time.perf_counter()
            result[name] = available[name]()
            shown = {k: v for k, v in result[name].items() if k != "series_ms"}
            print(f"  {name:<18}{time.perf_counter() - t0:5.0f} s  {shown}", flush=True)
        result["rss_after_bench_mb"] = rss_mb(server.rasa_pid)
        result["rss_per_process_mb"] = rss_per_process_mb(server.rasa_pid)
    finally:
        server.stop()
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
            done = subprocess.run(
                cmd + (["--attempts", "100"] if quick else []),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=1200,
            )
        except subprocess.TimeoutExpired:
            return {"error": "timed out after 1200 s"}
        print(done.stdout[-3000:])
        if done.returncode != 0 or not out.exists():
            return {"error": f"exit {done.returncode}: {(done.stderr or done.stdout)[-1000:]}"}
        return json.loads(out.read_text(encoding="utf-8"))


# ----- report ---------------------------------------------------------------------------------


def rows_for(late_turns: Sequence[int] = FULL.late_turns) -> list[tuple[str, tuple[str, ...]]]:
    """The table's rows: a label and where its figure sits in one bot's results."""
    long_rows = [
        row
        for turn in late_turns
        for row in (
            (f"long: turn {turn} ms", ("long_conversation", f"turn_{turn}_ms")),
            (f"long: turn {turn} / turn 5", ("long_conversation", f"turn_{turn}_over_early")),
        )
    ]
    return [
        ("parse p50 ms", ("parse", "p50_ms")),
        ("parse p95 ms", ("parse", "p95_ms")),
        ("one user: turn p50 ms", ("turn", "p50_ms")),
        ("one user: turn p95 ms", ("turn", "p95_ms")),
        ("one user: turns/s", ("turn", "turns_per_s")),
        ("20 users: turns/s", ("saturation", "turns_per_s")),
        ("20 users: p50 ms", ("saturation", "latency_p50_ms")),
        ("20 users: p95 ms", ("saturation", "latency_p95_ms")),
        ("20 users: p99 ms", ("saturation", "latency_p99_ms")),
        ("20 users: errors", ("saturation", "errors")),
        ("long: turn 5 ms", ("long_conversation", "early_ms")),
        *long_rows,
        ("training s", ("training", "seconds")),
        ("model MB", ("model_mb",)),
        ("RSS after load MB", ("rss_after_load_mb",)),
        ("RSS after bench MB", ("rss_after_bench_mb",)),
        ("RSS per process MB", ("rss_per_process_mb",)),
    ]


def dig(data: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def comparison(
    ours: dict[str, Any] | None,
    stock: dict[str, Any] | None,
    late_turns: Sequence[int] = FULL.late_turns,
) -> dict[str, Any]:
    """Every table row as {ours, stock, ratio}, ratio = ours / stock."""
    rows = {}
    for label, path in rows_for(late_turns):
        a, b = dig(ours, path), dig(stock, path)
        rows[label] = {
            "ours": a,
            "stock": b,
            "ratio": ratio(a, b)
            if isinstance(a, (int, float)) and isinstance(b, (int, float))
            else None,
        }
    return rows


def _cell(value: Any) -> str:
    return "—" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)


def print_table(rows: dict[str, Any]) -> None:
    print(f"\n{'':<28}{'ours':>10}{'stock':>10}{'ours/stock':>12}")
    for label, row in rows.items():
        print(
            f"{label:<28}{_cell(row['ours']):>10}{_cell(row['stock']):>10}{_cell(row['ratio']):>12}"
        )


def markdown_table(report: dict[str, Any]) -> str:
    """The README's table: both bots, the ratios, the second worker and the bookings."""
    lines = [
        f"Measured by `make bench` on {report['generated_at'][:10]}, {report['cpu_count']} cores, "
        "both bots in the same run (figures in `results/bench.json`).",
        "",
        "| | this assistant | stock Rasa bot | ratio |",
        "|---|---|---|---|",
    ]
    for label, row in report["table"].items():
        lines.append(
            f"| {label} | {_cell(row['ours'])} | {_cell(row['stock'])} | {_cell(row['ratio'])} |"
        )
    two = report.get("ours_2_workers") or {}
    if two.get("saturation"):
        lines += [
            "",
            f"With 2 Sanic workers (Redis lock store): {_cell(dig(two, ('saturation', 'turns_per_s')))} "
            f"turns/s at 20 users, p95 {_cell(dig(two, ('saturation', 'latency_p95_ms')))} ms.",
        ]
    booking = report.get("booking") or {}
    for backend in ("sqlite", "postgresql"):
        figures = booking.get(backend) if isinstance(booking, dict) else None
        rate = dig(figures, ("throughput", "bookings_per_second"))
        if rate is not None:
            one = dig(figures, ("throughput_1_process", "bookings_per_second"))
            lines.append(
                f"Bookings ({backend}, {figures.get('clients', 20)} clients in "
                f"{figures.get('processes', 1)} processes): {_cell(rate)}/s "
                f"({_cell(one)}/s in one process), oversold seats "
                f"{figures.get('oversold_seats', '—')}."
            )
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, table: str) -> bool:
    """Replace the text between the bench markers; False when the README has no markers."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}{README_END}{tail}", encoding="utf-8")
    return True


def check_targets(
    rows: dict[str, Any],
    two_workers: dict[str, Any] | None,
    booking: Any,
    late_turns: Sequence[int] = FULL.late_turns,
) -> dict[str, Any]:
    """The performance targets, each as value and pass (None when it was not measured)."""

    def at_most(value: Any, bound: float) -> bool | None:
        return None if value is None else value <= bound

    def at_least(value: Any, bound: float) -> bool | None:
        return None if value is None else value >= bound

    best_saturation = rows["20 users: turns/s"]["ratio"]
    two = dig(two_workers, ("saturation", "turns_per_s"))
    stock = rows["20 users: turns/s"]["stock"]
    if two is not None and stock:
        best_saturation = max(best_saturation or 0.0, round(two / stock, 3))
    pg = (
        dig(booking, ("postgresql", "throughput", "bookings_per_second"))
        if isinstance(booking, dict)
        else None
    )
    checks: dict[str, tuple[Any, bool | None]] = {
        "saturation ≥ 0.6× stock": (best_saturation, at_least(best_saturation, 0.6)),
        "one-user p50 ≤ 2× stock": (
            rows["one user: turn p50 ms"]["ratio"],
            at_most(rows["one user: turn p50 ms"]["ratio"], 2.0),
        ),
        "20-user p95 ≤ 2× stock": (
            rows["20 users: p95 ms"]["ratio"],
            at_most(rows["20 users: p95 ms"]["ratio"], 2.0),
        ),
        **{
            f"turn {turn} ≤ 1.3× turn 5": (
                rows[f"long: turn {turn} / turn 5"]["ours"],
                at_most(rows[f"long: turn {turn} / turn 5"]["ours"], 1.3),
            )
            for turn in late_turns
        },
        "RSS ≤ 1,200 MB per Rasa process": (
            rows["RSS per process MB"]["ours"],
            at_most(rows["RSS per process MB"]["ours"], 1200.0),
        ),
        "bookings/s on PostgreSQL ≥ 300": (pg, at_least(pg, 300.0)),
    }
    print("\nTargets")
    for name, (value, ok) in checks.items():
        print(
            f"  {name:<34}{_cell(value):>10}  {'not measured' if ok is None else 'PASS' if ok else 'FAIL'}"
        )
    return {name: {"value": value, "pass": ok} for name, (value, ok) in checks.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts, for developing this script"
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="skip timing the trainings; reuse var/bench/stock.tar.gz if present",
    )
    parser.add_argument("--no-stock", action="store_true", help="bench only this bot")
    parser.add_argument(
        "--no-workers", action="store_true", help="skip the run with 2 Sanic workers"
    )
    parser.add_argument("--no-booking", action="store_true", help="skip scripts.bench_booking")
    parser.add_argument(
        "--no-readme", action="store_true", help="do not write the table into README.md"
    )
    parser.add_argument("--model", type=Path, default=OURS_MODEL, help="this bot's served model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"no model at {args.model}: run `make train` first")
        return 1
    from scripts.stock_bot import train_command, write_project

    sizes = QUICK if args.quick else FULL
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    messages = holdout_messages()
    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "sizes": asdict(sizes),
        "cpu_count": os.cpu_count(),
        "messages": len(messages),
    }

    ours_training = (
        None
        if args.no_train
        else train(
            [
                str(RASA),
                "train",
                "--config",
                "config.yml",
                "--domain",
                "domain",
                "--fixed-model-name",
                "ours",
                "--out",
                str(BENCH_DIR),
                "--quiet",
            ],
            "ours",
        )
    )
    stock_model = BENCH_DIR / "stock.tar.gz"
    stock_training = None
    if not args.no_stock:
        project = write_project(BENCH_DIR / "stock")
        if not args.no_train or not stock_model.exists():
            stock_training = train(train_command(project, BENCH_DIR, "stock"), "stock")

    ours = bench_server("ours", lambda d: start_ours(d, args.model), messages, sizes)
    ours["training"], ours["model_mb"] = ours_training, model_mb(args.model)
    stock: dict[str, Any] | None = None
    if (
        not args.no_stock
        and stock_model.exists()
        and (stock_training is None or stock_training["ok"])
    ):
        stock = bench_server("stock", lambda d: start_stock(d, stock_model), messages, sizes)
        stock["training"], stock["model_mb"] = stock_training, model_mb(stock_model)
    elif not args.no_stock:
        print(
            "\n[skip] no stock model (training failed or --no-train without var/bench/stock.tar.gz)"
        )
    two_workers: dict[str, Any] | None = None
    if not args.no_workers and redis_available():
        two_workers = bench_server(
            "ours-2-workers",
            lambda d: start_ours(d, args.model, workers=2),
            messages,
            sizes,
            steps=("turn", "saturation"),
        )
    elif not args.no_workers:
        print(f"\n[skip] 2 Sanic workers need the Redis lock store; none answers at {redis_url()}")
    report.update({"ours": ours, "stock": stock, "ours_2_workers": two_workers})
    report["booking"] = None if args.no_booking else booking_bench(args.quick)

    rows = comparison(ours, stock, sizes.late_turns)
    report["table"] = rows
    print_table(rows)
    report["targets"] = check_targets(rows, two_workers, report["booking"], sizes.late_turns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nWrote {args.out}")
    if (
        not args.no_readme
        and not args.quick
        and update_readme(ROOT / "README.md", markdown_table(report))
    ):
        print("Wrote the table into README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
