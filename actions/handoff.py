"""Hand-over to staff: a case in the queue (bot.handoff), the place in it and the wait.

Triggers: 转人工 / 找工作人员 (intent request_human, also the button the booking forms offer
after three failed tries and the green channel's button), two misunderstood messages in a
row (action_default_fallback below) and an emergency message that asks for a person
(bot/handoff/relay.py runs this action after the green channel).

Outside office hours (the halls' sessions on working days, bot/handoff/hours.py) the
citizen is told when staff answer and given the 12367 hotline. When the queue's database
cannot be reached, the old answer is given: the hotline and the halls' phone numbers. When
the queue refuses a new case (too many from this client address in the last hour, or too
many waiting: decided by bot.handoff.queue on the server), the citizen is told so, with the
hotline: never silence.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.booking.format import fmt_day, hhmm
from bot.handoff import config
from bot.handoff.hours import is_staffed, local_now, next_opening
from bot.handoff.queue import HandoffQueue, HandoffUnavailable
from bot.handoff.summary import FALLBACK_INTENT, build_summary, detect_emergency, detect_reason
from bot.inputs import client_key_of
from bot.kb import get_kb
from bot.kb.hotline import hotline_number
from bot.wording import label

logger = logging.getLogger(__name__)

WECHAT_CHANNEL = "wechat"
#: How many of the latest user messages are looked at for "two fallbacks in a row".
FALLBACK_WINDOW = 3
#: What a refused citizen reads, by bot.handoff.queue's reason.
REFUSAL_RESPONSES = {
    "client_limit": "utter_handoff_limited",
    "queue_full": "utter_handoff_queue_full",
}


def _phone_list_reply(dispatcher: CollectingDispatcher) -> None:
    """The hand-over without a queue: the hotline and every hall's number."""
    kb = get_kb()
    line, unset = label("handoff_hall"), kb.notice("not_configured")
    halls = "".join(
        line.replace("{name}", hall.name).replace("{phone}", hall.phone.display(unset)) + "\n"
        for hall in kb.halls.values()
    )
    dispatcher.utter_message(response="utter_handoff", hotline=hotline_number(), halls=halls)


def _opens_text(moment: Any) -> tuple[str, str]:
    """(Chinese, English) wording of when staff answer again: the day and the time."""
    if moment is None:
        return "", ""
    return f"{fmt_day(moment.date())} {hhmm(moment.time())}", moment.strftime("%a %d %b %H:%M")


def open_handoff(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: Optional[str] = None,
    queue: Optional[HandoffQueue] = None,
) -> List[EventType]:
    """Queue the conversation (or find its open case) and tell the citizen where they stand."""
    channel = tracker.get_latest_input_channel() or "rest"
    if channel == WECHAT_CHANNEL and config.wechat_transfer():
        # bot.channels.wechat answers this with WeChat's transfer_customer_service reply.
        dispatcher.utter_message(json_message={"wechat_transfer": True})
        return [SlotSet("handoff_requested", True)]
    slots: Dict[str, Any] = dict(tracker.slots or {})
    events = list(tracker.events or [])
    emergency = detect_emergency(slots, events)
    why = reason or detect_reason(events, emergency)
    language = str(slots.get("language") or "zh")
    summary = build_summary(
        slots=slots,
        events=events,
        reason=why,
        emergency=emergency,
        channel=channel,
        language=language,
    )
    try:
        opened = (queue or HandoffQueue()).open_case(
            sender_id=tracker.sender_id,
            channel=channel,
            reason=why,
            summary=summary,
            emergency=emergency,
            topic=summary.get("topic"),
            language=language,
            # stamped by the channel on the server (bot.inputs.stamp_client), never the client's
            client_key=client_key_of(events),
        )
    except HandoffUnavailable:
        _phone_list_reply(dispatcher)
        return [SlotSet("handoff_requested", True)]
    if opened.refused is not None:
        dispatcher.utter_message(
            response=REFUSAL_RESPONSES[opened.refused], hotline=hotline_number()
        )
        return []
    now = local_now()
    if not is_staffed(now):
        opens, opens_en = _opens_text(next_opening(now))
        dispatcher.utter_message(
            response="utter_handoff_queued_closed",
            opens=opens,
            opens_en=opens_en,
            hotline=hotline_number(),
        )
    else:
        response = "utter_handoff_queued_emergency" if opened.priority else "utter_handoff_queued"
        dispatcher.utter_message(
            response=response,
            position=opened.position,
            wait_minutes=opened.position * config.minutes_per_case(),
        )
    if opened.token:
        # The web chat polls /webchat/handoff with this token for staff replies.
        dispatcher.utter_message(json_message={"handoff": {"token": opened.token}})
    return [SlotSet("handoff_requested", True)]


class ActionHandoff(Action):
    """转人工: a case in the queue, with a masked summary; the place and the expected wait."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        return open_handoff(dispatcher, tracker)


class ActionEndHandoff(Action):
    """结束人工: closes the conversation's open case; the assistant answers again."""

    def name(self) -> Text:
        return "action_end_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        channel = tracker.get_latest_input_channel() or "rest"
        try:
            closed = HandoffQueue().close_by_citizen(tracker.sender_id, channel)
        except HandoffUnavailable:
            closed = False
        dispatcher.utter_message(
            response="utter_handoff_ended" if closed else "utter_handoff_none_open"
        )
        return [SlotSet("handoff_requested", False)] if closed else []


def fallbacks_in_a_row(tracker: Tracker) -> bool:
    """The latest message and one of the two before it were not understood (nlu_fallback):
    what Rasa's two-stage fallback calls giving up. A blank message (a send pressed by
    mistake) is not a misunderstanding: it is answered with the help text, never queued."""
    intents: List[Optional[str]] = []
    for event in reversed(list(tracker.events or [])):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user":
            if not str(event.get("text") or "").strip():
                if not intents:
                    return False
                continue
            intents.append(((event.get("parse_data") or {}).get("intent") or {}).get("name"))
            if len(intents) == FALLBACK_WINDOW:
                break
    return bool(intents) and intents[0] == FALLBACK_INTENT and intents.count(FALLBACK_INTENT) >= 2


class ActionDefaultFallback(Action):
    """Rasa's default fallback, overridden: after two misunderstood messages in a row the
    conversation goes to staff; otherwise the help text (utter_default), as before. The
    user message is reverted either way, as Rasa's own action does."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if not fallbacks_in_a_row(tracker):
            dispatcher.utter_message(response="utter_default")
            return [UserUtteranceReverted()]
        dispatcher.utter_message(response="utter_handoff_after_fallbacks")
        return [*open_handoff(dispatcher, tracker, reason="fallbacks"), UserUtteranceReverted()]
