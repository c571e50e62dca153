"""The knowledge base loads, every fact is sourced, and schema errors name file and key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.kb import ASPECTS, KBError, load_kb
from bot.settings import KB_DIR


@pytest.fixture(scope="module")
def kb():
    return load_kb(KB_DIR)


def test_every_fact_has_source_and_date(kb):
    assert kb.topics, "no topics loaded"
    for topic in kb.topics.values():
        for aspect, facts in topic.answers.items():
            assert aspect in ASPECTS
            for fact in facts:
                assert fact.sources and all(s.startswith(("http", "article")) for s in fact.sources), topic.file
                assert fact.as_of.year >= 2018


def test_core_services_are_covered(kb):
    for service in ("passport", "hk_macau_permit", "taiwan_permit", "residence_permit"):
        assert service in kb.topics, service
        assert "documents" in kb.topics[service].answers, service
    for topic in ("photo", "yidi", "delivery", "green_channel"):
        assert topic in kb.topics, topic


def test_passport_answers_are_specific(kb):
    adult = kb.answer("documents", {"service": "passport"})
    minor = kb.answer("documents", {"service": "passport", "applicant_type": "minor"})
    assert adult is not None and minor is not None
    assert "身份证" in adult.fact.text
    assert "监护" in minor.fact.text
    assert adult.hint, "a default answer says in one line how other cases differ"
    assert not minor.hint
    fee = kb.answer("fee", {"service": "passport"})
    assert fee is not None and "120" in fee.fact.text
    assert "来源" in fee.render()


def test_hk_macau_and_taiwan_facts(kb):
    fee = kb.answer("fee", {"service": "hk_macau_permit"})
    assert fee is not None and "60" in fee.fact.text and "15" in fee.fact.text
    g = kb.answer("endorsement", {"service": "taiwan_permit", "endorsement_type": "G"})
    assert g is not None and "暂停" in g.fact.text


def test_yidi_in_huzhou_mentions_the_written_commitment(kb):
    answer = kb.answer("yidi", {"place": "huzhou"})
    assert answer is not None and "承诺" in answer.fact.text
    assert answer.fact.scope in ("湖州", "德清", "浙江")


def test_halls_never_invent_unknown_values(kb):
    assert {"huzhou", "deqing"} <= set(kb.halls)
    for hall in kb.halls.values():
        for value in (hall.address, hall.hours, hall.phone, hall.green_channel_phone):
            if value.resolved() is None:
                assert "待配置" in value.display()
                assert value.config, f"{hall.id}: an unknown value must name its configuration variable"


def test_hall_values_come_from_environment(kb, monkeypatch):
    hall = kb.halls["huzhou"]
    if hall.phone.config:
        monkeypatch.setenv(hall.phone.config, "0572-1234567")
        assert hall.phone.display() == "0572-1234567"


def _copy_kb(tmp_path: Path) -> Path:
    for path in KB_DIR.glob("*.yml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_missing_source_names_file_and_key(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "passport.yml").read_text(encoding="utf-8"))
    del doc["answers"]["fee"][0]["sources"]
    (kb_dir / "passport.yml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KBError, match=r"passport\.yml: answers\.fee\[0\]\.sources"):
        load_kb(kb_dir)


def test_unknown_aspect_and_bad_date_fail_fast(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "photo.yml").read_text(encoding="utf-8"))
    doc["answers"]["colour"] = doc["answers"]["photo"]
    (kb_dir / "photo.yml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KBError, match=r"photo\.yml: answers\.colour"):
        load_kb(kb_dir)
    doc["answers"].pop("colour")
    doc["answers"]["photo"][0]["as_of"] = "yesterday"
    (kb_dir / "photo.yml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KBError, match=r"photo\.yml: answers\.photo\[0\]\.as_of"):
        load_kb(kb_dir)


def test_invalid_yaml_names_the_file(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    (kb_dir / "broken.yml").write_text("kind: topic\nid: [unclosed\n", encoding="utf-8")
    with pytest.raises(KBError, match=r"broken\.yml"):
        load_kb(kb_dir)


def test_servers_refuse_to_start_on_a_broken_kb(tmp_path):
    """`make run` fails fast, naming the file and key, instead of answering wrongly."""
    import os
    import subprocess
    import sys

    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "passport.yml").read_text(encoding="utf-8"))
    doc["answers"]["fee"][0].pop("as_of")
    (kb_dir / "passport.yml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot.serve", "actions", "--port", "1"],
        cwd=KB_DIR.parent.parent, env={**os.environ, "KB_DIR": str(kb_dir)},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "passport.yml: answers.fee[0].as_of" in result.stderr
