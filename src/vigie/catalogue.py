"""The KPI catalogue that ships with Vigie: metrics and rules for every department."""

from __future__ import annotations

from importlib.resources import files

from vigie.config import Config, parse_config

CATALOGUE = files("vigie.kpi") / "catalogue.yaml"


def load_catalogue() -> Config:
    """The catalogue's metrics and rules, validated like any `vigie.yaml`."""
    return parse_config(
        CATALOGUE.read_text(encoding="utf-8"), origin="vigie/kpi/catalogue.yaml", complete=False
    )


def with_catalogue(config: Config) -> Config:
    """`config`, given the catalogue's metrics and rules when it defines none of its own."""
    if config.metrics or config.rules:
        return config
    catalogue = load_catalogue()
    config.metrics = catalogue.metrics
    config.rules = catalogue.rules
    return config
