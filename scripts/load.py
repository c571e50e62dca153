"""`make load`: Locust, headless, against nginx in front of one and then two Rasa replicas.

Each run starts what tests/test_replicas.py starts (tests/cluster.py: private PostgreSQL,
Redis and nginx, so the machine's own services are not disturbed): N Rasa replicas, two action
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

from tests.cluster import start_cluster
from tests.live import MODEL, ROOT

RESULTS = ROOT / "results" / "load.json"


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
        cluster = None
        try:
            cluster = start_cluster(workdir, replicas, MODEL)
            for users in options.users:
                result = {
                    "replicas": replicas,
                    **run_locust(cluster.url, users, options.seconds, workdir),
                }
                print(json.dumps(result), flush=True)
                runs.append(result)
        finally:
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": os.cpu_count(), "runs": runs}, indent=2) + "\n")
    print(f"Wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
