"""Campaign time slots: live figures for the slot against the same slot on other days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from vigie.analytics.campaigns import Campaign, CampaignSlots, Schedule, resolve_campaign

LUNCH = Campaign(
    name="lunch-deal",
    channel="paid_social",
    utm_id="cmp-1",
    schedule=Schedule(
        start="12:00", end="13:00", timezone="Europe/Brussels", days=["mon", "tue", "wed"]
    ),
)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour - 2, minute, tzinfo=UTC)  # Brussels is UTC+2 in May


def test_traffic_is_recognised_by_utm_name_or_id() -> None:
    """A campaign is matched by its UTM id or name; other UTM names are kept raw."""
    assert resolve_campaign({"campaign": {"id": "cmp-1", "name": "x"}}, [LUNCH]) == "lunch-deal"
    assert resolve_campaign({"campaign": {"name": "lunch-deal"}}, [LUNCH]) == "lunch-deal"
    assert resolve_campaign({"campaign": {"name": "winter"}}, [LUNCH]) == "winter"
    assert resolve_campaign({}, [LUNCH]) is None


def test_the_slot_is_compared_with_the_same_slot_on_other_days() -> None:
    """Only hits inside 12:00-13:00 local count; the chosen day is set against the others."""
    slots = CampaignSlots([LUNCH])
    for day, visitors in ((4, 2), (5, 4)):  # Monday, Tuesday
        for n in range(visitors):
            slots.observe(f"d{day}-{n}", _at(day, 12, n), None, None)
        slots.observe(f"d{day}-0", _at(day, 12, 30), "Order Completed", None)
    slots.observe("late", _at(5, 13, 0), "Order Completed", "lunch-deal")  # after the slot
    for n in range(9):
        slots.observe(f"w{n}", _at(6, 12, n), None, "lunch-deal")
        slots.observe(f"w{n}", _at(6, 12, 40), "Newsletter Signed Up", "lunch-deal")
    slots.observe("w0", _at(6, 12, 50), "Order Completed", "lunch-deal")
    slots.observe("w1", _at(6, 12, 51), "Order Completed", "lunch-deal")
    report = slots.compare("lunch-deal", day=date(2026, 5, 6))
    assert report is not None and report.figures is not None
    assert (report.figures.visitors, report.figures.campaign_visitors) == (9, 9)
    assert (report.figures.signups, report.figures.conversions) == (9, 2)
    assert report.other_days_mean == {
        "visitors": 3.0,
        "campaign_visitors": 0.0,
        "signups": 0.0,
        "conversions": 1.0,
    }
    assert report.lift["visitors"] == 2.0 and report.lift["conversions"] == 1.0
    assert report.lift["campaign_visitors"] is None
    assert [d.day.day for d in report.days] == [4, 5, 6]
    assert slots.compare("lunch-deal") == report  # the latest day by default
    assert slots.compare("unknown") is None


def test_weekend_days_are_marked_unscheduled() -> None:
    """The same slot on a day the campaign does not run is kept, marked unscheduled."""
    slots = CampaignSlots([LUNCH])
    slots.observe("v", _at(9, 12, 5), None, None)  # a Saturday
    report = slots.compare("lunch-deal")
    assert report is not None and report.figures is not None
    assert report.figures.scheduled is False
