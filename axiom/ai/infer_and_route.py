"""The gpu queue's use case: run the models a rule asked for on a spooled instance, then route it again.

The results are stored before the instance is published for routing, so the routing pass (on the
ordinary queues, which do the deliveries) finds them in its context; a rerun of this task after a
crash runs the models again and overwrites its own rows.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import structlog
from pydicom import dcmread

from axiom.ai.inference import infer_instance
from axiom.dicom.spool import ForeignSpoolPath, Spool, dataset_digest
from axiom.domain.messages import InstanceMessage
from axiom.logging import phi_hash
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from rules.model import InferSpec

log = structlog.get_logger("axiom.inference")


def infer_and_route(runtime: Runtime, message: InstanceMessage, specs: list[dict[str, Any]]) -> str:
    settings = runtime.settings
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    try:
        part10 = spool.own(message.spool_path).read_bytes()
    except ForeignSpoolPath:
        log.error(
            "task refused: it names a file outside the spool", spool_path_hash=phi_hash(message.spool_path)
        )
        return "refused"
    except FileNotFoundError:
        log.info("spooled file already processed", sop_instance_uid=message.sop_instance_uid)
        return "duplicate"
    dataset = dcmread(BytesIO(part10))
    with runtime.sessions() as session:
        results = infer_instance(
            runtime.inference(),
            session,
            dataset,
            sop_instance_uid=message.sop_instance_uid,
            sop_class_uid=message.sop_class_uid,
            content_hash=dataset_digest(part10),
            specs=[InferSpec.model_validate(spec) for spec in specs],
        )
        session.commit()
    if runtime.reroute is not None:
        runtime.reroute(message)
    else:
        route_instance(runtime, message)
    return ",".join(f"{name}:{result.status}" for name, result in results.items())
