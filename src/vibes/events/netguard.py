"""Where webhooks may go: public addresses only (SSRF protection).

A destination is resolved and refused when any of its addresses is loopback, private,
link-local, multicast, reserved or unspecified: at registration, and again at every
delivery, where the request then goes to the vetted address itself so a DNS answer that
changes in between (DNS rebinding) cannot redirect it. An IPv6 address that carries an
IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address it leads to.

Every refusal of a host gives the same message, whether the name does not resolve or
resolves to an internal address: the answer must not map the operator's network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ValueError):
    """The URL may not receive webhooks (the message is shown to the user: it says what
    is wrong with the URL, but never what its host resolves to)."""


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


# IPv6 forms that carry an IPv4 address, which is the one that matters: the packet ends
# up there (a 6to4 relay, a NAT64 gateway, the host's own IPv4 stack for a mapped address).
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052)
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")  # 6to4 (RFC 3056), via `sixtofour`
# Refused whatever they carry: the local-use NAT64 prefix (RFC 8215) embeds IPv4 in a way
# only its own network knows; IPv4-compatible addresses (::a.b.c.d, deprecated) reach the
# host's IPv4 stack on some systems; Teredo (2001::/32) tunnels through a relay to a
# client whose address is obfuscated in the rest.
_ALWAYS_REFUSED: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    # IETF protocol assignments; Python's `is_global` lags the IANA registry here.
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("2001::/32"),
)

REFUSED = (
    "This URL cannot receive webhooks: its host must resolve to public internet addresses only."
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, translated, NAT64, 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIIT or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def is_public(address: IPAddress) -> bool:
    """Whether a webhook may go to this address: globally routable unicast, judged on the
    IPv4 address inside an IPv6 one that embeds it."""
    if any(address in network for network in _ALWAYS_REFUSED):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return not (
        address.is_loopback
        or address.is_unspecified
        or address.is_link_local
        or address.is_multicast
        or address.is_private
        or address.is_reserved
        # Shared address space (100.64/10) and the like: not private by the module's
        # definition, yet not reachable on the public internet either.
        or not address.is_global
    )


def parse_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials, or DestinationRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"The URL is not valid: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused("The URL must use http or https.")
    if not parts.hostname:
        raise DestinationRefused("The URL has no host.")
    if parts.username or parts.password:
        raise DestinationRefused("The URL must not carry credentials.")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


async def resolve(url: str, *, allow_private: bool) -> Destination:
    """Resolve the URL's host; refuse it when any address is not public (unless allowed)."""
    scheme, host, port = parse_url(url)
    try:
        addresses: tuple[IPAddress, ...] = (ipaddress.ip_address(host),)
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            # The same answer as for an internal address: whether an internal name
            # resolves is nobody's business outside.
            raise DestinationRefused(REFUSED) from None
        seen: dict[IPAddress, None] = {}
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 scope id
            seen[ipaddress.ip_address(raw)] = None
        addresses = tuple(seen)
    if not addresses or (
        not allow_private and not all(is_public(address) for address in addresses)
    ):
        raise DestinationRefused(REFUSED)
    return Destination(url=url, scheme=scheme, host=host, port=port, addresses=addresses)
