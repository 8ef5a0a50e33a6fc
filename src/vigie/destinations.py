"""Outbound destinations: the guard every request Vigie sends to a configured URL goes through
(playbook webhooks, Alertmanager webhooks and Alertmanagers), so that a URL cannot make the
server reach its own network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit


class DestinationRefused(ValueError):
    """The URL is not http(s), or its host resolves to an address that is not allowed."""


class DestinationUnresolved(OSError):
    """The URL's host name has no address right now (trying again later may help)."""


_TUNNELS = (ipaddress.IPv6Network("2002::/16"), ipaddress.IPv6Network("64:ff9b::/96"))


def forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything but a globally reachable unicast address: private, loopback, link-local,
    shared (100.64.0.0/10, where some clouds put their metadata service), reserved,
    multicast, unspecified, and the IPv6 prefixes that tunnel to IPv4 (6to4 2002::/16,
    NAT64 64:ff9b::/96), which could reach any of those."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return forbidden(address.ipv4_mapped)
        if any(address in network for network in _TUNNELS):
            return True
    return not address.is_global or address.is_multicast


def check_destination(url: str, *, allow_private: bool, setting: str) -> str | None:
    """Refuse URLs that are not http(s), or whose host resolves to a `forbidden` address
    (every resolved address is checked); `setting` names the key that allows private ones.

    Returns the checked address to connect to, so that a second DNS answer cannot swap in
    a private one (DNS rebinding); None when private networks are allowed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused(f"{url!r} is not an http(s) URL")
    if allow_private:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DestinationUnresolved(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if forbidden(address):
            raise DestinationRefused(
                f"{parts.hostname} resolves to {address}, a private or local address; set "
                f"{setting}: true to allow it"
            )
    if not addresses:
        raise DestinationUnresolved(f"{parts.hostname} has no address")
    return str(addresses[0])


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to request, extra headers and httpx extensions to reach `address` while
    presenting the original host name (Host header, TLS SNI and certificate check)."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    target = parts._replace(netloc=netloc).geturl()
    hostname = parts.hostname or ""
    header = f"{hostname}:{parts.port}" if parts.port else hostname
    extensions = {"sni_hostname": hostname} if parts.scheme == "https" else {}
    return target, {"host": header}, extensions
