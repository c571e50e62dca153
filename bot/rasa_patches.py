"""Small, tested changes to Rasa 3.6 behaviour, applied once where the Rasa server starts.

Why patches and not a fork: each fixes one behaviour that stock Rasa leaves to the bot, and
each is a wrapper around the original function, so an upgrade shows at once if it breaks.

- A custom action that fails or times out (action server down, a bug) made stock Rasa log
  the error and go on with no reply: REST answered `[]`, WeChat "success", the citizen got
  silence. Here the turn ends with the domain response `utter_system_busy`, and the slots
  that the failed form had not validated yet go back to their earlier values, so no
  unvalidated text stays in a slot. The form stays active: once the action server is back,
  the next message goes on where the conversation was.
- The Rasa server waits `ACTION_TIMEOUT_SECONDS` (10 s) for an action instead of 5 minutes.
- Every call to the action server carries the shared secret (header X-Action-Token) from
  the settings, so endpoints.yml needs no secret and no `${VAR}` that must always be set.
- The action server's answer is checked against Rasa's response schema with a validator
  built once: stock `jsonschema.validate()` re-checks the schema itself on every call, which
  was 40% of the Rasa server's CPU under load (py-spy, 2026-12-01).
- Calls to the action server reuse kept-alive connections (bot.keepalive) instead of a
  new session and TCP connection per call.
- The policies and the action server see `bot.tracker_window.recent_view(tracker)`: the
  state plus the last turns, not the whole history, so a turn does not get slower as the
  conversation grows. The processor keeps, and the tracker store saves, the full tracker.
- A tracker's copy (made before every action) and its applied events (read to check the
  session) are built from its state and from the events added since the last call
  (bot.tracker_state), not by replaying the whole conversation each time.
- The `language` slot (reply language, bot.language) is set from each user message right
  after slot extraction, before any action or response of the turn: the conditional
  English variations of the domain responses are chosen from it. Stock Rasa fills slots
  only from entities, intents or custom actions; an entity on every message would have to
  be annotated in every test story, and a custom action would cost a call per turn.
- A tracker store outage fails the turn (busy reply) instead of running it on an empty
  conversation kept in memory (bot.store_faults).
- While a human-handoff case is open, the citizen's messages go to the case and the bot
  stays quiet (bot.handoff.relay).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from bot import keepalive, store_faults
from bot.inputs import BUSY_RESPONSE

logger = logging.getLogger(__name__)

_installed = False


class _GuardedAction:
    """Runs the wrapped action; a failure becomes the busy reply instead of an exception."""

    def __init__(self, action: Any) -> None:
        self._action = action
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._action, name)

    async def run(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> List[Any]:
        from rasa.core.actions.action import ActionExecutionRejection

        try:
            return await self._action.run(output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except Exception as error:
            logger.exception("action %s failed; answering busy", self._action.name())
            from bot import metrics

            metrics.record_action_server_failure(self._action, self._action.name(), error)
            self.failed = True
            reply = await busy_utterance(nlg, tracker, output_channel)
            return [reply, *revert_unvalidated_slots(tracker, self._action.name())]


async def busy_utterance(nlg: Any, tracker: Any, output_channel: Any) -> Any:
    """The `utter_system_busy` response as a BotUttered event (plain text if NLG fails)."""
    from rasa.core.actions.action import create_bot_utterance
    from rasa.shared.core.events import BotUttered

    try:
        draft = await nlg.generate(BUSY_RESPONSE, tracker, output_channel.name())
    except Exception:
        draft = None
    if draft:
        draft["utter_action"] = BUSY_RESPONSE
        return create_bot_utterance(draft)
    from bot.inputs import busy_messages

    return BotUttered(text=busy_messages(None)[0]["text"])


def revert_unvalidated_slots(tracker: Any, action_name: str) -> List[Any]:
    """SlotSets that undo what was set since the latest user message, when a form failed.

    Only for the active form: its from_text candidates are set before the form's validation
    runs, so a failed validation would leave raw text in the slot.
    """
    from rasa.shared.core.events import SlotSet, UserUttered

    if tracker.active_loop_name != action_name:
        return []
    events = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if isinstance(e, UserUttered)), default=-1)
    before: Dict[str, Any] = {name: slot.initial_value for name, slot in tracker.slots.items()}
    for event in events[: last_user + 1]:
        if isinstance(event, SlotSet):
            before[event.key] = event.value
    changed = {e.key for e in events[last_user + 1 :] if isinstance(e, SlotSet)}
    changed.discard("requested_slot")
    return [SlotSet(name, before.get(name)) for name in sorted(changed)]


def _guard_run_action() -> None:
    from rasa.core.actions.action import ACTION_LISTEN_NAME
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import ActionExecuted

    original = MessageProcessor._run_action

    async def _run_action(
        self: Any, action: Any, tracker: Any, output_channel: Any, nlg: Any, prediction: Any
    ) -> bool:
        guarded = _GuardedAction(action)
        predict_more = await original(self, guarded, tracker, output_channel, nlg, prediction)
        if guarded.failed:
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            return False
        return predict_more

    _run_action.__wrapped__ = original  # type: ignore[attr-defined]
    MessageProcessor._run_action = _run_action


def _action_timeout(seconds: float) -> None:
    import rasa.core.actions.action as action_module

    action_module.DEFAULT_REQUEST_TIMEOUT = seconds


def _action_server_secret(token: Optional[str]) -> None:
    from rasa.core.utils import AvailableEndpoints

    from bot.action_server import TOKEN_HEADER

    original = AvailableEndpoints.read_endpoints.__func__

    def read_endpoints(cls: Any, endpoint_file: str) -> Any:
        endpoints = original(cls, endpoint_file)
        if token and endpoints.action is not None:
            endpoints.action.headers = {**(endpoints.action.headers or {}), TOKEN_HEADER: token}
        return endpoints

    AvailableEndpoints.read_endpoints = classmethod(read_endpoints)


def _validate_with_one_validator() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator = validator_for(schema)(schema)
    original = RemoteAction._validate_action_result

    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as error:
            error.message += ". Failed to validate Action server response from API."
            raise error
        return True

    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result


def _bounded_history() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor

    from bot.tracker_window import recent_view

    original_predict = MessageProcessor._predict_next_with_tracker
    original_call_format = RemoteAction._action_call_format

    def _predict_next_with_tracker(self: Any, tracker: Any) -> Any:
        if tracker.followup_action:  # answered without the policies; the original clears it
            return original_predict(self, tracker)
        return original_predict(self, recent_view(tracker))

    def _action_call_format(self: Any, tracker: Any, domain: Any) -> Dict[str, Any]:
        return original_call_format(self, recent_view(tracker), domain)

    _predict_next_with_tracker.__wrapped__ = original_predict  # type: ignore[attr-defined]
    _action_call_format.__wrapped__ = original_call_format  # type: ignore[attr-defined]
    MessageProcessor._predict_next_with_tracker = _predict_next_with_tracker
    RemoteAction._action_call_format = _action_call_format


def _tracker_without_replays() -> None:
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_state import cached_applied_events, structural_copy

    original_copy = DialogueStateTracker.copy
    original_applied = DialogueStateTracker.applied_events
    structural_copy.__wrapped__ = original_copy  # type: ignore[attr-defined]
    cached_applied_events.__wrapped__ = original_applied  # type: ignore[attr-defined]
    DialogueStateTracker.copy = structural_copy
    DialogueStateTracker.applied_events = cached_applied_events


def _language_slot() -> None:
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import SlotSet

    from bot.language import LANGUAGE_SLOT, detect_language

    original = MessageProcessor.run_action_extract_slots

    async def run_action_extract_slots(self: Any, output_channel: Any, tracker: Any) -> Any:
        tracker = await original(self, output_channel, tracker)
        if LANGUAGE_SLOT not in tracker.slots:
            return tracker  # a model trained without the slot
        latest = tracker.latest_message
        text = (latest.text or "") if latest is not None else ""
        language = None if text.startswith("/") else detect_language(text)  # buttons decide nothing
        if language is not None and tracker.get_slot(LANGUAGE_SLOT) != language:
            tracker.update(SlotSet(LANGUAGE_SLOT, language), self.domain)
        return tracker

    run_action_extract_slots.__wrapped__ = original  # type: ignore[attr-defined]
    MessageProcessor.run_action_extract_slots = run_action_extract_slots


def _observability() -> None:
    import time

    import rasa.core.run as run_module
    from rasa.core.actions.action import ActionDefaultFallback, RemoteAction
    from rasa.core.agent import Agent
    from rasa.core.processor import MessageProcessor

    from bot import metrics
    from bot.health import add_rasa_routes
    from bot.log_format import install_log_format
    from bot.settings import get_settings

    original_configure = run_module.configure_app
    original_handle = Agent.handle_message
    original_loop = MessageProcessor._run_prediction_loop
    original_fallback = ActionDefaultFallback.run
    original_remote = RemoteAction.run

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original_configure(*args, **kwargs)
        add_rasa_routes(app)
        app.register_listener(keepalive.close_sessions, "after_server_stop")
        install_log_format(get_settings().log_format)
        metrics.install_error_counter()
        return app

    async def handle_message(self: Any, message: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await original_handle(self, message)
        except BaseException:
            metrics.record_turn(message.input_channel, time.perf_counter() - started, failed=True)
            raise
        metrics.record_turn(message.input_channel, time.perf_counter() - started, failed=False)
        return result

    async def _run_prediction_loop(self: Any, output_channel: Any, tracker: Any) -> None:
        await original_loop(self, output_channel, tracker)
        metrics.observe_turn(tracker)

    async def default_fallback(self: Any, *args: Any, **kwargs: Any) -> Any:
        metrics.record_default_fallback()
        return await original_fallback(self, *args, **kwargs)

    async def remote_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The handoff's own action_default_fallback (actions/handoff.py) replaces the
        # built-in one, whether the rules predict it or the two-stage fallback gives up.
        if self.name() == metrics.FALLBACK_ACTION:
            metrics.record_default_fallback()
        return await original_remote(self, *args, **kwargs)

    default_fallback.__wrapped__ = original_fallback  # type: ignore[attr-defined]
    remote_run.__wrapped__ = original_remote  # type: ignore[attr-defined]
    configure_app.__wrapped__ = original_configure  # type: ignore[attr-defined]
    handle_message.__wrapped__ = original_handle  # type: ignore[attr-defined]
    _run_prediction_loop.__wrapped__ = original_loop  # type: ignore[attr-defined]
    run_module.configure_app = configure_app
    Agent.handle_message = handle_message
    MessageProcessor._run_prediction_loop = _run_prediction_loop
    ActionDefaultFallback.run = default_fallback
    RemoteAction.run = remote_run


def install() -> None:
    """Apply every patch once (idempotent)."""
    global _installed
    if _installed:
        return
    from bot.settings import get_settings

    settings = get_settings()
    _guard_run_action()
    _action_timeout(settings.action_timeout_seconds)
    _action_server_secret(settings.action_server_token)
    _validate_with_one_validator()
    keepalive.install()
    _bounded_history()
    _tracker_without_replays()
    _language_slot()
    _observability()
    store_faults.install()
    from bot.handoff import relay

    relay.install()
    _installed = True
