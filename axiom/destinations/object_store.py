"""What the object-store destinations (S3, Azure Blob) share: the object name from the path template
(``axiom/dicom/paths.py``, as the filesystem and GCS destinations name theirs), the Part 10 body, and
error messages that name the destination, the store and the SOP Instance UID, never the object name
(the template may build it from PHI) nor the client library's own text (it quotes URLs and keys)."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import Field

from axiom.config import Settings
from axiom.destinations.base import DeliveryError, Destination
from axiom.dicom.part10 import part10_bytes
from axiom.dicom.paths import PathTemplate, UnsafePathError
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance

CONTENT_TYPE = "application/dicom"
DEFAULT_OBJECT_TEMPLATE = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"
MIB = 1 << 20


class ObjectStoreConfig(DestinationBase):
    # Same rules as the filesystem path template: DICOM keywords, every value sanitized.
    object_template: str = DEFAULT_OBJECT_TEMPLATE
    timeout_seconds: float = Field(default=60.0, gt=0)


O = TypeVar("O", bound=ObjectStoreConfig)  # noqa: E741


class ObjectStoreDestination(Destination[O]):
    """One object per instance, named by the template; redelivery replaces the same object."""

    label: ClassVar[str] = "object store"

    def __init__(self, config: O, settings: Settings) -> None:
        super().__init__(config, settings)
        # Parsed now so a bad template fails at start-up, not on the first instance.
        self.template = PathTemplate.parse(config.object_template)
        self.peer = ""

    def object_name(self, instance: OutgoingInstance) -> str:
        try:
            return str(self.template.render(instance.dataset))
        except UnsafePathError:
            raise self.error("object name is not a plain path", instance, False, "unsafe-name") from None

    def body(self, instance: OutgoingInstance) -> bytes:
        """The Part 10 file: the spooled bytes when unchanged, else a fresh encoding."""
        try:
            return part10_bytes(instance)
        except OSError as exc:
            raise self.error(
                f"cannot read the instance ({type(exc).__name__})", instance, True, "read-failed"
            ) from None
        except Exception as exc:
            # pydicom's messages can quote element values: report the kind of failure only.
            raise self.error(
                f"cannot encode ({type(exc).__name__})", instance, False, "unencodable"
            ) from None

    def error(self, what: str, instance: OutgoingInstance, transient: bool, code: str) -> DeliveryError:
        return DeliveryError(
            f"{self.label} destination {self.name} ({self.peer}): {what} "
            f"(SOP Instance UID {instance.sop_instance_uid})",
            transient=transient,
            code=code,
        )
