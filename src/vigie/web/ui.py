"""The dashboard: server-rendered pages (Jinja2) whose scripts fetch the parts' JSON APIs
and follow the live stream; sign-in with the CRM's users; French and English.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from vigie import __version__
from vigie.auth.audit import Actor
from vigie.auth.roles import Scope, allowed, scope_of
from vigie.auth.sessions import COOKIE, MAX_AGE_SECONDS
from vigie.auth.throttle import Throttled
from vigie.auth.users import Principal
from vigie.system import System
from vigie.web.deps import SystemDep
from vigie.web.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, negotiate

LANGUAGE_COOKIE = "vigie_lang"
HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)

PAGES = (
    "overview",
    "alerts",
    "web",
    "customers",
    "schedules",
    "actions",
    "experiments",
    "leads",
    "shop",
    "city",
    "chat",
    "review",
)

# The parts' JSON APIs a page may use; a page only calls those this server has.
APIS = {
    "kpis": "/api/dashboard/kpis",
    "on_duty": "/api/dashboard/on-duty",
    "alerts": "/api/alerts",
    "alerts_stream": "/api/alerts/stream",
    "alert_ack": "/api/alerts/{alert_id}/ack",
    "alert_assign": "/api/alerts/{alert_id}/assign",
    "alert_notes": "/api/alerts/{alert_id}/notes",
    "alert_feedback": "/api/alerts/{alert_id}/feedback",
    "alert_outcomes": "/api/alerts/{alert_id}/outcomes",
    "silences": "/api/silences",
    "silence": "/api/silences/{silence_id}",
    "dead_letters": "/api/dead-letters",
    "processing": "/api/processing",
    "sources": "/api/sources",
    "playbook_runs": "/api/playbook-runs",
    "actions": "/api/actions",
    "action_close": "/api/actions/{kind}/{action_id}/close",
    "action_undo": "/api/actions/{kind}/{action_id}/undo",
    "notifications": "/api/notifications",
    "inbox": "/api/inbox",
    "inbox_read": "/api/inbox/read",
    "inbox_stream": "/api/inbox/stream",
    "disconnect_record": "/api/disconnect/record",
    "funnels": "/api/funnels",
    "experiments": "/api/experiments",
    "holdouts": "/api/holdouts",
    "weekly_review": "/api/reports/weekly",
    "rules": "/api/rules",
    "rule_versions": "/api/rules/{name}/versions",
    "rule_restore": "/api/rules/{name}/versions/{version}/restore",
    "funnel": "/api/funnels/{name}",
    "campaign_slots": "/api/campaigns/{name}/slots",
    "journey": "/api/visitors/{visitor_id}/journey",
    "contacts": "/api/contacts",
    "contact_timeline": "/api/contacts/{record_id}/timeline",
    "accounts": "/api/accounts",
    "account_timeline": "/api/accounts/{record_id}/timeline",
    "privacy_export": "/api/privacy/contacts/{contact_id}/export",
    "privacy_erase": "/api/privacy/contacts/{contact_id}/erase",
    "sensors_shop": "/api/sensors/shops/{site}",
    "sensors_city": "/api/sensors/city",
    "sensors_move": "/api/sensors/displays/{display}/move",
    "sensors_customer": "/api/sensors/customers/{contact_id}",
    "sensors_ring_link": "/api/sensors/rings/{ring}/link",
    "chat_inbox": "/api/chat/inbox",
    "chat_kpis": "/api/chat/kpis",
    "chat_reply": "/api/chat/conversations/{conversation_id}/messages",
    "chat_assign": "/api/chat/conversations/{conversation_id}/assign",
    "chat_tags": "/api/chat/conversations/{conversation_id}/tags",
    "chat_close": "/api/chat/conversations/{conversation_id}/close",
    "chat_typing": "/api/chat/conversations/{conversation_id}/typing",
    "chat_read": "/api/chat/conversations/{conversation_id}/read",
    "leads": "/api/leads",
    "lead_accept": "/api/leads/{record_id}/accept",
    "lead_reject": "/api/leads/{record_id}/reject",
    "lead_convert": "/api/leads/{record_id}/convert",
    "lead_publish": "/api/leads/publish",
    "lead_models": "/api/leads/models",
    "lead_model_card": "/api/leads/models/card",
    "lead_model_promote": "/api/leads/models/{version}/promote",
    "lead_model_rollback": "/api/leads/models/rollback",
}
# What the signed-in user's role may read, so that pages do not call what would be refused.
READABLE = ("contacts", "accounts", "events")
# The resource (see vigie.auth.roles) each API reads; a page only gets those the role may read.
API_RESOURCES = {
    "alerts": "alerts",
    "alerts_stream": "alerts",
    "alert_ack": "alerts",
    "alert_assign": "alerts",
    "alert_notes": "alerts",
    "alert_feedback": "alerts",
    "alert_outcomes": "playbooks",
    "silences": "alerts",
    "silence": "alerts",
    "dead_letters": "events",
    "processing": "events",
    "sources": "events",
    "playbook_runs": "playbooks",
    "actions": "playbooks",
    "action_close": "playbooks",
    "action_undo": "playbooks",
    "notifications": "notifications",
    "disconnect_record": "notifications",
    "weekly_review": "notifications",
    "rules": "alerts",
    "rule_versions": "alerts",
    "rule_restore": "alerts",
    "funnels": "analytics",
    "experiments": "analytics",
    "holdouts": "playbooks",
    "funnel": "analytics",
    "campaign_slots": "analytics",
    "journey": "analytics",
    "contacts": "contacts",
    "contact_timeline": "contacts",
    "accounts": "accounts",
    "account_timeline": "accounts",
    "privacy_export": "contacts",
    "privacy_erase": "users",  # admins only
    "sensors_shop": "analytics",
    "sensors_city": "analytics",
    "sensors_move": "analytics",
    "leads": "leads",
    "lead_accept": "leads",
    "lead_reject": "leads",
    "lead_convert": "leads",
    "lead_publish": "leads",
    "lead_models": "leads",
    "lead_model_card": "leads",
    "lead_model_promote": "leads",
    "lead_model_rollback": "leads",
    "sensors_customer": "contacts",
    "sensors_ring_link": "contacts",
    **{
        name: "interactions"
        for name in (
            "chat_inbox",
            "chat_kpis",
            "chat_reply",
            "chat_assign",
            "chat_tags",
            "chat_close",
            "chat_typing",
            "chat_read",
        )
    },
}


@cache
def _templates() -> Jinja2Templates:
    """The page templates (loaded on first use, not at import)."""
    return Jinja2Templates(directory=HERE / "templates")


def compile_templates() -> None:
    """Compile every page template now, not on its page's first request."""
    environment = _templates().env
    for name in environment.list_templates(extensions=["html"]):
        environment.get_template(name)


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and its static files to `app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def signed_in(request: Request, system: System) -> Principal | None:
    """The user of the request's session cookie, if any."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    return system.accounts.session_user(value)


def language_of(request: Request, system: System, user: Principal | None) -> str:
    """The user's chosen language, else this browser's choice, else `Accept-Language`."""
    if user is not None:
        chosen = system.accounts.language(user)
        if chosen in LANGUAGES:
            return chosen
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return negotiate(request.headers.get("accept-language"))


def served_paths(app: FastAPI) -> frozenset[str]:
    """The paths of `app`'s API routes, as its OpenAPI document lists them, worked out once.

    Read from the routes rather than from `app.openapi()`: building that document takes a
    second or more of CPU, and it used to be built by whichever dashboard page came first
    after a start, holding that page (and, with the interpreter, every other request) for
    seconds under load (issue 17)."""
    known: frozenset[str] | None = getattr(app.state, "served_paths", None)
    if known is None:
        known = frozenset(
            route.path_format
            for route in _route_contexts(app)
            if isinstance(getattr(route, "original_route", route), APIRoute)
            and route.include_in_schema
        )
        app.state.served_paths = known
    return known


def _route_contexts(app: FastAPI) -> Iterable[Any]:
    """Every route of `app`, those of included routers too, each with its full path."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.165 copies included routes: the list is flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def _available_apis(request: Request, user: Principal | None) -> dict[str, str]:
    paths = served_paths(request.app)
    return {
        name: path
        for name, path in APIS.items()
        if path in paths
        and (
            name not in API_RESOURCES
            or (user is not None and allowed(user.role, API_RESOURCES[name], "read"))
        )
    }


def _page_data(name: str, system: System, user: Principal | None) -> dict[str, Any]:
    config = system.settings.config
    data: dict[str, Any] = {
        "can": {r: user is not None and allowed(user.role, r, "read") for r in READABLE}
    }
    if name == "web":
        data["campaigns"] = [c.name for c in config.analytics.campaigns if c.schedule is not None]
    if name == "customers":
        data["can_erase"] = user is not None and allowed(user.role, "users", "write")
    if name == "shop":
        data["sites"] = [site.name for site in config.sensors.sites]
        data["can_move"] = user is not None and allowed(user.role, "playbooks", "write")
    if name == "review":
        data["can_tune"] = user is not None and allowed(user.role, "alerts", "write")
    if name == "leads":
        from vigie.ai.nomenclature import names

        data["names"] = names()
        data["can_act"] = user is not None and allowed(user.role, "leads", "write")
        data["can_manage"] = user is not None and (
            allowed(user.role, "leads", "write") and scope_of(user.role) is not Scope.OWN
        )
    if name == "actions":
        data["can_act"] = user is not None and allowed(user.role, "playbooks", "write")
    if name == "alerts":
        data["can_act"] = user is not None and allowed(user.role, "alerts", "write")
        schedule = config.schedule
        data["assignees"] = [
            {"name": p.name, "label": p.display_name or p.name} for p in schedule.people
        ] + [{"name": t.name, "label": t.name} for t in schedule.teams]
    return data


def viewer_time_zone(system: System, user: Principal | None) -> str | None:
    """The time zone the viewer reads times in: the location of the schedule's person of
    the same name, when there is one (else the browser's own is used)."""
    if user is None:
        return None
    person = system.settings.config.schedule.person(user.username)
    return person.location if person is not None else None


def _render(
    request: Request,
    system: System,
    user: Principal | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request, system, user)
    translate = Translator(language)
    return _templates().TemplateResponse(
        request,
        template,
        {
            "_": translate,
            "lang": language,
            "languages": LANGUAGE_NAMES,
            "user": user,
            "version": __version__,
            "messages": translate.subset("js."),
            "time_zone": viewer_time_zone(system, user),
            "apis": _available_apis(request, user),
            "page_data": _page_data(str(context.get("page", "")), system, user),
            **context,
        },
        status_code=status_code,
    )


def _local(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return default
    return target


def _page(name: str) -> Any:
    def page(request: Request, system: SystemDep) -> Response:
        user = signed_in(request, system)
        if user is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return _render(request, system, user, f"{name}.html", page=name)

    page.__name__ = f"page_{name}"
    page.__doc__ = f"The {name} page."
    return page


for _name in PAGES:
    router.add_api_route(
        "/" if _name == "overview" else f"/{_name}",
        _page(_name),
        methods=["GET"],
        response_class=HTMLResponse,
        name=f"page_{_name}",
    )


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, system: SystemDep, next: str = "/") -> Response:
    """The sign-in form. A coroutine: it reads nothing but memory (no user yet), so it is
    rendered on the event loop instead of waiting for a worker thread and the interpreter."""
    return _render(request, system, None, "login.html", page="login", next=_local(next))


def _visitor(request: Request) -> Actor:
    """Who is at the sign-in form, before they have proved who they are."""
    return Actor(
        name="(anonymous)",
        role=None,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    system: SystemDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the user's name and password, then open a session (a signed cookie)."""
    try:
        logged_in = system.accounts.login(
            username=username.strip(), password=password, actor=_visitor(request)
        )
    except Throttled as exc:
        refused = _render(
            request,
            system,
            None,
            "login.html",
            page="login",
            next=_local(next),
            error="hardening.login_throttled",
            username=username,
            status_code=429,
        )
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    if logged_in is None:
        return _render(
            request,
            system,
            None,
            "login.html",
            page="login",
            next=_local(next),
            error="login.error",
            username=username,
            status_code=401,
        )
    _user, value = logged_in
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=system.accounts.secure_cookies,
    )
    return response


@router.post("/logout")
def logout(request: Request, system: SystemDep) -> Response:
    """Close the session, on the server too: a copy of the cookie stops working."""
    value = request.cookies.get(COOKIE)
    if value:
        system.accounts.logout(value, _visitor(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="lax")
    return response


@router.post("/language")
def choose_language(
    request: Request,
    system: SystemDep,
    language: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Remember the interface language: for the signed-in user, and for this browser."""
    response = RedirectResponse(_local(next), status_code=303)
    if language in LANGUAGES:
        user = signed_in(request, system)
        if user is not None:
            system.accounts.set_language(user, language)
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="lax"
        )
    return response


@cache
def _plotly_js() -> tuple[bytes, bytes]:
    data = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return data, gzip.compress(data, compresslevel=6)


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Plotly's browser bundle, served from the installed `plotly` package (no CDN)."""
    plain, packed = _plotly_js()
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(plain, media_type="text/javascript", headers=headers)
