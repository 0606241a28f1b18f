"""The gpu queue: declared, the inference task routed to it, and its worker role one threaded process."""

from __future__ import annotations

from pathlib import Path

from axiom.config import Settings
from cli.roles import worker_pool
from workers.celery_app import create_app
from workers.task_names import GPU_QUEUE, QUEUES, TASK_INFER


def test_inference_task_goes_to_the_gpu_queue(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    assert GPU_QUEUE in QUEUES
    assert GPU_QUEUE in {q.name for q in app.conf.task_queues}
    assert app.conf.task_routes[TASK_INFER] == {"queue": GPU_QUEUE, "routing_key": GPU_QUEUE}
    assert "workers.tasks.inference" in app.conf.include


def test_gpu_worker_is_one_process_of_batch_size_threads(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, ai_batch_size=16)
    assert worker_pool(settings, "gpu", "prefork", 0) == ("threads", 16)
    assert worker_pool(settings, "gpu", "prefork", 4) == ("threads", 4)
    assert worker_pool(settings, "high,default,low,retry", "prefork", 0) == ("prefork", 0)
    # The compose file and chart start it as one process per GPU: still threads feeding the batcher.
    assert worker_pool(settings, "gpu", "solo", 1) == ("threads", 16)
    assert worker_pool(settings, "gpu", "threads", 3) == ("threads", 3)
