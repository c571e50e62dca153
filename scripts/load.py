"""`make load`: Locust, headless, against nginx in front of one and then two Rasa replicas.

Each run starts what tests/test_replicas.py starts (its private PostgreSQL, Redis and nginx
helpers, so the machine's own services are not disturbed): N Rasa replicas, two action
servers, nginx balancing them. It then runs scripts/locustfile.py's mixed scenario at 20
and 50 users for 60 s each and writes p50/p95/p99, turns/s and errors to results/load.json.
Long and CPU-bound, so it is not part of `make test`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from tests.live import ACTION_TOKEN, API_TOKEN, MODEL, ROOT, _wait, free_port
from tests.test_replicas import Postgres, Redis, _start_nginx, _stop_all

RESULTS = ROOT / "results" / "load.json"


def start_cluster(workdir: Path, replicas: int) -> tuple[str, list[subprocess.Popen], list[Any]]:
    """nginx → `replicas` Rasa servers and two action servers; the URL, processes, services."""
    tracker_db, booking_db = Postgres.create(workdir), Postgres.create(workdir)
    redis = Redis(free_port(), workdir / "redis.log")
    redis.start()
    rasa_ports = [free_port() for _ in range(replicas)]
    action_ports = [free_port(), free_port()]
    nginx, port, actions_port = _start_nginx(workdir, rasa_ports, action_ports)
    procs = [nginx]
    env = dict(os.environ)
    for key in ("GUIDE_PASSWORD_HASH", "GUIDE_SESSION_SECRET", "APP_ENV", "SANIC_WORKERS"):
        env.pop(key, None)
    env.update(
        {
            "ACTION_ENDPOINT": f"http://127.0.0.1:{actions_port}/webhook",
            "DATABASE_URL": booking_db.url,
            "TRACKER_STORE_URL": tracker_db.url,
            "REDIS_URL": redis.url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONWARNINGS": "ignore",
            "RASA_AUTH_TOKEN": API_TOKEN,
            "ACTION_SERVER_TOKEN": ACTION_TOKEN,
        }
    )
    py = sys.executable
    subprocess.run([py, "-m", "bot.serve", "migrate"], cwd=ROOT, env=env, check=True)
    waits = []
    for i, p in enumerate(action_ports):
        log = workdir / f"actions-{i}.log"
        cmd = [py, "-m", "bot.serve", "actions", "--port", str(p)]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        waits.append((f"http://127.0.0.1:{p}/health", proc, log))
    for i, p in enumerate(rasa_ports):
        log = workdir / f"rasa-{i}.log"
        cmd = [py, "-m", "bot.serve", "run", "--model", str(MODEL), "--port", str(p)]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        waits.append((f"http://127.0.0.1:{p}/", proc, log))
    procs.extend(proc for _, proc, _ in waits)
    for url, proc, log in waits:
        _wait(url, proc, log, 400)
    return f"http://127.0.0.1:{port}", procs, [redis, tracker_db, booking_db]


def run_locust(url: str, users: int, seconds: int, workdir: Path) -> dict[str, Any]:
    """One headless Locust run; the aggregated row of its CSV statistics."""
    prefix = workdir / f"locust-{users}"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "scripts" / "locustfile.py")]
        + ["--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
        + ["--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"],
        cwd=ROOT,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return {
        "users": users,
        "seconds": seconds,
        "turns": int(total["Request Count"]),
        "errors": int(total["Failure Count"]),
        "turns_per_s": round(float(total["Requests/s"]), 2),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run every (replicas, users) pair, print a table, write results/load.json."""
    parser = argparse.ArgumentParser(prog="python -m scripts.load", description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    options = parser.parse_args(argv)
    runs = []
    for replicas in options.replicas:
        workdir = Path(tempfile.mkdtemp(prefix="crj-load-"))
        workdir.chmod(0o755)
        procs: list[subprocess.Popen] = []
        services: list[Any] = []
        try:
            url, procs, services = start_cluster(workdir, replicas)
            for users in options.users:
                result = {"replicas": replicas, **run_locust(url, users, options.seconds, workdir)}
                print(json.dumps(result), flush=True)
                runs.append(result)
        finally:
            _stop_all(procs)
            for service in services:
                try:
                    service.stop()
                except Exception:  # a service already gone stays gone
                    pass
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": os.cpu_count(), "runs": runs}, indent=2) + "\n")
    print(f"Wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
