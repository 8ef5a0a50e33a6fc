"""The `crm` section of vigie.yaml: SLA targets per priority; the `crm` source is reserved."""

from __future__ import annotations

import pytest

from vigie.config import ConfigError, parse_config


def test_sla_targets_override_the_defaults() -> None:
    """A configured priority uses its targets; the others keep the built-in ones."""
    config = parse_config(
        "crm:\n  sla:\n    urgent: {first_response_minutes: 5, resolution_minutes: 60}\n"
    )
    assert config.crm.sla_for("urgent").first_response_minutes == 5
    assert config.crm.sla_for("low").resolution_minutes == 7 * 24 * 60


def test_crm_section_errors_name_the_key_and_line() -> None:
    """A misspelt SLA key is refused with its path and line."""
    with pytest.raises(ConfigError, match=r"first_response_minute.*line 3"):
        parse_config("crm:\n  sla:\n    urgent: {first_response_minute: 5}\n")


def test_the_crm_source_name_is_reserved() -> None:
    """No write key may send events as source `crm`, whose events carry the acting user."""
    with pytest.raises(ConfigError, match="reserved"):
        parse_config("sources:\n  - name: crm\n    write_key: a-long-enough-key\n")
