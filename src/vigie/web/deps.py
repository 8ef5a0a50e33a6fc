"""`Annotated` dependency aliases shared by the routes: one per service of the system being
served, the caller and its rights. Routes never see the SQL engine.

They are coroutines: FastAPI runs a plain function dependency in a worker thread, and the
five an API call resolves cost five thread hand-offs per request (issue 25). Only asking the
store who sent a token (once a second per token) goes to a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vigie.analytics import AnalyticsProcessor
from vigie.auth.accounts import Accounts
from vigie.auth.audit import Actor
from vigie.auth.roles import Action, Scope, allowed, scope_of
from vigie.auth.sessions import COOKIE
from vigie.auth.users import Principal
from vigie.chat.service import ChatService
from vigie.clock import Clock
from vigie.config import Config
from vigie.crm.service import CrmService
from vigie.experiments.processor import ExperimentsProcessor
from vigie.ingest.ingestor import Ingestor
from vigie.ingest.webhooks import Inbound
from vigie.kpi.trends import Trends
from vigie.log import ServedLog
from vigie.log.deadletters import DeadLetters
from vigie.log.leases import ShareBoard
from vigie.log.live import LiveHub
from vigie.playbooks import PlaybookEngine
from vigie.playbooks.history import PlaybookHistory
from vigie.playbooks.holdouts import HoldoutBook
from vigie.playbooks.ledger import ActionLedger
from vigie.playbooks.outcomes import AlertOutcomes
from vigie.privacy import DataSubjects, RetentionPurge
from vigie.privacy.safeguards import Safeguards
from vigie.review import WeeklyReviews
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.feed import AlertFeed
from vigie.rules.silences import Silences
from vigie.rules.store import AlertStore
from vigie.rules.triage import AlertTriage
from vigie.rules.versions import RuleVersions
from vigie.schedule import Dispatcher
from vigie.schedule.inbox import Inbox
from vigie.schedule.schedules import ScheduleConfig
from vigie.sensors.service import SensorsService
from vigie.system import System


def _system(request: Request) -> System:
    system: System = request.app.state.system
    return system


async def get_system(request: Request) -> System:
    """The system the app serving this request was built for."""
    return _system(request)


SystemDep = Annotated[System, Depends(get_system)]
"""The whole system: for the app factory and the dashboard's pages, which show every part."""


def _part(name: str) -> Callable[[Request], Awaitable[object]]:
    async def get(request: Request) -> object:
        return getattr(_system(request), name)

    get.__name__ = f"get_{name}"
    get.__doc__ = f"The system's `{name}` service."
    return get


async def get_config(request: Request) -> Config:
    """The configuration (`vigie.yaml`) the system was built from."""
    return _system(request).settings.config


ConfigDep = Annotated[Config, Depends(get_config)]
ClockDep = Annotated[Clock, Depends(_part("clock"))]
AccountsDep = Annotated[Accounts, Depends(_part("accounts"))]
CrmDep = Annotated[CrmService, Depends(_part("crm"))]
IngestorDep = Annotated[Ingestor, Depends(_part("ingestor"))]
InboundDep = Annotated[Inbound, Depends(_part("inbound"))]
EventLogDep = Annotated[ServedLog, Depends(_part("log"))]
DeadLettersDep = Annotated[DeadLetters, Depends(_part("dead_letters"))]
ProcessingDep = Annotated[ShareBoard, Depends(_part("processing"))]
LiveDep = Annotated[LiveHub, Depends(_part("live"))]
AlertingDep = Annotated[AlertingEngine, Depends(_part("alerting"))]
AlertStoreDep = Annotated[AlertStore, Depends(_part("alerts"))]
AlertFeedDep = Annotated[AlertFeed, Depends(_part("alert_feed"))]
TriageDep = Annotated[AlertTriage, Depends(_part("triage"))]
RuleVersionsDep = Annotated[RuleVersions, Depends(_part("rule_versions"))]
SilencesDep = Annotated[Silences, Depends(_part("silences"))]
AnalyticsDep = Annotated[AnalyticsProcessor, Depends(_part("analytics"))]
ExperimentsDep = Annotated[ExperimentsProcessor, Depends(_part("experiments"))]
PlaybooksDep = Annotated[PlaybookEngine, Depends(_part("playbooks"))]
PlaybookHistoryDep = Annotated[PlaybookHistory, Depends(_part("playbook_history"))]
ActionsDep = Annotated[ActionLedger, Depends(_part("actions"))]
HoldoutsDep = Annotated[HoldoutBook, Depends(_part("holdouts"))]
ReviewsDep = Annotated[WeeklyReviews, Depends(_part("reviews"))]
OutcomesDep = Annotated[AlertOutcomes, Depends(_part("outcomes"))]
DispatcherDep = Annotated[Dispatcher, Depends(_part("dispatcher"))]
InboxDep = Annotated[Inbox, Depends(_part("inbox"))]
SensorsDep = Annotated[SensorsService, Depends(_part("sensors"))]
TrendsDep = Annotated[Trends, Depends(_part("trends"))]
PrivacyDep = Annotated[DataSubjects, Depends(_part("privacy"))]
RetentionDep = Annotated[RetentionPurge, Depends(_part("retention"))]
ChatDep = Annotated[ChatService, Depends(_part("chat"))]
SafeguardsDep = Annotated[Safeguards, Depends(_part("safeguards"))]

NO_NUL = r"^[^\x00]*$"
"""A pattern for free-text parameters: PostgreSQL cannot store or compare NUL characters."""

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`vigie users token USERNAME`), or the session cookie.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigie"'}


async def get_current_user(
    request: Request,
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the Bearer token or the session cookie; 401 without one, 403 for a
    write key (write keys can only ingest events)."""
    if credentials is not None:
        token = credentials.credentials
        if accounts.is_write_key(token):
            raise HTTPException(
                403,
                "a write key can only send events to /v1/*; use a user's API token "
                "/ une clé d'écriture ne sert qu'à envoyer des événements",
            )
        user = accounts.remembered_token_user(token)
        if user is None:
            user = await run_in_threadpool(accounts.token_user, token)
        if user is None:
            raise HTTPException(401, "unknown or revoked token / jeton inconnu", _CHALLENGE)
        return user
    cookie = request.cookies.get(COOKIE)
    if cookie:
        user = accounts.remembered_session_user(cookie)
        if user is None:
            user = await run_in_threadpool(accounts.session_user, cookie)
        if user is not None:
            return user
    raise HTTPException(
        401,
        "authentication required: send Authorization: Bearer TOKEN / authentification requise",
        _CHALLENGE,
    )


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require(resource: str, action: Action) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the request through only when the user's role may do this."""

    async def check(user: CurrentUser) -> Principal:
        if not allowed(user.role, resource, action):
            raise HTTPException(
                403,
                f"role {user.role.value!r} may not {action} {resource} "
                f"/ le rôle {user.role.value!r} n'y a pas accès",
            )
        return user

    return check


async def get_actor(request: Request, user: CurrentUser) -> Actor:
    """The caller as the audit trail records it: user, role, address and user agent."""
    return Actor(
        name=user.username,
        role=user.role.value,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


RequestActor = Annotated[Actor, Depends(get_actor)]
EventsReader = Annotated[Principal, Depends(require("events", "read"))]
CampaignsWriter = Annotated[Principal, Depends(require("campaigns", "write"))]
AuditReader = Annotated[Principal, Depends(require("audit", "read"))]
UsersAdmin = Annotated[Principal, Depends(require("users", "write"))]
AlertsReader = Annotated[Principal, Depends(require("alerts", "read"))]
AnalyticsReader = Annotated[Principal, Depends(require("analytics", "read"))]
PlaybooksReader = Annotated[Principal, Depends(require("playbooks", "read"))]
PlaybooksRunner = Annotated[Principal, Depends(require("playbooks", "write"))]
NotificationsReader = Annotated[Principal, Depends(require("notifications", "read"))]
LeadsReader = Annotated[Principal, Depends(require("leads", "read"))]
ChatAgent = Annotated[Principal, Depends(require("interactions", "write"))]
"""A user who may answer the website chat (whoever may write interactions)."""


def notifications_seen(schedule: ScheduleConfig, user: Principal) -> set[str] | None:
    """Whose notifications `user` may read (issue 17), as names of people and teams of
    `schedule`: everyone's (None) for an admin; a manager, their own and their teams'
    people's; a salesperson, their own; nobody's for a role that may not read notifications,
    or a manager or salesperson who is no person of the schedule."""
    if not allowed(user.role, "notifications", "read"):
        return set()
    scope = scope_of(user.role)
    if scope is Scope.ALL:
        return None
    person = schedule.person_of_user(user.username)
    if person is None:
        return set()
    return schedule.colleagues(person) if scope is Scope.TEAM else {person.name}
