"""Everything derived from the deployment secret: UIDs, pseudonyms, date shifts.

HMAC-SHA256 keyed with the secret, with a purpose label in the message, so one original gives the
same UID (or pseudonym, or shift) on every worker and every run, and nobody without the secret can
compute or reverse it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Keys:
    secret: bytes = field(repr=False)

    def digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.secret, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """``2.25.<int>``: the first 128 bits of the HMAC as a UUID (version 8, RFC 9562 variant)."""
        raw = bytearray(self.digest("uid", original.strip().rstrip("\0")))[:16]
        raw[6] = (raw[6] & 0x0F) | 0x80
        raw[8] = (raw[8] & 0x3F) | 0x80
        return f"2.25.{int.from_bytes(raw, 'big')}"

    def patient_pseudonym(self, patient_id: str) -> str:
        """``ANON-`` and 16 hex digits: fits a LO PatientID and a PN PatientName."""
        return "ANON-" + self.digest("patient-id", patient_id.strip()).hex()[:16].upper()

    def date_shift_days(self, patient_id: str, max_days: int) -> int:
        """Days (negative: into the past, never 0) every date of this patient moves."""
        number = int.from_bytes(self.digest("date-shift", patient_id.strip())[:8], "big")
        return -(1 + number % max_days)
