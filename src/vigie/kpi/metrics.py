"""Metric definitions (the `metrics:` section of `vigie.yaml`) and how they read an event.

A metric aggregates the events that match its `where` filter, grouped by properties
(`by`), over an event-time window. Fields are named by path: `event`, `source`,
`anonymous_id`, `properties.revenue`, `context.campaign.name`, or a short name such as
`campaign`, `page`, `agent`, `queue`, `zone` looked up where such a field usually lives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from vigie.events import NOTICE_TYPE, Event
from vigie.kpi.durations import parse_duration
from vigie.kpi.sentiment import SentimentScorer
from vigie.kpi.stats import Count, DistinctCount, Mean, Quantile, Ratio, Statistic, Sum

Kind = Literal["count", "sum", "average", "distinct", "ratio", "percentile"]
Accessor = Callable[[Event], Any]
NO_GROUP = "*"
MISSING = "(none)"  # the label of a group whose field is absent from the event
DEPARTMENT = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_NO_SENTIMENT = SentimentScorer()  # lexicons load lazily: checking a path loads nothing

_TOP_LEVEL = frozenset(
    {
        "message_id", "type", "source", "event", "name", "anonymous_id", "user_id",
        "group_id", "site", "zone", "aisle", "epc", "count",
    }
)  # fmt: skip
# Short names and where they are looked for, in order.
_ALIASES: dict[str, tuple[str, ...]] = {
    "campaign": ("properties.campaign", "context.campaign.name"),
    "utm_source": ("context.campaign.source", "properties.utm_source"),
    "medium": ("context.campaign.medium", "properties.medium"),
    "page": ("context.page.path", "properties.path"),
    "visitor": ("anonymous_id", "user_id"),
    "contact": ("user_id", "anonymous_id"),
    "zone": ("zone", "properties.zone"),
    "aisle": ("aisle", "properties.aisle"),
    "site": ("site", "properties.site"),
}


class Term(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One side of a ratio: the events counted (or whose `value` is summed)."""

    where: dict[str, Any] = {}
    """Filter on the events this side counts: each listed field equals its value (or one of a list's
    values); empty: every event."""
    value: str | None = None
    """A numeric field summed instead of counting events (e.g. `properties.cost`); none: each event
    counts 1."""


class Metric(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A live KPI: what to aggregate, over which events, grouped how, over which window."""

    name: str
    """The metric's unique name, used by rules (`metric:`), the dashboard and the API."""
    kind: Kind = "count"
    """How the events are aggregated: a count, a sum or average or percentile of `value`, a count of
    distinct `value`s, or a ratio of `numerator` to `denominator`."""
    where: dict[str, Any] = {}
    """Filter on the events counted, e.g. `{event: Order Completed}`: each listed field equals its
    value (or one of a list's values); empty: every event."""
    value: str | None = None
    """The field aggregated by `sum`, `average`, `percentile` and `distinct` (e.g.
    `properties.revenue`, `anonymous_id`)."""
    numerator: Term | None = None
    denominator: Term | None = None
    percentile: float = 90.0
    """For `kind: percentile`, which one, between 0 and 100 (90: the value 90 % of events stay
    below)."""
    by: list[str] = []
    """Fields whose values split the metric into groups (e.g. `[campaign]`), each with its own value
    and its own alerts; empty: one figure."""
    window: str = "15m"
    """A duration: the event-time span each value covers (e.g. `15m`, `1h`)."""
    slide: str | None = None
    """A duration: how often the window moves forward, dividing `window` evenly (e.g. `1m` for a 15m
    window); none: a tumbling window that moves by its whole length."""
    lateness: str = "1m"
    """A duration: how late (after newer events) an event may arrive and still count in its window;
    older ones are counted as late and left out. Raise it for sources that send in delayed
    batches."""
    unit: str | None = None
    """The unit shown beside the value on the dashboard (e.g. `EUR`, `s`); none: a plain number."""
    title: dict[str, str] = {}
    """The title the dashboard shows, by language (`{en: …, fr: …}`); empty: the metric's name."""
    description: str | None = None
    """Free text saying what the metric measures and why, for whoever reads the file."""
    department: str | None = None
    """Who reads it (`marketing`, `sales`, `support`, `finance`, `operations` …): its section
    on the Overview. A lower-case key; the dashboard translates the ones it knows."""

    def check(self) -> list[tuple[str, str]]:
        """Problems as (key, message) pairs; empty when the metric can be used."""
        problems: list[tuple[str, str]] = []
        for key in ("window", "lateness") + (("slide",) if self.slide else ()):
            try:
                parse_duration(getattr(self, key))
            except ValueError as exc:
                problems.append((key, str(exc)))
        if not problems:
            size = parse_duration(self.window)
            slide = parse_duration(self.slide) if self.slide else size
            if slide <= 0 or size % slide:
                problems.append(("slide", "the window must be a whole number of slides"))
        if self.kind == "ratio" and (self.numerator is None or self.denominator is None):
            problems.append(("numerator", "a ratio needs a numerator and a denominator"))
        if self.kind in ("sum", "average", "percentile") and not self.value:
            problems.append(("value", f"a {self.kind} needs the field to aggregate (value)"))
        if self.kind == "distinct" and not self.value:
            problems.append(("value", "a distinct count needs the field to count (value)"))
        if self.department is not None and not DEPARTMENT.fullmatch(self.department):
            problems.append(
                ("department", "a department is a lower-case key, e.g. marketing or support")
            )
        if not 0 <= self.percentile <= 100:
            problems.append(("percentile", "a percentile is between 0 and 100"))
        fields: list[tuple[str, str]] = [("by", path) for path in self.by]
        fields += [("where", path) for path in self.where if path != "event"]
        if self.value:
            fields.append(("value", self.value))
        for side in ("numerator", "denominator"):
            term: Term | None = getattr(self, side)
            if term is not None:
                fields += [(side, path) for path in term.where if path != "event"]
                if term.value:
                    fields.append((side, term.value))
        problems += field_problems(fields)
        return problems

    def statistic(self) -> Statistic:
        """A fresh statistic of this metric's kind."""
        match self.kind:
            case "count":
                return Count()
            case "sum":
                return Sum()
            case "average":
                return Mean()
            case "distinct":
                return DistinctCount()
            case "ratio":
                return Ratio()
            case "percentile":
                return Quantile(self.percentile / 100)


def field_problems(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(key, message) for each field path that cannot be read from an event."""
    problems: list[tuple[str, str]] = []
    for key, path in fields:
        try:
            accessor(path, sentiment=_NO_SENTIMENT)
        except ValueError as exc:
            problems.append((key, str(exc)))
    return problems


def accessor(path: str, *, sentiment: SentimentScorer | None = None) -> Accessor:
    """A function reading the field at `path` from an event (None when it is absent)."""
    path = path.strip()
    if path.startswith("sentiment(") and path.endswith(")"):
        text_of = accessor(path[len("sentiment(") : -1])
        scorer = sentiment or SentimentScorer()

        def read_sentiment(event: Event) -> Any:
            text = text_of(event)
            if not isinstance(text, str) or not text.strip():
                return None
            language = event.properties.get("language") or event.context.get("locale")
            return scorer.score(text, language if isinstance(language, str) else None)

        return read_sentiment
    if path in _ALIASES:
        readers = [_plain(p) for p in _ALIASES[path]]

        def read_first(event: Event) -> Any:
            for read in readers:
                found = read(event)
                if found is not None:
                    return found
            return None

        return read_first
    if "." not in path and path not in _TOP_LEVEL:
        return accessor_chain(
            (f"properties.{path}", f"traits.{path}", f"context.{path}"), sentiment=sentiment
        )
    return _plain(path)


def fields_read(path: str) -> tuple[str, ...]:
    """The event fields `accessor(path)` reads, in order (an alias or a bare name reads
    several, e.g. `plan`: properties.plan, then traits.plan, then context.plan)."""
    path = path.strip()
    if path.startswith("sentiment(") and path.endswith(")"):
        return fields_read(path[len("sentiment(") : -1])
    if path in _ALIASES:
        return _ALIASES[path]
    if "." not in path and path not in _TOP_LEVEL:
        return (f"properties.{path}", f"traits.{path}", f"context.{path}")
    return (path,)


def accessor_chain(paths: tuple[str, ...], *, sentiment: SentimentScorer | None = None) -> Accessor:
    """The first non-missing field among `paths`."""
    readers = [_plain(p) for p in paths]

    def read(event: Event) -> Any:
        for reader in readers:
            found = reader(event)
            if found is not None:
                return found
        return None

    return read


def _plain(path: str) -> Accessor:
    head, _, rest = path.partition(".")
    if not rest:
        if head not in _TOP_LEVEL and head not in ("properties", "context", "traits"):
            raise ValueError(f"unknown field {path!r}")
        return lambda event: getattr(event, head, None)
    if head not in ("properties", "context", "traits", "extra"):
        raise ValueError(
            f"unknown field {path!r}: nested fields live under properties., context. or traits."
        )
    keys = rest.split(".")
    if len(keys) == 1:
        key = keys[0]
        return lambda event: getattr(event, head).get(key)

    def read(event: Event) -> Any:
        node: Any = getattr(event, head)
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    return read


class Filter:
    """A compiled `where`: every listed field equals its value (or one of a list's values).

    Vigie's own notices (`NOTICE_TYPE`: an erasure, a change of the rings' links) match no
    filter, not even an empty one: a rule on "every event" is about what people and sensors
    do, and a notice is neither.
    """

    __slots__ = ("checks", "event_names")

    def __init__(self, where: dict[str, Any]) -> None:
        self.event_names: frozenset[str] | None = None
        self.checks: list[tuple[Accessor, Any]] = []
        for path, expected in where.items():
            allowed = expected if isinstance(expected, list) else [expected]
            if path == "event":
                self.event_names = frozenset(str(v) for v in allowed)
                continue
            self.checks.append((accessor(path), _normalise(allowed)))

    def __call__(self, event: Event) -> bool:
        if event.type == NOTICE_TYPE:
            return False
        if self.event_names is not None and (event.event or event.name) not in self.event_names:
            return False
        for read, allowed in self.checks:
            found = read(event)
            if found not in allowed and str(found) not in allowed:
                return False
        return True


def _normalise(values: list[Any]) -> frozenset[Any]:
    return frozenset(v if isinstance(v, str | int | float | bool) else str(v) for v in values)


def number(value: Any) -> float | None:
    """A property's value as a number, or None when it is not one.

    Text is read as a number only when it is finite: "nan" or "inf" sent as a property is
    not a measurement, and would poison a window's sums (and a percentile's ordering).
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


class CompiledMetric:
    """A metric ready to read events: its filter, grouping and value extraction."""

    def __init__(self, metric: Metric, *, sentiment: SentimentScorer | None = None) -> None:
        self.metric = metric
        self.name = metric.name
        self.size_us = parse_duration(metric.window)
        self.slide_us = parse_duration(metric.slide) if metric.slide else self.size_us
        self.lateness_us = parse_duration(metric.lateness)
        self.group_readers = [accessor(p, sentiment=sentiment) for p in metric.by]
        self.by = list(metric.by)
        self.by_key = tuple(metric.by)
        if metric.kind == "ratio":
            assert metric.numerator is not None and metric.denominator is not None
            self.num_filter = Filter(metric.numerator.where | metric.where)
            self.den_filter = Filter(metric.denominator.where | metric.where)
            self.num_value = _value_reader(metric.numerator.value, sentiment)
            self.den_value = _value_reader(metric.denominator.value, sentiment)
            names = (self.num_filter.event_names, self.den_filter.event_names)
            self.event_names = None if None in names else names[0] | names[1]  # type: ignore[operator]
        else:
            self.filter = Filter(metric.where)
            self.event_names = self.filter.event_names
            self.read = accessor(metric.value, sentiment=sentiment) if metric.value else None
        self.kind = metric.kind
        self.extract = self._extractor()

    def _extractor(self) -> Accessor:
        """`contribution` specialised for this metric, for events already known to carry one
        of its event names (the engine dispatches on the name)."""
        if self.kind == "ratio":
            return self.contribution
        checks = self.filter.checks
        if self.kind == "count" and not checks:
            return lambda event: 1
        return lambda event: self._checked_value(event, checks)

    def by_name(self) -> dict[str, Any] | None:
        """The contribution of an event of each of this metric's names, when it depends on
        the name alone (a count, or a ratio of counts, with no other filter); else None.

        The engine then reads nothing from the event but its name.
        """
        if self.event_names is None:
            return None
        if self.kind == "count":
            return {name: 1 for name in self.event_names} if not self.filter.checks else None
        if self.kind != "ratio":
            return None
        num, den = self.num_filter, self.den_filter
        if num.checks or den.checks or self.metric.numerator.value or self.metric.denominator.value:  # type: ignore[union-attr]
            return None
        out: dict[str, Any] = {}
        for name in self.event_names:
            a = 1.0 if name in num.event_names else None  # type: ignore[operator]
            b = 1.0 if name in den.event_names else None  # type: ignore[operator]
            if a is not None or b is not None:
                out[name] = (a or 0.0, b or 0.0)
        return out

    def group_property(self) -> str | None:
        """When the metric is grouped by one field looked for first in `properties.<key>`,
        that key: the engine reads it straight from the event and falls back to `group_key`
        only when it is absent. None otherwise."""
        if len(self.by) != 1:
            return None
        path = self.by[0].strip()
        first = _ALIASES[path][0] if path in _ALIASES else path
        if "." not in path and path not in _ALIASES and path not in _TOP_LEVEL:
            first = f"properties.{path}"
        head, _, key = first.partition(".")
        if head != "properties" or not key or "." in key:
            return None
        return key

    def property_value(self) -> str | None:
        """For a sum, average or percentile of `properties.<key>` with no other filter, that
        key: the engine reads it straight from the event (numbers as they are, other values
        through `number`). None for every other metric."""
        if self.kind not in ("sum", "average", "percentile") or self.filter.checks:
            return None
        head, _, key = (self.metric.value or "").strip().partition(".")
        if head != "properties" or not key or "." in key:
            return None
        return key

    def attribute_value(self) -> str | None:
        """For a distinct count of a top-level field (`anonymous_id`, `user_id`, ...) with
        no other filter, that field: the engine reads it straight from the event. None for
        every other metric."""
        path = (self.metric.value or "").strip()
        if self.kind != "distinct" or self.filter.checks or path not in _TOP_LEVEL:
            return None
        return path

    def _checked_value(self, event: Event, checks: list[tuple[Accessor, Any]]) -> Any:
        for read, allowed in checks:
            found = read(event)
            if found not in allowed and str(found) not in allowed:
                return None
        return self._value(event)

    def _value(self, event: Event) -> Any:
        kind = self.kind
        if kind == "count":
            return 1
        assert self.read is not None
        raw = self.read(event)
        if raw is None:
            return None
        if kind == "distinct":
            return raw if isinstance(raw, str | int | float | bool) else str(raw)
        return number(raw)

    def contribution(self, event: Event) -> Any:
        """What `event` adds to the statistic, or None when it does not count."""
        kind = self.kind
        if kind == "ratio":
            a = self.num_value(event) if self.num_filter(event) else None
            b = self.den_value(event) if self.den_filter(event) else None
            if a is None and b is None:
                return None
            return (a or 0.0, b or 0.0)
        if not self.filter(event):
            return None
        return self._value(event)

    def group(self, event: Event) -> tuple[str, dict[str, str]]:
        """The group key of `event` and its labels (`*` when the metric is not grouped)."""
        if not self.group_readers:
            return NO_GROUP, {}
        labels: dict[str, str] = {}
        for name, read in zip(self.by, self.group_readers, strict=True):
            value = read(event)
            labels[name] = MISSING if value is None else str(value)
        return "|".join(labels.values()), labels

    def group_key(self, event: Event) -> str:
        """The group key alone (the hot path: no labels dict is built)."""
        readers = self.group_readers
        if not readers:
            return NO_GROUP
        if len(readers) == 1:
            value = readers[0](event)
            return MISSING if value is None else str(value)
        return "|".join(MISSING if (v := read(event)) is None else str(v) for read in readers)


def _value_reader(path: str | None, sentiment: SentimentScorer | None) -> Accessor:
    if path is None:
        return lambda event: 1.0
    read = accessor(path, sentiment=sentiment)
    return lambda event: number(read(event))
