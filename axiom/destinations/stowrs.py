"""STOW-RS destination: POST instances to any DICOMweb server with dicomweb-client.

Instances of one study go together, up to ``batch_size`` per request. The server's answer lists each
instance in ReferencedSOPSequence (stored) or FailedSOPSequence (not stored, with a FailureReason), so
a partly failed batch reports only the instances that failed; the others are delivered. STOW-RS of
the same SOP Instance UID again replaces or keeps the stored copy, so redelivery leaves one copy.

Classification: HTTP 5xx, 429 and 408, connection errors and timeouts are transient; other 4xx are
permanent (the same request gets the same answer); failure reasons 0xA7xx (out of resources) are
transient, every other reason permanent. dicomweb-client's own retries are off: Axiom's retry queue
owns backoff.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from dicomweb_client import DICOMwebClient
from pydantic import Field
from pydicom.dataset import Dataset

from axiom.config import Settings
from axiom.destinations.base import CheckOutcome, DeliveryError, DeliveryResult, Destination
from axiom.dicom.part10 import file_format_view
from axiom.domain.destinations import BasicAuth, DestinationBase, HTTPAuth
from axiom.domain.instances import OutgoingInstance
from axiom.secrets import SecretError, resolve_secret


class DICOMwebDeliveryBase(DestinationBase):
    """What every STOW-RS sender shares: request timeout and instances per request."""

    timeout_seconds: float = Field(default=60.0, gt=0)
    # Instances of one study sent in one STOW-RS request (1 = one request per instance).
    batch_size: int = Field(default=50, ge=1, le=1000)


class STOWRSDestinationConfig(DICOMwebDeliveryBase):
    type: Literal["stowrs"] = "stowrs"
    # The DICOMweb service root; instances are POSTed to <url>/studies.
    url: str = Field(pattern=r"^https?://[^\s]+$")
    auth: HTTPAuth | None = None


W = TypeVar("W", bound=DICOMwebDeliveryBase)

# Failure reasons (0008,1197) worth retrying later: PS3.4 B.2.3 "Refused: Out of Resources".
TRANSIENT_REASONS = range(0xA700, 0xA800)
# HTTP statuses that change with time rather than with the request (PS3.18 10.5.3, RFC 9110).
TRANSIENT_HTTP = frozenset({408, 429})
# The reason recorded for a failed item that gives none: "Cannot understand".
DEFAULT_FAILURE_REASON = 0xC000


def http_transient(status: int) -> bool:
    return status >= 500 or status in TRANSIENT_HTTP


def reason_transient(reason: int) -> bool:
    return reason in TRANSIENT_REASONS


def response_dataset(response: requests.Response | None) -> Dataset | None:
    """The DICOM JSON store response in an HTTP answer, or None when it holds none.

    Read whatever the Content-Type says: some servers (Orthanc among them) send none on errors.
    """
    if response is None or not response.content:
        return None
    try:
        payload = response.json()
        return Dataset.from_json(payload) if isinstance(payload, dict) else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def store_outcomes(response: Dataset) -> tuple[dict[str, int], set[str]] | None:
    """(failure reason by failed SOP Instance UID, stored SOP Instance UIDs); None if it lists neither."""
    failed: dict[str, int] = {}
    for item in response.get("FailedSOPSequence") or []:
        uid = item.get("ReferencedSOPInstanceUID")
        if uid:
            reason = item.get("FailureReason")
            failed[str(uid)] = int(reason) if reason is not None else DEFAULT_FAILURE_REASON
    stored = {
        str(item.ReferencedSOPInstanceUID)
        for item in response.get("ReferencedSOPSequence") or []
        if item.get("ReferencedSOPInstanceUID")
    }
    if not failed and not stored:
        return None
    return failed, stored


def _peer(url: str) -> str:
    """scheme://host[:port]/path of ``url`` without any user info or query (for messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class DICOMwebDestination(Destination[W]):
    """STOW-RS delivery for any config with a DICOMweb root: the kinds say where and with what
    credentials (``service_url``, ``make_session``); batching and classification are shared."""

    supports_batch: ClassVar[bool] = True
    # What messages call this kind of destination.
    label: ClassVar[str] = "DICOMweb"

    def __init__(self, config: W, settings: Settings) -> None:
        super().__init__(config, settings)
        self.peer = _peer(self.service_url())
        self._client: DICOMwebClient | None = None
        self._lock = threading.Lock()
        # STOW-RS requests made since construction: lets tests and metrics see batching.
        self.requests_sent = 0

    # Hooks a subclass overrides -----------------------------------------------------------------

    @abstractmethod
    def service_url(self) -> str:
        """The DICOMweb service root; instances are POSTed to ``<root>/studies``."""

    @abstractmethod
    def make_session(self) -> requests.Session:
        """An HTTP session carrying the configured credentials; SecretError when they are unusable."""

    def request_failure(self, exc: Exception) -> tuple[str, bool, str] | None:
        """(message, transient, code) for an exception of the session's own (say, its auth library's),
        or None for anything else. Messages never quote the exception's text."""
        return None

    # Public interface ---------------------------------------------------------------------------

    def check(self) -> CheckOutcome:
        """An authenticated QIDO-RS request for one study: the root answers with these credentials."""
        url = f"{self.service_url()}/studies"
        try:
            response = self.make_session().get(
                url, params={"limit": "1"}, headers={"Accept": "application/dicom+json"}, timeout=10
            )
        finally:
            self.close()
        if response.status_code in (200, 204):
            return CheckOutcome(
                True, f"QIDO-RS GET {url} answered {response.status_code} with the configured credentials"
            )
        return CheckOutcome(False, f"QIDO-RS GET {url} answered {response.status_code} {response.reason}")

    def send(self, instance: OutgoingInstance) -> str:
        result = self.send_batch([instance])[0]
        if isinstance(result, DeliveryError):
            raise result from None
        return result

    def send_batch(self, instances: Sequence[OutgoingInstance]) -> list[DeliveryResult]:
        results: list[DeliveryResult | None] = [None] * len(instances)
        by_study: dict[str, list[int]] = {}
        for index, instance in enumerate(instances):
            by_study.setdefault(instance.study_instance_uid, []).append(index)
        size = self.config.batch_size
        for indices in by_study.values():
            for start in range(0, len(indices), size):
                chunk = indices[start : start + size]
                for index, result in zip(chunk, self._store([instances[i] for i in chunk]), strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client._session.close()

    # One request --------------------------------------------------------------------------------

    def _store(self, chunk: Sequence[OutgoingInstance]) -> list[DeliveryResult]:
        results: list[DeliveryResult | None] = [None] * len(chunk)
        datasets: list[Dataset] = []
        sent: list[int] = []
        for index, instance in enumerate(chunk):
            try:
                datasets.append(file_format_view(instance.dataset))
                sent.append(index)
            except (AttributeError, KeyError, ValueError, TypeError):
                results[index] = self._error(
                    "dataset has no SOP Class or Instance UID", instance, False, "unencodable"
                )
        if sent:
            outcome = self._post([chunk[i] for i in sent], datasets)
            for index, result in zip(sent, outcome, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def _post(self, instances: list[OutgoingInstance], datasets: list[Dataset]) -> list[DeliveryResult]:
        try:
            client = self._get_client()
        except SecretError as exc:
            return [
                self._error(f"credentials unavailable: {exc}", i, False, "credentials") for i in instances
            ]
        self.requests_sent += 1
        try:
            response = client.store_instances(datasets)
        except requests.HTTPError as exc:
            return self._http_failure(exc.response, instances)
        except requests.Timeout:
            return [self._error("request timed out", i, True, "timeout") for i in instances]
        except requests.ConnectionError:
            return [
                self._error("cannot connect (refused, reset or unreachable)", i, True, "connect-failed")
                for i in instances
            ]
        except requests.RequestException:
            return [self._error("request failed", i, True, "request-failed") for i in instances]
        except Exception as exc:
            known = self.request_failure(exc)
            if known is not None:
                what, transient, code = known
                return [self._error(what, i, transient, code) for i in instances]
            if len(instances) > 1:
                # One dataset pydicom cannot encode fails the whole request: find it alone.
                return [
                    r for inst, ds in zip(instances, datasets, strict=True) for r in self._post([inst], [ds])
                ]
            # pydicom's and the auth library's messages can quote values: name the kind only.
            return [self._error(f"cannot send ({type(exc).__name__})", instances[0], False, "unencodable")]
        return self._per_instance(response, instances, http_status=200)

    def _http_failure(
        self, response: requests.Response | None, instances: list[OutgoingInstance]
    ) -> list[DeliveryResult]:
        status = response.status_code if response is not None else 0
        if status in (401, 403):
            # Let the next attempt build a new session: the secret may have been rotated.
            self.close()
        body = response_dataset(response)
        if body is not None and store_outcomes(body) is not None:
            return self._per_instance(body, instances, http_status=status)
        return [self._error(f"HTTP {status}", i, http_transient(status), f"http-{status}") for i in instances]

    def _per_instance(
        self, response: Dataset, instances: list[OutgoingInstance], *, http_status: int
    ) -> list[DeliveryResult]:
        outcomes = store_outcomes(response)
        results: list[DeliveryResult] = []
        for instance in instances:
            uid = instance.sop_instance_uid
            if outcomes is None:
                # A success answer listing nothing (some servers send an empty body): all stored.
                results.append(self.peer)
            elif uid in outcomes[0]:
                reason = outcomes[0][uid]
                code = f"0x{reason:04X}"
                results.append(
                    self._error(
                        f"refused with failure reason {code} (HTTP {http_status})",
                        instance,
                        reason_transient(reason),
                        code,
                    )
                )
            elif uid in outcomes[1]:
                results.append(self.peer)
            else:
                # Neither stored nor refused: the answer is incomplete, so try again.
                results.append(
                    self._error(
                        f"not in the store response (HTTP {http_status})", instance, True, "not-acknowledged"
                    )
                )
        return results

    def _get_client(self) -> DICOMwebClient:
        with self._lock:
            if self._client is None:
                session = self.make_session()
                client = DICOMwebClient(
                    self.service_url(), session=session, timeout=self.config.timeout_seconds
                )
                client.set_http_retry_params(retry=False)
                self._client = client
            return self._client

    def _error(self, what: str, instance: OutgoingInstance, transient: bool, code: str) -> DeliveryError:
        return DeliveryError(
            f"{self.label} to {self.peer}: {what} (SOP Instance UID {instance.sop_instance_uid})",
            transient=transient,
            code=code,
        )


class STOWRSDestination(DICOMwebDestination[STOWRSDestinationConfig]):
    kind: ClassVar[str] = "stowrs"
    config_model: ClassVar[type[DestinationBase]] = STOWRSDestinationConfig
    label: ClassVar[str] = "STOW-RS"

    def service_url(self) -> str:
        return self.config.url.rstrip("/")

    def make_session(self) -> requests.Session:
        session = requests.Session()
        auth = self.config.auth
        if isinstance(auth, BasicAuth):
            session.auth = (auth.user, resolve_secret(auth.password, self.settings))
        elif auth is not None:
            session.headers["Authorization"] = f"Bearer {resolve_secret(auth.token, self.settings)}"
        return session
