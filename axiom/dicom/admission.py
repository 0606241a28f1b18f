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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

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
class KnownPeer:
    """A peer allowed to store: its calling AE title and host address, optionally the called AE
    titles it may use (empty: any of ours)."""

    ae_title: str
    host: str
    called_aes: tuple[str, ...] = ()

    def matches(self, calling_ae: str, host: str) -> bool:
        return self.ae_title == calling_ae and self.host == host


@dataclass
class _State:
    pending: dict[int, str] = field(default_factory=dict)  # connection key -> host
    open: set[int] = field(default_factory=set)
    associations: dict[int, tuple[str, str]] = field(default_factory=dict)  # key -> (calling AE, host)


class Admission:
    """Counts the listener's connections and associations; thread-safe (one thread per connection)."""

    def __init__(
        self,
        limits: AssociationLimits,
        known_peers: Callable[[], Sequence[KnownPeer]] = tuple,
        called_aes: Sequence[str] = (),
    ) -> None:
        self.limits = limits
        self.known_peers = known_peers
        # Our own AE titles a peer may call (empty: pynetdicom's default, any).
        self.called_aes = tuple(called_aes)
        self._lock = threading.Lock()
        self._state = _State()

    def connection_opened(self, key: int, host: str) -> bool:
        """At accept: False closes the connection before a byte is read."""
        with self._lock:
            state = self._state
            if len(state.open) >= self.limits.max_connections:
                refused = "too many connections"
            elif Counter(state.pending.values())[host] >= self.limits.max_pending_per_host:
                refused = "too many pending connections from this host"
            else:
                state.open.add(key)
                state.pending[key] = host
                return True
        log.warning("connection refused", host=host, reason=refused)
        return False

    def connection_closed(self, key: int) -> None:
        with self._lock:
            self._state.open.discard(key)
            self._state.pending.pop(key, None)
            self._state.associations.pop(key, None)

    def association_requested(self, key: int, calling_ae: str, called_ae: str, host: str) -> Rejection | None:
        """At the A-ASSOCIATE-RQ: None admits, a Rejection says why not."""
        rejection = self._peer_rejection(calling_ae, called_ae, host)
        with self._lock:
            state = self._state
            state.pending.pop(key, None)
            if rejection is None:
                peer = (calling_ae, host)
                if len(state.associations) >= self.limits.max_associations or (
                    Counter(state.associations.values())[peer] >= self.limits.max_associations_per_peer
                ):
                    rejection = LOCAL_LIMIT_EXCEEDED
                else:
                    state.associations[key] = peer
                    return None
        log.warning(
            "association rejected", calling_ae=calling_ae, host=host, reason=_REASONS.get(rejection, "")
        )
        return rejection

    def _peer_rejection(self, calling_ae: str, called_ae: str, host: str) -> Rejection | None:
        if self.called_aes and called_ae not in self.called_aes:
            return CALLED_AE_NOT_RECOGNISED
        peers = self.known_peers()
        if not peers:
            return None  # no list: any peer (the easy default; `axiom up` says so on start)
        matching = [p for p in peers if p.matches(calling_ae, host)]
        if not matching:
            return CALLING_AE_NOT_RECOGNISED
        if all(p.called_aes and called_ae not in p.called_aes for p in matching):
            return CALLED_AE_NOT_RECOGNISED
        return None

    def counts(self) -> tuple[int, int]:
        """(open connections, established or negotiating associations), for metrics and tests."""
        with self._lock:
            return len(self._state.open), len(self._state.associations)


_REASONS = {
    CALLING_AE_NOT_RECOGNISED: "calling AE title or host not a known peer",
    CALLED_AE_NOT_RECOGNISED: "called AE title not allowed",
    LOCAL_LIMIT_EXCEEDED: "association limit reached",
}
