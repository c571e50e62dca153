"""Settings from environment variables, with embedded defaults so `make run` needs no service.

Read lazily through `get_settings()` so tests can change the environment and call
`get_settings.cache_clear()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import overload

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
DATA_DIR = PROJECT_ROOT / "data"
KB_DIR = DATA_DIR / "kb"


#: Built-in development values. `make run` works with them on loopback; a production start
#: (APP_ENV=production) refuses every one of them, see `production_problems`.
DEV_ID_HASH_SECRET = "dev-only-id-hash-secret-change-me"
DEV_SEAL_SECRET = "dev-only-seal-secret-change-me"
DEV_WECHAT_TOKEN = "crj-dev-token"
#: Shortest secret accepted in production (API token, action-server token, keys).
MIN_SECRET_CHARS = 16
LOOPBACK_HOST = "127.0.0.1"


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
def _env(name: str, default: str | None = None) -> str | None:
    """The variable's value; unset and empty both mean the default."""
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
    seal_secret: str
    kb_dir: Path
    #: "production" switches on the refusal of development secrets.
    app_env: str
    #: Token of Rasa's HTTP API (/model/*, /conversations/*); unset: the API is off.
    rasa_auth_token: str | None
    #: Shared secret the Rasa server sends to the action server (header X-Action-Token).
    action_server_token: str | None
    #: Address both servers listen on; loopback unless a deployment says otherwise.
    bind_host: str
    #: Origins allowed to call the servers from a browser on another origin; none by default.
    cors_origins: tuple[str, ...]
    #: Seconds the Rasa server waits for one custom action before it answers "busy".
    action_timeout_seconds: float
    #: Events of recent conversations each Rasa process keeps in memory (0: none), so a
    #: turn does not re-read the whole conversation from the tracker store.
    tracker_cache_events: int
    #: Bearer token a scraper sends for GET /metrics; unset: loopback clients only.
    metrics_token: str | None = None
    #: "json": one JSON object per log line (bot.log_format); anything else: Rasa's format.
    log_format: str = "text"
    #: Proxies (addresses or networks) whose X-Forwarded-For names the client, besides
    #: loopback (bot.inputs.client_address): the nginx container's network in a deployment.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        """APP_ENV=production: development secrets are refused."""
        return self.app_env == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The deployment's settings, read once from the environment (cache_clear() re-reads)."""
    VAR_DIR.mkdir(exist_ok=True)
    return Settings(
        database_url=_env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'booking.db'}"),
        tracker_store_url=_env("TRACKER_STORE_URL", f"sqlite:///{VAR_DIR / 'tracker.db'}"),
        redis_url=_env("REDIS_URL"),
        action_endpoint=_env("ACTION_ENDPOINT", "http://127.0.0.1:5055/webhook"),
        wechat_token=_env("WECHAT_TOKEN", DEV_WECHAT_TOKEN),
        wechat_aes_key=_env("WECHAT_AES_KEY"),
        wechat_appid=_env("WECHAT_APPID"),
        wechat_appsecret=_env("WECHAT_APPSECRET"),
        # A development default so `make run` works; a deployment must set its own.
        id_hash_secret=_env("ID_HASH_SECRET", DEV_ID_HASH_SECRET),
        seal_secret=_env("SEAL_SECRET", DEV_SEAL_SECRET),
        kb_dir=Path(_env("KB_DIR", str(KB_DIR))),
        app_env=_env("APP_ENV", "development").strip().lower(),
        rasa_auth_token=_env("RASA_AUTH_TOKEN"),
        action_server_token=_env("ACTION_SERVER_TOKEN"),
        bind_host=_env("BIND_HOST", LOOPBACK_HOST),
        cors_origins=tuple(o for o in _env("CORS_ORIGINS", "").split(",") if o.strip()),
        action_timeout_seconds=float(_env("ACTION_TIMEOUT_SECONDS", "10")),
        tracker_cache_events=int(_env("TRACKER_CACHE_EVENTS", "50000")),
        metrics_token=_env("METRICS_TOKEN"),
        log_format=_env("LOG_FORMAT", "text").strip().lower(),
        trusted_proxies=tuple(
            p.strip() for p in _env("TRUSTED_PROXIES", "").split(",") if p.strip()
        ),
    )


def production_problems(settings: Settings) -> list[str]:
    """Why this configuration must not serve citizens in production; empty when it may.

    A development secret in production would let anyone who read this repository open the
    sealed ID numbers, forge WeChat messages or call the action server directly.
    """
    if not settings.is_production:
        return []
    problems = []
    required = {
        "ID_HASH_SECRET": (settings.id_hash_secret, DEV_ID_HASH_SECRET),
        "SEAL_SECRET": (settings.seal_secret, DEV_SEAL_SECRET),
        "WECHAT_TOKEN": (settings.wechat_token, DEV_WECHAT_TOKEN),
        "ACTION_SERVER_TOKEN": (settings.action_server_token, None),
    }
    for name, (value, dev_value) in required.items():
        if not value or value == dev_value:
            problems.append(f"{name} is not set (a development value is refused in production)")
        elif len(value) < MIN_SECRET_CHARS and name != "WECHAT_TOKEN":
            problems.append(f"{name} is shorter than {MIN_SECRET_CHARS} characters")
    for name, token in (
        ("RASA_AUTH_TOKEN", settings.rasa_auth_token),
        ("METRICS_TOKEN", settings.metrics_token),
    ):
        if token is not None and len(token) < MIN_SECRET_CHARS:
            problems.append(f"{name} is shorter than {MIN_SECRET_CHARS} characters")
    return problems
