"""The groups a batch touched: a read-only mapping whose sets are built when read."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from vigie.kpi.changed_groups import ChangedGroups

NAMES = ["c0", "c1", "c2", "c3"]
PLAIN = {"visits": {"c1", "c3"}, "one": {"c2"}, "given": {"x"}}


def _touched() -> ChangedGroups:
    touched = ChangedGroups()
    touched.later("visits", NAMES, np.array([3, 1, 3, 1], np.int64))
    touched.later("one", NAMES, np.array([2], np.int64))
    touched.add("given", {"x"})
    return touched


def test_reads_like_the_mapping_of_its_sets() -> None:
    """Every way of reading gives the sets of the groups named by the key numbers."""
    touched = _touched()
    assert len(touched) == 3 and sorted(touched) == sorted(PLAIN)
    assert "visits" in touched and "other" not in touched
    assert touched["visits"] == {"c1", "c3"} and touched.get("one") == {"c2"}
    assert touched.get("other") is None and touched.get("other", set()) == set()
    assert _touched() == PLAIN and dict(_touched()) == PLAIN
    assert dict(_touched().items()) == PLAIN and {**_touched()} == PLAIN
    assert sorted(map(sorted, _touched().values())) == sorted(map(sorted, PLAIN.values()))
    assert "c3" in repr(_touched()) and "set()" not in repr(_touched())
    with pytest.raises(KeyError):
        _touched()["other"]


def test_a_later_touch_replaces_the_earlier_one() -> None:
    """Touching a metric again replaces its groups, built or not."""
    touched = _touched()
    touched.add("visits", {"new"})
    assert touched["visits"] == {"new"} and len(touched) == 3
    touched.later("given", NAMES, np.array([0], np.int64))
    assert touched["given"] == {"c0"} and len(touched) == 3


def test_is_not_read_behind_its_back() -> None:
    """Not a dict: a reader in C cannot see the sets unbuilt; it converts it like any mapping
    or refuses it."""
    assert not isinstance(_touched(), dict)
    assert msgspec.convert(dict(_touched()), dict[str, set[str]]) == PLAIN
    with pytest.raises(TypeError):
        msgspec.json.encode(_touched())
