"""Narrowing the combined action codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) by the attribute's type.

PS3.15 E.1.1: "X unless Z or D is required to maintain IOD conformance". The type of an attribute
in the instance's IOD decides: D for Type 1 (a value is required), Z for Type 2 (present, may be
empty), X for Type 3 or an attribute the IOD does not have; each within what the code allows.
Types come from ``iod_types`` (PS3.3's module tables as generated data), looked up by the SOP Class
of the instance and the sequence the attribute sits in. Where the SOP Class is not in the tables,
the choice falls back to keeping Type 1 and 2 attributes present without information.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from pydicom import Dataset
from pydicom.dataelem import DataElement

from rules.anonymize.iod_types import IOD_BY_SOP_CLASS, IOD_MODULES, MODULE_TYPES

# The attributes that become Type 2C when the patient is an animal (Patient module, PS3.3 C.7.1.1):
# emptied rather than removed, wherever the table codes them X.
ANIMAL_2C = frozenset({0x00102297, 0x00102299})  # ResponsiblePerson, ResponsibleOrganization
_ANIMAL_MARKERS = (0x00102201, 0x00102202)  # PatientSpeciesDescription, PatientSpeciesCodeSequence
_STRENGTH = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}
# Preferred single action per type class, first allowed one wins.
_PREFERENCE = {"1": ("D", "U", "Z", "X"), "2": ("Z", "D", "U", "X"), "3": ("X", "Z", "D", "U")}

Types = Mapping[tuple[int, int], str]


@cache
def _module(key: str) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    for entry in MODULE_TYPES[key].split():
        where, kind = entry.split("=")
        parent, _, tag = where.rpartition("/")
        found[(int(parent, 16) if parent else 0, int(tag, 16))] = kind
    return found


@cache
def iod_types(sop_class_uid: str) -> Types | None:
    """(enclosing sequence tag or 0, tag) -> type, for the IOD of ``sop_class_uid``; None if unknown."""
    iod = IOD_BY_SOP_CLASS.get(sop_class_uid.strip().rstrip("\0"))
    if iod is None:
        return None
    merged: dict[tuple[int, int], str] = {}
    for key in IOD_MODULES.get(iod, ()):
        for where, kind in _module(key).items():
            old = merged.get(where)
            if old is None or _STRENGTH[kind] < _STRENGTH[old]:
                merged[where] = kind
    return merged


def is_animal(root: Dataset) -> bool:
    """The patient is an animal: Patient Species Description or Code Sequence is present."""
    return any(tag in root for tag in _ANIMAL_MARKERS)


def _fallback(code: str, elem: DataElement) -> str:
    """Without the IOD: keep present attributes present, with no information."""
    if code == "Z/D":
        return "Z" if elem.is_empty else "D"
    if code in ("X/Z", "X/Z/D"):
        return "Z"
    if code == "X/D":
        return "X" if elem.is_empty else "D"
    return "U" if elem.VR in ("UI", "SQ") else "Z"  # X/Z/U*


def single_code(code: str, elem: DataElement, attr_type: str | None = None) -> str:
    """Narrow ``code`` to one action for ``elem``, whose type in the IOD is ``attr_type``.

    ``attr_type`` None: the IOD is unknown. An attribute the known IOD does not list is Type 3.
    X/Z/U* keeps UIDs and sequences of references, remapped (U), whatever the type: references
    between de-identified instances still resolve, and U is one of the actions the code allows.
    """
    if "/" not in code:
        return code
    if code == "X/Z/U*" and elem.VR in ("UI", "SQ"):
        return "U"
    if attr_type is None:
        return _fallback(code, elem)
    allowed = set(code.rstrip("*").split("/"))
    kind = "1" if attr_type in ("1", "1C") else "2" if attr_type in ("2", "2C") else "3"
    return next(action for action in _PREFERENCE[kind] if action in allowed)
