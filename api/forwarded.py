"""Who the client is, for the rate limit: the TCP peer, or behind a trusted reverse proxy the
address it reports in X-Forwarded-For.

The walk is the standard one from the right: each trusted proxy appends the address it got
the request from, so the right-most entry that is not itself a trusted proxy is the first
address no trusted party vouches for - the client. Entries to its left were written by the
client (or its own proxies) and prove nothing; a client that sends a fake X-Forwarded-For only
adds entries there. A header from an untrusted peer is ignored whole, and a malformed one from
a trusted peer counts as absent (the peer is the key), so a broken proxy cannot give each
request a fresh bucket.

`prov serve` runs uvicorn with its own proxy-header handling off (it would rewrite the peer
from 127.0.0.1's headers by default), so the peer here is always the TCP peer.
"""

import ipaddress
from collections.abc import Iterable, Sequence

from registry.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The rate limit's key for a request from `peer` carrying the X-Forwarded-For header
    values `forwarded_for` (in order; several headers count as one list)."""
    if not trusted or not _is_trusted(_address(peer), trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    if not hops:
        return peer
    addresses = [_address(hop) for hop in hops]
    if any(address is None for address in addresses):
        return peer  # malformed: believe none of it
    for address in reversed(addresses):
        if not _is_trusted(address, trusted):
            return str(address)
    return str(addresses[0])  # every hop a trusted proxy: the first one is the client


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 (dual-stack sockets)
    return address


def _is_trusted(address: IPAddress | None, trusted: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in trusted)
