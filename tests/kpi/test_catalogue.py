"""The shipped KPI catalogue: valid, documented, and the same in the example config."""

from __future__ import annotations

from pathlib import Path

from vigie.catalogue import load_catalogue
from vigie.config import load_config

EXAMPLE = Path(__file__).parents[2] / "vigie.example.yaml"


def test_example_config_carries_the_catalogue() -> None:
    """vigie.example.yaml defines exactly the catalogue's metrics and rules."""
    example = load_config(EXAMPLE)
    catalogue = load_catalogue()
    assert example.metrics == catalogue.metrics
    assert example.rules == catalogue.rules


def test_every_metric_has_a_french_and_english_title() -> None:
    """Each metric is titled in both languages of the users."""
    for metric in load_catalogue().metrics:
        assert set(metric.title) == {"en", "fr"}, metric.name


def test_catalogue_covers_every_department() -> None:
    """Marketing, ads, phone, forms, sales, support, deliveries, finance and social are there."""
    names = {m.name for m in load_catalogue().metrics}
    for expected in (
        "newsletter_signups", "visitors_now", "ad_ctr", "ad_cost_per_click",
        "checkout_conversion", "conversion_by_segment", "calls", "call_handling_time",
        "form_submissions", "qualified_leads", "meetings_set", "proposals_sent", "deals_closed",
        "tickets", "first_response_p90", "ticket_sentiment", "delivery_delay",
        "delivery_anomalies", "returns", "payments", "late_payments", "disputes",
        "social_mentions", "social_sentiment",
    ):  # fmt: skip
        assert expected in names
