"""Logs as JSON lines (PROV_LOG_FORMAT=json): one object per request (api.observe writes them
to the `prov.access` logger) and uvicorn's own messages in the same shape, for a log shipper
to parse. The default (`text`) is uvicorn's usual output, as before.

What a line may hold is decided where it is written (api.observe.access_fields): never a
header, a request body or a query string, so no bearer token, admin token or signed record
reaches the logs; the database URL is never logged at all.
"""

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from ledger.errors import ConfigurationError

LOG_FORMAT_ENV = "PROV_LOG_FORMAT"
FORMATS = ("text", "json")
ACCESS_LOGGER = "prov.access"


def log_format_from_env() -> str:
    value = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() or "text"
    if value not in FORMATS:
        raise ConfigurationError(
            f"{LOG_FORMAT_ENV}={value!r} is not a log format: use 'text' (the default) or 'json'"
        )
    return value


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time (UTC, ISO 8601), level, logger, message, pid, and the
    record's `fields` (a dict passed as `extra={"fields": ...}`) merged in."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def uvicorn_log_config(log_format: str) -> dict[str, Any] | None:
    """uvicorn's `log_config` for `log_format`: None keeps uvicorn's default (text)."""
    if log_format != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"handlers": [], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # Its lines carry the query string; api.observe writes ours instead.
            "uvicorn.access": quiet,
            "prov": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
    }
