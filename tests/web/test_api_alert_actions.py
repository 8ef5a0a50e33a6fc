"""Acting on alerts over HTTP on a live server: acknowledge, assign, note, judge, the rules'
precision, silences in Alertmanager's shape, the audit trail, and hostile input (422,
never 500), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.rules.test_silences import CONFIG
from vigie.config import Source, parse_config
from vigie.rules.alerts import Alert
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(db_url: str) -> Iterator[tuple[httpx.Client, httpx.Client, str]]:
    """A server holding one firing alert, and clients for an admin and a salesperson."""
    config = parse_config(CONFIG)
    config.sources = [Source(name="web", write_key=WRITE_KEY)]
    app = create_app(build_system(make_settings(db_url, config)))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        alert = Alert(
            id="rush-1",
            fingerprint="f1",
            rule="order-rush",
            status="firing",
            labels={"campaign": "spring", "team": "sales"},
            starts_at=T0,
        )
        system.alerts.save([alert])
        admin = user_token(system, username="ada", role="admin")
        sales = user_token(system, username="sam", role="sales")
        with (
            httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as a,
            httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {sales}"}) as s,
        ):
            yield a, s, server.url


def test_acknowledge_assign_note_and_judge(api: tuple[httpx.Client, httpx.Client, str]) -> None:
    """Each action answers the alert with its handling; the list shows it; the rule's precision
    counts the verdict; each action is in the audit trail."""
    admin, _sales, _url = api
    assert admin.post("/api/alerts/rush-1/ack").json()["handling"]["acknowledged_by"] == "ada"
    assert admin.post("/api/alerts/rush-1/assign", json={"assignee": "ana"}).status_code == 200
    assert admin.post("/api/alerts/rush-1/notes", json={"text": "a school trip"}).status_code == 200
    judged = admin.post("/api/alerts/rush-1/feedback", json={"verdict": "false_alarm"})
    assert judged.status_code == 200
    (shown,) = admin.get("/api/alerts").json()["alerts"]
    handling = shown["handling"]
    assert (handling["assignee"], handling["feedback"]) == ("ana", "false_alarm")
    assert [n["text"] for n in handling["notes"]] == ["a school trip"]
    assert shown["silenced_by"] == []
    (rule,) = admin.get("/api/rules").json()["rules"]
    assert rule["feedback"] == {"useful": 0, "false_alarm": 1, "precision": 0.0}
    trail = admin.get("/api/audit", params={"entity": "alerts"}).json()
    actions = [line["action"] for line in trail["items"]]
    assert sorted(actions) == ["alert.ack", "alert.assign", "alert.feedback", "alert.note"]


def test_silences_in_alertmanagers_shape(api: tuple[httpx.Client, httpx.Client, str]) -> None:
    """POST answers the silenceID; the alert shows as silenced; GET lists it active; DELETE
    expires it and the alert is no longer silenced."""
    admin, _sales, _url = api
    body = {
        "matchers": [
            {"name": "alertname", "value": "order-rush", "isRegex": False, "isEqual": True},
            {"name": "campaign", "value": "spr.*", "isRegex": True},
        ],
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "createdBy": "someone-else",
        "comment": "known",
    }
    created = admin.post("/api/silences", json=body)
    assert created.status_code == 201, created.text
    silence_id = created.json()["silenceID"]
    (listed,) = admin.get("/api/silences").json()["silences"]
    assert (listed["id"], listed["createdBy"], listed["status"]) == (
        silence_id,
        "ada",
        {"state": "active"},
    )
    assert listed["matchers"][1] == {
        "name": "campaign",
        "value": "spr.*",
        "isRegex": True,
        "isEqual": True,
    }
    assert admin.get("/api/alerts").json()["alerts"][0]["silenced_by"] == [silence_id]
    expired = admin.delete(f"/api/silences/{silence_id}")
    assert expired.json()["status"] == {"state": "expired"}
    assert admin.get("/api/alerts").json()["alerts"][0]["silenced_by"] == []
    assert admin.delete("/api/silences/nope").status_code == 404


def test_hostile_input_is_refused_with_the_field(
    api: tuple[httpx.Client, httpx.Client, str],
) -> None:
    """NUL bytes, huge strings, bad regexes, naive or past times, unknown assignees and
    unknown ids answer 422 or 404 naming what is wrong, never 500."""
    admin, _sales, _url = api
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    bad_silences = [
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}], "endsAt": later}, "value"),
        ({"matchers": [{"name": "a\u0000", "value": "b"}], "endsAt": later}, "name"),
        ({"matchers": [{"name": "a", "value": "b" * 100_000}], "endsAt": later}, "value"),
        (
            {"matchers": [{"name": "a", "value": ".*", "isRegex": True}], "endsAt": later},
            "matchers",
        ),
        ({"matchers": [{"name": "a", "value": "b"}], "endsAt": "2030-01-01T00:00:00"}, "endsAt"),
        ({"matchers": [{"name": "a", "value": "b"}], "endsAt": "0001-01-01T00:00:00Z"}, "endsAt"),
        ({"matchers": [], "endsAt": later}, "matchers"),
    ]
    for body, field in bad_silences:
        answer = admin.post("/api/silences", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in str(answer.json()["detail"][0]["loc"]), answer.text
    for path, body in [
        ("/api/alerts/rush-1/assign", {"assignee": "nobody"}),
        ("/api/alerts/rush-1/assign", {"assignee": "x" * 10_000}),
        ("/api/alerts/rush-1/notes", {"text": "a\u0000b"}),
        ("/api/alerts/rush-1/notes", {"text": ""}),
        ("/api/alerts/rush-1/feedback", {"verdict": "meh"}),
    ]:
        answer = admin.post(path, json=body)
        assert answer.status_code == 422, (path, answer.text)
    assert admin.post("/api/alerts/missing/ack").status_code == 404
    assert admin.post("/api/alerts/" + "x" * 500 + "/ack").status_code == 422
    assert admin.get("/api/alerts").json()["alerts"][0]["handling"] == {}


def test_reading_is_not_acting(api: tuple[httpx.Client, httpx.Client, str]) -> None:
    """A salesperson sees alerts and silences but may neither acknowledge nor silence."""
    _admin, sales, _url = api
    assert sales.get("/api/alerts").status_code == 200
    assert sales.get("/api/silences").status_code == 200
    assert sales.post("/api/alerts/rush-1/ack").status_code == 403
    body = {"matchers": [{"name": "alertname", "value": "x"}], "endsAt": "2999-01-01T00:00:00Z"}
    assert sales.post("/api/silences", json=body).status_code == 403
