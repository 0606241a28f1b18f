from __future__ import annotations

import os
import random
import re
from io import BytesIO
from pathlib import Path, PurePosixPath

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from axiom.dicom.paths import (
    MAX_COMPONENT_LENGTH,
    MAX_FIELD_LENGTH,
    UNKNOWN,
    PathTemplate,
    PathTemplateError,
    UnsafePathError,
    resolve_under,
    sanitize_component,
)

SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")

HOSTILE_VALUES = [
    "..",
    ".",
    "../../../../etc/passwd",
    "/etc/passwd",
    "//server/share",
    "..\\..\\windows\\system32",
    "C:\\Windows",
    "a/../../b",
    "evil\x00.dcm",
    "\x00",
    "line\nbreak",
    "\u2025",  # two dot leader, NFKC-folds to ".."
    "\uff0e\uff0e\uff0f",  # fullwidth "../"
    "\u2215etc\u2215passwd",  # division slash
    "%2e%2e%2f%2e%2e%2f",
    "~root",
    "$HOME",
    " ",
    "",
    ".hidden",
    "...",
    "x" * 500,
    "Ünïcödé^Nämé",
    "\ud800",  # lone surrogate
]


def dataset(**values: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.SOPInstanceUID = "1.2.3.4.5.6"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def assert_safe(relative: PurePosixPath) -> None:
    assert not relative.is_absolute()
    for part in relative.parts:
        assert SAFE_NAME.fullmatch(part), part
        assert part not in (".", "..")
        assert len(part) <= MAX_COMPONENT_LENGTH


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's VR-length warnings, expected here
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_render_to_plain_names(value: str) -> None:
    template = PathTemplate.parse("{PatientID}/{PatientName}/{StudyDescription}-{SOPInstanceUID}.dcm")
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3"
    # Set raw values so no VR validation cleans them up first.
    ds.add_new(0x00100020, "LO", value)
    ds.add_new(0x00100010, "PN", value)
    ds.add_new(0x00081030, "LO", value)

    relative = template.render(ds)

    assert_safe(relative)
    assert len(relative.parts) == 3


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's VR-length warnings, expected here
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_cannot_escape_the_root_on_disk(tmp_path: Path, value: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    template = PathTemplate.parse("{PatientID}/{AccessionNumber}.dcm")
    ds = Dataset()
    ds.add_new(0x00100020, "LO", value)
    ds.add_new(0x00080050, "SH", value)

    target = resolve_under(root, template.render(ds))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [target]
    assert target.is_relative_to(root.resolve())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_random_hostile_strings_never_escape() -> None:
    alphabet = './\\\x00:*?"<>|~$%\n\t aZ09-_\u2025\uff0f\u2215\u0085\u200b\ufeff'
    rng = random.Random(1234)
    template = PathTemplate.parse("{PatientID}/{StudyID}{StudyDescription}/{SOPInstanceUID}")
    root = Path("/srv/axiom/root")
    for _ in range(3000):
        ds = Dataset()
        for tag, vr in ((0x00100020, "LO"), (0x00200010, "SH"), (0x00081030, "LO"), (0x00080018, "UI")):
            ds.add_new(tag, vr, "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))))
        relative = template.render(ds)
        assert_safe(relative)
        assert os.path.normpath(root / relative).startswith(str(root) + "/")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns that '../x' is no IS: that is the point
def test_hostile_value_in_a_numeric_tag_read_from_the_wire() -> None:
    # Implicit VR on the wire: the dictionary says IS, the bytes say "../x"; pydicom keeps the text.
    ds = Dataset()
    ds.add_new(0x00200011, "LO", "../x")
    ds.SOPInstanceUID = "1.2"
    buffer = BytesIO()
    dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    buffer.seek(0)
    received = dcmread(buffer, force=True)

    relative = PathTemplate.parse("{SeriesNumber}/{SOPInstanceUID}").render(received)

    assert_safe(relative)
    assert relative.parts[0] in ("_._x", UNKNOWN)


def test_values_are_kept_when_already_safe() -> None:
    template = PathTemplate.parse("{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm")
    assert template.render(dataset()) == PurePosixPath("1.2.3.4/1.2.3.4.5/1.2.3.4.5.6.dcm")


def test_missing_and_empty_values_become_unknown() -> None:
    template = PathTemplate.parse("{PatientID}/{StudyDate}/{AccessionNumber}.dcm")
    ds = dataset(StudyDate="")
    assert template.render(ds) == PurePosixPath(f"{UNKNOWN}/{UNKNOWN}/{UNKNOWN}.dcm")


def test_person_names_multi_values_and_numbers_are_flattened() -> None:
    template = PathTemplate.parse("{PatientName}/{ImageType}/{InstanceNumber}")
    ds = dataset(PatientName="DOE^JANE", ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], InstanceNumber=7)
    assert template.render(ds) == PurePosixPath("DOE_JANE/ORIGINAL_PRIMARY_AXIAL/7")


def test_sequences_and_binary_values_become_unknown() -> None:
    template = PathTemplate.parse("{ReferencedImageSequence}/{PixelData}")
    ds = dataset(ReferencedImageSequence=[Dataset()], PixelData=b"\x00\x01")
    assert template.render(ds) == PurePosixPath(f"{UNKNOWN}/{UNKNOWN}")


def test_file_meta_keywords_are_read_from_the_file_meta() -> None:
    template = PathTemplate.parse("{TransferSyntaxUID}/{SOPInstanceUID}")
    assert template.render(dataset()).parts[0] == ExplicitVRLittleEndian


def test_long_values_are_capped_and_stay_distinct() -> None:
    a = sanitize_component("A" * 300 + "1")
    b = sanitize_component("A" * 300 + "2")
    assert len(a) == len(b) == MAX_FIELD_LENGTH
    assert a != b


def test_long_components_are_capped() -> None:
    ds = dataset(PatientID="p" * 64, StudyDescription="d" * 64, PatientComments="c" * 64)
    template = PathTemplate.parse("{PatientID}{PatientComments}{StudyDescription}{PatientID}.dcm")
    (name,) = template.render(ds).parts
    assert len(name) <= MAX_COMPONENT_LENGTH
    assert SAFE_NAME.fullmatch(name)


def test_sanitize_rules() -> None:
    assert sanitize_component("ab/cd\\ef") == "ab_cd_ef"
    assert sanitize_component("..") == "_."
    assert sanitize_component(".") == "_"
    assert sanitize_component(".x") == "_x"
    assert sanitize_component("") == UNKNOWN
    assert sanitize_component("é") == "_"


@pytest.mark.parametrize(
    "template",
    [
        "../{SOPInstanceUID}",
        "/abs/{SOPInstanceUID}",
        "{StudyInstanceUID}/../{SOPInstanceUID}",
        "{StudyInstanceUID}/./{SOPInstanceUID}",
        "a//{SOPInstanceUID}",
        "{SOPInstanceUID}/",
        ".hidden/{SOPInstanceUID}",
        ".{SOPInstanceUID}",
        "a b/{SOPInstanceUID}",
        "a\\{SOPInstanceUID}",
        "~/{SOPInstanceUID}",
        "{NotAKeyword}",
        "{PatientID!r}",
        "{PatientID:>10}",
        "{PatientID.__class__}",
        "{PatientID[0]}",
        "{}",
        "{0}",
        "{SOPInstanceUID",
        "static.dcm",
        "",
        "caf\u00e9/{SOPInstanceUID}",
    ],
)
def test_bad_templates_are_refused_up_front(template: str) -> None:
    with pytest.raises(PathTemplateError):
        PathTemplate.parse(template)


def test_template_fields_are_listed() -> None:
    template = PathTemplate.parse("{PatientID}/{StudyDate}_{Modality}/{SOPInstanceUID}.dcm")
    assert template.fields == ("PatientID", "StudyDate", "Modality", "SOPInstanceUID")


def test_resolve_under_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(UnsafePathError):
        resolve_under(root, PurePosixPath("link/x.dcm"))
    assert resolve_under(root, PurePosixPath("real/x.dcm")) == root.resolve() / "real" / "x.dcm"


@pytest.mark.parametrize("relative", ["../x", "/etc/passwd", "a/../../x", ".", ""])
def test_resolve_under_refuses_non_plain_relative_paths(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        resolve_under(tmp_path, PurePosixPath(relative))


def test_resolve_under_error_names_no_values(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "DOE_JANE").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePathError) as info:
        resolve_under(root, PurePosixPath("DOE_JANE/x.dcm"))
    assert "DOE" not in str(info.value)
