"""The mixed load of `make load` (scripts/load.py): questions, follow-ups, emergencies, bookings.

Each simulated citizen has a sender id of its own and talks through the REST channel, as the
web chat does. Weights follow what the halls' chat sees most: questions first, then a
follow-up in the same conversation, an emergency now and then, and a booking started and
taken to the date step (a full booking per user would fill the halls' slots within seconds).
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import yaml
from locust import HttpUser, between, task

#: The sentences of the scenario (scripts/load_scenario.yml).
SCENARIO = yaml.safe_load(
    (Path(__file__).resolve().parent / "load_scenario.yml").read_text(encoding="utf-8")
)


class Citizen(HttpUser):
    """One citizen on the web chat."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.sender = f"load-{uuid.uuid4().hex}"

    def say(self, text: str, name: str) -> list:
        with self.client.post(
            "/webhooks/rest/webhook",
            json={"sender": self.sender, "message": text},
            name=name,
            catch_response=True,
        ) as response:
            replies = response.json() if response.ok else []
            if response.ok and not replies:
                response.failure("no reply")  # silence is a failure here
            return replies

    @task(6)
    def question(self) -> None:
        self.say(random.choice(SCENARIO["questions"]), "question")

    @task(3)
    def follow_up(self) -> None:
        self.say(random.choice(SCENARIO["questions"]), "question")
        self.say(random.choice(SCENARIO["follow_ups"]), "follow-up")

    @task(1)
    def emergency(self) -> None:
        self.say(random.choice(SCENARIO["emergencies"]), "emergency")

    @task(1)
    def booking(self) -> None:
        replies = self.say(SCENARIO["booking_start"], "booking")
        halls = [
            b["payload"]
            for r in replies
            for b in r.get("buttons") or []
            if "booking_hall" in b["payload"]
        ]
        if halls:
            self.say(halls[0], "booking")
        self.say(SCENARIO["booking_stop"], "booking")
