"""Ad platforms' CSV exports: Google Ads and Meta Ads Manager, per campaign and hour."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.sources.helpers import fixture
from vigie.sources.ads import read_report

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_a_google_ads_export_is_read_past_its_title_and_totals() -> None:
    """The title and date lines and the Total rows are skipped; thousands separators and
    the account's time zone are understood."""
    report = read_report(
        fixture("google_ads_hourly.csv").decode(),
        platform="google",
        received_at=NOW,
        timezone="Europe/Brussels",
    )
    assert report.ok
    rows = [
        (e.properties["campaign"], e.timestamp, e.properties["impressions"], e.properties["cost"])
        for e in report.events
    ]
    assert rows == [
        ("Lunch deal", datetime(2026, 11, 27, 10, tzinfo=UTC), 1204, 18.52),
        ("Lunch deal", datetime(2026, 11, 27, 11, tzinfo=UTC), 2310, 40.11),
        ("Brand - search", datetime(2026, 11, 27, 11, tzinfo=UTC), 455, 12.30),
    ]
    assert {e.event for e in report.events} == {"Ad Spend"}
    assert {e.source for e in report.events} == {"google-ads"}
    assert report.events[0].properties["currency"] == "EUR"


def test_a_meta_export_takes_the_day_and_the_currency_of_its_header() -> None:
    """Meta's `Day` wins over `Reporting starts`; the currency comes from `Amount spent (EUR)`;
    the hour from `11:00:00 - 11:59:59`."""
    report = read_report(fixture("meta_ads_hourly.csv").decode(), platform="meta", received_at=NOW)
    assert report.ok
    first = report.events[0]
    assert first.timestamp == datetime(2026, 11, 27, 11, tzinfo=UTC)
    assert (first.properties["clicks"], first.properties["cost"]) == (44, 25.17)
    assert first.properties["currency"] == "EUR"
    assert first.source == "meta-ads"


def test_the_same_hour_has_the_same_message_id() -> None:
    """A report imported twice is stored once: the id is the platform, campaign and hour."""
    text = fixture("meta_ads_hourly.csv").decode()
    once = read_report(text, platform="meta", received_at=NOW)
    twice = read_report(text, platform="meta", received_at=NOW.replace(hour=9))
    assert [e.message_id for e in once.events] == [e.message_id for e in twice.events]
    assert len({e.message_id for e in once.events}) == 3


def test_bad_rows_are_named_and_nothing_is_kept() -> None:
    """A bad hour, count or cell names its line and reason, and the report has no events."""
    text = fixture("google_ads_hourly.csv").decode()
    text = text.replace("Lunch deal,2026-11-27,12", "Lunch deal,2026-11-27,25")
    text = text.replace("Brand - search,2026-11-27", "\x00,2026-13-01")
    report = read_report(text, platform="google", received_at=NOW)
    assert not report.ok and report.events == []
    assert [(e.line, e.reason.split(" ")[0]) for e in report.errors] == [
        (5, "hour"),
        (6, "'campaign'"),
    ]


def test_a_file_that_is_not_the_platforms_export_is_refused() -> None:
    """Without the platform's header row, the error says which columns are looked for."""
    report = read_report("a,b\n1,2\n", platform="google", received_at=NOW)
    assert not report.ok
    assert "campaign" in report.errors[0].reason.lower()
    empty = read_report(
        fixture("meta_ads_hourly.csv").decode().splitlines()[0], platform="meta", received_at=NOW
    )
    assert empty.errors[0].reason == "no rows below the header"
