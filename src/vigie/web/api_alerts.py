"""REST and live stream of alerts and KPIs: `/api/alerts` (and what people do with one:
acknowledge, assign, annotate, judge), `/api/alerts/stream`, `/api/rules`, `/api/kpis`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from vigie.config import alerting_rules
from vigie.rules.alerts import Alert
from vigie.rules.triage import MAX_NAME, MAX_NOTE, AlertNotFound, Handling, RulePrecision
from vigie.web.deps import (
    NO_NUL,
    AlertFeedDep,
    AlertingDep,
    AlertStoreDep,
    ConfigDep,
    OutcomesDep,
    RequestActor,
    RuleVersionsDep,
    SilencesDep,
    TriageDep,
    require,
)
from vigie.web.problems import AUTH_ERRORS, INVALID, NOT_FOUND

router = APIRouter(
    prefix="/api",
    tags=["alerts"],
    dependencies=[Depends(require("alerts", "read"))],
    responses=AUTH_ERRORS,
)
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.5


AlertsWriter = Depends(require("alerts", "write"))
AlertId = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="the alert's id")]


def _json(data: Any) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json")


def _shown(
    alerts: Sequence[Alert], triage: TriageDep, silences: SilencesDep
) -> list[dict[str, Any]]:
    """Alerts with what people did about them (`handling`) and the silences muting them now."""
    handling = triage.handling([a.id for a in alerts])
    out = []
    for alert in alerts:
        shown = msgspec.to_builtins(alert)
        shown["handling"] = msgspec.to_builtins(handling.get(alert.id, Handling()))
        shown["silenced_by"] = silences.silencing(alert) if alert.active else []
        out.append(shown)
    return out


@router.get("/alerts", response_class=Response)
def list_alerts(
    alerts: AlertStoreDep,
    alerting: AlertingDep,
    triage: TriageDep,
    silences: SilencesDep,
    status: Annotated[
        Literal["pending", "firing", "resolved"] | None,
        Query(description="only alerts in this state / seulement les alertes dans cet état"),
    ] = None,
    rule: Annotated[str | None, Query(description="only this rule's alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Alerts newest first, with their evidence (KPI values, window, events and visitors),
    what people did about them (`handling`: acknowledged, assigned, notes, verdict) and the
    silences muting them (`silenced_by`)."""
    stored = alerts.list(status=status, rule=rule, limit=limit)
    # Active alerts are shown as the engine holds them: with their latest evidence.
    live = {a.id: a for a in alerting.active_alerts()}
    shown = [live.get(a.id, a) if a.active else a for a in stored]
    return _json({"alerts": _shown(shown, triage, silences)})


@router.get("/alerts/stream")
async def stream_alerts(feed: AlertFeedDep, request: Request) -> StreamingResponse:
    """Server-sent events: every alert change (`event: alert`), as it happens."""
    queue = feed.subscribe()

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": vigie alerts\n\n"
            quiet = 0.0
            while True:
                try:
                    alert = await asyncio.wait_for(queue.get(), timeout=POLL_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    quiet += POLL_SECONDS
                    if quiet >= HEARTBEAT_SECONDS:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
                    continue
                if alert is None:
                    return
                yield b"event: alert\ndata: " + msgspec.json.encode(alert) + b"\n\n"
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/kpis", response_class=Response)
def list_kpis(
    alerting: AlertingDep,
    metric: Annotated[str | None, Query(description="only this metric")] = None,
) -> Response:
    """Every metric's current window value per group, and beside it `late`: the metric's
    events that came beyond their group's horizon and are counted in no window. `late`
    also maps every metric to that count (metrics without a group yet included)."""
    rows = alerting.snapshot()
    late = alerting.late_events()
    if metric is not None:
        rows = [r for r in rows if r["metric"] == metric]
        late = {metric: late[metric]} if metric in late else {}
    return _json({"kpis": rows, "late": late})


def _one(
    alert_id: str, alerts: AlertStoreDep, triage: TriageDep, silences: SilencesDep
) -> Response:
    alert = alerts.get(alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id!r}; GET /api/alerts lists them")
    return _json(_shown([alert], triage, silences)[0])


@router.get("/alerts/{alert_id}", response_class=Response, responses=NOT_FOUND)
def get_alert(
    alert_id: AlertId, alerts: AlertStoreDep, triage: TriageDep, silences: SilencesDep
) -> Response:
    """One alert with its evidence, handling and silences."""
    return _one(alert_id, alerts, triage, silences)


@router.get(
    "/alerts/{alert_id}/outcomes",
    response_class=Response,
    responses=NOT_FOUND,
    dependencies=[Depends(require("playbooks", "read"))],
)
def get_alert_outcomes(alert_id: AlertId, alerts: AlertStoreDep, outcomes: OutcomesDep) -> Response:
    """What the alert caused: the playbook runs its firing and resolution started, each
    step's actions (with their state) and each step's effect measured against its control
    group, with a summary in French and English."""
    alert = alerts.get(alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id!r}; GET /api/alerts lists them")
    return _json(outcomes.for_alert(alert))


class Assignment(BaseModel):
    """Who takes the alert: a person or a team of `schedule:`."""

    assignee: str = Field(min_length=1, max_length=MAX_NAME, pattern=NO_NUL)


class NoteText(BaseModel):
    """A remark on the alert."""

    text: str = Field(min_length=1, max_length=MAX_NOTE, pattern=NO_NUL)


class Verdict(BaseModel):
    """Was the alert worth it? Kept for the review loop and the rule's precision."""

    verdict: Literal["useful", "false_alarm"]


_WRITES: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **INVALID}


@router.post(
    "/alerts/{alert_id}/ack",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_WRITES,
)
def acknowledge_alert(
    alert_id: AlertId,
    actor: RequestActor,
    alerts: AlertStoreDep,
    triage: TriageDep,
    silences: SilencesDep,
) -> Response:
    """Acknowledge the alert: you have seen it and are on it (who and when are kept)."""
    triage.acknowledge(alert_id, actor=actor)
    return _one(alert_id, alerts, triage, silences)


@router.post(
    "/alerts/{alert_id}/assign",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_WRITES,
)
def assign_alert(
    alert_id: AlertId,
    body: Assignment,
    actor: RequestActor,
    alerts: AlertStoreDep,
    triage: TriageDep,
    silences: SilencesDep,
) -> Response:
    """Assign the alert to a person or a team of the schedule."""
    triage.assign(alert_id, body.assignee, actor=actor)
    return _one(alert_id, alerts, triage, silences)


@router.post(
    "/alerts/{alert_id}/notes",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_WRITES,
)
def add_alert_note(
    alert_id: AlertId,
    body: NoteText,
    actor: RequestActor,
    alerts: AlertStoreDep,
    triage: TriageDep,
    silences: SilencesDep,
) -> Response:
    """Add a note to the alert."""
    triage.note(alert_id, body.text, actor=actor)
    return _one(alert_id, alerts, triage, silences)


@router.post(
    "/alerts/{alert_id}/feedback",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_WRITES,
)
def judge_alert(
    alert_id: AlertId,
    body: Verdict,
    actor: RequestActor,
    alerts: AlertStoreDep,
    triage: TriageDep,
    silences: SilencesDep,
) -> Response:
    """Mark the alert useful or a false alarm; a later verdict replaces yours or another's."""
    triage.feedback(alert_id, body.verdict, actor=actor)
    return _one(alert_id, alerts, triage, silences)


@router.get("/rules", response_class=Response)
def list_rules(config: ConfigDep, triage: TriageDep) -> Response:
    """The rules, each with people's verdicts on its alerts: useful, false alarms, and the
    precision (useful / judged; null until someone judged one)."""
    precision = triage.precision()
    rules = [
        {
            "name": rule.name,
            "kind": rule.kind,
            "metric": rule.metric,
            "severity": rule.severity,
            "labels": rule.labels,
            "playbook": rule.playbook,
            "feedback": msgspec.to_builtins(precision.get(rule.name) or RulePrecision()),
        }
        for rule in alerting_rules(config)
    ]
    return _json({"rules": rules})


RuleName = Annotated[str, Path(max_length=200, pattern=NO_NUL, description="the rule's name")]


class Tuning(BaseModel):
    """A new threshold for a rule: `value` for a threshold rule, `drop` or `rise` for a change
    rule (a fraction, 0.4 for 40 %), with why."""

    parameter: Literal["value", "drop", "rise"]
    value: float = Field(allow_inf_nan=False)
    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


class Restore(BaseModel):
    """Why an earlier version comes back."""

    reason: str = Field(default="", max_length=2000, pattern=NO_NUL)


_VERSION_WRITES: dict[int | str, dict[str, Any]] = {
    **_WRITES,
    409: {"description": "a version the rules cannot put in place: the field, the rule and why"},
}


@router.get("/rules/{name}/versions", response_class=Response, responses=NOT_FOUND)
def rule_versions(name: RuleName, versions: RuleVersionsDep) -> Response:
    """The rule's versions, oldest first: version 0 is vigie.yaml's; each later one says who
    changed what (field, before, after), when and why."""
    return _json({"rule": name, "versions": versions.history(name)})


@router.post(
    "/rules/{name}/versions",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_VERSION_WRITES,
    status_code=201,
)
def tune_rule(
    name: RuleName, body: Tuning, actor: RequestActor, versions: RuleVersionsDep
) -> Response:
    """A new version of the rule with the threshold changed, live at once (no restart) and
    audited; restore an earlier version to undo it. Refused (409) when the rules could not
    put it in place."""
    made = versions.tune(name, body.parameter, body.value, actor=actor, reason=body.reason)
    return Response(
        content=msgspec.json.encode(made), media_type="application/json", status_code=201
    )


@router.post(
    "/rules/{name}/versions/{version}/restore",
    response_class=Response,
    dependencies=[AlertsWriter],
    responses=_VERSION_WRITES,
    status_code=201,
)
def restore_rule(
    name: RuleName,
    version: Annotated[int, Path(ge=0, le=1_000_000)],
    body: Restore,
    actor: RequestActor,
    versions: RuleVersionsDep,
) -> Response:
    """Bring back an earlier version (0: vigie.yaml's) as a new version, live at once;
    refused (409, naming the rule and why) when the rules could not put it in place: a
    version whose kind or metric vigie.yaml has since changed, or a same_slot one asking
    for more days or another time zone than learned since the start."""
    made = versions.restore(name, version, actor=actor, reason=body.reason)
    return Response(
        content=msgspec.json.encode(made), media_type="application/json", status_code=201
    )
