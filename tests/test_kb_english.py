"""English beside Chinese in the knowledge base: topics for foreigners answer in English.

The loader refuses a topic for foreigners (`audience: foreigners`) whose facts lack `text_en`,
and an English answer names its source and ends with the check line in English.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.kb import KBError, load_kb
from bot.language import ENGLISH
from bot.settings import KB_DIR

FOREIGNER_TOPICS = (
    "residence_permit",
    "visa_free_transit",
    "visa_extension",
    "accommodation_registration",
    "residence_permit_change",
    "visa_vs_residence_permit",
    "family_reunion",
)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def kb():
    return load_kb(KB_DIR)


def _copy_kb(tmp_path: Path) -> Path:
    for path in Path(KB_DIR).glob("*.yml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def _mostly_english(text: str) -> bool:
    """Chinese may appear for names of forms and offices, in brackets; the prose is English."""
    return len(_CJK.findall(text)) * 10 < len(re.findall(r"[A-Za-z]", text))


def test_the_foreigner_topics_are_marked_and_fully_english(kb):
    marked = {t.id for t in kb.topics.values() if t.audience == "foreigners"}
    assert set(FOREIGNER_TOPICS) <= marked
    for topic_id in FOREIGNER_TOPICS:
        topic = kb.topics[topic_id]
        assert topic.name_en
        for aspect, facts in topic.answers.items():
            for fact in facts:
                assert fact.text_en and _mostly_english(fact.text_en), f"{topic_id}.{aspect}"


@pytest.mark.parametrize("service", FOREIGNER_TOPICS)
def test_an_english_answer_is_english_with_source_and_check_line(kb, service):
    answer = kb.answer("documents", {"service": service}, ENGLISH)
    assert answer is not None and answer.in_english
    text = answer.render()
    assert _mostly_english(text), text
    assert "Source: " in text and "来源" not in text
    assert "12367" in text  # the English check line, with the hotline from notices.yml
    assert "http" not in text
    chinese = kb.answer("documents", {"service": service}).render()
    assert "来源：" in chinese and answer.fact is kb.answer("documents", {"service": service}).fact


def test_a_topic_without_english_stays_chinese_and_says_so(kb):
    answer = kb.answer("documents", {"service": "passport", "apply_kind": "renewal"}, ENGLISH)
    assert answer is not None and not answer.in_english
    assert "原护照" in answer.render()


def test_english_facts_keep_the_figures_of_the_chinese_ones(kb):
    fee = kb.answer("fee", {"service": "residence_permit"}, ENGLISH).render()
    for amount in ("400", "800", "1,000"):
        assert amount in fee
    transit = kb.answer("validity", {"service": "visa_free_transit"}, ENGLISH).render()
    assert "240 hours" in transit and "30 days" in transit
    stay = kb.answer("time", {"service": "visa_extension"}, ENGLISH).render()
    assert "7 days" in stay and "500 yuan" in stay and "10,000" in stay
    registration = kb.answer(
        "documents", {"service": "accommodation_registration"}, ENGLISH
    ).render()
    assert "24 hours" in registration and "police" in registration


def test_an_aspect_a_foreigner_topic_lacks_is_answered_from_the_topic(kb):
    answer = kb.answer("fee", {"service": "visa_free_transit"}, ENGLISH)
    assert answer is not None and answer.topic.id == "visa_free_transit"


def test_local_facts_name_their_scope_in_english(kb):
    text = kb.answer("place", {"service": "residence_permit", "place": "huzhou"}, ENGLISH).render()
    assert "(Applies in: Huzhou)" in text


def _edit(path: Path, edit) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_foreigner_fact_without_english_fails_with_file_and_key(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "residence_permit.yml", lambda d: d["answers"]["fee"][0].pop("text_en"))
    with pytest.raises(
        KBError, match=r"residence_permit\.yml: answers\.fee\[0\]\.text_en: missing"
    ):
        load_kb(kb_dir)


def test_a_new_foreigner_topic_without_english_fails(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "foreigners.yml", lambda d: d["topics"][2]["answers"]["time"][0].pop("text_en"))
    with pytest.raises(KBError, match=r"foreigners\.yml: topics\[2\]: answers\.time\[0\]\.text_en"):
        load_kb(kb_dir)


def test_a_foreigner_topic_needs_its_english_name_and_hint(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "residence_permit.yml", lambda d: d.pop("hint_en"))
    with pytest.raises(KBError, match=r"residence_permit\.yml: hint_en"):
        load_kb(kb_dir)
    _edit(kb_dir / "residence_permit.yml", lambda d: d.pop("name_en"))
    with pytest.raises(KBError, match=r"residence_permit\.yml: name_en"):
        load_kb(kb_dir)


def test_other_topics_may_omit_english(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "general.yml", lambda d: d["answers"]["place"][0].pop("text_en"))
    assert "general" in load_kb(kb_dir).topics


def test_english_notices_are_required(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "notices.yml", lambda d: d["notices"].pop("check_line_en"))
    with pytest.raises(KBError, match=r"notices\.yml: notices: needs check_line_en"):
        load_kb(kb_dir)


def test_a_duplicate_topic_id_across_files_fails(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    _edit(kb_dir / "foreigners.yml", lambda d: d["topics"][0].update(id="residence_permit"))
    with pytest.raises(KBError, match=r"duplicate topic id 'residence_permit'"):
        load_kb(kb_dir)
