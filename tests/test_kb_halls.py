"""halls.yml as bot.kb reads it, the one reader: appointment sessions (the booking system's own
configuration, inherited from `booking_defaults`), code prefixes and the strict schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.kb import KBError, load_halls, load_kb
from bot.settings import KB_DIR

HALL = {
    "id": "anji",
    "name": "安吉测试大厅",
    "address": {"config": None, "value": None},
    "hours": {"config": None, "value": None},
    "phone": {"config": None, "value": None},
    "green_channel_phone": {"config": None, "value": None},
    "services": ["passport"],
    "booking": {"slot_capacity": 2, "green_capacity": 1},
    "sources": ["test"],
}
DEFAULTS = {
    "basis": "booking_configuration",
    "as_of": "2026-11-27",
    "sessions": [["09:00", "12:00"], ["13:30", "17:00"]],
}


def _halls_file(tmp_path: Path, halls: list, defaults: dict | None = DEFAULTS) -> Path:
    doc: dict = {"kind": "halls", "halls": halls}
    if defaults is not None:
        doc["booking_defaults"] = defaults
    path = tmp_path / "halls.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_the_real_halls_take_the_booking_sessions_from_the_file_defaults():
    kb = load_kb(KB_DIR)
    for hall in kb.halls.values():
        assert hall.bookable
        assert hall.sessions == (("09:00", "12:00"), ("13:30", "17:00")) and hall.slot_minutes == 30
    raw = yaml.safe_load((KB_DIR / "halls.yml").read_text(encoding="utf-8"))
    assert (
        raw["booking_defaults"]["basis"] == "booking_configuration"
    )  # a setting, not a sourced fact


def test_load_halls_reads_the_same_halls_as_load_kb():
    assert load_halls(KB_DIR / "halls.yml") == load_kb(KB_DIR).halls


def test_a_hall_may_override_or_drop_the_sessions(tmp_path: Path):
    own = {
        **HALL,
        "id": "own",
        "booking": {
            **HALL["booking"],
            "sessions": [["08:30", "11:30"]],
            "slot_minutes": 15,
            "code_prefix": "OW",
        },
    }
    closed = {**HALL, "id": "closed", "booking": {**HALL["booking"], "sessions": []}}
    halls = load_halls(_halls_file(tmp_path, [HALL, own, closed]))
    assert halls["anji"].sessions == (("09:00", "12:00"), ("13:30", "17:00"))
    assert halls["anji"].code_prefix is None  # derived by the booking store (bot.booking.halls)
    assert halls["own"].sessions == (("08:30", "11:30"),) and halls["own"].slot_minutes == 15
    assert halls["own"].code_prefix == "OW"
    assert not halls["closed"].bookable and halls["closed"].sessions == ()


def test_without_defaults_or_sessions_a_hall_is_not_bookable(tmp_path: Path):
    assert not load_halls(_halls_file(tmp_path, [HALL], defaults=None))["anji"].bookable


@pytest.mark.parametrize(
    "booking, key",
    [
        ({"sessions": [["9:00", "12:00"]]}, r"halls\[0\]\.booking\.sessions"),
        ({"sessions": [["12:00", "09:00"]]}, r"halls\[0\]\.booking\.sessions"),
        ({"sessions": [["09:00", "12:00"], ["11:00", "13:00"]]}, r"halls\[0\]\.booking\.sessions"),
        ({"slot_minutes": 0}, r"halls\[0\]\.booking\.slot_minutes"),
        ({"code_prefix": "hz"}, r"halls\[0\]\.booking\.code_prefix"),
        ({"slot_capacity": -1}, r"halls\[0\]\.booking"),
    ],
)
def test_bad_booking_settings_fail_with_file_and_key(tmp_path: Path, booking: dict, key: str):
    hall = {**HALL, "booking": {**HALL["booking"], **booking}}
    with pytest.raises(KBError, match=rf"halls\.yml: {key}"):
        load_halls(_halls_file(tmp_path, [hall]))


def test_booking_defaults_say_they_are_configuration(tmp_path: Path):
    with pytest.raises(KBError, match=r"booking_defaults\.basis"):
        load_halls(_halls_file(tmp_path, [HALL], defaults={**DEFAULTS, "basis": "source"}))
    with pytest.raises(KBError, match=r"booking_defaults\.as_of"):
        load_halls(
            _halls_file(
                tmp_path, [HALL], defaults={k: v for k, v in DEFAULTS.items() if k != "as_of"}
            )
        )
