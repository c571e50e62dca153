"""Start the real action server and Rasa server for end-to-end tests.

Both run as subprocesses exactly as `make run` starts them (bot.serve), on test ports, with
temporary SQLite databases, so the tests see what a citizen would.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "current.tar.gz"


#: The HTTP API is off without a token; the live servers get one so tests can parse.
API_TOKEN = "live-test-api-token-" + uuid.uuid4().hex
ACTION_TOKEN = "live-test-action-token-" + uuid.uuid4().hex


@dataclass
class LiveBot:
    url: str
    actions_url: str
    log_dir: Path
    env: dict[str, str]

    def say(
        self,
        text: str,
        sender: str | None = None,
        timeout: float = 60,
        client: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Send one message over REST and return the bot's replies.

        Each test citizen comes from its own address, as citizens behind nginx do: the
        request names `client` (default: an address made from the sender) in
        X-Forwarded-For, which the server believes from loopback (bot.inputs.client_address).
        Otherwise every test would share 127.0.0.1's handoff cap (HANDOFF_CASES_PER_CLIENT).
        """
        sender = sender or uuid.uuid4().hex
        if client is None:
            digest = hashlib.sha256(sender.encode("utf-8")).digest()
            client = f"198.18.{digest[0]}.{digest[1]}"  # RFC 2544's benchmarking range
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json=body,
            headers={"X-Forwarded-For": client},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json()

    def text(self, text: str, sender: str | None = None) -> str:
        return "\n".join(r.get("text", "") for r in self.say(text, sender))

    def parse(self, text: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/model/parse",
            params={"token": self.env.get("RASA_AUTH_TOKEN", "")},
            json={"text": text},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited early; log:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"server not ready after {seconds}s; log:\n{log.read_text(errors='replace')[-3000:]}"
    )


def free_port() -> int:
    """A port nobody listens on now, so parallel test runs never collide."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports. Each socket stays bound until all are chosen: ports taken
    one at a time can repeat, and a replica then loses its port to an action server started
    first (nginx answered 404 for the REST channel in one CI run)."""
    import socket
    from contextlib import ExitStack

    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def start_live_bot(
    workdir: Path,
    port: int | None = None,
    actions_port: int | None = None,
    extra_env: dict[str, str] | None = None,
    model: Path = MODEL,
) -> tuple[LiveBot, list[subprocess.Popen]]:
    if not model.exists():
        raise RuntimeError("no trained model: run `make train` first (make test does)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    actions_port = actions_port or free_port()
    env = dict(os.environ)
    env.update(
        {
            "ACTION_ENDPOINT": f"http://127.0.0.1:{actions_port}/webhook",
            "DATABASE_URL": f"sqlite:///{workdir / 'booking.db'}",
            "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONWARNINGS": "ignore",
            "RASA_AUTH_TOKEN": API_TOKEN,
            "ACTION_SERVER_TOKEN": ACTION_TOKEN,
        }
    )
    env.pop("REDIS_URL", None)
    for key in ("GUIDE_PASSWORD_HASH", "GUIDE_SESSION_SECRET", "APP_ENV"):
        env.pop(key, None)  # the caller's own deployment settings must not change the tests
    env.update(extra_env or {})
    py = sys.executable
    subprocess.run([py, "-m", "bot.serve", "migrate"], cwd=ROOT, env=env, check=True)
    procs: list[subprocess.Popen] = []
    actions_log = workdir / "actions.log"
    rasa_log = workdir / "rasa.log"
    procs.append(
        subprocess.Popen(
            [py, "-m", "bot.serve", "actions", "--port", str(actions_port)],
            cwd=ROOT,
            env=env,
            stdout=actions_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    procs.append(
        subprocess.Popen(
            [py, "-m", "bot.serve", "run", "--model", str(model), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=rasa_log.open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    try:
        _wait(f"http://127.0.0.1:{actions_port}/health", procs[0], actions_log, 180)
        _wait(f"http://127.0.0.1:{port}/", procs[1], rasa_log, 300)
    except Exception:
        stop(procs)
        raise
    bot = LiveBot(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{actions_port}", workdir, env)
    return bot, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
