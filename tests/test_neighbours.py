"""The nearest-neighbour look-up for unsure messages (bot.retrieval, bot.nlu.neighbours).

Trained on a small labelled set written here (not the held-out real questions), stored in a
model storage and loaded back, so what is asserted is what a trained model does: a close
neighbour of a knowledge intent replaces nlu_fallback (with the service it names), and
everything else stays as DIET and the earlier components left it: confident intents, form
answers, emergencies, the ask band, out_of_scope without a subject, and messages with no
close neighbour, or two close neighbours of different intents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.neighbours import NeighbourResolver
from bot.retrieval import Example, NeighbourIndex, Settings, examples_from, fold

KNOWLEDGE = ["ask_documents", "ask_fee", "ask_photo", "ask_processing_time", "travel_plan"]
EXAMPLES = [
    ("婴儿几个月可以办护照", "ask_documents"),
    ("办护照要带什么材料", "ask_documents"),
    ("护照照片可以自己带吗", "ask_photo"),
    ("港澳通行证多少钱", "ask_fee"),
    ("去澳门需要什么证件", "travel_plan"),
    ("今天天气怎么样", "out_of_scope"),
    ("附近有什么好吃的餐厅", "out_of_scope"),
    ("好的", "affirm"),
    ("帮我约明天上午", "book_appointment"),
    # two intents worded almost alike: the look-up must not pick between them
    ("台湾通行证要多久", "ask_processing_time"),
    ("台湾通行证要多少", "ask_fee"),
]
CONFIG = {
    **NeighbourResolver.get_default_config(),
    "min_similarity": 0.5,
    "min_margin": 0.1,
    "intents": KNOWLEDGE,
}


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> NeighbourResolver:
    work = tmp_path_factory.mktemp("neighbours") / "storage"
    work.mkdir()
    storage = LocalModelStorage(work)
    resource = Resource("neighbours")
    component = NeighbourResolver.create(CONFIG, storage, resource, _context())
    data = TrainingData([Message(data={TEXT: t, INTENT: i}) for t, i in EXAMPLES])
    component.train(data)
    return NeighbourResolver.load(CONFIG, storage, resource, _context())


def _message(
    text: str,
    intent: str = "nlu_fallback",
    confidence: float = 0.3,
    entities: Optional[List[Dict[str, Any]]] = None,
) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence}], add_to_output=True
    )
    message.set(ENTITIES, entities or [], add_to_output=True)
    return message


def _run(resolver: NeighbourResolver, message: Message) -> Message:
    return resolver.process([message])[0]


def test_a_close_neighbour_gives_its_intent_and_service(resolver: NeighbourResolver) -> None:
    out = _run(resolver, _message("宝宝几个月能办护照啊"))
    assert out.get(INTENT)["name"] == "ask_documents"
    assert out.get(INTENT)["confidence"] > 0.5  # above FallbackClassifier's threshold
    assert out.get(INTENT_RANKING_KEY)[0]["name"] == "ask_documents"
    assert out.get("neighbour")["from_intent"] == "nlu_fallback"
    assert [e["value"] for e in out.get(ENTITIES) if e["entity"] == "service"] == ["passport"]


def test_the_named_service_is_kept(resolver: NeighbourResolver) -> None:
    named = {"entity": "service", "value": "hk_macau_permit", "start": 0, "end": 5}
    out = _run(resolver, _message("港澳通行证照片可以自己带吗", entities=[named]))
    assert out.get(INTENT)["name"] == "ask_photo"
    assert [e["value"] for e in out.get(ENTITIES) if e["entity"] == "service"] == [
        "hk_macau_permit"
    ]


def test_traditional_script_finds_the_same_neighbour(resolver: NeighbourResolver) -> None:
    assert _run(resolver, _message("護照照片可以自己帶嗎")).get(INTENT)["name"] == "ask_photo"


@pytest.mark.parametrize(
    "text",
    [
        "今天天气怎么样呢",  # nearest is out_of_scope: left alone
        "北京有什么好吃的餐厅",
        "好的好的",  # a form answer is never given
        "帮我约明天上午吧",  # nor a booking
        "量子力学的基本原理",  # nothing close
        "台湾通行证要多",  # two intents equally close: the fallback asks
    ],
)
def test_no_close_knowledge_neighbour_leaves_the_fallback(
    resolver: NeighbourResolver, text: str
) -> None:
    out = _run(resolver, _message(text))
    assert out.get(INTENT)["name"] == "nlu_fallback"
    assert out.get("neighbour") is None


def test_a_named_subject_lowers_the_similarity_needed(tmp_path: Path) -> None:
    config = {**CONFIG, "min_similarity": 0.9, "subject_similarity": 0.5}
    storage = LocalModelStorage(tmp_path)
    component = NeighbourResolver.create(config, storage, Resource("s"), _context())
    component.train(TrainingData([Message(data={TEXT: t, INTENT: i}) for t, i in EXAMPLES]))
    bare = component.process([_message("港澳通行证照片可以自己带吗")])[0]
    assert bare.get(INTENT)["name"] == "nlu_fallback"  # not close enough without a subject
    named = {"entity": "service", "value": "hk_macau_permit", "start": 0, "end": 5}
    with_subject = component.process([_message("港澳通行证照片可以自己带吗", entities=[named])])[0]
    assert with_subject.get(INTENT)["name"] == "ask_photo"


def test_a_confident_intent_is_not_replaced(resolver: NeighbourResolver) -> None:
    out = _run(resolver, _message("护照照片可以自己带吗", intent="ask_documents", confidence=0.8))
    assert out.get(INTENT)["name"] == "ask_documents"


def test_emergencies_and_the_ask_band_are_never_replaced(resolver: NeighbourResolver) -> None:
    found = {"entity": "emergency_type", "value": "bereavement", "start": 0, "end": 2}
    out = _run(resolver, _message("护照照片可以自己带吗", entities=[found]))
    assert out.get(INTENT)["name"] == "nlu_fallback"
    asked = _message("护照照片可以自己带吗", intent="emergency_unsure", confidence=0.6)
    assert _run(resolver, asked).get(INTENT)["name"] == "emergency_unsure"
    flagged = _message("护照照片可以自己带吗")
    flagged.set("emergency_ask", {"category": "bereavement"}, add_to_output=True)
    assert _run(resolver, flagged).get(INTENT)["name"] == "nlu_fallback"


def test_out_of_scope_is_looked_up_only_with_a_subject(resolver: NeighbourResolver) -> None:
    bare = _message("护照照片可以自己带吗", intent="out_of_scope", confidence=0.7)
    assert _run(resolver, bare).get(INTENT)["name"] == "out_of_scope"
    named = {"entity": "service", "value": "passport", "start": 0, "end": 2}
    anchored = _message("护照照片可以自己带吗", intent="out_of_scope", entities=[named])
    assert _run(resolver, anchored).get(INTENT)["name"] == "ask_photo"


@pytest.mark.parametrize("text", ["", "   ", "？？？", "\x00\x01", "a" * 5000])
def test_bad_input_never_crashes(resolver: NeighbourResolver, text: str) -> None:
    out = _run(resolver, _message(text))
    assert out.get(INTENT)["name"] in {"nlu_fallback", *KNOWLEDGE}


def test_the_model_holds_the_examples(tmp_path: Path) -> None:
    """Trained state is in the model storage: loading needs no data file."""
    storage = LocalModelStorage(tmp_path)
    resource = Resource("n")
    NeighbourResolver.create(CONFIG, storage, resource, _context()).train(
        TrainingData([Message(data={TEXT: "护照多少钱", INTENT: "ask_fee"})])
    )
    loaded = NeighbourResolver.load(CONFIG, storage, resource, _context())
    assert loaded.state["examples"][0]["service"] == "passport"


def test_index_helpers() -> None:
    assert fold("護照，多少錢？") == "护照 多少钱"
    examples = examples_from(
        [("护照多少钱", "ask_fee"), ("护照多少钱！", "ask_documents"), ("", "x")]
    )
    assert examples == [Example("护照多少钱", "ask_fee")]  # first label of a text wins
    index = NeighbourIndex(examples, Settings(0.5, 0.1, frozenset({"ask_fee"})))
    assert index.best("护照多少钱啊").intent == "ask_fee"
    assert NeighbourIndex([], Settings(0.5, 0.1, frozenset())).best("护照") is None
    with pytest.raises(ValueError):
        Settings.from_config({"intents": "ask_fee"})
