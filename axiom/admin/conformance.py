"""The DICOM Conformance Statement (``docs/conformance.md``, PS3.2 structure), generated from what the
code negotiates: the listener's presentation contexts come from ``build_ae`` itself, the SCU contexts
from the C-STORE destination's and the DIMSE source's own functions, the statuses and limits from the
modules and ``Settings`` defaults that use them. ``tests/unit/admin/test_conformance.py`` fails when the
published file and this text disagree.

Regenerate: ``python -m axiom.admin.conformance > docs/conformance.md``
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

import pynetdicom
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless

from axiom.config import Settings
from axiom.destinations.cstore import MAX_CONTEXTS, TRANSIENT_STATUSES, proposed_syntaxes
from axiom.dicom.sop_classes import VERIFICATION, is_unknown_storage_class
from axiom.dicom.validate import CANNOT_UNDERSTAND, DOES_NOT_MATCH_SOP_CLASS
from axiom.pipeline.ingest import OUT_OF_RESOURCES_QUEUE, OUT_OF_RESOURCES_SPOOL, SUCCESS
from axiom.pipeline.listener import build_ae
from axiom.pipeline.storage_commitment import (
    CLASS_INSTANCE_CONFLICT,
    COMMITMENT_INSTANCE,
    NO_SUCH_OBJECT_INSTANCE,
    STORAGE_COMMITMENT,
)
from axiom.sources.dimse import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    storage_contexts,
)

_EXAMPLE_CLASS = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
RETIRED_US = "1.2.840.10008.5.1.4.1.1.6"  # Ultrasound Image Storage (Retired)


def _name(uid: str) -> str:
    value = UID(uid)
    return value.name if value.name != str(value) else "(private or unknown)"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _syntaxes(uids: Iterable[str]) -> str:
    return "<br>".join(f"{_name(u)} `{u}`" for u in uids)


def scp_contexts(settings: Settings) -> list[tuple[str, str, tuple[str, ...]]]:
    """(abstract syntax name, UID, transfer syntaxes) of every context the listener accepts."""
    ae = build_ae(settings)
    return [
        (_name(str(cx.abstract_syntax)), str(cx.abstract_syntax), tuple(str(ts) for ts in cx.transfer_syntax))
        for cx in ae.supported_contexts
    ]


def _status(code: int) -> str:
    return f"`{code:04X}`"


def _scp_section(settings: Settings) -> list[str]:
    contexts = scp_contexts(settings)
    storage = [c for c in contexts if c[1] not in (VERIFICATION, STORAGE_COMMITMENT)]
    commitment = [c for c in contexts if c[1] == STORAGE_COMMITMENT]
    storage_syntaxes = {c[2] for c in storage}
    if len(storage_syntaxes) != 1 or not is_unknown_storage_class(RETIRED_US):
        raise ValueError(
            "the listener's storage classes differ in transfer syntaxes: one table cannot say so"
        )
    verification = next(c for c in contexts if c[1] == VERIFICATION)
    lines = [
        "### 4.2.1 Storage SCP AE (the listener)",
        "",
        "#### 4.2.1.1 SOP classes",
        "",
        *_table(
            ["SOP class", "UID", "SCU", "SCP"],
            [(verification[0], f"`{verification[1]}`", "No", "Yes")]
            + [(name, f"`{uid}`", "No", "Yes") for name, uid, _ in commitment]
            + [(name, f"`{uid}`", "No", "Yes") for name, uid, _ in storage],
        ),
        "With `AXIOM_DICOM_ACCEPT_ANY_STORAGE=true` (the default) the listener also accepts, as storage,"
        " any proposed SOP class that pynetdicom does not know: a private UID, a UID newer than the"
        " DICOM dictionary, or a retired storage class such as"
        f" {_name(RETIRED_US)} (Retired) `{RETIRED_US}`."
        " Such contexts get the same transfer syntaxes as the classes above; with the setting off they"
        " are rejected (abstract syntax not supported).",
        "",
        "#### 4.2.1.2 Association policies",
        "",
        *_table(
            ["policy", "value"],
            [
                ("AE title", f"`AXIOM_AE_TITLE` (default `{settings.ae_title}`)"),
                ("Application context name", "`1.2.840.10008.3.1.1.1`"),
                ("Maximum PDU size received", "unlimited (0)"),
                (
                    "Associations at once",
                    f"{settings.dicom_max_associations} (`AXIOM_DICOM_MAX_ASSOCIATIONS`)",
                ),
                (
                    "Associations per peer (calling AE title + address)",
                    f"{settings.dicom_max_associations_per_peer} (`AXIOM_DICOM_MAX_ASSOCIATIONS_PER_PEER`)",
                ),
                ("Open TCP connections", f"{settings.dicom_max_connections} (`AXIOM_DICOM_MAX_CONNECTIONS`)"),
                ("Asynchronous operations window", "not supported (one operation at a time)"),
                ("Implementation Class UID", f"`{pynetdicom.PYNETDICOM_IMPLEMENTATION_UID}`"),
                ("Implementation Version Name", f"`{pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION}`"),
                (
                    "ACSE / DIMSE / network timeout (s)",
                    f"{settings.dicom_acse_timeout:g} / "
                    f"{settings.dicom_dimse_timeout:g} / {settings.dicom_network_timeout:g}",
                ),
            ],
        ),
        "The listener accepts associations; it initiates one only to send a Storage Commitment report"
        " whose requesting association has closed (4.2.1.5). An A-ASSOCIATE-RQ is rejected"
        " (PS3.8 9.3.4) when the calling AE title is not in `AXIOM_ALLOWED_CALLING_AES` (when set), when"
        " known peers are configured and the calling AE title, address (or TLS client certificate) or"
        " called AE title do not match one, or when an association limit is reached (transient,"
        " local limit exceeded).",
        "",
        "#### 4.2.1.3 Presentation contexts accepted",
        "",
        *_table(
            ["abstract syntax", "transfer syntaxes", "role", "extended negotiation"],
            [
                ("Verification", _syntaxes(verification[2]), "SCP", "None"),
                *[
                    (name, _syntaxes(syntaxes), "SCP", "SCP/SCU Role Selection (accepted as proposed)")
                    for name, _, syntaxes in commitment
                ],
                ("every storage SOP class above", _syntaxes(next(iter(storage_syntaxes))), "SCP", "None"),
            ],
        ),
        "In each proposed context the first proposed transfer syntax the listener supports is accepted."
        " SCP/SCU Role Selection is answered with pynetdicom's defaults (the listener acts only as SCP),"
        " except for Storage Commitment, where the roles the requester proposes are accepted;"
        " SOP Class (Common) Extended Negotiation is not supported.",
        "",
        "#### 4.2.1.4 C-STORE statuses returned",
        "",
        *_table(
            ["status", "meaning", "when"],
            [
                (
                    _status(SUCCESS),
                    "Success",
                    "the instance is spooled (fsync'd) and its task published with broker confirms",
                ),
                (
                    _status(OUT_OF_RESOURCES_SPOOL),
                    "Refused: out of resources",
                    "the spool cannot take it (disk below its watermark, write failed)",
                ),
                (
                    _status(OUT_OF_RESOURCES_QUEUE),
                    "Refused: out of resources",
                    "the broker did not confirm the task; nothing is kept",
                ),
                (
                    _status(DOES_NOT_MATCH_SOP_CLASS),
                    "Error: data set does not match SOP class",
                    "the data set's SOP Class UID differs from the request's; quarantined",
                ),
                (
                    _status(CANNOT_UNDERSTAND),
                    "Error: cannot understand",
                    "the data set does not parse, is"
                    " truncated or carries an invalid UID; quarantined with an exception row",
                ),
            ],
        ),
        "Axiom acts as a Level 2 (Full) storage SCP in that it keeps every element of the data set as"
        " received, but its own copy is transient: it forwards instances to destinations and does not"
        " archive them. Routing may change elements on the forwarded copies (rules).",
        "",
        *_commitment_section(settings, bool(commitment)),
    ]
    return lines


def _commitment_section(settings: Settings, enabled: bool) -> list[str]:
    if not enabled:
        return ["#### 4.2.1.5 Storage Commitment", "", "Off (`AXIOM_STORAGE_COMMITMENT=false`).", ""]
    return [
        "#### 4.2.1.5 Storage Commitment Push Model SCP",
        "",
        "With `AXIOM_STORAGE_COMMITMENT=true` (the default) the listener answers an N-ACTION (Action Type"
        f" ID 1, SOP Instance `{COMMITMENT_INSTANCE}`) with a Transaction UID and a Referenced SOP Sequence"
        " at once, then sends one N-EVENT-REPORT per request. An instance counts as committed once Axiom"
        " safely holds it: spooled (fsync'd) by any listener process, or recorded in its database in any"
        " status but quarantined. Instances not held within `AXIOM_STORAGE_COMMITMENT_TIMEOUT`"
        f" ({settings.storage_commitment_timeout:g} s) are reported failed. Axiom's copy is transient"
        " (it forwards and does not archive): commitment means the instance was received and will be"
        " routed, not that Axiom will keep it.",
        "",
        *_table(
            ["event type", "meaning", "Failure Reason (0008,1197) per failed instance"],
            [
                ("1", "all committed (Referenced SOP Sequence)", "none"),
                (
                    "2",
                    "some failed (Failed SOP Sequence; the rest in Referenced SOP Sequence)",
                    f"{_status(NO_SUCH_OBJECT_INSTANCE)} no such object instance,"
                    f" {_status(CLASS_INSTANCE_CONFLICT)} class/instance conflict",
                ),
            ],
        ),
        "The report goes on the requester's association while it is still established. Once that is"
        " released, Axiom opens a new association to the known peer (`peers:`) with the requester's"
        " calling AE title and address, on that peer's `port`, proposing SCP/SCU Role Selection (SCP"
        " role) for Storage Commitment; without a known peer with a port the report is not sent (logged)."
        " Axiom neither sends Retrieve AE Title nor Storage Media File-Set information.",
        "",
    ]


def _scu_section() -> list[str]:
    uncompressed = proposed_syntaxes(UID(ExplicitVRLittleEndian))
    compressed = proposed_syntaxes(UID(JPEG2000Lossless))
    get_contexts = storage_contexts([_EXAMPLE_CLASS])
    models = [
        ("C-FIND", StudyRootQueryRetrieveInformationModelFind),
        ("C-MOVE", StudyRootQueryRetrieveInformationModelMove),
        ("C-GET", StudyRootQueryRetrieveInformationModelGet),
    ]
    return [
        "### 4.2.2 Storage SCU AE (C-STORE destinations)",
        "",
        "Each `cstore` destination opens associations with its peer as `calling_ae_title` (default"
        " `AXIOM`) and sends every instance its rules route there, of any SOP class (the instance's"
        " own SOP Class UID is proposed, known to pynetdicom or not).",
        "",
        *_table(
            ["instance's transfer syntax", "transfer syntaxes proposed, in order"],
            [
                ("uncompressed little endian", _syntaxes(uncompressed)),
                (
                    "anything else (compressed, deflated, big endian)",
                    "exactly the instance's own syntax;"
                    " when the peer accepts only an uncompressed context, the instance is decompressed and"
                    " sent in it",
                ),
                (f"e.g. {_name(JPEG2000Lossless)}", _syntaxes(compressed)),
            ],
        ),
        f"An association carries up to {MAX_CONTEXTS} presentation contexts (the ones needed most"
        " recently) and is reused for later instances; no extended negotiation is proposed. Statuses"
        f" {', '.join(_status(s) for s in sorted(TRANSIENT_STATUSES))} and `A7xx` are retried later"
        " with back-off; every other failure is recorded as a permanent exception.",
        "",
        "### 4.2.3 Query/Retrieve SCU AE (DIMSE sources)",
        "",
        *_table(
            ["SOP class", "UID", "SCU", "SCP"],
            [(_name(uid), f"`{uid}`", "Yes", "No") for _, uid in models],
        ),
        "Queries use the Study Root information model. A C-MOVE names the source's move"
        " destination (normally Axiom's own listener, which receives the instances as a storage SCP); a"
        " C-GET proposes, per SOP class the peer named, SCP/SCU Role Selection (SCP role) and a storage"
        " context for every transfer syntax, so the peer can send each instance as it holds it. For"
        f" {_name(_EXAMPLE_CLASS)}: {len(get_contexts)} contexts, the first with"
        f" {_syntaxes(get_contexts[0][1])}.",
        "",
        *_table(
            ["DIMSE", "extended negotiation proposed"],
            [(dimse, "SCP/SCU Role Selection" if dimse == "C-GET" else "None") for dimse, _ in models],
        ),
    ]


def conformance_markdown(settings: Settings | None = None) -> str:
    # The defaults of an unconfigured install: no environment variable is read.
    settings = settings or Settings.model_construct()
    lines = [
        "# DICOM Conformance Statement: Axiom",
        "",
        "<!-- Generated by `python -m axiom.admin.conformance > docs/conformance.md`; edit"
        " axiom/admin/conformance.py, not this file. Defaults are those of an unconfigured install. -->",
        "",
        "## 1. Overview",
        "",
        "Axiom is a DICOM router: it receives instances (C-STORE SCP, STOW-RS), decides by rules where"
        " each goes, and forwards it (C-STORE SCU and other destinations). DIMSE sources query and"
        " retrieve from peers (C-FIND, C-MOVE, C-GET SCU). It commits storage (Storage Commitment Push"
        " Model SCP) and has no media interchange.",
        "",
        *_table(
            ["network service", "user of service (SCU)", "provider of service (SCP)"],
            [
                ("Verification", "Yes (destination check)", "Yes"),
                ("Storage", "Yes", "Yes"),
                ("Storage Commitment Push Model", "No", "Yes"),
                ("Study Root Query/Retrieve FIND", "Yes", "No"),
                ("Study Root Query/Retrieve MOVE", "Yes", "No"),
                ("Study Root Query/Retrieve GET", "Yes", "No"),
            ],
        ),
        "## 3. Introduction",
        "",
        "For integrators connecting modalities, PACS and archives to Axiom. Everything below is generated"
        " from the code that negotiates it; settings are named by their environment variables (see"
        " [configuration.md](configuration.md)). Abbreviations as in PS3.2: AE (application entity), SCU"
        " and SCP (service class user and provider), TLS (transport layer security).",
        "",
        "## 4. Networking",
        "",
        "### 4.1 Implementation model",
        "",
        "One listener AE (`AXIOM_AE_TITLE`) accepts associations on `AXIOM_DICOM_PORT` (default"
        f" {settings.dicom_port}). Destinations and sources initiate associations from the worker with"
        " the calling AE title each one is configured with.",
        "",
        "### 4.2 AE specifications",
        "",
        *_scp_section(settings),
        *_scu_section(),
        "### 4.3 Network interfaces",
        "",
        "TCP/IP, DICOM upper layer per PS3.8; the listener binds `AXIOM_DICOM_HOST` (default"
        f" `{settings.dicom_host}`).",
        "",
        "## 5. Media interchange",
        "",
        "Not supported.",
        "",
        "## 6. Support of character sets",
        "",
        "Any Specific Character Set (0008,0005) is accepted and kept: received data sets are stored and"
        " forwarded in their own character set, never converted. Values written by rules are encoded in"
        " the data set's declared character set.",
        "",
        "## 7. Security",
        "",
        *_table(
            ["aspect", "support"],
            [
                (
                    "Secure transport",
                    "BCP 195 TLS Secure Transport Connection Profile: TLS 1.2 or newer"
                    " on the listener when `AXIOM_DICOM_TLS_CERT` and `AXIOM_DICOM_TLS_KEY` are set (then TLS"
                    " only); per `cstore` destination with its `tls` block",
                ),
                (
                    "Peer authentication",
                    "`AXIOM_DICOM_TLS_CLIENT_CA`: every sender presents a certificate"
                    " it signed (mutual TLS); a known peer may also be pinned to a client certificate's"
                    " common name",
                ),
                (
                    "Association-level access control",
                    "known peers (calling AE title + address, allowed"
                    " called AE titles) and `AXIOM_ALLOWED_CALLING_AES`; without either, any peer is"
                    " accepted",
                ),
                (
                    "Limits",
                    "associations in all and per peer, pending connections per host, open"
                    " connections, instance size (`AXIOM_MAX_INSTANCE_BYTES`)",
                ),
                ("User identity negotiation", "not supported"),
            ],
        ),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(conformance_markdown())
