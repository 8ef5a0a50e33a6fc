"""The ideal customer profile, in English and French."""

from __future__ import annotations

import numpy as np
import polars as pl

from vigie.ai import models
from vigie.ai.profiles import ideal_customer_profile

from .conftest import World


def test_profile_names_the_sector_that_sells() -> None:
    """When only food retail converts, the first trait says so, in both languages."""
    rng = np.random.default_rng(1)
    n = 4000
    nace = rng.choice(["47.11", "41.20", "70.22", "96.02"], n)
    email = rng.random(n)
    won = rng.random(n) < np.where(nace == "47.11", 0.45, 0.08)
    frame = pl.DataFrame(
        {"nace": nace, "noise": rng.normal(size=n), "won": won, "email_reply_rate": email + won}
    )
    model = models.train(frame, target="won", features=["nace", "noise"])
    profile = ideal_customer_profile(model, frame)
    first = profile.traits[0]
    assert first.feature == "nace" and first.values[0] == "47.11"
    assert profile.text("en").startswith("food retail")
    assert profile.text("fr").startswith("commerce de détail alimentaire")
    assert "answers e-mail" in profile.text("en")
    assert "répond aux e-mails" in profile.text("fr")


def test_profile_weights_are_shares(world: World) -> None:
    """Model traits carry weights between 0 and 1, sorted from the heaviest."""
    profile = ideal_customer_profile(world.model, world.history)
    weights = [t.weight for t in profile.traits]
    assert weights == sorted(weights, reverse=True)
    assert all(0 < w <= 1 for w in weights)
    assert set(profile.to_dict()) == {"en", "fr"}


def test_factor_text_is_readable() -> None:
    """Factors read as words: the sector's name, yes/no for flags, in either language."""
    from vigie.ai.labels import factor_text

    assert factor_text("nace", "47.11", "en") == "sector: food retail"
    assert factor_text("has_website", "1", "fr") == "site web: oui"
    assert factor_text("employees", "12", "en") == "employees: 12"


def test_context_columns_are_never_traits() -> None:
    """The economy at the time of the call helps the model but is not a customer trait
    (issue 22)."""
    from vigie.ai import regimes

    frame = regimes.history(8000, seed=2).drop("true_probability")
    model = models.train(
        frame, target="converted", time_column="called_at", context=list(regimes.CONTEXT)
    )
    assert "rate" in model.encoder.names
    profile = ideal_customer_profile(model, frame)
    assert profile.traits
    assert not {t.feature for t in profile.traits} & set(regimes.CONTEXT)
