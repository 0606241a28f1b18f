"""The ORM models, one module per area, all importable from here: configuration (destinations,
rulesets and their versions, crosswalks), received DICOM, exceptions, audit.

No column holds PHI in clear (a study keeps only a hash of its PatientID), except crosswalk entries
(the lookup tables an admin chose to load), instance headers (the received headers, kept for
``header_retention_days`` so rule changes can be replayed) and pseudonyms (the original identity
behind each pseudonym the anonymize action sent, for audited re-identification) and an instance's
``raw_values`` (received values that did not fit their column or parse): all stay out of logs and
errors.

``config`` (destinations, rulesets, versions, crosswalks, sources, peers), ``dicom`` (received
studies, series, instances, headers, model results), ``delivery`` (deliveries, exceptions,
completion groups), ``accounts`` (users, API keys, audit, pseudonyms), ``polling`` (source and
schedule state); ``_common`` holds what they share. Importing this package registers every table on
``Base.metadata``.
"""

from __future__ import annotations

from axiom.db.base import Base
from axiom.db.models._common import NAME_LENGTH, UID_LENGTH, USERNAME_LENGTH
from axiom.db.models.accounts import ApiKey, AuditLog, PseudonymRow, User
from axiom.db.models.config import (
    CONFIG_STATE_ID,
    CROSSWALK_KEY_LENGTH,
    ConfigState,
    CrosswalkEntry,
    CrosswalkRow,
    PeerRow,
    RuleRow,
    RulesetRow,
    RulesetVersion,
    SourceRow,
    StorageBackend,
)
from axiom.db.models.delivery import (
    CompletionGroup,
    CompletionMember,
    Delivery,
    DeliveryStatus,
    ExceptionLog,
    ExceptionStatus,
    GroupStatus,
    RouteAttempt,
)
from axiom.db.models.dicom import DicomInstance, DicomSeries, DicomStudy, InferenceRecord, InstanceHeader
from axiom.db.models.polling import SCHEDULE_STATE_ID, PulledInstance, ScheduleState, SourceState

__all__ = [
    "CONFIG_STATE_ID",
    "CROSSWALK_KEY_LENGTH",
    "NAME_LENGTH",
    "SCHEDULE_STATE_ID",
    "UID_LENGTH",
    "USERNAME_LENGTH",
    "ApiKey",
    "AuditLog",
    "Base",
    "CompletionGroup",
    "CompletionMember",
    "ConfigState",
    "CrosswalkEntry",
    "CrosswalkRow",
    "Delivery",
    "DeliveryStatus",
    "DicomInstance",
    "DicomSeries",
    "DicomStudy",
    "ExceptionLog",
    "ExceptionStatus",
    "GroupStatus",
    "InferenceRecord",
    "InstanceHeader",
    "PeerRow",
    "PseudonymRow",
    "PulledInstance",
    "RouteAttempt",
    "RuleRow",
    "RulesetRow",
    "RulesetVersion",
    "ScheduleState",
    "SourceRow",
    "SourceState",
    "StorageBackend",
    "User",
]
