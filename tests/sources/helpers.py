"""Vendors' example payloads (tests/sources/fixtures) and requests signed as each vendor
documents it, computed here independently of Vigie's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

FIXTURES = Path(__file__).parent / "fixtures"
STRIPE_SECRET = "whsec_test_5b0d1f4e3c2a19887766554433221100"
SHOPIFY_SECRET = "shpss_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TWILIO_TOKEN = "twilio_test_auth_token_4c1f9a0b7e2d"
MAILCHIMP_KEY = "mailchimp-test-key-9d8c7b6a5f4e"


def fixture(name: str) -> bytes:
    """The raw bytes of a vendor's example payload."""
    return (FIXTURES / name).read_bytes()


def stripe_signature(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    """Stripe's documented scheme: v1 = hex HMAC-SHA256 of "<t>.<body>"."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def shopify_signature(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    """Shopify's documented scheme: base64 of the HMAC-SHA256 of the body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def twilio_signature(url: str, body: bytes, token: str = TWILIO_TOKEN) -> str:
    """Twilio's documented scheme: base64 HMAC-SHA1 of the URL then each sorted name+value."""
    params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
    text = url + "".join(k + v for k, v in params)
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def happening_now(body: bytes, when: datetime | None = None) -> bytes:
    """A vendor's example delivery with its time of event made `when` (now by default).

    The examples date from when they were written (2009 to 2023); a real delivery follows
    what it tells within seconds, and the KPIs count events by event time, so a test that
    reads a KPI needs the example to happen now.
    """
    moment = when or datetime.now(UTC)
    if body.startswith(b"{"):
        data = json.loads(body)
        if "created" in data:
            data["created"] = int(moment.timestamp())
        if "created_at" in data:
            data["created_at"] = moment.isoformat()
        return json.dumps(data).encode()
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    times = {
        "Timestamp": format_datetime(moment),
        "fired_at": moment.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return urlencode([(k, times.get(k, v)) for k, v in pairs]).encode()
