"""Destination configurations: a discriminated union on ``type``, one model per destination kind."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class DestinationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    description: str = ""


class FilesystemDestinationConfig(DestinationBase):
    type: Literal["filesystem"] = "filesystem"
    # None: <data_dir>/destinations/<name>. Relative paths are taken from the data dir.
    root: str | None = None
    # Python format fields are DICOM keywords; every component is sanitized before use.
    path_template: str = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"


class CStoreDestinationConfig(DestinationBase):
    type: Literal["cstore"] = "cstore"
    host: str
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    calling_ae_title: str = Field(default="AXIOM", min_length=1, max_length=16)
    timeout_seconds: float = Field(default=30.0, gt=0)


DestinationConfig = Annotated[
    FilesystemDestinationConfig | CStoreDestinationConfig,
    Field(discriminator="type"),
]
