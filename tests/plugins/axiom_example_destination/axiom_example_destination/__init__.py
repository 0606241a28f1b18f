"""A third party's destination kind: ``type: example-drop`` writes each instance's Part 10 bytes to
``<folder>/<SOPInstanceUID>.dcm``, with a marker file naming the ``label`` it was configured with.

Only Axiom's plugin interface is used (``Destination``, ``DestinationBase``), as a package outside
the Axiom tree would."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from axiom.destinations import CheckOutcome, DeliveryError, Destination
from axiom.dicom.part10 import part10_bytes
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance


class DropConfig(DestinationBase):
    type: Literal["example-drop"] = "example-drop"
    folder: str = Field(min_length=1)
    label: str = Field(default="dropped", pattern=r"^[a-z]+$")


class DropDestination(Destination[DropConfig]):
    kind: ClassVar[str] = "example-drop"
    config_model: ClassVar[type[DestinationBase]] = DropConfig

    def send(self, instance: OutgoingInstance) -> str:
        folder = Path(self.config.folder)
        if not folder.is_dir():
            raise DeliveryError(
                f"example-drop {self.name}: folder missing (SOP Instance UID {instance.sop_instance_uid})",
                transient=True,
                code="folder-missing",
            )
        target = folder / f"{instance.sop_instance_uid}.dcm"
        target.write_bytes(part10_bytes(instance))
        (folder / f"{instance.sop_instance_uid}.{self.config.label}").touch()
        return str(target)

    def check(self) -> CheckOutcome:
        return CheckOutcome(Path(self.config.folder).is_dir(), f"folder {self.config.folder}")
