"""The `chat.invite` action: invite the visitors who are on a page or a funnel step right
now to a chat. With the website chat running, "now" means an open widget (live presence) and
the invitation is pushed to it at once, and only when an agent on duty has the console open;
otherwise the step fails with "no agent on duty" (a `continue_on_error` step goes on to the
playbook's next, alternative step). Every invitation is also stored, once per visitor."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.playbooks.actions.port import ChatInvitation
from vigie.privacy.consent import skipped_reason

PURPOSE = "marketing"
"""An invitation to chat, unasked, is direct marketing: it needs that consent."""

NO_AGENT = "no agent on duty / aucun conseiller de service"


class ChatInviteParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Whom to invite (visitors on `page`, or whose last step is `funnel_step`) and what to say.

    `page` is matched tolerantly: `/lunch-deal`, `/lunch-deal/` and `/lunch-deal/?x=1` are one
    page, and `/lunch-deal/*` also matches the pages under it.
    """

    page: str | None = None
    funnel_step: str | None = None
    message: str = "Besoin d'aide ? Un conseiller est là. / Need help? An adviser is here."
    within_minutes: float = 5.0
    expires_in_minutes: float = 15.0
    max_visitors: int = 200


def _visitors(params: ChatInviteParams, context: ActionContext, now: datetime) -> list[str]:
    live = context.port.live_chat()
    if live is not None and params.funnel_step is None:
        return live.present(page=params.page, limit=params.max_visitors)
    found = context.port.visitors_on(
        page=params.page,
        funnel_step=params.funnel_step,
        since=now - timedelta(minutes=params.within_minutes),
        limit=params.max_visitors if live is None else 100_000,
    )
    if live is None:
        return found
    present = set(live.present(page=None, limit=100_000))
    return [v for v in found if v in present][: params.max_visitors]


class ChatInvite:
    """`chat.invite`: invite every visitor on a page or funnel step now to chat."""

    name: ClassVar[str] = "chat.invite"
    params_type: ClassVar[type[msgspec.Struct]] = ChatInviteParams

    def run(self, params: ChatInviteParams, context: ActionContext) -> dict[str, Any]:
        if (params.page is None) == (params.funnel_step is None):
            raise ActionError(
                "chat.invite needs exactly one of page or funnel_step", retryable=False
            )
        live = context.port.live_chat()
        agents = live.can_answer() if live is not None else []
        if live is not None and not agents:
            raise ActionError(NO_AGENT, retryable=False)
        now = context.clock.now()
        visitors = _visitors(params, context, now)
        refused = context.port.without_consent(visitors, PURPOSE)
        visitors = context.port.split([v for v in visitors if v not in refused])
        expires = now + timedelta(minutes=params.expires_in_minutes)
        already = {i.anonymous_id for i in context.port.recorded(ChatInvitation)}
        fresh = [
            ChatInvitation(
                anonymous_id=visitor,
                page=params.page,
                funnel_step=params.funnel_step,
                message=params.message,
                expires_at=expires,
            )
            for visitor in visitors
            if visitor not in already
        ]
        ids = context.port.once_each(fresh)
        delivered = 0
        if live is not None and fresh:
            pairs = [(i.anonymous_id, n) for i, n in zip(fresh, ids, strict=True)]
            delivered = live.deliver(pairs, message=params.message, run_id=context.run_id)
        result: dict[str, Any] = {
            "invited": len(fresh) + len(already),
            "new": len(fresh),
            "delivered": delivered,
            "agents": agents,
            "page": params.page,
            "funnel_step": params.funnel_step,
        }
        if refused:
            result["skipped"] = {"visitors": len(refused), "reason": skipped_reason(PURPOSE)}
        return result

    def describe(self, params: ChatInviteParams, context: ActionContext) -> str:
        """How many visitors are there now and would be invited."""
        visitors = _visitors(params, context, context.clock.now())
        refused = context.port.without_consent(visitors, PURPOSE)
        where = params.page or params.funnel_step
        text = f"would invite {len(visitors) - len(refused)} visitor(s) on {where}"
        return text + (f" ({len(refused)} {skipped_reason(PURPOSE)})" if refused else "")
