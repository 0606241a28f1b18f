"""structlog set-up shared by every role. Log UIDs and hashes, never patient data."""

from __future__ import annotations

import hashlib
import logging
import sys

import structlog


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # pynetdicom logs every PDU at INFO; its DEBUG output can include dataset values.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def phi_hash(value: object) -> str:
    """A short stable hash for correlating a patient-identifying value without revealing it."""
    return hashlib.sha256(str(value).encode("utf-8", "surrogateescape")).hexdigest()[:16]
