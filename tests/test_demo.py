"""The demo's chapters against a live server on the example configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import free_port
from vigie.clock import ManualClock
from vigie.demo import (
    BRUSSELS,
    CHECKOUT_BREAKS_AT,
    EXAMPLE,
    SUPPORT_BREACHES_AT,
    _a_day_in_the_shop,
    campaign_line,
    demo_day,
)
from vigie.settings import build_settings
from vigie.simulate import LunchCampaign
from vigie.store import connect, upgrade
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


def test_a_second_shop_day_on_the_same_store_tells_the_same_story(tmp_path: Path) -> None:
    """On a store an earlier run played into (`vigie demo --db`), the shop chapter again
    advises moving the display from aisle-4 to aisle-21 and counts the same people inside,
    instead of finding the display already moved ("No relocation advice") and the doors'
    counts of both runs added up."""
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config_path=Path(str(EXAMPLE))
    )
    settings.config.actions.smtp = None
    app = create_app(build_system(settings))
    told = []
    with BackgroundServer(app, port=free_port()) as server:
        for _ in range(2):
            console = Console(record=True, width=400)
            _a_day_in_the_shop(app.state.system, server.url, console)
            told.append(console.export_text())
    for text in told:
        assert "Advice: move summer-promo from aisle-4 to aisle-21" in text, text
        assert "Pick-ups follow the display" in text, text
    inside = [text.split(": ", 1)[1].split(" inside")[0] for text in told]
    assert inside[0] == inside[1], told


@pytest.mark.parametrize(
    "today", [date(2026, 12, 5), date(2026, 12, 6)], ids=["saturday", "sunday"]
)
def test_on_a_weekend_the_demo_plays_a_day_when_people_are_at_work(
    tmp_path: Path, today: date
) -> None:
    """Run on a Saturday or a Sunday, the demo plays a working day: at 12:20 the chat has an
    agent on duty for the checkout's invitation, and at 12:40 the support SLA's playbook
    moves two sales agents to support (at a weekend nobody was on duty and nobody moved)."""
    day = demo_day(datetime.combine(today, time(23, 40), tzinfo=BRUSSELS))
    assert day < today
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config_path=Path(str(EXAMPLE))
    )
    settings.config.actions.smtp = None
    clock = ManualClock(datetime.combine(day, CHECKOUT_BREAKS_AT, tzinfo=BRUSSELS))
    engine = connect(settings.db_url)
    upgrade(engine)
    system = build_system(settings, clock=clock, engine=engine)
    assert system.chat.agents_on_duty(), "nobody on duty to take the chat's invitation"
    clock.set(datetime.combine(day, SUPPORT_BREACHES_AT, tzinfo=BRUSSELS))
    run = system.playbooks.run("support-sla-breach")
    reassign = run.steps[0]
    assert reassign.status == "succeeded", reassign.error
    assert len(reassign.result["moved"]) == 2, reassign.result
    engine.dispose()


def test_the_demo_plays_today_from_tuesday_to_friday_else_the_friday_before() -> None:
    """Each day of a week maps to itself from Tuesday to Friday, and Saturday, Sunday and
    Monday to the Friday before; the day is Brussels's (00:30 there is still 23:30 in UTC)."""
    friday = date(2026, 12, 4)
    for offset in range(7):
        today = date(2026, 12, 1 + offset)  # Tuesday 1 to Monday 7 December 2026
        played = demo_day(datetime.combine(today, time(23, 59), tzinfo=BRUSSELS))
        assert played == (today if today <= friday else friday), today
    assert demo_day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Replaying the lunch-time campaign of Friday 2026-12-04 (12:00-13:00 "
            "Europe/Brussels), 300 visitors, fast-forwarded",
        ),
        (
            "fr",
            "Rejeu de la campagne de midi du vendredi 2026-12-04 (12:00-13:00 "
            "Europe/Brussels), 300 visiteurs, en accéléré",
        ),
    ],
)
def test_the_campaign_line_speaks_the_terminals_language(language: str, expected: str) -> None:
    """The line that opens the lunch-time campaign follows the terminal's language like the
    demo's other translated lines, instead of English around a French day name."""
    scenario = LunchCampaign(day=date(2026, 12, 4), visitors=300, seed=1)
    assert campaign_line(language, scenario, once=True, speed=1.0) == expected


@pytest.mark.parametrize(
    ("language", "pace"), [("en", ", at 2.5x"), ("fr", ", à 2.5x la vitesse réelle")]
)
def test_the_campaign_line_names_the_replay_speed(language: str, pace: str) -> None:
    """Played live rather than fast-forwarded, the line gives the speed, in either language."""
    scenario = LunchCampaign(day=date(2026, 12, 4), visitors=40, seed=1)
    assert campaign_line(language, scenario, once=False, speed=2.5).endswith(pace)
