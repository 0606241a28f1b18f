"""Generate rules/anonymize/iod_types.py and rules/anonymize/allow_list.py from PS3.3 IOD/module tables.

Source: the PyPI package ``highdicom`` (MIT), whose ``highdicom/_standard/*.json`` are PS3.3's IOD and
module tables in machine-readable form (SOP Class -> IOD, IOD -> modules, module -> attributes with
their type and the sequence path they sit in). The files are read as data from the installed package
(or from a wheel), never imported, and the compact tables written here are what the anonymizer uses:

    pip install highdicom==0.28.2
    python scripts/gen_anonymize_iod.py
    ruff format rules/anonymize/iod_types.py rules/anonymize/allow_list.py

``iod_types.py``: for the attributes Table E.1-1 lists (and the animal-patient attributes), their type
(1, 1C, 2, 2C, 3) in each module, keyed by (enclosing sequence tag or 0, tag), and which modules each
IOD has: the walker narrows X/Z, X/D, Z/D and X/Z/D by the type in the instance's IOD.

``allow_list.py``: the attributes of the modules in ``ALLOWED_MODULES`` below (pixel, geometry,
acquisition technique, SOP common, the structure of SR, SEG and RT Structure Set documents ...) that
Table E.1-1 does not list, each with the module it comes from: what the ``strict`` profile keeps.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from importlib import metadata, resources
from pathlib import Path

from pydicom.datadict import tag_for_keyword

ROOT = Path(__file__).resolve().parents[1]
OUT_TYPES = ROOT / "rules" / "anonymize" / "iod_types.py"
OUT_ALLOW = ROOT / "rules" / "anonymize" / "allow_list.py"
FILES = ("sop_class_iod_map.json", "iod_module_map.json", "module_attribute_map.json")

# Modules whose attributes carry no identity beyond what Table E.1-1 already lists (the table's rows
# win over this list): (module key, why it is safe). PS3.3 module names.
ALLOWED_MODULES: dict[str, str] = {
    "sop-common": "SOP class, instance, character set, timezone: structure",
    "patient": "patient structure (identity rows are in Table E.1-1, issuers are excluded)",
    "general-study": "study structure (identifying rows are in Table E.1-1)",
    "general-series": "modality, series number, laterality, body part: structure",
    "frame-of-reference": "frame of reference: geometry",
    "general-equipment": "manufacturer and model (device identity is in Table E.1-1)",
    "enhanced-general-equipment": "manufacturer and model (device identity is in Table E.1-1)",
    "general-image": "image type, numbers, orientation: structure",
    "general-acquisition": "acquisition numbers (dates are in Table E.1-1)",
    "general-reference": "references to source instances (UIDs are in Table E.1-1)",
    "image-plane": "pixel spacing, position, orientation: geometry",
    "image-pixel": "the pixel module",
    "multi-frame": "frame count and pointers",
    "multi-frame-dimension": "dimension organization",
    "multi-frame-functional-groups": "functional groups: geometry and technique per frame",
    "enhanced-mr-image-multi-frame-functional-groups": "functional groups: MR geometry and technique",
    "enhanced-ct-image-multi-frame-functional-groups": "functional groups: CT geometry and technique",
    "segmentation-multi-frame-functional-groups": "functional groups: segmentation geometry",
    "contrast-bolus": "contrast agent and route: acquisition technique",
    "enhanced-contrast-bolus": "contrast agent and route: acquisition technique",
    "ct-image": "CT acquisition technique (kVp, exposure, kernel ...)",
    "ct-series": "CT series structure",
    "enhanced-ct-image": "enhanced CT image technique",
    "mr-image": "MR acquisition technique (TR, TE, field strength ...)",
    "mr-series": "MR series structure",
    "mr-pulse-sequence": "MR pulse sequence technique",
    "enhanced-mr-image": "enhanced MR image technique",
    "us-image": "ultrasound image technique",
    "us-region-calibration": "ultrasound region calibration: geometry",
    "dx-series": "projection radiography series structure",
    "dx-anatomy-imaged": "projection radiography anatomy and laterality",
    "dx-positioning": "projection radiography positioning: geometry",
    "dx-image": "projection radiography image technique",
    "dx-detector": "projection radiography detector technique",
    "cr-image": "computed radiography technique",
    "x-ray-acquisition": "x-ray acquisition technique",
    "pet-image": "PET image technique",
    "pet-series": "PET series technique",
    "voi-lut": "windowing",
    "modality-lut": "rescale",
    "palette-color-lookup-table": "palette colour tables",
    "icc-profile": "colour profile",
    "segmentation-image": "segment definitions: structure of a SEG",
    "segmentation-series": "segmentation series structure",
    "sr-document-series": "SR series structure",
    "sr-document-general": "SR document flags and references (names and dates are in Table E.1-1)",
    "sr-document-content": "SR content item structure (value types, relationships, codes)",
    "key-object-document-series": "key object series structure",
    "key-object-document": "key object references",
    "rt-series": "RT series structure",
    "structure-set": "RT structure set: ROI definitions (labels are in Table E.1-1)",
    "roi-contour": "RT ROI contours: geometry",
    "rt-roi-observations": "RT ROI observations: structure",
}
# Never allowed, whatever module names them: the issuers of identifiers de-identification replaced.
ISSUER_SEQUENCES = (
    "IssuerOfAccessionNumberSequence",
    "IssuerOfPatientIDQualifiersSequence",
    "IssuerOfAdmissionIDSequence",
    "IssuerOfServiceEpisodeIDSequence",
    "OrderPlacerIdentifierSequence",
    "OrderFillerIdentifierSequence",
    "IssuerOfTheContainerIdentifierSequence",
    "IssuerOfTheSpecimenIdentifierSequence",
    "OtherPatientIDsSequence",
)
# Attributes that become Type 2C when the patient is an animal (Patient module).
ANIMAL_KEYWORDS = (
    "ResponsiblePerson",
    "ResponsiblePersonRole",
    "ResponsibleOrganization",
    "PatientBreedDescription",
    "PatientBreedCodeSequence",
    "BreedRegistrationSequence",
    "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence",
)


def _load(wheel: Path | None) -> tuple[dict, dict, dict, str]:
    if wheel is not None:
        version = wheel.name.split("-")[1]
        with zipfile.ZipFile(wheel) as archive:
            data = [json.loads(archive.read(f"highdicom/_standard/{name}")) for name in FILES]
    else:
        version = metadata.version("highdicom")
        folder = resources.files("highdicom").joinpath("_standard")
        data = [json.loads(folder.joinpath(name).read_text()) for name in FILES]
    return data[0], data[1], data[2], version


def _tag(keyword: str) -> int | None:
    return tag_for_keyword(keyword)


def _table_tags() -> set[int]:
    from rules.anonymize.table_e1_1 import ROWS

    return {int(tag, 16) for tag, *_ in ROWS if "x" not in tag and tag != "private"}


_STRENGTH = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}


def _types(modules: dict, wanted: set[int]) -> dict[str, dict[tuple[int, int], str]]:
    out: dict[str, dict[tuple[int, int], str]] = {}
    for key, attributes in sorted(modules.items()):
        found: dict[tuple[int, int], str] = {}
        for attribute in attributes:
            tag = _tag(attribute["keyword"])
            if tag is None or tag not in wanted or attribute["type"] not in _STRENGTH:
                continue
            parent = _tag(attribute["path"][-1]) if attribute["path"] else 0
            if parent is None:
                continue
            old = found.get((parent, tag))
            if old is None or _STRENGTH[attribute["type"]] < _STRENGTH[old]:
                found[(parent, tag)] = attribute["type"]
        if found:
            out[key] = found
    return out


def _allowed(modules: dict, table: set[int]) -> dict[int, str]:
    issuers = {tag_for_keyword(keyword) for keyword in ISSUER_SEQUENCES}
    allowed: dict[int, str] = {}
    for key, why in ALLOWED_MODULES.items():
        for attribute in modules[key]:
            tag = _tag(attribute["keyword"])
            path = {_tag(keyword) for keyword in attribute["path"]}
            if tag is None or tag in table or tag in issuers or path & issuers:
                continue
            allowed.setdefault(tag, f"PS3.3 {key} module: {why}")
    return allowed


def _header(what: str, version: str) -> str:
    return (
        f'"""{what}\n\nGENERATED by scripts/gen_anonymize_iod.py: do not edit by hand, regenerate.\n\n'
        f"Source: the PyPI package highdicom {version} (highdicom/_standard/*.json, MIT licence): PS3.3's\n"
        'IOD and module tables in machine-readable form.\n"""\n\n'
        f'SOURCE = "highdicom {version}: highdicom/_standard/*.json"\n\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", nargs="?", type=Path, help="a highdicom wheel (default: the installed one)")
    args = parser.parse_args()
    sop_iod, iod_modules, modules, version = _load(args.wheel)
    table = _table_tags()
    extra = (*ANIMAL_KEYWORDS, *ISSUER_SEQUENCES)
    wanted = table | {tag for keyword in extra if (tag := _tag(keyword)) is not None}
    types = _types(modules, wanted)
    lines = [
        _header("PS3.3 attribute types (1, 1C, 2, 2C, 3) per module and modules per IOD, as data.", version)
    ]
    lines.append("IOD_BY_SOP_CLASS: dict[str, str] = {\n")
    lines += [f"    {uid!r}: {iod!r},\n" for uid, iod in sorted(sop_iod.items())]
    lines.append("}\n\nIOD_MODULES: dict[str, tuple[str, ...]] = {\n")
    for iod, entries in sorted(iod_modules.items()):
        keys = tuple(entry["key"] for entry in entries if entry["key"] in types)
        lines.append(f"    {iod!r}: {keys!r},\n")
    lines.append(
        "}\n\n# module -> space-separated TAG=TYPE (top level) or SEQ/TAG=TYPE (in sequence SEQ), hex tags\n"
    )
    lines.append("MODULE_TYPES: dict[str, str] = {\n")
    for key, found in types.items():
        body = " ".join((f"{p:08X}/" if p else "") + f"{t:08X}={v}" for (p, t), v in sorted(found.items()))
        lines.append(f"    {key!r}: {body!r},\n")
    lines.append("}\n")
    OUT_TYPES.write_text("".join(lines))
    allowed = _allowed(modules, table)
    lines = [
        _header(
            "The strict profile's allow-list: attributes kept beyond Table E.1-1, with a source.", version
        )
    ]
    lines.append("# tag -> where it comes from and why it is safe\nALLOWED: dict[int, str] = {\n")
    lines += [f"    0x{tag:08X}: {source!r},\n" for tag, source in sorted(allowed.items())]
    lines.append("}\n")
    OUT_ALLOW.write_text("".join(lines))
    print(f"{OUT_TYPES.name}: {len(types)} modules; {OUT_ALLOW.name}: {len(allowed)} attributes")


if __name__ == "__main__":
    main()
