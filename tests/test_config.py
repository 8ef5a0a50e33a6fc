"""`vigie.yaml`: validation errors name the key path and line; secrets; the default source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigie.config import ConfigError, default_config, load_config, parse_config
from vigie.settings import build_settings

GOOD = """\
environment: production
secret_key: 3f9c1d0b8a7e6f5d4c3b2a19
sources:
  - name: website
    write_key: wk-website-7d1f0c2b9e
  - name: pos
    write_key: wk-pos-4a8b6c1d2e3f
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="vigie.yaml")
    return str(caught.value)


def test_a_valid_file_loads() -> None:
    """A complete production file loads, and each write key finds its source."""
    config = parse_config(GOOD)
    assert config.environment == "production"
    assert [s.name for s in config.sources] == ["website", "pos"]
    found = config.source_for_key("wk-pos-4a8b6c1d2e3f")
    assert found is not None and found.name == "pos"
    assert config.source_for_key("nope") is None


def test_unknown_key_names_path_and_line() -> None:
    """A misspelt key is reported with its full path and its line."""
    message = _error(GOOD.replace("    write_key: wk-pos", "    writekey: wk-pos"))
    assert message.startswith("vigie.yaml: sources.1.writekey (line 7): unknown key")


def test_a_teams_address_is_refused_with_what_to_do_instead() -> None:
    """`schedule.teams[].email`, once accepted with no effect, is refused at its path and
    line with the reason: a team's notifications go to its members' own channels."""
    message = _error(GOOD + "schedule:\n  teams:\n    - name: shop\n      email: shop@x.be\n")
    assert message.startswith("vigie.yaml: schedule.teams.0.email (line 11): no longer a setting")
    assert "each person their `email`" in message


def test_wrong_type_names_path_and_line() -> None:
    """A value of the wrong type is reported at its key path and line."""
    message = _error(GOOD.replace("  - name: pos", "  - name: [pos]"))
    assert "sources.1.name (line 6)" in message
    assert "Expected `str`" in message


def test_missing_key_names_the_parent_line() -> None:
    """A missing required key names the key and the line of the item that lacks it."""
    message = _error("sources:\n  - name: website\n")
    assert "sources.0.write_key (line 2): required key is missing" in message


def test_invalid_yaml_names_the_line() -> None:
    """A YAML syntax error names the line it was found on."""
    message = _error("sources:\n  - name: a\n   write_key: [\n")
    assert "line 3" in message and "not valid YAML" in message


def test_placeholder_secrets_refused_in_production() -> None:
    """Placeholder write keys and secret keys are refused outside development, with the line."""
    message = _error(GOOD.replace("wk-pos-4a8b6c1d2e3f", "change-me-pos"))
    assert "sources.1.write_key (line 7)" in message and "placeholder" in message
    message = _error(GOOD.replace("3f9c1d0b8a7e6f5d4c3b2a19", "change-me"))
    assert "secret_key (line 2)" in message


def test_placeholder_secrets_allowed_in_development() -> None:
    """Development accepts placeholders, so the shipped example runs the demo."""
    example = Path(__file__).parents[1] / "vigie.example.yaml"
    config = load_config(example)
    assert config.environment == "development"
    assert config.sources


def test_duplicate_source_names_and_keys_are_refused() -> None:
    """Two sources may not share a name or a write key."""
    assert "defined twice" in _error(GOOD.replace("name: pos", "name: website"))
    shared = GOOD.replace("wk-pos-4a8b6c1d2e3f", "wk-website-7d1f0c2b9e")
    assert "sources.1.write_key (line 7)" in _error(shared)


def test_a_source_named_as_a_vigie_service_is_refused() -> None:
    """A source may not be named `privacy`: its write key could forge erasure notices."""
    message = _error(GOOD.replace("name: pos", "name: privacy"))
    assert "sources.1.name (line 6): 'privacy' is reserved" in message
    assert "erased" in message and "choose another name" in message


def test_default_source_from_environment_or_generated() -> None:
    """Without a file, source `default` uses VIGIE_WRITE_KEY, or a generated key it reports."""
    config, generated = default_config(environ={"VIGIE_WRITE_KEY": "from-env-key-1234"})
    assert [(s.name, s.write_key) for s in config.sources] == [("default", "from-env-key-1234")]
    assert generated is False
    first, generated = default_config(environ={})
    second, _ = default_config(environ={})
    assert generated is True
    assert len(first.sources[0].write_key) >= 24
    assert first.sources[0].write_key != second.sources[0].write_key


def test_settings_read_the_environment(tmp_path: Path) -> None:
    """build_settings takes the store, log and config file from VIGIE_* variables."""
    path = tmp_path / "vigie.yaml"
    path.write_text(GOOD, encoding="utf-8")
    settings = build_settings(
        environ={
            "VIGIE_DB": "postgresql://db/vigie",
            "VIGIE_LOG": "nats://127.0.0.1:4222",
            "VIGIE_CONFIG": str(path),
        }
    )
    assert settings.db_url == "postgresql://db/vigie"
    assert settings.log_url == "nats://127.0.0.1:4222"
    assert settings.config.sources[0].name == "website"
    assert settings.generated_write_key is False


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    """A missing configuration file is reported with its path."""
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_ingest_timestamp_bounds_are_read_and_checked() -> None:
    """ingest.timestamps sets the accepted event times; a bad duration names its line."""
    from vigie.ingest.ingestor import timestamp_bounds

    config = parse_config(
        GOOD + "ingest:\n  timestamps:\n    max_ahead: 2h\n    not_before: 2020-06-01\n"
    )
    bounds = timestamp_bounds(config)
    assert bounds.max_ahead == timedelta(hours=2)
    assert bounds.earliest == datetime(2020, 6, 1, tzinfo=UTC)
    message = _error(GOOD + "ingest:\n  timestamps:\n    max_ahead: soon\n")
    assert "ingest.timestamps.max_ahead" in message and "not a duration" in message


def test_http_settings_are_read_and_checked() -> None:
    """Issue 17: http sets the body limits and who reads /metrics; a bad network or a
    placeholder ops token names its line."""
    config = parse_config(GOOD + "http:\n  max_body_bytes: 2048\n  ops_allow: [10.0.0.0/8]\n")
    assert (config.http.max_body_bytes, config.http.ops_allow) == (2048, ["10.0.0.0/8"])
    message = _error(GOOD + "http:\n  ops_allow: [10.0.0.0/8, intranet]\n")
    assert "http.ops_allow.1 (line 9)" in message and "'intranet'" in message
    assert "http.ops_token (line 9)" in _error(GOOD + "http:\n  ops_token: change-me\n")
    assert "max_body_bytes" in _error(GOOD + "http:\n  max_body_bytes: 10\n")


INBOUND = """\
inbound:
  - name: payments
    kind: stripe
    secret: whsec_5b0d1f4e3c2a19887766
"""


def test_inbound_sources_are_read_and_checked() -> None:
    """An inbound source loads; a taken name, an unknown kind, a placeholder secret in
    production and a bad tolerance are refused with the key and line."""
    config = parse_config(GOOD + INBOUND)
    assert [(s.name, s.kind, s.tolerance) for s in config.inbound] == [("payments", "stripe", "5m")]
    assert "inbound.0.name (line 9)" in _error(GOOD + INBOUND.replace("payments", "pos"))
    unknown = _error(GOOD + INBOUND.replace("kind: stripe", "kind: paypal"))
    assert "inbound.0.kind (line 10)" in unknown and "stripe" in unknown
    placeholder = _error(GOOD + INBOUND.replace("whsec_5b0d1f4e3c2a19887766", "change-me"))
    assert "inbound.0.secret (line 11)" in placeholder
    slow = _error(GOOD + INBOUND + "    tolerance: soon\n")
    assert "inbound.0.tolerance (line 12)" in slow


def test_alertmanager_resend_is_checked() -> None:
    """A re-send interval that is not a duration names its key and line."""
    text = GOOD + "alerting:\n  alertmanagers: [http://am:9093]\n  alertmanager_resend: often\n"
    assert "alerting.alertmanager_resend (line 10)" in _error(text)


def test_a_clear_value_on_the_wrong_side_is_refused() -> None:
    """`clear_value` must lie on the normal side of a threshold rule's `value`: above it
    for `>`, and only on an ordered comparison; the error names the rule's key."""
    text = GOOD + (
        "metrics:\n  - {name: queue, kind: count, where: {event: Ticket Opened}, window: 1h}\n"
        "rules:\n  - {name: busy, metric: queue, op: '>', value: 100, clear_value: CLEAR}\n"
    )
    assert "clear_value" in _error(text.replace("CLEAR", "120"))
    assert "at most value" in _error(text.replace("CLEAR", "120"))
    assert "clear_value" in _error(text.replace("CLEAR", "90").replace("'>'", "'=='"))
    config = parse_config(text.replace("CLEAR", "90"))
    assert config.rules[0].clear_value == 90


def test_a_same_slot_rule_reads_at_least_one_day() -> None:
    """A change rule's `days` is a count of previous days: 0 or fewer is refused with its key
    (beside a deeper rule on the metric, `days: 0` read every day of their shared history)."""
    text = GOOD + (
        "metrics:\n  - {name: orders, kind: count, where: {event: Order}, window: 1h}\n"
        "rules:\n  - {name: dip, kind: change, metric: orders, compare: same_slot, drop: 0.5,"
        " days: DAYS}\n"
    )
    for days in ("0", "-3"):
        assert "rules.0.days" in _error(text.replace("DAYS", days))
    assert parse_config(text.replace("DAYS", "1")).rules[0].days == 1
