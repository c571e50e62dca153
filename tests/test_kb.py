"""The knowledge base loads, every fact is sourced, and schema errors name file and key."""

from __future__ import annotations

import datetime as dt
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
                assert fact.sources and all(
                    s.startswith(("http", "article")) for s in fact.sources
                ), topic.file
                # as_of is the source's own date (or the day it was checked), never in the future;
                # some sources are genuinely from 2014–2017.
                assert dt.date(2010, 1, 1) <= fact.as_of <= dt.date.today(), topic.file


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
                assert value.config, (
                    f"{hall.id}: an unknown value must name its configuration variable"
                )


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
        cwd=KB_DIR.parent.parent,
        env={**os.environ, "KB_DIR": str(kb_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "passport.yml: answers.fee[0].as_of" in result.stderr


def test_every_cited_source_names_a_publisher_and_reply_shows_no_url(kb):
    for topic in kb.topics.values():
        for facts in topic.answers.values():
            for fact in facts:
                assert all(src in kb.sources for src in fact.sources), topic.file
    text = kb.answer("fee", {"service": "passport"}).render()
    assert "来源：" in text and "http" not in text


def test_article_facts_stay_marked_as_about_2018(kb):
    answer = kb.answer("photo", {"place": "deqing"})
    assert answer.fact.sources == ("article",)
    assert answer.fact.as_of.year == 2018 and "约2018年" in answer.render()


def test_hotline_lives_in_one_place(kb):
    import re

    for path in KB_DIR.glob("*.yml"):
        if path.name in ("notices.yml", "emergency.yml", "vocabulary.yml"):
            continue
        assert "12367" not in path.read_text(encoding="utf-8"), path.name
    assert "12367" in kb.answer("fee", {"service": "passport"}).render()
    assert re.search(
        r"12367.*大厅", kb.answer("fee", {"service": "passport"}).render().splitlines()[-1]
    )


def test_g_endorsement_depends_on_the_city(kb):
    huzhou = kb.answer(
        "endorsement", {"service": "hk_macau_permit", "endorsement_type": "G", "place": "huzhou"}
    )
    deqing = kb.answer(
        "endorsement", {"service": "hk_macau_permit", "endorsement_type": "G", "place": "deqing"}
    )
    hangzhou = kb.answer(
        "endorsement", {"service": "hk_macau_permit", "endorsement_type": "G", "place": "hangzhou"}
    )
    taizhou = kb.answer(
        "endorsement", {"service": "hk_macau_permit", "endorsement_type": "G", "place": "taizhou"}
    )
    unknown = kb.answer("endorsement", {"service": "hk_macau_permit", "endorsement_type": "G"})
    assert "不能办个人旅游签注" in huzhou.fact.text and "团队旅游签注（L）" in huzhou.fact.text
    assert deqing.fact is huzhou.fact
    assert "可以办个人旅游签注（G）" in hangzhou.fact.text and taizhou.fact is hangzhou.fact
    assert unknown.fact.asks == "place" and "请告诉我您的户籍所在城市" in unknown.fact.text
    assert "59" in unknown.fact.text and "居住证" in unknown.fact.text


def test_taiwan_tourism_is_not_open_for_zhejiang(kb):
    for etype in ("G", "L"):
        text = kb.answer(
            "endorsement", {"service": "taiwan_permit", "endorsement_type": etype}
        ).render()
        assert "暂停" in text or "没有恢复" in text
        assert "福建、上海" in text and "2019年8月1日" in text or etype == "L"
        assert "不受这条影响" not in text
    city = kb.answer(
        "endorsement", {"service": "taiwan_permit", "endorsement_type": "G", "place": "hangzhou"}
    )
    assert "团队游也没有恢复" in city.fact.text


def test_online_renewal_requires_a_valid_old_document(kb):
    for slots in ({"apply_kind": "renewal"}, {"place": "hangzhou"}):
        text = kb.answer("delivery", slots).fact.text
        assert "仍在有效期内" in text and "过期" in text and "窗口" in text


def test_photo_background_follows_the_official_guide_and_names_local_practice(kb):
    text = kb.answer("photo", {}).render()
    assert "《出入境证件相片照相指引》" in text and "白色、浅灰色或淡蓝色" in text
    assert "白色或淡蓝色" in text and "各地做法不同" in text


def _write(kb_dir: Path, name: str, doc: dict) -> None:
    (kb_dir / name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    "as_of, why",
    [
        (None, "missing"),
        ("2018-13-45", "as_of must be a date"),
        ("约2018年", "as_of must be a date"),
        ("2999-01-01", "in the future"),
    ],
)
def test_missing_invalid_or_future_as_of_fails_with_file_and_key(tmp_path, as_of, why):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "hk_macau.yml").read_text(encoding="utf-8"))
    if as_of is None:
        del doc["answers"]["endorsement"][0]["as_of"]
    else:
        doc["answers"]["endorsement"][0]["as_of"] = as_of
    _write(kb_dir, "hk_macau.yml", doc)
    with pytest.raises(KBError, match=r"hk_macau\.yml: answers\.endorsement\[0\]\.as_of: .*" + why):
        load_kb(kb_dir)


def test_empty_or_unregistered_source_fails_with_file_and_key(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "taiwan.yml").read_text(encoding="utf-8"))
    doc["answers"]["fee"][0]["sources"] = []
    _write(kb_dir, "taiwan.yml", doc)
    with pytest.raises(KBError, match=r"taiwan\.yml: answers\.fee\[0\]\.sources"):
        load_kb(kb_dir)
    doc["answers"]["fee"][0]["sources"] = ["https://example.org/unknown"]
    _write(kb_dir, "taiwan.yml", doc)
    with pytest.raises(
        KBError, match=r"taiwan\.yml: answers\.fee\[0\]\.sources\[0\]: .*sources\.yml"
    ):
        load_kb(kb_dir)


def test_as_of_is_a_sources_date_unless_marked(kb):
    """The import date stamped on every fact made 2016–2018 sources look current: now a fact's
    as_of is one of its sources' dates, or it says it was verified or estimated."""
    bases = {"source": 0, "verified": 0, "estimated": 0}
    for topic in kb.topics.values():
        for facts in topic.answers.values():
            for fact in facts:
                bases[fact.as_of_basis] += 1
                if fact.as_of_basis == "source":
                    assert any(
                        kb.sources[s].date and fact.as_of.isoformat().startswith(kb.sources[s].date)
                        for s in fact.sources
                    ), (topic.file, fact.text[:20])
    assert bases["source"] > bases["estimated"] > 0


def test_an_estimated_date_reads_as_an_estimate(kb):
    answer = kb.answer("attendance", {"service": "hk_macau_permit"})
    assert answer.fact.as_of_basis == "estimated"
    assert "约2019年（估计）" in answer.render() and "日期不详" not in answer.render()
    dated = kb.answer("documents", {"service": "passport"})
    assert (
        dated.fact.as_of_basis == "source" and f"，{dated.fact.as_of.isoformat()}" in dated.render()
    )


@pytest.mark.parametrize("as_of", ["2026-11-27", "2019-07-01"])
def test_an_as_of_no_source_shows_fails_with_file_and_key(tmp_path, as_of):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "passport.yml").read_text(encoding="utf-8"))
    doc["answers"]["fee"][0]["as_of"] = as_of
    _write(kb_dir, "passport.yml", doc)
    with pytest.raises(
        KBError, match=r"passport\.yml: answers\.fee\[0\]\.as_of: .*no cited source's date"
    ):
        load_kb(kb_dir)
    doc["answers"]["fee"][0]["as_of_basis"] = "guessed"
    _write(kb_dir, "passport.yml", doc)
    with pytest.raises(KBError, match=r"passport\.yml: answers\.fee\[0\]\.as_of_basis"):
        load_kb(kb_dir)


def test_every_topic_word_leads_to_a_sourced_topic_with_an_overview(kb):
    """An overview, or the main aspect that stands for it (the bilingual foreigner topics)."""
    topics = kb.vocabulary["topic"]
    assert len(topics) >= 15
    for topic_id in topics:
        topic = kb.topics[topic_id]
        assert "overview" in topic.answers or topic.main_aspect in topic.answers, topic.file
        assert kb.answer("overview", {"topic": topic_id}).topic is topic


@pytest.mark.parametrize(
    "topic, aspect, words",
    [
        ("exit_ban", "overview", ["第十二条", "未了结的民事案件", "犯罪嫌疑人"]),
        ("overstay", "overview", ["第七十八条", "500元", "1万元"]),
        ("visa_free_transit", "overview", ["240小时", "温州", "宁波", "联程客票"]),
        ("accommodation_registration", "overview", ["24小时内", "第三十九条"]),
        ("visa_extension", "overview", ["7日前", "累计延长不超过"]),
        ("port_visa", "fee", ["第二十条", "30日"]),  # no fee in the sources: the overview answers
        ("one_way_permit", "fee", ["40元"]),
        ("passport_annotation", "fee", ["20元"]),
        ("passport_annotation", "documents", ["有效普通护照"]),
        ("entry_exit_record", "documents", ["委托授权书", "监护"]),
        ("entry_exit_record", "overview", ["电子签名", "地（市）级以上"]),
        ("hmt_resident_permit", "fee", ["40元", "200元", "没有查到"]),
        ("foreign_visa", "place", ["驻华使领馆", "不办外国签证"]),
        ("official_booking", "overview", ["移民局", "浙里办", "说“预约”"]),
        ("progress_lookup", "overview", ["证件进度查询"]),
        ("self_service_clearance", "overview", ["7周岁", "团队旅游签注"]),
        ("self_service_endorsement", "overview", ["立等可取", "没有查到"]),
        ("endorsement_vs_permit", "overview", ["证件本身", "次数和有效期", "不用重新办证"]),
    ],
)
def test_topic_answers_carry_the_key_facts(kb, topic, aspect, words):
    text = kb.answer(aspect, {"topic": topic}).render()
    for word in words:
        assert word in text, (topic, word)
    assert "来源：" in text and "http" not in text
    assert "12367" in text.splitlines()[-1]  # a rule that may change ends with the check line


def test_a_topic_answers_before_the_service(kb):
    """ "护照加注多少钱" names the passport too: the annotation fee, not the passport's 120元."""
    text = kb.answer("fee", {"service": "passport", "topic": "passport_annotation"}).fact.text
    assert "20元" in text and "120" not in text


def test_other_cities_halls_show_only_sourced_values(kb):
    hangzhou = kb.directory["hangzhou"][0]
    assert "婺江路" in hangzhou.address.display() and hangzhou.sources
    assert "待配置" in hangzhou.phone.display() and hangzhou.phone.config
    for halls in kb.directory.values():
        for hall in halls:
            given = [v for v in (hall.address, hall.hours, hall.phone) if v.value]
            assert not given or (hall.sources and all(s in kb.sources for s in hall.sources))
            assert all(v.config for v in (hall.address, hall.hours, hall.phone))


def test_a_hall_detail_without_a_source_fails(tmp_path):
    kb_dir = _copy_kb(tmp_path)
    doc = yaml.safe_load((kb_dir / "city_halls.yml").read_text(encoding="utf-8"))
    wenzhou = next(h for h in doc["halls"] if h["place"] == "wenzhou")
    wenzhou["phone"]["value"] = "0577-00000000"
    _write(kb_dir, "city_halls.yml", doc)
    with pytest.raises(KBError, match=r"city_halls\.yml: halls\[\d+\]\.sources: missing"):
        load_kb(kb_dir)


@pytest.mark.parametrize(
    "aspect, slots, language, words",
    [
        # abroad, a passport is renewed at the embassy, not at home
        (
            "documents",
            {"service": "passport", "apply_kind": "renewal"},
            None,
            ["使领馆", "中国领事"],
        ),
        # urgent processing costs no more
        ("fee", {"service": "passport"}, None, ["120元", "不另收加急费"]),
        # a residence permit is valid for multiple entries, in both languages
        ("validity", {"service": "residence_permit"}, None, ["90日", "多次出入境"]),
        ("validity", {"service": "residence_permit"}, "en", ["90 days", "multiple entries"]),
        # a change to a residence permit: 10 days, the work permit first
        ("documents", {"service": "residence_permit_change"}, None, ["10日内", "工作许可"]),
        (
            "documents",
            {"service": "residence_permit_change"},
            "en",
            ["within 10 days", "work permit"],
        ),
        # a visa lets one in, a residence permit lets one live here
        (
            "documents",
            {"service": "visa_vs_residence_permit"},
            None,
            ["驻外使领馆", "180日", "多次出入境"],
        ),
        (
            "documents",
            {"service": "visa_vs_residence_permit"},
            "en",
            ["embassy", "180 days", "re-enter"],
        ),
        # a foreign spouse of a Chinese citizen: Q1, then the residence permit within 30 days
        ("documents", {"service": "family_reunion"}, None, ["Q1", "30日内", "结婚证"]),
        ("documents", {"service": "family_reunion"}, "en", ["Q1", "within 30 days", "marriage"]),
    ],
)
def test_answers_carry_the_facts_people_ask_for(kb, aspect, slots, language, words):
    text = kb.answer(aspect, slots, language).render()
    for word in words:
        assert word in text, (aspect, slots, word)
