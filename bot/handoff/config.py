"""The handoff's settings, from the environment, read here so the feature owns them.

- `WECHAT_HANDOFF`: `queue` (default) puts WeChat citizens in the console's queue like
  everyone else; `transfer` answers a WeChat hand-over with the platform's own
  transfer_customer_service reply (wechatpy's TransferCustomerServiceReply), for accounts
  whose customer-service agents work in WeChat's own tools.
- `HANDOFF_MINUTES_PER_CASE`: minutes one case takes, for the expected wait (default 5).
- `HANDOFF_CASES_PER_CLIENT`: new cases one client address may open per hour (default 3),
  however many sender ids it uses; the conversation's own open case is always found again.
- `HANDOFF_MAX_WAITING`: waiting cases beyond which no new case is queued (default 200), so
  a flood from many addresses cannot bury the citizens already waiting.

WeChat's API host (WECHAT_API_BASE_URL) is read in one place for every sender:
bot.channels.wechat.wechat_api_base.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Mapping

DEFAULT_MINUTES_PER_CASE = 5
DEFAULT_CASES_PER_CLIENT = 3
DEFAULT_MAX_WAITING = 200
#: The window HANDOFF_CASES_PER_CLIENT counts in.
CLIENT_WINDOW = timedelta(hours=1)
WECHAT_TRANSFER = "transfer"


def wechat_transfer(environ: Mapping[str, str] = os.environ) -> bool:
    """True when WeChat hand-overs use WeChat's transfer reply instead of the queue."""
    return (environ.get("WECHAT_HANDOFF") or "").strip().lower() == WECHAT_TRANSFER


def _bounded(environ: Mapping[str, str], name: str, default: int, highest: int) -> int:
    """A positive whole number up to `highest`; unset or a bad value gives the default."""
    try:
        value = int((environ.get(name) or "").strip())
    except ValueError:
        return default
    return value if 0 < value <= highest else default


def minutes_per_case(environ: Mapping[str, str] = os.environ) -> int:
    """Minutes per case ahead in the queue; a bad value falls back to the default."""
    return _bounded(environ, "HANDOFF_MINUTES_PER_CASE", DEFAULT_MINUTES_PER_CASE, 240)


def cases_per_client(environ: Mapping[str, str] = os.environ) -> int:
    """New cases one client address may open within CLIENT_WINDOW."""
    return _bounded(environ, "HANDOFF_CASES_PER_CLIENT", DEFAULT_CASES_PER_CLIENT, 10_000)


def max_waiting(environ: Mapping[str, str] = os.environ) -> int:
    """Waiting cases beyond which a new case is refused."""
    return _bounded(environ, "HANDOFF_MAX_WAITING", DEFAULT_MAX_WAITING, 100_000)
