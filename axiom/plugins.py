"""Plugin registries, as kombu does for transports: a short alias maps to a lazy ``module:Class``,
third parties add kinds through an entry-point group, and an unknown name fails with "did you mean".
Destinations and sources keep theirs here; model runtimes in ``axiom.ai``.

Each plugin class owns its config model (``config_model``). A configuration is validated in two
steps (``validate_config``): the fields every kind shares (``type`` among them), then the whole thing
by the model the registry names for ``type``. Nothing here holds a closed list of kinds: a kind
installed through the entry-point group validates, appears in the JSON Schema and runs like a
built-in one. The registries name their plugin modules by string only, so the layers below the
plugins (the repositories reading stored configuration) can validate without importing them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from axiom.domain.destinations import PLUGINS_CONTEXT_KEY, DestinationBase
from axiom.domain.sources import SourceBase

T = TypeVar("T")


class UnknownDestinationKind(LookupError):
    pass


class UnknownSourceKind(LookupError):
    pass


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(import_module(module_name), attr)


class PluginRegistry(Generic[T]):
    """``base``: the plugin base class, or its ``module:Class`` (loaded on first use);
    ``config_base``: the model of the fields every kind shares (None: the plugins have no config)."""

    def __init__(
        self,
        what: str,
        base: type | str,
        aliases: dict[str, str],
        group: str,
        unknown: type[LookupError],
        config_base: type[BaseModel] | None = None,
        kind_field: str = "type",
    ) -> None:
        self.what = what  # "destination type", for messages
        self._base = base
        self.aliases = aliases  # kept by reference: an alias added to it later is seen
        self.group = group
        self.unknown = unknown
        self.config_base = config_base
        self.kind_field = kind_field  # the config field that names the kind

    @property
    def base(self) -> type:
        if isinstance(self._base, str):
            self._base = cast(type, _load(self._base))
        return self._base

    def available(self, *, installed: bool = True) -> dict[str, str]:
        """Every kind, built-in aliases first, then (``installed``) the entry points that do not
        shadow one."""
        kinds = dict(self.aliases)
        for ep in entry_points(group=self.group) if installed else ():
            kinds.setdefault(ep.name, ep.value)
        return kinds

    def resolve(self, kind: str) -> type[T]:
        kinds = self.available()
        try:
            target = kinds[kind]
        except KeyError:
            close = difflib.get_close_matches(kind, kinds, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
            raise self.unknown(f"unknown {self.what} {kind!r}{hint}") from None
        cls = _load(target)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{target} is not a {self.base.__name__} subclass")
        return cast(type[T], cls)

    def config_model(self, kind: str) -> type[BaseModel]:
        """The config model of ``kind``'s plugin; the registry's unknown error when there is none."""
        return cast(type[BaseModel], cast(Any, self.resolve(kind)).config_model)

    def config_models(self, *, installed: bool = True) -> dict[str, type[BaseModel]]:
        """Every available kind's config model (for the JSON Schema), by alias; ``installed``: the
        entry points' kinds too, else the built-in ones only."""
        return {kind: self.config_model(kind) for kind in self.available(installed=installed)}

    def validate_config(self, data: Any) -> BaseModel:
        """Two steps: the shared fields, then the kind's own model over the whole of ``data``.

        Raises pydantic's ValidationError either way, so callers report an unknown kind (with the
        registry's "did you mean") exactly as they report any other field."""
        base = self.config_base
        if base is None:
            raise TypeError(f"{self.what} plugins have no config model")
        if isinstance(data, base):
            if isinstance(data, self.config_model(str(getattr(data, self.kind_field, "")))):
                return data
            data = data.model_dump(mode="python", exclude_unset=True)
        if not isinstance(data, Mapping):
            base.model_validate(data)  # raises the model's "should be a dictionary" error
        shared = {key: value for key, value in data.items() if key in base.model_fields}
        problems: list[InitErrorDetails] = []
        try:
            base.model_validate(shared)
        except ValidationError as exc:
            problems = cast(list[InitErrorDetails], exc.errors(include_url=False))
        kind = data.get(self.kind_field, base.model_fields[self.kind_field].default)
        if not isinstance(kind, str) or any(p["loc"][:1] == (self.kind_field,) for p in problems):
            raise ValidationError.from_exception_data(base.__name__, problems)
        try:
            model = self.config_model(kind)
        except self.unknown as exc:
            error = PydanticCustomError("unknown_kind", "{message}", {"message": str(exc)})
            problems.append({"type": error, "loc": (self.kind_field,), "input": kind})
            raise ValidationError.from_exception_data(base.__name__, problems) from None
        return model.model_validate(dict(data))


DESTINATIONS: PluginRegistry[Any] = PluginRegistry(
    "destination type",
    "axiom.destinations.base:Destination",
    {
        "filesystem": "axiom.destinations.filesystem:FilesystemDestination",
        "cstore": "axiom.destinations.cstore:CStoreDestination",
        "stowrs": "axiom.destinations.stowrs:STOWRSDestination",
        "gcs": "axiom.destinations.gcs:GCSDestination",
        "healthcare": "axiom.destinations.healthcare:HealthcareDestination",
        "s3": "axiom.destinations.s3:S3Destination",
        "azure-blob": "axiom.destinations.azure_blob:AzureBlobDestination",
    },
    "axiom.destinations",
    UnknownDestinationKind,
    DestinationBase,
)

SOURCES: PluginRegistry[Any] = PluginRegistry(
    "source type",
    "axiom.sources.base:Source",
    {
        "dicomweb": "axiom.sources.dicomweb:DicomwebSource",
        "healthcare": "axiom.sources.healthcare:HealthcareSource",
        "dimse": "axiom.sources.dimse:DimseSource",
    },
    "axiom.sources",
    UnknownSourceKind,
    SourceBase,
)


def validation_context() -> dict[str, Any]:
    """Pydantic's validation context for the configuration types (``ConfigFile``, the stored rows)."""
    return {PLUGINS_CONTEXT_KEY: {"destinations": DESTINATIONS, "sources": SOURCES}}
