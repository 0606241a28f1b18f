"""structlog set-up shared by every role. Log UIDs and hashes, never patient data.

One format for every record: structlog's own events and the standard-library records of Celery,
uvicorn, alembic, kombu and Python's warnings all go through one root handler whose
``ProcessorFormatter`` renders them alike, as JSON lines with ``json=True`` (``AXIOM_LOG_JSON``).
Each carries the correlation id bound in the context where there is one (an instance being
ingested or routed, an HTTP request, a Celery task: workers/log_context.py).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

import structlog

_HANDLER_MARK = "_axiom_handler"


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def log_handler(*, json: bool = False, log_file: Path | None = None) -> logging.Handler:
    """The root handler: stderr, or ``log_file`` (appended to) when given."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(level: str = "INFO", *, json: bool = False, log_file: Path | None = None) -> None:
    """Route every record of this process through one structlog formatter (idempotent)."""
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(log_handler(json=json, log_file=log_file))
    root.setLevel(numeric)
    # Python's warnings (a library's DeprecationWarning, Celery's SecurityWarning) become records too.
    logging.captureWarnings(True)
    # pynetdicom logs every PDU at INFO; its DEBUG output can include dataset values.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def phi_hash(value: object) -> str:
    """A short stable hash for correlating a patient-identifying value without revealing it."""
    return hashlib.sha256(str(value).encode("utf-8", "surrogateescape")).hexdigest()[:16]
