"""Filesystem destination: one Part 10 file per instance under a root, at a templated path.

The file is written atomically (temporary file in the same folder, fsync, rename, fsync the
folder), so a consumer watching the folder never sees half a file, and redelivering an instance
replaces the same path. The spooled bytes are copied when the dataset is unchanged; otherwise the
dataset is encoded with pydicom in the DICOM File Format. With ``link_unchanged`` (the default) an
unchanged instance whose spooled file is on the same filesystem as the root is hard-linked instead
of copied: the spool already fsynced those bytes, so only the folder is fsynced (no second copy,
no second data fsync per instance). A consumer that edits delivered files in place, rather than
replacing them, should set it to false.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal

from pydantic import Field

from axiom.config import Settings
from axiom.destinations.base import CheckOutcome, DeliveryError, DeliveryResult, Destination
from axiom.dicom.atomic import atomic_link, atomic_write, fsync_dir, make_dirs
from axiom.dicom.part10 import encode_part10_chunks
from axiom.dicom.paths import PathTemplate, UnsafePathError, resolve_under
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance

COPY_CHUNK = 1 << 20
# A hard link cannot be made here (another filesystem, or one without links): copy instead.
NO_LINK_ERRNOS = frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})
DEFAULT_PATH_TEMPLATE = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"


class FilesystemDestinationConfig(DestinationBase):
    type: Literal["filesystem"] = "filesystem"
    # None: <data_dir>/destinations/<name>. Relative paths are taken from the data dir.
    root: str | None = None
    # Python format fields are DICOM keywords; every component is sanitized before use.
    path_template: str = Field(default=DEFAULT_PATH_TEMPLATE)
    # Hard-link the spooled file when the instance goes out unchanged (same filesystem only).
    link_unchanged: bool = True


# Conditions an operator or time fixes without touching Axiom's configuration: retry them.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ENOENT,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ENOLCK,
    }
)
# Conditions that the same write will hit again until the configuration changes.
PERMANENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
        errno.EFBIG,
        errno.ELOOP,
        errno.EINVAL,
        errno.EEXIST,
    }
)


def filesystem_root(config: FilesystemDestinationConfig, settings: Settings) -> Path:
    """``config.root`` (relative roots are under the data dir), or ``<data>/destinations/<name>``."""
    if config.root is None:
        return settings.destinations_root / config.name
    root = Path(config.root).expanduser()
    return root if root.is_absolute() else settings.data_path / root


def disk_error(exc: OSError, *, destination: str, sop_instance_uid: str) -> DeliveryError:
    """A DeliveryError for a failed write; names the errno, never the path (it may hold PHI)."""
    number = exc.errno if exc.errno is not None else -1
    name = errno.errorcode.get(number, f"errno {number}")
    # Unknown errors are retried: backoff and the attempt limit bound the cost of being wrong.
    transient = number not in PERMANENT_ERRNOS
    return DeliveryError(
        f"filesystem destination {destination}: write failed ({name}) for SOP Instance UID {sop_instance_uid}",
        transient=transient,
        code=name,
    )


def _file_chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(COPY_CHUNK):
        yield chunk


class FilesystemDestination(Destination[FilesystemDestinationConfig]):
    kind: ClassVar[str] = "filesystem"
    config_model: ClassVar[type[DestinationBase]] = FilesystemDestinationConfig

    def __init__(self, config: FilesystemDestinationConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        self.root = filesystem_root(config, settings)
        # Parsed now so a bad template fails at start-up, not on the first instance.
        self.template = PathTemplate.parse(config.path_template)

    def check(self) -> CheckOutcome:
        """A write probe: the root exists (or is made) and a file can be created in it."""
        make_dirs(self.root)
        fd, probe = tempfile.mkstemp(prefix=".axiom-test-", dir=self.root)
        os.close(fd)
        os.unlink(probe)
        return CheckOutcome(True, f"{self.root} exists and is writable")

    def target_path(self, instance: OutgoingInstance) -> Path:
        try:
            return resolve_under(self.root, self.template.render(instance.dataset))
        except UnsafePathError:
            raise DeliveryError(
                f"filesystem destination {self.name}: path for SOP Instance UID "
                f"{instance.sop_instance_uid} would leave the root",
                transient=False,
                code="unsafe-path",
            ) from None

    # A batch is written file by file and each folder fsynced once (not once per file).
    supports_batch: ClassVar[bool] = True

    def send(self, instance: OutgoingInstance) -> str:
        return self._write(instance, fsync_folder=True)

    def send_batch(self, instances: Sequence[OutgoingInstance]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        folders: dict[Path, list[int]] = {}
        for index, instance in enumerate(instances):
            try:
                written = self._write(instance, fsync_folder=False)
            except DeliveryError as exc:
                results.append(exc)
                continue
            results.append(written)
            folders.setdefault(Path(written).parent, []).append(index)
        # The renames are durable before any instance of the batch is reported delivered.
        for folder, indices in folders.items():
            try:
                fsync_dir(folder)
            except OSError as exc:
                for index in indices:
                    uid = instances[index].sop_instance_uid
                    results[index] = disk_error(exc, destination=self.name, sop_instance_uid=uid)
        return results

    def _write(self, instance: OutgoingInstance, *, fsync_folder: bool) -> str:
        target = self.target_path(instance)
        if self._linked(instance, target, fsync_folder=fsync_folder):
            return str(target)
        try:
            source = self._open_source(instance)
            try:
                # Encode before touching the target folder: an unencodable dataset leaves no trace.
                chunks = _file_chunks(source) if source is not None else iter(self._encode(instance))
                make_dirs(target.parent)
                atomic_write(target, chunks, fsync_folder=fsync_folder)
            finally:
                if source is not None:
                    source.close()
        except OSError as exc:
            # ``from None``: the OSError's text holds the path, which may hold PHI.
            raise disk_error(exc, destination=self.name, sop_instance_uid=instance.sop_instance_uid) from None
        return str(target)

    def _linked(self, instance: OutgoingInstance, target: Path, *, fsync_folder: bool) -> bool:
        """Whether the unchanged instance's spooled file now also lies at ``target``."""
        source = instance.source_file
        if source is None or not self.config.link_unchanged or not self.settings.spool_fsync:
            return False  # without the spool's fsync the linked bytes would not be durable
        try:
            make_dirs(target.parent)
            atomic_link(source, target, fsync_folder=fsync_folder)
        except FileNotFoundError:
            return False  # the spooled copy is gone: encode the dataset in hand
        except OSError as exc:
            if exc.errno in NO_LINK_ERRNOS:
                return False
            raise disk_error(exc, destination=self.name, sop_instance_uid=instance.sop_instance_uid) from None
        return True

    @staticmethod
    def _open_source(instance: OutgoingInstance) -> BinaryIO | None:
        if instance.source_file is None:
            return None
        try:
            return instance.source_file.open("rb")
        except FileNotFoundError:
            # The spooled copy is gone; the dataset in hand is the same instance, so encode it.
            return None

    def _encode(self, instance: OutgoingInstance) -> list[bytes]:
        try:
            return encode_part10_chunks(instance)
        except Exception as exc:
            # pydicom's messages can quote element values: report the kind of failure only.
            raise DeliveryError(
                f"filesystem destination {self.name}: cannot encode SOP Instance UID "
                f"{instance.sop_instance_uid} ({type(exc).__name__})",
                transient=False,
                code="unencodable",
            ) from None
