"""One entry point for both servers, so both mask personal data in their logs.

`python -m bot.serve run|shell|actions|migrate [args]` wraps the rasa and rasa_sdk
command lines with the project's endpoints, credentials and log masking.
"""
from __future__ import annotations

import sys
from typing import List


def _install_masking() -> None:
    from bot.privacy import install_log_masking

    install_log_masking()


def _check_knowledge_base() -> None:
    """Load and validate data/kb now: a schema error stops the server with file and key."""
    from bot.kb import KBError, get_kb
    from bot.kb.emergency import get_emergency_kb

    try:
        get_kb()
        get_emergency_kb()
    except KBError as exc:
        raise SystemExit(f"知识库文件有误 (knowledge base error): {exc}")


def _rasa(args: List[str]) -> None:
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]
    rasa_main()


def main(argv: List[str]) -> None:
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    _install_masking()
    if command == "migrate":
        from bot.booking.db import migrate

        migrate()
    elif command == "actions":
        _check_knowledge_base()
        _rasa(["run", "actions", "--actions", "actions", *rest])
    elif command == "run":
        _check_knowledge_base()
        _rasa(
            ["run", "--enable-api", "--cors", "*", "--endpoints", "endpoints.yml",
             "--credentials", "credentials.yml", *rest]
        )
    elif command == "shell":
        _rasa(["shell", "--endpoints", "endpoints.yml", *rest])
    else:
        raise SystemExit(f"unknown command {command!r}; use run, shell, actions or migrate")


if __name__ == "__main__":
    main(sys.argv[1:])
