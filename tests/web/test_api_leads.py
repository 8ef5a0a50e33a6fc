"""The leads API: the latest run (/api/leads/run), its publication into the CRM as lead
records (/api/leads) and the rep's decisions: accept, reject with a reason, convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
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
        assert httpx.get(f"{server.url}/api/leads/run").status_code == 401
        listing = client.get(f"{server.url}/api/leads/run", params={"limit": 20}).json()
        assert listing["total"] == 60 and len(listing["leads"]) == 20
        ranks = [lead["rank"] for lead in listing["leads"]]
        assert ranks == sorted(ranks)
        first = listing["leads"][0]
        assert first["factors"] and {"feature", "value", "contribution"} <= set(first["factors"][0])
        rep = first["rep"]
        mine = client.get(f"{server.url}/api/leads/run", params={"rep": rep}).json()
        assert mine["total"] <= 10 and all(lead["rep"] == rep for lead in mine["leads"])
        one = client.get(f"{server.url}/api/leads/run/{first['company_id']}")
        assert one.status_code == 200
        assert one.json()["reason_fr"] and one.json()["due_at"].startswith("2026-11-30")
        assert client.get(f"{server.url}/api/leads/run/1").status_code == 404
        others = [lead for lead in listing["leads"] if lead["rep"] != rep]
        _sales_see_their_own(server.url, app.state.system, rep, mine["total"], others[0])
        _the_model_card(client, server.url, ai_dir)


def _the_model_card(client: httpx.Client, url: str, ai_dir: Path) -> None:
    """The active model's card: held-out AUC beside the naive baseline's, refit on every
    row, and the bias check of the run scored with it; an unknown version is 404."""
    import json

    card = client.get(f"{url}/api/leads/models/card")
    assert card.status_code == 200, card.text
    view = card.json()
    saved = json.loads(
        (AiConfig(data_dir=str(ai_dir)).models_dir / "v0001" / "card.json").read_text()
    )
    assert view["version"] == "v0001" and view["model"] in {"logistic", "lightgbm"}
    assert view["held_out"]["auc"] == saved["metrics"]["auc"]
    assert view["naive_auc"] == saved["naive"]["auc"]
    assert view["refit"]["done"] is True and view["refit"]["rows"] == saved["rows"]["total"]
    assert view["bias"] is not None and view["bias"]["leads"] == 60
    assert {c["column"] for c in view["bias"]["columns"]} >= {"nace", "region"}
    missing = client.get(f"{url}/api/leads/models/card", params={"version": "v0099"})
    assert missing.status_code == 404
    assert client.get(f"{url}/api/leads/models/card", params={"version": "../x"}).status_code == 422


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
    listing = sales.get(f"{url}/api/leads/run", params={"limit": 1000}).json()
    assert listing["total"] == total and {lead["rep"] for lead in listing["leads"]} == {rep}
    assert sales.get(f"{url}/api/leads/run/{other['company_id']}").status_code == 404


def test_no_run_yet_is_404(tmp_path: Path) -> None:
    """Before any scoring run the API says so with 404 instead of failing."""
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)], ai=AiConfig(data_dir=str(tmp_path))
    )
    app = create_app(build_system(Settings(db_url=f"sqlite:///{tmp_path}/v.db", config=config)))
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(app.state.system, username="seller", role="sales")
        response = httpx.get(
            f"{server.url}/api/leads/run", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code == 404 and "vigie leads score" in response.text
        card = httpx.get(
            f"{server.url}/api/leads/models/card",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert card.status_code == 404 and "vigie leads train" in card.text


def _schedule(rep: str) -> Any:
    from vigie.schedule import NamedInterval, Person, ScheduleConfig, TimeInterval, TimeRange

    office = TimeInterval(
        weekdays=["monday:friday"],
        times=[TimeRange(start_time="09:00", end_time="17:00")],
        location="Europe/Brussels",
    )
    return ScheduleConfig(
        time_intervals=[NamedInterval(name="office", time_intervals=[office])],
        people=[Person(name=rep, working_hours=["office"], holidays=["2026-11-30"])],
    )


def test_leads_workflow(db_url: str, ai_dir: Path) -> None:
    """Issue 22: publishing the run makes CRM lead records owned by the reps' staff records,
    due in working hours (a rep on holiday gets them the next working morning), once per
    company; a rep sees their own, accepts, rejects with a reason, converts into an account
    and a deal owned by them; a salesperson may not publish."""
    from vigie.ai.runs import read_leads

    run = read_leads(AiConfig(data_dir=str(ai_dir)).run_dir)
    reps = sorted(run["rep"].drop_nulls().unique().to_list())
    away = reps[0]
    config = Config(
        sources=[Source(name="web", write_key=WRITE_KEY)],
        ai=AiConfig(data_dir=str(ai_dir)),
        schedule=_schedule(away),
    )
    app = create_app(build_system(Settings(db_url=db_url, config=config)))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        admin = httpx.Client(
            base_url=server.url,
            headers={
                "Authorization": f"Bearer {user_token(system, username='admin', role='admin')}"
            },
            timeout=60,
        )
        staff = {}
        for name in reps[:-1]:
            created = admin.post("/api/staff", json={"name": name, "role": "sales"})
            assert created.status_code == 201, created.text
            staff[name] = created.json()["id"]
        published = admin.post("/api/leads/publish", json={"limit": 60})
        assert published.status_code == 200, published.text
        unowned = run.filter(pl.col("rep") == reps[-1]).height + run["rep"].null_count()
        assert published.json()["published"] == 60
        assert published.json()["unassigned"] == unowned
        again = admin.post("/api/leads/publish", json={"limit": 60}).json()
        assert again["published"] == 0 and again["already"] == 60
        listing = admin.get("/api/leads", params={"limit": 500}).json()
        assert listing["total"] == 60
        held = [lead for lead in listing["items"] if lead["owner_id"] == staff[away]]
        assert held and all(lead["due_at"] >= "2026-12-01T08:00" for lead in held)
        assert all(lead["status"] == "new" and lead["reason_fr"] for lead in listing["items"])

        seller_token = user_token(system, username="seller", role="sales", staff_id=staff[away])
        seller = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {seller_token}"}, timeout=60
        )
        mine = seller.get("/api/leads", params={"limit": 500}).json()
        assert mine["total"] == len(held)
        assert {lead["owner_id"] for lead in mine["items"]} == {staff[away]}
        assert seller.post("/api/leads/publish", json={}).status_code == 403
        first, second, third = (lead["id"] for lead in mine["items"][:3])

        accepted = seller.post(f"/api/leads/{first}/accept")
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        assert seller.post(f"/api/leads/{first}/accept").status_code == 422
        assert seller.post(f"/api/leads/{second}/reject", json={"reason": ""}).status_code == 422
        rejected = seller.post(f"/api/leads/{second}/reject", json={"reason": "already a client"})
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["reject_reason"] == "already a client"
        converted = seller.post(f"/api/leads/{third}/convert", json={"amount": 1200})
        assert converted.status_code == 200, converted.text
        body = converted.json()
        assert body["lead"]["status"] == "converted"
        assert body["lead"]["deal_id"] == body["deal"]["id"]
        assert body["deal"]["owner_id"] == staff[away] and body["deal"]["amount"] == 1200
        assert body["account"]["vat_number"] == str(body["lead"]["company_id"])
        assert seller.post(f"/api/leads/{third}/reject", json={"reason": "x"}).status_code == 422
        others = [lead for lead in listing["items"] if lead["owner_id"] != staff[away]]
        assert seller.post(f"/api/leads/{others[0]['id']}/accept").status_code == 404
