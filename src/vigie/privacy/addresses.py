"""IP addresses truncated before they are stored: a network, not a person's connection."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPV4_PREFIX = 24
IPV6_PREFIX = 48


def truncate_ip(
    value: str, *, ipv4_prefix: int = IPV4_PREFIX, ipv6_prefix: int = IPV6_PREFIX
) -> str:
    """`value` with its host bits zeroed (`203.0.113.42` -> `203.0.113.0`), or an empty string
    when it is not an IP address (nothing unparsed is kept: it could hold the address)."""
    return _truncated(value, ipv4_prefix, ipv6_prefix)


# A visitor sends many events from one address: parsing it once per address, not per event,
# keeps the truncation off the ingest path's profile (the cache holds at most ~6 MB).
@lru_cache(maxsize=65_536)
def _truncated(value: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits, prefix = (32, ipv4_prefix) if address.version == 4 else (128, ipv6_prefix)
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    return str(type(address)(int(address) & mask))
