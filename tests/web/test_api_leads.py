"""GET /api/leads and /api/leads/{id} over the latest lead run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WRITE_KEY, free_port, user_token
from vigie.ai import models
from vigie.ai.config import AiConfig
from vigie.ai.history import history_for_base
from vigie.ai.leads import run_leads
from vigie.ai.prospects import FEATURES, generate_base
from vigie.ai.reps import Rep
from vigie.ai.runs import write_run
from vigie.auth.tokens import issue_token
from vigie.auth.users import create_user
from vigie.config import Config, Source
from vigie.settings import Settings
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


@pytest.fixture(scope="module")
def ai_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AI data directory holding one lead run."""
    section = AiConfig(data_dir=str(tmp_path_factory.mktemp("api") / "ai"))
    generate_base(section.base_dir, rows=4000, seed=5, rows_per_partition=2000)
    history = history_for_base(
        first_partition_rows=2000, seed=5, deals=1500, end=date(2026, 11, 1), reps=4
    )
    model = models.train(history, target="won", time_column="closed_at", features=FEATURES)
    models.save(model, section.models_dir, trained_at=datetime(2026, 11, 2, tzinfo=UTC))
    reps = [Rep(name=n, capacity=10) for n in sorted(history["rep"].unique().to_list())]
    leads, scored = run_leads(
        base=section.base_dir, model=model, history=history, reps=reps,
        now=datetime(2026, 11, 30, 9, 0, tzinfo=UTC), top_k=60,
    )  # fmt: skip
    write_run(
        section.run_dir, leads, scored, extra={"model": model.version, "run_at": "2026-11-30"}
    )
    return Path(section.data_dir)


def test_leads_api(db_url: str, ai_dir: Path) -> None:
    """The API lists leads best first with their rep and factors, and serves one lead by id."""
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)], ai=AiConfig(data_dir=str(ai_dir))
    )
    app = create_app(build_system(Settings(db_url=db_url, config=config)))
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="boss", role="admin")
        client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert httpx.get(f"{server.url}/api/leads").status_code == 401
        listing = client.get(f"{server.url}/api/leads", params={"limit": 20}).json()
        assert listing["total"] == 60 and len(listing["leads"]) == 20
        ranks = [lead["rank"] for lead in listing["leads"]]
        assert ranks == sorted(ranks)
        first = listing["leads"][0]
        assert first["factors"] and {"feature", "value", "contribution"} <= set(first["factors"][0])
        rep = first["rep"]
        mine = client.get(f"{server.url}/api/leads", params={"rep": rep}).json()
        assert mine["total"] <= 10 and all(lead["rep"] == rep for lead in mine["leads"])
        one = client.get(f"{server.url}/api/leads/{first['company_id']}")
        assert one.status_code == 200
        assert one.json()["reason_fr"] and one.json()["due_at"].startswith("2026-11-30")
        assert client.get(f"{server.url}/api/leads/1").status_code == 404
        others = [lead for lead in listing["leads"] if lead["rep"] != rep]
        _sales_see_their_own(server.url, app.state.system, rep, mine["total"], others[0])


def _sales_see_their_own(
    url: str, system: System, rep: str, total: int, other: dict[str, Any]
) -> None:
    """Issue 17: a salesperson (whose display name is the rep's) lists and reads only the
    leads assigned to them; another rep's lead is 404."""
    seller = create_user(
        engine=system.engine, username="seller", password="correct horse battery",
        role="sales", display_name=rep, now=system.clock.now(),
    )  # fmt: skip
    issued = issue_token(engine=system.engine, user_id=seller.id, name="t", now=system.clock.now())
    sales = httpx.Client(headers={"Authorization": f"Bearer {issued.token}"}, timeout=30)
    listing = sales.get(f"{url}/api/leads", params={"limit": 1000}).json()
    assert listing["total"] == total and {lead["rep"] for lead in listing["leads"]} == {rep}
    assert sales.get(f"{url}/api/leads/{other['company_id']}").status_code == 404


def test_no_run_yet_is_404(tmp_path: Path) -> None:
    """Before any scoring run the API says so with 404 instead of failing."""
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)], ai=AiConfig(data_dir=str(tmp_path))
    )
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="seller", role="sales")
        response = httpx.get(
            f"{server.url}/api/leads", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code == 404 and "vigie leads score" in response.text
