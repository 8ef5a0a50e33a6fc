"""The groups a batch touched: a dict whose sets are built when read."""

from __future__ import annotations

import copy
import pickle

import numpy as np

from vigie.kpi.touched import Touched

NAMES = ["c0", "c1", "c2", "c3"]
PLAIN = {"visits": {"c1", "c3"}, "one": {"c2"}, "given": {"x"}}


def _touched() -> Touched:
    touched = Touched()
    touched.later("visits", NAMES, np.array([3, 1, 3, 1], np.int64))
    touched.later("one", NAMES, np.array([2], np.int64))
    touched["given"] = {"x"}
    return touched


def test_reads_like_the_dict_of_its_sets() -> None:
    """Every way of reading gives the sets of the groups named by the key numbers."""
    touched = _touched()
    assert len(touched) == 3 and list(touched) == ["visits", "one", "given"]
    assert "visits" in touched and "other" not in touched
    assert touched["visits"] == {"c1", "c3"} and touched.get("one") == {"c2"}
    assert touched.get("other") is None and touched.get("other", set()) == set()
    assert _touched() == PLAIN and (_touched() != PLAIN) is False
    assert PLAIN == _touched()  # noqa: SIM300 (a plain dict on the left)
    assert dict(_touched()) == PLAIN and {**_touched()} == PLAIN
    assert dict(_touched().items()) == PLAIN and list(_touched().values()) == list(PLAIN.values())
    assert _touched().copy() == PLAIN and copy.copy(_touched()) == PLAIN
    assert pickle.loads(pickle.dumps(_touched())) == PLAIN
    assert "c3" in repr(_touched()) and "set()" not in repr(_touched())
    assert (_touched() | {"more": set()}) == {**PLAIN, "more": set()}
    plain: dict[str, set[str]] = {}
    plain.update(_touched())
    assert plain == PLAIN


def test_changes_like_a_dict() -> None:
    """Setting, deleting, popping and updating replace the sets to be built."""
    touched = _touched()
    touched["visits"] = {"new"}
    assert touched["visits"] == {"new"}
    touched = _touched()
    del touched["visits"]
    assert "visits" not in touched and touched == {"one": {"c2"}, "given": {"x"}}
    touched = _touched()
    assert touched.pop("one") == {"c2"} and "one" not in touched
    assert touched.setdefault("visits", set()) == {"c1", "c3"}
    touched.update({"visits": {"u"}})
    assert touched["visits"] == {"u"}
    touched = _touched()
    touched |= {"one": {"o"}}
    assert touched == {**PLAIN, "one": {"o"}}
    touched.clear()
    assert touched == {} and len(touched) == 0
