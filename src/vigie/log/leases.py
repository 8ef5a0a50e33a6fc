"""Leases: one process at a time runs the processors of a log, the others stand by.

Every processor keeps a checkpoint in the log and its projection skips what it has seen, so
delivery is at-least-once and idempotent; but two processes running the same processors at
once would each fold every event into their own in-memory windows and fire the same alert
twice. A lease in the SQL store every process shares (PostgreSQL when there are several
machines) settles who runs them: the holder renews it every few seconds; when it dies, the
lease expires and a standing-by worker takes over from the saved checkpoints.

A lease held by a process of this machine that no longer exists (a `kill -9`, a crash) is
taken over at once instead of waiting for it to expire.

The work is cut into shares, each under a lease of its own: the rules' share (in-memory
windows: it moves only when its holder dies) and movable shares of projections kept in the
store. Every worker announces itself with a member lease (`Members`); `assign` deals the
movable shares round-robin over the live members, the rules' holder last, so two workers
share the load and a share moves when a worker joins or leaves: its holder saves its
checkpoints and releases it, and the member it is dealt to takes it from there.

Leases use the machines' wall clocks (kept in step by NTP), never the injected clock: a demo
on simulated time must not make a lease look expired.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Collection, Sequence

import msgspec
import sqlalchemy as sa

from vigie.store.schema import metadata

DEFAULT_TTL_SECONDS = 10.0

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at_us", sa.BigInteger, nullable=False),
)


def holder_id() -> str:
    """Who this process is, as written in a lease: `host:pid:random`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """True when `holder` names a process of this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def live_holders(engine: sa.Engine, holders: Collection[str]) -> set[str]:
    """Those of `holders` alive now: each holds a lease not yet expired (a membership, a
    share) and is not a process of this machine that no longer runs."""
    if not holders:
        return set()
    now = int(time.time() * 1e6)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(leases.c.holder)
            .where(leases.c.holder.in_(sorted(holders)), leases.c.expires_at_us >= now)
            .distinct()
        ).all()
    return {str(row[0]) for row in rows if not _dead_here(str(row[0]))}


class Lease:
    """The right to do one thing (`name`) for `ttl_seconds`, renewed by whoever holds it."""

    def __init__(
        self,
        engine: sa.Engine,
        name: str,
        *,
        holder: str | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or holder_id()
        self.ttl_seconds = ttl_seconds

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live process holds it."""
        now = int(time.time() * 1e6)
        expires = now + int(self.ttl_seconds * 1e6)
        table = leases
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(table.c.holder, table.c.expires_at_us).where(table.c.name == self.name)
            ).first()
            if current is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            table.insert().values(
                                name=self.name, holder=self.holder, expires_at_us=expires
                            )
                        )
                except sa.exc.IntegrityError:
                    return False
                return True
            holder, until = current
            if holder != self.holder and until >= now and not _dead_here(holder):
                return False
            # Compare-and-set on what was read: of two takers, one wins.
            updated = conn.execute(
                table.update()
                .where(
                    table.c.name == self.name,
                    table.c.holder == holder,
                    table.c.expires_at_us == until,
                )
                .values(holder=self.holder, expires_at_us=expires)
            )
            return updated.rowcount == 1

    def release(self) -> None:
        """Give the lease up at once (a clean stop), if this process holds it."""
        with self.engine.begin() as conn:
            conn.execute(
                leases.delete().where(leases.c.name == self.name, leases.c.holder == self.holder)
            )

    def current_holder(self) -> str | None:
        """Who holds the lease now (an expired lease is held by nobody)."""
        now = int(time.time() * 1e6)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(leases.c.holder).where(
                    leases.c.name == self.name, leases.c.expires_at_us >= now
                )
            ).first()
        return None if row is None else str(row[0])


class Members:
    """The live processes of `group`, each renewing a member lease of its own."""

    def __init__(
        self,
        engine: sa.Engine,
        group: str,
        *,
        holder: str,
        sticky: str,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self.prefix = f"{group}:member:"
        self.lease = Lease(engine, self.prefix + holder, holder=holder, ttl_seconds=ttl_seconds)
        self.sticky = Lease(engine, sticky, ttl_seconds=ttl_seconds)
        self.current: list[str] = [holder]
        """The live members as last seen (sorted), this process included."""
        self.sticky_holder: str | None = None
        """Who held the sticky share's lease when last seen."""

    @property
    def holder(self) -> str:
        return self.lease.holder

    def beat(self) -> list[str]:
        """Renew this process's membership and read who else is alive."""
        self.lease.acquire()
        now = int(time.time() * 1e6)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(leases.c.holder).where(
                    leases.c.name.startswith(self.prefix, autoescape=True),
                    leases.c.expires_at_us >= now,
                )
            ).all()
        alive = {str(row[0]) for row in rows if not _dead_here(str(row[0]))}
        self.current = sorted(alive | {self.holder})
        self.sticky_holder = self.sticky.current_holder()
        return self.current

    def leave(self) -> None:
        """End this process's membership (a clean stop): the others deal its shares anew."""
        self.lease.release()

    def dealt(self, share: str, shares: Sequence[str]) -> bool:
        """Whether movable `share` (one of `shares`) is this process's, as last seen."""
        return assign(shares, self.current, sticky=self.sticky_holder).get(share) == self.holder


def assign(shares: Sequence[str], members: Sequence[str], *, sticky: str | None) -> dict[str, str]:
    """The movable `shares` dealt round-robin over `members` in order, the holder of the
    sticky share (the rules) last: with two members the other one gets the first share."""
    order = [m for m in members if m != sticky]
    if sticky is not None and sticky in members:
        order.append(sticky)
    if not order:
        return {}
    return {share: order[index % len(order)] for index, share in enumerate(shares)}


class Share(msgspec.Struct, kw_only=True):
    """One share of the processors: its lease, the processors in it, who runs it now."""

    name: str
    processors: list[str]
    holder: str | None
    movable: bool


class Processing(msgspec.Struct, kw_only=True):
    """Who runs which share of the processors now, and the live workers (`GET
    /api/processing`)."""

    shares: list[Share]
    workers: list[str]


class ShareBoard:
    """Reads the shares' leases and the member leases of `group`, for the API."""

    def __init__(
        self,
        engine: sa.Engine,
        shares: dict[str, list[str]],
        *,
        group: str,
        movable: Sequence[str],
    ) -> None:
        self.engine = engine
        self.shares = shares
        self.prefix = f"{group}:member:"
        self.movable = set(movable)

    def status(self) -> Processing:
        """The shares with their holders (None: no worker runs it now) and the workers."""
        now = int(time.time() * 1e6)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(leases.c.name, leases.c.holder).where(leases.c.expires_at_us >= now)
            ).all()
        held = {str(name): str(holder) for name, holder in rows}
        workers = sorted(holder for name, holder in held.items() if name.startswith(self.prefix))
        return Processing(
            shares=[
                Share(
                    name=name,
                    processors=list(processors),
                    holder=held.get(name),
                    movable=name in self.movable,
                )
                for name, processors in self.shares.items()
            ],
            workers=workers,
        )
