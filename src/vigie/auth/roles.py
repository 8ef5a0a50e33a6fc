"""Roles and what each may read or write; object-level scope (own, team, all) for sales data.

The matrix is plain data so that the API, the dashboard and the tests read the same truth.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Action = Literal["read", "write"]


class Role(StrEnum):
    """The roles a user can hold."""

    ADMIN = "admin"
    MANAGER = "manager"
    MARKETING = "marketing"
    SALES = "sales"
    SUPPORT = "support"
    FINANCE = "finance"
    READ_ONLY = "read-only"


class Scope(StrEnum):
    """Which owned objects (accounts, contacts, deals, offers, tasks) a role sees."""

    ALL = "all"
    TEAM = "team"
    OWN = "own"


# The CRM's entities, as `crm.entities.ENTITIES` names them: auth sits below crm and does not
# import it, so tests/crm/test_entities.py keeps the two lists equal.
CRM_RESOURCES = (
    "contacts",
    "accounts",
    "staff",
    "deals",
    "tickets",
    "campaigns",
    "interactions",
    "tasks",
    "offers",
    "leads",
)
# Read-mostly views of the audit itself: alerts and KPIs (write = acknowledge, assign,
# annotate, judge and silence them: for the people alerts go to), visitor analytics,
# playbook runs (write = run one by hand), notifications and their hold/reroute decisions.
AUDIT_RESOURCES = ("alerts", "analytics", "playbooks", "notifications")
RESOURCES = (*CRM_RESOURCES, "events", "users", "audit", *AUDIT_RESOURCES)

_RW: frozenset[Action] = frozenset({"read", "write"})
_R: frozenset[Action] = frozenset({"read"})

GRANTS: dict[Role, dict[str, frozenset[Action]]] = {
    Role.ADMIN: {resource: _RW for resource in RESOURCES},
    Role.MANAGER: {
        **{resource: _RW for resource in CRM_RESOURCES},
        "events": _R,
        "alerts": _RW,
        "analytics": _R,
        "playbooks": _RW,
        "notifications": _R,
    },
    Role.MARKETING: {
        "contacts": _RW,
        "campaigns": _RW,
        "interactions": _RW,
        "tasks": _RW,
        "accounts": _R,
        "staff": _R,
        "events": _R,
        "alerts": _RW,
        "analytics": _R,
        "playbooks": _R,
        "leads": _R,
    },
    Role.SALES: {
        "contacts": _RW,
        "accounts": _RW,
        "deals": _RW,
        "offers": _RW,
        "tasks": _RW,
        "interactions": _RW,
        "campaigns": _R,
        "staff": _R,
        "alerts": _R,
        "leads": _RW,
    },
    Role.SUPPORT: {
        "tickets": _RW,
        "interactions": _RW,
        "tasks": _RW,
        "contacts": _R,
        "accounts": _R,
        "staff": _R,
        "alerts": _RW,
        "playbooks": _R,
    },
    Role.FINANCE: {
        "interactions": _RW,
        "accounts": _R,
        "contacts": _R,
        "deals": _R,
        "offers": _R,
        "staff": _R,
        "alerts": _R,
    },
    Role.READ_ONLY: {
        **{resource: _R for resource in CRM_RESOURCES},
        "events": _R,
        "alerts": _R,
        "analytics": _R,
        "playbooks": _R,
        "leads": _R,
    },
}

SCOPES: dict[Role, Scope] = {Role.SALES: Scope.OWN, Role.MANAGER: Scope.TEAM}


def allowed(role: Role, resource: str, action: Action) -> bool:
    """True when `role` may `action` (read or write) `resource`."""
    return action in GRANTS[role].get(resource, frozenset())


def scope_of(role: Role) -> Scope:
    """The owned objects `role` sees: its own (sales), its team's (manager) or all."""
    return SCOPES.get(role, Scope.ALL)
