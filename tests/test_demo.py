"""The demo's chapters against a live server on the example configuration."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from tests.conftest import free_port
from vigie import demo
from vigie.clock import ManualClock
from vigie.demo import (
    BRUSSELS,
    CHECKOUT_BREAKS_AT,
    EXAMPLE,
    SUPPORT_BREACHES_AT,
    Narrator,
    _a_day_in_the_shop,
    campaign_line,
    demo_day,
)
from vigie.settings import build_settings
from vigie.simulate import LunchCampaign
from vigie.store import connect, upgrade
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.i18n import Translator
from vigie.web.server import BackgroundServer


@pytest.mark.parametrize(
    ("language", "advice", "follows", "inside"),
    [
        ("en", "Advice: move summer-promo from aisle-4 to aisle-21", "Pick-ups follow the display",
         " inside for "),
        ("fr", "Conseil : déplacer summer-promo de aisle-4 vers aisle-21",
         "Les prises en main suivent le présentoir", " personnes à l'intérieur pour "),
    ],
)  # fmt: skip
def test_a_second_shop_day_on_the_same_store_tells_the_same_story(
    tmp_path: Path, language: str, advice: str, follows: str, inside: str
) -> None:
    """On a store an earlier run played into (`vigie demo --db`), the shop chapter again
    advises moving the display from aisle-4 to aisle-21 and counts the same people inside,
    instead of finding the display already moved ("No relocation advice") and the doors'
    counts of both runs added up; it says so in the reader's language."""
    settings = build_settings(
        db_url=f"sqlite:///{tmp_path}/vigie.db", config_path=Path(str(EXAMPLE))
    )
    settings.config.actions.smtp = None
    app = create_app(build_system(settings))
    told = []
    say = Narrator(language, BRUSSELS)
    with BackgroundServer(app, port=free_port()) as server:
        for _ in range(2):
            console = Console(record=True, width=400)
            _a_day_in_the_shop(app.state.system, server.url, console, say)
            told.append(console.export_text())
    for text in told:
        assert advice in text and follows in text, text
    counted = [text.split(": ", 1)[1].split(inside)[0] for text in told]
    assert counted[0] == counted[1], told


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
    ("language", "pace"), [("en", ", at 2.5x"), ("fr", ", à 2,5x la vitesse réelle")]
)
def test_the_campaign_line_names_the_replay_speed(language: str, pace: str) -> None:
    """Played live rather than fast-forwarded, the line gives the speed, in either language."""
    scenario = LunchCampaign(day=date(2026, 12, 4), visitors=40, seed=1)
    assert campaign_line(language, scenario, once=False, speed=2.5).endswith(pace)


@pytest.mark.parametrize(
    ("narrator", "expected"),
    [
        (Narrator("fr", BRUSSELS), "vendredi 12:20"),
        (Narrator("en", BRUSSELS), "Friday 12:20"),
        (Narrator("fr", ZoneInfo("UTC")), "vendredi 11:20 UTC"),
        (Narrator("en", ZoneInfo("America/Montreal")), "Friday 06:20 EST"),
        (Narrator("en", ZoneInfo("Pacific/Kiritimati")), "Saturday 01:20 +14"),
    ],
)
def test_times_are_told_in_the_readers_zone_and_named_when_not_the_storys(
    narrator: Narrator, expected: str
) -> None:
    """The 12:20 break in Brussels reads as the reader's own clock and day, with the zone's
    name when it is not Brussels's, so that 11:20 UTC is not taken for the story's 11:20."""
    moment = datetime.combine(date(2026, 12, 4), CHECKOUT_BREAKS_AT, tzinfo=BRUSSELS)
    assert narrator.when(moment) == expected
    assert narrator.clock(moment) == expected.split(" ", 1)[1].replace(":20", ":20:00", 1)


def test_statuses_and_headings_speak_the_readers_language() -> None:
    """A step's status is in the reader's words (an unknown one is shown as it is), and a
    chapter that opens with a French day name starts with a capital."""
    french = Narrator("fr", BRUSSELS)
    assert (french.status("succeeded"), french.status("no-such-status")) == (
        "réussie",
        "no-such-status",
    )
    moment = datetime.combine(date(2026, 12, 4), CHECKOUT_BREAKS_AT, tzinfo=BRUSSELS)
    heading = french.heading("demo.chat_heading", when=french.when(moment))
    assert heading.startswith("[bold]Vendredi 12:20 — "), heading


def test_every_demo_message_exists_in_both_languages_with_the_same_fields() -> None:
    """Each line the demo prints has an English and a French wording that fill in the same
    values, so neither language falls back to a message id or fails on a missing field."""
    english, french = Translator("en").subset("demo."), Translator("fr").subset("demo.")
    assert english.keys() == french.keys()
    fields = re.compile(r"\{(\w+)\}")
    for key, text in english.items():
        assert set(fields.findall(text)) == set(fields.findall(french[key])), key
    used = set(re.findall(r'"(demo\.[a-z_]+)"', Path(demo.__file__).read_text("utf-8")))
    assert used <= english.keys(), used - english.keys()
