"""LOG_FORMAT=json: one JSON object per log line, for log shippers; masking stays on.

Why: a log pipeline (Loki, Elasticsearch, a cloud logger) reads fields, not coloured text,
and a traceback on several lines becomes several unrelated records. Unset, the servers log
as Rasa and Sanic always did.

Each line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, and `exc` for a traceback.
The masking filter of bot.privacy has already rewritten the message and the traceback by the
time a handler formats a record; the formatter masks them once more (mask_text is
idempotent), so a handler that some library adds without the filter cannot print a clear ID
number or phone either.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from bot.privacy import LOGGER_NAMES, mask_text

__all__ = ["JsonFormatter", "install_log_format"]


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON with the ID numbers and phones masked."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003 - logging API name
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = mask_text(record.exc_text)
        if record.stack_info:
            line["stack"] = mask_text(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def _handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(name) for name in LOGGER_NAMES]
    loggers += [
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    seen: list[logging.Handler] = []
    for logger in loggers:
        for handler in logger.handlers:
            if handler not in seen:
                seen.append(handler)
    return seen


def install_log_format(log_format: str) -> bool:
    """With "json", every existing handler writes JSON lines (a stderr handler is added
    when the root logger has none). Call it after Rasa and Sanic configured their logging.
    Returns whether JSON is on."""
    if log_format != "json":
        return False
    formatter = JsonFormatter()
    root = logging.getLogger()
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        root.addHandler(logging.StreamHandler(sys.stderr))  # levels stay as they were
    for handler in _handlers():
        if handler.formatter is None or not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(formatter)
    return True
