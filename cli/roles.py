"""Each role's start-up: wire settings, database, broker and the core together, then run."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path

import structlog

from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.logging import configure_logging

log = structlog.get_logger("axiom.cli")


METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def role_metrics_dir(root: Path, role: str) -> Path:
    """One folder per role and host. Every role of a compose or Kubernetes set-up is PID 1 of its own
    container, so in a shared folder their ``counter_1.db`` files would be one file; a container's
    hostname is its own, and processes of one host differ by PID."""
    return root / f"{role}-{socket.gethostname()}"


def prepare(settings: Settings, role: str, *, migrate: bool = True, log_file: Path | None = None) -> None:
    configure_logging(settings.log_level, json=settings.log_json, log_file=log_file)
    settings.ensure_dirs()
    # Every role's process (and its children) keeps its Prometheus values in files there, and the
    # API's /metrics adds them up (axiom/metrics.py). Set before prometheus_client is imported.
    if not os.environ.get(METRICS_ENV):
        metrics_dir = role_metrics_dir(settings.metrics_path, role)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ[METRICS_ENV] = str(metrics_dir)
    if migrate:
        upgrade_database(settings.effective_database_url)


def _serve_listener(settings: Settings) -> None:
    from axiom.db.session import create_db_engine, make_session_factory
    from axiom.dicom.spool import ingest_spool
    from axiom.infra.events import make_events
    from axiom.pipeline.ingest import RefusalLog
    from axiom.pipeline.known_peers import KnownPeers
    from axiom.pipeline.listener import StoreHandler, make_listener
    from axiom.pipeline.move_origin import MoveSources
    from workers.batch_publisher import BatchingPublisher
    from workers.celery_app import create_app
    from workers.publisher import CeleryPublisher

    sessions = make_session_factory(create_db_engine(settings.effective_database_url))
    app = create_app(settings)
    publisher: CeleryPublisher | BatchingPublisher = CeleryPublisher(app)
    if settings.publish_batch_size > 1:
        publisher = BatchingPublisher(
            app,
            max_batch=settings.publish_batch_size,
            max_delay=settings.publish_batch_delay_seconds,
            idle=settings.publish_batch_idle_seconds,
            max_pending=settings.publish_max_pending,
        )
    spool = ingest_spool(settings)
    handler = StoreHandler(
        spool,
        publisher,
        RefusalLog(sessions),
        events=make_events(settings),
        move_sources=MoveSources(sessions),
    )
    server = make_listener(settings, handler, KnownPeers(sessions))
    log.info(
        "listener ready",
        ae_title=settings.ae_title,
        host=settings.dicom_host,
        port=settings.dicom_port,
        pid=os.getpid(),
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        if isinstance(publisher, BatchingPublisher):
            publisher.close()
        spool.close()


def _publish_unconfirmed(settings: Settings) -> None:
    """What a listener acknowledged but had not published when it stopped is in the spool: publish
    it now (not what a worker holds, nothing while instance tasks are queued; see recover_spool)."""
    from axiom.pipeline.recover import recover_spool
    from workers.celery_app import create_app
    from workers.publisher import CeleryPublisher

    publisher = CeleryPublisher(create_app(settings))
    try:
        count = recover_spool(
            settings.model_copy(update={"spool_recover_after_seconds": 0.0}),
            publisher,
            publisher.queued_instances,
        )
    except Exception as exc:  # the broker may not be up yet: the sweep catches up later
        log.warning("spooled instances not republished at start", error=type(exc).__name__)
        return
    if count:
        log.info("republished spooled instances at start", count=count)


def run_listener(settings: Settings) -> None:
    prepare(settings, "listen")
    _publish_unconfirmed(settings)
    extra = [
        multiprocessing.get_context("spawn").Process(target=_listener_child, args=(settings,), daemon=True)
        for _ in range(max(0, (settings.listener_processes or os.cpu_count() or 1) - 1))
    ]
    for proc in extra:
        proc.start()
    try:
        _serve_listener(settings)
    finally:
        for proc in extra:
            proc.terminate()
            proc.join(5)


def _listener_child(settings: Settings) -> None:
    configure_logging(settings.log_level, json=settings.log_json)
    _serve_listener(settings)


def worker_pool(settings: Settings, queues: str, pool: str, concurrency: int) -> tuple[str, int]:
    """The gpu worker (``--queues gpu`` alone) is one process whose task threads feed the models'
    micro-batchers: the models load once (per GPU) and up to ai_batch_size instances are in flight.

    ``--pool solo --concurrency 1`` (one process per GPU, as the compose file and chart start it) and
    the prefork default both mean that one process; a solo pool would run one task at a time and
    leave nothing to batch, so its threads are the batch size unless ``--concurrency`` asks for more.
    """
    if queues.split(",") == ["gpu"] and pool in ("prefork", "solo"):
        return "threads", concurrency if concurrency > 1 else settings.ai_batch_size
    return pool, concurrency


def _banner(settings: Settings) -> list[str]:
    """Celery prints its start-up banner outside logging: left out when every line must be JSON."""
    return ["--quiet"] if settings.log_json else []


def run_worker(settings: Settings, queues: str, concurrency: int, pool: str, autoscale: str = "") -> None:
    prepare(settings, "gpu-worker" if queues.split(",") == ["gpu"] else "worker")
    from workers.celery_app import create_app

    app = create_app(settings)
    pool, concurrency = worker_pool(settings, queues, pool, concurrency)
    # A unique node name per process: Celery's pidbox queue is exclusive to one worker of a name.
    argv = [
        *_banner(settings),
        "worker",
        "--queues",
        queues,
        "--loglevel",
        settings.log_level,
        "--pool",
        pool,
    ]
    argv += ["--hostname", f"axiom-worker-{os.getpid()}@%h"]
    if autoscale:
        # Celery's autoscaler: MIN processes, one more each second while reserved tasks outnumber them.
        argv += ["--autoscale", autoscale]
    else:
        argv += ["--concurrency", str(concurrency or settings.worker_concurrency or os.cpu_count() or 1)]
    if settings.embedded_broker:
        # No fanout exchange on the filesystem transport: nothing to gossip or mingle over.
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)


def run_beat(settings: Settings) -> None:
    prepare(settings, "beat")
    from workers.celery_app import create_app

    app = create_app(settings)
    # The static periodic tasks and every enabled source, read from the database (beat/scheduler.py).
    scheduler = "beat.scheduler:DatabaseScheduler"
    app.start([*_banner(settings), "beat", "--loglevel", settings.log_level, "--scheduler", scheduler])


def run_api(settings: Settings) -> None:
    prepare(settings, "api")
    import uvicorn

    from api.main import create_app
    from axiom.admin.auth import WeakJwtSecret

    try:
        app = create_app(settings)
    except WeakJwtSecret as exc:
        raise SystemExit(f"error: {exc}") from None
    tls = settings.api_tls_cert and settings.api_tls_key
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # uvicorn's records propagate to the root handler of axiom.logging (one format, JSON or not).
        log_config=None,
        ssl_certfile=settings.api_tls_cert if tls else None,
        ssl_keyfile=settings.api_tls_key if tls else None,
    )


def run_flower(settings: Settings, args: list[str]) -> None:
    prepare(settings, "flower", migrate=False)
    from workers.celery_app import create_app

    try:
        import flower  # noqa: F401
    except ImportError:
        sys.exit("Flower is not installed: pip install 'axiom-router[flower]'")
    create_app(settings).start(["flower", *args])
