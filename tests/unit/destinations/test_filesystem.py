"""Filesystem destination on real folders: roots, templates, encoding choices and disk errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from axiom.config import Settings
from axiom.destinations import DeliveryError
from axiom.destinations.filesystem import (
    FilesystemDestination,
    FilesystemDestinationConfig,
    disk_error,
    filesystem_root,
)
from axiom.dicom.paths import PathTemplateError
from axiom.domain.instances import OutgoingInstance
from tests.factories import make_dataset, outgoing_instance, write_instance


def destination(settings: Settings, **config: object) -> FilesystemDestination:
    fields: dict[str, object] = {"name": "archive", **config}
    return FilesystemDestination(FilesystemDestinationConfig.model_validate(fields), settings)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
def sample(tmp_path: Path) -> OutgoingInstance:
    return outgoing_instance(write_instance(make_dataset(), tmp_path / "in" / "sample.dcm"))


def test_default_root_is_under_the_data_dir(settings: Settings) -> None:
    assert destination(settings).root == settings.destinations_root / "archive"


def test_relative_root_is_taken_from_the_data_dir(settings: Settings) -> None:
    assert destination(settings, root="exports/a").root == settings.data_path / "exports" / "a"


def test_absolute_root_is_used_as_is(settings: Settings, tmp_path: Path) -> None:
    assert destination(settings, root=str(tmp_path / "abs")).root == tmp_path / "abs"
    config = FilesystemDestinationConfig(name="x", root=str(tmp_path / "abs"))
    assert filesystem_root(config, settings) == tmp_path / "abs"


@pytest.mark.parametrize("template", ["../{SOPInstanceUID}", "{Nope}.dcm", "fixed.dcm", "/{SOPInstanceUID}"])
def test_bad_template_fails_at_construction(settings: Settings, template: str) -> None:
    with pytest.raises(PathTemplateError):
        destination(settings, path_template=template)


def test_template_fields_choose_the_path(settings: Settings, sample: OutgoingInstance) -> None:
    dest = destination(settings, path_template="{PatientID}/{Modality}_{StudyDate}/{SOPInstanceUID}.dcm")
    where = Path(dest.send(sample))
    ds = sample.dataset
    assert where == dest.root / ds.PatientID / f"CT_{ds.StudyDate}" / f"{sample.sop_instance_uid}.dcm"
    assert where.read_bytes() == sample.source_file.read_bytes()  # type: ignore[union-attr]


def test_hostile_tag_values_stay_under_the_root(settings: Settings, tmp_path: Path) -> None:
    ds = make_dataset()
    ds.PatientID = "../../../../escaped"
    ds.AccessionNumber = "/etc"
    item = outgoing_instance(write_instance(ds, tmp_path / "in" / "hostile.dcm"), keep_source=False)
    dest = destination(
        settings, root=str(tmp_path / "root"), path_template="{PatientID}/{AccessionNumber}/{SOPInstanceUID}"
    )

    where = Path(dest.send(item))

    assert where.is_relative_to(tmp_path / "root")
    assert files_under(tmp_path / "root") == [where]
    assert [p for p in tmp_path.rglob("*escaped*")] == [tmp_path / "root" / "_._.._.._.._escaped"]


def test_symlink_planted_in_the_root_is_refused(
    settings: Settings, tmp_path: Path, sample: OutgoingInstance
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    ds = sample.dataset
    (root / str(ds.StudyInstanceUID)).symlink_to(outside, target_is_directory=True)
    dest = destination(settings, root=str(root))

    with pytest.raises(DeliveryError) as caught:
        dest.send(sample)

    assert caught.value.code == "unsafe-path" and not caught.value.transient
    assert files_under(outside) == []


def test_unchanged_instance_is_hard_linked_from_the_spool(
    settings: Settings, sample: OutgoingInstance
) -> None:
    dest = destination(settings)
    where = Path(dest.send(sample))
    assert dest.send(sample) == str(where)  # linked again: the same two names, nothing left over
    assert sample.source_file is not None
    assert where.stat().st_ino == sample.source_file.stat().st_ino  # one file, two names
    assert where.stat().st_nlink == 2
    sample.source_file.unlink()  # the spool lets go after the record commit
    assert dcmread(where).SOPInstanceUID == sample.sop_instance_uid
    assert not [p for p in where.parent.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("overrides", [{"link_unchanged": False}, {"spool_fsync": False}])
def test_copied_when_linking_is_off_or_the_spool_not_durable(
    settings_factory: Callable[..., Settings], sample: OutgoingInstance, overrides: dict[str, bool]
) -> None:
    config = {k: v for k, v in overrides.items() if k == "link_unchanged"}
    settings = settings_factory(**{k: v for k, v in overrides.items() if k != "link_unchanged"})
    where = Path(destination(settings, **config).send(sample))
    assert sample.source_file is not None
    assert where.stat().st_ino != sample.source_file.stat().st_ino
    assert where.read_bytes() == sample.source_file.read_bytes()


def test_root_on_another_filesystem_gets_a_copy(settings: Settings, sample: OutgoingInstance) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(sample.source_file).st_dev:  # type: ignore[arg-type]
        pytest.skip("no second filesystem on this machine")
    root = Path(tempfile.mkdtemp(dir=shm))
    try:
        where = Path(destination(settings, root=str(root)).send(sample))
        assert where.read_bytes() == sample.source_file.read_bytes()  # type: ignore[union-attr]
        assert where.stat().st_nlink == 1
    finally:
        shutil.rmtree(root)


def test_missing_spool_file_falls_back_to_encoding(settings: Settings, tmp_path: Path) -> None:
    source = write_instance(make_dataset(), tmp_path / "in" / "gone.dcm")
    item = outgoing_instance(source)
    source.unlink()

    where = Path(destination(settings).send(item))

    assert dcmread(where).SOPInstanceUID == item.sop_instance_uid


def test_redelivery_of_a_changed_dataset_replaces_the_file(
    settings: Settings, sample: OutgoingInstance
) -> None:
    dest = destination(settings)
    first = Path(dest.send(sample))
    changed = outgoing_instance(sample.source_file, keep_source=False)  # type: ignore[arg-type]
    changed.dataset.InstitutionName = "SECOND DELIVERY"

    second = Path(dest.send(changed))

    assert first == second
    assert files_under(dest.root) == [first]
    assert dcmread(first).InstitutionName == "SECOND DELIVERY"


def test_unencodable_dataset_is_permanent_and_writes_nothing(settings: Settings) -> None:
    ds = Dataset()  # no SOP Class UID: no valid file meta can be made
    ds.SOPInstanceUID = "1.2.3.4"
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = "1.2.3.5"
    dest = destination(settings)

    with pytest.raises(DeliveryError) as caught:
        dest.send(OutgoingInstance(ds, None, "1.2.3.4", "1.2.3"))

    assert caught.value.code == "unencodable" and not caught.value.transient
    assert not dest.root.exists()


def test_root_that_is_a_file_is_permanent(
    settings: Settings, tmp_path: Path, sample: OutgoingInstance
) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DeliveryError) as caught:
        destination(settings, root=str(tmp_path / "file")).send(sample)
    assert not caught.value.transient
    assert caught.value.code in ("ENOTDIR", "EEXIST")


def _send_as_nobody(dest: FilesystemDestination, item: OutgoingInstance) -> dict[str, object]:
    """Send in a forked child that dropped root: root ignores permission bits, 'nobody' does not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                dest.send(item)
                outcome: dict[str, object] = {"sent": True}
            except DeliveryError as exc:
                outcome = {"transient": exc.transient, "code": exc.code, "message": str(exc)}
            os.write(write_end, json.dumps(outcome).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return dict(json.loads(data))


@pytest.fixture
def traversable_dir() -> Iterator[Path]:
    # Straight under /tmp: pytest's own folders are 0700, which an unprivileged child cannot enter.
    base = Path(tempfile.mkdtemp(prefix="axiom-perm-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_permission_denied_is_permanent_and_names_no_phi(settings: Settings, traversable_dir: Path) -> None:
    source = write_instance(make_dataset(), traversable_dir / "in.dcm")
    source.chmod(0o644)
    item = outgoing_instance(source)
    root = traversable_dir / "root"
    root.mkdir()
    root.chmod(0o555)
    dest = destination(settings, root=str(root), path_template="{PatientName}/{SOPInstanceUID}")

    if os.geteuid() == 0:
        outcome = _send_as_nobody(dest, item)
    else:
        with pytest.raises(DeliveryError) as caught:
            dest.send(item)
        error = caught.value
        outcome = {"transient": error.transient, "code": error.code, "message": str(error)}

    assert outcome.get("transient") is False, outcome
    assert outcome["code"] == "EACCES"
    assert "DOE" not in str(outcome["message"])
    assert files_under(root) == []


@pytest.mark.parametrize(
    ("number", "transient"),
    [
        (errno.ENOSPC, True),
        (errno.EDQUOT, True),
        (errno.EIO, True),
        (errno.ESTALE, True),
        (errno.EACCES, False),
        (errno.EPERM, False),
        (errno.EROFS, False),
        (errno.ENAMETOOLONG, False),
        (9999, True),
    ],
)
def test_errno_classification(number: int, transient: bool) -> None:
    error = disk_error(
        OSError(number, "x", "/secret/DOE_JANE/file"), destination="a", sop_instance_uid="1.2.3"
    )
    assert error.transient is transient
    assert "DOE" not in str(error) and "1.2.3" in str(error)
