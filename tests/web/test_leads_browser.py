"""The Leads page lists a rep's leads with sector and region names, in English and French,
and takes their decisions (issue 22), in Debian's chromium."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import user_token
from tests.web.conftest import Dashboard
from tests.web.test_dashboard_browser import (
    WAIT_MS,
    Problems,
    _settle,
    _sign_in,
    browser,
    choose_french,
)
from vigie.web.i18n import catalog

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the dashboard's browser tests


def _leads(dashboard: Dashboard) -> dict[str, str]:
    token = user_token(dashboard.system, username="lead-maker", role="admin")
    client = httpx.Client(
        base_url=dashboard.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    staff = client.post("/api/staff", json={"name": "Alice Dubois", "role": "sales"}).json()["id"]
    made = {}
    for name, nace, region in (
        ("Atelier Logiciel", "62.01", "Antwerpen"),
        ("Brasserie du Coin", "56.10", "BE-WLG"),
        ("Conseil Martin", "70.22", "FR-IDF"),
    ):
        response = client.post(
            "/api/leads",
            json={"name": name, "nace": nace, "region": region, "country": "BE", "score": 40,
                  "probability": 0.4, "expected": 0.45, "rep_rate": 0.3, "owner_id": staff,
                  "due_at": "2026-12-07T08:00:00+00:00", "reason_en": f"why {name}",
                  "reason_fr": f"pourquoi {name}"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    return made


def test_the_leads_page_shows_names_and_takes_decisions(dashboard: Dashboard, browser: Any) -> None:
    """Sectors and regions read as names in both languages with the expected-conversion
    formula; accepting, rejecting with a reason and converting change the lead's status."""
    from playwright.sync_api import expect

    made = _leads(dashboard)
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    _sign_in(page, dashboard)
    expected_names = {
        "en": ("software development", "Antwerp", "Liège", "Île-de-France"),
        "fr": ("programmation informatique", "Anvers", "Liège", "Île-de-France"),
    }
    for language in ("en", "fr"):
        if language == "fr":
            choose_french(page)
        page.goto(dashboard.url + "/leads")
        _settle(page, language)
        expect(page.locator("h1")).to_have_text(catalog(language)["leads.title"])
        expect(page.locator("#leads-formula")).to_have_text(catalog(language)["leads.formula"])
        first = page.locator(f'article[data-lead="{made["Atelier Logiciel"]}"]')
        sector, region, liege, paris = expected_names[language]
        expect(first.locator("[data-segment]")).to_contain_text(sector, timeout=WAIT_MS)
        expect(first.locator("[data-segment]")).to_contain_text(region)
        expect(first).to_contain_text("Atelier Logiciel")
        expect(first).not_to_contain_text("62.01")
        second = page.locator(f'article[data-lead="{made["Brasserie du Coin"]}"]')
        expect(second.locator("[data-segment]")).to_contain_text(liege)
        third = page.locator(f'article[data-lead="{made["Conseil Martin"]}"]')
        expect(third.locator("[data-segment]")).to_contain_text(paris)
    first.locator('button[data-action="accept"]').click()
    expect(first).to_have_attribute("data-status", "accepted", timeout=WAIT_MS)
    second.locator("input[data-reason]").fill("trop petit")
    second.locator('button[data-action="reject"]').click()
    expect(second).to_have_count(0, timeout=WAIT_MS)
    first.locator('button[data-action="convert"]').click()
    expect(first).to_have_count(0, timeout=WAIT_MS)
    page.select_option("#leads-status", "rejected")
    rejected = page.locator(f'article[data-lead="{made["Brasserie du Coin"]}"]')
    expect(rejected).to_contain_text("trop petit", timeout=WAIT_MS)
    page.select_option("#leads-status", "converted")
    expect(page.locator(f'article[data-lead="{made["Atelier Logiciel"]}"]')).to_have_attribute(
        "data-status", "converted", timeout=WAIT_MS
    )
    context.close()
    assert problems.found == []


def _models(root: Any) -> None:
    """Two versions under `root`: v0001 active, v0002 worse (kept out by the gate), and a
    run whose scores drifted."""
    import json
    from datetime import UTC, datetime

    import numpy as np
    import polars as pl

    from vigie.ai import models, versions

    rng = np.random.default_rng(5)
    n = 1200
    x = rng.normal(size=n)
    frame = pl.DataFrame({
        "signal": x, "noise": rng.normal(size=n), "won": rng.random(n) < 1 / (1 + np.exp(-2 * x)),
    })  # fmt: skip
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for features in (["signal", "noise"], ["noise"]):
        model = models.train(frame, target="won", features=features)
        models.save(model, root / "models", trained_at=now)
        rows, y, label = versions.recent_holdout(
            frame, target="won", time_column=None, positive=None, seed=0
        )
        versions.gate(root / "models", model, rows, y, at=now, holdout_label=label)
    (root / "leads").mkdir()
    summary = {
        "model": "v0001",
        "monitoring": {"psi": 0.31, "level": "major"},
        "groups": {"region": {"Namur": [20, 20], "Liège": [50, 50]}},
    }
    (root / "leads" / "summary.json").write_text(json.dumps(summary))
    pl.DataFrame(
        {"company_id": [881, 882], "name": ["Garage Zoé", "Fleurs Zoé"], "nace": ["45.20", "47.76"],
         "size_band": ["0-9", "10-49"], "region": ["Namur", "Namur"], "country": ["BE", "BE"],
         "score": [51, 48], "probability": [0.51, 0.48], "expected": [0.55, 0.5],
         "rep_rate": [0.3, 0.3], "rep": ["Zoé Martin", "Zoé Martin"],
         "due_at": [now, now], "reason_en": ["a", "b"], "reason_fr": ["a", "b"]}
    ).write_parquet(root / "leads" / "leads.parquet")  # fmt: skip


def test_an_administrator_sees_the_models_and_switches_them(
    dashboard: Dashboard, browser: Any, tmp_path: Any
) -> None:
    """The Models section lists the versions with the gate's verdict in the page's language
    and the latest drift check; an administrator (as a manager, for their team) makes a
    version active, rolls back, and hands the latest run to the reps."""
    from playwright.sync_api import expect

    _models(tmp_path)
    token = user_token(dashboard.system, username="model-maker", role="admin")
    created = httpx.post(dashboard.url + "/api/staff", json={"name": "Zoé Martin", "role": "sales"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)  # fmt: skip
    assert created.status_code == 201, created.text
    section = dashboard.system.settings.config.ai
    before, section.data_dir = section.data_dir, str(tmp_path)
    try:
        context = browser.new_context(locale="fr-BE", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems = Problems()
        problems.watch(page)
        _sign_in(page, dashboard, "ada")
        page.goto(dashboard.url + "/leads")
        _settle(page, "fr")
        box = page.locator("#lead-models")
        expect(box.locator('tr[data-version="v0001"]')).to_have_attribute("data-active", "true")
        second = box.locator('tr[data-version="v0002"]')
        expect(second).to_contain_text("moins bon")
        expect(box.locator('[data-drift="major"]')).to_contain_text("0,31")
        second.locator("button[data-promote]").click()
        expect(second).to_have_attribute("data-active", "true", timeout=WAIT_MS)
        box.locator("button[data-rollback]").click()
        expect(box.locator('tr[data-version="v0001"]')).to_have_attribute(
            "data-active", "true", timeout=WAIT_MS
        )
        page.locator("button[data-publish]").click()
        expect(page.locator("[data-published]")).to_contain_text(
            "2 lead(s) publié(s)", timeout=WAIT_MS
        )
        context.close()
        assert problems.found == []
    finally:
        section.data_dir = before


def test_the_leads_page_shows_the_active_model_card(
    dashboard: Dashboard, browser: Any, tmp_path: Any
) -> None:
    """The active model's card reads in English and French: the chosen model, its held-out
    AUC beside the naive baseline's, calibration, shift, refit and the four-fifths check of
    the run scored with it; promoting another version shows that version's card."""
    import json

    from playwright.sync_api import expect

    _models(tmp_path)
    saved = json.loads((tmp_path / "models" / "v0001" / "card.json").read_text())
    section = dashboard.system.settings.config.ai
    before, section.data_dir = section.data_dir, str(tmp_path)
    expected = {
        "en": ("Model card of the active model, v0001", "naive baseline", "yes, on 1200 rows",
               "1 group(s) below four fifths", "Liège"),
        "fr": ("Fiche du modèle actif, v0001", "référence naïve", "oui, sur 1200 lignes",
               "1 groupe(s) sous les quatre cinquièmes", "Liège"),
    }  # fmt: skip
    try:
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems = Problems()
        problems.watch(page)
        _sign_in(page, dashboard, "ada")
        page.goto(dashboard.url + "/leads")
        for language in ("en", "fr"):
            if page.get_attribute("html", "lang") != language:
                page.select_option("#language", language)
                page.focus("#language")
                page.keyboard.press("Tab")
                page.keyboard.press("Enter")
                page.wait_for_selector(f'html[lang="{language}"]')
            page.goto(dashboard.url + "/leads")
            _settle(page, language)
            card = page.locator("#lead-card")
            title, naive, refit, bias, group = expected[language]
            expect(card.locator("h3")).to_have_text(title, timeout=WAIT_MS)
            model = catalog(language)[f"js.leads.card_model_{saved['model']}"]
            expect(card.locator("[data-model]")).to_contain_text(model)
            auc = f"{saved['metrics']['auc']:.3f}".rstrip("0")
            if language == "fr":
                auc = auc.replace(".", ",")
            expect(card.locator("[data-auc]")).to_contain_text(auc)
            expect(card.locator("[data-auc]")).to_contain_text(naive)
            expect(card.locator("[data-refit]")).to_have_attribute("data-refit", "yes")
            expect(card.locator("[data-refit]")).to_contain_text(refit)
            expect(card.locator("[data-bias]")).to_contain_text(bias)
            expect(card.locator("[data-bias]")).to_contain_text(group)
            calibration = "calibration error" if language == "en" else "erreur de calibrage"
            expect(card.locator("[data-calibration]")).to_contain_text(calibration)
        page.locator('tr[data-version="v0002"] button[data-promote]').click()
        expect(page.locator("#lead-card h3")).to_have_text(
            "Fiche du modèle actif, v0002", timeout=WAIT_MS
        )
        expect(page.locator("#lead-card [data-bias]")).to_contain_text("pas encore de notation")
        context.close()
        assert problems.found == []
    finally:
        section.data_dir = before
