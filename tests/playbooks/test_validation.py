"""Configuration errors in playbooks, actions and schedules name the key path and line."""

from __future__ import annotations

import pytest

from vigie.config import ConfigError, parse_config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "playbooks:\n  - name: a\n    steps:\n      - action: telepathy\n",
            "playbooks.0.steps.0.action (line 4): no action 'telepathy'",
        ),
        (
            "playbooks:\n  - name: a\n    steps:\n      - action: notify\n"
            "        params: {to: nobody, subject: s}\n",
            "playbooks.0.steps.0.params.to (line 5)",
        ),
        (
            "playbooks:\n  - name: a\n    steps:\n      - action: page.flag\n"
            "        when: 'values.x <'\n",
            "playbooks.0.steps.0.when (line 5): condition does not parse",
        ),
        (
            "schedule:\n  people:\n    - name: p\n      working_hours: [nights]\n",
            "schedule.people.0.working_hours.0 (line 4)",
        ),
        (
            "actions:\n  webhooks:\n    - {name: w, url: 'https://x.example', secret: hunter2}\n",
            "actions.webhooks.0.secret (line 3)",
        ),
        (
            "schedule:\n  people:\n    - {name: ana}\n    - {name: ana}\n",
            "schedule.people.1.name (line 4): 'ana' is defined twice",
        ),
        (
            "schedule:\n  time_intervals:\n    - name: x\n      time_intervals:\n"
            "        - weekdays: [funday]\n",
            "schedule.time_intervals.0.time_intervals.0 (line 5)",
        ),
    ],
)
def test_errors_name_the_key_path_and_line(text: str, expected: str) -> None:
    """Each mistake is reported with its key path and line number."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert expected in str(caught.value)


def test_the_example_configuration_loads() -> None:
    """vigie.example.yaml, with its playbooks and people, is valid."""
    from pathlib import Path

    config = parse_config(
        (Path(__file__).resolve().parents[2] / "vigie.example.yaml").read_text(encoding="utf-8")
    )
    assert {p.name for p in config.playbooks} >= {"conversion-drop", "support-sla-breach"}
