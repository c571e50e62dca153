"""Two Rasa replicas behind Debian's nginx, sharing PostgreSQL and Redis, on loopback.

The deployment of deploy/ in small: nginx balances two Rasa servers (round robin, so
consecutive turns of one citizen land on different replicas) and, on a second port, two
stateless action servers. The replicas share the tracker store (PostgreSQL), the lock store
(Redis) and the booking database (PostgreSQL, a second cluster, so the booking database can
fail on its own). Every service here is private to this module, on free ports under a
temporary directory, so stopping one disturbs no other test.

The servers start once per module, in parallel (a replica loads the model in 30-60 s). The
tests run in file order: the fault tests restart what they stop, and killing a replica comes
last.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import sqlalchemy as sa

from tests.cluster import NGINX, Postgres, Redis, _pg_bin, start_cluster
from tests.conftest import need_service
from tests.live import MODEL
from tests.people import Person, fresh_person

CODE = re.compile(r"预约号[:：]\s*([A-Z]{2}-(?:[A-Z0-9]{8}|[A-Z0-9]{5}))(?![A-Z0-9])")
#: Questions that each make one complete turn (no form), for the concurrency test.
QUESTIONS = [
    "办护照要带什么材料",
    "护照多少钱",
    "港澳通行证怎么办",
    "办证大厅几点上班",
    "台湾通行证要多久能拿到",
    "护照丢了怎么办",
    "签注怎么续",
    "外国人签证延期去哪里办",
]


def _domain_text(response: str) -> str:
    from bot.domain_files import load_domain

    return load_domain()["responses"][response][0]["text"]


@dataclass
class Cluster:
    url: str
    tracker_db: Postgres
    booking_db: Postgres
    redis: Redis
    rasa: dict[int, subprocess.Popen]
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def say(self, text: str, sender: str) -> tuple[list[dict[str, Any]], int]:
        """One REST turn through nginx: the replies and the port of the replica that answered."""
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=120,
        )
        response.raise_for_status()
        upstream = response.headers.get("X-Upstream", "").split(",")[-1].strip()
        return response.json(), int(upstream.rsplit(":", 1)[-1] or 0)

    def events(self, sender: str) -> list[dict[str, Any]]:
        """The sender's stored events, read from the shared tracker store, in stored order."""
        engine = sa.create_engine(self.tracker_db.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                    {"s": sender},
                ).all()
        finally:
            engine.dispose()
        return [json.loads(row[0]) for row in rows]

    def bookings(self, sender: str) -> int:
        """Active booking rows this conversation made, read from the booking database."""
        engine = sa.create_engine(self.booking_db.url)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM bookings WHERE sender_id = :s AND status = 'active'"
                    ),
                    {"s": sender},
                ).scalar()
        finally:
            engine.dispose()
        return int(found or 0)


def _text(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def _payloads(replies: list[dict[str, Any]], marker: str) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or [] if marker in b["payload"]]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not Path(NGINX).exists():
        need_service(f"nginx is not installed ({NGINX}; apt-get install nginx)")
    if not _pg_bin("initdb") or not _pg_bin("pg_ctl"):
        need_service("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if not shutil.which("redis-server"):
        need_service("redis-server is not installed")
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first (make test does)")
    workdir = Path(tempfile.mkdtemp(prefix="crj-replicas-"))
    workdir.chmod(0o755)
    started = None
    try:
        started = start_cluster(workdir, replicas=2, model=MODEL)
        yield Cluster(
            started.url,
            started.tracker_db,
            started.booking_db,
            started.redis,
            started.rasa,
            workdir,
        )
    finally:
        if started is not None:
            started.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _to_summary(cluster: Cluster, sender: str, person: Person, served: list[int]) -> str:
    """A booking up to the summary that asks to confirm; `served` collects replica ports."""

    def say(text: str) -> list[dict[str, Any]]:
        replies, port = cluster.say(text, sender)
        served.append(port)
        return replies

    replies = say("我想预约办护照")
    replies = say(_payloads(replies, "booking_hall")[0])
    replies = say(_payloads(replies, "booking_date")[0])
    replies = say(_payloads(replies, "booking_time")[0])
    assert "姓名" in _text(replies), _text(replies)
    assert "身份证" in _text(say("王小明"))
    assert "手机" in _text(say(person.id_number))
    summary = _text(say(person.phone))
    assert person.masked_id in summary and "确认" in summary, summary
    return summary


def test_turns_alternating_between_the_replicas_complete_a_booking(cluster: Cluster) -> None:
    sender, person, served = uuid.uuid4().hex, fresh_person(), []
    _to_summary(cluster, sender, person, served)
    replies, port = cluster.say("确认", sender)
    served.append(port)
    done = _text(replies)
    assert "预约成功" in done and CODE.search(done), done
    assert set(served) == set(cluster.rasa), served
    assert all(a != b for a, b in zip(served, served[1:])), f"turns did not alternate: {served}"
    assert cluster.bookings(sender) == 1


def test_concurrent_messages_of_one_sender_over_both_replicas_are_serialised(
    cluster: Cluster,
) -> None:
    sender = uuid.uuid4().hex
    cluster.say("你好", sender)  # the session starts before the bursts
    results: dict[str, tuple[str, int]] = {}
    # Three bursts: each releases its messages at once, so the first turns on the two
    # replicas start together (unserialised, they overlapped in time and left the stored
    # events out of order: seen with one in-process lock per replica).
    bursts = [QUESTIONS, [f"请问{q}" for q in QUESTIONS], [f"{q}？" for q in QUESTIONS]]
    for burst in bursts:
        start = threading.Barrier(len(burst))

        def send(question: str, start: threading.Barrier = start) -> None:
            start.wait(timeout=30)
            replies, port = cluster.say(question, sender)
            results[question] = (_text(replies), port)

        threads = [threading.Thread(target=send, args=(q,)) for q in burst]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    sent = [q for burst in bursts for q in burst]

    busy = _domain_text("utter_system_busy")
    assert set(results) == set(sent)
    assert {port for _, port in results.values()} == set(cluster.rasa)
    assert [q for q, (text, _) in results.items() if not text or busy in text] == []

    events = cluster.events(sender)
    said = [e["text"] for e in events if e["event"] == "user"]
    assert sorted(said) == sorted(["你好", *sent]), said  # none lost, none twice
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), "stored events are out of order"
    # One turn at a time: every user message is answered and closed by action_listen
    # before the next user message starts, and no turn starts before the last one ended.
    turns: list[list[dict[str, Any]]] = []
    for event in events:
        if event["event"] == "user":
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    for turn in turns:
        kinds = [(e["event"], e.get("name")) for e in turn]
        assert ("bot" in {k for k, _ in kinds}) and kinds[-1] == ("action", "action_listen"), kinds
    for earlier, later in zip(turns, turns[1:]):
        assert earlier[-1]["timestamp"] <= later[0]["timestamp"], "two turns overlapped"


def test_booking_database_down_at_confirmation_then_back(cluster: Cluster) -> None:
    sender, person, served = uuid.uuid4().hex, fresh_person(), []
    _to_summary(cluster, sender, person, served)
    cluster.booking_db.stop()
    try:
        replies, _ = cluster.say("确认", sender)
    finally:
        cluster.booking_db.start()
    said = _text(replies)
    assert said.strip() and "预约成功" not in said, said
    assert said in (
        _domain_text("utter_booking_refused_unavailable"),
        _domain_text("utter_booking_unavailable_kept"),
        _domain_text("utter_system_busy"),
    ), said
    assert cluster.bookings(sender) == 0  # nothing half-written
    replies, _ = cluster.say("继续预约", sender)
    text = _text(replies)
    if "预约成功" not in text:  # asked to confirm again
        assert "确认" in text, text
        text = _text(cluster.say("确认", sender)[0])
    assert "预约成功" in text and CODE.search(text), text
    assert cluster.bookings(sender) == 1


def test_tracker_store_down_mid_booking_answers_busy_and_the_form_goes_on(
    cluster: Cluster,
) -> None:
    sender = uuid.uuid4().hex
    replies, _ = cluster.say("我想预约办护照", sender)
    halls = _payloads(replies, "booking_hall")
    assert halls, _text(replies)
    cluster.tracker_db.stop()
    try:
        replies, _ = cluster.say(halls[0], sender)
    finally:
        cluster.tracker_db.start()
    assert _text(replies) == _domain_text("utter_system_busy")
    # Back: the same answer goes on where the form was (no turn was half-stored).
    replies, _ = cluster.say(halls[0], sender)
    dates = _payloads(replies, "booking_date")
    assert dates, _text(replies)
    replies, _ = cluster.say(dates[0], sender)
    replies, _ = cluster.say(_payloads(replies, "booking_time")[0], sender)
    assert "姓名" in _text(replies)
    assert cluster.bookings(sender) == 0


def test_redis_down_answers_busy_and_the_conversation_resumes(cluster: Cluster) -> None:
    sender = uuid.uuid4().hex
    replies, _ = cluster.say("我想预约办护照", sender)
    halls = _payloads(replies, "booking_hall")
    assert halls, _text(replies)
    cluster.redis.stop()
    try:
        replies, _ = cluster.say(halls[0], sender)
    finally:
        cluster.redis.start()
    assert _text(replies) == _domain_text("utter_system_busy")
    replies, _ = cluster.say(halls[0], sender)
    assert _payloads(replies, "booking_date"), _text(replies)


def test_killing_a_replica_mid_booking_the_other_goes_on(cluster: Cluster) -> None:
    sender, person = uuid.uuid4().hex, fresh_person()
    replies, _ = cluster.say("我想预约办护照", sender)
    replies, _ = cluster.say(_payloads(replies, "booking_hall")[0], sender)
    replies, port = cluster.say(_payloads(replies, "booking_date")[0], sender)
    victim = cluster.rasa[port]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    served = []
    replies, port = cluster.say(_payloads(replies, "booking_time")[0], sender)
    served.append(port)
    assert "姓名" in _text(replies), _text(replies)
    assert "身份证" in _text(cluster.say("王小明", sender)[0])
    assert "手机" in _text(cluster.say(person.id_number, sender)[0])
    assert person.masked_id in _text(cluster.say(person.phone, sender)[0])
    replies, port = cluster.say("确认", sender)
    served.append(port)
    assert "预约成功" in _text(replies), _text(replies)
    assert served == [p for p in cluster.rasa if cluster.rasa[p] is not victim] * 2, served
    assert cluster.bookings(sender) == 1
