"""Named de-identification profiles: a base profile, Annex E options and per-tag overrides, as YAML.

A profile file (``rules/anonymize/profiles/NAME.yaml``, shipped with the package) names a ``base``
profile, adds ``options`` (columns of Table E.1-1), may drop options of its base (``drop_options``),
overrides single tags with an action code, adds safe private attributes, lists the modalities and
SOP classes whose pixels are presumed to carry burned-in text, and may turn on allow-list mode
(``allow_list: true``: attributes neither in Table E.1-1 nor in ``allow_list.py`` are removed).
``resolve`` folds the chain into one ``ResolvedProfile``: the action code of every tag, for the walker.

The shipped files are package data, read once per process: no other I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.anonymize.table_e1_1 import EDITION, ROWS
from rules.tags import parse_tag

OptionName = Literal[
    "retain-safe-private",
    "retain-uids",
    "retain-device-identity",
    "retain-institution-identity",
    "retain-patient-characteristics",
    "retain-longitudinal-full-dates",
    "retain-longitudinal-modified-dates",
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
]
OPTION_NAMES: tuple[str, ...] = get_args(OptionName)
ActionCode = Literal["D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"]
ACTION_CODES: tuple[str, ...] = get_args(ActionCode)

# CID 7050 "De-identification Method": the code of the Basic Profile and of each option (scheme DCM).
CID_7050: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean-graphics": ("113103", "Clean Graphics Option"),
    "clean-structured-content": ("113104", "Clean Structured Content Option"),
    "clean-descriptors": ("113105", "Clean Descriptors Option"),
    "retain-longitudinal-full-dates": (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "retain-longitudinal-modified-dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain-patient-characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain-device-identity": ("113109", "Retain Device Identity Option"),
    "retain-uids": ("113110", "Retain UIDs Option"),
    "retain-safe-private": ("113111", "Retain Safe Private Option"),
    "retain-institution-identity": ("113112", "Retain Institution Identity Option"),
}
_DATE_OPTIONS = {"retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ProfileError(ValueError):
    """A profile is unknown or invalid; the message names the profile and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def check_overrides(value: dict[str, str]) -> dict[str, str]:
    """Each key resolves to a tag (keyword, (gggg,eeee) or ggggeeee)."""
    for key in value:
        parse_tag(str(key))
    return value


class SafePrivate(_Model):
    group: int = Field(ge=0x0009, le=0xFFFF)
    creator: str = Field(min_length=1, max_length=64)
    element: int = Field(ge=0, le=0xFF)
    note: str = ""

    @field_validator("group")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"group {value:04X} is not a private (odd) group")
        return value


class BurnedIn(_Model):
    modalities: list[str] = Field(default_factory=list)
    sop_classes: list[str] = Field(default_factory=list)


class ProfileDef(_Model):
    """One profile file as written."""

    name: Annotated[str, Field(pattern=_NAME)]
    description: str = ""
    base: str | None = None
    options: list[OptionName] = Field(default_factory=list)
    drop_options: list[OptionName] = Field(default_factory=list)
    overrides: dict[str, ActionCode] = Field(default_factory=dict)
    safe_private: list[SafePrivate] = Field(default_factory=list)
    burned_in: BurnedIn | None = None
    date_shift_max_days: int | None = Field(default=None, ge=1, le=36500)
    # Allow-list mode: remove every standard attribute neither in Table E.1-1 nor in allow_list.py.
    allow_list: bool | None = None

    _overrides_resolve = field_validator("overrides")(check_overrides)


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile with its base chain and options folded in: what the walker applies."""

    name: str
    options: tuple[str, ...]  # in Table E.1-1 column order
    codes: dict[int, str]  # exact tag -> action code
    curve_code: str  # (50xx,xxxx)
    overlay_data_code: str  # (60xx,3000)
    overlay_comments_code: str  # (60xx,4000)
    private_code: str  # private attributes not in the safe list
    safe_private: frozenset[tuple[int, str, int]]
    burned_in_modalities: frozenset[str]
    burned_in_sop_classes: frozenset[str]
    date_shift_max_days: int
    cleans: bool  # some tag has code C: free text gets scrubbed
    allow_list: bool = False  # strict: attributes neither listed nor allowed are removed

    def code(self, tag: int) -> str | None:
        """The action code for ``tag`` (private tags excluded), or None when Table E.1-1 omits it."""
        found = self.codes.get(tag)
        if found is not None:
            return found
        group = tag >> 16
        if 0x5000 <= group <= 0x50FF and group % 2 == 0:
            return self.curve_code
        if 0x6000 <= group <= 0x60FF and group % 2 == 0:
            element = tag & 0xFFFF
            if element == 0x3000:
                return self.overlay_data_code
            if element == 0x4000:
                return self.overlay_comments_code
        return None

    @property
    def method_codes(self) -> list[tuple[str, str]]:
        """CID 7050 (code value, meaning) for the Basic Profile and each option, in that order."""
        return [CID_7050["basic"], *(CID_7050[option] for option in self.options)]

    @property
    def edition(self) -> str:
        return EDITION


def _combine(basic: str, row_options: dict[str, str], options: frozenset[str]) -> str:
    """An option that retains (K) wins over one that cleans (C); either replaces the basic code."""
    chosen = {code for name, code in row_options.items() if name in options}
    if "K" in chosen:
        return "K"
    if "C" in chosen:
        return "C"
    return basic


@cache
def _safe_private_defaults() -> tuple[SafePrivate, ...]:
    text = resources.files("rules.anonymize").joinpath("safe_private.yaml").read_text()
    return tuple(SafePrivate.model_validate(item) for item in yaml.safe_load(text))


def _format_error(where: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    return f"{where}: {loc}: {first['msg']}" if loc else f"{where}: {first['msg']}"


@cache
def shipped_profiles() -> dict[str, ProfileDef]:
    """Every profile file shipped in rules/anonymize/profiles, by name."""
    found: dict[str, ProfileDef] = {}
    folder = resources.files("rules.anonymize").joinpath("profiles")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        where = f"anonymization profile file {entry.name}"
        try:
            profile = ProfileDef.model_validate(yaml.safe_load(entry.read_text()))
        except ValidationError as exc:
            raise ProfileError(_format_error(where, exc)) from None
        if profile.name != entry.name.removesuffix(".yaml"):
            raise ProfileError(f"{where}: name: {profile.name!r} differs from the file name")
        found[profile.name] = profile
    return found


def _chain(name: str, extra: ProfileDef | None) -> list[ProfileDef]:
    """The profiles from the root base down to ``name`` (then ``extra``), checking every link."""
    known = shipped_profiles()
    chain: list[ProfileDef] = [] if extra is None else [extra]
    seen: set[str] = set()
    current: str | None = name
    while current is not None:
        profile = known.get(current)
        if profile is None:
            raise ProfileError(
                f"profile: unknown anonymization profile {current!r}; known: {', '.join(sorted(known))}"
            )
        if current in seen:
            raise ProfileError(f"profile: {current!r} is its own base")
        seen.add(current)
        chain.append(profile)
        current = profile.base
    return list(reversed(chain))


def resolve(
    name: str,
    options: tuple[str, ...] = (),
    overrides: tuple[tuple[str, str], ...] = (),
) -> ResolvedProfile:
    """Fold profile ``name`` (and its bases), extra ``options`` and ``overrides`` into one profile.

    Raises ``ProfileError`` naming the field: an unknown profile or option, both date options.
    """
    return _resolve(name, tuple(options), tuple(overrides))


@cache
def _resolve(name: str, options: tuple[str, ...], overrides: tuple[tuple[str, str], ...]) -> ResolvedProfile:
    extra = ProfileDef.model_construct(
        name=name, options=list(options), drop_options=[], overrides=dict(overrides), safe_private=[]
    )
    chosen: set[str] = set()
    merged_overrides: dict[str, str] = {}
    safe: list[SafePrivate] = list(_safe_private_defaults())
    burned_in = BurnedIn()
    shift_days = 365
    allow_list = False
    for profile in _chain(name, extra):
        chosen -= set(profile.drop_options)
        chosen |= set(profile.options)
        merged_overrides.update(profile.overrides)
        safe.extend(profile.safe_private)
        if profile.burned_in is not None:
            burned_in = profile.burned_in
        if profile.date_shift_max_days is not None:
            shift_days = profile.date_shift_max_days
        if profile.allow_list is not None:
            allow_list = profile.allow_list
    unknown = sorted(chosen - set(OPTION_NAMES))
    if unknown:
        raise ProfileError(
            f"options: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}"
        )
    if chosen >= _DATE_OPTIONS:
        raise ProfileError(
            "options: retain-longitudinal-full-dates and retain-longitudinal-modified-dates exclude each other"
        )
    selected = frozenset(chosen)
    codes: dict[int, str] = {}
    special: dict[str, str] = {}
    for tag, _keyword, basic, row_options in ROWS:
        code = _combine(basic, row_options, selected)
        if "x" in tag or tag == "private":
            special[tag] = code
        else:
            codes[int(tag, 16)] = code
    for key, code in merged_overrides.items():
        if code not in ACTION_CODES:
            raise ProfileError(f"overrides.{key}: {code!r} is not an action code ({', '.join(ACTION_CODES)})")
        codes[int(parse_tag(key))] = code
    return ResolvedProfile(
        name=name,
        options=tuple(option for option in OPTION_NAMES if option in selected),
        codes=codes,
        curve_code=special["50xxxxxx"],
        overlay_data_code=special["60xx3000"],
        overlay_comments_code=special["60xx4000"],
        private_code=special["private"],
        safe_private=frozenset((s.group, s.creator, s.element) for s in safe),
        burned_in_modalities=frozenset(m.upper() for m in burned_in.modalities),
        burned_in_sop_classes=frozenset(burned_in.sop_classes),
        date_shift_max_days=shift_days,
        cleans="C" in codes.values() or "C" in special.values() or allow_list,
        allow_list=allow_list,
    )


def profile_names() -> list[str]:
    return sorted(shipped_profiles())
