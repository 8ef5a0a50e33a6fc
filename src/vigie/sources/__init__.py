"""Business sources: the webhooks of the tools a company already runs (payments, orders,
phone calls, newsletters) verified the way each sender signs them and turned into events,
and the ad platforms' cost reports. Each kind of source comes through one door, the
`vigie.sources` entry points, which Vigie's own sources use too (see `registry.py`)."""

from vigie.sources.base import (
    InboundSource,
    Invalid,
    Refused,
    SourceKind,
    WebhookRequest,
)
from vigie.sources.registry import SourceRegistry

__all__ = [
    "InboundSource",
    "Invalid",
    "Refused",
    "SourceKind",
    "SourceRegistry",
    "WebhookRequest",
]
