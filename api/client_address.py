"""The address of the client behind a request, believing a proxy's header only from trusted proxies.

Behind a reverse proxy every request comes from the proxy's address, so per-client login limits would
count every user as one client. ``AXIOM_API_TRUSTED_PROXIES`` names the proxies (addresses or CIDR
networks); on a request that comes straight from one of them, the client is the right-most address
of ``AXIOM_API_CLIENT_IP_HEADER`` (``X-Forwarded-For``) that is not itself a trusted proxy. Anyone
else's header is ignored: a client cannot pick its own address by sending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import cache

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """ValueError naming the entry that is not an address or a network."""
    networks = []
    for entry in proxies:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"AXIOM_API_TRUSTED_PROXIES: {entry!r} is not an address or a network") from None
    return tuple(networks)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request, proxies: Sequence[str], header: str) -> str:
    """The client's address (text) for limits and audit rows; "unknown" without a peer."""
    peer = request.client.host if request.client else "unknown"
    networks = trusted_networks(tuple(proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in request.headers.getlist(header) for hop in value.split(",")]
    client = peer
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: trust nothing further left
        client = hop
        if not _trusted(hop, networks):
            break
    return client


__all__ = ["client_address", "trusted_networks"]
