"""Batch columns: event times read as exact microseconds, whatever the date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.kpi.batches import EXACT_SECONDS, stamps_us
from vigie.types import EPOCH, MICROSECOND

ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))]


def exact(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(
            st.datetimes(timezones=st.sampled_from(ZONES)),
            st.integers(-(10**16), 10**16).map(lambda us: EPOCH + timedelta(microseconds=us)),
            st.integers(-(10**9), 10**9).map(
                lambda us: datetime(2026, 11, 27, tzinfo=UTC) + timedelta(microseconds=us)
            ),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_stamps_are_the_exact_microseconds(moments: list[datetime]) -> None:
    """Any aware time, before 1970, near now or in year 9999, gives its exact microsecond."""
    assert stamps_us(moments).tolist() == [exact(m) for m in moments]


def test_stamps_at_the_edges_of_the_float_range() -> None:
    """Times right around the point where floats of seconds stop naming one microsecond
    are still exact."""
    edge = int(EXACT_SECONDS) * 1_000_000
    moments = [
        EPOCH + timedelta(microseconds=us)
        for centre in (edge, -edge, 0, 1_764_201_600_000_000)
        for us in range(centre - 300, centre + 300)
    ]
    assert stamps_us(moments).tolist() == [exact(m) for m in moments]
