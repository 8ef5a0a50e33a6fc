"""The dashboard over HTTP: sign-in, pages, languages, assets, the live stream and its JSON."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, TypeVar

import httpx
import pytest

from tests.web.conftest import PASSWORD, PROBE, Dashboard
from vigie import __version__

T = TypeVar("T")
PAGES = {"/": "overview", "/alerts": "alerts", "/web": "web", "/customers": "customers",
         "/schedules": "schedules", "/actions": "actions",
         "/experiments": "experiments", "/review": "review", "/leads": "leads"}  # fmt: skip


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll until `probe` returns something (processors run asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def signed_in(
    dashboard: Dashboard, username: str = "ada", **headers: str
) -> Iterator[httpx.Client]:
    """A client holding the session cookie of `username`."""
    with httpx.Client(base_url=dashboard.url, headers=headers, timeout=30) as client:
        response = client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303, response.text
        yield client


def send(dashboard: Dashboard, event: str, visitor: str = "visitor-1", **extra: Any) -> None:
    """Post one tracked event through the Segment-compatible API."""
    body = {"event": event, "anonymousId": visitor, **extra}
    response = httpx.post(dashboard.url + "/v1/track", json=body, auth=(dashboard.write_key, ""))
    assert response.status_code == 200, response.text


def test_pages_send_a_stranger_to_the_login(dashboard: Dashboard) -> None:
    """Without a session every page redirects to /login, remembering where to come back."""
    for path in PAGES:
        response = httpx.get(dashboard.url + path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("accept", "lang", "title"),
    [("fr-BE,fr;q=0.9,en;q=0.5", "fr", "Connexion"), ("en-GB,en;q=0.8", "en", "Sign in")],
)
def test_login_page_speaks_the_browsers_language(
    dashboard: Dashboard, accept: str, lang: str, title: str
) -> None:
    """The login page follows Accept-Language before anyone has chosen a language."""
    page = httpx.get(dashboard.url + "/login", headers={"Accept-Language": accept})
    assert page.status_code == 200
    assert (
        f'<html lang="{lang}">' in page.text and f'<h1 id="login-title">{title}</h1>' in page.text
    )


def test_a_wrong_password_is_refused(dashboard: Dashboard) -> None:
    """A bad password answers 401 with the form and a translated message, and no session."""
    response = httpx.post(
        dashboard.url + "/login",
        data={"username": "ada", "password": "nope"},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 401
    assert "ou mot de passe incorrect." in response.text
    assert "vigie_session" not in response.cookies


def test_signed_in_user_opens_every_page_then_signs_out(dashboard: Dashboard) -> None:
    """Each page answers with its navigation entry marked current; sign-out ends the session."""
    with signed_in(dashboard, **{"Accept-Language": "en"}) as client:
        for path, name in PAGES.items():
            page = client.get(path)
            assert page.status_code == 200, path
            assert f'<body data-page="{name}">' in page.text
            assert f'<a href="{path}" aria-current="page">' in page.text
            assert "Ada" in page.text
        assert client.post("/logout").headers["location"] == "/login"
        assert client.get("/").status_code == 303


def test_the_login_only_redirects_within_the_site(dashboard: Dashboard) -> None:
    """`next` may not send the user to another site after signing in."""
    for target, expected in [
        ("/alerts", "/alerts"),
        ("https://evil.example/", "/"),
        ("//evil", "/"),
        ("/\\evil", "/"),
    ]:
        response = httpx.post(
            dashboard.url + "/login",
            data={"username": "ada", "password": PASSWORD, "next": target},
        )
        assert response.headers["location"] == expected


def test_the_chosen_language_follows_the_user(dashboard: Dashboard) -> None:
    """A language chosen once is the user's, in another browser too, over Accept-Language."""
    with signed_in(dashboard, "sam", **{"Accept-Language": "en"}) as client:
        assert '<html lang="en">' in client.get("/").text
        client.post("/language", data={"language": "fr", "next": "/alerts"})
        assert '<html lang="fr">' in client.get("/alerts").text
    with signed_in(dashboard, "sam", **{"Accept-Language": "en-US"}) as other_browser:
        page = other_browser.get("/")
        assert '<html lang="fr">' in page.text and ">Horaires</a>" in page.text


def test_charting_library_is_served_from_the_installed_package(dashboard: Dashboard) -> None:
    """Plotly's bundle comes from the `plotly` package (gzipped); pages load nothing remote."""
    shipped = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    response = httpx.get(dashboard.url + "/vendor/plotly.min.js")
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == shipped  # decompressed by httpx
    with signed_in(dashboard) as client:
        for path in PAGES:
            assets = re.findall(r'(?:src|href)="([^"]+)"', client.get(path).text)
            assert "/vendor/plotly.min.js?v=" + __version__ in assets
            remote = [a for a in assets if not a.startswith(("/", "#", "data:"))]
            assert remote == [], path


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = "message"
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: ") :])
            kind = "message"


def test_live_stream_pushes_each_commit(dashboard: Dashboard) -> None:
    """/api/live needs a user, starts with a snapshot and then carries every new event."""
    assert httpx.get(dashboard.url + "/api/live").status_code == 401
    send(dashboard, "Warm Up")
    with signed_in(dashboard) as client:
        eventually(
            lambda: client.get("/api/live/snapshot").json()["series"].get("Warm Up"), "warm-up"
        )
        with client.stream("GET", "/api/live") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            messages = _sse(stream.iter_lines())
            kind, snapshot = next(messages)
            # Per-minute counts: the warm-up is in the last minute, or the one before it
            # when a minute began since.
            assert kind == "snapshot" and sum(snapshot["series"]["Warm Up"]) >= 1
            send(dashboard, "Live Probe", visitor="visitor-9")
            kind, message = next(messages)
            assert kind == "events"
            assert message["total"] == snapshot["total"] + 1
            assert message["counts"] == {"Live Probe": 1}
            assert message["events"][0]["anonymous_id"] == "visitor-9"


def test_roles_that_may_not_read_events_see_counts_not_people(dashboard: Dashboard) -> None:
    """A support user's live snapshot keeps the counts but not who sent the events."""
    send(dashboard, "Role Probe", visitor="visitor-7")
    with signed_in(dashboard, "sue") as support, signed_in(dashboard, "ada") as admin:

        def newest(client: httpx.Client) -> dict[str, Any] | None:
            events = client.get("/api/live/snapshot").json()["events"]
            return events[-1] if events and events[-1]["label"] == "Role Probe" else None

        assert eventually(lambda: newest(support), "the probe")["anonymous_id"] is None
        assert eventually(lambda: newest(admin), "the probe")["anonymous_id"] == "visitor-7"
        config = support.get("/customers").text
        assert '"can": {"accounts": true, "contacts": true, "events": false}' in config


def test_kpi_tiles_carry_department_threshold_trend_and_alert(dashboard: Dashboard) -> None:
    """After one probe the KPI is 1 over its threshold 0, in its department, and firing."""
    with signed_in(dashboard) as client:
        send(dashboard, PROBE)

        def firing() -> dict[str, Any] | None:
            tiles = client.get("/api/dashboard/kpis").json()["kpis"]
            return next((t for t in tiles if t["firing"]), None)

        tile = eventually(firing, "the probe KPI to fire")
        assert tile["metric"] == "probes" and tile["value"] >= 1
        assert (tile["department"], tile["threshold"], tile["op"]) == ("quality", 0, ">")
        assert tile["firing"] == ["probe-seen"] and tile["series"][-1] == tile["value"]
        assert tile["title"] == {"en": "Probes sent", "fr": "Sondes envoyées"}


def test_on_duty_lists_people_and_what_waits_for_them(dashboard: Dashboard) -> None:
    """Someone whose hours are always is working now, and nothing is held for them."""
    with signed_in(dashboard) as client:
        body = client.get("/api/dashboard/on-duty").json()
    assert body["people"] == [
        {
            "name": "ana",
            "display_name": "Ana Peeters",
            "teams": ["quality"],
            "location": "Europe/Brussels",
            "state": "working",
            "next_working": None,
            "held": 0,
        }
    ]
    assert body["held"] == []


def test_a_firing_alert_runs_its_playbook(dashboard: Dashboard) -> None:
    """The probe's alert starts the playbook that answers it; its run names the firing."""
    with signed_in(dashboard) as client:
        send(dashboard, PROBE, visitor="visitor-playbook")

        def run() -> dict[str, Any] | None:
            runs = client.get("/api/playbook-runs", params={"playbook": "probe-response"}).json()
            done = [r for r in runs["runs"] if r["status"] == "succeeded"]
            return done[0] if done else None

        found = eventually(run, "the playbook run")
        alert = client.get("/api/alerts", params={"rule": "probe-seen"}).json()["alerts"][0]
    assert found["trigger"]["fingerprint"] == alert["fingerprint"]
    assert [s["action"] for s in found["steps"]] == ["page.flag", "notify"]
