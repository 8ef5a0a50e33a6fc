"""The `vigie.sources` door: Vigie's own kinds and a third party's come in the same way."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from vigie.config import ConfigError, parse_config
from vigie.events import Event
from vigie.sources import InboundSource, Refused, SourceRegistry, WebhookRequest
from vigie.sources.base import event
from vigie.sources.registry import UnknownKind


class Echo:
    """A third party's source: a shared token in a header, one `Echo` event per delivery."""

    name = "echo"

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        if request.headers.get("x-token") != settings.secret:
            raise Refused("X-Token", "wrong token")

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        return [
            event(
                kind=self.name,
                ids=(request.body,),
                name="Echo",
                settings=settings,
                at=received_at,
                received_at=received_at,
                anonymous_id="echo",
            )
        ]


@pytest.fixture
def echo_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution on the path declaring `echo` under the `vigie.sources` entry points."""
    info = tmp_path / "vigie_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vigie-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[vigie.sources]\necho = tests.sources.test_registry:Echo\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_vigies_own_kinds_come_through_the_entry_points() -> None:
    """Stripe, Shopify, Twilio and Mailchimp are found as any plugin would be."""
    names = SourceRegistry.from_entry_points().names()
    assert {"stripe", "shopify", "twilio", "mailchimp"} <= set(names)


@pytest.mark.usefixtures("echo_installed")
def test_an_installed_plugin_is_a_kind_vigie_yaml_may_name() -> None:
    """A package declaring a kind makes it usable in `inbound:`; an unknown kind is refused
    naming the installed ones."""
    registry = SourceRegistry.from_entry_points()
    assert isinstance(registry.get("echo"), Echo)
    config = parse_config(
        "inbound:\n  - {name: hooks, kind: echo, secret: long-shared-token-1234}\n"
    )
    assert config.inbound[0].kind == "echo"
    with pytest.raises(UnknownKind) as unknown:
        registry.get("paypal")
    assert "echo" in str(unknown.value) and "stripe" in str(unknown.value)
    with pytest.raises(ConfigError):
        parse_config("inbound:\n  - {name: hooks, kind: paypal, secret: x}\n")
