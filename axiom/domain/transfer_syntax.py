"""Transfer syntax names as configured (a UID or a pydicom keyword), checked without touching data.

``check_target`` is the configuration-time check behind ``transfer_syntax`` on a destination: the
name resolves and this installation has an encoder for it, so a send never meets an impossible target.
"""

from __future__ import annotations

import pydicom.uid
from pydicom.pixels import get_encoder
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


def resolve_target(text: str) -> UID:
    """A transfer syntax from its UID or pydicom keyword (``ExplicitVRLittleEndian``, ``RLELossless``)."""
    uid = UID(text) if text[:1].isdigit() else UID(getattr(pydicom.uid, text, "") or "")
    if not uid or not uid.is_transfer_syntax:
        raise ValueError(f"{text!r} is not a transfer syntax UID or keyword")
    return uid


def check_target(text: str) -> str:
    """For config validation: the target resolves and can be written here."""
    uid = resolve_target(text)
    if uid in UNCOMPRESSED:
        return text
    if not uid.is_compressed:
        raise ValueError(f"{uid.name} is not supported as a target; use ExplicitVRLittleEndian")
    try:
        available = get_encoder(uid).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ValueError(f"no encoder for {uid.name} is installed; targets: uncompressed, RLELossless")
    return text
