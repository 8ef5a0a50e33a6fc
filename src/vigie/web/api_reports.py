"""REST API of the weekly review: as JSON, as a self-contained HTML page (shown framed on
the dashboard's Review page) or as a PDF; each read is audited (it holds the
right-to-disconnect record)."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from vigie.review import ReviewError
from vigie.review.render import render_html, write_pdf_bytes
from vigie.web.deps import AccountsDep, RequestActor, ReviewsDep, require
from vigie.web.problems import AUTH_ERRORS, INVALID

router = APIRouter(
    prefix="/api/reports",
    tags=["reports"],
    dependencies=[Depends(require("notifications", "read"))],
    responses={**AUTH_ERRORS, **INVALID},
)
FRAMED_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
"""The report page runs no script and loads nothing; the dashboard may frame it."""


def _invalid(name: str, reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ["query", name], "msg": reason, "type": "value_error"}])


@router.get(
    "/weekly",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/html": {},
                "application/pdf": {},
            },
            "description": "The review, in the format asked for.",
        }
    },
)
async def weekly_review(
    reviews: ReviewsDep,
    accounts: AccountsDep,
    actor: RequestActor,
    week: Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, YYYY-Www")],
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "json",
    language: Annotated[Literal["en", "fr"], Query()] = "en",
    tz: Annotated[
        str | None,
        Query(
            max_length=64,
            description="IANA time zone of the reader; default: the site's (analytics.timezone)",
        ),
    ] = None,
) -> Response:
    """The weekly review of `week`: KPIs against their targets and the weeks before, every
    alert with its time to acknowledge and playbook runs, rules' precision and noise, the
    measured effects and experiments, the right-to-disconnect record, silent sensors. The
    week runs Monday to Monday in the site's time zone."""
    try:
        if tz is not None:
            ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _invalid("tz", f"{tz!r} is not an IANA time zone (e.g. Europe/Brussels)") from exc
    try:
        review = await run_in_threadpool(reviews.build, week)
    except ReviewError as exc:
        raise _invalid("week", str(exc)) from exc
    accounts.record(actor, "export", "weekly_review", week, {"format": format})
    if format == "json":
        return Response(content=msgspec.json.encode(review), media_type="application/json")
    html = render_html(review, language=language, timezone=tz or review.timezone)
    if format == "html":
        return Response(
            content=html,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": FRAMED_CSP, "X-Frame-Options": "SAMEORIGIN"},
        )
    pdf = await run_in_threadpool(write_pdf_bytes, html)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="weekly-{review.week}-{language}.pdf"'
        },
    )
