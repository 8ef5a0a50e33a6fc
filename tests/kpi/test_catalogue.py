"""The shipped KPI catalogue: valid, documented, and the same in the example config."""

from __future__ import annotations

from pathlib import Path

from vigie.catalogue import load_catalogue
from vigie.config import load_config
from vigie.web.i18n import catalog

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
        "deals_lost", "won_amount", "tickets", "first_response_p90", "ticket_sentiment",
        "tickets_solved", "delivery_delay",
        "delivery_anomalies", "returns", "payments", "late_payments", "disputes",
        "social_mentions", "social_sentiment",
    ):  # fmt: skip
        assert expected in names


def test_every_metric_has_a_translated_department() -> None:
    """Issue 14: each metric names its department, and the Overview names every department
    of the catalogue in French and English (`js.department.<key>`)."""
    for language in ("en", "fr"):
        messages = catalog(language)
        for metric in load_catalogue().metrics:
            assert metric.department, metric.name
            assert messages.get(f"js.department.{metric.department}"), (language, metric.name)
    departments = {m.department for m in load_catalogue().metrics}
    assert {"marketing", "sales", "support", "finance", "operations"} <= departments


def test_the_crm_milestones_are_counted() -> None:
    """The events the CRM's own writes log are ones the catalogue counts or the SLA rule
    reads, so work done in Vigie's CRM shows in the shipped KPIs."""
    catalogue = load_catalogue()
    counted = {
        name
        for metric in catalogue.metrics
        for where in (
            metric.where,
            *(t.where for t in (metric.numerator, metric.denominator) if t is not None),
        )
        for name in ([where["event"]] if isinstance(where.get("event"), str) else [])
    }
    sla = next(r for r in catalogue.rules if r.name == "support-first-response-sla")
    assert sla.key == "properties.ticket_id"
    assert {"Deal Won", "Deal Lost", "Meeting Booked", "Proposal Sent", "Ticket Created",
            "Ticket First Response", "Ticket Solved", "Payment Received"} <= counted  # fmt: skip
