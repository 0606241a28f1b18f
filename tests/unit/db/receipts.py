"""Keyword arguments for upsert_instance, as a listener would pass them."""

from __future__ import annotations

from typing import Any

from axiom.domain.instances import InstanceStatus

STUDY = "1.2.826.0.1.3680043.8.498.1"
SERIES = STUDY + ".1"


def receipt(sop: str, *, study: str = STUDY, series: str = SERIES, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "study_instance_uid": study,
        "series_instance_uid": series,
        "sop_instance_uid": sop,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "modality": "CT",
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "patient_id_hash": "a" * 64,
        "study_date": "20240102",
        "calling_ae": "MODALITY",
        "called_ae": "AXIOM",
        "source": "listener",
        "spool_path": f"/spool/{sop}.dcm",
        "size_bytes": 1024,
        "status": InstanceStatus.RECEIVED,
    }
    values.update(overrides)
    return values
