"""The mixed load of `make load` (scripts/load.py): questions, follow-ups, emergencies, bookings.

Each simulated citizen has a sender id of its own and talks through the REST channel, as the
web chat does. Weights follow what the halls' chat sees most: questions first, then a
follow-up in the same conversation, an emergency now and then, and a booking started and
taken to the date step (a full booking per user would fill the halls' slots within seconds).
"""

from __future__ import annotations

import random
import uuid

from locust import HttpUser, between, task

QUESTIONS = (
    "办护照要带什么材料",
    "港澳通行证续签要多少钱",
    "台湾通行证多久能拿到",
    "外国人居留许可怎么延期",
    "异地办理护照可以吗",
    "出入境证件照片有什么要求",
    "证件可以邮寄到家吗",
    "How do I renew my passport?",
)
FOLLOW_UPS = ("要多少钱", "多久能拿到", "在哪里办")
EMERGENCIES = ("我爸在美国去世了，要马上赶过去", "孩子在澳洲重病住院，我得尽快出国")


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
        self.say(random.choice(QUESTIONS), "question")

    @task(3)
    def follow_up(self) -> None:
        self.say(random.choice(QUESTIONS), "question")
        self.say(random.choice(FOLLOW_UPS), "follow-up")

    @task(1)
    def emergency(self) -> None:
        self.say(random.choice(EMERGENCIES), "emergency")

    @task(1)
    def booking(self) -> None:
        replies = self.say("我想预约办护照", "booking")
        halls = [
            b["payload"]
            for r in replies
            for b in r.get("buttons") or []
            if "booking_hall" in b["payload"]
        ]
        if halls:
            self.say(halls[0], "booking")
        self.say("算了", "booking")
