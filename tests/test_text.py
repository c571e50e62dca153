"""Normalisation and vocabulary matching, the first steps of every message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.kb import load_kb
from bot.settings import KB_DIR
from bot.text import normalize
from bot.vocabulary import VocabularyMatcher


def test_traditional_full_width_and_spacing():
    assert normalize("外婆在澳門過世了") == "外婆在澳门过世了"
    assert normalize("ｐａｓｓｐｏｒｔ１２３") == "passport123"
    assert normalize("护 照  多少 钱") == "护照多少钱"
    assert normalize("我想办passport要什么") == "我想办 passport 要什么"
    assert normalize("\x00\x07你好\u200b") == "你好"
    assert normalize("") == "" and normalize(None) == ""


@given(st.text(max_size=300))
def test_normalize_never_raises_and_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


def test_vocabulary_finds_services_and_applicants():
    matcher = VocabularyMatcher(load_kb(KB_DIR).vocabulary)
    found = matcher.slots(normalize("我家小孩想辦往來港澳通行證"))
    assert found.get("service") == "hk_macau_permit"
    assert found.get("applicant_type") == "minor"
    assert matcher.slots(normalize("办 Passport 要带什么")).get("service") == "passport"
    assert matcher.slots("今天天气怎么样") == {}


def test_vocabulary_reads_where_to_book_and_english_permits():
    matcher = VocabularyMatcher(load_kb(KB_DIR).vocabulary)
    assert matcher.slots(normalize("港澳通行证在哪里预约")).get("topic") == "official_booking"
    assert matcher.slots(normalize("预约的网址是什么")).get("topic") == "official_booking"
    assert "topic" not in matcher.slots(normalize("我想预约明天办护照"))  # a booking with us
    assert matcher.slots(normalize("do I need a new permit")).get("service") == "residence_permit"
    assert matcher.slots(normalize("hk macau permit fee")).get("service") == "hk_macau_permit"
    assert matcher.slots(normalize("I need a Taiwan permit")).get("service") == "taiwan_permit"
    assert matcher.slots(normalize("I overstayed my visa")).get("topic") == "overstay"


def test_vocabulary_reads_ages_in_words_islands_and_the_permit_card():
    matcher = VocabularyMatcher(load_kb(KB_DIR).vocabulary)
    assert matcher.slots(normalize("不满十六周岁能办吗")).get("applicant_type") == "minor"
    assert matcher.slots(normalize("去马祖玩要办什么")).get("service") == "taiwan_permit"
    found = matcher.slots(normalize("旧本子换卡式港澳通行卡"))
    assert found.get("service") == "hk_macau_permit" and found.get("apply_kind") == "renewal"
    assert matcher.slots(normalize("通行证掉了")).get("apply_kind") == "replacement"
    assert matcher.slots(normalize("a layover in Beijing")).get("service") == "visa_free_transit"


def test_a_latin_alias_matches_only_a_whole_word():
    """Garbled Latin letters are no service: "hk" must not fire inside "kjhkjh"."""
    matcher = VocabularyMatcher(load_kb(KB_DIR).vocabulary)
    assert matcher.slots(normalize("阿斯顿发水电费kjhkjh")) == {}
    assert matcher.slots(normalize("办HK通行证")).get("service") == "hk_macau_permit"
    assert matcher.slots(normalize("my visas expired")).get("service") == "visa_extension"


def test_of_two_values_named_together_the_stronger_one_is_kept():
    """vocabulary.yml `precedence`: a slot keeps one value, and it must be the one meant."""
    kb = load_kb(KB_DIR)
    matcher = VocabularyMatcher(kb.vocabulary, precedence=kb.vocabulary_precedence)

    def values(text: str, entity: str) -> list[str]:
        return [m.value for m in matcher.find(normalize(text)) if m.entity == entity]

    # an expired permit is renewed, whether the citizen says 换证 or 续签
    assert values("港澳通行证过期了，换证还是续签", "apply_kind") == ["renewal", "renewal"]
    assert values("港澳签注过期了怎么续签", "apply_kind") == ["endorsement", "endorsement"]
    assert values("resident permit (visa multiple entries 1 year)", "service") == [
        "residence_permit"
    ]
    assert values("change of residence permit, my residence permit expires", "service") == [
        "residence_permit_change"
    ]
    assert values("is my visa still ok", "service") == ["visa_extension"]  # alone: kept
    plain = VocabularyMatcher(kb.vocabulary)  # no precedence: both kept
    found = [m.value for m in plain.find(normalize("港澳通行证过期了续签"))]
    assert "renewal" in found and "endorsement" in found


def test_vocabulary_longest_alias_wins_even_where_find_takes_a_shorter_overlap():
    """`longest` is the booking form's matcher: the longest alias anywhere, ties to the first
    listed, short aliases ignored, aliases folded by the caller's normalizer."""
    vocabulary = {"place": {"a": ["湖州"], "b": ["州市民中心"], "c": ["德清"], "d": ["x"]}}
    matcher = VocabularyMatcher(vocabulary)
    assert [m.value for m in matcher.find("湖州市民中心")] == ["a"]
    found = matcher.longest("湖州市民中心")
    assert found is not None and (found.value, found.start, found.text) == ("b", 1, "州市民中心")
    tie = VocabularyMatcher({"e": {"first": ["德清"], "second": ["湖州"]}})
    assert tie.longest("湖州德清").value == "first"
    assert matcher.longest("x", min_length=2) is None and matcher.longest("x").value == "d"
    fold = lambda a: a.replace(" ", "").lower()  # noqa: E731
    spaced = VocabularyMatcher({"service": {"hk": ["Hong Kong"]}}, normalizer=fold)
    assert spaced.longest("办hongkong通行证").value == "hk"
    assert matcher.longest("今天天气怎么样") is None


def _fold_each(text: str) -> str:
    """fold_aligned's definition, one character at a time."""
    import unicodedata

    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) != 1:
            folded = ch
        if folded.isdecimal() and not folded.isascii():
            folded = str(unicodedata.decimal(folded))
        out.append(folded)
    return "".join(out)


@given(st.text(max_size=40))
def test_fold_aligned_folds_each_character_and_keeps_the_length(text: str) -> None:
    from bot.text import fold_aligned

    assert fold_aligned(text) == _fold_each(text)
    assert len(fold_aligned(text)) == len(text)


def test_fold_aligned_still_folds_once_its_table_is_full(monkeypatch) -> None:
    """A client who sends every character there is does not get a number past masking."""
    import bot.text

    monkeypatch.setattr(bot.text, "_MAX_SEEN", 0)
    monkeypatch.setattr(bot.text, "_SEEN", set())
    monkeypatch.setattr(bot.text, "_FOLDS", {})
    text = "电话１３８１２３４５６７８，号码٣٣٠٥２１"
    assert bot.text.fold_aligned(text) == _fold_each(text) == "电话13812345678,号码330521"
