"""Relative file paths from templates such as ``{PatientID}/{StudyDate}/{SOPInstanceUID}.dcm``.

Tag values come from the sender and are hostile until proven otherwise, so three layers keep a
rendered path inside its root:

1. the template's own text is checked once (plain ``A-Za-z0-9._-`` literals, ``/`` separators,
   DICOM keywords as fields, no ``.``/``..`` or hidden components);
2. every field value is sanitized on its own: characters outside ``A-Za-z0-9._-`` become ``_``
   (``/``, ``\\``, NUL, every non-ASCII look-alike), a leading dot becomes ``_``, empty or missing
   values become ``UNKNOWN``, and long values are cut with a hash suffix so they stay distinct;
3. the joined path is resolved (symlinks followed) and must still lie under the resolved root.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydicom.datadict import keyword_dict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

UNKNOWN = "UNKNOWN"
# Long enough for any UI/LO/PN component (64), short enough that several fit one 255-byte name.
MAX_FIELD_LENGTH = 64
MAX_COMPONENT_LENGTH = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9._-]*")


class PathTemplateError(ValueError):
    """The template itself is unusable (found at configuration time, not per instance)."""


class UnsafePathError(ValueError):
    """A rendered path would leave its root; the message names no tag values."""


def sanitize_component(value: str, *, max_length: int = MAX_FIELD_LENGTH) -> str:
    """One safe path-name piece from an arbitrary string (see the module doc for the rules)."""
    cleaned = _UNSAFE.sub("_", value)
    if cleaned.startswith("."):
        # Dots lead hidden files, ``.``/``..`` and the atomic writer's temporary names.
        cleaned = "_" + cleaned[1:]
    if not cleaned:
        return UNKNOWN
    if len(cleaned) > max_length:
        # Keep values that share a long prefix apart; the hash is of the raw value.
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned[: max_length - 9]}_{digest}"
    return cleaned


def field_text(dataset: Dataset, keyword: str) -> str:
    """A tag's value as text for a path: multi-values joined by ``_``; missing/binary/sequence -> ''."""
    try:
        value = dataset.get(keyword)
        if value is None and keyword_dict.get(keyword, 0) >> 16 == 0x0002:
            file_meta = getattr(dataset, "file_meta", None)
            value = file_meta.get(keyword) if file_meta is not None else None
    except Exception:
        # A value pydicom cannot convert (say, letters in an IS) names nothing usable.
        return ""
    if value is None or isinstance(value, bytes | bytearray | Sequence):
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "_".join(str(v) for v in value)
    return str(value).strip()


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template: components, each a run of literal text and DICOM keyword fields."""

    text: str
    components: tuple[tuple[tuple[str, str | None], ...], ...]

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise PathTemplateError(f"malformed path template: {exc}") from None
        components: list[list[tuple[str, str | None]]] = [[]]
        for literal, field, spec, conversion in pieces:
            for i, part in enumerate(literal.split("/")):
                if i:
                    components.append([])
                if not _SAFE_LITERAL.fullmatch(part):
                    raise PathTemplateError(
                        f"path template literal {part!r} may only hold A-Z a-z 0-9 . _ - and '/' separators"
                    )
                if part:
                    components[-1].append((part, None))
            if field is None:
                continue
            if spec or conversion:
                raise PathTemplateError(f"path template field {{{field}}} takes no format spec or conversion")
            if field not in keyword_dict:
                raise PathTemplateError(f"path template field {{{field}}} is not a DICOM keyword")
            components[-1].append(("", field))
        for component in components:
            if not component:
                raise PathTemplateError(
                    "path template has an empty component (leading, trailing or double '/')"
                )
            first_text, first_field = component[0]
            if first_field is None and first_text.startswith("."):
                raise PathTemplateError(
                    "path template components may not start with '.' (no '.', '..' or hidden names)"
                )
        if not any(field for component in components for _, field in component):
            raise PathTemplateError("path template has no fields: every instance would share one file")
        return cls(text, tuple(tuple(c) for c in components))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(field for comp in self.components for _, field in comp if field)

    def render(self, dataset: Dataset) -> PurePosixPath:
        """The relative path for ``dataset``; every field value sanitized, every component checked."""
        parts: list[str] = []
        for component in self.components:
            rendered = "".join(
                text if field is None else sanitize_component(field_text(dataset, field))
                for text, field in component
            )
            if len(rendered) > MAX_COMPONENT_LENGTH:
                rendered = sanitize_component(rendered, max_length=MAX_COMPONENT_LENGTH)
            # Unreachable given the rules above; kept so a future rule change cannot open a hole.
            if rendered in ("", ".", "..") or "/" in rendered or "\\" in rendered or "\x00" in rendered:
                raise UnsafePathError("rendered path component is not a plain name")
            parts.append(rendered)
        return PurePosixPath(*parts)


def resolve_under(root: Path, relative: PurePosixPath) -> Path:
    """``root / relative`` as an absolute path, refused if it (after symlinks) leaves ``root``."""
    if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        raise UnsafePathError("relative path must be plain names only")
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base.joinpath(*relative.parts)))
    if target == base or not target.is_relative_to(base):
        raise UnsafePathError(f"rendered path leaves the destination root {base}")
    return target
