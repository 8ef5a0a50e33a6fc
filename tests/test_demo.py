"""The demo's chapters against a live server on the example configuration."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tests.conftest import free_port
from vigie.demo import EXAMPLE, _a_day_in_the_shop
from vigie.settings import build_settings
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
