"""The anomaly bench's shop kinds (issue 15)."""

from __future__ import annotations

import numpy as np

from vigie.bench.anomalies import DAY_US, START_US, generate, shop, shop_stream


def test_the_shop_kinds_draw_from_their_own_stream() -> None:
    """Generating shops leaves the shared stream, and so every earlier kind's series, as
    it was."""
    first = generate("spikes", np.random.default_rng(7), days=14)
    shops = shop_stream(7)
    for _ in range(3):
        shop(shops, days=14, incident=True)
    again = generate("spikes", np.random.default_rng(7), days=14)
    assert np.array_equal(first.values, again.values, equal_nan=True)


def test_a_shops_incident_is_labelled_after_its_first_week_and_a_free_shop_has_none() -> None:
    """Each labelled incident begins after the first week; an incident-free shop has no
    label and sells nothing on some nights (closed)."""
    shops = shop_stream(3)
    for _ in range(6):
        s = shop(shops, days=14, incident=True)
        assert len(s.windows) == 1
        assert s.windows[0][0] >= START_US + 8 * DAY_US
        free = shop(shops, days=14, incident=False)
        assert free.windows == []
        assert free.values.min() == 0 and np.isfinite(free.values).all()
