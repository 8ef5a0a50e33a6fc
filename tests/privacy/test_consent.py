"""Consent checked at use: an export for a purpose leaves out who did not agree to it."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from vigie.privacy.consent import gives


def test_purposes_are_given_by_their_consent_fields_only() -> None:
    """Marketing is given by e-mail or phone marketing consent; absent means not given."""
    assert gives({"email_marketing": True}, "marketing")
    assert gives({"phone_marketing": True}, "marketing")
    assert not gives({"analytics": True, "profiling": True}, "marketing")
    assert not gives({}, "marketing") and not gives(None, "profiling")
    assert gives({"third_parties": True}, "third_parties")


def test_an_export_for_marketing_leaves_out_contacts_without_that_consent(
    live_server: LiveServer,
) -> None:
    """`GET /api/export/contacts?purpose=marketing` lists only those who agreed, says how
    many were skipped and why, and the audit line records the purpose and the count."""
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=60) as api:
        for email, consent in (
            ("yes@example.com", {"email_marketing": True}),
            ("no@example.com", {"analytics": True}),
        ):
            created = api.post("/api/contacts", json={"email": email, "consent": consent})
            assert created.status_code == 201, created.text
        everyone = api.get("/api/export/contacts")
        assert "no@example.com" in everyone.text and "X-Vigie-Skipped" not in everyone.headers
        mailing = api.get("/api/export/contacts", params={"purpose": "marketing"})
        assert mailing.status_code == 200
        assert "yes@example.com" in mailing.text and "no@example.com" not in mailing.text
        assert mailing.headers["X-Vigie-Skipped"] == "1 (skipped: no marketing consent)"
        assert api.get("/api/export/contacts", params={"purpose": "spam"}).status_code == 422
        trail = api.get("/api/audit", params={"action": "export", "entity": "contacts"})
        details = trail.json()["items"][0]["details"]
        assert details["purpose"] == "marketing" and details["skipped"] == 1
