"""What every destination's configuration has, whatever its kind.

A kind's own fields live in its config model, beside its plugin (``axiom/destinations/<kind>.py``,
or a third party's package): the model subclasses ``DestinationBase`` and narrows ``type`` to its
alias. Validation is two steps (``axiom.plugins``): these common fields, then the model the registry
names for ``type``; so a kind added through the ``axiom.destinations`` entry-point group is accepted
by ``axiom apply`` and the API like a built-in one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
)

from axiom.domain.secrets import SecretRef
from axiom.domain.transfer_syntax import check_target

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A registry alias: lower-case letters, digits, ``-`` and ``_``.
KIND_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
# Where the configuration types find the plugin registries in pydantic's validation context
# (``axiom.plugins.validation_context()``): the domain names no plugin and imports no registry.
PLUGINS_CONTEXT_KEY = "plugins"


def by_registry(registry: str) -> PlainValidator:
    """A validator that hands a typed configuration to the registry ``registry`` of the context."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        registries = (info.context or {}).get(PLUGINS_CONTEXT_KEY)
        if not registries:
            raise ValueError(f"{registry} are validated with the plugin registries in the context")
        return registries[registry].validate_config(value)

    return PlainValidator(validate)


class CircuitBreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Consecutive transient failures (across every worker) that open the circuit.
    failures: int = Field(default=5, ge=1)
    # While open, sends are not tried (each becomes a retry row); then one probe goes through.
    cooldown_seconds: float = Field(default=60.0, gt=0)


DEFAULT_BREAKER = CircuitBreakerConfig()


class DestinationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    description: str = ""
    # Limits shared by every worker (through Redis when AXIOM_CACHE_URL is set, else per process).
    max_concurrency: int | None = Field(default=None, ge=1)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    # None: the defaults (5 failures, 60 s), left out of the stored form.
    circuit_breaker: CircuitBreakerConfig | None = None
    # None: send as received. Else a transfer syntax (UID or keyword, e.g. ExplicitVRLittleEndian,
    # RLELossless) every instance is transcoded to first.
    transfer_syntax: str | None = None
    # A re-receipt of content this destination already has (same SOP Instance UID, same content
    # hash): "skip" it (None: the default), "send" it again, or "send_if_changed": send it only when
    # what would go out differs from what went (the rules changed it in between).
    on_duplicate: Literal["skip", "send", "send_if_changed"] | None = None
    # The registry alias of the kind (last, where the kinds' own models used to declare it); each
    # kind's model narrows it to a Literal.
    type: str = Field(pattern=KIND_PATTERN)

    _target_writable = field_validator("transfer_syntax")(
        lambda value: None if value is None else check_target(value)
    )

    @property
    def breaker(self) -> CircuitBreakerConfig:
        return self.circuit_breaker or DEFAULT_BREAKER

    @property
    def duplicate_policy(self) -> str:
        return self.on_duplicate or "skip"


class BasicAuth(BaseModel):
    """HTTP basic authentication; the password by secret reference."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["basic"] = "basic"
    user: str = Field(min_length=1)
    password: SecretRef


class BearerAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["bearer"] = "bearer"
    token: SecretRef


HTTPAuth = Annotated[BasicAuth | BearerAuth, Field(discriminator="type")]


# A destination's configuration of any kind: its kind's own model, chosen by the registry.
DestinationConfig = Annotated[SerializeAsAny[DestinationBase], by_registry("destinations")]
