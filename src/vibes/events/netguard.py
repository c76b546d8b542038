"""Where webhooks may go: public addresses only (SSRF protection).

A destination is resolved and refused when any of its addresses is loopback, private,
link-local, multicast, reserved or unspecified: at registration, and again at every
delivery, where the request then goes to the vetted address itself so a DNS answer that
changes in between (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ValueError):
    """The URL may not receive webhooks; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def refusal_reason(address: IPAddress) -> str | None:
    """Why this address may not receive webhooks, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        # Shared address space (100.64/10), 6to4 relays and the like: not private by the
        # module's definition, yet not reachable on the public internet either.
        ("not globally routable", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


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
        except (socket.gaierror, UnicodeError) as exc:
            raise DestinationRefused(f"The host {host!r} cannot be resolved.") from exc
        seen: dict[IPAddress, None] = {}
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 scope id
            seen[ipaddress.ip_address(raw)] = None
        addresses = tuple(seen)
    if not addresses:
        raise DestinationRefused(f"The host {host!r} cannot be resolved.")
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise DestinationRefused(
                    f"Webhooks may not be sent to {host!r}: it resolves to a {reason}"
                    f" address ({address})."
                )
    return Destination(url=url, scheme=scheme, host=host, port=port, addresses=addresses)
