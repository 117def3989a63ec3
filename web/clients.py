"""Who is on the other end of a request: the peer's address, or, when the peer is one of the
configured trusted proxies, the client it names in `X-Forwarded-For`.

`X-Forwarded-For` is read from the right: each proxy appends the address it received the
request from, so the first address from the right that is not a trusted proxy is the client.
Anything further left was written by the client itself and is not believed; from an untrusted
peer the header is ignored altogether.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def request_header(scope: Scope, name: bytes, default: str = "") -> str:
    """The first value of a request header (`name` in lower case, as ASGI servers give the
    names), as Starlette's `Headers(scope=scope).get` reads it, without building the object:
    the middleware of every request reads four headers."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return default


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Addresses and CIDRs separated by commas or spaces; ValueError names a bad one."""
    out = []
    for item in raw.replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(out)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(scope: Scope, proxies: Sequence[Network] = ()) -> str:
    """The client's address as a string ('unknown' without one)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not proxies or not _trusted(_address(peer), proxies):
        return str(peer)
    forwarded = ",".join(value.decode("latin-1") for name, value in scope["headers"]
                         if name == b"x-forwarded-for")
    result = str(peer)
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        address = _address(hop)
        if address is None:  # not written by a proxy: stop at the last address we trust
            break
        result = str(address)
        if not _trusted(address, proxies):
            break
    return result


def is_loopback(address: str) -> bool:
    """Whether an address (as `client_address` gives it) is this machine's loopback."""
    parsed = _address(address)
    return parsed is not None and parsed.is_loopback
