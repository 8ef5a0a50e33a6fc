"""IP addresses truncated before they are stored: a network, not a person's connection."""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48


def truncate_ip(
    value: str, *, ipv4_prefix: int = IPV4_PREFIX, ipv6_prefix: int = IPV6_PREFIX
) -> str:
    """`value` with its host bits zeroed (`203.0.113.42` -> `203.0.113.0`), or an empty string
    when it is not an IP address (nothing unparsed is kept: it could hold the address)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)
