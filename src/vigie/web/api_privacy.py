"""REST API of the data subject's rights: export everything held about a person, erase it."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Path, Response

from vigie.crm.entities import ENTITIES
from vigie.web.deps import (
    CrmDep,
    CurrentUser,
    PrivacyDep,
    RequestActor,
    RetentionDep,
    UsersAdmin,
    require,
)
from vigie.web.problems import AUTH_ERRORS, Problem

router = APIRouter(prefix="/api/privacy", tags=["privacy"], responses=AUTH_ERRORS)
ContactId = Annotated[str, Path(max_length=64, pattern=r"^[^\x00]*$")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such contact (or not yours to see)"}
}


@router.get(
    "/contacts/{contact_id}/export",
    response_class=Response,
    responses=_NOT_FOUND,
    dependencies=[Depends(require("contacts", "read"))],
)
def export_contact(
    contact_id: ContactId,
    privacy: PrivacyDep,
    crm: CrmDep,
    user: CurrentUser,
    actor: RequestActor,
) -> Response:
    """Everything Vigie holds about one person, as a JSON file: the contact, every event of
    theirs (decoded), and every row of every table that names them (interactions and chat
    transcripts, identity links, notifications, playbook outputs, rejected input …). Needs
    read access to the contact; the export is recorded in the audit trail."""
    crm.get(ENTITIES["contacts"], contact_id, user)  # 404 outside the user's scope
    data = privacy.export(contact_id, actor=actor)
    return Response(
        content=msgspec.json.encode(data),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


@router.post(
    "/contacts/{contact_id}/erase",
    responses=_NOT_FOUND,
    summary="Erase a person everywhere (admin)",
)
def erase_contact(
    contact_id: ContactId, privacy: PrivacyDep, _admin: UsersAdmin, actor: RequestActor
) -> dict[str, object]:
    """Make the person unrecoverable everywhere: their identifiers (e-mail, phone, name,
    user and visitor ids) are replaced by random tokens in every table, in the event log and
    its columnar copy, and the store's files are compacted. Event names, times and amounts
    stay, so KPIs do not change. A log on NATS JetStream cannot be rewritten: the person's
    sealed data there is made unreadable by destroying their keys (crypto-shredding), and the
    messages holding their free text in clear (notes, chat messages logged before it sealed
    them) are deleted (`log_messages_deleted`); `not_erased` says what stays there in clear.
    Admins only; audited (that it happened, not what)."""
    erasure = privacy.erase(contact_id, actor=actor)
    return {
        "erased": erasure.contact_id,
        "rows": erasure.rows,
        "segments_rewritten": erasure.segments_rewritten,
        "storage": erasure.storage,
        "keys_destroyed": erasure.keys_destroyed,
        "log_messages_deleted": erasure.log_messages_deleted,
        "not_erased": erasure.not_erased,
    }


@router.post("/retention/purge", summary="Run the retention purge now (admin)")
def purge_now(retention: RetentionDep, _admin: UsersAdmin) -> dict[str, object]:
    """Delete what is older than each data class's retention (`privacy.retention` in
    vigie.yaml) now, instead of waiting for the scheduled purge; audited."""
    return {"deleted": retention.run()}
