"""Checks on the real citizens' questions (held-out set and training pool).

tests/data/real_questions_heldout.yml must never be trained on; these tests keep both
files well formed, free of personal numbers, and disjoint (by text, near-duplicate text
and source page), and keep every held-out text out of the NLU training data. Texts are
compared the way the NLU sees them (bot.text.normalize folds traditional script and
full-width forms), so a held-out question in traditional script is still the same question.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

DATA = Path(__file__).parent / "data"
HELDOUT = DATA / "real_questions_heldout.yml"
# A second held-out set, collected after the first had been used to direct fixes, so that a
# score is measured on questions nobody here had looked at when the rules were written.
HELDOUT2 = DATA / "real_questions_heldout2.yml"
# A third, collected before the round of fixes the second set directed, and scored before
# and after it: the second set's score is then no longer on unseen text, this one's is.
HELDOUT3 = DATA / "real_questions_heldout3.yml"
POOL = DATA / "real_questions_pool.yml"
FILES = {"heldout": HELDOUT, "heldout2": HELDOUT2, "heldout3": HELDOUT3, "pool": POOL}
HELDOUT_NAMES = tuple(name for name in FILES if name != "pool")

TRAINING = Path(__file__).parent.parent / "data" / "nlu"
MIN_HELDOUT = 150
#: Real questions collected over all files (issue 9 asks for 400); the stored corpus is nearly
#: exhausted for these topics (see the third held-out file's header).
MIN_COLLECTED = 400

SERVICES = {
    "passport",
    "hk_macau_permit",
    "taiwan_permit",
    "residence_permit",
    "visa_foreign",
    "none",
    "other",
}
ASPECTS = {
    "documents",
    "fee",
    "time",
    "validity",
    "place",
    "photo",
    "delivery",
    "endorsement",
    "yidi",
    "green_channel",
    "booking",
    "progress",
    "lost",
    "renewal",
    "other",
}
EMERGENCIES = {
    None,
    "bereavement",
    "medical_treatment",
    "critical_illness_visit",
    "overseas_incident",
    "urgent_business",
    "contract_signing",
    "study_deadline",
    "document_lost",
    "visa_expiring",
}
LANGS = {"zh", "en"}
REQUIRED = {"text", "source", "publisher", "service", "aspect", "emergency", "must_contain", "lang"}
OPTIONAL = {"near_miss", "must_contain_en"}  # must_contain_en: English questions only

# 18-character resident ID (17 digits + digit/X) and 11-digit mainland mobile, not part
# of a longer digit run.
ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
MOBILE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _load(path: Path) -> List[Dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, list), f"{path.name}: top level must be a list of entries"
    return data


@functools.lru_cache(maxsize=None)
def _norm(text: str) -> str:
    from bot.text import normalize

    text = normalize(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if ch.isalnum())


def _near(a: str, b: str, whole: float = 0.0) -> bool:
    """Near-equal texts: character-bigram Jaccard of 0.6 or more, or one contains the other
    (containment counts only when the shorter is at least `whole` of the longer's length)."""
    ba, bb = _bigrams(a), _bigrams(b)
    if len(ba & bb) / len(ba | bb) >= 0.6:
        return True
    na, nb = _norm(a), _norm(b)
    short, long_ = sorted((na, nb), key=len)
    return len(short) >= whole * len(long_) and short in long_


@functools.lru_cache(maxsize=None)
def _bigrams(text: str) -> frozenset:
    t = _norm(text)
    return frozenset({t[i : i + 2] for i in range(len(t) - 1)} or {t})


@functools.lru_cache(maxsize=None)
def _file(name: str) -> tuple:
    return tuple(_load(FILES[name]))


@pytest.mark.parametrize("name", list(FILES))
def test_entries_have_fields_with_allowed_values(name):
    for i, e in enumerate(_file(name)):
        where = f"{name}[{i}]"
        assert isinstance(e, dict), where
        assert REQUIRED <= set(e), f"{where}: missing {REQUIRED - set(e)}"
        assert set(e) <= REQUIRED | OPTIONAL, f"{where}: unknown {set(e) - REQUIRED - OPTIONAL}"
        assert isinstance(e["text"], str) and e["text"].strip(), where
        assert isinstance(e["source"], str) and re.match(r"https?://\S+$", e["source"]), where
        assert isinstance(e["publisher"], str) and e["publisher"].strip(), where
        assert e["service"] in SERVICES, f"{where}: service {e['service']!r}"
        assert e["aspect"] in ASPECTS, f"{where}: aspect {e['aspect']!r}"
        assert e["emergency"] in EMERGENCIES, f"{where}: emergency {e['emergency']!r}"
        assert e["lang"] in LANGS, f"{where}: lang {e['lang']!r}"
        mc = e["must_contain"]
        assert isinstance(mc, list) and 1 <= len(mc) <= 3, where
        assert all(isinstance(w, str) and w.strip() for w in mc), where
        if "must_contain_en" in e:
            en = e["must_contain_en"]
            assert e["lang"] == "en", f"{where}: must_contain_en on a Chinese question"
            assert isinstance(en, list) and 1 <= len(en) <= 3, where
            assert all(isinstance(w, str) and w.strip() for w in en), where
        if "near_miss" in e:
            assert e["near_miss"] is True, where
            assert e["emergency"] is None, f"{where}: a near miss has no emergency"


@pytest.mark.parametrize("name", HELDOUT_NAMES)
def test_every_english_heldout_question_has_an_english_label(name):
    lacking = [
        e["text"][:60] for e in _file(name) if e["lang"] == "en" and "must_contain_en" not in e
    ]
    assert not lacking, f"English questions without must_contain_en: {lacking}"


@pytest.mark.parametrize("name", list(FILES))
def test_lang_matches_text(name):
    for i, e in enumerate(_file(name)):
        has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in e["text"])
        assert has_cjk == (e["lang"] == "zh"), f"{name}[{i}]: lang {e['lang']}"


@pytest.mark.parametrize("path", list(FILES.values()), ids=list(FILES))
def test_no_id_or_phone_numbers_in_clear(path):
    # Page addresses carry long numeric page ids (e.g. /info/309166814533105804.html), which are
    # not personal numbers; every other line of the file is checked.
    raw = "\n".join(
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("source:")
    )
    assert not ID_RE.search(raw), f"{path.name}: an 18-digit ID number is in clear"
    assert not MOBILE_RE.search(raw), f"{path.name}: an 11-digit mobile number is in clear"


@pytest.mark.parametrize("name", list(FILES))
def test_no_duplicates_within_file(name):
    seen = [_norm(e["text"]) for e in _file(name)]
    assert len(seen) == len(set(seen)), f"{name}: duplicate texts"


PAIRS = [
    (first, second) for index, first in enumerate(FILES) for second in list(FILES)[index + 1 :]
]


@pytest.mark.parametrize("first, second", PAIRS)
def test_files_share_no_text(first, second):
    assert not {_norm(e["text"]) for e in _file(first)} & {_norm(e["text"]) for e in _file(second)}


@pytest.mark.parametrize("first, second", PAIRS)
def test_files_share_no_near_duplicate_text(first, second):
    for a in _file(first):
        for b in _file(second):
            assert not _near(a["text"], b["text"]), (
                f"near-duplicate across files: {a['text']!r} ~ {b['text']!r}"
            )


def test_heldout_is_big_enough_to_measure():
    heldout = _file("heldout")
    assert len(heldout) >= MIN_HELDOUT
    assert len({e["source"] for e in heldout}) >= MIN_HELDOUT * 0.8  # many pages, not a few


def test_enough_real_questions_are_collected():
    assert sum(len(_file(name)) for name in FILES) >= MIN_COLLECTED


@pytest.mark.parametrize("name", HELDOUT_NAMES)
def test_no_heldout_text_or_near_copy_is_in_training(name):
    """Every NLU training example (data/nlu, including real_questions.yml) is checked against
    every held-out question; a short phrase inside a long question ("passport") is fine, a
    question inside a question is not."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = [e.get("text") for e in load_data(str(TRAINING)).intent_examples]
    assert examples
    leaks = [
        (ex, h["text"]) for h in _file(name) for ex in examples if _near(ex, h["text"], whole=0.7)
    ]
    assert not leaks, leaks[:10]


@pytest.mark.parametrize("first, second", PAIRS)
def test_split_by_source_page(first, second):
    assert not {e["source"] for e in _file(first)} & {e["source"] for e in _file(second)}
