"""People counted in drawn street footage, against the number of figures drawn."""

from __future__ import annotations

import pytest

from tests.sensors.footage import street
from vigie.sensors.people import CountingSettings, FrameCount, count_frames, per_interval


@pytest.mark.parametrize("people", [0, 1, 4, 8])
def test_each_interval_counts_the_walkers_drawn(people: int) -> None:
    """Every 5-second count of 12 s of footage at 10 fps is the number of walkers, within one."""
    frames = street(people, 120, seed=people)
    counts = list(count_frames(lambda: frames, total=len(frames), fps=10))
    assert len(counts) == len(frames)
    intervals = per_interval(counts, seconds=5)
    assert [i.start_seconds for i in intervals] == [0, 5, 10]
    for interval in intervals:
        assert abs(interval.people - people) <= 1, intervals
    assert sorted(c.people for c in counts)[len(counts) // 2] == people


def test_a_blob_of_two_counts_two_when_a_person_area_is_given() -> None:
    """Two people side by side make one blob: one person per blob says 1, the area says 2
    (a drawn walker covers about 630 pixels, the pair about 1,300)."""
    frames = street(1, 60, seed=3, wide=1)
    one_per_blob = list(count_frames(lambda: frames, total=60, fps=10))
    assert sorted(c.people for c in one_per_blob)[30] == 2  # the walker and the pair
    by_area = list(
        count_frames(lambda: frames, total=60, fps=10, settings=CountingSettings(person_area=630))
    )
    assert sorted(c.people for c in by_area)[30] == 3


def test_an_interval_is_the_median_of_its_frames_and_says_how_many_agree() -> None:
    """A one-frame glitch does not move the count; the confidence is the share that agrees."""
    counts = [FrameCount(index=i, seconds=i / 2, people=p) for i, p in enumerate([3, 3, 9, 3])]
    [interval] = per_interval(counts, seconds=5)
    assert (interval.people, interval.confidence, interval.frames) == (3, 0.75, 4)


def test_no_frames_give_no_count_and_bad_rates_are_refused() -> None:
    """Empty footage counts nothing; a frame rate or an interval of 0 is an error."""
    assert list(count_frames(lambda: [], total=0, fps=10)) == []
    with pytest.raises(ValueError, match="frames per second"):
        list(count_frames(lambda: [], total=0, fps=0))
    with pytest.raises(ValueError, match="interval"):
        per_interval([], seconds=0)
