"""Twilio's call status callbacks: the signature on Twilio's documented vector, and an
ended call mapped to `Call Ended` with its duration and agent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.sources.helpers import TWILIO_TOKEN, fixture, twilio_signature
from vigie.sources import InboundSource, Refused, WebhookRequest
from vigie.sources.twilio import Twilio, sign

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
URL = "https://vigie.example/hooks/phones"
SOURCE = InboundSource(
    name="phones", kind="twilio", secret=TWILIO_TOKEN, agents={"+3225550100": "staff-marie"}
)


def _request(body: bytes, signature: str | None, url: str = URL) -> WebhookRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    query = dict(p.split("=", 1) for p in url.partition("?")[2].split("&") if "=" in p)
    return WebhookRequest(url=url, headers=headers, body=body, query=query)


def test_twilio_documented_example_signature() -> None:
    """Twilio's own example (token 12345, its URL and parameters) gives its signature."""
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign(url, params, token="12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_signed_callback_is_accepted_and_a_tampered_one_refused() -> None:
    """The callback signed for its URL passes (with or without the default port); another
    parameter, URL or token is refused with the header named."""
    body = fixture("twilio_call_completed.form")
    Twilio().verify(_request(body, twilio_signature(URL, body)), SOURCE, NOW)
    ported = "https://vigie.example:443/hooks/phones"
    Twilio().verify(_request(body, twilio_signature(ported, body)), SOURCE, NOW)
    bad = [
        twilio_signature(URL, body.replace(b"CallDuration=94", b"CallDuration=9")),
        twilio_signature(URL + "?x=1", body),
        twilio_signature(URL, body, token="another-token-entirely"),
        None,
    ]
    for signature in bad:
        with pytest.raises(Refused) as refused:
            Twilio().verify(_request(body, signature), SOURCE, NOW)
        assert refused.value.field == "X-Twilio-Signature"


def test_a_proxy_url_is_given_in_the_source() -> None:
    """Behind a proxy, the signature is checked against the source's public `url`."""
    body = fixture("twilio_call_completed.form")
    public = "https://calls.example.be/vigie/hooks/phones"
    behind = InboundSource(name="phones", kind="twilio", secret=TWILIO_TOKEN, url=public)
    request = _request(
        body, twilio_signature(public, body), url="http://10.0.0.5:8000/hooks/phones"
    )
    Twilio().verify(request, behind, NOW)


def test_an_ended_call_is_a_call_ended_with_duration_and_agent() -> None:
    """The completed inbound call: answered, 94 s, by the agent mapped to the called line."""
    body = fixture("twilio_call_completed.form")
    (event,) = Twilio().events(_request(body, None), SOURCE, NOW)
    assert event.event == "Call Ended"
    props = event.properties
    assert (props["status"], props["duration_s"], props["direction"]) == ("answered", 94, "inbound")
    assert (props["agent"], props["staff_id"]) == ("staff-marie", "staff-marie")
    assert props["phone"] == "+32470123456"
    assert event.timestamp == datetime(2026, 11, 27, 11, 2, 13, tzinfo=UTC)


def test_the_agent_may_come_in_the_callback_url() -> None:
    """A callback URL `?agent=ID` names the agent when no number maps to one."""
    body = fixture("twilio_call_completed.form").replace(b"completed", b"no-answer")
    url = URL + "?agent=staff-paul"
    plain = InboundSource(name="phones", kind="twilio", secret=TWILIO_TOKEN)
    (event,) = Twilio().events(_request(body, None, url=url), plain, NOW)
    assert (event.properties["agent"], event.properties["status"]) == ("staff-paul", "missed")


def test_a_ringing_call_is_kept_as_a_status_change() -> None:
    """A status before the end is kept, not counted as a call."""
    body = fixture("twilio_call_completed.form").replace(b"completed", b"ringing")
    (event,) = Twilio().events(_request(body, None), SOURCE, NOW)
    assert (event.event, event.properties["status"]) == ("Call Status Changed", "ringing")
