"""Private services for multi-replica runs: PostgreSQL clusters, Redis, nginx, N Rasa replicas.

One place for what tests/test_replicas.py (faults, serialisation, a killed replica) and
scripts/load.py (`make load`) both start: every service private, on free ports under a
temporary directory, so stopping one disturbs nothing else on the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tests.live import ACTION_TOKEN, API_TOKEN, ROOT, _wait, free_port, free_ports

NGINX = "/usr/sbin/nginx"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass
class Postgres:
    """A private PostgreSQL cluster (initdb + pg_ctl) on a free port."""

    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/crj"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, _pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    @classmethod
    def create(cls, parent: Path) -> "Postgres":
        data = parent / f"pg-{uuid.uuid4().hex[:6]}"
        data.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(data, "postgres")
            data.chmod(0o700)
        subprocess.run(
            [*as_user, _pg_bin("initdb") or "initdb", "-D", str(data), "-U", "postgres"]
            + ["--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        pg = cls(data, free_port(), as_user)
        pg.start()
        admin = sa.create_engine(
            pg.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE crj"))
        admin.dispose()
        return pg


@dataclass
class Redis:
    """A private redis-server on a free port, without persistence."""

    port: int
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream rasa {{
{rasa_servers}
    }}
    upstream actions {{
{action_servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://rasa;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_read_timeout 120s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
    server {{
        listen 127.0.0.1:{actions_port};
        location / {{
            proxy_pass http://actions;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def _start_nginx(
    workdir: Path, rasa_ports: list[int], action_ports: list[int], port: int, actions_port: int
) -> subprocess.Popen:
    conf_dir = workdir / "nginx"
    conf_dir.mkdir()

    def servers(ports: list[int]) -> str:
        return "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in ports
        )

    (conf_dir / "nginx.conf").write_text(
        NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "",
            dir=conf_dir,
            rasa_servers=servers(rasa_ports),
            action_servers=servers(action_ports),
            port=port,
            actions_port=actions_port,
        )
    )
    check = subprocess.run(
        [NGINX, "-t", "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [NGINX, "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return proc


def _stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class StartedCluster:
    """nginx in front of the replicas; what the caller needs to talk to, fault or stop it."""

    url: str
    tracker_db: Postgres
    booking_db: Postgres
    redis: Redis
    rasa: dict[int, subprocess.Popen]
    procs: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        _stop_all(self.procs)
        self.redis.stop()
        for pg in (self.tracker_db, self.booking_db):
            try:
                pg.stop()
            except subprocess.SubprocessError:
                pass  # already stopped by a fault test


def start_cluster(workdir: Path, replicas: int, model: Path) -> StartedCluster:
    """Two PostgreSQL clusters (tracker, booking), Redis, two action servers, `replicas` Rasa
    servers loading `model` in parallel, and nginx balancing them; ready when it returns."""
    procs: list[subprocess.Popen] = []
    tracker_db = booking_db = None
    redis = Redis(free_port(), workdir / "redis.log")
    try:
        tracker_db, booking_db = Postgres.create(workdir), Postgres.create(workdir)
        redis.start()
        *rasa_ports, first_action, second_action, port, actions_port = free_ports(replicas + 4)
        action_ports = [first_action, second_action]
        nginx = _start_nginx(workdir, rasa_ports, action_ports, port, actions_port)
        procs.append(nginx)
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
        started: list[tuple[str, subprocess.Popen, Path]] = []
        for i, action_port in enumerate(action_ports):
            log = workdir / f"actions-{i}.log"
            cmd = [py, "-m", "bot.serve", "actions", "--port", str(action_port)]
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
            )
            started.append((f"http://127.0.0.1:{action_port}/health", proc, log))
        rasa: dict[int, subprocess.Popen] = {}
        for i, rasa_port in enumerate(rasa_ports):
            log = workdir / f"rasa-{i}.log"
            cmd = [py, "-m", "bot.serve", "run", "--model", str(model), "--port", str(rasa_port)]
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
            )
            rasa[rasa_port] = proc
            started.append((f"http://127.0.0.1:{rasa_port}/", proc, log))
        procs.extend(proc for _, proc, _ in started)
        for url, proc, log in started:
            _wait(url, proc, log, 400)
    except BaseException:
        _stop_all(procs)
        redis.stop()
        for pg in (tracker_db, booking_db):
            if pg is not None:
                try:
                    pg.stop()
                except subprocess.SubprocessError:
                    pass
        raise
    return StartedCluster(f"http://127.0.0.1:{port}", tracker_db, booking_db, redis, rasa, procs)
