"""Generate rules/anonymize/table_e1_1.py from a machine-readable copy of DICOM PS3.15 Table E.1-1.

Source: the PyPI package ``idiscore`` (MIT), whose ``idiscore/_public_dicom.py`` is its own scrape of
Table E.1-1 (the Basic Profile column and every option column). idiscore needs Python >= 3.12, so the
file is read as text from the wheel, never imported:

    pip download --no-deps --only-binary=:all: --python-version 3.12 idiscore==1.6.0 -d /tmp/idiscore
    python scripts/gen_anonymize_table.py /tmp/idiscore/idiscore-1.6.0-py2.py3-none-any.whl
    ruff format rules/anonymize/table_e1_1.py

Keywords come from pydicom's data dictionary (falling back to idiscore's comment for a tag pydicom
does not know). The output records the source package, its version and the edition it scraped.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import zipfile
from pathlib import Path

from pydicom.datadict import keyword_for_tag

OUT = Path(__file__).resolve().parents[1] / "rules" / "anonymize" / "table_e1_1.py"

# idiscore ActionCodes attribute -> the code as Table E.1-1 writes it.
CODES = {
    "DUMMY": "D",
    "EMPTY": "Z",
    "REMOVE": "X",
    "KEEP": "K",
    "CLEAN": "C",
    "UID": "U",
    "EMPTY_OR_DUMMY": "Z/D",
    "REMOVE_OR_EMPTY": "X/Z",
    "REMOVE_OR_DUMMY": "X/D",
    "REMOVE_OR_EMPTY_OR_DUMMY": "X/Z/D",
    "REMOVE_OR_EMPTY_OR_UID": "X/Z/U*",
}
# idiscore rule-set variable -> Axiom's option name (the columns of Table E.1-1).
OPTIONS = {
    "retain_safe_private": "retain-safe-private",
    "retain_uid": "retain-uids",
    "retain_device_id": "retain-device-identity",
    "retain_institution_id": "retain-institution-identity",
    "retain_patient_characteristics": "retain-patient-characteristics",
    "retain_full_dates": "retain-longitudinal-full-dates",
    "retain_modified_dates": "retain-longitudinal-modified-dates",
    "clean_descriptors": "clean-descriptors",
    "clean_structured_content": "clean-structured-content",
    "clean_graphics": "clean-graphics",
}


def _source(path: Path) -> tuple[str, str]:
    """(text of _public_dicom.py, package version) from a wheel or the file itself."""
    if path.suffix == ".whl":
        version = path.name.split("-")[1]
        with zipfile.ZipFile(path) as wheel:
            return wheel.read("idiscore/_public_dicom.py").decode(), version
    return path.read_text(), "unknown"


def _identifier(call: ast.Call) -> str:
    """SingleTag("00080050") -> "00080050"; RepeatingGroup("50xxxxxx") -> "50xxxxxx"; PrivateTags() -> "private"."""
    name = call.func.id if isinstance(call.func, ast.Name) else ""
    if name == "PrivateTags":
        return "private"
    arg = call.args[0]
    assert isinstance(arg, ast.Constant), ast.dump(call)
    return str(arg.value).upper().replace("X", "x")


def _rule_sets(text: str) -> dict[str, list[tuple[str, str]]]:
    sets: dict[str, list[tuple[str, str]]] = {}
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        target = node.targets[0]
        assert isinstance(target, ast.Name)
        rules = next(kw.value for kw in node.value.keywords if kw.arg == "rules")
        assert isinstance(rules, ast.List)
        entries = []
        for item in rules.elts:
            assert isinstance(item, ast.Tuple)
            ident, code = item.elts
            assert isinstance(ident, ast.Call) and isinstance(code, ast.Attribute)
            entries.append((_identifier(ident), CODES[code.attr]))
        sets[target.id] = entries
    return sets


def _keyword(ident: str, comments: dict[str, str]) -> str:
    if "x" not in ident and ident != "private":
        keyword = keyword_for_tag(int(ident, 16))
        if keyword:
            return keyword
    comment = comments.get(ident, "")
    return "" if comment.startswith("Unknown") else comment


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="idiscore wheel, or its idiscore/_public_dicom.py")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    args = parser.parse_args()
    text, version = _source(args.source)
    scraped = re.search(r"scrape date: (\S+)", text)
    url = re.search(r"(https?://\S+chapter_E\.html)", text)
    comments = {
        m.group(1).upper().replace("X", "x"): m.group(2).strip()
        for m in re.finditer(r'(?:SingleTag|RepeatingGroup)\("(\w+)"\)[^#]*?\),\s*#\s*([^\n]+)', text)
    }
    sets = _rule_sets(text)
    basic = sets.pop("basic_profile")
    options: dict[str, dict[str, str]] = {}
    for var, name in OPTIONS.items():
        for ident, code in sets.pop(var):
            options.setdefault(ident, {})[name] = code
    if sets:
        raise SystemExit(f"unexpected rule sets in the source: {sorted(sets)}")
    rows = []
    seen = set()
    for ident, code in basic:
        if ident in seen:
            continue
        seen.add(ident)
        rows.append((ident, _keyword(ident, comments), code, options.get(ident, {})))
    missing = set(options) - seen
    if missing:
        raise SystemExit(f"option rows without a Basic Profile row: {sorted(missing)}")
    lines = [
        '"""DICOM PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes), as data.',
        "",
        "GENERATED by scripts/gen_anonymize_table.py: do not edit by hand, regenerate.",
        "",
        f"Source: the PyPI package idiscore {version} (idiscore/_public_dicom.py, MIT licence), which scraped",
        f"{url.group(1) if url else 'PS3.15 chapter E'}",
        f"on {scraped.group(1) if scraped else 'an unknown date'}. See EDITION.",
        "",
        "Each row: (tag, keyword, Basic Profile action code, {option: action code}). ``tag`` is eight hex",
        'digits, with ``x`` for the repeating groups (``50xxxxxx`` curves, ``60xx3000`` overlays); "private"',
        "is the Private Attributes row. Codes: D Z X K C U and the combined Z/D X/Z X/D X/Z/D X/Z/U*.",
        '"""',
        "",
        f'SOURCE = "idiscore {version}: idiscore/_public_dicom.py"',
        "# The edition dicom.nema.org/medical/dicom/current served on the scrape date (2025b, by release date).",
        f'EDITION = "DICOM PS3.15 current edition as of {scraped.group(1) if scraped else "unknown"} (2025b)"',
        f'SCRAPED = "{scraped.group(1) if scraped else ""}"',
        "",
        "ROWS: tuple[tuple[str, str, str, dict[str, str]], ...] = (",
    ]
    for ident, keyword, code, opts in rows:
        lines.append(f"    ({ident!r}, {keyword!r}, {code!r}, {opts!r}),".replace("'", '"'))
    lines.append(")")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
