"""Rep affinity: Beta-smoothed win rates with credible intervals."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.ai.affinity import estimate, prior_strength


def deals(rows: list[tuple[str, str, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rep": [r[0] for r in rows],
            "nace": [r[1] for r in rows],
            "size_band": ["0-9"] * len(rows),
            "region": ["Hainaut"] * len(rows),
            "won": [r[2] for r in rows],
        }
    )


def base_history() -> list[tuple[str, str, bool]]:
    rng = np.random.default_rng(0)
    rows = []
    for rep in ["Ann", "Bob", "Cid", "Dee"]:
        for _ in range(120):
            rows.append((rep, "47.11", bool(rng.random() < 0.2)))
    return rows


def test_three_lucky_deals_do_not_make_an_expert() -> None:
    """3 wins out of 3 is pulled towards the sector's rate, with a wide interval."""
    rows = [*base_history(), ("Eve", "47.11", True), ("Eve", "47.11", True), ("Eve", "47.11", True)]
    fitted = estimate(deals(rows))
    eve = fitted.rep_sectors.filter(pl.col("rep") == "Eve").row(0, named=True)
    assert eve["rate"] < 0.5
    assert eve["high"] - eve["low"] > 0.1


def test_a_proven_specialist_stands_out() -> None:
    """A rep with many wins in a sector is rated clearly above the others there."""
    rng = np.random.default_rng(1)
    rows = base_history() + [("Eve", "47.11", bool(rng.random() < 0.6)) for _ in range(150)]
    fitted = estimate(deals(rows))
    rates = dict(fitted.rep_sectors.select("rep", "rate").iter_rows())
    assert rates["Eve"] > 0.45
    assert rates["Eve"] > max(v for k, v in rates.items() if k != "Eve") + 0.2


def test_unseen_segment_falls_back_to_sector() -> None:
    """A rep never seen in a lead's segment gets the sector's rate for it."""
    fitted = estimate(deals(base_history()))
    lead = pl.DataFrame({"nace": ["47.11"], "size_band": ["250+"], "region": ["Namur"]})
    rate, segment = fitted.rates(["Zoe"], lead)
    assert np.isclose(rate[0, 0], segment[0, 0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), st.sampled_from(["01.13", "47.11"]), st.booleans()
        ),
        min_size=1,
        max_size=60,
    )
)
def test_rates_lie_inside_their_interval(rows: list[tuple[str, str, bool]]) -> None:
    """Every smoothed rate is a probability inside its own credible interval."""
    table = estimate(deals(rows)).table()
    assert ((table["low"] <= table["rate"]) & (table["rate"] <= table["high"])).all()
    assert ((table["rate"] > 0) & (table["rate"] < 1)).all()


def test_prior_strength_grows_when_cells_agree() -> None:
    """Cells that differ only by noise get a strong prior; cells that really differ a weak one."""
    n = np.full(20, 50.0)
    same = prior_strength(np.full(20, 10.0), n, np.full(20, 0.2))
    spread = prior_strength(np.linspace(0, 50, 20), n, np.full(20, 0.5))
    assert same > spread
