"""Who may do what: users, roles, API tokens, browser sessions and the audit trail."""

from vigie.auth.roles import Action, Role, Scope, allowed, scope_of
from vigie.auth.users import Principal

__all__ = ["Action", "Principal", "Role", "Scope", "allowed", "scope_of"]
