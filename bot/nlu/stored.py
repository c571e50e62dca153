"""Base for NLU components whose whole trained state is one JSON document in the model.

The vocabulary extractor, the emergency detector and the unknown-words guard each read
something at train time (a KB file, the training words) and must answer the same way later,
whatever happens to data/. This class does the storing, loading and fingerprinting once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Text, Type, TypeVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

STATE_FILE = "state.json"
C = TypeVar("C", bound="StoredStateComponent")


class StoredStateComponent(GraphComponent):
    """Subclasses call `self.store(state)` in train() and read `self.state` afterwards."""

    #: Config key naming a file read at train time; its hash joins the fingerprint so that
    #: `rasa train` retrains the component when that file changes but the NLU data did not.
    source_config_key: Optional[str] = None

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        state: Any = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self.state = state

    @classmethod
    def create(
        cls: Type[C],
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> C:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls: Type[C],
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> C:
        with model_storage.read_from(resource) as directory:
            state = json.loads((Path(directory) / STATE_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, state)

    def store(self, state: Any) -> Resource:
        """Keep `state` in memory and in the model."""
        self.state = state
        with self._storage.write_to(self._resource) as directory:
            (Path(directory) / STATE_FILE).write_text(
                json.dumps(state, ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        if not cls.source_config_key:
            return None
        path = Path(
            config.get(cls.source_config_key) or cls.get_default_config()[cls.source_config_key]
        )
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None
