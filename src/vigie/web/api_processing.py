"""REST API over the processors' shares: which worker runs which share now."""

from __future__ import annotations

import msgspec
from fastapi import APIRouter, Response

from vigie.web.deps import EventsReader, ProcessingDep
from vigie.web.problems import AUTH_ERRORS

router = APIRouter(prefix="/api", tags=["events"], responses=AUTH_ERRORS)


@router.get("/processing", response_class=Response)
def processing(board: ProcessingDep, _user: EventsReader) -> Response:
    """The processors' shares (`processors`: the rules, playbooks, analytics, sensors;
    `processors:projections`: the CRM and chat projections), the processors in each and the
    process running it now (`host:pid:…`, null while none does), and the live workers. Two
    `vigie worker` processes share them; see "Running on several machines" in the README."""
    return Response(content=msgspec.json.encode(board.status()), media_type="application/json")
