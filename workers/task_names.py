"""Every task name and queue in one place: workers register and route by them, Beat schedules by
them, the API and the console read the queue list. A task renamed here is renamed everywhere."""

from __future__ import annotations

QUEUES = ("high", "default", "low", "retry", "gpu")
# Runs the models of an `infer` rule action; served by `axiom worker --queues gpu` (one per GPU).
GPU_QUEUE = "gpu"

# The data path.
TASK_PROCESS_INSTANCE = "axiom.process_instance"
# Several instances the listener published together, routed stage by stage over the batch.
TASK_PROCESS_BATCH = "axiom.process_batch"
TASK_RETRY_DELIVERY = "axiom.retry_delivery"
TASK_FIRE_GROUP = "axiom.fire_group"
TASK_INFER = "axiom.infer_instance"

# Sent by Beat.
TASK_RETRY_SWEEP = "axiom.retry_sweep"
TASK_RECOVER_SPOOL = "axiom.recover_spool"
TASK_SYNC_CROSSWALKS = "axiom.sync_crosswalks"
TASK_PURGE_HEADERS = "axiom.purge_headers"
TASK_CHECK_COMPLETIONS = "axiom.check_completions"
TASK_POLL_SOURCE = "axiom.poll_source"
