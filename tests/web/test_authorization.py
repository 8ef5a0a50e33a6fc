"""The authorisation matrix: each role against each endpoint, and against others' objects."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from tests.conftest import LiveServer, make_settings, user_token
from tests.web.test_notifications_api import Rota, rota
from vigie.crm.entities import ENTITIES
from vigie.schedule import NotificationRequest
from vigie.system import build_system
from vigie.web import create_app

__all__ = ["rota"]
# What each role may do, written out by hand: r = read, w = write, - = nothing.
MATRIX = """
role        contacts accounts staff deals tickets campaigns interactions tasks offers leads
admin       rw       rw       rw    rw    rw      rw        rw           rw    rw     rw
manager     rw       rw       rw    rw    rw      rw        rw           rw    rw     rw
marketing   rw       r        r     -     -       rw        rw           rw    -      r
sales       rw       rw       r     rw    -       r         rw           rw    rw     rw
support     r        r        r     -     rw      -         rw           rw    -      -
finance     r        r        r     r     -       -         rw           -     r      -
read-only   r        r        r     r     r       r         r            r     r      r
"""
OTHERS = """
role        events audit users alerts analytics playbooks notifications
admin       r      r     rw    rw     r         rw        r
manager     r      -     -     rw     r         rw        r
marketing   r      -     -     rw     r         r         -
sales       -      -     -     r      -         -         -
support     -      -     -     rw     -         r         -
finance     -      -     -     r      -         -         -
read-only   r      -     -     r      r         r         -
"""
# The endpoint each of the audit's own resources is checked on (read, and write if any).
AUDIT_READS = {
    "alerts": "/api/alerts",
    "analytics": "/api/funnels",
    "playbooks": "/api/playbook-runs",
    "notifications": "/api/notifications",
}


PUBLIC_API = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/logout"),
}
"""The only /api operations answered without credentials: signing in and out."""


def _matrix() -> dict[str, dict[str, str]]:
    rights: dict[str, dict[str, str]] = {}
    for table in (MATRIX, OTHERS):
        header, *rows = [line.split() for line in table.strip().splitlines()]
        for row in rows:
            rights.setdefault(row[0], {}).update(zip(header[1:], row[1:], strict=True))
    return rights


class World:
    """Staff in two teams, their accounts and deals, and a token per role."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        admin = self.client(server.admin_token)
        self.staff = {}
        for key, role, team in [
            ("s1", "sales", "north"),
            ("s2", "sales", "north"),
            ("s3", "sales", "south"),
            ("m1", "manager", "north"),
        ]:
            self.staff[key] = self.post(admin, "staff", {"name": key, "role": role, "team": team})
        self.accounts = {
            key: self.post(
                admin, "accounts", {"name": f"Account of {key}", "owner_id": self.staff[key]}
            )
            for key in ("s1", "s2", "s3")
        }
        self.deals = {
            key: self.post(
                admin,
                "deals",
                {
                    "title": f"Deal of {key}",
                    "account_id": self.accounts[key],
                    "owner_id": self.staff[key],
                },
            )
            for key in ("s1", "s3")
        }
        system = server.system
        self.tokens = {"admin": server.admin_token}
        for role in ("manager", "marketing", "sales", "support", "finance", "read-only"):
            staff_id = {"manager": self.staff["m1"], "sales": self.staff["s1"]}.get(role)
            self.tokens[role] = user_token(system, username=role, role=role, staff_id=staff_id)
        self.tokens["sales-south"] = user_token(
            system, username="sales-south", role="sales", staff_id=self.staff["s3"]
        )

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def post(self, client: httpx.Client, entity: str, body: dict[str, Any]) -> str:
        response = client.post(f"/api/{entity}", json=body)
        assert response.status_code == 201, response.text
        record_id: str = response.json()["id"]
        return record_id

    def body(self, entity: str) -> dict[str, Any]:
        return {
            "contacts": {"last_name": "New"},
            "accounts": {"name": "New account"},
            "staff": {"name": "New", "role": "support"},
            "deals": {"title": "New deal", "account_id": self.accounts["s1"]},
            "tickets": {"subject": "New ticket"},
            "campaigns": {"name": "New campaign", "channel": "email"},
            "interactions": {"kind": "call"},
            "tasks": {"title": "New task"},
            "offers": {"deal_id": self.deals["s1"]},
            "leads": {"name": "New lead"},
        }[entity]


@pytest.fixture
def world(live_server: LiveServer) -> World:
    """A populated server with a user per role."""
    return World(live_server)


def test_each_role_against_each_endpoint(world: World) -> None:
    """Listing answers 200 or 403 and creating 201 or 403, exactly as the matrix says."""
    failures = []
    for role, rights in _matrix().items():
        with world.client(world.tokens[role]) as client:
            for resource, right in rights.items():
                if resource == "events":
                    got = client.get("/api/events").status_code
                    want = 200 if "r" in right else 403
                elif resource == "audit":
                    got = client.get("/api/audit").status_code
                    want = 200 if "r" in right else 403
                elif resource == "users":
                    got = client.get("/api/users").status_code
                    want = 200 if "w" in right else 403
                elif resource in AUDIT_READS:
                    # Allowed reads answer 200, or 404 where there is nothing yet (no lead run).
                    status = client.get(AUDIT_READS[resource]).status_code
                    got = 403 if status == 403 else 200 if status in (200, 404) else status
                    want = 200 if "r" in right else 403
                    if got == want and resource == "playbooks":
                        status = client.post("/api/playbooks/none/run?dry_run=true").status_code
                        got = 403 if status == 403 else 200 if status == 404 else status
                        want = 200 if "w" in right else 403
                    if got == want and resource == "alerts":
                        status = client.post("/api/alerts/none/ack").status_code
                        got = 403 if status == 403 else 200 if status == 404 else status
                        want = 200 if "w" in right else 403
                else:
                    got = client.get(f"/api/{resource}").status_code
                    want = 200 if "r" in right else 403
                    if got == want:
                        got = client.post(f"/api/{resource}", json=world.body(resource)).status_code
                        want = 201 if "w" in right else 403
                if got != want:
                    failures.append(f"{role} {resource}: got {got}, want {want}")
    assert failures == []


def _ids(client: httpx.Client, entity: str) -> set[str]:
    return {item["id"] for item in client.get(f"/api/{entity}").json()["items"]}


def test_salespeople_see_only_their_own_accounts_and_deals(world: World) -> None:
    """A salesperson lists, reads and changes only their own accounts and deals (404 otherwise)."""
    with world.client(world.tokens["sales"]) as sales:
        assert _ids(sales, "accounts") == {world.accounts["s1"]}
        assert _ids(sales, "deals") == {world.deals["s1"]}
        assert sales.get(f"/api/accounts/{world.accounts['s2']}").status_code == 404
        assert sales.get(f"/api/deals/{world.deals['s3']}").status_code == 404
        other = sales.patch(f"/api/accounts/{world.accounts['s2']}", json={"name": "Mine now"})
        assert other.status_code == 404
        assert sales.delete(f"/api/deals/{world.deals['s3']}").status_code == 404
        assert sales.get(f"/api/accounts/{world.accounts['s3']}/timeline").status_code == 404
        foreign = sales.post("/api/deals", json={"title": "X", "account_id": world.accounts["s3"]})
        assert foreign.status_code == 422
        gift = sales.post("/api/accounts", json={"name": "X", "owner_id": world.staff["s2"]})
        assert gift.status_code == 403
        own = sales.post("/api/accounts", json={"name": "Mine"}).json()
        assert own["owner_id"] == world.staff["s1"]
    with world.client(world.tokens["sales-south"]) as south:
        assert _ids(south, "deals") == {world.deals["s3"]}


def test_a_batch_crossing_a_salespersons_scope_is_refused_whole(world: World) -> None:
    """Issue 25: a salesperson's batch that touches a colleague's record or gives one away
    writes nothing, names those records, and is answered 403; within scope it passes."""
    with world.client(world.tokens["sales"]) as sales:
        crossing = sales.post(
            "/api/accounts/batch",
            json={
                "records": [
                    {"name": "Mine"},
                    {"id": world.accounts["s2"], "name": "Mine now"},
                    {"name": "Gift", "owner_id": world.staff["s2"]},
                ]
            },
        )
        assert crossing.status_code == 403, crossing.text
        assert [e["index"] for e in crossing.json()["errors"]] == [1, 2]
        patch = sales.patch(
            "/api/deals/batch",
            json={"records": [{"id": d, "stage": "won"} for d in world.deals.values()]},
        )
        assert patch.status_code == 403
        assert [e["index"] for e in patch.json()["errors"]] == [1]
        foreign = sales.post(
            "/api/deals/batch",
            json={"records": [{"title": "X", "account_id": world.accounts["s3"]}]},
        )
        assert foreign.status_code == 422
        assert _ids(sales, "accounts") == {world.accounts["s1"]}
        with world.client(world.server.admin_token) as admin:
            assert admin.get(f"/api/accounts/{world.accounts['s2']}").json()["name"] != "Mine now"
            assert admin.get(f"/api/deals/{world.deals['s3']}").json()["stage"] != "won"
        within = sales.post(
            "/api/accounts/batch",
            json={"records": [{"name": "Mine"}, {"id": world.accounts["s1"], "name": "Renamed"}]},
        )
        assert within.status_code == 200, within.text
        assert [a["owner_id"] for a in within.json()["items"]] == [world.staff["s1"]] * 2
    with world.client(world.tokens["support"]) as support:
        assert support.post("/api/deals/batch", json={"records": [{}]}).status_code == 403


def test_timelines_hide_other_salespeoples_deals(world: World) -> None:
    """On their own account's timeline, a salesperson does not see a colleague's deal."""
    with world.client(world.server.admin_token) as admin:
        colleague = world.post(
            admin,
            "deals",
            {
                "title": "Colleague's",
                "account_id": world.accounts["s1"],
                "owner_id": world.staff["s2"],
            },
        )
        timeline = admin.get(f"/api/accounts/{world.accounts['s1']}/timeline").json()["items"]
        assert colleague in {i["entity_id"] for i in timeline}
    with world.client(world.tokens["sales"]) as sales:
        timeline = sales.get(f"/api/accounts/{world.accounts['s1']}/timeline").json()["items"]
        assert {i["entity_id"] for i in timeline if i["category"] == "deal"} == {world.deals["s1"]}


def test_managers_see_their_teams_objects(world: World) -> None:
    """A manager sees and assigns within their team, not another team's accounts."""
    with world.client(world.tokens["manager"]) as manager:
        assert _ids(manager, "accounts") == {world.accounts["s1"], world.accounts["s2"]}
        assert _ids(manager, "deals") == {world.deals["s1"]}
        assert manager.get(f"/api/accounts/{world.accounts['s3']}").status_code == 404
        moved = manager.patch(
            f"/api/accounts/{world.accounts['s1']}", json={"owner_id": world.staff["s2"]}
        )
        assert moved.status_code == 200, moved.text
        away = manager.patch(
            f"/api/accounts/{world.accounts['s2']}", json={"owner_id": world.staff["s3"]}
        )
        assert away.status_code == 403
    with world.client(world.tokens["read-only"]) as reader:
        assert len(_ids(reader, "accounts")) == 3
        patch = reader.patch(f"/api/accounts/{world.accounts['s1']}", json={"name": "X"})
        assert patch.status_code == 403


def test_every_entity_is_scoped_or_shared_for_a_reason() -> None:
    """Issue 17: each CRM entity names its owner column, or says why it is shared whole; a new
    entity without either fails here instead of shipping unscoped."""
    for entity in ENTITIES.values():
        assert (entity.owner is None) != (entity.shared is None), entity.name
        for column in entity.via:
            assert ENTITIES[entity.refs[column]].owner is not None, (entity.name, column)


@pytest.mark.parametrize("name", [e.name for e in ENTITIES.values() if e.owner is not None])
def test_a_salesperson_cannot_reach_a_colleagues_record(world: World, name: str) -> None:
    """Generated from the entity list: a record owned by another salesperson is not listed,
    not read, not changed and not archived by a salesperson (404), whatever its entity."""
    entity = ENTITIES[name]
    with world.client(world.server.admin_token) as admin:
        body = {**world.body(name), entity.owner: world.staff["s2"]}
        theirs = world.post(admin, name, body)
    with world.client(world.tokens["sales"]) as sales:
        assert theirs not in _ids(sales, name)
        assert sales.get(f"/api/{name}/{theirs}").status_code == 404
        assert sales.patch(f"/api/{name}/{theirs}", json={}).status_code == 404
        assert sales.delete(f"/api/{name}/{theirs}").status_code == 404
        mine = sales.post(f"/api/{name}", json=world.body(name))
        assert mine.status_code == 201, mine.text
        assert mine.json()[entity.owner] == world.staff["s1"]
    with world.client(world.tokens["sales-south"]) as south:
        assert mine.json()["id"] not in _ids(south, name)


def test_a_colleagues_interaction_notes_stay_theirs(world: World) -> None:
    """Issue 17: a salesperson neither reads nor edits the notes a colleague logged about the
    colleague's own customer, even by filtering on the contact; the calls logged about their
    own customer by somebody else they do see, but may not change."""
    with world.client(world.server.admin_token) as admin:
        their_contact = world.post(
            admin, "contacts", {"last_name": "C", "owner_id": world.staff["s2"]}
        )
        my_contact = world.post(
            admin, "contacts", {"last_name": "M", "owner_id": world.staff["s1"]}
        )
        notes = world.post(
            admin,
            "interactions",
            {
                "kind": "call",
                "contact_id": their_contact,
                "staff_id": world.staff["s2"],
                "summary": "confidential",
            },
        )
        about_mine = world.post(
            admin,
            "interactions",
            {"kind": "call", "contact_id": my_contact, "staff_id": world.staff["s3"]},
        )
    with world.client(world.tokens["sales"]) as sales:
        listed = sales.get("/api/interactions", params={"contact_id": their_contact})
        assert listed.status_code == 200 and listed.json()["items"] == []
        assert sales.get(f"/api/interactions/{notes}").status_code == 404
        edit = sales.patch(f"/api/interactions/{notes}", json={"summary": "mine"})
        assert edit.status_code == 404
        assert about_mine in _ids(sales, "interactions")
        timeline = sales.get(f"/api/contacts/{my_contact}/timeline").json()["items"]
        assert about_mine in {i["entity_id"] for i in timeline}
        readonly = sales.patch(f"/api/interactions/{about_mine}", json={"summary": "rewritten"})
        assert readonly.status_code == 403, readonly.text
        batch = sales.patch(
            "/api/interactions/batch", json={"records": [{"id": about_mine, "summary": "x"}]}
        )
        assert batch.status_code == 403, batch.text
        assert sales.delete(f"/api/interactions/{about_mine}").status_code == 403
    with world.client(world.tokens["manager"]) as manager:
        assert notes in _ids(manager, "interactions")
    with world.client(world.server.admin_token) as admin:
        assert admin.get(f"/api/interactions/{notes}").json()["summary"] == "confidential"


def test_every_api_operation_needs_credentials(tmp_path: Path) -> None:
    """Generated from the app's routes: every /api operation, streams included, answers 401
    without credentials, except signing in and out; a new route (or entity) cannot ship
    open to anyone."""
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db")))
    operations = {
        (method, route.path_format)
        for route in iter_route_contexts(app.routes)
        if route.path_format.startswith("/api/")
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert operations >= PUBLIC_API and len(operations) > 150

    async def not_refused() -> list[tuple[str, str, int]]:
        found = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for method, path in sorted(operations - PUBLIC_API):
                filled = re.sub(r"\{[^}]*\}", "x1", path)
                answer = await client.request(method, filled, json={})
                if answer.status_code != 401:
                    found.append((method, path, answer.status_code))
        return found

    assert asyncio.run(not_refused()) == []


def test_a_manager_sees_the_notifications_of_their_teams_people(rota: Rota) -> None:
    """Issue 17: Nina, who manages the shop, lists the notifications of the shop's people and
    of the shop team, not those of support, even asking for them by name; an admin lists them
    all; a manager who is nobody of schedule: lists none. The on-duty page shows each person's
    count of held notifications to all, and the held ones as far as the user may read them."""
    recipients = ["lea", "zoe", "omar", "theo", "shop", "support"]
    for recipient in recipients:
        rota.system.dispatcher.submit(
            NotificationRequest(key=recipient, recipient=recipient, subject="s", body="b")
        )

    def listed(user: str, **params: str) -> set[tuple[str, str | None]]:
        with rota.client(user) as client:
            response = client.get("/api/notifications", params=params)
        assert response.status_code == 200, response.text
        return {(n["intended_for"], n["recipient"]) for n in response.json()["notifications"]}

    shop = {("lea", "lea"), ("zoe", "zoe"), ("shop", "nina"), ("shop", "lea")}
    support = {("omar", "omar"), ("theo", "theo"), ("support", "omar")}
    assert listed("nina") == shop
    assert listed("nina", recipient="omar") == set()
    assert listed("nina", recipient="support") == set()
    assert listed("ada") == shop | support
    assert listed("ghost") == set()

    def on_duty(user: str) -> tuple[dict[str, int], list[str]]:
        with rota.client(user) as client:
            body = client.get("/api/dashboard/on-duty").json()
        counts = {p["name"]: p["held"] for p in body["people"] if p["held"]}
        return counts, sorted(n["recipient"] for n in body["held"])

    counts = {"zoe": 1, "theo": 1}
    assert on_duty("ada") == (counts, ["theo", "zoe"])
    assert on_duty("nina") == (counts, ["zoe"])
    assert on_duty("ghost") == (counts, [])
    assert on_duty("lea") == (counts, [])
