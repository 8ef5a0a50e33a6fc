"""An alert's detail shows what it caused and whether it worked (issue 21), over the API and
on the Alerts page in Debian's chromium, in English and French: the playbook run its firing
started, the page flag it left (open), the invitation step's effect measured against its
control group, and "not measured" for the step without one. A salesperson, who may read
alerts but not playbooks, is refused the outcomes and sees no such section."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import WRITE_KEY, free_port, make_settings
from tests.web.conftest import CONFIG, PASSWORD, PROBE, Dashboard
from tests.web.test_dashboard_browser import WAIT_MS, Problems, browser
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.playbooks.holdouts import holdout_units
from vigie.rules.alerts import Alert
from vigie.system import System, build_system
from vigie.types import to_us
from vigie.web import create_app
from vigie.web.i18n import catalog
from vigie.web.server import BackgroundServer

pytestmark = pytest.mark.browser
__all__ = ["browser"]

TREATED = ["v-t1", "v-t2", "v-t3"]
HELD_OUT = ["v-h1", "v-h2"]


def _config() -> dict[str, Any]:
    """The dashboard's configuration, its probe playbook inviting visitors to chat with a
    control group of half of them, then flagging the page."""
    config = copy.deepcopy(CONFIG)
    config["playbooks"] = [
        {
            "name": "probe-response",
            "triggers": [{"rule": "probe-seen", "status": ["firing"]}],
            "steps": [
                {
                    "name": "invite",
                    "action": "chat.invite",
                    "continue_on_error": True,
                    "params": {"page": "/start", "message": "Hello / Bonjour"},
                    "holdout": {"share": 0.5, "metric": "Order Completed", "horizon": "1h"},
                },
                {"action": "page.flag", "params": {"page": "/start", "reason": "probe"}},
            ],
        }
    ]
    return config


@pytest.fixture(scope="module")
def served(dashboard_db: str) -> Iterator[Dashboard]:
    """A dashboard server whose probe alert runs that playbook, with lea (manager) and sam
    (sales)."""
    config = parse_config(yaml.safe_dump(_config()), origin="outcomes test config")
    app = create_app(build_system(make_settings(dashboard_db, config)))
    with BackgroundServer(app, port=free_port()) as server:
        system: System = app.state.system
        for username, role in (("lea", "manager"), ("sam", "sales")):
            create_user(
                engine=system.engine,
                username=username,
                password=PASSWORD,
                role=role,
                now=system.clock.now(),
            )
        yield Dashboard(url=server.url, write_key=WRITE_KEY, system=system)


def _alert_with_a_run(served: Dashboard) -> Alert:
    """Post a probe, wait for its alert and run its playbook; the test then stands in for
    the visitors the invitation reached (no chat agent is on duty here): three treated, two
    held out, and one treated visitor orders within the hour."""
    system = served.system
    httpx.post(
        served.url + "/v1/track",
        json={"event": PROBE, "anonymousId": "visitor-outcomes"},
        auth=(served.write_key, ""),
    ).raise_for_status()
    deadline = time.monotonic() + WAIT_MS / 1000
    while not (firing := system.alerts.list(status="firing", rule="probe-seen")):
        assert time.monotonic() < deadline, "the probe raised no alert"
        time.sleep(0.1)
    system.playbooks.resume()
    (run,) = system.playbook_history.runs(playbook="probe-response")
    assert run.status == "succeeded", run.steps
    at = system.clock.now() - timedelta(minutes=5)
    with system.engine.begin() as conn:
        conn.execute(
            holdout_units.insert(),
            [
                {"playbook": "probe-response", "step": "invite", "unit": unit, "grp": grp,
                 "at_us": to_us(at), "run_id": run.id}
                for grp, units in (("treated", TREATED), ("held_out", HELD_OUT))
                for unit in units
            ],
        )  # fmt: skip
    httpx.post(
        served.url + "/v1/track",
        json={"event": "Order Completed", "anonymousId": TREATED[0]},
        auth=(served.write_key, ""),
    ).raise_for_status()
    return firing[0]


def _bearer(served: Dashboard, username: str) -> dict[str, str]:
    answer = httpx.post(
        served.url + "/api/auth/token", json={"username": username, "password": PASSWORD}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_an_alerts_outcomes_over_the_api_and_on_the_alerts_page(
    served: Dashboard, browser: Any
) -> None:
    """The API answers the run, the open flag, the measured invitation and the unmeasured
    flag; the page shows the same in English, then in French, without any error; a
    salesperson is refused (403) and the page shows her no outcomes."""
    from playwright.sync_api import expect

    alert = _alert_with_a_run(served)
    lea = httpx.Client(base_url=served.url, headers=_bearer(served, "lea"), timeout=30)
    outcome = lea.get(f"/api/alerts/{alert.id}/outcomes").json()
    (run,) = outcome["runs"]
    invite, flag = run["steps"]
    assert invite["effect"]["metric"] == "Order Completed"
    assert "1 of 3 treated and 0 of 2 held out in this run" in invite["sentence"]["en"]
    assert [a["kind"] for a in flag["actions"]] == ["page_flag"]
    assert flag["effect"] is None and flag["sentence"]["fr"].startswith("Non mesuré")
    assert lea.get("/api/alerts/nope/outcomes").status_code == 404

    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    page.goto(served.url + "/login?next=/alerts")
    page.fill("#username", "lea")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(served.url + "/alerts")
    for language in ("en", "fr"):
        if language == "fr":
            page.select_option("#language", "fr")
            page.click("form[action='/language'] button")
            page.wait_for_selector('html[lang="fr"]')
        item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
        item.locator("details > summary").click()
        box = item.locator(f'[data-outcomes="{alert.id}"]')
        expect(box.locator(".outcome-summary")).to_contain_text(
            "1 playbook run(s), 1 action(s)" if language == "en" else "1 exécution(s) de playbook",
            timeout=WAIT_MS,
        )
        expect(box.locator('[data-effect="measured"]')).to_contain_text(
            "1 of 3 treated" if language == "en" else "1 sur 3 traités"
        )
        expect(box.locator('[data-effect="none"]')).to_contain_text(
            "Not measured" if language == "en" else "Non mesuré"
        )
        flagged = box.locator('[data-outcome-action^="page_flag-"]')
        expect(flagged).to_have_attribute("data-state", "open")
        expect(flagged).to_contain_text(catalog(language)["js.actions.kind_page_flag"])
        expect(item.locator("h4", has_text=catalog(language)["js.alerts.outcomes"])).to_be_visible()
    context.close()
    assert problems.found == []

    refused = httpx.get(
        f"{served.url}/api/alerts/{alert.id}/outcomes", headers=_bearer(served, "sam")
    )
    assert refused.status_code == 403
    sales = browser.new_context(locale="en-GB")
    page = sales.new_page()
    page.goto(served.url + "/login?next=/alerts")
    page.fill("#username", "sam")
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(served.url + "/alerts")
    item = page.locator(f'#alert-feed li[data-alert="{alert.id}"]')
    item.locator("details > summary").click()
    expect(item.locator("details h4").first).to_be_visible(timeout=WAIT_MS)
    assert item.locator("[data-outcomes]").count() == 0
    sales.close()
