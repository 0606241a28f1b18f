"""The Celery application, built from Settings (never at import time).

Embedded: kombu's filesystem transport under the data dir, so Celery runs the work with no server.
Distributed: RabbitMQ with publisher confirms and priority queues, Redis results.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from axiom.config import Settings
from beat.schedule import beat_schedule
from workers import log_context
from workers.task_names import (
    GPU_QUEUE,
    QUEUES,
    TASK_INFER,
    TASK_POLL_SOURCE,
    TASK_PURGE_HEADERS,
    TASK_RECOVER_SPOOL,
    TASK_RETRY_DELIVERY,
    TASK_RETRY_SWEEP,
    TASK_SYNC_CROSSWALKS,
)

EXCHANGE = Exchange("axiom", type="direct", durable=True)
MAX_PRIORITY = 10


EMBEDDED_TRANSPORT = "workers.fs_transport:Transport"

TASK_MODULES = (
    "workers.tasks.process",
    "workers.tasks.retry",
    "workers.tasks.maintenance",
    "workers.tasks.crosswalks",
    "workers.tasks.completions",
    "workers.tasks.sources",
    "workers.tasks.inference",
)


def _transport_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded_broker:
        folder = str(settings.broker_dir / "queue")
        return {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(settings.broker_dir / "control"),
            # Where a consumer claims a message by rename (see workers/fs_transport.py).
            "processed_folder": str(settings.broker_dir / "processed"),
            "store_processed": False,
            # Each message is fsynced (with its folder) before the listener acknowledges.
            "fsync": settings.spool_fsync,
            "polling_interval": 0.05,
        }
    # The listener acknowledges a C-STORE only once the broker has confirmed the task.
    return {"confirm_publish": True}


def create_app(settings: Settings) -> Celery:
    settings.ensure_dirs()
    log_context.connect()  # Celery's records go through axiom.logging, with the correlation id
    app = Celery("axiom", broker=settings.effective_broker_url, backend=settings.effective_result_backend)
    if settings.embedded_broker:
        app.conf.broker_transport = EMBEDDED_TRANSPORT
    app.conf.update(
        include=list(TASK_MODULES),
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_queues=[
            Queue(name, EXCHANGE, routing_key=name, queue_arguments={"x-max-priority": MAX_PRIORITY})
            for name in QUEUES
        ],
        task_default_queue="default",
        task_default_exchange=EXCHANGE.name,
        task_default_routing_key="default",
        task_routes={
            TASK_RETRY_DELIVERY: {"queue": "retry", "routing_key": "retry"},
            TASK_INFER: {"queue": GPU_QUEUE, "routing_key": GPU_QUEUE},
            TASK_RETRY_SWEEP: {"queue": "low", "routing_key": "low"},
            TASK_RECOVER_SPOOL: {"queue": "low", "routing_key": "low"},
            TASK_SYNC_CROSSWALKS: {"queue": "low", "routing_key": "low"},
            TASK_PURGE_HEADERS: {"queue": "low", "routing_key": "low"},
            # A poll may take minutes; it must not hold up the instances it brings in.
            TASK_POLL_SOURCE: {"queue": "low", "routing_key": "low"},
        },
        # A task is acknowledged after it ran, and a killed worker's task goes back to the queue.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        # The filesystem transport has no fanout for remote control; RabbitMQ keeps it for Flower.
        worker_enable_remote_control=not settings.embedded_broker,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(settings.data_path / "beat-schedule"),
        # The database scheduler checks its "schedule changed" marker at least this often.
        beat_max_loop_interval=settings.beat_reload_seconds,
        axiom_settings=settings,
    )
    return app


def settings_of(app: Celery) -> Settings:
    settings = app.conf.get("axiom_settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("the Celery app was not built by workers.celery_app.create_app")
    return settings
