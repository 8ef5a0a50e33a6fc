"""Mailchimp's audience webhook: the key in the URL, and its example sign-up and
unsubscription."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.sources.helpers import MAILCHIMP_KEY, fixture
from vigie.sources import InboundSource, Refused, WebhookRequest
from vigie.sources.mailchimp import Mailchimp

SOURCE = InboundSource(name="newsletter", kind="mailchimp", secret=MAILCHIMP_KEY)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _request(body: bytes, key: str | None) -> WebhookRequest:
    query = {"key": key} if key is not None else {}
    return WebhookRequest(
        url="https://vigie.example/hooks/newsletter", headers={}, body=body, query=query
    )


def test_the_key_in_the_url_is_checked() -> None:
    """The source's key passes; another or none is refused naming `key`."""
    body = fixture("mailchimp_subscribe.form")
    Mailchimp().verify(_request(body, MAILCHIMP_KEY), SOURCE, NOW)
    for key in ("guess", None, ""):
        with pytest.raises(Refused) as refused:
            Mailchimp().verify(_request(body, key), SOURCE, NOW)
        assert refused.value.field == "key"


def test_a_subscribe_is_a_newsletter_sign_up() -> None:
    """Mailchimp's example subscribe: the email, list and names, at `fired_at`."""
    (event,) = Mailchimp().events(_request(fixture("mailchimp_subscribe.form"), None), SOURCE, NOW)
    assert event.event == "Newsletter Signed Up"
    assert event.properties["email"] == "api@mailchimp.com"
    assert (event.properties["list_id"], event.properties["first_name"]) == (
        "a6b5da1054",
        "Mailchimp",
    )
    assert event.timestamp == datetime(2009, 3, 26, 21, 35, 57, tzinfo=UTC)


def test_an_unsubscribe_keeps_its_reason_and_campaign() -> None:
    """Mailchimp's example unsubscribe: the reason and the campaign that caused it."""
    body = fixture("mailchimp_unsubscribe.form")
    (event,) = Mailchimp().events(_request(body, None), SOURCE, NOW)
    assert event.event == "Newsletter Unsubscribed"
    assert (event.properties["reason"], event.properties["campaign_id"]) == ("manual", "cb398d21d2")
    assert event.properties["email"] == "api+unsub@mailchimp.com"
