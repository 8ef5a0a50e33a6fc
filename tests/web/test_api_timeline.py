"""The 360° timeline merges web journey and CRM history, newest first, with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import LiveServer


def test_contact_and_account_timelines(live_server: LiveServer) -> None:
    """Page views (by user id and linked anonymous id), a call, a deal and a ticket, in order."""
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as client:
        account = client.post("/api/accounts", json={"name": "Pharmacie Claes"}).json()
        contact = client.post(
            "/api/contacts",
            json={
                "last_name": "Claes",
                "account_id": account["id"],
                "external_id": "u-claes",
                "anonymous_ids": ["anon-claes"],
            },
        ).json()
        web = [
            {"type": "page", "name": "Pricing", "anonymousId": "anon-claes", "timestamp": base},
            {
                "type": "track",
                "event": "Signed Up",
                "userId": "u-claes",
                "timestamp": base + timedelta(minutes=5),
            },
            {"type": "page", "name": "Other", "anonymousId": "someone-else", "timestamp": base},
        ]
        batch = [{**m, "timestamp": m["timestamp"].isoformat()} for m in web]
        sent = httpx.post(
            live_server.url + "/v1/batch", json={"batch": batch}, auth=(live_server.write_key, "")
        )
        assert sent.status_code == 200
        client.post(
            "/api/interactions",
            json={
                "kind": "call",
                "contact_id": contact["id"],
                "occurred_at": (base + timedelta(hours=1)).isoformat(),
                "subject": "Rappel",
            },
        ).raise_for_status()
        client.post(
            "/api/tickets",
            json={
                "subject": "Panne",
                "contact_id": contact["id"],
                "opened_at": (base + timedelta(hours=2)).isoformat(),
            },
        ).raise_for_status()
        items = client.get(f"/api/contacts/{contact['id']}/timeline").json()["items"]
        assert [(i["category"], i["title"]) for i in items] == [
            ("ticket", "Panne (normal, open)"),
            ("interaction", "Rappel"),
            ("web", "Signed Up"),
            ("web", "Pricing"),
        ]
        only_web = client.get(
            f"/api/contacts/{contact['id']}/timeline", params={"kind": "web", "limit": 1}
        ).json()["items"]
        assert [i["title"] for i in only_web] == ["Signed Up"]
        of_account = client.get(f"/api/accounts/{account['id']}/timeline").json()["items"]
        assert len(of_account) == 4
        assert client.get("/api/contacts/ct_nobody/timeline").status_code == 404


def test_web_items_name_the_crm_campaign_of_their_utm_name(live_server: LiveServer) -> None:
    """Issue 14: a page view tagged `utm_campaign=lunch-deal` names the CRM campaign whose
    `utm_campaign` is `lunch-deal`; a second campaign may not take the same UTM name."""
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as client:
        campaign = client.post(
            "/api/campaigns",
            json={"name": "Menu du midi", "channel": "social", "utm_campaign": "lunch-deal"},
        ).json()
        twin = {"name": "Copie", "channel": "email", "utm_campaign": "lunch-deal"}
        refused = client.post("/api/campaigns", json=twin)
        assert refused.status_code == 422 and "utm_campaign" in refused.text
        contact = client.post("/api/contacts", json={"external_id": "u-midi"}).json()
        page = {
            "type": "page",
            "name": "Menu",
            "userId": "u-midi",
            "context": {"campaign": {"name": "lunch-deal", "source": "fb"}},
        }
        sent = httpx.post(live_server.url + "/v1/page", json=page, auth=(live_server.write_key, ""))
        assert sent.status_code == 200
        items = client.get(f"/api/contacts/{contact['id']}/timeline").json()["items"]
        (web,) = [i for i in items if i["category"] == "web"]
        assert web["details"]["crm_campaign"] == {"id": campaign["id"], "name": "Menu du midi"}
