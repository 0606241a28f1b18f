"""Known DICOM peers: who may open associations to the listener (``peers:`` in the file ``axiom apply``
reads). An empty list lets any peer store (the easy default, announced by ``axiom up``); once one peer
is listed, only listed peers may, each from its host and, when set, only to the called AE titles
listed and only with a TLS client certificate of the given common name."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# PS3.5 AE titles: up to 16 characters of the default repertoire, no backslash or control characters.
AE_TITLE_PATTERN = r"^[ -\[\]-~]{1,16}$"


class PeerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(pattern=NAME_PATTERN)
    # "dicom": a DIMSE peer of the listener (the one kind today).
    type: Literal["dicom"] = "dicom"
    enabled: bool = True
    ae_title: str = Field(pattern=AE_TITLE_PATTERN)
    # The address the peer connects from (an IP address; the listener sees no host names).
    host: str
    # Our AE titles this peer may call; empty: any.
    called_ae_titles: list[str] = []
    # When set, the peer must present a TLS client certificate with this subject common name.
    tls_client_cn: str = ""
    # The port the peer listens on: where a Storage Commitment report goes when the association that
    # asked for it has closed (to ``host``, calling ``ae_title``).
    port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("host must be an IP address (the address the peer connects from)") from None

    @field_validator("ae_title")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()
