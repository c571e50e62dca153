"""The handoff's settings, from the environment, read here so the feature owns them.

- `WECHAT_HANDOFF`: `queue` (default) puts WeChat citizens in the console's queue like
  everyone else; `transfer` answers a WeChat hand-over with the platform's own
  transfer_customer_service reply (wechatpy's TransferCustomerServiceReply), for accounts
  whose customer-service agents work in WeChat's own tools.
- `HANDOFF_MINUTES_PER_CASE`: minutes one case takes, for the expected wait (default 5).

WeChat's API host (WECHAT_API_BASE_URL) is read in one place for every sender:
bot.channels.wechat.wechat_api_base.
"""

from __future__ import annotations

import os
from typing import Mapping

DEFAULT_MINUTES_PER_CASE = 5
WECHAT_TRANSFER = "transfer"


def wechat_transfer(environ: Mapping[str, str] = os.environ) -> bool:
    """True when WeChat hand-overs use WeChat's transfer reply instead of the queue."""
    return (environ.get("WECHAT_HANDOFF") or "").strip().lower() == WECHAT_TRANSFER


def minutes_per_case(environ: Mapping[str, str] = os.environ) -> int:
    """Minutes per case ahead in the queue; a bad value falls back to the default."""
    try:
        value = int((environ.get("HANDOFF_MINUTES_PER_CASE") or "").strip())
    except ValueError:
        return DEFAULT_MINUTES_PER_CASE
    return value if 0 < value <= 240 else DEFAULT_MINUTES_PER_CASE
