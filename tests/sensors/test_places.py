"""Places in vigie.yaml: a name that points at nothing is an error naming it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sensors.conftest import SENSORS
from vigie.config import ConfigError, alerting_rules, load_config, parse_config
from vigie.sensors.places import quiet_at

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "vigie" / "example.yaml"


def _config(**changes: Any) -> str:
    data: dict[str, Any] = {"sensors": copy.deepcopy(SENSORS), **changes}
    return yaml.safe_dump(data)


def test_the_shipped_example_defines_what_its_playbooks_name() -> None:
    """The example loads: `street-crowding`'s rule `rue-neuve-crowding` exists now (issue 20)."""
    config = load_config(EXAMPLE)
    assert "rue-neuve-crowding" in {rule.name for rule in config.rules}
    assert config.sensors.zone("rue-neuve") is not None


def test_a_playbook_triggered_by_an_undefined_rule_is_an_error() -> None:
    """The check names the playbook, the missing rule and the key path."""
    step = {"action": "page.flag", "params": {"page": "/", "reason": "r"}}
    text = _config(playbooks=[{"name": "p", "triggers": [{"rule": "ghost"}], "steps": [step]}])
    with pytest.raises(ConfigError, match=r"playbooks\.0\.triggers\.0\.rule .*'ghost'"):
        parse_config(text)


def test_a_rule_running_an_undefined_playbook_is_an_error() -> None:
    """A rule's `playbook` must name a playbook of the file."""
    rules = [{"name": "r", "kind": "absence", "silence": "5m", "playbook": "nowhere"}]
    with pytest.raises(ConfigError, match=r"rules\.0\.playbook .*'nowhere'"):
        parse_config(_config(rules=rules))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("zones", 0, "neighbours"),
            ["atlantis"],
            r"sensors\.zones\.0\.neighbours\.0 .*'atlantis'",
        ),
        (("devices", 0, "aisle"), "aisle-99", r"sensors\.devices\.0\.aisle .*'aisle-99'"),
        (("devices", 2, "zone"), "moon", r"sensors\.devices\.2\.zone .*'moon'"),
        (("sites", 0, "displays"), [{"name": "d", "aisle": "x"}], r"displays\.0\.aisle .*'x'"),
        (("devices", 1, "entrance"), "back", r"sensors\.devices\.1\.entrance .*'back'"),
    ],
)
def test_a_place_naming_nothing_is_an_error(
    path: tuple[Any, ...], value: Any, message: str
) -> None:
    """Zones, aisles, entrances and sites referred to must exist; the error says which."""
    sensors = copy.deepcopy(SENSORS)
    target: Any = sensors
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump({"sensors": sensors}))


def test_loudspeakers_for_an_unknown_zone_are_an_error() -> None:
    """`actions.zones` (loudspeakers) must be zones of `sensors.zones`."""
    text = _config(actions={"zones": [{"name": "rue-neve"}]})
    with pytest.raises(ConfigError, match=r"actions\.zones\.0\.name .*'rue-neve'"):
        parse_config(text)


def test_quiet_hours_may_span_midnight() -> None:
    """22:00-08:00 is quiet at 23:30 and 07:59, not at 08:00 or noon."""
    assert [quiet_at(["22:00-08:00"], m) for m in (23 * 60 + 30, 7 * 60 + 59, 8 * 60, 12 * 60)] == [
        True, True, False, False
    ]  # fmt: skip


def test_each_device_gets_an_absence_rule() -> None:
    """A device's `silence` becomes the absence rule `sensor-silent-<id>` over its own
    readings; `silence: null` opts out, and a rule of that name in the file wins."""
    sensors = copy.deepcopy(SENSORS)
    sensors["devices"][1]["silence"] = None
    own = {"name": "sensor-silent-cam-neuve", "kind": "absence", "silence": "1h",
           "where": {"source": "sensors"}}  # fmt: skip
    config = parse_config(yaml.safe_dump({"sensors": sensors, "rules": [own]}))
    rules = {rule.name: rule for rule in alerting_rules(config)}
    reader = rules["sensor-silent-reader-4"]
    assert reader.kind == "absence" and reader.silence == "10m"
    assert reader.where == {"source": "sensors", "properties.device": "reader-4"}
    assert "sensor-silent-door" not in rules
    assert rules["sensor-silent-cam-neuve"].silence == "1h"


def test_config_check_names_the_problem_and_exits_2(tmp_path: Path) -> None:
    """`vigie config check` accepts the example and refuses an undefined trigger rule,
    naming the key path and line."""
    from typer.testing import CliRunner

    from vigie.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "ok" in ok.output
    broken = tmp_path / "vigie.yaml"
    step = {"action": "page.flag", "params": {"page": "/", "reason": "r"}}
    broken.write_text(
        _config(playbooks=[{"name": "p", "triggers": [{"rule": "ghost"}], "steps": [step]}])
    )
    refused = runner.invoke(app, ["config", "check", str(broken)])
    assert refused.exit_code == 2
    assert "playbooks.0.triggers.0.rule" in refused.output and "'ghost'" in refused.output
