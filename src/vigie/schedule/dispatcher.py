"""The dispatcher: takes notifications in, applies the right to disconnect, delivers them
now or when the recipient's working period starts, and audits every decision.

The decisions are `vigie.schedule.routing.decide`; this module only stores and sends. A
playbook timer of the system (`vigie.system`) calls `deliver_due()`; time comes from the
injected clock.

Exactly once: a notification is claimed for sending (`sending`, with the claiming process's
holder id in `claimed_by` and the wall-clock instant in `claimed_at_us`) by one process at a
time: an API node submitting it, or the worker delivering it when due. `recover` takes back
only what a process that is gone was sending: this process's previous life, a process whose
leases have all expired (`vigie.log.leases.live_holders`), or a claim older than
`stale_after`; never what a live API node is sending at that moment.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.log.leases import DEFAULT_TTL_SECONDS, Lease, holder_id, live_holders
from vigie.schedule import notifications as store
from vigie.schedule.digests import DigestItem, compose
from vigie.schedule.gateways import DeliveryFailed, send_by_gateway
from vigie.schedule.mailer import Mailer
from vigie.schedule.record import Delivery, PersonRecord, month_bounds, period_record
from vigie.schedule.routing import Decision, decide
from vigie.schedule.schedules import (
    Channel,
    Person,
    ScheduleConfig,
    channels,
    is_on_duty,
    is_working,
    next_working_instant,
)
from vigie.types import from_us, to_us

logger = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = timedelta(minutes=5)
STALE_CLAIM = timedelta(hours=1)
"""A claim this old is taken back even when its process looks alive: no e-mail or gateway
call takes that long (their timeouts are far shorter); it was lost, not being sent."""
SENDERS = "senders"
"""The group of the member leases of the processes that send notifications
(`senders:member:<holder>`): a claim of a holder with no live lease is taken back."""


class NotificationRequest(msgspec.Struct, kw_only=True):
    """A message for a person or a team; `key` makes submitting it twice harmless."""

    key: str
    recipient: str
    subject: str
    body: str
    urgent: bool = False
    run_id: str | None = None


def _channel_names(chosen: list[Channel]) -> list[str]:
    return [f"{c.type}:{c.address}" if c.address else c.type for c in chosen]


NOW = ("deliver", "reroute")
"""The decisions delivered at once, as the notification is submitted."""


class Dispatcher:
    """Stores, holds, reroutes and delivers notifications for the people of `config`."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        config: ScheduleConfig,
        clock: Clock,
        mailer: Mailer | None = None,
        resolved: Callable[[str], bool] = lambda _run_id: False,
        holder: str | None = None,
        stale_after: timedelta = STALE_CLAIM,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.mailer = mailer
        self.resolved = resolved
        """Whether the alert that started a playbook run (by id) has resolved since."""
        self.holder = holder or holder_id()
        """Who claims notifications for sending here (`vigie.log.leases.holder_id`)."""
        self.stale_after = stale_after
        self.membership = Lease(
            engine, f"{SENDERS}:member:{self.holder}", holder=self.holder, ttl_seconds=ttl_seconds
        )
        self._sending: set[int] = set()
        """The notifications this process is sending at this moment."""
        self._lock = threading.Lock()

    def beat(self) -> None:
        """Renew this process's sender membership: while it lasts, no other process takes
        back what this one is sending. Every process of the system renews it every few
        seconds (`vigie.system`); a dispatcher used without one (a script) holds none, and
        what it leaves being sent is taken back as a gone process's."""
        self.membership.acquire()

    def leave(self) -> None:
        """End this process's sender membership (a clean stop)."""
        self.membership.release()

    def _claim_values(self) -> dict[str, object]:
        return {"claimed_by": self.holder, "claimed_at_us": int(time.time() * 1e6)}

    def submit(self, request: NotificationRequest) -> list[store.NotificationRecord]:
        """Decide and store `request`, delivering at once to whoever is on duty now."""
        with self.engine.connect() as conn:
            existing = store.find(conn, key=request.key)
        if existing:
            return existing
        now = self.clock.now()
        decisions = decide(self.config, recipient=request.recipient, urgent=request.urgent, at=now)
        ids: list[int] = []
        try:
            # Stored as being sent by this process, and known to it as such, at once.
            with self._lock, self.engine.begin() as conn:
                for decision in decisions:
                    ids.append(self._insert(conn, request, decision, now))
                now_ids = [i for i, d in zip(ids, decisions, strict=True) if d.outcome in NOW]
                self._sending.update(now_ids)
        except sa.exc.IntegrityError:
            with self.engine.connect() as conn:
                return store.find(conn, key=request.key)
        try:
            for notification_id in now_ids:
                self._deliver(notification_id, claimed=True)
        finally:
            with self._lock:
                self._sending.difference_update(now_ids)
        with self.engine.connect() as conn:
            return store.find(conn, key=request.key)

    def _insert(
        self, conn: sa.Connection, request: NotificationRequest, decision: Decision, now: datetime
    ) -> int:
        # Delivered at once: stored as being sent (claimed here), never seen held meanwhile.
        claim: dict[str, object] = {}
        if decision.outcome in NOW:
            status = "sending"
            claim = self._claim_values()
        else:
            status = "held" if decision.outcome != "undeliverable" else "undeliverable"
        result = conn.execute(
            store.notifications.insert().values(
                key=request.key,
                intended_for=decision.intended_for,
                recipient=decision.recipient,
                subject=request.subject,
                body=request.body,
                urgent=request.urgent,
                status=status,
                reason=decision.reason,
                channels=msgspec.json.encode(_channel_names(decision.channels)).decode(),
                created_at_us=to_us(now),
                hold_until_us=to_us(decision.deliver_at) if decision.deliver_at else None,
                run_id=request.run_id,
                requires=decision.requires,
                **claim,
            )
        )
        (notification_id,) = result.inserted_primary_key or (None,)
        assert notification_id is not None
        urgency = "urgent " if request.urgent else ""
        store.add_audit(
            conn,
            notification_id=notification_id,
            at=now,
            decision="received",
            detail=f"{urgency}notification for {request.recipient}: {request.subject}",
        )
        if decision.outcome == "hold" and decision.deliver_at is not None:
            detail = f"held for {decision.recipient} until {decision.deliver_at.isoformat()}: "
            store.add_audit(
                conn,
                notification_id=notification_id,
                at=now,
                decision="held",
                detail=detail + decision.reason,
            )
        elif decision.outcome == "reroute":
            store.add_audit(
                conn,
                notification_id=notification_id,
                at=now,
                decision="rerouted",
                detail=f"rerouted from {decision.intended_for} to {decision.recipient}: "
                + decision.reason,
            )
        elif decision.outcome == "undeliverable":
            store.add_audit(
                conn,
                notification_id=notification_id,
                at=now,
                decision="undeliverable",
                detail=decision.reason,
            )
        return int(notification_id)

    def deliver_due(self) -> int:
        """Deliver every held notification whose time has come; returns how many were sent.

        What was held for someone while they were off duty reaches them as one digest
        (`_deliver_digest`); what was due at once, or rerouted, goes one by one.
        """
        now = self.clock.now()
        # What a process that died since was sending goes back in the queue first.
        self._take_back(now, own=False)
        with self.engine.connect() as conn:
            rows = store.due_rows(conn, now=now)
        held: dict[str, list[int]] = {}
        sent = 0
        for row in rows:
            was_held = row.created_at_us < row.hold_until_us
            if row.requires == "working" and row.recipient and was_held:
                held.setdefault(row.recipient, []).append(row.id)
            elif self._deliver(row.id):
                sent += 1
        for recipient, ids in held.items():
            sent += self._deliver_digest(recipient, ids)
        return sent

    def notifications(
        self,
        *,
        recipient: str | None = None,
        status: str | None = None,
        before: int | None = None,
        limit: int = 100,
        visible: Collection[str] | None = None,
    ) -> list[store.NotificationRecord]:
        """Notifications newest first with their audit trails; `recipient` also matches the
        person or team they were intended for, `before` (an id) pages back, `visible` (names
        of people and teams) keeps only theirs."""
        with self.engine.connect() as conn:
            return store.list_notifications(
                conn,
                recipient=recipient,
                status=status,
                before=before,
                limit=limit,
                visible=visible,
            )

    def record(self, month: str) -> tuple[list[PersonRecord], list[PersonRecord]]:
        """The right-to-disconnect record of `month` ("YYYY-MM"), per person and per team."""
        first, after = month_bounds(month)
        return self.record_between(first, after)

    def record_between(
        self, first: date, after: date
    ) -> tuple[list[PersonRecord], list[PersonRecord]]:
        """The right-to-disconnect record of the days from `first` to before `after`."""
        margin = timedelta(days=1)
        start = datetime.combine(first, datetime.min.time(), tzinfo=UTC) - margin
        end = datetime.combine(after, datetime.min.time(), tzinfo=UTC) + margin
        with self.engine.connect() as conn:
            rows = store.deliveries(conn, start_us=to_us(start), end_us=to_us(end))
        return period_record(
            self.config,
            (
                Delivery(
                    recipient=r.recipient,
                    intended_for=r.intended_for,
                    urgent=r.urgent,
                    status=r.status,
                    created_at=from_us(r.created_at_us),
                    delivered_at=from_us(r.delivered_at_us) if r.delivered_at_us else None,
                    was_held=bool(r.was_held),
                )
                for r in rows
            ),
            first=first,
            after=after,
        )

    def recover(self) -> int:
        """When this process takes the processing lease (at startup or taking over), put
        back in the queue the notifications left `sending` by a process that is gone, due
        when they were (at once for those sent as submitted), so that the next `deliver_due`
        sends each of them again, once; their audit says so. Returns how many.

        Gone: this process's previous life (a claim of its own it is not sending now), a
        process with no live lease, or a claim older than `stale_after`. What a live API
        node is sending at this moment stays its own."""
        return self._take_back(self.clock.now(), own=True)

    def _take_back(self, now: datetime, *, own: bool) -> int:
        """Requeue the `sending` notifications of gone processes (`recover`); `own`: this
        process's claims it is not sending now too."""
        c = store.notifications.c
        # Read with what this process is sending, in one step (its claims take the lock).
        with self._lock, self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.id, c.claimed_by, c.claimed_at_us).where(c.status == "sending")
            ).all()
            sending = set(self._sending)
        if not rows:
            return 0
        others = {r.claimed_by for r in rows if r.claimed_by and r.claimed_by != self.holder}
        alive = live_holders(self.engine, others)
        oldest = int(time.time() * 1e6) - int(self.stale_after.total_seconds() * 1e6)

        def gone(row: Any) -> bool:
            if row.id in sending:
                return False
            if row.claimed_at_us is not None and row.claimed_at_us < oldest:
                return True
            if row.claimed_by is None or row.claimed_by == self.holder:
                # Its own, or claimed before claims were recorded: at startup or takeover.
                return own
            return row.claimed_by not in alive

        caught = [row for row in rows if gone(row)]
        taken = 0
        with self.engine.begin() as conn:
            for row in caught:
                # Compare-and-set on the claim read: a delivery finished meanwhile stays so.
                moved = conn.execute(
                    store.notifications.update()
                    .where(
                        c.id == row.id,
                        c.status == "sending",
                        c.claimed_by.is_(None)
                        if row.claimed_by is None
                        else c.claimed_by == row.claimed_by,
                        c.claimed_at_us.is_(None)
                        if row.claimed_at_us is None
                        else c.claimed_at_us == row.claimed_at_us,
                    )
                    .values(
                        status="held",
                        hold_until_us=sa.func.coalesce(c.hold_until_us, c.created_at_us),
                        claimed_by=None,
                        claimed_at_us=None,
                    )
                ).rowcount
                if moved != 1:
                    continue
                taken += 1
                store.add_audit(
                    conn,
                    notification_id=row.id,
                    at=now,
                    decision="recovered",
                    detail=self._why_taken_back(row, oldest) + "; to be delivered again",
                )
        if taken:
            logger.warning("%d notifications caught being sent by a gone process requeued", taken)
        return taken

    def _why_taken_back(self, row: Any, oldest: int) -> str:
        if row.claimed_by is None:
            return "caught being sent when the server stopped"
        if row.claimed_at_us < oldest:
            return (
                f"claimed for sending by {row.claimed_by} over {self.stale_after} ago, never sent"
            )
        if row.claimed_by == self.holder:
            return "caught being sent by this server when it was interrupted"
        return f"caught being sent by {row.claimed_by}, which has stopped"

    def _deliver(self, notification_id: int, *, claimed: bool = False) -> bool:
        """Send a notification now if its recipient is reachable, else hold it again;
        `claimed` when it is already `sending` (stored so by `submit`)."""
        if not claimed and not self._claim(notification_id):
            return False
        try:
            return self._deliver_claimed(notification_id)
        finally:
            with self._lock:
                self._sending.discard(notification_id)

    def _deliver_claimed(self, notification_id: int) -> bool:
        now = self.clock.now()
        with self.engine.connect() as conn:
            record = store.get(conn, notification_id=notification_id)
            row = conn.execute(
                sa.select(store.notifications.c.requires).where(
                    store.notifications.c.id == notification_id
                )
            ).one()
        assert record is not None
        person = self.config.person(record.recipient or "")
        if person is None:
            self._finish(notification_id, now, "undeliverable", f"{record.recipient!r} is unknown")
            return False
        reachable = (
            is_on_duty(self.config, person, now)
            if row.requires == "on_duty"
            else is_working(self.config, person, now)
        )
        if not reachable:
            later = next_working_instant(self.config, person, now)
            self._rehold(notification_id, now, later, f"{person.name} is off duty at delivery time")
            return False
        urgent_on_call = row.requires == "on_duty" and not is_working(self.config, person, now)
        try:
            sent = self._send(person, record.subject, record.body, urgent_on_call=urgent_on_call)
        except DeliveryFailed as exc:
            self._rehold(notification_id, now, now + RETRY_AFTER_FAILURE, str(exc))
            return False
        self._finish(
            notification_id,
            now,
            "delivered",
            f"delivered to {person.name} by {', '.join(sent) or 'no channel'}",
            channels_used=sent,
        )
        return True

    def _send(
        self, person: Person, subject: str, body: str, *, urgent_on_call: bool = False
    ) -> list[str]:
        """Send by each of `person`'s channels allowed under their policy; the channels
        used, or `DeliveryFailed`. `app` is the dashboard inbox: the stored notification."""
        sent: list[str] = []
        for channel in channels(self.config, person, urgent_on_call=urgent_on_call):
            if channel.type == "app":
                sent.append("app")
            elif channel.type in ("sms", "push"):
                gateway = self.config.gateways.get(channel.type)
                if gateway is None or channel.address is None:
                    continue
                send_by_gateway(
                    gateway,
                    to=channel.address,
                    person=person.name,
                    subject=subject,
                    text=body,
                    urgent=urgent_on_call,
                )
                sent.append(f"{channel.type}:{channel.address}")
            elif channel.type == "email":
                address = channel.address or person.email
                if address is None or self.mailer is None:
                    continue
                try:
                    self.mailer.send(to=address, subject=subject, body=body)
                except (OSError, smtplib.SMTPException) as exc:
                    raise DeliveryFailed(f"e-mail failed: {exc}") from exc
                sent.append(f"email:{address}")
        return sent

    def _claim(self, notification_id: int) -> bool:
        """Take a held notification for sending: stored as this process's, and known to it
        as being sent (`_sending`) in the same step, so that `recover` never mistakes it
        for a leftover of this process's previous life."""
        with self._lock:
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    store.notifications.update()
                    .where(
                        store.notifications.c.id == notification_id,
                        store.notifications.c.status == "held",
                    )
                    .values(status="sending", **self._claim_values())
                ).rowcount
            if claimed == 1:
                self._sending.add(notification_id)
        return claimed == 1

    def _deliver_digest(self, recipient: str, ids: list[int]) -> int:
        """Merge what was held for `recipient` into one message; returns 1 when sent.

        An alert that resolved meanwhile is marked as such, or left out when the person
        prefers (`digest_resolved: drop`); a single message left unresolved goes as it is.
        """
        claimed = [i for i in ids if self._claim(i)]
        if not claimed:
            return 0
        try:
            return self._deliver_claimed_digest(recipient, claimed)
        finally:
            with self._lock:
                self._sending.difference_update(claimed)

    def _deliver_claimed_digest(self, recipient: str, claimed: list[int]) -> int:
        now = self.clock.now()
        person = self.config.person(recipient)
        with self.engine.connect() as conn:
            records = [r for i in claimed if (r := store.get(conn, notification_id=i))]
        if person is None:
            for record in records:
                self._finish(record.id, now, "undeliverable", f"{recipient!r} is unknown")
            return 0
        if not is_working(self.config, person, now):
            later = next_working_instant(self.config, person, now)
            for record in records:
                self._rehold(record.id, now, later, f"{person.name} is off duty at delivery time")
            return 0
        items = {
            r.id: DigestItem(
                subject=r.subject,
                body=r.body,
                created_at=r.created_at,
                urgent=r.urgent,
                resolved=bool(r.run_id and self.resolved(r.run_id)),
            )
            for r in records
        }
        drop = person.digest_resolved == "drop"
        kept = [r for r in records if not (drop and items[r.id].resolved)]
        for record in records:
            if record not in kept:
                why = f"its alert resolved before {person.name} was back; dropped as they prefer"
                self._finish(record.id, now, "dropped", why)
        if not kept:
            return 0
        if len(kept) == 1 and not items[kept[0].id].resolved:
            self._reset(kept[0].id)
            return 1 if self._deliver(kept[0].id) else 0
        subject, body = compose([items[r.id] for r in kept], person=person)
        try:
            sent = self._send(person, subject, body)
        except DeliveryFailed as exc:
            for record in kept:
                self._rehold(record.id, now, now + RETRY_AFTER_FAILURE, str(exc))
            return 0
        # The digest's row and what it merged are recorded in one transaction: a crash after
        # the e-mail leaves every message `sending` (sent again once after `recover`), never a
        # digest row that recovery would send a second time.
        with self.engine.begin() as conn:
            digest_id = self._insert(
                conn,
                NotificationRequest(
                    key=f"digest/{person.name}/{to_us(now)}",
                    recipient=person.name,
                    subject=subject,
                    body=body,
                ),
                Decision(
                    outcome="deliver",
                    intended_for=person.name,
                    recipient=person.name,
                    deliver_at=now,
                    reason=f"{len(kept)} messages held while {person.name} was off duty",
                ),
                now,
            )
            self._finish_in(
                conn,
                digest_id,
                now,
                "delivered",
                f"digest of {len(kept)} delivered to {person.name} by "
                + (", ".join(sent) or "no channel"),
                channels_used=sent,
            )
            for record in kept:
                mark = " (its alert had resolved)" if items[record.id].resolved else ""
                self._finish_in(
                    conn,
                    record.id,
                    now,
                    "digested",
                    f"delivered to {person.name} in digest #{digest_id}{mark}",
                    channels_used=sent,
                )
        return 1

    def _reset(self, notification_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                store.notifications.update()
                .where(store.notifications.c.id == notification_id)
                .values(status="held", claimed_by=None, claimed_at_us=None)
            )

    def _rehold(
        self, notification_id: int, now: datetime, until: datetime | None, why: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                store.notifications.update()
                .where(store.notifications.c.id == notification_id)
                .values(
                    status="held" if until else "undeliverable",
                    hold_until_us=to_us(until) if until else None,
                    claimed_by=None,
                    claimed_at_us=None,
                )
            )
            detail = f"held until {until.isoformat()}: {why}" if until else why
            store.add_audit(
                conn,
                notification_id=notification_id,
                at=now,
                decision="held" if until else "undeliverable",
                detail=detail,
            )

    def _finish(
        self,
        notification_id: int,
        now: datetime,
        status: str,
        detail: str,
        *,
        channels_used: list[str] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            self._finish_in(conn, notification_id, now, status, detail, channels_used=channels_used)

    @staticmethod
    def _finish_in(
        conn: sa.Connection,
        notification_id: int,
        now: datetime,
        status: str,
        detail: str,
        *,
        channels_used: list[str] | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status}
        if status in ("delivered", "digested"):
            values["delivered_at_us"] = to_us(now)
            values["channels"] = msgspec.json.encode(channels_used or []).decode()
        conn.execute(
            store.notifications.update()
            .where(store.notifications.c.id == notification_id)
            .values(**values)
        )
        store.add_audit(
            conn, notification_id=notification_id, at=now, decision=status, detail=detail
        )
