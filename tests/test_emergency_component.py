"""bot.nlu.emergency.EmergencyDetector as Rasa runs it: train → persist → load → process.

No DIET here: messages carry a hand-written intent and ranking, as DIET would leave them.
(Model-level figures come from the trained model; see scripts/eval.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.kb.emergency import KBError
from bot.nlu.emergency import EmergencyDetector

ROOT = Path(__file__).resolve().parents[1]
KB_FILE = ROOT / "data" / "kb" / "emergency.yml"


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Train once with a copy of the KB file, then delete the copy: the model must not need it."""
    work = tmp_path_factory.mktemp("emergency_model")
    patterns = work / "emergency.yml"
    shutil.copy(KB_FILE, patterns)
    (work / "storage").mkdir()
    storage = LocalModelStorage(work / "storage")
    resource = Resource("emergency_detector")
    config = {**EmergencyDetector.get_default_config(), "patterns_path": str(patterns)}
    component = EmergencyDetector.create(config, storage, resource, _context())
    component.train(TrainingData())
    patterns.unlink()
    loaded = EmergencyDetector.load(config, storage, resource, _context())
    return {"component": loaded, "config": config, "storage": storage, "resource": resource}


def _message(
    text: str,
    intent: str = "ask_documents",
    confidence: float = 0.6,
    ranking: Optional[List[Dict[str, Any]]] = None,
    full_text: Optional[str] = None,
) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        ranking
        or [{"name": intent, "confidence": confidence}, {"name": "ask_fee", "confidence": 0.3}],
        add_to_output=True,
    )
    message.set(ENTITIES, [], add_to_output=True)
    if full_text is not None:
        message.set("full_text", full_text)
    return message


def _emergency_entities(message: Message) -> List[Dict[str, Any]]:
    return [e for e in message.get(ENTITIES) or [] if e["entity"] == "emergency_type"]


def test_loaded_model_is_self_contained_and_detects(trained: Dict[str, Any]) -> None:
    message = _message("我爸在美国去世了，护照要带什么材料", intent="ask_documents", confidence=0.7)
    trained["component"].process([message])
    [entity] = _emergency_entities(message)
    assert entity["value"] == "bereavement"
    assert entity["extractor"] == "EmergencyDetector"
    assert message.get(TEXT)[entity["start"] : entity["end"]] == "去世"
    assert entity["confidence"] == entity["confidence_entity"] >= 0.6
    assert message.get(INTENT)["name"] == "report_emergency"
    output = message.as_dict(only_output_properties=True)
    assert output["emergency"]["category"] == "bereavement"
    assert output["emergency"]["original_intent"]["name"] == "ask_documents"
    assert {c["kind"] for c in output["emergency"]["cues"]} >= {"relative", "event"}
    ranking = output[INTENT_RANKING_KEY]
    assert ranking[0]["name"] == "report_emergency"
    assert ranking[0]["confidence"] - ranking[1]["confidence"] > 0.3


def test_fallback_classifier_after_it_keeps_the_emergency(trained: Dict[str, Any]) -> None:
    message = _message(
        "护照丢了，后天就要出国",
        intent="ask_documents",
        confidence=0.41,
        ranking=[
            {"name": "ask_documents", "confidence": 0.41},
            {"name": "ask_fee", "confidence": 0.40},
        ],
    )
    trained["component"].process([message])
    fallback = FallbackClassifier.create(
        {**FallbackClassifier.get_default_config(), "threshold": 0.5, "ambiguity_threshold": 0.05},
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        _context(),
    )
    fallback.process([message])
    assert message.get(INTENT)["name"] == "report_emergency"
    assert _emergency_entities(message)[0]["value"] == "document_lost"


def test_reads_the_untruncated_full_text(trained: Dict[str, Any]) -> None:
    full = "今天天气不错。" * 700 + "外婆在澳门过世了，要赶过去"
    truncated = full[:200] + " " + full[-200:-30]  # the cue is cut out of TEXT
    message = _message(truncated, intent="out_of_scope", full_text=full)
    trained["component"].process([message])
    [entity] = _emergency_entities(message)
    assert entity["value"] == "bereavement"
    assert full[entity["start"] : entity["end"]] == "过世"


def test_no_emergency_leaves_the_message_alone(trained: Dict[str, Any]) -> None:
    message = _message("下个月想去日本玩，护照怎么办", intent="travel_plan", confidence=0.9)
    before = message.as_dict(only_output_properties=True)
    trained["component"].process([message])
    assert _emergency_entities(message) == []
    assert "emergency" not in message.as_dict(only_output_properties=True)
    assert message.as_dict(only_output_properties=True) == before


def test_diet_emergency_without_a_finding_is_demoted(trained: Dict[str, Any]) -> None:
    """The contract: no entity, no emergency; the intent must agree with it."""
    message = _message(
        "下个月去香港签个合同",
        intent="report_emergency",
        confidence=0.55,
        ranking=[
            {"name": "report_emergency", "confidence": 0.55},
            {"name": "travel_plan", "confidence": 0.4},
        ],
    )
    trained["component"].process([message])
    assert _emergency_entities(message) == []
    assert message.get(INTENT)["name"] == "travel_plan"
    assert message.as_dict(only_output_properties=True)["emergency_rejected"]["demoted_intent"][
        "name"
    ] == ("report_emergency")


def test_diet_emergency_lifts_a_borderline_finding(trained: Dict[str, Any]) -> None:
    message = _message(
        "日本地震了，要赶过去",
        intent="report_emergency",
        confidence=0.95,
        ranking=[{"name": "report_emergency", "confidence": 0.95}],
    )
    trained["component"].process([message])
    assert _emergency_entities(message)[0]["value"] == "overseas_incident"


@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00", "🙂" * 300, "急" * 20_000],
    ids=["empty", "space", "nul", "emoji", "huge"],
)
def test_bad_input_is_processed_without_error(trained: Dict[str, Any], text: str) -> None:
    message = _message(text)
    trained["component"].process([message])
    assert _emergency_entities(message) == []


def test_fingerprint_follows_the_patterns_file(tmp_path: Path) -> None:
    copy = tmp_path / "emergency.yml"
    shutil.copy(KB_FILE, copy)
    config = {"patterns_path": str(copy)}
    first = EmergencyDetector.fingerprint_addon(config)
    copy.write_text(copy.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert first and EmergencyDetector.fingerprint_addon(config) != first
    assert (
        EmergencyDetector.fingerprint_addon({"patterns_path": str(tmp_path / "missing.yml")})
        is None
    )


def test_training_with_a_broken_kb_fails_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "emergency.yml"
    broken.write_text("kind: emergency\ndetector: {}\n", encoding="utf-8")
    (tmp_path / "s").mkdir()
    component = EmergencyDetector.create(
        {"patterns_path": str(broken)}, LocalModelStorage(tmp_path / "s"), Resource("x"), _context()
    )
    with pytest.raises(KBError):
        component.train(TrainingData())


# --------------------------------------------------------------------------- the ask band


def test_ask_band_routes_to_the_question_without_an_entity(trained: Dict[str, Any]) -> None:
    """A lowered finding: intent emergency_unsure, no emergency_type (the contract), and the
    original question kept for 不是."""
    message = _message(
        "假如下周要去香港签合同，签注还没办，明天就要出发", intent="ask_endorsement", confidence=0.8
    )
    trained["component"].process([message])
    assert _emergency_entities(message) == []
    output = message.as_dict(only_output_properties=True)
    assert output[INTENT]["name"] == "emergency_unsure"
    assert "emergency" not in output
    assert output["emergency_ask"]["category"] == "contract_signing"
    assert output["emergency_ask"]["original_intent"]["name"] == "ask_endorsement"
    assert output["emergency_ask"]["blocked_by"][0]["rule"] == "hypothetical"


def test_ask_band_survives_the_fallback_classifier(trained: Dict[str, Any]) -> None:
    message = _message("唉，刚去世了", intent="out_of_scope", confidence=0.4)
    trained["component"].process([message])
    FallbackClassifier.create(
        {**FallbackClassifier.get_default_config(), "threshold": 0.5, "ambiguity_threshold": 0.05},
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        _context(),
    ).process([message])
    assert message.get(INTENT)["name"] == "emergency_unsure"


def test_diet_unsure_without_a_finding_is_demoted(trained: Dict[str, Any]) -> None:
    message = _message(
        "护照照片有什么要求",
        intent="emergency_unsure",
        confidence=0.6,
        ranking=[
            {"name": "emergency_unsure", "confidence": 0.6},
            {"name": "ask_photo", "confidence": 0.3},
        ],
    )
    trained["component"].process([message])
    assert message.get(INTENT)["name"] == "ask_photo"
    assert "emergency_ask" not in message.as_dict(only_output_properties=True)


def test_the_learned_detector_is_stored_in_the_model(trained: Dict[str, Any]) -> None:
    with trained["storage"].read_from(trained["resource"]) as directory:
        assert (Path(directory) / "learned.joblib").exists()
    assert trained["component"]._learned is not None
    # English wording the rules alone only half read: the combination detects it.
    message = _message("my son is missing in Cambodia 联系不上了 要过去", intent="out_of_scope")
    trained["component"].process([message])
    assert _emergency_entities(message)[0]["value"] == "overseas_incident"


def test_fingerprint_follows_the_labelled_sentences(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.yml"
    labelled.write_text("version: 1\nexamples: []\n", encoding="utf-8")
    config = {"patterns_path": str(KB_FILE), "training_path": str(labelled)}
    first = EmergencyDetector.fingerprint_addon(config)
    labelled.write_text(
        "version: 1\nexamples: [{text: 护照丢了后天走, label: document_lost}]\n", encoding="utf-8"
    )
    assert EmergencyDetector.fingerprint_addon(config) != first
