"""The dashboard: server-rendered pages (Jinja2) whose scripts fetch the parts' JSON APIs
and follow the live stream; sign-in with the CRM's users; French and English.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from vigie import __version__
from vigie.web.deps import RuntimeDep, SessionDep, SessionsDep
from vigie.web.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, negotiate
from vigie.web.session import SessionData
from vigie.web.users import authenticate

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

PAGES = ("overview", "alerts", "web", "customers", "schedules")

# The parts' JSON APIs a page may use; a page only calls those the server has.
APIS = {
    "alerts": "/api/alerts",
    "alerts_stream": "/api/alerts/stream",
    "kpis": "/api/kpis",
    "playbook_runs": "/api/playbook-runs",
    "notifications": "/api/notifications",
    "funnel": "/api/funnels/{name}",
    "funnels": "/api/funnels",
    "journey": "/api/visitors/{visitor_id}/journey",
    "visitors": "/api/visitors",
    "campaign_slots": "/api/campaigns/slots",
    "contacts": "/api/contacts",
    "contact_timeline": "/api/contacts/{contact_id}/timeline",
    "accounts": "/api/accounts",
    "account_timeline": "/api/accounts/{account_id}/timeline",
    "on_duty": "/api/schedule/on-duty",
}


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and its static files to `app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def language_of(request: Request, session: SessionData) -> str:
    """The user's chosen language, else the browser's preferred one."""
    if session.language in LANGUAGES:
        return session.language
    return negotiate(request.headers.get("accept-language"))


def _available_apis(request: Request) -> dict[str, str]:
    paths = {getattr(route, "path", None) for route in request.app.routes}
    return {name: path for name, path in APIS.items() if path in paths}


def _render(
    request: Request,
    session: SessionData,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request, session)
    translate = Translator(language)
    return templates.TemplateResponse(
        request,
        template,
        {
            "_": translate,
            "lang": language,
            "languages": LANGUAGE_NAMES,
            "user": session.username,
            "version": __version__,
            "messages": translate.subset("js."),
            "apis": _available_apis(request),
            **context,
        },
        status_code=status_code,
    )


def _local(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _page(name: str) -> Any:
    def page(request: Request, session: SessionDep) -> Response:
        if session.username is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return _render(request, session, f"{name}.html", page=name)

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
def login_form(request: Request, session: SessionDep, next: str = "/") -> Response:
    """The sign-in form."""
    return _render(request, session, "login.html", page="login", next=_local(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    runtime: RuntimeDep,
    sessions: SessionsDep,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the user's name and password, then open a session."""
    user = authenticate(runtime, username.strip(), password)
    if user is None:
        return _render(
            request,
            session,
            "login.html",
            page="login",
            next=_local(next),
            error="login.error",
            username=username,
            status_code=401,
        )
    language = user.language if user.language in LANGUAGES else language_of(request, session)
    response = RedirectResponse(_local(next), status_code=303)
    sessions.write(response, SessionData(username=user.username, language=language))
    return response


@router.post("/logout")
def logout(sessions: SessionsDep) -> Response:
    """Close the session."""
    response = RedirectResponse("/login", status_code=303)
    sessions.clear(response)
    return response


@router.post("/language")
def choose_language(
    sessions: SessionsDep,
    session: SessionDep,
    language: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Remember the interface language chosen by the user."""
    response = RedirectResponse(_local(next), status_code=303)
    if language in LANGUAGES:
        sessions.write(response, SessionData(username=session.username, language=language))
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
