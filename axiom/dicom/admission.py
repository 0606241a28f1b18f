"""Who may hold the listener's connections, and how many each: so that no peer can starve the others.

Two moments decide. At TCP accept (before anything is read) a host may hold only so many connections
that have not yet sent their A-ASSOCIATE-RQ, and the listener only so many connections in all; the
ACSE timeout closes a silent one. At the A-ASSOCIATE-RQ (pynetdicom's EVT_REQUESTED, the documented
place to reject) the peer is checked against the known-peers list, the called AE title it may use,
and the association limits, overall and per peer (calling AE title + address). Rejections use the
A-ASSOCIATE-RJ reasons of PS3.8 9.3.4, so a modality's log says why.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

from axiom.domain.peers import PeerConfig

log = structlog.get_logger("axiom.listener")

# (result, source, diagnostic) of A-ASSOCIATE-RJ.
Rejection = tuple[int, int, int]
CALLING_AE_NOT_RECOGNISED: Rejection = (0x01, 0x01, 0x03)
CALLED_AE_NOT_RECOGNISED: Rejection = (0x01, 0x01, 0x07)
LOCAL_LIMIT_EXCEEDED: Rejection = (0x02, 0x03, 0x02)


@dataclass(frozen=True)
class AssociationLimits:
    max_associations: int = 64
    max_associations_per_peer: int = 16
    # Connections that have not sent an A-ASSOCIATE-RQ yet (or are inside their TLS handshake).
    max_pending_per_host: int = 16
    max_connections: int = 256


@dataclass(frozen=True)
class Connection:
    """One open connection as admission sees it: the peer's host, and its calling AE title once its
    A-ASSOCIATE-RQ arrived (None before: a pending connection)."""

    host: str
    calling_ae: str | None


# The listener's open connections, optionally leaving one out (the one being decided).
ConnectionSnapshot = Callable[[object | None], Sequence[Connection]]


class Admission:
    """Decides from a snapshot of the open connections (the associations pynetdicom runs), so there is
    no count to leak; a lock makes concurrent decisions see each other."""

    def __init__(
        self,
        limits: AssociationLimits,
        connections: ConnectionSnapshot,
        known_peers: Callable[[], Sequence[PeerConfig]] = tuple,
    ) -> None:
        self.limits = limits
        self.connections = connections
        self.known_peers = known_peers
        self._lock = threading.Lock()
        self._handshakes: Counter[str] = Counter()  # TLS handshakes under way, per host

    def connection_opened(self, host: str) -> bool:
        """At accept: False closes the connection before a byte is read."""
        with self._lock:
            open_now = self.connections(None)
            pending = sum(1 for c in open_now if c.calling_ae is None and c.host == host)
            if len(open_now) + sum(self._handshakes.values()) >= self.limits.max_connections:
                refused = "too many connections"
            elif pending + self._handshakes[host] >= self.limits.max_pending_per_host:
                refused = "too many pending connections from this host"
            else:
                return True
        log.warning("connection refused", host=host, reason=refused)
        return False

    @contextmanager
    def handshaking(self, host: str) -> Iterator[None]:
        """A TLS handshake under way counts as a pending connection of its host."""
        with self._lock:
            self._handshakes[host] += 1
        try:
            yield
        finally:
            with self._lock:
                self._handshakes[host] -= 1

    def association_requested(
        self, me: object, calling_ae: str, called_ae: str, host: str, client_cn: str | None = None
    ) -> Rejection | None:
        """At the A-ASSOCIATE-RQ: None admits, a Rejection says why not. ``client_cn`` is the common
        name of the TLS client certificate, when the peer presented one."""
        rejection = self._peer_rejection(calling_ae, called_ae, host, client_cn)
        if rejection is None:
            with self._lock:
                holding = [c for c in self.connections(me) if c.calling_ae is not None]
                same_peer = sum(1 for c in holding if (c.calling_ae, c.host) == (calling_ae, host))
                if len(holding) < self.limits.max_associations and (
                    same_peer < self.limits.max_associations_per_peer
                ):
                    return None
                rejection = LOCAL_LIMIT_EXCEEDED
        log.warning(
            "association rejected", calling_ae=calling_ae, host=host, reason=_REASONS.get(rejection, "")
        )
        return rejection

    def _peer_rejection(
        self, calling_ae: str, called_ae: str, host: str, client_cn: str | None
    ) -> Rejection | None:
        peers = self.known_peers()
        if not peers:
            return None  # no list: any peer (the easy default; `axiom up` says so on start)
        matching = [
            p
            for p in peers
            if p.ae_title == calling_ae
            and p.host == host
            and (not p.tls_client_cn or p.tls_client_cn == client_cn)
        ]
        if not matching:
            return CALLING_AE_NOT_RECOGNISED
        if all(p.called_ae_titles and called_ae not in p.called_ae_titles for p in matching):
            return CALLED_AE_NOT_RECOGNISED
        return None

    def counts(self) -> tuple[int, int]:
        """(open connections, associations requested and not ended), for metrics and tests."""
        open_now = self.connections(None)
        return len(open_now), sum(1 for c in open_now if c.calling_ae is not None)


_REASONS = {
    CALLING_AE_NOT_RECOGNISED: "calling AE title, host or certificate not a known peer",
    CALLED_AE_NOT_RECOGNISED: "called AE title not allowed",
    LOCAL_LIMIT_EXCEEDED: "association limit reached",
}
