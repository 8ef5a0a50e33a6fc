"""Consent checked at use: an export for a purpose leaves out who did not agree to it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from tests.conftest import LiveServer
from vigie.analytics.identity import identities
from vigie.crm.tables import contacts
from vigie.privacy.consent import ConsentBook, gives


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


def test_visitors_of_contacts_without_consent_are_refused_however_they_are_known(
    engine: sa.Engine,
) -> None:
    """A visitor is refused for marketing when a contact without that consent holds their
    anonymous id, has their id as user id, or has the user id their visitor id was stitched
    to; the visitors of a consenting contact and unknown visitors are not (and a contact
    whose list of ids is JSON null is passed over, on both stores)."""
    at = datetime(2026, 5, 4, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"id": "ct_anon", "version": 1, "created_at": at, "updated_at": at,
                 "external_id": None, "anonymous_ids": ["a-refused"],
                 "consent": {"analytics": True}},
                {"id": "ct_user", "version": 1, "created_at": at, "updated_at": at,
                 "external_id": "u-refused", "anonymous_ids": [], "consent": {}},
                {"id": "ct_yes", "version": 1, "created_at": at, "updated_at": at,
                 "external_id": "u-agreed", "anonymous_ids": ["a-agreed"],
                 "consent": {"email_marketing": True}},
                {"id": "ct_none", "version": 1, "created_at": at, "updated_at": at,
                 "external_id": None, "anonymous_ids": None, "consent": {}},
            ],
        )  # fmt: skip
        conn.execute(
            identities.insert(),
            [
                {"visitor_id": v, "profile_id": p, "linked_at_us": 0, "reason": "identify",
                 "log_offset": n}
                for n, (v, p) in enumerate(
                    [("a-stitched", "u-refused"), ("a-agreed-too", "u-agreed")], start=1
                )
            ],
        )  # fmt: skip
    visitors = ["a-refused", "u-refused", "a-stitched", "a-agreed", "a-agreed-too", "nobody"]
    refused = ConsentBook(engine).refused(visitors, "marketing")
    assert refused == {"a-refused", "u-refused", "a-stitched"}
    assert ConsentBook(engine).refused(visitors, "analytics") == {"u-refused", "a-stitched"} | {
        "a-agreed",
        "a-agreed-too",
    }
