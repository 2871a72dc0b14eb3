"""Event logging: one line per event, as JSON (for log pipelines) or human-readable text.

Call sites log an event name plus fields (``app``, ``policy``, ``heal_id``, ...) through ``event()``;
the formatter decides the shape. Configured once by the CLI; never reads settings itself.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER = logging.getLogger("githeal")
_FIELDS = "githeal_fields"


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event. Fields with a None value are dropped."""
    clean = {k: v for k, v in fields.items() if v is not None}
    LOGGER.log(level, name, extra={_FIELDS: clean})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        out.update(getattr(record, _FIELDS, {}))
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = str(record.exc_info[1])
        return json.dumps(out, default=str, sort_keys=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = getattr(record, _FIELDS, {})
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        text = f"{ts} {record.levelname.lower():<7} {record.getMessage()}"
        return f"{text} {tail}" if tail else text


def configure(fmt: str = "text", level: str = "info", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
