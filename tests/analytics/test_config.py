"""The `analytics:` section of vigie.yaml: parsed, checked, errors naming key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "vigie.example.yaml"


def test_the_example_configuration_has_funnels_campaigns_and_tracker_settings() -> None:
    """vigie.example.yaml loads with its funnel, lunch campaign and tracker settings."""
    config = load_config(EXAMPLE)
    assert config.analytics.funnel("lunch-checkout") is not None
    assert [c.name for c in config.analytics.campaigns] == ["lunch-deal"]
    assert config.sources[0].tracker.form_fields == ["email"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "analytics:\n  funnels:\n    - name: f\n      steps:\n        - page: /a\n"
            "        - name: nothing\n",
            "analytics.funnels.0.steps.1 (line 6): give each step either `event` or `page`",
        ),
        (
            "analytics:\n  timezone: Mars/Olympus\n",
            "analytics.timezone (line 2): unknown time zone 'Mars/Olympus'",
        ),
        (
            "analytics:\n  campaigns:\n    - name: c\n      schedule:\n"
            "        start: '13:00'\n        end: '12:00'\n",
            "analytics.campaigns.0.schedule.end (line 6): the slot must end after it starts",
        ),
        (
            "analytics:\n  campaigns:\n    - name: c\n      schedule: {start: '12:00', "
            "end: '13:00', days: [mon, funday]}\n",
            "'funday' is not one of mon",
        ),
        (
            "analytics:\n  funnels:\n    - name: f\n      stepz: []\n",
            "analytics.funnels.0.stepz (line 4): unknown key",
        ),
    ],
)
def test_mistakes_name_the_key_and_line(text: str, message: str) -> None:
    """A wrong analytics setting is refused with its key path, line and what to do."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
