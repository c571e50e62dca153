"""Settings from environment variables, with embedded defaults so `make run` needs no service.

Read lazily through `get_settings()` so tests can change the environment and call
`get_settings.cache_clear()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
DATA_DIR = PROJECT_ROOT / "data"
KB_DIR = DATA_DIR / "kb"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a deployment; no secrets are hard-coded for production."""

    database_url: str
    tracker_store_url: str
    redis_url: str | None
    action_endpoint: str
    wechat_token: str
    wechat_aes_key: str | None
    wechat_appid: str | None
    wechat_appsecret: str | None
    id_hash_secret: str
    kb_dir: Path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    VAR_DIR.mkdir(exist_ok=True)
    return Settings(
        database_url=_env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'booking.db'}"),
        tracker_store_url=_env("TRACKER_STORE_URL", f"sqlite:///{VAR_DIR / 'tracker.db'}"),
        redis_url=_env("REDIS_URL"),
        action_endpoint=_env("ACTION_ENDPOINT", "http://127.0.0.1:5055/webhook"),
        wechat_token=_env("WECHAT_TOKEN", "crj-dev-token"),
        wechat_aes_key=_env("WECHAT_AES_KEY"),
        wechat_appid=_env("WECHAT_APPID"),
        wechat_appsecret=_env("WECHAT_APPSECRET"),
        # A development default so `make run` works; a deployment must set its own.
        id_hash_secret=_env("ID_HASH_SECRET", "dev-only-id-hash-secret-change-me"),
        kb_dir=Path(_env("KB_DIR", str(KB_DIR))),
    )
