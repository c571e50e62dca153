"""Shared fixtures: real PostgreSQL and Redis when present.

On a user's machine without them the tests skip with a reason; under REQUIRE_SERVICES=1
(CI) a missing service is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Iterator

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def need_service(reason: str) -> None:
    """Skip on a user's machine; fail in CI, where every service must be present."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    if not _port_open("127.0.0.1", 5432):
        need_service("PostgreSQL is not running on 127.0.0.1:5432")
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"crj_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        need_service(f"cannot create a PostgreSQL test database: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """The local Redis, database 15, flushed before and after the test."""
    if not _port_open("127.0.0.1", 6379):
        need_service("Redis is not running on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    try:
        yield TEST_REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def live_bot(tmp_path_factory: pytest.TempPathFactory):
    """The real Rasa server + action server on free local ports (see tests/live.py)."""
    from tests.live import start_live_bot, stop

    bot, procs = start_live_bot(tmp_path_factory.mktemp("live"))
    try:
        yield bot
    finally:
        stop(procs)


@pytest.fixture(scope="session")
def agent():
    """The trained model loaded in-process, for fast NLU checks."""
    import asyncio

    from rasa.core.agent import load_agent

    from tests.live import MODEL

    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first (make test does)")
    return asyncio.run(load_agent(model_path=str(MODEL)))
