"""Metric definitions: fields by path and short name, filters, groups and sentiment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigie.config import ConfigError, parse_config
from vigie.events import Event, notice_event
from vigie.kpi.metrics import CompiledMetric, Filter, Metric, Term, accessor
from vigie.kpi.sentiment import SentimentScorer

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _event(**fields: object) -> Event:
    base: dict[str, object] = {
        "message_id": "m1",
        "type": "track",
        "source": "web",
        "timestamp": T0,
        "received_at": T0,
    }
    return Event(**(base | fields))  # type: ignore[arg-type]


def test_short_names_look_where_the_field_usually_lives() -> None:
    """`campaign` reads properties.campaign, else the UTM campaign of the context."""
    read = accessor("campaign")
    assert read(_event(properties={"campaign": "p"})) == "p"
    assert read(_event(context={"campaign": {"name": "utm"}})) == "utm"
    assert accessor("queue")(_event(properties={"queue": "orders"})) == "orders"
    assert accessor("context.page.path")(_event(context={"page": {"path": "/x"}})) == "/x"
    assert accessor("visitor")(_event(anonymous_id="v1")) == "v1"


def test_unknown_top_level_field_is_refused() -> None:
    """A nested path outside properties, context or traits is an error that says where to look."""
    with pytest.raises(ValueError, match="properties"):
        accessor("payload.x")


def test_filter_matches_values_and_lists() -> None:
    """Every listed field must equal its value or one of a list's values."""
    match = Filter({"event": ["Call Ended"], "properties.status": ["missed", "busy"]})
    assert match(_event(event="Call Ended", properties={"status": "busy"}))
    assert not match(_event(event="Call Ended", properties={"status": "answered"}))
    assert not match(_event(event="Call Started", properties={"status": "busy"}))


def test_ratio_contributions_count_each_side() -> None:
    """A cost per click adds the cost to the numerator and one click to the denominator."""
    metric = CompiledMetric(
        Metric(
            name="cpc",
            kind="ratio",
            numerator=Term(where={"event": "Ad Clicked"}, value="properties.cost"),
            denominator=Term(where={"event": "Ad Clicked"}),
        )
    )
    assert metric.contribution(_event(event="Ad Clicked", properties={"cost": "0.4"})) == (0.4, 1.0)
    assert metric.contribution(_event(event="Page")) is None


def test_group_key_and_labels() -> None:
    """Groups join the values of `by`; a missing value is labelled "(none)"."""
    metric = CompiledMetric(Metric(name="m", by=["campaign", "slot"]))
    key, labels = metric.group(_event(properties={"campaign": "c1"}))
    assert (key, labels) == ("c1|(none)", {"campaign": "c1", "slot": "(none)"})
    assert metric.group_key(_event(properties={"campaign": "c1"})) == key


def test_sentiment_in_french_and_english() -> None:
    """Packaged lexicons score French and English complaints negative and praise positive."""
    scorer = SentimentScorer()
    assert scorer.score("Service horrible, je suis très déçu") < -0.2
    assert scorer.score("Super, merci pour la livraison rapide !") > 0.2
    assert scorer.score("This is terrible, I want a refund") < -0.2
    assert scorer.score("Great lunch deal, love it") > 0.2
    assert scorer.guess_language("Le paiement ne passe pas") == "fr"


def test_config_errors_name_the_key_and_line() -> None:
    """A bad window or an unknown metric in a rule names the key path and its line."""
    with pytest.raises(ConfigError, match=r"metrics\.0\.window \(line 4\).*15 minutes"):
        parse_config("metrics:\n  - name: m\n    kind: count\n    window: 15 minutes\n")
    text = "metrics:\n  - name: m\nrules:\n  - name: r\n    metric: nope\n    value: 1\n"
    with pytest.raises(ConfigError, match=r"rules\.0\.metric \(line 5\): unknown metric 'nope'"):
        parse_config(text)
    with pytest.raises(ConfigError, match=r"metrics\.0\.by \(line 3\): unknown field 'payload.x'"):
        parse_config("metrics:\n  - name: m\n    by: [payload.x]\n")
    with pytest.raises(ConfigError, match=r"rules\.0\.kind"):
        parse_config("rules:\n  - name: r\n    kind: sometimes\n")


def test_no_filter_matches_vigies_notices() -> None:
    """An empty `where` (a rule on every event) matches a customer's event but none of
    Vigie's notices, even one carrying the name and fields the filter asks for."""
    notice = notice_event(source="privacy", name="Subject Erased", at=T0)
    assert Filter({})(_event())
    assert not Filter({})(notice)
    assert not Filter({"event": "Subject Erased", "source": "privacy"})(notice)
