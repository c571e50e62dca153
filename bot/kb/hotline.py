"""The 12367 immigration service hotline, as the knowledge base states it.

Every reply that names the hotline takes it from here, so the number is written once, in
data/kb/emergency.yml (`hotline`), with its source; notices.yml's `hotline` is the fallback
while the emergency file cannot be read.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def hotline_number() -> str:
    """The number alone ("12367"), for sentences that word the line themselves."""
    try:
        from bot.kb.emergency import get_emergency_kb

        hotline = get_emergency_kb().hotline
        return hotline.extra.get("number") or hotline.text
    except Exception:  # the KB is validated at start-up; a reply is not worth a crash
        logger.exception("emergency KB unavailable: hotline taken from notices.yml")
        from bot.kb import get_kb

        return get_kb().notices["hotline"]


def hotline_text() -> str:
    """The line as the KB words it ("12367移民管理服务热线（7×24小时，中英文）")."""
    try:
        from bot.kb.emergency import get_emergency_kb

        return get_emergency_kb().hotline.text
    except Exception:
        logger.exception("emergency KB unavailable: hotline number only")
        return hotline_number()
