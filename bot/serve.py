"""One entry point for both servers, so both start closed, checked and with masked logs.

`python -m bot.serve run|shell|actions|migrate [args]` wraps the rasa command lines with the
project's endpoints, credentials, log masking and the patches of bot.rasa_patches.

Closed by default: both servers listen on BIND_HOST (127.0.0.1 unless set), no CORS origin
is allowed unless CORS_ORIGINS names it, and Rasa's HTTP API (/model/*, /conversations/*) is
off unless RASA_AUTH_TOKEN is set, in which case every API call needs `?token=…`. The REST
channel, the web chat, the guide console and WeChat do not use that API. With
APP_ENV=production both servers refuse to start with any development secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List

from bot import rasa_patches
from bot.kb import KBError, get_kb
from bot.kb.emergency import get_emergency_kb
from bot.privacy import install_log_masking
from bot.settings import get_settings, production_problems

# Each command imports the server it runs inside its own function: `migrate` needs neither
# Rasa nor rasa_sdk, `actions` never loads Rasa (and its TensorFlow), `run` never rasa_sdk.

LOOPBACK = "127.0.0.1"


def _check_configuration() -> None:
    """Stop with a clear message on a knowledge-base error or a development secret in
    production."""
    problems = production_problems(get_settings())
    if problems:
        raise SystemExit("APP_ENV=production refuses to start: " + "; ".join(problems))
    try:
        get_kb()
        get_emergency_kb()
    except KBError as exc:
        raise SystemExit(f"知识库文件有误 (knowledge base error): {exc}")


def _check_workers() -> None:
    """Several Sanic workers only with the Redis lock store.

    Rasa allows SANIC_WORKERS > 1 with any custom lock store, and bot.stores.EnvLockStore is
    one even when it falls back to the in-memory lock, which each worker would hold on its
    own: two messages of one citizen could then run at once and interleave their events.
    """
    workers = (os.environ.get("SANIC_WORKERS") or "1").strip()
    if workers not in ("", "1") and not get_settings().redis_url:
        raise SystemExit(
            f"SANIC_WORKERS={workers} needs REDIS_URL: without the Redis lock store "
            "the workers cannot keep one citizen's messages in order"
        )


def _rasa(args: List[str]) -> None:
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]
    rasa_main()


def rasa_run_args(rest: List[str]) -> List[str]:
    """The `rasa run` arguments for this deployment; arguments given by the caller win."""
    settings = get_settings()
    args = ["run", "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"]
    if not {"-i", "--interface"} & set(rest):
        args += ["--interface", settings.bind_host]
    if settings.rasa_auth_token:
        # argv of this process only (sys.argv), never a child's command line.
        args += ["--enable-api", "--auth-token", settings.rasa_auth_token]
    if settings.cors_origins:
        args += ["--cors", *settings.cors_origins]
    opened = {"--enable-api", "--cors", "--auth-token"} & set(rest)
    if opened:
        raise SystemExit(
            f"{', '.join(sorted(opened))}: set RASA_AUTH_TOKEN or CORS_ORIGINS instead, so the "
            "API is never open without a token"
        )
    return args + rest


def _actions(rest: List[str]) -> None:
    from bot.action_server import serve

    parser = argparse.ArgumentParser(prog="bot.serve actions")
    parser.add_argument("--port", "-p", type=int, default=5055)
    parser.add_argument("--host", default=None)
    options, _unknown = parser.parse_known_args(rest)
    serve(options.port, options.host)


def main(argv: List[str]) -> None:
    """`python -m bot.serve COMMAND [args]`: run, shell, actions or migrate (default: run)."""
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    install_log_masking()
    if command == "migrate":
        from bot.booking import migrate

        migrate()  # every table of the store: booking, handoff, care, grid (one chain)
    elif command == "actions":
        _check_configuration()
        _actions(rest)
    elif command == "run":
        _check_configuration()
        _check_workers()
        rasa_patches.install()
        _rasa(rasa_run_args(rest))
    elif command == "shell":
        rasa_patches.install()
        _rasa(["shell", "--endpoints", "endpoints.yml", "--interface", LOOPBACK, *rest])
    else:
        raise SystemExit(f"unknown command {command!r}; use run, shell, actions or migrate")


if __name__ == "__main__":
    main(sys.argv[1:])
