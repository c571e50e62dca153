"""Which language a reply is in: bot.language.detect_language."""

from __future__ import annotations

import pytest

from bot.language import CHINESE, ENGLISH, detect_language, is_english


@pytest.mark.parametrize(
    "text",
    [
        "my passport expired, how to renew",
        "How do I extend my visa?",
        "can I transit through Hangzhou without a visa for 240 hours",
        "where do I register my accommodation 湖州",  # a place name in Chinese does not tip it
        "I want to book an appointment at 10am on Dec 15",
        "ＨＥＬＬＯ ｔｈｅｒｅ",  # full-width Latin letters are Latin too
        "Où est le bureau d'immigration",  # other Latin-script languages get English
    ],
)
def test_messages_mainly_in_latin_script_are_english(text):
    assert detect_language(text) == ENGLISH


@pytest.mark.parametrize(
    "text",
    [
        "办护照要带什么材料",
        "我想办passport",  # one English word in a Chinese sentence
        "HK签注多少钱",
        "EMS 邮寄可以吗",
        "外国人工作居留许可延期要什么材料",
        "港澳通行證要帶什麼材料",
        "预约号 HZ-7K3Q9M2X 帮我查一下",
    ],
)
def test_chinese_messages_with_latin_words_stay_chinese(text):
    assert detect_language(text) == CHINESE


@pytest.mark.parametrize(
    "text",
    [
        "HZ-7K3Q9M2X",  # a booking code says nothing about the writer
        "33052119900315001X",  # an ID number
        "13812345678",
        "ok",  # too short to decide
        "HK",
        "2026-12-15",
        "someone@example.com",
        "https://www.nia.gov.cn/",
        "",
        None,
        "？？？",
        "ÃÂ¤Ã¦Â¸Â\ufffd\ufffd",  # mojibake of Chinese text is not English
    ],
)
def test_codes_numbers_and_short_words_decide_nothing(text):
    assert detect_language(text) is None


def test_ids_and_codes_do_not_outweigh_the_words_around_them():
    assert detect_language("请帮我查 HZ-7K3Q9M2X ABCDEFGH1") == CHINESE
    assert detect_language("check booking HZ-7K3Q9M2X 湖州") == ENGLISH


class _Tracker:
    def __init__(self, language):
        self.language = language

    def get_slot(self, name):
        return self.language if name == "language" else None


def test_is_english_reads_the_language_slot():
    assert is_english(_Tracker("en"))
    assert not is_english(_Tracker("zh"))
    assert not is_english(_Tracker(None))
