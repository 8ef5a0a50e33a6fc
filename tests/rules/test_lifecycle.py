"""The alert lifecycle: pending, firing, resolved, deduplicated, with `for` and a cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.rules.conditions import Finding, Outcome
from vigie.rules.definitions import Rule
from vigie.rules.lifecycle import AlertBook, resolve_after_us

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _holds(*groups: str) -> Outcome:
    return Outcome(
        evaluated={"a", "b"},
        findings={g: Finding(g, {"campaign": g}, {"value": 1.0}) for g in groups},
    )


def test_for_keeps_an_alert_pending_until_it_has_held_long_enough() -> None:
    """With `for: 2m` the alert is pending at first and fires two minutes later."""
    rule = Rule(name="r", metric="m", value=0, for_="2m")
    book = AlertBook()
    first = book.apply(rule, _holds("a"), T0)
    assert [a.status for a in first] == ["pending"]
    assert book.apply(rule, _holds("a"), T0 + timedelta(minutes=1)) == []
    fired = book.apply(rule, _holds("a"), T0 + timedelta(minutes=2))
    assert [(a.status, a.fired_at) for a in fired] == [("firing", T0 + timedelta(minutes=2))]


def test_pending_that_clears_resolves_without_firing() -> None:
    """A pending alert whose condition clears is resolved and never marked as fired."""
    rule = Rule(name="r", metric="m", value=0, for_="5m")
    book = AlertBook()
    book.apply(rule, _holds("a"), T0)
    gone = book.apply(rule, _holds(), T0 + timedelta(minutes=1))
    assert [(a.status, a.fired_at) for a in gone] == [("resolved", None)]


def test_same_condition_is_deduplicated_by_fingerprint() -> None:
    """While firing, the same group updates its alert instead of raising another."""
    rule = Rule(name="r", metric="m", value=0)
    book = AlertBook()
    fired = book.apply(rule, _holds("a", "b"), T0)
    assert sorted(a.labels["campaign"] for a in fired) == ["a", "b"]
    assert book.apply(rule, _holds("a", "b"), T0 + timedelta(seconds=1)) == []
    assert len(book.active) == 2
    assert len({a.fingerprint for a in fired}) == 2


def test_holding_again_within_the_cooldown_reopens_the_same_incident() -> None:
    """Issue 15: a condition holding again within the cooldown reopens the alert it resolved
    (same id, firing again); after the cooldown it is a new alert."""
    rule = Rule(name="r", metric="m", value=0, cooldown="10m")
    book = AlertBook()
    book.apply(rule, _holds("a"), T0)
    resolved = book.apply(rule, _holds(), T0 + timedelta(minutes=1))
    assert [(a.status, a.ends_at) for a in resolved] == [("resolved", T0 + timedelta(minutes=1))]
    reopened = book.apply(rule, _holds("a"), T0 + timedelta(minutes=5))
    assert [(a.status, a.id, a.ends_at) for a in reopened] == [("firing", resolved[0].id, None)]
    book.apply(rule, _holds(), T0 + timedelta(minutes=6))
    again = book.apply(rule, _holds("a"), T0 + timedelta(minutes=17))
    assert [a.status for a in again] == ["firing"]
    assert again[0].id != resolved[0].id


def test_a_firing_alert_resolves_only_after_resolve_after() -> None:
    """Issue 15: an incident stays one firing alert while its condition comes and goes
    within `resolve_after`, and resolves once it has not held for that long."""
    rule = Rule(name="r", metric="m", value=0)
    book = AlertBook()
    wait = 10 * 60_000_000
    fired = book.apply(rule, _holds("a"), T0, resolve_after_us=wait)
    assert book.apply(rule, _holds(), T0 + timedelta(minutes=1), resolve_after_us=wait) == []
    assert book.apply(rule, _holds("a"), T0 + timedelta(minutes=5), resolve_after_us=wait) == []
    assert book.apply(rule, _holds(), T0 + timedelta(minutes=6), resolve_after_us=wait) == []
    assert book.resolving("r") == {"a"}
    done = book.apply(rule, _holds(), T0 + timedelta(minutes=16), resolve_after_us=wait)
    assert [(a.status, a.id) for a in done] == [("resolved", fired[0].id)]


def test_threshold_and_change_rules_wait_three_windows_by_default() -> None:
    """Issue 15: threshold, change and anomaly alerts wait three of the metric's windows
    before resolving unless `resolve_after` says otherwise (`0s`: at once); the kinds
    without a window resolve at once."""
    minute = 60_000_000
    window = 5 * minute
    for kind in ("threshold", "change", "anomaly"):
        assert resolve_after_us(Rule(name="r", kind=kind, metric="m"), window) == 3 * window  # type: ignore[arg-type]
    assert resolve_after_us(Rule(name="r", metric="m", resolve_after="0s"), window) == 0
    assert resolve_after_us(Rule(name="r", metric="m", resolve_after="2m"), window) == 2 * minute
    assert resolve_after_us(Rule(name="r", kind="sla", within="5m"), None) == 0
    assert resolve_after_us(Rule(name="r", kind="absence", silence="5m"), None) == 0


def test_an_incident_counts_the_re_fires_it_joined() -> None:
    """Issue 15: holding again while waiting out `resolve_after` is a re-fire joined to the
    incident (`values.refires`, no status change); while it waits, `clear_since` says since
    when it has not held, and the resolution carries the count but not `clear_since`."""
    rule = Rule(name="r", metric="m", value=0)
    book = AlertBook()
    wait = 10 * 60_000_000
    fired = book.apply(rule, _holds("a"), T0, resolve_after_us=wait)
    assert "refires" not in fired[0].values
    for minute in (1, 3, 5):
        cleared = T0 + timedelta(minutes=minute)
        assert book.apply(rule, _holds(), cleared, resolve_after_us=wait) == []
        (waiting,) = book.active.values()
        assert waiting.values["clear_since"] == cleared.isoformat()
        again = cleared + timedelta(minutes=1)
        assert book.apply(rule, _holds("a"), again, resolve_after_us=wait) == []
        assert "clear_since" not in waiting.values
    (alert,) = book.active.values()
    assert alert.values["refires"] == 3
    book.apply(rule, _holds(), T0 + timedelta(minutes=7), resolve_after_us=wait)
    (done,) = book.apply(rule, _holds(), T0 + timedelta(minutes=17), resolve_after_us=wait)
    assert (done.status, done.id, done.fired_at) == ("resolved", fired[0].id, T0)
    assert done.values["refires"] == 3
    assert "clear_since" not in done.values


def test_a_reopened_incident_counts_the_re_fire() -> None:
    """Issue 15: a re-fire within the cooldown reopens the alert and says so in its
    evidence from the reopening change on, keeping when the incident first fired."""
    rule = Rule(name="r", metric="m", value=0, cooldown="10m")
    book = AlertBook()
    book.apply(rule, _holds("a"), T0)
    book.apply(rule, _holds(), T0 + timedelta(minutes=1))
    (reopened,) = book.apply(rule, _holds("a"), T0 + timedelta(minutes=5))
    assert (reopened.status, reopened.fired_at, reopened.values["refires"]) == ("firing", T0, 1)


def test_groups_not_evaluated_keep_their_alerts() -> None:
    """An evaluation that did not look at a group leaves that group's alert alone."""
    rule = Rule(name="r", metric="m", value=0)
    book = AlertBook()
    book.apply(rule, _holds("a"), T0)
    assert book.apply(rule, Outcome(evaluated={"b"}), T0 + timedelta(minutes=1)) == []
    assert len(book.active) == 1


def test_summary_is_written_in_both_languages() -> None:
    """The summary templates take the evidence and the group's labels."""
    rule = Rule(
        name="r",
        metric="m",
        value=0,
        summary={
            "en": "{campaign}: {value:.0f} orders",
            "fr": "{campaign} : {value:.0f} commandes",
        },
    )
    (alert,) = AlertBook().apply(rule, _holds("a"), T0)
    assert alert.annotations["summary_en"] == "a: 1 orders"
    assert alert.annotations["summary_fr"] == "a : 1 commandes"


def test_an_anomaly_without_a_summary_says_what_is_abnormal() -> None:
    """Issue 15: the demo's orders-anomaly (no summary template) showed an empty line; an
    anomaly alert says the observed value against the expected one and its band, and since
    when, in English and French."""
    rule = Rule(name="orders-anomaly", kind="anomaly", metric="orders")
    evidence = {
        "metric": "orders",
        "value": 2.0,
        "expected": 14.2,
        "band": [9.0, 19.5],
        "abnormal_since": "2026-11-27T11:55:00+00:00",
    }
    outcome = Outcome(evaluated={"a"}, findings={"a": Finding("a", {}, evidence)})
    (alert,) = AlertBook().apply(rule, outcome, T0)
    assert alert.annotations["summary_en"] == (
        "orders at 2, expected 14.2 (normal 9 to 19.5), abnormal since 2026-11-27 11:55 UTC"
    )
    assert alert.annotations["summary_fr"].startswith("orders à 2, attendu 14.2 (normal de 9")
    assert alert.annotations["summary"] == alert.annotations["summary_en"]


def test_a_threshold_without_a_summary_names_its_threshold() -> None:
    """A threshold alert without a template says its value and the bound it crossed."""
    rule = Rule(name="r", metric="m", op=">", value=0)
    evidence = {"value": 3.0, "threshold": 0.0, "op": ">"}
    outcome = Outcome(evaluated={"a"}, findings={"a": Finding("a", {"campaign": "a"}, evidence)})
    (alert,) = AlertBook().apply(rule, outcome, T0)
    assert alert.annotations["summary_en"] == "m (campaign=a) at 3 (> 0)"
    assert alert.annotations["summary_fr"] == "m (campaign=a) à 3 (> 0)"
