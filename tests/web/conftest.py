"""A Vigie server configured for the dashboard tests: a KPI with a threshold rule, a funnel,
a campaign slot, a schedule, and users of several roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import (
    PG_ADMIN_URL,
    WRITE_KEY,
    _admin_engine,
    free_port,
    make_settings,
    require_service,
)
from vigie.auth.users import create_user
from vigie.config import parse_config
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

PASSWORD = "correct horse battery"
PROBE = "Probe Sent"

CONFIG = {
    "secret_key": "dashboard-test-secret-key-0123456789",
    "sources": [{"name": "web", "write_key": WRITE_KEY}],
    "inbound": [
        {"name": "payments", "kind": "stripe", "secret": "whsec_dashboard_test_0123456789"}
    ],
    "metrics": [
        {
            "name": "probes",
            "kind": "count",
            "where": {"event": PROBE},
            "window": "15m",
            "title": {"en": "Probes sent", "fr": "Sondes envoyées"},
        }
    ],
    "rules": [
        {
            "name": "probe-seen",
            "metric": "probes",
            "op": ">",
            "value": 0,
            "labels": {"department": "quality"},
            "summary": {"en": "{value} probes", "fr": "{value} sondes"},
        }
    ],
    "playbooks": [
        {
            "name": "probe-response",
            "triggers": [{"rule": "probe-seen", "status": ["firing"]}],
            "steps": [
                {"action": "page.flag", "params": {"page": "/start", "reason": "probe"}},
                {"action": "notify", "params": {"to": "ana", "subject": "Probe seen / Sonde vue"}},
            ],
        }
    ],
    "analytics": {
        "funnels": [{"name": "probe-funnel", "steps": [{"page": "/start"}, {"event": PROBE}]}],
        "campaigns": [
            {
                "name": "lunch-deal",
                "utm_campaign": "lunch-deal",
                "schedule": {"start": "12:00", "end": "13:00", "timezone": "Europe/Brussels"},
            }
        ],
    },
    "experiments": [
        {
            "name": "checkout-button",
            "description": "A green checkout button against the blue one",
            "metric": "Order Completed",
            "baseline": 0.3,
            "mde": 0.3,
            "horizon": "1d",
        }
    ],
    "schedule": {
        "time_intervals": [
            {
                "name": "always",
                "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}],
            }
        ],
        "policy": {"earliest": "00:00", "latest": "24:00", "weekends": True},
        "people": [
            {
                "name": "ana",
                "display_name": "Ana Peeters",
                "teams": ["quality"],
                "working_hours": ["always"],
            }
        ],
        "teams": [{"name": "quality"}],
    },
}


@dataclass
class Dashboard:
    """A running server and the users that may sign in to it."""

    url: str
    write_key: str
    system: System


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dashboard_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store shared by one test module (starting a server per test would be too slow)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('dashboard')}/vigie.db"
        return
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        require_service("PostgreSQL", str(exc).splitlines()[0])
    name = f"vigie_dash_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def dashboard(dashboard_db: str) -> Iterator[Dashboard]:
    """The dashboard's server on SQLite and on PostgreSQL, shared by a test module, with
    users ada (admin), lea (manager), sam (sales) and sue (support), all with the password
    `PASSWORD`."""
    db_url = dashboard_db
    config = parse_config(yaml.safe_dump(CONFIG), origin="dashboard test config")
    app = create_app(build_system(make_settings(db_url, config)))
    with BackgroundServer(app, port=free_port()) as server:
        system: System = app.state.system
        for username, role in (
            ("ada", "admin"),
            ("lea", "manager"),
            ("sam", "sales"),
            ("sue", "support"),
        ):
            create_user(
                engine=system.engine,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=username.capitalize(),
                now=system.clock.now(),
            )
        yield Dashboard(url=server.url, write_key=WRITE_KEY, system=system)
